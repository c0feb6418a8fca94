/* SPDX-License-Identifier: MIT */
/* gw_frame.c: refcounted encoded frames (see gw_frame.h). */
#include "gw_frame.h"

#include <stdlib.h>
#include <string.h>

#include "gw_check.h"

static const char *const ev_names[] = {
#define XX(k, name) name,
    GW_EVENT_MAP(XX)
#undef XX
};

const char *gw_ev_name(gw_ev_kind_t k) {
  return (unsigned)k < GW_EV__COUNT ? ev_names[k] : "unknown";
}

gw_frame_t *gw_frame_new(gw_ev_kind_t kind, size_t len) {
  /* One extra byte keeps the payload NUL-terminated for logging and tests. */
  gw_frame_t *f = malloc(sizeof(*f) + GW_FRAME_HEADROOM + len + 1);
  if (f == NULL)
    return NULL;
  f->refs = 1;
  f->kind = (uint8_t)kind;
  f->len = len;
  f->buf[GW_FRAME_HEADROOM + len] = '\0';
  return f;
}

gw_frame_t *gw_frame_from(gw_ev_kind_t kind, const void *payload, size_t len) {
  gw_frame_t *f = gw_frame_new(kind, len);
  if (f != NULL && len > 0)
    memcpy(gw_frame_data(f), payload, len);
  return f;
}

void gw_frame_unref(gw_frame_t *f) {
  if (f == NULL)
    return;
  GW_CHECK(f->refs > 0); /* an unref without its ref */
  if (--f->refs == 0)
    free(f);
}
