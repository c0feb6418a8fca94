/* SPDX-License-Identifier: MIT */
/* fl_http.c: HTTP/1.1 response heads, chunked bodies and request heads for
 * chat-flood's polling transport (fl_http.h). */
#include "fl_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int digit(char c) {
  return c >= '0' && c <= '9';
}

static int hexval(char c) {
  if (digit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Finds "\r\n\r\n" in p[0..n). */
static const char *find_blank(const char *p, size_t n) {
  for (size_t i = 0; i + 4 <= n; i++)
    if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0)
      return p + i;
  return NULL;
}

/* 1 if the comma-separated list |v| (|vl| bytes) has the token |tok|. */
static int has_token(const char *v, size_t vl, const char *tok) {
  size_t tl = strlen(tok), i = 0;
  while (i < vl) {
    while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t s = i;
    while (i < vl && v[i] != ',')
      i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
      return 1;
  }
  return 0;
}

static int name_is(const char *name, size_t nl, const char *want) {
  return nl == strlen(want) && strncasecmp(name, want, nl) == 0;
}

long fl_http_head(const char *p, size_t n, fl_http_resp_t *r) {
  memset(r, 0, sizeof *r);
  size_t scan = n < FL_HTTP_MAX_HEAD ? n : FL_HTTP_MAX_HEAD;
  const char *end = find_blank(p, scan);
  if (end == NULL)
    return n >= FL_HTTP_MAX_HEAD ? -1 : 0;
  size_t head = (size_t)(end - p) + 4;
  /* status line: HTTP/1.x SSS[ reason] */
  if (head < 16 || memcmp(p, "HTTP/1.", 7) != 0 || !digit(p[7]) ||
      p[8] != ' ' || !digit(p[9]) || !digit(p[10]) || !digit(p[11]) ||
      (p[12] != ' ' && p[12] != '\r'))
    return -1;
  r->minor = p[7] - '0';
  r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  if (r->status < 100)
    return -1;
  int have_len = 0, chunked = 0, keep_alive = 0;
  uint64_t len = 0;
  /* header lines run from after the status line to the CRLF at |end| */
  const char *line = memchr(p, '\n', head);
  if (line[-1] != '\r')
    return -1;
  line++;
  while (line < end + 2) {
    const char *eol = memchr(line, '\r', (size_t)(end + 2 - line));
    if (eol == NULL || eol[1] != '\n' ||
        memchr(line, '\n', (size_t)(eol - line)))
      return -1;
    if (*line == ' ' || *line == '\t')
      return -1; /* obsolete line folding */
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon == NULL || colon == line)
      return -1;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t'))
      v++;
    size_t vl = (size_t)(eol - v);
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
      vl--;
    if (name_is(line, nl, "content-length")) {
      if (vl == 0 || vl > 15)
        return -1;
      uint64_t x = 0;
      for (size_t i = 0; i < vl; i++) {
        if (!digit(v[i]))
          return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
      }
      if (have_len && x != len)
        return -1; /* conflicting lengths */
      have_len = 1;
      len = x;
    } else if (name_is(line, nl, "transfer-encoding")) {
      /* chunked must be the only (and so the final) coding we see */
      if (!(vl == 7 && strncasecmp(v, "chunked", 7) == 0))
        return -1;
      chunked = 1;
    } else if (name_is(line, nl, "connection")) {
      if (has_token(v, vl, "close"))
        r->close = 1;
      if (has_token(v, vl, "keep-alive"))
        keep_alive = 1;
    }
    line = eol + 2;
  }
  if (r->minor == 0 && !keep_alive)
    r->close = 1;
  if (r->status < 200 || r->status == 204 || r->status == 304) {
    r->body = FL_HTTP_BODY_LENGTH;
    r->length = 0;
  } else if (chunked) {
    r->body = FL_HTTP_BODY_CHUNKED;
  } else if (have_len) {
    r->body = FL_HTTP_BODY_LENGTH;
    r->length = len;
  } else {
    r->body = FL_HTTP_BODY_EOF;
    r->close = 1;
  }
  return (long)head;
}

/* One pass over a chunked body; copies the data to |out| when not NULL. */
static long chunked_pass(const char *p, size_t n, char *out, size_t *outlen) {
  size_t i = 0, o = 0;
  for (;;) {
    /* chunk-size [; extensions] CRLF */
    uint64_t size = 0;
    size_t digits = 0;
    int h;
    while (i < n && (h = hexval(p[i])) >= 0) {
      if (++digits > 12)
        return -1; /* over 2^48: not from any server we test */
      size = size * 16 + (uint64_t)h;
      i++;
    }
    if (i >= n)
      return 0;
    if (digits == 0)
      return -1;
    while (i < n && p[i] != '\r') {
      if (p[i] == '\n')
        return -1;
      i++; /* chunk extensions: ignored */
    }
    if (i + 1 >= n)
      return 0;
    if (p[i + 1] != '\n')
      return -1;
    i += 2;
    if (size == 0)
      break;
    if ((uint64_t)(n - i) < size + 2)
      return 0;
    if (p[i + size] != '\r' || p[i + size + 1] != '\n')
      return -1;
    if (out != NULL)
      memmove(out + o, p + i, (size_t)size);
    o += (size_t)size;
    i += (size_t)size + 2;
  }
  /* trailer fields, then the blank line */
  for (;;) {
    const char *eol = NULL;
    for (size_t j = i; j + 1 < n; j++)
      if (p[j] == '\r' && p[j + 1] == '\n') {
        eol = p + j;
        break;
      }
    if (eol == NULL)
      return 0;
    size_t ll = (size_t)(eol - (p + i));
    i += ll + 2;
    if (ll == 0)
      break;
  }
  if (outlen != NULL)
    *outlen = o;
  return (long)i;
}

long fl_http_chunked(const char *p, size_t n, char *out, size_t *outlen) {
  long rc = chunked_pass(p, n, NULL, NULL);
  if (rc <= 0 || out == NULL)
    return rc;
  return chunked_pass(p, n, out, outlen);
}

size_t fl_http_request(char *out, size_t cap, const char *method,
                       const char *host, const char *target, const char *ctype,
                       size_t body_len) {
  int n;
  if (ctype != NULL)
    n = snprintf(out, cap,
                 "%s %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "\r\n",
                 method, target, host, ctype, body_len);
  else
    n = snprintf(out, cap,
                 "%s %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "\r\n",
                 method, target, host);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
