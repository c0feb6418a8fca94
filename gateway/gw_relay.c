/* SPDX-License-Identifier: MIT */
/* gw_relay.c: relays to the instance that owns a session (gw_server_int.h).
 *
 * A sid's first 6 characters are the peer tag of the instance that issued
 * it; every instance advertises its address under its tag (the adapter's
 * peer registry, in Redis). Behind a balancer without affinity a polling
 * request or a WebSocket upgrade may reach another instance: that one looks
 * the owner up and relays, so no sticky sessions are needed.
 *   polling  the request goes to the owner as one HTTP/1.1 request on a new
 *            connection (Connection: close); its status, type and body come
 *            back as our answer (with our CORS headers).
 *   upgrade  we accept the client's WebSocket, open one to the owner with
 *            the same query, and carry whole text messages both ways; the
 *            probe (2probe/3probe/5) passes through untouched. The client's
 *            input is paused until the owner has accepted.
 * Bounds: --max-relays in flight (else 503), --relay-timeout on the lookup,
 * connect and answer (a long-poll GET gets --ping-interval more; else 504),
 * an answer no larger than the larger of --max-payload and --queue-bytes,
 * the WebSocket's queue toward the client as any session's, and as much
 * again toward the owner. A relayed request is never relayed again (the
 * X-Gw-Relay header). No live owner: 400 "Session ID unknown", so the
 * client reconnects. Counted in chat_relays_total, chat_relay_failures_total
 * and chat_relays_active. */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_check.h"
#include "gw_httpresp.h"
#include "gw_log.h"
#include "gw_server_int.h"
#include "gw_wsframe.h"

#define E_SID_UNKNOWN "{\"code\":1,\"message\":\"Session ID unknown\"}"
#define E_BAD_REQUEST "{\"code\":3,\"message\":\"Bad request\"}"
#define E_TIMEOUT                                                              \
  "{\"code\":3,\"message\":\"Relay to the session's owner timed out\"}"
#define E_BUSY        "{\"code\":3,\"message\":\"Too many relays\"}"
#define E_UNREACHABLE "{\"code\":3,\"message\":\"Session's owner unreachable\"}"

enum { R_LOOKUP, R_CONNECT, R_UP, R_ANSWER, R_FAILED, R_DONE };

typedef struct gw__relay {
  gw_server_t *srv;
  gw_list_t link;  /* srv->relay_list */
  struct lws *wsi; /* the client's connection; NULL once it is gone */
  unsigned refs;   /* client, lookup in flight, each open uv handle */
  uint8_t kind;    /* gw_relay_kind_t */
  uint8_t state;   /* R_* */
  unsigned tcp_open : 1, timer_open : 1;
  unsigned in_lws : 1; /* inside an lws callback of wsi: never kill it */
  char sid[21];
  char *out; /* the request head (and POST body) for the owner (owned) */
  size_t out_len;
  uv_tcp_t tcp;
  uv_connect_t conn;
  uv_write_t wreq;
  uv_timer_t timer;
  char *in; /* bytes from the owner */
  size_t in_len, in_cap, in_max;
  /* polling: the answer */
  unsigned status;
  char ctype[64];
  const char *body;
  size_t body_len;
  /* WebSocket */
  gw_outq_t q;     /* messages for the client */
  uint16_t close;  /* close code for the client, once the owner closed */
  uint8_t mask[4]; /* our frames' masking key (RFC 6455 5.3) */
} gw__relay_t;

/* ---- life -----------------------------------------------------------------
 */

static void relay_unref(gw__relay_t *r) {
  GW_CHECK(r->refs > 0);
  if (--r->refs > 0)
    return;
  GW_CHECK(r->wsi == NULL && !r->tcp_open && !r->timer_open);
  r->srv->relays--;
  r->srv->metrics.relays_active--;
  gw_list_remove(&r->link);
  gw_outq_close(&r->q);
  free(r->out);
  free(r->in);
  free(r);
}

static void on_handle_closed(uv_handle_t *h) {
  relay_unref(h->data);
}

/* stop_io closes the connection to the owner and the timer. */
static void stop_io(gw__relay_t *r) {
  if (r->tcp_open) {
    r->tcp_open = 0;
    uv_close((uv_handle_t *)&r->tcp, on_handle_closed);
  }
  if (r->timer_open) {
    r->timer_open = 0;
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
  }
}

/* detach forgets the client side (its connection is gone or answered). */
static void detach(gw__relay_t *r, gw__pss_t *pss) {
  if (pss != NULL) {
    pss->relay = NULL;
    pss->kind = PSS_NONE;
  }
  if (r->wsi == NULL)
    return;
  r->wsi = NULL;
  if (r->state != R_FAILED && r->state != R_ANSWER)
    r->state = R_DONE;
  stop_io(r);
  relay_unref(r);
}

/* kill_client closes the client's WebSocket with |code| (0: drop it), by
 * gw__ws_kill: the CLOSED callback detaches before it returns; |r| lives on
 * until its handles are closed. */
static void kill_client(gw__relay_t *r, uint16_t code) {
  if (r->wsi != NULL && !r->in_lws)
    gw__ws_kill(r->wsi, code);
}

/* fail ends the relay for |why|: a polling client gets the error answer, a
 * WebSocket is closed (its client reconnects). */
static void fail(gw__relay_t *r, gw_relay_fail_t why) {
  if (r->state == R_FAILED || r->state == R_ANSWER || r->state == R_DONE)
    return;
  r->srv->metrics.relay_failures[why]++;
  GW_LOGD("relay of %s: %s", r->sid,
          why == GW_RELAY_FAIL_TIMEOUT       ? "timed out"
          : why == GW_RELAY_FAIL_UNKNOWN     ? "no such owner"
          : why == GW_RELAY_FAIL_UNREACHABLE ? "owner unreachable"
                                             : "limit");
  r->state = R_FAILED;
  r->status = why == GW_RELAY_FAIL_UNKNOWN   ? 400
              : why == GW_RELAY_FAIL_TIMEOUT ? 504
                                             : 502;
  r->body = why == GW_RELAY_FAIL_UNKNOWN   ? E_SID_UNKNOWN
            : why == GW_RELAY_FAIL_TIMEOUT ? E_TIMEOUT
                                           : E_UNREACHABLE;
  r->body_len = strlen(r->body);
  snprintf(r->ctype, sizeof(r->ctype), "application/json");
  stop_io(r);
  if (r->wsi == NULL)
    return;
  if (r->kind == GW_RELAY_POLL)
    lws_callback_on_writable(r->wsi);
  else
    kill_client(r, why == GW_RELAY_FAIL_UNKNOWN ? 0 : 1011);
}

static void on_timer(uv_timer_t *t) {
  fail(t->data, GW_RELAY_FAIL_TIMEOUT);
}

static gw__relay_t *relay_new(gw_server_t *srv, struct lws *wsi, int kind,
                              const char *sid) {
  gw__relay_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->srv = srv;
  r->wsi = wsi;
  r->kind = (uint8_t)kind;
  r->refs = 1; /* the client's */
  memcpy(r->sid, sid, 20);
  r->in_max =
      (srv->cfg->max_payload > srv->cfg->queue_bytes ? srv->cfg->max_payload
                                                     : srv->cfg->queue_bytes) +
      GW_HTTPRESP_MAX_HEAD;
  gw_outq_init(&r->q, (uint32_t)srv->cfg->queue_frames,
               (size_t)srv->cfg->queue_bytes);
  srv->relays++;
  gw_list_push_back(&srv->relay_list, &r->link);
  srv->metrics.relays[kind]++;
  srv->metrics.relays_active++;
  uv_timer_init(srv->loop, &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  r->refs++;
  return r;
}

/* ---- the owner's connection --------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  gw__relay_t *r = h->data;
  (void)hint;
  if (r->in_cap - r->in_len < 16384 && r->in_cap < r->in_max) {
    size_t cap = r->in_cap ? r->in_cap * 2 : 65536;
    if (cap > r->in_max)
      cap = r->in_max;
    char *nb = realloc(r->in, cap);
    if (nb != NULL) {
      r->in = nb;
      r->in_cap = cap;
    }
  }
  *buf = uv_buf_init(r->in + r->in_len, (unsigned)(r->in_cap - r->in_len));
}

/* poll_answer checks whether the owner's whole answer is in; 1 when it is
 * (kept in r), 0 for more, -1 when it is malformed. */
static int poll_answer(gw__relay_t *r, int eof) {
  gw_httpresp_t hr;
  int head = gw_httpresp_parse(r->in, r->in_len, &hr);
  if (head < 0)
    return -1;
  if (head == 0)
    return eof ? -1 : 0;
  if (hr.chunked)
    return -1; /* lws answers ours with a length */
  size_t avail = r->in_len - (size_t)head;
  if (hr.content_length >= 0) {
    if (avail < (uint64_t)hr.content_length)
      return eof ? -1 : 0;
    avail = (size_t)hr.content_length;
  } else if (!eof) {
    return 0; /* to the close */
  }
  r->status = (unsigned)hr.status;
  snprintf(r->ctype, sizeof(r->ctype), "%.*s",
           hr.content_type ? (int)hr.content_type_len : 10,
           hr.content_type ? hr.content_type : "text/plain");
  r->body = r->in + head;
  r->body_len = avail;
  return 1;
}

/* ws_frames takes the owner's frames out of r->in: text messages are
 * queued for the client. Returns 0, or -1 to end the relay. */
static int ws_frames(gw__relay_t *r) {
  size_t off = 0;
  int rc = 0;
  while (r->in_len - off > 0) {
    gw_wsframe_t fr;
    int hl =
        gw_wsframe_parse((const uint8_t *)r->in + off, r->in_len - off, &fr);
    if (hl < 0 || (hl > 0 && (fr.masked || (!fr.fin && fr.opcode < 8)))) {
      rc = -1; /* the owner sends whole, unmasked frames */
      break;
    }
    if (hl == 0 || r->in_len - off - (size_t)hl < fr.len)
      break; /* more to come */
    const char *pl = r->in + off + hl;
    off += (size_t)hl + (size_t)fr.len;
    if (fr.opcode == GW_WSFRAME_TEXT) {
      gw_frame_t *f = gw_frame_from(GW_EV_CONTROL, pl, (size_t)fr.len);
      uint32_t was = gw_outq_len(&r->q);
      int prc = f != NULL ? gw_outq_push(&r->q, f) : GW_ENOMEM;
      gw_frame_unref(f);
      if (prc != 0) {
        r->srv->metrics.slow_readers_dropped++;
        r->srv->metrics.limit_hits[GW_LIMIT_QUEUE]++;
        rc = -1;
        break;
      }
      if (was == 0 && r->wsi != NULL)
        lws_callback_on_writable(r->wsi);
    } else if (fr.opcode == GW_WSFRAME_CLOSE) {
      r->close =
          fr.len >= 2 ? (uint16_t)((uint8_t)pl[0] << 8 | (uint8_t)pl[1]) : 1000;
      rc = -1;
      break;
    } else if (fr.opcode != GW_WSFRAME_PING && fr.opcode != GW_WSFRAME_PONG) {
      rc = -1; /* binary: not in this chat */
      break;
    }
  }
  memmove(r->in, r->in + off, r->in_len - off);
  r->in_len -= off;
  return rc;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  gw__relay_t *r = st->data;
  (void)buf;
  if (r->state != R_CONNECT && r->state != R_UP)
    return;
  int eof = n < 0;
  if (n > 0)
    r->in_len += (size_t)n;
  else if (n == 0)
    return;
  if (r->kind == GW_RELAY_POLL) {
    int a = poll_answer(r, eof);
    if (a < 0) {
      fail(r, GW_RELAY_FAIL_UNREACHABLE);
    } else if (a > 0) {
      r->state = R_ANSWER;
      stop_io(r);
      if (r->wsi != NULL)
        lws_callback_on_writable(r->wsi);
    } else if (r->in_len == r->in_max) {
      fail(r, GW_RELAY_FAIL_UNREACHABLE); /* an answer beyond the bound */
    }
    return;
  }
  if (r->state == R_CONNECT) {
    /* The owner's answer to our upgrade. */
    gw_httpresp_t hr;
    int head = gw_httpresp_parse(r->in, r->in_len, &hr);
    if (head == 0 && !eof)
      return;
    if (head <= 0 || !hr.upgrade) {
      fail(r, head > 0 && hr.status == 400 ? GW_RELAY_FAIL_UNKNOWN
                                           : GW_RELAY_FAIL_UNREACHABLE);
      return;
    }
    memmove(r->in, r->in + head, r->in_len - (size_t)head);
    r->in_len -= (size_t)head;
    r->state = R_UP;
    uv_timer_stop(&r->timer);
    if (r->wsi != NULL)
      lws_rx_flow_control(r->wsi, 1); /* the client may talk now */
  }
  if (ws_frames(r) != 0 || eof || r->in_len == r->in_max) {
    /* The owner closed (the session ended there), or broke the rules. */
    r->state = R_DONE;
    stop_io(r);
    kill_client(r, r->close ? r->close : LWS_CLOSE_STATUS_GOINGAWAY);
  }
}

static void on_written(uv_write_t *w, int status) {
  gw__relay_t *r = w->data;
  if (status < 0 && status != UV_ECANCELED)
    fail(r, GW_RELAY_FAIL_UNREACHABLE);
}

/* ---- owners' addresses, cached --------------------------------------------
 * A tag's address never changes while the tag lives (a restarted instance
 * draws a new tag), so a found address is kept for --node-ttl: most relays
 * then skip the Redis round trip. An owner that refuses a connection is
 * forgotten at once, and the next relay asks Redis again, which says
 * "unknown" once the owner's key has expired. Only found addresses are
 * kept, so the table holds live instances only: GW__PEER_CACHE slots,
 * the oldest replaced. */

static gw__peer_cache_t *cache_find(gw_server_t *srv, const char *sid) {
  for (int i = 0; i < GW__PEER_CACHE; i++) {
    gw__peer_cache_t *e = &srv->peer_cache[i];
    if (e->expires != 0 && memcmp(e->tag, sid, GW_PEER_TAG_LEN) == 0)
      return e;
  }
  return NULL;
}

static void cache_put(gw_server_t *srv, const char *sid, const char *addr) {
  size_t n = strlen(addr);
  if (n >= sizeof(srv->peer_cache[0].addr))
    return;
  gw__peer_cache_t *e = cache_find(srv, sid);
  for (int i = 0; e == NULL && i < GW__PEER_CACHE; i++)
    if (srv->peer_cache[i].expires == 0)
      e = &srv->peer_cache[i]; /* a free slot */
  if (e == NULL) {
    e = &srv->peer_cache[0]; /* else the one that expires first */
    for (int i = 1; i < GW__PEER_CACHE; i++)
      if (srv->peer_cache[i].expires < e->expires)
        e = &srv->peer_cache[i];
  }
  memcpy(e->tag, sid, GW_PEER_TAG_LEN);
  memcpy(e->addr, addr, n + 1);
  e->expires = uv_now(srv->loop) + srv->cfg->node_ttl_ms;
}

static void cache_drop(gw_server_t *srv, const char *sid) {
  gw__peer_cache_t *e = cache_find(srv, sid);
  if (e != NULL)
    e->expires = 0;
}

static void on_connect(uv_connect_t *c, int status) {
  gw__relay_t *r = c->data;
  if (status < 0) {
    cache_drop(r->srv, r->sid);
    fail(r, GW_RELAY_FAIL_UNREACHABLE);
    return;
  }
  if (r->state != R_CONNECT)
    return;
  uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
  r->wreq.data = r;
  if (uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, on_written) != 0 ||
      uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0)
    fail(r, GW_RELAY_FAIL_UNREACHABLE);
}

/* parse_addr reads "host:port" or "[v6]:port" (literal addresses). */
static int parse_addr(const char *addr, struct sockaddr_storage *ss) {
  char host[128];
  const char *colon = strrchr(addr, ':');
  if (colon == NULL || colon - addr >= (long)sizeof(host))
    return -1;
  int port = atoi(colon + 1);
  if (port <= 0 || port > 65535)
    return -1;
  const char *h = addr;
  size_t hl = (size_t)(colon - addr);
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 ||
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  return -1;
}

static void peer_connect(gw__relay_t *r, int status, const char *addr) {
  struct sockaddr_storage ss;
  if (status != 0) {
    fail(r, status == GW_ENOTFOUND ? GW_RELAY_FAIL_UNKNOWN
                                   : GW_RELAY_FAIL_UNREACHABLE);
    return;
  }
  if (parse_addr(addr, &ss) != 0) {
    GW_LOGW("relay of %s: owner's address \"%s\" is no IP:port", r->sid, addr);
    fail(r, GW_RELAY_FAIL_UNREACHABLE);
    return;
  }
  if (uv_tcp_init(r->srv->loop, &r->tcp) != 0) {
    fail(r, GW_RELAY_FAIL_UNREACHABLE);
    return;
  }
  r->tcp.data = r;
  r->tcp_open = 1;
  r->refs++;
  uv_tcp_nodelay(&r->tcp, 1);
  r->state = R_CONNECT;
  r->conn.data = r;
  if (uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)&ss,
                     on_connect) != 0)
    fail(r, GW_RELAY_FAIL_UNREACHABLE);
}

static void on_peer(void *arg, int status, const char *addr) {
  gw__relay_t *r = arg;
  if (status == 0)
    cache_put(r->srv, r->sid, addr);
  if (r->state == R_LOOKUP)
    peer_connect(r, status, addr);
  relay_unref(r); /* the lookup's */
}

/* start sends |r| on its way: the owner's address, then the connection. */
static void start(gw__relay_t *r, uint64_t timeout_ms) {
  uv_timer_start(&r->timer, on_timer, timeout_ms, 0);
  gw__peer_cache_t *e = cache_find(r->srv, r->sid);
  if (e != NULL && e->expires > uv_now(r->srv->loop)) {
    r->srv->metrics.relay_cache_hits++;
    peer_connect(r, 0, e->addr);
    return;
  }
  r->refs++; /* the lookup's */
  char tag[GW_PEER_TAG_LEN + 1];
  memcpy(tag, r->sid, GW_PEER_TAG_LEN);
  tag[GW_PEER_TAG_LEN] = '\0';
  int rc = gw_adapter_peer_lookup(r->srv->adapter, tag, on_peer, r);
  if (rc != 0) {
    r->refs--;
    fail(r, rc == GW_ENOTFOUND ? GW_RELAY_FAIL_UNKNOWN
                               : GW_RELAY_FAIL_UNREACHABLE);
  }
}

/* ---- polling ------------------------------------------------------------- */

int gw__relay_poll(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                   const char *method, const char *sid) {
  int ok = gw__relay_ok(srv, wsi, sid);
  if (ok < 0) /* over --max-relays, or draining: try another */
    return gw__http_reply(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
                          "application/json", E_BUSY, strlen(E_BUSY), 1);
  if (ok == 0)
    return gw__http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
                          E_SID_UNKNOWN, strlen(E_SID_UNKNOWN), 1);
  int get = strcmp(method, "GET") == 0;
  if (!get && strcmp(method, "POST") != 0)
    return gw__http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
                          E_BAD_REQUEST, strlen(E_BAD_REQUEST), 1);
  uint64_t clen = 0;
  if (!get && gw__http_content_length(wsi, &clen) != 0) {
    gw__http_reply(wsi, HTTP_STATUS_LENGTH_REQUIRED, "application/json",
                   E_BAD_REQUEST, strlen(E_BAD_REQUEST), 1);
    return -1; /* an unframed body follows (gw_poll.c) */
  }
  if (!get && clen > srv->cfg->max_payload) {
    /* Refused here on its header, as the owner would. The owner's session
     * ends at its ping timeout: its client gets no more answers. */
    srv->metrics.limit_hits[GW_LIMIT_FRAME_SIZE]++;
    pss->post_fail = 1; /* gw_poll.c drops the body, then answers 413 */
    return 0;
  }
  gw__relay_t *r = relay_new(srv, wsi, GW_RELAY_POLL, sid);
  if (r == NULL)
    return -1;
  pss->kind = PSS_RELAY;
  pss->relay = r;
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  if (get) {
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "GET /socket.io/?EIO=4&transport=polling&sid=%s "
                     "HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
                     "X-Gw-Relay: 1\r\n\r\n",
                     sid);
    r->out = malloc((size_t)n);
    if (r->out == NULL)
      return -1; /* lws closes; gw__relay_closed frees */
    memcpy(r->out, head, (size_t)n);
    r->out_len = (size_t)n;
    /* The owner holds a long-poll until it has something: at most until
     * the next ping. */
    start(r, srv->cfg->relay_timeout_ms + srv->cfg->ping_interval_ms);
  } else {
    /* A POST starts once its body is in, which must not take longer. */
    uv_timer_start(&r->timer, on_timer, srv->cfg->relay_timeout_ms, 0);
  }
  return 0;
}

int gw__relay_body(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                   const char *in, size_t len) {
  (void)wsi;
  if (len > srv->cfg->max_payload - pss->body_len) {
    srv->metrics.limit_hits[GW_LIMIT_FRAME_SIZE]++;
    return -1; /* gw__relay_closed frees the relay */
  }
  return gw__pss_append(pss, in, len);
}

int gw__relay_body_done(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  gw__relay_t *r = pss->relay;
  /* The client's Content-Type goes along: the owner refuses binary. */
  char ctype[128] = "text/plain;charset=UTF-8";
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
      lws_hdr_copy(wsi, ctype, sizeof(ctype), WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
    snprintf(ctype, sizeof(ctype), "application/octet-stream");
  for (char *c = ctype; *c; c++)
    if ((unsigned char)*c < 0x20)
      *c = ' '; /* no header injection */
  char head[448];
  int n = snprintf(head, sizeof(head),
                   "POST /socket.io/?EIO=4&transport=polling&sid=%s "
                   "HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
                   "X-Gw-Relay: 1\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   r->sid, ctype, pss->body_len);
  r->out = malloc((size_t)n + pss->body_len);
  if (r->out == NULL)
    return -1;
  memcpy(r->out, head, (size_t)n);
  if (pss->body_len > 0)
    memcpy(r->out + n, pss->body, pss->body_len);
  r->out_len = (size_t)n + pss->body_len;
  free(pss->body);
  pss->body = NULL;
  pss->body_len = 0;
  start(r, srv->cfg->relay_timeout_ms);
  return 0;
}

/* ---- WebSocket ----------------------------------------------------------- */

int gw__relay_ok(gw_server_t *srv, struct lws *wsi, const char *sid) {
  /* One instance (no Redis, no peer registry) relays nowhere; a relayed
   * request is never relayed again. */
  if (srv->cfg->max_relays == 0 || srv->cfg->redis_url == NULL ||
      sid[0] == '\0' || memcmp(sid, srv->peer_tag, GW_PEER_TAG_LEN) == 0 ||
      lws_hdr_custom_length(wsi, "x-gw-relay:", 11) > 0)
    return 0;
  if (srv->state != ST_RUNNING)
    return -1; /* draining: not counted */
  if (srv->relays >= srv->cfg->max_relays) {
    GW_LOGD("relay refused: --max-relays (%llu) in flight",
            (unsigned long long)srv->cfg->max_relays);
    srv->metrics.relay_failures[GW_RELAY_FAIL_LIMIT]++;
    return -1;
  }
  return 1;
}

int gw__relay_ws_start(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                       const char *sid) {
  if (gw__relay_ok(srv, wsi, sid) <= 0)
    return -1;
  gw__relay_t *r = relay_new(srv, wsi, GW_RELAY_WEBSOCKET, sid);
  if (r == NULL)
    return -1;
  pss->kind = PSS_RELAY;
  pss->relay = r;
  char head[512];
  uint8_t key[16];
  lws_get_random(lws_get_context(wsi), key, sizeof(key));
  lws_get_random(lws_get_context(wsi), r->mask, sizeof(r->mask));
  char key64[32];
  lws_b64_encode_string((const char *)key, sizeof(key), key64, sizeof(key64));
  int n = snprintf(head, sizeof(head),
                   "GET /socket.io/?EIO=4&transport=websocket&sid=%s "
                   "HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\nX-Gw-Relay: 1\r\n\r\n",
                   sid, key64);
  r->out = malloc((size_t)n);
  if (r->out == NULL)
    return -1;
  memcpy(r->out, head, (size_t)n);
  r->out_len = (size_t)n;
  lws_rx_flow_control(wsi, 0); /* until the owner has accepted */
  r->in_lws = 1;
  start(r, srv->cfg->relay_timeout_ms);
  r->in_lws = 0;
  return r->state == R_FAILED ? -1 : 0; /* -1: lws closes it */
}

static void on_ws_written(uv_write_t *w, int status) {
  gw__relay_t *r = w->data;
  free(((char **)(w + 1))[0]);
  free(w);
  if (status < 0 && status != UV_ECANCELED && r->state == R_UP) {
    r->state = R_DONE;
    stop_io(r);
    kill_client(r, LWS_CLOSE_STATUS_GOINGAWAY);
  }
}

/* forward writes one whole client message to the owner, as a masked frame
 * (masked while it is copied into the write buffer). */
static int forward(gw__relay_t *r, const char *msg, size_t len) {
  if (r->state != R_UP)
    return -1;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&r->tcp) >
      r->srv->cfg->queue_bytes)
    return -1; /* the owner does not keep up: cut */
  uv_write_t *w = malloc(sizeof(*w) + sizeof(char *));
  char *buf = malloc(GW_WSFRAME_MAX_HEADER + len);
  if (w == NULL || buf == NULL) {
    free(w);
    free(buf);
    return -1;
  }
  size_t hl =
      gw_wsframe_header((uint8_t *)buf, 1, GW_WSFRAME_TEXT, len, r->mask);
  memcpy(buf + hl, msg, len);
  gw_wsframe_unmask((uint8_t *)buf + hl, len, r->mask, 0);
  ((char **)(w + 1))[0] = buf;
  w->data = r;
  uv_buf_t b = uv_buf_init(buf, (unsigned)(hl + len));
  if (uv_write(w, (uv_stream_t *)&r->tcp, &b, 1, on_ws_written) != 0) {
    free(w);
    free(buf);
    return -1;
  }
  return 0;
}

int gw__relay_ws_receive(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                         const char *in, size_t len) {
  gw__relay_t *r = pss->relay;
  if (r == NULL || lws_frame_is_binary(wsi))
    return -1;
  if (pss->body_len + len > srv->cfg->max_payload) {
    srv->metrics.limit_hits[GW_LIMIT_FRAME_SIZE]++;
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
    return -1;
  }
  if (pss->body == NULL && lws_is_first_fragment(wsi) &&
      lws_is_final_fragment(wsi))
    return forward(r, in, len);
  if (gw__pss_append(pss, in, len) != 0)
    return -1;
  if (!lws_is_final_fragment(wsi))
    return 0;
  int rc = forward(r, pss->body, pss->body_len);
  free(pss->body);
  pss->body = NULL;
  pss->body_len = 0;
  return rc;
}

/* ---- the client side ------------------------------------------------------
 */

int gw__relay_writeable(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  gw__relay_t *r = pss->relay;
  if (r == NULL)
    return 0;
  if (r->kind == GW_RELAY_POLL) {
    if (r->state != R_ANSWER && r->state != R_FAILED)
      return 0;
    /* Detach first: completing the transaction may free |pss| (lws drops
     * the protocol's data); our hold keeps the answer until it is sent. */
    r->refs++;
    detach(r, pss);
    int rc = gw__http_reply(wsi, r->status, r->ctype, r->body, r->body_len, 1);
    relay_unref(r);
    return rc;
  }
  return gw__ws_drain(srv, wsi, &r->q);
}

void gw__relay_closed(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  (void)srv;
  (void)wsi;
  gw__relay_t *r = pss->relay;
  if (r != NULL)
    detach(r, pss);
  free(pss->body);
  pss->body = NULL;
  pss->body_len = 0;
}

void gw__relay_drain(gw_server_t *srv) {
  gw_list_t *it, *next;
  for (it = srv->relay_list.next; it != &srv->relay_list; it = next) {
    next = it->next;
    gw__relay_t *r = GW_LIST_DATA(it, gw__relay_t, link);
    if (r->kind == GW_RELAY_WEBSOCKET && r->wsi != NULL && r->state != R_DONE) {
      r->state = R_DONE;
      stop_io(r);
      kill_client(r, LWS_CLOSE_STATUS_GOINGAWAY); /* may detach now */
    }
  }
}
