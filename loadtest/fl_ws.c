/* SPDX-License-Identifier: MIT */
/* fl_ws.c: RFC 6455 client codec and handshake helpers (see fl_ws.h). */
#include "fl_ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- frames ------------------------------------------------------------ */

size_t fl_ws_header(uint8_t *out, int opcode, int fin, uint64_t len,
                    const uint8_t *mask) {
  size_t n = 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  uint8_t mbit = mask ? 0x80 : 0;
  if (len < 126) {
    out[n++] = (uint8_t)(mbit | len);
  } else if (len <= 0xffff) {
    out[n++] = (uint8_t)(mbit | 126);
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = (uint8_t)(mbit | 127);
    for (int i = 7; i >= 0; i--)
      out[n++] = (uint8_t)(len >> (8 * i));
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void fl_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  for (size_t i = 0; i < n; i++)
    p[i] ^= mask[(offset + i) & 3];
}

size_t fl_ws_encode(uint8_t *out, int opcode, const void *payload, size_t len,
                    const uint8_t mask[4]) {
  size_t h = fl_ws_header(out, opcode, 1, len, mask);
  if (len > 0)
    memcpy(out + h, payload, len);
  fl_ws_mask(out + h, len, mask, 0);
  return h + len;
}

/* ---- decoder ----------------------------------------------------------- */

void fl_ws_dec_init(fl_ws_dec_t *d, uint64_t max_frame) {
  memset(d, 0, sizeof *d);
  d->max_frame = max_frame;
}

/* Header bytes needed so far: 2, then the extended length and mask key. */
static size_t ws_hneed(const fl_ws_dec_t *d) {
  if (d->hlen < 2)
    return 2;
  size_t need = 2;
  uint8_t l7 = d->hdr[1] & 0x7f;
  if (l7 == 126)
    need += 2;
  else if (l7 == 127)
    need += 8;
  if (d->hdr[1] & 0x80)
    need += 4;
  return need;
}

static int ws_is_control(int op) {
  return op >= 0x8;
}

/* Validates a complete header and starts the frame. */
static int ws_start(fl_ws_dec_t *d, const fl_ws_callbacks_t *cb, void *u) {
  uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
  if (b0 & 0x70)
    return FL_WS_EPROTO; /* RSV bits: no extension was negotiated */
  if (b1 & 0x80)
    return FL_WS_EPROTO; /* a server must not mask */
  d->fin = (b0 & 0x80) != 0;
  d->opcode = b0 & 0x0f;
  uint8_t l7 = b1 & 0x7f;
  uint64_t len = l7;
  if (l7 == 126) {
    len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
    if (len < 126)
      return FL_WS_EPROTO; /* not minimal */
  } else if (l7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | d->hdr[2 + i];
    if (len >> 63 || len <= 0xffff)
      return FL_WS_EPROTO;
  }
  d->len = len;
  d->got = 0;
  switch (d->opcode) {
  case FL_WS_CLOSE:
  case FL_WS_PING:
  case FL_WS_PONG:
    if (!d->fin || len > 125)
      return FL_WS_EPROTO;
    d->ctl_len = 0;
    return 0;
  case FL_WS_TEXT:
  case FL_WS_BINARY:
    if (d->in_msg)
      return FL_WS_EPROTO; /* new message before the last one ended */
    if (len > d->max_frame)
      return FL_WS_ETOOBIG;
    d->in_msg = 1;
    if (cb->on_begin(u, d->opcode))
      return FL_WS_ESTOPPED;
    return 0;
  case FL_WS_CONT:
    if (!d->in_msg)
      return FL_WS_EPROTO;
    if (len > d->max_frame)
      return FL_WS_ETOOBIG;
    return 0;
  default:
    return FL_WS_EPROTO;
  }
}

/* Finishes the current frame once all its payload has been seen. */
static int ws_finish(fl_ws_dec_t *d, const fl_ws_callbacks_t *cb, void *u) {
  d->hlen = 0;
  d->in_frame = 0;
  if (ws_is_control(d->opcode))
    return cb->on_control(u, d->opcode, d->ctl, d->ctl_len) ? FL_WS_ESTOPPED
                                                            : 0;
  if (d->fin) {
    d->in_msg = 0;
    if (cb->on_end(u))
      return FL_WS_ESTOPPED;
  }
  return 0;
}

int fl_ws_dec_feed(fl_ws_dec_t *d, const uint8_t *p, size_t n,
                   const fl_ws_callbacks_t *cb, void *u) {
  while (n > 0) {
    if (!d->in_frame) {
      /* collect the header: 2 bytes, then extended length and mask key */
      d->hdr[d->hlen++] = *p++;
      n--;
      if (d->hlen < ws_hneed(d))
        continue;
      int rc = ws_start(d, cb, u);
      if (rc)
        return rc;
      d->in_frame = 1;
      if (d->len == 0 && (rc = ws_finish(d, cb, u)) != 0)
        return rc;
      continue;
    }
    uint64_t left = d->len - d->got;
    size_t take = left < (uint64_t)n ? (size_t)left : n;
    if (ws_is_control(d->opcode)) {
      memcpy(d->ctl + d->ctl_len, p, take);
      d->ctl_len = (uint8_t)(d->ctl_len + take);
    } else if (cb->on_data(u, p, take)) {
      return FL_WS_ESTOPPED;
    }
    d->got += take;
    p += take;
    n -= take;
    if (d->got == d->len) {
      int rc = ws_finish(d, cb, u);
      if (rc)
        return rc;
    }
  }
  return 0;
}

/* ---- SHA-1 and base64 (handshake only) --------------------------------- */

static uint32_t rol(uint32_t x, int k) {
  return (x << k) | (x >> (32 - k));
}

static void sha1_block(uint32_t st[5], const uint8_t *b) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
           (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = st[0], bb = st[1], c = st[2], dd = st[3], e = st[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (bb & c) | (~bb & dd);
      k = 0x5A827999;
    } else if (i < 40) {
      f = bb ^ c ^ dd;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (bb & c) | (bb & dd) | (c & dd);
      k = 0x8F1BBCDC;
    } else {
      f = bb ^ c ^ dd;
      k = 0xCA62C1D6;
    }
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = dd;
    dd = c;
    c = rol(bb, 30);
    bb = a;
    a = t;
  }
  st[0] += a;
  st[1] += bb;
  st[2] += c;
  st[3] += dd;
  st[4] += e;
}

void fl_ws_sha1(const void *data, size_t n, uint8_t out[20]) {
  uint32_t st[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const uint8_t *p = data;
  size_t left = n;
  while (left >= 64) {
    sha1_block(st, p);
    p += 64;
    left -= 64;
  }
  uint8_t tail[128] = {0};
  memcpy(tail, p, left);
  tail[left] = 0x80;
  size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)n * 8;
  for (int i = 0; i < 8; i++)
    tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
  for (size_t off = 0; off < tl; off += 64)
    sha1_block(st, tail + off);
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (uint8_t)(st[i] >> 24);
    out[4 * i + 1] = (uint8_t)(st[i] >> 16);
    out[4 * i + 2] = (uint8_t)(st[i] >> 8);
    out[4 * i + 3] = (uint8_t)st[i];
  }
}

size_t fl_ws_base64(const uint8_t *p, size_t n, char *out) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n)
      v |= p[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = '\0';
  return o;
}

void fl_ws_accept(const char *key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char buf[128];
  size_t kl = strlen(key);
  if (kl > sizeof buf - sizeof guid)
    kl = sizeof buf - sizeof guid;
  memcpy(buf, key, kl);
  memcpy(buf + kl, guid, sizeof guid - 1);
  uint8_t dig[20];
  fl_ws_sha1(buf, kl + sizeof guid - 1, dig);
  fl_ws_base64(dig, 20, out);
}

/* ---- handshake --------------------------------------------------------- */

size_t fl_ws_request(char *out, size_t cap, const char *host, const char *path,
                     const char *key) {
  int n = snprintf(out, cap,
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "\r\n",
                   path, host, key);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Finds |needle| in |p|[0..n). */
static const char *find_str(const char *p, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0)
      return p + i;
  return NULL;
}

long fl_ws_response(const char *p, size_t n, const char *key) {
  const char *end = find_str(p, n, "\r\n\r\n");
  if (end == NULL)
    return n > 8192 ? -1 : 0;
  size_t head = (size_t)(end - p) + 4;
  if (head < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0)
    return -1;
  char want[29];
  fl_ws_accept(key, want);
  /* walk the header lines; names are case-insensitive */
  int upgrade = 0, accept = 0;
  const char *line = memchr(p, '\n', head);
  while (line != NULL && line + 1 < end) {
    line++;
    const char *eol = memchr(line, '\r', (size_t)(end + 2 - line));
    if (eol == NULL)
      break;
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon != NULL) {
      size_t nl = (size_t)(colon - line);
      const char *v = colon + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      size_t vl = (size_t)(eol - v);
      while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (nl == 7 && strncasecmp(line, "upgrade", 7) == 0 && vl == 9 &&
          strncasecmp(v, "websocket", 9) == 0)
        upgrade = 1;
      else if (nl == 20 && strncasecmp(line, "sec-websocket-accept", 20) == 0 &&
               vl == 28 && memcmp(v, want, 28) == 0)
        accept = 1;
    }
    line = eol + 1;
  }
  return upgrade && accept ? (long)head : -1;
}
