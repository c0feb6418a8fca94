// SPDX-License-Identifier: MIT
'use strict';
/*
 * Engine.IO v4 HTTP long-polling and the upgrade to WebSocket, raw: every
 * request is a plain node:http request (tests/lib/rawpoll.js, keep-alive
 * Agent) or a raw WebSocket (tests/lib/rawws.js), and every case asserts
 * status codes and exact bodies. The expected behaviour is the engine.io
 * 6.x server's (the compliance suite socketio/engine.io-protocol
 * test-suite/test-suite.js, with Socket.IO packets where it echoes '4hello').
 *
 * After every case two bystanders (socket.io-client, one over WebSocket,
 * one over polling) still get their own messages, the gateway is still
 * running, and /metrics is back to their two sessions (nothing leaked).
 *
 * POLLING_TEST_URL=http://127.0.0.1:P runs the same cases against an
 * external server instead of a chat-gateway (used to check the suite
 * against the real engine.io server); it must be configured as the gateway
 * below: pingInterval 300, pingTimeout 200, maxHttpBufferSize 16384,
 * connectTimeout 1500, CORS and allowRequest for Origin http://a.example
 * only, and the chat events create/sendMessage. Cases marked "gateway
 * only" (limits, /metrics) are skipped then.
 */
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');
const { rawPoll, eioRequest, splitPayload, sioEvent, RS } = require('../lib/rawpoll');

const EXTERNAL = process.env.POLLING_TEST_URL || '';
const GATEWAY_ONLY = EXTERNAL ? 'gateway only (POLLING_TEST_URL is set)' : false;
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const MAX_PAYLOAD = 16384;
const CONNECT_TIMEOUT = 1500;
const ORIGIN = 'http://a.example';
const OTHER_ORIGIN = 'http://b.example';
const T = { timeout: 30000 };

const uid = () => crypto.randomBytes(4).toString('hex');
const WS_PATH = '/socket.io/?EIO=4&transport=websocket';
const errBody = (code, message) => JSON.stringify({ code, message });
const E = {
  TRANSPORT: errBody(0, 'Transport unknown'),
  SID: errBody(1, 'Session ID unknown'),
  METHOD: errBody(2, 'Bad handshake method'),
  BAD: errBody(3, 'Bad request'),
  FORBIDDEN: errBody(4, 'Forbidden'),
  VERSION: errBody(5, 'Unsupported protocol version'),
};
const OPEN_RE = new RegExp('^0\\{"sid":"([A-Za-z0-9_-]{20})","upgrades":\\["websocket"\\],' +
  `"pingInterval":${PING_INTERVAL},"pingTimeout":${PING_TIMEOUT},"maxPayload":${MAX_PAYLOAD}\\}$`);

function assertError(r, status, body, what) {
  assert.equal(r.status, status, `${what}: status (body ${JSON.stringify(r.text)})`);
  assert.equal(r.text, body, `${what}: body`);
  assert.match(String(r.headers['content-type']), /^application\/json/, `${what}: Content-Type`);
}

// newMessage texts in a list of Socket.IO packets, in order.
const messagesIn = (packets) => packets.map(sioEvent)
  .filter((e) => e && e[0] === 'newMessage').map((e) => e[1].message);

describe('Engine.IO long-polling (raw HTTP and WebSocket)', { timeout: 300000 }, () => {
  let gw;
  let url;
  let wsBy; // bystander over WebSocket
  let pollBy; // bystander over polling
  const room = `poll-${uid()}`;
  const polls = [];
  const sockets = [];
  let alive = 0;

  const poll = (opts) => {
    const s = rawPoll(url, opts);
    polls.push(s);
    return s;
  };
  const ws = (p = WS_PATH, opts) => {
    const c = h.rawWs(url, p, opts);
    sockets.push(c);
    return c;
  };
  const metrics = () => h.getMetrics(url);
  const sessions = async (transport) => (await metrics()).get('chat_sessions', { transport });

  before(async () => {
    if (EXTERNAL) {
      url = EXTERNAL.replace(/\/$/, '');
    } else {
      gw = await h.startGateway({
        args: ['--ping-interval', String(PING_INTERVAL), '--ping-timeout', String(PING_TIMEOUT),
          '--max-payload', String(MAX_PAYLOAD), '--connect-timeout', String(CONNECT_TIMEOUT),
          '--allowed-origins', ORIGIN, '--rate-limit', '0', '--drain-time', '300'],
      });
      url = gw.url;
    }
    wsBy = await h.connect(url, { name: 'wsBystander', transports: ['websocket'] });
    pollBy = await h.connect(url, { name: 'pollBystander', transports: ['polling'] });
    for (const [s, name] of [[wsBy, 'wsBy'], [pollBy, 'pollBy']]) {
      const res = await h.emitAck(s, 'create', { roomName: room, userName: name });
      assert.equal(res.ok, true, JSON.stringify(res));
    }
    await h.waitFor(wsBy, 'userList', (l) => l.length === 2);
  });

  after(async () => {
    for (const s of polls.splice(0)) s.destroy();
    for (const c of sockets.splice(0)) c.terminate();
    for (const s of [wsBy, pollBy]) if (s) s.disconnect();
    if (!gw) return;
    assert.ok(gw.running(), `gateway died:\n${gw.logs().slice(-4000)}`);
    const code = await gw.stop('SIGTERM');
    assert.equal(code, 0, `gateway exit status on SIGTERM:\n${gw.logs().slice(-4000)}`);
  });

  // Every case leaves the server serving both transports, and nothing
  // counted but the two bystanders.
  afterEach(async () => {
    for (const s of polls.splice(0)) {
      await s.close();
      s.destroy();
    }
    for (const c of sockets.splice(0)) c.terminate();
    if (gw) assert.ok(gw.running(), `gateway died:\n${gw.logs().slice(-4000)}`);
    for (const s of [wsBy, pollBy]) {
      const text = `alive ${++alive}`;
      const ack = await h.emitAck(s, 'sendMessage', { message: text });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      for (const r of [wsBy, pollBy]) await h.waitFor(r, 'newMessage', (m) => m.message === text);
      assert.equal(s.connected, true, `${s.rec.label} still connected`);
    }
    if (gw) {
      let last;
      await h.waitUntil(async () => {
        const m = await metrics();
        last = [m.get('chat_sessions', { transport: 'polling' }), m.get('chat_sessions', { transport: 'websocket' })];
        return last[0] === 1 && last[1] === 1;
      }, 5000, 50, 'chat_sessions back to the two bystanders').catch((e) => {
        throw new Error(`${e.message}; chat_sessions polling, websocket = ${JSON.stringify(last)}`);
      });
    }
  });

  // The session is closed: the next GET answers 400 "Session ID unknown",
  // or first delivers the close packet ('1', after noops or a ping) when
  // the server was waiting for a GET to tell the client.
  async function expectGone(s, what) {
    for (let i = 0; i < 2; i++) {
      const r = await s.get({ timeoutMs: 3000 });
      if (r.status === 400) {
        assertError(r, 400, E.SID, `${what}: GET after the close`);
        return;
      }
      assert.equal(r.status, 200, `${what}: GET after the close: ${r.status} ${JSON.stringify(r.text)}`);
      const p = splitPayload(r.text);
      assert.equal(p[p.length - 1], '1', `${what}: the session is still open, GET returned ${JSON.stringify(r.text)}`);
      assert.ok(p.slice(0, -1).every((x) => x === '6' || x === '2'), `${what}: ${JSON.stringify(r.text)}`);
    }
    assert.fail(`${what}: the session is still open`);
  }

  // A POST the server refuses by dropping the session answers 400, or
  // drops the connection (the compliance suite accepts both). engine.io
  // 6.6 itself answers 'ok' to a payload it decodes as an error or a
  // binary message and closes the session after: accepted from an
  // external server only (|okFromEngineIo|).
  async function postRefused(s, body, opts, what, okFromEngineIo = false) {
    let r;
    try {
      r = await s.post(body, opts);
    } catch (e) {
      assert.ok(['ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(e.code) || /socket hang up/.test(e.message),
        `${what}: ${e.message}`);
      return null;
    }
    if (EXTERNAL && okFromEngineIo && r.status === 200 && r.text === 'ok') return r;
    assert.equal(r.status, 400, `${what}: status (body ${JSON.stringify(r.text)})`);
    return r;
  }

  // A polling session past the Socket.IO CONNECT, its roomList consumed.
  async function connected(opts) {
    const s = poll(opts);
    await s.open();
    const c = await s.sioConnect();
    assert.match(c.sid, /^[A-Za-z0-9_-]{20}$/, 'Socket.IO sid');
    await s.waitEvent('roomList');
    return s;
  }

  // Upgrades |s| (polling, CONNECTed) to a raw WebSocket; returns it once
  // '5' was sent. Checks the probe and the noop that releases the GET.
  async function upgrade(s) {
    const pending = s.get({ timeoutMs: 5000 });
    await h.delay(30);
    const c = ws(`${WS_PATH}&sid=${s.sid}`);
    await c.opened;
    c.send('2probe');
    assert.equal(await c.next((d) => d === '3probe', 2000), '3probe');
    assert.equal(c.messages[0].data, '3probe', 'the first message on the probing WebSocket is 3probe');
    // The pending GET is released with a noop (a ping due meanwhile may
    // come first: answer it and poll again).
    let r = await pending;
    for (let i = 0; r.text !== '6' && i < 3; i++) {
      assert.equal(r.status, 200, `poll during the probe: ${r.status} ${JSON.stringify(r.text)}`);
      s.push(splitPayload(r.text));
      assert.ok(splitPayload(r.text).every((p) => p === '2'), `poll during the probe: ${JSON.stringify(r.text)}`);
      assert.equal((await s.post('3')).text, 'ok');
      r = await s.get({ timeoutMs: 2000 });
    }
    assert.equal(r.status, 200);
    assert.equal(r.text, '6', 'the pending GET is released with a noop');
    return c;
  }

  /* ---------------- handshake ---------------- */

  describe('handshake', () => {
    it('GET opens a session: exact open packet, text/plain, 20-char sid', T, async () => {
      const a = await eioRequest(url, { query: 't=Nx1a2b3' });
      assert.equal(a.status, 200, a.text);
      assert.match(String(a.headers['content-type']), /^text\/plain/);
      assert.match(String(a.headers['cache-control']), /no-store/, 'polling answers must not be cached');
      const m = OPEN_RE.exec(a.text);
      assert.ok(m, `open packet ${JSON.stringify(a.text)} must match ${OPEN_RE}`);
      const b = await eioRequest(url);
      const m2 = OPEN_RE.exec(b.text);
      assert.ok(m2, b.text);
      assert.notEqual(m[1], m2[1], 'every handshake gets its own sid');
      for (const sid of [m[1], m2[1]]) {
        const r = await eioRequest(url, { method: 'POST', query: { sid }, body: '1' });
        assert.equal(r.text, 'ok');
      }
    });

    const bad = [
      ['unknown transport', { query: 'EIO=4&transport=foo', path: '/socket.io/' }, 400, E.TRANSPORT],
      ['no transport', { query: 'EIO=4', path: '/socket.io/' }, 400, E.TRANSPORT],
      ['unknown sid (GET)', { query: { sid: 'AAAAAAAAAAAAAAAAAAAA' } }, 400, E.SID],
      ['unknown sid (POST)', { method: 'POST', query: { sid: 'AAAAAAAAAAAAAAAAAAAA' }, body: '40' }, 400, E.SID],
      ['POST without sid', { method: 'POST', body: '40' }, 400, E.METHOD],
      ['PUT without sid', { method: 'PUT', body: '40' }, 400, E.METHOD],
      ['transport=websocket without Upgrade', { path: WS_PATH }, 400, E.BAD],
      ['EIO=3', { query: 'EIO=3&transport=polling', path: '/socket.io/' }, 400, E.VERSION],
      ['no EIO', { query: 'transport=polling', path: '/socket.io/' }, 400, E.VERSION],
      ['EIO=abc', { query: 'EIO=abc&transport=polling', path: '/socket.io/' }, 400, E.VERSION],
      ['Origin not allowed', { headers: { Origin: OTHER_ORIGIN } }, 403, E.FORBIDDEN],
    ];
    it('refuses bad handshakes with the engine.io status, code and message', T, async () => {
      const fails = [];
      for (const [what, opts, status, body] of bad) {
        try {
          assertError(await eioRequest(url, opts), status, body, what);
        } catch (e) {
          fails.push(e.message);
        }
      }
      assert.deepEqual(fails, []);
    });

    it('a polling sid on transport=websocket without Upgrade is a bad request', T, async () => {
      const s = poll();
      await s.open();
      assertError(await eioRequest(url, { path: WS_PATH, query: { sid: s.sid } }), 400, E.BAD, 'transport mismatch');
    });
  });

  /* ---------------- messages ---------------- */

  describe('messages over polling', () => {
    it('a POST of several packets answers ok; CONNECT and events reach the chat', T, async () => {
      const s = poll();
      await s.open();
      const r = await s.post('40');
      assert.equal(r.status, 200);
      assert.equal(r.text, 'ok');
      assert.match(String(r.headers['content-type']), /^text\/html/);
      const c = await s.pollUntil((d) => d.startsWith('40'));
      assert.match(c, /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
      const sioSid = JSON.parse(c.slice(2)).sid;
      // A create with an ack and three events in one POST, handled in
      // order. (Socket.IO refuses an event sent before the CONNECT reply:
      // engine.io's server closes such a session, so '40' went alone.)
      const name = `poller-${uid()}`;
      const ev = (m) => `42${JSON.stringify(['sendMessage', { message: m }])}`;
      const texts = [1, 2, 3].map((i) => `p${i}-${uid()}`);
      const create = `421${JSON.stringify(['create', { roomName: room, userName: name }])}`;
      const r2 = await s.post([create, ...texts.map(ev)].join(RS));
      assert.equal(r2.status, 200);
      assert.equal(r2.text, 'ok');
      const ack = await s.pollUntil((d) => d.startsWith('431['));
      assert.deepEqual(JSON.parse(ack.slice(3)), [{ ok: true, room, userName: name, key: sioSid }]);
      await h.waitFor(wsBy, 'notice', (n) => n === `${name} joined the room.`);
      await h.waitFor(pollBy, 'userList', (l) => l.some((u) => u.key === sioSid && u.userName === name));
      for (const b of [wsBy, pollBy]) {
        for (const t of texts) {
          const m = await h.waitFor(b, 'newMessage', (x) => x.user === name);
          assert.equal(m.message, t, `${b.rec.label}: order of the POSTed events`);
        }
      }
      // The sender's own copies come back by GET, in order.
      const got = [];
      while (got.length < 3) got.push(sioEvent(await s.pollUntil((d) => messagesIn([d]).length > 0))[1].message);
      assert.deepEqual(got, texts);
    });

    it('ping and pong over polling keep a session alive for several intervals', T, async () => {
      const s = await connected();
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) {
        const r = await s.get({ timeoutMs: PING_INTERVAL + 2000 });
        assert.equal(r.status, 200);
        assert.equal(r.text, '2', `GET ${i} returns the ping`);
        assert.match(String(r.headers['content-type']), /^text\/plain/);
        const p = await s.post('3');
        assert.equal(p.status, 200);
        assert.equal(p.text, 'ok');
      }
      const took = Date.now() - t0;
      assert.ok(took >= 4 * PING_INTERVAL - 50, `5 pings came ${PING_INTERVAL} ms apart (${took} ms)`);
      assert.ok(took > PING_INTERVAL + PING_TIMEOUT, 'alive past one ping timeout');
      // Still a working session.
      const res = await s.request('sendMessage', { message: 'x' });
      assert.equal(res.ok, false, JSON.stringify(res));
    });

    for (const how of ['no GET at all', 'the ping fetched, no pong']) {
      it(`a session that stops polling is closed at the ping timeout (${how})`, T, async () => {
        const s = await connected();
        if (how !== 'no GET at all') await s.pollUntil((d) => d === '2', { autoPong: false, timeoutMs: 2000 });
        await h.delay(PING_INTERVAL + PING_TIMEOUT + 300);
        assertError(await s.get(), 400, E.SID, 'GET after the ping timeout');
        assertError(await s.post('3'), 400, E.SID, 'POST after the ping timeout');
      });
    }

    it('a second concurrent GET closes the session; the first returns 1', T, async () => {
      const s = poll();
      await s.open();
      const first = s.get();
      await h.delay(50);
      const second = await s.get();
      assert.equal(second.status, 400, `overlapping GET: ${JSON.stringify(second.text)}`);
      const r = await first;
      assert.equal(r.status, 200);
      assert.equal(r.text, '1', 'the pending GET carries the close packet');
      assertError(await s.get(), 400, E.SID, 'GET after the overlap');
    });

    it('a pending GET whose connection drops closes the session', T, async () => {
      // engine.io: "poll connection closed prematurely". A client whose
      // network died is gone at once, not at the ping timeout.
      const s = poll();
      await s.open();
      await assert.rejects(s.get({ timeoutMs: 100 }), (e) => e.code === 'ETIMEDOUT', 'the GET is held');
      await h.delay(100);
      assertError(await s.get(), 400, E.SID, 'GET after the dropped poll');
    });

    it('a POSTed close packet closes the session; the pending GET returns 6', T, async () => {
      const s = poll();
      await s.open();
      const pending = s.get();
      await h.delay(50);
      const p = await s.post('1');
      assert.equal(p.status, 200);
      assert.equal(p.text, 'ok');
      const r = await pending;
      assert.equal(r.status, 200);
      assert.equal(r.text, '6', 'the pending GET is released with a noop');
      assertError(await s.get(), 400, E.SID, 'GET after the close');
      assertError(await s.post('40'), 400, E.SID, 'POST after the close');
    });

    it('a POST over --max-payload is refused with 413; one of exactly --max-payload is not', T, async () => {
      const s = await connected();
      const ev = (n) => {
        const head = '42["sendMessage",{"message":"';
        const tail = '"}]';
        return head + 'x'.repeat(n - head.length - tail.length) + tail;
      };
      const exact = await s.post(ev(MAX_PAYLOAD));
      assert.equal(exact.status, 200, `a body of exactly ${MAX_PAYLOAD} bytes: ${exact.text}`);
      assert.equal(exact.text, 'ok');
      const over = await s.post(ev(MAX_PAYLOAD + 1));
      assert.equal(over.status, 413, `a body of ${MAX_PAYLOAD + 1} bytes: ${over.text}`);
      // engine.io 6 keeps the session after a 413 (its client then fails
      // the transport); the gateway closes it.
      if (!EXTERNAL) await expectGone(s, 'after the 413');
      // A body far over the limit: 413, or the connection dropped while the
      // client was still writing (a server that closes right after its 413
      // can make the client's TCP stack lose the answer).
      const s2 = await connected();
      let big;
      try {
        big = await s2.post(ev(8 * MAX_PAYLOAD));
      } catch (e) {
        assert.ok(['EPIPE', 'ECONNRESET'].includes(e.code), `a body of ${8 * MAX_PAYLOAD} bytes: ${e.message}`);
      }
      if (big) assert.equal(big.status, 413, `a body of ${8 * MAX_PAYLOAD} bytes: ${big.text}`);
      if (!EXTERNAL) await expectGone(s2, 'after the big 413');
    });

    it('a base64 binary packet is refused and closes the session', T, async () => {
      const s = await connected();
      await postRefused(s, 'bAQIDBA==', {}, 'b... packet', true);
      await expectGone(s, 'after a base64 packet');
    });

    it('a binary (application/octet-stream) POST is refused and closes the session', T, async () => {
      const s = await connected();
      await postRefused(s, Buffer.from([4, 1, 2, 3]), { headers: { 'Content-Type': 'application/octet-stream' } },
        'octet-stream POST');
      await expectGone(s, 'after a binary POST');
    });

    it('an invalid packet closes the session', T, async () => {
      const s = await connected();
      await postRefused(s, 'abc', {}, 'POST abc', true);
      await expectGone(s, 'after an invalid packet');
    });
  });

  /* ---------------- CORS ---------------- */

  describe('CORS (--allowed-origins)', () => {
    const assertCors = (r, what) => {
      assert.equal(r.headers['access-control-allow-origin'], ORIGIN, `${what}: Access-Control-Allow-Origin`);
      assert.equal(r.headers['access-control-allow-credentials'], 'true', `${what}: Access-Control-Allow-Credentials`);
    };

    it('an allowed Origin gets the CORS headers on the preflight, GET and POST', T, async () => {
      const pre = await eioRequest(url, {
        method: 'OPTIONS',
        headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
      assertCors(pre, 'preflight');
      const methods = String(pre.headers['access-control-allow-methods']).split(/\s*,\s*/);
      for (const m of ['GET', 'POST']) assert.ok(methods.includes(m), `Allow-Methods ${methods} has ${m}`);
      assert.match(String(pre.headers['access-control-allow-headers']), /content-type/i);
      const s = poll({ headers: { Origin: ORIGIN } });
      await s.open();
      assertCors(s.openResp, 'handshake GET');
      const p = await s.post('40');
      assert.equal(p.text, 'ok');
      assertCors(p, 'POST');
      const g = await s.get();
      assert.equal(g.status, 200);
      assert.match(g.text, /^40\{/);
      assertCors(g, 'GET');
    });

    it('another Origin is refused with 403 code 4 and gets no CORS grant', T, async () => {
      const r = await eioRequest(url, { headers: { Origin: OTHER_ORIGIN } });
      assertError(r, 403, E.FORBIDDEN, 'handshake from another origin');
      assert.notEqual(r.headers['access-control-allow-origin'], OTHER_ORIGIN);
      assert.notEqual(r.headers['access-control-allow-origin'], '*');
      const pre = await eioRequest(url, {
        method: 'OPTIONS',
        headers: { Origin: OTHER_ORIGIN, 'Access-Control-Request-Method': 'POST' },
      });
      assert.notEqual(pre.headers['access-control-allow-origin'], OTHER_ORIGIN, 'preflight from another origin');
      assert.notEqual(pre.headers['access-control-allow-origin'], '*', 'preflight from another origin');
      const u = h.rawWs(url, WS_PATH, { headers: { Origin: OTHER_ORIGIN } });
      sockets.push(u);
      // engine.io answers any refused upgrade with 400; the gateway, 403.
      await assert.rejects(u.opened, (e) => (e.statusCode === 403 || (EXTERNAL && e.statusCode === 400)) &&
        /Forbidden/.test(e.body), 'WebSocket from another origin');
    });
  });

  /* ---------------- upgrade ---------------- */

  describe('upgrade to WebSocket', () => {
    it('probe, noop, upgrade: packets before and after arrive once, in order, on the right transport', T, async () => {
      const s = await connected();
      const name = `upgrader-${uid()}`;
      const res = await s.request('create', { roomName: room, userName: name });
      assert.equal(res.ok, true, JSON.stringify(res));
      const tag = uid();
      const msg = (k) => `${k}-${tag}`;
      // c1 (client to server) and s1 (server to client) before the upgrade.
      await s.emit('sendMessage', { message: msg('c1') });
      assert.equal((await h.emitAck(wsBy, 'sendMessage', { message: msg('s1') })).ok, true);
      await s.pollUntil((d) => messagesIn([d]).includes(msg('s1')));
      const upgrades0 = gw ? (await metrics()).get('chat_upgrades_total') : 0;

      const c = await upgrade(s);
      // s2, s3 are sent while the probe is done but '5' not yet: the server
      // must hold them for the new transport.
      for (const k of ['s2', 's3']) {
        assert.equal((await h.emitAck(wsBy, 'sendMessage', { message: msg(k) })).ok, true);
      }
      await h.waitFor(wsBy, 'newMessage', (m) => m.message === msg('s3'));
      await h.delay(50);
      c.send('5');
      assert.equal((await h.emitAck(pollBy, 'sendMessage', { message: msg('s4') })).ok, true);
      c.send(`42${JSON.stringify(['sendMessage', { message: msg('c2') }])}`);
      for (const k of ['s2', 's3', 's4', 'c2']) {
        await c.next((d) => messagesIn([d]).includes(msg(k)), 3000);
      }
      const viaPoll = messagesIn(s.received.map((e) => e.data)).filter((m) => m.endsWith(tag));
      const viaWs = messagesIn(c.messages.filter((m) => !m.binary).map((m) => m.data)).filter((m) => m.endsWith(tag));
      assert.deepEqual(viaPoll, [msg('c1'), msg('s1')], 'over polling');
      assert.deepEqual(viaWs, [msg('s2'), msg('s3'), msg('s4'), msg('c2')], 'over WebSocket');
      for (const b of [wsBy, pollBy]) {
        await h.waitFor(b, 'newMessage', (m) => m.message === msg('c2'));
        const from = h.history(b, 'newMessage').map((e) => e.payload).filter((m) => m.user === name).map((m) => m.message);
        assert.deepEqual(from, [msg('c1'), msg('c2')], `${b.rec.label} got the upgrader's messages once, in order`);
      }
      if (gw) {
        assert.equal((await metrics()).get('chat_upgrades_total'), upgrades0 + 1, 'chat_upgrades_total');
      }

      // HTTP requests with the same sid after the upgrade are refused; the
      // session goes on over the WebSocket.
      assertError(await s.get(), 400, E.BAD, 'GET after the upgrade');
      assertError(await s.post('40'), 400, E.BAD, 'POST after the upgrade');
      // A second WebSocket for the sid is refused (HTTP 400, or closed
      // with nothing sent).
      const second = h.rawWs(url, `${WS_PATH}&sid=${s.sid}`);
      sockets.push(second);
      try {
        await second.opened;
        second.send('2probe');
        await h.withTimeout(second.closed, 3000, 'the second WebSocket for the sid is closed');
        assert.deepEqual(second.messages.map((m) => m.data), [], 'the second WebSocket got nothing');
      } catch (e) {
        if (e.statusCode !== 400) throw e;
      }
      const c3 = msg('c3');
      c.send(`42${JSON.stringify(['sendMessage', { message: c3 }])}`);
      await h.waitFor(pollBy, 'newMessage', (m) => m.message === c3);
      await c.next((d) => messagesIn([d]).includes(c3));
      assert.ok(c.isOpen(), 'the upgraded WebSocket is still open');
      // Pings now come over the WebSocket (answered by rawWs) and keep it
      // open past a ping timeout.
      await h.delay(PING_INTERVAL + PING_TIMEOUT + 200);
      assert.ok(c.isOpen(), 'the upgraded WebSocket is kept alive by ping/pong');
      assert.ok(c.messages.some((m) => m.data === '2'), 'pings over the WebSocket');
      c.close();
    });

    // As socket.io: the client closes the session ('1') next, or CONNECTs
    // again. (Closing it at once left engine.io-client 6 hanging in
    // "closing" when it came during the upgrade probe.)
    it('a Socket.IO DISCONNECT (41) leaves the Engine.IO session to the client', T, async () => {
      const s = await connected();
      assert.equal((await s.post('41')).text, 'ok');
      const r = await s.get({ timeoutMs: PING_INTERVAL + 2000 });
      assert.equal(r.status, 200, `GET after 41: ${r.status} ${JSON.stringify(r.text)}`);
      assert.equal(r.text, '2', 'the session is still pinged');
      assert.equal((await s.post('3')).text, 'ok');
      // The client may CONNECT again on the same session.
      const c = await s.sioConnect();
      assert.match(c.sid, /^[A-Za-z0-9_-]{20}$/);
      await s.waitEvent('roomList');
    });

    it('an upgrade with an unknown or closed sid is refused', T, async () => {
      const s = poll();
      await s.open();
      assert.equal((await s.post('1')).text, 'ok');
      for (const sid of ['AAAAAAAAAAAAAAAAAAAA', s.sid]) {
        const c = ws(`${WS_PATH}&sid=${sid}`);
        try {
          await c.opened;
        } catch (e) {
          assert.equal(e.statusCode, 400, `sid ${sid}: ${e.message}`);
          assert.ok(/Session ID unknown/.test(e.body), `sid ${sid}: body ${JSON.stringify(e.body)}`);
          continue;
        }
        c.send('2probe');
        await h.withTimeout(c.closed, 3000, `the WebSocket for sid ${sid} is closed`);
        assert.deepEqual(c.messages.map((m) => m.data), [], `sid ${sid}: nothing sent`);
      }
    });

    it('/metrics counts sessions by transport and the upgrade', { ...T, skip: GATEWAY_ONLY }, async () => {
      // b keeps polling (pings answered) while a upgrades.
      const b = await connected();
      const loop = b.loop();
      const before = (await metrics()).get('chat_upgrades_total');
      assert.equal(typeof before, 'number', 'chat_upgrades_total is exported');
      const a = await connected();
      await h.waitUntil(async () => (await sessions('polling')) === 3, 3000, 20, 'chat_sessions{polling} 3');
      const c = await upgrade(a);
      c.send('5');
      await h.waitUntil(async () => {
        const m = await metrics();
        return m.get('chat_sessions', { transport: 'polling' }) === 2 &&
          m.get('chat_sessions', { transport: 'websocket' }) === 2 && m.get('chat_upgrades_total') === before + 1;
      }, 3000, 50, 'polling 2, websocket 2, one more upgrade');
      c.close();
      await h.waitUntil(async () => (await sessions('websocket')) === 1, 3000, 50, 'the upgraded session gone');
      b.stopLoop();
      assert.equal((await b.close()).text, 'ok');
      const end = await loop;
      assert.ok(['stopped', 'status'].includes(end.reason), `b's poll loop ended: ${JSON.stringify(end.reason)}`);
    });
  });

  /* ---------------- heartbeat and connect timeout ---------------- */

  describe('heartbeat before the Socket.IO CONNECT', () => {
    it('a polling session without CONNECT is pinged, then closed at --connect-timeout', T, async () => {
      const s = poll();
      await s.open();
      const t0 = Date.now();
      let pings = 0;
      let closedAt = 0;
      for (let i = 0; i < 20 && !closedAt; i++) {
        const r = await s.get({ timeoutMs: CONNECT_TIMEOUT + 2000 });
        if (r.status === 400) {
          assertError(r, 400, E.SID, 'GET after the connect timeout');
          closedAt = Date.now();
          break;
        }
        assert.equal(r.status, 200);
        const p = splitPayload(r.text);
        for (const x of p) assert.ok(['2', '6', '1'].includes(x), `unexpected packet ${JSON.stringify(x)}`);
        if (p.includes('1')) closedAt = Date.now();
        else if (p.includes('2')) {
          pings++;
          assert.equal((await s.post('3')).text, 'ok');
        }
      }
      const life = closedAt - t0;
      assert.ok(closedAt, 'the session was closed');
      assert.ok(pings >= 3, `pinged before the connect timeout (${pings} pings)`);
      assert.ok(life >= CONNECT_TIMEOUT - 150 && life <= CONNECT_TIMEOUT + 1000,
        `closed after ${life} ms, --connect-timeout ${CONNECT_TIMEOUT}`);
      await expectGone(s, 'after the connect timeout');
    });

    it('a WebSocket session without CONNECT is pinged, then closed at --connect-timeout', T, async () => {
      const c = ws();
      await c.handshake();
      const t0 = Date.now();
      const info = await h.withTimeout(c.closed, CONNECT_TIMEOUT + 3000, 'the WebSocket is closed');
      const life = info.t - t0;
      const pings = c.messages.filter((m) => m.data === '2').length;
      assert.ok(pings >= 3, `pinged before the connect timeout (${pings} pings)`);
      assert.ok(life >= CONNECT_TIMEOUT - 150 && life <= CONNECT_TIMEOUT + 1000,
        `closed after ${life} ms, --connect-timeout ${CONNECT_TIMEOUT}`);
    });
  });
});

/* ---------------- limits (their own gateways) ---------------- */

describe('polling sessions count toward the connection limits', { timeout: 120000, skip: GATEWAY_ONLY }, () => {
  const tooMany = (r, status, message) => assertError(r, status, errBody(4, message), `over the limit (${message})`);
  const open = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.destroy();
  });
  const session = async (url, opts) => {
    const s = rawPoll(url, opts);
    open.push(s);
    await s.open();
    return s;
  };

  it('--max-connections', T, async () => {
    const gw = await h.startGateway({ args: ['--max-connections', '3', '--max-connections-per-ip', '0'] });
    try {
      const a = await session(gw.url);
      await session(gw.url);
      const w = h.rawWs(gw.url);
      await w.opened;
      tooMany(await eioRequest(gw.url), 503, 'Too many connections');
      const w2 = h.rawWs(gw.url);
      await assert.rejects(w2.opened, (e) => e.statusCode === 503 && /Too many connections/.test(e.body));
      assert.ok((await h.getMetrics(gw.url)).get('chat_limit_hits_total', { limit: 'connections' }) >= 2);
      assert.equal((await a.post('1')).text, 'ok');
      await h.waitUntil(async () => (await eioRequest(gw.url)).status === 200, 3000, 50, 'a slot freed by the close');
      w.close();
    } finally {
      assert.equal(await gw.stop('SIGINT'), 0);
    }
  });

  it('--max-connections-per-ip', T, async () => {
    const gw = await h.startGateway({ args: ['--max-connections-per-ip', '2'] });
    try {
      await session(gw.url, { localAddress: '127.0.0.1' });
      const w = h.rawWs(gw.url, undefined, { localAddress: '127.0.0.1' });
      await w.opened;
      tooMany(await eioRequest(gw.url, { localAddress: '127.0.0.1' }), 429, 'Too many connections from your address');
      const w2 = h.rawWs(gw.url, undefined, { localAddress: '127.0.0.1' });
      await assert.rejects(w2.opened, (e) => e.statusCode === 429);
      // Another address is not affected.
      await session(gw.url, { localAddress: '127.0.0.2' });
      assert.ok((await h.getMetrics(gw.url)).get('chat_limit_hits_total', { limit: 'connections_per_ip' }) >= 2);
      w.close();
    } finally {
      assert.equal(await gw.stop('SIGINT'), 0);
    }
  });
});

/* ---------------- HTTP framing and idle connections (their own gateway) ---- */

describe('HTTP framing and kept-alive connections', { timeout: 60000, skip: GATEWAY_ONLY }, () => {
  const net = require('node:net');

  /* raw opens a TCP connection to |url| that records everything it reads. */
  const raw = (url) => new Promise((resolve, reject) => {
    const u = new URL(url);
    const c = net.connect({ host: u.hostname, port: Number(u.port) }, () => resolve(c));
    c.text = '';
    c.closedAt = null;
    c.on('data', (d) => { c.text += d.toString('latin1'); });
    c.on('close', () => { c.closedAt = Date.now(); });
    c.on('error', () => {});
    c.once('error', reject);
  });
  const req = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

  it('a POST without Content-Length (chunked) gets 411 and its connection closes; the session lives on', T, async () => {
    const gw = await h.startGateway({ args: [] });
    try {
      const s = rawPoll(gw.url);
      await s.open();
      const c = await raw(gw.url);
      c.write(`POST /socket.io/?EIO=4&transport=polling&sid=${s.sid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n` +
        'Content-Type: text/plain;charset=UTF-8\r\n\r\n2\r\n40\r\n0\r\n\r\n');
      await h.waitUntil(() => c.closedAt !== null, 3000, 20, 'the chunked POST\'s connection closed');
      assert.match(c.text, /^HTTP\/1\.1 411 /, c.text);
      assert.equal((await s.post('40')).text, 'ok', 'the session still takes a framed POST');
      s.destroy();
    } finally {
      assert.equal(await gw.stop('SIGINT'), 0);
    }
  });

  it('a POST body that trickles in is cut at --request-timeout, whatever its pace', T, async () => {
    const gw = await h.startGateway({ args: ['--request-timeout', '600'] });
    try {
      const s = rawPoll(gw.url);
      await s.open();
      const c = await raw(gw.url);
      const t0 = Date.now();
      c.write(`POST /socket.io/?EIO=4&transport=polling&sid=${s.sid} HTTP/1.1\r\nHost: x\r\n` +
        'Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 40\r\n\r\n4');
      // One byte every 150 ms: lws's own idle timeout never fires on it.
      const timer = setInterval(() => { if (c.closedAt === null) c.write('x'); }, 150);
      try {
        await h.waitUntil(() => c.closedAt !== null, 3000, 20, 'the trickling POST closed');
      } finally {
        clearInterval(timer);
      }
      const took = c.closedAt - t0;
      assert.ok(took >= 500 && took < 2000, `closed after ${took} ms`);
      assert.equal(c.text, '', 'no answer to a body that never came');
      // The transport broke mid-request: the session is gone, as for a
      // dropped poll.
      await h.waitUntil(async () => (await eioRequest(gw.url, { query: { sid: s.sid } })).status === 400,
        2000, 50, 'the session closed');
      assert.equal((await h.getMetrics(gw.url)).get('chat_limit_hits_total', { limit: 'request_time' }), 1);
      s.destroy();
    } finally {
      assert.equal(await gw.stop('SIGINT'), 0);
    }
  });

  it('--keepalive-timeout closes an idle kept-alive connection, not a busy one', T, async () => {
    const gw = await h.startGateway({ args: ['--keepalive-timeout', '600'] });
    try {
      const idle = await raw(gw.url);
      const busy = await raw(gw.url);
      idle.write(req('/healthz'));
      busy.write(req('/healthz'));
      const t0 = Date.now();
      // busy asks again every 200 ms: never idle 600 ms.
      const timer = setInterval(() => busy.write(req('/healthz')), 200);
      try {
        await h.waitUntil(() => idle.closedAt !== null, 3000, 20, 'the idle connection closed');
        await h.delay(900); // busy outlives the idle bound by half as much again
      } finally {
        clearInterval(timer);
      }
      const after = idle.closedAt - t0;
      assert.ok(after >= 500 && after < 2500, `idle connection closed after ${after} ms`);
      assert.match(idle.text, /^HTTP\/1\.1 200 /);
      assert.equal(busy.closedAt, null, 'the busy connection is still open');
      const answers = (busy.text.match(/HTTP\/1\.1 200 /g) || []).length;
      assert.ok(answers >= 5, `the busy connection got ${answers} answers`);
      busy.destroy();
    } finally {
      assert.equal(await gw.stop('SIGINT'), 0);
    }
  });
});
