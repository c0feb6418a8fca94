/* SPDX-License-Identifier: MIT */
/* gw_err.h: the one error convention of the project (libuv style).
 * Functions return 0 or a negative code: either -errno, passed through, or a
 * GW_E* value below. gw_strerror() names both kinds. */
#ifndef GW_ERR_H
#define GW_ERR_H

/* XX(name, chat error code or NULL, human message) */
#define GW_ERRNO_MAP(XX)                                                       \
  XX(EFULL, NULL, "queue full")                                                \
  XX(EPROTO, NULL, "malformed packet")                                         \
  XX(EINVAL, "bad_request", "invalid argument")                                \
  XX(ENAMETAKEN, "name_taken", "user name already taken in this room")         \
  XX(ENOTINROOM, "not_in_room", "not in a room")                               \
  XX(ENOTFOUND, "user_not_found", "no such user in this room")                 \
  XX(EROOMLIMIT, "room_limit", "too many rooms")                               \
  XX(EROOMFULL, "room_full", "room is full")                                   \
  XX(EUNAVAIL, "unavailable", "cluster backend unavailable")                   \
  XX(ETIMEDOUT, "unavailable", "cluster backend timed out")                    \
  XX(ETOOLONG, NULL, "over its length bound")                                  \
  XX(ECLOSED, NULL, "closed")                                                  \
  XX(ENOMEM, NULL, "out of memory")

typedef enum {
  GW_OK = 0,
  GW__ERR_BASE = -1000, /* values stay clear of -errno */
#define XX(code, chat, msg) GW_##code,
  GW_ERRNO_MAP(XX)
#undef XX
} gw_err_t;

/* gw_strerror returns a static message for a GW_E* code or a -errno. */
const char *gw_strerror(int err);

/* gw_err_chat_code returns the chat protocol error code ("name_taken", ...)
 * for |err|, or "internal" when the error has no protocol meaning. */
const char *gw_err_chat_code(int err);

#endif /* GW_ERR_H */
