// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/harness.js — the shared Node harness for chat-gateway tests.
 * CommonJS, Node >= 20, no dependencies beyond the root node_modules
 * (socket.io-client, ws). Browser, cluster and deploy suites reuse it: keep
 * this API stable; add, do not change.
 *
 * This file is the facade: it re-exports the modules beside it, and tests
 * require only it (conformance tests also require rawws.js for its
 * frame-level client). Each section below names the module that holds it:
 *   util.js     constants, delay, waitUntil, withTimeout
 *   procs.js    spawning, the child registry and watchdog, freePort, rssKb
 *   redis.js    startRedis, redisCommand
 *   gateway.js  startGateway, startCluster, startModeCluster, MODE
 *   client.js   socket.io-client sockets and the event recorder
 *   rawws.js    raw WebSocket clients and the RFC 6455 frame codec
 *   rawpoll.js  raw Engine.IO long-polling requests and sessions
 *   http.js     httpGet, rawHttp, getMetrics
 *
 * Processes (procs.js, redis.js, gateway.js; every child is killed when the
 * test process exits, even on a crash or a SIGKILL of the runner: a
 * detached watchdog kills the recorded pids once our pid is gone):
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
 * socket.io-client (client.js):
 *   TRANSPORT ($GW_TRANSPORT: 'websocket' (default), 'polling' or 'default')
 *   connect(url, opts?) -> Promise<Socket>  transports ['websocket'] (with
 *       GW_TRANSPORT=polling ['polling']; =default no transports option,
 *       so polling then the upgrade), reconnection false, forceNew true
 *       (one Engine.IO connection per socket) unless opts override; rejects
 *       on connect_error. Every event the socket receives is recorded from
 *       creation on (see below).
 *   killTransport(sock) -> Promise  drops the socket's transport as a dead
 *       network would (WebSocket terminated, or the pending poll's TCP
 *       connection dropped), sending nothing
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
 * Raw long-polling (rawpoll.js, which documents it in full):
 *   eioRequest(url, {method, path=POLL_PATH, query, headers, body, agent,
 *       localAddress, timeoutMs}) -> Promise<{status, headers, text, body,
 *       json()}>  one plain HTTP request
 *   rawPoll(url, {headers, localAddress, agent}) -> RawPoll  one Engine.IO
 *       session over polling through a keep-alive Agent: open(), get(),
 *       post(body), poll(), pollUntil(pred), loop()/stopLoop(), next(pred),
 *       sioConnect(), emit(), request(), waitEvent(), close(), destroy()
 *   POLL_PATH = '/socket.io/?EIO=4&transport=polling', RS = '\x1e'
 *
 * HTTP and metrics (http.js; rssKb in procs.js):
 *   httpGet(url, path, {headers, timeoutMs}) -> Promise<{status, headers,
 *       body (Buffer), text}>
 *   rawHttp(url, requestText) -> Promise<string>  raw bytes in, raw response
 *       out (for paths that fetch would normalise)
 *   getMetrics(url) -> Promise<{text, get(name, labels?) -> number|undefined}>
 *   rssKb(pid) -> number  VmRSS of a process in kB
 *
 * Utilities (util.js; NONE in client.js, MODE in gateway.js): delay(ms),
 *   waitUntil(fn, timeoutMs, intervalMs, what), withTimeout(promise, ms,
 *   what) (rejects "timed out after ms ms: what"), NONE,
 *   DEFAULT_TIMEOUT_MS ($GW_TEST_TIMEOUT_MS, else 3000), ROOT (repository
 *   root).
 */

const { ROOT, DEFAULT_TIMEOUT_MS, delay, waitUntil, withTimeout } = require('./util');
const { freePort, rssKb } = require('./procs');
const { startRedis, redisCommand } = require('./redis');
const { MODE, startGateway, startCluster, startModeCluster } = require('./gateway');
const {
  NONE, TRANSPORT, connect, clientPool, record, emit, emitAck, waitFor, expectNo, takeAll, history,
  clearEvents, waitDisconnect, killTransport,
} = require('./client');
const { SIO_PATH, rawWs, rawTcpWs, encodeFrame, decodeFrame } = require('./rawws');
const { httpGet, rawHttp, getMetrics, parseMetrics } = require('./http');
const { POLL_PATH, RS, eioRequest, rawPoll } = require('./rawpoll');

module.exports = {
  ROOT,
  MODE,
  TRANSPORT,
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
  killTransport,
  rawWs,
  rawTcpWs,
  encodeFrame,
  decodeFrame,
  POLL_PATH,
  RS,
  eioRequest,
  rawPoll,
  withTimeout,
  httpGet,
  rawHttp,
  getMetrics,
  parseMetrics,
  rssKb,
};
