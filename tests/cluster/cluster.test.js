// SPDX-License-Identifier: MIT
'use strict';
/* tests/cluster/cluster.test.js: three gateways on one Redis behave as one
 * chat server under concurrency: simultaneous room creation converges on
 * one room list everywhere, a cluster-wide name race has exactly one
 * winner, and hostile room names cannot leak into other channels. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { h, startRedisCluster, join, names, stopClean } = require('./common.js');

test('30 clients on 3 instances create 30 rooms at once: one room list everywhere', async (t) => {
  const c = await startRedisCluster(3);
  t.after(() => stopClean(c));
  // Lobby watchers on every instance, connected before the burst.
  const lobby = [];
  for (let i = 0; i < 6; i++) lobby.push(await h.connect(c.urls[i % 3]));
  for (const s of lobby) await h.waitFor(s, 'roomList');
  const creators = [];
  for (let i = 0; i < 30; i++) creators.push(await h.connect(c.urls[i % 3]));
  const acks = await Promise.all(creators.map((s, i) =>
    h.emitAck(s, 'create', { roomName: `room-${i}`, userName: `user-${i}` }, 8000)));
  for (const a of acks) assert.equal(a.ok, true, JSON.stringify(a));

  // Every socket (watchers and creators, every instance) converges on the
  // same 30-room list; each list it saw only grew (never older after newer).
  const everyone = [...lobby, ...creators];
  let reference = null;
  for (const s of everyone) {
    const last = await h.waitFor(s, 'roomList', (p) => p.length === 30, 8000);
    if (reference === null) reference = last;
    assert.deepEqual(last, reference);
    const seen = h.history(s, 'roomList').map((e) => e.payload.length);
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i] >= seen[i - 1], `roomList shrank on a socket: ${seen}`);
    }
  }
  assert.deepEqual([...reference].sort(), Array.from({ length: 30 }, (_, i) => `room-${i}`).sort());
  // A latecomer on any instance gets the same list at once.
  const late = await h.connect(c.urls[1]);
  assert.deepEqual(await h.waitFor(late, 'roomList'), reference);
  for (const s of [...everyone, late]) s.close();
});

test('10 clients race for one name in one room across instances: exactly one wins', async (t) => {
  const c = await startRedisCluster(3);
  t.after(() => stopClean(c));
  const host = await join(c.urls[0], 'arena', 'host');
  for (let round = 0; round < 3; round++) {
    const socks = [];
    for (let i = 0; i < 10; i++) socks.push(await h.connect(c.urls[i % 3]));
    const acks = await Promise.all(socks.map((s) =>
      h.emitAck(s, 'create', { roomName: 'arena', userName: `champ${round}` }, 8000)));
    const winners = acks.filter((a) => a.ok);
    const losers = acks.filter((a) => !a.ok);
    assert.equal(winners.length, 1, JSON.stringify(acks));
    for (const l of losers) assert.equal(l.error.code, 'name_taken');
    const list = await h.waitFor(host, 'userList',
      (p) => names(p).includes(`champ${round}`), 5000);
    assert.equal(names(list).filter((n) => n === `champ${round}`).length, 1);
    assert.equal(list.find((u) => u.userName === `champ${round}`).key,
      socks[acks.findIndex((a) => a.ok)].id);
    for (const s of socks) s.close();
    // The winner's disconnect removes it everywhere.
    await h.waitFor(host, 'userList', (p) => !names(p).includes(`champ${round}`), 5000);
  }
  host.close();
});

test('hostile room names stay in their own channel across instances', async (t) => {
  const c = await startRedisCluster(3);
  t.after(() => stopClean(c));
  const rooms = ['#', '*', 'gw:lobby', 'lobby', 'a:b', 'n:node-0', 'x  y z', '한국어 채팅방',
    '🙂 emoji', 'r'.repeat(64), '"quoted"\\slash/'];
  const senders = [];
  const readers = [];
  for (let i = 0; i < rooms.length; i++) {
    senders.push(await join(c.urls[i % 3], rooms[i], 'sender'));
    readers.push(await join(c.urls[(i + 1) % 3], rooms[i], 'reader'));
  }
  const lobby = await h.connect(c.urls[2]);
  const rl = await h.waitFor(lobby, 'roomList');
  assert.deepEqual(rl, rooms);
  for (let i = 0; i < rooms.length; i++) {
    const ack = await h.emitAck(senders[i], 'sendMessage', { message: `msg-${i}` });
    assert.equal(ack.ok, true);
  }
  for (let i = 0; i < rooms.length; i++) {
    const m = await h.waitFor(readers[i], 'newMessage', null, 5000);
    assert.equal(m.message, `msg-${i}`);
    const u = await h.waitFor(readers[i], 'userList', (p) => p.length === 2);
    assert.deepEqual(names(u), ['sender', 'reader']);
  }
  await h.delay(300);
  for (let i = 0; i < rooms.length; i++) {
    assert.equal(h.history(readers[i], 'newMessage').length, 1, `room ${rooms[i]}`);
    assert.equal(h.history(senders[i], 'newMessage').length, 1, `room ${rooms[i]}`);
  }
  assert.equal(h.history(lobby, 'newMessage').length, 0);
  for (const s of [...senders, ...readers, lobby]) s.close();
});

test('room traffic is ordered the same for every member on every instance', async (t) => {
  const c = await startRedisCluster(3);
  t.after(() => stopClean(c));
  const members = [];
  for (let i = 0; i < 6; i++) members.push(await join(c.urls[i % 3], 'ordered', `m${i}`));
  const sends = [];
  for (let k = 0; k < 20; k++) {
    for (let i = 0; i < 6; i++) sends.push(h.emitAck(members[i], 'sendMessage', { message: `${i}:${k}` }));
  }
  await Promise.all(sends);
  const orders = [];
  for (const s of members) {
    await h.waitUntil(() => h.history(s, 'newMessage').length >= 120, 8000, 20, 'all messages');
    orders.push(h.history(s, 'newMessage').map((e) => e.payload.message).join(','));
  }
  for (const o of orders) assert.equal(o, orders[0]);
  for (const s of members) s.close();
});
