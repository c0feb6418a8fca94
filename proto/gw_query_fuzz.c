/* SPDX-License-Identifier: MIT */
/* gw_query_fuzz.c: fuzz target for the Engine.IO handshake query checks
 * (gw_eio.c), with the transport and sid of polling requests. The input is read
 * two ways, which must agree:
 *  - as libwebsockets hands a query to the gateway: decoded arguments, here
 *    separated by '\n', each fed to gw_eio_query_add;
 *  - percent-encoded by this harness into "name=value&..." and given to
 *    gw_eio_query_check, which must decode it back to the same answer.
 * Then the raw input itself goes to gw_eio_query_check, for its own sake.
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_eio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* enc appends |p|/|n| percent-encoded (every byte but [A-Za-z0-9]; spaces
 * sometimes as '+') to |o|. */
static size_t enc(char *o, const uint8_t *p, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
      o[k++] = (char)c;
    } else if (c == ' ' && (i & 1)) {
      o[k++] = '+';
    } else {
      o[k++] = '%';
      o[k++] = hex[c >> 4];
      o[k++] = (i & 2) ? (char)(hex[c & 15] | 0x20) : hex[c & 15]; /* a-f */
    }
  }
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gw_eio_query_t q;
  gw_eio_query_init(&q);
  char *raw = malloc(size * 3 + 1);
  if (raw == NULL)
    return 0;
  size_t rl = 0;
  const uint8_t *p = data, *end = data + size;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *stop = nl ? nl : end;
    size_t len = (size_t)(stop - p);
    gw_eio_query_add(&q, (const char *)p, len);
    /* Re-encode: name, then the first '=' literally, then the value. */
    const uint8_t *eq = memchr(p, '=', len);
    if (len > 0) {
      if (rl > 0)
        raw[rl++] = '&';
      rl += enc(raw + rl, p, eq ? (size_t)(eq - p) : len);
      if (eq != NULL) {
        raw[rl++] = '=';
        rl += enc(raw + rl, eq + 1, (size_t)(stop - eq - 1));
      }
    }
    p = nl ? nl + 1 : end;
  }
  const char *a = gw_eio_query_error(&q);
  const char *b = gw_eio_query_check(raw, rl);
  if (a != b) {
    fprintf(stderr, "decoded: %s\nencoded %.*s: %s\n", a ? a : "ok", (int)rl,
            raw, b ? b : "ok");
    abort();
  }
  /* The transport and the sid (polling requests and upgrades) agree too,
   * and a sid, when there is one, is 20 URL-safe characters or "". */
  gw_eio_query_t e;
  gw_eio_query_init(&e);
  gw_eio_query_parse(&e, raw, rl);
  const char *sa = gw_eio_query_sid(&q), *sb = gw_eio_query_sid(&e);
  if (gw_eio_query_transport(&q) != gw_eio_query_transport(&e) ||
      (sa == NULL) != (sb == NULL) || (sa != NULL && strcmp(sa, sb) != 0) ||
      (sa != NULL && strlen(sa) != 0 && strlen(sa) != 20)) {
    fprintf(stderr, "transport or sid differ for %.*s\n", (int)rl, raw);
    abort();
  }
  free(raw);
  /* The raw bytes as a query string: any answer, but no crash. */
  (void)gw_eio_query_check((const char *)data, size);
  return 0;
}
