-- SPDX-License-Identifier: MIT
-- common.lua: helpers prepended to every script (embed_lua.cmake).
--
-- Keys. A room name is user input: it is always the LAST part of a key,
-- after a prefix that no other key type starts with, so it cannot alias.
--   gw:seq          counter: room creation order and member join order
--   gw:rooms        ZSET room -> creation seq
--   gw:rm:<room>    ZSET member JSON {"userName":..,"key":..} -> join seq
--   gw:rn:<room>    HASH user name -> sid (uniqueness by exact name)
--   gw:s:<sid>      HASH room, name, node, frag, rseq, mseq
--   gw:ns:<node>    SET sids of the node that are in a room
--   gw:nodes        SET registered nodes
--   gw:hb:<node>    heartbeat, expires after node_ttl
--   gw:rlver        roomList version
--   gw:peer:<tag>   STRING the address ("host:port") advertised by the live
--                   node whose peer tag is <tag>; expires with its heartbeat
--   gw:peerof       HASH node -> <tag><address> (the tag is 6 bytes): what
--                   node_down and reap remove for a node
-- Channels: gw:lobby (roomList), gw:r:<room> (room events),
-- gw:n:<node> (DMs and heartbeat echoes for one node).
--
-- Events are one type byte and then fields, each "<decimal length>:<bytes>".
-- Frames are complete Engine.IO packets (42["event",...]) built here once,
-- byte-identical to what jansson (gw_events.c) produces.

local rooms_changed = false

local function fmt(n) return string.format('%d', n) end

local jesc = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b',
               ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

-- A JSON string. Not cjson: it escapes '/' and encodes {} for empty tables.
-- UTF-8 passes through unchanged, as jansson writes it.
local function jstr(s)
  return '"' .. string.gsub(s, '[%z\1-\31"\\]', function(c)
    return jesc[c] or string.format('\\u%04X', string.byte(c))
  end) .. '"'
end

local function ev(kind, ...)
  local parts = { kind }
  for i = 1, select('#', ...) do
    local s = select(i, ...)
    parts[#parts + 1] = #s .. ':' .. s
  end
  return table.concat(parts)
end

local function userlist(room)
  local frags = redis.call('ZRANGE', 'gw:rm:' .. room, 0, -1)
  return '42["userList",[' .. table.concat(frags, ',') .. ']]'
end

local function roomlist()
  local rooms = redis.call('ZRANGE', 'gw:rooms', 0, -1)
  for i = 1, #rooms do rooms[i] = jstr(rooms[i]) end
  return '42["roomList",[' .. table.concat(rooms, ',') .. ']]'
end

local function notice(name, what)
  return '42["notice",' .. jstr(name .. what) .. ']'
end

local function bump_seq(v)
  local cur = tonumber(redis.call('GET', 'gw:seq') or '0')
  if cur < v then redis.call('SET', 'gw:seq', v) end
end

-- remove_member takes |sid| out of its room with the leave effects: the L
-- event (sid, notice, userList) on the room channel, the room deleted if it
-- emptied (unless |keep_room|: a rename). With a |batch| table the userList
-- is left out and batch[room] set: the caller publishes one U per room.
-- Returns the room, or nil when |sid| was in none.
local function remove_member(sid, keep_room, batch)
  local skey = 'gw:s:' .. sid
  local f = redis.call('HMGET', skey, 'room', 'name', 'node', 'frag')
  local room, name, node, frag = f[1], f[2], f[3], f[4]
  if not room then return nil end
  redis.call('DEL', skey)
  if node then redis.call('SREM', 'gw:ns:' .. node, sid) end
  if frag then redis.call('ZREM', 'gw:rm:' .. room, frag) end
  if name and redis.call('HGET', 'gw:rn:' .. room, name) == sid then
    redis.call('HDEL', 'gw:rn:' .. room, name)
  end
  local left = redis.call('ZCARD', 'gw:rm:' .. room)
  local nt, ul = '', ''
  if left > 0 then
    nt = notice(name or '', ' left the room.')
    if batch then batch[room] = true else ul = userlist(room) end
  elseif not keep_room then
    redis.call('DEL', 'gw:rm:' .. room, 'gw:rn:' .. room)
    redis.call('ZREM', 'gw:rooms', room)
    rooms_changed = true
  end
  redis.call('PUBLISH', 'gw:r:' .. room, ev('L', sid, nt, ul))
  return room
end

-- add_member puts |sid| in |room| (created if missing) as |name|. Sequence
-- numbers > 0 are kept (re-assertion keeps the original order); otherwise
-- they are drawn from gw:seq. Returns rseq, mseq.
local function add_member(sid, room, name, node, rseq, mseq)
  local have = redis.call('ZSCORE', 'gw:rooms', room)
  if have then
    rseq = tonumber(have)
  else
    if rseq and rseq > 0 then bump_seq(rseq)
    else rseq = redis.call('INCR', 'gw:seq') end
    redis.call('ZADD', 'gw:rooms', rseq, room)
    rooms_changed = true
  end
  if mseq and mseq > 0 then bump_seq(mseq)
  else mseq = redis.call('INCR', 'gw:seq') end
  local frag = '{"userName":' .. jstr(name) .. ',"key":' .. jstr(sid) .. '}'
  redis.call('ZADD', 'gw:rm:' .. room, mseq, frag)
  redis.call('HSET', 'gw:rn:' .. room, name, sid)
  redis.call('HSET', 'gw:s:' .. sid, 'room', room, 'name', name, 'node', node,
             'frag', frag, 'rseq', rseq, 'mseq', mseq)
  redis.call('SADD', 'gw:ns:' .. node, sid)
  return rseq, mseq
end

local function flush_batch(batch)
  for room in pairs(batch) do
    if redis.call('ZCARD', 'gw:rm:' .. room) > 0 then
      redis.call('PUBLISH', 'gw:r:' .. room, ev('U', userlist(room)))
    end
  end
end

-- finish_rooms publishes roomList once if the set of rooms changed. The
-- version never goes below |known| + 1, so it stays monotonic even when
-- Redis restarted empty and a node re-asserts.
local function finish_rooms(known)
  if not rooms_changed then return end
  local v = redis.call('INCR', 'gw:rlver')
  if known and v <= known then
    v = known + 1
    redis.call('SET', 'gw:rlver', v)
  end
  redis.call('PUBLISH', 'gw:lobby', ev('R', fmt(v), roomlist()))
end

-- peer_claim sets gw:peer:<tag> to |addr| for |ttl| ms (and records it in
-- gw:peerof) unless another address holds it. Returns '' when the key is
-- ours (or |tag| is '': the node does not register), else the holder's
-- address: a tag collision, which the caller logs.
local function peer_claim(node, tag, addr, ttl)
  if tag == '' then return '' end
  local key = 'gw:peer:' .. tag
  local cur = redis.call('GET', key)
  if cur and cur ~= addr then return cur end
  redis.call('SET', key, addr, 'PX', ttl)
  redis.call('HSET', 'gw:peerof', node, tag .. addr)
  return ''
end

-- peer_release removes |node|'s peer record and its gw:peer:<tag> key if
-- that still holds the node's address (after a collision it may be
-- another's). |tag| and |addr| ('' or nil: take them from the record) let
-- an orderly exit clean up even when the record was lost.
local function peer_release(node, tag, addr)
  local rec = redis.call('HGET', 'gw:peerof', node)
  if rec then redis.call('HDEL', 'gw:peerof', node) end
  if (not tag or tag == '') and rec then
    tag, addr = string.sub(rec, 1, 6), string.sub(rec, 7)
  end
  if tag and tag ~= '' then
    local key = 'gw:peer:' .. tag
    if redis.call('GET', key) == addr then redis.call('DEL', key) end
  end
end

-- ---- script body ---------------------------------------------------------
