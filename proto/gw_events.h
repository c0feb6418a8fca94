/* SPDX-License-Identifier: MIT */
/* gw_events.h: the payloads of the chat events a membership change causes
 * (roomList, userList, notice), built on gw_sio_event (gw_sio.h, the home of
 * every packet encoder). Each returns a new frame holding one Socket.IO
 * EVENT packet on namespace `/` as an Engine.IO message, e.g.
 * `42["notice","alice joined the room."]` (owned, refs == 1), or NULL when
 * out of memory. Arguments are borrowed.
 *
 * The Redis adapter's Lua scripts encode the same three events
 * (docs/hacking.md: one thing encoded twice, on purpose): byte for byte. */
#ifndef GW_EVENTS_H
#define GW_EVENTS_H

#include <stddef.h>

#include "gw_frame.h"

/* `roomList`: the array of |n| room names, oldest first. */
gw_frame_t *gw_ev_roomlist(const char *const *rooms, size_t n);

/* `userList`: [{userName, key}] for |n| members in join order. */
gw_frame_t *gw_ev_userlist(const char *const *names, const char *const *keys,
                           size_t n);

/* `notice`: "<user> joined the room." or "<user> left the room." */
gw_frame_t *gw_ev_notice_joined(const char *user);
gw_frame_t *gw_ev_notice_left(const char *user);

#endif /* GW_EVENTS_H */
