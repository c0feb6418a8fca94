/* SPDX-License-Identifier: MIT */
/* gw_session.c: the Engine.IO v4 / Socket.IO v5 session of a connection
 * (gw_server_int.h): the open packet, CONNECT to namespace `/` with the JWT
 * check, pongs, and EVENTs handed to the chat. Transport-free: no
 * libwebsockets here. It writes through the socket's ops (gw_socket.h) and
 * closes through gw__session_close; a transport feeds it whole text packets
 * (gw__session_packet) and closes as the returned gw__close_t says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_check.h"
#include "gw_eio.h"
#include "gw_jwt.h"
#include "gw_log.h"
#include "gw_server_int.h"
#include "gw_sio.h"

/* ---- life ---------------------------------------------------------------- */

static void sio_detach(gw_session_t *s);

static void session_free(gw_session_t *s) {
  /* The transport is gone (gw__session_end) and so is every hold. */
  GW_CHECK(s->ended && s->wsi == NULL && s->get == NULL && s->post == NULL &&
           s->probe == NULL && !gw__linked(&s->link) &&
           !gw__linked(&s->ping_link) && !gw__linked(&s->kill_link) &&
           !gw__linked(&s->wait_link) && !gw__linked(&s->up_link) &&
           !gw__linked(&s->post_link));
  gw_outq_close(&s->q);
  gw_socket_fini(&s->base);
  free(s->rx);
  free(s);
}

void gw__session_hold(gw_session_t *s) {
  GW_CHECK(s->refs > 0); /* a hold on a freed session */
  s->refs++;
}

void gw__session_release(gw_session_t *s) {
  GW_CHECK(s->refs > 0);
  if (--s->refs == 0)
    session_free(s);
}

static void sess_hold(gw_socket_t *base) {
  gw__session_hold((gw_session_t *)base);
}

static void sess_release(gw_socket_t *base) {
  gw__session_release((gw_session_t *)base);
}

static int sess_alive(const gw_socket_t *base) {
  const gw_session_t *s = (const gw_session_t *)base;
  return !s->ended && !s->closing && !s->left;
}

static int sess_send(gw_socket_t *base, gw_frame_t *f) {
  gw_session_t *s = (gw_session_t *)base;
  if (s->ended || s->closing)
    return GW_ECLOSED;
  return s->transport == GW__T_WEBSOCKET ? gw__ws_send(s, f)
                                         : gw__poll_send(s, f);
}

/* What the chat may do with a session (gw_socket.h). */
static const gw_socket_ops_t session_ops = {
    .send = sess_send,
    .hold = sess_hold,
    .release = sess_release,
    .alive = sess_alive,
};

gw_session_t *gw__session_new(gw_server_t *srv, gw__transport_t transport,
                              struct lws *wsi, struct gw__ip_count *ip) {
  gw_session_t *s = calloc(1, sizeof(*s));
  char rnd[21];
  if (s == NULL || gw_eio_sid(rnd) != 0) {
    free(s);
    gw__ip_release(srv, ip);
    return NULL;
  }
  /* The sid names this instance (its peer tag first), so that another
   * instance can relay a request for it here (gw_poll.c). */
  memcpy(s->eio_sid, srv->peer_tag, GW_PEER_TAG_LEN);
  memcpy(s->eio_sid + GW_PEER_TAG_LEN, rnd, 20 - GW_PEER_TAG_LEN);
  s->eio_sid[20] = '\0';
  if (gw_map_put(&srv->sessions, s->eio_sid, s) != 0) {
    free(s);
    gw__ip_release(srv, ip);
    return NULL;
  }
  s->srv = srv;
  s->refs = 1; /* the transport's */
  s->transport = transport;
  s->ip = ip;
  if (transport == GW__T_WEBSOCKET)
    s->wsi = wsi;
  gw_outq_init(&s->q, (uint32_t)srv->cfg->queue_frames,
               (size_t)srv->cfg->queue_bytes);
  gw_socket_init(&s->base, &session_ops, &srv->chat);
  gw_list_push_back(&srv->sessions_list, &s->link);
  uint64_t now = uv_now(srv->loop);
  s->deadline = now + srv->cfg->ping_interval_ms;
  gw_list_push_back(&srv->ping_wait, &s->ping_link);
  s->connect_due = now + srv->cfg->connect_timeout_ms;
  gw_list_push_back(&srv->connect_wait, &s->wait_link);
  gw_list_init(&s->kill_link);
  gw_list_init(&s->up_link);
  gw_list_init(&s->post_link);
  srv->metrics.sessions[transport]++;
  const gw_config_t *cfg = srv->cfg;
  gw_frame_t *open =
      gw_eio_open(s->eio_sid, transport == GW__T_POLLING, cfg->ping_interval_ms,
                  cfg->ping_timeout_ms, cfg->max_payload);
  if (open != NULL) {
    sess_send(&s->base, open);
    gw_frame_unref(open);
  }
  return s;
}

gw_session_t *gw__session_find(gw_server_t *srv, const char *sid) {
  return gw_map_get(&srv->sessions, sid);
}

void gw__session_end(gw_session_t *s) {
  gw_server_t *srv = s->srv;
  GW_CHECK(!s->ended && gw__linked(&s->link));
  s->ended = 1;
  gw_map_del(&srv->sessions, s->eio_sid);
  gw_list_remove(&s->link);
  gw_list_remove(&s->ping_link);
  gw_list_remove(&s->kill_link);
  gw_list_remove(&s->wait_link);
  gw_list_remove(&s->up_link);
  GW_LOGD("socket %s: disconnected", s->base.sid[0] ? s->base.sid : s->eio_sid);
  srv->metrics.sessions[s->transport]--;
  gw__ip_release(srv, s->ip);
  s->ip = NULL;
  /* Leave effects for the others; nothing more reaches this session. */
  sio_detach(s);
  if (srv->state == ST_DRAINING)
    srv->drain_closed++;
  gw__session_release(s);
}

void gw__session_upgraded(gw_session_t *s, struct lws *wsi) {
  gw_server_t *srv = s->srv;
  GW_CHECK(s->transport == GW__T_POLLING && s->probe == wsi);
  srv->metrics.sessions[GW__T_POLLING]--;
  srv->metrics.sessions[GW__T_WEBSOCKET]++;
  srv->metrics.upgrades++;
  s->transport = GW__T_WEBSOCKET;
  s->upgrading = 0;
  s->probe = NULL;
  s->wsi = wsi;
  gw_list_remove(&s->up_link);
  GW_LOGD("socket %s: upgraded to WebSocket", s->eio_sid);
}

/* ---- closing ------------------------------------------------------------- */

/* Deliveries (inside adapter iterations) and timers may decide to close a
 * session, but the close itself detaches from the adapter: it must not run
 * under the caller's feet. So closes are queued and carried out by the
 * reaper, a zero-delay timer that runs at the top of the loop. */
static void on_reap(uv_timer_t *t) {
  gw_server_t *srv = t->data;
  gw_list_t *h;
  while ((h = gw_list_head(&srv->kills)) != NULL) {
    gw_session_t *s = GW_LIST_DATA(h, gw_session_t, kill_link);
    gw_list_remove(&s->kill_link);
    if (s->ended)
      continue;
    /* Either may end and free |s| before it returns. */
    if (s->transport == GW__T_WEBSOCKET)
      gw__ws_close_now(s);
    else
      gw__poll_close_now(s);
  }
}

void gw__session_close(gw_session_t *s, gw__close_t how, const char *why) {
  GW_CHECK(how != CLOSE_NONE);
  if (s->ended || s->closing)
    return;
  GW_LOGD("socket %s: closing (%s)", s->base.sid[0] ? s->base.sid : s->eio_sid,
          why);
  s->closing = 1;
  s->close_how = how;
  GW_CHECK(!gw__linked(&s->kill_link)); /* not closing: not queued */
  gw_list_push_back(&s->srv->kills, &s->kill_link);
  s->srv->reaper.data = s->srv;
  uv_timer_start(&s->srv->reaper, on_reap, 0, 0);
}

/* ---- Engine.IO / Socket.IO ---------------------------------------------- */

/* send_owned sends |f| (stolen; NULL when its encoder ran out of memory:
 * nothing is sent). */
static void send_owned(gw_session_t *s, gw_frame_t *f) {
  if (f != NULL) {
    gw_socket_send(&s->base, f);
    gw_frame_unref(f);
  }
}

/* sio_authenticate checks the CONNECT packet's auth object
 * (`40{"token":"<JWT>"}`, socket.io-client's `auth` option) against
 * --jwt-secret and keeps the token's `name` claim in the session. A name
 * claim that is no valid user name refuses the token: it could never join.
 * Returns 0 or a GW_JWT_E* code. */
static int sio_authenticate(gw_session_t *s, const gw_eio_pkt_t *pkt) {
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

/* sio_detach takes the session's Socket.IO socket out of the chat: the
 * adapter's leave effects follow, and nothing more is delivered to it. */
static void sio_detach(gw_session_t *s) {
  gw_server_t *srv = s->srv;
  if (!s->attached)
    return;
  s->attached = 0;
  srv->metrics.connections--;
  if (!srv->adapter_closed)
    gw_adapter_detach(srv->adapter, s->base.sid);
}

/* sio_disconnect takes a Socket.IO DISCONNECT of `/`: the socket leaves
 * the chat, and the Engine.IO session stays open for the client to close
 * or to CONNECT again, as socket.io does. */
static void sio_disconnect(gw_session_t *s) {
  GW_LOGD("socket %s: namespace left (engine %s)", s->base.sid, s->eio_sid);
  sio_detach(s);
  s->connected = 0;
  s->left = 1;
}

static void sio_connect(gw_session_t *s, const gw_eio_pkt_t *pkt) {
  gw_server_t *srv = s->srv;
  if (pkt->nsp_len != 1 || pkt->nsp[0] != '/') {
    /* Unknown namespace: refuse it, keep the connection (as Socket.IO).
     * The answer echoes at most 200 bytes of it, cut on a character
     * boundary (the packet is valid UTF-8: a cut inside a character would
     * make the answer an invalid text frame), and nothing from a NUL byte
     * on. */
    size_t nl = pkt->nsp_len > 200 ? 200 : pkt->nsp_len;
    if (nl < pkt->nsp_len)
      while (nl > 0 && ((unsigned char)pkt->nsp[nl] & 0xC0) == 0x80)
        nl--; /* back off the continuation bytes of a cut character */
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
     * connect timeout closes it. The reason stays in
     * the log: a client learns nothing about the key. */
    srv->metrics.rejected_connections++;
    srv->metrics.auth_failures++;
    GW_LOGD("socket %s: unauthorized: %s", s->eio_sid, gw_jwt_strerror(arc));
    send_owned(s, gw_sio_connect_error(NULL, 0, "unauthorized"));
    return;
  }
  if (gw_eio_sid(s->base.sid) != 0) {
    gw__session_close(s, CLOSE_INTERNAL, "no random");
    return;
  }
  send_owned(s, gw_sio_connect_ok(s->base.sid));
  s->connected = 1;
  gw_list_remove(&s->wait_link); /* no connect timeout any more */
  int rc = gw_adapter_attach(srv->adapter, s->base.sid, s);
  if (rc != 0) {
    GW_LOGW("socket %s: adapter attach failed: %s", s->base.sid,
            gw_strerror(rc));
    gw__session_close(s, CLOSE_INTERNAL, "attach");
    return;
  }
  s->attached = 1;
  srv->metrics.connections++;
  srv->metrics.connections_total++;
  GW_LOGD("socket %s: connected (engine %s)", s->base.sid, s->eio_sid);
}

/* heartbeat_pong takes a pong: |s| waits for its next ping (gw_server.c's
 * tick sends pings and times out pongs). */
static void heartbeat_pong(gw_session_t *s) {
  gw_server_t *srv = s->srv;
  if (!s->awaiting_pong)
    return;
  GW_CHECK(gw__linked(&s->ping_link)); /* in srv->pong_wait */
  s->awaiting_pong = 0;
  gw_list_remove(&s->ping_link);
  s->deadline = uv_now(srv->loop) + srv->cfg->ping_interval_ms;
  gw_list_push_back(&srv->ping_wait, &s->ping_link);
}

gw__close_t gw__session_packet(gw_session_t *s, const char *buf, size_t len) {
  gw_eio_pkt_t pkt;
  if (gw_eio_parse(buf, len, &pkt) != 0)
    return CLOSE_PROTOCOL;
  gw__close_t close = CLOSE_NONE;
  switch (pkt.eio_type) {
  case GW_EIO_PONG:
    heartbeat_pong(s);
    break;
  case GW_EIO_CLOSE:
    close = CLOSE_NORMAL;
    break;
  case GW_EIO_UPGRADE:
  case GW_EIO_NOOP:
    break;
  case GW_EIO_MESSAGE: {
    int root = pkt.nsp_len == 1 && pkt.nsp[0] == '/';
    if (pkt.sio_type == GW_SIO_CONNECT && root && s->left) {
      /* CONNECT again after a DISCONNECT: a fresh Socket.IO socket (new
       * sid, new chat state) on the same session. Not while a membership
       * change of the old one is in flight (its result would land in the
       * new state): then the session closes and the client reconnects. */
      if (s->base.sess.busy) {
        close = CLOSE_NORMAL;
      } else {
        gw_socket_fini(&s->base);
        gw_socket_init(&s->base, &session_ops, &s->srv->chat);
        s->left = 0;
        sio_connect(s, &pkt);
      }
    } else if (pkt.sio_type == GW_SIO_CONNECT && !(root && s->connected))
      sio_connect(s, &pkt);
    else if (!root || !s->connected)
      close = CLOSE_PROTOCOL; /* invalid state */
    else if (pkt.sio_type == GW_SIO_EVENT)
      gw_chat_on_event(&s->srv->chat, &s->base, buf, len, &pkt);
    else if (pkt.sio_type == GW_SIO_DISCONNECT)
      sio_disconnect(s);
    else if (pkt.sio_type != GW_SIO_ACK) /* acks: we never ask for any */
      close = CLOSE_PROTOCOL;
    break;
  }
  default: /* open or ping from a client: not in Engine.IO v4 */
    close = CLOSE_PROTOCOL;
    break;
  }
  gw_eio_pkt_clear(&pkt);
  return close;
}
