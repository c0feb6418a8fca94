/* SPDX-License-Identifier: MIT */
/* gw_http.c: HTTP (gw_server_int.h): the endpoints /healthz, /readyz and
 * /metrics, /socket.io requests that are no upgrade (the client bundle,
 * Engine.IO's errors, polling handed to gw_poll.c), the mounts that route
 * them here and the rest to the web root, the headers on every response
 * (--csp), CORS, admission of new sessions (state, --max-connections, the
 * per-address count), and the plain answer to an upgrade refused before any
 * WebSocket byte. */
/* realpath is XSI (beyond the build's _POSIX_C_SOURCE 200809L). */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_eio.h"
#include "gw_log.h"
#include "gw_netaddr.h"
#include "gw_server_int.h"

/* ---- headers and mime types --------------------------------------------- */

/* Headers on every HTTP response, then the Content-Security-Policy --csp
 * asks for (gw_config_csp): by default, the bundled chat page must never
 * run script that came from chat content. */
static const struct lws_protocol_vhost_options hdr_ref = {
    NULL, NULL, "referrer-policy:", "no-referrer"};
static const struct lws_protocol_vhost_options hdr_frame = {
    &hdr_ref, NULL, "x-frame-options:", "DENY"};
static const struct lws_protocol_vhost_options hdr_nosniff = {
    &hdr_frame, NULL, "x-content-type-options:", "nosniff"};
static const struct lws_protocol_vhost_options hdr_hsts = {
    &hdr_nosniff, NULL, "strict-transport-security:", "max-age=31536000"};

/* Text types carry their charset (lws's defaults do not). */
/* Last: any other file is plain bytes, so an unknown extension answers
 * like a known one (lws would say 415 for it and 404 for a missing file,
 * telling which files exist). */
static const struct lws_protocol_vhost_options mime_any = {
    NULL, NULL, "*", "application/octet-stream"};
static const struct lws_protocol_vhost_options mime_svg = {
    &mime_any, NULL, ".svg", "image/svg+xml"};
static const struct lws_protocol_vhost_options mime_json = {
    &mime_svg, NULL, ".json", "application/json; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_css = {
    &mime_json, NULL, ".css", "text/css; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_js = {
    &mime_css, NULL, ".js", "text/javascript; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_html = {
    &mime_js, NULL, ".html", "text/html; charset=utf-8"};

/* ---- admission and per-address accounting ----------------------------- */

/* Sessions open from one client address. The entry exists while n > 0,
 * so the table holds at most one entry per open session. */
typedef struct gw__ip_count {
  unsigned n;
  char key[GW_IPSTR_MAX];
} ip_count_t;

/* client_key writes the address |wsi| is accounted to (see gw_client_addr)
 * into |key|. 0, or -1 when lws cannot name the peer. */
static int client_key(gw_server_t *srv, struct lws *wsi, char *key) {
  char peer[64], xff[512];
  gw_ipaddr_t pa;
  if (lws_get_peer_simple(wsi, peer, sizeof(peer)) == NULL ||
      gw_ipaddr_parse(peer, strlen(peer), &pa) != 0)
    return -1;
  const char *x = NULL;
  /* A header too long to copy names nobody: account to the peer. */
  if (srv->cfg->trusted.n > 0 &&
      lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
      lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0)
    x = xff;
  gw_ipaddr_t who = gw_client_addr(&srv->cfg->trusted, &pa, x);
  gw_ipaddr_format(&who, key);
  return 0;
}

void gw__ip_release(gw_server_t *srv, ip_count_t *c) {
  if (c != NULL && --c->n == 0) {
    gw_map_del(&srv->ips, c->key);
    free(c);
  }
}

ip_count_t *gw__ip_acquire(gw_server_t *srv, struct lws *wsi) {
  char key[GW_IPSTR_MAX];
  if (srv->cfg->max_connections_per_ip == 0 || client_key(srv, wsi, key) != 0)
    return NULL;
  ip_count_t *c = gw_map_get(&srv->ips, key);
  if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
    memcpy(c->key, key, sizeof(c->key));
    if (gw_map_put(&srv->ips, c->key, c) != 0) {
      free(c);
      c = NULL;
    }
  }
  if (c != NULL)
    c->n++;
  return c; /* out of memory: this one session goes uncounted */
}

int gw__http_admit(gw_server_t *srv, struct lws *wsi, const char **reason,
                   const char **body) {
  if (srv->state != ST_RUNNING) {
    srv->metrics.rejected_connections++;
    *reason = "Service Unavailable";
    *body = "{\"code\":4,\"message\":\"Server is draining\"}";
    return 503;
  }
  if (srv->metrics.sessions[GW__T_WEBSOCKET] +
          srv->metrics.sessions[GW__T_POLLING] >=
      srv->cfg->max_connections) {
    srv->metrics.rejected_connections++;
    srv->metrics.limit_hits[GW_LIMIT_CONNECTIONS]++;
    *reason = "Service Unavailable";
    *body = "{\"code\":4,\"message\":\"Too many connections\"}";
    return 503;
  }
  char key[GW_IPSTR_MAX];
  ip_count_t *c;
  if (srv->cfg->max_connections_per_ip > 0 && client_key(srv, wsi, key) == 0 &&
      (c = gw_map_get(&srv->ips, key)) != NULL &&
      c->n >= srv->cfg->max_connections_per_ip) {
    srv->metrics.rejected_connections++;
    srv->metrics.limit_hits[GW_LIMIT_CONNECTIONS_PER_IP]++;
    GW_LOGD("session refused: %s has %u sessions", key, c->n);
    *reason = "Too Many Requests";
    *body = "{\"code\":4,\"message\":\"Too many connections from your "
            "address\"}";
    return 429;
  }
  return 0;
}

/* request_origin copies the request's Origin into |buf| (|cap| bytes) and
 * returns it, or NULL when it has none. An Origin too long to copy matches
 * nothing: it reads as "". */
static const char *request_origin(struct lws *wsi, char *buf, size_t cap) {
  int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
  if (n <= 0)
    return NULL;
  /* One with a NUL byte inside would compare as its prefix: it matches
   * nothing, like one too long to copy. */
  if (lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_ORIGIN) != n ||
      strlen(buf) != (size_t)n)
    buf[0] = '\0';
  return buf;
}

int gw__pss_append(gw__pss_t *pss, const char *in, size_t len) {
  char *nb = realloc(pss->body, pss->body_len + len + 1);
  if (nb == NULL)
    return -1;
  memcpy(nb + pss->body_len, in, len);
  pss->body = nb;
  pss->body_len += len;
  return 0;
}

int gw__http_content_length(struct lws *wsi, uint64_t *len) {
  char cl[32];
  int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  if (n <= 0 || n >= (int)sizeof(cl) ||
      lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) != n)
    return -1;
  uint64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (cl[i] < '0' || cl[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(cl[i] - '0');
  }
  *len = v;
  return 0;
}

int gw__http_origin_ok(gw_server_t *srv, struct lws *wsi) {
  char origin[256];
  const char *o = request_origin(wsi, origin, sizeof(origin));
  if (gw_config_origin_allowed(srv->cfg, o))
    return 1;
  GW_LOGD("request refused: origin %s not allowed", o ? o : "");
  return 0;
}

/* ---- refused upgrades --------------------------------------------------- */

void gw__http_raw_error(struct lws *wsi, int status, const char *reason,
                        const char *body) {
  /* The upgrade is refused before any WebSocket byte: answer plainly on the
   * fresh socket (a few hundred bytes always fit the empty send buffer), as
   * Engine.IO does, then let lws close it. */
  char buf[512];
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   status, reason, strlen(body), body);
  lws_sockfd_type fd = lws_get_socket_fd(wsi);
  /* Under --tls-cert the bytes must go through the connection's TLS
   * session (its handshake is done by now), never in clear. */
  SSL *ssl = lws_is_ssl(wsi) ? lws_get_ssl(wsi) : NULL;
  if (n > 0 && ssl != NULL) {
    if (SSL_write(ssl, buf, n) <= 0)
      GW_LOGD("refusing upgrade: TLS write failed");
  } else if (n > 0 && fd >= 0 && write(fd, buf, (size_t)n) < 0) {
    GW_LOGD("refusing upgrade: write: %s", strerror(errno));
  }
}

/* gw__http_query: lws keeps each argument percent-decoded in one fragment
 * of WSI_TOKEN_HTTP_URI_ARGS; the buffer holds the whole query, so no
 * argument is ever too long to be looked at (lws_get_urlarg_by_name stops
 * at the first that is). */
int gw__http_query(struct lws *wsi, gw_eio_query_t *q) {
  gw_eio_query_init(q);
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  char small[512], *buf = small;
  if (total >= (int)sizeof(small) && (buf = malloc((size_t)total + 1)) == NULL)
    return GW_ENOMEM;
  for (int i = 0; total > 0; i++) {
    int n =
        lws_hdr_copy_fragment(wsi, buf, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break; /* no fragment i: every one fits the buffer */
    gw_eio_query_add(q, buf, (size_t)n);
  }
  if (buf != small)
    free(buf);
  return 0;
}

/* ---- endpoints ---------------------------------------------------------- */

/* add_cors adds the CORS headers for the request's Origin, when it has one
 * that --allowed-origins lets in: that origin, with credentials (cookies),
 * as engine.io's `cors: {origin, credentials: true}`. Returns 0 or -1. */
static int add_cors(struct lws *wsi, unsigned char **p, unsigned char *end) {
  gw_server_t *srv = lws_context_user(lws_get_context(wsi));
  char origin[256];
  const char *o = request_origin(wsi, origin, sizeof(origin));
  if (o == NULL || o[0] == '\0' || !gw_config_origin_allowed(srv->cfg, o))
    return 0;
  return lws_add_http_header_by_name(
             wsi, (const unsigned char *)"access-control-allow-origin:",
             (const unsigned char *)o, (int)strlen(o), p, end) ||
                 lws_add_http_header_by_name(
                     wsi,
                     (const unsigned char *)"access-control-allow-credentials:",
                     (const unsigned char *)"true", 4, p, end) ||
                 lws_add_http_header_by_name(
                     wsi, (const unsigned char *)"vary:",
                     (const unsigned char *)"Origin", 6, p, end)
             ? -1
             : 0;
}

/* ---- idle keep-alive connections (gw_server_int.h) ----------------------- */

typedef struct http_idle {
  gw_list_t link; /* srv->http_idle while idle */
  uint64_t since;
  struct lws *wsi;
} http_idle_t;

void gw__http_idle(gw_server_t *srv, struct lws *wsi) {
  http_idle_t *c = lws_get_opaque_user_data(wsi);
  if (c == NULL) {
    if ((c = calloc(1, sizeof(*c))) == NULL)
      return; /* lws's own keep-alive timeout stays */
    gw_list_init(&c->link);
    c->wsi = wsi;
    lws_set_opaque_user_data(wsi, c);
  }
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* O(1): a removal */
  gw_list_remove(&c->link);
  c->since = uv_now(srv->loop);
  gw_list_push_back(&srv->http_idle, &c->link);
}

void gw__http_busy(struct lws *wsi) {
  http_idle_t *c = lws_get_opaque_user_data(wsi);
  if (c != NULL)
    gw_list_remove(&c->link);
}

void gw__http_destroyed(struct lws *wsi) {
  http_idle_t *c = lws_get_opaque_user_data(wsi);
  if (c != NULL) {
    gw_list_remove(&c->link);
    lws_set_opaque_user_data(wsi, NULL);
    free(c);
  }
}

void gw__http_sweep(gw_server_t *srv, uint64_t now) {
  gw_list_t *h;
  while ((h = gw_list_head(&srv->http_idle)) != NULL) {
    http_idle_t *c = GW_LIST_DATA(h, http_idle_t, link);
    if (now - c->since < srv->cfg->keepalive_ms)
      break;
    gw_list_remove(&c->link);
    /* May destroy the connection (and |c|) before it returns. */
    gw__ws_kill(c->wsi, 0);
  }
}

_Static_assert(GW__HTTP_HEADROOM >= LWS_PRE + 2048,
               "the head (up to 2 KB) and lws's own headroom");

int gw__http_reply_buf(struct lws *wsi, unsigned status, const char *ctype,
                       unsigned char *buf, size_t len, int cors) {
  /* The head is built in the headroom's tail, then head and body go as one
   * write: HTTP/1.1 only (no h2: ALPN offers http/1.1, gw_server.c), where
   * lws sends LWS_WRITE_HTTP_HEADERS as is. That write leaves lws's count
   * of the body to send untouched, which matters to nothing after it:
   * lws_http_transaction_completed resets it (and waits for any part of
   * the write the kernel did not take). */
  unsigned char *body = buf + GW__HTTP_HEADROOM;
  unsigned char *start = buf + LWS_PRE, *p = start, *end = body;
  int rc = -1;
  if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)len, &p,
                                  end) ||
      lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                  (const unsigned char *)"no-store", 8, &p,
                                  end) ||
      (cors && add_cors(wsi, &p, end) != 0) ||
      lws_finalize_http_header(wsi, &p, end))
    goto out;
  size_t hl = (size_t)(p - start);
  memmove(body - hl, start, hl);
  if (lws_write(wsi, body - hl, hl + len, LWS_WRITE_HTTP_HEADERS) < 0)
    goto out;
  rc = lws_http_transaction_completed(wsi) ? -1 : 0;
  if (rc == 0)
    gw__http_idle(lws_context_user(lws_get_context(wsi)), wsi);
out:
  free(buf);
  return rc;
}

int gw__http_reply(struct lws *wsi, unsigned status, const char *ctype,
                   const char *body, size_t len, int cors) {
  unsigned char *b = malloc(GW__HTTP_HEADROOM + len + 1);
  if (b == NULL)
    return -1;
  if (len > 0)
    memcpy(b + GW__HTTP_HEADROOM, body, len);
  return gw__http_reply_buf(wsi, status, ctype, b, len, cors);
}

/* preflight answers a CORS preflight (OPTIONS) of a polling request: 204
 * with the methods and the headers it asked for, to an allowed origin. */
static int preflight(struct lws *wsi) {
  unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start,
                                     *end = hdr + sizeof(hdr) - 1;
  char want[512] = "content-type";
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) > 0 &&
      lws_hdr_copy(wsi, want, sizeof(want), WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) <
          0)
    snprintf(want, sizeof(want), "content-type");
  if (lws_add_http_header_status(wsi, HTTP_STATUS_NO_CONTENT, &p, end) ||
      add_cors(wsi, &p, end) != 0 ||
      lws_add_http_header_by_name(
          wsi, (const unsigned char *)"access-control-allow-methods:",
          (const unsigned char *)"GET, POST, OPTIONS", 18, &p, end) ||
      lws_add_http_header_by_name(
          wsi, (const unsigned char *)"access-control-allow-headers:",
          (const unsigned char *)want, (int)strlen(want), &p, end) ||
      lws_add_http_header_by_name(
          wsi, (const unsigned char *)"access-control-max-age:",
          (const unsigned char *)"86400", 5, &p, end) ||
      lws_add_http_header_content_length(wsi, 0, &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

#define FORBIDDEN "{\"code\":4,\"message\":\"Forbidden\"}"

/* json_400 answers Engine.IO's 400 with |body| (static JSON). */
static int json_400(struct lws *wsi, const char *body) {
  return gw__http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json", body,
                        strlen(body), 1);
}

/* request_method names the request's method, or NULL for one we do not
 * serve on /socket.io/. */
static const char *request_method(struct lws *wsi) {
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
    return "GET";
  if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
    return "POST";
  if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
    return "OPTIONS";
  return NULL;
}

static int http_socketio(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                         const char *path) {
  if (strcmp(path, "/socket.io/socket.io.js") == 0 ||
      strcmp(path, "/socket.io/socket.io.min.js") == 0) {
    int n = lws_serve_http_file(wsi, srv->cfg->client_js,
                                "text/javascript; charset=utf-8", NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
      return -1;
    return 0;
  }
  if (strcmp(path, "/socket.io/") != 0 && strcmp(path, "/socket.io") != 0)
    return gw__http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain",
                          "not found\n", 10, 0);
  gw_eio_query_t q;
  if (gw__http_query(wsi, &q) != 0)
    return -1;
  const char *body = gw_eio_query_error(&q);
  if (body != NULL)
    return json_400(wsi, body);
  if (gw_eio_query_transport(&q) == GW_EIO_T_WEBSOCKET) {
    /* A valid EIO=4 websocket query without the Upgrade: Bad request. */
    return json_400(wsi, "{\"code\":3,\"message\":\"Bad request\"}");
  }
  const char *method = request_method(wsi);
  if (method != NULL && strcmp(method, "OPTIONS") == 0) {
    if (!gw__http_origin_ok(srv, wsi))
      return gw__http_reply(wsi, HTTP_STATUS_FORBIDDEN, "application/json",
                            FORBIDDEN, strlen(FORBIDDEN), 0);
    return preflight(wsi);
  }
  if (method == NULL)
    return json_400(wsi, "{\"code\":2,\"message\":\"Bad handshake method\"}");
  if (pss == NULL)
    return -1; /* lws gave no per-request data: cannot happen on our mount */
  return gw__poll_request(srv, wsi, pss, method, &q);
}

int gw__http_request(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  char path[256];
  static const enum lws_token_indexes uris[] = {
      WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI,  WSI_TOKEN_OPTIONS_URI,
      WSI_TOKEN_PUT_URI, WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI,
      WSI_TOKEN_HEAD_URI};
  path[0] = '\0';
  for (size_t i = 0; i < sizeof(uris) / sizeof(*uris); i++)
    if (lws_hdr_total_length(wsi, uris[i]) > 0 &&
        lws_hdr_copy(wsi, path, sizeof(path), uris[i]) > 0)
      break;
  if (pss != NULL)
    memset(pss, 0, sizeof(*pss)); /* a new request on this connection */
  gw__http_busy(wsi);
  if (strcmp(path, "/healthz") == 0)
    return gw__http_reply(wsi, HTTP_STATUS_OK, "text/plain", "ok\n", 3, 0);
  if (strcmp(path, "/readyz") == 0) {
    if (srv->state == ST_RUNNING)
      return gw__http_reply(wsi, HTTP_STATUS_OK, "text/plain", "ready\n", 6, 0);
    return gw__http_reply(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
                          "draining\n", 9, 0);
  }
  if (strcmp(path, "/metrics") == 0) {
    size_t cap = 32768;
    char *buf = malloc(cap);
    if (buf == NULL)
      return -1;
    gw_adapter_stats_t as;
    gw_adapter_stats(srv->adapter, &as);
    size_t n = gw_metrics_render(&srv->metrics, &srv->chat.stats, &as,
                                 srv->adapter->ops->name, buf, cap);
    int rc =
        gw__http_reply(wsi, HTTP_STATUS_OK,
                       "text/plain; version=0.0.4; charset=utf-8", buf, n, 0);
    free(buf);
    return rc;
  }
  if (strncmp(path, "/socket.io", 10) == 0)
    return http_socketio(srv, wsi, pss, path);
  return gw__http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n",
                        10, 0);
}

/* ---- static files ---------------------------------------------------------
 */

/* Our endpoints, mounted by callback (gw__http_configure); everything else
 * comes from the web root. */
static const char *const cb_paths[] = {"/socket.io", "/healthz", "/readyz",
                                       "/metrics"};
#define N_CB_PATHS (sizeof(cb_paths) / sizeof(*cb_paths))

/* ours says whether |uri| goes to one of our callback mounts. */
static int ours(const char *uri) {
  for (size_t i = 0; i < N_CB_PATHS; i++) {
    size_t n = strlen(cb_paths[i]);
    if (strncmp(uri, cb_paths[i], n) == 0 && (uri[n] == '\0' || uri[n] == '/'))
      return 1;
  }
  return 0;
}

/* static_ok says whether |uri| names a regular file inside the web root:
 * no segment starting with a dot (dotfiles, and any ".." lws left), and,
 * once symlinks are resolved, still under the root. */
static int static_ok(gw_server_t *srv, const char *uri) {
  if (uri[0] != '/' || srv->web_root_real == NULL)
    return 0;
  for (const char *p = uri; (p = strchr(p, '/')) != NULL; p++)
    if (p[1] == '.')
      return 0;
  char path[4096], real[PATH_MAX];
  size_t ul = strlen(uri);
  int n = snprintf(path, sizeof(path), "%s%s%s", srv->cfg->web_root, uri,
                   ul > 0 && uri[ul - 1] == '/' ? "index.html" : "");
  if (n < 0 || (size_t)n >= sizeof(path) || realpath(path, real) == NULL)
    return 0;
  size_t rl = strlen(srv->web_root_real);
  struct stat st;
  return strncmp(real, srv->web_root_real, rl) == 0 && real[rl] == '/' &&
         stat(real, &st) == 0 && S_ISREG(st.st_mode);
}

int gw__http_filter(gw_server_t *srv, struct lws *wsi, const char *uri) {
  gw__http_busy(wsi); /* any request, ours or a static file */
  if (uri == NULL || ours(uri) || static_ok(srv, uri))
    return 0;
  GW_LOGD("static file refused: %s", uri);
  gw__http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n", 10,
                 0);
  return 1;
}

int gw__http_configure(gw_server_t *srv,
                       struct lws_context_creation_info *info) {
  struct lws_http_mount *mounts = calloc(N_CB_PATHS + 1, sizeof(*mounts));
  struct lws_protocol_vhost_options *csp = calloc(1, sizeof(*csp));
  if (mounts == NULL || csp == NULL) {
    free(mounts);
    free(csp);
    return GW_ENOMEM;
  }
  /* Mounts: our endpoints by callback, everything else from the web root. */
  for (size_t i = 0; i < N_CB_PATHS; i++) {
    struct lws_http_mount *m = &mounts[i];
    m->mount_next = &mounts[i + 1];
    m->mountpoint = cb_paths[i];
    m->mountpoint_len = (unsigned char)strlen(cb_paths[i]);
    m->origin = GW__PROTOCOL_NAME;
    m->origin_protocol = LWSMPRO_CALLBACK;
  }
  struct lws_http_mount *root = &mounts[N_CB_PATHS];
  root->mountpoint = "/";
  root->mountpoint_len = 1;
  root->origin = srv->cfg->web_root;
  root->def = "index.html";
  root->origin_protocol = LWSMPRO_FILE;
  root->extra_mimetypes = &mime_html;

  srv->mounts = mounts;
  srv->headers = csp;
  /* Resolved once: files are checked against it (gw__http_filter). A web
   * root that does not exist serves nothing. */
  srv->web_root_real = realpath(srv->cfg->web_root, NULL);
  info->mounts = mounts;
  /* Under --tls-cert, browsers are told to use https only (HSTS), for a
   * year; no includeSubDomains: other hosts of the domain are not ours. */
  const struct lws_protocol_vhost_options *base = &hdr_nosniff;
  if (srv->cfg->tls_cert != NULL)
    base = &hdr_hsts;
  const char *policy = gw_config_csp(srv->cfg);
  if (policy != NULL) {
    csp->next = base;
    csp->name = "content-security-policy:";
    csp->value = policy;
    info->headers = csp;
  } else {
    info->headers = base;
  }
  return 0;
}
