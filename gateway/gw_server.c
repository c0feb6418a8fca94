/* SPDX-License-Identifier: MIT */
/* gw_server.c: the server's lifecycle (gw_server.h): libwebsockets on the
 * caller's libuv loop, the adapter and the chat; the housekeeping tick (ping
 * and pong deadlines, loop lag); the drain and the shutdown sequence. The
 * WebSocket transport is gw_ws.c's, the Engine.IO/Socket.IO session
 * gw_session.c's, HTTP gw_http.c's (gw_server_int.h tells the split). */
#include "gw_server.h"

#include <stdint.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gw_check.h"
#include "gw_eio.h"
#include "gw_log.h"
#include "gw_server_int.h"
#include "gw_sio.h"

/* ---- timers, draining, shutdown ---------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

/* set_state takes the server one step further (ST_*, in order). */
static void set_state(gw_server_t *srv, int to) {
  GW_CHECK(to == srv->state + 1);
  srv->state = to;
}

static void finish(gw_server_t *srv) {
  set_state(srv, ST_DONE);
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
  GW_LIST_FOREACH(it, &srv->sessions_list) {
    gw_session_t *s = GW_LIST_DATA(it, gw_session_t, link);
    if (s->closing)
      started++;
  }
  started += srv->drain_closed;
  GW_LIST_FOREACH(it, &srv->sessions_list) {
    if (started >= due)
      break;
    gw_session_t *s = GW_LIST_DATA(it, gw_session_t, link);
    if (!s->closing) {
      gw__session_close(s, CLOSE_GOING_AWAY, "going away");
      started++;
    }
  }
  /* Relayed WebSockets belong to sessions elsewhere: their clients
   * reconnect, to another instance. */
  gw__relay_drain(srv);
  /* Backstop: a peer that never reads never takes its close frame; lws
   * drops such connections when the context is destroyed. */
  int late = elapsed > srv->drain_ms + 5000;
  if ((gw_list_empty(&srv->sessions_list) && srv->relays == 0) || late) {
    if (late)
      GW_LOGW("connections still open %llu ms after the drain began; "
              "dropping them",
              (unsigned long long)elapsed);
    GW_LOGI("all connections closed; leaving the cluster");
    set_state(srv, ST_ADAPTER_CLOSING);
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
    gw_session_t *s = GW_LIST_DATA(h, gw_session_t, ping_link);
    if (s->deadline > now)
      break;
    gw_list_remove(&s->ping_link);
    if (s->closing)
      continue; /* on its way out: neither pinged nor timed out */
    /* Every Engine.IO session is pinged, in a namespace or not. */
    s->awaiting_pong = 1;
    s->deadline = now + srv->cfg->ping_timeout_ms;
    gw_list_push_back(&srv->pong_wait, &s->ping_link);
    gw_socket_send(&s->base, srv->ping);
  }
  while ((h = gw_list_head(&srv->pong_wait)) != NULL) {
    gw_session_t *s = GW_LIST_DATA(h, gw_session_t, ping_link);
    if (s->deadline > now)
      break;
    GW_CHECK(s->awaiting_pong);
    gw_list_remove(&s->ping_link);
    s->awaiting_pong = 0;
    if (s->closing)
      continue; /* already on its way out: not a timeout */
    srv->metrics.ping_timeouts++;
    gw__session_close(s, CLOSE_DROP, "ping timeout");
  }
  while ((h = gw_list_head(&srv->connect_wait)) != NULL) {
    gw_session_t *s = GW_LIST_DATA(h, gw_session_t, wait_link);
    if (s->connect_due > now)
      break;
    gw_list_remove(&s->wait_link);
    if (s->closing || s->connected)
      continue;
    /* An Engine.IO session that joined no namespace within the connect
     * timeout is not a Socket.IO client (Socket.IO's connectTimeout). */
    srv->metrics.limit_hits[GW_LIMIT_NO_NAMESPACE]++;
    gw__session_close(s, CLOSE_DROP, "no namespace");
  }
  while ((h = gw_list_head(&srv->upgrades)) != NULL) {
    gw_session_t *s = GW_LIST_DATA(h, gw_session_t, up_link);
    if (s->upgrade_due > now)
      break;
    gw_list_remove(&s->up_link);
    gw__ws_probe_expired(s); /* may release |s| */
  }
  gw__http_sweep(srv, now);
  gw__poll_expire(srv, now);
  if (srv->state == ST_DRAINING)
    drain_step(srv, now);
}

void gw_server_shutdown(gw_server_t *srv, int drain) {
  uint64_t now = uv_now(srv->loop);
  if (srv->state == ST_RUNNING) {
    set_state(srv, ST_DRAINING);
    srv->metrics.draining = 1;
    srv->drain_start = now;
    srv->drain_ms = drain ? srv->cfg->drain_ms : 0;
    srv->drain_total = 0;
    gw_list_t *it;
    GW_LIST_FOREACH(it, &srv->sessions_list) {
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

/* No lws "validity" timers: Engine.IO's ping/pong is the liveness check.
 * lws 4.1.6 keeps one per connection in a sorted list and re-inserts it on
 * every received frame, an O(connections) walk each time (it was most of the
 * CPU of a handshake at a few thousand connections). A zero hang-up time
 * turns them off. */
static const lws_retry_bo_t no_validity_timers = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

static void lws_log_emit(int level, const char *line) {
  size_t n = strlen(line);
  while (n > 0 && line[n - 1] == '\n')
    n--;
  gw_log(level == LLL_ERR ? GW_LOG_ERROR : GW_LOG_DEBUG, "lws: %.*s", (int)n,
         line);
}

/* on_deliver is the adapter's delivery hook: |sock| is the connection the
 * session attached (gw_session.c). */
static void on_deliver(void *ctx, void *sock, gw_frame_t *f) {
  (void)ctx;
  gw_socket_send(sock, f);
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
  acfg.peer_tag = srv->peer_tag;
  acfg.advertise = cfg->max_relays > 0 ? srv->advertise : NULL;
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
  gw_list_init(&srv->sessions_list);
  gw_map_init(&srv->sessions);
  gw_list_init(&srv->connect_wait);
  gw_list_init(&srv->upgrades);
  gw_list_init(&srv->posts);
  gw_list_init(&srv->relay_list);
  gw_list_init(&srv->http_idle);
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
  srv->noop = gw_eio_noop();
  char rnd[21];
  if (srv->ping == NULL || srv->noop == NULL || gw_eio_sid(rnd) != 0)
    goto fail;
  /* Our sids start with this tag: another instance that gets a request for
   * one relays it to the address advertised under the tag (gw_relay.c). */
  memcpy(srv->peer_tag, rnd, GW_PEER_TAG_LEN);
  srv->peer_tag[GW_PEER_TAG_LEN] = '\0';
  if (cfg->advertise != NULL) {
    snprintf(srv->advertise, sizeof(srv->advertise), "%s", cfg->advertise);
  } else {
    const char *pod_ip = getenv("POD_IP");
    const char *host = pod_ip != NULL && *pod_ip           ? pod_ip
                       : strcmp(cfg->host, "0.0.0.0") == 0 ? "127.0.0.1"
                                                           : cfg->host;
    snprintf(srv->advertise, sizeof(srv->advertise),
             strchr(host, ':') ? "[%s]:%llu" : "%s:%llu", host,
             (unsigned long long)cfg->port);
  }

  lws_set_log_level(gw_log_enabled(GW_LOG_DEBUG) ? LLL_ERR | LLL_WARN : LLL_ERR,
                    lws_log_emit);

  /* lws sizes its fd table from the open-file limit. Never pass a smaller
   * fd_limit_per_thread: lws 4.1.6 then switches to a table it scans
   * linearly on every event (wsi_from_fd), O(connections) per packet.
   * EMFILE (on which lws would spin) is kept away instead by refusing new
   * connections whose descriptor is near the limit (gw_ws.c, on
   * LWS_CALLBACK_FILTER_NETWORK_CONNECTION). */
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
  if ((rc = gw__http_configure(srv, &info)) != 0)
    goto fail;
  info.port = (int)cfg->port;
  info.iface = strcmp(cfg->host, "0.0.0.0") == 0 ? NULL : cfg->host;
  info.protocols = gw__ws_protocols();
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
    gw_frame_unref(srv->noop);
    free(srv->mounts);
    free(srv->headers);
    free(srv->web_root_real);
    free(srv);
  }
  if (err != NULL)
    *err = rc;
  return NULL;
}

int gw_server_free(gw_server_t *srv) {
  GW_CHECK(srv->state == ST_DONE); /* uv_run returned after finish() */
  /* The second destroy completes lws's teardown on a foreign loop
   * (docs/hacking.md, Platform notes). */
  lws_context_destroy(srv->ctx);
  GW_CHECK(gw_list_empty(&srv->sessions_list)); /* each one ended */
  gw_adapter_free(srv->adapter);
  gw_chat_fini(&srv->chat);
  gw_map_close(&srv->ips);      /* empty: every socket released its address */
  gw_map_close(&srv->sessions); /* empty: every session ended */
  gw_frame_unref(srv->ping);
  gw_frame_unref(srv->noop);
  free(srv->mounts); /* lws is done with them */
  free(srv->headers);
  free(srv->web_root_real);
  int status = srv->exit_status;
  free(srv);
  return status;
}
