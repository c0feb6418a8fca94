// SPDX-License-Identifier: MIT
'use strict';
// Configurable bounds: each one refuses what is over it, leaves everyone
// else alone, and is counted in /metrics as chat_limit_hits_total{limit=...}.
const test = require('node:test');
const assert = require('node:assert');
const h = require('../lib/harness');

const hits = async (url, limit) =>
  (await h.getMetrics(url)).get('chat_limit_hits_total', { limit });

// open resolves with an open raw WebSocket or rejects with the HTTP error.
async function open(url, opts = {}) {
  const ws = h.rawWs(url, undefined, opts);
  await ws.opened;
  return ws;
}

const refused429 = (e) => e.statusCode === 429 && /Too many connections from your address/.test(e.body);

test('--max-connections-per-ip bounds sockets per client address', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ args: ['--max-connections-per-ip', '3'] });
  try {
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await open(gw.url, { localAddress: '127.0.0.1' }));
    await assert.rejects(open(gw.url, { localAddress: '127.0.0.1' }), refused429);
    // Another address is not affected, and a Socket.IO client from it works.
    const other = await open(gw.url, { localAddress: '127.0.0.2' });
    const sock = await h.connect(gw.url, { localAddress: '127.0.0.3' });
    assert.ok(sock.connected);
    sock.close();
    // Closing one frees its slot (the count follows closes).
    mine.shift().close();
    await h.waitUntil(async () => {
      try {
        mine.push(await open(gw.url, { localAddress: '127.0.0.1' }));
        return true;
      } catch (e) {
        if (!refused429(e)) throw e;
        return false;
      }
    }, 5000, 50, 'a slot freed by a close');
    await assert.rejects(open(gw.url, { localAddress: '127.0.0.1' }), refused429);
    const m = await h.getMetrics(gw.url);
    assert.ok(m.get('chat_limit_hits_total', { limit: 'connections_per_ip' }) >= 2);
    assert.strictEqual(m.get('chat_websockets'), 4);
    for (const ws of [...mine, other]) ws.close();
    await h.waitUntil(async () => (await h.getMetrics(gw.url)).get('chat_websockets') === 0,
      5000, 50, 'every socket closed');
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('X-Forwarded-For counts only from --trusted-proxies', { timeout: 30000 }, async () => {
  const xff = (ip) => ({ headers: { 'X-Forwarded-For': ip } });
  // Trusted: clients behind the proxy are told apart, and the rightmost
  // untrusted hop is the client (a forged prefix changes nothing).
  let gw = await h.startGateway({
    args: ['--max-connections-per-ip', '2', '--trusted-proxies', '127.0.0.1, 10.0.0.0/8'],
  });
  try {
    const a = [await open(gw.url, xff('203.0.113.5')), await open(gw.url, xff('1.2.3.4, 203.0.113.5, 10.9.9.9'))];
    await assert.rejects(open(gw.url, xff('203.0.113.5')), refused429);
    await assert.rejects(open(gw.url, xff('6.6.6.6, 203.0.113.5')), refused429);
    const b = await open(gw.url, xff('203.0.113.6'));
    const c = await open(gw.url); // the proxy's own address
    // An untrusted peer cannot claim to be someone else.
    const d = [await open(gw.url, { localAddress: '127.0.0.9', ...xff('198.51.100.1') }),
      await open(gw.url, { localAddress: '127.0.0.9', ...xff('198.51.100.2') })];
    await assert.rejects(open(gw.url, { localAddress: '127.0.0.9', ...xff('198.51.100.3') }), refused429);
    for (const ws of [...a, b, c, ...d]) ws.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
  // Untrusted by default: the header is ignored.
  gw = await h.startGateway({ args: ['--max-connections-per-ip', '2'] });
  try {
    const a = [await open(gw.url, xff('203.0.113.5')), await open(gw.url, xff('203.0.113.6'))];
    await assert.rejects(open(gw.url, xff('203.0.113.7')), refused429);
    for (const ws of a) ws.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('--max-connections counts WebSockets that never joined Socket.IO', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ args: ['--max-connections', '3', '--max-connections-per-ip', '0'] });
  try {
    const held = [await open(gw.url), await open(gw.url), await open(gw.url)];
    await assert.rejects(open(gw.url), (e) => e.statusCode === 503 && /Too many connections/.test(e.body));
    await assert.rejects(h.connect(gw.url, { timeout: 3000 }));
    assert.ok((await hits(gw.url, 'connections')) >= 2);
    held.pop().close();
    await h.waitUntil(async () => (await h.getMetrics(gw.url)).get('chat_websockets') === 2,
      5000, 50, 'the close counted');
    const sock = await h.connect(gw.url);
    sock.close();
    for (const ws of held) ws.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('a WebSocket that never sends CONNECT is pinged, then closed at --connect-timeout', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ args: ['--ping-interval', '200', '--ping-timeout', '300',
    '--connect-timeout', '1500'] });
  try {
    const t0 = Date.now();
    const ws = await open(gw.url, { autoPong: true });
    await h.waitUntil(() => !ws.isOpen(), 5000, 50, 'the idle socket closed');
    const took = Date.now() - t0;
    // Engine.IO pings every session, in a namespace or not; Socket.IO's
    // connectTimeout, not the first ping, ends one that never connects.
    assert.ok(took >= 1400, `closed after ${took} ms, before --connect-timeout`);
    const pings = ws.messages.filter((m) => !m.binary && m.data === '2').length;
    assert.ok(pings >= 3, `pinged ${pings} times before the connect timeout`);
    assert.strictEqual(await hits(gw.url, 'connect_timeout'), 1);
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('an inbound frame over --max-payload closes only that socket (1009)', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ args: ['--max-payload', '2048'] });
  try {
    const good = await h.connect(gw.url);
    const ws = await open(gw.url);
    ws.send('40');
    ws.send('42' + JSON.stringify(['sendMessage', { message: 'x'.repeat(3000) }]));
    const closed = await new Promise((resolve) => ws.ws.once('close', (code) => resolve(code)));
    assert.strictEqual(closed, 1009);
    assert.strictEqual(await hits(gw.url, 'frame_size'), 1);
    assert.ok(good.connected);
    good.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('every limit is listed in /metrics from the start', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({});
  try {
    const m = await h.getMetrics(gw.url);
    for (const limit of ['connections', 'connections_per_ip', 'fd_reserve', 'connect_timeout', 'frame_size',
      'queue', 'rate', 'inbox', 'name_length', 'message_size', 'rooms', 'room_members', 'adapter_pending',
      'request_time']) {
      assert.strictEqual(m.get('chat_limit_hits_total', { limit }), 0, limit);
    }
    assert.strictEqual(m.get('chat_websockets'), 0);
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('chat bounds answer with their code and count in /metrics', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({
    args: ['--max-rooms', '2', '--max-room-members', '2', '--max-name', '8', '--max-message', '16',
      '--rate-limit', '1', '--rate-burst', '12'],
  });
  const code = (r) => r.ok === false && r.error.code;
  try {
    const a = await h.connect(gw.url);
    const b = await h.connect(gw.url);
    const c = await h.connect(gw.url);
    // Names: 8 characters pass (multi-byte ones count once), 9 do not.
    assert.strictEqual(code(await h.emitAck(a, 'create', { roomName: 'r'.repeat(9), userName: 'a' })), 'invalid_name');
    assert.strictEqual(code(await h.emitAck(a, 'create', { roomName: 'r1', userName: '가'.repeat(9) })), 'invalid_name');
    // A control character is invalid but not over a bound.
    assert.strictEqual(code(await h.emitAck(a, 'create', { roomName: 'r\u0001', userName: 'a' })), 'invalid_name');
    assert.strictEqual((await h.emitAck(a, 'create', { roomName: 'r1', userName: '가'.repeat(8) })).ok, true);
    // Message: 16 bytes pass, 17 do not; empty is invalid but not over.
    assert.strictEqual((await h.emitAck(a, 'sendMessage', { message: 'm'.repeat(16) })).ok, true);
    assert.strictEqual(code(await h.emitAck(a, 'sendMessage', { message: 'm'.repeat(17) })), 'invalid_message');
    assert.strictEqual(code(await h.emitAck(a, 'sendMessage', { message: '' })), 'invalid_message');
    // Members: two fit, the third is refused.
    assert.strictEqual((await h.emitAck(b, 'create', { roomName: 'r1', userName: 'b' })).ok, true);
    assert.strictEqual(code(await h.emitAck(c, 'create', { roomName: 'r1', userName: 'c' })), 'room_full');
    // Rooms: r1 and r2 exist, r3 is one too many.
    assert.strictEqual((await h.emitAck(c, 'create', { roomName: 'r2', userName: 'c' })).ok, true);
    const d = await h.connect(gw.url);
    assert.strictEqual(code(await h.emitAck(d, 'create', { roomName: 'r3', userName: 'd' })), 'room_limit');
    let m = await h.getMetrics(gw.url);
    const lim = (limit) => m.get('chat_limit_hits_total', { limit });
    assert.strictEqual(lim('name_length'), 2);
    assert.strictEqual(lim('message_size'), 1);
    assert.strictEqual(lim('room_members'), 1);
    assert.strictEqual(lim('rooms'), 1);
    assert.strictEqual(lim('rate'), 0);
    // Rate: a burst of 12 (d has used 1 token), then refusals.
    const acks = await Promise.all(Array.from({ length: 30 },
      () => h.emitAck(d, 'sendMessage', { message: 'x' })));
    const limited = acks.filter((r) => code(r) === 'rate_limited').length;
    assert.ok(limited >= 15 && limited <= 19, `${limited} of 30 rate limited`);
    m = await h.getMetrics(gw.url);
    assert.strictEqual(lim('rate'), limited);
    for (const s of [a, b, c, d]) s.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

// The inbox only fills while a membership change waits for its backend, so
// this one needs the Redis adapter (the in-memory one answers at once).
test('--max-queued-requests bounds what waits behind a create (Redis adapter)', { timeout: 30000 }, async () => {
  const redis = await h.startRedis();
  const gw = await h.startGateway({ redisUrl: redis.url, args: ['--max-queued-requests', '4', '--rate-limit', '0'] });
  try {
    const a = await h.connect(gw.url);
    // Redis paused: the create stays in flight and the messages after it
    // queue; 4 fit, the rest are refused at once.
    redis.proc.kill('SIGSTOP');
    let acks;
    try {
      const created = h.emitAck(a, 'create', { roomName: 'q', userName: 'a' });
      const sends = Array.from({ length: 20 }, (_, i) => h.emitAck(a, 'sendMessage', { message: `m${i}` }));
      await h.waitUntil(async () => (await h.getMetrics(gw.url)).get('chat_limit_hits_total', { limit: 'inbox' }) === 16,
        3000, 50, '16 refusals while the create waits');
      redis.proc.kill('SIGCONT');
      assert.strictEqual((await created).ok, true);
      acks = await Promise.all(sends);
    } finally {
      redis.proc.kill('SIGCONT');
    }
    const limited = acks.filter((r) => r.ok === false && r.error.code === 'rate_limited').length;
    const ok = acks.filter((r) => r.ok === true).length;
    assert.strictEqual(limited + ok, 20);
    assert.strictEqual(ok, 4, `${ok} delivered, ${limited} refused`);
    const m = await h.getMetrics(gw.url);
    assert.strictEqual(m.get('chat_limit_hits_total', { limit: 'inbox' }), limited);
    assert.strictEqual(m.get('chat_limit_hits_total', { limit: 'rate' }), 0);
    a.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
    await redis.stop();
  }
});
