/* SPDX-License-Identifier: MIT */
/* gw_netaddr.h: IP addresses and prefixes for per-client limits. Which
 * address is "the client" depends on who connects: a browser directly, or a
 * reverse proxy (nginx, an ingress) that names the browser in
 * X-Forwarded-For. Only proxies we were told to trust may name someone
 * else; anybody can write that header. */
#ifndef GW_NETADDR_H
#define GW_NETADDR_H

#include <stddef.h>
#include <stdint.h>

/* An address in IPv6 form; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so
 * that one comparison covers both families. */
typedef struct gw_ipaddr {
  uint8_t b[16];
} gw_ipaddr_t;

typedef struct gw_ipnet {
  gw_ipaddr_t addr;
  unsigned bits; /* prefix length in the IPv6 form (IPv4 /n is 96 + n) */
} gw_ipnet_t;

#define GW_IPNET_MAX 32 /* entries in a trusted-proxy list */
#define GW_IPSTR_MAX 46 /* INET6_ADDRSTRLEN */

typedef struct gw_ipnet_list {
  gw_ipnet_t net[GW_IPNET_MAX];
  unsigned n;
} gw_ipnet_list_t;

/* gw_ipaddr_parse reads the IPv4 or IPv6 literal in |s|[0..|len|)
 * (surrounding spaces allowed, no port, no brackets). 0 or GW_EINVAL. */
int gw_ipaddr_parse(const char *s, size_t len, gw_ipaddr_t *out);

/* gw_ipaddr_format writes the canonical text of |a| (IPv4 dotted for mapped
 * addresses) into |buf| (GW_IPSTR_MAX bytes). */
void gw_ipaddr_format(const gw_ipaddr_t *a, char *buf);

/* gw_ipnet_list_parse reads a comma-separated list of addresses and
 * prefixes ("127.0.0.1, 10.0.0.0/8, fd00::/8") into |out|. NULL or "" is
 * the empty list. 0, or GW_EINVAL for a bad entry, a host part set beyond
 * the prefix, or more than GW_IPNET_MAX entries. */
int gw_ipnet_list_parse(const char *s, gw_ipnet_list_t *out);

/* gw_ipnet_list_match is 1 when |a| lies in one of the prefixes. */
int gw_ipnet_list_match(const gw_ipnet_list_t *l, const gw_ipaddr_t *a);

/* gw_client_addr picks the address to account a connection to. |peer| is
 * the TCP peer. When it is a trusted proxy and |xff| (the X-Forwarded-For
 * value, borrowed, may be NULL) names hops, the client is the rightmost hop
 * that is not itself trusted: entries left of it were written by the client
 * and prove nothing. A malformed hop stops the walk at the last good one. */
gw_ipaddr_t gw_client_addr(const gw_ipnet_list_t *trusted,
                           const gw_ipaddr_t *peer, const char *xff);

#endif /* GW_NETADDR_H */
