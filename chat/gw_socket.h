/* SPDX-License-Identifier: MIT */
/* gw_socket.h: what the chat needs from a client connection, as an ops
 * table (the shape gw_adapter.h uses). A transport (gateway/: WebSocket
 * today) embeds gw_socket_t as the first member of its connection, fills in
 * |ops| and |sid|, and hands the base to gw_chat_on_event. The chat never
 * sees the transport: its unit tests drive it with a fake socket.
 *
 * Lifetime: a socket object outlives its connection while requests it made
 * are in flight. The chat holds it (ops->hold) for the duration of each
 * asynchronous request and releases it (ops->release) exactly once when the
 * request ends; the transport frees the object when the last reference
 * goes. */
#ifndef GW_SOCKET_H
#define GW_SOCKET_H

#include <stdint.h>

#include "gw_frame.h"

typedef struct gw_socket gw_socket_t;
struct gw_chat; /* gw_chat.h */

typedef struct gw_chat_msg { /* a request waiting in the inbox */
  size_t len;
  char buf[]; /* the raw Engine.IO packet, re-parsed when its turn comes */
} gw_chat_msg_t;

/* Per-socket chat state, embedded in gw_socket_t; the chat's alone. */
typedef struct gw_chat_sess {
  char *room;      /* current room (owned) or NULL */
  char *name;      /* user name in that room (owned) or NULL */
  char *auth_name; /* the token's `name` claim (owned, trimmed) or NULL */
  double tokens;
  uint64_t refill_ms;
  gw_chat_msg_t **inbox; /* ring, allocated on first use */
  uint32_t in_head, in_n;
  unsigned busy : 1; /* a membership change is in flight */
  unsigned dispatching : 1;
} gw_chat_sess_t;

typedef struct gw_socket_ops {
  /* send queues |f| (borrowed; the queue takes a reference). A socket over
   * its queue bound is closed as a slow reader. Returns 0, GW_ECLOSED or
   * GW_EFULL. It never calls back into the chat. */
  int (*send)(gw_socket_t *s, gw_frame_t *f);
  /* hold / release keep |s| allocated across an asynchronous request;
   * release may free it. */
  void (*hold)(gw_socket_t *s);
  void (*release)(gw_socket_t *s);
  /* alive is 1 while the connection is open and may be written to. */
  int (*alive)(const gw_socket_t *s);
} gw_socket_ops_t;

/* Embedded first in the transport's connection. */
struct gw_socket {
  const gw_socket_ops_t *ops; /* borrowed, static */
  char sid[21];        /* the Socket.IO socket id (20 characters), or "" */
  gw_chat_sess_t sess; /* the chat's per-socket state; the chat's alone */
};

/* gw_socket_init sets |ops| and a fresh chat session for |s| (whose sid is
 * empty until the transport sets it). Call gw_socket_fini before freeing
 * it. */
void gw_socket_init(gw_socket_t *s, const gw_socket_ops_t *ops,
                    const struct gw_chat *c);

/* gw_socket_fini frees the chat state of |s| (room, names, inbox). */
void gw_socket_fini(gw_socket_t *s);

static inline int gw_socket_send(gw_socket_t *s, gw_frame_t *f) {
  return s->ops->send(s, f);
}

static inline void gw_socket_hold(gw_socket_t *s) {
  s->ops->hold(s);
}

static inline void gw_socket_release(gw_socket_t *s) {
  s->ops->release(s);
}

static inline int gw_socket_alive(const gw_socket_t *s) {
  return s->ops->alive(s);
}

static inline const char *gw_socket_sid(const gw_socket_t *s) {
  return s->sid;
}

#endif /* GW_SOCKET_H */
