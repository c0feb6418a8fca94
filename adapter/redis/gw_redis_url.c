/* SPDX-License-Identifier: MIT */
/* gw_redis_url.c: redis:// URL parsing (see gw_redis_url.h). */
#include "gw_redis_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_err.h"
#include "gw_text.h"

/* pct_copy decodes [s, s+n) into |dst| (|cap| bytes with the NUL). */
static int pct_copy(char *dst, size_t cap, const char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= n || (hi = gw_hexval(s[i + 1])) < 0 ||
          (lo = gw_hexval(s[i + 2])) < 0)
        return GW_EINVAL;
      c = (char)(hi * 16 + lo);
      if (c == '\0')
        return GW_EINVAL;
      i += 2;
    }
    if (o + 1 >= cap)
      return GW_EINVAL;
    dst[o++] = c;
  }
  dst[o] = '\0';
  return 0;
}

static int parse_uint(const char *s, size_t n, long max, int *out) {
  long v = 0;
  if (n == 0 || n > 9)
    return GW_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return GW_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  if (v > max)
    return GW_EINVAL;
  *out = (int)v;
  return 0;
}

int gw_redis_url_parse(const char *url, gw_redis_url_t *out) {
  static const char scheme[] = "redis://";
  if (url == NULL || out == NULL)
    return GW_EINVAL;
  memset(out, 0, sizeof(*out));
  out->port = 6379;
  if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
    return GW_EINVAL;
  const char *p = url + sizeof(scheme) - 1;
  const char *end = p + strcspn(p, "/?#");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@')
      at = q; /* the last '@': passwords may contain '@' only encoded */
  if (at != NULL) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon != NULL) {
      if (colon > p) {
        if (pct_copy(out->user, sizeof(out->user), p, (size_t)(colon - p)))
          return GW_EINVAL;
        out->has_user = 1;
      }
      if (pct_copy(out->password, sizeof(out->password), colon + 1,
                   (size_t)(at - colon - 1)))
        return GW_EINVAL;
      out->has_password = 1;
    } else if (at > p) {
      /* redis://password@host: the common legacy form. */
      if (pct_copy(out->password, sizeof(out->password), p, (size_t)(at - p)))
        return GW_EINVAL;
      out->has_password = 1;
    }
    p = at + 1;
  }
  const char *hend;
  const char *portp = NULL;
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (rb == NULL)
      return GW_EINVAL;
    if (pct_copy(out->host, sizeof(out->host), p + 1, (size_t)(rb - p - 1)))
      return GW_EINVAL;
    hend = rb + 1;
    if (hend < end) {
      if (*hend != ':')
        return GW_EINVAL;
      portp = hend + 1;
    }
  } else {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    hend = colon ? colon : end;
    if (pct_copy(out->host, sizeof(out->host), p, (size_t)(hend - p)))
      return GW_EINVAL;
    if (colon != NULL)
      portp = colon + 1;
  }
  if (out->host[0] == '\0')
    return GW_EINVAL;
  if (portp != NULL &&
      (parse_uint(portp, (size_t)(end - portp), 65535, &out->port) ||
       out->port == 0))
    return GW_EINVAL;
  if (*end == '/') {
    const char *d = end + 1;
    size_t n = strcspn(d, "?#");
    if (n > 0 && parse_uint(d, n, 1000000, &out->db))
      return GW_EINVAL;
    end = d + n;
  }
  if (*end != '\0')
    return GW_EINVAL; /* no query options are supported */
  return 0;
}
