// SPDX-License-Identifier: MIT
'use strict';
// The gateway under valgrind: a chat session (connect, create, messages, DM,
// a malformed packet, leave, disconnect), then SIGTERM. It must exit 0 with
// no memory error and no leak (definite, indirect or possible), and
// uv_loop_close() must succeed (the gateway exits 1 otherwise). GW_MODE=redis
// runs the same against a real redis-server with the Redis adapter.
const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const h = require('../lib/harness');

const BIN = process.env.CHAT_GATEWAY_BIN || 'build/chat-gateway';
const MODE = process.env.GW_MODE || 'memory';

async function startUnderValgrind(args) {
  const port = await h.freePort();
  const proc = spawn('valgrind', ['--leak-check=full', '--error-exitcode=99',
    '--errors-for-leak-kinds=definite,indirect,possible', BIN,
    '--host', '127.0.0.1', '--port', String(port), '--drain-time', '300',
    ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((res) => proc.on('exit', (code, sig) => res(code ?? sig)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.status === 200) return { url, proc, exited, log: () => log };
    } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  throw new Error(`gateway under valgrind did not start:\n${log}`);
}

test(`valgrind: clean shutdown after a chat session (${MODE})`, { timeout: 120000 }, async () => {
  let redis = null;
  const args = [];
  if (MODE === 'redis') {
    redis = await h.startRedis();
    args.push('--redis', redis.url);
  }
  const gw = await startUnderValgrind(args);
  try {
    const a = await h.connect(gw.url, { timeout: 10000 });
    const b = await h.connect(gw.url, { timeout: 10000 });
    // Long-polling, and polling upgraded to WebSocket, under valgrind too.
    const c = await h.connect(gw.url, { timeout: 10000, transports: ['polling'] });
    const d = await h.connect(gw.url, { timeout: 10000, transports: ['polling', 'websocket'] });
    assert.strictEqual((await h.emitAck(a, 'create', { roomName: 'vg', userName: 'alice' }, 10000)).ok, true);
    assert.strictEqual((await h.emitAck(b, 'create', { roomName: 'vg', userName: 'bob' }, 10000)).ok, true);
    assert.strictEqual((await h.emitAck(a, 'sendMessage', { message: 'hi 😀' }, 10000)).ok, true);
    await h.waitFor(b, 'newMessage', (m) => m.message === 'hi 😀', 10000);
    assert.strictEqual((await h.emitAck(c, 'create', { roomName: 'vg', userName: 'carol' }, 10000)).ok, true);
    assert.strictEqual((await h.emitAck(d, 'create', { roomName: 'vg', userName: 'dave' }, 10000)).ok, true);
    assert.strictEqual((await h.emitAck(c, 'sendMessage', { message: 'from polling' }, 10000)).ok, true);
    await h.waitFor(d, 'newMessage', (m) => m.message === 'from polling', 10000);
    await h.waitFor(a, 'newMessage', (m) => m.message === 'from polling', 10000);
    d.close();
    assert.strictEqual((await h.emitAck(a, 'sendMessage', { message: 'dm', select: b.id }, 10000)).ok, true);
    assert.strictEqual((await h.emitAck(b, 'create', { roomName: 'vg', userName: 'alice' }, 10000)).error.code, 'name_taken');
    const raw = h.rawWs(gw.url);
    await raw.opened;
    raw.send('4abc'); // malformed: closes only that connection
    assert.strictEqual((await h.emitAck(b, 'leave', undefined, 10000)).ok, true);
    a.close();
    // b and c (its long-poll parked) stay connected: the drain must close
    // them.
    const reason = h.waitDisconnect(b, 20000);
    const reasonC = h.waitDisconnect(c, 20000);
    gw.proc.kill('SIGTERM');
    assert.strictEqual(await reason, 'transport close');
    assert.ok(['transport close', 'transport error'].includes(await reasonC), 'polling client closed by the drain');
    const code = await gw.exited;
    assert.strictEqual(code, 0, `exit ${code}; valgrind said:\n${gw.log()}`);
    assert.match(gw.log(), /Memcheck/);
    assert.match(gw.log(), /ERROR SUMMARY: 0 errors/);
  } finally {
    if (gw.proc.exitCode === null) gw.proc.kill('SIGKILL');
    if (redis) await redis.stop();
  }
});
