/* SPDX-License-Identifier: MIT */
/* gw_chat_err.h: the chat protocol's error vocabulary (docs/protocol.md):
 * the codes a client sees in a `chatError` or a failed ack, their default
 * messages, and how adapter statuses (GW_E*, gw_err.h) map to them. This is
 * the only place that map lives. */
#ifndef GW_CHAT_ERR_H
#define GW_CHAT_ERR_H

/* XX(enum suffix, code on the wire, default message) */
#define GW_CHAT_ERROR_MAP(XX)                                                  \
  XX(BAD_REQUEST, "bad_request", "payload must be an object")                  \
  XX(INVALID_NAME, "invalid_name",                                             \
     "names must be 1-64 characters without control characters")               \
  XX(NAME_TAKEN, "name_taken", "that user name is already in the room")        \
  XX(NAME_MISMATCH, "name_mismatch",                                           \
     "your token fixes your user name; use that name")                         \
  XX(NOT_IN_ROOM, "not_in_room", "join a room first")                          \
  XX(INVALID_MESSAGE, "invalid_message",                                       \
     "message must be a non-empty string of at most 4096 bytes")               \
  XX(USER_NOT_FOUND, "user_not_found", "no such user in your room")            \
  XX(RATE_LIMITED, "rate_limited", "too many messages; slow down")             \
  XX(UNKNOWN_EVENT, "unknown_event", "unknown event")                          \
  XX(ROOM_LIMIT, "room_limit", "too many rooms")                               \
  XX(ROOM_FULL, "room_full", "this room is full")                              \
  XX(UNAVAILABLE, "unavailable", "chat backend unavailable; try again")        \
  XX(INTERNAL, "internal", "internal error")

typedef enum {
#define XX(k, code, msg) GW_CE_##k,
  GW_CHAT_ERROR_MAP(XX)
#undef XX
      GW_CE__COUNT
} gw_chat_err_t;

/* gw_chat_err_code returns the wire code of |e| ("name_taken", ...; static
 * storage), or "internal" for a value outside the map. */
const char *gw_chat_err_code(gw_chat_err_t e);

/* gw_chat_err_msg returns the default message of |e| (static storage). */
const char *gw_chat_err_msg(gw_chat_err_t e);

/* gw_chat_err_from maps an adapter status (a GW_E* code) to the chat error
 * a client is told; codes with no protocol meaning become GW_CE_INTERNAL. */
gw_chat_err_t gw_chat_err_from(int status);

#endif /* GW_CHAT_ERR_H */
