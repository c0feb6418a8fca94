// SPDX-License-Identifier: MIT
'use strict';
// --tls-cert/--tls-key: the gateway terminates TLS itself (setups without a
// proxy). The page, /healthz, /metrics and the Socket.IO WebSocket are all
// served over TLS on the one port, and nothing is served in clear there.
// The certificate is made at test time with the openssl CLI, and clients
// verify it (ca), so the test proves the configured certificate is served.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const h = require('../lib/harness');

let dir;
let cert;
let certFile;
let keyFile;

test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-tls-'));
  certFile = path.join(dir, 'cert.pem');
  keyFile = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8', timeout: 30000 });
  assert.strictEqual(r.status, 0, `openssl: ${r.stderr}`);
  cert = fs.readFileSync(certFile);
});

test.after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// get fetches |p| over https, verifying the server against our certificate.
function get(url, p) {
  return new Promise((resolve, reject) => {
    const req = https.get(url + p, { ca: cert, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        text: Buffer.concat(chunks).toString('utf8'), protocol: res.socket.alpnProtocol }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('page, endpoints and wss over TLS; nothing in clear', { timeout: 60000 }, async () => {
  const gw = await h.startGateway({ args: ['--tls-cert', certFile, '--tls-key', keyFile] });
  try {
    assert.match(gw.url, /^https:/);
    assert.match(gw.logs(), /listening on https:\/\//);

    const page = await get(gw.url, '/');
    assert.strictEqual(page.status, 200);
    assert.match(page.text, /<html/i);
    assert.ok(page.headers['content-security-policy'], 'security headers over TLS too');
    assert.equal(page.headers['strict-transport-security'], 'max-age=31536000', 'HSTS under TLS');
    assert.strictEqual((await get(gw.url, '/healthz')).text, 'ok\n');
    const js = await get(gw.url, '/socket.io/socket.io.js');
    assert.strictEqual(js.status, 200);

    // The official client over wss://, verifying the certificate.
    const a = await h.connect(gw.url, { ca: cert, name: 'a' });
    const b = await h.connect(gw.url, { ca: cert, name: 'b' });
    assert.strictEqual((await h.emitAck(a, 'create', { roomName: 'secure', userName: 'alice' })).ok, true);
    assert.strictEqual((await h.emitAck(b, 'create', { roomName: 'secure', userName: 'bob' })).ok, true);
    await h.emitAck(a, 'sendMessage', { message: 'over tls' });
    const msg = await h.waitFor(b, 'newMessage', (p) => p.message === 'over tls');
    assert.strictEqual(msg.user, 'alice');
    // A client that does not trust the certificate cannot connect.
    await assert.rejects(h.connect(gw.url, { timeout: 3000 }), /connect_error/);

    const m = await h.getMetrics(gw.url);
    assert.strictEqual(m.get('chat_connections'), 2);

    // Plain http and ws on the TLS port get nothing.
    await assert.rejects(new Promise((resolve, reject) => {
      const req = http.get(`http://127.0.0.1:${gw.port}/healthz`, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    }), (e) => e.code === 'ECONNRESET' || /hang up|Parse Error|timeout/.test(e.message),
    'plain http to the TLS port must fail');
    const plain = h.rawWs(`http://127.0.0.1:${gw.port}`);
    await assert.rejects(plain.opened);

    // ALPN: HTTP/1.1 only, even for a client that prefers h2 (browsers):
    // the WebSocket upgrade is an HTTP/1.1 mechanism here.
    const alpn = await new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: gw.port, ca: cert, servername: 'localhost',
        ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve(s.alpnProtocol);
        s.end();
      });
      s.on('error', reject);
    });
    assert.strictEqual(alpn, 'http/1.1');

    a.close();
    b.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGTERM'), 0, 'clean drain and exit with TLS');
  }
});

test('refused upgrades answer inside TLS', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ env: { CHAT_TLS_CERT: certFile, CHAT_TLS_KEY: keyFile },
    args: ['--allowed-origins', 'https://chat.example.com'] });
  try {
    const bad = h.rawWs(gw.url, undefined, { ca: cert, headers: { Origin: 'https://evil.example' } });
    await assert.rejects(bad.opened, (e) => e.statusCode === 403 && /Forbidden/.test(e.body));
    const ok = h.rawWs(gw.url, undefined, { ca: cert, headers: { Origin: 'https://chat.example.com' } });
    await ok.opened;
    await ok.handshake();
    await ok.sioConnect();
    ok.close();
    const q = h.rawWs(gw.url, '/socket.io/?EIO=3&transport=websocket', { ca: cert });
    await assert.rejects(q.opened, (e) => e.statusCode === 400 && /Unsupported protocol version/.test(e.body));
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('TLS settings are checked at start', { timeout: 30000 }, async () => {
  const bin = process.env.CHAT_GATEWAY_BIN || path.join(h.ROOT, 'build', 'chat-gateway');
  const port = await h.freePort();
  const junk = path.join(dir, 'junk.pem');
  fs.writeFileSync(junk, 'not a certificate\n');
  const run = (args) => spawnSync(bin, ['--host', '127.0.0.1', '--port', String(port), ...args],
    { encoding: 'utf8', timeout: 10000, env: { PATH: process.env.PATH } });
  for (const [args, re] of [
    [['--tls-cert', certFile], /go together/],
    [['--tls-key', keyFile], /go together/],
    [['--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', keyFile], /nope\.pem/],
  ]) {
    const r = run(args);
    assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  // Files that exist but hold no certificate: lws refuses them; the
  // gateway exits non-zero at once instead of serving without TLS.
  for (const args of [['--tls-cert', junk, '--tls-key', keyFile], ['--tls-cert', certFile, '--tls-key', junk]]) {
    const r = run(args);
    assert.ok(r.status !== 0 && r.status !== null, `${args.join(' ')}: exit ${r.status} ${r.signal}`);
    assert.match(r.stderr, /tls-cert\/--tls-key/);
  }
});

// valgrind cannot run a sanitizer build; the ASan CI job covers that one.
function valgrindSkip(bin) {
  if (spawnSync('valgrind', ['--version']).status !== 0) return 'valgrind not installed';
  try {
    if (fs.readFileSync(bin).includes('__asan_init')) return 'sanitizer build';
  } catch (_) {
    return 'no binary';
  }
  return false;
}

const BIN = process.env.CHAT_GATEWAY_BIN || path.join(h.ROOT, 'build', 'chat-gateway');
test('valgrind: TLS and JWT on the libuv loop, clean shutdown', { timeout: 120000, skip: valgrindSkip(BIN) },
  async () => {
    const crypto = require('node:crypto');
    const { spawn } = require('node:child_process');
    const port = await h.freePort();
    const secret = crypto.randomBytes(24).toString('base64');
    const proc = spawn('valgrind', ['--leak-check=full', '--error-exitcode=99',
      '--errors-for-leak-kinds=definite,indirect,possible', BIN, '--host', '127.0.0.1',
      '--port', String(port), '--tls-cert', certFile, '--tls-key', keyFile,
      '--jwt-secret', secret, '--drain-time', '300'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr.on('data', (d) => { log += d; });
    const exited = new Promise((res) => proc.on('exit', (code, sig) => res(code ?? sig)));
    try {
      const url = `https://127.0.0.1:${port}`;
      await h.waitUntil(async () => {
        try {
          return (await h.httpGet(url, '/healthz')).status === 200;
        } catch (_) {
          return false;
        }
      }, 30000, 100, 'gateway under valgrind');
      const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
      const data = `${b64({ alg: 'HS256' })}.${b64({ name: 'alice' })}`;
      const token = `${data}.${crypto.createHmac('sha256', secret).update(data).digest('base64url')}`;
      const a = await h.connect(url, { ca: cert, auth: { token }, timeout: 10000 });
      const ack = await h.emitAck(a, 'create', { roomName: 'vg' }, 10000);
      assert.deepStrictEqual([ack.ok, ack.userName], [true, 'alice']);
      await assert.rejects(h.connect(url, { ca: cert, timeout: 10000 }), /unauthorized/);
      const raw = h.rawWs(url, undefined, { ca: cert });
      await raw.opened;
      raw.send('4abc'); // malformed: closes that connection
      await raw.closed;
      // |a| stays connected: the drain closes it over TLS.
      proc.kill('SIGTERM');
      assert.strictEqual(await exited, 0, `valgrind log:\n${log}`);
      assert.match(log, /ERROR SUMMARY: 0 errors/);
    } finally {
      proc.kill('SIGKILL');
    }
  });

// A real browser over https and wss (Chromium offers h2 in ALPN; the chat
// must still work).
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
test('the chat page works in Chromium over TLS', {
  timeout: 90000, skip: fs.existsSync(CHROMIUM) ? false : 'no chromium',
}, async () => {
  const { launchBrowser } = require('../browser/support');
  const gw = await h.startGateway({ args: ['--tls-cert', certFile, '--tls-key', keyFile,
    '--web-root', path.join(h.ROOT, 'web')] });
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${gw.url}/`);
    assert.strictEqual(res.status(), 200);
    assert.match(page.url(), /^https:/);
    await page.waitForSelector('[data-testid="status"][data-state="connected"]');
    await page.fill('[data-testid="room-name"]', 'tls-room');
    await page.fill('[data-testid="user-name"]', 'erin');
    await page.click('[data-testid="join"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="me-name"]').textContent === 'erin');
    await page.fill('[data-testid="message-input"]', 'hello over wss');
    await page.click('[data-testid="send"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="messages"]').textContent.includes('hello over wss'));
    assert.deepStrictEqual(errors, []);
  } finally {
    await browser.close();
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});
