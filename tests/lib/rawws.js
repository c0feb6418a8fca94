// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/rawws.js — raw WebSocket connections for transport-level and
 * RFC 6455 conformance tests, and the frame codec they share. Part of the
 * harness (tests/lib/harness.js re-exports rawWs, rawTcpWs, SIO_PATH,
 * encodeFrame and decodeFrame); conformance tests use it directly.
 *
 * Two clients behind one API (RawConn):
 *   rawWs(url, path=SIO_PATH, {autoPong=true, headers, protocol, ...ws
 *       options}) -> RawConn  the `ws` library's client, a well-behaved
 *       peer (wss with `ca`). opened rejects with err.statusCode, .headers
 *       and .body on an HTTP answer other than 101. .ws is the WebSocket.
 *   rawTcpWs(url, path=SIO_PATH, {autoPong=true, headers, level='message'})
 *       -> RawTcpWs  our own client over `net`. It does the HTTP/1.1
 *       upgrade itself (checks 101 and Sec-WebSocket-Accept) and builds
 *       every frame byte by byte (any FIN/RSV bits, any opcode, masked or
 *       not, a length field that lies), never "fixing" anything on its own,
 *       so a test sends exactly the violation it means. It checks what the
 *       server sends against RFC 6455 (decoder.errors).
 *   connect(url, {path=SIO_PATH, headers, eioPong=true}) -> RawTcpWs
 *       the same client at level 'frame' (eioPong is autoPong).
 *
 * RawConn (both clients):
 *   opened: Promise  resolves on a valid 101
 *   messages: [msg]  every data message received, in order;
 *       msg = {data (string, or Buffer when binary), binary, t, used}
 *   frames: the list next() works on: messages (rawWs, level 'message')
 *       or wire (level 'frame')
 *   next(pred?, timeoutMs) -> Promise  the first unconsumed entry of frames
 *       for which pred holds, already received or arriving later; it is
 *       marked used. Level 'message': pred(data, msg), resolves with data;
 *       without pred any text message but the Engine.IO ping '2'.
 *       Level 'frame': pred(frame), resolves with the frame.
 *       Rejects on timeout or once the connection is gone, listing what
 *       was received (describe()).
 *   nextText(pred?, timeoutMs) -> Promise<string>  the first unconsumed
 *       text message but '2' for which pred(text) holds (any level)
 *   autoPong: answers the Engine.IO ping '2' with '3' (and marks the '2'
 *       used) while the connection is open; turn it off while a frame is
 *       half sent
 *   send(str|Buffer) (one text or binary message), close(code?),
 *   terminate(), isOpen()
 *   closed: Promise<{code, reason, t}>  resolves with the server's close
 *       frame (1005: no status code), else when the connection is gone
 *       (1006); closeInfo: the same, or null
 *   Engine.IO / Socket.IO helpers: handshake() -> open packet JSON,
 *       sioConnect(auth?, nsp?, timeoutMs?) -> CONNECT reply JSON (rejects
 *       on a CONNECT_ERROR), emit(ev, payload, ackId?),
 *       request(ev, payload, timeoutMs | {send, timeoutMs}) -> the ack's
 *       first argument (ack ids count from 1; send(text) replaces the
 *       single text frame, e.g. to fragment it), waitEvent(ev, pred?,
 *       timeoutMs) -> payload
 *
 * RawTcpWs adds:
 *   wire: [frame]  every frame received, control frames and fragments too;
 *       frame = {fin, rsv, opcode, masked, payload (Buffer), t, used}, and
 *       data/binary when the frame is a whole message (then it is the same
 *       object in messages; a fragmented message gets its own entry there)
 *   nextFrame(pred?, timeoutMs) -> Promise<frame>  next() over wire
 *   decoder.errors: server frames that break RFC 6455 (masked, RSV bits,
 *       reserved opcodes, long or fragmented control frames, data frames
 *       out of sequence)
 *   write(buf) (sendRaw(buf)): raw bytes, dropped once TCP is gone
 *   sendFrame(opcode, payload, opts) or sendFrame({opcode, payload, ...opts})
 *       one frame, opts as encodeFrame; sendText(str, opts),
 *       sendClose(code?, reason?, opts)
 *   A server ping is answered with a pong (wsPong=true). The server's close
 *   frame is answered with a close frame, as RFC 6455 5.5.1 asks of a
 *   client, unless echoClose is false or we sent one already (closeSent).
 *   closeFrame: {code (undefined without a body), reason, payload, t} of
 *   the server's close frame, once one arrived
 *   tcpClosed: Promise<{at}>, isClosed: the TCP connection is gone;
 *   serverEnded: the server sent FIN
 *   pause()/resume() stop/restart reading (a slow reader), shutdownWrite()
 *   (TCP half-close: FIN, keep reading), destroy() (= terminate()),
 *   sock (the net.Socket), httpStatus, httpHead
 *
 * Codec:
 *   encodeFrame(opcode, payload, {fin=true, mask=true, rsv=0, key, length})
 *   or encodeFrame({opcode, payload, ...}) -> Buffer  one client frame.
 *       rsv: 3-bit value (RSV1 = 4, RSV2 = 2, RSV3 = 1); key: a fixed 4-byte
 *       mask (random by default); length: the length written in the header
 *       when it must differ from the payload's (truncated frames).
 *   decodeFrame(buf) -> null (not all there yet) | {fin, rsv, opcode,
 *       masked, payload (unmasked copy), len, size (bytes the frame took)}
 *   FrameDecoder: push(buf) -> [frame], errors (see decoder.errors)
 *   closePayload(code?, reason?) -> Buffer, OP, SIO_PATH
 */

const crypto = require('node:crypto');
const net = require('node:net');

const WebSocket = require('ws');

const { DEFAULT_TIMEOUT_MS, short, predName } = require('./util');

const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/* ------------------------------------------------------------------ */
/* Frame codec                                                          */
/* ------------------------------------------------------------------ */

function toBuf(p) {
  if (p === undefined || p === null) return Buffer.alloc(0);
  return Buffer.isBuffer(p) ? p : Buffer.from(String(p), 'utf8');
}

function encodeFrame(opcode, payload, opts = {}) {
  if (typeof opcode === 'object' && opcode !== null) ({ opcode, payload, ...opts } = opcode);
  const { fin = true, mask = true, rsv = 0, key, length } = opts;
  const data = toBuf(payload);
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

function closePayload(code, reason) {
  if (code === undefined) return Buffer.alloc(0);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, toBuf(reason)]);
}

/* Decodes what a server sends; records RFC violations in |errors|. */
class FrameDecoder {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.errors = [];
    this.fragmented = false;
  }

  push(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const out = [];
    for (;;) {
      const f = decodeFrame(this.buf);
      if (f === null) break;
      const { fin, rsv, opcode, masked, payload, len } = f;
      this.buf = this.buf.subarray(f.size);
      if (masked) this.errors.push(`server frame masked (opcode ${opcode})`);
      if (rsv) this.errors.push(`server frame has RSV bits ${rsv}`);
      if (opcode & 8) {
        if (!fin) this.errors.push(`server control frame ${opcode} fragmented`);
        if (len > 125) this.errors.push(`server control frame ${opcode} has ${len} bytes`);
      } else if (opcode === 0 ? !this.fragmented : this.fragmented) {
        this.errors.push(`server data frame ${opcode} out of sequence`);
      } else {
        this.fragmented = !fin;
      }
      if ([3, 4, 5, 6, 7, 11, 12, 13, 14, 15].includes(opcode)) {
        this.errors.push(`server used reserved opcode ${opcode}`);
      }
      out.push({ fin, rsv, opcode, masked, payload, t: Date.now(), used: false });
    }
    return out;
  }
}

/* ------------------------------------------------------------------ */
/* RawConn: what both clients share                                     */
/* ------------------------------------------------------------------ */

class RawConn {
  constructor(label, { autoPong = true } = {}) {
    this.label = label;
    this.autoPong = autoPong;
    this.messages = [];
    this.frames = this.messages;
    this.waiters = new Set();
    this.closeInfo = null;
    this.ackSeq = 1;
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    this.opened = new Promise((resolve, reject) => {
      this._open = resolve;
      this._openFail = reject;
    });
    this.opened.catch(() => {});
  }

  /* Nothing more can arrive: pending next() calls fail. */
  _ended() {
    return this.closeInfo !== null;
  }

  /* Records a whole data message (waiters are woken by the caller). */
  _addMessage(msg) {
    this.messages.push(msg);
    if (!msg.binary && msg.data === '2' && this.autoPong && this.isOpen()) {
      msg.used = true; // answered here; tests ask for pings explicitly
      this.send('3');
    }
  }

  _wake(entry, list) {
    for (const w of [...this.waiters]) w(entry, list);
  }

  _closed(code, reason) {
    if (this.closeInfo) return;
    this.closeInfo = { code, reason: reason || '', t: Date.now() };
    this._resolveClosed(this.closeInfo);
    this._wake(null);
  }

  /* What frames holds (opcodes at level 'frame'), then how it closed. */
  describe(max = 30) {
    const wire = this.frames !== this.messages;
    const l = this.frames.slice(-max).map((f) => {
      let what;
      if (wire) {
        const p = f.opcode === OP.TEXT || f.opcode === OP.CONT
          ? JSON.stringify(f.payload.toString('utf8').slice(0, 120))
          : f.payload.toString('hex').slice(0, 60);
        what = `op=${f.opcode} fin=${f.fin ? 1 : 0} ${p}`;
      } else {
        what = f.binary ? `<binary ${f.data.length} bytes>` : short(f.data, 200);
      }
      return `${f.used ? '(consumed) ' : ''}${what}`;
    });
    const c = this.closeInfo ? `\n    <closed ${this.closeInfo.code} ${short(this.closeInfo.reason)}>` : '';
    return (l.length ? `\n    ${l.join('\n    ')}` : ' no frames') + c;
  }

  /* The first unused entry of |list| passing |test|, now or later. */
  _take(list, test, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a frame') {
    const ok = (f) => {
      if (f.used) return false;
      try {
        return !!test(f);
      } catch (_) {
        return false;
      }
    };
    const found = list.find(ok);
    if (found) {
      found.used = true;
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const fail = (why) => {
        this.waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`${this.label}: ${why} waiting for ${what}; frames:${this.describe()}`));
      };
      const w = (f, l) => {
        if (f === null) {
          if (this._ended()) fail('connection closed');
          return;
        }
        if (l !== list || !ok(f)) return;
        f.used = true;
        this.waiters.delete(w);
        clearTimeout(timer);
        resolve(f);
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      if (this._ended()) {
        fail('connection closed');
        return;
      }
      this.waiters.add(w);
    });
  }

  async next(pred, timeoutMs) {
    if (typeof pred === 'number') {
      timeoutMs = pred;
      pred = undefined;
    }
    const test = pred ? (m) => pred(m.data, m) : (m) => !m.binary && m.data !== '2';
    return (await this._take(this.messages, test, timeoutMs, `a message${predName(pred)}`)).data;
  }

  async nextText(pred = () => true, timeoutMs) {
    const m = await this._take(this.messages,
      (x) => typeof x.data === 'string' && x.data !== '2' && pred(x.data), timeoutMs,
      `a text message${predName(pred)}`);
    return m.data;
  }

  async handshake(timeoutMs) {
    await this.opened;
    const d = await this.nextText((s) => s[0] === '0', timeoutMs);
    return JSON.parse(d.slice(1));
  }

  async sioConnect(auth, nsp, timeoutMs) {
    const prefix = nsp && nsp !== '/' ? `${nsp},` : '';
    this.send(`40${prefix}${auth === undefined ? '' : JSON.stringify(auth)}`);
    const d = await this.nextText((s) => s.startsWith(`40${prefix}`) || s.startsWith(`44${prefix}`),
      timeoutMs);
    if (d.startsWith('44')) throw new Error(`${this.label}: CONNECT refused: ${d}`);
    return JSON.parse(d.slice(2 + prefix.length));
  }

  emit(ev, payload, ackId) {
    const arr = payload === undefined ? [ev] : [ev, payload];
    this.send(`42${ackId === undefined ? '' : ackId}${JSON.stringify(arr)}`);
  }

  async request(ev, payload, opts) {
    const { send, timeoutMs } = typeof opts === 'object' && opts !== null ? opts : { timeoutMs: opts };
    const id = this.ackSeq++;
    const text = `42${id}${JSON.stringify(payload === undefined ? [ev] : [ev, payload])}`;
    if (send) send(text);
    else this.send(text);
    const d = await this.nextText((s) => s.startsWith(`43${id}[`), timeoutMs);
    return JSON.parse(d.slice(2 + String(id).length))[0];
  }

  async waitEvent(ev, pred, timeoutMs) {
    if (typeof pred === 'number') {
      timeoutMs = pred;
      pred = undefined;
    }
    const d = await this.nextText((s) => {
      if (!s.startsWith('42[')) return false;
      const arr = JSON.parse(s.slice(2));
      return arr[0] === ev && (!pred || pred(arr[1]));
    }, timeoutMs);
    return JSON.parse(d.slice(2))[1];
  }
}

/* ------------------------------------------------------------------ */
/* rawWs: the `ws` library's client                                     */
/* ------------------------------------------------------------------ */

class WsLibConn extends RawConn {
  constructor(url, p, opts) {
    const { autoPong = true, headers, protocol, ...wsOpts } = opts;
    super(`rawWs(${p})`, { autoPong });
    const ws = new WebSocket(url.replace(/^http/, 'ws') + p, protocol,
      { handshakeTimeout: 5000, headers, ...wsOpts });
    this.ws = ws;
    ws.once('open', this._open);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const e = new Error(`${this.label}: HTTP ${res.statusCode} instead of 101: ${body}`);
        e.statusCode = res.statusCode;
        e.headers = res.headers;
        e.body = body;
        this._openFail(e);
        this._closed(1006, 'unexpected response');
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
    ws.once('error', this._openFail);
    ws.on('message', (data, isBinary) => {
      const msg = { data: isBinary ? data : data.toString('utf8'), binary: isBinary, t: Date.now(), used: false };
      this._addMessage(msg);
      this._wake(msg, this.messages);
    });
    ws.on('close', (code, reason) => this._closed(code, reason.toString()));
    ws.on('error', () => {});
  }

  isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data, o) {
    this.ws.send(data, o);
  }

  close(code) {
    this.ws.close(code);
  }

  terminate() {
    this.ws.terminate();
  }
}

function rawWs(url, p = SIO_PATH, opts = {}) {
  return new WsLibConn(url, p, opts);
}

/* ------------------------------------------------------------------ */
/* RawTcpWs: our own client over net                                    */
/* ------------------------------------------------------------------ */

class RawTcpWs extends RawConn {
  constructor(url, { path = SIO_PATH, headers = {}, autoPong = true, wsPong = true, level = 'message' } = {}) {
    const u = new URL(url);
    super(`rawTcpWs(:${u.port}${path})`, { autoPong });
    if (level !== 'message' && level !== 'frame') throw new Error(`rawTcpWs: bad level ${level}`);
    this.level = level;
    this.wsPong = wsPong;
    this.wire = [];
    if (level === 'frame') this.frames = this.wire;
    this.decoder = new FrameDecoder();
    this.echoClose = true;
    this.closeFrame = null;
    this.closeSent = false;
    this.serverEnded = false;
    this.isClosed = false;
    this.upgraded = false;
    this.fragments = null; // {opcode, parts} of a fragmented message
    const key = crypto.randomBytes(16).toString('base64');
    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    const sock = net.connect(Number(u.port), u.hostname);
    sock.setNoDelay(true);
    this.sock = sock;
    let head = Buffer.alloc(0);
    this.tcpClosed = new Promise((resolve) => {
      sock.on('close', () => {
        this.isClosed = true;
        if (!this.upgraded) this._openFail(new Error(`${this.label}: closed before the upgrade`));
        this._closed(1006, 'tcp closed');
        this._wake(null);
        resolve({ at: Date.now() });
      });
    });
    sock.on('error', () => {});
    sock.on('end', () => {
      this.serverEnded = true;
    });
    sock.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        `${extra}\r\n`);
    });
    sock.on('data', (d) => {
      if (!this.upgraded) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.toString('latin1', 0, end);
        this.httpHead = text;
        this.httpStatus = Number(text.split(' ')[1]);
        const accepted = text.toLowerCase().split('\r\n')
          .some((l) => l.replace(/\s+/g, '') === `sec-websocket-accept:${accept.toLowerCase()}`);
        if (this.httpStatus !== 101 || !accepted) {
          const e = new Error(`${this.label}: HTTP ${this.httpStatus} instead of a valid 101:\n${text}`);
          e.statusCode = this.httpStatus;
          this._openFail(e);
          sock.destroy();
          return;
        }
        this.upgraded = true;
        this._open();
        d = head.subarray(end + 4);
        if (!d.length) return;
      }
      for (const f of this.decoder.push(d)) this._onFrame(f);
    });
  }

  _ended() {
    return this.isClosed;
  }

  _onFrame(f) {
    this.wire.push(f);
    let msg = null;
    if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
      if (f.fin) {
        msg = f;
      } else {
        this.fragments = { opcode: f.opcode, parts: [f.payload] };
      }
    } else if (f.opcode === OP.CONT && this.fragments) {
      this.fragments.parts.push(f.payload);
      if (f.fin) {
        const payload = Buffer.concat(this.fragments.parts);
        msg = { fin: true, rsv: 0, opcode: this.fragments.opcode, masked: false, payload, t: f.t, used: false };
        this.fragments = null;
      }
    }
    if (msg) {
      msg.binary = msg.opcode === OP.BINARY;
      msg.data = msg.binary ? msg.payload : msg.payload.toString('utf8');
      this._addMessage(msg);
    }
    if (f.opcode === OP.CLOSE && !this.closeFrame) {
      const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
      const reason = f.payload.length > 2 ? f.payload.toString('utf8', 2) : '';
      this.closeFrame = { code, reason, payload: f.payload, t: f.t };
      if (this.echoClose && !this.closeSent) this.sendFrame(OP.CLOSE, f.payload.subarray(0, 2));
      this._closed(code === undefined ? 1005 : code, reason);
    } else if (f.opcode === OP.PING && this.wsPong && !this.closeSent) {
      this.write(encodeFrame(OP.PONG, f.payload));
    }
    this._wake(f, this.wire);
    if (msg) this._wake(msg, this.messages);
  }

  isOpen() {
    return this.upgraded && !this.closeInfo && !this.closeSent && !this.isClosed;
  }

  async next(pred, timeoutMs) {
    if (this.level === 'message') return super.next(pred, timeoutMs);
    return this.nextFrame(pred, timeoutMs);
  }

  nextFrame(pred = () => true, timeoutMs) {
    if (typeof pred === 'number') {
      timeoutMs = pred;
      pred = () => true;
    }
    return this._take(this.wire, pred, timeoutMs, `a frame${predName(pred)}`);
  }

  write(b) {
    if (!this.isClosed) this.sock.write(b);
  }

  sendRaw(b) {
    this.write(b);
  }

  sendFrame(opcode, payload, opts) {
    const f = typeof opcode === 'object' && opcode !== null ? opcode : { ...opts, opcode, payload };
    if (f.opcode === OP.CLOSE) this.closeSent = true;
    this.write(encodeFrame(f));
  }

  send(data) {
    if (Buffer.isBuffer(data)) this.sendFrame(OP.BINARY, data);
    else this.sendFrame(OP.TEXT, data);
  }

  sendText(str, opts = {}) {
    this.sendFrame({ ...opts, opcode: OP.TEXT, payload: str });
  }

  sendClose(code, reason, opts = {}) {
    this.sendFrame({ ...opts, opcode: OP.CLOSE, payload: closePayload(code, reason) });
  }

  close(code = 1000) {
    this.sendClose(code);
  }

  pause() {
    this.sock.pause();
  }

  resume() {
    this.sock.resume();
  }

  shutdownWrite() {
    this.sock.end();
  }

  terminate() {
    this.sock.destroy();
  }

  destroy() {
    this.sock.destroy();
  }
}

function rawTcpWs(url, p = SIO_PATH, opts = {}) {
  return new RawTcpWs(url, { level: 'message', ...opts, path: p });
}

function connect(url, { eioPong, ...opts } = {}) {
  return new RawTcpWs(url, { level: 'frame', autoPong: eioPong, ...opts });
}

module.exports = {
  OP,
  SIO_PATH,
  encodeFrame,
  decodeFrame,
  closePayload,
  FrameDecoder,
  RawConn,
  RawTcpWs,
  rawWs,
  rawTcpWs,
  connect,
};
