-- heartbeat: ARGV node, ttl_ms, token, peer tag, address (both '' when the
-- node does not register as a peer). Refreshes the heartbeat and the peer
-- key (claiming it again if it was lost), echoes H(token) on the node
-- channel (proves the subscription path end to end).
-- Returns {added, holder}: added is 1 when the node was not registered (it
-- was reaped, or Redis lost its data): the caller must re-assert; holder is
-- '' or the address holding our peer tag instead of us (peer_claim).
local node = ARGV[1]
redis.call('SET', 'gw:hb:' .. node, '1', 'PX', ARGV[2])
local added = redis.call('SADD', 'gw:nodes', node)
local holder = peer_claim(node, ARGV[4], ARGV[5], ARGV[2])
redis.call('PUBLISH', 'gw:n:' .. node, ev('H', ARGV[3]))
return { added, holder }
