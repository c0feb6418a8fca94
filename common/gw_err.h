/* SPDX-License-Identifier: MIT */
/* gw_err.h: the one error convention of the project (libuv style).
 * Functions return 0 or a negative code: either -errno, passed through, or a
 * GW_E* value below. gw_strerror() names both kinds. */
#ifndef GW_ERR_H
#define GW_ERR_H

/* XX(name, human message). The chat protocol's own error codes, and how
 * these map to them, are the chat module's (chat/gw_chat_err.h). */
#define GW_ERRNO_MAP(XX)                                                       \
  XX(EFULL, "queue full")                                                      \
  XX(EPROTO, "malformed packet")                                               \
  XX(EINVAL, "invalid argument")                                               \
  XX(ENAMETAKEN, "user name already taken in this room")                       \
  XX(ENOTINROOM, "not in a room")                                              \
  XX(ENOTFOUND, "no such user in this room")                                   \
  XX(EROOMLIMIT, "too many rooms")                                             \
  XX(EROOMFULL, "room is full")                                                \
  XX(EUNAVAIL, "cluster backend unavailable")                                  \
  XX(ETIMEDOUT, "cluster backend timed out")                                   \
  XX(ETOOLONG, "over its length bound")                                        \
  XX(ECLOSED, "closed")                                                        \
  XX(ENOMEM, "out of memory")

typedef enum {
  GW_OK = 0,
  GW__ERR_BASE = -1000, /* values stay clear of -errno */
#define XX(code, msg) GW_##code,
  GW_ERRNO_MAP(XX)
#undef XX
} gw_err_t;

/* gw_strerror returns a static message for a GW_E* code or a -errno. */
const char *gw_strerror(int err);

#endif /* GW_ERR_H */
