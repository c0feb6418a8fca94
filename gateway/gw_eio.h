/* SPDX-License-Identifier: MIT */
/* gw_eio.h: Engine.IO v4 / Socket.IO v5 packet codec (WebSocket transport).
 * Pure functions: no I/O, no state. Parsing validates exactly what the
 * reference decoder (socket.io-parser isPayloadValid) validates, so a packet
 * this rejects is one Socket.IO would close the connection for. */
#ifndef GW_EIO_H
#define GW_EIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_frame.h"

enum { /* Engine.IO packet types */
       GW_EIO_OPEN = 0,
       GW_EIO_CLOSE = 1,
       GW_EIO_PING = 2,
       GW_EIO_PONG = 3,
       GW_EIO_MESSAGE = 4,
       GW_EIO_UPGRADE = 5,
       GW_EIO_NOOP = 6
};

enum { /* Socket.IO packet types */
       GW_SIO_CONNECT = 0,
       GW_SIO_DISCONNECT = 1,
       GW_SIO_EVENT = 2,
       GW_SIO_ACK = 3,
       GW_SIO_CONNECT_ERROR = 4,
       GW_SIO_BINARY_EVENT = 5,
       GW_SIO_BINARY_ACK = 6
};

#define GW_EIO_NO_ID UINT64_MAX

typedef struct gw_eio_pkt {
  int eio_type;     /* GW_EIO_* */
  const char *text; /* eio payload after the type digit (borrowed) */
  size_t text_len;
  /* For GW_EIO_MESSAGE: the Socket.IO packet. */
  int sio_type;      /* GW_SIO_* */
  const char *nsp;   /* namespace, borrowed, not NUL-terminated */
  size_t nsp_len;    /* "/" when absent */
  uint64_t id;       /* ack id, or GW_EIO_NO_ID */
  json_t *data;      /* owned JSON payload, or NULL when absent */
  const char *event; /* EVENT: the event name (borrowed from data) */
} gw_eio_pkt_t;

/* gw_eio_parse decodes one WebSocket text frame |buf|/|len|. On success
 * fills |pkt| (the caller releases it with gw_eio_pkt_clear) and returns 0;
 * otherwise returns GW_EPROTO and |pkt| holds nothing to release. */
int gw_eio_parse(const char *buf, size_t len, gw_eio_pkt_t *pkt);

/* gw_eio_pkt_clear releases what gw_eio_parse allocated. */
void gw_eio_pkt_clear(gw_eio_pkt_t *pkt);

/* gw_eio_open_packet writes the open packet for |sid| into |out| (size
 * |cap|) and returns its length, or 0 if it does not fit. */
size_t gw_eio_open_packet(char *out, size_t cap, const char *sid,
                          uint64_t ping_interval_ms, uint64_t ping_timeout_ms,
                          uint64_t max_payload);

/* gw_eio_ack encodes `43<id>[<arg>]` (|arg| stolen) into a new frame. */
gw_frame_t *gw_eio_ack(uint64_t id, json_t *arg);

/* gw_eio_sid fills |out| (21 bytes) with a 20-character URL-safe id made of
 * 120 random bits from the kernel. Returns 0 or -errno. */
int gw_eio_sid(char out[21]);

#endif /* GW_EIO_H */
