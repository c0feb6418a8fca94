/* SPDX-License-Identifier: MIT */
/* gw_server_int.h: the gateway server's internals, shared inside gateway/
 * only (nng's sockimpl.h). Nothing outside this folder includes it.
 *
 * The server (gw_server.h) is split by concern. The session, then the
 * transports that carry it, then what routes requests to them:
 *   gw_session.c  the Engine.IO/Socket.IO session, whatever carries it: its
 *                 life and references, the ops the chat sees, the close
 *                 queue and reaper, the open packet, CONNECT and JWT auth,
 *                 pongs, events to the chat. Never includes libwebsockets.h
 *   gw_ws.c       the WebSocket transport, and the lws protocol callback
 *                 that routes every lws event: upgrade checks, the
 *                 WebSocket's life and send path, the upgrade probe
 *   gw_poll.c     the HTTP long-polling transport: handshake, parked GET,
 *                 POST payloads, the answer to a GET
 *   gw_relay.c    relays of requests and WebSockets whose sid another
 *                 instance owns, to that instance
 *   gw_http.c     HTTP: endpoints, mounts and headers (--csp), CORS,
 *                 admission of new sessions and per-address accounting
 *   gw_server.c   lifecycle (new, free, shutdown), the timers (tick: ping,
 *                 pong, connect and upgrade deadlines, loop lag), the drain
 * Functions called across these files carry the gw__ prefix; the rest are
 * static. Threading: none; everything runs on the server's loop.
 *
 * One gw_session_t per Engine.IO session, owned by the server and freed
 * when its transport is gone and every hold on it is released (refcount).
 * The lws per-connection data (gw__pss_t) only points at it. */
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

/* A WebSocket probing an upgrade must send `5` this soon (engine.io's
 * upgradeTimeout), or it is closed and the session stays on polling. */
#define GW__UPGRADE_TIMEOUT_MS 10000

/* Server states, in this order; each step is taken once (gw_server.c). */
enum { ST_RUNNING, ST_DRAINING, ST_ADAPTER_CLOSING, ST_DONE };

/* How a session is to end, in the session's terms. Each transport maps
 * them its own way: gw_ws.c to a WebSocket close code (RFC 6455 7.4.1),
 * gw_poll.c to a close packet `1` on the pending GET (none for a drop). */
typedef enum gw__close {
  CLOSE_NONE,       /* keep the connection (gw__session_packet only) */
  CLOSE_DROP,       /* no goodbye: drop the connection (a dead peer) */
  CLOSE_NORMAL,     /* the client said goodbye (1000) */
  CLOSE_GOING_AWAY, /* the server is draining (1001): clients reconnect */
  CLOSE_PROTOCOL,   /* a malformed packet or one out of place (1002) */
  CLOSE_INTERNAL    /* our own failure (1011) */
} gw__close_t;

/* The transport a session is attached to. */
typedef enum gw__transport { GW__T_WEBSOCKET, GW__T_POLLING } gw__transport_t;

/* An Engine.IO session: the chat's socket (embedded first, so the chat's
 * gw_socket_t * and this are the same pointer), its outbound queue and
 * heartbeat, and the transport it is attached to: one WebSocket, or the
 * HTTP long-polling requests of its sid, or polling while a WebSocket
 * probes for the upgrade. Owned by the server; freed when the transport is
 * gone (gw__session_end) and every hold (chat requests, parked requests)
 * is released. The session never sees libwebsockets: the lws handles below
 * are opaque to gw_session.c and belong to gw_ws.c and gw_poll.c. */
typedef struct gw_session {
  gw_socket_t base; /* sid, chat session, ops */
  gw_server_t *srv;
  char eio_sid[21];
  gw_outq_t q;          /* frames for the transport to write */
  gw_list_t link;       /* srv->sessions_list */
  gw_list_t ping_link;  /* srv->ping_wait or srv->pong_wait */
  gw_list_t kill_link;  /* srv->kills while a close is pending */
  gw_list_t wait_link;  /* srv->connect_wait until CONNECT */
  gw_list_t up_link;    /* srv->upgrades while a WebSocket probes */
  gw_list_t post_link;  /* srv->posts while a POST body is arriving */
  uint64_t deadline;    /* ms (uv_now) of the next ping, or the pong due */
  uint64_t connect_due; /* ms: closed then unless it joined `/` */
  uint64_t upgrade_due; /* ms: the probing WebSocket must have sent `5` */
  uint64_t post_due;    /* ms: the POST's whole body must be in */
  unsigned refs;
  unsigned connected : 1;     /* Socket.IO namespace `/` joined */
  unsigned attached : 1;      /* known to the adapter */
  unsigned closing : 1;       /* no more traffic; a close is on its way */
  unsigned awaiting_pong : 1; /* in pong_wait */
  unsigned ended : 1;         /* gw__session_end ran: the transport is gone */
  unsigned bye : 1;           /* polling: end the next GET with `1` */
  unsigned upgrading : 1;     /* polling: a WebSocket probes (`2probe` seen) */
  unsigned left : 1;      /* Socket.IO DISCONNECT: `/` left, Engine.IO kept */
  unsigned transport : 1; /* gw__transport_t */
  gw__close_t close_how;
  struct gw__ip_count *ip; /* the client address's count; NULL if unbounded */
  /* WebSocket transport (gw_ws.c). */
  struct lws *wsi; /* the WebSocket; NULL if none or closed */
  char *rx;        /* reassembly of a message that came in pieces */
  size_t rx_len;
  /* Polling transport (gw_poll.c). */
  struct lws *get;   /* the parked long-poll GET, or NULL */
  struct lws *post;  /* the POST being received, or NULL */
  struct lws *probe; /* the WebSocket probing for an upgrade, or NULL */
} gw_session_t;

/* Per-connection data of the lws protocol, shared by WebSockets and plain
 * HTTP connections (a keep-alive connection carries one request at a time:
 * |kind| says what the current one is). */
typedef enum gw__pss_kind {
  PSS_NONE,  /* an HTTP request of ours, answered, or nothing yet */
  PSS_WS,    /* the WebSocket of session |s| */
  PSS_PROBE, /* a WebSocket probing to upgrade session |s| */
  PSS_GET,   /* a long-poll GET parked on session |s| (holds it) */
  PSS_POST,  /* a POST to session |s| whose body is arriving (holds it) */
  PSS_RELAY  /* a request or WebSocket relayed to another instance */
} gw__pss_kind_t;

typedef struct gw__pss {
  gw_session_t *s;
  struct gw__relay *relay; /* PSS_RELAY */
  char *body;              /* PSS_POST/PSS_RELAY: the body so far (owned) */
  size_t body_len;
  uint8_t kind;      /* gw__pss_kind_t */
  uint8_t post_fail; /* a POST over --max-payload: body dropped, then 413 */
} gw__pss_t;

/* An owner's address, cached by gw_relay.c. */
#define GW__PEER_CACHE 16
typedef struct gw__peer_cache {
  char tag[6];      /* GW_PEER_TAG_LEN */
  char addr[128];   /* "host:port" */
  uint64_t expires; /* ms (uv_now); 0: a free slot */
} gw__peer_cache_t;

struct gw_server {
  uv_loop_t *loop;
  const gw_config_t *cfg;
  struct lws_context *ctx;
  struct lws_http_mount *mounts; /* owned (gw__http_configure) */
  gw_adapter_t *adapter;
  gw_chat_t chat;
  gw_metrics_t metrics;
  gw_list_t sessions_list; /* every session until gw__session_end */
  gw_map_t sessions;       /* eio_sid -> gw_session_t, the same ones */
  gw_list_t connect_wait;  /* not connected yet, by connect_due */
  gw_list_t upgrades;      /* sessions a WebSocket probes, by upgrade_due */
  gw_list_t posts;         /* sessions receiving a POST body, by post_due */
  gw_list_t ping_wait;     /* ordered by deadline (always now + interval) */
  gw_list_t pong_wait;     /* ordered by deadline (always now + timeout) */
  gw_frame_t *ping;        /* the shared "2" frame */
  gw_frame_t *noop;        /* the shared "6" frame */
  gw_list_t kills;         /* sockets to close from the reaper */
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
  char peer_tag[GW_PEER_TAG_LEN + 1]; /* our sids' first chars (gw_relay.c) */
  char advertise[128];
  struct lws_protocol_vhost_options *headers; /* owned (gw__http_configure) */
  gw_list_t http_idle; /* kept-alive HTTP connections, idlest first */
  gw__peer_cache_t peer_cache[GW__PEER_CACHE];
  char *web_root_real;  /* realpath of --web-root (owned), or NULL */
  unsigned relays;      /* relays in flight */
  gw_list_t relay_list; /* the same (gw_relay.c) */
};

/* gw__linked is 1 while the list element |e| is in a list (gw_list_remove
 * leaves it self-linked). For GW_CHECKs. */
static inline int gw__linked(const gw_list_t *e) {
  return e->next != e;
}

/* gw__count_out counts |f| as written to a client. */
static inline void gw__count_out(gw_server_t *srv, const gw_frame_t *f) {
  srv->metrics.frames_out++;
  srv->metrics.bytes_out += f->len;
  srv->metrics.events_out[f->kind < GW_EV__COUNT ? f->kind : GW_EV_CONTROL]++;
}

/* ---- gw_session.c: the Engine.IO/Socket.IO session ---------------------- */

/* gw__session_new makes a session on |transport| (for a WebSocket, |wsi|;
 * ignored for polling) for a client accounted to |ip| (stolen: the session
 * releases it; may be NULL), with a fresh sid, and sends its open packet.
 * Returns it with one reference, the transport's (dropped by
 * gw__session_end), or NULL when out of memory or randomness (|ip| is then
 * released). */
gw_session_t *gw__session_new(gw_server_t *srv, gw__transport_t transport,
                              struct lws *wsi, struct gw__ip_count *ip);

/* gw__session_find returns the live session |sid| names on this instance
 * (borrowed), or NULL. */
gw_session_t *gw__session_find(gw_server_t *srv, const char *sid);

/* gw__session_end tells |s| that its transport is gone: it leaves the
 * server's lists and the adapter (with the leave effects) and drops the
 * transport's reference. Once per session. */
void gw__session_end(gw_session_t *s);

/* gw__session_close closes |s| soon, |how| (not CLOSE_NONE) saying whether
 * with a goodbye, from the reaper: never under the caller's feet, as the
 * close detaches from the adapter. |why| (static) is logged. Nothing more
 * is sent to |s| from now on; a session already closing is left alone. */
void gw__session_close(gw_session_t *s, gw__close_t how, const char *why);

/* gw__session_packet handles one complete text packet |buf|/|len|
 * (borrowed) of |s|. Returns CLOSE_NONE, or how the transport is to close
 * |s| at once: CLOSE_NORMAL (the client said goodbye) or CLOSE_PROTOCOL
 * (malformed or out of place). */
gw__close_t gw__session_packet(gw_session_t *s, const char *buf, size_t len);

/* gw__session_upgraded moves |s| from polling to the WebSocket |wsi| that
 * probed it; the queue continues there, in order. */
void gw__session_upgraded(gw_session_t *s, struct lws *wsi);

/* gw__session_hold/release take and drop a reference on |s|. */
void gw__session_hold(gw_session_t *s);
void gw__session_release(gw_session_t *s);

/* ---- gw_ws.c: the WebSocket transport ------------------------------------ */

/* gw__ws_protocols returns the lws protocol table (static storage; lws keeps
 * a pointer to it), whose callback serves our WebSockets, our HTTP mounts
 * and the polling requests. */
const struct lws_protocols *gw__ws_protocols(void);

/* gw__ws_send writes or queues |f| (borrowed) on the WebSocket of |s|.
 * Returns 0, GW_ECLOSED or GW_EFULL (|s| is then being closed). */
int gw__ws_send(gw_session_t *s, gw_frame_t *f);

/* gw__ws_kill closes the connection |wsi| now: a WebSocket with close code
 * |code| (0: dropped without a close frame), an HTTP connection dropped.
 * From our own uv callbacks (timers, the reaper, relays), never inside an
 * lws callback of |wsi|: lws 4.1.6 neither acts on LWS_TO_KILL_ASYNC from
 * outside its own service, nor sends a close frame when a WRITEABLE
 * callback returns -1; LWS_TO_KILL_SYNC does both right (with a close
 * reason set, lws sends the close frame and waits for the peer's). It runs
 * the CLOSED callback (which may free the session) before it returns. */
void gw__ws_kill(struct lws *wsi, uint16_t code);

/* gw__ws_drain writes frames of |q| to the WebSocket |wsi| from its
 * WRITEABLE callback, while the kernel takes them, and asks for another
 * callback if some are left. Returns what the callback returns. */
int gw__ws_drain(gw_server_t *srv, struct lws *wsi, gw_outq_t *q);

/* gw__ws_close_now closes the WebSocket of |s| as s->close_how says (from
 * the reaper). */
void gw__ws_close_now(gw_session_t *s);

/* gw__ws_probe_expired closes the WebSocket probing |s| (it did not finish
 * the upgrade in time); the session continues on polling. */
void gw__ws_probe_expired(gw_session_t *s);

/* ---- gw_poll.c: the HTTP long-polling transport -------------------------- */

/* gw__poll_request serves a /socket.io/ polling request (|method| "GET",
 * "POST" or "OPTIONS") whose query |q| passed gw_eio_query_error. Returns
 * what the lws callback returns. */
struct gw_eio_query;
int gw__poll_request(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                     const char *method, const struct gw_eio_query *q);

/* The lws events of a polling request (the callback's return value). */
int gw__poll_body(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                  const char *in, size_t len);
int gw__poll_body_done(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);
int gw__poll_writeable(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);
void gw__poll_closed(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);

/* gw__poll_send queues |f| (borrowed) for the next GET of |s|. Returns 0,
 * GW_ECLOSED or GW_EFULL (|s| is then being closed). */
int gw__poll_send(gw_session_t *s, gw_frame_t *f);

/* gw__poll_release answers the parked GET of |s| now, with what is queued or
 * a noop `6` (an upgrade is under way). */
void gw__poll_release(gw_session_t *s);

/* gw__poll_expire closes the connections of POSTs whose body is not in by
 * their deadline (--request-timeout), from the tick. */
void gw__poll_expire(gw_server_t *srv, uint64_t now);

/* gw__poll_close_now ends the polling session |s| (from the reaper): the
 * parked GET, if any, gets what is queued and `1`. */
void gw__poll_close_now(gw_session_t *s);

/* ---- gw_relay.c: relays to the instance that owns a sid ------------------ */

/* gw__relay_poll relays the polling request on |wsi| (|method| "GET" or
 * "POST") for |sid|, which another instance issued, to that instance, and
 * answers with its answer (a POST once its body is in). Returns what the
 * callback returns. */
int gw__relay_poll(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                   const char *method, const char *sid);

/* The lws events of a relayed request (the callback's return value). */
int gw__relay_body(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                   const char *in, size_t len);
int gw__relay_body_done(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);
int gw__relay_writeable(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);
void gw__relay_closed(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);

/* gw__relay_ok says whether the request or upgrade on |wsi| for |sid| (no
 * session of ours) is to be relayed: 1 yes; 0 no (one instance, relaying
 * off, our own tag, or a relay itself): "Session ID unknown"; -1 no,
 * draining or --max-relays in flight (the latter counted): answer 503. */
int gw__relay_ok(gw_server_t *srv, struct lws *wsi, const char *sid);

/* gw__relay_drain closes every relayed WebSocket with 1001 (going away), so
 * that its client reconnects elsewhere; relayed requests end by themselves
 * within --relay-timeout. */
void gw__relay_drain(gw_server_t *srv);

/* gw__relay_ws_start relays the WebSocket |wsi|, just established, for
 * |sid| to the instance that issued it. Returns 0 or -1 (close it). */
int gw__relay_ws_start(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                       const char *sid);

/* gw__relay_ws_receive forwards a client message piece; the callback's
 * return value. */
int gw__relay_ws_receive(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                         const char *in, size_t len);

/* ---- gw_http.c: HTTP ------------------------------------------------------
 */

/* gw__http_configure fills in the HTTP part of |info|: the mounts (our
 * endpoints by callback, the rest from cfg->web_root), with their mime types,
 * and the headers on every response (with --csp's policy). The mounts and
 * headers are allocated into srv (owned by |srv|; lws keeps pointers into
 * them). Returns 0 or GW_ENOMEM. */
int gw__http_configure(gw_server_t *srv,
                       struct lws_context_creation_info *info);

/* gw__http_request answers an HTTP request to one of our mounts (/healthz,
 * /readyz, /metrics, /socket.io...), or hands a polling request to gw_poll.c.
 * Returns what the lws callback returns: 0, or -1 to close the connection. */
int gw__http_request(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss);

/* gw__http_reply answers the current request of |wsi| with |status|, |ctype|
 * and the body |body|/|len| (borrowed), plus no-store and, when |cors|, the
 * CORS headers for the request's Origin. Returns what the callback returns. */
int gw__http_reply(struct lws *wsi, unsigned status, const char *ctype,
                   const char *body, size_t len, int cors);

/* Headroom before a body given to gw__http_reply_buf: the response head is
 * written there, so head and body leave in one write (one syscall). */
#define GW__HTTP_HEADROOM 2560

/* gw__http_reply_buf is gw__http_reply with a body |buf| (stolen; freed
 * here) that has GW__HTTP_HEADROOM bytes of headroom before its |len|
 * bytes. */
int gw__http_reply_buf(struct lws *wsi, unsigned status, const char *ctype,
                       unsigned char *buf, size_t len, int cors);

/* gw__http_raw_error answers a refused WebSocket upgrade with a plain HTTP
 * |status| |reason| and the JSON |body| (all borrowed), written straight to
 * the connection; the caller then has lws close it. */
void gw__http_raw_error(struct lws *wsi, int status, const char *reason,
                        const char *body);

/* gw__http_query reads the Engine.IO query of the request on |wsi| into |q|
 * (initialised here). Returns 0, or GW_ENOMEM. */
int gw__http_query(struct lws *wsi, struct gw_eio_query *q);

/* Keep-alive HTTP connections (polling clients keep two each). lws 4.1.6
 * keeps its timeouts in one sorted list with a linear insert, and gives
 * every idle keep-alive connection one: with thousands of polling clients
 * each request cost O(connections) there (41% of the CPU at 1,000
 * clients). So our answers take the idle connection off lws's list and
 * into srv->http_idle, appended in time order (O(1)), which the tick
 * sweeps: a connection idle --keepalive-timeout is closed. */

/* gw__http_idle files |wsi| as idle from now (its answer is complete and it
 * stays open); gw__http_busy takes it off (a request began);
 * gw__http_destroyed forgets it (LWS_CALLBACK_WSI_DESTROY). */
void gw__http_idle(gw_server_t *srv, struct lws *wsi);
void gw__http_busy(struct lws *wsi);
void gw__http_destroyed(struct lws *wsi);

/* gw__http_sweep closes the connections idle since before |now| minus
 * --keepalive-timeout (from the tick). */
void gw__http_sweep(gw_server_t *srv, uint64_t now);

/* gw__http_filter vets a request before lws routes it (the URI |uri|,
 * decoded by lws): a static file must be a regular file inside the web
 * root, symlinks resolved, with no dot-segment in its path; anything else
 * gets the same 404 as a missing file. Returns 0 to go on, or 1 when it
 * answered (lws then closes the connection). */
int gw__http_filter(gw_server_t *srv, struct lws *wsi, const char *uri);

/* gw__pss_append adds |in|/|len| (borrowed) to the request body kept in
 * |pss| (a POST's body, a relayed WebSocket message in pieces); the caller
 * has checked the bound. Returns 0, or -1 out of memory. */
int gw__pss_append(gw__pss_t *pss, const char *in, size_t len);

/* gw__http_content_length reads the request's Content-Length into *len.
 * Returns 0, or -1 when it has none or one that is no plain number. */
int gw__http_content_length(struct lws *wsi, uint64_t *len);

/* gw__http_origin_ok says whether the request's Origin may use the chat
 * (--allowed-origins). */
int gw__http_origin_ok(gw_server_t *srv, struct lws *wsi);

/* gw__http_admit decides whether a new session may open for the request on
 * |wsi| (state, --max-connections, the per-address bound), counting a
 * refusal in the metrics. Returns 0, or the HTTP status to refuse with,
 * with *reason its reason phrase and *body its JSON body (static). */
int gw__http_admit(gw_server_t *srv, struct lws *wsi, const char **reason,
                   const char **body);

/* gw__ip_acquire counts one more session on the client address of |wsi|.
 * Returns the count to release (NULL when there is no per-address bound,
 * or out of memory: that one session goes uncounted). */
struct gw__ip_count *gw__ip_acquire(gw_server_t *srv, struct lws *wsi);

/* gw__ip_release drops one session's count on its client address (|c| may
 * be NULL). */
void gw__ip_release(gw_server_t *srv, struct gw__ip_count *c);

#endif /* GW_SERVER_INT_H */
