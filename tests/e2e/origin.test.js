// SPDX-License-Identifier: MIT
'use strict';
// --allowed-origins: browsers from other sites cannot open the chat
// WebSocket (cross-site WebSocket hijacking); listed origins and non-browser
// clients (no Origin header) can.
const test = require('node:test');
const assert = require('node:assert');
const h = require('../lib/harness');

test('--allowed-origins refuses other origins with 403', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({ args: ['--allowed-origins', 'https://chat.example.com,http://localhost:8000'] });
  try {
    for (const origin of ['https://chat.example.com', 'http://localhost:8000']) {
      const ok = h.rawWs(gw.url, undefined, { headers: { Origin: origin } });
      await ok.opened;
      ok.close();
    }
    const noOrigin = await h.connect(gw.url); // Node client: no Origin header
    noOrigin.close();
    for (const origin of ['https://evil.example', 'https://chat.example.com.evil', 'null',
      'https://chat.example.com' + 'x'.repeat(400)]) {
      const bad = h.rawWs(gw.url, undefined, { headers: { Origin: origin } });
      await assert.rejects(bad.opened, (e) => e.statusCode === 403 && /Forbidden/.test(e.body),
        `origin ${origin.slice(0, 40)} should be refused`);
    }
    // An allowed Origin with a NUL byte and more after it is not that
    // origin (Node's http refuses to send one: raw TCP).
    const net = require('node:net');
    const u = new URL(gw.url);
    const status = (origin) => new Promise((resolve, reject) => {
      const c = net.connect({ host: u.hostname, port: Number(u.port) }, () => {
        c.write(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\r\n` +
          'Connection: close\r\n\r\n');
      });
      let text = '';
      c.on('data', (d) => { text += d.toString('latin1'); });
      c.on('close', () => resolve(text.split(' ')[1]));
      c.on('error', reject);
    });
    assert.equal(await status('https://chat.example.com'), '200', 'the allowed origin over polling');
    assert.equal(await status('https://chat.example.com\0evil'), '403', 'a NUL-embedded origin');
    const m = await h.getMetrics(gw.url);
    assert.ok(m.get('chat_rejected_connections_total') >= 5);
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});

test('without --allowed-origins any origin may connect', { timeout: 30000 }, async () => {
  const gw = await h.startGateway({});
  try {
    const ws = h.rawWs(gw.url, undefined, { headers: { Origin: 'https://anywhere.example' } });
    await ws.opened;
    ws.close();
  } finally {
    assert.strictEqual(await gw.stop('SIGINT'), 0);
  }
});
