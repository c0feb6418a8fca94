// SPDX-License-Identifier: MIT
'use strict';
/*
 * Transport-level tests of one chat-gateway (in-memory adapter): the
 * Engine.IO v4 / Socket.IO v5 handshake, namespaces, heartbeat, malformed
 * input, the HTTP surface (errors, health, metrics, static files, client
 * bundle), slow readers and shutdown. Raw `ws` and a hand-made WebSocket
 * client over `net` drive the wire; socket.io-client plays the bystanders.
 */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../lib/harness');

const T = { timeout: 30000 };
const SID_RE = /^[A-Za-z0-9_-]{20}$/;
const uid = () => crypto.randomBytes(4).toString('hex');

const { withTimeout } = h;

async function stopAll(gws) {
  const codes = [];
  for (const g of gws) if (g) codes.push([g, await g.stop('SIGTERM')]);
  for (const [g, code] of codes) {
    assert.equal(code, 0, `gateway exit code on SIGTERM (args ${g.args.join(' ')}):\n${g.logs().slice(-4000)}`);
  }
}

// A raw client past the Socket.IO CONNECT, optionally in |room| as |name|.
async function rawClient(url, { tcp = true, room, name, autoPong = true } = {}) {
  const c = tcp ? h.rawTcpWs(url, h.SIO_PATH, { autoPong }) : h.rawWs(url, h.SIO_PATH, { autoPong });
  await c.opened;
  c.open = await c.handshake();
  c.sio = await c.sioConnect();
  if (room) {
    const res = await c.request('create', { roomName: room, userName: name });
    assert.equal(res && res.ok, true, `raw create: ${JSON.stringify(res)}`);
  }
  return c;
}

const WEB = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-web-'));
const INDEX = '<!doctype html><html><head><title>t</title><script src="app.js"></script></head><body>hi</body></html>\n';
fs.writeFileSync(path.join(WEB, 'index.html'), INDEX);
fs.writeFileSync(path.join(WEB, 'app.js'), 'console.log("app");\n');
fs.writeFileSync(path.join(WEB, 'style.css'), 'body{color:red}\n');
fs.mkdirSync(path.join(WEB, 'sub'));
fs.writeFileSync(path.join(WEB, 'sub', 'page.html'), '<!doctype html><p>sub</p>\n');
// What must never be served: a dotfile, a symlink out of the root, a
// file of an unknown type (served, like any file: no 415 telling it exists).
fs.writeFileSync(path.join(WEB, '.secret.json'), '{"secret":1}\n');
fs.mkdirSync(path.join(WEB, '.git'));
fs.writeFileSync(path.join(WEB, '.git', 'config'), '[core]\n');
fs.symlinkSync('/etc', path.join(WEB, 'etc_link'));
fs.writeFileSync(path.join(WEB, 'data.xyz'), 'xyz\n');
process.on('exit', () => fs.rmSync(WEB, { recursive: true, force: true }));

const MAX_PAYLOAD = 20000;

describe('transport (Engine.IO v4 / Socket.IO v5 over WebSocket)', { timeout: 600000 }, () => {
  let gw; // defaults, --max-payload 20000, a test web root
  let pinger; // --ping-interval 300 --ping-timeout 200, default web root
  const toClose = [];

  before(async () => {
    [gw, pinger] = await Promise.all([
      h.startGateway({ args: ['--max-payload', String(MAX_PAYLOAD), '--web-root', WEB, '--drain-time', '200'] }),
      h.startGateway({ args: ['--ping-interval', '300', '--ping-timeout', '200', '--drain-time', '200'] }),
    ]);
  });

  after(async () => {
    for (const c of toClose.splice(0)) {
      if (c.disconnect) c.disconnect();
      else c.terminate();
    }
    for (const g of [gw, pinger]) {
      if (g) assert.ok(g.running(), `gateway died during the suite:\n${g.logs().slice(-4000)}`);
    }
    await stopAll([gw, pinger]);
  });

  const keep = (c) => {
    toClose.push(c);
    return c;
  };

  /* ---------------- handshake ---------------- */

  it('open packet: sid, upgrades [], configured pingInterval/pingTimeout/maxPayload', T, async () => {
    const a = keep(h.rawWs(gw.url));
    await a.opened;
    const first = await a.next();
    assert.equal(first[0], '0', `first frame is the open packet: ${first}`);
    const open = JSON.parse(first.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    assert.match(open.sid, SID_RE);
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, 25000, 'default pingInterval');
    assert.equal(open.pingTimeout, 20000, 'default pingTimeout');
    assert.equal(open.maxPayload, MAX_PAYLOAD, 'configured maxPayload');

    const b = keep(h.rawWs(pinger.url));
    await b.opened;
    const open2 = await b.handshake();
    assert.equal(open2.pingInterval, 300);
    assert.equal(open2.pingTimeout, 200);
    assert.equal(open2.maxPayload, 1000000, 'default maxPayload');
    assert.notEqual(open2.sid, open.sid);
    a.terminate();
    b.terminate();
  });

  it('engine sids are unique', T, async () => {
    const sids = new Set();
    for (let i = 0; i < 20; i++) {
      const c = h.rawWs(gw.url);
      await c.opened;
      const open = await c.handshake();
      assert.match(open.sid, SID_RE);
      sids.add(open.sid);
      c.terminate();
    }
    assert.equal(sids.size, 20);
  });

  for (const auth of [undefined, { token: 'abc' }]) {
    it(`CONNECT ${auth ? 'with' : 'without'} auth: 40{"sid"} (URL-safe, not the engine sid), then roomList`, T, async () => {
      const c = keep(h.rawWs(gw.url));
      await c.opened;
      const open = await c.handshake();
      c.send(auth ? `40${JSON.stringify(auth)}` : '40');
      const reply = await c.next();
      assert.ok(reply.startsWith('40{'), `CONNECT reply: ${reply}`);
      const body = JSON.parse(reply.slice(2));
      assert.deepEqual(Object.keys(body), ['sid'], `CONNECT reply has only sid: ${reply}`);
      assert.match(body.sid, SID_RE);
      assert.notEqual(body.sid, open.sid, 'socket id differs from the engine sid');
      const ev = await c.next();
      assert.ok(ev.startsWith('42["roomList",'), `first event after CONNECT: ${ev}`);
      assert.ok(Array.isArray(JSON.parse(ev.slice(2))[1]));
      // The socket id is the key in userList.
      const room = `r-${uid()}`;
      const res = await c.request('create', { roomName: room, userName: 'raw' });
      assert.deepEqual(res, { ok: true, room, userName: 'raw', key: body.sid });
      assert.deepEqual(await c.waitEvent('userList'), [{ userName: 'raw', key: body.sid }]);
      c.terminate();
    });
  }

  for (const frame of ['40/other,', '40/other,{"token":"x"}', '40/admin/chat,']) {
    it(`CONNECT to another namespace (${frame}) → 44 Invalid namespace, connection stays open`, T, async () => {
      const c = keep(h.rawWs(gw.url));
      await c.opened;
      await c.handshake();
      c.send(frame);
      const nsp = frame.slice(2, frame.indexOf(','));
      const reply = await c.next();
      assert.ok(reply.startsWith(`44${nsp},`), `reply: ${reply}`);
      assert.deepEqual(JSON.parse(reply.slice(3 + nsp.length)), { message: 'Invalid namespace' });
      // Still open and usable on `/`.
      const sio = await c.sioConnect();
      assert.match(sio.sid, SID_RE);
      const res = await c.request('create', { roomName: `ns-${uid()}`, userName: 'u' });
      assert.equal(res.ok, true);
      assert.ok(c.isOpen());
      c.terminate();
    });
  }

  it('a long namespace is echoed cut on a character boundary (valid UTF-8)', T, async () => {
    // 'a' then 150 two-byte characters: byte 200 falls inside the 100th.
    const nsp = '/a' + 'é'.repeat(150);
    const c = keep(h.rawWs(gw.url));
    await c.opened;
    await c.handshake();
    c.send(`40${nsp},`);
    const reply = await c.next(); // the ws client closes on an invalid UTF-8 frame
    const echoed = reply.slice(2, reply.indexOf(','));
    assert.equal(echoed, '/a' + 'é'.repeat(99), `echo of ${Buffer.byteLength(echoed)} bytes`);
    assert.deepEqual(JSON.parse(reply.slice(3 + echoed.length)), { message: 'Invalid namespace' });
    assert.ok(c.isOpen());
    c.terminate();
  });

  it('a socket.io-client socket connects, its id is 20 URL-safe chars', T, async () => {
    const s = keep(await h.connect(gw.url));
    assert.match(s.id, SID_RE);
    const rl = await h.waitFor(s, 'roomList');
    assert.ok(Array.isArray(rl));
    s.disconnect();
  });

  /* ---------------- heartbeat and close ---------------- */

  it('server pings every pingInterval; a client answering 3 stays connected', T, async () => {
    const c = keep(h.rawWs(pinger.url, h.SIO_PATH, { autoPong: true }));
    await c.opened;
    await c.handshake();
    await c.sioConnect();
    const pings = () => c.frames.filter((f) => f.data === '2');
    await h.waitUntil(() => pings().length >= 5, 5000, 20, '5 pings');
    assert.equal(c.closeInfo, null, 'still open after 5 ping intervals');
    const ts = pings().map((f) => f.t);
    for (let i = 1; i < ts.length; i++) {
      assert.ok(ts[i] - ts[i - 1] >= 200, `pings ${ts[i] - ts[i - 1]} ms apart (interval 300)`);
    }
    const res = await c.request('create', { roomName: `p-${uid()}`, userName: 'ponger' });
    assert.equal(res.ok, true);
    c.terminate();
  });

  it('socket.io-client stays connected over several short ping intervals', T, async () => {
    const s = keep(await h.connect(pinger.url));
    await h.expectNo(s, '$disconnect', 1500);
    assert.equal(s.connected, true);
    const res = await h.emitAck(s, 'create', { roomName: `sc-${uid()}`, userName: 'u' });
    assert.equal(res.ok, true);
    s.disconnect();
  });

  it('a client that stops answering pings is closed within pingInterval + pingTimeout', T, async () => {
    const c = keep(h.rawWs(pinger.url, h.SIO_PATH, { autoPong: false }));
    await c.opened;
    await c.handshake();
    const t0 = Date.now();
    await c.sioConnect();
    const closed = await withTimeout(c.closed, 3000, 'server closing a silent client');
    const dt = closed.t - t0;
    assert.ok(c.frames.some((f) => f.data === '2'), 'a ping was sent before the close');
    assert.ok(dt >= 400, `closed after ${dt} ms: too early for interval 300 + timeout 200`);
    assert.ok(dt <= 300 + 200 + 1000, `closed after ${dt} ms (interval 300 + timeout 200 + 1000 slack)`);
  });

  it('a silent member is removed from its room on ping timeout', T, async () => {
    const room = `pt-${uid()}`;
    const obs = keep(await h.connect(pinger.url));
    assert.equal((await h.emitAck(obs, 'create', { roomName: room, userName: 'obs' })).ok, true);
    const c = keep(await rawClient(pinger.url, { room, name: 'silent', autoPong: false, tcp: false }));
    await h.waitFor(obs, 'userList', (l) => l.length === 2);
    await h.waitFor(obs, 'notice', (x) => x.includes('silent')); // joined
    await withTimeout(c.closed, 3000, 'ping timeout');
    await h.waitFor(obs, 'notice', (x) => x.includes('silent')); // left
    assert.deepEqual(await h.waitFor(obs, 'userList', (l) => l.length === 1), [{ userName: 'obs', key: obs.id }]);
    obs.disconnect();
  });

  it('client close packet `1` closes the connection (and is a leave)', T, async () => {
    const room = `c1-${uid()}`;
    const obs = keep(await h.connect(gw.url));
    assert.equal((await h.emitAck(obs, 'create', { roomName: room, userName: 'obs' })).ok, true);
    const c = keep(await rawClient(gw.url, { room, name: 'closer' }));
    await h.waitFor(obs, 'userList', (l) => l.length === 2);
    c.send('1');
    await withTimeout(c.closed, 3000, 'close after `1`');
    assert.deepEqual(await h.waitFor(obs, 'userList', (l) => l.length === 1), [{ userName: 'obs', key: obs.id }]);
    obs.disconnect();
  });

  /* ---------------- malformed input ---------------- */

  const BIG = `42["sendMessage",{"message":"${'x'.repeat(MAX_PAYLOAD)}"}]`;
  const malformed = [
    ['engine packet type 9', (c) => c.send('9')],
    ['empty text frame', (c) => c.send('')],
    ['socket.io type a: 4abc', (c) => c.send('4abc')],
    ['empty socket.io packet: 4', (c) => c.send('4')],
    ['event payload not an array: 42{}', (c) => c.send('42{}')],
    ['empty event array: 42[]', (c) => c.send('42[]')],
    ['reserved event name: 42["connect"]', (c) => c.send('42["connect"]')],
    ['reserved event name: 42["disconnect",{}]', (c) => c.send('42["disconnect",{}]')],
    ['invalid JSON: 42["sendMessage",', (c) => c.send('42["sendMessage",')],
    ['invalid JSON after ack id: 421[x', (c) => c.send('421[x')],
    ['binary event 451-[...]', (c) => c.send('451-["sendMessage",{"_placeholder":true,"num":0}]')],
    ['binary WebSocket frame', (c) => c.sendFrame(2, Buffer.from([0x34, 0x32, 0x01, 0x02, 0x03]))],
    ['text frame with invalid UTF-8', (c) => c.sendFrame(1, Buffer.concat([
      Buffer.from('42["sendMessage",{"message":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}]')]))],
    ['text frame with a truncated UTF-8 sequence', (c) => c.sendFrame(1, Buffer.concat([
      Buffer.from('42["sendMessage",{"message":"ab'), Buffer.from([0xe2, 0x82])]))],
    [`frame over --max-payload (${BIG.length} bytes)`, (c) => c.send(BIG)],
    ['fragmented message over --max-payload', (c) => {
      const b = Buffer.from(BIG);
      const half = Math.ceil(b.length / 2);
      c.sendFrame(1, b.subarray(0, half), { fin: false });
      c.sendFrame(0, b.subarray(half), { fin: true });
    }],
  ];

  for (const [what, bad] of malformed) {
    it(`malformed input closes only the offender: ${what}`, T, async () => {
      const room = `mal-${uid()}`;
      const obs = keep(await h.connect(gw.url, { name: 'observer' }));
      assert.equal((await h.emitAck(obs, 'create', { roomName: room, userName: 'obs' })).ok, true);
      const other = keep(await h.connect(gw.url, { name: 'other' }));
      assert.equal((await h.emitAck(other, 'create', { roomName: room, userName: 'other' })).ok, true);
      const v = keep(await rawClient(gw.url, { room, name: 'victim' }));
      await h.waitFor(obs, 'userList', (l) => l.length === 3);
      h.clearEvents(obs);
      const before = await h.getMetrics(gw.url);

      bad(v);
      await withTimeout(v.closed, 3000, `the gateway closing the connection after: ${what}`);
      assert.ok(!v.frames.some((f) => !f.used && typeof f.data === 'string' && f.data.startsWith('43')),
        `no ack for a malformed packet; frames:${v.describe()}`);

      // The offender's departure is a leave; the others keep chatting.
      assert.deepEqual(await h.waitFor(obs, 'userList', (l) => l.length === 2),
        [{ userName: 'obs', key: obs.id }, { userName: 'other', key: other.id }]);
      const r = await h.emitAck(obs, 'sendMessage', { message: `after ${what}` });
      assert.equal(r.ok, true);
      const m = await h.waitFor(other, 'newMessage', (x) => x.message === `after ${what}`);
      assert.equal(m.user, 'obs');
      assert.equal(obs.connected && other.connected, true);
      await h.expectNo(obs, '$disconnect', 0);
      assert.ok(gw.running(), 'gateway still running');
      const after = await h.getMetrics(gw.url);
      const pe = (x) => x.get('chat_protocol_errors_total') || 0;
      assert.ok(pe(after) >= pe(before) + 1 || /max-payload|UTF-8|binary WebSocket/.test(what),
        `chat_protocol_errors_total ${pe(before)} -> ${pe(after)}`);
      obs.disconnect();
      other.disconnect();
    });
  }

  it('an event before the Socket.IO CONNECT closes the connection', T, async () => {
    const c = keep(h.rawTcpWs(gw.url));
    await c.opened;
    await c.handshake();
    c.send(`42["create",{"roomName":"early-${uid()}","userName":"u"}]`);
    await withTimeout(c.closed, 3000, 'close after an event on an unconnected namespace');
  });

  it('a frame just under --max-payload is accepted (and answered invalid_message)', T, async () => {
    const room = `big-${uid()}`;
    const c = keep(await rawClient(gw.url, { room, name: 'big' }));
    const msg = 'x'.repeat(MAX_PAYLOAD - 200);
    const res = await c.request('sendMessage', { message: msg });
    assert.equal(res.ok, false);
    assert.equal(res.error.code, 'invalid_message');
    assert.ok(c.isOpen());
    c.terminate();
  });

  it('fragmented text frames are reassembled', T, async () => {
    const room = `frag-${uid()}`;
    const c = keep(await rawClient(gw.url, { room, name: 'frag' }));
    const b = Buffer.from('4277["sendMessage",{"message":"frag-mented 한국어"}]');
    // split inside a multi-byte character too
    const cut1 = 10;
    const cut2 = b.indexOf(Buffer.from('국')) + 1;
    c.sendFrame(1, b.subarray(0, cut1), { fin: false });
    c.sendFrame(0, b.subarray(cut1, cut2), { fin: false });
    c.sendFrame(0, b.subarray(cut2), { fin: true });
    const m = await c.waitEvent('newMessage');
    assert.equal(m.message, 'frag-mented 한국어');
    const ack = await c.next((s) => s.startsWith('4377['));
    assert.equal(JSON.parse(ack.slice(4))[0].ok, true);
    c.terminate();
  });

  it('WebSocket ping control frames are answered with pong', T, async () => {
    const c = keep(await rawClient(gw.url, { tcp: false }));
    const got = new Promise((resolve) => c.ws.once('pong', (d) => resolve(d.toString())));
    c.ws.ping('hello');
    assert.equal(await withTimeout(got, 3000, 'pong'), 'hello');
    c.terminate();
  });

  /* ---------------- HTTP surface ---------------- */

  // Engine.IO codes: 0 Transport unknown, 1 Session ID unknown, 3 Bad
  // request (a websocket GET without Upgrade), 5 Unsupported protocol
  // version. (Polling itself: tests/e2e/polling.test.js.)
  for (const [p, codes, what] of [
    ['/socket.io/?EIO=3&transport=websocket', [3, 5], 'EIO=3'],
    ['/socket.io/?transport=websocket', [3, 5], 'no EIO (treated as 3)'],
    ['/socket.io/?EIO=5&transport=websocket', [3, 5], 'EIO=5'],
    ['/socket.io/?EIO=4&transport=polling&sid=nosuchsessionxxxxxxx', [1], 'polling, unknown sid'],
    ['/socket.io/?EIO=3&transport=polling&t=N8hyd6w', [5], 'polling, EIO=3'],
    ['/socket.io/?EIO=4&transport=foo', [0], 'unknown transport'],
    ['/socket.io/?EIO=4', [0], 'no transport'],
  ]) {
    it(`GET ${p} → 400 JSON {code:${codes.join('|')},message} (${what})`, T, async () => {
      const r = await h.httpGet(gw.url, p);
      assert.equal(r.status, 400, `status; body ${r.text}`);
      assert.match(String(r.headers['content-type']), /application\/json/);
      const body = JSON.parse(r.text);
      assert.equal(typeof body.message, 'string');
      assert.ok(body.message.length > 0);
      assert.ok(codes.includes(body.code), `Engine.IO error code ${body.code}, expected ${codes}: ${r.text}`);
    });
  }

  it('GET /socket.io/?EIO=4&transport=websocket without Upgrade → 400', T, async () => {
    const r = await h.httpGet(gw.url, h.SIO_PATH);
    assert.equal(r.status, 400, `body ${r.text}`);
  });

  for (const p of ['/socket.io/?EIO=3&transport=websocket', '/socket.io/?EIO=4&transport=polling']) {
    it(`WebSocket upgrade to ${p} is refused with 400`, T, async () => {
      const c = h.rawWs(gw.url, p);
      const err = await c.opened.then(() => null, (e) => e);
      assert.ok(err, 'upgrade must be refused');
      assert.equal(err.statusCode, 400, `refusal: ${err.message}`);
    });
  }

  it('/healthz and /readyz answer 200', T, async () => {
    const hz = await h.httpGet(gw.url, '/healthz');
    assert.equal(hz.status, 200);
    assert.equal(hz.text.trim(), 'ok');
    const rz = await h.httpGet(gw.url, '/readyz');
    assert.equal(rz.status, 200);
  });

  const METRICS = ['chat_connections', 'chat_connections_total', 'chat_rooms', 'chat_room_members',
    'chat_events_in_total', 'chat_events_out_total', 'chat_frames_out_total', 'chat_bytes_out_total',
    'chat_errors_total', 'chat_slow_readers_dropped_total', 'chat_protocol_errors_total', 'chat_adapter_up',
    'chat_adapter_pending', 'chat_draining'];

  it('/metrics: Prometheus text with every metric of the contract', T, async () => {
    const m = await h.getMetrics(gw.url);
    assert.match(String(m.headers['content-type']), /^text\/plain/);
    for (const name of METRICS) {
      const declared = new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm').test(m.text);
      assert.ok(declared, `# TYPE line for ${name}`);
    }
    for (const s of m.samples) assert.ok(Number.isFinite(s.value), `sample ${s.name} value ${s.value}`);
    assert.equal(m.get('chat_draining'), 0);
  });

  it('/metrics: counters and gauges move', T, async () => {
    const m0 = await h.getMetrics(gw.url);
    const v = (m, name, labels) => m.get(name, labels) || 0;
    const room = `met-${uid()}`;
    const a = keep(await h.connect(gw.url));
    const b = keep(await h.connect(gw.url));
    const c = keep(await h.connect(gw.url));
    assert.equal((await h.emitAck(a, 'create', { roomName: room, userName: 'a' })).ok, true);
    assert.equal((await h.emitAck(b, 'create', { roomName: room, userName: 'b' })).ok, true);
    const taken = await h.emitAck(c, 'create', { roomName: room, userName: 'a' });
    assert.equal(taken.error.code, 'name_taken');
    assert.equal((await h.emitAck(a, 'sendMessage', { message: 'count me' })).ok, true);
    await h.waitFor(b, 'newMessage');
    h.emit(c, 'nope', {});
    await h.waitFor(c, 'chatError');

    const m1 = await h.getMetrics(gw.url);
    const d = (name, labels) => v(m1, name, labels) - v(m0, name, labels);
    assert.ok(d('chat_events_in_total', { event: 'create' }) >= 3, `events_in create +${d('chat_events_in_total', { event: 'create' })}`);
    assert.ok(d('chat_events_in_total', { event: 'sendMessage' }) >= 1, 'events_in sendMessage');
    assert.ok(d('chat_events_out_total', { event: 'newMessage' }) >= 2, 'events_out newMessage (a and b)');
    assert.ok(d('chat_events_out_total', { event: 'userList' }) >= 3, 'events_out userList');
    assert.ok(d('chat_errors_total', { code: 'name_taken' }) >= 1, 'errors name_taken');
    assert.ok(d('chat_errors_total', { code: 'unknown_event' }) >= 1, 'errors unknown_event');
    assert.ok(d('chat_connections_total') >= 3, 'connections_total');
    assert.ok(d('chat_frames_out_total') >= 6, 'frames_out');
    assert.ok(d('chat_bytes_out_total') >= 100, 'bytes_out');
    assert.ok(v(m1, 'chat_connections') >= 3, `chat_connections ${v(m1, 'chat_connections')}`);
    assert.ok(d('chat_rooms') >= 1, `chat_rooms +${d('chat_rooms')}`);
    assert.ok(d('chat_room_members') >= 2, `chat_room_members +${d('chat_room_members')}`);

    a.disconnect();
    b.disconnect();
    c.disconnect();
    await h.waitUntil(async () => {
      const m2 = await h.getMetrics(gw.url);
      return v(m2, 'chat_connections') <= v(m1, 'chat_connections') - 3 &&
        v(m2, 'chat_rooms') <= v(m1, 'chat_rooms') - 1;
    }, 3000, 25, 'chat_connections and chat_rooms to drop after the disconnects');
  });

  /* ---------------- static files ---------------- */

  function assertCsp(r, what) {
    const csp = r.headers['content-security-policy'];
    assert.ok(csp, `${what}: Content-Security-Policy header`);
    const dirs = Object.fromEntries(String(csp).split(';').map((d) => d.trim()).filter(Boolean)
      .map((d) => [d.split(/\s+/)[0].toLowerCase(), d.split(/\s+/).slice(1)]));
    const script = dirs['script-src'] || dirs['default-src'];
    assert.ok(script, `${what}: CSP restricts scripts (script-src or default-src): ${csp}`);
    assert.ok(!script.includes("'unsafe-inline'"), `${what}: CSP must not allow inline scripts: ${csp}`);
    assert.ok(!script.includes('*'), `${what}: CSP must not allow any script origin: ${csp}`);
  }

  it('static: / serves index.html from a custom --web-root, whose inline script may run (--csp auto)', T, async () => {
    for (const p of ['/', '/index.html']) {
      const r = await h.httpGet(gw.url, p);
      assert.equal(r.status, 200, p);
      assert.match(String(r.headers['content-type']), /^text\/html/);
      assert.equal(r.text, INDEX);
      const csp = String(r.headers['content-security-policy']);
      assert.match(csp, /script-src 'self' 'unsafe-inline'/, `${p}: a custom page's inline script runs: ${csp}`);
      assert.match(csp, /object-src 'none'/, `${p}: the rest stays strict: ${csp}`);
      assert.match(csp, /frame-ancestors 'none'/, `${p}: the rest stays strict: ${csp}`);
    }
  });

  it('static: --csp strict, off, or a policy of ones own', T, async () => {
    const strict = await h.startGateway({ args: ['--web-root', WEB, '--csp', 'strict'] });
    const off = await h.startGateway({ args: ['--web-root', WEB, '--csp', 'off'] });
    const own = await h.startGateway({ args: ['--web-root', WEB, '--csp', "default-src 'none'"] });
    try {
      for (const p of ['/', '/sub/page.html']) {
        const r = await h.httpGet(strict.url, p);
        assert.equal(r.status, 200, p);
        assertCsp(r, `--csp strict ${p}`);
      }
      const r0 = await h.httpGet(off.url, '/');
      assert.equal(r0.status, 200);
      assert.equal(r0.headers['content-security-policy'], undefined, '--csp off: no policy');
      assert.equal(r0.headers['x-content-type-options'], 'nosniff', '--csp off keeps the other headers');
      assert.equal(r0.headers['strict-transport-security'], undefined, 'no HSTS without TLS');
      const r1 = await h.httpGet(own.url, '/');
      assert.equal(r1.headers['content-security-policy'], "default-src 'none'");
    } finally {
      for (const g of [strict, off, own]) assert.strictEqual(await g.stop('SIGINT'), 0);
    }
  });

  it('static: content types, 404, no path traversal', T, async () => {
    const js = await h.httpGet(gw.url, '/app.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.equal(js.text, 'console.log("app");\n');
    const css = await h.httpGet(gw.url, '/style.css');
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);
    const missing = await h.httpGet(gw.url, '/nope-not-here.html');
    assert.equal(missing.status, 404);
    for (const p of ['/../../../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/sub/../../../../../../etc/passwd', '/..%2f..%2f..%2f..%2fetc%2fpasswd']) {
      const raw = await h.rawHttp(gw.url, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(!/root:.*:0:0:/.test(raw), `path traversal via ${p} served /etc/passwd`);
      assert.ok(!/^HTTP\/1\.[01] 200/.test(raw), `path traversal ${p}: ${raw.split('\r\n')[0]}`);
    }
    // Dotfiles and symlinks out of the root answer exactly as a missing
    // file does; a file of an unknown type is served.
    for (const p of ['/.secret.json', '/.git/config', '/sub/../.secret.json', '/%2esecret.json',
      '/etc_link/hostname', '/etc_link/passwd']) {
      const raw = await h.rawHttp(gw.url, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 404 /, `${p}: ${raw.split('\r\n')[0]}`);
      assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), missing.text, `${p}: the body of a missing file`);
    }
    const xyz = await h.httpGet(gw.url, '/data.xyz');
    assert.equal(xyz.status, 200, 'an unknown type is no 415');
    assert.equal(xyz.text, 'xyz\n');
    assert.ok(gw.running());
  });

  it('static: the default web root is <source>/web', T, async (t) => {
    const idx = path.join(h.ROOT, 'web', 'index.html');
    if (!fs.existsSync(idx)) {
      t.skip('web/index.html does not exist yet');
      return;
    }
    const r = await h.httpGet(pinger.url, '/');
    assert.equal(r.status, 200);
    assert.equal(r.text, fs.readFileSync(idx, 'utf8'));
    assertCsp(r, 'default web root /');
  });

  it('/socket.io/socket.io.js serves the official client bundle', T, async () => {
    const r = await h.httpGet(gw.url, '/socket.io/socket.io.js');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /javascript/);
    const bundle = fs.readFileSync(path.join(h.ROOT, 'node_modules/socket.io-client/dist/socket.io.min.js'));
    assert.ok(r.body.equals(bundle), `body (${r.body.length} bytes) is socket.io.min.js (${bundle.length} bytes)`);
  });
});

/* ---------------- slow readers ---------------- */

describe('slow reader (--rate-limit 0 --queue-bytes 65536 --queue-frames 64)', { timeout: 180000 }, () => {
  let gw;
  before(async () => {
    gw = await h.startGateway({ args: ['--rate-limit', '0', '--queue-bytes', '65536', '--queue-frames', '64',
      '--drain-time', '200'] });
  });
  after(async () => {
    if (gw) await stopAll([gw]);
  });

  it('a reader that never reads is cut off; the flooder and others are unaffected; RSS stays bounded', { timeout: 120000 }, async (t) => {
    const room = `slow-${uid()}`;
    const flooder = await h.connect(gw.url, { name: 'flooder' });
    const reader = await h.connect(gw.url, { name: 'reader' });
    try {
      assert.equal((await h.emitAck(flooder, 'create', { roomName: room, userName: 'flooder' })).ok, true);
      assert.equal((await h.emitAck(reader, 'create', { roomName: room, userName: 'reader' })).ok, true);
      const slow = await rawClient(gw.url, { room, name: 'slow' });
      const slowKey = slow.sio.sid;
      await h.waitFor(reader, 'userList', (l) => l.length === 3);
      slow.pause(); // never read again

      const asan = fs.readFileSync(`/proc/${gw.pid}/maps`, 'utf8').includes('libasan');
      const rss0 = h.rssKb(gw.pid);
      let rssMax = rss0;
      const mark = h.history(reader, 'userList').length;
      const dropped = () => h.history(reader, 'userList').slice(mark)
        .some((e) => e.payload.length === 2 && !e.payload.some((m) => m.key === slowKey));
      const msg = 'f'.repeat(4000);
      const BATCH = 10;
      const MAX = 10000; // 40 MB towards the slow reader at most
      let sent = 0;
      while (sent < MAX && !dropped()) {
        for (let i = 0; i < BATCH; i++) h.emit(flooder, 'sendMessage', { message: `${sent + i} ${msg}` });
        sent += BATCH;
        const last = `${sent - 1} ${msg}`;
        await h.waitFor(reader, 'newMessage', (m) => m.message === last, 10000);
        h.takeAll(reader, 'newMessage');
        h.takeAll(flooder, 'newMessage');
        if (sent % 200 === 0) rssMax = Math.max(rssMax, h.rssKb(gw.pid));
      }
      rssMax = Math.max(rssMax, h.rssKb(gw.pid));
      assert.ok(dropped(), `the slow reader was not dropped after ${sent} messages of 4 kB ` +
        `(${Math.round(sent * 4 / 1024)} MB queued towards it)`);
      const n = h.history(reader, 'notice').map((e) => e.payload);
      assert.ok(n.filter((x) => x.includes('slow')).length >= 2,
        `join and leave notices for the slow reader: ${JSON.stringify(n)}`);

      const m = await h.getMetrics(gw.url);
      assert.ok(m.get('chat_slow_readers_dropped_total') >= 1,
        `chat_slow_readers_dropped_total ${m.get('chat_slow_readers_dropped_total')}`);

      // Unaffected: the flooder and the reader are connected and chatting.
      assert.equal(flooder.connected && reader.connected, true, 'flooder and reader still connected');
      assert.equal(h.history(flooder, '$disconnect').length + h.history(reader, '$disconnect').length, 0);
      const r = await h.emitAck(flooder, 'sendMessage', { message: 'still here' });
      assert.equal(r.ok, true);
      await h.waitFor(reader, 'newMessage', (x) => x.message === 'still here');
      await h.waitFor(flooder, 'newMessage', (x) => x.message === 'still here');

      const growMb = (rssMax - rss0) / 1024;
      t.diagnostic(`slow reader dropped after ${sent} messages (${Math.round(sent * 4 / 1024)} MB); ` +
        `gateway RSS ${rss0} kB -> max ${rssMax} kB`);
      const limitMb = asan ? 512 : Number(process.env.GW_RSS_SLACK_MB || 32);
      assert.ok(growMb < limitMb, `gateway RSS grew ${growMb.toFixed(1)} MB while flooding ` +
        `${Math.round(sent * 4 / 1024)} MB (limit ${limitMb} MB${asan ? ', ASan build' : ''})`);

      // The slow connection is really closed once we read again.
      slow.resume();
      await withTimeout(slow.closed, 15000, 'the slow reader connection to close');
    } finally {
      flooder.disconnect();
      reader.disconnect();
    }
  });
});

/* ---------------- shutdown ---------------- */

describe('shutdown', { timeout: 180000 }, () => {
  it('SIGTERM: clients see "transport close" (close 1001), process exits 0', { timeout: 30000 }, async () => {
    const gw = await h.startGateway({ args: ['--drain-time', '500'] });
    try {
      const room = `bye-${uid()}`;
      const socks = [];
      for (let i = 0; i < 3; i++) socks.push(await h.connect(gw.url, { name: `c${i}` }));
      assert.equal((await h.emitAck(socks[0], 'create', { roomName: room, userName: 'a' })).ok, true);
      assert.equal((await h.emitAck(socks[1], 'create', { roomName: room, userName: 'b' })).ok, true);
      const raw = await rawClient(gw.url, { room, name: 'raw' });
      const t0 = Date.now();
      const code = gw.stop('SIGTERM', 10000);
      for (const s of socks) {
        const reason = await h.waitDisconnect(s, 5000);
        assert.equal(reason, 'transport close', `${s.rec.label} disconnect reason`);
      }
      const ci = await withTimeout(raw.closed, 5000, 'raw client close');
      assert.equal(await code, 0, `exit code:\n${gw.logs().slice(-3000)}`);
      assert.ok(Date.now() - t0 < 500 + 4000, `exit took ${Date.now() - t0} ms with --drain-time 500`);
      assert.equal(ci.code, 1001, `WebSocket close code (1006 = no close frame before the TCP close): ${JSON.stringify(ci)}`);
    } finally {
      await gw.stop('SIGKILL');
    }
  });

  it('SIGTERM drain: readyz 503, healthz 200, new upgrades refused with 503, clients closed 1001, exit 0', { timeout: 30000 }, async (t) => {
    const gw = await h.startGateway({ args: ['--drain-time', '3000'] });
    const clients = [];
    try {
      for (let i = 0; i < 30; i++) clients.push(await rawClient(gw.url, { tcp: false }));
      gw.kill('SIGTERM');
      // The drain may legitimately end early once every socket is closed;
      // check the draining state while the process is still there.
      let saw503 = false;
      await h.waitUntil(async () => {
        if (!gw.running()) return true;
        const r = await h.httpGet(gw.url, '/readyz').catch(() => null);
        if (r && r.status === 503) saw503 = true;
        return saw503;
      }, 1500, 10, '/readyz 503 while draining');
      if (saw503) {
        const hz = await h.httpGet(gw.url, '/healthz').catch((e) => (gw.running() ? Promise.reject(e) : null));
        if (hz) assert.equal(hz.status, 200, 'healthz while draining');
        const c = h.rawWs(gw.url);
        const err = await c.opened.then(() => null, (e) => e);
        if (gw.running() || (err && err.statusCode)) {
          assert.ok(err && err.statusCode === 503, `a new upgrade while draining: ${err ? err.message : 'accepted'}`);
        }
      } else {
        t.diagnostic('the gateway finished draining before /readyz could be observed');
      }
      const closes = await withTimeout(Promise.all(clients.map((x) => x.closed)), 8000, 'all clients closed');
      const r = await withTimeout(gw.exited, 8000, 'exit after the drain');
      assert.equal(r.code, 0, `exit code:\n${gw.logs().slice(-3000)}`);
      const codes = closes.map((ci) => ci.code);
      assert.deepEqual(codes, codes.map(() => 1001), 'every client gets WebSocket close 1001 (1006 = no close frame)');
    } finally {
      for (const c of clients) c.terminate();
      await gw.stop('SIGKILL');
    }
  });

  it('SIGINT exits 0 quickly with clients connected', { timeout: 30000 }, async () => {
    const gw = await h.startGateway({ args: [] }); // default --drain-time 10000
    try {
      const room = `int-${uid()}`;
      const a = await h.connect(gw.url);
      const b = await h.connect(gw.url);
      assert.equal((await h.emitAck(a, 'create', { roomName: room, userName: 'a' })).ok, true);
      assert.equal((await h.emitAck(b, 'create', { roomName: room, userName: 'b' })).ok, true);
      const t0 = Date.now();
      const code = await gw.stop('SIGINT', 10000);
      const dt = Date.now() - t0;
      assert.equal(code, 0, `exit code:\n${gw.logs().slice(-3000)}`);
      assert.ok(dt < 2000, `SIGINT exit took ${dt} ms`);
      for (const s of [a, b]) assert.equal(await h.waitDisconnect(s, 3000), 'transport close');
    } finally {
      await gw.stop('SIGKILL');
    }
  });

  it('a second SIGTERM during the drain exits at once, still 0', { timeout: 30000 }, async () => {
    const gw = await h.startGateway({ args: ['--drain-time', '10000'] });
    const clients = [];
    try {
      for (let i = 0; i < 20; i++) clients.push(await rawClient(gw.url, { tcp: false }));
      gw.kill('SIGTERM');
      await h.waitUntil(async () => (await h.httpGet(gw.url, '/readyz')).status === 503, 1000, 10,
        '/readyz 503 while draining');
      const t0 = Date.now();
      gw.kill('SIGTERM');
      const r = await withTimeout(gw.exited, 3000, 'exit after the second SIGTERM');
      assert.equal(r.code, 0, `exit code:\n${gw.logs().slice(-3000)}`);
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      for (const c of clients) c.terminate();
      await gw.stop('SIGKILL');
    }
  });

  it('SIGTERM with no clients exits 0 promptly', { timeout: 30000 }, async () => {
    const gw = await h.startGateway({ args: ['--drain-time', '5000'] });
    const t0 = Date.now();
    const code = await gw.stop('SIGTERM', 10000);
    assert.equal(code, 0, gw.logs().slice(-3000));
    assert.ok(Date.now() - t0 < 6000, `exit took ${Date.now() - t0} ms`);
  });
});
