/* SPDX-License-Identifier: MIT */
/* gw_chat.h: the chat application on namespace `/` (docs/protocol.md).
 * It validates each event, applies the rate limit, asks the adapter to do the
 * membership or fan-out work, and answers with an ack or a `chatError`.
 * Requests of one socket are handled in arrival order: while a create or
 * leave is in flight, later events wait in the socket's bounded inbox. */
#ifndef GW_CHAT_H
#define GW_CHAT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gw_adapter.h"
#include "gw_config.h"
#include "gw_eio.h"
#include "gw_metrics.h"

typedef struct gw_socket gw_socket_t;

typedef struct gw_chat {
  uv_loop_t *loop;
  gw_adapter_t *adapter;
  const gw_config_t *cfg;
  gw_metrics_t *metrics;
  void *spare_reqs; /* recycled request records: no malloc per message */
  size_t n_spare;
} gw_chat_t;

/* gw_chat_close frees the recycled request records (at shutdown). */
void gw_chat_close(gw_chat_t *c);

typedef struct gw_chat_msg { /* a request waiting in the inbox */
  size_t len;
  char buf[]; /* the raw Engine.IO packet, re-parsed when its turn comes */
} gw_chat_msg_t;

/* Per-socket chat state, embedded in the socket. */
typedef struct gw_chat_sess {
  char *room; /* current room (owned) or NULL */
  char *name; /* user name in that room (owned) or NULL */
  double tokens;
  uint64_t refill_ms;
  gw_chat_msg_t **inbox; /* ring, allocated on first use */
  uint32_t in_head, in_n;
  unsigned busy : 1; /* a membership change is in flight */
  unsigned dispatching : 1;
} gw_chat_sess_t;

void gw_chat_sess_init(gw_chat_t *c, gw_chat_sess_t *ss);
/* gw_chat_sess_close frees the session's strings and inbox. */
void gw_chat_sess_close(gw_chat_sess_t *ss);

/* gw_chat_on_event handles one EVENT packet of a connected socket. |raw| is
 * the whole Engine.IO packet (kept if the event must wait); |pkt| is its
 * parse, borrowed. */
void gw_chat_on_event(gw_chat_t *c, gw_socket_t *s, const char *raw, size_t len,
                      const gw_eio_pkt_t *pkt);

/* gw_chat_trim_name validates a room or user name: trims white space (as
 * JavaScript's String.prototype.trim does), then rejects an empty name, one
 * over |max_chars| code points, or one with control characters. On success
 * returns 0 and sets |*out|/|*out_len| to the trimmed span inside |s|. */
int gw_chat_trim_name(const char *s, size_t len, size_t max_chars,
                      const char **out, size_t *out_len);

#endif /* GW_CHAT_H */
