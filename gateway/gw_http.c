/* SPDX-License-Identifier: MIT */
/* gw_http.c: HTTP (gw_server_int.h): the endpoints /healthz, /readyz and
 * /metrics, /socket.io requests that are no upgrade (the client bundle, or
 * Engine.IO's 400), the mounts that route them here and the rest to the web
 * root, the headers on every response, and the plain answer to an upgrade
 * refused before any WebSocket byte. */
#include <errno.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_eio.h"
#include "gw_log.h"
#include "gw_server_int.h"

/* ---- headers and mime types --------------------------------------------- */

/* Headers on every HTTP response: the chat page must never run script
 * that came from chat content. */
static const struct lws_protocol_vhost_options hdr_ref = {
    NULL, NULL, "referrer-policy:", "no-referrer"};
static const struct lws_protocol_vhost_options hdr_frame = {
    &hdr_ref, NULL, "x-frame-options:", "DENY"};
static const struct lws_protocol_vhost_options hdr_nosniff = {
    &hdr_frame, NULL, "x-content-type-options:", "nosniff"};
static const struct lws_protocol_vhost_options hdr_csp = {
    &hdr_nosniff, NULL, "content-security-policy:",
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"};

/* Text types carry their charset (lws's defaults do not). */
static const struct lws_protocol_vhost_options mime_svg = {NULL, NULL, ".svg",
                                                           "image/svg+xml"};
static const struct lws_protocol_vhost_options mime_json = {
    &mime_svg, NULL, ".json", "application/json; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_css = {
    &mime_json, NULL, ".css", "text/css; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_js = {
    &mime_css, NULL, ".js", "text/javascript; charset=utf-8"};
static const struct lws_protocol_vhost_options mime_html = {
    &mime_js, NULL, ".html", "text/html; charset=utf-8"};

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

/* gw__http_eio_query_error checks the Engine.IO query of a /socket.io/
 * request (see gw_eio_query_error) and returns the JSON error body Engine.IO
 * would answer with (HTTP 400), or NULL when it asks for EIO=4 over WebSocket.
 * lws keeps each argument percent-decoded in one fragment of
 * WSI_TOKEN_HTTP_URI_ARGS; the buffer holds the whole query, so no argument is
 * ever too long to be looked at (lws_get_urlarg_by_name stops at the first that
 * is). */
const char *gw__http_eio_query_error(struct lws *wsi) {
  gw_eio_query_t q;
  gw_eio_query_init(&q);
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  char small[512], *buf = small;
  if (total >= (int)sizeof(small) && (buf = malloc((size_t)total + 1)) == NULL)
    return "{\"code\":3,\"message\":\"Bad request\"}";
  for (int i = 0; total > 0; i++) {
    int n =
        lws_hdr_copy_fragment(wsi, buf, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break; /* no fragment i: every one fits the buffer */
    gw_eio_query_add(&q, buf, (size_t)n);
  }
  if (buf != small)
    free(buf);
  return gw_eio_query_error(&q);
}

/* ---- endpoints ---------------------------------------------------------- */

static int http_reply(struct lws *wsi, unsigned status, const char *ctype,
                      const char *body, size_t len) {
  unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
                                     *end = hdr + sizeof(hdr) - 1;
  if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)len, &p,
                                  end) ||
      lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                  (const unsigned char *)"no-store", 8, &p,
                                  end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  if (len > 0) {
    unsigned char *b = malloc(LWS_PRE + len);
    if (b == NULL)
      return -1;
    memcpy(b + LWS_PRE, body, len);
    int n = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    free(b);
    if (n < 0)
      return -1;
  }
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_socketio(gw_server_t *srv, struct lws *wsi, const char *path) {
  if (strcmp(path, "/socket.io/socket.io.js") == 0 ||
      strcmp(path, "/socket.io/socket.io.min.js") == 0) {
    int n = lws_serve_http_file(wsi, srv->cfg->client_js,
                                "text/javascript; charset=utf-8", NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
      return -1;
    return 0;
  }
  /* A valid EIO=4 websocket query without the Upgrade: Bad request. */
  const char *body = gw__http_eio_query_error(wsi);
  if (body == NULL)
    body = "{\"code\":3,\"message\":\"Bad request\"}";
  return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json", body,
                    strlen(body));
}

int gw__http_request(gw_server_t *srv, struct lws *wsi) {
  char path[256];
  if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0) {
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
      lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_POST_URI);
    else
      path[0] = '\0';
  }
  if (strcmp(path, "/healthz") == 0)
    return http_reply(wsi, HTTP_STATUS_OK, "text/plain", "ok\n", 3);
  if (strcmp(path, "/readyz") == 0) {
    if (srv->state == ST_RUNNING)
      return http_reply(wsi, HTTP_STATUS_OK, "text/plain", "ready\n", 6);
    return http_reply(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
                      "draining\n", 9);
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
    int rc = http_reply(wsi, HTTP_STATUS_OK,
                        "text/plain; version=0.0.4; charset=utf-8", buf, n);
    free(buf);
    return rc;
  }
  if (strncmp(path, "/socket.io", 10) == 0)
    return http_socketio(srv, wsi, path);
  return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n",
                    10);
}

int gw__http_configure(gw_server_t *srv,
                       struct lws_context_creation_info *info) {
  struct lws_http_mount *mounts = calloc(5, sizeof(*mounts));
  if (mounts == NULL)
    return GW_ENOMEM;
  /* Mounts: our endpoints by callback, everything else from the web root. */
  static const char *const cb_paths[] = {"/socket.io", "/healthz", "/readyz",
                                         "/metrics"};
  for (int i = 0; i < 4; i++) {
    struct lws_http_mount *m = &mounts[i];
    m->mount_next = &mounts[i + 1];
    m->mountpoint = cb_paths[i];
    m->mountpoint_len = (unsigned char)strlen(cb_paths[i]);
    m->origin = GW__PROTOCOL_NAME;
    m->origin_protocol = LWSMPRO_CALLBACK;
  }
  struct lws_http_mount *root = &mounts[4];
  root->mountpoint = "/";
  root->mountpoint_len = 1;
  root->origin = srv->cfg->web_root;
  root->def = "index.html";
  root->origin_protocol = LWSMPRO_FILE;
  root->extra_mimetypes = &mime_html;

  srv->mounts = mounts;
  info->mounts = mounts;
  info->headers = &hdr_csp;
  return 0;
}
