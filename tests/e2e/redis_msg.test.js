// SPDX-License-Identifier: MIT
'use strict';
/*
 * Corrupt and hostile messages on the Redis adapter's pub/sub channels
 * (adapter/redis/gw_redis_msg.c, fuzzed by gw_redis_msg_fuzz). Whoever can
 * PUBLISH to the gateway's Redis can send it anything; a malformed event must
 * be dropped whole and counted (chat_adapter_bad_messages_total): no crash,
 * no bytes to any client, no change to local membership. Well-formed events
 * sent the same way are delivered, which shows the path under test is live.
 */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');

const T = { timeout: 60000 };

// ev('M', '3', frame) builds "<type><len>:<bytes>..." as lua/common.lua does.
function ev(type, ...fields) {
  const parts = [Buffer.from(type)];
  for (const f of fields) {
    const b = Buffer.isBuffer(f) ? f : Buffer.from(f);
    parts.push(Buffer.from(`${b.length}:`), b);
  }
  return Buffer.concat(parts);
}

const msgFrame = (text) => `42["newMessage",{"message":${JSON.stringify(text)},"user":"redis","dm":false,"ts":1}]`;

describe('hostile Redis pub/sub messages', { timeout: 120000 }, () => {
  let redis;
  let gw;
  before(async () => {
    redis = await h.startRedis();
    gw = await h.startGateway({ redisUrl: redis.url, nodeId: 'hostile-node' });
  });
  after(async () => {
    if (gw) assert.equal(await gw.stop('SIGTERM'), 0, gw.logs().slice(-3000));
    if (redis) await redis.stop();
  });

  it('malformed events are counted and dropped; membership and delivery survive', T, async () => {
    const alice = await h.connect(gw.url, { name: 'alice' });
    const bob = await h.connect(gw.url, { name: 'bob' });
    try {
      const a = await h.emitAck(alice, 'create', { roomName: 'hostile', userName: 'alice' });
      assert.equal(a.ok, true, JSON.stringify(a));
      const b = await h.emitAck(bob, 'create', { roomName: 'hostile', userName: 'bob' });
      assert.equal(b.ok, true, JSON.stringify(b));
      await h.waitFor(alice, 'userList', (l) => Array.isArray(l) && l.length === 2);
      const room = 'gw:r:hostile';
      const node = 'gw:n:hostile-node';
      const before = (await h.getMetrics(gw.url)).get('chat_adapter_bad_messages_total');
      assert.equal(before, 0, 'no bad message yet');

      // A well-formed M published by hand reaches both members.
      await redis.command('PUBLISH', room, ev('M', '3', msgFrame('first')));
      await h.waitFor(alice, 'newMessage', (m) => m.message === 'first');
      await h.waitFor(bob, 'newMessage', (m) => m.message === 'first');

      const bad = [
        [room, Buffer.alloc(0)],
        [room, Buffer.from('M')],
        [room, Buffer.from('M1:399:42[1]')], // a length past the end
        [room, Buffer.from('M1:34294967296:42[1]')],
        [room, ev('M', '3', 'hello')], // not an Engine.IO packet
        [room, ev('M', '3', '')],
        [room, ev('M', '3', Buffer.from('42["newMessage",{"message":"\xc0\xaf"}]', 'latin1'))],
        [room, ev('M', 'x', msgFrame('bad kind'))],
        [room, ev('M', '3', msgFrame('extra'), 'x')],
        [room, ev('U', 'junk')],
        [room, ev('R', '1', '42["roomList",["evil"]]')], // R belongs to the lobby
        // An L naming alice with a corrupt notice: before, alice lost her
        // local membership and both members got "junk" as a frame.
        [room, ev('L', a.key, 'junk', '')],
        [room, ev('J', b.key, '-1', '2', '', '')],
        ['gw:lobby', ev('R', '18446744073709551616', '42["roomList",["evil"]]')],
        ['gw:lobby', ev('R', '7', '42["roomList",["evil"]')],
        [node, ev('D', '3', msgFrame('dm without recipient'))],
        [node, ev('D', '3', msgFrame('dm'), '')],
        [node, ev('H', 'soon')],
        [node, ev('X', '1')],
      ];
      for (const [ch, p] of bad) {
        const n = await redis.command('PUBLISH', ch, p);
        assert.ok(n >= 1, `${ch} has a subscriber`);
      }
      // Events on one connection arrive in order: once "second" is in, every
      // bad event before it has been handled.
      await redis.command('PUBLISH', room, ev('M', '3', msgFrame('second')));
      await h.waitFor(alice, 'newMessage', (m) => m.message === 'second');
      await h.waitFor(bob, 'newMessage', (m) => m.message === 'second');

      const m = await h.getMetrics(gw.url);
      assert.equal(m.get('chat_adapter_bad_messages_total'), bad.length, 'every bad event counted');
      assert.match(gw.logs(), /dropped malformed event/);
      for (const s of [alice, bob]) {
        assert.equal(s.connected, true, `${s.rec.label} still connected`);
        const seen = s.rec.events.filter((e) => !e.ev.startsWith('$'));
        for (const e of seen) {
          assert.ok(['newMessage', 'userList', 'roomList', 'notice'].includes(e.ev), `unexpected ${e.ev}`);
          if (e.ev === 'newMessage') assert.ok(['first', 'second'].includes(e.payload.message), e.payload.message);
          if (e.ev === 'roomList') assert.ok(!e.payload.includes('evil'), 'forged roomList delivered');
        }
      }
      // Alice is still a member here: a message from bob reaches her.
      const r = await h.emitAck(bob, 'sendMessage', { message: 'still here?' });
      assert.equal(r.ok, true, JSON.stringify(r));
      await h.waitFor(alice, 'newMessage', (x) => x.message === 'still here?');
      assert.equal(gw.running(), true);
    } finally {
      alice.close();
      bob.close();
    }
  });
});
