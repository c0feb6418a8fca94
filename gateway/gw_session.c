/* SPDX-License-Identifier: MIT */
/* gw_session.c: the Engine.IO v4 / Socket.IO v5 session of a connection
 * (gw_server_int.h): the open packet, CONNECT to namespace `/` with the JWT
 * check, pongs, and EVENTs handed to the chat. Transport-free: no
 * libwebsockets here. It writes through the socket's ops (gw_socket.h) and
 * closes through gw__conn_close; a transport feeds it whole text packets
 * (gw__session_packet) and closes as the returned gw__close_t says. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "gw_check.h"
#include "gw_eio.h"
#include "gw_jwt.h"
#include "gw_log.h"
#include "gw_server_int.h"
#include "gw_sio.h"

/* send_owned sends |f| (stolen; NULL when its encoder ran out of memory:
 * nothing is sent). */
static void send_owned(gw_conn_t *s, gw_frame_t *f) {
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
    gw__conn_close(s, CLOSE_INTERNAL, "no random");
    return;
  }
  send_owned(s, gw_sio_connect_ok(s->base.sid));
  s->connected = 1;
  int rc = gw_adapter_attach(srv->adapter, s->base.sid, s);
  if (rc != 0) {
    GW_LOGW("socket %s: adapter attach failed: %s", s->base.sid,
            gw_strerror(rc));
    gw__conn_close(s, CLOSE_INTERNAL, "attach");
    return;
  }
  s->attached = 1;
  srv->metrics.connections++;
  srv->metrics.connections_total++;
  GW_LOGD("socket %s: connected (engine %s)", s->base.sid, s->eio_sid);
}

/* heartbeat_pong takes a pong: |s| waits for its next ping (gw_server.c's
 * tick sends pings and times out pongs). */
static void heartbeat_pong(gw_conn_t *s) {
  gw_server_t *srv = s->srv;
  if (!s->awaiting_pong)
    return;
  GW_CHECK(gw__linked(&s->ping_link)); /* in srv->pong_wait */
  s->awaiting_pong = 0;
  gw_list_remove(&s->ping_link);
  s->deadline = uv_now(srv->loop) + srv->cfg->ping_interval_ms;
  gw_list_push_back(&srv->ping_wait, &s->ping_link);
}

void gw__session_open(gw_conn_t *s) {
  const gw_config_t *cfg = s->srv->cfg;
  send_owned(s, gw_eio_open(s->eio_sid, cfg->ping_interval_ms,
                            cfg->ping_timeout_ms, cfg->max_payload));
}

gw__close_t gw__session_packet(gw_conn_t *s, const char *buf, size_t len) {
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
    if (pkt.sio_type == GW_SIO_CONNECT && !(root && s->connected))
      sio_connect(s, &pkt);
    else if (!root || !s->connected)
      close = CLOSE_PROTOCOL; /* invalid state */
    else if (pkt.sio_type == GW_SIO_EVENT)
      gw_chat_on_event(&s->srv->chat, &s->base, buf, len, &pkt);
    else if (pkt.sio_type == GW_SIO_DISCONNECT)
      close = CLOSE_NORMAL;
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
