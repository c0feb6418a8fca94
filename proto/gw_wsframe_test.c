/* SPDX-License-Identifier: MIT */
/* gw_wsframe_test.c: RFC 6455 frame headers: the RFC's own examples, every
 * error, the length-encoding boundaries, byte-by-byte arrival, and
 * piecewise unmasking. */
#include "gw_test.h"

#include "gw_err.h"
#include "gw_wsframe.h"

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

/* parse_ok parses |buf|/|len| (a whole header, maybe with payload after it)
 * and checks the header length and every field. */
static void parse_ok(const uint8_t *buf, size_t len, int hlen, int fin,
                     int opcode, uint64_t plen, const uint8_t *mask) {
  gw_wsframe_t f;
  int rc = gw_wsframe_parse(buf, len, &f);
  GW_ASSERT_EQ(rc, hlen);
  GW_ASSERT_EQ(f.fin, fin);
  GW_ASSERT_EQ(f.rsv, 0);
  GW_ASSERT_EQ(f.opcode, opcode);
  GW_ASSERT_EQ(f.masked, mask != NULL);
  GW_ASSERT(f.len == plen);
  static const uint8_t zero[4];
  GW_ASSERT_MEMEQ(f.mask, 4, mask ? mask : zero, 4);
}

/* RFC 6455 §5.7. */
static void test_rfc_examples(void) {
  parse_ok(B(0x81, 0x05, 'H', 'e', 'l', 'l', 'o'), 2, 1, 1, 5, NULL);
  uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                      0x7f, 0x9f, 0x4d, 0x51, 0x58};
  static const uint8_t key[] = {0x37, 0xfa, 0x21, 0x3d};
  parse_ok(masked, sizeof(masked), 6, 1, 1, 5, key);
  gw_wsframe_unmask(masked + 6, 5, key, 0);
  GW_ASSERT_MEMEQ(masked + 6, 5, "Hello", 5);
  parse_ok(B(0x01, 0x03, 'H', 'e', 'l'), 2, 0, GW_WSFRAME_TEXT, 3, NULL);
  parse_ok(B(0x80, 0x02, 'l', 'o'), 2, 1, GW_WSFRAME_CONT, 2, NULL);
  parse_ok(B(0x89, 0x05, 'H', 'e', 'l', 'l', 'o'), 2, 1, GW_WSFRAME_PING, 5,
           NULL);
  static const uint8_t pkey[] = {0x37, 0xfa, 0x21, 0x3d};
  parse_ok(B(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58),
           6, 1, GW_WSFRAME_PONG, 5, pkey);
  parse_ok(B(0x82, 0x7E, 0x01, 0x00), 4, 1, GW_WSFRAME_BINARY, 256, NULL);
  parse_ok(B(0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00), 10, 1,
           GW_WSFRAME_BINARY, 65536, NULL);
  parse_ok(B(0x88, 0x00), 2, 1, GW_WSFRAME_CLOSE, 0, NULL);
}

/* assert_zeroed: what |out| holds after 0 or GW_EPROTO. */
static void assert_zeroed(const gw_wsframe_t *f) {
  static const uint8_t zero[4];
  GW_ASSERT(!f->fin && !f->rsv && !f->opcode && !f->masked && f->len == 0);
  GW_ASSERT_MEMEQ(f->mask, 4, zero, 4);
}

static void test_errors(void) {
  gw_wsframe_t f;
  /* rsv bits, each alone: refused on the first byte */
  for (unsigned r = 1; r < 8; r++) {
    uint8_t b[2] = {(uint8_t)(0x81 | r << 4), 0x00};
    GW_ASSERT_EQ(gw_wsframe_parse(b, 1, &f), GW_EPROTO);
    GW_ASSERT_EQ(gw_wsframe_parse(b, 2, &f), GW_EPROTO);
  }
  /* every opcode, with and without fin */
  for (unsigned op = 0; op < 16; op++) {
    for (unsigned fin = 0; fin < 2; fin++) {
      uint8_t b[2] = {(uint8_t)(fin << 7 | op), 0x05};
      int valid = op <= 2 || (op >= 8 && op <= 10);
      int want = !valid || (op >= 8 && !fin) ? GW_EPROTO : 2;
      GW_ASSERT_EQ(gw_wsframe_parse(b, 2, &f), want);
      GW_ASSERT_EQ(gw_wsframe_parse(b, 1, &f), want == 2 ? 0 : want);
    }
  }
  /* control frames: 125 is the limit, refused on the second byte */
  uint8_t ctl[] = {0x88, 0x7d};
  GW_ASSERT_EQ(gw_wsframe_parse(ctl, 2, &f), 2);
  for (unsigned op = 8; op <= 10; op++) {
    ctl[0] = (uint8_t)(0x80 | op);
    ctl[1] = 126;
    GW_ASSERT_EQ(gw_wsframe_parse(ctl, 2, &f), GW_EPROTO);
    ctl[1] = 127;
    GW_ASSERT_EQ(gw_wsframe_parse(ctl, 2, &f), GW_EPROTO);
    ctl[1] = 0x80 | 126; /* masked too */
    GW_ASSERT_EQ(gw_wsframe_parse(ctl, 2, &f), GW_EPROTO);
  }
  /* non-minimal lengths */
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 126, 0x00, 0x00), &f), GW_EPROTO);
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 126, 0x00, 125), &f), GW_EPROTO);
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 0xFE, 0x00, 125, 1, 2, 3, 4), &f),
               GW_EPROTO);
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5), &f),
               GW_EPROTO);
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 126), &f),
               GW_EPROTO);
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF), &f),
               GW_EPROTO);
  /* the top bit of a 64-bit length */
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0), &f),
               GW_EPROTO);
  GW_ASSERT_EQ(
      gw_wsframe_parse(
          B(0x82, 127, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), &f),
      GW_EPROTO);
  /* ... reported before the mask key has arrived */
  memset(&f, 0xA5, sizeof(f));
  GW_ASSERT_EQ(gw_wsframe_parse(B(0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0), &f),
               GW_EPROTO);
  assert_zeroed(&f);
  /* 0 for nothing at all */
  memset(&f, 0xA5, sizeof(f));
  GW_ASSERT_EQ(gw_wsframe_parse(NULL, 0, &f), 0);
  assert_zeroed(&f);
}

/* The length boundaries: each length encodes in its shortest form, parses
 * back the same, and the neighbours across a boundary change the size. */
static void test_length_boundaries(void) {
  static const struct {
    uint64_t len;
    size_t hlen; /* unmasked */
  } b[] = {
      {0, 2},
      {1, 2},
      {125, 2},
      {126, 4},
      {127, 4},
      {65535, 4},
      {65536, 10},
      {(uint64_t)1 << 32, 10},
      {UINT64_MAX >> 1, 10},
  };
  static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t i = 0; i < sizeof(b) / sizeof(*b); i++) {
    for (int m = 0; m < 2; m++) {
      uint8_t h[GW_WSFRAME_MAX_HEADER + 1];
      memset(h, 0xEE, sizeof(h));
      size_t n =
          gw_wsframe_header(h, 1, GW_WSFRAME_BINARY, b[i].len, m ? key : NULL);
      GW_ASSERT_EQ(n, b[i].hlen + (m ? 4 : 0));
      GW_ASSERT_EQ(h[GW_WSFRAME_MAX_HEADER], 0xEE); /* wrote no further */
      parse_ok(h, n, (int)n, 1, GW_WSFRAME_BINARY, b[i].len, m ? key : NULL);
    }
  }
  uint8_t h[GW_WSFRAME_MAX_HEADER];
  GW_ASSERT_EQ(gw_wsframe_header(h, 1, GW_WSFRAME_TEXT, 125, NULL), 2);
  GW_ASSERT_MEMEQ(h, 2, "\x81\x7d", 2);
  GW_ASSERT_EQ(gw_wsframe_header(h, 0, GW_WSFRAME_TEXT, 126, NULL), 4);
  GW_ASSERT_MEMEQ(h, 4, "\x01\x7e\x00\x7e", 4);
  GW_ASSERT_EQ(gw_wsframe_header(h, 1, GW_WSFRAME_BINARY, 65535, NULL), 4);
  GW_ASSERT_MEMEQ(h, 4, "\x82\x7e\xff\xff", 4);
  GW_ASSERT_EQ(gw_wsframe_header(h, 1, GW_WSFRAME_BINARY, 65536, NULL), 10);
  GW_ASSERT_MEMEQ(h, 10, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
  static const uint8_t k2[4] = {1, 2, 3, 4};
  GW_ASSERT_EQ(gw_wsframe_header(h, 1, GW_WSFRAME_CLOSE, 2, k2), 6);
  GW_ASSERT_MEMEQ(h, 6, "\x88\x82\x01\x02\x03\x04", 6);
  GW_ASSERT_EQ(gw_wsframe_header(h, 1, GW_WSFRAME_BINARY, UINT64_MAX >> 1, k2),
               14);
  GW_ASSERT_MEMEQ(
      h, 14, "\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04", 14);
}

/* Every proper prefix of a valid header needs more bytes and zeroes |out|.
 */
static void test_split(void) {
  static const uint8_t key[4] = {9, 8, 7, 6};
  static const uint64_t lens[] = {0, 125, 126, 65535, 65536, UINT64_MAX >> 1};
  for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
    for (int m = 0; m < 2; m++) {
      uint8_t h[GW_WSFRAME_MAX_HEADER];
      size_t n =
          gw_wsframe_header(h, 0, GW_WSFRAME_TEXT, lens[i], m ? key : NULL);
      for (size_t k = 0; k < n; k++) {
        uint8_t *pre = malloc(k ? k : 1); /* exact size, for ASan */
        GW_ASSERT(pre != NULL);
        memcpy(pre, h, k);
        gw_wsframe_t f;
        memset(&f, 0xA5, sizeof(f));
        GW_ASSERT_EQ(gw_wsframe_parse(pre, k, &f), 0);
        assert_zeroed(&f);
        free(pre);
      }
      parse_ok(h, n, (int)n, 0, GW_WSFRAME_TEXT, lens[i], m ? key : NULL);
    }
  }
}

static void unmask_ref(uint8_t *buf, size_t len, const uint8_t mask[4],
                       uint64_t off) {
  for (size_t i = 0; i < len; i++)
    buf[i] ^= mask[(off + i) % 4];
}

/* The word-at-a-time unmask agrees with the byte loop at every offset,
 * length and alignment, and piece by piece with the whole. */
static void test_unmask(void) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t src[80], a[88], b[88];
  for (size_t i = 0; i < sizeof(src); i++)
    src[i] = (uint8_t)(i * 7 + 3);
  for (size_t align = 0; align < 8; align++) {
    for (size_t len = 0; len <= 72; len++) {
      for (uint64_t off = 0; off < 9; off++) {
        uint64_t o = off == 8 ? UINT64_MAX - 2 : off; /* wraps mod 4 */
        memcpy(a + align, src, len);
        memcpy(b, src, len);
        gw_wsframe_unmask(a + align, len, key, o);
        unmask_ref(b, len, key, o);
        GW_ASSERT_MEMEQ(a + align, len, b, len);
      }
    }
  }
  /* piecewise: cut a payload at every pair of points */
  for (size_t c1 = 0; c1 <= 40; c1++) {
    for (size_t c2 = c1; c2 <= 40; c2++) {
      memcpy(a, src, 40);
      gw_wsframe_unmask(a, c1, key, 0);
      gw_wsframe_unmask(a + c1, c2 - c1, key, c1);
      gw_wsframe_unmask(a + c2, 40 - c2, key, c2);
      memcpy(b, src, 40);
      unmask_ref(b, 40, key, 0);
      GW_ASSERT_MEMEQ(a, 40, b, 40);
      /* and masking twice gives the input back */
      gw_wsframe_unmask(a, 40, key, 0);
      GW_ASSERT_MEMEQ(a, 40, src, 40);
    }
  }
}

GW_TEST_LIST = {
    {"RFC 6455 examples", test_rfc_examples},
    {"errors", test_errors},
    {"length boundaries 125/126/65535/65536", test_length_boundaries},
    {"every prefix needs more bytes", test_split},
    {"unmask", test_unmask},
    {NULL, NULL},
};
