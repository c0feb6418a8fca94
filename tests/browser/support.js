// SPDX-License-Identifier: MIT
// Support for the browser tests: real gateways (and redis-server) on free
// loopback ports through the shared harness (tests/lib/harness.js), Debian's
// Chromium through playwright-core, and step screenshots.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const harness = require('../lib/harness.js');

const SRC_ROOT = path.resolve(__dirname, '..', '..');
const WEB_ROOT = path.join(SRC_ROOT, 'web');
const ARTIFACTS = path.join(SRC_ROOT, 'tests', 'artifacts', 'browser');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// startGateway starts chat-gateway (through the shared harness) serving this
// checkout's web/, and returns a handle that can stop() it and start() it
// again on the same port, as a restart in production would.
async function startGateway({ args = [], redisUrl, nodeId } = {}) {
  const gw = { port: undefined, inst: null };
  const argv = ['--web-root', WEB_ROOT, ...args];
  gw.start = async () => {
    gw.inst = await harness.startGateway({ port: gw.port, args: argv, redisUrl, nodeId });
    gw.port = gw.inst.port;
  };
  gw.stop = async (signal = 'SIGINT') => {
    if (!gw.inst) return 0;
    const inst = gw.inst;
    gw.inst = null;
    return inst.stop(signal);
  };
  gw.logs = () => (gw.inst ? gw.inst.logs() : '');
  gw.url = () => `http://127.0.0.1:${gw.port}/`;
  await gw.start();
  return gw;
}

const { startRedis } = harness;

// ---------------------------------------------------------------- browser

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

async function launchBrowser() {
  const { chromium } = require(path.join(SRC_ROOT, 'node_modules', 'playwright-core'));
  // launch() gives every run a fresh temporary user-data-dir.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000 });
}

// openChat opens the page in a fresh context and records everything that
// would mean a broken or unsafe page: dialogs (an XSS would alert()), page
// errors, console errors (CSP violations are reported there), failed requests.
async function openChat(browser, url, { label, viewport = { width: 1100, height: 760 } } = {}) {
  const context = await browser.newContext({ viewport, locale: 'ko-KR', timezoneId: 'Asia/Seoul' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on('dialog', async (d) => {
    problems.push(`dialog ${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // Connection failures while a gateway restarts are expected and logged
    // by the browser itself; anything else is a real problem.
    if (/WebSocket connection to .* failed/.test(text)) return;
    if (/ERR_CONNECTION_REFUSED/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on('requestfailed', (r) => {
    if (r.url().includes('/socket.io/?')) return; // websocket retries during restarts
    problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
  });
  await page.goto(url);
  return { label, page, context, problems };
}

// ------------------------------------------------------------ screenshots

function artifactDir(name) {
  const dir = path.join(ARTIFACTS, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function screenshotter(dir) {
  let n = 0;
  return async (who, step) => {
    n += 1;
    const file = path.join(dir, `${String(n).padStart(2, '0')}-${who.label}-${step}.png`);
    await who.page.screenshot({ path: file });
    return file;
  };
}

module.exports = {
  SRC_ROOT,
  WEB_ROOT,
  startRedis,
  startGateway,
  launchBrowser,
  openChat,
  artifactDir,
  screenshotter,
};
