/* SPDX-License-Identifier: MIT */
/* gw_redis_url.h: parse redis://[[user]:password@]host[:port][/db].
 * The host may be a name, an IPv4 address or a bracketed IPv6 address. User
 * and password are percent-decoded. */
#ifndef GW_REDIS_URL_H
#define GW_REDIS_URL_H

typedef struct gw_redis_url {
  char host[256];
  int port;     /* default 6379 */
  int db;       /* default 0 */
  int has_user; /* Redis 6 ACL user given */
  int has_password;
  char user[128];
  char password[256];
} gw_redis_url_t;

/* gw_redis_url_parse fills |out| from |url| (borrowed). Returns 0 or
 * GW_EINVAL. */
int gw_redis_url_parse(const char *url, gw_redis_url_t *out);

#endif /* GW_REDIS_URL_H */
