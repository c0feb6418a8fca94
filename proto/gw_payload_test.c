/* SPDX-License-Identifier: MIT */
/* gw_payload_test.c: Engine.IO polling payloads, UTF-8 validation and the
 * size of a joined polling body. */
#include "gw_test.h"

#include "gw_err.h"
#include "gw_payload.h"

#define S(lit) lit, sizeof(lit) - 1

/* collect iterates over |buf|/|len| and writes the packets, each followed
 * by '|', to |out| (|*olen| bytes); returns the final code (0 or GW_EPROTO)
 * after checking that it sticks. */
static int collect(const char *buf, size_t len, char *out, size_t cap,
                   size_t *olen) {
  gw_payload_iter_t it;
  gw_payload_iter_init(&it, buf, len);
  const char *pkt;
  size_t n, o = 0;
  int rc;
  while ((rc = gw_payload_next(&it, &pkt, &n)) == 1) {
    GW_ASSERT(n > 0);
    GW_ASSERT(pkt >= buf && pkt + n <= buf + len);
    GW_ASSERT(memchr(pkt, '\x1e', n) == NULL);
    GW_ASSERT(o + n + 1 <= cap);
    memcpy(out + o, pkt, n);
    o += n;
    out[o++] = '|';
  }
  *olen = o;
  /* sticky: the same answer again, and nothing written */
  pkt = NULL;
  n = 77;
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), rc);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), rc);
  GW_ASSERT(pkt == NULL && n == 77);
  return rc;
}

typedef struct {
  const char *in;
  size_t len;
  int rc;           /* final code */
  const char *pkts; /* packets handed out before it, each + '|' */
  size_t pkts_len;
} icase_t;

static const icase_t icases[] = {
    {S("4hello"), 0, S("4hello|")},
    {S("2"), 0, S("2|")},
    {S("4hello\x1e"
       "2\x1e"
       "4world"),
     0, S("4hello|2|4world|")},
    {S("6\x1e"
       "6"),
     0, S("6|6|")},
    /* a packet may hold any other byte, NUL included */
    {S("4a\0b\x1e"
       "4\xff"),
     0, S("4a\0b|4\xff|")},
    {S(""), GW_EPROTO, S("")},
    {S("\x1e"), GW_EPROTO, S("")},
    {S("\x1e\x1e"), GW_EPROTO, S("")},
    {S("\x1e"
       "4a"),
     GW_EPROTO, S("")},
    {S("4a\x1e"), GW_EPROTO, S("4a|")},
    {S("4a\x1e\x1e"
       "4b"),
     GW_EPROTO, S("4a|")},
    {S("4a\x1e"
       "4b\x1e\x1e"),
     GW_EPROTO, S("4a|4b|")},
};

static void test_iter_table(void) {
  for (size_t i = 0; i < sizeof(icases) / sizeof(*icases); i++) {
    const icase_t *c = &icases[i];
    char out[64];
    size_t olen;
    int rc = collect(c->in, c->len, out, sizeof(out), &olen);
    if (rc != c->rc)
      GW_TEST_FAIL("case %zu: rc %d, want %d", i, rc, c->rc);
    GW_ASSERT_MEMEQ(out, olen, c->pkts, c->pkts_len);
  }
}

static void test_iter_null_empty(void) {
  gw_payload_iter_t it;
  const char *pkt;
  size_t n;
  gw_payload_iter_init(&it, NULL, 0);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), GW_EPROTO);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), GW_EPROTO);
}

/* The packets are borrowed: they point into the buffer, at the right place,
 * and a buffer without a terminating NUL is read no further than |len|. */
static void test_iter_borrowed(void) {
  const char buf[] = {'4', 'a', 0x1e, '3', 0x1e, '4', 'b', 'c'};
  gw_payload_iter_t it;
  const char *pkt;
  size_t n;
  gw_payload_iter_init(&it, buf, sizeof(buf));
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), 1);
  GW_ASSERT(pkt == buf && n == 2);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), 1);
  GW_ASSERT(pkt == buf + 3 && n == 1);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), 1);
  GW_ASSERT(pkt == buf + 5 && n == 3);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &n), 0);
}

/* A payload of many packets, as the lead's GET joins them: the iterator
 * hands back exactly what gw_payload_size measured. */
static void test_iter_many(void) {
  static char buf[4096];
  size_t lens[300], o = 0, n = 0;
  for (; n < 300; n++) {
    size_t l = 1 + n % 9;
    if (n > 0)
      buf[o++] = '\x1e';
    for (size_t k = 0; k < l; k++)
      buf[o++] = (char)('0' + (n + k) % 10);
    lens[n] = l;
  }
  GW_ASSERT_EQ(gw_payload_size(lens, n), o);
  gw_payload_iter_t it;
  gw_payload_iter_init(&it, buf, o);
  const char *pkt;
  size_t l, i = 0;
  while (gw_payload_next(&it, &pkt, &l) == 1) {
    GW_ASSERT(i < n);
    GW_ASSERT_EQ(l, lens[i]);
    GW_ASSERT_EQ(pkt[0], '0' + i % 10);
    i++;
  }
  GW_ASSERT_EQ(i, n);
  GW_ASSERT_EQ(gw_payload_next(&it, &pkt, &l), 0);
}

static void test_size(void) {
  size_t lens[] = {6, 1, 6};
  GW_ASSERT_EQ(gw_payload_size(lens, 0), 0);
  GW_ASSERT_EQ(gw_payload_size(NULL, 0), 0);
  GW_ASSERT_EQ(gw_payload_size(lens, 1), 6);
  GW_ASSERT_EQ(gw_payload_size(lens, 2), 8);
  GW_ASSERT_EQ(gw_payload_size(lens, 3), 15); /* "4hello\x1e2\x1e4world" */
  size_t zero[] = {0, 0, 0};
  GW_ASSERT_EQ(gw_payload_size(zero, 3), 2);
  size_t big[] = {SIZE_MAX - 1, 1};
  GW_ASSERT(gw_payload_size(big, 1) == SIZE_MAX - 1);
  GW_ASSERT(gw_payload_size(big, 2) == SIZE_MAX); /* 2^64 - 1 + 1: saturates */
  size_t edge[] = {SIZE_MAX - 3, 1, 1};
  GW_ASSERT(gw_payload_size(edge, 3) == SIZE_MAX); /* exactly fits */
  size_t over[] = {SIZE_MAX / 2, SIZE_MAX / 2, 5};
  GW_ASSERT(gw_payload_size(over, 3) == SIZE_MAX);
}

typedef struct {
  const char *s;
  size_t len;
  int ok;
} ucase_t;

static const ucase_t ucases[] = {
    {S(""), 1},
    {S("hello"), 1},
    {S("\0"), 1},
    {S("\x7f"), 1},
    {S("\xc2\x80"), 1},         /* U+0080, smallest 2-byte */
    {S("\xdf\xbf"), 1},         /* U+07FF */
    {S("\xe0\xa0\x80"), 1},     /* U+0800, smallest 3-byte */
    {S("\xed\x9f\xbf"), 1},     /* U+D7FF, just below the surrogates */
    {S("\xee\x80\x80"), 1},     /* U+E000, just above them */
    {S("\xef\xbf\xbf"), 1},     /* U+FFFF */
    {S("\xf0\x90\x80\x80"), 1}, /* U+10000, smallest 4-byte */
    {S("\xf4\x8f\xbf\xbf"), 1}, /* U+10FFFF, the last code point */
    {S("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), 1},
    {S("\x80"), 0},                     /* lone continuation */
    {S("\xbf"), 0},                     /* lone continuation */
    {S("\xc0\x80"), 0},                 /* overlong NUL */
    {S("\xc1\xbf"), 0},                 /* overlong U+007F */
    {S("\xe0\x80\x80"), 0},             /* overlong NUL */
    {S("\xe0\x9f\xbf"), 0},             /* overlong U+07FF */
    {S("\xf0\x80\x80\x80"), 0},         /* overlong NUL */
    {S("\xf0\x8f\xbf\xbf"), 0},         /* overlong U+FFFF */
    {S("\xed\xa0\x80"), 0},             /* U+D800, high surrogate */
    {S("\xed\xbf\xbf"), 0},             /* U+DFFF, low surrogate */
    {S("\xed\xa0\xbd\xed\xb8\x80"), 0}, /* CESU-8 pair */
    {S("\xf4\x90\x80\x80"), 0},         /* U+110000 */
    {S("\xf5\x80\x80\x80"), 0},
    {S("\xf8\x88\x80\x80\x80"), 0}, /* 5-byte form */
    {S("\xfe"), 0},
    {S("\xff"), 0},
    {S("\xc3"), 0},             /* truncated */
    {S("\xe2\x82"), 0},         /* truncated */
    {S("\xf0\x9f\x98"), 0},     /* truncated */
    {S("a\xc3("), 0},           /* bad continuation */
    {S("\xe2\x28\xa1"), 0},     /* bad second byte */
    {S("\xe2\x82\x28"), 0},     /* bad third byte */
    {S("\xf0\x9f\x98\x28"), 0}, /* bad fourth byte */
    {S("\xf0\x9f\x28\x80"), 0},
};

static void test_utf8(void) {
  for (size_t i = 0; i < sizeof(ucases) / sizeof(*ucases); i++) {
    const ucase_t *c = &ucases[i];
    if (gw_utf8_valid(c->s, c->len) != c->ok)
      GW_TEST_FAIL("utf8 case %zu: want %d", i, c->ok);
  }
  GW_ASSERT_EQ(gw_utf8_valid(NULL, 0), 1);
  /* reads no further than len: a valid sequence cut short is invalid */
  GW_ASSERT_EQ(gw_utf8_valid("\xe2\x82\xac", 2), 0);
  GW_ASSERT_EQ(gw_utf8_valid("\xe2\x82\xac", 3), 1);
}

/* Every code point, encoded by hand the RFC 3629 way, is valid; every
 * surrogate encoded so is not. */
static void test_utf8_all_code_points(void) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
      b[0] = (unsigned char)cp;
      n = 1;
    } else if (cp < 0x800) {
      b[0] = (unsigned char)(0xC0 | cp >> 6);
      b[1] = (unsigned char)(0x80 | (cp & 63));
      n = 2;
    } else if (cp < 0x10000) {
      b[0] = (unsigned char)(0xE0 | cp >> 12);
      b[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
      b[2] = (unsigned char)(0x80 | (cp & 63));
      n = 3;
    } else {
      b[0] = (unsigned char)(0xF0 | cp >> 18);
      b[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
      b[2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
      b[3] = (unsigned char)(0x80 | (cp & 63));
      n = 4;
    }
    int want = !(cp >= 0xD800 && cp <= 0xDFFF);
    if (gw_utf8_valid((const char *)b, n) != want)
      GW_TEST_FAIL("U+%04X: want %d", (unsigned)cp, want);
  }
}

GW_TEST_LIST = {
    {"iterator table", test_iter_table},
    {"iterator on an empty payload", test_iter_null_empty},
    {"iterator borrows from the buffer", test_iter_borrowed},
    {"iterator over 300 packets", test_iter_many},
    {"payload size", test_size},
    {"utf8 table", test_utf8},
    {"utf8 every code point", test_utf8_all_code_points},
    {NULL, NULL},
};
