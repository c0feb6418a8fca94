// SPDX-License-Identifier: MIT
// deploy.drain: graceful drain behind nginx. 200 socket.io clients in 10
// rooms through nginx on a 3-gateway cluster; SIGTERM one gateway (drain
// 2000 ms). It must answer /readyz 503, exit 0 within the drain period plus
// a margin; its clients see "transport close" (not "io server disconnect"),
// reconnect through nginx to the survivors, rejoin and chat; the others
// never disconnect; and no name appears twice in any userList.
// Exits 77 (ctest SKIP) only if the gateway has no Redis adapter.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const L = require('./lib');
const { check, log } = L;

const CLIENTS = Number(process.env.DRAIN_CLIENTS || 200);
const ROOMS = 10;
const DRAIN_MS = 2000;
const EXIT_MARGIN_MS = 5000;

async function main() {
  const state = L.makeStateDir('drain');
  const port = await L.freePort();
  const clients = [];
  try {
    L.clusterUpOrSkip(state, ['--gateways', '3', '--port', String(port), '--',
      '--drain-time', String(DRAIN_MS), '--rate-limit', '0']);
    const st = L.readState(state);
    const victim = st.gateways[1];
    log(`cluster on :${port}; victim ${victim.name} pid ${victim.pid} port ${victim.port}`);

    // Connect and join in batches (each client: room r<i % ROOMS>, name u<i>).
    const tag = process.pid.toString(36);
    for (let i = 0; i < CLIENTS; i += 20) {
      const batch = [];
      for (let j = i; j < Math.min(CLIENTS, i + 20); j++) {
        batch.push(L.connect(port).then((c) => {
          c.room = `drain-${tag}-${j % ROOMS}`;
          c.name = `u${j}`;
          clients.push(c);
          return L.emitAck(c, 'create', { roomName: c.room, userName: c.name });
        }));
      }
      const acks = await Promise.all(batch);
      const bad = acks.filter((a) => !a || a.ok !== true);
      if (bad.length) throw new Error(`create failed: ${JSON.stringify(bad[0])}`);
    }
    check(true, `${CLIENTS} clients connected through nginx and joined ${ROOMS} rooms`);
    const per = await Promise.all(st.gateways.map((g) => L.connections(g.port)));
    log('connections per gateway before drain:', per.join(' '));
    check(per[1] > 0, `the victim holds ${per[1]} connections`);
    const sids0 = new Map(clients.map((c) => [c, c.id]));

    // Rejoin on every reconnect, as an application does.
    for (const c of clients) {
      c.rejoin = null;
      c.io.on('reconnect', () => {
        c.rejoin = (async () => {
          for (let t = 0; t < 50; t++) {
            const a = await L.emitAck(c, 'create', { roomName: c.room, userName: c.name }).catch((e) => ({ ok: false, error: { code: String(e) } }));
            if (a.ok) return a;
            c.retries = (c.retries || 0) + 1;
            await L.delay(100);
          }
          return { ok: false };
        })();
      });
    }

    // SIGTERM the victim.
    const t0 = Date.now();
    process.kill(victim.pid, 'SIGTERM');
    let saw503 = false;
    while (L.alive(victim.pid) && Date.now() - t0 < DRAIN_MS + EXIT_MARGIN_MS) {
      const rz = await L.httpGet(L.url(victim.port), '/readyz', { timeoutMs: 500 }).catch(() => null);
      if (rz && rz.status === 503) saw503 = true;
      await L.delay(50);
    }
    const exitMs = Date.now() - t0;
    check(saw503, 'the draining gateway answered /readyz 503');
    check(!L.alive(victim.pid), `victim exited ${exitMs} ms after SIGTERM (limit ${DRAIN_MS + EXIT_MARGIN_MS} ms)`);
    const exitFile = path.join(state, `${victim.name}.exit`);
    await L.waitUntil(() => fs.existsSync(exitFile), 3000, 50, 'exit status file').catch(() => {});
    const status = fs.existsSync(exitFile) ? fs.readFileSync(exitFile, 'utf8').trim() : '?';
    check(status === '0', `victim exit status ${status}`);
    check(exitMs >= DRAIN_MS * 0.5 || per[1] < 10, `closing was spread over the drain period (${exitMs} ms)`);

    // Who was disconnected, and why.
    const moved = clients.filter((c) => L.seen(c, '$disconnect').length > 0);
    const reasons = {};
    for (const c of moved) for (const r of L.seen(c, '$disconnect')) reasons[r] = (reasons[r] || 0) + 1;
    log('disconnect reasons:', JSON.stringify(reasons));
    check(moved.length === per[1], `exactly the victim's clients were disconnected (${moved.length} of ${per[1]})`);
    check(moved.every((c) => L.seen(c, '$disconnect').every((r) => r === 'transport close')),
      'every drained client saw "transport close" (so it auto-reconnects)');

    // They reconnect through nginx and rejoin.
    await L.waitUntil(() => moved.every((c) => c.connected && c.rejoin), 15000, 50, 'drained clients to reconnect');
    const rejoined = await Promise.all(moved.map((c) => c.rejoin));
    check(rejoined.every((a) => a.ok), `all ${moved.length} drained clients reconnected and rejoined` +
      ` (${moved.reduce((n, c) => n + (c.retries || 0), 0)} name_taken retries)`);
    check(moved.every((c) => c.id !== sids0.get(c)), 'reconnected clients have new socket ids');
    const after = await Promise.all(st.gateways.filter((g) => g !== victim).map((g) => L.connections(g.port)));
    check(after.reduce((x, y) => x + y, 0) === CLIENTS, `survivors hold all ${CLIENTS} connections (${after.join(' ')})`);

    // userLists converge: every room has exactly its 20 names, none twice.
    const byRoom = new Map();
    for (const c of clients) {
      if (!byRoom.has(c.room)) byRoom.set(c.room, []);
      byRoom.get(c.room).push(c);
    }
    const want = (room) => byRoom.get(room).map((c) => c.name).sort().join(',');
    const ok = await L.waitUntil(() => clients.every((c) => {
      const l = L.seen(c, 'userList').at(-1) || [];
      return l.map((u) => u.userName).sort().join(',') === want(c.room);
    }), 15000, 50, 'userLists to converge').catch((e) => { log(e.message); return false; });
    check(ok, 'every client\'s latest userList holds exactly its room\'s members');
    let dup = 0;
    for (const c of clients)
      for (const l of L.seen(c, 'userList')) {
        const names = l.map((u) => u.userName);
        if (new Set(names).size !== names.length) dup++;
      }
    check(dup === 0, `no userList ever contained a name twice (${dup} did)`);

    // Everyone can chat again: one message per room reaches all its members.
    for (const [room, members] of byRoom) {
      const sender = members.find((c) => L.seen(c, '$disconnect').length) || members[0];
      const text = `after drain ${room}`;
      const a = await L.emitAck(sender, 'sendMessage', { message: text });
      if (!a || !a.ok) check(false, `send in ${room}: ${JSON.stringify(a)}`);
      const got = (m) => L.seen(m, 'newMessage').some((x) => x.message === text && x.user === sender.name);
      await L.waitUntil(() => members.every(got), 10000, 50, `message in ${room}`)
        .catch((e) => check(false, e.message));
    }
    check(true, 'after the drain a message in each room reached all its members');

  } catch (e) {
    check(false, `unexpected: ${e.stack || e}`);
  }
  for (const c of clients) c.close();
  // nginx logs a WebSocket when it ends: now every upgrade is in the log.
  try {
    await L.delay(500);
    // nginx hid the drain: upgrades refused by the draining gateway (503)
    // were retried on another upstream; no client saw a 5xx.
    const access = fs.readFileSync(path.join(state, 'nginx', 'logs', 'access.log'), 'utf8').split('\n');
    const upgrades = access.filter((l) => l.includes('/socket.io/?EIO=4&transport=websocket'));
    const failedUp = upgrades.filter((l) => / HTTP\/1\.1" 5\d\d /.test(l));
    const retried = upgrades.filter((l) => /ups=[^ ]*50[234],/.test(l) && /" 101 /.test(l));
    check(failedUp.length === 0, `no upgrade through nginx failed with 5xx (${failedUp.length} of ${upgrades.length}; ` +
      `${retried.length} refused by the draining gateway and retried elsewhere)`);
  } catch (e) {
    check(false, `nginx access log: ${e.message}`);
  }
  if (L.failed())
    for (const f of fs.existsSync(state) ? fs.readdirSync(state) : [])
      if (f.endsWith('.log')) log(`--- ${f}\n${fs.readFileSync(path.join(state, f), 'utf8').split('\n').slice(-20).join('\n')}`);
  const r = L.cluster(state, ['down']);
  check(r.code === 0, `cluster down (exit ${r.code})`);
  const left = L.processesMentioning(state);
  check(left.length === 0, `no process left behind: ${left.join('; ') || 'none'}`);
  const n = L.failed();
  log(n ? `${n} check(s) failed` : 'all checks passed');
  if (!n) fs.rmSync(state, { recursive: true, force: true });
  process.exit(n ? 1 : 0);
}

main();
