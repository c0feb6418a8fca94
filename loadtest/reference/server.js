// SPDX-License-Identifier: MIT
// Reference peer for the benchmark: the chat protocol of issue 2 written the
// way a Node developer would, on Socket.IO 4 with @socket.io/redis-adapter.
// Room membership lives in Socket.IO rooms (shared across instances by the
// adapter: fetchSockets), the ordered room list in a Redis sorted set (or in
// memory when no Redis URL is given).
//
//   node server.js [--host 127.0.0.1] [--port 8000] [--redis redis://host:port]
//                  [--rate-limit 20] [--transports polling,websocket]
// Each flag also as env: CHAT_HOST, CHAT_PORT (or PORT), REDIS_URL,
// CHAT_RATE_LIMIT, CHAT_TRANSPORTS. Logs "listening on http://HOST:PORT" to
// stderr when ready. --transports is Socket.IO's `transports` option; without
// it the server keeps Socket.IO's default, which is polling and websocket
// (so HTTP long-polling and the upgrade work out of the box, as they would
// for a Node team); `--transports websocket` refuses polling.
'use strict';

const http = require('http');
const { Server } = require('socket.io');

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
      'usage: node server.js [--host 127.0.0.1] [--port 8000] ' +
      '[--redis redis://host:port]\n' +
      '                      [--rate-limit 20] [--transports polling,websocket]\n' +
      'env: CHAT_HOST, CHAT_PORT (or PORT), REDIS_URL, CHAT_RATE_LIMIT, ' +
      'CHAT_TRANSPORTS\n' +
      '--transports: Socket.IO\'s transports option (default: polling,websocket,\n' +
      '  Socket.IO\'s own default; "websocket" refuses HTTP long-polling)\n');
  process.exit(0);
}

function option(name, env, def) {
  const i = process.argv.indexOf('--' + name);
  if (i > 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  for (const e of env) if (process.env[e] !== undefined) return process.env[e];
  return def;
}

const HOST = option('host', ['CHAT_HOST'], '127.0.0.1');
const PORT = Number(option('port', ['CHAT_PORT', 'PORT'], '8000'));
const REDIS_URL = option('redis', ['REDIS_URL'], '');
const RATE_LIMIT = Number(option('rate-limit', ['CHAT_RATE_LIMIT'], '20'));
const TRANSPORTS = option('transports', ['CHAT_TRANSPORTS'], '');
const MAX_NAME = 64;
const MAX_MESSAGE = 4096;

function log(level, msg) {
  process.stderr.write(`${new Date().toISOString()} ${level} ${msg}\n`);
}

class ChatError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The ordered list of rooms (oldest first), shared through Redis if present.
function memoryRoomStore() {
  const rooms = new Map(); // insertion order = creation order
  return {
    async add(room) {
      if (rooms.has(room)) return false;
      rooms.set(room, Date.now());
      return true;
    },
    async remove(room) { return rooms.delete(room); },
    async list() { return [...rooms.keys()]; },
  };
}

function redisRoomStore(client) {
  const key = 'chat-reference:rooms';
  return {
    async add(room) {
      // Score = creation time; NX keeps the original on re-creation races.
      return (await client.zAdd(key, { score: Date.now(), value: room },
                                { NX: true })) === 1;
    },
    async remove(room) { return (await client.zRem(key, room)) === 1; },
    async list() { return client.zRange(key, 0, -1); },
  };
}

function validName(v) {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (s.length === 0 || s.length > MAX_NAME) return null;
  if (/[\u0000-\u001f\u007f]/.test(s)) return null;
  return s;
}

async function main() {
  const httpServer = http.createServer((req, res) => {
    if (req.url === '/healthz' || req.url === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const opts = {};
  if (TRANSPORTS) {
    opts.transports = TRANSPORTS.split(',').map((t) => t.trim()).filter(Boolean);
    const bad = opts.transports.filter((t) => !['polling', 'websocket'].includes(t));
    if (opts.transports.length === 0 || bad.length > 0)
      throw new Error(`--transports: polling and/or websocket, not ${TRANSPORTS}`);
  }
  const io = new Server(httpServer, opts);

  let rooms = memoryRoomStore();
  const redisClients = [];
  if (REDIS_URL) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pubClient = createClient({ url: REDIS_URL });
    const subClient = pubClient.duplicate();
    const dataClient = pubClient.duplicate();
    for (const c of [pubClient, subClient, dataClient])
      c.on('error', (err) => log('error', `redis: ${err.message}`));
    await Promise.all([pubClient.connect(), subClient.connect(),
                       dataClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
    rooms = redisRoomStore(dataClient);
    redisClients.push(pubClient, subClient, dataClient);
  }

  // Members of a room across the cluster, in join order.
  async function members(room) {
    const sockets = await io.in(room).fetchSockets();
    return sockets.filter((s) => s.data.room === room)
        .sort((a, b) => a.data.joinedAt - b.data.joinedAt);
  }

  async function sendUserList(room) {
    const list = (await members(room))
        .map((s) => ({ userName: s.data.userName, key: s.id }));
    io.to(room).emit('userList', list);
  }

  async function leaveRoom(socket) {
    const room = socket.data.room;
    if (!room) return;
    const userName = socket.data.userName;
    socket.leave(room);
    socket.data.room = undefined;
    socket.data.userName = undefined;
    io.to(room).emit('notice', `${userName} left the room.`);
    const rest = await members(room);
    if (rest.length === 0) {
      if (await rooms.remove(room)) io.emit('roomList', await rooms.list());
    } else {
      await sendUserList(room);
    }
  }

  io.on('connection', async (socket) => {
    let tokens = 2 * RATE_LIMIT;
    let last = Date.now();
    function rateLimited() {
      if (RATE_LIMIT <= 0) return false;
      const now = Date.now();
      tokens = Math.min(2 * RATE_LIMIT, tokens + (now - last) * RATE_LIMIT / 1000);
      last = now;
      if (tokens < 1) return true;
      tokens -= 1;
      return false;
    }

    // Wraps a handler: validates the payload and answers through the ack or
    // a chatError event.
    function on(event, handler) {
      socket.on(event, async (...args) => {
        const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        try {
          if (rateLimited()) throw new ChatError('rate_limited', 'too many messages');
          let payload = args[0];
          if (payload === undefined && event === 'leave') payload = {};
          if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
            throw new ChatError('bad_request', 'payload must be an object');
          const result = await handler(payload);
          if (ack) ack(Object.assign({ ok: true }, result));
        } catch (err) {
          const error = err instanceof ChatError
              ? { code: err.code, message: err.message }
              : { code: 'internal', message: 'internal error' };
          if (!(err instanceof ChatError)) log('error', err.stack);
          if (ack) ack({ ok: false, error });
          else socket.emit('chatError', error);
        }
      });
    }

    on('create', async ({ roomName, userName }) => {
      const room = validName(roomName);
      const user = validName(userName);
      if (room === null || user === null)
        throw new ChatError('invalid_name', 'roomName and userName must be 1-64 characters');
      const present = await members(room);
      if (present.some((s) => s.data.userName === user && s.id !== socket.id))
        throw new ChatError('name_taken', `${user} is already in ${room}`);
      if (socket.data.room) await leaveRoom(socket);
      socket.join(room);
      socket.data.room = room;
      socket.data.userName = user;
      socket.data.joinedAt = Date.now() + process.hrtime()[1] / 1e9;
      socket.to(room).emit('notice', `${user} joined the room.`);
      await sendUserList(room);
      if (await rooms.add(room)) io.emit('roomList', await rooms.list());
      return { room, userName: user, key: socket.id };
    });

    on('sendMessage', async ({ message, select }) => {
      const room = socket.data.room;
      if (!room) throw new ChatError('not_in_room', 'join a room first');
      if (typeof message !== 'string' || message.length === 0 ||
          Buffer.byteLength(message) > MAX_MESSAGE)
        throw new ChatError('invalid_message', 'message must be 1-4096 bytes');
      const msg = { message, user: socket.data.userName, dm: false, ts: Date.now() };
      if (select === undefined || select === null || select === 'all') {
        io.to(room).emit('newMessage', msg);
        return {};
      }
      if (!(await members(room)).some((s) => s.id === select))
        throw new ChatError('user_not_found', 'no such member in this room');
      msg.dm = true;
      io.to([select, socket.id]).emit('newMessage', msg);
      return {};
    });

    on('leave', async () => {
      if (!socket.data.room) throw new ChatError('not_in_room', 'not in a room');
      await leaveRoom(socket);
      return {};
    });

    socket.onAny((event, ...args) => {
      if (['create', 'sendMessage', 'leave'].includes(event)) return;
      const error = { code: 'unknown_event', message: `unknown event ${event}` };
      const ack = args[args.length - 1];
      if (typeof ack === 'function') ack({ ok: false, error });
      else socket.emit('chatError', error);
    });

    socket.on('disconnect', () => {
      leaveRoom(socket).catch((err) => log('error', err.stack));
    });

    socket.emit('roomList', await rooms.list());
  });

  httpServer.listen(PORT, HOST, () => {
    const addr = httpServer.address();
    log('info', `listening on http://${HOST}:${addr.port} (transports ` +
        `${(opts.transports || ['polling', 'websocket']).join(',')})`);
  });

  let stopping = false;
  function stop() {
    if (stopping) process.exit(0);
    stopping = true;
    io.close(() => {
      Promise.all(redisClients.map((c) => c.quit().catch(() => {})))
          .finally(() => process.exit(0));
    });
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  log('error', err.stack);
  process.exit(1);
});
