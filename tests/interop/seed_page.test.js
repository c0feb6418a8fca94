// SPDX-License-Identifier: MIT
// interop.seed_page: the seed 000 chat page, exactly as the seed publishes
// it, works against this gateway across instances.
//
// The page is views/client.ejs of the seed 000 tutorial (the "전체 코드"
// listing, `socket.io/views/client.ejs`, in ../shared/seeds/000_*.txt),
// extracted at test time and served unmodified as index.html of a
// temporary --web-root, with no --csp flag: the default ("auto") must let
// its inline <script> and <style> run. Its template is plain HTML: it has
// no EJS tag (the seed's server calls res.render('client') with no data),
// so nothing needs rendering; the extraction fails loudly if a later seed
// adds one (a tag would need data only that seed's server knows). The page
// calls io() with Socket.IO's default transports: long-polling, then the
// upgrade to WebSocket.
//
// Three gateways share a redis-server behind the project's nginx, which
// balances with no affinity (deploy/nginx, the default), so the pages'
// polling requests and upgrades land on any gateway and are relayed to
// the owner of their session. Two Chromium pages whose sessions belong to
// different gateways create a room, join it, chat, and DM through the
// page's own forms, and the test reads what each page shows.
//
// Where the seed's server and this gateway differ (docs/protocol.md), the
// page still works; what it shows differs as listed in SEED_DIFFERENCES.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const h = require('../lib/harness.js');
const { startNginx } = require('../../deploy/tests/nginx-helper.js');
const { launchBrowser, artifactDir, screenshotter } = require('../browser/support.js');

const SEEDS = process.env.GW_SEEDS_DIR || path.join(h.ROOT, '..', 'shared', 'seeds');
const T = 15000;

// The seed's own server (socket.io 4 on Express) and this gateway speak
// the same event names (create, sendMessage / roomList, userList, notice,
// newMessage) with the same payload fields; these are the differences a
// user of the page sees or could see. The assertions below expect the
// gateway's behaviour.
const SEED_DIFFERENCES = `
  - notice text: the seed says "\${userName} 님이 입장하셨습니다."; the gateway
    "\${userName} joined the room." (and "… left the room." on leave,
    which the seed never sends).
  - newMessage: the seed sends {message, user, dm}; the gateway adds ts.
    The page's own "user" field in sendMessage is ignored: the gateway
    names the sender by its name in the room.
  - userList keys: the seed uses socket ids; the gateway opaque member
    keys. The page filters "i !== socket.id" on objects, which never
    matches with either server: each user sees themself in the DM list.
  - a DM to oneself: the seed delivers it twice (to the room of the own
    socket id and by socket.emit), the gateway once.
  - errors: the seed accepts any name, twice in one room too; the gateway
    refuses a taken or invalid name with chatError, which the page does
    not listen to (it shows the chat view and nothing more).
  - roomList: the seed re-sends it to everyone on every connection and
    never removes a room; the gateway sends it to the new socket, and to
    everyone when a room is created or deleted (empty rooms go).`;

// ------------------------------------------------------------ the page

// extractSeedPage returns the seed 000 client page (views/client.ejs) as
// the seed file publishes it: the first ```html listing after the heading
// of its full listing "socket.io/views/client.ejs" (the tutorial's earlier
// listings of views/client.ejs are partial steps).
function extractSeedPage() {
  const files = fs.existsSync(SEEDS) ? fs.readdirSync(SEEDS).filter((f) => /^000_.*\.txt$/.test(f)) : [];
  assert.equal(files.length, 1, `one seed 000 file in ${SEEDS} (set GW_SEEDS_DIR), found ${JSON.stringify(files)}`);
  const text = fs.readFileSync(path.join(SEEDS, files[0]), 'utf8');
  const heading = text.search(/^#{2,6} `socket\.io\/views\/client\.ejs`\s*$/m);
  assert.ok(heading >= 0, `${files[0]}: no "socket.io/views/client.ejs" listing`);
  const m = /^```html\n([\s\S]*?)^```\s*$/m.exec(text.slice(heading));
  assert.ok(m, `${files[0]}: no html listing after the client.ejs heading`);
  const page = m[1];
  assert.match(page, /^<!DOCTYPE html>/, 'the listing is a whole page');
  assert.match(page, /<\/html>\s*$/, 'the listing is a whole page');
  assert.match(page, /io\(\)/, 'the page connects with io() and its defaults');
  // EJS: the seed renders this view with no data; a tag would need it.
  const tag = /<%[\s\S]*?%>/.exec(page);
  assert.equal(tag, null, `the seed's client.ejs now has an EJS tag (${tag && tag[0]}): render it here, and say why`);
  return { page, seedFile: files[0] };
}

// ------------------------------------------------------------ helpers

// open opens the page in a fresh browser context and records what would
// mean a broken page, as tests/browser/support.js's openChat does (dialogs,
// page errors, console errors such as CSP violations, failed requests),
// plus every HTTP error answer, with the URL. The seed's page links no
// icon, so Chromium's own GET /favicon.ico gets a 404 from the web root
// (the seed's Express server answers it 404 too): that answer, and the
// console line Chromium logs for it, are expected.
async function open(browser, url, label) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 }, locale: 'ko-KR' });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  const who = { label, page, context, problems: [], httpErrors: [] };
  page.on('dialog', async (d) => {
    who.problems.push(`dialog ${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => who.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') who.problems.push(`console error: ${m.text()} (${m.location().url})`);
  });
  page.on('requestfailed', (r) => who.problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) who.httpErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  await page.goto(url);
  return who;
}

function problems(who) {
  const favicon = (t) => /\/favicon\.ico\)?$/.test(t);
  return [
    ...who.problems.filter((p) => !(/^console error: Failed to load resource: .*status of 404/.test(p) && favicon(p))),
    ...who.httpErrors.filter((e) => !(/^404 GET /.test(e) && favicon(e))),
  ];
}

// The Engine.IO session of a page: its sid and transport.
function session(who) {
  return who.page.evaluate(() => {
    /* global socket */
    const e = socket.io.engine;
    return { sid: e && e.id, transport: e && e.transport && e.transport.name, connected: socket.connected };
  });
}

async function connected(who) {
  await who.page.waitForFunction(() => typeof socket !== 'undefined' && socket.connected, null, { timeout: T });
  return session(who);
}

async function create(who, room, name) {
  await who.page.fill('#roomName', room);
  await who.page.fill('#userName', name);
  await who.page.click('#room button');
  await who.page.waitForSelector('#body:not([hidden])', { timeout: T });
}

async function send(who, text, select = 'all') {
  await who.page.selectOption('#userList', select);
  await who.page.fill('#chatMessage', text);
  await who.page.click('#chat button');
}

// Lines of the message pane, as {cls, text}.
function lines(who) {
  return who.page.$$eval('#message > div:not(#notice)', (ds) =>
    ds.map((d) => ({ cls: [...d.classList].sort().join(' '), text: d.textContent })));
}

async function waitLine(who, cls, text) {
  const sel = `#message > div.${cls.split(' ').join('.')}`;
  await who.page.locator(sel).filter({ hasText: text }).first().waitFor({ timeout: T })
    .catch(async (e) => {
      throw new Error(`${who.label}: no "${sel}" with "${text}": ${e.message}\n  shows ${JSON.stringify(await lines(who))}`);
    });
}

async function waitNotice(who, text) {
  await who.page.locator('#notice p').filter({ hasText: text }).first().waitFor({ timeout: T });
}

function options(who) {
  return who.page.$$eval('#userList option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
}

// ------------------------------------------------------------ the test

test('the seed 000 page, unmodified, on 3 gateways behind round-robin nginx', async (t) => {
  const { page, seedFile } = extractSeedPage();
  const webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-seed000-'));
  fs.writeFileSync(path.join(webRoot, 'index.html'), page);
  t.after(() => fs.rmSync(webRoot, { recursive: true, force: true }));
  console.log(`# ${seedFile}: views/client.ejs, ${Buffer.byteLength(page)} bytes, served from ${webRoot}`);

  const cluster = await h.startCluster({ gateways: 3, redis: true, args: ['--web-root', webRoot] });
  let stopped = false;
  t.after(() => stopped || cluster.stop());
  const ngx = await startNginx({ upstreams: cluster.gateways.map((g, i) => ({ node: `gw${i + 1}`, port: g.port })) });
  t.after(() => stopped || ngx.stop());

  // Each gateway's peer tag (the first 6 characters of the sids it
  // issues), from a raw polling handshake straight to it.
  const tagOf = new Map();
  for (const [i, g] of cluster.gateways.entries()) {
    const rp = h.rawPoll(g.url);
    const open = await rp.open();
    await rp.close();
    rp.destroy();
    tagOf.set(open.sid.slice(0, 6), `gw${i + 1}`);
  }
  assert.equal(tagOf.size, 3, `three distinct peer tags: ${[...tagOf.keys()]}`);
  const owner = (sid) => tagOf.get(String(sid).slice(0, 6)) || `unknown(${sid})`;

  // The page comes back byte for byte, with a policy that lets its inline
  // script and style run (the bundled page keeps its strict one).
  const got = await h.httpGet(ngx.url, '/');
  assert.equal(got.status, 200);
  assert.equal(got.text, page, 'the page is served unmodified');
  const csp = got.headers['content-security-policy'] || '';
  if (csp) {
    assert.match(csp, /script-src[^;]*'unsafe-inline'/, `CSP for a custom --web-root: ${csp}`);
    assert.match(csp, /style-src[^;]*'unsafe-inline'/, `CSP for a custom --web-root: ${csp}`);
  }

  const browser = await launchBrowser();
  t.after(() => stopped || browser.close());
  const snap = screenshotter(artifactDir('seed_page'));
  const t0 = Date.now();
  const shot = async (who, step) => {
    console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s: ${who.label} ${step}`);
    return snap(who, step);
  };

  const a = await open(browser, `${ngx.url}/`, 'alice');
  const sa = await connected(a);
  // Open bob's page until its session belongs to another gateway than
  // alice's (nginx spreads the handshakes; a few tries at most).
  let b;
  let sb;
  for (let i = 0; i < 8; i++) {
    b = await open(browser, `${ngx.url}/`, 'bob');
    sb = await connected(b);
    if (owner(sb.sid) !== owner(sa.sid)) break;
    await b.context.close();
    b = null;
  }
  assert.ok(b, `no page landed on another gateway than alice's (${owner(sa.sid)})`);
  console.log(`# alice's session ${sa.sid} on ${owner(sa.sid)}, bob's ${sb.sid} on ${owner(sb.sid)}`);
  await shot(a, 'connected');

  // alice creates the room; bob's list shows it (a roomList from alice's
  // gateway, through Redis).
  const ROOM = '스터디 방';
  await create(a, ROOM, 'alice');
  await b.page.locator('#lists li').filter({ hasText: ROOM }).first().waitFor({ timeout: T });
  assert.deepEqual(await b.page.$$eval('#lists li', (ls) => ls.map((l) => l.textContent)), [ROOM]);
  await shot(b, 'room-listed');

  // bob joins: alice gets the notice, both lists show both members.
  await create(b, ROOM, 'bob');
  await waitNotice(a, 'bob joined the room.');
  for (const who of [a, b]) {
    await who.page.waitForFunction(() => document.querySelectorAll('#userList option').length === 3, null, { timeout: T });
    const opts = await options(who);
    assert.deepEqual(opts.map((o) => o.text), ['전체', 'alice', 'bob'], `${who.label}'s DM list`);
    assert.equal(opts[0].value, 'all');
  }
  const bobKey = (await options(a))[2].value;
  const aliceKey = (await options(b))[1].value;
  assert.notEqual(bobKey, aliceKey);
  await shot(a, 'bob-joined');

  // alice → room.
  await send(a, '안녕하세요 bob 👋');
  await waitLine(a, 'my-chat', 'alice : 안녕하세요 bob 👋');
  await waitLine(b, 'other-chat', 'alice : 안녕하세요 bob 👋');
  // bob → room.
  await send(b, 'hi alice, from another gateway');
  await waitLine(b, 'my-chat', 'bob : hi alice, from another gateway');
  await waitLine(a, 'other-chat', 'bob : hi alice, from another gateway');
  await shot(b, 'chatted');

  // bob → alice, a DM picked in the page's list.
  await send(b, '비밀이야 🤫', aliceKey);
  await waitLine(a, 'other-chat secret-chat', 'bob : 비밀이야 🤫');
  await waitLine(b, 'my-chat secret-chat', 'bob : 비밀이야 🤫');
  // alice → bob.
  await send(a, 'got it', bobKey);
  await waitLine(b, 'other-chat secret-chat', 'alice : got it');
  await waitLine(a, 'my-chat secret-chat', 'alice : got it');
  await shot(a, 'dm');
  await shot(b, 'dm');

  // Exactly what each page shows, in order (each DM once for each side).
  assert.deepEqual(await lines(a), [
    { cls: 'my-chat', text: 'alice : 안녕하세요 bob 👋' },
    { cls: 'other-chat', text: 'bob : hi alice, from another gateway' },
    { cls: 'other-chat secret-chat', text: 'bob : 비밀이야 🤫' },
    { cls: 'my-chat secret-chat', text: 'alice : got it' },
  ]);
  assert.deepEqual(await lines(b), [
    { cls: 'other-chat', text: 'alice : 안녕하세요 bob 👋' },
    { cls: 'my-chat', text: 'bob : hi alice, from another gateway' },
    { cls: 'my-chat secret-chat', text: 'bob : 비밀이야 🤫' },
    { cls: 'other-chat secret-chat', text: 'alice : got it' },
  ]);
  assert.deepEqual(await b.page.$$eval('#notice p', (ps) => ps.map((p) => p.textContent)), [],
    'bob joined after alice: no notice');

  // Both sessions upgraded to WebSocket through nginx, and stayed with the
  // gateways that minted them.
  for (const [who, s0] of [[a, sa], [b, sb]]) {
    await who.page.waitForFunction(() => socket.io.engine.transport.name === 'websocket', null, { timeout: T })
      .catch(async () => assert.fail(`${who.label} did not upgrade: ${JSON.stringify(await session(who))}`));
    const s = await session(who);
    assert.equal(s.sid, s0.sid, `${who.label} kept its session`);
  }

  // bob closes his page: alice sees him leave.
  await b.context.close();
  await waitNotice(a, 'bob left the room.');
  await a.page.waitForFunction(() => document.querySelectorAll('#userList option').length === 2, null, { timeout: T });
  await shot(a, 'bob-left');

  assert.deepEqual(problems(a), [], 'alice: no page error, console error (CSP), failed request or HTTP error');
  assert.deepEqual(problems(b), [], 'bob: no page error, console error (CSP), failed request or HTTP error');
  const m = await Promise.all(cluster.gateways.map((g) => h.getMetrics(g.url)));
  const total = (name) => m.reduce((n, x) => n + x.samples.filter((y) => y.name === name)
    .reduce((k, y) => k + y.value, 0), 0);
  const relays = total('chat_relays_total');
  const upgrades = total('chat_upgrades_total');
  console.log(`# relays ${relays}, upgrades ${upgrades} over the 3 gateways`);
  console.log(`# the seed's server and this gateway differ in:${SEED_DIFFERENCES}`);
  assert.ok(upgrades >= 2, `both pages upgraded (chat_upgrades_total ${upgrades})`);

  // Every gateway exits 0 (under ASan a leak or error report would not).
  stopped = true;
  await browser.close();
  await ngx.stop();
  assert.deepEqual(await cluster.stop(), [0, 0, 0], 'gateway exit codes');
});
