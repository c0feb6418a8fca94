/* SPDX-License-Identifier: MIT */
/* fl_sio.c: Engine.IO / Socket.IO client parsing and encoding (fl_sio.h).
 * Hot path: every delivered newMessage goes through fl_sio_parse and
 * fl_sio_stamp, so both scan the bytes once and never allocate. */
#include "fl_sio.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int digit(char c) {
  return c >= '0' && c <= '9';
}

fl_pkt_type_t fl_sio_parse(const char *p, size_t n, fl_pkt_t *out) {
  memset(out, 0, sizeof *out);
  out->ack_id = -1;
  out->type = FL_PKT_INVALID;
  if (n == 0)
    return out->type;
  switch (p[0]) {
  case '0':
    if (n < 2 || p[1] != '{')
      return out->type;
    out->data = p + 1;
    out->data_len = n - 1;
    return out->type = FL_PKT_OPEN;
  case '1':
    return out->type = FL_PKT_CLOSE;
  case '2':
    return out->type = FL_PKT_PING;
  case '3':
    return out->type = FL_PKT_PONG;
  case '5':
    return out->type = FL_PKT_OTHER; /* upgrade: never sent to a WS client */
  case '6':
    return out->type = FL_PKT_NOOP;
  case '4':
    break;
  default:
    return out->type;
  }
  /* Engine.IO message: a Socket.IO packet follows */
  if (n < 2)
    return out->type;
  char st = p[1];
  size_t i = 2;
  if (st == '5' || st == '6')
    return out->type = FL_PKT_OTHER; /* binary event/ack: not ours */
  if (i < n && p[i] == '/')
    return out->type = FL_PKT_OTHER; /* another namespace */
  if (st == '2' || st == '3') {
    if (i < n && digit(p[i])) {
      int64_t id = 0;
      while (i < n && digit(p[i]) && id < (INT64_MAX - 9) / 10)
        id = id * 10 + (p[i++] - '0');
      out->ack_id = id;
    }
  }
  out->data = p + i;
  out->data_len = n - i;
  switch (st) {
  case '0':
    return out->type = FL_PKT_CONNECT;
  case '1':
    return out->type = FL_PKT_DISCONNECT;
  case '4':
    return out->type = FL_PKT_CONNECT_ERROR;
  case '3':
    if (out->ack_id < 0 || out->data_len < 2 || out->data[0] != '[')
      return out->type = FL_PKT_INVALID;
    return out->type = FL_PKT_ACK;
  case '2': {
    /* ["name", ...] or ["name"] */
    const char *d = out->data;
    size_t dl = out->data_len;
    if (dl < 4 || d[0] != '[' || d[1] != '"')
      return out->type = FL_PKT_INVALID;
    size_t j = 2;
    while (j < dl && d[j] != '"') {
      if (d[j] == '\\')
        j++;
      j++;
    }
    if (j >= dl)
      return out->type = FL_PKT_INVALID;
    out->name = d + 2;
    out->name_len = j - 2;
    return out->type = FL_PKT_EVENT;
  }
  default:
    return out->type = FL_PKT_INVALID;
  }
}

/* Finds "key": and returns the index of the value (after blanks), or -1. */
static long json_value(const char *p, size_t n, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl + 3 <= n; i++) {
    if (p[i] != '"' || memcmp(p + i + 1, key, kl) != 0 || p[i + 1 + kl] != '"')
      continue;
    size_t j = i + kl + 2;
    while (j < n &&
           (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' || p[j] == '\r'))
      j++;
    if (j >= n || p[j] != ':')
      continue;
    j++;
    while (j < n &&
           (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' || p[j] == '\r'))
      j++;
    return j < n ? (long)j : -1;
  }
  return -1;
}

int fl_json_int(const char *p, size_t n, const char *key, int64_t *v) {
  long j = json_value(p, n, key);
  if (j < 0)
    return -1;
  size_t i = (size_t)j;
  int neg = 0;
  if (p[i] == '-') {
    neg = 1;
    i++;
  }
  if (i >= n || !digit(p[i]))
    return -1;
  int64_t x = 0;
  while (i < n && digit(p[i])) {
    if (x > (INT64_MAX - 9) / 10)
      return -1;
    x = x * 10 + (p[i++] - '0');
  }
  *v = neg ? -x : x;
  return 0;
}

int fl_json_str(const char *p, size_t n, const char *key, const char **s,
                size_t *len) {
  long j = json_value(p, n, key);
  if (j < 0 || p[j] != '"')
    return -1;
  size_t i = (size_t)j + 1, start = i;
  while (i < n && p[i] != '"') {
    if (p[i] == '\\')
      i++;
    i++;
  }
  if (i >= n)
    return -1;
  *s = p + start;
  *len = i - start;
  return 0;
}

int fl_json_true(const char *p, size_t n, const char *key) {
  long j = json_value(p, n, key);
  return j >= 0 && (size_t)j + 4 <= n && memcmp(p + j, "true", 4) == 0;
}

size_t fl_sio_create(char *out, size_t cap, int64_t ack_id, const char *room,
                     const char *user) {
  int n = snprintf(out, cap,
                   "42%" PRId64 "[\"create\",{\"roomName\":\"%s\","
                   "\"userName\":\"%s\"}]",
                   ack_id, room, user);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t fl_sio_message(char *out, size_t cap, uint32_t tag, uint64_t sched_us,
                      uint64_t seq, size_t payload) {
  static const char head[] = "42[\"sendMessage\",{\"message\":\"";
  static const char tail[] = "\",\"select\":\"all\"}]";
  size_t hl = sizeof head - 1, tl = sizeof tail - 1;
  if (cap < hl + 64 + tl)
    return 0;
  memcpy(out, head, hl);
  int sl =
      snprintf(out + hl, cap - hl, "fl1:%08" PRIx32 ":%" PRIu64 ":%" PRIu64 ":",
               tag, sched_us, seq);
  if (sl <= 0 || (size_t)sl >= cap - hl)
    return 0;
  size_t ml = (size_t)sl;
  if (payload > ml) {
    if (hl + payload + tl + 1 > cap)
      return 0;
    memset(out + hl + ml, 'x', payload - ml);
    ml = payload;
  }
  memcpy(out + hl + ml, tail, tl);
  out[hl + ml + tl] = '\0';
  return hl + ml + tl;
}

int fl_sio_stamp(const char *p, size_t n, uint32_t tag, uint64_t *sched_us) {
  const char *s;
  size_t sl;
  if (fl_json_str(p, n, "message", &s, &sl) != 0)
    return -1;
  if (sl < 4 + 8 + 3 || memcmp(s, "fl1:", 4) != 0 || s[12] != ':')
    return -1;
  uint32_t t = 0;
  for (size_t i = 4; i < 12; i++) {
    char c = s[i];
    int d = digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0)
      return -1;
    t = (t << 4) | (uint32_t)d;
  }
  if (t != tag)
    return -1;
  uint64_t v = 0;
  size_t i = 13;
  if (i >= sl || !digit(s[i]))
    return -1;
  while (i < sl && digit(s[i]))
    v = v * 10 + (uint64_t)(s[i++] - '0');
  if (i >= sl || s[i] != ':')
    return -1;
  *sched_us = v;
  return 0;
}

/* ---- Engine.IO v4 polling payloads -------------------------------------- */

int fl_eio_next(const char **p, size_t *n, const char **pkt, size_t *len) {
  if (*p == NULL)
    return 0;
  const char *sep = memchr(*p, FL_EIO_SEP, *n);
  *pkt = *p;
  if (sep == NULL) {
    *len = *n;
    *p = NULL;
    *n = 0;
    return 1;
  }
  *len = (size_t)(sep - *p);
  *n -= *len + 1;
  *p = sep + 1;
  return 1;
}

size_t fl_eio_cut(const char *q, size_t n, size_t max) {
  if (n <= max)
    return n;
  /* the last separator at or before |max|: everything before it fits */
  for (size_t i = max + 1; i-- > 0;)
    if (q[i] == FL_EIO_SEP)
      return i;
  const char *sep = memchr(q, FL_EIO_SEP, n);
  return sep ? (size_t)(sep - q) : n;
}

int fl_eio_sid_ok(const char *s, size_t n) {
  if (n == 0 || n > 63)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || digit(c) ||
          c == '-' || c == '_' || c == '.' || c == '~'))
      return 0;
  }
  return 1;
}

size_t fl_eio_target(char *out, size_t cap, const char *path,
                     const char *transport, int64_t t, const char *sid) {
  /* copy |path| with the value of its transport parameter replaced */
  size_t o = 0, pl = strlen(path);
  const char *q = strchr(path, '?');
  const char *tp = NULL;
  for (const char *s = q; s != NULL; s = strchr(s + 1, '&'))
    if (strncmp(s + 1, "transport=", 10) == 0) {
      tp = s + 1;
      break;
    }
  int n;
  if (tp != NULL) {
    const char *rest = tp + 10 + strcspn(tp + 10, "&");
    n = snprintf(out, cap, "%.*stransport=%s%s", (int)(tp - path), path,
                 transport, rest);
  } else {
    n = snprintf(out, cap, "%s%stransport=%s", path,
                 q == NULL                         ? "?"
                 : (pl > 0 && path[pl - 1] == '?') ? ""
                                                   : "&",
                 transport);
  }
  if (n <= 0 || (size_t)n >= cap)
    return 0;
  o = (size_t)n;
  if (t >= 0) {
    n = snprintf(out + o, cap - o, "&t=%" PRId64, t);
    if (n <= 0 || (size_t)n >= cap - o)
      return 0;
    o += (size_t)n;
  }
  if (sid != NULL) {
    n = snprintf(out + o, cap - o, "&sid=%s", sid);
    if (n <= 0 || (size_t)n >= cap - o)
      return 0;
    o += (size_t)n;
  }
  return o;
}
