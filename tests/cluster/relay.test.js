// SPDX-License-Identifier: MIT
'use strict';
/* tests/cluster/relay.test.js: relaying to the owner of a session (issue 12,
 * gateway/gw_relay.c) with real gateways on one real redis-server.
 *   1. Basics: a raw polling session on A whose POSTs go to B and GETs to C
 *      gets the answers A gives directly (status, type, body); chat flows;
 *      an upgrade through B (2probe/3probe/5) works and messages flow;
 *      B and C count every relay, kind poll or websocket, and none fails.
 *   2. kill -9 of an owner behind round-robin nginx (no affinity):
 *      socket.io-client (polling, and the default polling + upgrade) with
 *      reconnection reconnect to the survivors and chat; requests for the
 *      dead owner's sids answer at once, 502 while its address is still
 *      listed, then 400 code 1 "Session ID unknown" within the node TTL.
 *   3. An owner that hangs (SIGSTOP): a relayed GET and POST answer 504
 *      within --relay-timeout (+ --ping-interval for the GET), counted as
 *      timeouts; nothing else on B is affected.
 *   4. --max-relays 1: a second relayed request (GET, POST or upgrade) at
 *      once answers 503 and is counted as a limit failure.
 * Every gateway still running must exit 0 on SIGTERM (stopClean): under
 * ASan a leak or error report fails the test. */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { h, waitUp, names, stopClean } = require('./common.js');
const { startNginx } = require('../../deploy/tests/nginx-helper.js');

const SID_UNKNOWN = '{"code":1,"message":"Session ID unknown"}';
const BAD_REQUEST = '{"code":3,"message":"Bad request"}';
const WS_PATH = h.SIO_PATH;
const TEXT = { 'Content-Type': 'text/plain;charset=UTF-8' };
/* Node TTL long enough that no gateway starved by a loaded (sanitizer)
 * machine is reaped in cases that do not kill one. */
const STEADY = ['--heartbeat', '1000', '--node-ttl', '10000', '--drain-time', '300'];

const tagOf = (sid) => sid.slice(0, 6);

/* startNodes starts one redis-server and a gateway per entry of |argsList|
 * (its args), all on it; each gateway gets .tag, its peer tag, and is
 * listed in the peer registry before this returns. */
async function startNodes(argsList) {
  const redis = await h.startRedis();
  const results = await Promise.allSettled(argsList.map((args, i) => h.startGateway({
    redisUrl: redis.url, nodeId: `relay-${i}-${process.pid}`, args,
  })));
  const gateways = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const c = { redis, gateways };
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await redis.stop('SIGKILL');
    throw failed.reason;
  }
  try {
    await waitUp(gateways);
    for (const g of gateways) {
      // The tag is the first 6 characters of every sid the gateway issues.
      const r = await h.eioRequest(g.url);
      assert.equal(r.status, 200, r.text);
      const sid = JSON.parse(r.text.slice(1)).sid;
      const bye = await h.eioRequest(g.url, { method: 'POST', query: { sid }, body: '1', headers: TEXT });
      assert.equal(bye.text, 'ok');
      g.tag = tagOf(sid);
      await h.waitUntil(async () => (await redis.command('EXISTS', `gw:peer:${g.tag}`)) === 1, 5000, 50,
        `gw:peer:${g.tag} listed`);
    }
    assert.equal(new Set(gateways.map((g) => g.tag)).size, gateways.length, 'peer tags differ');
  } catch (e) {
    await stopClean(c).catch(() => {});
    throw e;
  }
  return c;
}

/* The relay counters of a gateway. */
async function relayStats(g) {
  const m = await h.getMetrics(g.url);
  const out = {
    poll: m.get('chat_relays_total', { kind: 'poll' }),
    websocket: m.get('chat_relays_total', { kind: 'websocket' }),
    active: m.get('chat_relays_active'),
  };
  for (const reason of ['timeout', 'unreachable', 'unknown', 'limit']) {
    out[reason] = m.get('chat_relay_failures_total', { reason });
  }
  for (const [k, v] of Object.entries(out)) assert.equal(typeof v, 'number', `${g.url}/metrics: no ${k}`);
  return out;
}

const delta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - a[k]]));

/* via sends requests for |sid| to |g| (any gateway: its own sid or one it
 * relays), with |headers|, and counts those it must relay in |counts| (by
 * url). */
function via(g, sid, counts, headers = {}) {
  const count = () => {
    if (counts && tagOf(sid) !== g.tag) counts[g.url] = (counts[g.url] || 0) + 1;
  };
  return {
    get(opts = {}) {
      count();
      return h.eioRequest(g.url, { query: { sid }, headers, ...opts });
    },
    post(body, opts = {}) {
      count();
      return h.eioRequest(g.url, { method: 'POST', query: { sid }, body, headers: { ...TEXT, ...headers }, ...opts });
    },
  };
}

/* What must be identical between a direct and a relayed answer: status,
 * body, and the headers below (the relay answers with its own CORS and
 * security headers, which must match the owner's); the Socket.IO sid and
 * the member key differ between sessions. */
const norm = (text) => text.replace(/"(sid|key)":"[A-Za-z0-9_-]{20}"/g, '"$1":"*"');
const SAME_HEADERS = ['content-type', 'cache-control', 'access-control-allow-origin',
  'access-control-allow-credentials', 'vary', 'x-content-type-options'];
const shape = (r) => ({
  status: r.status,
  body: norm(r.text),
  ...Object.fromEntries(SAME_HEADERS.map((k) => [k, r.headers[k]])),
});
const ORIGIN = { Origin: 'http://chat.example' };

/* getUntil long-polls with |get| until the packets received satisfy
 * |done|; every answer must be 200. Returns {packets, answers}. */
async function getUntil(get, done, timeoutMs = 5000) {
  const packets = [];
  const answers = [];
  const end = Date.now() + timeoutMs;
  while (!done(packets)) {
    const left = end - Date.now();
    if (left <= 0) throw new Error(`getUntil: timed out; received ${JSON.stringify(packets)}`);
    const r = await get({ timeoutMs: Math.max(left, 200) });
    assert.equal(r.status, 200, `long-poll answered ${r.status} ${r.text}`);
    answers.push(r);
    packets.push(...r.text.split(h.RS));
  }
  return { packets, answers };
}

const ackOf = (packets, id) => {
  const p = packets.find((x) => x.startsWith(`43${id}[`));
  return p && JSON.parse(p.slice(2 + String(id).length))[0];
};
const eventsOf = (packets, ev) => packets.filter((p) => p.startsWith(`42["${ev}"`))
  .map((p) => JSON.parse(p.slice(2))[1]);

test('relay basics: polling requests and an upgrade through other instances', { timeout: 30000 }, async (t) => {
  const tStart = Date.now();
  const c = await startNodes([STEADY, STEADY, STEADY]);
  const startMs = Date.now() - tStart;
  const opened = [];
  t.after(async () => {
    for (const x of opened) x.close ? x.close() : x.terminate();
    await stopClean(c);
  });
  const [A, B, C] = c.gateways;
  const counts = {};
  const s0 = { A: await relayStats(A), B: await relayStats(B), C: await relayStats(C) };
  const upgrades = async () => (await h.getMetrics(A.url)).get('chat_upgrades_total');
  const upgrades0 = await upgrades();

  // Two sessions on A: `direct` talks to A only; `relayed` sends its POSTs
  // to B and its GETs to C. Both do the same and must get the same answers.
  const open = async () => {
    const r = await h.eioRequest(A.url);
    assert.equal(r.status, 200, r.text);
    const sid = JSON.parse(r.text.slice(1)).sid;
    assert.equal(tagOf(sid), A.tag);
    return sid;
  };
  const dSid = await open();
  const rSid = await open();
  const d = { post: via(A, dSid, null, ORIGIN).post, get: via(A, dSid, null, ORIGIN).get };
  const rel = { post: via(B, rSid, counts, ORIGIN).post, get: via(C, rSid, counts, ORIGIN).get };
  const same = (a, b, what) => assert.deepEqual(shape(b), shape(a), `${what}: relayed answer differs from A's own`);
  // Long-poll answers: how the packets are batched depends on timing; the
  // packets are compared as a whole, the answers' heads one by one.
  const sameHeads = (as, bs, what) => {
    const head = (r) => ({ ...shape(r), body: undefined });
    for (const r of [...as.slice(1), ...bs]) assert.deepEqual(head(r), head(as[0]), `${what}: answers differ`);
  };

  // CONNECT: 'ok', then the CONNECT reply and the roomList.
  same(await d.post('40'), await rel.post('40'), 'POST 40');
  const hasRooms = (ps) => ps.some((p) => p.startsWith('42["roomList"'));
  const dc = await getUntil(d.get, hasRooms);
  const rc = await getUntil(rel.get, hasRooms);
  assert.deepEqual(rc.packets.map(norm), dc.packets.map(norm), 'CONNECT reply and roomList');
  assert.match(rc.packets[0], /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.equal(dc.answers[0].headers['access-control-allow-origin'], ORIGIN.Origin, 'CORS (compared below)');
  sameHeads(dc.answers, rc.answers, 'GET after CONNECT');

  // A chat request outside any room: 'ok', then the same chatError.
  const nowhere = '42["sendMessage",{"message":"nowhere"}]';
  same(await d.post(nowhere), await rel.post(nowhere), 'POST sendMessage');
  const isErr = (ps) => ps.some((p) => p.startsWith('42["chatError"'));
  const de = await getUntil(d.get, isErr);
  const re = await getUntil(rel.get, isErr);
  assert.deepEqual(re.packets, de.packets, 'chatError');
  sameHeads(de.answers, re.answers, 'GET of the chatError');

  // A sid with A's tag that A does not know: A's own 400, relayed back.
  const ghost = `${A.tag}ZZZZZZZZZZZZZZ`;
  for (const [what, direct, relayed] of [
    ['GET unknown sid', () => via(A, ghost, null, ORIGIN).get(), () => via(B, ghost, counts, ORIGIN).get()],
    ['POST unknown sid', () => via(A, ghost).post('40'), () => via(C, ghost, counts).post('40')],
  ]) {
    const a = await direct();
    assert.equal(a.status, 400);
    assert.equal(a.text, SID_UNKNOWN);
    same(a, await relayed(), what);
  }

  // Chat through the relays: the relayed session and a peer on C.
  const ROOM = 'relayed-room';
  await rel.post(`421["create",{"roomName":"${ROOM}","userName":"rita"}]`);
  const joined = await getUntil(rel.get, (ps) => ackOf(ps, 1));
  assert.equal(ackOf(joined.packets, 1).ok, true, JSON.stringify(joined.packets));
  const pete = await h.connect(C.url, { transports: ['websocket'], name: 'pete' });
  opened.push(pete);
  assert.equal((await h.emitAck(pete, 'create', { roomName: ROOM, userName: 'pete' })).ok, true);
  const ul = await getUntil(rel.get, (ps) => eventsOf(ps, 'userList').some((l) => l.length === 2));
  assert.deepEqual(names(eventsOf(ul.packets, 'userList').pop()), ['rita', 'pete']);
  assert.equal((await rel.post('42["sendMessage",{"message":"hello from rita"}]')).text, 'ok');
  assert.equal((await h.waitFor(pete, 'newMessage', (m) => m.message === 'hello from rita', 5000)).user, 'rita');
  await h.emitAck(pete, 'sendMessage', { message: 'hello rita' });
  await getUntil(rel.get, (ps) => eventsOf(ps, 'newMessage').some((m) => m.message === 'hello rita'));

  // The upgrade through B: a third session on A, its GETs through C.
  const uSid = await open();
  const up = { post: via(B, uSid, counts).post, get: via(C, uSid, counts).get };
  assert.equal((await up.post('40')).text, 'ok');
  await getUntil(up.get, hasRooms);
  await up.post(`421["create",{"roomName":"${ROOM}","userName":"uma"}]`);
  assert.equal(ackOf((await getUntil(up.get, (ps) => ackOf(ps, 1))).packets, 1).ok, true);
  await h.waitFor(pete, 'userList', (l) => l.length === 3, 5000);
  // A long-poll pending at A (through C) while the probe goes through B:
  // released with a noop.
  const cBefore = (await relayStats(C)).active;
  const pending = getUntil(up.get, (ps) => ps.includes('6'), 8000);
  await h.waitUntil(async () => (await relayStats(C)).active > cBefore, 5000, 20, 'the GET relayed by C');
  await h.delay(200); // the relayed GET reaches A
  const ws = h.rawWs(B.url, `${WS_PATH}&sid=${uSid}`);
  opened.push(ws);
  await ws.opened;
  ws.send('2probe');
  assert.equal(await ws.next((m) => m === '3probe', 5000), '3probe');
  assert.equal(ws.messages[0].data, '3probe', 'first message on the relayed probe');
  await pending;
  ws.send('5');
  await h.waitUntil(async () => (await upgrades()) === upgrades0 + 1, 5000, 20, 'upgrade counted on A');
  assert.equal((await ws.request('sendMessage', { message: 'through the relayed websocket' })).ok, true);
  await h.waitFor(pete, 'newMessage', (m) => m.message === 'through the relayed websocket' && m.user === 'uma', 5000);
  await h.emitAck(pete, 'sendMessage', { message: 'back to uma' });
  assert.equal((await ws.waitEvent('newMessage', (m) => m.message === 'back to uma', 5000)).user, 'pete');
  // Polling on the upgraded session: A's 400 Bad request, relayed back.
  const mis = await via(A, uSid).get();
  assert.equal(mis.status, 400);
  assert.equal(mis.text, BAD_REQUEST);
  same(mis, await up.get(), 'GET after the upgrade');

  // Close: 'ok', then the session is unknown, directly and relayed.
  same(await d.post('1'), await rel.post('1'), 'POST close');
  const gone = await d.get();
  assert.equal(gone.status, 400);
  assert.equal(gone.text, SID_UNKNOWN);
  same(gone, await rel.get(), 'GET after close');

  // Counted: every relayed request and the WebSocket, nothing failed.
  const wsOnA = async () => (await h.getMetrics(A.url)).get('chat_sessions', { transport: 'websocket' });
  assert.equal(await wsOnA(), 1, 'the upgraded session on A');
  ws.close();
  await h.waitUntil(async () => (await relayStats(B)).active === 0, 5000, 20, 'B: no relay left');
  await h.waitUntil(async () => (await wsOnA()) === 0, 5000, 20, 'A: upgraded session closed');
  const dB = delta(s0.B, await relayStats(B));
  const dC = delta(s0.C, await relayStats(C));
  const none = { poll: 0, websocket: 0, active: 0, timeout: 0, unreachable: 0, unknown: 0, limit: 0 };
  assert.deepEqual(dB, { ...none, poll: counts[B.url], websocket: 1 });
  assert.deepEqual(dC, { ...none, poll: counts[C.url] });
  assert.deepEqual(delta(s0.A, await relayStats(A)), none);
  // The owner's address is looked up in Redis once per relaying instance,
  // then taken from its cache (gw_relay.c).
  for (const [g, d] of [[B, dB], [C, dC]]) {
    const m = await h.getMetrics(g.url);
    const hits = m.get('chat_relay_cache_hits_total');
    const lookups = m.get('chat_adapter_peer_lookups_total');
    assert.equal(lookups, 1, `${g.url}: one Redis lookup of A's address`);
    assert.equal(hits, d.poll + d.websocket - 1, `${g.url}: every other relay from the cache`);
  }
  t.diagnostic(`relayed by B: ${dB.poll} polling requests + 1 WebSocket; by C: ${dC.poll}; ` +
    `cluster up in ${startMs} ms, cases in ${Date.now() - tStart - startMs} ms`);
});

/* Case 2: fast failure detection (a dead node's address goes from the
 * registry within the TTL); the heartbeat leaves a survivor starved on a
 * loaded machine some margin before it is reaped itself, and the relay
 * timeout some margin for a relay between live instances (a 504 there
 * would fail a client's connect). */
const KILL_RELAY_TIMEOUT = 3000;
const KILL_TTL = 2000;
const KILL_ARGS = ['--heartbeat', '250', '--node-ttl', String(KILL_TTL), '--drain-time', '300',
  '--redis-timeout', '1000', '--relay-timeout', String(KILL_RELAY_TIMEOUT), '--log-level', 'debug'];
const NGINX = process.env.NGINX_BIN || ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => fs.existsSync(p));

/* withLogs adds to the failure |e| what nginx answered other than a
 * success (the gateway's answer is in ups=), and the gateways' relay and
 * session-closing log lines (KILL_ARGS logs at debug). */
function withLogs(e, ngx, gateways) {
  const odd = ngx.accessLog().split('\n').filter((l) => l && !/" (200|101) /.test(l));
  let more = `\n--- nginx: ${odd.length} answers other than 200/101 ---\n${odd.slice(-30).join('\n')}` +
    `\n--- nginx error.log ---\n${ngx.errorLog().split('\n').slice(-15).join('\n')}`;
  for (const g of gateways) {
    const lines = g.logs().split('\n').filter((l) => /relay|clos|malformed|refus|warn|error/i.test(l));
    more += `\n--- gateway ${g.tag} (${g.url}) ---\n${lines.slice(-25).join('\n')}`;
  }
  e.message += more;
  // The reporter prints the stack, made with the old message.
  if (typeof e.stack === 'string') e.stack = e.stack.replace(/^([^\n]*)/, (first) => first + more);
  return e;
}

/* chatter connects through |url| with reconnection and (re)joins |room|
 * as <name>-<n> on its n-th connection (a name is not reused while the
 * old membership may still be listed). st: {connects, joined (the
 * connection whose join was acked ok), name}. */
async function chatter(url, room, name, transports) {
  const s = await h.connect(url, {
    name, transports, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300,
    randomizationFactor: 0,
  });
  const st = { connects: 0, joined: 0, name: null };
  s.st = st;
  const join = () => {
    const n = ++st.connects;
    const userName = `${name}-${n}`;
    s.timeout(5000).emit('create', { roomName: room, userName }, (err, ack) => {
      if (!err && ack && ack.ok && st.connects === n) {
        st.joined = n;
        st.name = userName;
      }
    });
  };
  s.on('connect', join);
  join();
  return s;
}

test('kill -9 of an owner behind nginx: clients reconnect to the survivors; its sids answer 400', {
  timeout: 40000, skip: NGINX ? false : 'nginx not found',
}, async (t) => {
  const c = await startNodes([KILL_ARGS, KILL_ARGS, KILL_ARGS]);
  let ngx = null;
  const clients = [];
  t.after(async () => {
    for (const s of clients) s.close();
    if (ngx) await ngx.stop();
    await stopClean(c);
  });
  ngx = await startNginx({ nginxBin: NGINX, upstreams: c.gateways.map((g, i) => ({ node: `gw${i}`, port: g.port })) });
  try {
    const ROOM = 'phoenix';
    // Half long-polling only, half socket.io-client's default (polling, then
    // the upgrade): nginx spreads their requests over the three instances.
    for (let i = 0; i < 9; i++) {
      clients.push(await chatter(ngx.url, ROOM, `c${i}`, i % 2 ? ['polling'] : ['polling', 'websocket']));
    }
    const owner = (s) => tagOf(s.io.engine.id);
    const listed = (s) => {
      const l = h.history(s, 'userList').pop();
      return l ? names(l.payload).sort().join() : '';
    };
    const everyone = () => clients.map((s) => s.st.name).sort().join();
    const settled = (why) => h.waitUntil(() => clients.every((s) => s.connected && s.st.joined === s.st.connects) &&
      clients.every((s) => listed(s) === everyone()), 15000, 50, why);
    await settled('all 9 joined');
    await h.waitUntil(() => clients.every((s, i) => i % 2 || s.io.engine.transport.name === 'websocket'),
      10000, 50, 'default clients upgraded');
    const relayedBefore = (await Promise.all(c.gateways.map(relayStats))).reduce((n, x) => n + x.poll + x.websocket, 0);
    assert.ok(relayedBefore > 0, 'nginx without affinity: some requests were relayed');

    // The victim: the instance that owns the most sessions (3 at least).
    const byTag = new Map(c.gateways.map((g) => [g.tag, clients.filter((s) => owner(s) === g.tag)]));
    const victim = c.gateways.reduce((a, b) => (byTag.get(b.tag).length > byTag.get(a.tag).length ? b : a));
    const victims = byTag.get(victim.tag);
    const survivors = c.gateways.filter((g) => g !== victim);
    const deadSids = victims.map((s) => s.io.engine.id);
    assert.ok(victims.length >= 3);
    const s0 = await Promise.all(survivors.map(relayStats));
    for (const s of clients) h.clearEvents(s, '$disconnect');

    const tKill = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;

    // Requests for the dead owner's sids, straight to the survivors: each
    // answered at once (never a hang up to --relay-timeout), 502 while the
    // owner's address is still listed, then 400 "Session ID unknown".
    const probes = [];
    for (let k = 0; !probes.some((p) => p.status === 400) || probes.filter((p) => p.status === 400).length < 4; k++) {
      assert.ok(Date.now() - tKill < KILL_TTL + 3000, `no 400 after ${Date.now() - tKill} ms: ` +
        JSON.stringify(probes.slice(-4)));
      const g = survivors[k % 2];
      const v = via(g, deadSids[k % deadSids.length]);
      const t0 = Date.now();
      const o = { timeoutMs: KILL_RELAY_TIMEOUT * 3 };
      const r = await (k % 4 < 2 ? v.get(o) : v.post('3', o));
      probes.push({ at: t0 - tKill, ms: Date.now() - t0, status: r.status, text: r.text, json: r.json() });
      await h.delay(50);
    }
    let first400 = null;
    for (const p of probes) {
      assert.ok(p.ms < KILL_RELAY_TIMEOUT, `a request for a dead owner's sid took ${p.ms} ms`);
      if (p.status === 400) {
        assert.equal(p.text, SID_UNKNOWN);
        if (first400 === null) first400 = p;
      } else {
        assert.equal(p.status, 502, JSON.stringify(p));
        assert.equal(first400, null, `502 after a 400: ${JSON.stringify(probes)}`);
        assert.equal(p.json && p.json.code, 3, p.text);
      }
    }
    assert.ok(first400.at < KILL_TTL + 1000, `first 400 ${first400.at} ms after the kill (TTL ${KILL_TTL})`);
    assert.equal(await c.redis.command('EXISTS', `gw:peer:${victim.tag}`), 0);
    const d = (await Promise.all(survivors.map(relayStats))).map((x, i) => delta(s0[i], x));
    assert.ok(d.reduce((n, x) => n + x.unknown, 0) >= 4, JSON.stringify(d));
    const unreachable = d.reduce((n, x) => n + x.unreachable, 0);
    assert.ok(unreachable >= probes.filter((p) => p.status === 502).length, JSON.stringify(d));

    // The victim's clients noticed at once and reconnected to the survivors.
    for (const s of victims) {
      await h.waitFor(s, '$disconnect', null, 5000);
      const dis = h.history(s, '$disconnect').find((e) => e.t >= tKill);
      assert.ok(dis.t - tKill < KILL_RELAY_TIMEOUT + 1000,
        `${s.rec.label}: disconnected ${dis.t - tKill} ms after the kill`);
    }
    await settled('all 9 joined again, the dead listed no more');
    for (const s of clients) {
      assert.notEqual(owner(s), victim.tag, `${s.rec.label} still on the dead owner`);
      assert.ok(survivors.some((g) => g.tag === owner(s)));
    }
    // And chat: every message reaches everyone.
    await Promise.all(clients.map(async (s, i) => {
      const ack = await h.emitAck(s, 'sendMessage', { message: `after-${i}` }, 5000);
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }));
    for (const s of clients) {
      for (let i = 0; i < clients.length; i++) {
        await h.waitFor(s, 'newMessage', (m) => m.message === `after-${i}`, 5000);
      }
    }
    const reconnected = clients.filter((s) => s.st.connects > 1).length;
    t.diagnostic(`victim owned ${victims.length}; first 400 ${first400.at} ms after the kill, ` +
      `${probes.filter((p) => p.status === 502).length} x 502 before; ${reconnected} of 9 clients reconnected`);
  } catch (e) {
    throw withLogs(e, ngx, c.gateways);
  }
});

/* Case 3: an owner that stops answering. */
const HANG_RELAY_TIMEOUT = 1000;
const HANG_PING = 1000;
const HANG_ARGS = [...STEADY, '--relay-timeout', String(HANG_RELAY_TIMEOUT), '--ping-interval', String(HANG_PING)];
/* Scheduling slack on a loaded (sanitizer) machine. */
const SLACK = 1500;

/* sender emits sendMessage with an ack every |ms|: {sent: [{text, ack}], stop}. */
function sender(sock, prefix, ms) {
  const sent = [];
  let i = 0;
  const timer = setInterval(() => {
    const rec = { text: `${prefix}-${i++}`, ack: null };
    sent.push(rec);
    sock.timeout(8000).emit('sendMessage', { message: rec.text }, (err, ack) => {
      rec.ack = err ? { lost: true } : ack;
    });
  }, ms);
  return { sent, stop: () => clearInterval(timer) };
}

test('an owner that hangs (SIGSTOP): relayed requests answer 504 in time, nothing else is affected', {
  timeout: 30000,
}, async (t) => {
  const c = await startNodes([HANG_ARGS, HANG_ARGS, HANG_ARGS]);
  const [A, B, C] = c.gateways;
  let stopped = false;
  const socks = [];
  let tx = null;
  t.after(async () => {
    if (tx) tx.stop();
    if (stopped) A.kill('SIGCONT');
    for (const s of socks) s.close();
    await stopClean(c);
  });
  // B's own clients (and one on C) chat in a room throughout.
  const member = async (g, name, transports) => {
    const s = await h.connect(g.url, { name, transports });
    socks.push(s);
    assert.equal((await h.emitAck(s, 'create', { roomName: 'calm', userName: name })).ok, true);
    return s;
  };
  const bob = await member(B, 'bob', ['websocket']);
  const bea = await member(B, 'bea', ['polling']);
  const carl = await member(C, 'carl', ['polling']);
  await h.waitFor(bob, 'userList', (l) => l.length === 3, 5000);
  // A live polling session on A, and one on C that B relays to meanwhile.
  const aSid = JSON.parse((await h.eioRequest(A.url)).text.slice(1)).sid;
  const cSid = JSON.parse((await h.eioRequest(C.url)).text.slice(1)).sid;
  assert.equal(tagOf(aSid), A.tag);
  const s0 = await relayStats(B);

  A.kill('SIGSTOP');
  stopped = true;
  tx = sender(bob, 'calm', 100);
  const timed = async (p) => {
    const t0 = Date.now();
    const r = await p;
    return { r, ms: Date.now() - t0 };
  };
  const aB = via(B, aSid);
  const getP = timed(aB.get({ timeoutMs: 10000 }));
  const postP = timed(aB.post('42["sendMessage",{"message":"into the void"}]', { timeoutMs: 10000 }));
  let getDone = false;
  getP.then(() => (getDone = true), () => (getDone = true));
  // While the GET waits: B relays to C as usual.
  const cB = via(B, cSid);
  assert.equal((await cB.post('40')).text, 'ok');
  const cr = await getUntil(cB.get, (ps) => ps.some((p) => p.startsWith('40{')));
  assert.match(cr.packets[0], /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.equal(getDone, false, 'the relay to C waited for the hung one');
  for (const [what, { r, ms }, bound] of [
    ['POST', await postP, HANG_RELAY_TIMEOUT],
    ['GET', await getP, HANG_RELAY_TIMEOUT + HANG_PING],
  ]) {
    assert.equal(r.status, 504, `${what}: ${r.status} ${r.text}`);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json().code, 3, r.text);
    assert.ok(ms >= bound - 50 && ms < bound + SLACK, `${what} answered 504 after ${ms} ms (bound ${bound} ms)`);
  }
  await h.waitUntil(async () => (await relayStats(B)).active === 0, 2000, 20, 'B: no relay left');
  const d = delta(s0, await relayStats(B));
  assert.equal(d.timeout, 2, JSON.stringify(d));
  assert.equal(d.poll, 2 + 1 + cr.answers.length, JSON.stringify(d)); // to A, then C
  assert.equal(d.unreachable + d.unknown + d.limit, 0, JSON.stringify(d));
  await h.delay(500);
  tx.stop();
  await h.waitUntil(() => tx.sent.every((r) => r.ack), 8000, 50, 'every ack');

  // B's clients chatted normally all along: every message acked ok and
  // delivered, nobody disconnected; C's member too.
  assert.ok(tx.sent.length >= 20, `${tx.sent.length} messages sent during the stall`);
  for (const r of tx.sent) assert.equal(r.ack.ok, true, `${r.text}: ${JSON.stringify(r.ack)}`);
  for (const s of [bea, carl]) {
    for (const r of tx.sent) await h.waitFor(s, 'newMessage', (m) => m.message === r.text, 3000);
  }
  await h.emitAck(carl, 'sendMessage', { message: 'from C' });
  await h.waitFor(bea, 'newMessage', (m) => m.message === 'from C', 3000);
  for (const s of [bob, bea, carl]) {
    assert.ok(s.connected);
    assert.deepEqual(h.history(s, '$disconnect'), []);
  }

  // A resumes: relays to it work again.
  A.kill('SIGCONT');
  stopped = false;
  await h.waitUntil(async () => (await h.httpGet(A.url, '/healthz', { timeoutMs: 1000 })).status === 200,
    5000, 50, 'A answers again');
  const a2 = JSON.parse((await h.eioRequest(A.url)).text.slice(1)).sid;
  assert.equal((await via(B, a2).post('40')).text, 'ok');
  await getUntil(via(B, a2).get, (ps) => ps.some((p) => p.startsWith('40{')));
  assert.equal((await via(B, a2).post('1')).text, 'ok');
  assert.equal((await relayStats(B)).active, 0);
});

test('--max-relays 1: a second relayed request at once answers 503', { timeout: 30000 }, async (t) => {
  const c = await startNodes([[...STEADY, '--ping-interval', '5000'], [...STEADY, '--max-relays', '1']]);
  t.after(() => stopClean(c));
  const [A, B] = c.gateways;
  const sid = async () => JSON.parse((await h.eioRequest(A.url)).text.slice(1)).sid;
  const s1 = await sid();
  const s2 = await sid();
  const s0 = await relayStats(B);
  // A long-poll for s1 through B holds B's only relay (A has nothing to
  // send until we CONNECT s1 directly).
  const first = via(B, s1).get({ timeoutMs: 8000 });
  await h.waitUntil(async () => (await relayStats(B)).active === 1, 3000, 20, 'the first relay in flight');
  for (const [what, p] of [
    ['GET', () => via(B, s2).get()],
    ['POST', () => via(B, s2).post('40')],
  ]) {
    const t0 = Date.now();
    const r = await p();
    assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json().code, 3, r.text);
    // (Queued behind the first instead, it would wait for A's ping: 5 s.)
    assert.ok(Date.now() - t0 < 3000, `${what}: 503 after ${Date.now() - t0} ms`);
  }
  // An upgrade for A's session through B meanwhile: refused 503 as well.
  const ws = h.rawWs(B.url, `${WS_PATH}&sid=${s2}`);
  const err = await ws.opened.then(() => null, (e) => e);
  if (!err) ws.terminate();
  assert.ok(err, 'an upgrade over the limit was accepted');
  assert.equal(err.statusCode, 503, `upgrade over the limit: ${err.statusCode} ${err.body}`);
  assert.deepEqual(delta(s0, await relayStats(B)),
    { poll: 1, websocket: 0, active: 1, timeout: 0, unreachable: 0, unknown: 0, limit: 3 });
  const s1b = await relayStats(B);
  // s1 directly at A: the CONNECT reply releases the relayed long-poll.
  assert.equal((await via(A, s1).post('40')).text, 'ok');
  const r1 = await first;
  assert.equal(r1.status, 200, r1.text);
  assert.match(r1.text.split(h.RS)[0], /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  await h.waitUntil(async () => (await relayStats(B)).active === 0, 3000, 20, 'the relay finished');
  // The slot is free again, and the refused POST did not reach A: s2 is
  // still there, not CONNECTed.
  assert.equal((await via(B, s2).post('40')).text, 'ok');
  const r2 = await getUntil(via(B, s2).get, (ps) => ps.some((p) => p.startsWith('40{')));
  assert.match(r2.packets[0], /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.deepEqual(delta(s1b, await relayStats(B)),
    { poll: 1 + r2.answers.length, websocket: 0, active: -1, timeout: 0, unreachable: 0, unknown: 0, limit: 0 });
  for (const s of [s1, s2]) assert.equal((await via(A, s).post('1')).text, 'ok');
});
