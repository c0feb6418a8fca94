// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/gateway.js — chat-gateway processes: one gateway, a cluster of
 * gateways on one redis-server, and the cluster $GW_MODE asks for. The API
 * is documented in tests/lib/harness.js (the facade).
 *   startGateway, startCluster, startModeCluster, MODE
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { connect } = require('./client');
const { httpGet } = require('./http');
const { spawnChild, freePort } = require('./procs');
const { startRedis } = require('./redis');
const { ROOT, waitUntil } = require('./util');

const MODE = (process.env.GW_MODE || 'memory').toLowerCase();

function gatewayBin(opts) {
  return opts.bin || process.env.CHAT_GATEWAY_BIN || path.join(ROOT, 'build', 'chat-gateway');
}

function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CHAT_') || k === 'REDIS_URL') continue;
    env[k] = v;
  }
  return Object.assign(env, extra || {});
}

async function startGatewayOnce(opts, port) {
  const bin = gatewayBin(opts);
  const userArgs = (opts.args || []).map(String);
  const args = ['--host', '127.0.0.1', '--port', String(port)];
  if (opts.redisUrl) args.push('--redis', opts.redisUrl);
  if (opts.nodeId) args.push('--node-id', opts.nodeId);
  if (!userArgs.includes('--log-level')) args.push('--log-level', process.env.GW_LOG_LEVEL || 'info');
  args.push(...userArgs);
  const child = spawnChild(bin, args, {
    env: childEnv(opts.env),
    cwd: opts.cwd || ROOT,
    mirror: process.env.GW_VERBOSE === '1',
  });
  // --tls-cert (flag or CHAT_TLS_CERT): the gateway speaks https/wss only.
  const tls = userArgs.includes('--tls-cert') || Boolean(opts.env && opts.env.CHAT_TLS_CERT);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const gw = {
    port,
    url,
    proc: child.proc,
    pid: child.pid,
    args,
    bin,
    exited: child.exited,
    logs: child.logs,
    running: () => child.exit === null,
    stop: (signal = 'SIGTERM', timeoutMs = 15000) => child.stop(signal, timeoutMs),
    kill: child.kill,
  };
  try {
    await waitUntil(async () => {
      if (child.exit) {
        const e = new Error(`chat-gateway exited early (code ${child.exit.code}, signal ${child.exit.signal})`);
        e.early = true;
        throw e;
      }
      const r = await httpGet(url, '/healthz', { timeoutMs: 1000 });
      return r.status === 200;
    }, opts.readyTimeoutMs || 15000, 25, `${bin} /healthz on :${port}`);
  } catch (e) {
    await child.stop('SIGKILL', 2000);
    const err = new Error(`${e.message}\nargs: ${args.join(' ')}\n--- gateway log ---\n${child.logs()}`);
    err.logs = child.logs();
    throw err;
  }
  return gw;
}

async function startGateway(opts = {}) {
  const bin = gatewayBin(opts);
  if (!fs.existsSync(bin)) {
    throw new Error(`chat-gateway binary not found at ${bin} (set CHAT_GATEWAY_BIN)`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port || (await freePort());
    try {
      return await startGatewayOnce(opts, port);
    } catch (e) {
      lastErr = e;
      // Retry only a port race on a port we picked ourselves.
      if (opts.port || !/in use|EADDRINUSE|bind/i.test(e.logs || '')) throw e;
    }
  }
  throw lastErr;
}

async function startCluster(opts = {}) {
  const n = opts.gateways || 1;
  const useRedis = !!opts.redis;
  if (!useRedis && n > 1) throw new Error('startCluster: several gateways need redis: true');
  const redis = useRedis ? await startRedis(opts.redisOptions || {}) : null;
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => startGateway({
    bin: opts.bin,
    args: opts.args || [],
    env: opts.env || {},
    redisUrl: redis ? redis.url : undefined,
    nodeId: redis ? `node-${i}-${process.pid}-${crypto.randomBytes(2).toString('hex')}` : undefined,
  })));
  const gateways = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    if (redis) await redis.stop('SIGKILL');
    throw failed.reason;
  }
  let rr = 0;
  const cluster = {
    mode: useRedis ? 'redis' : 'memory',
    urls: gateways.map((g) => g.url),
    gateways,
    redis,
    nextUrl() {
      const u = cluster.urls[rr % cluster.urls.length];
      rr++;
      return u;
    },
    connect(o) {
      return connect(cluster.nextUrl(), o);
    },
    async stop(signal = 'SIGTERM') {
      const codes = await Promise.all(gateways.map((g) => g.stop(signal)));
      if (redis) await redis.stop();
      return codes;
    },
  };
  return cluster;
}

function startModeCluster(opts = {}) {
  if (MODE === 'redis') return startCluster({ ...opts, gateways: opts.gateways || 3, redis: true });
  if (MODE !== 'memory') throw new Error(`GW_MODE must be memory or redis, not ${MODE}`);
  return startCluster({ ...opts, gateways: 1, redis: false });
}

module.exports = { MODE, startGateway, startCluster, startModeCluster };
