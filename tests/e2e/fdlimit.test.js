// SPDX-License-Identifier: MIT
'use strict';
// Near the open-file limit the gateway refuses new connections instead of
// letting accept() hit EMFILE (on which libwebsockets 4.1.6 spins at 100 %
// CPU). The gateway runs with `ulimit -n 200`; 400 idle TCP connections are
// opened; the gateway must stay idle (no spin), keep its existing Socket.IO
// clients working, count the refusals, and accept again once they are gone.
const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const h = require('../lib/harness');

const BIN = process.env.CHAT_GATEWAY_BIN || 'build/chat-gateway';
const cpuTicks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
};

test('near the fd limit new connections are refused, without spinning', { timeout: 60000 }, async () => {
  const port = await h.freePort();
  const proc = spawn('sh', ['-c', `ulimit -n 200 && exec "$0" "$@"`, BIN,
    '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const socks = [];
  try {
    for (let i = 0; i < 100; i++) {
      try { if ((await fetch(`${url}/healthz`)).status === 200) break; } catch (_) { /* starting */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    const a = await h.connect(url);
    const b = await h.connect(url);
    assert.strictEqual((await h.emitAck(a, 'create', { roomName: 'fd', userName: 'a' })).ok, true);
    assert.strictEqual((await h.emitAck(b, 'create', { roomName: 'fd', userName: 'b' })).ok, true);

    let refused = 0;
    await Promise.all(Array.from({ length: 400 }, () => new Promise((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => { refused++; res(); });
      s.on('close', () => res());
      s.on('connect', () => { socks.push(s); setTimeout(res, 200); });
    })));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = cpuTicks(proc.pid);
    await new Promise((r) => setTimeout(r, 1000));
    const spent = cpuTicks(proc.pid) - t0;
    assert.ok(spent < 20, `gateway used ${spent * 10} ms of CPU in 1 s while at its fd cap (spinning?)`);
    const closedByServer = socks.filter((s) => s.destroyed || s.readableEnded).length + refused;
    assert.ok(closedByServer > 100, `only ${closedByServer} of 400 connections were refused`);

    // Existing clients are unaffected.
    assert.strictEqual((await h.emitAck(a, 'sendMessage', { message: 'still here' })).ok, true);
    await h.waitFor(b, 'newMessage', (m) => m.message === 'still here');

    for (const s of socks) s.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const m = await h.getMetrics(url);
    assert.ok(m.get('chat_rejected_connections_total') >= 100, String(m.get('chat_rejected_connections_total')));
    assert.ok(m.get('chat_limit_hits_total', { limit: 'fd_reserve' }) >= 100,
      String(m.get('chat_limit_hits_total', { limit: 'fd_reserve' })));
    const c = await h.connect(url);
    c.close();
    a.close();
    b.close();
  } finally {
    for (const s of socks) s.destroy();
    proc.kill('SIGINT');
    await new Promise((r) => proc.exitCode !== null ? r() : proc.on('exit', r));
  }
  assert.strictEqual(proc.exitCode, 0, log);
});
