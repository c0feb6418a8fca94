// SPDX-License-Identifier: MIT
'use strict';
/*
 * The chat protocol of issue 2 (every event, effect, ack and error code),
 * driven with the official socket.io-client. Runs unchanged in both modes:
 *   GW_MODE=memory (default): one gateway, in-memory adapter;
 *   GW_MODE=redis: three gateways on one real redis-server, clients spread
 *   round-robin over them (so most rooms span instances);
 * and over each transport ($GW_TRANSPORT, tests/lib/client.js): websocket
 * (default), polling, or default (socket.io-client's: polling, then the
 * upgrade).
 * Tests run sequentially and share the cluster; each one uses its own room
 * names, closes its sockets, and waits until the lobby is empty again.
 * The order between an ack and the events caused by the same request is not
 * specified and never asserted.
 */
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');

const T = { timeout: 30000 };
const QUIET_MS = Number(process.env.GW_QUIET_MS || (h.MODE === 'redis' ? 400 : 250));

const uid = () => crypto.randomBytes(4).toString('hex');
const roomName = (tag = 'room') => `${tag}-${uid()}`;

function assertNewMessage(m, { message, user, dm }, what = 'newMessage') {
  assert.equal(typeof m, 'object', `${what}: not an object: ${JSON.stringify(m)}`);
  assert.equal(m.message, message, `${what}.message`);
  assert.equal(m.user, user, `${what}.user`);
  assert.equal(m.dm, dm, `${what}.dm`);
  assert.equal(typeof m.ts, 'number', `${what}.ts must be a number: ${JSON.stringify(m)}`);
  assert.ok(Number.isInteger(m.ts), `${what}.ts must be integer ms: ${m.ts}`);
  assert.ok(Math.abs(m.ts - Date.now()) < 10000, `${what}.ts ${m.ts} is not the server's time in ms`);
}

function assertErrorAck(res, code, what) {
  assert.ok(res && typeof res === 'object', `${what}: ack is not an object: ${JSON.stringify(res)}`);
  assert.equal(res.ok, false, `${what}: expected ok:false/${code}, got ${JSON.stringify(res)}`);
  assert.ok(res.error && typeof res.error === 'object', `${what}: no error object: ${JSON.stringify(res)}`);
  assert.equal(res.error.code, code, `${what}: error code, ack was ${JSON.stringify(res)}`);
  assert.equal(typeof res.error.message, 'string', `${what}: error.message`);
  assert.ok(res.error.message.length > 0, `${what}: empty error.message`);
}

function assertChatError(err, code, what) {
  assert.ok(err && typeof err === 'object', `${what}: chatError is not an object: ${JSON.stringify(err)}`);
  assert.equal(err.code, code, `${what}: chatError code, got ${JSON.stringify(err)}`);
  assert.equal(typeof err.message, 'string', `${what}: chatError.message`);
  assert.ok(err.message.length > 0, `${what}: empty chatError.message`);
}

describe(`chat protocol (GW_MODE=${h.MODE}, GW_TRANSPORT=${h.TRANSPORT})`, { timeout: 600000 }, () => {
  let cluster;
  let pool;

  before(async () => {
    cluster = await h.startModeCluster({ args: ['--drain-time', '200'] });
    pool = h.clientPool(cluster);
  });

  after(async () => {
    if (!cluster) return;
    await pool.closeAll();
    const alive = cluster.gateways.map((g) => g.running());
    const codes = await cluster.stop();
    for (let i = 0; i < codes.length; i++) {
      assert.ok(alive[i], `gateway ${i} died during the suite:\n${cluster.gateways[i].logs().slice(-4000)}`);
      assert.equal(codes[i], 0, `gateway ${i} exit code on SIGTERM:\n${cluster.gateways[i].logs().slice(-4000)}`);
    }
  });

  afterEach(async () => {
    await pool.closeAll();
    for (const [i, g] of cluster.gateways.entries()) {
      assert.ok(g.running(), `gateway ${i} is not running:\n${g.logs().slice(-4000)}`);
    }
    // Every room of the test must be gone once its sockets are: disconnect
    // is a leave, and empty rooms are deleted.
    let last;
    await h.waitUntil(async () => {
      const probe = await h.connect(cluster.nextUrl());
      try {
        last = await h.waitFor(probe, 'roomList');
      } finally {
        probe.disconnect();
      }
      return Array.isArray(last) && last.length === 0;
    }, 5000, 50, 'the room list to be empty after the test closed its sockets')
      .catch((e) => {
        throw new Error(`${e.message}; last roomList ${JSON.stringify(last)}`);
      });
  });

  // A connected socket whose initial roomList has been received (consumed).
  async function user(name) {
    const s = await pool.client({ name });
    const rl = await h.waitFor(s, 'roomList');
    assert.ok(Array.isArray(rl), `initial roomList must be an array, got ${JSON.stringify(rl)}`);
    return s;
  }

  // create with an ack, asserting success and the ack's exact shape.
  async function create(sock, room, userName) {
    const res = await h.emitAck(sock, 'create', { roomName: room, userName });
    assert.deepEqual(res, { ok: true, room: room.trim(), userName: userName.trim(), key: sock.id },
      `create ${room}/${userName} ack`);
    return res;
  }

  // create, then wait until the creator's userList shows it (its own view
  // is consistent once it sees itself).
  async function enter(sock, room, userName) {
    await create(sock, room, userName);
    await h.waitFor(sock, 'userList', (l) => l.some((m) => m.key === sock.id));
  }

  // Sockets for |names| (user(), in this order), then each enters one new
  // room under its own name: {room, <name>: socket, ...}.
  async function inRoom(...names) {
    const socks = {};
    for (const name of names) socks[name] = await user(name);
    const room = roomName();
    for (const name of names) await enter(socks[name], room, name);
    return { room, ...socks };
  }

  // Issue a request with or without an ack and check it fails with |code|:
  // with an ack: {ok:false,error:{code,message}}; without: chatError.
  async function expectError(sock, ev, payload, code, withAck) {
    const what = `${ev} ${JSON.stringify(payload)}${withAck ? ' (ack)' : ' (no ack)'}`;
    if (withAck) {
      const res = await h.emitAck(sock, ev, payload);
      assertErrorAck(res, code, what);
    } else {
      h.emit(sock, ev, payload);
      const err = await h.waitFor(sock, 'chatError');
      assertChatError(err, code, what);
    }
  }

  // Run every [payload, what] case through expectError; report all the
  // failing cases at once. A request that wrongly succeeded is undone with
  // |undo| (e.g. leave the room it joined) so later cases start clean.
  async function expectErrors(sock, ev, cases, code, withAck, undo) {
    const failures = [];
    for (const [payload, what] of cases) {
      const mark = h.history(sock).length;
      try {
        await expectError(sock, ev, payload, code, withAck);
      } catch (e) {
        const got = h.history(sock).slice(mark).filter((x) => !x.ev.startsWith('$'))
          .map((x) => `${x.ev} ${JSON.stringify(x.payload)}`.slice(0, 200));
        failures.push(`[${what}] ${e.message.split('\n')[0].slice(0, 300)}` +
          (withAck ? '' : `; events after the request: ${got.join(' | ') || 'none'}`));
        if (undo) await undo();
      }
    }
    assert.equal(failures.length, 0, `${failures.length} of ${cases.length} ${ev} cases did not give ${code}:\n  ${failures.join('\n  ')}`);
  }

  // Send a message and wait until |sock| got its own copy back.
  async function say(sock, message, withAck = true) {
    if (withAck) {
      const res = await h.emitAck(sock, 'sendMessage', { message });
      assert.equal(res && res.ok, true, `sendMessage ${JSON.stringify(message)} ack: ${JSON.stringify(res)}`);
    } else {
      h.emit(sock, 'sendMessage', { message });
    }
    return h.waitFor(sock, 'newMessage', (m) => m.message === message);
  }

  const modes = [true, false];
  const ackName = (a) => (a ? 'with ack' : 'without ack (chatError)');

  /* ---------------- connect and roomList ---------------- */

  it('roomList is the first event after connect, oldest room first', T, async () => {
    const fresh = await pool.client({ name: 'fresh0' });
    const first0 = await h.waitFor(fresh, 'roomList');
    assert.deepEqual(first0, [], 'roomList right after connect with no rooms');

    const rooms = [roomName('old'), roomName('mid'), roomName('new')];
    for (const [i, r] of rooms.entries()) await create(await user(`u${i}`), r, `user${i}`);

    const late = await pool.client({ name: 'late' });
    const first = await h.waitFor(late, 'roomList');
    const evs = h.history(late).filter((e) => !e.ev.startsWith('$'));
    assert.equal(evs[0].ev, 'roomList', `first event after connect: ${evs[0].ev}`);
    assert.deepEqual(first, rooms, 'roomList after connect, oldest first');
  });

  /* ---------------- create ---------------- */

  for (const withAck of modes) {
    it(`create a new room: ack, userList, roomList to every socket, no notice (${withAck ? 'ack' : 'no ack'})`, T, async () => {
      const lobby = await user('lobby');
      const other = await user('other');
      const otherRoom = roomName('other');
      await enter(other, otherRoom, 'olga');
      await h.waitFor(lobby, 'roomList', (l) => l.includes(otherRoom));
      h.clearEvents(other);

      const alice = await user('alice');
      const room = roomName();
      if (withAck) {
        await create(alice, room, 'alice');
      } else {
        h.emit(alice, 'create', { roomName: room, userName: 'alice' });
      }
      assert.deepEqual(await h.waitFor(alice, 'userList'), [{ userName: 'alice', key: alice.id }],
        'creator userList');
      // roomList to every connected socket: the lobby (in no room), the
      // member of another room, the creator.
      for (const s of [lobby, other, alice]) {
        const rl = await h.waitFor(s, 'roomList', (l) => l.includes(room));
        assert.deepEqual(rl.slice(-1), [room], 'new room is the newest (last) entry');
        assert.ok(rl.includes(otherRoom), `roomList lost ${otherRoom}: ${JSON.stringify(rl)}`);
        assert.ok(rl.every((x) => typeof x === 'string'), 'room names are strings');
      }
      await h.expectNo(alice, 'notice', QUIET_MS);
      await h.expectNo(other, 'notice', 0);
      await h.expectNo(other, 'userList', 0);
      await h.expectNo(alice, 'chatError', 0);
    });
  }

  for (const withAck of modes) {
    it(`join an existing room: notice to others only, userList in join order to every member (${withAck ? 'ack' : 'no ack'})`, T, async () => {
      const lobby = await user('lobby');
      const outsider = await user('outsider');
      await enter(outsider, roomName('elsewhere'), 'otto');
      const alice = await user('alice');
      const bob = await user('bob');
      const carol = await user('carol');
      const room = roomName();

      await create(alice, room, 'alice');
      assert.deepEqual(await h.waitFor(alice, 'userList'), [{ userName: 'alice', key: alice.id }]);
      await h.waitFor(lobby, 'roomList', (l) => l.includes(room));
      h.clearEvents(lobby);
      h.clearEvents(outsider);

      const join = async (sock, name) => {
        if (withAck) {
          await create(sock, room, name);
        } else {
          h.emit(sock, 'create', { roomName: room, userName: name });
        }
      };
      await join(bob, 'bob');
      const ab = [{ userName: 'alice', key: alice.id }, { userName: 'bob', key: bob.id }];
      assert.deepEqual(await h.waitFor(alice, 'userList'), ab, 'alice userList after bob joined');
      assert.deepEqual(await h.waitFor(bob, 'userList'), ab, 'bob userList after joining');
      const n1 = await h.waitFor(alice, 'notice');
      assert.equal(typeof n1, 'string', 'notice is a string');
      assert.ok(n1.includes('bob'), `notice names the joiner: ${JSON.stringify(n1)}`);

      await join(carol, 'carol');
      const abc = [...ab, { userName: 'carol', key: carol.id }];
      for (const s of [alice, bob, carol]) {
        assert.deepEqual(await h.waitFor(s, 'userList'), abc, `${s.rec.label} userList after carol joined`);
      }
      for (const s of [alice, bob]) {
        const n = await h.waitFor(s, 'notice');
        assert.ok(typeof n === 'string' && n.includes('carol'), `notice to ${s.rec.label}: ${JSON.stringify(n)}`);
      }
      // The joiner gets no notice about itself, nobody gets a second list,
      // and nothing leaks out of the room.
      await h.expectNo(bob, 'notice', QUIET_MS);
      await h.expectNo(carol, 'notice', 0);
      for (const s of [alice, bob, carol]) await h.expectNo(s, 'userList', 0);
      await h.expectNo(outsider, 'notice', 0);
      await h.expectNo(outsider, 'userList', 0);
      await h.expectNo(lobby, 'notice', 0);
      await h.expectNo(lobby, 'userList', 0);
      // The set of rooms did not change: no roomList.
      await h.expectNo(lobby, 'roomList', 0);
      await h.expectNo(alice, 'chatError', 0);
    });
  }

  it('userList keys equal socket.id of each member (usable as DM targets)', T, async () => {
    const socks = [await user('k1'), await user('k2'), await user('k3')];
    const room = roomName();
    for (const [i, s] of socks.entries()) await create(s, room, `member${i}`);
    const ul = await h.waitFor(socks[0], 'userList', (l) => l.length === 3);
    assert.deepEqual(ul.map((m) => m.key), socks.map((s) => s.id));
    for (const m of ul) assert.match(m.key, /^[A-Za-z0-9_-]{20}$/, 'key is a 20-char URL-safe id');
    assert.equal(new Set(ul.map((m) => m.key)).size, 3, 'keys are unique');
  });

  it('create while in another room leaves the old room first (leave effects there)', T, async () => {
    const lobby = await user('lobby');
    const alice = await user('alice');
    const bob = await user('bob');
    const r1 = roomName('r1');
    const r2 = roomName('r2');
    const r3 = roomName('r3');
    await enter(alice, r1, 'alice');
    await enter(bob, r1, 'bob');
    await h.waitFor(alice, 'userList', (l) => l.length === 2);
    h.clearEvents(alice);
    h.clearEvents(bob);

    // alice moves to the new room r2; bob stays in r1.
    await create(alice, r2, 'alice');
    const left = await h.waitFor(bob, 'notice');
    assert.ok(left.includes('alice'), `bob gets alice's leave notice: ${JSON.stringify(left)}`);
    assert.deepEqual(await h.waitFor(bob, 'userList'), [{ userName: 'bob', key: bob.id }], 'r1 after alice left');
    assert.deepEqual(await h.waitFor(alice, 'userList'), [{ userName: 'alice', key: alice.id }], 'alice in r2');
    for (const s of [lobby, alice, bob]) {
      const rl = await h.waitFor(s, 'roomList', (l) => l.includes(r2));
      assert.ok(rl.includes(r1), `r1 still has bob: ${JSON.stringify(rl)}`);
    }
    // Messages no longer cross between the two rooms.
    await say(alice, 'in r2');
    await say(bob, 'in r1');
    await h.expectNo(bob, 'newMessage', QUIET_MS, (m) => m.message === 'in r2');
    await h.expectNo(alice, 'newMessage', 0, (m) => m.message === 'in r1');
    await h.expectNo(alice, 'notice', 0);

    // bob, alone in r1, moves to r3: r1 empties and disappears.
    h.clearEvents(lobby);
    await create(bob, r3, 'bob');
    const rl = await h.waitFor(lobby, 'roomList', (l) => l.includes(r3) && !l.includes(r1));
    assert.ok(rl.includes(r2), `r2 still exists: ${JSON.stringify(rl)}`);
    assert.deepEqual(rl.slice(-2), [r2, r3], 'oldest first after the deletion');
    await h.expectNo(alice, 'notice', QUIET_MS);
  });

  it('names are trimmed (room, user, ack, userList, roomList)', T, async () => {
    const lobby = await user('lobby');
    const alice = await user('alice');
    const bob = await user('bob');
    const room = roomName();
    const res = await h.emitAck(alice, 'create', { roomName: `  ${room}\t `, userName: ' alice  ' });
    assert.deepEqual(res, { ok: true, room, userName: 'alice', key: alice.id });
    assert.deepEqual(await h.waitFor(alice, 'userList'), [{ userName: 'alice', key: alice.id }]);
    const rl = await h.waitFor(lobby, 'roomList', (l) => l.some((r) => r.includes(room)));
    assert.ok(rl.includes(room) && !rl.some((r) => r !== room && r.includes(room)),
      `trimmed name in roomList: ${JSON.stringify(rl)}`);
    // The untrimmed spelling names the same room.
    const r2 = await h.emitAck(bob, 'create', { roomName: ` ${room} `, userName: 'bob' });
    assert.deepEqual(r2, { ok: true, room, userName: 'bob', key: bob.id });
    assert.deepEqual(await h.waitFor(alice, 'userList', (l) => l.length === 2),
      [{ userName: 'alice', key: alice.id }, { userName: 'bob', key: bob.id }]);
    const say1 = await say(bob, 'trim');
    assert.equal(say1.user, 'bob');
  });

  /* ---------------- create: validation ---------------- */

  for (const withAck of modes) {
    it(`invalid_name: non-string, empty after trim, >64 chars, control chars (${ackName(withAck)})`, T, async () => {
      const lobby = await user('lobby');
      const s = await user('s');
      const ok = 'okroom';
      const bad = [
        [{ roomName: 42, userName: 'u' }, 'numeric roomName'],
        [{ roomName: roomName(), userName: 42 }, 'numeric userName'],
        [{ roomName: null, userName: 'u' }, 'null roomName'],
        [{ roomName: roomName(), userName: ['u'] }, 'array userName'],
        [{ roomName: roomName(), userName: { a: 1 } }, 'object userName'],
        [{ userName: 'u' }, 'missing roomName'],
        [{ roomName: roomName() }, 'missing userName'],
        [{ roomName: '', userName: 'u' }, 'empty roomName'],
        [{ roomName: roomName(), userName: '' }, 'empty userName'],
        [{ roomName: '   ', userName: 'u' }, 'blank roomName'],
        [{ roomName: roomName(), userName: ' \t ' }, 'blank userName'],
        [{ roomName: 'r'.repeat(65), userName: 'u' }, '65-char roomName'],
        [{ roomName: roomName(), userName: 'u'.repeat(65) }, '65-char userName'],
        [{ roomName: '가'.repeat(65), userName: 'u' }, '65 Korean chars roomName'],
        [{ roomName: `${ok}\u0001x`, userName: 'u' }, 'U+0001 in roomName'],
        [{ roomName: roomName(), userName: 'a\nb' }, 'newline in userName'],
        [{ roomName: roomName(), userName: 'a\u0000b' }, 'NUL in userName'],
        [{ roomName: roomName(), userName: 'a\u007fb' }, 'DEL in userName'],
        [{ roomName: `x\u001by`, userName: 'u' }, 'ESC in roomName'],
        [{ roomName: `x\ty-${uid()}`, userName: 'u' }, 'TAB inside roomName'],
        [{ roomName: roomName(), userName: 'a\r\nb' }, 'CRLF inside userName'],
        [{ roomName: roomName(), userName: 'a\u0085b' }, 'U+0085 (C1) in userName'],
      ];
      const undo = async () => {
        await h.emitAck(s, 'leave', {}).catch(() => {});
        h.clearEvents(s);
        h.clearEvents(lobby);
      };
      await expectErrors(s, 'create', bad, 'invalid_name', withAck, undo);
      // Nothing was created or joined.
      await h.expectNo(lobby, 'roomList', QUIET_MS);
      await h.expectNo(s, 'userList', 0);
      await expectError(s, 'sendMessage', { message: 'x' }, 'not_in_room', withAck);
      if (withAck) await h.expectNo(s, 'chatError', 0);
    });
  }

  it('valid names: exactly 64 chars, Korean, emoji, inner spaces', T, async () => {
    const cases = [
      ['r'.repeat(64), 'u'.repeat(64)],
      ['가'.repeat(64), '철수'.repeat(32)],
      [`채팅방 ${uid()}`, '김철수'],
      [`😀 party ${uid()}`, '🦊 fox'],
      [`a b c ${uid()}`, 'd e f'],
    ];
    for (const [room, name] of cases) {
      const s = await user(name);
      const res = await h.emitAck(s, 'create', { roomName: room, userName: name });
      assert.deepEqual(res, { ok: true, room, userName: name, key: s.id }, `create ${room}/${name}`);
      assert.deepEqual(await h.waitFor(s, 'userList'), [{ userName: name, key: s.id }]);
      await h.waitFor(s, 'roomList', (l) => l.includes(room));
      const m = await say(s, `hi from ${name}`);
      assert.equal(m.user, name);
    }
  });

  it('a rejected create leaves the socket in its current room', T, async () => {
    const { room, alice, bob } = await inRoom('alice', 'bob');
    await h.waitFor(alice, 'userList', (l) => l.length === 2);
    h.clearEvents(alice);
    assertErrorAck(await h.emitAck(bob, 'create', { roomName: '', userName: 'bob' }), 'invalid_name', 'bad create');
    assertErrorAck(await h.emitAck(bob, 'create', { roomName: room, userName: 'x'.repeat(65) }), 'invalid_name', 'bad create');
    const m = await say(bob, 'still here');
    assertNewMessage(await h.waitFor(alice, 'newMessage'), { message: 'still here', user: 'bob', dm: false });
    assert.equal(m.user, 'bob');
    await h.expectNo(alice, 'notice', QUIET_MS);
    await h.expectNo(alice, 'userList', 0);
  });

  for (const withAck of modes) {
    it(`name_taken: exact match of a name in that room (${ackName(withAck)})`, T, async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const room = roomName();
      await enter(alice, room, 'alice');
      h.clearEvents(alice);

      await expectError(bob, 'create', { roomName: room, userName: 'alice' }, 'name_taken', withAck);
      await expectError(bob, 'create', { roomName: room, userName: '  alice ' }, 'name_taken', withAck);
      // Nothing happened in the room.
      await h.expectNo(alice, 'userList', QUIET_MS);
      await h.expectNo(alice, 'notice', 0);
      await expectError(bob, 'sendMessage', { message: 'x' }, 'not_in_room', withAck);

      // Exact match only: case and other spellings are different names.
      const res = await h.emitAck(bob, 'create', { roomName: room, userName: 'Alice' });
      assert.deepEqual(res, { ok: true, room, userName: 'Alice', key: bob.id });
      assert.deepEqual(await h.waitFor(alice, 'userList'),
        [{ userName: 'alice', key: alice.id }, { userName: 'Alice', key: bob.id }]);

      // The same name in another room is fine.
      const carol = await user('carol');
      await create(carol, roomName('other'), 'alice');
      if (withAck) {
        await h.expectNo(bob, 'chatError', 0);
        await h.expectNo(carol, 'chatError', 0);
      }
    });
  }

  it('a name is free again after its owner left', T, async () => {
    const { room, alice, bob } = await inRoom('alice', 'bob');
    assert.equal((await h.emitAck(alice, 'leave', {})).ok, true);
    await h.waitFor(bob, 'userList', (l) => l.length === 1);
    const alice2 = await user('alice2');
    await create(alice2, room, 'alice');
    assert.deepEqual(await h.waitFor(bob, 'userList', (l) => l.length === 2),
      [{ userName: 'bob', key: bob.id }, { userName: 'alice', key: alice2.id }]);
  });

  /* ---------------- sendMessage ---------------- */

  for (const withAck of modes) {
    it(`sendMessage to all: newMessage {message,user,dm:false,ts} to every member incl. sender (${withAck ? 'ack' : 'no ack'})`, T, async () => {
      const lobby = await user('lobby');
      const outsider = await user('outsider');
      await enter(outsider, roomName('other'), 'otto');
      const { alice, bob, carol } = await inRoom('alice', 'bob', 'carol');
      await h.waitFor(alice, 'userList', (l) => l.length === 3);
      await h.waitFor(bob, 'userList', (l) => l.length === 3);

      const send = async (payload) => {
        if (withAck) {
          const res = await h.emitAck(alice, 'sendMessage', payload);
          assert.equal(res && res.ok, true, `sendMessage ack: ${JSON.stringify(res)}`);
        } else {
          h.emit(alice, 'sendMessage', payload);
        }
      };
      // select absent, select "all", and a forged `user` field (ignored).
      const payloads = [
        { message: 'hello everyone' },
        { message: 'to all', select: 'all' },
        { message: 'forged', user: 'mallory', select: 'all' },
        { message: '안녕하세요 😀 <b>&amp;</b> "quotes" \\ \u2028' },
      ];
      for (const p of payloads) {
        await send(p);
        for (const s of [alice, bob, carol]) {
          const m = await h.waitFor(s, 'newMessage');
          assertNewMessage(m, { message: p.message, user: 'alice', dm: false }, `${s.rec.label} newMessage`);
        }
      }
      await h.expectNo(lobby, 'newMessage', QUIET_MS);
      await h.expectNo(outsider, 'newMessage', 0);
      for (const s of [alice, bob, carol]) await h.expectNo(s, 'newMessage', 0);
      await h.expectNo(alice, 'chatError', 0);
    });
  }

  it('messages from one sender arrive in order at every member', T, async () => {
    const { alice, bob } = await inRoom('alice', 'bob');
    await h.waitFor(alice, 'userList', (l) => l.length === 2);
    const n = 15;
    for (let i = 0; i < n; i++) h.emit(alice, 'sendMessage', { message: `m${i}` });
    for (const s of [alice, bob]) {
      for (let i = 0; i < n; i++) {
        const m = await h.waitFor(s, 'newMessage');
        assert.equal(m.message, `m${i}`, `${s.rec.label} message ${i} in order`);
      }
    }
    await h.expectNo(alice, 'chatError', 0);
  });

  for (const withAck of modes) {
    it(`DM by key: target and sender only, dm:true (${withAck ? 'ack' : 'no ack'})`, T, async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const carol = await user('carol');
      const lobby = await user('lobby');
      const room = roomName();
      await enter(alice, room, 'alice');
      await enter(bob, room, 'bob');
      await enter(carol, room, 'carol');
      const ul = await h.waitFor(alice, 'userList', (l) => l.length === 3);
      const bobKey = ul.find((m) => m.userName === 'bob').key;
      assert.equal(bobKey, bob.id);

      const payload = { message: 'psst bob', select: bobKey, user: 'mallory' };
      if (withAck) {
        const res = await h.emitAck(alice, 'sendMessage', payload);
        assert.equal(res && res.ok, true, `DM ack: ${JSON.stringify(res)}`);
      } else {
        h.emit(alice, 'sendMessage', payload);
      }
      assertNewMessage(await h.waitFor(bob, 'newMessage'), { message: 'psst bob', user: 'alice', dm: true }, 'DM at target');
      assertNewMessage(await h.waitFor(alice, 'newMessage'), { message: 'psst bob', user: 'alice', dm: true }, 'DM copy at sender');

      // Barrier: a room message after the DM; carol must see it and
      // nothing else.
      await say(alice, 'barrier');
      assertNewMessage(await h.waitFor(carol, 'newMessage'), { message: 'barrier', user: 'alice', dm: false }, 'carol');
      await h.expectNo(carol, 'newMessage', QUIET_MS);
      await h.expectNo(lobby, 'newMessage', 0);
      await h.waitFor(bob, 'newMessage', (m) => m.message === 'barrier');
      await h.expectNo(bob, 'newMessage', 0);
      await h.expectNo(alice, 'newMessage', 0);

      // bob answers by alice's key.
      h.emit(bob, 'sendMessage', { message: 'hi alice', select: alice.id });
      assertNewMessage(await h.waitFor(alice, 'newMessage'), { message: 'hi alice', user: 'bob', dm: true }, 'reply');
      assertNewMessage(await h.waitFor(bob, 'newMessage'), { message: 'hi alice', user: 'bob', dm: true }, 'reply copy');
      await h.expectNo(carol, 'newMessage', QUIET_MS);
      await h.expectNo(alice, 'chatError', 0);
      await h.expectNo(bob, 'chatError', 0);
    });
  }

  it('DM to oneself is delivered once', T, async () => {
    const { alice, bob } = await inRoom('alice', 'bob');
    const res = await h.emitAck(alice, 'sendMessage', { message: 'note to self', select: alice.id });
    assert.equal(res && res.ok, true, `ack: ${JSON.stringify(res)}`);
    assertNewMessage(await h.waitFor(alice, 'newMessage'), { message: 'note to self', user: 'alice', dm: true });
    await say(alice, 'barrier');
    await h.waitFor(bob, 'newMessage', (m) => m.message === 'barrier');
    await h.expectNo(alice, 'newMessage', QUIET_MS);
    await h.expectNo(bob, 'newMessage', 0);
  });

  for (const withAck of modes) {
    it(`user_not_found: key outside the sender's room, unknown key (${ackName(withAck)})`, T, async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const stranger = await user('stranger');
      const idle = await user('idle');
      const room = roomName();
      await enter(alice, room, 'alice');
      await enter(bob, room, 'bob');
      await enter(stranger, roomName('other'), 'stranger');
      h.clearEvents(bob);
      h.clearEvents(stranger);
      h.clearEvents(idle);
      const cases = [
        [stranger.id, 'member of another room'],
        [idle.id, 'connected socket in no room'],
        ['AAAAAAAAAAAAAAAAAAAA', 'unknown key'],
        ['bob', 'a user name is not a key'],
        ['', 'empty key'],
      ];
      await expectErrors(alice, 'sendMessage',
        cases.map(([key, what]) => [{ message: `to ${what}`, select: key }, what]), 'user_not_found', withAck);
      await h.expectNo(stranger, 'newMessage', QUIET_MS);
      await h.expectNo(idle, 'newMessage', 0);
      await h.expectNo(bob, 'newMessage', 0);
      await h.expectNo(alice, 'newMessage', 0);
      if (withAck) await h.expectNo(alice, 'chatError', 0);
    });
  }

  for (const withAck of modes) {
    it(`not_in_room: sendMessage and leave while in no room (${ackName(withAck)})`, T, async () => {
      const s = await user('s');
      await expectError(s, 'sendMessage', { message: 'hello?' }, 'not_in_room', withAck);
      await expectError(s, 'leave', {}, 'not_in_room', withAck);
      await expectError(s, 'leave', undefined, 'not_in_room', withAck);
      // ...and again after leaving a room.
      await enter(s, roomName(), 'solo');
      assert.equal((await h.emitAck(s, 'leave', {})).ok, true);
      await expectError(s, 'sendMessage', { message: 'anyone?' }, 'not_in_room', withAck);
      await expectError(s, 'leave', {}, 'not_in_room', withAck);
      if (withAck) await h.expectNo(s, 'chatError', QUIET_MS);
    });
  }

  for (const withAck of modes) {
    it(`invalid_message: non-string, empty, over 4096 UTF-8 bytes (${ackName(withAck)})`, T, async () => {
      const { alice, bob } = await inRoom('alice', 'bob');
      await h.waitFor(alice, 'userList', (l) => l.length === 2);
      h.clearEvents(bob);
      const ko4097 = `${'가'.repeat(1365)}ab`; // 1367 UTF-16 units, 4097 bytes
      assert.equal(Buffer.byteLength(ko4097), 4097);
      const bad = [
        [{ message: 42 }, 'number'],
        [{ message: null }, 'null'],
        [{ message: ['x'] }, 'array'],
        [{ message: { text: 'x' } }, 'object'],
        [{}, 'missing'],
        [{ message: '' }, 'empty'],
        [{ message: 'x'.repeat(4097) }, '4097 ASCII bytes'],
        [{ message: ko4097 }, '4097 UTF-8 bytes (1367 chars)'],
        [{ message: 'x'.repeat(20000) }, '20000 bytes'],
      ];
      await expectErrors(alice, 'sendMessage', bad, 'invalid_message', withAck);
      await h.expectNo(bob, 'newMessage', QUIET_MS);

      // The limits themselves are fine.
      const ok4096 = 'y'.repeat(4096);
      const ko4096 = `${'나'.repeat(1365)}a`; // 4096 bytes
      assert.equal(Buffer.byteLength(ko4096), 4096);
      for (const msg of [ok4096, ko4096, 'z']) {
        await say(alice, msg, withAck);
        assertNewMessage(await h.waitFor(bob, 'newMessage'), { message: msg, user: 'alice', dm: false },
          `${Buffer.byteLength(msg)}-byte message at bob`);
      }
      if (withAck) await h.expectNo(alice, 'chatError', 0);
    });
  }

  /* ---------------- malformed requests ---------------- */

  for (const withAck of modes) {
    it(`bad_request: payload not an object (${ackName(withAck)})`, T, async () => {
      const s = await user('s');
      const lobby = await user('lobby');
      const cases = [
        ['create', 'room', 'string'],
        ['create', 42, 'number'],
        ['create', [roomName(), 'u'], 'array'],
        ['create', null, 'null'],
        ['create', true, 'boolean'],
        ['create', undefined, 'no payload'],
      ];
      await expectErrors(s, 'create', cases.map(([, payload, what]) => [payload, what]), 'bad_request', withAck,
        async () => {
          await h.emitAck(s, 'leave', {}).catch(() => {});
          h.clearEvents(s);
          h.clearEvents(lobby);
        });
      await h.expectNo(lobby, 'roomList', QUIET_MS);
      // In a room: sendMessage / leave with a non-object payload.
      const peer = await user('peer');
      const room = roomName();
      await enter(s, room, 'sam');
      await enter(peer, room, 'pat');
      h.clearEvents(peer);
      await expectErrors(s, 'sendMessage', [
        ['hello', 'string'],
        [['hello'], 'array'],
        [7, 'number'],
        [undefined, 'no payload'],
      ], 'bad_request', withAck);
      await expectErrors(s, 'leave', [
        ['now', 'string'],
        [[1], 'array'],
      ], 'bad_request', withAck, async () => {
        await enter(s, room, 'sam');
        h.clearEvents(peer);
      });
      await h.expectNo(peer, 'newMessage', QUIET_MS);
      await h.expectNo(peer, 'notice', 0);
      // Still in the room, still connected.
      assert.equal(s.connected, true);
      await say(s, 'after bad requests', withAck);
      if (withAck) await h.expectNo(s, 'chatError', 0);
    });
  }

  for (const withAck of modes) {
    it(`unknown_event (${ackName(withAck)})`, T, async () => {
      const s = await user('s');
      for (const ev of ['foo', 'newMessage', 'roomList', 'CREATE', 'sendmessage', 'x'.repeat(300)]) {
        await expectError(s, ev, { roomName: 'r', userName: 'u' }, 'unknown_event', withAck).catch((e) => {
          e.message = `[${ev.slice(0, 20)}] ${e.message}`;
          throw e;
        });
      }
      await expectError(s, 'foo', undefined, 'unknown_event', withAck);
      assert.equal(s.connected, true, 'unknown events do not close the connection');
      await enter(s, roomName(), 'still-works');
      if (withAck) await h.expectNo(s, 'chatError', 0);
    });
  }

  /* ---------------- leave and disconnect ---------------- */

  for (const withAck of modes) {
    it(`leave: notice + userList to the remaining members; empty room removed (${withAck ? 'ack' : 'no ack'})`, T, async () => {
      const lobby = await user('lobby');
      const alice = await user('alice');
      const bob = await user('bob');
      const carol = await user('carol');
      const room = roomName();
      const keep = roomName('keep');
      await enter(carol, keep, 'carol');
      await enter(alice, room, 'alice');
      await enter(bob, room, 'bob');
      await h.waitFor(alice, 'userList', (l) => l.length === 2);
      await h.waitFor(lobby, 'roomList', (l) => l.includes(room) && l.includes(keep));
      h.clearEvents(alice);
      h.clearEvents(bob);
      h.clearEvents(lobby);

      const leave = async (sock, payload) => {
        if (withAck) {
          const res = await h.emitAck(sock, 'leave', payload);
          assert.equal(res && res.ok, true, `leave ack ${JSON.stringify(res)}`);
        } else {
          h.emit(sock, 'leave', payload);
        }
      };

      await leave(bob, {});
      const n = await h.waitFor(alice, 'notice');
      assert.ok(typeof n === 'string' && n.includes('bob'), `leave notice names bob: ${JSON.stringify(n)}`);
      assert.deepEqual(await h.waitFor(alice, 'userList'), [{ userName: 'alice', key: alice.id }]);
      await h.expectNo(bob, 'userList', QUIET_MS);
      await h.expectNo(bob, 'notice', 0);
      await h.expectNo(lobby, 'roomList', 0); // the room still has alice
      // bob is out: his messages fail, alice's do not reach him.
      await expectError(bob, 'sendMessage', { message: 'x' }, 'not_in_room', true);
      await say(alice, 'bob is gone');
      await h.expectNo(bob, 'newMessage', QUIET_MS);

      // alice leaves (no payload): the room empties and is deleted;
      // every connected socket gets the new roomList.
      await leave(alice, undefined);
      for (const s of [lobby, alice, bob, carol]) {
        const rl = await h.waitFor(s, 'roomList', (l) => !l.includes(room));
        assert.ok(rl.includes(keep), `${s.rec.label}: ${keep} must remain: ${JSON.stringify(rl)}`);
      }
      await h.expectNo(carol, 'notice', 0);
      await h.expectNo(alice, 'notice', 0);
      // A new room with the same name starts fresh.
      await create(bob, room, 'bob');
      assert.deepEqual(await h.waitFor(bob, 'userList'), [{ userName: 'bob', key: bob.id }]);
      await h.waitFor(lobby, 'roomList', (l) => l.includes(room));
      if (withAck) {
        await h.expectNo(alice, 'chatError', 0);
        await h.expectNo(bob, 'chatError', 0);
      }
    });
  }

  it('join notice and leave notice differ', T, async () => {
    const { alice, bob } = await inRoom('alice', 'bob');
    const joined = await h.waitFor(alice, 'notice');
    assert.equal((await h.emitAck(bob, 'leave')).ok, true);
    const left = await h.waitFor(alice, 'notice');
    assert.ok(joined.includes('bob') && left.includes('bob'));
    assert.notEqual(joined, left, 'a leave notice must not read like a join notice');
  });

  for (const how of ['disconnect()', 'transport killed']) {
    it(`disconnect is a leave (${how})`, T, async () => {
      const lobby = await user('lobby');
      const { room, alice, bob } = await inRoom('alice', 'bob');
      await h.waitFor(alice, 'userList', (l) => l.length === 2);
      await h.waitFor(lobby, 'roomList', (l) => l.includes(room));
      h.clearEvents(alice);
      h.clearEvents(lobby);

      const drop = async (s) => {
        if (how === 'disconnect()') s.disconnect();
        else await h.killTransport(s);
      };
      const bobKey = bob.id; // socket.io-client clears socket.id on disconnect
      await drop(bob);
      const n = await h.waitFor(alice, 'notice', 5000);
      assert.ok(n.includes('bob'), `notice names bob: ${JSON.stringify(n)}`);
      assert.deepEqual(await h.waitFor(alice, 'userList', 5000), [{ userName: 'alice', key: alice.id }]);
      await h.expectNo(lobby, 'roomList', QUIET_MS);
      // A DM to the departed key now fails.
      assertErrorAck(await h.emitAck(alice, 'sendMessage', { message: 'x', select: bobKey }), 'user_not_found', 'DM to gone');

      await drop(alice);
      await h.waitFor(lobby, 'roomList', (l) => !l.includes(room), 5000);
    });
  }

  /* ---------------- ordering ---------------- */

  for (const withAck of modes) {
    it(`requests are processed in order: create then sendMessage without waiting (${withAck ? 'ack' : 'no ack'})`, T, async () => {
      const peer = await user('peer');
      const s = await user('s');
      const room = roomName();
      await enter(peer, room, 'peer');
      if (withAck) {
        const [c, m, l, m2] = await Promise.all([
          h.emitAck(s, 'create', { roomName: room, userName: 'fast' }),
          h.emitAck(s, 'sendMessage', { message: 'right away' }),
          h.emitAck(s, 'leave', {}),
          h.emitAck(s, 'sendMessage', { message: 'too late' }),
        ]);
        assert.deepEqual(c, { ok: true, room, userName: 'fast', key: s.id });
        assert.equal(m && m.ok, true, `sendMessage right after create: ${JSON.stringify(m)}`);
        assert.equal(l && l.ok, true, `leave: ${JSON.stringify(l)}`);
        assertErrorAck(m2, 'not_in_room', 'sendMessage after leave');
      } else {
        h.emit(s, 'create', { roomName: room, userName: 'fast' });
        h.emit(s, 'sendMessage', { message: 'right away' });
        h.emit(s, 'leave');
        h.emit(s, 'sendMessage', { message: 'too late' });
        assertChatError(await h.waitFor(s, 'chatError'), 'not_in_room', 'sendMessage after leave');
      }
      assertNewMessage(await h.waitFor(peer, 'newMessage'), { message: 'right away', user: 'fast', dm: false });
      const n1 = await h.waitFor(peer, 'notice');
      const n2 = await h.waitFor(peer, 'notice');
      assert.ok(n1.includes('fast') && n2.includes('fast'), `join then leave notices: ${n1} / ${n2}`);
      assert.deepEqual(await h.waitFor(peer, 'userList', (l) => l.length === 1), [{ userName: 'peer', key: peer.id }]);
      await h.expectNo(peer, 'newMessage', QUIET_MS);
      await h.expectNo(s, 'chatError', 0);
    });
  }

  it('messages and list updates of one room arrive in one order at every member', T, async () => {
    // Concurrent joins from several sockets (several instances in redis
    // mode): every member must see the same sequence of userLists, ending
    // in the same final list.
    const socks = [];
    for (let i = 0; i < 6; i++) socks.push(await user(`m${i}`));
    const room = roomName();
    await enter(socks[0], room, 'm0');
    await Promise.all(socks.slice(1).map((s, i) => create(s, room, `m${i + 1}`)));
    const finals = [];
    for (const s of socks) finals.push(await h.waitFor(s, 'userList', (l) => l.length === 6, 5000));
    for (const f of finals) assert.deepEqual(f, finals[0], 'same final userList everywhere');
    assert.equal(finals[0][0].userName, 'm0', 'the creator is first');
    await h.delay(QUIET_MS);
    // Each member's sequence of lists only grows and ends with the final
    // list. It grows one join at a time, but for lists that were still
    // queued when a newer one came (the queue keeps only the newest state
    // snapshot: gateway/gw_outq.h), which long-polling makes common.
    for (const s of socks) {
      const lists = h.history(s, 'userList').map((e) => e.payload);
      assert.deepEqual(lists[lists.length - 1], finals[0], `${s.rec.label}: the last userList is the final one`);
      for (let i = 1; i < lists.length; i++) {
        assert.ok(lists[i].length > lists[i - 1].length, `${s.rec.label}: userLists ${JSON.stringify(lists)}`);
        if (h.TRANSPORT === 'websocket') {
          // Over a WebSocket nothing waits long enough to be replaced.
          assert.equal(lists[i].length, lists[i - 1].length + 1, `${s.rec.label}: userLists ${JSON.stringify(lists)}`);
        }
        assert.deepEqual(lists[i].slice(0, lists[i - 1].length), lists[i - 1], `${s.rec.label}: join order is stable`);
      }
    }
  });
});

/* ---------------- rate limiting (its own gateways) ---------------- */

describe(`rate limiting (GW_MODE=${h.MODE}, GW_TRANSPORT=${h.TRANSPORT}, --rate-limit 5)`, { timeout: 120000 }, () => {
  let cluster;
  let pool;
  const N = 5;

  before(async () => {
    cluster = await h.startModeCluster({ args: ['--rate-limit', String(N), '--drain-time', '200'] });
    pool = h.clientPool(cluster);
  });
  after(async () => {
    if (!cluster) return;
    await pool.closeAll();
    const codes = await cluster.stop();
    assert.deepEqual(codes, codes.map(() => 0), 'gateways exit 0');
  });
  afterEach(() => pool.closeAll());

  async function pair() {
    const a = await pool.client({ name: 'flooder' });
    const b = await pool.client({ name: 'reader' });
    const room = roomName('rl');
    const ra = await h.emitAck(a, 'create', { roomName: room, userName: 'a' });
    assert.equal(ra.ok, true);
    const rb = await h.emitAck(b, 'create', { roomName: room, userName: 'b' });
    assert.equal(rb.ok, true);
    await h.waitFor(a, 'userList', (l) => l.length === 2);
    await h.waitFor(b, 'userList', (l) => l.length === 2);
    return [a, b];
  }

  it('burst of 30 with acks: some rate_limited, the rest delivered, nothing queued', T, async () => {
    const [a, b] = await pair();
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      h.emitAck(a, 'sendMessage', { message: `burst ${i}` })));
    const okIdx = [];
    for (const [i, r] of acks.entries()) {
      if (r && r.ok === true) okIdx.push(i);
      else assertErrorAck(r, 'rate_limited', `message ${i}`);
    }
    assert.ok(okIdx.length >= N, `at least ${N} of 30 pass (burst 2N): ${okIdx.length}`);
    assert.ok(okIdx.length < 30, 'some are rate_limited');
    assert.ok(okIdx.length <= 2 * N + 5, `at most ~burst (${2 * N}) pass: ${okIdx.length}`);
    // Exactly the accepted ones are delivered, in order; the others are
    // dropped, not delivered later.
    for (const i of okIdx) {
      assertNewMessage(await h.waitFor(b, 'newMessage'), { message: `burst ${i}`, user: 'a', dm: false });
    }
    await h.expectNo(b, 'newMessage', 1500);
    // Tokens come back: after a pause, sending works again.
    await h.delay(1000);
    const r = await h.emitAck(a, 'sendMessage', { message: 'after pause' });
    assert.equal(r.ok, true, `after a 1 s pause: ${JSON.stringify(r)}`);
    await h.waitFor(b, 'newMessage', (m) => m.message === 'after pause');
  });

  it('burst of 30 without acks: chatError rate_limited for each dropped message', T, async () => {
    const [a, b] = await pair();
    for (let i = 0; i < 30; i++) h.emit(a, 'sendMessage', { message: `burst ${i}` });
    // Every message is either delivered or answered with rate_limited;
    // wait until all 30 are accounted for.
    await h.waitUntil(() =>
      h.history(a, 'chatError').length + h.history(b, 'newMessage').length >= 30,
    5000, 25, 'all 30 messages delivered or rate_limited');
    await h.delay(QUIET_MS);
    const errs = h.takeAll(a, 'chatError');
    const got = h.takeAll(b, 'newMessage');
    for (const e of errs) assertChatError(e, 'rate_limited', 'dropped message');
    assert.ok(errs.length > 0, 'some messages are rate_limited');
    assert.ok(got.length >= N, `at least ${N} delivered: ${got.length}`);
    assert.equal(errs.length + got.length, 30, `${errs.length} errors + ${got.length} delivered`);
    const idx = got.map((m) => Number(m.message.split(' ')[1]));
    assert.deepEqual(idx, [...idx].sort((x, y) => x - y), 'delivered in order');
    await h.expectNo(b, 'newMessage', 1000);
  });
});
