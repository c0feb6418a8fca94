/* SPDX-License-Identifier: MIT */
/* gw_payload.c: Engine.IO v4 polling payloads (see gw_payload.h). */
#include "gw_payload.h"

#include <stdint.h>
#include <string.h>

#include "gw_err.h"

void gw_payload_iter_init(gw_payload_iter_t *it, const char *buf, size_t len) {
  it->p = buf;
  it->end = len ? buf + len : buf; /* NULL + 0 would upset UBSan */
  it->done = 0;
}

int gw_payload_next(gw_payload_iter_t *it, const char **pkt, size_t *len) {
  if (it->done != 0)
    return it->done == 1 ? 0 : it->done;
  /* The iterator stands at the start of a record: the buffer's start or
   * just past a 0x1e. Reaching |end| here means an empty payload or a
   * trailing separator, both malformed (decodePayload would decode "" to
   * an error packet). */
  size_t left = (size_t)(it->end - it->p);
  const char *sep = left ? memchr(it->p, GW_PAYLOAD_SEP, left) : NULL;
  const char *stop = sep ? sep : it->end;
  if (stop == it->p) {
    it->done = GW_EPROTO;
    return GW_EPROTO;
  }
  *pkt = it->p;
  *len = (size_t)(stop - it->p);
  if (sep != NULL) {
    it->p = sep + 1;
  } else {
    it->p = it->end;
    it->done = 1;
  }
  return 1;
}

/* gw_utf8_valid follows the well-formed byte sequences of RFC 3629 §4 (the
 * table in Unicode §3.9): the second byte's range depends on the lead byte,
 * which is what excludes overlongs (E0, F0), surrogates (ED) and code points
 * above U+10FFFF (F4); C0, C1 and F5..FF never lead. */
int gw_utf8_valid(const char *buf, size_t len) {
  const unsigned char *s = (const unsigned char *)buf;
  const unsigned char *end = len ? s + len : s;
  while (s < end) {
    unsigned c = *s;
    if (c < 0x80) {
      s++;
      continue;
    }
    size_t n;                      /* continuation bytes */
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0)
        lo = 0xA0;
      else if (c == 0xED)
        hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0)
        lo = 0x90;
      else if (c == 0xF4)
        hi = 0x8F;
    } else {
      return 0;
    }
    if ((size_t)(end - s) <= n)
      return 0;
    if (s[1] < lo || s[1] > hi)
      return 0;
    for (size_t i = 2; i <= n; i++)
      if ((s[i] & 0xC0) != 0x80)
        return 0;
    s += n + 1;
  }
  return 1;
}

size_t gw_payload_size(const size_t *lens, size_t n) {
  if (n == 0)
    return 0;
  size_t sum = n - 1;
  for (size_t i = 0; i < n; i++) {
    if (lens[i] > SIZE_MAX - sum)
      return SIZE_MAX;
    sum += lens[i];
  }
  return sum;
}
