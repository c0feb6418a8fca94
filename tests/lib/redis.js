// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/redis.js — a real redis-server per test and one-shot RESP
 * commands to it. The API is documented in tests/lib/harness.js (the
 * facade).
 *   startRedis({port?, args?, bin?}) -> Promise<Redis>, redisCommand(port, ...args)
 */

const net = require('node:net');

const { spawnChild, freePort } = require('./procs');
const { waitUntil } = require('./util');

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
  const child = spawnChild(opts.bin || 'redis-server', args);
  try {
    await waitUntil(async () => {
      if (child.exit) throw new Error(`redis-server exited early:\n${child.logs()}`);
      return (await redisCommand(port, 'PING')) === 'PONG';
    }, 10000, 25, `redis-server on :${port} to answer PING`);
  } catch (e) {
    await child.stop('SIGKILL', 2000);
    throw new Error(`${e.message}\n${child.logs()}`);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc: child.proc,
    pid: child.pid,
    exited: child.exited,
    logs: child.logs,
    command: (...a) => redisCommand(port, ...a),
    stop: (signal = 'SIGTERM', timeoutMs = 10000) => child.stop(signal, timeoutMs),
    kill: child.kill,
  };
}

module.exports = { startRedis, redisCommand };
