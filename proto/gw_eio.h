/* SPDX-License-Identifier: MIT */
/* gw_eio.h: Engine.IO v4 / Socket.IO v5 packet codec (WebSocket transport).
 * Pure functions: no I/O, no state. The encoders of what the server sends
 * are gw_sio.h's (the open packet and ping included). Parsing validates exactly
 * what the reference decoder (socket.io-parser isPayloadValid) validates, so a
 * packet this rejects is one Socket.IO would close the connection for. */
#ifndef GW_EIO_H
#define GW_EIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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

/* The most JSON values (arrays, objects, scalars) a packet's payload may
 * hold. A chat event holds about ten; a 1 MB `[{},{},...]` would build
 * some 70 MB of jansson tree. Counted on the raw bytes before any tree is
 * built. */
#define GW_EIO_MAX_JSON_VALUES 256

/* gw_eio_parse decodes one WebSocket text frame (or polling packet)
 * |buf|/|len|. On success fills |pkt| (the caller releases it with
 * gw_eio_pkt_clear) and returns 0; otherwise returns GW_EPROTO and |pkt|
 * holds nothing to release. A payload of more than GW_EIO_MAX_JSON_VALUES
 * values is GW_EPROTO. */
int gw_eio_parse(const char *buf, size_t len, gw_eio_pkt_t *pkt);

/* gw_eio_pkt_clear releases what gw_eio_parse allocated. */
void gw_eio_pkt_clear(gw_eio_pkt_t *pkt);

/* gw_eio_sid fills |out| (21 bytes) with a 20-character URL-safe id made of
 * 120 random bits from the kernel. Returns 0 or -errno. */
int gw_eio_sid(char out[21]);

/* ---- handshake query ------------------------------------------------------
 * The Engine.IO checks of a /socket.io/ request's query, as the reference
 * server makes them: exactly one EIO, equal to "4", and exactly one
 * transport, "websocket" or "polling". A repeated key is refused, as Node's
 * querystring turns it into an array that equals no string; an argument
 * without '=' has the empty value; other arguments are ignored but `sid`,
 * which names the session of a polling request or an upgrade. */

/* Transports (gw_eio_query_transport). */
enum { GW_EIO_T_NONE, GW_EIO_T_WEBSOCKET, GW_EIO_T_POLLING };

typedef struct gw_eio_query {
  unsigned eio_n, transport_n; /* occurrences of each key */
  unsigned eio_ok;             /* EIO=4 occurrences */
  unsigned ws_n, poll_n;       /* transport=websocket, transport=polling */
  unsigned sid_n;              /* occurrences of sid */
  size_t sid_len;              /* decoded length of the last one */
  char sid[21];                /* its first 20 decoded bytes, NUL-ended */
} gw_eio_query_t;

void gw_eio_query_init(gw_eio_query_t *q);

/* gw_eio_query_add accounts one already-decoded argument |arg|/|len|,
 * "name=value" (the first '=' separates; NUL bytes are just bytes), as
 * libwebsockets hands them out (one fragment of WSI_TOKEN_HTTP_URI_ARGS). */
void gw_eio_query_add(gw_eio_query_t *q, const char *arg, size_t len);

/* gw_eio_query_error returns the JSON body Engine.IO answers a bad query
 * with (HTTP 400; static storage), or NULL when the query asks for EIO=4
 * over WebSocket or polling. */
const char *gw_eio_query_error(const gw_eio_query_t *q);

/* gw_eio_query_transport returns GW_EIO_T_WEBSOCKET or GW_EIO_T_POLLING for
 * a query gw_eio_query_error accepts, else GW_EIO_T_NONE. */
int gw_eio_query_transport(const gw_eio_query_t *q);

/* gw_eio_query_sid returns NULL when the query has no sid (a handshake), ""
 * when it has one that can name no session (repeated, or not 20 URL-safe
 * characters: "Session ID unknown"), else the sid (borrowed from |q|). */
const char *gw_eio_query_sid(const gw_eio_query_t *q);

/* gw_eio_query_parse accounts a query string that is still percent-encoded,
 * as it appears after '?' in a URL: arguments split at '&', name and value
 * at the first '=', then each decoded ("%XX" to a byte, '+' to a space; a
 * malformed '%' stays a literal '%', as in Node). |q| must be initialised. */
void gw_eio_query_parse(gw_eio_query_t *q, const char *args, size_t len);

/* gw_eio_query_check parses |args| into a fresh query and returns what
 * gw_eio_query_error would. */
const char *gw_eio_query_check(const char *args, size_t len);

#endif /* GW_EIO_H */
