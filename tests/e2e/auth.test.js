// SPDX-License-Identifier: MIT
'use strict';
// --jwt-secret: the Socket.IO CONNECT packet must carry an HS256 JWT
// (socket.io-client `auth: {token}`), or the client gets
// 44{"message":"unauthorized"} and no chat state. The token's `name` claim
// fixes the user name. Tokens are signed here with Node's crypto, the way a
// real issuer (jsonwebtoken and friends) signs them.
const test = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('../lib/harness');

const SECRET = crypto.randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

function sign(payload, { secret = SECRET, header = { alg: 'HS256', typ: 'JWT' }, hash = 'sha256' } = {}) {
  const data = `${b64(header)}.${b64(payload)}`;
  return `${data}.${crypto.createHmac(hash, secret).update(data).digest('base64url')}`;
}

// connectError resolves with the connect_error of a socket.io-client that
// connects with |auth|, and fails if it connects.
function connectError(url, auth) {
  return h.connect(url, auth === undefined ? {} : { auth }).then(
    (s) => {
      s.close();
      throw new Error(`connected with auth ${JSON.stringify(auth).slice(0, 80)}`);
    },
    (e) => e.message,
  );
}

test('--jwt-secret: tokens that verify connect, all others get unauthorized',
  { timeout: 60000 }, async () => {
    const gw = await h.startGateway({ args: ['--jwt-secret', SECRET] });
    try {
      // A valid token without a name: any user name.
      const a = await h.connect(gw.url, { auth: { token: sign({ sub: 'u1', exp: now() + 600 }) } });
      await h.waitFor(a, 'roomList');
      const ack = await h.emitAck(a, 'create', { roomName: 'lobby', userName: 'anyone' });
      assert.deepStrictEqual([ack.ok, ack.userName], [true, 'anyone']);
      a.close();

      // No exp: accepted (documented); nbf in the past: accepted; expired
      // 10 s ago: inside the default 30 s clock-skew leeway.
      for (const claims of [{ nbf: now() - 5 }, { exp: now() - 10 }]) {
        (await h.connect(gw.url, { auth: { token: sign(claims) } })).close();
      }

      const bad = {
        'no auth': undefined,
        'empty auth': {},
        'token not a string': { token: 12345 },
        'empty token': { token: '' },
        garbage: { token: 'not.a.jwt' },
        'bad signature': { token: sign({ name: 'alice' }, { secret: SECRET + 'x' }) },
        'tampered payload': (() => {
          const [hd, , sg] = sign({ name: 'alice' }).split('.');
          return { token: `${hd}.${b64({ name: 'mallory' })}.${sg}` };
        })(),
        'alg none': { token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ name: 'mallory' })}.` },
        'alg none signed': { token: sign({ name: 'mallory' }, { header: { alg: 'none' } }) },
        'alg HS512': { token: sign({ name: 'alice' }, { header: { alg: 'HS512' }, hash: 'sha512' }) },
        expired: { token: sign({ name: 'alice', exp: now() - 120 }) },
        'not yet valid': { token: sign({ name: 'alice', nbf: now() + 600 }) },
        'exp not a number': { token: sign({ exp: String(now() + 600) }) },
        'padded base64': { token: sign({ name: 'alice' }) + '=' },
        'name claim not a valid user name': { token: sign({ name: 'x'.repeat(65) }) },
        'huge token': { token: sign({ name: 'alice', pad: 'p'.repeat(8000) }) },
      };
      for (const [what, auth] of Object.entries(bad)) {
        const msg = await connectError(gw.url, auth);
        assert.match(msg, /: unauthorized$/, `${what}: ${msg}`);
      }
      const m = await h.getMetrics(gw.url);
      assert.ok(m.get('chat_rejected_connections_total') >= Object.keys(bad).length,
        'refusals are counted');
      assert.strictEqual(m.get('chat_auth_failures_total'), Object.keys(bad).length,
        'each refusal is an auth failure');
      assert.strictEqual(m.get('chat_connections'), 0, 'no refused socket holds chat state');
    } finally {
      assert.strictEqual(await gw.stop('SIGINT'), 0);
    }
  });

test('unauthorized on the wire: exact CONNECT_ERROR, no chat state, retry on the same connection',
  { timeout: 30000 }, async () => {
    const gw = await h.startGateway({ args: ['--jwt-secret', SECRET] });
    try {
      const c = h.rawWs(gw.url);
      await c.opened;
      await c.handshake();
      c.send('40');
      assert.strictEqual(await c.next((s) => s.startsWith('4')), '44{"message":"unauthorized"}');
      c.send(`40${JSON.stringify({ token: sign({ exp: now() - 3600 }) })}`);
      assert.strictEqual(await c.next((s) => s.startsWith('4')), '44{"message":"unauthorized"}');
      // A retry with a good token (socket.io-client's socket.connect()
      // after updating `auth` does this): the same connection joins.
      const reply = await c.sioConnect({ token: sign({ name: 'carol' }) });
      assert.match(reply.sid, /^[A-Za-z0-9_-]{20}$/);
      const ack = await c.request('create', { roomName: 'r' });
      assert.deepStrictEqual([ack.ok, ack.userName], [true, 'carol']);
      c.close();

      // Refused sockets see nothing of the chat (no roomList), and an event
      // without a connected namespace is a protocol error: no request is
      // ever served before authentication.
      const d = h.rawWs(gw.url);
      await d.opened;
      await d.handshake();
      d.send(`40${JSON.stringify({ token: sign({}, { secret: 'wrong'.repeat(8) }) })}`);
      assert.strictEqual(await d.next((s) => s.startsWith('4')), '44{"message":"unauthorized"}');
      d.send('42["create",{"roomName":"r","userName":"eve"}]');
      const closed = await d.closed;
      assert.strictEqual(closed.code, 1002, 'an event before CONNECT closes the connection');
      assert.ok(!d.frames.some((f) => typeof f.data === 'string' && f.data.startsWith('42')),
        `no chat event reached the refused socket: ${d.frames.map((f) => f.data).join(' | ')}`);
    } finally {
      assert.strictEqual(await gw.stop('SIGINT'), 0);
    }
  });

test('the name claim fixes the user name', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ args: ['--jwt-secret', SECRET] });
  try {
    const alice = await h.connect(gw.url, { auth: { token: sign({ name: ' alice ', exp: now() + 60 }) } });
    // Another name: refused, with an ack or with chatError.
    const no = await h.emitAck(alice, 'create', { roomName: 'lobby', userName: 'bob' });
    assert.strictEqual(no.ok, false);
    assert.strictEqual(no.error.code, 'name_mismatch');
    h.emit(alice, 'create', { roomName: 'lobby', userName: 'mallory' });
    assert.strictEqual((await h.waitFor(alice, 'chatError')).code, 'name_mismatch');
    // An invalid name is still invalid_name.
    const inv = await h.emitAck(alice, 'create', { roomName: 'lobby', userName: '  ' });
    assert.strictEqual(inv.error.code, 'invalid_name');
    // The claimed name (trimmed, as user names are): accepted.
    const yes = await h.emitAck(alice, 'create', { roomName: 'lobby', userName: 'alice ' });
    assert.deepStrictEqual([yes.ok, yes.userName], [true, 'alice']);
    // No userName: the claim is used.
    const other = await h.emitAck(alice, 'create', { roomName: 'other' });
    assert.deepStrictEqual([other.ok, other.room, other.userName], [true, 'other', 'alice']);
    // A token without a name claim still needs a userName.
    const anon = await h.connect(gw.url, { auth: { token: sign({}) } });
    const need = await h.emitAck(anon, 'create', { roomName: 'other' });
    assert.strictEqual(need.error.code, 'invalid_name');
    const ok = await h.emitAck(anon, 'create', { roomName: 'other', userName: 'dave' });
    assert.strictEqual(ok.ok, true);
    const m = await h.getMetrics(gw.url);
    assert.strictEqual(m.get('chat_errors_total', { code: 'name_mismatch' }), 2);
    alice.close();
    anon.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('without --jwt-secret the auth object is ignored and names are free', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({});
  try {
    const s = await h.connect(gw.url, { auth: { token: 'not.a.jwt' } });
    const plain = await h.connect(gw.url);
    const ack = await h.emitAck(plain, 'create', { roomName: 'r', userName: 'anyone' });
    assert.strictEqual(ack.ok, true);
    const need = await h.emitAck(s, 'create', { roomName: 'r' });
    assert.strictEqual(need.error.code, 'invalid_name');
    s.close();
    plain.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('secret from a file or the environment; bad settings fail at start', { timeout: 30000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-auth-'));
  try {
    const file = path.join(dir, 'secret');
    fs.writeFileSync(file, SECRET + '\n', { mode: 0o600 }); // as `kubectl create secret --from-file`
    for (const opts of [{ args: ['--jwt-secret-file', file] }, { env: { CHAT_JWT_SECRET_FILE: file } },
      { env: { CHAT_JWT_SECRET: SECRET } }]) {
      const gw = await h.startGateway(opts);
      try {
        (await h.connect(gw.url, { auth: { token: sign({}) } })).close();
        assert.match(await connectError(gw.url, { token: sign({}, { secret: SECRET + '\n' }) }),
          /unauthorized/, 'the trailing newline is not part of the key');
        assert.match(await connectError(gw.url, undefined), /unauthorized/);
      } finally {
        assert.strictEqual(await gw.stop('SIGINT'), 0);
      }
    }
    const bin = process.env.CHAT_GATEWAY_BIN || path.join(h.ROOT, 'build', 'chat-gateway');
    const run = (args) => spawnSync(bin, ['--port', '1', ...args], { encoding: 'utf8', timeout: 10000 });
    for (const [args, re] of [
      [['--jwt-secret', 'short'], /at least 32 bytes/],
      [['--jwt-secret', SECRET, '--jwt-secret-file', file], /exclude each other/],
      [['--jwt-secret-file', path.join(dir, 'missing')], /missing/],
      [['--jwt-leeway', '99999', '--jwt-secret', SECRET], /jwt-leeway/],
    ]) {
      const r = run(args);
      assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The chat page: /?token=<JWT> passes the token (and fills in the claimed
// name); without a token it says it is not authorized. Debian's Chromium.
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
test('the chat page passes ?token= and reports unauthorized', {
  timeout: 90000, skip: fs.existsSync(CHROMIUM) ? false : 'no chromium',
}, async () => {
  const { launchBrowser } = require('../browser/support');
  const gw = await h.startGateway({ args: ['--jwt-secret', SECRET, '--web-root', path.join(h.ROOT, 'web')] });
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const token = sign({ name: '민수', exp: now() + 600 });
    await page.goto(`${gw.url}/?token=${token}`);
    await page.waitForSelector('[data-testid="status"][data-state="connected"]');
    assert.ok(!page.url().includes('token='), `token left in the address bar: ${page.url()}`);
    assert.strictEqual(await page.inputValue('[data-testid="user-name"]'), '민수');
    await page.fill('[data-testid="room-name"]', 'lobby');
    await page.click('[data-testid="join"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="me-name"]').textContent === '민수');
    // A reload keeps the session's token.
    await page.reload();
    await page.waitForSelector('[data-testid="status"][data-state="connected"]');

    const anon = await context.browser().newContext();
    const p2 = await anon.newPage();
    await p2.goto(`${gw.url}/`);
    await p2.waitForSelector('[data-testid="status"][data-state="offline"]');
    assert.match(await p2.textContent('[data-testid="status"]'), /not authorized/);
    await p2.goto(`${gw.url}/?token=${sign({ name: 'x' }, { secret: 'y'.repeat(32) })}`);
    await p2.waitForSelector('[data-testid="status"][data-state="offline"]');
    assert.deepStrictEqual(errors, []);
  } finally {
    await browser.close();
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});
