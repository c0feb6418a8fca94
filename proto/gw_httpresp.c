/* SPDX-License-Identifier: MIT */
/* gw_httpresp.c: HTTP/1.1 response head parser (see gw_httpresp.h).
 * Two passes over the bytes: the first finds the end of the head and fails
 * early on what no longer input can repair (a wrong start, a bare CR or LF);
 * the second, once the whole head is there, reads the status line and the
 * header fields. */
#include "gw_httpresp.h"

#include <string.h>

#include "gw_err.h"

/* ---- characters (RFC 9110 §5.6.2, §5.5) ----------------------------------
 */

/* is_tchar: a character of a token (a header name, a coding). */
static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* is_vchar_ws: a character allowed in a field value or reason phrase:
 * VCHAR, obs-text, SP and HTAB; no other control character. */
static int is_vchar_ws(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* ieq: |s|/|n| equals the lower-case literal |lit|, ASCII case-insensitively.
 */
static int ieq(const char *s, size_t n, const char *lit) {
  if (n != strlen(lit))
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != lit[i])
      return 0;
  }
  return 1;
}

/* next_elem hands out the next element of the comma-separated list
 * |*p|..|end|, trimmed of OWS, skipping empty elements (RFC 9110 §5.6.1).
 * Returns 1 with |*s|/|*n| set, or 0 at the end of the list. */
static int next_elem(const char **p, const char *end, const char **s,
                     size_t *n) {
  while (*p < end) {
    const char *c = memchr(*p, ',', (size_t)(end - *p));
    const char *stop = c ? c : end;
    const char *a = *p, *b = stop;
    *p = c ? c + 1 : end;
    while (a < b && is_ows(*a))
      a++;
    while (b > a && is_ows(b[-1]))
      b--;
    if (a < b) {
      *s = a;
      *n = (size_t)(b - a);
      return 1;
    }
  }
  return 0;
}

/* ---- the head ------------------------------------------------------------
 */

/* What the header fields say, before the final checks. */
typedef struct {
  gw_httpresp_t r;
  unsigned cl_seen : 1, ct_seen : 1, te_seen : 1, after_chunked : 1;
  unsigned conn_close : 1, keep_alive : 1, up_websocket : 1;
} head_t;

/* find_end returns the length of the head (through the first CRLFCRLF), 0
 * when it is not within the |len| bytes yet, or GW_EPROTO for a start other
 * than "HTTP/1.0" or "HTTP/1.1", a bare LF or a CR not followed by LF. Each
 * error concerns bytes before the end, so a longer input fails the same. */
static int find_end(const char *buf, size_t len) {
  size_t k = len < 8 ? len : 8;
  if (memcmp(buf, "HTTP/1.", k < 7 ? k : 7) != 0)
    return GW_EPROTO;
  if (k == 8 && buf[7] != '0' && buf[7] != '1')
    return GW_EPROTO;
  for (size_t i = 1; i < len; i++) {
    if (buf[i] == '\n') {
      if (buf[i - 1] != '\r')
        return GW_EPROTO;
      if (i >= 3 && buf[i - 2] == '\n') /* buf[i - 3] is then '\r' */
        return (int)(i + 1);
    } else if (buf[i - 1] == '\r') {
      return GW_EPROTO;
    }
  }
  return 0;
}

/* status_line reads "HTTP/1.x SP 3DIGIT [SP reason]" in |s|/|n|. */
static int status_line(const char *s, size_t n, head_t *h) {
  if (n < 12 || s[8] != ' ')
    return GW_EPROTO;
  int status = 0;
  for (size_t i = 9; i < 12; i++) {
    if (s[i] < '0' || s[i] > '9')
      return GW_EPROTO;
    status = status * 10 + (s[i] - '0');
  }
  if (status < 100 || status > 599)
    return GW_EPROTO;
  if (n > 12 && s[12] != ' ')
    return GW_EPROTO;
  for (size_t i = 13; i < n; i++)
    if (!is_vchar_ws((unsigned char)s[i]))
      return GW_EPROTO;
  h->r.status = status;
  return 0;
}

static int content_length(const char *v, size_t n, head_t *h) {
  if (h->cl_seen || n == 0)
    return GW_EPROTO;
  h->cl_seen = 1;
  int64_t cl = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return GW_EPROTO;
    int d = v[i] - '0';
    if (cl > (INT64_MAX - d) / 10)
      return GW_EPROTO;
    cl = cl * 10 + d;
  }
  h->r.content_length = cl;
  return 0;
}

/* transfer_encoding: the codings of every Transfer-Encoding line form one
 * list (RFC 9110 §5.3), which must end with chunked, applied once (RFC
 * 9112 §6.1); anything else leaves a body the relay cannot delimit. */
static int transfer_encoding(const char *v, size_t n, head_t *h) {
  const char *p = v, *s;
  size_t k;
  h->te_seen = 1;
  while (next_elem(&p, v + n, &s, &k)) {
    if (h->after_chunked)
      return GW_EPROTO;
    if (ieq(s, k, "chunked")) {
      h->after_chunked = 1;
      continue;
    }
    for (size_t i = 0; i < k; i++)
      if (!is_tchar((unsigned char)s[i]))
        return GW_EPROTO;
  }
  return 0;
}

static void connection(const char *v, size_t n, head_t *h) {
  const char *p = v, *s;
  size_t k;
  while (next_elem(&p, v + n, &s, &k)) {
    if (ieq(s, k, "close"))
      h->conn_close = 1;
    else if (ieq(s, k, "keep-alive"))
      h->keep_alive = 1;
  }
}

static void upgrade(const char *v, size_t n, head_t *h) {
  const char *p = v, *s;
  size_t k;
  while (next_elem(&p, v + n, &s, &k))
    if (ieq(s, k, "websocket"))
      h->up_websocket = 1;
}

/* field reads one header line |s|/|n| (no CRLF, not empty). */
static int field(const char *s, size_t n, head_t *h) {
  size_t i = 0;
  while (i < n && is_tchar((unsigned char)s[i]))
    i++;
  /* Also refuses obs-fold (a line starting with SP/HTAB: no name) and
   * whitespace between the name and ':' (RFC 9112 §5.1). */
  if (i == 0 || i == n || s[i] != ':')
    return GW_EPROTO;
  const char *name = s;
  size_t name_len = i;
  const char *v = s + i + 1, *ve = s + n;
  for (const char *c = v; c < ve; c++)
    if (!is_vchar_ws((unsigned char)*c))
      return GW_EPROTO;
  while (v < ve && is_ows(*v))
    v++;
  while (ve > v && is_ows(ve[-1]))
    ve--;
  size_t vl = (size_t)(ve - v);
  if (ieq(name, name_len, "content-length"))
    return content_length(v, vl, h);
  if (ieq(name, name_len, "transfer-encoding"))
    return transfer_encoding(v, vl, h);
  if (ieq(name, name_len, "content-type")) {
    if (h->ct_seen)
      return GW_EPROTO;
    h->ct_seen = 1;
    h->r.content_type = v;
    h->r.content_type_len = vl;
  } else if (ieq(name, name_len, "connection")) {
    connection(v, vl, h);
  } else if (ieq(name, name_len, "upgrade")) {
    upgrade(v, vl, h);
  }
  return 0;
}

int gw_httpresp_parse(const char *buf, size_t len, gw_httpresp_t *out) {
  memset(out, 0, sizeof(*out));
  out->content_length = -1;
  if (len == 0)
    return 0;
  size_t lim = len < GW_HTTPRESP_MAX_HEAD ? len : GW_HTTPRESP_MAX_HEAD;
  int end = find_end(buf, lim);
  if (end == 0)
    return len >= GW_HTTPRESP_MAX_HEAD ? GW_EPROTO : 0;
  if (end < 0)
    return end;

  head_t h;
  memset(&h, 0, sizeof(h));
  h.r.content_length = -1;
  /* Every line of buf[0..end) ends with CRLF and holds no other CR (see
   * find_end); the last line is the empty one. */
  const char *p = buf, *stop = buf + end - 2;
  const char *cr = memchr(p, '\r', (size_t)(stop - p));
  int rc = status_line(p, (size_t)(cr - p), &h);
  if (rc != 0)
    return rc;
  for (p = cr + 2; p < stop; p = cr + 2) {
    cr = memchr(p, '\r', (size_t)(stop - p));
    if ((rc = field(p, (size_t)(cr - p), &h)) != 0)
      return rc;
  }
  if (h.te_seen && !h.after_chunked)
    return GW_EPROTO;
  h.r.chunked = h.after_chunked;
  if (h.r.chunked && h.cl_seen)
    return GW_EPROTO;
  h.r.close = h.conn_close || (buf[7] == '0' && !h.keep_alive);
  h.r.upgrade = h.up_websocket && h.r.status == 101;
  *out = h.r;
  return end;
}
