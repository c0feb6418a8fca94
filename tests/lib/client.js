// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/client.js — socket.io-client sockets for tests, and the event
 * recorder that buffers every event a socket receives so a test acts first
 * and awaits the event after, without a race. The API is documented in
 * tests/lib/harness.js (the facade).
 *   connect, clientPool, record, emit, emitAck, waitFor, expectNo, takeAll,
 *   history, clearEvents, waitDisconnect, killTransport, NONE, TRANSPORT
 *
 * $GW_TRANSPORT picks the transports connect() asks for (raw WebSocket and
 * raw polling helpers are not affected):
 *   websocket (default)  transports: ['websocket'], as before;
 *   polling              transports: ['polling'] (never upgrades);
 *   default              no transports option: socket.io-client's own
 *                        default, long-polling then the upgrade.
 * An explicit opts.transports always wins.
 */

const http = require('node:http');

const { io } = require('socket.io-client');

const { DEFAULT_TIMEOUT_MS, delay, short, predName } = require('./util');

const NONE = Symbol('no payload');

let sockCounter = 0;

const TRANSPORT = (process.env.GW_TRANSPORT || 'websocket').toLowerCase();
const TRANSPORT_OPTS = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
  default: {},
}[TRANSPORT];
if (!TRANSPORT_OPTS) throw new Error(`GW_TRANSPORT must be websocket, polling or default, not ${TRANSPORT}`);

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
  const transports = 'transports' in ioOpts ? ioOpts.transports : TRANSPORT_OPTS.transports;
  // Polling requests go through an Agent of this socket's own, so that
  // killTransport can drop their TCP connections.
  const agent = !('agent' in ioOpts) && (!transports || transports.includes('polling'))
    ? new http.Agent({ keepAlive: false }) : undefined;
  const sock = io(url, {
    ...TRANSPORT_OPTS,
    reconnection: false,
    forceNew: true,
    timeout,
    ...(agent ? { agent } : {}),
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

/* killTransport kills |sock|'s Engine.IO transport the way a dead network
 * would, sending nothing (no close packet): a WebSocket is terminated (TCP
 * dropped); over polling the pending GET's TCP connection is dropped and
 * the client goes silent. An upgrade in progress is let finish first. */
async function killTransport(sock) {
  const engine = sock.io.engine;
  if (!engine) return;
  if (engine.upgrading) {
    await new Promise((resolve) => {
      const done = () => {
        engine.off('upgrade', done);
        engine.off('upgradeError', done);
        resolve();
      };
      engine.on('upgrade', done);
      engine.on('upgradeError', done);
    });
  }
  const t = engine.transport;
  if (t.name === 'websocket') {
    t.ws.terminate();
    return;
  }
  if (t.name !== 'polling') throw new Error(`killTransport: unknown transport ${t.name}`);
  const agent = sock.io.opts.agent;
  if (!agent || !agent.sockets) throw new Error('killTransport: the socket has no Agent of its own (opts.agent)');
  // Wait until a GET has been on the wire for 50 ms, so that the server
  // holds it as the pending poll (a GET dropped before the server read it
  // would leave the session to the ping timeout, as a network would).
  const since = new Map();
  const deadline = Date.now() + 3000;
  for (;;) {
    const get = Object.values(agent.sockets).flat().find((c) =>
      !c.connecting && c.bytesWritten > 0 && c._httpMessage && c._httpMessage.method === 'GET');
    if (get) {
      if (!since.has(get)) since.set(get, Date.now());
      else if (Date.now() - since.get(get) >= 50) break;
    }
    if (Date.now() > deadline) throw new Error('killTransport: no poll request in flight');
    await delay(10);
  }
  // Silent from now on, then the TCP connections of the requests in flight
  // (the pending GET at least) are dropped, with no await in between.
  // (xhr.abort() would crash xmlhttprequest-ssl 2.x, which reads the
  // request it has just nulled.)
  t.doPoll = () => {};
  t.doWrite = () => {};
  for (const c of Object.values(agent.sockets).flat()) c.destroy();
}

module.exports = {
  NONE,
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
  TRANSPORT,
};
