/* SPDX-License-Identifier: MIT */
/* gw_relay.c: placeholder. */
#include <libwebsockets.h>
#include <string.h>

#include "gw_server_int.h"

#define E_SID_UNKNOWN "{\"code\":1,\"message\":\"Session ID unknown\"}"

int gw__relay_poll(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                   const char *method, const char *sid) {
  (void)srv, (void)pss, (void)method, (void)sid;
  return gw__http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "application/json",
                        E_SID_UNKNOWN, strlen(E_SID_UNKNOWN), 1);
}
int gw__relay_body(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                   const char *in, size_t len) {
  (void)srv, (void)wsi, (void)pss, (void)in, (void)len;
  return -1;
}
int gw__relay_body_done(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  (void)srv, (void)wsi, (void)pss;
  return -1;
}
int gw__relay_writeable(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  (void)srv, (void)wsi, (void)pss;
  return -1;
}
void gw__relay_closed(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss) {
  (void)srv, (void)wsi, (void)pss;
}
int gw__relay_ws_ok(gw_server_t *srv, const char *sid) {
  (void)srv, (void)sid;
  return 0;
}
int gw__relay_ws_start(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                       const char *sid) {
  (void)srv, (void)wsi, (void)pss, (void)sid;
  return -1;
}
int gw__relay_ws_receive(gw_server_t *srv, struct lws *wsi, gw__pss_t *pss,
                         const char *in, size_t len) {
  (void)srv, (void)wsi, (void)pss, (void)in, (void)len;
  return -1;
}
