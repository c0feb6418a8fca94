// SPDX-License-Identifier: MIT
// Browser end-to-end test of the chat page (web/) in Debian's Chromium.
//
// The scenario of issue 4: pages on different gateway instances sharing a
// Redis adapter create and join a room, see each other's notices and
// messages, DM through the picker (a third member must not see it), render
// markup in names and messages as text (no dialog may fire), leave, and
// rejoin automatically after their gateway restarts. The same scenario also
// runs on one gateway with the in-memory adapter (both adapters must behave
// the same). Each step leaves a screenshot in tests/artifacts/browser/<mode>/.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  startRedis,
  startGateway,
  launchBrowser,
  openChat,
  artifactDir,
  screenshotter,
} = require('./support.js');

const ROOM = '한국어 방 🎉';
const ALICE = 'Alice 🐰';
const BOB = '밥 Bob';
const CAROL = '<img src=x onerror=alert(1)>'; // a name that is markup
const HELLO_A = '안녕하세요 👋 반가워요';
const HELLO_B = '네, 안녕하세요! 🎉 from the other gateway';
const XSS_MSG = '<b>bold?</b><script>alert(2)</script><img src=x onerror=alert(3)> & "quotes"';
const SECRET = '비밀 메시지 🤫 only for Bob';
const AFTER_DM = 'everyone sees this one';
const BACK = '돌아왔어요 ✅';

const sel = {
  message: (kind) => `[data-testid="messages"] [data-testid="message"][data-kind="${kind}"]`,
};

// waitMessage waits for a line of |kind| whose text contains |text|.
function waitMessage(who, kind, text, timeout) {
  return who.page.locator(sel.message(kind)).filter({ hasText: text }).first().waitFor({ timeout });
}

// messageTexts returns the text of the message body (or notice) of every line of |kind|.
function messageTexts(who, kind) {
  return who.page.$$eval(sel.message(kind), (lines) =>
    lines.map((li) => (li.querySelector('.text') || li.querySelector('.notice-text') || li).textContent),
  );
}

async function options(who) {
  return who.page.$$eval('[data-testid="user-select"] option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
}

// waitMembers waits until the member panel lists exactly |names| in that
// order, or (names null) exactly the set |anyOrder|.
async function waitMembers(who, names, anyOrder) {
  await who.page.waitForFunction(
    ([want, set]) => {
      const got = [...document.querySelectorAll('[data-testid="user-list"] li .member-name')].map((n) => n.textContent);
      if (want) return JSON.stringify(got) === JSON.stringify(want);
      return JSON.stringify([...got].sort()) === JSON.stringify([...set].sort());
    },
    [names, anyOrder || null],
    { timeout: 15000 },
  );
}

async function waitStatus(who, state, timeout = 20000) {
  await who.page.waitForFunction((s) => document.querySelector('[data-testid="status"]').dataset.state === s, state, {
    timeout,
  });
}

async function join(who, room, name) {
  await who.page.getByTestId('room-name').fill(room);
  await who.page.getByTestId('user-name').fill(name);
  await who.page.getByTestId('join').click();
}

// injectedMarkup counts elements that could only exist if user text had been
// parsed as HTML (the page itself has no <img>, <b> or inline <script>).
function injectedMarkup(who) {
  return who.page.evaluate(() => document.querySelectorAll('img, b, script:not([src])').length);
}

async function scenario(t, { mode, gwA, gwB, restartSignal }) {
  const shot = screenshotter(artifactDir(mode));
  const browser = await launchBrowser();
  t.after(() => browser.close());

  const alice = await openChat(browser, gwA.url(), { label: 'alice' });
  const bob = await openChat(browser, gwB.url(), { label: 'bob' });
  const everyone = [alice, bob];
  await waitStatus(alice, 'connected');
  await waitStatus(bob, 'connected');

  // The page is served with a CSP and no inline code; the client library loads.
  const csp = await alice.page.evaluate(async () => (await fetch('/')).headers.get('content-security-policy'));
  assert.match(csp || '', /script-src 'self'/, 'the gateway serves the page with a CSP');

  // --- inline validation, no round trip
  await alice.page.getByTestId('join').click();
  assert.equal(await alice.page.getByTestId('room-name').getAttribute('aria-invalid'), 'true');
  assert.match(await alice.page.getByTestId('room-name-error').textContent(), /room name/);
  assert.match(await alice.page.getByTestId('user-name-error').textContent(), /your name/);
  await shot(alice, 'lobby-validation');

  // --- alice creates the room
  await join(alice, ROOM, ALICE);
  await alice.page.getByTestId('messages').waitFor({ state: 'visible' });
  assert.equal(await alice.page.getByTestId('room-title').textContent(), ROOM);
  await waitMembers(alice, [ALICE]);
  await waitMessage(alice, 'notice', 'You joined');
  await shot(alice, 'created-room');

  // --- the room appears in bob's lobby (another instance), join by clicking
  const item = bob.page.getByTestId('room-item').filter({ hasText: ROOM });
  await item.waitFor();
  assert.deepEqual(await bob.page.getByTestId('room-item').allTextContents(), [ROOM]);
  await shot(bob, 'lobby-sees-room');
  await item.click();
  assert.equal(await bob.page.getByTestId('room-name').inputValue(), ROOM);

  // --- the server's error is shown next to the form (name_taken)
  await bob.page.getByTestId('user-name').fill(ALICE);
  await bob.page.getByTestId('join').click();
  const joinError = bob.page.getByTestId('join-error');
  await joinError.filter({ hasText: 'name_taken' }).waitFor();
  assert.ok(await bob.page.getByTestId('room-name').isVisible(), 'still in the lobby after an error');
  await shot(bob, 'name-taken');

  await bob.page.getByTestId('user-name').fill(BOB);
  assert.equal(await joinError.textContent(), '', 'editing the name clears the error');
  await bob.page.getByTestId('user-name').press('Enter'); // keyboard submits
  await bob.page.getByTestId('messages').waitFor({ state: 'visible' });

  // --- notices and member lists on both sides
  await waitMessage(alice, 'notice', BOB);
  await waitMembers(alice, [ALICE, BOB]);
  await waitMembers(bob, [ALICE, BOB]);
  const aliceOpts = await options(alice);
  assert.deepEqual(
    aliceOpts.map((o) => o.text),
    ['Everyone', BOB],
    'picker: everyone + members except myself',
  );
  assert.equal(aliceOpts[0].value, 'all');
  const bobKey = aliceOpts[1].value;
  assert.match(bobKey, /^[A-Za-z0-9_-]{16,}$/, 'option value is the member key (socket id)');
  assert.deepEqual((await options(bob)).map((o) => o.text), ['Everyone', ALICE]);
  await shot(alice, 'bob-joined');

  // --- room messages both ways
  await alice.page.getByTestId('message-input').fill(HELLO_A);
  await alice.page.getByTestId('message-input').press('Enter');
  await waitMessage(alice, 'mine', HELLO_A);
  await waitMessage(bob, 'other', HELLO_A);
  assert.equal(await alice.page.getByTestId('message-input').inputValue(), '', 'input cleared after send');

  await bob.page.getByTestId('message-input').fill(HELLO_B);
  await bob.page.getByTestId('send').click();
  await waitMessage(bob, 'mine', HELLO_B);
  await waitMessage(alice, 'other', HELLO_B);
  await shot(alice, 'messages');
  await shot(bob, 'messages');

  // --- a third member whose name is markup, sending markup
  const carol = await openChat(browser, gwB.url(), { label: 'carol' });
  everyone.push(carol);
  await carol.page.getByTestId('room-item').filter({ hasText: ROOM }).click();
  await carol.page.getByTestId('user-name').fill(CAROL);
  await carol.page.getByTestId('join').click();
  await carol.page.getByTestId('messages').waitFor({ state: 'visible' });
  await waitMembers(alice, [ALICE, BOB, CAROL]);
  await waitMembers(bob, [ALICE, BOB, CAROL]);
  await waitMessage(alice, 'notice', CAROL);
  assert.deepEqual((await options(alice)).map((o) => o.text), ['Everyone', BOB, CAROL]);

  await carol.page.getByTestId('message-input').fill(XSS_MSG);
  await carol.page.getByTestId('message-input').press('Enter');
  await waitMessage(alice, 'other', 'bold?');
  await waitMessage(bob, 'other', 'bold?');
  assert.ok((await messageTexts(alice, 'other')).includes(XSS_MSG), 'markup shown verbatim as text');
  assert.ok((await messageTexts(bob, 'other')).includes(XSS_MSG));
  const senders = await alice.page.$$eval('[data-kind="other"] .sender', (s) => s.map((x) => x.textContent));
  assert.ok(senders.includes(CAROL), 'sender name shown verbatim');
  for (const who of everyone) assert.equal(await injectedMarkup(who), 0, `${who.label}: no injected elements`);
  await shot(alice, 'markup-as-text');

  // --- DM via the picker: bob gets it, carol does not
  await alice.page.getByTestId('user-select').selectOption(bobKey);
  await alice.page.getByTestId('message-input').fill(SECRET);
  await alice.page.getByTestId('message-input').press('Enter');
  await waitMessage(bob, 'dm', SECRET);
  await waitMessage(alice, 'dm', SECRET);
  assert.match(
    await alice.page.locator(sel.message('dm')).filter({ hasText: SECRET }).textContent(),
    new RegExp(`private to ${BOB}`),
    'my DM says who it went to',
  );
  await shot(bob, 'dm-received');
  await shot(alice, 'dm-sent');
  await alice.page.getByTestId('user-select').selectOption('all');
  await alice.page.getByTestId('message-input').fill(AFTER_DM);
  await alice.page.getByTestId('message-input').press('Enter');
  // Events to carol are ordered: once she has the later message, the DM
  // would have arrived before it if it had been sent to her.
  await waitMessage(carol, 'other', AFTER_DM);
  const carolSees = await carol.page.getByTestId('messages').textContent();
  assert.ok(!carolSees.includes(SECRET), 'the third member does not see the DM');
  assert.equal(await carol.page.locator(sel.message('dm')).count(), 0);
  await shot(carol, 'no-dm');

  // --- leave: back to the lobby, the others are told
  await carol.page.getByTestId('leave').click();
  await carol.page.getByTestId('room-list').waitFor({ state: 'visible' });
  assert.equal(await carol.page.getByTestId('messages').isVisible(), false);
  await waitMessage(alice, 'notice', 'left');
  await waitMembers(alice, [ALICE, BOB]);
  await waitMembers(bob, [ALICE, BOB]);
  assert.deepEqual((await options(alice)).map((o) => o.text), ['Everyone', BOB]);
  await shot(carol, 'left-to-lobby');

  // --- restart bob's gateway: the page reconnects and rejoins with its name
  const noticesBefore = (await messageTexts(alice, 'notice')).length;
  assert.equal(await gwB.stop(restartSignal), 0, `gateway exits 0 on ${restartSignal}`);
  await waitStatus(bob, 'reconnecting', 10000);
  await shot(bob, 'gateway-down');
  await gwB.start();
  await waitMessage(bob, 'notice', 'Rejoined', 30000);
  await waitStatus(bob, 'connected');
  // With one gateway both pages rejoin, in either order; with two, bob is last.
  const order = mode === 'memory' ? null : [ALICE, BOB];
  await waitMembers(bob, order, [ALICE, BOB]);
  await waitMembers(alice, order, [ALICE, BOB]);
  assert.ok((await messageTexts(alice, 'notice')).length > noticesBefore, 'alice was told about it');
  await bob.page.getByTestId('message-input').fill(BACK);
  await bob.page.getByTestId('message-input').press('Enter');
  await waitMessage(alice, 'other', BACK);
  await waitMessage(bob, 'mine', BACK);
  assert.ok((await options(alice)).some((o) => o.text === BOB), 'DM picker has bob again');
  await shot(bob, 'rejoined');
  await shot(alice, 'after-rejoin');
  // carol (in the lobby, on the restarted gateway) sees the room again.
  await carol.page.getByTestId('room-item').filter({ hasText: ROOM }).waitFor();

  // --- phone width
  await bob.page.setViewportSize({ width: 390, height: 780 });
  await shot(bob, 'phone-room');
  const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'no horizontal scrolling at phone width');
  await bob.page.locator('#members-toggle').click();
  await bob.page.getByTestId('user-list').waitFor({ state: 'visible' });
  await shot(bob, 'phone-members');
  await carol.page.setViewportSize({ width: 390, height: 780 });
  await shot(carol, 'phone-lobby');

  // --- everyone leaves: the room disappears from the lobby
  await alice.page.getByTestId('leave').click();
  await bob.page.getByTestId('leave').click();
  await carol.page.waitForFunction(() => document.querySelectorAll('[data-testid="room-item"]').length === 0);
  await shot(carol, 'room-gone');

  for (const who of everyone) assert.deepEqual(who.problems, [], `${who.label}: no dialogs, page or console errors`);
}

// cleanups runs the registered stops in reverse order (gateways before the
// redis-server they use), whatever node:test's hook order is.
function cleanups(t) {
  const stack = [];
  t.after(async () => {
    while (stack.length) await stack.pop()();
  });
  return (fn) => stack.push(fn);
}

test('chat page: two pages on one gateway (in-memory adapter)', { timeout: 120000 }, async (t) => {
  const defer = cleanups(t);
  const gw = await startGateway();
  defer(() => gw.stop());
  // One gateway: the "other instance" is the same one; the restart step
  // restarts it under both pages.
  await scenario(t, { mode: 'memory', gwA: gw, gwB: gw, restartSignal: 'SIGINT' });
});

test('chat page: two pages on two gateways sharing Redis', { timeout: 120000 }, async (t) => {
  const defer = cleanups(t);
  const redis = await startRedis();
  defer(() => redis.stop());
  const gwA = await startGateway({ redisUrl: redis.url, nodeId: 'browser-a' });
  defer(() => gwA.stop());
  // Bob's gateway is restarted the way an orchestrator does it: SIGTERM, a
  // (short) drain that closes sockets with 1001, exit, start again.
  const gwB = await startGateway({ redisUrl: redis.url, nodeId: 'browser-b', args: ['--drain-time', '1000'] });
  defer(() => gwB.stop());
  await scenario(t, { mode: 'redis', gwA, gwB, restartSignal: 'SIGTERM' });
});
