// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/harness.js — the shared Node harness for chat-gateway tests.
 * CommonJS, Node >= 20, no dependencies beyond the root node_modules
 * (socket.io-client, ws). Browser, cluster and deploy suites reuse it: keep
 * this API stable; add, do not change.
 *
 * Processes (every child is killed when the test process exits, even on a
 * crash or a SIGKILL of the runner: a detached watchdog kills the recorded
 * pids once our pid is gone):
 *   freePort() -> Promise<number>            a free loopback TCP port
 *   startRedis({port?, args?}) -> Promise<Redis>
 *       real `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no`,
 *       resolved once PING answers PONG.
 *       Redis = {port, url ('redis://127.0.0.1:P'), proc, pid, logs(),
 *                command(...args) -> Promise<reply>, stop(sig='SIGTERM')
 *                -> Promise<code|signal>, kill(sig='SIGKILL'), exited}
 *   redisCommand(port, ...args) -> Promise<reply>   one RESP command
 *   startGateway({bin?, port?, args?:[], env?:{}, redisUrl?, nodeId?,
 *                 readyTimeoutMs?}) -> Promise<Gateway>
 *       binary: opts.bin, else $CHAT_GATEWAY_BIN, else <repo>/build/chat-gateway.
 *       Always passes --host 127.0.0.1 --port P (+ --redis, --node-id when
 *       given, + --log-level $GW_LOG_LEVEL|info unless args has one), then
 *       args verbatim (e.g. ['--web-root', dir, '--rate-limit', '5']).
 *       Inherited CHAT_* and REDIS_URL variables are removed from the child's
 *       environment (so only args/env decide its configuration).
 *       With --tls-cert in args (or CHAT_TLS_CERT in env) url is https://
 *       and the probes use TLS (self-signed certificates accepted).
 *       Resolves once GET /healthz answers 200. GW_VERBOSE=1 mirrors the
 *       gateway's stderr to ours.
 *       Gateway = {port, url ('http://127.0.0.1:P'), proc, pid, args,
 *                  logs() (stderr text so far), running(),
 *                  exited (Promise<{code, signal}>),
 *                  stop(signal='SIGTERM', timeoutMs=15000) -> Promise<code>
 *                    (exit code number, or the signal name if it died by a
 *                     signal; SIGKILLed after timeoutMs -> 'SIGKILL'),
 *                  kill(sig='SIGKILL')}
 *   startCluster({gateways=1, redis=false, args=[], env={}}) -> Promise<Cluster>
 *       gateways=1, redis=false is one gateway on the in-memory adapter; with
 *       redis=true one redis-server and N gateways on it (node ids node-<i>).
 *       Cluster = {urls, gateways, redis, mode, nextUrl() (round-robin),
 *                  connect(opts) (socket on nextUrl()),
 *                  stop() -> Promise<[exit codes]>}
 *   MODE ($GW_MODE: 'memory' (default) or 'redis')
 *   startModeCluster({args, env}) -> Cluster: 1 in-memory gateway, or with
 *       GW_MODE=redis 3 gateways on one real redis-server.
 *
 * socket.io-client:
 *   connect(url, opts?) -> Promise<Socket>  transports ['websocket'],
 *       reconnection false, forceNew true (one Engine.IO connection per
 *       socket) unless opts override; rejects on connect_error. Every event
 *       the socket receives is recorded from creation on (see below).
 *   clientPool(clusterOrUrl) -> {client(opts) -> Promise<Socket> (round-robin
 *       over the cluster), sockets, closeAll() -> Promise}
 *   emit(sock, ev, payload?)  emit without ack (payload undefined = none)
 *   emitAck(sock, ev, payload?, timeoutMs=3000) -> Promise<ack arg>
 *       payload undefined (or NONE) sends the event with no argument.
 *   Recorder — the socket's received events are buffered with a "consumed"
 *   flag, so a test never races: act, then await the event.
 *   waitFor(sock, ev, predicate?, timeoutMs=3000) -> Promise<payload>
 *       the first not-yet-consumed `ev` (payload = first argument) for which
 *       predicate(payload, args) is truthy, already received or arriving
 *       later; it is marked consumed. On timeout the error lists everything
 *       the socket received. Pseudo-events: '$connect', '$disconnect'
 *       (payload = reason), '$connect_error'.
 *   expectNo(sock, ev, ms=300, predicate?) -> Promise  waits ms, then throws
 *       if any not-yet-consumed `ev` (matching predicate) was received.
 *   takeAll(sock, ev, predicate?) -> [payload]  consumes what is buffered.
 *   history(sock, ev?) -> [{ev, args, payload, t, used}]  everything (no
 *       consuming).
 *   clearEvents(sock, ev?)  marks everything buffered as consumed.
 *   waitDisconnect(sock, timeoutMs) -> Promise<reason>
 *
 * Raw transports (for transport-level tests); both share RawConn:
 *   rawWs(url, path=SIO_PATH, {autoPong=true, headers, protocol}) -> RawConn
 *       (`ws` WebSocket; ws.opened rejects with err.statusCode on an HTTP
 *       error answer)
 *   rawTcpWs(url, path=SIO_PATH, {autoPong=true}) -> RawConn  a hand-made
 *       WebSocket client over `net`: sendFrame(opcode, payload, {fin, mask})
 *       can send anything (invalid UTF-8, odd opcodes); pause()/resume()
 *       stop/restart reading from the socket (a slow reader).
 *   RawConn = {opened: Promise, frames: [{data (string, or Buffer when
 *       binary), binary, t, used}], send(str|Buffer), next(pred?, timeoutMs)
 *       -> Promise<frame data> (consumes; pings are auto-answered and
 *       skipped unless pred asks for them), closed: Promise<{code, reason}>,
 *       isOpen(), close(code?), terminate(),
 *       Socket.IO helpers: handshake() -> open packet JSON, sioConnect(auth?,
 *       nsp?) -> CONNECT reply JSON, emit(ev, payload, ackId?),
 *       request(ev, payload) -> ack arg, waitEvent(ev, pred?, timeoutMs)}
 *   SIO_PATH = '/socket.io/?EIO=4&transport=websocket'
 *
 * HTTP and metrics:
 *   httpGet(url, path, {headers, timeoutMs}) -> Promise<{status, headers,
 *       body (Buffer), text}>
 *   rawHttp(url, requestText) -> Promise<string>  raw bytes in, raw response
 *       out (for paths that fetch would normalise)
 *   getMetrics(url) -> Promise<{text, get(name, labels?) -> number|undefined}>
 *   rssKb(pid) -> number  VmRSS of a process in kB
 *
 * Utilities: delay(ms), waitUntil(fn, timeoutMs, intervalMs, what), NONE,
 *   DEFAULT_TIMEOUT_MS, ROOT (repository root).
 */

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { io } = require('socket.io-client');
const WebSocket = require('ws');

const ROOT = path.resolve(__dirname, '..', '..');
const MODE = (process.env.GW_MODE || 'memory').toLowerCase();
const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';
const DEFAULT_TIMEOUT_MS = Number(process.env.GW_TEST_TIMEOUT_MS || 3000);
const NONE = Symbol('no payload');
const LOG_CAP = 4 * 1024 * 1024;

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/* ------------------------------------------------------------------ */
/* Child process registry and watchdog                                 */
/* ------------------------------------------------------------------ */

const children = new Set();
const pidFile = path.join(os.tmpdir(), `chat-gw-harness-${process.pid}.pids`);
let watchdog = null;

function writePids() {
  try {
    fs.writeFileSync(pidFile, [...children].map((p) => p.pid).join(' '));
  } catch (_) {
    /* best effort */
  }
}

function ensureWatchdog() {
  if (watchdog) return;
  const script =
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
    `if [ -f '${pidFile}' ]; then for p in $(cat '${pidFile}'); do ` +
    `kill -9 "$p" 2>/dev/null; done; rm -f '${pidFile}'; fi`;
  watchdog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
  watchdog.unref();
}

function track(proc) {
  children.add(proc);
  writePids();
  ensureWatchdog();
  proc.once('exit', () => {
    children.delete(proc);
    writePids();
  });
}

process.on('exit', () => {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch (_) {
      /* already gone */
    }
  }
  try {
    fs.unlinkSync(pidFile);
  } catch (_) {
    /* none */
  }
  if (watchdog) {
    try {
      watchdog.kill('SIGKILL');
    } catch (_) {
      /* gone */
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => process.exit(128 + (os.constants.signals[sig] || 0)));
}

function collect(stream, sink, mirror) {
  if (!stream) return;
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    sink.text += d;
    if (sink.text.length > LOG_CAP) sink.text = sink.text.slice(-LOG_CAP / 2);
    if (mirror) process.stderr.write(d);
  });
}

function exitPromise(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, signal: proc.signalCode });
      return;
    }
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function stopProc(proc, exited, signal, timeoutMs) {
  if (proc.exitCode === null && proc.signalCode === null) {
    try {
      proc.kill(signal);
    } catch (_) {
      /* raced with exit */
    }
  }
  let timer;
  const r = await Promise.race([
    exited,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (r) return r.code !== null ? r.code : r.signal;
  try {
    proc.kill('SIGKILL');
  } catch (_) {
    /* gone */
  }
  await exited;
  return 'SIGKILL';
}

async function waitUntil(fn, timeoutMs = 5000, intervalMs = 25, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (last ? ` (last error: ${last.message})` : ''));
    }
    await delay(intervalMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/* ------------------------------------------------------------------ */
/* Redis                                                                */
/* ------------------------------------------------------------------ */

function respEncode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(`$${b.length}\r\n`, b, '\r\n');
  }
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

// Parses one RESP reply from buf at off; returns [value, nextOff] or null.
function respParse(buf, off = 0) {
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-': {
      const e = new Error(line);
      e.redisError = true;
      return [e, next];
    }
    case ':':
      return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const out = [];
      let o = next;
      for (let i = 0; i < n; i++) {
        const r = respParse(buf, o);
        if (!r) return null;
        out.push(r[0]);
        o = r[1];
      }
      return [out, o];
    }
    default:
      throw new Error(`bad RESP reply: ${JSON.stringify(buf.toString())}`);
  }
}

function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`redis ${args[0]} on :${port} timed out`));
    }, 3000);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => s.write(respEncode(args)));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = respParse(buf);
      if (!r) return;
      clearTimeout(timer);
      s.destroy();
      if (r[0] instanceof Error) reject(r[0]);
      else resolve(r[0]);
    });
  });
}

async function startRedis(opts = {}) {
  const port = opts.port || (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', ...(opts.args || [])];
  const proc = spawn(opts.bin || 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  const log = { text: '' };
  collect(proc.stdout, log, false);
  collect(proc.stderr, log, false);
  const exited = exitPromise(proc);
  let dead = false;
  exited.then(() => {
    dead = true;
  });
  try {
    await waitUntil(async () => {
      if (dead) throw new Error(`redis-server exited early:\n${log.text}`);
      return (await redisCommand(port, 'PING')) === 'PONG';
    }, 10000, 25, `redis-server on :${port} to answer PING`);
  } catch (e) {
    await stopProc(proc, exited, 'SIGKILL', 2000);
    throw new Error(`${e.message}\n${log.text}`);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc,
    pid: proc.pid,
    exited,
    logs: () => log.text,
    command: (...a) => redisCommand(port, ...a),
    stop: (signal = 'SIGTERM', timeoutMs = 10000) => stopProc(proc, exited, signal, timeoutMs),
    kill: (signal = 'SIGKILL') => {
      try {
        proc.kill(signal);
      } catch (_) {
        /* gone */
      }
    },
  };
}

/* ------------------------------------------------------------------ */
/* Gateway                                                              */
/* ------------------------------------------------------------------ */

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
  const proc = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv(opts.env),
    cwd: opts.cwd || ROOT,
  });
  track(proc);
  const log = { text: '' };
  const mirror = process.env.GW_VERBOSE === '1';
  collect(proc.stderr, log, mirror);
  collect(proc.stdout, log, mirror);
  const exited = exitPromise(proc);
  let dead = null;
  exited.then((r) => {
    dead = r;
  });
  // --tls-cert (flag or CHAT_TLS_CERT): the gateway speaks https/wss only.
  const tls = userArgs.includes('--tls-cert') || Boolean(opts.env && opts.env.CHAT_TLS_CERT);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const gw = {
    port,
    url,
    proc,
    pid: proc.pid,
    args,
    bin,
    exited,
    logs: () => log.text,
    running: () => dead === null,
    stop: (signal = 'SIGTERM', timeoutMs = 15000) => stopProc(proc, exited, signal, timeoutMs),
    kill: (signal = 'SIGKILL') => {
      try {
        proc.kill(signal);
      } catch (_) {
        /* gone */
      }
    },
  };
  try {
    await waitUntil(async () => {
      if (dead) {
        const e = new Error(`chat-gateway exited early (code ${dead.code}, signal ${dead.signal})`);
        e.early = true;
        throw e;
      }
      const r = await httpGet(url, '/healthz', { timeoutMs: 1000 });
      return r.status === 200;
    }, opts.readyTimeoutMs || 15000, 25, `${bin} /healthz on :${port}`);
  } catch (e) {
    await stopProc(proc, exited, 'SIGKILL', 2000);
    const err = new Error(`${e.message}\nargs: ${args.join(' ')}\n--- gateway log ---\n${log.text}`);
    err.logs = log.text;
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

/* ------------------------------------------------------------------ */
/* socket.io-client sockets and the event recorder                      */
/* ------------------------------------------------------------------ */

let sockCounter = 0;

function short(v, n = 160) {
  let s;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
  } catch (_) {
    s = String(v);
  }
  if (s === undefined) s = 'undefined';
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}

function label(sock) {
  return sock && sock.rec ? sock.rec.label : 'socket';
}

function describeEvents(rec, max = 40) {
  const list = rec.events.slice(-max).map((e) =>
    `${e.used ? '(consumed) ' : ''}${e.ev} ${e.args.map((a) => short(a instanceof Error ? a.message : a)).join(', ')}`);
  const more = rec.events.length > max ? ` (+${rec.events.length - max} earlier)` : '';
  return list.length ? `\n    ${list.join('\n    ')}${more}` : ' nothing';
}

function record(sock, name) {
  if (sock.rec) return sock.rec;
  const rec = { events: [], waiters: new Set(), label: name || `sock#${++sockCounter}` };
  sock.rec = rec;
  const push = (ev, args) => {
    const e = { ev, args, payload: args[0], t: Date.now(), used: false };
    rec.events.push(e);
    for (const w of [...rec.waiters]) w(e);
  };
  sock.onAny((ev, ...args) => push(ev, args));
  sock.on('connect', () => {
    rec.label = `${rec.label.split('[')[0]}[${sock.id}]`;
    push('$connect', [sock.id]);
  });
  sock.on('disconnect', (reason, details) => {
    rec.disconnectReason = reason;
    push('$disconnect', [reason, details]);
  });
  sock.on('connect_error', (err) => push('$connect_error', [err]));
  return rec;
}

function connect(url, opts = {}) {
  const { timeout = 5000, name, ...ioOpts } = opts;
  const sock = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout,
    ...ioOpts,
  });
  record(sock, name);
  sock.rec.url = url;
  return new Promise((resolve, reject) => {
    const done = () => {
      sock.off('connect', onOk);
      sock.off('connect_error', onErr);
    };
    const onOk = () => {
      done();
      resolve(sock);
    };
    const onErr = (err) => {
      done();
      sock.close();
      reject(new Error(`connect_error from ${url}: ${err && err.message}`));
    };
    sock.on('connect', onOk);
    sock.on('connect_error', onErr);
  });
}

function clientPool(target) {
  const sockets = [];
  const next = typeof target === 'string' ? () => target : () => target.nextUrl();
  return {
    sockets,
    async client(opts) {
      const s = await connect(next(), opts);
      sockets.push(s);
      return s;
    },
    async closeAll() {
      const open = sockets.splice(0);
      for (const s of open) {
        if (s.connected) s.disconnect();
        else s.close();
      }
    },
  };
}

function emit(sock, ev, payload) {
  if (payload === undefined || payload === NONE) sock.emit(ev);
  else sock.emit(ev, payload);
}

function emitAck(sock, ev, payload, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const args = payload === undefined || payload === NONE ? [] : [payload];
    sock.timeout(timeoutMs).emit(ev, ...args, (err, res) => {
      if (err) {
        reject(new Error(`no ack for ${ev} ${short(payload)} within ${timeoutMs} ms on ` +
          `${label(sock)}; received:${describeEvents(record(sock))}`));
      } else {
        resolve(res);
      }
    });
  });
}

function predName(p) {
  if (!p) return '';
  const s = p.toString().replace(/\s+/g, ' ');
  return `, ${s.length > 140 ? `${s.slice(0, 140)}…` : s}`;
}

function matcher(ev, predicate) {
  return (e) => {
    if (e.used || e.ev !== ev) return false;
    if (!predicate) return true;
    try {
      return !!predicate(e.payload, e.args);
    } catch (_) {
      return false;
    }
  };
}

function waitFor(sock, ev, predicate, timeoutMs) {
  if (typeof predicate === 'number') {
    timeoutMs = predicate;
    predicate = undefined;
  }
  if (timeoutMs === undefined) timeoutMs = DEFAULT_TIMEOUT_MS;
  const rec = record(sock);
  const match = matcher(ev, predicate);
  const found = rec.events.find(match);
  if (found) {
    found.used = true;
    return Promise.resolve(found.payload);
  }
  const stack = new Error().stack;
  return new Promise((resolve, reject) => {
    const w = (e) => {
      if (!match(e)) return;
      e.used = true;
      rec.waiters.delete(w);
      clearTimeout(timer);
      resolve(e.payload);
    };
    const timer = setTimeout(() => {
      rec.waiters.delete(w);
      const err = new Error(`waitFor(${rec.label}, '${ev}'${predName(predicate)}) timed out after ` +
        `${timeoutMs} ms; the socket received:${describeEvents(rec)}`);
      err.stack = `${err.message}\n${stack.split('\n').slice(2).join('\n')}`;
      reject(err);
    }, timeoutMs);
    rec.waiters.add(w);
  });
}

async function expectNo(sock, ev, ms = 300, predicate) {
  if (ms > 0) await delay(ms);
  const rec = record(sock);
  const bad = rec.events.filter(matcher(ev, predicate));
  if (bad.length) {
    const { AssertionError } = require('node:assert');
    throw new AssertionError({
      message: `expected no '${ev}'${predName(predicate)} on ${rec.label}, but it received ` +
        `${bad.map((e) => short(e.payload)).join(' | ')}; everything received:${describeEvents(rec)}`,
    });
  }
}

function takeAll(sock, ev, predicate) {
  const rec = record(sock);
  const m = matcher(ev, predicate);
  const out = [];
  for (const e of rec.events) {
    if (m(e)) {
      e.used = true;
      out.push(e.payload);
    }
  }
  return out;
}

function history(sock, ev) {
  const rec = record(sock);
  return rec.events.filter((e) => ev === undefined || e.ev === ev);
}

function clearEvents(sock, ev) {
  for (const e of record(sock).events) if (ev === undefined || e.ev === ev) e.used = true;
}

function waitDisconnect(sock, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return waitFor(sock, '$disconnect', timeoutMs);
}

/* ------------------------------------------------------------------ */
/* Raw WebSocket connections                                            */
/* ------------------------------------------------------------------ */

class RawConn {
  constructor(label, autoPong) {
    this.label = label;
    this.autoPong = autoPong;
    this.frames = [];
    this.waiters = new Set();
    this.closeInfo = null;
    this.ackSeq = 0;
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
  }

  _frame(data, binary) {
    const f = { data, binary, t: Date.now(), used: false };
    this.frames.push(f);
    if (!binary && data === '2' && this.autoPong && this.isOpen()) {
      f.used = true; // answered here; tests ask for pings explicitly
      this.send('3');
    }
    for (const w of [...this.waiters]) w(f);
  }

  _closed(code, reason) {
    if (this.closeInfo) return;
    this.closeInfo = { code, reason: reason || '', t: Date.now() };
    this._resolveClosed(this.closeInfo);
    for (const w of [...this.waiters]) w(null);
  }

  describe(max = 30) {
    const fr = this.frames.slice(-max).map((f) =>
      `${f.used ? '(consumed) ' : ''}${f.binary ? `<binary ${f.data.length} bytes>` : short(f.data, 200)}`);
    const c = this.closeInfo ? `\n    <closed ${this.closeInfo.code} ${short(this.closeInfo.reason)}>` : '';
    return (fr.length ? `\n    ${fr.join('\n    ')}` : ' no frames') + c;
  }

  // next(pred?, timeoutMs): first unconsumed frame whose data satisfies pred
  // (default: any text frame that is not a ping '2').
  next(pred, timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (typeof pred === 'number') {
      timeoutMs = pred;
      pred = undefined;
    }
    const test = (f) => {
      if (f.used) return false;
      if (!pred) return !f.binary && f.data !== '2';
      try {
        return !!pred(f.data, f);
      } catch (_) {
        return false;
      }
    };
    const found = this.frames.find(test);
    if (found) {
      found.used = true;
      return Promise.resolve(found.data);
    }
    return new Promise((resolve, reject) => {
      const fail = (why) => {
        this.waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`${this.label}: ${why} waiting for a frame${predName(pred)}; ` +
          `frames:${this.describe()}`));
      };
      const w = (f) => {
        if (f === null) {
          fail('connection closed');
          return;
        }
        if (!test(f)) return;
        f.used = true;
        this.waiters.delete(w);
        clearTimeout(timer);
        resolve(f.data);
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      if (this.closeInfo) {
        fail('connection closed');
        return;
      }
      this.waiters.add(w);
    });
  }

  async handshake(timeoutMs) {
    const d = await this.next((s) => typeof s === 'string' && s[0] === '0', timeoutMs);
    return JSON.parse(d.slice(1));
  }

  async sioConnect(auth, nsp, timeoutMs) {
    const prefix = nsp && nsp !== '/' ? `${nsp},` : '';
    this.send(`40${prefix}${auth === undefined ? '' : JSON.stringify(auth)}`);
    const d = await this.next((s) => typeof s === 'string' &&
      (s.startsWith(`40${prefix}`) || s.startsWith(`44${prefix}`)), timeoutMs);
    if (d.startsWith('44')) throw new Error(`${this.label}: CONNECT refused: ${d}`);
    return JSON.parse(d.slice(2 + prefix.length));
  }

  emit(ev, payload, ackId) {
    const arr = payload === undefined ? [ev] : [ev, payload];
    this.send(`42${ackId === undefined ? '' : ackId}${JSON.stringify(arr)}`);
  }

  async request(ev, payload, timeoutMs) {
    const id = this.ackSeq++;
    this.emit(ev, payload, id);
    const d = await this.next((s) => typeof s === 'string' && s.startsWith(`43${id}[`), timeoutMs);
    return JSON.parse(d.slice(2 + String(id).length))[0];
  }

  async waitEvent(ev, pred, timeoutMs) {
    if (typeof pred === 'number') {
      timeoutMs = pred;
      pred = undefined;
    }
    const d = await this.next((s) => {
      if (typeof s !== 'string' || !s.startsWith('42[')) return false;
      const arr = JSON.parse(s.slice(2));
      return arr[0] === ev && (!pred || pred(arr[1]));
    }, timeoutMs);
    return JSON.parse(d.slice(2))[1];
  }
}

function wsUrl(url, p) {
  return url.replace(/^http/, 'ws') + p;
}

function rawWs(url, p = SIO_PATH, opts = {}) {
  const { autoPong = true, headers, protocol, ...wsOpts } = opts;
  const c = new RawConn(`rawWs(${p})`, autoPong);
  const ws = new WebSocket(wsUrl(url, p), protocol, { handshakeTimeout: 5000, headers, ...wsOpts });
  c.ws = ws;
  c.isOpen = () => ws.readyState === WebSocket.OPEN;
  c.send = (data, o) => ws.send(data, o);
  c.close = (code) => ws.close(code);
  c.terminate = () => ws.terminate();
  c.opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const e = new Error(`${c.label}: HTTP ${res.statusCode} instead of 101: ${body}`);
        e.statusCode = res.statusCode;
        e.headers = res.headers;
        e.body = body;
        reject(e);
        c._closed(1006, 'unexpected response');
        req.destroy();
      };
      const timer = setTimeout(finish, 1000); // a body without an end
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    });
    ws.once('error', (e) => {
      reject(e);
    });
  });
  c.opened.catch(() => {});
  ws.on('message', (data, isBinary) => c._frame(isBinary ? data : data.toString('utf8'), isBinary));
  ws.on('close', (code, reason) => c._closed(code, reason.toString()));
  ws.on('error', () => {});
  return c;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/* decodeFrame reads one RFC 6455 frame at the start of |buf|: null when it
 * is not all there yet, else {fin, rsv, opcode, masked, payload (unmasked
 * copy), len, size (bytes the frame took)}. */
function decodeFrame(buf) {
  if (buf.length < 2) return null;
  const fin = (buf[0] & 0x80) !== 0;
  const rsv = (buf[0] >> 4) & 7;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const maskOff = off;
  if (masked) off += 4;
  if (buf.length < off + len) return null;
  const payload = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskOff + (i & 3)];
  return { fin, rsv, opcode, masked, payload, len, size: off + len };
}

/* withTimeout rejects with "timed out after |ms| ms: |what|" unless |p|
 * settles first. */
function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/* encodeFrame builds one client frame. Beyond what a well-behaved client
 * sends it can set RSV bits (|rsv|, RSV1 = 4), a fixed mask |key|, and a
 * header |length| that differs from the payload's (truncated frames). */
function encodeFrame(opcode, payload, { fin = true, mask = true, rsv = 0, key, length } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload || '', 'utf8');
  const len = length === undefined ? data.length : length;
  let head;
  if (len < 126) {
    head = Buffer.alloc(2);
    head[1] = len;
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([head, data]);
  head[1] |= 0x80;
  const k = key || crypto.randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ k[i & 3];
  return Buffer.concat([head, k, masked]);
}

function rawTcpWs(url, p = SIO_PATH, opts = {}) {
  const { autoPong = true } = opts;
  const u = new URL(url);
  const c = new RawConn(`rawTcpWs(${p})`, autoPong);
  const sock = net.connect(Number(u.port), u.hostname);
  c.socket = sock;
  let state = 'http';
  let open = false;
  let buf = Buffer.alloc(0);
  let fragments = null;
  let fragOpcode = 0;
  const key = crypto.randomBytes(16).toString('base64');
  const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
  c.isOpen = () => open && !c.closeInfo;
  c.sendRaw = (b) => sock.write(b);
  c.sendFrame = (opcode, payload, o) => sock.write(encodeFrame(opcode, payload, o));
  c.send = (data) => {
    if (Buffer.isBuffer(data)) c.sendFrame(2, data);
    else c.sendFrame(1, Buffer.from(data, 'utf8'));
  };
  c.close = (code = 1000) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    c.sendFrame(8, b);
  };
  c.terminate = () => sock.destroy();
  c.pause = () => sock.pause();
  c.resume = () => sock.resume();
  c.opened = new Promise((resolve, reject) => {
    c._open = resolve;
    c._openFail = reject;
  });
  c.opened.catch(() => {});
  sock.on('connect', () => {
    sock.write(`GET ${p} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  const onFrame = (opcode, fin, payload) => {
    if (opcode === 8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.toString('utf8', 2) : '';
      c._closed(code, reason);
      try {
        const b = Buffer.alloc(2);
        b.writeUInt16BE(code === 1005 ? 1000 : code);
        sock.end(encodeFrame(8, b));
      } catch (_) {
        /* gone */
      }
      return;
    }
    if (opcode === 9) {
      sock.write(encodeFrame(10, payload));
      return;
    }
    if (opcode === 10) return;
    if (opcode === 0) {
      if (!fragments) return;
      fragments.push(payload);
      if (!fin) return;
      const all = Buffer.concat(fragments);
      fragments = null;
      c._frame(fragOpcode === 1 ? all.toString('utf8') : all, fragOpcode !== 1);
      return;
    }
    if (!fin) {
      fragments = [payload];
      fragOpcode = opcode;
      return;
    }
    c._frame(opcode === 1 ? payload.toString('utf8') : payload, opcode !== 1);
  };
  const parse = () => {
    for (;;) {
      if (state === 'http') {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        buf = buf.subarray(end + 4);
        const status = Number(head.split(' ')[1]);
        c.httpStatus = status;
        c.httpHead = head;
        if (status !== 101 || !head.toLowerCase().includes(accept.toLowerCase())) {
          const e = new Error(`${c.label}: HTTP ${status} instead of 101:\n${head}`);
          e.statusCode = status;
          c._openFail(e);
          sock.destroy();
          return;
        }
        state = 'ws';
        open = true;
        c._open();
        continue;
      }
      const f = decodeFrame(buf);
      if (f === null) return;
      buf = buf.subarray(f.size);
      onFrame(f.opcode, f.fin, f.payload);
    }
  };
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    parse();
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    open = false;
    if (state === 'http') c._openFail(new Error(`${c.label}: connection closed before the upgrade`));
    c._closed(1006, 'tcp closed');
  });
  return c;
}

/* ------------------------------------------------------------------ */
/* HTTP, metrics, process stats                                         */
/* ------------------------------------------------------------------ */

function httpGet(url, p, opts = {}) {
  const u = new URL(url);
  // https: test certificates are self-signed (loopback only).
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({
      host: u.hostname,
      port: u.port,
      path: p,
      method: opts.method || 'GET',
      headers: opts.headers || {},
      agent: false,
      rejectUnauthorized: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs || 5000, () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function rawHttp(url, requestText, timeoutMs = 5000) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    const chunks = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    s.on('connect', () => s.write(requestText));
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

function parseLabels(s) {
  const out = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(s))) out[m[1]] = m[2].replace(/\\(.)/g, (_, ch) => (ch === 'n' ? '\n' : ch));
  return out;
}

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    samples.push({ name: m[1], labels: m[3] ? parseLabels(m[3]) : {}, value: Number(m[4]) });
  }
  return samples;
}

async function getMetrics(url) {
  const r = await httpGet(url, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  const samples = parseMetrics(r.text);
  return {
    text: r.text,
    headers: r.headers,
    samples,
    get(name, labels = {}) {
      const s = samples.find((x) => x.name === name &&
        Object.entries(labels).every(([k, v]) => x.labels[k] === String(v)));
      return s ? s.value : undefined;
    },
  };
}

function rssKb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
  return m ? Number(m[1]) : NaN;
}

module.exports = {
  ROOT,
  MODE,
  SIO_PATH,
  NONE,
  DEFAULT_TIMEOUT_MS,
  delay,
  waitUntil,
  freePort,
  startRedis,
  redisCommand,
  startGateway,
  startCluster,
  startModeCluster,
  connect,
  clientPool,
  record,
  emit,
  emitAck,
  waitFor,
  expectNo,
  takeAll,
  history,
  clearEvents,
  waitDisconnect,
  rawWs,
  rawTcpWs,
  encodeFrame,
  decodeFrame,
  withTimeout,
  httpGet,
  rawHttp,
  getMetrics,
  parseMetrics,
  rssKb,
};
