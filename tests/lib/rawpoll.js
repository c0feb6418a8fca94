// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/rawpoll.js — a raw Engine.IO v4 HTTP long-polling client for
 * transport-level tests: every request is one plain node:http request
 * through a keep-alive Agent, and every answer (status, headers, exact
 * body) is handed back as it came, nothing "fixed". Part of the harness
 * (tests/lib/harness.js re-exports it).
 *
 *   POLL_PATH = '/socket.io/?EIO=4&transport=polling'
 *   RS = '\x1e' (the record separator between the packets of a payload)
 *   eioRequest(url, {method='GET', path=POLL_PATH, query, headers, body,
 *       agent, localAddress, timeoutMs=5000}) -> Promise<Resp>
 *       one request; query (object or 'k=v&...' string) is appended to
 *       path. Resp = {status, headers, text, body (Buffer), json() (the
 *       body parsed, or undefined)}. Rejects on a transport error (err.code,
 *       e.g. ECONNRESET when the server drops the request) or a timeout
 *       (err.code 'ETIMEDOUT'); an answer that arrived before the error
 *       still resolves (a 413 sent while the body was being written).
 *   rawPoll(url, {headers, localAddress, agent, path=POLL_PATH})
 *       -> RawPoll, one Engine.IO session over polling:
 *     open(query?) -> open packet JSON (asserts 200 and a '0' packet);
 *         sid, openPacket, openResp (the raw answer)
 *     get(opts) / post(body, opts) -> Resp  a GET / POST carrying the sid
 *         (opts as eioRequest; post's Content-Type is text/plain;
 *         charset=UTF-8 like engine.io-client's unless opts.headers says)
 *     poll(opts) -> [packet]  a GET that must answer 200; the payload split
 *         on RS; every packet is also appended to received
 *     pollUntil(pred, {timeoutMs=3000, autoPong=true}) -> packet  polls
 *         until a packet for which pred(packet) holds arrives (already
 *         received and unconsumed ones count first); pings ('2') are
 *         answered with a POST '3' when autoPong; consumed packets are
 *         marked in received
 *     loop({autoPong=true}) -> Promise<end>  polls in the background until
 *         stopLoop() or the session ends; end = {reason ('stopped', 'close'
 *         (a '1' packet), 'status' (a non-200 answer), 'error'), resp, err}.
 *         Packets go to received; next(pred, timeoutMs) waits for one.
 *     stopLoop()  the loop issues no new GET; the one in flight finishes
 *     next(pred?, timeoutMs=3000) -> packet  the first unconsumed received
 *         packet for which pred holds (default: any but '2'), already
 *         received or arriving later; marks it consumed
 *     sioConnect(auth?) -> CONNECT reply JSON  POST '40' (+auth), then the
 *         '40{...}' reply (rejects on '44')
 *     emit(ev, payload?, ackId?)  POST one Socket.IO EVENT ('42', '42<id>')
 *     request(ev, payload, timeoutMs) -> the ack's first argument (ids
 *         count from 1)
 *     waitEvent(ev, pred?, timeoutMs) -> payload  the next '42["ev",x]'
 *     close() -> Resp|null  POST '1' (errors ignored); destroy() drops the
 *         Agent's sockets (call it at the end of a test)
 *   splitPayload(text) -> [packet]; sioEvent(packet) -> [ev, ...args] for a
 *   '42' packet, else null.
 */

const http = require('node:http');

const { DEFAULT_TIMEOUT_MS, short, predName } = require('./util');

const POLL_PATH = '/socket.io/?EIO=4&transport=polling';
const RS = '\x1e';

function withQuery(p, query) {
  if (!query) return p;
  const q = typeof query === 'string' ? query : new URLSearchParams(query).toString();
  if (!q) return p;
  return p + (p.includes('?') ? '&' : '?') + q;
}

function eioRequest(url, opts = {}) {
  const u = new URL(url);
  const method = opts.method || 'GET';
  const p = withQuery(opts.path || POLL_PATH, opts.query);
  const body = opts.body === undefined ? null : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(String(opts.body), 'utf8');
  const headers = { ...(opts.headers || {}) };
  if (body && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
    headers['Content-Length'] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(v);
    };
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: p,
      method,
      headers,
      agent: opts.agent === undefined ? false : opts.agent,
      localAddress: opts.localAddress,
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      const done = () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        finish(resolve, {
          status: res.statusCode,
          headers: res.headers,
          body: buf,
          text,
          json() {
            try {
              return JSON.parse(text);
            } catch (_) {
              return undefined;
            }
          },
        });
      };
      res.on('end', done);
      res.on('error', (e) => finish(reject, e));
      res.on('aborted', () => finish(reject, Object.assign(new Error(`${method} ${p}: answer aborted`), { code: 'ECONNRESET' })));
    });
    const ms = opts.timeoutMs || 5000;
    const timer = setTimeout(() => {
      const e = Object.assign(new Error(`${method} ${p} timed out after ${ms} ms`), { code: 'ETIMEDOUT' });
      req.destroy(e);
      finish(reject, e);
    }, ms);
    req.on('error', (e) => {
      // A response already being read wins over a write error (EPIPE after
      // an early 413, for example): its 'end' or 'aborted' settles.
      if (req.res && !req.res.complete && !req.res.destroyed) return;
      if (req.reusedSocket && !req.res) {
        const why = ` (${method} ${p} on a kept-alive connection: the server closed it after its ` +
          'previous answer without sending Connection: close)';
        e.message += why;
        if (typeof e.stack === 'string') e.stack = e.stack.replace(/^([^\n]*)/, `$1${why}`);
      }
      finish(reject, e);
    });
    if (body) req.end(body);
    else req.end();
  });
}

function splitPayload(text) {
  return text.length ? text.split(RS) : [];
}

function sioEvent(packet) {
  const m = /^42(\d*)(\[.*)$/s.exec(packet);
  if (!m) return null;
  try {
    const arr = JSON.parse(m[2]);
    return Array.isArray(arr) ? arr : null;
  } catch (_) {
    return null;
  }
}

class RawPoll {
  constructor(url, opts = {}) {
    this.url = url;
    this.path = opts.path || POLL_PATH;
    this.headers = opts.headers || {};
    this.localAddress = opts.localAddress;
    this.ownAgent = !opts.agent;
    this.agent = opts.agent || new http.Agent({ keepAlive: true });
    this.sid = null;
    this.openPacket = null;
    this.received = []; // {data, t, used}
    this.waiters = new Set();
    this.nextAck = 1;
    this.looping = false;
  }

  req(method, opts = {}) {
    return eioRequest(this.url, {
      method,
      path: this.path,
      agent: this.agent,
      localAddress: this.localAddress,
      ...opts,
      headers: { ...this.headers, ...(opts.headers || {}) },
      query: opts.query !== undefined ? opts.query : this.sid ? { sid: this.sid } : undefined,
    });
  }

  async open(query) {
    const r = await this.req('GET', { query: query || '' });
    this.openResp = r;
    if (r.status !== 200 || r.text[0] !== '0') {
      throw new Error(`polling handshake: HTTP ${r.status} ${short(r.text)}`);
    }
    this.openPacket = JSON.parse(r.text.slice(1));
    this.sid = this.openPacket.sid;
    return this.openPacket;
  }

  get(opts = {}) {
    return this.req('GET', opts);
  }

  post(body, opts = {}) {
    return this.req('POST', {
      ...opts,
      body,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...(opts.headers || {}) },
    });
  }

  push(packets) {
    for (const data of packets) {
      const e = { data, t: Date.now(), used: false };
      this.received.push(e);
      for (const w of [...this.waiters]) w(e);
    }
  }

  async poll(opts = {}) {
    const r = await this.get(opts);
    if (r.status !== 200) throw new Error(`poll on ${this.sid}: HTTP ${r.status} ${short(r.text)}`);
    const packets = splitPayload(r.text);
    this.push(packets);
    return packets;
  }

  describe(max = 30) {
    const list = this.received.slice(-max).map((e) => `${e.used ? '(consumed) ' : ''}${short(e.data)}`);
    return list.length ? `\n    ${list.join('\n    ')}` : ' nothing';
  }

  take(pred) {
    const e = this.received.find((x) => !x.used && pred(x.data));
    if (!e) return undefined;
    e.used = true;
    return e;
  }

  async pollUntil(pred, { timeoutMs = DEFAULT_TIMEOUT_MS, autoPong = true } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.take(pred);
      if (hit) return hit.data;
      if (autoPong) {
        const ping = this.take((d) => d === '2');
        if (ping) {
          const r = await this.post('3');
          if (r.status !== 200) throw new Error(`pong POST on ${this.sid}: HTTP ${r.status} ${short(r.text)}`);
          continue;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`pollUntil(${this.sid}${predName(pred)}) timed out after ${timeoutMs} ms; received:${this.describe()}`);
      }
      await this.poll({ timeoutMs: Math.max(left, 100) });
    }
  }

  loop({ autoPong = true } = {}) {
    this.looping = true;
    this.loopDone = (async () => {
      for (;;) {
        if (!this.looping) return { reason: 'stopped' };
        let r;
        try {
          r = await this.get({ timeoutMs: 60000 });
        } catch (err) {
          return { reason: 'error', err };
        }
        if (r.status !== 200) return { reason: 'status', resp: r };
        const packets = splitPayload(r.text);
        this.push(packets);
        if (packets.includes('1')) return { reason: 'close', resp: r };
        if (autoPong && packets.includes('2')) {
          for (const e of this.received) if (!e.used && e.data === '2') e.used = true;
          try {
            await this.post('3');
          } catch (_) { /* the next GET reports it */ }
        }
      }
    })().finally(() => {
      this.looping = false;
    });
    return this.loopDone;
  }

  stopLoop() {
    this.looping = false;
    return this.loopDone;
  }

  next(pred, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const match = pred || ((d) => d !== '2');
    const hit = this.take(match);
    if (hit) return Promise.resolve(hit.data);
    return new Promise((resolve, reject) => {
      const w = (e) => {
        if (e.used || !match(e.data)) return;
        e.used = true;
        this.waiters.delete(w);
        clearTimeout(timer);
        resolve(e.data);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`next(${this.sid}${predName(pred)}) timed out after ${timeoutMs} ms; received:${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  // Polls unless a loop() is running, then waits for the packet.
  async await(pred, timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (this.looping) return this.next(pred, timeoutMs);
    return this.pollUntil(pred, { timeoutMs });
  }

  async sioConnect(auth, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const r = await this.post(auth === undefined ? '40' : `40${JSON.stringify(auth)}`);
    if (r.status !== 200) throw new Error(`CONNECT POST: HTTP ${r.status} ${short(r.text)}`);
    const reply = await this.await((d) => d.startsWith('40') || d.startsWith('44'), timeoutMs);
    if (reply.startsWith('44')) throw new Error(`CONNECT refused: ${reply}`);
    return JSON.parse(reply.slice(2));
  }

  async emit(ev, payload, ackId) {
    const args = payload === undefined ? [ev] : [ev, payload];
    const r = await this.post(`42${ackId === undefined ? '' : ackId}${JSON.stringify(args)}`);
    if (r.status !== 200 || r.text !== 'ok') throw new Error(`EVENT POST: HTTP ${r.status} ${short(r.text)}`);
    return r;
  }

  async request(ev, payload, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const id = this.nextAck++;
    await this.emit(ev, payload, id);
    const ack = await this.await((d) => d.startsWith(`43${id}[`), timeoutMs);
    return JSON.parse(ack.slice(2 + String(id).length))[0];
  }

  async waitEvent(ev, pred, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const match = (d) => {
      const e = sioEvent(d);
      if (!e || e[0] !== ev) return false;
      try {
        return !pred || !!pred(e[1]);
      } catch (_) {
        return false;
      }
    };
    return sioEvent(await this.await(match, timeoutMs))[1];
  }

  async close() {
    if (!this.sid) return null;
    try {
      return await this.post('1', { timeoutMs: 2000 });
    } catch (_) {
      return null;
    }
  }

  destroy() {
    this.looping = false;
    if (this.ownAgent) this.agent.destroy();
  }
}

function rawPoll(url, opts) {
  return new RawPoll(url, opts);
}

module.exports = { POLL_PATH, RS, eioRequest, rawPoll, RawPoll, splitPayload, sioEvent };
