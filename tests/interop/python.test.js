// SPDX-License-Identifier: MIT
// interop.python: Debian's python3-socketio client, with its DEFAULT
// transports (an Engine.IO long-polling handshake, then the upgrade to
// WebSocket), talks to a 3-gateway Redis cluster and chats with the
// official JS socket.io-client on another instance:
//   1. straight to gateway 1, the JS client on gateway 2: join, chat, a DM
//      from JS to Python, the leave seen from JS;
//   2. both through nginx balancing with no affinity (deploy/nginx), so
//      the Python session's requests land on any gateway and are relayed
//      to the one owning its sid;
//   3. both through nginx with the cookie affinity (render.sh --affinity
//      cookie): python-socketio keeps the chat_node cookie and sends it
//      with its upgrade, so nothing is relayed.
// The Python side is tests/interop/sio_client.py, driven over stdin/stdout.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');

const h = require('../lib/harness.js');
const { startNginx } = require('../../deploy/tests/nginx-helper.js');

const PY_CLIENT = path.join(__dirname, 'sio_client.py');
// Debian's interpreter, which sees Debian's python3-* packages (a python3
// earlier in PATH, e.g. pyenv's, would not).
const PYTHON = process.env.PYTHON || (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const T = 10000; // per step: polling and a relay hop are slower than a WebSocket

// ------------------------------------------------------------ python

// PyClient runs sio_client.py against |url| and records every line it
// prints, so a test acts first and awaits the event after (as the harness
// recorder does for JS sockets).
class PyClient {
  constructor(url, label) {
    this.label = label;
    this.events = [];
    this.waiters = new Set();
    this.stderr = '';
    this.acks = 0;
    this.proc = spawn(PYTHON, ['-u', PY_CLIENT, url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        let e;
        try {
          e = JSON.parse(line);
        } catch (_) {
          e = { ev: '$garbage', line };
        }
        e.used = false;
        this.events.push(e);
        for (const w of [...this.waiters]) w(e);
      }
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => {
      this.stderr += d;
      if (this.stderr.length > 1 << 20) this.stderr = this.stderr.slice(-(1 << 19));
    });
    this.exited = new Promise((res) => this.proc.on('exit', (code, sig) => res(code === null ? sig : code)));
  }

  describe() {
    const evs = this.events.map((e) => `${e.used ? '(consumed) ' : ''}${JSON.stringify(e)}`).join('\n    ');
    return `\n  ${this.label} received:\n    ${evs || 'nothing'}\n  its log (tail):\n${this.stderr.slice(-3000)}`;
  }

  // wait resolves with the first unconsumed line whose ev is |ev| and for
  // which pred holds, already printed or printed later, and consumes it.
  wait(ev, pred = () => true, timeoutMs = T) {
    const match = (e) => !e.used && e.ev === ev && pred(e);
    const hit = this.events.find(match);
    if (hit) {
      hit.used = true;
      return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      const w = (e) => {
        if (!match(e)) return;
        e.used = true;
        clearTimeout(timer);
        this.waiters.delete(w);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`${this.label}: no '${ev}' ${pred.name || ''} within ${timeoutMs} ms${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  send(cmd) {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  // emitAck emits |event| with |data| and resolves with the ack's first
  // argument.
  async emitAck(event, data) {
    const id = ++this.acks;
    this.send({ op: 'emit', event, data, id });
    const a = await this.wait('$ack', (e) => e.id === id);
    return a.args[0];
  }

  emit(event, data) {
    this.send({ op: 'emit', event, data });
  }

  async state() {
    this.send({ op: 'state' });
    return this.wait('$state');
  }

  async quit() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.send({ op: 'quit' });
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

// Waits until the Python client reports the WebSocket transport (the
// upgrade happened), and returns its state.
async function upgraded(py) {
  let st;
  await h.waitUntil(async () => {
    st = await py.state();
    return st.transport === 'websocket';
  }, T, 100, `${py.label} upgraded to websocket${py.describe()}`);
  return st;
}

// The sum of every sample of the counter |name| (all label values) over
// the gateways at |urls|.
async function sum(urls, name) {
  let n = 0;
  for (const u of urls) for (const x of (await h.getMetrics(u)).samples) if (x.name === name) n += x.value;
  return n;
}

// ------------------------------------------------------------ setup

let cluster;
const ownerOfTag = new Map(); // peer tag -> gateway
const pys = [];
const socks = [];
const nginxes = [];

before(async () => {
  const r = spawnSync(PYTHON, ['-c', 'import socketio, engineio, requests, websocket; '
    + 'import importlib.metadata as m; print(m.version("python-socketio"), m.version("python-engineio"))'],
    { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} cannot import socketio/engineio/requests/websocket: install Debian's python3-socketio, `
      + `python3-requests and python3-websocket (scripts/setup.sh --test)\n${r.stderr}`);
  }
  console.log(`# python-socketio, python-engineio: ${r.stdout.trim()}`);
  cluster = await h.startCluster({ gateways: 3, redis: true });
  console.log(`# gateways ${cluster.gateways.map((g) => g.port).join(', ')}, redis ${cluster.redis.port}`);
  // Each gateway's peer tag (the first 6 characters of the sids it
  // issues), from a raw polling handshake straight to it.
  for (const g of cluster.gateways) {
    const rp = h.rawPoll(g.url);
    const open = await rp.open();
    await rp.close();
    rp.destroy();
    ownerOfTag.set(open.sid.slice(0, 6), g);
  }
  assert.equal(ownerOfTag.size, 3, `three distinct peer tags: ${[...ownerOfTag.keys()]}`);
});

after(async () => {
  for (const p of pys) await p.quit().catch(() => {});
  for (const s of socks) s.disconnect();
  for (const n of nginxes) await n.stop().catch(() => {});
  // Every gateway exits 0 (under ASan a leak or error report would not).
  if (cluster) assert.deepEqual(await cluster.stop(), [0, 0, 0], 'gateway exit codes');
});

function py(url, label) {
  const p = new PyClient(url, label);
  pys.push(p);
  return p;
}

async function js(url, name) {
  const s = await h.connect(url, { name, transports: ['websocket'] });
  socks.push(s);
  return s;
}

// The scenario both tests run: Python joins |room| first, JS joins, they
// chat, JS sends Python a DM, Python leaves. Every payload is checked.
async function chat(p, s, room) {
  const pyName = '파이썬 🐍';
  const c = await p.wait('$connect');
  assert.match(c.eio_sid, /^[A-Za-z0-9_-]{20}$/, `Engine.IO sid ${c.eio_sid}: 20 characters, the first 6 the owner's tag`);
  const rl = await p.wait('roomList');
  assert.ok(Array.isArray(rl.args[0]), `roomList payload ${JSON.stringify(rl.args)}`);

  const ack = await p.emitAck('create', { roomName: ` ${room} `, userName: pyName });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.room, room);
  assert.equal(ack.userName, pyName);
  assert.equal(typeof ack.key, 'string');
  const pyKey = ack.key;
  const ul1 = await p.wait('userList', (e) => e.args[0].length === 1);
  assert.deepEqual(ul1.args[0], [{ userName: pyName, key: pyKey }]);
  await p.wait('roomList', (e) => e.args[0].includes(room));

  const jsAck = await h.emitAck(s, 'create', { roomName: room, userName: 'js' }, T);
  assert.equal(jsAck.ok, true, JSON.stringify(jsAck));
  const notice = await p.wait('notice', (e) => e.args[0] === 'js joined the room.');
  assert.deepEqual(notice.args, ['js joined the room.']);
  const ul2 = await p.wait('userList', (e) => e.args[0].length === 2);
  assert.deepEqual(ul2.args[0], [{ userName: pyName, key: pyKey }, { userName: 'js', key: jsAck.key }]);
  const jsList = await h.waitFor(s, 'userList', (l) => l.length === 2, T);
  assert.deepEqual(jsList, ul2.args[0], 'both instances list the same members');

  // Python → room.
  const text = 'hello from python ☃ 안녕';
  const sent = await p.emitAck('sendMessage', { message: text });
  assert.equal(sent.ok, true, JSON.stringify(sent));
  const atJs = await h.waitFor(s, 'newMessage', (m) => m.message === text, T);
  assert.equal(atJs.user, pyName);
  assert.equal(atJs.dm, false);
  assert.equal(typeof atJs.ts, 'number');
  const own = await p.wait('newMessage', (e) => e.args[0].message === text);
  assert.deepEqual(own.args[0], atJs, 'the sender gets the same message');

  // JS → Python, a DM across instances.
  const dm = 'psst, python';
  const dmAck = await h.emitAck(s, 'sendMessage', { message: dm, select: pyKey }, T);
  assert.equal(dmAck.ok, true, JSON.stringify(dmAck));
  const got = await p.wait('newMessage', (e) => e.args[0].message === dm);
  assert.equal(got.args[0].user, 'js');
  assert.equal(got.args[0].dm, true);
  assert.equal(typeof got.args[0].ts, 'number');
  const echo = await h.waitFor(s, 'newMessage', (m) => m.message === dm, T);
  assert.equal(echo.dm, true);

  // The default transports upgrade: polling first, WebSocket now.
  const st = await upgraded(p);
  assert.equal(st.eio_sid, c.eio_sid, 'the upgrade keeps the session');
  assert.equal(st.connected, true);

  // Python leaves (disconnects): JS sees it.
  assert.equal(await p.quit(), 0, `python exit${p.describe()}`);
  await p.wait('$bye');
  await h.waitFor(s, 'notice', (n) => n === `${pyName} left the room.`, T);
  const left = await h.waitFor(s, 'userList', (l) => l.length === 1, T);
  assert.deepEqual(left, [{ userName: 'js', key: jsAck.key }]);
  return c;
}

test('python-socketio (default transports) on gateway 1 chats with socket.io-client on gateway 2', async () => {
  const [g1, g2] = cluster.gateways;
  const upgradesBefore = await sum([g1.url], 'chat_upgrades_total');
  const s = await js(g2.url, 'js@gw2');
  const p = py(g1.url, 'python@gw1');
  await chat(p, s, 'interop');
  // The session began on polling and upgraded on gateway 1 (no relay: the
  // client talked to gateway 1 only).
  const upgrades = (await sum([g1.url], 'chat_upgrades_total')) - upgradesBefore;
  assert.ok(upgrades >= 1, `gateway 1 counted ${upgrades} upgrade(s) (chat_upgrades_total)`);
});

test('python-socketio through nginx with no affinity: requests relayed to the owner', async () => {
  const ngx = await startNginx({ upstreams: cluster.gateways.map((g, i) => ({ node: `gw${i + 1}`, port: g.port })) });
  nginxes.push(ngx);
  const urls = cluster.gateways.map((g) => g.url);
  const relaysBefore = await sum(urls, 'chat_relays_total');
  const s = await js(ngx.url, 'js@nginx');
  const p = py(ngx.url, 'python@nginx');
  const c = await chat(p, s, 'interop-nginx');
  // The Python session's requests that carry its sid (the upgrade, and
  // any poll): the gateway nginx gave each to, against the sid's owner.
  // Every one that reached another gateway must have been relayed.
  const owner = ownerOfTag.get(c.eio_sid.slice(0, 6));
  assert.ok(owner, `sid ${c.eio_sid}: its tag names none of the gateways`);
  const name = (port) => `gw${cluster.gateways.findIndex((g) => g.port === port) + 1}`;
  const reqs = [];
  for (const line of ngx.accessLog().split('\n')) {
    if (!line.includes(`sid=${c.eio_sid}`)) continue;
    const m = / up=(?:\S+, )*127\.0\.0\.1:(\d+) /.exec(line);
    if (m) reqs.push({ to: Number(m[1]), ws: /transport=websocket/.test(line) });
  }
  assert.ok(reqs.length >= 1, `nginx logged no request for sid ${c.eio_sid}:\n${ngx.accessLog().slice(-3000)}`);
  const elsewhere = reqs.filter((r) => r.to !== owner.port);
  const relays = (await sum(urls, 'chat_relays_total')) - relaysBefore;
  console.log(`# python's session is owned by ${name(owner.port)}; its ${reqs.length} request(s) with the sid went to `
    + `${reqs.map((r) => `${name(r.to)}${r.ws ? ' (upgrade)' : ''}`).join(', ')}; ${relays} relay(s) counted`);
  assert.ok(relays >= elsewhere.length,
    `${elsewhere.length} request(s) reached a gateway other than the owner, yet chat_relays_total rose by ${relays}`);
});

// startAffinityNginx runs deploy/nginx rendered with --affinity cookie in
// front of the cluster (nginx-helper's startNginx renders the default).
async function startAffinityNginx() {
  const bin = process.env.NGINX_BIN || '/usr/sbin/nginx';
  const port = await h.freePort();
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-nginx-cookie-'));
  fs.mkdirSync(path.join(prefix, 'logs'));
  fs.mkdirSync(path.join(prefix, 'temp'));
  fs.chmodSync(prefix, 0o755); // as root, the workers run as nobody
  const args = ['--prefix', prefix, '--listen', `127.0.0.1:${port}`, '--affinity', 'cookie'];
  cluster.gateways.forEach((g, i) => args.push('--upstream', `gw${i + 1}=127.0.0.1:${g.port}`));
  const r = spawnSync(path.join(h.ROOT, 'deploy', 'nginx', 'render.sh'), args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `render.sh: ${r.stderr}`);
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), r.stdout);
  const env = { ...process.env };
  delete env.NGINX; // nginx would read it as inherited sockets
  const proc = spawn(bin, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((res) => proc.on('exit', (code, sig) => res(code === null ? sig : code)));
  const ngx = {
    url: `http://127.0.0.1:${port}`,
    accessLog: () => fs.readFileSync(path.join(prefix, 'logs', 'access.log'), 'utf8'),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      fs.rmSync(prefix, { recursive: true, force: true });
      return code;
    },
  };
  nginxes.push(ngx);
  await h.waitUntil(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    return (await h.httpGet(ngx.url, '/nginx-healthz', { timeoutMs: 1000 }).catch(() => ({}))).status === 200;
  }, 10000, 50, 'nginx (--affinity cookie) up');
  return ngx;
}

test('python-socketio through nginx with cookie affinity: its upgrade goes to the owner, no relay', async () => {
  const ngx = await startAffinityNginx();
  const urls = cluster.gateways.map((g) => g.url);
  const relaysBefore = await sum(urls, 'chat_relays_total');
  const s = await js(ngx.url, 'js@nginx-cookie');
  const p = py(ngx.url, 'python@nginx-cookie');
  const c = await chat(p, s, 'interop-cookie');
  const owner = ownerOfTag.get(c.eio_sid.slice(0, 6));
  assert.ok(owner, `sid ${c.eio_sid}: its tag names none of the gateways`);
  const to = [];
  for (const line of ngx.accessLog().split('\n')) {
    if (!line.includes(`sid=${c.eio_sid}`)) continue;
    const m = / up=(?:\S+, )*127\.0\.0\.1:(\d+) /.exec(line);
    if (m) to.push(Number(m[1]));
  }
  assert.ok(to.length >= 1, `nginx logged no request for sid ${c.eio_sid}`);
  assert.deepEqual(to.filter((port) => port !== owner.port), [],
    `with the cookie every request of the session reaches its owner (${owner.port}): ${to}`);
  const relays = (await sum(urls, 'chat_relays_total')) - relaysBefore;
  assert.equal(relays, 0, 'nothing relayed');
});
