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
#include "gw_chat_err.h"
#include "gw_eio.h"
#include "gw_socket.h"

/* Inbound chat events counted by name. */
#define GW_IN_EVENT_MAP(XX)                                                    \
  XX(CREATE, "create")                                                         \
  XX(SENDMESSAGE, "sendMessage")                                               \
  XX(LEAVE, "leave")                                                           \
  XX(OTHER, "other")

typedef enum {
#define XX(k, name) GW_IN_##k,
  GW_IN_EVENT_MAP(XX)
#undef XX
      GW_IN__COUNT
} gw_in_event_t;

/* The chat's bounds that were hit, by the name /metrics gives them
 * (docs/security.md lists each with its flag and default). */
#define GW_CHAT_LIMIT_MAP(XX)                                                  \
  XX(RATE, "rate")                                                             \
  XX(INBOX, "inbox")                                                           \
  XX(NAME_LENGTH, "name_length")                                               \
  XX(MESSAGE_SIZE, "message_size")                                             \
  XX(ROOMS, "rooms")                                                           \
  XX(ROOM_MEMBERS, "room_members")

typedef enum {
#define XX(k, name) GW_CHAT_LIMIT_##k,
  GW_CHAT_LIMIT_MAP(XX)
#undef XX
      GW_CHAT_LIMIT__COUNT
} gw_chat_limit_t;

/* gw_chat_limit_name returns the /metrics label of |l| (static storage). */
const char *gw_chat_limit_name(gw_chat_limit_t l);

/* gw_in_event_name returns the /metrics label of |k| (static storage). */
const char *gw_in_event_name(gw_in_event_t k);

typedef struct gw_chat_cfg {
  uint64_t rate_limit;      /* requests/s per socket; 0: no limit */
  uint64_t rate_burst;      /* bucket size; 0: twice the rate */
  size_t max_name_chars;    /* room and user names, in code points */
  size_t max_message_bytes; /* sendMessage's message */
  size_t inbox_max;         /* requests waiting behind one in flight */
} gw_chat_cfg_t;

/* Counters, read by the gateway's /metrics. */
typedef struct gw_chat_stats {
  uint64_t events_in[GW_IN__COUNT];
  uint64_t errors[GW_CE__COUNT]; /* chat errors answered, by code */
  uint64_t limit_hits[GW_CHAT_LIMIT__COUNT];
} gw_chat_stats_t;

/* The chat of one process. Embeddable; fields are private except |stats|,
 * which others may read. */
typedef struct gw_chat {
  uv_loop_t *loop;       /* borrowed: the rate limit's clock */
  gw_adapter_t *adapter; /* borrowed */
  gw_chat_cfg_t cfg;     /* copied */
  gw_chat_stats_t stats;
  void *spare_reqs; /* recycled request records: no malloc per message */
  size_t n_spare;
} gw_chat_t;

/* gw_chat_init sets up |c| to serve sockets through |adapter| (borrowed;
 * it must outlive every request the chat makes). |cfg| is copied. */
void gw_chat_init(gw_chat_t *c, uv_loop_t *loop, gw_adapter_t *adapter,
                  const gw_chat_cfg_t *cfg);

/* gw_chat_fini frees the recycled request records (at shutdown, once no
 * request is in flight). */
void gw_chat_fini(gw_chat_t *c);

/* gw_chat_set_auth_name fixes the user name of |s| to a token's `name`
 * claim (|name|/|len|, borrowed; trimmed and validated as a user name):
 * its creates may leave userName out, and any other name is refused with
 * name_mismatch. Returns 0, GW_EINVAL (no valid user name: the token could
 * never join), GW_ETOOLONG or GW_ENOMEM. */
int gw_chat_set_auth_name(gw_chat_t *c, gw_socket_t *s, const char *name,
                          size_t len);

/* gw_chat_on_event handles one EVENT packet of a connected socket. |raw| is
 * the whole Engine.IO packet (copied if the event must wait); |pkt| is its
 * parse, borrowed. Replies (acks, chatError) go out through the socket's
 * ops, now or when the adapter answers; requests of one socket are handled
 * in arrival order. */
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
 * pointers are borrowed from |pkt|, and returns 0; or returns GW_EINVAL with
 * |out->err| set to the first error found. The caller checks the session
 * (not in a room, a token's name) between BAD_REQUEST and the others, which
 * is the order the answers have always come in. */
int gw_chat_parse_request(const gw_eio_pkt_t *pkt, size_t max_name_chars,
                          size_t max_message_bytes, gw_chat_req_t *out);

#endif /* GW_CHAT_H */
