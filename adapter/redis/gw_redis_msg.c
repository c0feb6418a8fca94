/* SPDX-License-Identifier: MIT */
/* gw_redis_msg.c: pub/sub event decoder (see gw_redis_msg.h). */
#include "gw_redis_msg.h"

#include <string.h>

#include "gw_err.h"

gw_redis_chan_t gw_redis_chan_classify(const char *ch, size_t len,
                                       const char *node_chan, const char **room,
                                       size_t *room_len) {
  static const char lobby[] = GW_REDIS_CHAN_LOBBY;
  if (len > GW_REDIS_ROOM_PREFIX_LEN &&
      memcmp(ch, GW_REDIS_ROOM_PREFIX, GW_REDIS_ROOM_PREFIX_LEN) == 0) {
    *room = ch + GW_REDIS_ROOM_PREFIX_LEN;
    *room_len = len - GW_REDIS_ROOM_PREFIX_LEN;
    return GW_REDIS_CH_ROOM;
  }
  if (len == sizeof(lobby) - 1 && memcmp(ch, lobby, len) == 0)
    return GW_REDIS_CH_LOBBY;
  if (node_chan != NULL && len == strlen(node_chan) &&
      memcmp(ch, node_chan, len) == 0)
    return GW_REDIS_CH_NODE;
  return GW_REDIS_CH_OTHER;
}

/* split cuts "<len>:<bytes><len>:<bytes>..." (after the type byte) into at
 * most |max| fields. A length has 1 to 10 digits and must fit what is left,
 * so a header can neither overflow nor point outside the payload. */
static int split(const char *p, size_t n, gw_redis_span_t *out, int max) {
  size_t i = 0;
  int k = 0;
  while (i < n) {
    size_t len = 0, digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 10) {
      len = len * 10 + (size_t)(p[i++] - '0');
      digits++;
    }
    if (digits == 0 || i >= n || p[i] != ':' || k == max)
      return -1;
    i++;
    if (len > n - i)
      return -1;
    out[k].p = p + i;
    out[k].n = len;
    k++;
    i += len;
  }
  return k;
}

/* num reads a field of 1 to 20 decimal digits that fits uint64_t. */
static int num(gw_redis_span_t f, uint64_t *v) {
  uint64_t x = 0;
  if (f.n == 0 || f.n > 20)
    return -1;
  for (size_t i = 0; i < f.n; i++) {
    unsigned d = (unsigned char)f.p[i] - '0';
    if (d > 9 || x > (UINT64_MAX - d) / 10)
      return -1;
    x = x * 10 + d;
  }
  *v = x;
  return 0;
}

static int sid_ok(gw_redis_span_t f) {
  return f.n > 0 && f.n <= GW_REDIS_SID_MAX && memchr(f.p, '\0', f.n) == NULL;
}

/* utf8_seq checks the UTF-8 sequence at |p| (lead byte >= 0x80) against RFC
 * 3629: no overlongs, no surrogates, nothing above U+10FFFF. Returns its
 * length, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t need;
  unsigned lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0)
      lo = 0xA0; /* overlong */
    else if (c == 0xED)
      hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0)
      lo = 0x90; /* overlong */
    else if (c == 0xF4)
      hi = 0x8F; /* above U+10FFFF */
  } else {
    return 0; /* a continuation byte, C0, C1 or F5..FF */
  }
  if (need > (size_t)(end - p - 1) || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t k = 2; k <= need; k++)
    if (p[k] < 0x80 || p[k] > 0xBF)
      return 0;
  return need + 1;
}

/* A strict JSON (RFC 8259) syntax check that allocates nothing: what a
 * client's JSON.parse accepts, in valid UTF-8, nested at most JSON_DEPTH
 * deep (chat frames are 3 deep; user text only ever sits in strings). */
#define JSON_DEPTH 32

typedef struct jscan {
  const unsigned char *p, *end;
} jscan_t;

static void j_ws(jscan_t *j) {
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int j_lit(jscan_t *j, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
    return -1;
  j->p += n;
  return 0;
}

static int is_hex(unsigned c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* j_string scans a string at '"'; |*esc| tells whether it held escapes. */
static int j_string(jscan_t *j, int *esc) {
  *esc = 0;
  j->p++; /* the opening quote */
  while (j->p < j->end) {
    unsigned c = *j->p;
    if (c == '"') {
      j->p++;
      return 0;
    }
    if (c < 0x20) {
      return -1; /* control characters must be escaped */
    } else if (c == '\\') {
      *esc = 1;
      if (j->end - j->p < 2)
        return -1;
      c = j->p[1];
      if (c == 'u') {
        if (j->end - j->p < 6 || !is_hex(j->p[2]) || !is_hex(j->p[3]) ||
            !is_hex(j->p[4]) || !is_hex(j->p[5]))
          return -1;
        j->p += 6;
      } else if (strchr("\"\\/bfnrt", (int)c) != NULL && c != '\0') {
        j->p += 2;
      } else {
        return -1;
      }
    } else if (c < 0x80) {
      j->p++;
    } else {
      size_t n = utf8_seq(j->p, j->end);
      if (n == 0)
        return -1;
      j->p += n;
    }
  }
  return -1; /* unterminated */
}

static int j_digits(jscan_t *j) {
  const unsigned char *s = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
    j->p++;
  return j->p > s ? 0 : -1;
}

static int j_number(jscan_t *j) {
  if (*j->p == '-')
    j->p++;
  if (j->p < j->end && *j->p == '0')
    j->p++; /* no leading zeros */
  else if (j_digits(j) != 0)
    return -1;
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (j_digits(j) != 0)
      return -1;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
      j->p++;
    if (j_digits(j) != 0)
      return -1;
  }
  return 0;
}

static int j_value(jscan_t *j, int depth) {
  int esc;
  j_ws(j);
  if (j->p >= j->end)
    return -1;
  switch (*j->p) {
  case '"':
    return j_string(j, &esc);
  case 't':
    return j_lit(j, "true");
  case 'f':
    return j_lit(j, "false");
  case 'n':
    return j_lit(j, "null");
  case '[':
  case '{': {
    unsigned char close = *j->p == '[' ? ']' : '}';
    if (depth >= JSON_DEPTH)
      return -1;
    j->p++;
    j_ws(j);
    if (j->p < j->end && *j->p == close) {
      j->p++;
      return 0;
    }
    for (;;) {
      if (close == '}') { /* "key" : */
        j_ws(j);
        if (j->p >= j->end || *j->p != '"' || j_string(j, &esc) != 0)
          return -1;
        j_ws(j);
        if (j->p >= j->end || *j->p != ':')
          return -1;
        j->p++;
      }
      if (j_value(j, depth + 1) != 0)
        return -1;
      j_ws(j);
      if (j->p >= j->end)
        return -1;
      if (*j->p == close) {
        j->p++;
        return 0;
      }
      if (*j->p != ',')
        return -1;
      j->p++;
    }
  }
  default:
    if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
      return j_number(j);
    return -1;
  }
}

/* Event names Socket.IO clients refuse to receive (socket.io-parser). */
static const char *const reserved_events[] = {"connect",     "connect_error",
                                              "disconnect",  "disconnecting",
                                              "newListener", "removeListener"};

int gw_redis_msg_frame_ok(const char *p, size_t n) {
  if (n < 4 || memcmp(p, "42[", 3) != 0)
    return 0;
  jscan_t j = {(const unsigned char *)p + 2, (const unsigned char *)p + n};
  /* The first element is the event name: a plain string (no escapes, so
   * what we compare is what the client will see) that is not reserved. */
  j.p++;
  j_ws(&j);
  const unsigned char *name = j.p + 1;
  int esc;
  if (j.p >= j.end || *j.p != '"' || j_string(&j, &esc) != 0 || esc)
    return 0;
  size_t nl = (size_t)(j.p - 1 - name);
  for (size_t i = 0; i < sizeof(reserved_events) / sizeof(*reserved_events);
       i++)
    if (nl == strlen(reserved_events[i]) &&
        memcmp(name, reserved_events[i], nl) == 0)
      return 0;
  /* The rest of the array, then nothing after it. */
  j.p = (const unsigned char *)p + 2;
  if (j_value(&j, 0) != 0)
    return 0;
  return j.p == j.end;
}

/* opt_frame: a frame field that may be empty (nothing to send). */
static int opt_frame(gw_redis_span_t f) {
  return f.n == 0 || gw_redis_msg_frame_ok(f.p, f.n);
}

static int kind_of(gw_redis_span_t f, gw_ev_kind_t *kind) {
  uint64_t k;
  if (num(f, &k) != 0)
    return -1;
  *kind = k < GW_EV__COUNT ? (gw_ev_kind_t)k : GW_EV_NEWMESSAGE;
  return 0;
}

int gw_redis_msg_parse(gw_redis_chan_t chan, const char *p, size_t n,
                       gw_redis_msg_t *out) {
  gw_redis_span_t f[GW_REDIS_MSG_MAX_FIELDS];
  memset(out, 0, sizeof(*out));
  if (n < 1)
    return GW_EPROTO;
  int k = split(p + 1, n - 1, f, GW_REDIS_MSG_MAX_FIELDS);
  if (k < 0)
    return GW_EPROTO;
  out->type = p[0];
  switch (chan) {
  case GW_REDIS_CH_ROOM:
    switch (out->type) {
    case 'M': /* kind, frame */
      if (k != 2 || kind_of(f[0], &out->kind) != 0 ||
          !gw_redis_msg_frame_ok(f[1].p, f[1].n))
        return GW_EPROTO;
      out->frame = f[1];
      return 0;
    case 'J': /* sid, rseq, mseq, notice, userList */
      if (k != 5 || !sid_ok(f[0]) || num(f[1], &out->rseq) != 0 ||
          num(f[2], &out->mseq) != 0 || !opt_frame(f[3]) || !opt_frame(f[4]))
        return GW_EPROTO;
      out->sid = f[0];
      out->notice = f[3];
      out->userlist = f[4];
      return 0;
    case 'L': /* sid, notice, userList */
      if (k != 3 || !sid_ok(f[0]) || !opt_frame(f[1]) || !opt_frame(f[2]))
        return GW_EPROTO;
      out->sid = f[0];
      out->notice = f[1];
      out->userlist = f[2];
      return 0;
    case 'U': /* userList */
      if (k != 1 || !gw_redis_msg_frame_ok(f[0].p, f[0].n))
        return GW_EPROTO;
      out->userlist = f[0];
      return 0;
    }
    return GW_EPROTO;
  case GW_REDIS_CH_LOBBY:
    if (out->type != 'R' || k != 2 || num(f[0], &out->version) != 0 ||
        !gw_redis_msg_frame_ok(f[1].p, f[1].n))
      return GW_EPROTO;
    out->frame = f[1];
    return 0;
  case GW_REDIS_CH_NODE:
    if (out->type == 'D') { /* kind, frame, sid... */
      if (k < 3 || kind_of(f[0], &out->kind) != 0 ||
          !gw_redis_msg_frame_ok(f[1].p, f[1].n))
        return GW_EPROTO;
      out->frame = f[1];
      for (int i = 2; i < k; i++) {
        if (!sid_ok(f[i]))
          return GW_EPROTO;
        out->sids[out->n_sids++] = f[i];
      }
      return 0;
    }
    if (out->type == 'H') /* token */
      return k == 1 && num(f[0], &out->version) == 0 ? 0 : GW_EPROTO;
    return GW_EPROTO;
  case GW_REDIS_CH_OTHER:
    break;
  }
  return GW_EPROTO;
}
