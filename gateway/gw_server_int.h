/* SPDX-License-Identifier: MIT */
/* gw_server_int.h: the gateway server's internals, shared inside gateway/
 * only (nng's sockimpl.h). Nothing outside this folder includes it.
 *
 * The server (gw_server.h) is split by concern:
 *   gw_server.c   lifecycle (new, free, shutdown), the timers (tick: ping
 *                 and pong deadlines, loop lag) and the drain
 *   gw_ws.c       the lws protocol callback; WebSocket admission (descriptor
 *                 reserve, upgrade checks, per-address accounting), the
 *                 connection's life, its send path and the reaper: the
 *                 gw_socket_ops_t of a WebSocket connection
 *   gw_session.c  the Engine.IO/Socket.IO session: the open packet, CONNECT
 *                 and JWT auth, pongs, events to the chat. Transport-free:
 *                 it never includes libwebsockets.h, and reaches the
 *                 transport through the socket's ops and gw__conn_close
 *   gw_http.c     HTTP endpoints, the mounts, the headers on every
 *                 response, and plain HTTP answers to refused upgrades
 * Functions called across these files carry the gw__ prefix; the rest are
 * static. Threading: none; everything runs on the server's loop.
 *
 * One gw_conn_t per WebSocket, owned by the server and freed when both the
 * connection and every request it made are gone (refcount). The lws per-
 * session data only points at it. */
#ifndef GW_SERVER_INT_H
#define GW_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gw_adapter.h"
#include "gw_chat.h"
#include "gw_config.h"
#include "gw_list.h"
#include "gw_map.h"
#include "gw_metrics.h"
#include "gw_outq.h"
#include "gw_socket.h"

/* libwebsockets.h's types, by name only: gw_session.c must not need it. */
struct lws;
struct lws_context;
struct lws_context_creation_info;
struct lws_http_mount;
struct lws_protocols;

/* gw_server.h's, repeated (C11 allows it) rather than included: that
 * header's module includes this one. */
typedef struct gw_server gw_server_t;

/* The lws protocol of our WebSocket and of our HTTP mounts. */
#define GW__PROTOCOL_NAME "chat"

/* Server states, in this order; each step is taken once (gw_server.c). */
enum { ST_RUNNING, ST_DRAINING, ST_ADAPTER_CLOSING, ST_DONE };

/* How a connection is to end, in the session's terms. gw_ws.c maps each to
 * a WebSocket close code (RFC 6455 7.4.1); another transport maps them its
 * own way. */
typedef enum gw__close {
  CLOSE_NONE,       /* keep the connection (gw__session_packet only) */
  CLOSE_DROP,       /* no goodbye: drop the connection (a dead peer) */
  CLOSE_NORMAL,     /* the client said goodbye (1000) */
  CLOSE_GOING_AWAY, /* the server is draining (1001): clients reconnect */
  CLOSE_PROTOCOL,   /* a malformed packet or one out of place (1002) */
  CLOSE_INTERNAL    /* our own failure (1011) */
} gw__close_t;

/* A client connection: the chat's socket (embedded first, so the chat's
 * gw_socket_t * and this are the same pointer) plus the transport. */
typedef struct gw_conn {
  gw_socket_t base; /* sid, chat session, ops */
  gw_server_t *srv;
  struct lws *wsi; /* NULL once the connection is closed */
  char eio_sid[21];
  gw_outq_t q;
  gw_list_t link;      /* srv->sockets */
  gw_list_t ping_link; /* srv->ping_wait or srv->pong_wait */
  gw_list_t kill_link; /* srv->kills while a close is pending */
  uint64_t deadline;   /* ms (uv_now) of the next ping, or the pong due */
  unsigned refs;
  unsigned connected : 1; /* Socket.IO namespace `/` joined */
  unsigned attached : 1;  /* known to the adapter */
  unsigned closing : 1;   /* no more traffic; a close is on its way */
  unsigned awaiting_pong : 1;
  uint16_t close_code;     /* 0: drop the TCP connection; else a close frame */
  struct gw__ip_count *ip; /* the client address's count; NULL if unbounded */
  char *rx;                /* reassembly of a message that came in pieces */
  size_t rx_len;
} gw_conn_t;

struct gw_server {
  uv_loop_t *loop;
  const gw_config_t *cfg;
  struct lws_context *ctx;
  struct lws_http_mount *mounts; /* owned (gw__http_configure) */
  gw_adapter_t *adapter;
  gw_chat_t chat;
  gw_metrics_t metrics;
  gw_list_t sockets;   /* open WebSockets */
  gw_list_t ping_wait; /* ordered by deadline (always now + interval) */
  gw_list_t pong_wait; /* ordered by deadline (always now + timeout) */
  gw_frame_t *ping;    /* the shared "2" frame */
  gw_list_t kills;     /* sockets to close from the reaper */
  uv_timer_t tick;
  uint64_t tick_ms, tick_due;  /* period; when the tick should run next */
  uint64_t lag_cur, lag_until; /* loop lag: this window's max, its end */
  uv_timer_t reaper; /* closes sockets outside lws and adapter callbacks */
  int adapter_closed;
  /* The caller's gw_server_done_fn and its argument, run by finish(). */
  void (*done)(void *arg);
  void *done_arg;
  int state; /* ST_* */
  uint64_t drain_start, drain_ms, drain_total, drain_closed;
  int exit_status;
  int fd_cap;   /* refuse connections whose fd is at or above this */
  gw_map_t ips; /* client address -> gw__ip_count, while it has sockets */
  char node_id[96];
};

/* gw__linked is 1 while the list element |e| is in a list (gw_list_remove
 * leaves it self-linked). For GW_CHECKs. */
static inline int gw__linked(const gw_list_t *e) {
  return e->next != e;
}

/* ---- gw_ws.c: the WebSocket transport ------------------------------------ */

/* gw__ws_protocols returns the lws protocol table (static storage; lws keeps
 * a pointer to it), whose callback serves our WebSockets and our HTTP
 * mounts. */
const struct lws_protocols *gw__ws_protocols(void);

/* gw__conn_close closes |s| soon, |how| (not CLOSE_NONE) saying whether with
 * a goodbye, from the reaper: never under the caller's feet, as the close
 * detaches from the adapter. |why| (static) is logged. Nothing more is sent
 * to |s| from now on; a connection already closing is left alone. */
void gw__conn_close(gw_conn_t *s, gw__close_t how, const char *why);

/* ---- gw_session.c: the Engine.IO/Socket.IO session ------------------------
 */

/* gw__session_open starts the Engine.IO session of the new connection |s|
 * (whose eio_sid is set): sends the open packet. */
void gw__session_open(gw_conn_t *s);

/* gw__session_packet handles one complete text message |buf|/|len|
 * (borrowed) of |s|. Returns CLOSE_NONE, or how the transport is to close
 * |s| at once: CLOSE_NORMAL (the client said goodbye) or CLOSE_PROTOCOL
 * (malformed or out of place). */
gw__close_t gw__session_packet(gw_conn_t *s, const char *buf, size_t len);

/* ---- gw_http.c: HTTP ------------------------------------------------------
 */

/* gw__http_configure fills in the HTTP part of |info|: the mounts (our
 * endpoints by callback, the rest from cfg->web_root), with their mime types,
 * and the headers on every response. The mounts are allocated into
 * srv->mounts (owned by |srv|; lws keeps pointers into them). Returns 0 or
 * GW_ENOMEM. */
int gw__http_configure(gw_server_t *srv,
                       struct lws_context_creation_info *info);

/* gw__http_request answers an HTTP request to one of our mounts (/healthz,
 * /readyz, /metrics, /socket.io...). Returns what the lws callback returns:
 * 0, or -1 to close the connection. */
int gw__http_request(gw_server_t *srv, struct lws *wsi);

/* gw__http_raw_error answers a refused WebSocket upgrade with a plain HTTP
 * |status| |reason| and the JSON |body| (all borrowed), written straight to
 * the connection; the caller then has lws close it. */
void gw__http_raw_error(struct lws *wsi, int status, const char *reason,
                        const char *body);

/* gw__http_eio_query_error checks the Engine.IO query of a /socket.io/
 * request and returns the JSON body of the 400 Engine.IO would answer
 * (static storage), or NULL when it asks for EIO=4 over WebSocket. */
const char *gw__http_eio_query_error(struct lws *wsi);

#endif /* GW_SERVER_INT_H */
