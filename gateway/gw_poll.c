/* SPDX-License-Identifier: MIT */
/* gw_poll.c: the HTTP long-polling transport of Engine.IO v4
 * (gw_server_int.h), as the engine.io 6.x server speaks it:
 *   GET  without sid  opens a session: `0{"sid",...,"upgrades":["websocket"]}`
 *   GET  with sid     a long-poll: the queued packets joined by 0x1e, or it
 *                     waits (parked) until there are some
 *   POST with sid     packets joined by 0x1e, answered `ok`
 * One GET and one POST at a time per session: an overlapping one closes the
 * session (the parked GET ends with `1`), as engine.io does. A session whose
 * client stops polling misses its pong and ends at the ping timeout. After
 * an upgrade (gw_ws.c) the session's requests are refused (transport
 * mismatch). A request for a sid another instance issued is relayed there
 * (gw_relay.c). */
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "gw_check.h"
#include "gw_eio.h"
#include "gw_log.h"
#include "gw_payload.h"
#include "gw_server_int.h"

#define E_SID_UNKNOWN "{\"code\":1,\"message\":\"Session ID unknown\"}"
#define E_HANDSHAKE   "{\"code\":2,\"message\":\"Bad handshake method\"}"
#define E_BAD_REQUEST "{\"code\":3,\"message\":\"Bad request\"}"
#define E_FORBIDDEN   "{\"code\":4,\"message\":\"Forbidden\"}"

#define GET_CTYPE  "text/plain; charset=UTF-8"
#define POST_CTYPE "text/html"

static int reply_json(struct lws *wsi, unsigned status, const char *body) {
  return gw__http_reply(wsi, status, "application/json", body, strlen(body), 1);
}

/* answer_get answers a GET of |s| now: what is queued, joined by 0x1e, then
 * `1` if the session was closed by us (`6` if by the client), or a noop `6`
 * when there is nothing (an upgrade is under way or done). Returns what the
 * callback returns. */
static int answer_get(gw_server_t *srv, struct lws *wsi, gw_session_t *s) {
  int moved = s->transport != GW__T_POLLING && !s->ended;
  size_t n = 0, len = 0;
  if (!moved) {
    /* The queue's frames, each followed by a separator but the last. */
    n = gw_outq_len(&s->q);
    len = gw_outq_bytes(&s->q) + (n > 0 ? n - 1 : 0);
  }
  int bye = s->ended;
  size_t total = len + (bye ? (n > 0 ? 2 : 1) : 0);
  if (total == 0)
    total = 1; /* the noop */
  unsigned char *buf = malloc(GW__HTTP_HEADROOM + total);
  if (buf == NULL)
    return -1;
  unsigned char *p = buf + GW__HTTP_HEADROOM;
  for (size_t i = 0; i < n; i++) {
    gw_frame_t *f = gw_outq_peek(&s->q);
    if (i > 0)
      *p++ = 0x1e;
    memcpy(p, gw_frame_data(f), f->len);
    p += f->len;
    gw__count_out(srv, f);
    gw_outq_pop(&s->q);
  }
  if (bye) {
    if (n > 0)
      *p++ = 0x1e;
    *p++ = s->close_how == CLOSE_NORMAL ? '6' : '1';
  } else if (n == 0) {
    *p++ = '6';
  }
  GW_CHECK((size_t)(p - (buf + GW__HTTP_HEADROOM)) == total);
  return gw__http_reply_buf(wsi, HTTP_STATUS_OK, GET_CTYPE, buf, total, 1);
}

/* unpark forgets the request |pss| had parked on its session. */
static void unpark(gw__pss_t *pss, struct lws *wsi) {
  gw_session_t *s = pss->s;
  if (pss->kind == PSS_GET && s->get == wsi)
    s->get = NULL;
  if (pss->kind == PSS_POST && s->post == wsi) {
    s->post = NULL;
    gw_list_remove(&s->post_link);
  }
  pss->kind = PSS_NONE;
  pss->s = NULL;
  free(pss->body);
  pss->body = NULL;
  pss->body_len = 0;
  gw__session_release(s);
}

/* park keeps the request on |wsi| for |s| (a hold on it) until answered. */
static void park(gw__pss_t *pss, struct lws *wsi, gw_session_t *s, int kind) {
  gw__session_hold(s);
  pss->s = s;
  pss->kind = (uint8_t)kind;
  if (kind == PSS_GET) {
    s->get = wsi;
    /* Our own clock bounds the wait (the next ping, or the ping timeout),
     * not lws's idle timeout. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  } else {
    /* lws re-arms its idle timeout on every piece of a body: a body that
     * trickles in would never end. Ours is absolute. */
    s->post = wsi;
    s->post_due = uv_now(s->srv->loop) + s->srv->cfg->request_timeout_ms;
    gw_list_push_back(&s->srv->posts, &s->post_link);
  }
}

void gw__poll_expire(gw_server_t *srv, uint64_t now) {
  gw_list_t *h;
  while ((h = gw_list_head(&srv->posts)) != NULL) {
    gw_session_t *s = GW_LIST_DATA(h, gw_session_t, post_link);
    if (s->post_due > now)
      break;
    gw_list_remove(&s->post_link);
    srv->metrics.limit_hits[GW_LIMIT_REQUEST_TIME]++;
    GW_LOGD("socket %s: POST body not in after --request-timeout", s->eio_sid);
    /* Runs gw__poll_closed (which closes the session) before it returns. */
    if (s->post != NULL)
      gw__ws_kill(s->post, 0);
  }
}

static int handshake(gw_server_t *srv, struct lws *wsi, const char *method) {
  if (strcmp(method, "GET") != 0)
    return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_HANDSHAKE);
  const char *reason, *body;
  int status = gw__http_admit(srv, wsi, &reason, &body);
  if (status != 0)
    return reply_json(wsi, (unsigned)status, body);
  gw_session_t *s =
      gw__session_new(srv, GW__T_POLLING, NULL, gw__ip_acquire(srv, wsi));
  if (s == NULL)
    return -1;
  GW_LOGD("socket %s: opened by polling", s->eio_sid);
  return answer_get(srv, wsi, s); /* the open packet */
}

/* content_type_is says whether the request's Content-Type starts with
 * |want|. */
static int content_type_is(struct lws *wsi, const char *want) {
  char ct[128];
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0 ||
      lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
    return 0;
  return strncmp(ct, want, strlen(want)) == 0;
}

int gw__poll_request(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                     const char *method, const struct gw_eio_query *q) {
  if (!gw__http_origin_ok(srv, wsi)) {
    srv->metrics.rejected_connections++;
    return gw__http_reply(wsi, HTTP_STATUS_FORBIDDEN, "application/json",
                          E_FORBIDDEN, strlen(E_FORBIDDEN), 0);
  }
  const char *sid = gw_eio_query_sid(q);
  if (sid == NULL)
    return handshake(srv, wsi, method);
  gw_session_t *s = sid[0] ? gw__session_find(srv, sid) : NULL;
  if (s == NULL && sid[0] && memcmp(sid, srv->peer_tag, GW_PEER_TAG_LEN) != 0)
    return gw__relay_poll(srv, wsi, pss, method, sid);
  if (s == NULL || s->closing)
    return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_SID_UNKNOWN);
  if (s->transport != GW__T_POLLING) /* upgraded: transport mismatch */
    return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_BAD_REQUEST);
  if (strcmp(method, "GET") == 0) {
    if (s->get != NULL) {
      /* Two long-polls at once: engine.io closes the session. */
      srv->metrics.protocol_errors++;
      gw__session_close(s, CLOSE_PROTOCOL, "overlapping GET");
      return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_BAD_REQUEST);
    }
    if (gw_outq_len(&s->q) > 0 || s->upgrading)
      return answer_get(srv, wsi, s);
    park(pss, wsi, s, PSS_GET);
    return 0;
  }
  if (strcmp(method, "POST") != 0)
    return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_BAD_REQUEST);
  if (s->post != NULL || content_type_is(wsi, "application/octet-stream")) {
    /* Two POSTs at once, or binary (v4 has none over polling). */
    srv->metrics.protocol_errors++;
    gw__session_close(s, CLOSE_PROTOCOL,
                      s->post ? "overlapping POST" : "binary POST");
    return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_BAD_REQUEST);
  }
  uint64_t clen;
  if (gw__http_content_length(wsi, &clen) != 0) {
    /* No Content-Length (a chunked body): lws 4.1.6 reads request bodies
     * by their length only. Browsers and Socket.IO clients send one. */
    gw__http_reply(wsi, HTTP_STATUS_LENGTH_REQUIRED, "application/json",
                   E_BAD_REQUEST, strlen(E_BAD_REQUEST), 1);
    return -1; /* what follows is a body we cannot frame: close */
  }
  if (clen == 0) {
    /* An empty payload decodes to a parse error: engine.io closes. lws
     * would not report the end of an empty body. */
    srv->metrics.protocol_errors++;
    gw__session_close(s, CLOSE_PROTOCOL, "empty POST");
    return reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_BAD_REQUEST);
  }
  if (clen > srv->cfg->max_payload) {
    /* Refused on its header, before a byte of it is read. */
    srv->metrics.limit_hits[GW_LIMIT_FRAME_SIZE]++;
    gw__session_close(s, CLOSE_PROTOCOL, "POST too large");
    /* The body is read and dropped, then answered 413: closing now would
     * make the client fail writing it instead of reading the answer. */
    pss->post_fail = 1;
    return 0;
  }
  park(pss, wsi, s, PSS_POST);
  return 0;
}

int gw__poll_body(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                  const char *in, size_t len) {
  if (pss == NULL)
    return -1;
  if (pss->kind == PSS_RELAY)
    return gw__relay_body(srv, wsi, pss, in, len);
  if (pss->kind != PSS_POST)
    return 0; /* a refused POST's body (post_fail): dropped */
  if (len > srv->cfg->max_payload - pss->body_len) {
    /* A chunked body beyond --max-payload: cut. */
    srv->metrics.limit_hits[GW_LIMIT_FRAME_SIZE]++;
    gw__session_close(pss->s, CLOSE_PROTOCOL, "POST too large");
    unpark(pss, wsi);
    return -1;
  }
  return gw__pss_append(pss, in, len);
}

/* post_packets hands the packets of a POST body to the session. Returns
 * CLOSE_NONE, or how the session is to close. */
static gw__close_t post_packets(gw_session_t *s, const char *body, size_t len) {
  if (!gw_utf8_valid(body, len))
    return CLOSE_PROTOCOL;
  gw_payload_iter_t it;
  gw_payload_iter_init(&it, body, len);
  const char *pkt;
  size_t plen;
  int rc;
  while ((rc = gw_payload_next(&it, &pkt, &plen)) == 1) {
    if (pkt[0] == 'b')
      return CLOSE_PROTOCOL; /* base64 binary: no binary in this chat */
    gw__close_t c = gw__session_packet(s, pkt, plen);
    if (c != CLOSE_NONE)
      return c;
    if (s->closing || s->ended)
      return CLOSE_NONE; /* closed by the packet (e.g. attach failed) */
  }
  return rc == 0 ? CLOSE_NONE : CLOSE_PROTOCOL;
}

int gw__poll_body_done(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  if (pss == NULL)
    return -1;
  if (pss->kind == PSS_RELAY)
    return gw__relay_body_done(srv, wsi, pss);
  if (pss->post_fail) {
    pss->post_fail = 0;
    return gw__http_reply(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "text/plain",
                          "payload too large\n", 18, 1);
  }
  if (pss->kind != PSS_POST)
    return 0;
  gw_session_t *s = pss->s;
  gw__session_hold(s); /* across unpark, while it handles the packets */
  char *body = pss->body;
  size_t len = pss->body_len;
  pss->body = NULL;
  unpark(pss, wsi);
  int rc;
  if (s->ended || s->closing || s->transport != GW__T_POLLING) {
    rc = reply_json(wsi, HTTP_STATUS_BAD_REQUEST,
                    s->transport != GW__T_POLLING && !s->ended ? E_BAD_REQUEST
                                                               : E_SID_UNKNOWN);
  } else {
    gw__close_t c = post_packets(s, body ? body : "", len);
    if (c == CLOSE_PROTOCOL) {
      srv->metrics.protocol_errors++;
      GW_LOGD("socket %s: malformed POST, closing", s->eio_sid);
      gw__session_close(s, CLOSE_PROTOCOL, "malformed packet");
      rc = reply_json(wsi, HTTP_STATUS_BAD_REQUEST, E_BAD_REQUEST);
    } else {
      if (c != CLOSE_NONE)
        gw__session_close(s, c, "client close");
      rc = gw__http_reply(wsi, HTTP_STATUS_OK, POST_CTYPE, "ok", 2, 1);
    }
  }
  free(body);
  gw__session_release(s);
  return rc;
}

int gw__poll_writeable(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  if (pss->kind == PSS_RELAY)
    return gw__relay_writeable(srv, wsi, pss);
  if (pss->kind != PSS_GET)
    return 0;
  gw_session_t *s = pss->s;
  gw__session_hold(s);
  unpark(pss, wsi);
  int rc = answer_get(srv, wsi, s);
  gw__session_release(s);
  return rc;
}

void gw__poll_closed(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  if (pss->kind == PSS_RELAY)
    gw__relay_closed(srv, wsi, pss);
  else if ((pss->kind == PSS_GET || pss->kind == PSS_POST) && pss->s != NULL) {
    /* The request's connection closed before its answer: the transport is
     * dead, as engine.io takes it ("poll connection closed
     * prematurely"). */
    gw__session_close(pss->s, CLOSE_DROP, "poll connection closed");
    unpark(pss, wsi);
  }
  free(pss->body);
  pss->body = NULL;
  pss->body_len = 0;
  pss->kind = PSS_NONE;
}

int gw__poll_send(gw_session_t *s, gw_frame_t *f) {
  gw_server_t *srv = s->srv;
  uint32_t was = gw_outq_len(&s->q);
  if (gw_outq_push(&s->q, f) != 0) {
    srv->metrics.slow_readers_dropped++;
    srv->metrics.limit_hits[GW_LIMIT_QUEUE]++;
    GW_LOGI("socket %s: outbound queue full (%u frames, %zu bytes): "
            "dropping slow reader",
            s->base.sid[0] ? s->base.sid : s->eio_sid, gw_outq_len(&s->q),
            gw_outq_bytes(&s->q));
    gw__session_close(s, CLOSE_DROP, "slow reader");
    return GW_EFULL;
  }
  if (was == 0 && s->get != NULL)
    lws_callback_on_writable(s->get);
  return 0;
}

void gw__poll_release(gw_session_t *s) {
  if (s->get != NULL)
    lws_callback_on_writable(s->get);
}

void gw__poll_close_now(gw_session_t *s) {
  if (s->probe != NULL)
    gw__ws_kill(s->probe, 0);
  if (s->ended)
    return; /* the probe's close ended nothing: |s| was ended already */
  /* The parked GET, if any, takes what is queued and the goodbye; a client
   * that is not polling gets "Session ID unknown" on its next request. */
  if (s->get != NULL)
    lws_callback_on_writable(s->get);
  gw__session_end(s);
}
