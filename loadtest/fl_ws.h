/* SPDX-License-Identifier: MIT */
/* fl_ws.h: the client side of RFC 6455, without I/O.
 * Frame encoding (client frames are always masked), an incremental frame
 * decoder that streams data-frame payloads to callbacks (so a connection
 * needs no buffer for a whole frame), and the opening handshake (request,
 * response check with Sec-WebSocket-Accept = base64(SHA-1(key + GUID))). */
#ifndef FL_WS_H
#define FL_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
  FL_WS_CONT = 0x0,
  FL_WS_TEXT = 0x1,
  FL_WS_BINARY = 0x2,
  FL_WS_CLOSE = 0x8,
  FL_WS_PING = 0x9,
  FL_WS_PONG = 0xA
};

#define FL_WS_MAX_HEADER 14 /* 2 + 8 (length) + 4 (mask key) */

/* Decoder errors (negative). */
#define FL_WS_EPROTO   (-1) /* reserved bits, bad opcode, masked server frame */
#define FL_WS_ETOOBIG  (-2) /* frame length over the decoder's limit */
#define FL_WS_ESTOPPED (-3) /* a callback asked to stop */

/* fl_ws_header writes the header of a frame with |len| payload bytes into
 * |out| (at least FL_WS_MAX_HEADER bytes) and returns its length. With a
 * non-NULL |mask| the MASK bit is set and the key appended. */
size_t fl_ws_header(uint8_t *out, int opcode, int fin, uint64_t len,
                    const uint8_t *mask);

/* fl_ws_mask XORs |n| bytes at |p| with |mask|, |offset| bytes into the
 * payload (masking is its own inverse). */
void fl_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* fl_ws_encode writes a complete masked frame (header + masked copy of
 * |payload|) into |out|, which must hold FL_WS_MAX_HEADER + len bytes, and
 * returns the frame length. */
size_t fl_ws_encode(uint8_t *out, int opcode, const void *payload, size_t len,
                    const uint8_t mask[4]);

/* Callbacks of the decoder; each returns 0 to go on, non-zero to stop.
 * A data message (text or binary, possibly fragmented) arrives as
 * on_begin(opcode), any number of on_data, then on_end. A control frame
 * (close, ping, pong; possibly between fragments) arrives whole in
 * on_control. Pointers are borrowed for the duration of the call. */
typedef struct fl_ws_callbacks {
  int (*on_begin)(void *u, int opcode);
  int (*on_data)(void *u, const uint8_t *p, size_t n);
  int (*on_end)(void *u);
  int (*on_control)(void *u, int opcode, const uint8_t *p, size_t n);
} fl_ws_callbacks_t;

typedef struct fl_ws_dec {
  uint64_t max_frame; /* longest accepted frame payload */
  uint64_t len;       /* payload length of the current frame */
  uint64_t got;       /* payload bytes of the current frame seen */
  uint8_t hdr[FL_WS_MAX_HEADER];
  uint8_t hlen; /* header bytes collected */
  uint8_t opcode;
  uint8_t fin;
  uint8_t in_frame; /* header complete, payload pending */
  uint8_t in_msg;   /* inside a fragmented data message */
  uint8_t ctl_len;
  uint8_t ctl[125];
} fl_ws_dec_t;

/* fl_ws_dec_init prepares |d| to accept frames up to |max_frame| bytes. */
void fl_ws_dec_init(fl_ws_dec_t *d, uint64_t max_frame);

/* fl_ws_dec_feed parses |n| bytes of the server's stream, calling |cb| with
 * |u|. Returns 0, or a negative FL_WS_E* code after which the connection
 * must be closed. */
int fl_ws_dec_feed(fl_ws_dec_t *d, const uint8_t *p, size_t n,
                   const fl_ws_callbacks_t *cb, void *u);

/* fl_ws_sha1 computes the SHA-1 digest of |n| bytes (handshake only). */
void fl_ws_sha1(const void *p, size_t n, uint8_t out[20]);

/* fl_ws_base64 encodes |n| bytes into |out| (4 * ceil(n/3) + 1 bytes),
 * NUL-terminated; returns the length. */
size_t fl_ws_base64(const uint8_t *p, size_t n, char *out);

/* fl_ws_accept computes the Sec-WebSocket-Accept value for |key| into |out|
 * (at least 29 bytes). */
void fl_ws_accept(const char *key, char out[29]);

/* fl_ws_request writes the upgrade request into |out| (|cap| bytes) and
 * returns its length, or 0 if it does not fit. */
size_t fl_ws_request(char *out, size_t cap, const char *host, const char *path,
                     const char *key);

/* fl_ws_response checks a response head. Returns the length of the head
 * (through the blank line) when it is a valid 101 answer for |key|, 0 when
 * more bytes are needed, and -1 when it is a refusal or malformed. */
long fl_ws_response(const char *p, size_t n, const char *key);

#endif /* FL_WS_H */
