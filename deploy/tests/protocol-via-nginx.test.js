// SPDX-License-Identifier: MIT
// deploy.protocol_nginx: the whole chat protocol suite (tests/e2e/
// protocol.test.js) in GW_MODE=redis, with every client going through the
// project's nginx config in front of the three gateways instead of
// straight to them. Wraps the shared harness's startModeCluster; the suite
// itself is unchanged. Exits 77 (ctest SKIP) only if the gateway reports
// that its Redis adapter is not available.
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
process.env.GW_MODE = 'redis';

// Skip only when the gateway says it has no Redis adapter.
const bin = process.env.CHAT_GATEWAY_BIN || path.join(repo, 'build', 'chat-gateway');
// (A gateway with the adapter keeps retrying the dead Redis URL until the
// timeout kills it.)
const probe = spawnSync(bin, ['--host', '127.0.0.1', '--port', String(20000 + Math.floor(Math.random() * 12000)),
  '--redis', 'redis://127.0.0.1:1'], { encoding: 'utf8', timeout: 1500 });
if (/redis adapter (is )?not (available|built|compiled|supported)/i.test(`${probe.stdout}${probe.stderr}`)) {
  console.log('SKIP: chat-gateway was built without the Redis adapter; the protocol suite through nginx needs it.');
  process.exit(77);
}

const h = require(path.join(repo, 'tests', 'lib', 'harness.js'));
const { startNginx } = require('./nginx-helper');

const original = h.startModeCluster;
h.startModeCluster = async (opts) => {
  const cluster = await original(opts);
  let ngx;
  try {
    ngx = await startNginx({ upstreams: cluster.gateways.map((g, i) => ({ node: `gw${i + 1}`, port: g.port })) });
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  console.log(`# protocol suite through nginx ${ngx.url} -> ${cluster.gateways.map((g) => g.port).join(', ')}`);
  cluster.nginx = ngx;
  cluster.urls = [ngx.url]; // nextUrl(), connect() and clientPool() go through nginx
  const stopGateways = cluster.stop.bind(cluster);
  cluster.stop = async (signal) => {
    const code = await ngx.stop();
    if (code !== 0) console.log(`# nginx exited ${code}`);
    return stopGateways(signal);
  };
  return cluster;
};

require(path.join(repo, 'tests', 'e2e', 'protocol.test.js'));
