/* SPDX-License-Identifier: MIT */
/* gw_payload.h: Engine.IO v4 HTTP long-polling payloads, the body of a
 * polling GET or POST: packets joined by the record separator 0x1e
 * (engine.io-parser encodePayload/decodePayload). Pure functions: no I/O,
 * no allocation; every pointer handed out is borrowed from the caller's
 * buffer. */
#ifndef GW_PAYLOAD_H
#define GW_PAYLOAD_H

#include <stddef.h>

#define GW_PAYLOAD_SEP '\x1e' /* the record separator between packets */

/* An iterator over the packets of one payload; embed it anywhere. Its
 * fields are private: |p|/|end| delimit what is left to read, |done| is 0
 * while packets remain, 1 once the end was reached and GW_EPROTO once the
 * payload proved malformed. */
typedef struct gw_payload_iter {
  const char *p;
  const char *end;
  int done;
} gw_payload_iter_t;

/* gw_payload_iter_init starts iterating over |buf|/|len|, which is borrowed
 * for as long as the iterator and the packets it hands out are used. */
void gw_payload_iter_init(gw_payload_iter_t *it, const char *buf, size_t len);

/* gw_payload_next hands out the next packet. Returns:
 *   1          a packet: |*pkt|/|*len| (borrowed from the buffer given to
 *              gw_payload_iter_init) never include the 0x1e, and |*len| > 0;
 *   0          the end: every packet was handed out;
 *   GW_EPROTO  malformed: the payload is empty (len 0) or holds an empty
 *              record (a leading or trailing 0x1e, or two in a row, as in
 *              "4a\x1e\x1e4b"). Packets before the empty record were handed
 *              out, as engine.io handles the packets that precede a
 *              decoding error.
 * After 0 or GW_EPROTO, every further call returns the same again.
 * |*pkt|/|*len| are written only when it returns 1. Joining the packets
 * with 0x1e gives back the whole buffer exactly when it ends with 0. */
int gw_payload_next(gw_payload_iter_t *it, const char **pkt, size_t *len);

/* gw_utf8_valid returns 1 if |buf|/|len| (borrowed) is valid UTF-8 as RFC
 * 3629 defines it (shortest form only, no surrogates U+D800..U+DFFF, no
 * code point above U+10FFFF), else 0. NUL bytes are valid; len 0 is valid. */
int gw_utf8_valid(const char *buf, size_t len);

/* gw_payload_size returns the length of the polling response body that
 * joins |n| packets of lengths |lens|[0..n) (borrowed) with 0x1e: their sum
 * plus n - 1, and 0 for n == 0. Returns SIZE_MAX if that does not fit in a
 * size_t (no real body comes near it). */
size_t gw_payload_size(const size_t *lens, size_t n);

#endif /* GW_PAYLOAD_H */
