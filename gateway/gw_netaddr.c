/* SPDX-License-Identifier: MIT */
/* gw_netaddr.c: address parsing, prefix matching, X-Forwarded-For. */
#include "gw_netaddr.h"

#include <arpa/inet.h>
#include <string.h>

#include "gw_err.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

/* trim narrows [*s, *s + *len) to its non-blank middle. */
static void trim(const char **s, size_t *len) {
  while (*len > 0 && is_space(**s)) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_space((*s)[*len - 1]))
    (*len)--;
}

int gw_ipaddr_parse(const char *s, size_t len, gw_ipaddr_t *out) {
  char buf[GW_IPSTR_MAX];
  trim(&s, &len);
  if (len == 0 || len >= sizeof(buf))
    return GW_EINVAL;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (memchr(buf, ':', len) != NULL)
    return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : GW_EINVAL;
  memcpy(out->b, v4_mapped, sizeof(v4_mapped));
  return inet_pton(AF_INET, buf, out->b + 12) == 1 ? 0 : GW_EINVAL;
}

void gw_ipaddr_format(const gw_ipaddr_t *a, char *buf) {
  const char *r;
  if (memcmp(a->b, v4_mapped, sizeof(v4_mapped)) == 0)
    r = inet_ntop(AF_INET, a->b + 12, buf, GW_IPSTR_MAX);
  else
    r = inet_ntop(AF_INET6, a->b, buf, GW_IPSTR_MAX);
  if (r == NULL)
    strcpy(buf, "?");
}

/* prefix_eq compares the first |bits| bits of |x| and |y|. */
static int prefix_eq(const uint8_t *x, const uint8_t *y, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (memcmp(x, y, whole) != 0)
    return 0;
  if (rest == 0)
    return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (x[whole] & mask) == (y[whole] & mask);
}

static int parse_net(const char *s, size_t len, gw_ipnet_t *out) {
  const char *slash = memchr(s, '/', len);
  size_t alen = slash != NULL ? (size_t)(slash - s) : len;
  if (gw_ipaddr_parse(s, alen, &out->addr) != 0)
    return GW_EINVAL;
  int v4 = memcmp(out->addr.b, v4_mapped, sizeof(v4_mapped)) == 0;
  unsigned max = v4 ? 32 : 128, bits = max;
  if (slash != NULL) {
    const char *p = slash + 1;
    size_t plen = len - alen - 1;
    trim(&p, &plen);
    if (plen == 0 || plen > 3)
      return GW_EINVAL;
    bits = 0;
    for (size_t i = 0; i < plen; i++) {
      if (p[i] < '0' || p[i] > '9')
        return GW_EINVAL;
      bits = bits * 10 + (unsigned)(p[i] - '0');
    }
    if (bits > max)
      return GW_EINVAL;
  }
  out->bits = v4 ? 96 + bits : bits;
  /* "10.1.2.3/8" is almost always a typo for 10.0.0.0/8 or a host: say so
   * instead of guessing. */
  for (unsigned i = out->bits; i < 128; i++)
    if (out->addr.b[i / 8] & (0x80 >> (i % 8)))
      return GW_EINVAL;
  return 0;
}

int gw_ipnet_list_parse(const char *s, gw_ipnet_list_t *out) {
  out->n = 0;
  if (s == NULL)
    return 0;
  while (*s != '\0') {
    const char *comma = strchr(s, ',');
    size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
    const char *e = s;
    size_t elen = len;
    trim(&e, &elen);
    if (elen > 0) {
      if (out->n == GW_IPNET_MAX || parse_net(e, elen, &out->net[out->n]) != 0)
        return GW_EINVAL;
      out->n++;
    }
    s += len;
    if (*s == ',')
      s++;
  }
  return 0;
}

int gw_ipnet_list_match(const gw_ipnet_list_t *l, const gw_ipaddr_t *a) {
  for (unsigned i = 0; i < l->n; i++)
    if (prefix_eq(l->net[i].addr.b, a->b, l->net[i].bits))
      return 1;
  return 0;
}

gw_ipaddr_t gw_client_addr(const gw_ipnet_list_t *trusted,
                           const gw_ipaddr_t *peer, const char *xff) {
  gw_ipaddr_t who = *peer;
  if (xff == NULL || !gw_ipnet_list_match(trusted, peer))
    return who;
  /* Walk the hops right to left while each one was added by a proxy we
   * trust. */
  size_t end = strlen(xff);
  while (end > 0) {
    size_t start = end;
    while (start > 0 && xff[start - 1] != ',')
      start--;
    gw_ipaddr_t hop;
    if (gw_ipaddr_parse(xff + start, end - start, &hop) != 0)
      break;
    who = hop;
    if (!gw_ipnet_list_match(trusted, &hop))
      break;
    end = start > 0 ? start - 1 : 0;
  }
  return who;
}
