-- reap: ARGV limit. For every registered node whose heartbeat expired,
-- removes up to |limit| of its sockets with the leave effects (notices per
-- member, one userList per room) and unregisters the node once none is
-- left, with its peer key (which has usually expired with its heartbeat
-- already) and record. Atomic, so each dead member leaves exactly once whoever runs it.
-- Returns {nodes fully reaped, sockets removed, names of those nodes}.
local limit = tonumber(ARGV[1])
local batch, nodes, socks, names = {}, 0, 0, {}
for _, n in ipairs(redis.call('SMEMBERS', 'gw:nodes')) do
  if redis.call('EXISTS', 'gw:hb:' .. n) == 0 and socks < limit then
    local sids = redis.call('SPOP', 'gw:ns:' .. n, limit - socks)
    for _, sid in ipairs(sids) do
      if remove_member(sid, false, batch) then socks = socks + 1 end
    end
    if redis.call('SCARD', 'gw:ns:' .. n) == 0 then
      redis.call('SREM', 'gw:nodes', n)
      peer_release(n, nil, nil)
      nodes = nodes + 1
      names[#names + 1] = n
    end
  end
end
flush_batch(batch)
finish_rooms(nil)
return { nodes, socks, names }
