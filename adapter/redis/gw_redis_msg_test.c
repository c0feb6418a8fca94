/* SPDX-License-Identifier: MIT */
/* gw_redis_msg_test.c: the pub/sub event decoder, on the exact payloads the
 * Lua scripts publish and on corrupt ones. */
#include "gw_redis_msg.h"

#include <stdarg.h>

#include "gw_err.h"
#include "gw_test.h"

#define P(s) s, sizeof(s) - 1

/* ev builds "<type><len>:<field>..." from NUL-terminated fields (ended by
 * NULL) into a static buffer, as lua/common.lua's ev() does. */
static const char *ev(size_t *n, const char *type, ...) {
  static char buf[8192];
  va_list ap;
  size_t o = (size_t)snprintf(buf, sizeof(buf), "%s", type);
  va_start(ap, type);
  const char *f;
  while ((f = va_arg(ap, const char *)) != NULL)
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%zu:%s", strlen(f), f);
  va_end(ap);
  *n = o;
  return buf;
}

static int parse_ev(gw_redis_chan_t ch, gw_redis_msg_t *m, const char *p,
                    size_t n) {
  return gw_redis_msg_parse(ch, p, n, m);
}

#define SPAN_IS(sp, lit) GW_ASSERT_MEMEQ((sp).p, (sp).n, lit, sizeof(lit) - 1)

#define UL "42[\"userList\",[{\"userName\":\"a\",\"key\":\"abc\"}]]"
#define NT "42[\"notice\",\"a joined the room.\"]"
#define MSG                                                                    \
  "42[\"newMessage\",{\"message\":\"hi\",\"user\":\"a\",\"dm\":false,"         \
  "\"ts\":1700000000000}]"

static void test_classify(void) {
  const char *room = NULL;
  size_t rl = 0;
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:r:lobby"), "gw:n:a", &room, &rl),
               GW_REDIS_CH_ROOM);
  GW_ASSERT_MEMEQ(room, rl, "lobby", 5);
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:r:"), "gw:n:a", &room, &rl),
               GW_REDIS_CH_OTHER);
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:lobby"), "gw:n:a", &room, &rl),
               GW_REDIS_CH_LOBBY);
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:lobbyx"), "gw:n:a", &room, &rl),
               GW_REDIS_CH_OTHER);
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:n:a"), "gw:n:a", &room, &rl),
               GW_REDIS_CH_NODE);
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:n:ab"), "gw:n:a", &room, &rl),
               GW_REDIS_CH_OTHER);
  GW_ASSERT_EQ(gw_redis_chan_classify(P("gw:n:a"), NULL, &room, &rl),
               GW_REDIS_CH_OTHER);
}

static void test_valid(void) {
  gw_redis_msg_t m;
  size_t n;
  const char *p = ev(&n, "M", "3", MSG, NULL);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_ROOM, &m, p, n));
  GW_ASSERT_EQ(m.type, 'M');
  GW_ASSERT_EQ(m.kind, GW_EV_NEWMESSAGE);
  SPAN_IS(m.frame, MSG);
  /* As rad_emit_room writes it: "M1:<kind><len>:<frame>". */
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_ROOM, &m, P("M1:07:42[\"a\"]")));
  GW_ASSERT_EQ(m.kind, GW_EV_ROOMLIST);
  /* A kind this build does not know is sent on as a message. */
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_ROOM, &m, P("M1:97:42[\"a\"]")));
  GW_ASSERT_EQ(m.kind, GW_EV_NEWMESSAGE);

  p = ev(&n, "J", "abc", "7", "12", NT, UL, NULL);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_ROOM, &m, p, n));
  GW_ASSERT_EQ(m.type, 'J');
  SPAN_IS(m.sid, "abc");
  GW_ASSERT_EQ(m.rseq, 7);
  GW_ASSERT_EQ(m.mseq, 12);
  SPAN_IS(m.notice, NT);
  SPAN_IS(m.userlist, UL);

  /* L of the last member: no notice, no userList. */
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_ROOM, &m, P("L3:abc0:0:")));
  GW_ASSERT_EQ(m.type, 'L');
  SPAN_IS(m.sid, "abc");
  GW_ASSERT_EQ(m.notice.n, 0);
  GW_ASSERT_EQ(m.userlist.n, 0);

  p = ev(&n, "U", UL, NULL);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_ROOM, &m, p, n));
  SPAN_IS(m.userlist, UL);

  p = ev(&n, "R", "18446744073709551615", "42[\"roomList\",[]]", NULL);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_LOBBY, &m, p, n));
  GW_ASSERT(m.version == UINT64_MAX);
  SPAN_IS(m.frame, "42[\"roomList\",[]]");

  p = ev(&n, "D", "3", MSG, "a", "bc", NULL);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_NODE, &m, p, n));
  GW_ASSERT_EQ(m.n_sids, 2);
  SPAN_IS(m.sids[0], "a");
  SPAN_IS(m.sids[1], "bc");
  p = ev(&n, "D", "3", MSG, "a", "b", "c", "d", "e", "f", NULL);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_NODE, &m, p, n)); /* 6 is the most */
  GW_ASSERT_EQ(m.n_sids, 6);
  GW_ASSERT_OK(parse_ev(GW_REDIS_CH_NODE, &m, P("H2:42")));
  GW_ASSERT_EQ(m.version, 42);
}

/* Frames: what socket.io-client accepts, and nothing else. */
static void test_frames(void) {
  static const char *const good[] = {
      "42[\"a\"]",
      "42[ \"a\" , 1 ]",
      "42[\"roomList\",[]]",
      "42[\"userList\",[{\"userName\":\"a\",\"key\":\"k\"}]]",
      "42[\"n\",{\"a\":[true,false,null,-0,1.5e+10,0.25,-1E-3,\"\\u00e9\"]}]",
      "42[\"n\",\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\ud83d\\ude00\"]",
      "42[\"n\",\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]",
      "42[\"connected\"]", /* a prefix of a reserved name is fine */
  };
  static const char *const bad[] = {
      "",
      "42",
      "42[",
      "42[]",       /* no event name */
      "42[1]",      /* a number is an ack id's place, not ours */
      "43[\"a\"]",  /* not an EVENT */
      "42 [\"a\"]", /* nothing between type and payload */
      "42[\"a\"",   /* unclosed */
      "42[\"a\"]]", /* trailing */
      "42[\"a\"] ", /* trailing white space */
      "42[\"a\",]", /* trailing comma */
      "42[\"a\",,1]",
      "42[\"a\",{\"k\"}]",
      "42[\"a\",{\"k\":}]",
      "42[\"a\",{1:2}]",
      "42[\"a\",01]",
      "42[\"a\",1.]",
      "42[\"a\",.5]",
      "42[\"a\",1e]",
      "42[\"a\",+1]",
      "42[\"a\",tru]",
      "42[\"a\",NaN]",
      "42[\"a\",\"\\x\"]",     /* bad escape */
      "42[\"a\",\"\\u12G4\"]", /* bad \u */
      "42[\"a\",\"\\u12\"]",
      "42[\"a\",\"\t\"]",               /* raw control character */
      "42[\"a\",\"\xff\"]",             /* not UTF-8 */
      "42[\"a\",\"\xc3\"]",             /* cut sequence */
      "42[\"a\",\"\xc0\xaf\"]",         /* overlong */
      "42[\"a\",\"\xe0\x80\xaf\"]",     /* overlong */
      "42[\"a\",\"\xed\xa0\x80\"]",     /* surrogate */
      "42[\"a\",\"\xf4\x90\x80\x80\"]", /* above U+10FFFF */
      "42[\"a\",\"\xbf\"]",             /* lone continuation */
      "42[\"connect\"]",                /* reserved */
      "42[\"disconnect\",1]",
      "42[\"removeListener\"]",
      "42[\"\\u0063onnect\"]", /* an escaped name could hide a reserved one */
      "42[\"a\"\"b\"]",
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
    if (!gw_redis_msg_frame_ok(good[i], strlen(good[i])))
      GW_TEST_FAIL("frame refused: %s", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    if (gw_redis_msg_frame_ok(bad[i], strlen(bad[i])))
      GW_TEST_FAIL("frame accepted: %s", bad[i]);
  GW_ASSERT(!gw_redis_msg_frame_ok(P("42[\"a\",\"\0\"]"))); /* NUL */
  GW_ASSERT(!gw_redis_msg_frame_ok(P("42[\"a\"]\0")));
  /* 32 levels deep is the most: 42["a",[[...]]] with |levels| arrays. */
  for (int levels = 31; levels <= 34; levels++) {
    char deep[128];
    int d = snprintf(deep, sizeof(deep), "42[\"a\",");
    for (int i = 1; i < levels; i++)
      deep[d++] = '[';
    for (int i = 0; i < levels; i++)
      deep[d++] = ']';
    GW_ASSERT_EQ(gw_redis_msg_frame_ok(deep, (size_t)d), levels <= 32);
  }
}

static void test_invalid(void) {
  gw_redis_msg_t m;
  static const struct {
    gw_redis_chan_t ch;
    const char *p;
    size_t n;
  } bad[] = {
      {GW_REDIS_CH_ROOM, P("")},
      {GW_REDIS_CH_ROOM, P("M")},                    /* no fields */
      {GW_REDIS_CH_ROOM, P("M1:3")},                 /* one field */
      {GW_REDIS_CH_ROOM, P("M1:37:42[\"a\"]1:x")},   /* one too many */
      {GW_REDIS_CH_ROOM, P("M1:38:42[\"a\"]")},      /* length past the end */
      {GW_REDIS_CH_ROOM, P("M1:37;42[\"a\"]")},      /* no colon */
      {GW_REDIS_CH_ROOM, P("M:37:42[\"a\"]")},       /* no length */
      {GW_REDIS_CH_ROOM, P("M1:x7:42[\"a\"]")},      /* kind not a number */
      {GW_REDIS_CH_ROOM, P("M0:7:42[\"a\"]")},       /* empty kind */
      {GW_REDIS_CH_ROOM, P("M1:30:")},               /* empty frame */
      {GW_REDIS_CH_ROOM, P("M1:35:hello")},          /* not a frame */
      {GW_REDIS_CH_ROOM, P("M99999999999:3")},       /* 11-digit length */
      {GW_REDIS_CH_ROOM, P("M4294967296:3")},        /* far past the end */
      {GW_REDIS_CH_ROOM, P("R1:17:42[\"a\"]")},      /* R is the lobby's */
      {GW_REDIS_CH_ROOM, P("H1:1")},                 /* H is the node's */
      {GW_REDIS_CH_ROOM, P("X1:1")},                 /* unknown type */
      {GW_REDIS_CH_ROOM, P("J3:abc1:72:12")},        /* 3 fields */
      {GW_REDIS_CH_ROOM, P("J0:1:71:10:0:")},        /* empty sid */
      {GW_REDIS_CH_ROOM, P("J3:abc0:1:10:0:")},      /* empty rseq */
      {GW_REDIS_CH_ROOM, P("J3:abc2:-11:10:0:")},    /* signed rseq */
      {GW_REDIS_CH_ROOM, P("J3:abc1:71:14:junk0:")}, /* bad notice */
      {GW_REDIS_CH_ROOM, P("L3:abc4:junk0:")},       /* bad notice */
      {GW_REDIS_CH_ROOM, P("L3:a\0c0:0:")},          /* NUL in sid */
      {GW_REDIS_CH_ROOM, P("U0:")},                  /* U without a list */
      {GW_REDIS_CH_LOBBY, P("R20:184467440737095516167:42[\"a\"]")}, /* > max */
      {GW_REDIS_CH_LOBBY, P("R21:0184467440737095516157:42[\"a\"]")}, /* 21 */
      {GW_REDIS_CH_LOBBY, P("R1:17:42[\"a\"")},   /* bad frame */
      {GW_REDIS_CH_LOBBY, P("M1:37:42[\"a\"]")},  /* M is a room's */
      {GW_REDIS_CH_NODE, P("D1:37:42[\"a\"]")},   /* no recipient */
      {GW_REDIS_CH_NODE, P("D1:37:42[\"a\"]0:")}, /* empty recipient */
      {GW_REDIS_CH_NODE, P("D1:37:42[\"a\"]1:a1:b1:c1:d1:e1:f1:g")}, /* 7 */
      {GW_REDIS_CH_NODE, P("H0:")},
      {GW_REDIS_CH_NODE, P("H1:x")},
      {GW_REDIS_CH_OTHER, P("H1:1")},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    if (gw_redis_msg_parse(bad[i].ch, bad[i].p, bad[i].n, &m) != GW_EPROTO) {
      fprintf(stderr, "case %zu accepted: ", i);
      fwrite(bad[i].p, 1, bad[i].n, stderr);
      GW_TEST_FAIL("malformed message accepted");
    }
  }
}

static void test_sid_length(void) {
  char buf[256];
  gw_redis_msg_t m;
  for (int len = 127; len <= 128; len++) {
    int n = snprintf(buf, sizeof(buf), "L%d:", len);
    memset(buf + n, 's', (size_t)len);
    n += len;
    memcpy(buf + n, "0:0:", 4);
    n += 4;
    GW_ASSERT_EQ(gw_redis_msg_parse(GW_REDIS_CH_ROOM, buf, (size_t)n, &m),
                 len <= GW_REDIS_SID_MAX ? 0 : GW_EPROTO);
  }
}

GW_TEST_LIST = {
    {"classify", test_classify},     {"valid", test_valid},
    {"frames", test_frames},         {"invalid", test_invalid},
    {"sid length", test_sid_length}, {NULL, NULL},
};
