/* SPDX-License-Identifier: MIT */
/* gw_wsframe.h: RFC 6455 frame headers (§5.2), for the relay's WebSocket
 * client hop to a peer gateway: parse what the peer sends, write what the
 * relay sends, and (un)mask payloads. Pure: no I/O, no allocation, no state.
 * Payloads are the caller's; fragmentation, UTF-8 checks of text frames and
 * close codes are the caller's too. The Sec-WebSocket-Key the relay sends
 * needs no crypto here, and the accept key is not checked: the peer is one
 * of ours, so no accept-key computation lives in this module. */
#ifndef GW_WSFRAME_H
#define GW_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

enum { /* opcodes (RFC 6455 §5.2); 3..7 and 11..15 are reserved */
       GW_WSFRAME_CONT = 0x0,
       GW_WSFRAME_TEXT = 0x1,
       GW_WSFRAME_BINARY = 0x2,
       GW_WSFRAME_CLOSE = 0x8,
       GW_WSFRAME_PING = 0x9,
       GW_WSFRAME_PONG = 0xA
};

typedef struct gw_wsframe {
  unsigned fin : 1;
  unsigned rsv : 3; /* always 0 in a header gw_wsframe_parse accepted */
  unsigned opcode : 4;
  unsigned masked : 1;
  uint8_t mask[4]; /* the masking key when |masked|, else zeros */
  uint64_t len;    /* payload length, < 2^63 */
} gw_wsframe_t;

#define GW_WSFRAME_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask key) */

/* gw_wsframe_parse parses the frame header at the start of |buf|/|len|
 * (borrowed for the call). Returns:
 *   2..14      the header is complete: its length; the payload follows.
 *              |out| is filled.
 *   0          more bytes are needed.
 *   GW_EPROTO  invalid: nonzero rsv (no extension is negotiated), an
 *              unknown opcode (valid: 0, 1, 2, 8, 9, 10), a control frame
 *              (opcode >= 8) with len > 125 or without fin, a 64-bit length
 *              with its top bit set, or a length not in its shortest
 *              encoding (126 for < 126, 127 for < 65536).
 * On 0 and GW_EPROTO |out| is zeroed. Errors are reported as soon as
 * the bytes that show them are there, and on a prefix of an input the
 * answer is 0 or that input's answer. Whether the frame should be masked
 * (a server's frames are not, a client's are) is the caller's check. */
int gw_wsframe_parse(const uint8_t *buf, size_t len, gw_wsframe_t *out);

/* gw_wsframe_header writes the header of a frame with |fin| (0 or 1),
 * |opcode| (a valid one, above), payload length |len| (< 2^63; <= 125 for a
 * control opcode, which also needs fin) and, when |mask| (4 bytes,
 * borrowed) is not NULL, the mask bit and that key, to |out|, which has
 * room for GW_WSFRAME_MAX_HEADER bytes. rsv is 0 and the length takes its
 * shortest encoding, so gw_wsframe_parse reads back exactly these values.
 * Returns the header's length (2..14). Arguments out of range are
 * programmer errors (GW_CHECK). */
size_t gw_wsframe_header(uint8_t *out, int fin, int opcode, uint64_t len,
                         const uint8_t *mask);

/* gw_wsframe_unmask XORs |buf|/|len| in place with the key |mask|, as bytes
 * |off|..|off|+|len| of a payload (RFC 6455 §5.3: byte i gets mask[i % 4]),
 * so a payload can be (un)masked piece by piece as it arrives. Masking and
 * unmasking are the same operation. */
void gw_wsframe_unmask(uint8_t *buf, size_t len, const uint8_t mask[4],
                       uint64_t off);

#endif /* GW_WSFRAME_H */
