/* SPDX-License-Identifier: MIT */
/* gw_wsframe_fuzz.c: fuzz target for the RFC 6455 frame header codec
 * (gw_wsframe.c). Properties, each aborting when broken:
 *  - parse then write: a header parse accepts re-encodes with
 *    gw_wsframe_header to exactly the bytes it was parsed from (so rsv is 0
 *    and the length encoding is the shortest), and every proper prefix of
 *    it needs more bytes; |out| is zeroed unless a length is returned;
 *  - on a prefix of any input the answer is 0 or the input's own answer,
 *    and 0 only while the input is shorter than GW_WSFRAME_MAX_HEADER;
 *  - write then parse: the input also picks fin, opcode, length and mask;
 *    when they are valid, the header written parses back to them;
 *  - unmasking the rest of the input piecewise, at cuts the input picks,
 *    equals unmasking it whole, and unmasking twice restores it.
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "gw_wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

/* parse_copy parses the first |n| bytes from a heap copy of exactly that
 * size, so that ASan sees any read past them. */
static int parse_copy(const uint8_t *data, size_t n, gw_wsframe_t *f) {
  uint8_t *c = malloc(n ? n : 1);
  if (c == NULL)
    abort();
  if (n)
    memcpy(c, data, n);
  int rc = gw_wsframe_parse(c, n, f);
  free(c);
  return rc;
}

static void parse_then_write(const uint8_t *data, size_t size) {
  gw_wsframe_t f;
  int rc = gw_wsframe_parse(data, size, &f);
  if (rc > 0) {
    if (rc < 2 || rc > GW_WSFRAME_MAX_HEADER || (size_t)rc > size)
      FAIL("header length %d of %zu bytes", rc, size);
    if (f.rsv != 0 || (f.opcode >= 8 && (!f.fin || f.len > 125)) || f.len >> 63)
      FAIL("accepted rsv %u opcode %u fin %u len %llu", (unsigned)f.rsv,
           (unsigned)f.opcode, (unsigned)f.fin, (unsigned long long)f.len);
    uint8_t h[GW_WSFRAME_MAX_HEADER];
    size_t n =
        gw_wsframe_header(h, f.fin, f.opcode, f.len, f.masked ? f.mask : NULL);
    if (n != (size_t)rc || memcmp(h, data, n) != 0)
      FAIL("re-encoded to %zu other bytes than the %d parsed", n, rc);
  } else {
    static const gw_wsframe_t zero;
    if (f.fin || f.rsv || f.opcode || f.masked || f.len ||
        memcmp(f.mask, zero.mask, 4) != 0)
      FAIL("|out| not zeroed on %d", rc);
  }
  if (rc == 0) {
    if (size >= GW_WSFRAME_MAX_HEADER)
      FAIL("0 with %zu bytes", size);
  } else if (rc < 0 && rc != GW_EPROTO) {
    FAIL("returned %d", rc);
  }
  size_t top = size < GW_WSFRAME_MAX_HEADER + 1 ? size : 15;
  for (size_t k = 0; k < top; k++) {
    gw_wsframe_t g;
    int pr = parse_copy(data, k, &g);
    int ok =
        rc > 0 && k >= (size_t)rc ? pr == rc : pr == 0 || (rc < 0 && pr == rc);
    if (!ok)
      FAIL("prefix %zu: %d, whole input: %d", k, pr, rc);
  }
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static void write_then_parse(const uint8_t *data, size_t size) {
  if (size < 14)
    return;
  int fin = data[0] & 1, opcode = data[0] >> 4 & 15, masked = data[0] >> 1 & 1;
  uint64_t len = get64(data + 1);
  /* spread the lengths over the three encodings and their edges */
  switch (data[9] & 3) {
  case 0:
    len %= 130;
    break;
  case 1:
    len = 120 + len % 65600;
    break;
  case 2:
    len >>= 1;
    break;
  default:
    len = 65530 + len % 20;
  }
  const uint8_t *mask = masked ? data + 10 : NULL;
  int valid_op = opcode <= 2 || (opcode >= 8 && opcode <= 10);
  if (!valid_op || (opcode >= 8 && (!fin || len > 125)) || len >> 63)
    return; /* a programmer error for gw_wsframe_header */
  uint8_t h[GW_WSFRAME_MAX_HEADER + 1];
  h[GW_WSFRAME_MAX_HEADER] = 0x5A;
  size_t n = gw_wsframe_header(h, fin, opcode, len, mask);
  if (h[GW_WSFRAME_MAX_HEADER] != 0x5A)
    FAIL("wrote past GW_WSFRAME_MAX_HEADER");
  size_t want = 2 + (len > 125) * 2 + (len > 65535) * 6 + (mask ? 4 : 0);
  gw_wsframe_t f;
  int rc = gw_wsframe_parse(h, n, &f);
  if (n != want || rc != (int)n || f.fin != fin || f.opcode != opcode ||
      f.len != len || f.masked != masked || f.rsv != 0 ||
      (mask && memcmp(f.mask, mask, 4) != 0))
    FAIL("fin %d opcode %d len %llu masked %d: %zu bytes, parsed %d", fin,
         opcode, (unsigned long long)len, masked, n, rc);
}

static void unmask_pieces(const uint8_t *data, size_t size) {
  if (size < 6)
    return;
  const uint8_t *key = data;
  size_t c1 = data[4] % (size - 5), c2 = data[5] % (size - 5);
  if (c1 > c2) {
    size_t t = c1;
    c1 = c2;
    c2 = t;
  }
  const uint8_t *src = data + 6;
  size_t n = size - 6;
  uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
  if (a == NULL || b == NULL)
    abort();
  if (n) {
    memcpy(a, src, n);
    memcpy(b, src, n);
  }
  c1 = c1 > n ? n : c1;
  c2 = c2 > n ? n : c2;
  uint64_t base = (uint64_t)data[4] << 32; /* a large starting offset */
  gw_wsframe_unmask(a, n, key, base);
  gw_wsframe_unmask(b, c1, key, base);
  gw_wsframe_unmask(b + c1, c2 - c1, key, base + c1);
  gw_wsframe_unmask(b + c2, n - c2, key, base + c2);
  for (size_t i = 0; i < n; i++)
    if (a[i] != (uint8_t)(src[i] ^ key[(base + i) & 3]) || b[i] != a[i])
      FAIL("unmask differs at %zu (cuts %zu, %zu)", i, c1, c2);
  gw_wsframe_unmask(a, n, key, base);
  if (n && memcmp(a, src, n) != 0)
    FAIL("unmasking twice does not restore");
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  parse_then_write(data, size);
  write_then_parse(data, size);
  unmask_pieces(data, size);
  return 0;
}
