/* SPDX-License-Identifier: MIT */
/* fl_ws_test.c: RFC 6455 client codec: header lengths at the 125/126/65535/
 * 65536 boundaries, masking, incremental decoding (byte by byte,
 * fragmentation, control frames between fragments), errors, and the
 * handshake (RFC 6455 section 1.3 example key). */
#include <stdlib.h>

#include "fl_ws.h"
#include "gw_test.h"

static const uint8_t k_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_sha1_and_accept(void) {
  uint8_t d[20];
  char hex[41];
  fl_ws_sha1("abc", 3, d);
  for (int i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  GW_ASSERT_STREQ(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  /* 56 bytes: padding spills into a second block */
  fl_ws_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
  for (int i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  GW_ASSERT_STREQ(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  char acc[29];
  fl_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", acc);
  GW_ASSERT_STREQ(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  char b64[16];
  fl_ws_base64((const uint8_t *)"ab", 2, b64);
  GW_ASSERT_STREQ(b64, "YWI=");
}

static void test_header_lengths(void) {
  uint8_t h[FL_WS_MAX_HEADER];
  GW_ASSERT_EQ(fl_ws_header(h, FL_WS_TEXT, 1, 125, NULL), 2);
  GW_ASSERT_EQ(h[0], 0x81);
  GW_ASSERT_EQ(h[1], 125);
  GW_ASSERT_EQ(fl_ws_header(h, FL_WS_TEXT, 1, 126, k_mask), 8);
  GW_ASSERT_EQ(h[1], 0x80 | 126);
  GW_ASSERT_EQ(h[2], 0);
  GW_ASSERT_EQ(h[3], 126);
  GW_ASSERT_EQ(h[4], 0x37);
  GW_ASSERT_EQ(fl_ws_header(h, FL_WS_BINARY, 0, 65535, NULL), 4);
  GW_ASSERT_EQ(h[0], 0x02);
  GW_ASSERT_EQ(h[2], 0xff);
  GW_ASSERT_EQ(h[3], 0xff);
  GW_ASSERT_EQ(fl_ws_header(h, FL_WS_TEXT, 1, 65536, k_mask), 14);
  GW_ASSERT_EQ(h[1], 0x80 | 127);
  for (int i = 2; i < 7; i++)
    GW_ASSERT_EQ(h[i], 0);
  GW_ASSERT_EQ(h[7], 1);
  GW_ASSERT_EQ(h[8], 0);
  GW_ASSERT_EQ(h[9], 0);
}

static void test_mask_roundtrip(void) {
  /* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d */
  uint8_t out[FL_WS_MAX_HEADER + 5];
  size_t n = fl_ws_encode(out, FL_WS_TEXT, "Hello", 5, k_mask);
  static const uint8_t want[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  GW_ASSERT_MEMEQ(out, n, want, sizeof want);
  /* unmasking at an offset continues the key phase */
  uint8_t p[5] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  fl_ws_mask(p, 2, k_mask, 0);
  fl_ws_mask(p + 2, 3, k_mask, 2);
  GW_ASSERT_MEMEQ(p, 5, "Hello", 5);
}

/* Decoder harness: collects messages and control frames into a log. */
typedef struct rec {
  char log[256];
  size_t loglen;
  uint8_t *msg;
  size_t mlen;
  int msgs;
  int stop_after_begin;
} rec_t;

static void logf_(rec_t *r, const char *s) {
  size_t l = strlen(s);
  memcpy(r->log + r->loglen, s, l);
  r->loglen += l;
  r->log[r->loglen] = '\0';
}

static int on_begin(void *u, int op) {
  rec_t *r = u;
  logf_(r, op == FL_WS_TEXT ? "T" : "B");
  r->mlen = 0;
  return r->stop_after_begin;
}
static int on_data(void *u, const uint8_t *p, size_t n) {
  rec_t *r = u;
  r->msg = realloc(r->msg, r->mlen + n + 1);
  memcpy(r->msg + r->mlen, p, n);
  r->mlen += n;
  return 0;
}
static int on_end(void *u) {
  rec_t *r = u;
  r->msgs++;
  logf_(r, "E");
  return 0;
}
static int on_control(void *u, int op, const uint8_t *p, size_t n) {
  rec_t *r = u;
  char b[140];
  snprintf(b, sizeof b, "[%x:%.*s]", op, (int)n, (const char *)p);
  logf_(r, b);
  return 0;
}
static const fl_ws_callbacks_t cbs = {on_begin, on_data, on_end, on_control};

/* Builds an unmasked server frame. */
static size_t server_frame(uint8_t *out, int op, int fin, const void *p,
                           size_t n) {
  size_t h = fl_ws_header(out, op, fin, n, NULL);
  memcpy(out + h, p, n);
  return h + n;
}

static void check_len(size_t len) {
  uint8_t *payload = malloc(len);
  for (size_t i = 0; i < len; i++)
    payload[i] = (uint8_t)('a' + i % 26);
  uint8_t *f = malloc(len + FL_WS_MAX_HEADER);
  size_t n = server_frame(f, FL_WS_TEXT, 1, payload, len);
  rec_t r = {0};
  fl_ws_dec_t d;
  fl_ws_dec_init(&d, 1 << 20);
  /* feed in uneven slices to cross every header boundary */
  size_t off = 0, step = 1;
  while (off < n) {
    size_t k = n - off < step ? n - off : step;
    GW_ASSERT_OK(fl_ws_dec_feed(&d, f + off, k, &cbs, &r));
    off += k;
    step = step * 3 + 1;
  }
  GW_ASSERT_EQ(r.msgs, 1);
  GW_ASSERT_EQ(r.mlen, len);
  if (len > 0)
    GW_ASSERT_MEMEQ(r.msg, r.mlen, payload, len);
  free(r.msg);
  free(f);
  free(payload);
}

static void test_decode_lengths(void) {
  size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    check_len(lens[i]);
}

static void test_decode_fragments_and_control(void) {
  uint8_t buf[256];
  size_t n = 0;
  n += server_frame(buf + n, FL_WS_TEXT, 0, "42[\"a", 5);
  n += server_frame(buf + n, FL_WS_PING, 1, "hi", 2);
  n += server_frame(buf + n, FL_WS_CONT, 0, "\",1", 3);
  n += server_frame(buf + n, FL_WS_CONT, 1, "]", 1);
  n += server_frame(buf + n, FL_WS_TEXT, 1, "2", 1);
  n += server_frame(buf + n, FL_WS_CLOSE, 1, "\x03\xe8", 2);
  rec_t r = {0};
  fl_ws_dec_t d;
  fl_ws_dec_init(&d, 1024);
  for (size_t i = 0; i < n; i++) /* byte by byte */
    GW_ASSERT_OK(fl_ws_dec_feed(&d, buf + i, 1, &cbs, &r));
  GW_ASSERT_STREQ(r.log, "T[9:hi]ETE[8:\x03\xe8]");
  GW_ASSERT_MEMEQ(r.msg, r.mlen, "2", 1);
  free(r.msg);
}

static void test_decode_errors(void) {
  fl_ws_dec_t d;
  rec_t r = {0};
  uint8_t f[32];
  /* masked server frame */
  fl_ws_dec_init(&d, 1024);
  size_t n = fl_ws_encode(f, FL_WS_TEXT, "x", 1, k_mask);
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, f, n, &cbs, &r), FL_WS_EPROTO);
  /* RSV1 without an extension */
  fl_ws_dec_init(&d, 1024);
  n = server_frame(f, FL_WS_TEXT, 1, "x", 1);
  f[0] |= 0x40;
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, f, n, &cbs, &r), FL_WS_EPROTO);
  /* continuation without a message */
  fl_ws_dec_init(&d, 1024);
  n = server_frame(f, FL_WS_CONT, 1, "x", 1);
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, f, n, &cbs, &r), FL_WS_EPROTO);
  /* fragmented ping */
  fl_ws_dec_init(&d, 1024);
  n = server_frame(f, FL_WS_PING, 0, "x", 1);
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, f, n, &cbs, &r), FL_WS_EPROTO);
  /* non-minimal 16-bit length */
  fl_ws_dec_init(&d, 1024);
  uint8_t nm[] = {0x81, 126, 0, 5};
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, nm, sizeof nm, &cbs, &r), FL_WS_EPROTO);
  /* over the limit */
  fl_ws_dec_init(&d, 100);
  uint8_t big[] = {0x81, 126, 0, 200};
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, big, sizeof big, &cbs, &r), FL_WS_ETOOBIG);
  /* unknown opcode */
  fl_ws_dec_init(&d, 1024);
  uint8_t op3[] = {0x83, 0};
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, op3, sizeof op3, &cbs, &r), FL_WS_EPROTO);
  /* a callback stops the decoder */
  fl_ws_dec_init(&d, 1024);
  r.stop_after_begin = 1;
  n = server_frame(f, FL_WS_TEXT, 1, "x", 1);
  GW_ASSERT_EQ(fl_ws_dec_feed(&d, f, n, &cbs, &r), FL_WS_ESTOPPED);
  free(r.msg);
}

static void test_handshake(void) {
  char req[512];
  size_t n = fl_ws_request(req, sizeof req, "127.0.0.1:8000",
                           "/socket.io/?EIO=4&transport=websocket",
                           "dGhlIHNhbXBsZSBub25jZQ==");
  GW_ASSERT(n > 0);
  GW_ASSERT(strstr(req, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1"
                        "\r\n") == req);
  GW_ASSERT(strstr(req, "Sec-WebSocket-Version: 13\r\n") != NULL);
  GW_ASSERT(memcmp(req + n - 4, "\r\n\r\n", 4) == 0);
  GW_ASSERT_EQ(fl_ws_request(req, 20, "h", "/", "k"), 0);

  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  const char ok[] = "HTTP/1.1 101 Switching Protocols\r\n"
                    "upgrade: WebSocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n"
                    "\r\n\x81\x02"
                    "0{";
  size_t head = strlen(ok) - 4;
  GW_ASSERT_EQ(fl_ws_response(ok, sizeof ok - 1, key), (long)head);
  GW_ASSERT_EQ(fl_ws_response(ok, 40, key), 0); /* incomplete */
  const char bad_accept[] =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
      "\r\n";
  GW_ASSERT_EQ(fl_ws_response(bad_accept, sizeof bad_accept - 1, key), -1);
  const char refused[] =
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  GW_ASSERT_EQ(fl_ws_response(refused, sizeof refused - 1, key), -1);
}

GW_TEST_LIST = {
    {"sha1 base64 accept", test_sha1_and_accept},
    {"header lengths 125/126/65535/65536", test_header_lengths},
    {"masking (RFC example) and offsets", test_mask_roundtrip},
    {"decode lengths in uneven slices", test_decode_lengths},
    {"decode fragments with control frames", test_decode_fragments_and_control},
    {"decode errors", test_decode_errors},
    {"handshake request and response", test_handshake},
    {NULL, NULL}};
