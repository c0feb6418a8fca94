/* SPDX-License-Identifier: MIT */
/* gw_events.c: encode chat events once into frames (see gw_events.h). */
#include "gw_events.h"

#include <string.h>

#define EV_FLAGS JSON_COMPACT

gw_frame_t *gw_ev_encode(gw_ev_kind_t kind, json_t *arg) {
  json_t *pkt = json_array();
  gw_frame_t *f = NULL;
  if (pkt == NULL || arg == NULL) {
    json_decref(arg);
    json_decref(pkt);
    return NULL;
  }
  if (json_array_append_new(pkt, json_string(gw_ev_name(kind))) != 0 ||
      json_array_append_new(pkt, arg) != 0)
    goto out;
  /* Two passes: size, then encode straight into the frame, after "42". */
  size_t n = json_dumpb(pkt, NULL, 0, EV_FLAGS);
  if (n == 0)
    goto out;
  f = gw_frame_new(kind, n + 2);
  if (f == NULL)
    goto out;
  unsigned char *p = gw_frame_data(f);
  p[0] = '4';
  p[1] = '2';
  if (json_dumpb(pkt, (char *)p + 2, n, EV_FLAGS) != n) {
    gw_frame_unref(f);
    f = NULL;
  }
out:
  json_decref(pkt);
  return f;
}

gw_frame_t *gw_ev_roomlist(const char *const *rooms, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    if (json_array_append_new(a, json_string(rooms[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return gw_ev_encode(GW_EV_ROOMLIST, a);
}

gw_frame_t *gw_ev_userlist(const char *const *names, const char *const *keys,
                           size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++) {
    json_t *o = json_pack("{s:s,s:s}", "userName", names[i], "key", keys[i]);
    if (o == NULL || json_array_append_new(a, o) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return gw_ev_encode(GW_EV_USERLIST, a);
}

static gw_frame_t *notice(const char *user, const char *what) {
  size_t ul = strlen(user), wl = strlen(what);
  char buf[512];
  if (ul + wl + 1 > sizeof(buf))
    return NULL; /* names are bounded far below this */
  memcpy(buf, user, ul);
  memcpy(buf + ul, what, wl + 1);
  return gw_ev_encode(GW_EV_NOTICE, json_string(buf));
}

gw_frame_t *gw_ev_notice_joined(const char *user) {
  return notice(user, " joined the room.");
}

gw_frame_t *gw_ev_notice_left(const char *user) {
  return notice(user, " left the room.");
}
