/* SPDX-License-Identifier: MIT */
/* gw_ws.c: the WebSocket transport (gw_server_int.h): the lws protocol
 * callback, admission of an upgrade, the life of a connection (established,
 * receive, peer close, writeable, closed), its send path and queue, and the
 * reaper that closes connections outside lws and adapter callbacks. This is
 * the gw_socket_ops_t the chat sees of a WebSocket. Engine.IO/Socket.IO is
 * gw_session.c's; plain HTTP is gw_http.c's. */
#include <stdint.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "gw_check.h"
#include "gw_eio.h"
#include "gw_log.h"
#include "gw_netaddr.h"
#include "gw_server_int.h"

_Static_assert(LWS_PRE <= GW_FRAME_HEADROOM,
               "frames need LWS_PRE bytes of headroom");

#define WRITES_PER_CALLBACK 32
#define RX_BUFFER_SIZE      2048

typedef struct pss {
  gw_conn_t *s;
} pss_t;

/* ---- per-address accounting -------------------------------------------- */

/* WebSockets open from one client address. The entry exists while n > 0,
 * so the table holds at most one entry per open socket. */
typedef struct gw__ip_count {
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
  /* The connection is gone (ws_closed) and so is every request's hold. */
  GW_CHECK(s->wsi == NULL && !gw__linked(&s->link) &&
           !gw__linked(&s->ping_link) && !gw__linked(&s->kill_link));
  gw_outq_close(&s->q);
  gw_socket_fini(&s->base);
  free(s->rx);
  free(s);
}

static void conn_hold(gw_socket_t *base) {
  gw_conn_t *s = (gw_conn_t *)base;
  GW_CHECK(s->refs > 0); /* a hold on a freed connection */
  s->refs++;
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
  GW_CHECK(!gw__linked(&s->kill_link)); /* not closing: not queued */
  gw_list_push_back(&s->srv->kills, &s->kill_link);
  uv_timer_start(&s->srv->reaper, on_reap, 0, 0);
}

/* sock_kill drops |s| without a close frame (ping timeout, slow reader:
 * peers that would not take one anyway). */
static void sock_kill(gw_conn_t *s, const char *why) {
  sock_close_later(s, 0, why);
}

/* close_code is the WebSocket close code (RFC 6455 7.4.1) of the session's
 * |how|; 0 for none: drop the connection without a close frame. The drain
 * path sends 1001, which makes clients reconnect, to another instance
 * behind a balancer. */
static uint16_t close_code(gw__close_t how) {
  switch (how) {
  case CLOSE_NORMAL:
    return LWS_CLOSE_STATUS_NORMAL;
  case CLOSE_GOING_AWAY:
    return LWS_CLOSE_STATUS_GOINGAWAY;
  case CLOSE_PROTOCOL:
    return LWS_CLOSE_STATUS_PROTOCOL_ERR;
  case CLOSE_INTERNAL:
    return LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
  case CLOSE_NONE:
  case CLOSE_DROP:
  default:
    return 0;
  }
}

void gw__conn_close(gw_conn_t *s, gw__close_t how, const char *why) {
  GW_CHECK(how != CLOSE_NONE);
  sock_close_later(s, close_code(how), why);
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
     * POLLOUT round trip per delivery (about half the cost of a fan-out;
     * docs/hacking.md, Platform notes). If the kernel takes only part, lws
     * keeps the rest (one frame at most) and reports it buffered, so later
     * frames queue behind it in order. lws_partial_buffered costs no syscall,
     * unlike lws_send_pipe_choked's poll(). */
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

/* ---- lws callbacks: WebSocket ------------------------------------------ */

static gw_server_t *server_of(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

static int filter_upgrade(gw_server_t *srv, struct lws *wsi) {
  char path[128];
  const char *err;
  if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
    path[0] = '\0';
  GW_LOGD("upgrade request for %s", path);
  if (strcmp(path, "/socket.io/") != 0 && strcmp(path, "/socket.io") != 0) {
    gw__http_raw_error(wsi, 404, "Not Found",
                       "{\"code\":3,\"message\":\"Bad request\"}");
    return 1;
  }
  if ((err = gw__http_eio_query_error(wsi)) != NULL) {
    gw__http_raw_error(wsi, 400, "Bad Request", err);
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
    gw__http_raw_error(wsi, 403, "Forbidden",
                       "{\"code\":4,\"message\":\"Forbidden\"}");
    return 1;
  }
  if (srv->state != ST_RUNNING) {
    srv->metrics.rejected_connections++;
    gw__http_raw_error(wsi, 503, "Service Unavailable",
                       "{\"code\":4,\"message\":\"Server is draining\"}");
    return 1;
  }
  if (srv->metrics.websockets >= srv->cfg->max_connections) {
    srv->metrics.rejected_connections++;
    srv->metrics.limit_hits[GW_LIMIT_CONNECTIONS]++;
    gw__http_raw_error(wsi, 503, "Service Unavailable",
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
    gw__http_raw_error(wsi, 429, "Too Many Requests",
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
  gw__session_open(s);
  return 0;
}

static void ws_closed(gw_server_t *srv, pss_t *pss) {
  gw_conn_t *s = pss->s;
  if (s == NULL)
    return;
  pss->s = NULL;
  s->wsi = NULL;
  GW_CHECK(gw__linked(&s->link)); /* in srv->sockets since ws_established */
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
    /* The common case: no copy. */
    close = close_code(gw__session_packet(s, in, len));
  } else {
    char *nb = realloc(s->rx, s->rx_len + len + 1);
    if (nb == NULL)
      return -1;
    s->rx = nb;
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (lws_is_final_fragment(wsi)) {
      close = close_code(gw__session_packet(s, s->rx, s->rx_len));
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
    return gw__http_request(srv, wsi);
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* lws keeps a pointer to the protocol table: file scope, const. */
static const struct lws_protocols protocols[] = {
    {GW__PROTOCOL_NAME, callback_chat, sizeof(pss_t), RX_BUFFER_SIZE, 0, NULL,
     0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *gw__ws_protocols(void) {
  return protocols;
}
