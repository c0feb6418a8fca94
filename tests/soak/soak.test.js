// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/soak/soak.test.js — soak run (issue 7, "Soak"): 3 gateways + one
 * redis-server, SOAK_SECONDS long (default 60; `scripts/soak.sh` runs 600).
 *
 * Load, continuously until the end:
 *   - CHURN concurrent client lifecycles (socket.io-client): connect to a
 *     random instance, join one of a few rooms under a fresh name, chat
 *     (acked room messages), DM another member, sometimes move to another
 *     room, sometimes leave first, disconnect; repeat;
 *   - every KILL_EVERY_MS a raw client that upgrades, connects, joins and
 *     then dies in the middle of a WebSocket frame (header and part of the
 *     payload sent, then the TCP connection destroyed).
 * Checked:
 *   - every gateway stays up; every request is answered as expected (room
 *     messages ok; DMs ok or user_not_found when the target just left);
 *   - RSS of every gateway, sampled every 2 s: after warm-up (the first
 *     20 % of the run) the least-squares slope is below SLOPE_BOUND_KB_MIN
 *     (reported; skipped as an assertion for a sanitizer build, whose
 *     allocator quarantine grows by design);
 *   - /metrics agree with the traffic, per instance: connections_total =
 *     Socket.IO connects made (churn + raw), events_in = events sent,
 *     connections and websockets gauges back to 0, no room left, no slow
 *     reader or ping timeout, protocol errors at most the frames cut short,
 *     no `unavailable` or `internal` error;
 *   - SIGTERM: every gateway exits 0 (under ASan: no leak, no error report).
 * Figures are printed and appended to $SOAK_REPORT (default
 * $TMPDIR/chat-gateway-soak.txt).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../lib/harness.js');

const SECONDS = Number(process.env.SOAK_SECONDS || 60);
const CHURN = Number(process.env.SOAK_CHURN || 24);
const KILL_EVERY_MS = 2000;
const ROOMS = ['lobby-a', 'lobby-b', 'lobby-c', 'lobby-d', 'lobby-e'];
const REPORT = process.env.SOAK_REPORT || path.join(os.tmpdir(), 'chat-gateway-soak.txt');
/* A leak of 1 KB per client lifecycle would grow a gateway by (lifecycles
 * per minute per gateway) KB/min: about 100-200 KB/min here. The bound sits
 * below that and well above the noise of a flat heap (malloc arenas grow in
 * steps of 132 KB+, a step late in a short run tilts the fit). */
const SLOPE_BOUND_KB_MIN = Number(process.env.SOAK_SLOPE_BOUND || (SECONDS >= 300 ? 32 : 96));
const ACK_MS = 10000;

const rnd = (n) => Math.floor(Math.random() * n);

/* slope: least-squares slope of [x, y] points. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) * (x - mx);
  }
  return den ? num / den : 0;
}

function sanitized(pid) {
  try {
    return /libasan|libubsan/.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch (_) {
    return false;
  }
}

test(`soak: ${SECONDS} s of churn and chat on 3 instances`, { timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const c = await h.startCluster({
    gateways: 3,
    redis: true,
    args: ['--drain-time', '300', '--log-level', 'warn'],
  });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await c.stop('SIGKILL');
  });
  for (const g of c.gateways) {
    await h.waitUntil(async () => (await h.getMetrics(g.url)).get('chat_adapter_up', { adapter: 'redis' }) === 1,
      8000, 50, `adapter up on ${g.url}`);
  }
  const G = c.gateways.length;
  const made = c.gateways.map(() => ({ connects: 0, create: 0, sendMessage: 0, leave: 0, kills: 0 }));
  const problems = [];
  const t0 = Date.now();
  const end = t0 + SECONDS * 1000;
  let lifecycles = 0;
  let messages = 0;

  // RSS samples: [minutes since start, kB] per gateway.
  const rss = c.gateways.map(() => []);
  const sample = () => {
    const m = (Date.now() - t0) / 60000;
    c.gateways.forEach((g, i) => {
      if (g.running()) rss[i].push([m, h.rssKb(g.pid)]);
    });
  };
  sample();
  const sampler = setInterval(sample, 2000);
  t.after(() => clearInterval(sampler));

  async function ack(sock, gi, ev, payload) {
    made[gi][ev]++;
    return h.emitAck(sock, ev, payload, ACK_MS);
  }

  async function lifecycle(id) {
    const gi = rnd(G);
    const s = await h.connect(c.gateways[gi].url, { name: `churn${id}` });
    made[gi].connects++;
    try {
      let room = ROOMS[rnd(ROOMS.length)];
      const name = `u${id}-${lifecycles}`;
      let a = await ack(s, gi, 'create', { roomName: room, userName: name });
      if (!a.ok) throw new Error(`create ${room}/${name}: ${JSON.stringify(a)}`);
      const rounds = 1 + rnd(2);
      for (let r = 0; r < rounds; r++) {
        for (let k = 2 + rnd(5); k > 0; k--) {
          a = await ack(s, gi, 'sendMessage', { message: `${name} says ${k} ${'x'.repeat(rnd(200))}` });
          if (!a.ok) throw new Error(`sendMessage: ${JSON.stringify(a)}`);
          messages++;
          await h.delay(50 + rnd(250));
        }
        // A DM to someone else in the room (who may be leaving right now).
        const lists = h.history(s, 'userList');
        const others = lists.length ? lists[lists.length - 1].payload.filter((u) => u.key !== s.id) : [];
        if (others.length) {
          const to = others[rnd(others.length)];
          a = await ack(s, gi, 'sendMessage', { message: `psst ${to.userName}`, select: to.key });
          if (!a.ok && a.error.code !== 'user_not_found') throw new Error(`DM: ${JSON.stringify(a)}`);
          messages++;
        }
        if (r + 1 < rounds) { // move to another room
          room = ROOMS[rnd(ROOMS.length)];
          a = await ack(s, gi, 'create', { roomName: room, userName: name });
          if (!a.ok) throw new Error(`move to ${room}/${name}: ${JSON.stringify(a)}`);
        }
        h.clearEvents(s);
      }
      if (Math.random() < 0.5) {
        a = await ack(s, gi, 'leave', h.NONE);
        if (!a.ok) throw new Error(`leave: ${JSON.stringify(a)}`);
      }
    } finally {
      s.disconnect();
    }
    lifecycles++;
  }

  async function churner(id) {
    while (Date.now() < end) {
      try {
        await lifecycle(id);
      } catch (e) {
        problems.push(`churn ${id}: ${e.message.split('\n')[0]}`);
        await h.delay(200);
      }
    }
  }

  // A raw client that dies mid-frame: a 300-byte masked text frame of which
  // only the header and 40 bytes are sent.
  async function killMidFrame() {
    const gi = rnd(G);
    const raw = h.rawTcpWs(c.gateways[gi].url);
    try {
      await raw.opened;
      await raw.handshake();
      await raw.sioConnect();
      made[gi].connects++;
      const frame = h.encodeFrame(1, `42["sendMessage",{"message":"${'y'.repeat(260)}"}]`);
      raw.sendRaw(frame.subarray(0, 8 + 40));
      await h.delay(20);
      made[gi].kills++;
    } catch (e) {
      problems.push(`raw client: ${e.message.split('\n')[0]}`);
    } finally {
      raw.terminate();
    }
  }
  let killing = Promise.resolve();
  const killer = setInterval(() => {
    killing = killing.then(killMidFrame);
  }, KILL_EVERY_MS);
  t.after(() => clearInterval(killer));

  await Promise.all(Array.from({ length: CHURN }, (_, i) => churner(i)));
  clearInterval(killer);
  await killing;
  sample();
  clearInterval(sampler);

  // Everything closed: every gauge back to 0 on every instance.
  for (const [i, g] of c.gateways.entries()) {
    assert.ok(g.running(), `gateway ${i} died:\n${g.logs().slice(-4000)}`);
    await h.waitUntil(async () => {
      const m = await h.getMetrics(g.url);
      return m.get('chat_connections') === 0 && m.get('chat_websockets') === 0 &&
        m.get('chat_room_members') === 0 && m.get('chat_rooms') === 0;
    }, 10000, 100, `gateway ${i} back to 0 connections, members and rooms`);
  }
  assert.deepEqual(await c.redis.command('ZRANGE', 'gw:rooms', 0, -1), []);

  // RSS slope after warm-up.
  const warm = SECONDS * 0.2 / 60;
  const slopes = rss.map((pts) => slope(pts.filter((p) => p[0] >= warm)));
  const asan = sanitized(c.gateways[0].pid);
  const per = c.gateways.map((g, i) => {
    const pts = rss[i];
    const first = pts.find((p) => p[0] >= warm) || pts[0];
    return `gw${i}: RSS ${pts[0][1]} kB at start, ${first[1]} kB after warm-up, ` +
      `${pts[pts.length - 1][1]} kB at the end, slope ${slopes[i].toFixed(1)} kB/min, ` +
      `${made[i].connects} connects, ${made[i].sendMessage} messages, ${made[i].kills} killed mid-frame`;
  });
  const line = `${new Date().toISOString()} soak ${SECONDS} s, ${CHURN} churners${asan ? ' (sanitizer build)' : ''}: ` +
    `${lifecycles} client lifecycles, ${messages} messages, ${problems.length} problems; ` +
    `slope bound ${SLOPE_BOUND_KB_MIN} kB/min\n  ${per.join('\n  ')}\n`;
  console.log(line);
  t.diagnostic(line);
  fs.appendFileSync(REPORT, line);

  assert.deepEqual(problems, []);
  assert.ok(lifecycles >= SECONDS, `only ${lifecycles} client lifecycles`);
  if (!asan) {
    slopes.forEach((s, i) => assert.ok(s < SLOPE_BOUND_KB_MIN,
      `gateway ${i} RSS grows ${s.toFixed(1)} kB/min after warm-up (bound ${SLOPE_BOUND_KB_MIN})`));
  }

  // /metrics against the traffic, per instance.
  for (const [i, g] of c.gateways.entries()) {
    const m = await h.getMetrics(g.url);
    const ctx = `gateway ${i}: made ${JSON.stringify(made[i])}`;
    assert.equal(m.get('chat_connections_total'), made[i].connects, ctx);
    for (const ev of ['create', 'sendMessage', 'leave']) {
      assert.equal(m.get('chat_events_in_total', { event: ev }), made[i][ev], `${ctx}: ${ev}`);
    }
    assert.equal(m.get('chat_events_in_total', { event: 'other' }), 0, ctx);
    assert.ok(m.get('chat_protocol_errors_total') <= made[i].kills, ctx);
    assert.equal(m.get('chat_slow_readers_dropped_total'), 0, ctx);
    assert.equal(m.get('chat_ping_timeouts_total'), 0, ctx);
    assert.equal(m.get('chat_errors_total', { code: 'unavailable' }), 0, ctx);
    assert.equal(m.get('chat_errors_total', { code: 'internal' }), 0, ctx);
    assert.equal(m.get('chat_errors_total', { code: 'rate_limited' }), 0, ctx);
    assert.equal(m.get('chat_adapter_reconnects_total'), 0, ctx);
    assert.equal(m.get('chat_adapter_errors_total'), 0, ctx);
  }

  stopped = true;
  const codes = await c.stop('SIGTERM');
  codes.forEach((code, i) => assert.equal(code, 0,
    `gateway ${i} exited ${code}:\n${c.gateways[i].logs().slice(-4000)}`));
});
