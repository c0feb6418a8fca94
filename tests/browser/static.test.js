// SPDX-License-Identifier: MIT
// Static checks of web/ that need no browser: the page keeps to the CSP the
// gateway sends (no inline scripts, styles or handlers, nothing from another
// origin) and user text never reaches an HTML parser.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const WEB = path.resolve(__dirname, '..', '..', 'web');
const read = (f) => fs.readFileSync(path.join(WEB, f), 'utf8');

test('index.html has no inline code and loads only same-origin resources', () => {
  const html = read('index.html');
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    assert.match(m[1], /\bsrc="\/?[a-z0-9_./-]+"/i, `script without src: ${m[0].slice(0, 80)}`);
    assert.equal(m[2].trim(), '', 'script element with inline content');
  }
  assert.doesNotMatch(html, /<style\b/i, 'inline <style> block');
  assert.doesNotMatch(html, /\sstyle\s*=/i, 'style="" attribute');
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'inline event handler attribute');
  assert.doesNotMatch(html, /(src|href)\s*=\s*"(https?:)?\/\//i, 'resource from another origin');
  assert.match(html, /<script src="\/socket\.io\/socket\.io\.js"/, 'uses the client served by the gateway');
});

test('the page script never parses strings as HTML', () => {
  const js = read('app.js');
  for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) {
    assert.ok(!js.includes(sink), `app.js uses ${sink}`);
  }
  assert.match(js, /transports:\s*\['websocket'\]/, 'connects over WebSocket only');
});

test('every data-testid hook of issue 4 exists', () => {
  const html = read('index.html');
  const js = read('app.js');
  const inHtml = ['room-name', 'user-name', 'join', 'room-list', 'messages', 'message-input', 'send',
    'user-select', 'user-list', 'leave', 'status'];
  for (const id of inHtml) assert.match(html, new RegExp(`data-testid="${id}"`), `missing ${id}`);
  // Created by the script for each room / line.
  assert.match(js, /dataset\.testid = 'room-item'/);
  assert.match(js, /dataset\.testid = 'message'/);
  assert.match(html, /<select id="user-select"[^>]*>\s*<option value="all">/);
});
