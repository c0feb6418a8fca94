/* SPDX-License-Identifier: MIT */
/* gw_eio.c: Engine.IO / Socket.IO packet codec (see gw_eio.h). */
#include "gw_eio.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "gw_err.h"
#include "gw_text.h"

/* Event names Socket.IO reserves; an EVENT using one is malformed. */
static const char *const reserved_events[] = {"connect",     "connect_error",
                                              "disconnect",  "disconnecting",
                                              "newListener", "removeListener"};

/* is_reserved compares the whole JSON string |ev| (it may hold a NUL, as
 * in "connect\u0000x", which is no reserved name), as Socket.IO does. */
static int is_reserved(json_t *ev) {
  const char *s = json_string_value(ev);
  size_t len = json_string_length(ev);
  for (size_t i = 0; i < sizeof(reserved_events) / sizeof(*reserved_events);
       i++)
    if (len == strlen(reserved_events[i]) &&
        memcmp(s, reserved_events[i], len) == 0)
      return 1;
  return 0;
}

void gw_eio_pkt_clear(gw_eio_pkt_t *pkt) {
  json_decref(pkt->data);
  pkt->data = NULL;
  pkt->event = NULL;
}

/* json_values_over says whether the JSON text |p|/|n| holds more than
 * |max| values, without building them: outside strings, each '[' and '{'
 * opens one, and each ',' after the first element adds one (an
 * upper bound for what jansson would allocate; malformed text is left to
 * jansson). */
static int json_values_over(const char *p, size_t n, unsigned max) {
  unsigned values = 1;
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (in_str) {
      if (c == '\\')
        i++; /* the escaped character, whatever it is */
      else if (c == '"')
        in_str = 0;
      continue;
    }
    if (c == '"')
      in_str = 1;
    else if ((c == '[' || c == '{' || c == ',') && ++values > max)
      return 1;
  }
  return 0;
}

static int parse_sio(gw_eio_pkt_t *pkt) {
  const char *p = pkt->text, *end = pkt->text + pkt->text_len;
  if (p == end || *p < '0' || *p > '6')
    return GW_EPROTO;
  pkt->sio_type = *p++ - '0';
  /* Binary packets need attachments we do not accept: refuse them whole. */
  if (pkt->sio_type == GW_SIO_BINARY_EVENT ||
      pkt->sio_type == GW_SIO_BINARY_ACK)
    return GW_EPROTO;
  pkt->nsp = "/";
  pkt->nsp_len = 1;
  if (p < end && *p == '/') {
    const char *c = memchr(p, ',', (size_t)(end - p));
    pkt->nsp = p;
    pkt->nsp_len = (size_t)((c ? c : end) - p);
    p = c ? c + 1 : end;
  }
  pkt->id = GW_EIO_NO_ID;
  if (p < end && *p >= '0' && *p <= '9') {
    uint64_t id = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      if (++digits > 15) /* beyond JS's exact integers */
        return GW_EPROTO;
      id = id * 10 + (uint64_t)(*p++ - '0');
    }
    pkt->id = id;
  }
  if (p < end) {
    json_error_t jerr;
    if (json_values_over(p, (size_t)(end - p), GW_EIO_MAX_JSON_VALUES))
      return GW_EPROTO;
    pkt->data = json_loadb(
        p, (size_t)(end - p),
        JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (pkt->data == NULL)
      return GW_EPROTO;
  }
  switch (pkt->sio_type) {
  case GW_SIO_CONNECT:
    if (pkt->data != NULL && !json_is_object(pkt->data))
      return GW_EPROTO;
    break;
  case GW_SIO_DISCONNECT:
    if (pkt->data != NULL)
      return GW_EPROTO;
    break;
  case GW_SIO_EVENT: {
    json_t *first = json_array_get(pkt->data, 0);
    if (!json_is_array(pkt->data) || first == NULL)
      return GW_EPROTO;
    if (json_is_string(first)) {
      pkt->event = json_string_value(first);
      if (is_reserved(first))
        return GW_EPROTO;
    } else if (!json_is_number(first)) {
      return GW_EPROTO;
    }
    break;
  }
  case GW_SIO_ACK:
    if (!json_is_array(pkt->data))
      return GW_EPROTO;
    break;
  case GW_SIO_CONNECT_ERROR: /* only servers send it */
  default:
    return GW_EPROTO;
  }
  return 0;
}

int gw_eio_parse(const char *buf, size_t len, gw_eio_pkt_t *pkt) {
  memset(pkt, 0, sizeof(*pkt));
  if (len == 0 || buf[0] < '0' || buf[0] > '6')
    return GW_EPROTO;
  pkt->eio_type = buf[0] - '0';
  pkt->text = buf + 1;
  pkt->text_len = len - 1;
  if (pkt->eio_type != GW_EIO_MESSAGE)
    return 0;
  int rc = parse_sio(pkt);
  if (rc != 0)
    gw_eio_pkt_clear(pkt);
  return rc;
}

int gw_eio_sid(char out[21]) {
  static const char b64url[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char r[15];
  size_t got = 0;
  while (got < sizeof(r)) {
    ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    got += (size_t)n;
  }
  /* 15 bytes = 120 bits = 20 base64 characters, no padding. */
  for (int i = 0, o = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    out[o++] = b64url[(v >> 6) & 63];
    out[o++] = b64url[v & 63];
  }
  out[20] = '\0';
  return 0;
}

/* ---- handshake query ------------------------------------------------------
 */

void gw_eio_query_init(gw_eio_query_t *q) {
  memset(q, 0, sizeof(*q));
}

/* span_next returns the byte of |s|/|n| at *i and moves *i past it. With
 * |encoded| it decodes as Node's querystring does ("%XX" to a byte, '+' to
 * a space; a malformed '%' stays a literal '%'), so a span is read in place:
 * nothing is copied and no input length needs a buffer. */
static char span_next(const char *s, size_t n, size_t *i, int encoded) {
  char c = s[(*i)++];
  if (encoded && c == '+')
    return ' ';
  if (encoded && c == '%' && n - *i >= 2 && gw_hexval(s[*i]) >= 0 &&
      gw_hexval(s[*i + 1]) >= 0) {
    c = (char)(gw_hexval(s[*i]) << 4 | gw_hexval(s[*i + 1]));
    *i += 2;
  }
  return c;
}

/* span_eq compares |s|/|n|, decoded (span_next), with the string |lit|. */
static int span_eq(const char *s, size_t n, int encoded, const char *lit) {
  size_t i = 0, k = 0;
  while (i < n) {
    char c = span_next(s, n, &i, encoded);
    if (lit[k] == '\0' || lit[k] != c)
      return 0;
    k++;
  }
  return lit[k] == '\0';
}

/* span_copy decodes |s|/|n| (span_next) into |out| (|cap| bytes, at most
 * cap - 1 of them written, NUL-ended) and returns the decoded length, which
 * may exceed what was written. */
static size_t span_copy(const char *s, size_t n, int encoded, char *out,
                        size_t cap) {
  size_t i = 0, k = 0;
  while (i < n) {
    char c = span_next(s, n, &i, encoded);
    if (k + 1 < cap)
      out[k] = c;
    k++;
  }
  out[k + 1 < cap ? k : cap - 1] = '\0';
  return k;
}

static void query_kv(gw_eio_query_t *q, const char *arg, size_t len,
                     int encoded) {
  const char *eq = memchr(arg, '=', len);
  size_t nlen = eq ? (size_t)(eq - arg) : len;
  const char *v = eq ? eq + 1 : arg + len;
  size_t vlen = (size_t)(arg + len - v);
  if (span_eq(arg, nlen, encoded, "EIO")) {
    q->eio_n++;
    q->eio_ok += (unsigned)span_eq(v, vlen, encoded, "4");
  } else if (span_eq(arg, nlen, encoded, "transport")) {
    q->transport_n++;
    q->ws_n += (unsigned)span_eq(v, vlen, encoded, "websocket");
    q->poll_n += (unsigned)span_eq(v, vlen, encoded, "polling");
  } else if (span_eq(arg, nlen, encoded, "sid")) {
    q->sid_n++;
    q->sid_len = span_copy(v, vlen, encoded, q->sid, sizeof(q->sid));
  }
}

void gw_eio_query_add(gw_eio_query_t *q, const char *arg, size_t len) {
  query_kv(q, arg, len, 0);
}

const char *gw_eio_query_error(const gw_eio_query_t *q) {
  if (q->eio_n != 1 || q->eio_ok != 1)
    return "{\"code\":5,\"message\":\"Unsupported protocol version\"}";
  if (q->transport_n != 1 || q->ws_n + q->poll_n != 1)
    return "{\"code\":0,\"message\":\"Transport unknown\"}";
  return NULL;
}

int gw_eio_query_transport(const gw_eio_query_t *q) {
  if (gw_eio_query_error(q) != NULL)
    return GW_EIO_T_NONE;
  return q->ws_n ? GW_EIO_T_WEBSOCKET : GW_EIO_T_POLLING;
}

const char *gw_eio_query_sid(const gw_eio_query_t *q) {
  if (q->sid_n == 0)
    return NULL;
  if (q->sid_n != 1 || q->sid_len != 20)
    return "";
  for (size_t i = 0; i < 20; i++) {
    char c = q->sid[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return "";
  }
  return q->sid;
}

void gw_eio_query_parse(gw_eio_query_t *q, const char *args, size_t len) {
  const char *p = args, *end = args + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    if (stop > p) /* "a&&b": empty arguments are nothing */
      query_kv(q, p, (size_t)(stop - p), 1);
    p = amp ? amp + 1 : end;
  }
}

const char *gw_eio_query_check(const char *args, size_t len) {
  gw_eio_query_t q;
  gw_eio_query_init(&q);
  gw_eio_query_parse(&q, args, len);
  return gw_eio_query_error(&q);
}
