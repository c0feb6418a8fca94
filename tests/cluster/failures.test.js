// SPDX-License-Identifier: MIT
'use strict';
/* tests/cluster/failures.test.js: crash cleanup (kill -9 of a gateway),
 * Redis killed and restarted EMPTY, graceful SIGTERM, Redis outage answers.
 * Real processes only: redis-server and chat-gateway on loopback ports. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { h, FAST, startRedisCluster, startOne, waitUp, join, names, stopClean } = require('./common.js');

test('kill -9 of one instance: its members vanish from the others within 15 s', async (t) => {
  // Default-ish detection (2 s heartbeat, 6 s TTL) to show the 15 s bound.
  const args = ['--heartbeat', '2000', '--node-ttl', '6000', '--drain-time', '300'];
  const c = await startRedisCluster(3, args);
  t.after(() => stopClean(c));
  const [g0, g1, g2] = c.gateways;
  const alice = await join(g0.url, 'shared', 'alice');
  const bob = await join(g1.url, 'shared', 'bob');
  const carol = await join(g2.url, 'shared', 'carol');
  const dave = await join(g2.url, 'solo-on-g2', 'dave');
  const lobby = await h.connect(g0.url);
  await h.waitFor(lobby, 'roomList', (p) => p.includes('solo-on-g2'));
  await h.waitFor(alice, 'userList', (p) => p.length === 3);

  for (const s of [alice, bob, lobby]) h.clearEvents(s);
  const t0 = Date.now();
  g2.kill('SIGKILL');
  await g2.exited;
  const n = await h.waitFor(alice, 'notice', (m) => m === 'carol left the room.', 15000);
  assert.ok(n);
  const ul = await h.waitFor(alice, 'userList', (p) => !names(p).includes('carol'), 15000);
  assert.deepEqual(names(ul), ['alice', 'bob']);
  await h.waitFor(bob, 'notice', (m) => m === 'carol left the room.', 15000);
  await h.waitFor(bob, 'userList', (p) => names(p).join() === 'alice,bob', 15000);
  const rl = await h.waitFor(lobby, 'roomList', (p) => !p.includes('solo-on-g2'), 15000);
  assert.deepEqual(rl, ['shared']);
  assert.ok(Date.now() - t0 < 15000, `took ${Date.now() - t0} ms`);
  // Exactly once: two survivors ran the reaper, one notice each.
  await h.delay(2500);
  assert.equal(h.history(alice, 'notice').filter((e) => e.payload === 'carol left the room.').length, 1);
  const reaped = (await h.getMetrics(g0.url)).get('chat_adapter_nodes_reaped_total') +
    (await h.getMetrics(g1.url)).get('chat_adapter_nodes_reaped_total');
  assert.equal(reaped, 1);
  // The survivors still talk to each other.
  await h.emitAck(bob, 'sendMessage', { message: 'still here' });
  await h.waitFor(alice, 'newMessage', (m) => m.message === 'still here');
  for (const s of [alice, bob, carol, dave, lobby]) s.close();
});

test('Redis killed and restarted empty: delivery heals within 5 s, newcomer gets the full userList', async (t) => {
  const c = await startRedisCluster(3);
  t.after(() => stopClean(c));
  const [g0, g1, g2] = c.gateways;
  const alice = await join(g0.url, 'phoenix', 'alice');
  const bob = await join(g1.url, 'phoenix', 'bob');
  const other = await join(g0.url, 'other', 'olga');
  await h.waitFor(alice, 'userList', (p) => p.length === 2);

  const port = c.redis.port;
  await c.redis.stop('SIGKILL');
  await h.waitUntil(async () => (await h.getMetrics(g0.url)).get('chat_adapter_up', { adapter: 'redis' }) === 0,
    5000, 50, 'adapter down');
  // While Redis is down: clients stay connected and get a clear error.
  const down = await h.emitAck(alice, 'sendMessage', { message: 'lost' });
  assert.equal(down.ok, false);
  assert.equal(down.error.code, 'unavailable');
  assert.ok(alice.connected && bob.connected);

  const redis = await h.startRedis({ port }); // empty: no persistence
  c.redis = redis;
  const t0 = Date.now();
  // Cross-instance delivery heals within 5 s.
  await h.waitUntil(async () => {
    const ack = await h.emitAck(bob, 'sendMessage', { message: `probe-${Date.now()}` }).catch(() => null);
    return ack && ack.ok && alice.connected;
  }, 5000, 100, 'publish accepted');
  await h.waitFor(alice, 'newMessage', (m) => m.message.startsWith('probe-'), 5000 - (Date.now() - t0));
  assert.ok(Date.now() - t0 < 5000, `healed after ${Date.now() - t0} ms`);
  await waitUp(c.gateways, 5000);

  // A newcomer on the third instance sees everyone, in the original order.
  const carol = await join(g2.url, 'phoenix', 'carol');
  const ul = await h.waitFor(carol, 'userList', (p) => p.length === 3, 3000);
  assert.deepEqual(names(ul), ['alice', 'bob', 'carol']);
  assert.deepEqual(ul.map((u) => u.key), [alice.id, bob.id, carol.id]);
  const rl = await h.waitFor(carol, 'roomList', (p) => p.length === 2, 3000);
  assert.deepEqual(rl, ['phoenix', 'other']);
  // Names are still unique after the heal.
  const dup = await h.emitAck(await h.connect(g2.url), 'create', { roomName: 'phoenix', userName: 'alice' });
  assert.equal(dup.ok, false);
  assert.equal(dup.error.code, 'name_taken');
  for (const s of [alice, bob, other, carol]) s.close();
});

test('graceful SIGTERM removes the node\'s members with notices', async (t) => {
  const c = await startRedisCluster(2);
  t.after(() => stopClean(c));
  const [g0, g1] = c.gateways;
  const alice = await join(g0.url, 'calm', 'alice');
  const bob = await join(g1.url, 'calm', 'bob');
  const solo = await join(g1.url, 'only-g1', 'sam');
  const lobby = await h.connect(g0.url);
  await h.waitFor(lobby, 'roomList', (p) => p.length === 2);
  await h.waitFor(alice, 'userList', (p) => p.length === 2);
  for (const s of [alice, lobby]) h.clearEvents(s);
  const node1 = g1.args[g1.args.indexOf('--node-id') + 1];
  const code = await g1.stop('SIGTERM');
  assert.equal(code, 0);
  await h.waitFor(alice, 'notice', (m) => m === 'bob left the room.', 3000);
  const ul = await h.waitFor(alice, 'userList', (p) => p.length === 1, 3000);
  assert.deepEqual(names(ul), ['alice']);
  assert.deepEqual(await h.waitFor(lobby, 'roomList', (p) => p.length === 1, 3000), ['calm']);
  // Nothing of node g1 is left in Redis.
  const keys = await c.redis.command('KEYS', 'gw:*');
  assert.ok(!keys.some((k) => k.includes(node1)), keys.join(' '));
  assert.ok(!keys.includes(`gw:s:${bob.id}`) && !keys.includes(`gw:s:${solo.id}`));
  assert.deepEqual(await c.redis.command('SMEMBERS', 'gw:nodes'), [g0.args[g0.args.indexOf('--node-id') + 1]]);
  for (const s of [alice, bob, solo, lobby]) s.close();
});

test('a gateway started before Redis comes up joins the cluster when it does', async (t) => {
  const port = await h.freePort();
  const url = `redis://127.0.0.1:${port}`;
  const g = await h.startGateway({ redisUrl: url, nodeId: 'early', args: FAST });
  t.after(() => g.stop());
  const s = await h.connect(g.url);
  const ack = await h.emitAck(s, 'create', { roomName: 'r', userName: 'u' });
  assert.equal(ack.ok, false);
  assert.equal(ack.error.code, 'unavailable');
  const redis = await h.startRedis({ port });
  t.after(() => redis.stop());
  await waitUp([g], 5000);
  assert.deepEqual(await h.waitFor(s, 'roomList', null, 3000), []);
  const ok = await h.emitAck(s, 'create', { roomName: 'r', userName: 'u' });
  assert.equal(ok.ok, true);
  const g2 = await startOne(redis, 'late');
  t.after(() => g2.stop());
  const s2 = await h.connect(g2.url);
  assert.deepEqual(await h.waitFor(s2, 'roomList'), ['r']);
  s.close();
  s2.close();
});
