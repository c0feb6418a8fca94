/* SPDX-License-Identifier: MIT */
/* gw_config.h: the gateway's settings, from flags and environment.
 * Every flag has an environment twin (CHAT_PORT, REDIS_URL, ...); a flag
 * wins over the environment, which wins over the default. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gw_netaddr.h"

typedef struct gw_config {
  const char *host;
  uint64_t port;
  const char *web_root;
  const char *client_js;
  const char *allowed_origins; /* comma-separated; NULL: any origin */
  /* Handshake auth and TLS (docs/security.md). */
  const char *jwt_secret;      /* HS256 key; NULL: no handshake auth */
  const char *jwt_secret_file; /* read into jwt_secret_buf at parse time */
  uint64_t jwt_leeway_s;       /* clock skew allowed on exp/nbf */
  const char *tls_cert;        /* PEM paths; both or neither */
  const char *tls_key;
  const char *redis_url; /* NULL: in-memory adapter */
  const char *node_id;   /* NULL: derived from hostname and pid */
  uint64_t rate_limit;   /* messages/s per socket; 0 disables */
  uint64_t rate_burst;   /* 0: twice the rate */
  int log_level;
  uint64_t ping_interval_ms;
  uint64_t ping_timeout_ms;
  uint64_t max_payload;
  uint64_t queue_frames;
  uint64_t queue_bytes;
  uint64_t drain_ms;
  uint64_t max_rooms;
  uint64_t max_room_members;
  uint64_t max_connections;
  uint64_t max_connections_per_ip; /* 0: no bound */
  const char *trusted_proxies;     /* see gw_netaddr.h */
  gw_ipnet_list_t trusted;         /* parsed trusted_proxies */
  uint64_t max_name_chars;
  uint64_t max_message_bytes;
  uint64_t inbox_max; /* requests waiting behind one in flight */
  uint64_t redis_timeout_ms;
  uint64_t redis_max_pending;
  uint64_t heartbeat_ms;
  uint64_t node_ttl_ms;
  uint64_t connect_timeout_ms; /* no CONNECT this long: closed */
  const char *csp;             /* "auto", "strict", "off" or a policy */
  const char *advertise;       /* host:port peers relay to; NULL: derived */
  uint64_t max_relays;         /* relays in flight; 0: no relaying */
  uint64_t relay_timeout_ms;
  uint64_t keepalive_ms; /* idle keep-alive HTTP connections closed then */
  uint64_t request_timeout_ms; /* a POST body's absolute deadline */
  int help;
  char node_id_buf[96];
  char jwt_secret_buf[1025]; /* --jwt-secret-file's content */
} gw_config_t;

/* gw_config_defaults fills |c| with the defaults. */
void gw_config_defaults(gw_config_t *c);

/* gw_config_parse applies the environment (read through |getenv_fn|, e.g.
 * getenv) and then |argv| on top of |c|. Strings are borrowed from argv and
 * the environment. Returns 0, or GW_EINVAL with a message in |err|. */
int gw_config_parse(gw_config_t *c, int argc, char **argv,
                    const char *(*getenv_fn)(const char *), char *err,
                    size_t errlen);

/* gw_config_origin_allowed says whether a WebSocket handshake with Origin
 * header |origin| (NULL when absent) may proceed: yes when no allow-list is
 * configured or the request has no Origin (not a browser); otherwise the
 * origin must equal one entry exactly (scheme://host[:port]). */
int gw_config_origin_allowed(const gw_config_t *c, const char *origin);

/* gw_config_csp returns the Content-Security-Policy of every response
 * (static or borrowed from |c|), or NULL for none (--csp off). "auto" is
 * strict for the bundled web root and lets a custom --web-root's page run
 * its inline script and style; "strict" is the bundled page's. */
const char *gw_config_csp(const gw_config_t *c);

/* gw_config_usage writes the --help text to |out| (a FILE *). */
void gw_config_usage(void *out);

#endif /* GW_CONFIG_H */
