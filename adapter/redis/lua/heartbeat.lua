-- heartbeat: ARGV node, ttl_ms, token. Refreshes the heartbeat, echoes
-- H(token) on the node channel (proves the subscription path end to end).
-- Returns 1 when the node was not registered (it was reaped, or Redis lost
-- its data): the caller must re-assert.
local node = ARGV[1]
redis.call('SET', 'gw:hb:' .. node, '1', 'PX', ARGV[2])
local added = redis.call('SADD', 'gw:nodes', node)
redis.call('PUBLISH', 'gw:n:' .. node, ev('H', ARGV[3]))
return added
