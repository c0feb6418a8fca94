/* SPDX-License-Identifier: MIT */
/* gw_ws.c: the WebSocket transport (gw_server_int.h) and the lws protocol
 * callback that routes every lws event: admission of an upgrade, the life
 * of a WebSocket (established, receive, peer close, writeable, closed), its
 * send path, and the probe that upgrades a polling session (`2probe`,
 * `3probe`, `5`). The session is gw_session.c's, HTTP gw_http.c's, polling
 * gw_poll.c's. */
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

/* ---- closing ------------------------------------------------------------ */

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

void gw__ws_kill(struct lws *wsi, uint16_t code) {
  if (code)
    lws_close_reason(wsi, (enum lws_close_status)code, NULL, 0);
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void gw__ws_close_now(gw_session_t *s) {
  if (s->probe != NULL)
    gw__ws_kill(s->probe, 0);
  if (s->wsi != NULL)
    gw__ws_kill(s->wsi, close_code(s->close_how));
}

void gw__ws_probe_expired(gw_session_t *s) {
  if (s->probe != NULL)
    gw__ws_kill(s->probe, LWS_CLOSE_STATUS_POLICY_VIOLATION);
}

int gw__ws_send(gw_session_t *s, gw_frame_t *f) {
  /* A close length means lws sent a close frame of its own (a protocol error
   * it caught, e.g. RSV bits) and awaits the answer, up to 5 s: no data
   * frame may follow it (RFC 6455 5.5.1), and lws 4.1.6 would write one. */
  if (s->wsi == NULL || lws_get_close_length(s->wsi) > 0)
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
      gw__session_close(s, CLOSE_DROP, "write failed");
      return GW_ECLOSED;
    }
    gw__count_out(s->srv, f);
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
    gw__session_close(s, CLOSE_DROP, "slow reader");
    return GW_EFULL;
  }
  if (was == 0)
    lws_callback_on_writable(s->wsi);
  return 0;
}

/* ---- lws callbacks: WebSocket ------------------------------------------ */

static gw_server_t *server_of(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

#define BAD_REQUEST "{\"code\":3,\"message\":\"Bad request\"}"
#define SID_UNKNOWN "{\"code\":1,\"message\":\"Session ID unknown\"}"

/* filter_upgrade decides on a WebSocket upgrade before lws answers it:
 * returns 0 to go on, 1 to refuse (answered here), as the callback does. */
static int filter_upgrade(gw_server_t *srv, struct lws *wsi) {
  char path[128];
  if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
    path[0] = '\0';
  GW_LOGD("upgrade request for %s", path);
  if (strcmp(path, "/socket.io/") != 0 && strcmp(path, "/socket.io") != 0) {
    gw__http_raw_error(wsi, 404, "Not Found", BAD_REQUEST);
    return 1;
  }
  gw_eio_query_t q;
  const char *err;
  if (gw__http_query(wsi, &q) != 0) {
    gw__http_raw_error(wsi, 400, "Bad Request", BAD_REQUEST);
    return 1;
  }
  if ((err = gw_eio_query_error(&q)) != NULL) {
    gw__http_raw_error(wsi, 400, "Bad Request", err);
    return 1;
  }
  if (gw_eio_query_transport(&q) != GW_EIO_T_WEBSOCKET) {
    /* transport=polling with an Upgrade: polling handles no upgrade. */
    gw__http_raw_error(wsi, 400, "Bad Request", BAD_REQUEST);
    return 1;
  }
  if (!gw__http_origin_ok(srv, wsi)) {
    /* Cross-site WebSocket hijacking: a page elsewhere must not ride the
     * user's browser into the chat. */
    srv->metrics.rejected_connections++;
    gw__http_raw_error(wsi, 403, "Forbidden",
                       "{\"code\":4,\"message\":\"Forbidden\"}");
    return 1;
  }
  const char *sid = gw_eio_query_sid(&q);
  if (sid != NULL) {
    /* An upgrade of a polling session: only of a live one of ours that is
     * on polling with no probe yet (engine.io refuses the rest). */
    gw_session_t *s = sid[0] ? gw__session_find(srv, sid) : NULL;
    int relay = s == NULL ? gw__relay_ok(srv, wsi, sid) : 0;
    if (relay > 0)
      return 0; /* another instance's: relayed there once established */
    if (relay < 0) {
      gw__http_raw_error(wsi, 503, "Service Unavailable",
                         "{\"code\":3,\"message\":\"Too many relays\"}");
      return 1;
    }
    if (s == NULL || s->closing) {
      gw__http_raw_error(wsi, 400, "Bad Request", SID_UNKNOWN);
      return 1;
    }
    if (s->transport != GW__T_POLLING || s->probe != NULL) {
      gw__http_raw_error(wsi, 400, "Bad Request", BAD_REQUEST);
      return 1;
    }
    return 0;
  }
  const char *reason, *body;
  int status = gw__http_admit(srv, wsi, &reason, &body);
  if (status != 0) {
    gw__http_raw_error(wsi, status, reason, body);
    return 1;
  }
  return 0;
}

static int ws_established(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  memset(pss, 0, sizeof(*pss));
  gw_eio_query_t q;
  const char *sid = NULL;
  if (gw__http_query(wsi, &q) == 0)
    sid = gw_eio_query_sid(&q);
  if (sid != NULL) {
    /* The probe of an upgrade (checked by filter_upgrade just before). */
    gw_session_t *s = sid[0] ? gw__session_find(srv, sid) : NULL;
    if (s == NULL)
      return gw__relay_ws_start(srv, wsi, pss, sid);
    if (s->closing || s->transport != GW__T_POLLING || s->probe != NULL)
      return -1;
    gw__session_hold(s);
    s->probe = wsi;
    s->upgrade_due = uv_now(srv->loop) + GW__UPGRADE_TIMEOUT_MS;
    gw_list_push_back(&srv->upgrades, &s->up_link);
    pss->kind = PSS_PROBE;
    pss->s = s;
    return 0;
  }
  gw_session_t *s =
      gw__session_new(srv, GW__T_WEBSOCKET, wsi, gw__ip_acquire(srv, wsi));
  if (s == NULL)
    return -1;
  pss->kind = PSS_WS;
  pss->s = s;
  return 0;
}

static void ws_closed(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  if (pss->kind == PSS_RELAY) {
    gw__relay_closed(srv, wsi, pss);
    return;
  }
  gw_session_t *s = pss->s;
  if (s == NULL)
    return;
  pss->s = NULL;
  if (pss->kind == PSS_PROBE) {
    /* The upgrade failed; the session goes on polling. */
    GW_CHECK(s->probe != NULL);
    s->probe = NULL;
    s->upgrading = 0;
    gw_list_remove(&s->up_link);
    gw__session_release(s);
    return;
  }
  s->wsi = NULL;
  if (!s->ended)
    gw__session_end(s);
}

/* probe_receive takes a packet of a WebSocket probing for an upgrade:
 * `2probe` is answered `3probe` and releases the parked GET; `5` moves the
 * session here. Anything else closes the probe (the session stays on
 * polling), as engine.io does. Returns what the callback returns. */
static int probe_receive(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                         const char *in, size_t len) {
  gw_session_t *s = pss->s;
  if (s->closing || !lws_is_first_fragment(wsi) ||
      !lws_is_final_fragment(wsi) || lws_frame_is_binary(wsi)) {
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
    return -1;
  }
  if (len == 6 && memcmp(in, "2probe", 6) == 0) {
    unsigned char buf[LWS_PRE + 6];
    memcpy(buf + LWS_PRE, "3probe", 6);
    if (lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_TEXT) < 0)
      return -1;
    s->upgrading = 1;
    gw__poll_release(s);
    return 0;
  }
  if (len == 1 && in[0] == '5' && s->upgrading) {
    gw__poll_release(s); /* a GET still parked gets a noop */
    gw__session_upgraded(s, wsi);
    pss->kind = PSS_WS;
    gw__session_release(s); /* the probe's hold: now the transport's */
    if (gw_outq_len(&s->q) > 0)
      lws_callback_on_writable(wsi);
    (void)srv;
    return 0;
  }
  GW_LOGD("socket %s: bad packet on the upgrade probe", s->eio_sid);
  lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
  return -1;
}

static int ws_receive(gw_server_t *srv, struct lws *wsi, gw_session_t *s,
                      const char *in, size_t len) {
  uint16_t close = 0;
  if (s->closing || s->ended)
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
static int ws_peer_close(gw_server_t *srv, struct lws *wsi, gw_session_t *s,
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

int gw__ws_drain(gw_server_t *srv, struct lws *wsi, gw_outq_t *q) {
  /* Several frames per callback while the kernel takes them: lws keeps a
   * partial write itself, and we stop there until it has drained. */
  for (int i = 0; i < WRITES_PER_CALLBACK; i++) {
    gw_frame_t *f = gw_outq_peek(q);
    if (f == NULL)
      break;
    if (lws_write(wsi, gw_frame_data(f), f->len, LWS_WRITE_TEXT) < 0)
      return -1;
    gw__count_out(srv, f);
    gw_outq_pop(q);
    if (lws_partial_buffered(wsi))
      break;
  }
  if (gw_outq_len(q) > 0)
    lws_callback_on_writable(wsi);
  return 0;
}

static int ws_writeable(gw_server_t *srv, struct lws *wsi, gw_session_t *s) {
  if (s->closing || s->ended || lws_get_close_length(wsi) > 0)
    return 0; /* the reaper and lws finish the close */
  return gw__ws_drain(srv, wsi, &s->q);
}

static int callback_chat(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len) {
  gw__pss_t *pss = user;
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
    gw__http_busy(wsi); /* an upgrade on a kept-alive connection */
    return filter_upgrade(server_of(wsi), wsi);
  case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
    return gw__http_filter(server_of(wsi), wsi, in);
  case LWS_CALLBACK_WSI_DESTROY:
    gw__http_destroyed(wsi);
    return 0;
  case LWS_CALLBACK_ESTABLISHED:
    return ws_established(server_of(wsi), wsi, pss);
  case LWS_CALLBACK_CLOSED:
    ws_closed(server_of(wsi), wsi, pss);
    return 0;
  case LWS_CALLBACK_RECEIVE:
    if (pss->kind == PSS_RELAY)
      return gw__relay_ws_receive(server_of(wsi), wsi, pss, in, len);
    if (pss->s == NULL)
      return -1;
    if (pss->kind == PSS_PROBE)
      return probe_receive(server_of(wsi), wsi, pss, in, len);
    return ws_receive(server_of(wsi), wsi, pss->s, in, len);
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    return ws_peer_close(server_of(wsi), wsi,
                         pss->kind == PSS_WS ? pss->s : NULL, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (pss->kind == PSS_RELAY)
      return gw__relay_writeable(server_of(wsi), wsi, pss);
    if (pss->s == NULL || pss->kind != PSS_WS)
      return 0;
    return ws_writeable(server_of(wsi), wsi, pss->s);
  /* HTTP: our endpoints and the polling transport. */
  case LWS_CALLBACK_HTTP:
    return gw__http_request(server_of(wsi), wsi, pss);
  case LWS_CALLBACK_HTTP_BODY:
    return gw__poll_body(server_of(wsi), wsi, pss, in, len);
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    return gw__poll_body_done(server_of(wsi), wsi, pss);
  case LWS_CALLBACK_HTTP_WRITEABLE:
    if (pss != NULL && pss->kind != PSS_NONE)
      return gw__poll_writeable(server_of(wsi), wsi, pss);
    break;
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (pss != NULL)
      gw__poll_closed(server_of(wsi), wsi, pss);
    break;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* lws keeps a pointer to the protocol table: file scope, const. */
static const struct lws_protocols protocols[] = {
    {GW__PROTOCOL_NAME, callback_chat, sizeof(gw__pss_t), RX_BUFFER_SIZE, 0,
     NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *gw__ws_protocols(void) {
  return protocols;
}
