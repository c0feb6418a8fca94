// SPDX-License-Identifier: MIT
'use strict';
/* tests/cluster/common.js: helpers shared by the cluster suites (3 gateways
 * on one real redis-server, via tests/lib/harness.js). */
const h = require('../lib/harness.js');

/* Fast failure detection so the suites stay short; the defaults (2 s / 6 s)
 * are exercised by the protocol suite in GW_MODE=redis. */
const FAST = ['--heartbeat', '300', '--node-ttl', '1500', '--drain-time', '300',
  '--redis-timeout', '1000'];

async function adapterUp(url) {
  const m = await h.getMetrics(url);
  return m.get('chat_adapter_up', { adapter: 'redis' }) === 1;
}

async function waitUp(gateways, timeoutMs = 8000) {
  for (const g of gateways) {
    await h.waitUntil(() => adapterUp(g.url), timeoutMs, 50, `adapter up on ${g.url}`);
  }
}

async function startRedisCluster(n, args = FAST) {
  const c = await h.startCluster({ gateways: n, redis: true, args });
  await waitUp(c.gateways);
  return c;
}

async function startOne(redis, nodeId, args = FAST) {
  const g = await h.startGateway({ redisUrl: redis.url, nodeId, args });
  await waitUp([g]);
  return g;
}

/* join connects to |url| and creates/joins |room| as |user|. */
async function join(url, room, user) {
  const s = await h.connect(url);
  const ack = await h.emitAck(s, 'create', { roomName: room, userName: user });
  if (!ack.ok) throw new Error(`join ${room}/${user}: ${JSON.stringify(ack)}`);
  return s;
}

const names = (list) => list.map((u) => u.userName);

/* stopClean stops every gateway still running with SIGTERM and asserts a
 * clean exit (0): under ASan a leak or an error report fails the test. */
async function stopClean(c) {
  const live = c.gateways.filter((g) => g.running());
  const codes = await Promise.all(live.map((g) => g.stop('SIGTERM')));
  if (c.redis) await c.redis.stop();
  codes.forEach((code, i) => {
    if (code !== 0) {
      throw new Error(`gateway ${live[i].url} exited with ${code}:\n${live[i].logs().slice(-4000)}`);
    }
  });
}

module.exports = { h, FAST, adapterUp, waitUp, startRedisCluster, startOne, join, names, stopClean };
