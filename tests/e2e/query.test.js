// SPDX-License-Identifier: MIT
'use strict';
/*
 * The Engine.IO handshake query as the gateway reads it from libwebsockets
 * (gw_eio_query_* in gateway/gw_eio.c, fuzzed by gw_query_fuzz): arguments
 * are percent-decoded, every argument is looked at whatever its length, a
 * repeated EIO or transport is refused as the reference server refuses it,
 * and an argument without '=' has the empty value. (A %00 never gets this
 * far: libwebsockets 4.1.6 drops such a request itself.)
 */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');

const T = { timeout: 30000 };

describe('Engine.IO handshake query', () => {
  let gw;
  before(async () => {
    gw = await h.startGateway({});
  });
  after(async () => {
    if (gw) assert.equal(await gw.stop('SIGTERM'), 0, gw.logs().slice(-2000));
  });

  for (const [q, what] of [
    [`token=${'a'.repeat(600)}&EIO=4&transport=websocket`, 'a 600-byte argument first'],
    ['EIO=%34&transport=web%73ocket', 'percent-encoded values'],
    ['%45IO=4&transport=websocket&t=N8hyd6w', 'a percent-encoded name'],
    ['x=1&&EIO=4&transport=websocket&', 'empty arguments'],
  ]) {
    it(`upgrade with ${what} is accepted`, T, async () => {
      const c = h.rawWs(gw.url, `/socket.io/?${q}`);
      await c.opened;
      const open = await c.handshake();
      assert.equal(typeof open.sid, 'string');
      c.terminate();
    });
  }

  // engine.io-client puts the user's `query` before EIO and transport.
  it('socket.io-client with a long query option connects and chats', T, async () => {
    const sock = await h.connect(gw.url, { query: { token: 'x'.repeat(400) } });
    try {
      const res = await h.emitAck(sock, 'create', { roomName: 'q', userName: 'long' });
      assert.equal(res.ok, true, JSON.stringify(res));
    } finally {
      sock.close();
    }
  });

  for (const [q, code, what] of [
    ['EIO=4&EIO=4&transport=websocket', 5, 'EIO twice'],
    ['EIO&transport=websocket', 5, 'EIO without a value'],
    ['EIO=4&transport=websocket&transport=websocket', 0, 'transport twice'],
    ['EIO=4&transport=websocket%20', 0, 'a trailing space in transport'],
  ]) {
    it(`${what} → 400 {code:${code}}, and the upgrade is refused`, T, async () => {
      const r = await h.httpGet(gw.url, `/socket.io/?${q}`);
      assert.equal(r.status, 400, r.text);
      assert.equal(JSON.parse(r.text).code, code, r.text);
      const c = h.rawWs(gw.url, `/socket.io/?${q}`);
      const err = await c.opened.then(() => null, (e) => e);
      assert.ok(err, 'upgrade must be refused');
      assert.equal(err.statusCode, 400, err.message);
      assert.equal(JSON.parse(err.body).code, code, err.body);
    });
  }
});
