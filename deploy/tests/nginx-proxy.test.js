// SPDX-License-Identifier: MIT
// deploy.nginx_proxy: the rendered nginx config in front of one real
// chat-gateway (in-memory adapter, no Redis needed) and two dead upstreams.
// socket.io-client connects through nginx over WebSocket every time (failover
// past refused upstreams), chats, the HTTP locations pass through, and a
// SIGTERM'd gateway closes its sockets with "transport close" and exits 0.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const L = require('./lib');
const { startNginx } = require('./nginx-helper');
const { check, log } = L;

const bin = process.env.CHAT_GATEWAY_BIN;

function startGateway(port, extra) {
  const logf = fs.openSync(path.join(tmp, 'gateway.log'), 'a');
  const p = spawn(bin, ['--host', '127.0.0.1', '--port', String(port), '--node-id', 'gw1', ...extra],
    { stdio: ['ignore', logf, logf] });
  p.exited = new Promise((r) => p.on('exit', (code, sig) => r({ code, sig })));
  return p;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-deploy-nginx-'));
let gw = null;
let ngx = null;

async function main() {
  if (!bin || !fs.existsSync(bin)) throw new Error('CHAT_GATEWAY_BIN is not set or missing');
  const gwPort = await L.freePort();
  const dead1 = await L.freePort();
  const dead2 = await L.freePort();
  const port = await L.freePort();

  gw = startGateway(gwPort, ['--drain-time', '1000']);
  await L.waitUntil(async () => {
    if (gw.exitCode !== null) throw new Error(`gateway exited ${gw.exitCode}`);
    return (await L.httpGet(L.url(gwPort), '/readyz')).status === 200;
  }, 20000, 50, 'gateway /readyz');
  check(true, `gateway ready on :${gwPort}`);

  ngx = await startNginx({ port, upstreams: [
    { node: 'gw2', port: dead1 }, { node: 'gw1', port: gwPort }, { node: 'gw3', port: dead2 }] });
  check(true, `nginx up on :${port}`);

  // HTTP locations.
  for (let i = 0; i < 3; i++) {
    const r = await L.httpGet(L.url(port), '/healthz');
    if (!check(r.status === 200, `/healthz through nginx (try ${i + 1}): ${r.status}`)) break;
  }
  const js = await L.httpGet(L.url(port), '/socket.io/socket.io.js');
  check(js.status === 200 && js.body.length > 1000, `/socket.io/socket.io.js through nginx: ${js.status}`);
  const poll = await L.httpGet(L.url(port), '/socket.io/?EIO=3&transport=polling');
  check(poll.status === 400, `unsupported protocol version answered by the gateway, not retried: ${poll.status}`);
  const open = await L.httpGet(L.url(port), '/socket.io/?EIO=4&transport=polling');
  check(open.status === 200 && /^0\{"sid":/.test(open.body), `a polling handshake through nginx: ${open.status}`);
  const met = await L.httpGet(L.url(port), '/metrics');
  check(met.status === 404, `/metrics not exposed through the load balancer: ${met.status}`);

  // WebSocket clients: every connect must succeed although 2 of 3 upstreams refuse.
  const clients = [];
  for (let i = 0; i < 6; i++) {
    clients.push(await L.connect(port, { reconnection: false }));
  }
  check(true, '6 of 6 websocket connects through nginx succeeded with 2 dead upstreams');
  const [a, b] = clients;
  const room = `nginx-${process.pid}`;
  let ack = await L.emitAck(a, 'create', { roomName: room, userName: 'ann' });
  check(ack && ack.ok, 'ann creates a room');
  ack = await L.emitAck(b, 'create', { roomName: room, userName: 'ben' });
  check(ack && ack.ok, 'ben joins');
  await L.emitAck(a, 'sendMessage', { message: 'through nginx' });
  await L.waitFor(b, 'newMessage', (m) => m.message === 'through nginx' && m.user === 'ann', 10000);
  check(true, 'message relayed both ways through nginx');
  const big = 'x'.repeat(3000);
  await L.emitAck(b, 'sendMessage', { message: big });
  await L.waitFor(a, 'newMessage', (m) => m.message === big, 10000);
  check(true, '3 KB message through the unbuffered proxy');

  // SIGTERM: sockets closed with a reconnectable close; exit 0.
  const t0 = Date.now();
  gw.kill('SIGTERM');
  const ex = await Promise.race([gw.exited, L.delay(1000 + 8000).then(() => null)]);
  check(ex && ex.code === 0, `gateway exited ${ex ? `code ${ex.code} signal ${ex.sig}` : 'not at all'} after ${Date.now() - t0} ms`);
  await L.waitUntil(() => clients.every((c) => !c.connected), 5000, 50, 'all clients disconnected').catch(() => {});
  const reasons = [...new Set(clients.flatMap((c) => L.seen(c, '$disconnect')))];
  check(clients.every((c) => L.seen(c, '$disconnect').length === 1) && reasons.join() === 'transport close',
    `clients saw a reconnectable close through nginx: ${reasons.join(', ') || 'none'}`);
  for (const c of clients) c.close();
}

main()
  .catch((e) => check(false, `unexpected: ${e.stack || e}`))
  .finally(async () => {
    if (gw && gw.exitCode === null && gw.signalCode === null) { gw.kill('SIGKILL'); await gw.exited; }
    if (ngx) {
      if (L.failed()) log(`--- nginx error log\n${ngx.errorLog().split('\n').slice(-20).join('\n')}`);
      const code = await ngx.stop();
      check(code === 0, `nginx stopped (exit ${code})`);
    }
    if (L.failed()) {
      for (const f of ['gateway.log'])
        if (fs.existsSync(path.join(tmp, f))) log(`--- ${f}\n${fs.readFileSync(path.join(tmp, f), 'utf8').split('\n').slice(-20).join('\n')}`);
    }
    const left = [...L.processesMentioning(tmp), ...(ngx ? L.processesMentioning(ngx.prefix) : [])];
    check(left.length === 0, `no process left behind: ${left.join('; ') || 'none'}`);
    const n = L.failed();
    log(n ? `${n} check(s) failed` : 'all checks passed');
    fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(n ? 1 : 0);
  });
