-- roomlist: ARGV known_rlver. Returns {version, roomList frame}; when the
-- stored version is not above |known| (Redis restarted empty, or nothing
-- changed) the current list gets version known+1, so a node that missed
-- events while disconnected always accepts the fresh list.
local known = tonumber(ARGV[1]) or 0
local v = tonumber(redis.call('GET', 'gw:rlver') or '0')
if v <= known then
  v = known + 1
  redis.call('SET', 'gw:rlver', v)
end
return { fmt(v), roomlist() }
