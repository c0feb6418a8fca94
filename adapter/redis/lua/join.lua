-- join: ARGV sid, room, user, node, max_rooms, max_members (0 = no bound).
-- Checks everything first (a failed join changes nothing), then leaves the
-- old room with its effects and joins: J event (sid, rseq, mseq, notice,
-- userList) on the room channel, roomList if the set of rooms changed.
-- Returns ok | noop (already there) | name_taken | room_limit | room_full.
local sid, room, user, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_rooms, max_members = tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = redis.call('HMGET', 'gw:s:' .. sid, 'room', 'name')
local cur_room, cur_name = cur[1], cur[2]
if redis.call('ZSCORE', 'gw:rooms', room) then
  local holder = redis.call('HGET', 'gw:rn:' .. room, user)
  if holder and holder ~= sid then return 'name_taken' end
  if cur_room ~= room and max_members > 0 and
     redis.call('ZCARD', 'gw:rm:' .. room) >= max_members then
    return 'room_full'
  end
elseif max_rooms > 0 then
  local n = redis.call('ZCARD', 'gw:rooms')
  if cur_room and redis.call('ZCARD', 'gw:rm:' .. cur_room) == 1 then
    n = n - 1
  end
  if n >= max_rooms then return 'room_limit' end
end
if cur_room == room then
  if cur_name == user then return 'noop' end -- already there: no event
  remove_member(sid, true)                  -- a rename: the room stays
elseif cur_room then
  remove_member(sid, false)
end
local rseq, mseq = add_member(sid, room, user, node)
redis.call('PUBLISH', 'gw:r:' .. room,
           ev('J', sid, fmt(rseq), fmt(mseq), notice(user, ' joined the room.'),
              userlist(room)))
finish_rooms(nil)
return 'ok'
