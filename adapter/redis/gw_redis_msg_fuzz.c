/* SPDX-License-Identifier: MIT */
/* gw_redis_msg_fuzz.c: fuzz target for the Redis pub/sub event decoder, the
 * code every message from the shared Redis goes through before the adapter
 * acts on it (gw_redis_msg.c). Input: a first byte 0..3 picks the channel
 * class and the rest is the payload; 4 makes the rest a frame for
 * gw_redis_msg_frame_ok alone, checked against jansson; otherwise
 * "<channel>\n<payload>", with the channel classified as the adapter does
 * for node "gw:n:node1".
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_redis_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(gw_redis_span_t s, const char *p, size_t n) {
  if (s.n > 0 && (s.p < p || s.p + s.n > p + n))
    abort(); /* a field outside the payload */
}

static void check_frame(gw_redis_span_t s, int optional) {
  if (s.n == 0 ? !optional : !gw_redis_msg_frame_ok(s.p, s.n))
    abort(); /* a frame a client would choke on */
}

static void check_sid(gw_redis_span_t s) {
  if (s.n == 0 || s.n > GW_REDIS_SID_MAX || memchr(s.p, '\0', s.n) != NULL)
    abort();
}

static int depth_of(json_t *v) {
  int d = 0;
  size_t i;
  json_t *e;
  const char *k;
  if (json_is_array(v)) {
    json_array_foreach(v, i, e) {
      int c = depth_of(e);
      d = c > d ? c : d;
    }
    return d + 1;
  }
  if (json_is_object(v)) {
    json_object_foreach(v, k, e) {
      int c = depth_of(e);
      d = c > d ? c : d;
    }
    return d + 1;
  }
  return 0;
}

/* name_escaped: the first element's raw text holds a backslash. */
static int name_escaped(const char *p, size_t n) {
  size_t i = 2;
  while (i < n && p[i] != '"')
    i++;
  for (i++; i < n && p[i] != '"'; i++)
    if (p[i] == '\\')
      return 1;
  return 0;
}

/* frame_oracle compares gw_redis_msg_frame_ok with an independent parse:
 * jansson on the JSON after "42", then socket.io-client's rule (an array
 * whose first element is a string and not a reserved event name). They may
 * differ only where jansson is stricter than JSON.parse (numbers too big for
 * a double or an int64, lone surrogate escapes) or where we are stricter on
 * purpose (depth, escapes in the event name, white space around the array,
 * which jansson skips) or where jansson is laxer than JSON.parse (a raw NUL
 * byte between tokens, found by this target). */
static void frame_oracle(const char *p, size_t n) {
  static const char *const reserved[] = {"connect",     "connect_error",
                                         "disconnect",  "disconnecting",
                                         "newListener", "removeListener"};
  int ours = gw_redis_msg_frame_ok(p, n);
  json_error_t err;
  json_t *v = n >= 2 && p[0] == '4' && p[1] == '2'
                  ? json_loadb(p + 2, n - 2, JSON_ALLOW_NUL, &err)
                  : NULL;
  int theirs = 0, depth = depth_of(v);
  json_t *first = json_array_get(v, 0);
  const char *name = json_string_value(first);
  if (json_is_array(v) && name != NULL) {
    theirs = 1;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(*reserved); i++)
      if (strlen(name) == json_string_length(first) &&
          strcmp(name, reserved[i]) == 0)
        theirs = 0;
  }
  int parsed = v != NULL;
  json_decref(v);
  if (ours && !parsed && n >= 2 &&
      (strstr(err.text, "too big") != NULL ||
       strstr(err.text, "overflow") != NULL ||
       strstr(err.text, "Unicode") != NULL ||
       strstr(err.text, "surrogate") != NULL))
    return; /* JSON.parse takes what jansson refuses here */
  if (!ours && theirs &&
      (depth > 32 || name_escaped(p, n) || p[2] != '[' ||
       memchr(p, '\0', n) != NULL || /* jansson lets a raw NUL pass */
       strchr(" \t\n\r", p[n - 1]) != NULL))
    return;
  if (ours != theirs) {
    fprintf(stderr, "frame_ok %d, jansson %d (%s)\n", ours, theirs,
            !parsed && n >= 2 ? err.text : "");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 0 && data[0] == 4) {
    frame_oracle((const char *)data + 1, size - 1);
    return 0;
  }
  const char *in = (const char *)data, *p = in;
  size_t n = size;
  gw_redis_chan_t chan;
  if (size > 0 && data[0] < 4) {
    chan = (gw_redis_chan_t)data[0];
    p = in + 1;
    n = size - 1;
  } else {
    const char *nl = memchr(in, '\n', size);
    if (nl == NULL)
      return 0;
    const char *room = NULL;
    size_t room_len = 0;
    chan = gw_redis_chan_classify(in, (size_t)(nl - in), "gw:n:node1", &room,
                                  &room_len);
    if (chan == GW_REDIS_CH_ROOM && (room != in + GW_REDIS_ROOM_PREFIX_LEN ||
                                     room + room_len != nl || room_len == 0))
      abort();
    p = nl + 1;
    n = size - (size_t)(p - in);
  }
  gw_redis_msg_t m;
  if (gw_redis_msg_parse(chan, p, n, &m) != 0)
    return 0;
  if (n == 0 || m.type != p[0])
    abort();
  const char *allowed = chan == GW_REDIS_CH_ROOM    ? "MJLU"
                        : chan == GW_REDIS_CH_LOBBY ? "R"
                        : chan == GW_REDIS_CH_NODE  ? "DH"
                                                    : "";
  if (m.type == '\0' || strchr(allowed, m.type) == NULL)
    abort(); /* a type this channel does not carry */
  if (m.kind >= GW_EV__COUNT || m.n_sids < 0 ||
      m.n_sids > GW_REDIS_MSG_MAX_FIELDS - 2)
    abort();
  switch (m.type) {
  case 'M':
  case 'R':
    check_frame(m.frame, 0);
    break;
  case 'D':
    check_frame(m.frame, 0);
    if (m.n_sids < 1)
      abort();
    for (int i = 0; i < m.n_sids; i++) {
      check_sid(m.sids[i]);
      check_span(m.sids[i], p, n);
    }
    break;
  case 'J':
  case 'L':
    check_sid(m.sid);
    check_frame(m.notice, 1);
    check_frame(m.userlist, 1);
    break;
  case 'U':
    check_frame(m.userlist, 0);
    break;
  }
  check_span(m.frame, p, n);
  check_span(m.sid, p, n);
  check_span(m.notice, p, n);
  check_span(m.userlist, p, n);
  return 0;
}
