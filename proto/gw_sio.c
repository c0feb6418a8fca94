/* SPDX-License-Identifier: MIT */
/* gw_sio.c: the Engine.IO / Socket.IO encoders (see gw_sio.h). */
#include "gw_sio.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FLAGS JSON_COMPACT

/* json_frame returns a new frame of |kind| whose payload is |hl| bytes left
 * for the caller's packet head, then the compact JSON of |v| (stolen; an
 * array or an object). NULL when |v| is NULL or out of memory. Two passes:
 * size, then encode straight into the frame. */
static gw_frame_t *json_frame(gw_ev_kind_t kind, size_t hl, json_t *v) {
  gw_frame_t *f = NULL;
  size_t n = v != NULL ? json_dumpb(v, NULL, 0, JSON_FLAGS) : 0;
  if (n == 0 || (f = gw_frame_new(kind, hl + n)) == NULL)
    goto out;
  if (json_dumpb(v, (char *)gw_frame_data(f) + hl, n, JSON_FLAGS) != n) {
    gw_frame_unref(f);
    f = NULL;
  }
out:
  json_decref(v);
  return f;
}

/* text_frame formats a packet with no JSON value of ours in it into a new
 * frame of |kind|. */
__attribute__((format(printf, 2, 3))) static gw_frame_t *
text_frame(gw_ev_kind_t kind, const char *fmt, ...) {
  char small[256], *buf = small;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  if ((size_t)n >= sizeof(small)) {
    if ((buf = malloc((size_t)n + 1)) == NULL)
      return NULL;
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  gw_frame_t *f = gw_frame_from(kind, buf, (size_t)n);
  if (buf != small)
    free(buf);
  return f;
}

gw_frame_t *gw_sio_event(gw_ev_kind_t kind, json_t *arg) {
  json_t *pkt = json_array();
  if (pkt == NULL || arg == NULL ||
      json_array_append_new(pkt, json_string(gw_ev_name(kind))) != 0) {
    json_decref(arg);
    json_decref(pkt);
    return NULL;
  }
  if (json_array_append_new(pkt, arg) != 0) { /* it took |arg| */
    json_decref(pkt);
    return NULL;
  }
  gw_frame_t *f = json_frame(kind, 2, pkt);
  if (f != NULL)
    memcpy(gw_frame_data(f), "42", 2);
  return f;
}

gw_frame_t *gw_sio_ack(uint64_t id, json_t *arg) {
  char head[24];
  int hl = snprintf(head, sizeof(head), "43%" PRIu64, id);
  json_t *arr = json_array();
  if (arr == NULL || arg == NULL) {
    json_decref(arg);
    json_decref(arr);
    return NULL;
  }
  if (json_array_append_new(arr, arg) != 0) { /* it took |arg| */
    json_decref(arr);
    return NULL;
  }
  gw_frame_t *f = json_frame(GW_EV_ACK, (size_t)hl, arr);
  if (f != NULL)
    memcpy(gw_frame_data(f), head, (size_t)hl);
  return f;
}

gw_frame_t *gw_sio_connect_ok(const char *sid) {
  return text_frame(GW_EV_CONTROL, "40{\"sid\":\"%s\"}", sid);
}

gw_frame_t *gw_sio_connect_error(const char *nsp, size_t nsp_len,
                                 const char *message) {
  size_t hl = 2 + (nsp != NULL ? nsp_len + 1 : 0);
  gw_frame_t *f =
      json_frame(GW_EV_CONTROL, hl, json_pack("{s:s}", "message", message));
  if (f != NULL) {
    unsigned char *p = gw_frame_data(f);
    memcpy(p, "44", 2);
    if (nsp != NULL) {
      if (nsp_len > 0)
        memcpy(p + 2, nsp, nsp_len);
      p[2 + nsp_len] = ',';
    }
  }
  return f;
}

gw_frame_t *gw_eio_open(const char *sid, int polling, uint64_t ping_interval_ms,
                        uint64_t ping_timeout_ms, uint64_t max_payload) {
  return text_frame(
      GW_EV_CONTROL,
      "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%" PRIu64
      ",\"pingTimeout\":%" PRIu64 ",\"maxPayload\":%" PRIu64 "}",
      sid, polling ? "\"websocket\"" : "", ping_interval_ms, ping_timeout_ms,
      max_payload);
}

gw_frame_t *gw_eio_ping(void) {
  return gw_frame_from(GW_EV_CONTROL, "2", 1);
}

gw_frame_t *gw_eio_noop(void) {
  return gw_frame_from(GW_EV_CONTROL, "6", 1);
}
