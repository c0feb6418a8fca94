-- dm: ARGV sid, room, target, node, kind, frame. Publishes D (kind, frame,
-- sids...) to the target's node channel and to the sender's (one event when
-- both are on one node). Returns ok | not_in_room | user_not_found.
local sid, room, target, node, kind, frame =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HGET', 'gw:s:' .. sid, 'room') ~= room then
  return 'not_in_room'
end
local t = redis.call('HMGET', 'gw:s:' .. target, 'room', 'node')
if t[1] ~= room or not t[2] then return 'user_not_found' end
if t[2] == node then
  if target == sid then
    redis.call('PUBLISH', 'gw:n:' .. node, ev('D', kind, frame, sid))
  else
    redis.call('PUBLISH', 'gw:n:' .. node, ev('D', kind, frame, target, sid))
  end
else
  redis.call('PUBLISH', 'gw:n:' .. t[2], ev('D', kind, frame, target))
  redis.call('PUBLISH', 'gw:n:' .. node, ev('D', kind, frame, sid))
end
return 'ok'
