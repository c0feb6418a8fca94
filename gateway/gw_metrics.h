/* SPDX-License-Identifier: MIT */
/* gw_metrics.h: process counters, rendered as Prometheus text at /metrics.
 * Plain integers on the one loop; no atomics needed. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gw_adapter.h"
#include "gw_frame.h"

/* Chat error codes (protocol.md), with their default messages. */
#define GW_CHAT_ERROR_MAP(XX)                                                  \
  XX(BAD_REQUEST, "bad_request", "payload must be an object")                  \
  XX(INVALID_NAME, "invalid_name",                                             \
     "names must be 1-64 characters without control characters")               \
  XX(NAME_TAKEN, "name_taken", "that user name is already in the room")        \
  XX(NAME_MISMATCH, "name_mismatch",                                           \
     "your token fixes your user name; use that name")                         \
  XX(NOT_IN_ROOM, "not_in_room", "join a room first")                          \
  XX(INVALID_MESSAGE, "invalid_message",                                       \
     "message must be a non-empty string of at most 4096 bytes")               \
  XX(USER_NOT_FOUND, "user_not_found", "no such user in your room")            \
  XX(RATE_LIMITED, "rate_limited", "too many messages; slow down")             \
  XX(UNKNOWN_EVENT, "unknown_event", "unknown event")                          \
  XX(ROOM_LIMIT, "room_limit", "too many rooms")                               \
  XX(ROOM_FULL, "room_full", "this room is full")                              \
  XX(UNAVAILABLE, "unavailable", "chat backend unavailable; try again")        \
  XX(INTERNAL, "internal", "internal error")

typedef enum {
#define XX(k, code, msg) GW_CE_##k,
  GW_CHAT_ERROR_MAP(XX)
#undef XX
      GW_CE__COUNT
} gw_chat_err_t;

const char *gw_chat_err_code(gw_chat_err_t e);
const char *gw_chat_err_msg(gw_chat_err_t e);
/* gw_chat_err_from maps an adapter status (GW_E*) to a chat error. */
gw_chat_err_t gw_chat_err_from(int status);

/* Inbound chat events we count by name. */
#define GW_IN_EVENT_MAP(XX)                                                    \
  XX(CREATE, "create")                                                         \
  XX(SENDMESSAGE, "sendMessage")                                               \
  XX(LEAVE, "leave")                                                           \
  XX(OTHER, "other")

typedef enum {
#define XX(k, name) GW_IN_##k,
  GW_IN_EVENT_MAP(XX)
#undef XX
      GW_IN__COUNT
} gw_in_event_t;

/* Bounds that were hit, by name (docs/security.md lists each with its
 * flag and default). */
#define GW_LIMIT_MAP(XX)                                                       \
  XX(CONNECTIONS, "connections")                                               \
  XX(CONNECTIONS_PER_IP, "connections_per_ip")                                 \
  XX(FD_RESERVE, "fd_reserve")                                                 \
  XX(NO_NAMESPACE, "connect_timeout")                                          \
  XX(FRAME_SIZE, "frame_size")                                                 \
  XX(QUEUE, "queue")                                                           \
  XX(RATE, "rate")                                                             \
  XX(INBOX, "inbox")                                                           \
  XX(NAME_LENGTH, "name_length")                                               \
  XX(MESSAGE_SIZE, "message_size")                                             \
  XX(ROOMS, "rooms")                                                           \
  XX(ROOM_MEMBERS, "room_members")                                             \
  XX(ADAPTER_PENDING, "adapter_pending")

typedef enum {
#define XX(k, name) GW_LIMIT_##k,
  GW_LIMIT_MAP(XX)
#undef XX
      GW_LIMIT__COUNT
} gw_limit_t;

typedef struct gw_metrics {
  uint64_t websockets;        /* gauge: open WebSockets (Engine.IO) */
  uint64_t connections;       /* gauge: open Socket.IO connections */
  uint64_t connections_total; /* counter */
  uint64_t events_in[GW_IN__COUNT];
  uint64_t events_out[GW_EV__COUNT]; /* frames written, by event */
  uint64_t frames_out;
  uint64_t bytes_out;
  uint64_t errors[GW_CE__COUNT];
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

/* gw_metrics_render writes the Prometheus exposition of |m| and |as| into
 * |buf| and returns its length (truncated to |cap| - 1). */
size_t gw_metrics_render(const gw_metrics_t *m, const gw_adapter_stats_t *as,
                         const char *adapter_name, char *buf, size_t cap);

#endif /* GW_METRICS_H */
