/* SPDX-License-Identifier: MIT */
/* gw_config.c: flags and environment variables, from one table. */
#include "gw_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "gw_jwt.h"
#include "gw_log.h"

#ifndef GW_DEFAULT_WEB_ROOT
#define GW_DEFAULT_WEB_ROOT "web"
#endif
#ifndef GW_DEFAULT_CLIENT_JS
#define GW_DEFAULT_CLIENT_JS                                                   \
  "node_modules/socket.io-client/dist/socket.io.min.js"
#endif

typedef enum { OPT_STR, OPT_U64, OPT_LEVEL } opt_kind_t;

typedef struct {
  const char *flag;
  const char *env;
  opt_kind_t kind;
  size_t off;
  uint64_t min, max;
  const char *help;
} opt_t;

#define F(field) offsetof(gw_config_t, field)
static const opt_t opts[] = {
    {"--host", "CHAT_HOST", OPT_STR, F(host), 0, 0, "listen address"},
    {"--port", "CHAT_PORT", OPT_U64, F(port), 1, 65535, "listen port"},
    {"--web-root", "CHAT_WEB_ROOT", OPT_STR, F(web_root), 0, 0,
     "static files served at /"},
    {"--client-js", "CHAT_CLIENT_JS", OPT_STR, F(client_js), 0, 0,
     "socket.io-client bundle served at /socket.io/socket.io.js"},
    {"--allowed-origins", "CHAT_ALLOWED_ORIGINS", OPT_STR, F(allowed_origins),
     0, 0,
     "comma-separated Origins browsers may connect from, e.g. "
     "https://chat.example.com; absent: any"},
    {"--jwt-secret", "CHAT_JWT_SECRET", OPT_STR, F(jwt_secret), 0, 0,
     "HS256 key (at least 32 bytes): clients must connect with auth "
     "{token: <JWT>}; absent: no handshake auth"},
    {"--jwt-secret-file", "CHAT_JWT_SECRET_FILE", OPT_STR, F(jwt_secret_file),
     0, 0,
     "file holding the HS256 key (trailing newline ignored); keeps it "
     "out of ps and the environment"},
    {"--jwt-leeway", "CHAT_JWT_LEEWAY", OPT_U64, F(jwt_leeway_s), 0, 3600,
     "clock skew allowed on a token's exp and nbf, in seconds"},
    {"--tls-cert", "CHAT_TLS_CERT", OPT_STR, F(tls_cert), 0, 0,
     "PEM certificate (chain): serve https and wss; needs --tls-key"},
    {"--tls-key", "CHAT_TLS_KEY", OPT_STR, F(tls_key), 0, 0,
     "PEM private key of --tls-cert"},
    {"--redis", "REDIS_URL", OPT_STR, F(redis_url), 0, 0,
     "redis://[:password@]host:port[/db]; absent: in-memory adapter"},
    {"--node-id", "CHAT_NODE_ID", OPT_STR, F(node_id), 0, 0,
     "unique name of this process in a cluster"},
    {"--rate-limit", "CHAT_RATE_LIMIT", OPT_U64, F(rate_limit), 0, 1000000,
     "messages per second per socket (burst 2x); 0 disables"},
    {"--rate-burst", "CHAT_RATE_BURST", OPT_U64, F(rate_burst), 0, 1000000,
     "burst allowance; 0 means twice the rate"},
    {"--log-level", "CHAT_LOG_LEVEL", OPT_LEVEL, F(log_level), 0, 0,
     "error, warn, info or debug"},
    {"--ping-interval", "CHAT_PING_INTERVAL", OPT_U64, F(ping_interval_ms), 50,
     3600000, "Engine.IO pingInterval in ms"},
    {"--ping-timeout", "CHAT_PING_TIMEOUT", OPT_U64, F(ping_timeout_ms), 50,
     3600000, "Engine.IO pingTimeout in ms"},
    {"--max-payload", "CHAT_MAX_PAYLOAD", OPT_U64, F(max_payload), 1024,
     100000000, "largest inbound frame in bytes; larger closes the socket"},
    {"--queue-frames", "CHAT_QUEUE_FRAMES", OPT_U64, F(queue_frames), 4,
     1000000, "per-socket outbound queue bound in frames"},
    {"--queue-bytes", "CHAT_QUEUE_BYTES", OPT_U64, F(queue_bytes), 4096,
     1ull << 32, "per-socket outbound queue bound in bytes"},
    {"--drain-time", "CHAT_DRAIN_TIME", OPT_U64, F(drain_ms), 0, 3600000,
     "on SIGTERM, close sockets in batches over this many ms"},
    {"--max-rooms", "CHAT_MAX_ROOMS", OPT_U64, F(max_rooms), 1, 10000000,
     "room count bound (cluster-wide)"},
    {"--max-room-members", "CHAT_MAX_ROOM_MEMBERS", OPT_U64,
     F(max_room_members), 1, 10000000, "members per room bound"},
    {"--max-connections", "CHAT_MAX_CONNECTIONS", OPT_U64, F(max_connections),
     1, 1000000, "sockets per process"},
    {"--max-connections-per-ip", "CHAT_MAX_CONNECTIONS_PER_IP", OPT_U64,
     F(max_connections_per_ip), 0, 1000000,
     "sockets per client address (see --trusted-proxies); 0 disables"},
    {"--trusted-proxies", "CHAT_TRUSTED_PROXIES", OPT_STR, F(trusted_proxies),
     0, 0,
     "comma-separated proxy addresses/prefixes whose X-Forwarded-For names "
     "the client, e.g. 127.0.0.1,10.0.0.0/8; absent: none"},
    {"--max-name", "CHAT_MAX_NAME", OPT_U64, F(max_name_chars), 1, 1024,
     "longest room or user name, in characters"},
    {"--max-message", "CHAT_MAX_MESSAGE", OPT_U64, F(max_message_bytes), 1,
     1000000, "longest chat message, in bytes"},
    {"--max-queued-requests", "CHAT_MAX_QUEUED_REQUESTS", OPT_U64, F(inbox_max),
     1, 64,
     "requests a socket may queue behind its membership change in flight"},
    {"--redis-timeout", "CHAT_REDIS_TIMEOUT", OPT_U64, F(redis_timeout_ms), 10,
     600000, "deadline of each Redis command in ms"},
    {"--redis-max-pending", "CHAT_REDIS_MAX_PENDING", OPT_U64,
     F(redis_max_pending), 16, 10000000,
     "Redis commands in flight; beyond it requests get unavailable"},
    {"--heartbeat", "CHAT_HEARTBEAT", OPT_U64, F(heartbeat_ms), 100, 600000,
     "node heartbeat period in ms (Redis adapter)"},
    {"--node-ttl", "CHAT_NODE_TTL", OPT_U64, F(node_ttl_ms), 300, 3600000,
     "a node silent this long is dead and reaped, in ms"},
    {"--connect-timeout", "CHAT_CONNECT_TIMEOUT", OPT_U64,
     F(connect_timeout_ms), 50, 3600000,
     "an Engine.IO session that joins no namespace this long is closed, "
     "in ms (Socket.IO's connectTimeout)"},
    {"--csp", "CHAT_CSP", OPT_STR, F(csp), 0, 0,
     "Content-Security-Policy on every response: auto (strict for the "
     "bundled page, inline script and style allowed for another --web-root), "
     "off, or the policy itself"},
    {"--advertise", "CHAT_ADVERTISE", OPT_STR, F(advertise), 0, 0,
     "host:port other instances reach this one at, to relay polling "
     "requests and upgrades (Redis adapter); absent: $POD_IP:port, else "
     "--host:port"},
    {"--request-timeout", "CHAT_REQUEST_TIMEOUT", OPT_U64,
     F(request_timeout_ms), 100, 3600000,
     "a polling POST's whole body must arrive within this many ms; else "
     "its connection and session are closed"},
    {"--keepalive-timeout", "CHAT_KEEPALIVE_TIMEOUT", OPT_U64, F(keepalive_ms),
     100, 3600000,
     "an HTTP connection idle this long between requests is closed, in ms "
     "(keep it above a proxy's upstream keepalive_timeout)"},
    {"--max-relays", "CHAT_MAX_RELAYS", OPT_U64, F(max_relays), 0, 1000000,
     "requests and WebSockets relayed to other instances at once; 0 "
     "disables relaying"},
    {"--relay-timeout", "CHAT_RELAY_TIMEOUT", OPT_U64, F(relay_timeout_ms), 50,
     600000,
     "a relay's connect and answer deadline in ms (a long-poll GET gets "
     "--ping-interval more)"},
};
#undef F
#define NOPTS (sizeof(opts) / sizeof(*opts))

void gw_config_defaults(gw_config_t *c) {
  memset(c, 0, sizeof(*c));
  c->host = "127.0.0.1";
  c->port = 8000;
  c->web_root = GW_DEFAULT_WEB_ROOT;
  c->client_js = GW_DEFAULT_CLIENT_JS;
  c->rate_limit = 20;
  c->log_level = GW_LOG_INFO;
  c->ping_interval_ms = 25000;
  c->ping_timeout_ms = 20000;
  c->max_payload = 1000000;
  c->queue_frames = 1024;
  c->queue_bytes = 4u << 20;
  c->drain_ms = 10000;
  c->max_rooms = 10000;
  c->max_room_members = 10000;
  c->max_connections = 19000;
  c->max_connections_per_ip = 1000;
  c->jwt_leeway_s = 30;
  c->max_name_chars = 64;
  c->max_message_bytes = 4096;
  c->inbox_max = 32;
  c->redis_timeout_ms = 3000;
  c->redis_max_pending = 20000;
  c->heartbeat_ms = 2000;
  c->node_ttl_ms = 6000;
  c->connect_timeout_ms = 45000;
  c->csp = "auto";
  c->max_relays = 1024;
  c->relay_timeout_ms = 5000;
  c->keepalive_ms = 30000;
  c->request_timeout_ms = 10000;
}

/* The policy of the bundled page: no inline script or style, nothing from
 * elsewhere. A page that came from chat content can run nothing. */
static const char csp_strict[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
/* The default for a page of the user's own (--web-root): the usual chat
 * page has an inline <script> and <style> (the seeds' do), so those run;
 * the rest stays as strict. */
static const char csp_inline[] =
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'";

const char *gw_config_csp(const gw_config_t *c) {
  if (c->csp == NULL || strcmp(c->csp, "auto") == 0)
    return strcmp(c->web_root, GW_DEFAULT_WEB_ROOT) == 0 ? csp_strict
                                                         : csp_inline;
  if (strcmp(c->csp, "off") == 0)
    return NULL;
  if (strcmp(c->csp, "strict") == 0)
    return csp_strict;
  return c->csp;
}

static int set_opt(gw_config_t *c, const opt_t *o, const char *val,
                   const char *from, char *err, size_t errlen) {
  void *field = (char *)c + o->off;
  switch (o->kind) {
  case OPT_STR:
    if (*val == '\0') {
      snprintf(err, errlen, "%s: empty value", from);
      return GW_EINVAL;
    }
    *(const char **)field = val;
    return 0;
  case OPT_LEVEL: {
    int lv = gw_log_parse_level(val);
    if (lv < 0) {
      snprintf(err, errlen, "%s: unknown log level '%s'", from, val);
      return GW_EINVAL;
    }
    *(int *)field = lv;
    return 0;
  }
  case OPT_U64: {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || val[0] == '-' ||
        v < o->min || v > o->max) {
      snprintf(err, errlen, "%s: '%s' is not a number in [%llu, %llu]", from,
               val, (unsigned long long)o->min, (unsigned long long)o->max);
      return GW_EINVAL;
    }
    *(uint64_t *)field = v;
    return 0;
  }
  }
  return GW_EINVAL;
}

/* check_auth_tls validates the auth and TLS options and reads the secret
 * file. Files are checked here so that a typo fails at start with its
 * name, not later inside libwebsockets. */
static int check_auth_tls(gw_config_t *c, char *err, size_t errlen) {
  if (c->jwt_secret != NULL && c->jwt_secret_file != NULL) {
    snprintf(err, errlen,
             "--jwt-secret and --jwt-secret-file exclude each other");
    return GW_EINVAL;
  }
  if (c->jwt_secret_file != NULL) {
    FILE *f = fopen(c->jwt_secret_file, "rb");
    if (f == NULL) {
      snprintf(err, errlen, "--jwt-secret-file: %s: %s", c->jwt_secret_file,
               strerror(errno));
      return GW_EINVAL;
    }
    size_t n = fread(c->jwt_secret_buf, 1, sizeof(c->jwt_secret_buf), f);
    fclose(f);
    /* One trailing newline (echo, editors, kubectl create secret
     * --from-file) is not part of the key. */
    while (n > 0 && (c->jwt_secret_buf[n - 1] == '\n' ||
                     c->jwt_secret_buf[n - 1] == '\r'))
      n--;
    if (n >= sizeof(c->jwt_secret_buf) - 1 ||
        memchr(c->jwt_secret_buf, '\0', n) != NULL) {
      snprintf(err, errlen,
               "--jwt-secret-file: %s: over %zu bytes or binary (use a "
               "text key)",
               c->jwt_secret_file, sizeof(c->jwt_secret_buf) - 2);
      return GW_EINVAL;
    }
    c->jwt_secret_buf[n] = '\0';
    c->jwt_secret = c->jwt_secret_buf;
  }
  if (c->jwt_secret != NULL && strlen(c->jwt_secret) < GW_JWT_MIN_SECRET) {
    snprintf(err, errlen,
             "--jwt-secret: the HS256 key must have at least %d bytes "
             "(RFC 7518); e.g. openssl rand -hex 32",
             GW_JWT_MIN_SECRET);
    return GW_EINVAL;
  }
  if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
    snprintf(err, errlen, "--tls-cert and --tls-key go together");
    return GW_EINVAL;
  }
  const char *files[2] = {c->tls_cert, c->tls_key};
  for (int i = 0; i < 2 && c->tls_cert != NULL; i++) {
    FILE *f = fopen(files[i], "rb");
    if (f == NULL) {
      snprintf(err, errlen, "%s: %s: %s", i ? "--tls-key" : "--tls-cert",
               files[i], strerror(errno));
      return GW_EINVAL;
    }
    fclose(f);
  }
  return 0;
}

int gw_config_parse(gw_config_t *c, int argc, char **argv,
                    const char *(*getenv_fn)(const char *), char *err,
                    size_t errlen) {
  for (size_t i = 0; getenv_fn != NULL && i < NOPTS; i++) {
    const char *v = getenv_fn(opts[i].env);
    if (v != NULL && *v != '\0' &&
        set_opt(c, &opts[i], v, opts[i].env, err, errlen) != 0)
      return GW_EINVAL;
  }
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      c->help = 1;
      continue;
    }
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    const opt_t *o = NULL;
    for (size_t i = 0; i < NOPTS; i++)
      if (strlen(opts[i].flag) == nlen && strncmp(opts[i].flag, arg, nlen) == 0)
        o = &opts[i];
    if (o == NULL) {
      snprintf(err, errlen, "unknown option '%s' (see --help)", arg);
      return GW_EINVAL;
    }
    const char *val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
    if (val == NULL) {
      snprintf(err, errlen, "%s needs a value", o->flag);
      return GW_EINVAL;
    }
    if (set_opt(c, o, val, o->flag, err, errlen) != 0)
      return GW_EINVAL;
  }
  if (check_auth_tls(c, err, errlen) != 0)
    return GW_EINVAL;
  if (gw_ipnet_list_parse(c->trusted_proxies, &c->trusted) != 0) {
    snprintf(err, errlen,
             "--trusted-proxies: '%s' is not a list of addresses or "
             "prefixes (at most %d)",
             c->trusted_proxies, GW_IPNET_MAX);
    return GW_EINVAL;
  }
  return 0;
}

int gw_config_origin_allowed(const gw_config_t *c, const char *origin) {
  if (c->allowed_origins == NULL || origin == NULL)
    return 1;
  size_t ol = strlen(origin);
  for (const char *p = c->allowed_origins; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *e = p;
    while (*e && *e != ',' && *e != ' ')
      e++;
    if ((size_t)(e - p) == ol && ol > 0 && strncmp(p, origin, ol) == 0)
      return 1;
    p = e;
  }
  return 0;
}

void gw_config_usage(void *out) {
  FILE *f = out;
  gw_config_t d;
  gw_config_defaults(&d);
  fprintf(f, "usage: chat-gateway [options]\n\n"
             "A Socket.IO v5 (Engine.IO v4: WebSocket and long-polling) chat "
             "gateway.\n"
             "Each option can also be set by the environment variable "
             "shown.\n\n");
  for (size_t i = 0; i < NOPTS; i++) {
    const opt_t *o = &opts[i];
    char def[128] = "";
    const void *field = (const char *)&d + o->off;
    if (o->kind == OPT_U64)
      snprintf(def, sizeof(def), " (default %llu)",
               (unsigned long long)*(const uint64_t *)field);
    else if (o->kind == OPT_STR && *(const char *const *)field)
      snprintf(def, sizeof(def), " (default %s)", *(const char *const *)field);
    else if (o->kind == OPT_LEVEL)
      snprintf(def, sizeof(def), " (default info)");
    fprintf(f, "  %-20s %-22s %s%s\n", o->flag, o->env, o->help, def);
  }
  fprintf(f, "  %-20s %-22s %s\n", "--help", "", "this text");
  fprintf(f, "\nSIGTERM drains gracefully; SIGINT shuts down at once.\n");
}
