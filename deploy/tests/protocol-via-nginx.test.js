// SPDX-License-Identifier: MIT
// deploy.protocol_nginx[.polling|.default]: the whole chat protocol suite
// (tests/e2e/protocol.test.js) in GW_MODE=redis, with every client going
// through the project's nginx config in front of the three gateways instead
// of straight to them, over the transports $GW_TRANSPORT names (websocket,
// polling, default). Wraps the shared harness's startModeCluster; the suite
// itself is unchanged. Exits 77 (ctest SKIP) only if the gateway reports
// that its Redis adapter is not available.
//
// nginx runs the default rendering (render.sh without --affinity): a
// balanced pool with no affinity, checked below, so the polling requests
// and upgrades of one session reach different instances and the gateways
// must relay them to the owner. With polling, the run fails unless the
// gateways' /metrics show such relays.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
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

// The rendered config must balance /socket.io/ with no affinity: no hash,
// ip_hash or sticky in effect, and the location proxies to the pool.
function assertNoAffinity(confText) {
  const conf = confText.split('\n').map((l) => l.replace(/#.*/, '')).join('\n');
  const sticky = /^\s*(ip_hash|hash|sticky)\b.*$/m.exec(conf);
  if (sticky) throw new Error(`nginx config has affinity (${sticky[0].trim()}); this test needs none`);
  const loc = /location \/socket\.io\/ \{[^}]*\}/.exec(conf);
  if (!loc || !/proxy_pass http:\/\/chat_pool;/.test(loc[0])) {
    throw new Error(`nginx config: /socket.io/ must proxy_pass to chat_pool:\n${loc ? loc[0] : '(no location /socket.io/)'}`);
  }
}

// Relays counted by the gateways' /metrics, by kind (poll, websocket), and
// the Socket.IO connections they served.
async function relays(cluster) {
  const out = { poll: 0, websocket: 0, connections: 0 };
  for (const g of cluster.gateways) {
    if (!g.running()) continue;
    const m = await h.getMetrics(g.url);
    for (const kind of ['poll', 'websocket']) out[kind] += m.get('chat_relays_total', { kind }) || 0;
    out.connections += m.get('chat_connections_total') || 0;
  }
  return out;
}

const original = h.startModeCluster;
h.startModeCluster = async (opts) => {
  const cluster = await original(opts);
  let ngx;
  try {
    // Plain round-robin, no affinity: the gateways relay what lands on an
    // instance other than the session's owner.
    ngx = await startNginx({
      upstreams: cluster.gateways.map((g, i) => ({ node: `gw${i + 1}`, port: g.port })),
      roundRobin: true,
    });
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  try {
    assertNoAffinity(fs.readFileSync(path.join(ngx.prefix, 'nginx.conf'), 'utf8'));
  } catch (e) {
    await ngx.stop();
    await cluster.stop();
    throw e;
  }
  console.log(`# protocol suite (GW_TRANSPORT=${h.TRANSPORT}) through nginx ${ngx.url} -> ` +
    `${cluster.gateways.map((g) => g.port).join(', ')}`);
  cluster.nginx = ngx;
  cluster.urls = [ngx.url]; // nextUrl(), connect() and clientPool() go through nginx
  const stopGateways = cluster.stop.bind(cluster);
  cluster.stop = async (signal) => {
    let seen = null;
    try {
      seen = await relays(cluster);
    } catch (e) {
      console.log(`# /metrics: ${e.message}`);
    }
    // nginx's view of failures, for the log: its error log and the
    // requests it answered 5xx (the prefix is removed by stop()).
    const errs = ngx.errorLog().trim();
    const bad = ngx.accessLog().split('\n').filter((l) => /" 5\d\d /.test(l));
    const some = (lines) => (lines.length > 40 ? [...lines.slice(0, 20), `... (${lines.length - 40} more)`,
      ...lines.slice(-20)] : lines).map((l) => `#   ${l}`).join('\n');
    if (errs) console.log(`# nginx error log:\n${some(errs.split('\n'))}`);
    if (bad.length) console.log(`# nginx 5xx answers (${bad.length}):\n${some(bad)}`);
    const code = await ngx.stop();
    if (code !== 0) console.log(`# nginx exited ${code}`);
    const codes = await stopGateways(signal);
    if (seen) console.log(`# relays: ${JSON.stringify(seen)}`);
    // Without affinity most polling requests land on an instance that does
    // not own the session: none relayed over a few sessions means nginx had
    // affinity after all (or the relay is not counted).
    if (h.TRANSPORT !== 'websocket' && seen && seen.connections >= 3 && seen.poll === 0) {
      throw new Error(`GW_TRANSPORT=${h.TRANSPORT} through nginx without affinity, but the gateways ` +
        'counted no polling relay (chat_relays_total{kind="poll"})');
    }
    return codes;
  };
  return cluster;
};

require(path.join(repo, 'tests', 'e2e', 'protocol.test.js'));
