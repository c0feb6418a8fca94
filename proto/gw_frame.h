/* SPDX-License-Identifier: MIT */
/* gw_frame.h: a refcounted, encoded-once outbound message.
 * A broadcast is serialised once into a frame; every recipient's queue holds a
 * reference. The payload is an Engine.IO text packet (e.g. `42["notice",..]`)
 * preceded by GW_FRAME_HEADROOM spare bytes, so the transport can write its
 * WebSocket header in place (libwebsockets' LWS_PRE) without a copy. */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Must be >= LWS_PRE (16 in libwebsockets 4.1.6); the gateway asserts it. */
#define GW_FRAME_HEADROOM 16

/* What a frame carries, for metrics and for snapshot coalescing. */
#define GW_EVENT_MAP(XX)                                                       \
  XX(ROOMLIST, "roomList")                                                     \
  XX(USERLIST, "userList")                                                     \
  XX(NOTICE, "notice")                                                         \
  XX(NEWMESSAGE, "newMessage")                                                 \
  XX(CHATERROR, "chatError")                                                   \
  XX(ACK, "ack")                                                               \
  XX(CONTROL, "control")

typedef enum {
#define XX(k, name) GW_EV_##k,
  GW_EVENT_MAP(XX)
#undef XX
      GW_EV__COUNT
} gw_ev_kind_t;

/* gw_ev_name returns the event name of |k| ("roomList", ...). */
const char *gw_ev_name(gw_ev_kind_t k);

typedef struct gw_frame {
  uint32_t refs;
  uint8_t kind;        /* gw_ev_kind_t */
  size_t len;          /* payload bytes, excluding the headroom */
  unsigned char buf[]; /* GW_FRAME_HEADROOM bytes, then len payload bytes */
} gw_frame_t;

/* gw_frame_new returns a frame with refs == 1 and |len| uninitialised payload
 * bytes for the caller to fill (owned), or NULL when out of memory. */
gw_frame_t *gw_frame_new(gw_ev_kind_t kind, size_t len);

/* gw_frame_from copies |len| bytes of |payload| into a new frame (owned). */
gw_frame_t *gw_frame_from(gw_ev_kind_t kind, const void *payload, size_t len);

static inline unsigned char *gw_frame_data(gw_frame_t *f) {
  return f->buf + GW_FRAME_HEADROOM;
}

static inline gw_frame_t *gw_frame_ref(gw_frame_t *f) {
  f->refs++;
  return f;
}

/* gw_frame_unref drops one reference and frees the frame at zero. */
void gw_frame_unref(gw_frame_t *f);

#endif /* GW_FRAME_H */
