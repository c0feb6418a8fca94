-- node_down: ARGV node. Graceful exit: the node's remaining sockets leave
-- (notices, one userList per room, roomList), then its heartbeat and
-- registration go. Returns the number of sockets removed.
local node = ARGV[1]
local batch, socks = {}, 0
for _, sid in ipairs(redis.call('SMEMBERS', 'gw:ns:' .. node)) do
  if remove_member(sid, false, batch) then socks = socks + 1 end
end
redis.call('DEL', 'gw:ns:' .. node, 'gw:hb:' .. node)
redis.call('SREM', 'gw:nodes', node)
flush_batch(batch)
finish_rooms(nil)
return socks
