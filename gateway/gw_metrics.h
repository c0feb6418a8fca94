/* SPDX-License-Identifier: MIT */
/* gw_metrics.h: the gateway's counters, and the Prometheus text of /metrics
 * (which also renders the chat's and the adapter's stats structs).
 * Plain integers on the one loop; no atomics needed. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gw_adapter.h"
#include "gw_chat.h"
#include "gw_frame.h"

/* The gateway's bounds that were hit, by name (docs/security.md lists each
 * with its flag and default). The chat counts its own (GW_CHAT_LIMIT_MAP);
 * /metrics shows both under chat_limit_hits_total. */
#define GW_LIMIT_MAP(XX)                                                       \
  XX(CONNECTIONS, "connections")                                               \
  XX(CONNECTIONS_PER_IP, "connections_per_ip")                                 \
  XX(FD_RESERVE, "fd_reserve")                                                 \
  XX(NO_NAMESPACE, "connect_timeout")                                          \
  XX(FRAME_SIZE, "frame_size")                                                 \
  XX(QUEUE, "queue")                                                           \
  XX(ADAPTER_PENDING, "adapter_pending")                                       \
  XX(REQUEST_TIME, "request_time")

typedef enum {
#define XX(k, name) GW_LIMIT_##k,
  GW_LIMIT_MAP(XX)
#undef XX
      GW_LIMIT__COUNT
} gw_limit_t;

/* Relays to another instance (gw_relay.c): kinds and failure reasons. */
typedef enum { GW_RELAY_POLL, GW_RELAY_WEBSOCKET } gw_relay_kind_t;
typedef enum {
  GW_RELAY_FAIL_TIMEOUT,     /* no answer within --relay-timeout */
  GW_RELAY_FAIL_UNREACHABLE, /* the owner's address refused or broke */
  GW_RELAY_FAIL_UNKNOWN,     /* no live instance owns the sid's tag */
  GW_RELAY_FAIL_LIMIT,       /* --max-relays in flight */
  GW_RELAY_FAIL__COUNT
} gw_relay_fail_t;

typedef struct gw_metrics {
  uint64_t sessions[2]; /* gauge: Engine.IO sessions by gw__transport_t */
  uint64_t upgrades;    /* counter: polling sessions moved to WebSocket */
  uint64_t relays[2];   /* counter: relays started, by gw_relay_kind_t */
  uint64_t relay_failures[GW_RELAY_FAIL__COUNT]; /* counter, by reason */
  uint64_t relays_active;                        /* gauge */
  uint64_t relay_cache_hits;         /* relays that needed no Redis lookup */
  uint64_t connections;              /* gauge: open Socket.IO connections */
  uint64_t connections_total;        /* counter */
  uint64_t events_out[GW_EV__COUNT]; /* frames written, by event */
  uint64_t frames_out;
  uint64_t bytes_out;
  uint64_t slow_readers_dropped;
  uint64_t protocol_errors;
  uint64_t ping_timeouts;
  uint64_t rejected_connections;
  uint64_t auth_failures; /* CONNECTs refused by --jwt-secret */
  uint64_t limit_hits[GW_LIMIT__COUNT];
  /* Event-loop lag: how late the housekeeping timer ran, in ms. A blocked
   * loop starves every socket and lets Redis's output buffer for our
   * subscriber grow (its pubsub limit cuts it). */
  uint64_t loop_lag_ms;     /* gauge: largest over the last 10-20 s */
  uint64_t loop_lag_max_ms; /* gauge: largest since start */
  int draining;
} gw_metrics_t;

/* gw_metrics_render writes the Prometheus exposition of |m|, the chat's
 * counters |cs| and the adapter's |as| (all borrowed) into |buf| and returns
 * its length (truncated to |cap| - 1). */
size_t gw_metrics_render(const gw_metrics_t *m, const gw_chat_stats_t *cs,
                         const gw_adapter_stats_t *as, const char *adapter_name,
                         char *buf, size_t cap);

#endif /* GW_METRICS_H */
