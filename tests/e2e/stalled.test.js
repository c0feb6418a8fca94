// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/e2e/stalled.test.js — a stalled reader in a flooded room (issue 7,
 * "Stalled and slow readers"). GW_MODE=memory: one gateway; GW_MODE=redis:
 * the Redis adapter (STALLED_GATEWAYS gateways, default 1, see GATEWAYS) on
 * a redis-server whose pub/sub output-buffer limit is deliberately small.
 *
 * 100 senders × 15 msg/s of 1 KB messages into one room for 20 s
 * (chat-flood, the C load generator, 2 processes: socket.io-client in Node
 * cannot take the 150 000 deliveries/s the room produces on 2 cores). The
 * room also holds:
 *   - a raw-TCP WebSocket client that upgrades, connects, joins and then
 *     stops reading (socket paused: the kernel buffers fill, then the
 *     gateway's per-socket queue, whose bound must cut it off);
 *   - a healthy socket.io-client member (the "watcher").
 * Asserted:
 *   - every gateway's RSS grows by well under 32 MB (we allow 16 MB; the
 *     per-socket queue bound is 4 MB, --queue-bytes' default);
 *   - the stalled reader is cut off: chat_slow_readers_dropped_total = 1 on
 *     its gateway (0 elsewhere), its TCP connection ends, the room sees it
 *     leave;
 *   - healthy members get ≥ 99 % of the messages (chat-flood's own 100
 *     members: delivered/expected; the watcher: distinct messages seen /
 *     messages sent), and none of them is disconnected;
 *   - redis mode: Redis never cut a gateway's subscriber connection
 *     (INFO stats client_output_buffer_limit_disconnections = 0,
 *     chat_adapter_reconnects_total unchanged), and no gateway's event loop
 *     stalled long (chat_loop_lag_max_seconds).
 * Sizes can be scaled down for a slow machine (STALLED_SENDERS,
 * STALLED_RATE per sender, STALLED_SECONDS, STALLED_PAYLOAD); the defaults
 * are the issue's numbers.
 */
const test = require('node:test');
const fs = require('node:fs');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('../lib/harness.js');

const SENDERS = Number(process.env.STALLED_SENDERS || 100);
const RATE = Number(process.env.STALLED_RATE || 15); // per sender
const SECONDS = Number(process.env.STALLED_SECONDS || 20);
const PAYLOAD = Number(process.env.STALLED_PAYLOAD || 1000);
const RSS_BOUND_KB = 16 * 1024; // "well under 32 MB"
/* Redis's limit for pub/sub clients, deliberately small (default: 32 MB
 * hard, 8 MB for 60 s). The subscriber receives every room message once
 * (1 500/s × ~1.1 KB ≈ 1.7 MB/s at the issue's numbers). Measured here: a
 * gateway that keeps reading never lets Redis hold more than ~20 KB for it
 * (the test reports the largest seen), while one whose loop blocks for 1 s
 * (checked by hand with a sleep(1) every 4 s in the gateway's tick) leaves
 * ~1.7 MB unread and fails this test on the loop lag (and, with a 1 MB
 * limit, on the cut and the deliveries). A clean CI run once saw ~960 KB
 * held while the 2 cores were saturated by gateway, Redis and generator
 * (loop lag only 0.03 s): CPU starvation, not a blocked loop. So the limit
 * is 4 MB hard / 2 MB for 2 s (still 1/8 of Redis's default), and the loop
 * lag bound is what catches a blocking gateway. */
const PUBSUB_LIMIT = process.env.STALLED_PUBSUB_LIMIT || 'pubsub 4mb 2mb 2';
const LOOP_LAG_BOUND_S = 0.5;
/* Redis mode: gateways on the one Redis. Each gateway's subscriber gets the
 * whole room traffic and every member one delivery, so the cluster-wide
 * work is that of one gateway plus one subscriber stream per gateway: on a
 * 2-core box shared with the generator, one gateway is what fits at the
 * issue's rate (3 saturate it, and then healthy-but-starved clients are cut
 * as slow readers); STALLED_GATEWAYS=3 on a bigger machine. */
const GATEWAYS = Number(process.env.STALLED_GATEWAYS || 1);

function floodBin() {
  if (process.env.CHAT_FLOOD_BIN) return process.env.CHAT_FLOOD_BIN;
  const gw = process.env.CHAT_GATEWAY_BIN || path.join(h.ROOT, 'build', 'chat-gateway');
  return path.join(path.dirname(gw), 'chat-flood');
}

/* runFlood runs chat-flood and resolves with its --json result line (and
 * its stderr for diagnostics). */
function runFlood(urls, rate) {
  const args = ['--url', urls.map((u) => u.replace(/^http/, 'ws')).join(','),
    '--clients', String(SENDERS), '--rooms', '1', '--rate', String(SENDERS * rate),
    '--payload', String(PAYLOAD), '--duration', String(SECONDS), '--procs', '2',
    '--drain', '15', '--json'];
  const proc = spawn(floodBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const killer = setTimeout(() => proc.kill('SIGKILL'), (SECONDS + 60) * 1000);
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      clearTimeout(killer);
      const line = out.split('\n').reverse().find((l) => l.startsWith('{"clients_connected"'));
      if (!line) {
        reject(new Error(`chat-flood exited ${code ?? signal} without a result:\n${err.slice(-4000)}`));
        return;
      }
      resolve({ res: JSON.parse(line), log: err, code });
    });
  });
}

/* watcher: a healthy socket.io-client member that counts the distinct
 * chat-flood messages it receives (by their sequence number). */
async function startWatcher(url, room) {
  const s = await h.connect(url, { name: 'watcher' });
  const ack = await h.emitAck(s, 'create', { roomName: room, userName: 'watcher' });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  s.offAny(); // the recorder would keep every 1 KB message
  const seen = new Set();
  const notices = [];
  s.on('newMessage', (m) => {
    const f = typeof m.message === 'string' ? m.message.split(':', 4) : [];
    if (f[0] === 'fl1') seen.add(f[3]);
  });
  s.on('notice', (n) => notices.push(n));
  return { s, seen, notices };
}

/* stalledReader: a raw TCP WebSocket that joins |room| and stops reading. */
async function stalledReader(url, room) {
  const c = h.rawTcpWs(url);
  await c.opened;
  await c.handshake();
  await c.sioConnect();
  const ack = await c.request('create', { roomName: room, userName: 'stalled' });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  c.pause();
  return c;
}

/* A sanitizer build: its allocator quarantine grows RSS by design, and it
 * is several times slower. */
function sanitized(pid) {
  try {
    return /libasan|libubsan/.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch (_) {
    return false;
  }
}

async function metricsOf(gateways, name, labels) {
  return Promise.all(gateways.map(async (g) => (await h.getMetrics(g.url)).get(name, labels)));
}

test(`a stalled reader in a flooded room is cut off, RSS stays bounded (${h.MODE})`,
  { timeout: (SECONDS + 80) * 1000 }, async (t) => {
    const redisArgs = ['--client-output-buffer-limit', PUBSUB_LIMIT];
    const c = await h.startCluster({
      gateways: h.MODE === 'redis' ? GATEWAYS : 1,
      redis: h.MODE === 'redis',
      // --queue-frames 4096: the stalled reader is then cut by the byte
      // bound (--queue-bytes, default 4 MB ≈ 3 700 of these frames), and a
      // healthy client descheduled on this shared 2-core box gets ~2.5 s of
      // slack instead of the default 1024 frames' ~0.7 s at this rate.
      args: ['--log-level', 'warn', '--drain-time', '500', '--queue-frames', '4096', ...(process.env.STALLED_GW_ARGS || '').split(' ').filter(Boolean)],
      redisOptions: { args: redisArgs },
    });
    let stopped = false;
    t.after(async () => {
      if (!stopped) await c.stop('SIGKILL');
    });
    const gws = c.gateways;
    if (c.redis) {
      for (const g of gws) {
        await h.waitUntil(async () => (await h.getMetrics(g.url)).get('chat_adapter_up', { adapter: 'redis' }) === 1,
          8000, 50, `adapter up on ${g.url}`);
      }
      const cfg = await c.redis.command('CONFIG', 'GET', 'client-output-buffer-limit');
      assert.match(cfg[1], /pubsub \d+ \d+ \d+/, 'redis took the pubsub limit');
      t.diagnostic(`redis client-output-buffer-limit: ${cfg[1]}`);
    }

    // A lobby socket learns chat-flood's room name as soon as its first
    // client creates it; the watcher and the stalled reader join it then,
    // before the flood starts (chat-flood waits for 300 ms of quiet after
    // the last join, and these joins make noise in the room).
    const lobby = await h.connect(gws[gws.length - 1].url, { name: 'lobby' });
    await h.waitFor(lobby, 'roomList');
    const reconnects0 = c.redis ? await metricsOf(gws, 'chat_adapter_reconnects_total') : [];
    const rss0 = gws.map((g) => h.rssKb(g.pid));
    const rssMax = [...rss0];
    const sampler = setInterval(() => {
      gws.forEach((g, i) => {
        try {
          rssMax[i] = Math.max(rssMax[i], h.rssKb(g.pid));
        } catch (_) { /* exited: reported below */ }
      });
    }, 250);
    t.after(() => clearInterval(sampler));
    // Redis's output buffer for each subscriber (CLIENT LIST omem), sampled:
    // the margin below the pubsub limit, reported.
    let omemMax = 0;
    const omemSampler = c.redis && setInterval(() => {
      c.redis.command('CLIENT', 'LIST', 'TYPE', 'pubsub').then((list) => {
        for (const m of String(list).matchAll(/ omem=(\d+)/g)) omemMax = Math.max(omemMax, Number(m[1]));
      }, () => {});
    }, 100);
    if (omemSampler) t.after(() => clearInterval(omemSampler));

    // Under ASan the RSS bound is not checked and the rate is at most 5 per
    // sender (a third of the issue's 15): the run is then about memory
    // errors on these paths, not capacity. Less than that would not fill
    // the stalled reader's kernel buffers and 4 MB queue in 20 s (at 10/3
    // it was never cut), and the cut is what this test is about.
    const asan = sanitized(gws[0].pid);
    const rate = asan ? Math.min(RATE, 5) : RATE;
    const flood = runFlood(c.urls, rate);
    const room = await h.waitFor(lobby, 'roomList', (l) => l.some((r) => r.startsWith('fl-')), 15000)
      .then((l) => l.find((r) => r.startsWith('fl-')));
    const [watcher, stalled] = await Promise.all([
      startWatcher(gws[gws.length - 1].url, room),
      stalledReader(gws[0].url, room),
    ]);
    lobby.close();

    const { res, log } = await flood;
    clearInterval(sampler);
    const growth = rssMax.map((m, i) => m - rss0[i]);
    const deliveredRatio = res.expected ? res.delivered / res.expected : 0;
    const watcherRatio = res.sent ? watcher.seen.size / res.sent : 0;
    const lags = await metricsOf(gws, 'chat_loop_lag_max_seconds');
    // Every bound that was hit, per gateway (diagnostics).
    const hits = await Promise.all(gws.map(async (g) => (await h.getMetrics(g.url)).samples
      .filter((x) => x.value > 0 && /limit_hits|slow_readers|ping_timeouts|protocol_errors|reconnects|errors_total/.test(x.name))
      .map((x) => `${x.name}${Object.keys(x.labels).length ? JSON.stringify(x.labels) : ''}=${x.value}`).join(' ')));
    t.diagnostic(`bounds hit: ${hits.map((x, i) => `gw${i}: ${x || 'none'}`).join('; ')}`);
    if (omemSampler) clearInterval(omemSampler);
    const summary = `mode ${h.MODE}${asan ? ' (sanitizer build, at most 5 msg/s per sender)' : ''}: sent ${res.sent}, expected ${res.expected}, delivered ` +
      `${res.delivered} (${(100 * deliveredRatio).toFixed(2)} %), watcher ${watcher.seen.size} ` +
      `(${(100 * watcherRatio).toFixed(2)} %), RSS growth kB ${growth.join(', ')}, ` +
      `loop lag max s ${lags.join(', ')}` +
      (c.redis ? `, largest Redis output buffer of a subscriber ${omemMax} B` : '');
    t.diagnostic(summary);
    console.log(`stalled: ${summary}`);

    for (const [i, g] of gws.entries()) {
      assert.ok(g.running(), `gateway ${i} died:\n${g.logs().slice(-4000)}`);
      if (!asan) assert.ok(growth[i] < RSS_BOUND_KB,
        `gateway ${i} RSS grew by ${growth[i]} kB (bound ${RSS_BOUND_KB} kB)`);
    }
    // The stalled reader was cut off, and its TCP connection ends.
    await h.waitUntil(async () => (await h.getMetrics(gws[0].url)).get('chat_slow_readers_dropped_total') >= 1,
      5000, 200, 'the stalled reader to be dropped');
    stalled.resume(); // read what the kernel holds: then EOF or reset
    const closed = await Promise.race([stalled.closed, h.delay(15000).then(() => null)]);
    assert.ok(closed, 'the stalled reader\'s TCP connection was not closed by the gateway');
    assert.equal(res.clients_connected, SENDERS, log.slice(-3000));
    assert.ok(res.sent >= SENDERS * rate * SECONDS * 0.99, `only ${res.sent} messages sent:\n${log.slice(-2500)}`);
    const logs = () => gws.map((g, i) => `--- gateway ${i} ---\n${g.logs().slice(-1500)}`).join('\n') +
      (c.redis ? `\n--- redis ---\n${c.redis.logs().slice(-1500)}` : '');
    assert.ok(deliveredRatio >= 0.99, `healthy flood members got ${res.delivered}/${res.expected}:\n` +
      `${log.slice(-3000)}\n${logs()}`);
    assert.ok(watcherRatio >= 0.99, `the watcher got ${watcher.seen.size}/${res.sent}`);
    assert.ok(watcher.s.connected, 'the watcher was disconnected');
    assert.ok(/disconnects 0,/.test(log), `healthy flood members were disconnected:\n${log.slice(-3000)}`);
    // Exactly one socket was cut: the stalled one, on its gateway.
    assert.deepEqual(await metricsOf(gws, 'chat_slow_readers_dropped_total'),
      gws.map((_, i) => (i === 0 ? 1 : 0)));
    assert.ok(watcher.notices.includes('stalled left the room.'), watcher.notices.join(' | '));

    if (c.redis) {
      // The subscriber connections kept up: Redis never cut one.
      // Redis 7.0 logs each cut ("... closed ASAP for overcoming of output
      // buffer limits"); 7.2+ also counts them in INFO stats.
      assert.ok(!/output buffer limits/.test(c.redis.logs()),
        `Redis cut a subscriber:\n${c.redis.logs().slice(-2000)}`);
      const info = await c.redis.command('INFO', 'stats');
      const cut = /client_output_buffer_limit_disconnections:(\d+)/.exec(info);
      if (cut) assert.equal(Number(cut[1]), 0, 'Redis disconnected a subscriber over its output-buffer limit');
      assert.deepEqual(await metricsOf(gws, 'chat_adapter_reconnects_total'), reconnects0);
      for (const l of lags) assert.ok(l < LOOP_LAG_BOUND_S, `event loop lag ${l} s`);
    }

    watcher.s.close();
    stopped = true;
    const codes = await c.stop('SIGTERM');
    codes.forEach((code, i) => assert.equal(code, 0, `gateway ${i} exit:\n${gws[i].logs().slice(-4000)}`));
  });
