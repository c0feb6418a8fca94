/* SPDX-License-Identifier: MIT */
/* gw_events.c: the chat event payloads, encoded once into frames (see
 * gw_events.h). */
#include "gw_events.h"

#include <jansson.h>
#include <string.h>

#include "gw_sio.h"

gw_frame_t *gw_ev_roomlist(const char *const *rooms, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    if (json_array_append_new(a, json_string(rooms[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return gw_sio_event(GW_EV_ROOMLIST, a);
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
  return gw_sio_event(GW_EV_USERLIST, a);
}

static gw_frame_t *notice(const char *user, const char *what) {
  size_t ul = strlen(user), wl = strlen(what);
  char buf[512];
  if (ul + wl + 1 > sizeof(buf))
    return NULL; /* names are bounded far below this */
  memcpy(buf, user, ul);
  memcpy(buf + ul, what, wl + 1);
  return gw_sio_event(GW_EV_NOTICE, json_string(buf));
}

gw_frame_t *gw_ev_notice_joined(const char *user) {
  return notice(user, " joined the room.");
}

gw_frame_t *gw_ev_notice_left(const char *user) {
  return notice(user, " left the room.");
}
