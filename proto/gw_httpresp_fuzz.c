/* SPDX-License-Identifier: MIT */
/* gw_httpresp_fuzz.c: fuzz target for the HTTP/1.1 response head parser
 * (gw_httpresp.c). Properties, each aborting when broken:
 *  - on a prefix the answer is 0 or the whole input's answer (the same
 *    error, or the same length once the prefix holds the head), never
 *    another length: a reader may parse again as bytes arrive;
 *  - a length is that of the first CRLFCRLF's end, at most 8192; 0 means
 *    no CRLFCRLF yet and fewer than 8192 bytes; |out| is cleared unless
 *    a length is returned;
 *  - an accepted head parsed from an exact-size copy of itself gives the
 *    same result (nothing past the head is read);
 *  - what it reports agrees with a naive line scan made here: CRLF line
 *    ends only, status in 100..599 and equal to the status line's digits,
 *    Content-Type inside the head, Content-Length equal to the one such
 *    line's digits (or -1 with none), never both a length and chunked,
 *    upgrade only on 101.
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "gw_httpresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

/* parse_copy parses the first |n| bytes from a heap copy of exactly that
 * size, so that ASan sees any read past them. */
static int parse_copy(const uint8_t *data, size_t n, gw_httpresp_t *r) {
  char *c = malloc(n ? n : 1);
  if (c == NULL)
    abort();
  if (n)
    memcpy(c, data, n);
  int rc = gw_httpresp_parse(c, n, r);
  if (rc > 0 && r->content_type != NULL)
    r->content_type = (const char *)data + (r->content_type - c);
  free(c);
  return rc;
}

static int cleared(const gw_httpresp_t *r) {
  return r->status == 0 && r->content_length == -1 && !r->chunked &&
         !r->close && !r->upgrade && r->content_type == NULL &&
         r->content_type_len == 0;
}

static int same(const gw_httpresp_t *a, const gw_httpresp_t *b) {
  return a->status == b->status && a->content_length == b->content_length &&
         a->chunked == b->chunked && a->close == b->close &&
         a->upgrade == b->upgrade && a->content_type == b->content_type &&
         a->content_type_len == b->content_type_len;
}

/* first_end: the length through the first CRLFCRLF, or 0. */
static size_t first_end(const uint8_t *d, size_t n) {
  for (size_t i = 3; i < n; i++)
    if (memcmp(d + i - 3, "\r\n\r\n", 4) == 0)
      return i + 1;
  return 0;
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* line_is: the line at |l| (length |n|) starts with the header name
 * |name| (lower case) and a colon. */
static int line_is(const uint8_t *l, size_t n, const char *name) {
  size_t k = strlen(name);
  if (n <= k || l[k] != ':')
    return 0;
  for (size_t i = 0; i < k; i++)
    if (lower(l[i]) != name[i])
      return 0;
  return 1;
}

/* check_head compares an accepted head |d|/|n| with a naive line scan. */
static void check_head(const uint8_t *d, size_t n, const gw_httpresp_t *r) {
  if (r->status < 100 || r->status > 599)
    FAIL("status %d", r->status);
  int digits = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
  if (memcmp(d, "HTTP/1.", 7) != 0 || d[8] != ' ' || digits != r->status)
    FAIL("status line does not say %d", r->status);
  if (r->content_type != NULL &&
      (r->content_type < (const char *)d ||
       r->content_type + r->content_type_len > (const char *)d + n))
    FAIL("content type outside the head");
  if (r->content_type == NULL && r->content_type_len != 0)
    FAIL("content type NULL with length %zu", r->content_type_len);
  if (r->chunked && r->content_length >= 0)
    FAIL("both chunked and a length");
  if (r->upgrade && r->status != 101)
    FAIL("upgrade on %d", r->status);
  for (size_t i = 0; i < n; i++)
    if ((d[i] == '\n') != (i > 0 && d[i - 1] == '\r'))
      FAIL("bare CR or LF at %zu", i);
  int cl_lines = 0, te_lines = 0;
  uint64_t cl = (uint64_t)-1;
  for (size_t i = 0; i + 1 < n;) {
    const uint8_t *l = d + i;
    const uint8_t *cr = memchr(l, '\r', n - i);
    size_t ll = (size_t)(cr - l);
    if (line_is(l, ll, "content-length")) {
      /* the value, trimmed, is 1 to 19 digits */
      size_t a = 15, b = ll;
      while (a < b && (l[a] == ' ' || l[a] == '\t'))
        a++;
      while (b > a && (l[b - 1] == ' ' || l[b - 1] == '\t'))
        b--;
      if (a == b || b - a > 19)
        FAIL("content-length of %zu characters accepted", b - a);
      cl_lines++;
      cl = 0;
      for (size_t j = a; j < b; j++) {
        if (l[j] < '0' || l[j] > '9')
          FAIL("content-length with '%c' accepted", l[j]);
        cl = cl * 10 + (uint64_t)(l[j] - '0');
      }
    }
    te_lines += line_is(l, ll, "transfer-encoding");
    i += ll + 2;
  }
  if (cl_lines > 1 || cl != (uint64_t)r->content_length)
    FAIL("%d content-length lines, %lld, parser says %lld", cl_lines,
         (long long)cl, (long long)r->content_length);
  if (te_lines > 0 && !r->chunked)
    FAIL("transfer-encoding accepted without chunked");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gw_httpresp_t r, r2, fresh;
  memset(&fresh, 0xA5, sizeof(fresh));
  memcpy(&r, &fresh, sizeof(r));
  int rc = gw_httpresp_parse((const char *)data, size, &r);
  size_t lim = size < GW_HTTPRESP_MAX_HEAD ? size : GW_HTTPRESP_MAX_HEAD;
  size_t end = first_end(data, lim);

  if (rc > 0) {
    if ((size_t)rc != end)
      FAIL("length %d, first CRLFCRLF ends at %zu", rc, end);
    check_head(data, (size_t)rc, &r);
    memcpy(&r2, &fresh, sizeof(r2));
    if (parse_copy(data, (size_t)rc, &r2) != rc || !same(&r, &r2))
      FAIL("the head alone parses differently");
  } else {
    if (!cleared(&r))
      FAIL("|out| not cleared on %d", rc);
    if (rc == 0 && (end != 0 || size >= GW_HTTPRESP_MAX_HEAD))
      FAIL("0 with %zu bytes, end at %zu", size, end);
    if (rc != 0 && rc != GW_EPROTO)
      FAIL("returned %d", rc);
  }

  /* Prefixes: every one for small inputs, else a sample, plus the ones
   * just before the head's end and the bound. */
  size_t step = size <= 256 ? 1 : size / 97 + 1;
  size_t extra[2] = {rc > 0 ? (size_t)rc - 1 : 0, GW_HTTPRESP_MAX_HEAD - 1};
  for (size_t k = 0, e = 0; k < size || e < 2;) {
    size_t p = k < size ? k : extra[e++];
    k += k < size ? step : 0;
    if (p >= size)
      continue;
    memcpy(&r2, &fresh, sizeof(r2));
    int pr = parse_copy(data, p, &r2);
    int want_len = rc > 0 && p >= (size_t)rc; /* the head is in the prefix */
    if (want_len ? pr != rc : pr != 0 && (pr != rc || rc > 0))
      FAIL("prefix %zu: %d, whole input (%zu bytes): %d", p, pr, size, rc);
    if (pr <= 0 && !cleared(&r2))
      FAIL("prefix %zu: |out| not cleared on %d", p, pr);
  }
  return 0;
}
