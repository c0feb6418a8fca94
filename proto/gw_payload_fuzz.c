/* SPDX-License-Identifier: MIT */
/* gw_payload_fuzz.c: fuzz target for the polling payload iterator and the
 * UTF-8 check (gw_payload.c). Properties, each aborting when broken:
 *  - the packets are non-empty, hold no 0x1e, and follow one another in the
 *    buffer, one separator apart;
 *  - the iterator ends with 0 exactly when the input is non-empty and has
 *    no empty record, and then joining the packets with 0x1e gives back the
 *    input (and gw_payload_size measures it); its answer then sticks;
 *  - gw_utf8_valid agrees with a decoder written differently here (code
 *    point arithmetic, not byte ranges), and, since 0x1e is ASCII, the
 *    whole payload is valid exactly when each of its packets is.
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "gw_payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

/* utf8_ref decodes each sequence into its code point and refuses what RFC
 * 3629 refuses: a longer form than the code point needs, surrogates, and
 * anything above U+10FFFF. */
static int utf8_ref(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t c = s[i];
    size_t k;
    uint32_t min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return 0;
      c = c << 6 | (s[i + j] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* well_formed: non-empty, no leading or trailing 0x1e, no two in a row. */
static int well_formed(const uint8_t *d, size_t n) {
  if (n == 0 || d[0] == 0x1e || d[n - 1] == 0x1e)
    return 0;
  for (size_t i = 1; i < n; i++)
    if (d[i] == 0x1e && d[i - 1] == 0x1e)
      return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  size_t *lens = malloc((size / 2 + 1) * sizeof(*lens));
  if (lens == NULL)
    return 0;
  gw_payload_iter_t it;
  gw_payload_iter_init(&it, buf, size);
  const char *pkt, *expect = buf;
  size_t len, n = 0;
  int rc, all_utf8 = 1;
  while ((rc = gw_payload_next(&it, &pkt, &len)) == 1) {
    if (len == 0 || pkt != expect || len > size - (size_t)(pkt - buf))
      FAIL("packet %zu: at %td, len %zu, expected at %td", n, pkt - buf, len,
           expect - buf);
    if (memchr(pkt, 0x1e, len) != NULL)
      FAIL("packet %zu holds a separator", n);
    if (n > size / 2)
      FAIL("more packets than a payload of %zu bytes can hold", size);
    lens[n++] = len;
    all_utf8 &= gw_utf8_valid(pkt, len);
    expect = pkt + len;
    if (expect < buf + size) {
      if (*expect != 0x1e)
        FAIL("packet %zu is not followed by a separator", n - 1);
      expect++;
    }
  }
  if (rc != 0 && rc != GW_EPROTO)
    FAIL("iterator returned %d", rc);
  for (int again = 0; again < 2; again++)
    if (gw_payload_next(&it, &pkt, &len) != rc)
      FAIL("answer %d does not stick", rc);
  if ((rc == 0) != well_formed(data, size))
    FAIL("iterator ended with %d on a payload that is%s well formed", rc,
         rc == 0 ? " not" : "");
  if (rc == 0) {
    /* The packets tile the input: the last one ends at its end. */
    if (expect != buf + size)
      FAIL("ended with 0 at %td of %zu", expect - buf, size);
    if (gw_payload_size(lens, n) != size)
      FAIL("gw_payload_size %zu != %zu", gw_payload_size(lens, n), size);
    int whole = gw_utf8_valid(buf, size);
    if (whole != all_utf8)
      FAIL("utf8: whole %d, packets %d", whole, all_utf8);
  }
  free(lens);

  int v = gw_utf8_valid(buf, size), ref = utf8_ref(data, size);
  if (v != ref)
    FAIL("gw_utf8_valid %d, reference %d", v, ref);
  return 0;
}
