// SPDX-License-Identifier: MIT
// Helpers for the deploy tests: drive deploy/local/cluster.sh and talk to
// the cluster through nginx with the official socket.io-client. Generic
// pieces (free ports, waiting, HTTP, socket.io clients with their event
// recorder, acks, metrics) come from the shared tests/lib/harness.js; what
// is here is specific to clusters started by cluster.sh and to clients that
// keep reconnecting through nginx.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
const h = require(path.join(repo, 'tests', 'lib', 'harness.js'));
const clusterSh = path.join(repo, 'deploy', 'local', 'cluster.sh');
const SKIP = 77;
const NO_REDIS_RE = /redis adapter (is )?not (available|built|compiled|supported)/i;

const { freePort, delay, waitUntil, waitFor, httpGet } = h;

const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a);

// The URL of a loopback port (nginx or a gateway), for the harness helpers.
const url = (port) => `http://127.0.0.1:${port}`;

// h.connect through nginx: resolves once connected, records every event
// (for waitFor and seen), and keeps reconnecting (through nginx) as an
// application does.
function connect(port, opts = {}) {
  return h.connect(url(port), { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000, ...opts });
}

// Payloads of every `ev` the socket received so far, in order (the
// harness's pseudo-event '$disconnect' gives the disconnect reasons).
const seen = (sock, ev) => h.history(sock, ev).map((e) => e.payload);

const emitAck = (s, ev, data, timeoutMs = 5000) => h.emitAck(s, ev, data, timeoutMs);

// ---------------------------------------------------------------- cluster

function makeStateDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `chat-deploy-${tag}-`));
}

function cluster(stateDir, args, timeoutMs = 90000) {
  const r = spawnSync(clusterSh, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CHAT_CLUSTER_DIR: stateDir, CLUSTER_TIMEOUT: '30' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  const out = `${r.stdout || ''}${r.stderr || ''}`;
  return { code: r.status, signal: r.signal, out };
}

// Start a cluster, or exit 77 (ctest SKIP) when -- and only when -- the
// gateway says it was built without the Redis adapter.
function clusterUpOrSkip(stateDir, args) {
  const r = cluster(stateDir, ['up', ...args]);
  if (r.code === 0) return r;
  const logs = fs.readdirSync(stateDir).filter((f) => /^gw\d+\.log$/.test(f))
    .map((f) => fs.readFileSync(path.join(stateDir, f), 'utf8')).join('\n');
  if (NO_REDIS_RE.test(r.out) || NO_REDIS_RE.test(logs)) {
    console.log(r.out);
    console.log('SKIP: chat-gateway was built without the Redis adapter (--redis not available); ' +
      'cross-instance deploy tests need it.');
    cluster(stateDir, ['down']);
    fs.rmSync(stateDir, { recursive: true, force: true });
    process.exit(SKIP);
  }
  throw new Error(`cluster.sh up failed (exit ${r.code}${r.signal ? `, signal ${r.signal}` : ''}):\n${r.out}`);
}

function readState(stateDir) {
  const st = { gateways: [] };
  const rd = (f) => fs.readFileSync(path.join(stateDir, f), 'utf8').trim();
  for (const f of fs.readdirSync(stateDir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const m = /^(gw\d+)\.pid$/.exec(f);
    if (m) st.gateways.push({ name: m[1], pid: Number(rd(f)), port: Number(rd(`${m[1]}.port`)) });
  }
  st.redis = { pid: Number(rd('redis.pid')), port: Number(rd('redis.port')) };
  st.nginx = { pid: Number(rd(path.join('nginx', 'nginx.pid'))) };
  return st;
}

// Running (not zombie) processes whose command line mentions needle.
function processesMentioning(needle) {
  const found = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
      if (cmd.includes(needle) && state !== 'Z' && state !== 'X') found.push(`${d}: ${cmd.trim()}`);
    } catch (e) {
      /* gone */
    }
  }
  return found;
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch (e) {
    return false;
  }
}

// Gateway connection count from its /metrics (chat_connections).
async function connections(gwPort) {
  const n = (await h.getMetrics(url(gwPort))).get('chat_connections');
  if (n === undefined) throw new Error(`no chat_connections in /metrics of :${gwPort}`);
  return n;
}

let failures = 0;
function check(cond, msg) {
  if (cond) log(`ok   ${msg}`);
  else {
    failures++;
    log(`FAIL ${msg}`);
  }
  return cond;
}
const failed = () => failures;

module.exports = {
  repo, clusterSh, SKIP, log, freePort, delay, waitUntil, waitFor, httpGet, url, connect, seen, emitAck,
  makeStateDir, cluster, clusterUpOrSkip, readState, processesMentioning, alive, connections, check, failed,
};
