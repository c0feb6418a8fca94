// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/wsraw.js — a deliberately low-level RFC 6455 client over `net`
 * for conformance tests: it builds every frame byte by byte (any FIN/RSV
 * bits, any opcode, masked or not, a length field that lies) and never
 * "fixes" anything on its own, so a test can send exactly the violation it
 * means. It also checks what the server sends back against the RFC (server
 * frames unmasked, RSV clear, control frames short and unfragmented).
 *
 *   encodeFrame({opcode, payload, fin=true, rsv=0, mask=true, key,
 *                length}) -> Buffer
 *       rsv: 3-bit value (RSV1 = 4, RSV2 = 2, RSV3 = 1). key: 4-byte mask
 *       (random by default). length: the payload length written in the
 *       header when it must differ from payload.length (truncated frames).
 *   FrameDecoder: push(buf) -> [frame]; frame = {fin, rsv, opcode, masked,
 *       payload}. decoder.errors lists server-side RFC violations seen.
 *   connect(url, {path, headers, eioPong=true}) -> RawWs
 *       does the HTTP/1.1 upgrade itself (checks 101 and Sec-WebSocket-
 *       Accept). eioPong: answer the Engine.IO heartbeat "2" with "3" (only
 *       between whole messages; turn it off while a frame is half sent).
 *   RawWs:
 *     opened: Promise            resolves after a valid 101
 *     frames: [frame]            every frame received, in order
 *     write(buf), sendFrame(opts) raw bytes / one encoded frame
 *     sendText(str, opts)        one text frame (masked)
 *     next(pred, timeoutMs) -> frame  first unconsumed frame matching pred
 *     nextText(pred, timeoutMs) -> string  same, text frames (data frames)
 *     closeFrame                 {code, reason, payload} of the server's
 *                                 close frame, once one arrived
 *     tcpClosed: Promise<{at}>   the TCP connection is gone
 *     serverEnded                the server sent FIN
 *     echoClose                  (default true) answer the server's close
 *                                 frame with a close frame, as RFC 6455
 *                                 5.5.1 asks of a client
 *     handshake() -> open JSON, sioConnect() -> CONNECT JSON,
 *     request(ev, payload) -> ack argument   (Engine.IO / Socket.IO helpers)
 *     shutdownWrite()            TCP half-close (FIN, keep reading)
 *     destroy()
 */
const crypto = require('node:crypto');
const net = require('node:net');
const h = require('./harness');

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';
const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

function toBuf(p) {
  if (p === undefined || p === null) return Buffer.alloc(0);
  return Buffer.isBuffer(p) ? p : Buffer.from(String(p), 'utf8');
}

function encodeFrame({ opcode, payload, ...opts } = {}) {
  return h.encodeFrame(opcode, toBuf(payload), opts);
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
      const f = h.decodeFrame(this.buf);
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

class RawWs {
  constructor(url, { path = SIO_PATH, headers = {}, eioPong = true } = {}) {
    const u = new URL(url);
    this.label = `wsraw(${u.port})`;
    this.frames = [];
    this.waiters = new Set();
    this.decoder = new FrameDecoder();
    this.eioPong = eioPong;
    this.echoClose = true;
    this.closeFrame = null;
    this.closeSent = false;
    this.serverEnded = false;
    this.isClosed = false;
    this.ackSeq = 1;
    const key = crypto.randomBytes(16).toString('base64');
    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    const sock = net.connect(Number(u.port), u.hostname);
    sock.setNoDelay(true);
    this.sock = sock;
    let http = Buffer.alloc(0);
    let upgraded = false;
    this.opened = new Promise((resolve, reject) => {
      this._open = resolve;
      this._openFail = reject;
    });
    this.opened.catch(() => {});
    this.tcpClosed = new Promise((resolve) => {
      sock.on('close', () => {
        this.isClosed = true;
        if (!upgraded) this._openFail(new Error(`${this.label}: closed before the upgrade`));
        for (const w of [...this.waiters]) w(null);
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
      if (!upgraded) {
        http = Buffer.concat([http, d]);
        const end = http.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = http.toString('latin1', 0, end);
        this.httpHead = head;
        const status = Number(head.split(' ')[1]);
        const accepted = head.toLowerCase().split('\r\n')
          .some((l) => l.replace(/\s+/g, '') === `sec-websocket-accept:${accept.toLowerCase()}`);
        if (status !== 101 || !accepted) {
          const e = new Error(`${this.label}: HTTP ${status} instead of a valid 101:\n${head}`);
          e.statusCode = status;
          this._openFail(e);
          sock.destroy();
          return;
        }
        upgraded = true;
        this._open();
        d = http.subarray(end + 4);
        if (!d.length) return;
      }
      for (const f of this.decoder.push(d)) this._frame(f);
    });
  }

  _frame(f) {
    this.frames.push(f);
    if (f.opcode === OP.CLOSE && !this.closeFrame) {
      this.closeFrame = {
        code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined,
        reason: f.payload.length > 2 ? f.payload.toString('utf8', 2) : '',
        payload: f.payload,
        t: f.t,
      };
      if (this.echoClose && !this.closeSent && !this.isClosed) {
        this.closeSent = true;
        this.sock.write(encodeFrame({ opcode: OP.CLOSE, payload: f.payload.subarray(0, 2) }));
      }
    }
    if (this.eioPong && f.opcode === OP.TEXT && f.fin && f.payload.length === 1 &&
        f.payload[0] === 0x32 && !this.closeSent && !this.isClosed) {
      this.sendText('3');
      f.used = true;
    }
    for (const w of [...this.waiters]) w(f);
  }

  write(b) {
    if (!this.isClosed) this.sock.write(b);
  }

  sendFrame(opts) {
    if (opts.opcode === OP.CLOSE) this.closeSent = true;
    this.write(encodeFrame(opts));
  }

  sendText(str, opts = {}) {
    this.sendFrame({ ...opts, opcode: OP.TEXT, payload: toBuf(str) });
  }

  sendClose(code, reason, opts = {}) {
    this.sendFrame({ ...opts, opcode: OP.CLOSE, payload: closePayload(code, reason) });
  }

  describe(max = 12) {
    const l = this.frames.slice(-max).map((f) => {
      const p = f.opcode === OP.TEXT || f.opcode === OP.CONT
        ? JSON.stringify(f.payload.toString('utf8').slice(0, 120))
        : f.payload.toString('hex').slice(0, 60);
      return `${f.used ? '(used) ' : ''}op=${f.opcode} fin=${f.fin ? 1 : 0} ${p}`;
    });
    return `${l.length ? `\n    ${l.join('\n    ')}` : ' none'}${this.isClosed ? '\n    [tcp closed]' : ''}`;
  }

  next(pred, timeoutMs = 3000) {
    const test = (f) => !f.used && pred(f);
    const found = this.frames.find(test);
    if (found) {
      found.used = true;
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const fail = (why) => {
        this.waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`${this.label}: ${why} waiting for a frame (${pred}); frames:${this.describe()}`));
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
        resolve(f);
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      if (this.isClosed) {
        fail('connection closed');
        return;
      }
      this.waiters.add(w);
    });
  }

  async nextText(pred = () => true, timeoutMs = 3000) {
    const f = await this.next((x) => x.opcode === OP.TEXT && x.fin &&
      x.payload.toString('utf8') !== '2' && pred(x.payload.toString('utf8')), timeoutMs);
    return f.payload.toString('utf8');
  }

  async handshake(timeoutMs) {
    await this.opened;
    const d = await this.nextText((s) => s[0] === '0', timeoutMs);
    return JSON.parse(d.slice(1));
  }

  async sioConnect(timeoutMs) {
    this.sendText('40');
    const d = await this.nextText((s) => s.startsWith('40') || s.startsWith('44'), timeoutMs);
    if (!d.startsWith('40')) throw new Error(`${this.label}: CONNECT refused: ${d}`);
    return JSON.parse(d.slice(2));
  }

  /* Sends a Socket.IO event with an ack id through |send(text)| (default: one
   * text frame) and resolves with the ack's first argument. */
  async request(ev, payload, { send, timeoutMs = 3000 } = {}) {
    const id = this.ackSeq++;
    const text = `42${id}${JSON.stringify(payload === undefined ? [ev] : [ev, payload])}`;
    if (send) send(text);
    else this.sendText(text);
    const d = await this.nextText((s) => s.startsWith(`43${id}[`), timeoutMs);
    return JSON.parse(d.slice(2 + String(id).length))[0];
  }

  shutdownWrite() {
    this.sock.end();
  }

  destroy() {
    this.sock.destroy();
  }
}

function connect(url, opts) {
  return new RawWs(url, opts);
}

module.exports = { OP, SIO_PATH, encodeFrame, closePayload, FrameDecoder, RawWs, connect };
