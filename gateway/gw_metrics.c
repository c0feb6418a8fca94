/* SPDX-License-Identifier: MIT */
/* gw_metrics.c: Prometheus text exposition (format 0.0.4). */
#include "gw_metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "gw_log.h"

static const char *const limit_names[] = {
#define XX(k, name) name,
    GW_LIMIT_MAP(XX)
#undef XX
};

typedef struct {
  char *buf;
  size_t cap, len;
} out_t;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
put(out_t *o, const char *fmt, ...) {
  if (o->len + 1 >= o->cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

static void scalar(out_t *o, const char *name, const char *type,
                   const char *help, uint64_t v) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type,
      name, v);
}

/* labeled writes the HELP and TYPE lines of counter |name| and one sample
 * per value, labeled |label|=names[i]. */
static void labeled(out_t *o, const char *name, const char *help,
                    const char *label, const char *(*name_of)(int),
                    const uint64_t *v, int n) {
  put(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  for (int i = 0; i < n; i++)
    put(o, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, name_of(i), v[i]);
}

static const char *in_name(int i) {
  return gw_in_event_name((gw_in_event_t)i);
}

static const char *out_name(int i) {
  return gw_ev_name((gw_ev_kind_t)i);
}

static const char *transport_name(int i) {
  return i == 0 ? "websocket" : "polling";
}

static const char *relay_kind_name(int i) {
  return i == GW_RELAY_POLL ? "poll" : "websocket";
}

static const char *relay_fail_name(int i) {
  static const char *const names[] = {"timeout", "unreachable", "unknown",
                                      "limit"};
  return i >= 0 && i < GW_RELAY_FAIL__COUNT ? names[i] : "?";
}

static const char *err_name(int i) {
  return gw_chat_err_code((gw_chat_err_t)i);
}

size_t gw_metrics_render(const gw_metrics_t *m, const gw_chat_stats_t *cs,
                         const gw_adapter_stats_t *as, const char *adapter_name,
                         char *buf, size_t cap) {
  out_t o = {buf, cap, 0};
  if (cap == 0)
    return 0;
  buf[0] = '\0';
  scalar(&o, "chat_websockets", "gauge",
         "Engine.IO sessions on a WebSocket, with or without a Socket.IO "
         "connection.",
         m->sessions[0]);
  put(&o, "# HELP chat_sessions Engine.IO sessions, by transport.\n"
          "# TYPE chat_sessions gauge\n");
  for (int i = 0; i < 2; i++)
    put(&o, "chat_sessions{transport=\"%s\"} %" PRIu64 "\n", transport_name(i),
        m->sessions[i]);
  scalar(&o, "chat_upgrades_total", "counter",
         "Polling sessions upgraded to WebSocket.", m->upgrades);
  labeled(&o, "chat_relays_total",
          "Requests and WebSockets relayed to the instance owning their "
          "session.",
          "kind", relay_kind_name, m->relays, 2);
  labeled(&o, "chat_relay_failures_total", "Relays that failed, by reason.",
          "reason", relay_fail_name, m->relay_failures, GW_RELAY_FAIL__COUNT);
  scalar(&o, "chat_relays_active", "gauge", "Relays in flight.",
         m->relays_active);
  scalar(&o, "chat_relay_cache_hits_total", "counter",
         "Relays whose owner's address was known without asking Redis.",
         m->relay_cache_hits);
  scalar(&o, "chat_connections", "gauge", "Open Socket.IO connections.",
         m->connections);
  scalar(&o, "chat_connections_total", "counter",
         "Socket.IO connections accepted.", m->connections_total);
  scalar(&o, "chat_rooms", "gauge",
         "Rooms known to this process (memory: all; redis: with local "
         "members).",
         as->rooms);
  scalar(&o, "chat_room_members", "gauge", "Local sockets that are in a room.",
         as->local_members);
  labeled(&o, "chat_events_in_total", "Chat events received, by name.", "event",
          in_name, cs->events_in, GW_IN__COUNT);
  labeled(&o, "chat_events_out_total", "Frames written to sockets, by event.",
          "event", out_name, m->events_out, GW_EV__COUNT);
  scalar(&o, "chat_frames_out_total", "counter",
         "Engine.IO packets written (WebSocket frames, packets in polling "
         "answers).",
         m->frames_out);
  scalar(&o, "chat_bytes_out_total", "counter",
         "Engine.IO packet bytes written, either transport.", m->bytes_out);
  labeled(&o, "chat_errors_total", "Chat errors answered, by code.", "code",
          err_name, cs->errors, GW_CE__COUNT);
  scalar(&o, "chat_slow_readers_dropped_total", "counter",
         "Sockets closed because their outbound queue hit its bound.",
         m->slow_readers_dropped);
  scalar(&o, "chat_protocol_errors_total", "counter",
         "Connections closed for malformed packets.", m->protocol_errors);
  scalar(&o, "chat_ping_timeouts_total", "counter",
         "Connections closed for not answering pings.", m->ping_timeouts);
  scalar(&o, "chat_rejected_connections_total", "counter",
         "Upgrades and connections refused (origin, draining, limits).",
         m->rejected_connections);
  scalar(&o, "chat_auth_failures_total", "counter",
         "Socket.IO CONNECTs refused as unauthorized (--jwt-secret).",
         m->auth_failures);
  put(&o, "# HELP chat_limit_hits_total Times a configured bound refused or "
          "cut something, by bound.\n# TYPE chat_limit_hits_total counter\n");
  for (int i = 0; i < GW_LIMIT__COUNT; i++) {
    uint64_t v = m->limit_hits[i];
    if (i == GW_LIMIT_ADAPTER_PENDING)
      v += as->pending_full; /* counted where it happens, in the adapter */
    put(&o, "chat_limit_hits_total{limit=\"%s\"} %" PRIu64 "\n", limit_names[i],
        v);
  }
  for (int i = 0; i < GW_CHAT_LIMIT__COUNT; i++)
    put(&o, "chat_limit_hits_total{limit=\"%s\"} %" PRIu64 "\n",
        gw_chat_limit_name((gw_chat_limit_t)i), cs->limit_hits[i]);
  put(&o,
      "# HELP chat_adapter_up 1 when the adapter backend is usable.\n"
      "# TYPE chat_adapter_up gauge\nchat_adapter_up{adapter=\"%s\"} %d\n",
      adapter_name, as->backend_up);
  scalar(&o, "chat_adapter_pending", "gauge", "Backend commands in flight.",
         as->pending);
  scalar(&o, "chat_adapter_errors_total", "counter",
         "Backend commands that failed or timed out.", as->backend_errors);
  scalar(&o, "chat_adapter_reconnects_total", "counter",
         "Backend reconnections.", as->reconnects);
  scalar(&o, "chat_adapter_nodes_reaped_total", "counter",
         "Dead nodes cleaned up by this process.", as->nodes_reaped);
  scalar(&o, "chat_adapter_peer_lookups_total", "counter",
         "Owner address lookups for relays (peer registry).", as->peer_lookups);
  scalar(&o, "chat_adapter_peer_lookup_failures_total", "counter",
         "Owner address lookups that failed (backend down or slow).",
         as->peer_lookup_failures);
  scalar(&o, "chat_adapter_bad_messages_total", "counter",
         "Malformed backend (Redis pub/sub) messages dropped.",
         as->bad_messages);
  scalar(&o, "chat_log_lines_suppressed_total", "counter",
         "Log lines dropped by the 200 lines/s bound.", gw_log_suppressed());
  put(&o,
      "# HELP chat_loop_lag_seconds Largest event-loop lag (lateness of the "
      "housekeeping timer) over the last 10-20 s.\n"
      "# TYPE chat_loop_lag_seconds gauge\nchat_loop_lag_seconds %.3f\n"
      "# HELP chat_loop_lag_max_seconds Largest event-loop lag since start.\n"
      "# TYPE chat_loop_lag_max_seconds gauge\n"
      "chat_loop_lag_max_seconds %.3f\n",
      (double)m->loop_lag_ms / 1000.0, (double)m->loop_lag_max_ms / 1000.0);
  scalar(&o, "chat_draining", "gauge", "1 while draining.",
         (uint64_t)m->draining);
  return o.len;
}
