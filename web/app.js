// SPDX-License-Identifier: MIT
// Room chat page for chat-gateway: the chat of the seed tutorial, done properly.
//
// Rules this file keeps:
//  - Every piece of text that came from a user or the server goes into the DOM
//    through textContent (or option.text / element.title), never through an
//    HTML parser.
//  - No inline scripts or style attributes in markup: the gateway's CSP forbids
//    them. Per-element colours are set through the CSSOM (element.style).
//  - The server does not order an ack against the events the same request
//    causes (a userList may arrive before or after the `create` ack), so every
//    handler works from `state` and renders idempotently.
'use strict';

(function () {
  const ACK_TIMEOUT_MS = 8000;
  const MAX_NAME_CHARS = 64;
  const MAX_MESSAGE_BYTES = 4096;
  const MAX_LINES = 1000; // bound the DOM: oldest lines are dropped
  const GROUP_WINDOW_MS = 2 * 60 * 1000;
  const NAME_KEY = 'roomchat.userName';

  const $ = (id) => document.getElementById(id);
  const el = {
    status: document.querySelector('[data-testid="status"]'),
    lobby: $('lobby'),
    joinForm: $('join-form'),
    roomName: $('room-name'),
    userName: $('user-name'),
    roomNameError: $('room-name-error'),
    userNameError: $('user-name-error'),
    join: $('join'),
    joinError: $('join-error'),
    roomList: $('room-list'),
    roomCount: $('room-count'),
    roomsEmpty: $('rooms-empty'),
    room: $('room'),
    roomTitle: $('room-title'),
    meName: $('me-name'),
    leave: $('leave'),
    membersToggle: $('members-toggle'),
    memberCount: $('member-count'),
    members: $('members'),
    messages: $('messages'),
    composer: $('composer'),
    userSelect: $('user-select'),
    messageInput: $('message-input'),
    send: $('send'),
    composerError: $('composer-error'),
    userList: $('user-list'),
  };

  let socket = null; // the socket.io-client Socket, once the library loaded

  const state = {
    view: 'lobby', // 'lobby' | 'room'
    room: null, // room we are in (confirmed by the server), kept across reconnects
    name: null, // our session name in that room (as the server trimmed it)
    joining: null, // {roomName, userName, rejoin} while a create is in flight
    members: [], // [{userName, key}] in join order
    rooms: [],
    connected: false,
    everConnected: false,
    pendingDms: [], // [{key, name}] DMs we sent, oldest first, to label our copies
    unread: 0,
    composing: false, // IME composition in progress (Korean, Japanese, …)
    lastLine: null, // {sender, kind, ts} of the last bubble, for grouping
  };

  // ---------------------------------------------------------------- helpers

  function codePoints(s) {
    return Array.from(s).length;
  }

  function utf8Bytes(s) {
    return new TextEncoder().encode(s).length;
  }

  // validateName mirrors the server's rules so most mistakes are caught
  // before a round trip: trimmed, 1..64 characters, no control characters.
  function validateName(raw, what) {
    const v = raw.trim();
    if (v === '') return { error: `Enter ${what}.` };
    if (codePoints(v) > MAX_NAME_CHARS) {
      return { error: `${capitalise(what)} is too long (${codePoints(v)}/${MAX_NAME_CHARS} characters).` };
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) {
      return { error: `${capitalise(what)} cannot contain control characters.` };
    }
    return { value: v };
  }

  function capitalise(s) {
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const fullTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  function timeElement(ts) {
    const d = new Date(typeof ts === 'number' && Number.isFinite(ts) ? ts : Date.now());
    const t = document.createElement('time');
    t.className = 'time';
    t.dateTime = d.toISOString();
    t.textContent = timeFormat.format(d);
    t.title = fullTimeFormat.format(d);
    return t;
  }

  // A stable hue per name, for avatars.
  function hueOf(name) {
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % 360;
  }

  function initial(name) {
    const first = Array.from(name.trim())[0] || '?';
    return first.toUpperCase();
  }

  function avatar(name) {
    const a = document.createElement('span');
    a.className = 'avatar';
    a.setAttribute('aria-hidden', 'true');
    a.textContent = initial(name);
    a.style.setProperty('--hue', String(hueOf(name)));
    return a;
  }

  // Friendly text for the server's error codes; the server's own message is
  // the fallback, the code is shown too so people can report it.
  function describeError(err, ctx) {
    const code = err && typeof err.code === 'string' ? err.code : 'error';
    const serverMsg = err && typeof err.message === 'string' ? err.message : '';
    let text;
    switch (code) {
      case 'name_taken':
        text = ctx && ctx.userName
          ? `The name “${ctx.userName}” is already taken in this room. Choose another name.`
          : 'That name is already taken in this room. Choose another name.';
        break;
      case 'invalid_name':
        text = serverMsg || 'That room or user name is not valid.';
        break;
      case 'invalid_message':
        text = serverMsg || 'That message cannot be sent.';
        break;
      case 'rate_limited':
        text = 'You are sending messages too fast. Wait a moment and try again.';
        break;
      case 'user_not_found':
        text = 'That person is no longer in the room.';
        break;
      case 'not_in_room':
        text = 'You are not in a room any more.';
        break;
      case 'timeout':
        text = 'The server did not answer in time. Try again.';
        break;
      case 'offline':
        text = 'Not connected to the server. Wait for the connection to come back.';
        break;
      default:
        text = serverMsg || 'Something went wrong.';
    }
    return { code, text };
  }

  function showError(target, err, ctx) {
    target.replaceChildren();
    if (!err) return;
    const { code, text } = describeError(err, ctx);
    const msg = document.createElement('span');
    msg.textContent = text;
    target.append(msg);
    if (code !== 'error') {
      const c = document.createElement('code');
      c.className = 'code';
      c.textContent = code;
      target.append(' ', c);
    }
    target.dataset.code = code;
  }

  function clearError(target) {
    target.replaceChildren();
    delete target.dataset.code;
  }

  function setFieldError(input, target, text) {
    target.textContent = text || '';
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function rememberName(name) {
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch (_) {
      /* storage may be disabled; not important */
    }
  }

  function recallName() {
    try {
      return localStorage.getItem(NAME_KEY) || '';
    } catch (_) {
      return '';
    }
  }

  // ------------------------------------------------------------ status bar

  const STATUS_TEXT = {
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    rejoining: 'Rejoining room…',
    offline: 'Offline',
  };

  function setStatus(kind, extra) {
    el.status.dataset.state = kind;
    document.body.dataset.conn = kind;
    el.status.textContent = extra ? `${STATUS_TEXT[kind]} ${extra}` : STATUS_TEXT[kind];
    updateComposerEnabled();
  }

  // ---------------------------------------------------------------- views

  function showLobby() {
    state.view = 'lobby';
    el.room.hidden = true;
    el.lobby.hidden = false;
    document.body.dataset.view = 'lobby';
    state.unread = 0;
    updateTitle();
    renderRooms();
  }

  function showRoom() {
    state.view = 'room';
    el.lobby.hidden = true;
    el.room.hidden = false;
    document.body.dataset.view = 'room';
    el.roomTitle.textContent = state.room;
    el.roomTitle.title = state.room;
    el.meName.textContent = state.name;
    setMembersOpen(false);
    clearError(el.composerError);
    updateTitle();
    updateComposerEnabled();
    scrollToBottom();
  }

  function updateTitle() {
    const base = state.view === 'room' && state.room ? `${state.room} · Room chat` : 'Room chat';
    document.title = state.unread > 0 ? `(${state.unread}) ${base}` : base;
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      state.unread = 0;
      updateTitle();
    }
  });

  // ------------------------------------------------------------ room list

  function renderRooms() {
    const current = el.roomName.value.trim();
    const frag = document.createDocumentFragment();
    for (const name of state.rooms) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'room-item';
      b.dataset.testid = 'room-item';
      b.textContent = name; // exactly the room name: tools rely on it
      b.title = `Fill in “${name}”`;
      if (name === current) {
        b.classList.add('selected');
        b.setAttribute('aria-pressed', 'true');
      } else {
        b.setAttribute('aria-pressed', 'false');
      }
      b.addEventListener('click', () => pickRoom(name));
      li.append(b);
      frag.append(li);
    }
    el.roomList.replaceChildren(frag);
    el.roomsEmpty.hidden = state.rooms.length > 0;
    el.roomCount.textContent = state.rooms.length > 0 ? String(state.rooms.length) : '';
  }

  function pickRoom(name) {
    el.roomName.value = name;
    setFieldError(el.roomName, el.roomNameError, '');
    clearError(el.joinError);
    renderRooms();
    if (el.userName.value.trim() === '') el.userName.focus();
    else el.join.focus();
  }

  // --------------------------------------------------------------- members

  function isMe(m) {
    return (socket && m.key === socket.id) || (state.name !== null && m.userName === state.name);
  }

  function memberName(key) {
    const m = state.members.find((x) => x.key === key);
    return m ? m.userName : null;
  }

  function renderMembers() {
    // The list panel.
    const frag = document.createDocumentFragment();
    for (const m of state.members) {
      const li = document.createElement('li');
      li.className = 'member';
      li.append(avatar(m.userName));
      if (isMe(m)) {
        li.classList.add('me');
        const n = document.createElement('span');
        n.className = 'member-name';
        n.textContent = m.userName;
        const tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = 'you';
        li.append(n, tag);
      } else {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'member-name member-dm';
        b.textContent = m.userName;
        b.title = `Send a private message to ${m.userName}`;
        b.addEventListener('click', () => {
          el.userSelect.value = m.key;
          onTargetChange();
          setMembersOpen(false);
          el.messageInput.focus();
        });
        li.append(b);
      }
      frag.append(li);
    }
    el.userList.replaceChildren(frag);
    el.memberCount.textContent = String(state.members.length);

    // The DM picker: "Everyone" + every member except ourselves.
    // Keep the chosen DM target; after a reconnect keys change, so fall back
    // to the same name.
    const previous = el.userSelect.value;
    const previousName =
      el.userSelect.selectedOptions.length > 0 ? el.userSelect.selectedOptions[0].text : '';
    const opts = [new Option('Everyone', 'all')];
    for (const m of state.members) {
      if (isMe(m)) continue;
      opts.push(new Option(m.userName, m.key)); // Option() sets text, not HTML
    }
    el.userSelect.replaceChildren(...opts);
    let chosen = opts.find((o) => o.value === previous);
    if (!chosen && previous !== 'all') chosen = opts.find((o) => o.value !== 'all' && o.text === previousName);
    el.userSelect.value = chosen ? chosen.value : 'all';
    if (!chosen && previous && previous !== 'all' && state.view === 'room' && state.room !== null) {
      addLocalNotice(`${previousName} is no longer here. Messages now go to everyone.`);
    }
    onTargetChange();
  }

  function onTargetChange() {
    const key = el.userSelect.value;
    const dm = key !== 'all';
    el.composer.classList.toggle('dm', dm);
    el.messageInput.placeholder = dm ? `Private message to ${memberName(key) || '…'}` : 'Message everyone…';
    for (const b of el.userList.querySelectorAll('.member-dm')) b.classList.remove('active');
    if (dm) {
      const idx = state.members.filter((m) => !isMe(m)).findIndex((m) => m.key === key);
      const buttons = el.userList.querySelectorAll('.member-dm');
      if (idx >= 0 && buttons[idx]) buttons[idx].classList.add('active');
    }
  }

  function setMembersOpen(open) {
    el.room.classList.toggle('show-members', open);
    el.membersToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  }

  // -------------------------------------------------------------- messages

  // Stay pinned to the newest line while the reader is at the bottom, also
  // when the list resizes (phone keyboard, rotation, members panel).
  let pinned = true;
  el.messages.addEventListener('scroll', () => {
    pinned = nearBottom();
  });
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => {
      if (pinned) scrollToBottom();
    }).observe(el.messages);
  }

  function nearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
    pinned = true;
  }

  function appendLine(li, forceScroll) {
    const stick = forceScroll || nearBottom();
    el.messages.append(li);
    while (el.messages.childElementCount > MAX_LINES) el.messages.firstElementChild.remove();
    if (stick) scrollToBottom();
    if (document.hidden && state.view === 'room') {
      state.unread += 1;
      updateTitle();
    }
  }

  function clearMessages() {
    el.messages.replaceChildren();
    state.lastLine = null;
  }

  function addNotice(text, origin) {
    const li = document.createElement('li');
    li.className = 'msg notice';
    li.dataset.testid = 'message';
    li.dataset.kind = 'notice';
    li.dataset.origin = origin; // 'server' | 'local'
    const span = document.createElement('span');
    span.className = 'notice-text';
    span.textContent = text;
    li.append(span, timeElement(Date.now()));
    state.lastLine = null;
    appendLine(li, false);
  }

  function addLocalNotice(text) {
    addNotice(text, 'local');
  }

  function addMessage(m) {
    const mine = state.name !== null && m.user === state.name;
    const kind = m.dm ? 'dm' : mine ? 'mine' : 'other';
    const ts = typeof m.ts === 'number' ? m.ts : Date.now();

    let dmPeer = null;
    if (m.dm && mine) {
      const entry = state.pendingDms.shift();
      dmPeer = entry ? entry.name : null;
    }

    const li = document.createElement('li');
    li.className = `msg ${mine ? 'mine' : 'other'}${m.dm ? ' dm' : ''}`;
    li.dataset.testid = 'message';
    li.dataset.kind = kind;
    li.dataset.user = m.user;

    const last = state.lastLine;
    const grouped = last && last.sender === m.user && last.dm === !!m.dm && ts - last.ts < GROUP_WINDOW_MS;
    if (grouped) li.classList.add('cont');

    if (!mine) {
      const av = avatar(m.user);
      if (grouped) av.classList.add('ghost');
      li.append(av);
    }

    const bubble = document.createElement('div');
    bubble.className = 'bubble';

    const meta = document.createElement('div');
    meta.className = 'meta';
    const sender = document.createElement('span');
    sender.className = 'sender';
    sender.textContent = mine ? 'You' : m.user;
    sender.title = m.user;
    meta.append(sender);
    if (m.dm) {
      const tag = document.createElement('span');
      tag.className = 'dm-tag';
      tag.textContent = mine ? (dmPeer ? `private to ${dmPeer}` : 'private') : 'private to you';
      meta.append(tag);
    }
    meta.append(timeElement(ts));

    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = m.message;

    bubble.append(meta, text);
    li.append(bubble);
    state.lastLine = { sender: m.user, dm: !!m.dm, ts };
    appendLine(li, mine);
  }

  // -------------------------------------------------------------- composer

  function canSend() {
    return state.connected && state.view === 'room' && state.room !== null && !state.joining;
  }

  function updateComposerEnabled() {
    el.send.disabled = !canSend();
    el.composer.classList.toggle('offline', !canSend());
  }

  el.userSelect.addEventListener('change', onTargetChange);

  el.messageInput.addEventListener('compositionstart', () => {
    state.composing = true;
  });
  el.messageInput.addEventListener('compositionend', () => {
    state.composing = false;
  });
  el.messageInput.addEventListener('input', () => {
    if (el.composerError.dataset.code) clearError(el.composerError);
  });

  el.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.composing) return; // Enter that confirms an IME composition
    const text = el.messageInput.value;
    if (text.trim() === '') {
      el.messageInput.focus();
      return;
    }
    const bytes = utf8Bytes(text);
    if (bytes > MAX_MESSAGE_BYTES) {
      showError(el.composerError, {
        code: 'invalid_message',
        message: `This message is too long (${bytes}/${MAX_MESSAGE_BYTES} bytes). Shorten it or split it.`,
      });
      return;
    }
    if (!canSend()) {
      showError(el.composerError, { code: 'offline' });
      return;
    }
    const select = el.userSelect.value || 'all';
    let dmEntry = null;
    if (select !== 'all') {
      dmEntry = { key: select, name: memberName(select) };
      state.pendingDms.push(dmEntry);
    }
    el.messageInput.value = '';
    clearError(el.composerError);
    socket.timeout(ACK_TIMEOUT_MS).emit('sendMessage', { message: text, select }, (err, res) => {
      if (!err && res && res.ok === true) return;
      if (dmEntry) {
        const i = state.pendingDms.indexOf(dmEntry);
        if (i >= 0) state.pendingDms.splice(i, 1);
      }
      if (el.messageInput.value === '') el.messageInput.value = text; // give it back
      showError(el.composerError, err ? { code: 'timeout' } : (res && res.error) || {});
    });
    el.messageInput.focus();
  });

  el.membersToggle.addEventListener('click', () => {
    setMembersOpen(!el.room.classList.contains('show-members'));
  });
  // The members panel is an overlay on narrow screens: close it on Escape or
  // on a click anywhere in the chat.
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && el.room.classList.contains('show-members')) {
      setMembersOpen(false);
      el.membersToggle.focus();
    }
  });
  el.messages.addEventListener('click', () => setMembersOpen(false));

  el.leave.addEventListener('click', () => {
    const room = state.room;
    state.room = null;
    state.joining = null;
    state.members = [];
    state.pendingDms = [];
    if (socket && socket.connected) {
      // Fire and forget: whatever the answer, we are back in the lobby.
      socket.timeout(ACK_TIMEOUT_MS).emit('leave', {}, () => {});
    }
    clearMessages();
    el.userSelect.value = 'all';
    renderMembers();
    if (room) {
      el.roomName.value = room;
    }
    clearError(el.joinError);
    showLobby();
    el.roomName.focus();
  });

  // ------------------------------------------------------------ join flow

  el.roomName.addEventListener('input', () => {
    setFieldError(el.roomName, el.roomNameError, '');
    clearError(el.joinError);
    renderRooms();
  });
  el.userName.addEventListener('input', () => {
    setFieldError(el.userName, el.userNameError, '');
    clearError(el.joinError);
  });

  el.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.joining) return;
    const room = validateName(el.roomName.value, 'a room name');
    const user = validateName(el.userName.value, 'your name');
    setFieldError(el.roomName, el.roomNameError, room.error);
    setFieldError(el.userName, el.userNameError, user.error);
    clearError(el.joinError);
    if (room.error || user.error) {
      (room.error ? el.roomName : el.userName).focus();
      return;
    }
    if (!state.connected) {
      showError(el.joinError, { code: 'offline' });
      return;
    }
    join(room.value, user.value, false);
  });

  function setJoinBusy(busy) {
    el.join.disabled = busy;
    el.join.textContent = busy ? 'Joining…' : 'Join';
    el.joinForm.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  // join sends `create`. For a first join the message list starts empty
  // before the request goes out, so events that beat the ack (a userList, a
  // notice) land in the new room's view instead of being lost.
  //
  // A rejoin after a reconnect retries a few times on name_taken or a
  // timeout: after a crash the old session may linger in the cluster briefly.
  const REJOIN_TRIES = 5;

  function join(roomName, userName, rejoin, attempt = 1) {
    const attemptState = { roomName, userName, rejoin };
    state.joining = attemptState;
    state.name = userName; // provisional, so our own messages are recognised early
    if (!rejoin) {
      state.room = null;
      state.members = [];
      state.pendingDms = [];
      clearMessages();
      el.userSelect.value = 'all';
      renderMembers();
      setJoinBusy(true);
    } else {
      setStatus('rejoining');
    }
    updateComposerEnabled();
    socket.timeout(ACK_TIMEOUT_MS).emit('create', { roomName, userName }, (err, res) => {
      if (state.joining !== attemptState) return; // superseded (left, reconnected, …)
      if (err || !res || res.ok !== true) {
        const error = err ? { code: 'timeout' } : (res && res.error) || {};
        const transient = error.code === 'name_taken' || error.code === 'timeout';
        if (rejoin && transient && attempt < REJOIN_TRIES && state.connected) {
          // Keep `joining` set (sending stays disabled) until the retry.
          setTimeout(() => {
            if (state.joining === attemptState && state.connected) join(roomName, userName, true, attempt + 1);
          }, 1000 * attempt);
          return;
        }
        state.joining = null;
        setJoinBusy(false);
        if (state.connected) setStatus('connected');
        joinFailed(roomName, userName, rejoin, error);
        return;
      }
      state.joining = null;
      setJoinBusy(false);
      if (state.connected) setStatus('connected');
      state.room = typeof res.room === 'string' ? res.room : roomName;
      state.name = typeof res.userName === 'string' ? res.userName : userName;
      rememberName(state.name);
      if (rejoin) {
        addLocalNotice(`Reconnected. Rejoined “${state.room}” as ${state.name}.`);
        renderMembers();
        updateComposerEnabled();
      } else {
        showRoom();
        renderMembers();
        addLocalNotice(`You joined “${state.room}” as ${state.name}.`);
        el.messageInput.focus();
      }
    });
  }

  function joinFailed(roomName, userName, rejoin, error) {
    state.room = null;
    state.name = null;
    state.members = [];
    state.pendingDms = [];
    el.roomName.value = roomName;
    el.userName.value = userName;
    if (rejoin) {
      showLobby();
      const { code, text } = describeError(error, { userName });
      showError(el.joinError, { code, message: `Could not rejoin “${roomName}” after reconnecting: ${text}` });
    } else {
      clearMessages();
      showError(el.joinError, error, { userName });
      if (error.code === 'name_taken') {
        setFieldError(el.userName, el.userNameError, '');
        el.userName.setAttribute('aria-invalid', 'true');
        el.userName.focus();
        el.userName.select();
      }
    }
    renderMembers();
  }

  // ----------------------------------------------------------- connection

  function isStringArray(a) {
    return Array.isArray(a) && a.every((x) => typeof x === 'string');
  }

  function inRoomContext() {
    return state.room !== null || state.joining !== null;
  }

  // Gateways run with --jwt-secret want a token in the Socket.IO handshake.
  // Opened as /?token=<JWT>, the page keeps the token for this tab
  // (sessionStorage, so a reload still works) and removes it from the address
  // bar, so it is not bookmarked or shared by copying the link.
  const TOKEN_KEY = 'roomchat.token';
  function takeToken() {
    try {
      const url = new URL(window.location.href);
      const fromUrl = url.searchParams.get('token');
      if (fromUrl) {
        sessionStorage.setItem(TOKEN_KEY, fromUrl);
        url.searchParams.delete('token');
        window.history.replaceState(null, '', url.pathname + url.search + url.hash);
        return fromUrl;
      }
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (_) {
      return null;
    }
  }

  // tokenName reads the token's `name` claim (the server checks the token;
  // this only fills in the name the server will insist on).
  function tokenName(token) {
    try {
      const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const claims = JSON.parse(new TextDecoder().decode(bytes));
      return claims && typeof claims.name === 'string' ? claims.name.trim() : null;
    } catch (_) {
      return null;
    }
  }

  function connect() {
    if (typeof window.io !== 'function') {
      setStatus('offline', '(the chat client could not be loaded)');
      return;
    }
    const token = takeToken();
    const fixedName = token ? tokenName(token) : null;
    if (fixedName) {
      el.userName.value = fixedName;
      el.userName.readOnly = true;
    }
    // WebSocket only: the gateway does not do HTTP long-polling (yet).
    socket = window.io(token ? { transports: ['websocket'], auth: { token } } : { transports: ['websocket'] });

    socket.on('connect', () => {
      state.connected = true;
      setStatus('connected');
      if (el.joinError.dataset.code === 'offline') clearError(el.joinError);
      if (state.everConnected && state.room !== null && !state.joining) {
        // Our membership died with the old connection: rejoin, same name.
        join(state.room, state.name, true);
      }
      state.everConnected = true;
    });

    socket.on('disconnect', (reason) => {
      state.connected = false;
      // A pending first join will time out; a pending rejoin is retried on connect.
      if (state.joining && state.joining.rejoin) state.joining = null;
      if (reason === 'io client disconnect') setStatus('offline');
      else setStatus('reconnecting');
      if (state.room !== null) addLocalNotice('Connection lost. Reconnecting…');
    });

    socket.io.on('reconnect_attempt', (n) => {
      if (!state.connected) setStatus('reconnecting', n > 1 ? `(attempt ${n})` : '');
    });

    socket.on('connect_error', (err) => {
      state.connected = false;
      if (err && err.message === 'unauthorized') {
        // Refused by the server (socket.io-client does not retry this).
        setStatus('offline', '(not authorized: open the chat with a valid ?token= link)');
        return;
      }
      setStatus(state.everConnected ? 'reconnecting' : 'connecting', '(server unreachable, retrying)');
    });

    socket.on('roomList', (rooms) => {
      if (!isStringArray(rooms)) return;
      state.rooms = rooms.slice();
      renderRooms();
    });

    socket.on('userList', (list) => {
      if (!Array.isArray(list) || !inRoomContext()) return;
      state.members = list.filter(
        (m) => m && typeof m.userName === 'string' && typeof m.key === 'string',
      );
      renderMembers();
    });

    socket.on('notice', (text) => {
      if (typeof text !== 'string' || !inRoomContext()) return;
      addNotice(text, 'server');
    });

    socket.on('newMessage', (m) => {
      if (!m || typeof m.message !== 'string' || typeof m.user !== 'string') return;
      if (!inRoomContext()) return;
      addMessage(m);
    });

    socket.on('chatError', (err) => {
      if (!err || typeof err !== 'object') return;
      showError(state.view === 'room' ? el.composerError : el.joinError, err);
    });
  }

  // ------------------------------------------------------------------ boot

  el.userName.value = recallName();
  renderRooms();
  renderMembers();
  showLobby();
  setStatus('connecting');
  el.roomName.focus();
  connect();
})();
