// SPDX-License-Identifier: MIT
// deploy.cluster: `cluster.sh up --gateways 3` on a free nginx port, the chat
// protocol across instances through nginx with the official socket.io-client,
// the script's error paths, `cluster.sh down`, and no process left behind.
// Exits 77 (ctest SKIP) only if the gateway has no Redis adapter.
'use strict';

const fs = require('node:fs');
const L = require('./lib');
const { check, log } = L;

async function main() {
  const state = L.makeStateDir('cluster');
  const port = await L.freePort();
  let st = null;
  const clients = [];
  const cleanup = () => {
    for (const c of clients) c.close();
    L.cluster(state, ['down']);
  };
  try {
    // Error paths with nothing up.
    let r = L.cluster(state, ['down']);
    check(r.code === 0 && /nothing to stop/.test(r.out), `down with nothing up: exit 0 and says so (${r.code}: ${r.out.trim()})`);
    r = L.cluster(state, ['status']);
    check(r.code === 3 && /no cluster is up/.test(r.out), `status with nothing up: exit 3 (${r.code})`);
    r = L.cluster(state, ['up', '--gateways', 'x']);
    check(r.code === 1 && /--gateways must be/.test(r.out), 'up --gateways x is rejected');

    r = L.clusterUpOrSkip(state, ['--gateways', '3', '--port', String(port)]);
    check(r.out.includes(`http://127.0.0.1:${port}`), 'up prints the URL');
    st = L.readState(state);
    check(st.gateways.length === 3, '3 gateways have pid files');

    // Everything answers right after up returns.
    const hz = await L.httpGet(L.url(port), '/healthz');
    check(hz.status === 200, `GET /healthz through nginx: ${hz.status}`);
    const page = await L.httpGet(L.url(port), '/');
    check(page.status === 200, `GET / (static page) through nginx: ${page.status}`);
    const bundle = await L.httpGet(L.url(port), '/socket.io/socket.io.js');
    check(bundle.status === 200 && bundle.body.length > 1000, `GET /socket.io/socket.io.js through nginx: ${bundle.status}`);
    for (const g of st.gateways) {
      const rz = await L.httpGet(L.url(g.port), '/readyz');
      check(rz.status === 200, `${g.name} /readyz 200`);
    }

    // A second up is refused and changes nothing.
    r = L.cluster(state, ['up', '--gateways', '3', '--port', String(port)]);
    check(r.code === 1 && /already up/.test(r.out), `second up refused with a clear message (${r.code})`);
    check(st.gateways.every((g) => L.alive(g.pid)), 'gateways still running after the refused up');
    r = L.cluster(state, ['status']);
    check(r.code === 0 && (r.out.match(/running, ready/g) || []).length === 3, 'status lists 3 ready gateways');

    // Connect clients one at a time and learn which gateway each landed on
    // (least_conn spreads sequential connections over idle upstreams).
    const homes = [];
    for (let i = 0; i < 3; i++) {
      const before = await Promise.all(st.gateways.map((g) => L.connections(g.port)));
      const c = await L.connect(port);
      clients.push(c);
      const after = await L.waitUntil(async () => {
        const a = await Promise.all(st.gateways.map((g) => L.connections(g.port)));
        return a.reduce((x, y) => x + y, 0) > before.reduce((x, y) => x + y, 0) ? a : null;
      }, 10000, 50, 'connection count to rise');
      homes.push(after.findIndex((n, k) => n > before[k]));
    }
    log('client homes (gateway index):', homes);
    check(new Set(homes).size === 3, 'three sequential clients landed on three different gateways');
    const [a, b, c] = clients;
    await L.waitFor(c, 'roomList', 10000);

    // Cross-instance chat.
    const room = `deploy-${process.pid}`;
    let ack = await L.emitAck(a, 'create', { roomName: room, userName: 'alice' });
    check(ack && ack.ok === true && ack.key === a.id, `alice creates ${room} on gateway ${homes[0]}`);
    await L.waitFor(c, 'roomList', (l) => l.includes(room), 10000);
    check(true, 'roomList reached a client on another gateway');
    ack = await L.emitAck(b, 'create', { roomName: room, userName: 'bob' });
    check(ack && ack.ok === true, `bob joins from gateway ${homes[1]}`);
    await L.waitFor(a, 'notice', (n) => /bob/.test(n), 10000);
    check(true, 'notice crossed instances');
    const names = (l) => l.map((u) => u.userName).join(',');
    await L.waitUntil(() => names(L.seen(a, 'userList').at(-1) || []) === 'alice,bob' &&
      names(L.seen(b, 'userList').at(-1) || []) === 'alice,bob', 10000, 50, 'both userLists [alice,bob]');
    check(true, 'userList is the same on both instances');

    ack = await L.emitAck(a, 'sendMessage', { message: 'hello from alice' });
    check(ack && ack.ok === true, 'alice sends to the room');
    await L.waitFor(b, 'newMessage', (m) => m.message === 'hello from alice' && m.user === 'alice' && m.dm === false, 10000);
    check(true, 'room message crossed instances');

    ack = await L.emitAck(b, 'sendMessage', { message: 'psst alice', select: a.id });
    check(ack && ack.ok === true, 'bob sends a DM to alice by key');
    await L.waitFor(a, 'newMessage', (m) => m.message === 'psst alice' && m.user === 'bob' && m.dm === true, 10000);
    check(true, 'DM crossed instances');

    ack = await L.emitAck(c, 'create', { roomName: room, userName: 'alice' });
    check(ack && ack.ok === false && ack.error && ack.error.code === 'name_taken',
      `a third gateway refuses a duplicate name: ${JSON.stringify(ack)}`);

    for (const x of clients) x.close();
    clients.length = 0;

    // down stops everything up started.
    const t0 = Date.now();
    r = L.cluster(state, ['down']);
    log(r.out.trim());
    check(r.code === 0, `down exits 0 (${r.code}) in ${Date.now() - t0} ms`);
    const pids = [...st.gateways.map((g) => g.pid), st.redis.pid, st.nginx.pid];
    await L.waitUntil(() => pids.every((p) => !L.alive(p)), 10000, 50, 'every started process to exit').catch(() => {});
    check(pids.every((p) => !L.alive(p)), `no started pid alive: ${pids.filter(L.alive).join(' ') || 'none'}`);
    const left = L.processesMentioning(state);
    check(left.length === 0, `no process mentions the state dir: ${left.join('; ') || 'none'}`);
    const exits = await L.waitUntil(() => {
      const e = st.gateways.map((g) => { try { return fs.readFileSync(`${state}/${g.name}.exit`, 'utf8').trim(); } catch (x) { return null; } });
      return e.every((x) => x !== null) && e;
    }, 5000, 50, 'gateway exit status files').catch(() => []);
    check(exits.length === 3 && exits.every((x) => x === '0'), `every gateway exited 0 on down (${exits.join(' ')})`);
    const np = await L.httpGet(L.url(port), '/healthz').then(() => 'open', () => 'closed');
    check(np === 'closed', `nginx port ${port} is closed after down`);
    r = L.cluster(state, ['down']);
    check(r.code === 0 && /nothing to stop/.test(r.out), 'a second down says nothing to stop');
  } catch (e) {
    check(false, `unexpected: ${e.stack || e}`);
    for (const f of fs.existsSync(state) ? fs.readdirSync(state) : [])
      if (f.endsWith('.log')) log(`--- ${f}\n${fs.readFileSync(`${state}/${f}`, 'utf8').split('\n').slice(-20).join('\n')}`);
    cleanup();
  }
  const n = L.failed();
  log(n ? `${n} check(s) failed` : 'all checks passed');
  if (!n) fs.rmSync(state, { recursive: true, force: true });
  process.exit(n ? 1 : 0);
}

main();
