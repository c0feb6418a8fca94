/* SPDX-License-Identifier: MIT */
/* gw_chat_fuzz.c: fuzz target for the chat request validation, the exact
 * path a client's EVENT takes (gw_eio_parse, then gw_chat_parse_request, as
 * gw_chat.c's handle() calls them), with the default limits. The input is
 * one WebSocket text frame, e.g. `420["create",{"roomName":"a"}]`.
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_chat.h"
#include "gw_eio.h"

#define MAX_NAME    64   /* --max-name-chars default */
#define MAX_MESSAGE 4096 /* --max-message-bytes default */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* inside: |p|/|n| lies within the JSON string |v|. */
static int inside(const char *p, size_t n, json_t *v) {
  const char *s = json_string_value(v);
  return s != NULL && p >= s && p + n <= s + json_string_length(v);
}

/* check_name: a name that passed is non-empty, a fixed point of the
 * validator (already trimmed, within the limit), and inside its string. */
static void check_name(const char *p, size_t n, json_t *v) {
  const char *t;
  size_t tl;
  if (n == 0 || !inside(p, n, v) ||
      gw_chat_trim_name(p, n, MAX_NAME, &t, &tl) != 0 || t != p || tl != n)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gw_eio_pkt_t pkt;
  if (gw_eio_parse((const char *)data, size, &pkt) != 0)
    return 0;
  if (pkt.eio_type != GW_EIO_MESSAGE || pkt.sio_type != GW_SIO_EVENT) {
    gw_eio_pkt_clear(&pkt);
    return 0;
  }
  gw_chat_req_t rq;
  int rc = gw_chat_parse_request(&pkt, MAX_NAME, MAX_MESSAGE, &rq);
  json_t *payload = json_array_get(pkt.data, 1);
  if (rq.ack != pkt.id || (rc != 0 && rc != GW_EINVAL) ||
      (rc != 0 && (unsigned)rq.err >= GW_CE__COUNT))
    abort();
  /* The kind follows the event name, and only that. */
  const char *ev = pkt.event;
  size_t evlen = ev ? json_string_length(json_array_get(pkt.data, 0)) : 0;
  gw_chat_req_kind_t want =
      ev == NULL                                          ? GW_CHAT_REQ_UNKNOWN
      : evlen == 6 && memcmp(ev, "create", 6) == 0        ? GW_CHAT_REQ_CREATE
      : evlen == 11 && memcmp(ev, "sendMessage", 11) == 0 ? GW_CHAT_REQ_SEND
      : evlen == 5 && memcmp(ev, "leave", 5) == 0         ? GW_CHAT_REQ_LEAVE
                                                          : GW_CHAT_REQ_UNKNOWN;
  if (rq.kind != want || (want == GW_CHAT_REQ_UNKNOWN && rc == 0))
    abort();
  if (rc == 0) {
    switch (rq.kind) {
    case GW_CHAT_REQ_CREATE:
      if (!json_is_object(payload))
        abort();
      check_name(rq.room, rq.room_len, json_object_get(payload, "roomName"));
      if (rq.user != NULL)
        check_name(rq.user, rq.user_len, json_object_get(payload, "userName"));
      break;
    case GW_CHAT_REQ_SEND:
      if (rq.message_len == 0 || rq.message_len > MAX_MESSAGE ||
          memchr(rq.message, '\0', rq.message_len) != NULL ||
          !inside(rq.message, rq.message_len,
                  json_object_get(payload, "message")))
        abort();
      if (rq.target != NULL && (strlen(rq.target) != rq.target_len ||
                                !inside(rq.target, rq.target_len,
                                        json_object_get(payload, "select")) ||
                                strcmp(rq.target, "all") == 0))
        abort();
      break;
    case GW_CHAT_REQ_LEAVE:
      if (payload != NULL && !json_is_object(payload) && !json_is_null(payload))
        abort();
      break;
    case GW_CHAT_REQ_UNKNOWN:
      abort();
    }
  }
  gw_eio_pkt_clear(&pkt);
  return 0;
}
