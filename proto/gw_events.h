/* SPDX-License-Identifier: MIT */
/* gw_events.h: encoders for the server-to-client chat events.
 * Each returns a new frame holding one Socket.IO EVENT packet on namespace
 * `/` as an Engine.IO message, e.g. `42["notice","alice joined the room."]`
 * (owned, refs == 1), or NULL when out of memory. Arguments are borrowed. */
#ifndef GW_EVENTS_H
#define GW_EVENTS_H

#include <jansson.h>
#include <stddef.h>

#include "gw_frame.h"

/* gw_ev_encode encodes `42["<name of kind>",<arg>]`; |arg| is stolen. */
gw_frame_t *gw_ev_encode(gw_ev_kind_t kind, json_t *arg);

/* `roomList`: the array of |n| room names, oldest first. */
gw_frame_t *gw_ev_roomlist(const char *const *rooms, size_t n);

/* `userList`: [{userName, key}] for |n| members in join order. */
gw_frame_t *gw_ev_userlist(const char *const *names, const char *const *keys,
                           size_t n);

/* `notice`: "<user> joined the room." or "<user> left the room." */
gw_frame_t *gw_ev_notice_joined(const char *user);
gw_frame_t *gw_ev_notice_left(const char *user);

#endif /* GW_EVENTS_H */
