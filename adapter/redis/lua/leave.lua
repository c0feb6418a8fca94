-- leave: ARGV sid. Returns ok | not_in_room.
local room = remove_member(ARGV[1], false)
finish_rooms(nil)
if room then return 'ok' end
return 'not_in_room'
