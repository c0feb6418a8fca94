-- assert: ARGV node, ttl_ms, known_rlver, peer tag, address (both '' when
-- the node does not register as a peer), then per local member: sid, room,
-- name, rseq, mseq. Makes Redis match this node's local truth after a
-- reconnect or after the node was reaped: registers and heartbeats the node,
-- claims its peer key, removes its stale members (leave effects), re-adds
-- missing ones with their original order (no notices: nobody joined),
-- publishes one U (userList) per touched room and roomList if rooms changed.
-- Returns {holder, conflicts}: holder as peer_claim returns it, conflicts
-- the sids that could not be restored because their name was taken
-- meanwhile.
local node, ttl, known = ARGV[1], ARGV[2], tonumber(ARGV[3])
local first = 6 -- the first member's sid
redis.call('SET', 'gw:hb:' .. node, '1', 'PX', ttl)
redis.call('SADD', 'gw:nodes', node)
local holder = peer_claim(node, ARGV[4], ARGV[5], ttl)
local want = {}
for i = first, #ARGV, 5 do want[ARGV[i]] = true end
local batch, conflicts = {}, {}
for _, sid in ipairs(redis.call('SMEMBERS', 'gw:ns:' .. node)) do
  if not want[sid] then remove_member(sid, false, batch) end
end
for i = first, #ARGV, 5 do
  local sid, room, name = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local rseq, mseq = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local cur = redis.call('HMGET', 'gw:s:' .. sid, 'room', 'name')
  if cur[1] == room and cur[2] == name then
    redis.call('SADD', 'gw:ns:' .. node, sid)
  else
    if cur[1] then remove_member(sid, false, batch) end
    if redis.call('HGET', 'gw:rn:' .. room, name) then
      conflicts[#conflicts + 1] = sid
    else
      add_member(sid, room, name, node, rseq, mseq)
      batch[room] = true
    end
  end
end
flush_batch(batch)
finish_rooms(known)
return { holder, conflicts }
