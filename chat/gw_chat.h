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
 * returns 0 and sets |*out|/|*out_len| to the trimmed span inside |s|;
 * otherwise GW_ETOOLONG when the name is valid but too long, or GW_EINVAL. */
int gw_chat_trim_name(const char *s, size_t len, size_t max_chars,
                      const char **out, size_t *out_len);

/* What a chat event asks for, once validated (gw_chat_parse_request). */
typedef enum {
  GW_CHAT_REQ_CREATE,
  GW_CHAT_REQ_SEND,
  GW_CHAT_REQ_LEAVE,
  GW_CHAT_REQ_UNKNOWN
} gw_chat_req_kind_t;

typedef struct gw_chat_req {
  gw_chat_req_kind_t kind;
  uint64_t ack;      /* the packet's ack id, or GW_EIO_NO_ID */
  gw_chat_err_t err; /* when gw_chat_parse_request returned nonzero */
  int too_long;      /* err is for a name or message over its bound */
  /* create: the trimmed room name, and the trimmed user name or NULL when
   * userName is absent or null (a token's name claim may stand in). */
  const char *room, *user;
  size_t room_len, user_len;
  /* sendMessage: the message bytes, and the DM target's sid or NULL for the
   * whole room (select absent, null or "all"). */
  const char *message, *target;
  size_t message_len, target_len;
} gw_chat_req_t;

/* gw_chat_parse_request validates the EVENT packet |pkt| (borrowed) as a
 * chat request, without looking at any session: the event name, the payload's
 * type, names (gw_chat_trim_name, |max_name_chars|), the message (1 to
 * |max_message_bytes| bytes, no NUL) and the DM target. Fills |out|, whose
 * pointers are borrowed from |pkt|, and returns 0; or returns -1 with
 * |out->err| set to the first error found. The caller checks the session
 * (not in a room, a token's name) between BAD_REQUEST and the others, which
 * is the order the answers have always come in. */
int gw_chat_parse_request(const gw_eio_pkt_t *pkt, size_t max_name_chars,
                          size_t max_message_bytes, gw_chat_req_t *out);

#endif /* GW_CHAT_H */
