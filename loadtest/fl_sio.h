/* SPDX-License-Identifier: MIT */
/* fl_sio.h: the Engine.IO v4 / Socket.IO v5 client side of chat-flood:
 * classifying the packets a server sends (open, ping, connect, events,
 * acks), reading the few JSON fields the client needs without a full JSON
 * parse, and encoding the chat requests. Only the main namespace "/" is
 * spoken; packets for other namespaces are FL_PKT_OTHER. All pointers into
 * parsed packets are borrowed from the caller's buffer. */
#ifndef FL_SIO_H
#define FL_SIO_H

#include <stddef.h>
#include <stdint.h>

typedef enum fl_pkt_type {
  FL_PKT_INVALID = 0,
  FL_PKT_OPEN,          /* 0{...}: data = the JSON object */
  FL_PKT_CLOSE,         /* 1 */
  FL_PKT_PING,          /* 2 (server ping; answer 3) */
  FL_PKT_PONG,          /* 3 */
  FL_PKT_NOOP,          /* 6 */
  FL_PKT_CONNECT,       /* 40{"sid":...} */
  FL_PKT_DISCONNECT,    /* 41 */
  FL_PKT_EVENT,         /* 42[<id>]["name",...] */
  FL_PKT_ACK,           /* 43<id>[...] */
  FL_PKT_CONNECT_ERROR, /* 44{...} */
  FL_PKT_OTHER          /* valid but not ours: other namespace, binary */
} fl_pkt_type_t;

typedef struct fl_pkt {
  fl_pkt_type_t type;
  int64_t ack_id;   /* -1 when absent */
  const char *name; /* EVENT: the raw event name (between the quotes) */
  size_t name_len;
  const char *data; /* the JSON payload after type and id (may be empty) */
  size_t data_len;
} fl_pkt_t;

/* fl_sio_parse classifies one Engine.IO packet (a whole WebSocket text
 * message) and returns its type (also stored in |out|). */
fl_pkt_type_t fl_sio_parse(const char *p, size_t n, fl_pkt_t *out);

/* fl_json_int finds the member "|key|": <integer> in the JSON text |p| and
 * stores it in |*v|. Returns 0, or -1 when absent or not an integer.
 * (A key scan, enough for the server's open and connect packets.) */
int fl_json_int(const char *p, size_t n, const char *key, int64_t *v);

/* fl_json_str finds "|key|":"<string>" and points |*s|/|*len| at the raw
 * string contents (escapes are not decoded). Returns 0 or -1. */
int fl_json_str(const char *p, size_t n, const char *key, const char **s,
                size_t *len);

/* fl_json_true returns 1 if "|key|":true occurs in |p|. */
int fl_json_true(const char *p, size_t n, const char *key);

/* fl_sio_create writes 42<id>["create",{"roomName":..,"userName":..}] into
 * |out| (|cap| bytes). |room| and |user| must need no JSON escaping.
 * Returns the length, or 0 if it does not fit. */
size_t fl_sio_create(char *out, size_t cap, int64_t ack_id, const char *room,
                     const char *user);

/* fl_sio_message writes 42["sendMessage",{"message":M,"select":"all"}]
 * where M = "fl1:<tag>:<sched_us>:<seq>:" padded with 'x' to |payload|
 * characters (or longer if the stamp needs more). Returns the length, or 0
 * if it does not fit. */
size_t fl_sio_message(char *out, size_t cap, uint32_t tag, uint64_t sched_us,
                      uint64_t seq, size_t payload);

/* fl_sio_stamp reads the stamp of a newMessage event payload |p| (the
 * "[...]" after 42) made by fl_sio_message with the same |tag|. Returns 0
 * and the scheduled send time in |*sched_us|, or -1 if the message is not
 * one of ours. */
int fl_sio_stamp(const char *p, size_t n, uint32_t tag, uint64_t *sched_us);

/* ---- Engine.IO v4 polling payloads ---------------------------------------
 * A payload is packets joined by the record separator 0x1e (no length
 * prefixes in v4); a packet of the HTTP body is what one WebSocket text
 * message carries. */

#define FL_EIO_SEP '\x1e'

/* fl_eio_next takes the next packet of the payload at |*p| (|*n| bytes
 * left): points |*pkt|/|*len| at it, advances |*p|/|*n| past it and its
 * separator, and returns 1; returns 0 once the last packet was taken
 * (then |*p| is NULL). As in engine.io-parser, a payload with k separators
 * has k + 1 packets, so an empty body or a trailing separator yields an
 * empty packet (which the caller's parser calls invalid). */
int fl_eio_next(const char **p, size_t *n, const char **pkt, size_t *len);

/* fl_eio_cut returns how many bytes of the queue |q| (|n| bytes of packets
 * joined by 0x1e) go into the next POST: the longest prefix of whole
 * packets of at most |max| bytes, and always at least the first packet
 * (a packet over |max| is sent alone; the server decides). The separator
 * after the cut, if any, is not included. */
size_t fl_eio_cut(const char *q, size_t n, size_t max);

/* fl_eio_target writes the request target for |transport| ("polling" or
 * "websocket") into |out| (|cap| bytes): |path| (the websocket target of
 * the --url, which may carry a transport=websocket parameter) with its
 * transport parameter set to |transport|, then "&t=<t>" when |t| >= 0 and
 * "&sid=<sid>" when |sid| is not NULL. Returns the length, or 0 if it does
 * not fit. |sid| must need no URL escaping (see fl_eio_sid_ok). */
size_t fl_eio_target(char *out, size_t cap, const char *path,
                     const char *transport, int64_t t, const char *sid);

/* fl_eio_sid_ok is 1 when the |n| bytes at |s| are a plausible sid that
 * needs no escaping in a query (1-63 of A-Z a-z 0-9 - _ . ~). */
int fl_eio_sid_ok(const char *s, size_t n);

#endif /* FL_SIO_H */
