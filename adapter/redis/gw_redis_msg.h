/* SPDX-License-Identifier: MIT */
/* gw_redis_msg.h: decoder for the Redis adapter's pub/sub events.
 * Pure functions: no I/O, no state, no allocation. The Lua scripts
 * (lua/common.lua) and rad_emit_room publish an event as one type byte, then
 * fields, each "<decimal length>:<bytes>". A message that does not decode
 * into exactly what its channel may carry is refused whole, so a corrupt or
 * hostile publisher can never make the adapter act on half a message or send
 * a client something that is not an Engine.IO packet. All pointers in a
 * decoded message are borrowed from the payload. */
#ifndef GW_REDIS_MSG_H
#define GW_REDIS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "gw_frame.h"

/* Channels (see adapter/redis/gw_adapter_redis.c). */
#define GW_REDIS_CHAN_LOBBY      "gw:lobby"
#define GW_REDIS_ROOM_PREFIX     "gw:r:"
#define GW_REDIS_ROOM_PREFIX_LEN 5

#define GW_REDIS_MSG_MAX_FIELDS 8   /* D: kind, frame, up to 6 sids */
#define GW_REDIS_SID_MAX        127 /* longer sids are nobody's */

typedef enum {
  GW_REDIS_CH_OTHER, /* not ours: ignore */
  GW_REDIS_CH_ROOM,  /* gw:r:<room>: M J L U */
  GW_REDIS_CH_LOBBY, /* gw:lobby: R */
  GW_REDIS_CH_NODE   /* gw:n:<this node>: D H */
} gw_redis_chan_t;

typedef struct gw_redis_span {
  const char *p;
  size_t n;
} gw_redis_span_t;

typedef struct gw_redis_msg {
  char type; /* 'M' 'J' 'L' 'U' 'R' 'D' 'H' */
  /* M, D: the frame's kind (an unknown digit from a newer peer is sent on
   * as a message), and the frame: a complete `42[...]` packet. */
  gw_ev_kind_t kind;
  gw_redis_span_t frame;
  /* J, L: the socket; J: its room and member order keys. */
  gw_redis_span_t sid;
  uint64_t rseq, mseq;
  /* J, L: notice and userList frames, either may be empty (nothing to send);
   * U: the userList frame (never empty). */
  gw_redis_span_t notice, userlist;
  /* R: roomList version (frame is the list); H: heartbeat token. */
  uint64_t version;
  /* D: the recipients, 1 to GW_REDIS_MSG_MAX_FIELDS - 2 sids. */
  gw_redis_span_t sids[GW_REDIS_MSG_MAX_FIELDS - 2];
  int n_sids;
} gw_redis_msg_t;

/* gw_redis_chan_classify says what channel |ch|/|len| is for a node whose
 * own channel is |node_chan| (NUL-terminated). For a room channel it sets
 * |*room|/|*room_len| to the name after the prefix (borrowed). */
gw_redis_chan_t gw_redis_chan_classify(const char *ch, size_t len,
                                       const char *node_chan, const char **room,
                                       size_t *room_len);

/* gw_redis_msg_parse decodes payload |p|/|n| received on a channel of class
 * |chan| into |out|. Returns 0, or GW_EPROTO when the payload is malformed:
 * a type the channel does not carry, a bad field header or length, the wrong
 * number of fields, a numeric field that is not 1 to 20 decimal digits
 * within uint64_t, an empty or over-long sid, or a frame that fails
 * gw_redis_msg_frame_ok. On GW_EPROTO |out| is unspecified. */
int gw_redis_msg_parse(gw_redis_chan_t chan, const char *p, size_t n,
                       gw_redis_msg_t *out);

/* gw_redis_msg_frame_ok reports whether |p|/|n| may be sent to clients as a
 * chat event, i.e. whether socket.io-client would accept it: `42` and then
 * exactly one JSON array (RFC 8259, strict: no trailing bytes, at most 32
 * levels deep) in valid UTF-8 (RFC 3629), whose first element is an event
 * name written without escapes and not reserved by Socket.IO ("connect",
 * ...). It allocates nothing and reads each byte about once. */
int gw_redis_msg_frame_ok(const char *p, size_t n);

#endif /* GW_REDIS_MSG_H */
