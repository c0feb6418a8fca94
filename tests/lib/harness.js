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
 * Raw transports (rawws.js, which documents them in full); both share
 * RawConn:
 *   rawWs(url, path=SIO_PATH, {autoPong=true, headers, protocol}) -> RawConn
 *       (`ws` WebSocket; ws.opened rejects with err.statusCode on an HTTP
 *       error answer)
 *   rawTcpWs(url, path=SIO_PATH, {autoPong=true, headers}) -> RawConn  a
 *       hand-made WebSocket client over `net`: sendFrame(opcode, payload,
 *       {fin, mask, rsv, key, length}) can send anything (invalid UTF-8, odd
 *       opcodes, lying lengths), sendRaw(bytes) any bytes; pause()/resume()
 *       stop/restart reading from the socket (a slow reader); wire lists
 *       every frame received, decoder.errors what breaks RFC 6455.
 *   RawConn = {opened: Promise, frames: [{data (string, or Buffer when
 *       binary), binary, t, used}], send(str|Buffer), next(pred?, timeoutMs)
 *       -> Promise<frame data> (consumes; pings are auto-answered and
 *       skipped unless pred asks for them), closed: Promise<{code, reason}>,
 *       isOpen(), close(code?), terminate(),
 *       Socket.IO helpers: handshake() -> open packet JSON, sioConnect(auth?,
 *       nsp?) -> CONNECT reply JSON, emit(ev, payload, ackId?),
 *       request(ev, payload) -> ack arg, waitEvent(ev, pred?, timeoutMs)}
 *   SIO_PATH = '/socket.io/?EIO=4&transport=websocket'
 *   encodeFrame(opcode, payload, {fin, mask, rsv, key, length}) -> Buffer
 *       one client frame; decodeFrame(buf) -> frame | null
 *
 * HTTP and metrics:
 *   httpGet(url, path, {headers, timeoutMs}) -> Promise<{status, headers,
 *       body (Buffer), text}>
 *   rawHttp(url, requestText) -> Promise<string>  raw bytes in, raw response
 *       out (for paths that fetch would normalise)
 *   getMetrics(url) -> Promise<{text, get(name, labels?) -> number|undefined}>
 *   rssKb(pid) -> number  VmRSS of a process in kB
 *
 * Utilities (util.js, but NONE and MODE): delay(ms),
 *   waitUntil(fn, timeoutMs, intervalMs, what), withTimeout(promise, ms,
 *   what) (rejects "timed out after ms ms: what"), NONE,
 *   DEFAULT_TIMEOUT_MS ($GW_TEST_TIMEOUT_MS, else 3000), ROOT (repository
 *   root).
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

const { SIO_PATH, rawWs, rawTcpWs, encodeFrame, decodeFrame } = require('./rawws');
const { ROOT, DEFAULT_TIMEOUT_MS, delay, waitUntil, withTimeout, short, predName } = require('./util');

const MODE = (process.env.GW_MODE || 'memory').toLowerCase();
const NONE = Symbol('no payload');
const LOG_CAP = 4 * 1024 * 1024;

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
