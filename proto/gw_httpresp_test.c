/* SPDX-License-Identifier: MIT */
/* gw_httpresp_test.c: the HTTP/1.1 response head parser, table-driven, with
 * the 8192-byte bound and byte-by-byte arrival. */
#include "gw_test.h"

#include "gw_err.h"
#include "gw_httpresp.h"

#define CRLF "\r\n"

/* Each input is a whole head; ok means parse returns strlen(in). */
typedef struct {
  const char *in;
  int ok;
  int status;
  long long cl; /* -1: absent */
  int chunked, close, upgrade;
  const char *ct; /* NULL: absent */
} hcase_t;

#define BAD(in)                                                                \
  { in, 0, 0, -1, 0, 0, 0, NULL }

static const hcase_t cases[] = {
    /* what the peer gateway (lws 4.1.6) answers */
    {"HTTP/1.1 200 OK" CRLF "content-type: text/plain; charset=UTF-8" CRLF
     "cache-control: no-store" CRLF "content-length: 2" CRLF CRLF,
     1, 200, 2, 0, 0, 0, "text/plain; charset=UTF-8"},
    {"HTTP/1.1 101 Switching Protocols" CRLF "Upgrade: WebSocket" CRLF
     "Connection: Upgrade" CRLF
     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" CRLF CRLF,
     1, 101, -1, 0, 0, 1, NULL},
    {"HTTP/1.1 400 Bad Request" CRLF "Content-Type: application/json" CRLF
     "Content-Length: 42" CRLF "Connection: close" CRLF CRLF,
     1, 400, 42, 0, 1, 0, "application/json"},
    {"HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked" CRLF CRLF, 1, 200, -1,
     1, 0, 0, NULL},
    /* status lines */
    {"HTTP/1.1 204" CRLF CRLF, 1, 204, -1, 0, 0, 0, NULL},
    {"HTTP/1.1 204 " CRLF CRLF, 1, 204, -1, 0, 0, 0, NULL},
    {"HTTP/1.1 100 Continue" CRLF CRLF, 1, 100, -1, 0, 0, 0, NULL},
    {"HTTP/1.1 599 \tx y\x80\xff" CRLF CRLF, 1, 599, -1, 0, 0, 0, NULL},
    {"HTTP/1.0 200 OK" CRLF CRLF, 1, 200, -1, 0, 1, 0, NULL},
    {"HTTP/1.0 200 OK" CRLF "Connection: Keep-Alive" CRLF CRLF, 1, 200, -1, 0,
     0, 0, NULL},
    {"HTTP/1.0 200 OK" CRLF "Connection: keep-alive, close" CRLF CRLF, 1, 200,
     -1, 0, 1, 0, NULL},
    BAD("HTTP/1.1 099 X" CRLF CRLF),
    BAD("HTTP/1.1 99 X" CRLF CRLF),
    BAD("HTTP/1.1 600 X" CRLF CRLF),
    BAD("HTTP/1.1 2000 X" CRLF CRLF),
    BAD("HTTP/1.1 20x X" CRLF CRLF),
    BAD("HTTP/1.1 200OK" CRLF CRLF),
    BAD("HTTP/1.1  200 OK" CRLF CRLF),
    BAD("HTTP/1.1 200 O\x01K" CRLF CRLF),
    BAD("HTTP/1.1 200 O\x7fK" CRLF CRLF),
    BAD("HTTP/1.1" CRLF CRLF),
    BAD("HTTP/1.1 " CRLF CRLF),
    BAD("HTTP/1.2 200 OK" CRLF CRLF),
    BAD("HTTP/1.10 200 OK" CRLF CRLF),
    BAD("HTTP/2 200" CRLF CRLF),
    BAD("http/1.1 200 OK" CRLF CRLF),
    BAD(CRLF "HTTP/1.1 200 OK" CRLF CRLF),
    /* line ends */
    BAD("HTTP/1.1 200 OK\n\n"),
    BAD("HTTP/1.1 200 OK\r\n\n"),
    BAD("HTTP/1.1 200 OK\nX: y\r\n\r\n"),
    BAD("HTTP/1.1 200 OK" CRLF "X: a\rb" CRLF CRLF),
    BAD("HTTP/1.1 200 OK\r\r\n\r\n"),
    /* header lines */
    {"HTTP/1.1 200 OK" CRLF "X-Empty:" CRLF "x:y" CRLF
     "X-Obs: caf\xc3\xa9\t" CRLF "!#$%&'*+-.^_`|~09azAZ: v" CRLF CRLF,
     1, 200, -1, 0, 0, 0, NULL},
    BAD("HTTP/1.1 200 OK" CRLF "X : y" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "X\t: y" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF ": y" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "no colon" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "NoColon" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "X(y): z" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "X: a" CRLF " folded" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "X: a" CRLF "\tfolded" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "X: a\x01" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "X: \x7f" CRLF CRLF),
    /* Content-Length */
    {"HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF CRLF, 1, 200, 0, 0, 0, 0,
     NULL},
    {"HTTP/1.1 200 OK" CRLF "CONTENT-LENGTH:\t 007 \t" CRLF CRLF, 1, 200, 7, 0,
     0, 0, NULL},
    {"HTTP/1.1 200 OK" CRLF "content-length: 9223372036854775807" CRLF CRLF, 1,
     200, 9223372036854775807LL, 0, 0, 0, NULL},
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 9223372036854775808" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF
        "Content-Length: 99999999999999999999" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length:" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length:  " CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: -1" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: +1" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 1 2" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 12a" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 0x10" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 5, 5" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 5" CRLF
        "Content-Length: 5" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 5" CRLF
        "content-length: 6" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Content-Length: 5" CRLF
        "Transfer-Encoding: chunked" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked" CRLF
        "Content-Length: 0" CRLF CRLF),
    /* Transfer-Encoding */
    {"HTTP/1.1 200 OK" CRLF "transfer-encoding:  CHUNKED " CRLF CRLF, 1, 200,
     -1, 1, 0, 0, NULL},
    {"HTTP/1.1 200 OK" CRLF "Transfer-Encoding: gzip, chunked" CRLF CRLF, 1,
     200, -1, 1, 0, 0, NULL},
    {"HTTP/1.1 200 OK" CRLF "Transfer-Encoding: gzip" CRLF
     "Transfer-Encoding: ,chunked," CRLF CRLF,
     1, 200, -1, 1, 0, 0, NULL},
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: gzip" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding:" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked, gzip" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked, chunked" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked" CRLF
        "Transfer-Encoding: chunked" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked" CRLF
        "Transfer-Encoding: identity" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: g@zip, chunked" CRLF CRLF),
    BAD("HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked;q=1" CRLF CRLF),
    /* Connection, Upgrade */
    {"HTTP/1.1 200 OK" CRLF "Connection: CLOSE" CRLF CRLF, 1, 200, -1, 0, 1, 0,
     NULL},
    {"HTTP/1.1 200 OK" CRLF "Connection: keep-alive" CRLF
     "Connection: x, close" CRLF CRLF,
     1, 200, -1, 0, 1, 0, NULL},
    {"HTTP/1.1 200 OK" CRLF "Connection: closed, xclose" CRLF CRLF, 1, 200, -1,
     0, 0, 0, NULL},
    {"HTTP/1.1 101 Switching Protocols" CRLF
     "upgrade: h2c, websocket" CRLF CRLF,
     1, 101, -1, 0, 0, 1, NULL},
    {"HTTP/1.1 200 OK" CRLF "Upgrade: websocket" CRLF CRLF, 1, 200, -1, 0, 0, 0,
     NULL},
    {"HTTP/1.1 101 Switching Protocols" CRLF "Upgrade: websockets" CRLF CRLF, 1,
     101, -1, 0, 0, 0, NULL},
    {"HTTP/1.1 101 Switching Protocols" CRLF CRLF, 1, 101, -1, 0, 0, 0, NULL},
    /* Content-Type */
    {"HTTP/1.1 200 OK" CRLF "Content-type:\t text/html \t" CRLF CRLF, 1, 200,
     -1, 0, 0, 0, "text/html"},
    {"HTTP/1.1 200 OK" CRLF "Content-Type:" CRLF CRLF, 1, 200, -1, 0, 0, 0, ""},
    BAD("HTTP/1.1 200 OK" CRLF "Content-Type: a" CRLF
        "Content-Type: a" CRLF CRLF),
};

/* assert_cleared: what |out| holds after 0 or GW_EPROTO. */
static void assert_cleared(const gw_httpresp_t *r) {
  GW_ASSERT_EQ(r->status, 0);
  GW_ASSERT_EQ(r->content_length, -1);
  GW_ASSERT(!r->chunked && !r->close && !r->upgrade);
  GW_ASSERT(r->content_type == NULL && r->content_type_len == 0);
}

static void check_case(const hcase_t *c) {
  size_t len = strlen(c->in);
  gw_httpresp_t r;
  memset(&r, 0xA5, sizeof(r));
  int rc = gw_httpresp_parse(c->in, len, &r);
  if (!c->ok) {
    if (rc != GW_EPROTO)
      GW_TEST_FAIL("\"%s\": rc %d, want GW_EPROTO", c->in, rc);
    assert_cleared(&r);
    return;
  }
  if (rc != (int)len)
    GW_TEST_FAIL("\"%s\": rc %d, want %zu", c->in, rc, len);
  GW_ASSERT_EQ(r.status, c->status);
  GW_ASSERT_EQ(r.content_length, c->cl);
  GW_ASSERT_EQ(r.chunked, c->chunked);
  GW_ASSERT_EQ(r.close, c->close);
  GW_ASSERT_EQ(r.upgrade, c->upgrade);
  if (c->ct == NULL) {
    GW_ASSERT(r.content_type == NULL);
    GW_ASSERT_EQ(r.content_type_len, 0);
  } else {
    GW_ASSERT(r.content_type >= c->in && r.content_type <= c->in + len);
    GW_ASSERT_MEMEQ(r.content_type, r.content_type_len, c->ct, strlen(c->ct));
  }
}

static void test_table(void) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
    check_case(&cases[i]);
}

/* Every proper prefix of a valid head needs more bytes and clears |out|;
 * the head followed by body bytes (any bytes) parses the same. */
static void test_split(void) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    const hcase_t *c = &cases[i];
    if (!c->ok)
      continue;
    size_t len = strlen(c->in);
    char *buf = malloc(len + 8);
    GW_ASSERT(buf != NULL);
    memcpy(buf, c->in, len);
    memcpy(buf + len, "\n\r\0\xff{x}\n", 8);
    gw_httpresp_t r;
    for (size_t k = 0; k < len; k++) {
      /* a heap copy of exactly k bytes: ASan sees a read past the end */
      char *pre = malloc(k ? k : 1);
      GW_ASSERT(pre != NULL);
      memcpy(pre, buf, k);
      memset(&r, 0xA5, sizeof(r));
      int rc = gw_httpresp_parse(pre, k, &r);
      if (rc != 0)
        GW_TEST_FAIL("\"%s\" cut at %zu: rc %d, want 0", c->in, k, rc);
      assert_cleared(&r);
      free(pre);
    }
    for (size_t k = len; k <= len + 8; k++)
      GW_ASSERT_EQ(gw_httpresp_parse(buf, k, &r), (int)len);
    free(buf);
  }
}

/* Malformed starts fail as soon as the bytes show it. */
static void test_early_errors(void) {
  gw_httpresp_t r;
  memset(&r, 0xA5, sizeof(r));
  GW_ASSERT_EQ(gw_httpresp_parse(NULL, 0, &r), 0);
  assert_cleared(&r);
  GW_ASSERT_EQ(gw_httpresp_parse("H", 1, &r), 0);
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.", 7, &r), 0);
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.1", 8, &r), 0);
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.1 200 OK\r", 16, &r), 0);
  memset(&r, 0xA5, sizeof(r));
  GW_ASSERT_EQ(gw_httpresp_parse("X", 1, &r), GW_EPROTO);
  assert_cleared(&r);
  GW_ASSERT_EQ(gw_httpresp_parse("\x16\x03\x01", 3, &r), GW_EPROTO); /* TLS */
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/2", 6, &r), GW_EPROTO);
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.2", 8, &r), GW_EPROTO);
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.1 200 OK\n", 16, &r), GW_EPROTO);
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.1 200 OK\rX", 17, &r), GW_EPROTO);
  /* the status code is read only once the head is whole */
  GW_ASSERT_EQ(gw_httpresp_parse("HTTP/1.1 999 X\r\n", 16, &r), 0);
}

/* fill_head writes a head of exactly |total| bytes (>= 64): a status line,
 * one long X-Pad header, and the final CRLFCRLF, to |buf|. */
static void fill_head(char *buf, size_t total) {
  const char *start = "HTTP/1.1 200 OK\r\nX-Pad: ";
  size_t sl = strlen(start);
  memcpy(buf, start, sl);
  memset(buf + sl, 'p', total - sl - 4);
  memcpy(buf + total - 4, "\r\n\r\n", 4);
}

static void test_max_head(void) {
  enum { M = GW_HTTPRESP_MAX_HEAD };
  char *buf = malloc(M + 64);
  GW_ASSERT(buf != NULL);
  gw_httpresp_t r;
  /* exactly 8192 bytes: accepted, with or without more bytes after it */
  fill_head(buf, M);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M, &r), M);
  memset(buf + M, 'b', 64);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M + 64, &r), M);
  GW_ASSERT_EQ(r.status, 200);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M - 1, &r), 0);
  /* 8193 bytes, the end split across the bound ("\r\n\r" within it,
   * "\n" past it): refused once 8192 bytes are there without an end */
  fill_head(buf, M + 1);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M - 1, &r), 0);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M, &r), GW_EPROTO);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M + 1, &r), GW_EPROTO);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M + 64, &r), GW_EPROTO);
  /* no end at all, 8192 bytes of a valid-looking header */
  fill_head(buf, M + 64);
  GW_ASSERT_EQ(gw_httpresp_parse(buf, M, &r), GW_EPROTO);
  free(buf);
}

/* The body starts at the returned length; nothing in it is read. */
static void test_body_follows(void) {
  const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n4\x1e"
                    "6\n\0";
  gw_httpresp_t r;
  int rc = gw_httpresp_parse(in, sizeof(in) - 1, &r);
  GW_ASSERT_EQ(rc, 38);
  GW_ASSERT_EQ(r.content_length, 5);
  GW_ASSERT_MEMEQ(in + rc, sizeof(in) - 1 - (size_t)rc,
                  "4\x1e"
                  "6\n\0",
                  5);
}

GW_TEST_LIST = {
    {"table", test_table},
    {"every prefix needs more bytes", test_split},
    {"early errors", test_early_errors},
    {"8192-byte head bound", test_max_head},
    {"the body follows the head", test_body_follows},
    {NULL, NULL},
};
