-- node_down: ARGV node, peer tag, address (both '' when the node did not
-- register as a peer). Graceful exit: the node's remaining sockets leave
-- (notices, one userList per room, roomList), then its heartbeat,
-- registration and peer key go. Returns the number of sockets removed.
local node = ARGV[1]
local batch, socks = {}, 0
for _, sid in ipairs(redis.call('SMEMBERS', 'gw:ns:' .. node)) do
  if remove_member(sid, false, batch) then socks = socks + 1 end
end
redis.call('DEL', 'gw:ns:' .. node, 'gw:hb:' .. node)
redis.call('SREM', 'gw:nodes', node)
peer_release(node, ARGV[2], ARGV[3])
flush_batch(batch)
finish_rooms(nil)
return socks
