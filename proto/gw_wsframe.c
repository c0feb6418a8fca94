/* SPDX-License-Identifier: MIT */
/* gw_wsframe.c: RFC 6455 frame headers (see gw_wsframe.h). */
#include "gw_wsframe.h"

#include <string.h>

#include "gw_check.h"
#include "gw_err.h"

static int valid_opcode(unsigned op) {
  return op <= GW_WSFRAME_BINARY ||
         (op >= GW_WSFRAME_CLOSE && op <= GW_WSFRAME_PONG);
}

int gw_wsframe_parse(const uint8_t *buf, size_t len, gw_wsframe_t *out) {
  memset(out, 0, sizeof(*out));
  if (len == 0)
    return 0;
  unsigned b0 = buf[0];
  unsigned fin = b0 >> 7, rsv = (b0 >> 4) & 7, op = b0 & 15;
  if (rsv != 0 || !valid_opcode(op))
    return GW_EPROTO;
  int control = op >= GW_WSFRAME_CLOSE;
  if (control && !fin) /* §5.5: control frames are never fragmented */
    return GW_EPROTO;
  if (len < 2)
    return 0;
  unsigned masked = buf[1] >> 7, len7 = buf[1] & 127;
  if (control && len7 > 125)
    return GW_EPROTO;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  if (len < 2 + ext)
    return 0;
  uint64_t plen = len7;
  if (ext != 0) {
    plen = 0;
    for (size_t i = 0; i < ext; i++)
      plen = plen << 8 | buf[2 + i];
    /* §5.2: the minimal number of bytes MUST be used, and the most
     * significant bit of a 64-bit length MUST be 0. */
    if (ext == 2 && plen < 126)
      return GW_EPROTO;
    if (ext == 8 && (plen <= 0xFFFF || plen >> 63))
      return GW_EPROTO;
  }
  size_t hlen = 2 + ext + (masked ? 4 : 0);
  if (len < hlen)
    return 0;
  out->fin = fin;
  out->opcode = op & 15;
  out->masked = masked;
  if (masked)
    memcpy(out->mask, buf + 2 + ext, 4);
  out->len = plen;
  return (int)hlen;
}

size_t gw_wsframe_header(uint8_t *out, int fin, int opcode, uint64_t len,
                         const uint8_t *mask) {
  GW_CHECK(opcode >= 0 && opcode <= 15 && valid_opcode((unsigned)opcode));
  GW_CHECK(opcode < GW_WSFRAME_CLOSE || (fin && len <= 125));
  GW_CHECK(len >> 63 == 0);
  size_t n = 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 15));
  uint8_t mbit = mask ? 0x80 : 0;
  if (len <= 125) {
    out[n++] = (uint8_t)(mbit | len);
  } else if (len <= 0xFFFF) {
    out[n++] = mbit | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = mbit | 127;
    for (int s = 56; s >= 0; s -= 8)
      out[n++] = (uint8_t)(len >> s);
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* gw_wsframe_unmask works a word at a time once the key is rotated to the
 * offset: a relayed payload can be a megabyte, and the byte loop is the
 * reference the unit test compares this with. */
void gw_wsframe_unmask(uint8_t *buf, size_t len, const uint8_t mask[4],
                       uint64_t off) {
  uint8_t k[8];
  for (int i = 0; i < 8; i++)
    k[i] = mask[(off + (uint64_t)i) & 3];
  uint64_t kw;
  memcpy(&kw, k, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, buf + i, 8);
    w ^= kw;
    memcpy(buf + i, &w, 8);
  }
  for (; i < len; i++)
    buf[i] ^= k[i & 7];
}
