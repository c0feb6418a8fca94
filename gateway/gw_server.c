/* SPDX-License-Identifier: MIT */
/* gw_server.c: libwebsockets on the caller's libuv loop; Engine.IO v4 and
 * Socket.IO v5 sessions over WebSocket; HTTP endpoints; graceful shutdown.
 * One gw_conn_t per WebSocket, owned here and freed when both the
 * connection and every request it made are gone (refcount). The lws per-
 * session data only points at it. */
#include "gw_server.h"

#include <errno.h>
#include <stdint.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gw_adapter.h"
#include "gw_chat.h"
#include "gw_check.h"
#include "gw_eio.h"
#include "gw_jwt.h"
#include "gw_list.h"
#include "gw_log.h"
#include "gw_map.h"
#include "gw_metrics.h"
#include "gw_netaddr.h"
#include "gw_outq.h"
#include "gw_sio.h"
#include "gw_socket.h"

_Static_assert(LWS_PRE <= GW_FRAME_HEADROOM,
               "frames need LWS_PRE bytes of headroom");

#define PROTOCOL_NAME       "chat"
#define WRITES_PER_CALLBACK 32
#define RX_BUFFER_SIZE      2048

enum { ST_RUNNING, ST_DRAINING, ST_ADAPTER_CLOSING, ST_DONE };

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
  uint16_t close_code; /* 0: drop the TCP connection; else a close frame */
  struct ip_count *ip; /* the client address's count; NULL if unbounded */
  char *rx;            /* reassembly of a message that came in pieces */
  size_t rx_len;
} gw_conn_t;

typedef struct pss {
  gw_conn_t *s;
} pss_t;

struct gw_server {
  uv_loop_t *loop;
  const gw_config_t *cfg;
  struct lws_context *ctx;
  struct lws_http_mount mounts[6];
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
  gw_server_done_fn done; /* the caller's, run by finish() */
  void *done_arg;
  int state;
  uint64_t drain_start, drain_ms, drain_total, drain_closed;
  int exit_status;
  int fd_cap;   /* refuse connections whose fd is at or above this */
  gw_map_t ips; /* client address -> ip_count_t, while it has sockets */
  char node_id[96];
};

/* ---- per-address accounting -------------------------------------------- */

/* WebSockets open from one client address. The entry exists while n > 0,
 * so the table holds at most one entry per open socket. */
typedef struct ip_count {
  unsigned n;
  char key[GW_IPSTR_MAX];
} ip_count_t;

/* client_key writes the address |wsi| is accounted to (see gw_client_addr)
 * into |key|. 0, or -1 when lws cannot name the peer. */
static int client_key(gw_server_t *srv, struct lws *wsi, char *key) {
  char peer[64], xff[512];
  gw_ipaddr_t pa;
  if (lws_get_peer_simple(wsi, peer, sizeof(peer)) == NULL ||
      gw_ipaddr_parse(peer, strlen(peer), &pa) != 0)
    return -1;
  const char *x = NULL;
  /* A header too long to copy names nobody: account to the peer. */
  if (srv->cfg->trusted.n > 0 &&
      lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
      lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0)
    x = xff;
  gw_ipaddr_t who = gw_client_addr(&srv->cfg->trusted, &pa, x);
  gw_ipaddr_format(&who, key);
  return 0;
}

static void ip_release(gw_server_t *srv, ip_count_t *c) {
  if (c != NULL && --c->n == 0) {
    gw_map_del(&srv->ips, c->key);
    free(c);
  }
}

/* ---- sockets ------------------------------------------------------------ */

static void socket_free(gw_conn_t *s) {
  gw_outq_close(&s->q);
  gw_socket_fini(&s->base);
  free(s->rx);
  free(s);
}

static void conn_hold(gw_socket_t *base) {
  ((gw_conn_t *)base)->refs++;
}

static void conn_release(gw_socket_t *base) {
  gw_conn_t *s = (gw_conn_t *)base;
  GW_CHECK(s->refs > 0);
  if (--s->refs == 0)
    socket_free(s);
}

static int conn_alive_(const gw_conn_t *s) {
  return s->wsi != NULL && !s->closing;
}

static int conn_alive(const gw_socket_t *base) {
  return conn_alive_((const gw_conn_t *)base);
}

/* Closing a socket. Deliveries (inside adapter iterations) and timers may
 * decide to close a socket, but the close itself runs the CLOSED callback,
 * which detaches from the adapter: it must not run under the caller's feet.
 * So closes are queued and carried out by the reaper, a zero-delay timer
 * that runs at the top of the loop. lws 4.1.6 neither acts on
 * LWS_TO_KILL_ASYNC from outside its own service, nor sends a close frame
 * when a WRITEABLE callback returns -1; LWS_TO_KILL_SYNC from the reaper
 * does both right: with a close reason set, lws sends the close frame and
 * waits for the peer's; without, it drops the connection at once. */
static void on_reap(uv_timer_t *t);

static void sock_close_later(gw_conn_t *s, uint16_t code, const char *why) {
  if (s->wsi == NULL || s->closing)
    return;
  GW_LOGD("socket %s: closing (%s)", s->base.sid[0] ? s->base.sid : s->eio_sid,
          why);
  s->closing = 1;
  s->close_code = code;
  gw_list_push_back(&s->srv->kills, &s->kill_link);
  uv_timer_start(&s->srv->reaper, on_reap, 0, 0);
}

/* sock_kill drops |s| without a close frame (ping timeout, slow reader:
 * peers that would not take one anyway). */
static void sock_kill(gw_conn_t *s, const char *why) {
  sock_close_later(s, 0, why);
}

/* sock_close_gracefully sends a close frame with |code| (the drain path:
 * 1001 makes clients reconnect, to another instance behind a balancer). */
static void sock_close_gracefully(gw_conn_t *s, uint16_t code) {
  sock_close_later(s, code, "going away");
}

static void on_reap(uv_timer_t *t) {
  gw_server_t *srv = t->data;
  gw_list_t *h;
  while ((h = gw_list_head(&srv->kills)) != NULL) {
    gw_conn_t *s = GW_LIST_DATA(h, gw_conn_t, kill_link);
    gw_list_remove(&s->kill_link);
    if (s->wsi == NULL)
      continue;
    if (s->close_code)
      lws_close_reason(s->wsi, (enum lws_close_status)s->close_code, NULL, 0);
    /* May run ws_closed() and free |s| before it returns. */
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  }
}

static void count_out(gw_server_t *srv, const gw_frame_t *f) {
  srv->metrics.frames_out++;
  srv->metrics.bytes_out += f->len;
  srv->metrics.events_out[f->kind < GW_EV__COUNT ? f->kind : GW_EV_CONTROL]++;
}

static int conn_send(gw_conn_t *s, gw_frame_t *f) {
  /* A close length means lws sent a close frame of its own (a protocol error
   * it caught, e.g. RSV bits) and awaits the answer, up to 5 s: no data
   * frame may follow it (RFC 6455 5.5.1), and lws 4.1.6 would write one. */
  if (!conn_alive_(s) || lws_get_close_length(s->wsi) > 0)
    return GW_ECLOSED;
  uint32_t was = gw_outq_len(&s->q);
  if (was == 0 && !lws_partial_buffered(s->wsi)) {
    /* Nothing queued and lws holds no unsent bytes: write now. This skips a
     * POLLOUT round trip per delivery (about half the cost of a fan-out,
     * platform.md). If the kernel takes only part, lws keeps the rest (one
     * frame at most) and reports it buffered, so later frames queue behind
     * it in order. lws_partial_buffered costs no syscall, unlike
     * lws_send_pipe_choked's poll(). */
    if (lws_write(s->wsi, gw_frame_data(f), f->len, LWS_WRITE_TEXT) < 0) {
      sock_kill(s, "write failed");
      return GW_ECLOSED;
    }
    count_out(s->srv, f);
    if (lws_partial_buffered(s->wsi))
      lws_callback_on_writable(s->wsi); /* let lws flush what it kept */
    return 0;
  }
  int rc = gw_outq_push(&s->q, f);
  if (rc != 0) {
    s->srv->metrics.slow_readers_dropped++;
    s->srv->metrics.limit_hits[GW_LIMIT_QUEUE]++;
    GW_LOGI("socket %s: outbound queue full (%u frames, %zu bytes): "
            "dropping slow reader",
            s->base.sid, gw_outq_len(&s->q), gw_outq_bytes(&s->q));
    sock_kill(s, "slow reader");
    return GW_EFULL;
  }
  if (was == 0)
    lws_callback_on_writable(s->wsi);
  return 0;
}

static int conn_send_base(gw_socket_t *base, gw_frame_t *f) {
  return conn_send((gw_conn_t *)base, f);
}

/* What the chat may do with a connection (gw_socket.h). */
static const gw_socket_ops_t conn_ops = {
    .send = conn_send_base,
    .hold = conn_hold,
    .release = conn_release,
    .alive = conn_alive,
};

/* send_owned sends |f| (stolen; NULL when its encoder ran out of memory:
 * nothing is sent). */
static void send_owned(gw_conn_t *s, gw_frame_t *f) {
  if (f != NULL) {
    conn_send(s, f);
    gw_frame_unref(f);
  }
}

static void on_deliver(void *ctx, void *sock, gw_frame_t *f) {
  (void)ctx;
  conn_send(sock, f);
}

/* ---- Engine.IO / Socket.IO session ------------------------------------- */

/* sio_authenticate checks the CONNECT packet's auth object
 * (`40{"token":"<JWT>"}`, socket.io-client's `auth` option) against
 * --jwt-secret and keeps the token's `name` claim in the session. A name
 * claim that is no valid user name refuses the token: it could never join.
 * Returns 0 or a GW_JWT_E* code. */
static int sio_authenticate(gw_conn_t *s, const gw_eio_pkt_t *pkt) {
  const gw_config_t *cfg = s->srv->cfg;
  json_t *tok = json_object_get(pkt->data, "token");
  if (!json_is_string(tok))
    return GW_JWT_EMALFORMED;
  gw_jwt_claims_t cl;
  int rc = gw_jwt_verify(json_string_value(tok), json_string_length(tok),
                         cfg->jwt_secret, strlen(cfg->jwt_secret),
                         (int64_t)time(NULL), (int64_t)cfg->jwt_leeway_s, &cl);
  if (rc != 0)
    return rc;
  if (cl.name != NULL &&
      gw_chat_set_auth_name(&s->srv->chat, &s->base, cl.name, cl.name_len) != 0)
    rc = GW_JWT_ECLAIM;
  gw_jwt_claims_clear(&cl);
  return rc;
}

static void sio_connect(gw_conn_t *s, const gw_eio_pkt_t *pkt) {
  gw_server_t *srv = s->srv;
  if (pkt->nsp_len != 1 || pkt->nsp[0] != '/') {
    /* Unknown namespace: refuse it, keep the connection (as Socket.IO).
     * The answer echoes at most 200 bytes of it, and nothing from a NUL
     * byte on. */
    size_t nl = pkt->nsp_len > 200 ? 200 : pkt->nsp_len;
    const char *nul = memchr(pkt->nsp, '\0', nl);
    if (nul != NULL)
      nl = (size_t)(nul - pkt->nsp);
    send_owned(s, gw_sio_connect_error(pkt->nsp, nl, "Invalid namespace"));
    return;
  }
  int arc;
  if (srv->cfg->jwt_secret != NULL && (arc = sio_authenticate(s, pkt)) != 0) {
    /* As a Socket.IO middleware error: CONNECT_ERROR, no chat state, and
     * the connection stays open for a retry with another token until the
     * namespace timeout (the first ping) closes it. The reason stays in
     * the log: a client learns nothing about the key. */
    srv->metrics.rejected_connections++;
    srv->metrics.auth_failures++;
    GW_LOGD("socket %s: unauthorized: %s", s->eio_sid, gw_jwt_strerror(arc));
    send_owned(s, gw_sio_connect_error(NULL, 0, "unauthorized"));
    return;
  }
  if (gw_eio_sid(s->base.sid) != 0) {
    sock_close_later(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "no random");
    return;
  }
  send_owned(s, gw_sio_connect_ok(s->base.sid));
  s->connected = 1;
  int rc = gw_adapter_attach(srv->adapter, s->base.sid, s);
  if (rc != 0) {
    GW_LOGW("socket %s: adapter attach failed: %s", s->base.sid,
            gw_strerror(rc));
    sock_close_later(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "attach");
    return;
  }
  s->attached = 1;
  srv->metrics.connections++;
  srv->metrics.connections_total++;
  GW_LOGD("socket %s: connected (engine %s)", s->base.sid, s->eio_sid);
}

static void heartbeat_pong(gw_conn_t *s) {
  gw_server_t *srv = s->srv;
  if (!s->awaiting_pong)
    return;
  s->awaiting_pong = 0;
  gw_list_remove(&s->ping_link);
  s->deadline = uv_now(srv->loop) + srv->cfg->ping_interval_ms;
  gw_list_push_back(&srv->ping_wait, &s->ping_link);
}

/* on_packet handles one complete text message. Returns 0, or a WebSocket
 * close code when the packet is malformed (the caller closes). */
static uint16_t on_packet(gw_conn_t *s, const char *buf, size_t len) {
  gw_eio_pkt_t pkt;
  if (gw_eio_parse(buf, len, &pkt) != 0)
    return LWS_CLOSE_STATUS_PROTOCOL_ERR;
  uint16_t close = 0;
  switch (pkt.eio_type) {
  case GW_EIO_PONG:
    heartbeat_pong(s);
    break;
  case GW_EIO_CLOSE:
    close = LWS_CLOSE_STATUS_NORMAL;
    break;
  case GW_EIO_UPGRADE:
  case GW_EIO_NOOP:
    break;
  case GW_EIO_MESSAGE: {
    int root = pkt.nsp_len == 1 && pkt.nsp[0] == '/';
    if (pkt.sio_type == GW_SIO_CONNECT && !(root && s->connected))
      sio_connect(s, &pkt);
    else if (!root || !s->connected)
      close = LWS_CLOSE_STATUS_PROTOCOL_ERR; /* invalid state */
    else if (pkt.sio_type == GW_SIO_EVENT)
      gw_chat_on_event(&s->srv->chat, &s->base, buf, len, &pkt);
    else if (pkt.sio_type == GW_SIO_DISCONNECT)
      close = LWS_CLOSE_STATUS_NORMAL;
    else if (pkt.sio_type != GW_SIO_ACK) /* acks: we never ask for any */
      close = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    break;
  }
  default: /* open or ping from a client: not in Engine.IO v4 */
    close = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    break;
  }
  gw_eio_pkt_clear(&pkt);
  return close;
}

/* ---- lws callbacks: WebSocket ------------------------------------------ */

static gw_server_t *server_of(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

static void raw_http_error(struct lws *wsi, int status, const char *reason,
                           const char *body) {
  /* The upgrade is refused before any WebSocket byte: answer plainly on the
   * fresh socket (a few hundred bytes always fit the empty send buffer), as
   * Engine.IO does, then let lws close it. */
  char buf[512];
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   status, reason, strlen(body), body);
  lws_sockfd_type fd = lws_get_socket_fd(wsi);
  /* Under --tls-cert the bytes must go through the connection's TLS
   * session (its handshake is done by now), never in clear. */
  SSL *ssl = lws_is_ssl(wsi) ? lws_get_ssl(wsi) : NULL;
  if (n > 0 && ssl != NULL) {
    if (SSL_write(ssl, buf, n) <= 0)
      GW_LOGD("refusing upgrade: TLS write failed");
  } else if (n > 0 && fd >= 0 && write(fd, buf, (size_t)n) < 0) {
    GW_LOGD("refusing upgrade: write: %s", strerror(errno));
  }
}

/* eio_query_error checks the Engine.IO query of a /socket.io/ request (see
 * gw_eio_query_error) and returns the JSON error body Engine.IO would answer
 * with (HTTP 400), or NULL when it asks for EIO=4 over WebSocket. lws keeps
 * each argument percent-decoded in one fragment of WSI_TOKEN_HTTP_URI_ARGS;
 * the buffer holds the whole query, so no argument is ever too long to be
 * looked at (lws_get_urlarg_by_name stops at the first that is). */
static const char *eio_query_error(struct lws *wsi) {
  gw_eio_query_t q;
  gw_eio_query_init(&q);
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  char small[512], *buf = small;
  if (total >= (int)sizeof(small) && (buf = malloc((size_t)total + 1)) == NULL)
    return "{\"code\":3,\"message\":\"Bad request\"}";
  for (int i = 0; total > 0; i++) {
    int n =
        lws_hdr_copy_fragment(wsi, buf, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break; /* no fragment i: every one fits the buffer */
    gw_eio_query_add(&q, buf, (size_t)n);
  }
  if (buf != small)
    free(buf);
  return gw_eio_query_error(&q);
}

static int filter_upgrade(gw_server_t *srv, struct lws *wsi) {
  char path[128];
  const char *err;
  if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
    path[0] = '\0';
  GW_LOGD("upgrade request for %s", path);
  if (strcmp(path, "/socket.io/") != 0 && strcmp(path, "/socket.io") != 0) {
    raw_http_error(wsi, 404, "Not Found",
                   "{\"code\":3,\"message\":\"Bad request\"}");
    return 1;
  }
  if ((err = eio_query_error(wsi)) != NULL) {
    raw_http_error(wsi, 400, "Bad Request", err);
    return 1;
  }
  char origin[256] = "";
  const char *o = NULL;
  if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0) {
    /* An Origin too long to copy matches nothing: it stays "". */
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0)
      origin[0] = '\0';
    o = origin;
  }
  if (!gw_config_origin_allowed(srv->cfg, o)) {
    /* Cross-site WebSocket hijacking: a page elsewhere must not ride the
     * user's browser into the chat. */
    srv->metrics.rejected_connections++;
    GW_LOGD("upgrade refused: origin %s not allowed", origin);
    raw_http_error(wsi, 403, "Forbidden",
                   "{\"code\":4,\"message\":\"Forbidden\"}");
    return 1;
  }
  if (srv->state != ST_RUNNING) {
    srv->metrics.rejected_connections++;
    raw_http_error(wsi, 503, "Service Unavailable",
                   "{\"code\":4,\"message\":\"Server is draining\"}");
    return 1;
  }
  if (srv->metrics.websockets >= srv->cfg->max_connections) {
    srv->metrics.rejected_connections++;
    srv->metrics.limit_hits[GW_LIMIT_CONNECTIONS]++;
    raw_http_error(wsi, 503, "Service Unavailable",
                   "{\"code\":4,\"message\":\"Too many connections\"}");
    return 1;
  }
  char key[GW_IPSTR_MAX];
  ip_count_t *c;
  if (srv->cfg->max_connections_per_ip > 0 && client_key(srv, wsi, key) == 0 &&
      (c = gw_map_get(&srv->ips, key)) != NULL &&
      c->n >= srv->cfg->max_connections_per_ip) {
    srv->metrics.rejected_connections++;
    srv->metrics.limit_hits[GW_LIMIT_CONNECTIONS_PER_IP]++;
    GW_LOGD("upgrade refused: %s has %u connections", key, c->n);
    raw_http_error(wsi, 429, "Too Many Requests",
                   "{\"code\":4,\"message\":\"Too many connections from "
                   "your address\"}");
    return 1;
  }
  return 0;
}

static int ws_established(gw_server_t *srv, struct lws *wsi, pss_t *pss) {
  gw_conn_t *s = calloc(1, sizeof(*s));
  if (s == NULL || gw_eio_sid(s->eio_sid) != 0) {
    free(s);
    return -1;
  }
  s->srv = srv;
  s->wsi = wsi;
  s->refs = 1; /* the connection's own reference */
  gw_outq_init(&s->q, (uint32_t)srv->cfg->queue_frames,
               (size_t)srv->cfg->queue_bytes);
  gw_socket_init(&s->base, &conn_ops, &srv->chat);
  gw_list_push_back(&srv->sockets, &s->link);
  s->deadline = uv_now(srv->loop) + srv->cfg->ping_interval_ms;
  gw_list_push_back(&srv->ping_wait, &s->ping_link);
  gw_list_init(&s->kill_link);
  char key[GW_IPSTR_MAX];
  if (srv->cfg->max_connections_per_ip > 0 && client_key(srv, wsi, key) == 0) {
    ip_count_t *c = gw_map_get(&srv->ips, key);
    if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
      memcpy(c->key, key, sizeof(c->key));
      if (gw_map_put(&srv->ips, c->key, c) != 0) {
        free(c);
        c = NULL;
      }
    }
    if (c != NULL)
      c->n++;
    s->ip = c; /* out of memory: this one socket goes uncounted */
  }
  srv->metrics.websockets++;
  pss->s = s;
  send_owned(s, gw_eio_open(s->eio_sid, srv->cfg->ping_interval_ms,
                            srv->cfg->ping_timeout_ms, srv->cfg->max_payload));
  return 0;
}

static void ws_closed(gw_server_t *srv, pss_t *pss) {
  gw_conn_t *s = pss->s;
  if (s == NULL)
    return;
  pss->s = NULL;
  s->wsi = NULL;
  gw_list_remove(&s->link);
  gw_list_remove(&s->ping_link);
  gw_list_remove(&s->kill_link);
  GW_LOGD("socket %s: disconnected", s->base.sid[0] ? s->base.sid : s->eio_sid);
  srv->metrics.websockets--;
  ip_release(srv, s->ip);
  s->ip = NULL;
  if (s->attached) {
    s->attached = 0;
    srv->metrics.connections--;
    /* Leave effects for the others; nothing more reaches this socket. */
    if (!srv->adapter_closed)
      gw_adapter_detach(srv->adapter, s->base.sid);
  }
  if (srv->state == ST_DRAINING)
    srv->drain_closed++;
  gw_outq_close(&s->q);
  conn_release(&s->base);
}

static int ws_receive(gw_server_t *srv, struct lws *wsi, gw_conn_t *s,
                      const char *in, size_t len) {
  uint16_t close = 0;
  if (s->closing)
    return 0;
  if (lws_frame_is_binary(wsi)) {
    close = LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE; /* no binary packets */
  } else if (s->rx_len + len > srv->cfg->max_payload ||
             lws_remaining_packet_payload(wsi) >
                 srv->cfg->max_payload - (s->rx_len + len)) {
    /* lws hands a frame over in pieces of at most RX_BUFFER_SIZE; the
     * length in its header already tells whether it can fit, so a frame
     * announcing too much is refused on its first bytes, not after
     * max_payload of them were read and kept. */
    close = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
    srv->metrics.limit_hits[GW_LIMIT_FRAME_SIZE]++;
  } else if (s->rx == NULL && lws_is_first_fragment(wsi) &&
             lws_is_final_fragment(wsi)) {
    close = on_packet(s, in, len); /* the common case: no copy */
  } else {
    char *nb = realloc(s->rx, s->rx_len + len + 1);
    if (nb == NULL)
      return -1;
    s->rx = nb;
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (lws_is_final_fragment(wsi)) {
      close = on_packet(s, s->rx, s->rx_len);
      free(s->rx);
      s->rx = NULL;
      s->rx_len = 0;
    }
  }
  if (close == 0)
    return 0;
  if (close != LWS_CLOSE_STATUS_NORMAL) {
    srv->metrics.protocol_errors++;
    GW_LOGD("socket %s: malformed packet, closing (%u)",
            s->base.sid[0] ? s->base.sid : s->eio_sid, close);
  }
  s->closing = 1;
  lws_close_reason(wsi, (enum lws_close_status)close, NULL, 0);
  return -1;
}

/* ws_peer_close checks a client's close frame before lws answers it. lws
 * 4.1.6 answers 1002 to codes below 1000, 1004-1006 and 1012-2999, and drops
 * the connection on a reason that is not UTF-8, but it echoes a one-byte body
 * and codes from 5000 up; RFC 6455 (5.5.1, 7.4) makes both protocol errors.
 * lws echoes the body it hands us (|in| is its receive buffer, where it
 * rewrites bad codes itself), so a bad code is rewritten to 1002 in place:
 * answered at once. A one-byte body cannot become a code that way: it gets
 * a close reason and a refusal, and lws sends 1002 and then waits (5 s) for
 * an answer the peer will not send. Nothing more goes to a socket that said
 * goodbye. */
static int ws_peer_close(gw_server_t *srv, struct lws *wsi, gw_conn_t *s,
                         unsigned char *in, size_t len) {
  if (s != NULL)
    s->closing = 1;
  if (len == 1) {
    srv->metrics.protocol_errors++;
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
    return -1;
  }
  if (len >= 2 && ((unsigned)in[0] << 8 | in[1]) >= 5000) {
    srv->metrics.protocol_errors++;
    in[0] = LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8;
    in[1] = LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xff;
  }
  return 0;
}

static int ws_writeable(gw_server_t *srv, struct lws *wsi, gw_conn_t *s) {
  if (s->closing || lws_get_close_length(wsi) > 0)
    return 0; /* the reaper and lws finish the close */
  /* Several frames per callback while the kernel takes them: lws keeps a
   * partial write itself, and we stop there until it has drained. */
  for (int i = 0; i < WRITES_PER_CALLBACK; i++) {
    gw_frame_t *f = gw_outq_peek(&s->q);
    if (f == NULL)
      break;
    if (lws_write(wsi, gw_frame_data(f), f->len, LWS_WRITE_TEXT) < 0)
      return -1;
    count_out(srv, f);
    gw_outq_pop(&s->q);
    if (lws_partial_buffered(wsi))
      break;
  }
  if (gw_outq_len(&s->q) > 0)
    lws_callback_on_writable(wsi);
  return 0;
}

/* ---- lws callbacks: HTTP ----------------------------------------------- */

static int http_reply(struct lws *wsi, unsigned status, const char *ctype,
                      const char *body, size_t len) {
  unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
                                     *end = hdr + sizeof(hdr) - 1;
  if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)len, &p,
                                  end) ||
      lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                  (const unsigned char *)"no-store", 8, &p,
                                  end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  if (len > 0) {
    unsigned char *b = malloc(LWS_PRE + len);
    if (b == NULL)
      return -1;
    memcpy(b + LWS_PRE, body, len);
    int n = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    free(b);
    if (n < 0)
      return -1;
  }
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_socketio(gw_server_t *srv, struct lws *wsi, const char *path) {
  if (strcmp(path, "/socket.io/socket.io.js") == 0 ||
      strcmp(path, "/socket.io/socket.io.min.js") == 0) {
    int n = lws_serve_http_file(wsi, srv->cfg->client_js,
                                "text/javascript; charset=utf-8", NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
      return -1;
    return 0;
  }
  /* A valid EIO=4 websocket query without the Upgrade: Bad request. */
  const char *body = eio_query_error(wsi);
  if (body == NULL)
    body = "{\"code\":3,\"message\":\"Bad request\"}";
  return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json", body,
                    strlen(body));
}

static int http_request(gw_server_t *srv, struct lws *wsi) {
  char path[256];
  if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0) {
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
      lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_POST_URI);
    else
      path[0] = '\0';
  }
  if (strcmp(path, "/healthz") == 0)
    return http_reply(wsi, HTTP_STATUS_OK, "text/plain", "ok\n", 3);
  if (strcmp(path, "/readyz") == 0) {
    if (srv->state == ST_RUNNING)
      return http_reply(wsi, HTTP_STATUS_OK, "text/plain", "ready\n", 6);
    return http_reply(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
                      "draining\n", 9);
  }
  if (strcmp(path, "/metrics") == 0) {
    size_t cap = 32768;
    char *buf = malloc(cap);
    if (buf == NULL)
      return -1;
    gw_adapter_stats_t as;
    gw_adapter_stats(srv->adapter, &as);
    size_t n = gw_metrics_render(&srv->metrics, &srv->chat.stats, &as,
                                 srv->adapter->ops->name, buf, cap);
    int rc = http_reply(wsi, HTTP_STATUS_OK,
                        "text/plain; version=0.0.4; charset=utf-8", buf, n);
    free(buf);
    return rc;
  }
  if (strncmp(path, "/socket.io", 10) == 0)
    return http_socketio(srv, wsi, path);
  return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n",
                    10);
}

static int callback_chat(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len) {
  pss_t *pss = user;
  gw_server_t *srv;
  switch (reason) {
  case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
    /* |in| is the accepted descriptor. Descriptors are allocated lowest
     * first, so its number says how close the process is to its limit:
     * refuse (close at once) before accept() could ever hit EMFILE. */
    srv = server_of(wsi);
    if ((int)(intptr_t)in >= srv->fd_cap) {
      srv->metrics.rejected_connections++;
      srv->metrics.limit_hits[GW_LIMIT_FD_RESERVE]++;
      return 1;
    }
    return 0;
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    return filter_upgrade(server_of(wsi), wsi);
  case LWS_CALLBACK_ESTABLISHED:
    return ws_established(server_of(wsi), wsi, pss);
  case LWS_CALLBACK_CLOSED:
    ws_closed(server_of(wsi), pss);
    return 0;
  case LWS_CALLBACK_RECEIVE:
    if (pss->s == NULL)
      return -1;
    return ws_receive(server_of(wsi), wsi, pss->s, in, len);
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    return ws_peer_close(server_of(wsi), wsi, pss->s, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (pss->s == NULL)
      return 0;
    return ws_writeable(server_of(wsi), wsi, pss->s);
  case LWS_CALLBACK_HTTP:
    srv = server_of(wsi);
    return http_request(srv, wsi);
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* lws keeps a pointer to the protocol table: file scope, const. */
static const struct lws_protocols protocols[] = {
    {PROTOCOL_NAME, callback_chat, sizeof(pss_t), RX_BUFFER_SIZE, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Headers on every HTTP response: the chat page must never run script
 * that came from chat content. */
static const struct lws_protocol_vhost_options hdr_ref = {
    NULL, NULL, "referrer-policy:", "no-referrer"};
static const struct lws_protocol_vhost_options hdr_frame = {
    &hdr_ref, NULL, "x-frame-options:", "DENY"};
static const struct lws_protocol_vhost_options hdr_nosniff = {
    &hdr_frame, NULL, "x-content-type-options:", "nosniff"};
static const struct lws_protocol_vhost_options hdr_csp = {
    &hdr_nosniff, NULL, "content-security-policy:",
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"};

/* Text types carry their charset (lws's defaults do not). */
static const struct lws_protocol_vhost_options mime_svg = {NULL, NULL, ".svg",
                                                           "image/svg+xml"};
static const struct lws_protocol_vhost_options mime_json = {
    &mime_svg, NULL, ".json", "application/json; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_css = {
    &mime_json, NULL, ".css", "text/css; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_js = {
    &mime_css, NULL, ".js", "text/javascript; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_html = {
    &mime_js, NULL, ".html", "text/html; charset=utf-8"};

/* No lws "validity" timers: Engine.IO's ping/pong is the liveness check.
 * lws 4.1.6 keeps one per connection in a sorted list and re-inserts it on
 * every received frame, an O(connections) walk each time (it was most of the
 * CPU of a handshake at a few thousand connections). A zero hang-up time
 * turns them off. */
static const lws_retry_bo_t no_validity_timers = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

/* ---- timers, draining, shutdown ---------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

static void finish(gw_server_t *srv) {
  srv->state = ST_DONE;
  uv_close((uv_handle_t *)&srv->tick, on_handle_closed);
  uv_close((uv_handle_t *)&srv->reaper, on_handle_closed);
  /* On a foreign loop this starts lws's teardown; uv_run returns once its
   * handles are closed, and gw_server_free completes it. */
  lws_context_destroy(srv->ctx);
  GW_LOGI("shut down");
  if (srv->done != NULL)
    srv->done(srv->done_arg);
}

static void on_adapter_closed(void *arg) {
  gw_server_t *srv = arg;
  srv->adapter_closed = 1;
  finish(srv);
}

static void drain_step(gw_server_t *srv, uint64_t now) {
  uint64_t elapsed = now - srv->drain_start;
  /* Close a share proportional to the time elapsed: batches every tick. */
  uint64_t due = srv->drain_total;
  if (srv->drain_ms > 0 && elapsed < srv->drain_ms)
    due = (srv->drain_total * elapsed + srv->drain_ms - 1) / srv->drain_ms;
  uint64_t started = 0;
  gw_list_t *it;
  GW_LIST_FOREACH(it, &srv->sockets) {
    gw_conn_t *s = GW_LIST_DATA(it, gw_conn_t, link);
    if (s->closing)
      started++;
  }
  started += srv->drain_closed;
  GW_LIST_FOREACH(it, &srv->sockets) {
    if (started >= due)
      break;
    gw_conn_t *s = GW_LIST_DATA(it, gw_conn_t, link);
    if (!s->closing) {
      sock_close_gracefully(s, LWS_CLOSE_STATUS_GOINGAWAY);
      started++;
    }
  }
  /* Backstop: a peer that never reads never takes its close frame; lws
   * drops such connections when the context is destroyed. */
  int late = elapsed > srv->drain_ms + 5000;
  if (gw_list_empty(&srv->sockets) || late) {
    if (late)
      GW_LOGW("connections still open %llu ms after the drain began; "
              "dropping them",
              (unsigned long long)elapsed);
    GW_LOGI("all connections closed; leaving the cluster");
    srv->state = ST_ADAPTER_CLOSING;
    gw_adapter_close(srv->adapter, on_adapter_closed, srv);
  }
}

/* loop_lag_note records how late this tick ran (libuv re-arms a repeating
 * timer at its run time + period). The gauge is the largest lag of the
 * current and the previous 10 s window, so a scrape sees a stall for at
 * least 10 s after it. */
static void loop_lag_note(gw_server_t *srv, uint64_t now) {
  uint64_t lag = now > srv->tick_due ? now - srv->tick_due : 0;
  srv->tick_due = now + srv->tick_ms;
  gw_metrics_t *m = &srv->metrics;
  if (now >= srv->lag_until) {
    m->loop_lag_ms = srv->lag_cur;
    srv->lag_cur = 0;
    srv->lag_until = now + 10000;
  }
  if (lag > srv->lag_cur)
    srv->lag_cur = lag;
  if (lag > m->loop_lag_ms)
    m->loop_lag_ms = lag;
  if (lag > m->loop_lag_max_ms)
    m->loop_lag_max_ms = lag;
}

static void on_tick(uv_timer_t *t) {
  gw_server_t *srv = t->data;
  uint64_t now = uv_now(srv->loop);
  gw_list_t *h;
  loop_lag_note(srv, now);
  while ((h = gw_list_head(&srv->ping_wait)) != NULL) {
    gw_conn_t *s = GW_LIST_DATA(h, gw_conn_t, ping_link);
    if (s->deadline > now)
      break;
    gw_list_remove(&s->ping_link);
    if (s->closing)
      continue; /* on its way out: neither pinged nor timed out */
    if (!s->connected) {
      /* An Engine.IO session that never joined a namespace in a whole ping
       * interval is not a Socket.IO client. */
      srv->metrics.limit_hits[GW_LIMIT_NO_NAMESPACE]++;
      sock_kill(s, "no namespace");
      continue;
    }
    s->awaiting_pong = 1;
    s->deadline = now + srv->cfg->ping_timeout_ms;
    gw_list_push_back(&srv->pong_wait, &s->ping_link);
    conn_send(s, srv->ping);
  }
  while ((h = gw_list_head(&srv->pong_wait)) != NULL) {
    gw_conn_t *s = GW_LIST_DATA(h, gw_conn_t, ping_link);
    if (s->deadline > now)
      break;
    gw_list_remove(&s->ping_link);
    s->awaiting_pong = 0;
    if (s->closing)
      continue; /* already on its way out: not a timeout */
    srv->metrics.ping_timeouts++;
    sock_kill(s, "ping timeout");
  }
  if (srv->state == ST_DRAINING)
    drain_step(srv, now);
}

void gw_server_shutdown(gw_server_t *srv, int drain) {
  uint64_t now = uv_now(srv->loop);
  if (srv->state == ST_RUNNING) {
    srv->state = ST_DRAINING;
    srv->metrics.draining = 1;
    srv->drain_start = now;
    srv->drain_ms = drain ? srv->cfg->drain_ms : 0;
    srv->drain_total = 0;
    gw_list_t *it;
    GW_LIST_FOREACH(it, &srv->sockets) {
      srv->drain_total++;
    }
    GW_LOGI("shutting down: draining %llu connections over %llu ms",
            (unsigned long long)srv->drain_total,
            (unsigned long long)srv->drain_ms);
    drain_step(srv, now);
  } else if (srv->state == ST_DRAINING && srv->drain_ms > 0) {
    GW_LOGI("second signal: closing every connection now");
    srv->drain_ms = 0;
    drain_step(srv, now);
  }
}

/* ---- lifecycle ---------------------------------------------------------- */

static void lws_log_emit(int level, const char *line) {
  size_t n = strlen(line);
  while (n > 0 && line[n - 1] == '\n')
    n--;
  gw_log(level == LLL_ERR ? GW_LOG_ERROR : GW_LOG_DEBUG, "lws: %.*s", (int)n,
         line);
}

static int make_adapter(gw_server_t *srv) {
  const gw_config_t *cfg = srv->cfg;
  gw_adapter_cfg_t acfg = {0};
  acfg.loop = srv->loop;
  acfg.deliver = on_deliver;
  acfg.ctx = srv;
  acfg.node_id = srv->node_id;
  acfg.max_rooms = cfg->max_rooms;
  acfg.max_room_members = cfg->max_room_members;
  acfg.redis_url = cfg->redis_url;
  acfg.max_pending = cfg->redis_max_pending;
  acfg.command_timeout_ms = cfg->redis_timeout_ms;
  acfg.heartbeat_ms = cfg->heartbeat_ms;
  acfg.node_ttl_ms = cfg->node_ttl_ms;
  int err = 0;
  srv->adapter = gw_adapter_new(&acfg, &err);
  if (srv->adapter == NULL) {
    if (cfg->redis_url && err == GW_EUNAVAIL)
      GW_LOGE("--redis: this build has no Redis adapter yet");
    else
      GW_LOGE("cannot create the %s adapter: %s",
              cfg->redis_url ? "redis" : "memory", gw_strerror(err));
    return err ? err : GW_EINVAL;
  }
  return 0;
}

gw_server_t *gw_server_new(uv_loop_t *loop, const gw_config_t *cfg,
                           gw_server_done_fn done, void *arg, int *err) {
  gw_server_t *srv = calloc(1, sizeof(*srv));
  int rc = GW_ENOMEM;
  if (srv == NULL)
    goto fail;
  srv->loop = loop;
  srv->cfg = cfg;
  srv->done = done;
  srv->done_arg = arg;
  gw_list_init(&srv->sockets);
  gw_map_init(&srv->ips);
  gw_list_init(&srv->ping_wait);
  gw_list_init(&srv->pong_wait);
  gw_list_init(&srv->kills);
  if (cfg->node_id != NULL) {
    snprintf(srv->node_id, sizeof(srv->node_id), "%s", cfg->node_id);
  } else {
    char host[64] = "gw";
    gethostname(host, sizeof(host) - 1);
    snprintf(srv->node_id, sizeof(srv->node_id), "%s-%ld", host,
             (long)getpid());
  }
  srv->ping = gw_eio_ping();
  if (srv->ping == NULL)
    goto fail;

  lws_set_log_level(gw_log_enabled(GW_LOG_DEBUG) ? LLL_ERR | LLL_WARN : LLL_ERR,
                    lws_log_emit);

  /* Mounts: our endpoints by callback, everything else from the web root. */
  static const char *const cb_paths[] = {"/socket.io", "/healthz", "/readyz",
                                         "/metrics"};
  for (int i = 0; i < 4; i++) {
    struct lws_http_mount *m = &srv->mounts[i];
    m->mount_next = &srv->mounts[i + 1];
    m->mountpoint = cb_paths[i];
    m->mountpoint_len = (unsigned char)strlen(cb_paths[i]);
    m->origin = PROTOCOL_NAME;
    m->origin_protocol = LWSMPRO_CALLBACK;
  }
  struct lws_http_mount *root = &srv->mounts[4];
  root->mountpoint = "/";
  root->mountpoint_len = 1;
  root->origin = cfg->web_root;
  root->def = "index.html";
  root->origin_protocol = LWSMPRO_FILE;
  root->extra_mimetypes = &mime_html;

  /* lws sizes its fd table from the open-file limit. Never pass a smaller
   * fd_limit_per_thread: lws 4.1.6 then switches to a table it scans
   * linearly on every event (wsi_from_fd), O(connections) per packet.
   * EMFILE (on which lws would spin) is kept away instead by refusing new
   * connections whose descriptor is near the limit (filter_network). */
  struct rlimit rl;
  unsigned fd_limit = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    fd_limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20
                   ? 1u << 20
                   : (unsigned)rl.rlim_cur;
  srv->fd_cap = fd_limit > 256 ? fd_limit - 64 : fd_limit * 3 / 4;

  struct lws_context_creation_info info;
  void *foreign_loops[1] = {loop};
  memset(&info, 0, sizeof(info));
  info.port = (int)cfg->port;
  info.iface = strcmp(cfg->host, "0.0.0.0") == 0 ? NULL : cfg->host;
  info.protocols = protocols;
  info.mounts = &srv->mounts[0];
  info.headers = &hdr_csp;
  info.user = srv;
  info.foreign_loops = foreign_loops;
  info.retry_and_idle_policy = &no_validity_timers;
  info.timeout_secs = 20;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
  if (strchr(cfg->host, ':') == NULL)
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  if (cfg->tls_cert != NULL) {
    /* TLS termination on the one listening port: page, endpoints and wss.
     * ALPN offers HTTP/1.1 only: the WebSocket path here is the HTTP/1.1
     * upgrade (no WebSocket over h2), so browsers must not pick h2. A plain
     * http request on this port fails the TLS handshake. */
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = cfg->tls_cert;
    info.ssl_private_key_filepath = cfg->tls_key;
    info.alpn = "http/1.1";
    info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
  }
  srv->ctx = lws_create_context(&info);
  if (srv->ctx == NULL || lws_get_vhost_by_name(srv->ctx, "default") == NULL) {
    /* lws 4.1.6 may return a context without its vhost when the listen
     * socket fails. Tearing that half-built context down on a foreign loop
     * crashes inside lws (lws #2171), and the process is about to exit 1:
     * leave it to the exit. */
    GW_LOGE("cannot listen on %s:%llu (address in use or not available%s)",
            cfg->host, (unsigned long long)cfg->port,
            cfg->tls_cert ? ", or --tls-cert/--tls-key not loadable" : "");
    srv->ctx = NULL;
    rc = GW_EINVAL;
    goto fail;
  }
  if ((rc = make_adapter(srv)) != 0) {
    lws_context_destroy(srv->ctx);
    uv_run(loop, UV_RUN_DEFAULT);
    lws_context_destroy(srv->ctx);
    goto fail;
  }
  gw_chat_cfg_t ccfg = {
      .rate_limit = cfg->rate_limit,
      .rate_burst = cfg->rate_burst,
      .max_name_chars = (size_t)cfg->max_name_chars,
      .max_message_bytes = (size_t)cfg->max_message_bytes,
      .inbox_max = (size_t)cfg->inbox_max,
  };
  gw_chat_init(&srv->chat, loop, srv->adapter, &ccfg);

  uint64_t tick = cfg->ping_interval_ms < cfg->ping_timeout_ms
                      ? cfg->ping_interval_ms
                      : cfg->ping_timeout_ms;
  tick /= 8;
  tick = tick < 10 ? 10 : tick > 100 ? 100 : tick;
  uv_timer_init(loop, &srv->reaper);
  srv->reaper.data = srv;
  uv_timer_init(loop, &srv->tick);
  srv->tick.data = srv;
  srv->tick_ms = tick;
  srv->tick_due = uv_now(loop) + tick;
  srv->lag_until = uv_now(loop) + 10000;
  uv_timer_start(&srv->tick, on_tick, tick, tick);
  GW_LOGI("listening on %s://%s:%llu (adapter %s, node %s%s)",
          cfg->tls_cert ? "https" : "http", cfg->host,
          (unsigned long long)cfg->port, srv->adapter->ops->name, srv->node_id,
          cfg->jwt_secret ? ", JWT auth" : "");
  return srv;

fail:
  if (srv != NULL) {
    if (srv->adapter != NULL)
      gw_adapter_free(srv->adapter);
    gw_frame_unref(srv->ping);
    free(srv);
  }
  if (err != NULL)
    *err = rc;
  return NULL;
}

int gw_server_free(gw_server_t *srv) {
  /* The second destroy completes lws's teardown on a foreign loop
   * (platform.md). */
  lws_context_destroy(srv->ctx);
  gw_adapter_free(srv->adapter);
  gw_chat_fini(&srv->chat);
  gw_map_close(&srv->ips); /* empty: every socket released its address */
  gw_frame_unref(srv->ping);
  int status = srv->exit_status;
  free(srv);
  return status;
}
