/* SPDX-License-Identifier: MIT */
/* gw_chat_test.c: name validation (trimming, length, control characters). */
#include "gw_test.h"

#include "gw_chat.h"
#include "gw_err.h"

static int check(const char *in, size_t max, const char *want) {
  const char *t;
  size_t tl;
  int rc = gw_chat_trim_name(in, strlen(in), max, &t, &tl);
  if (want == NULL) {
    if (rc == 0)
      GW_TEST_FAIL("\"%s\" accepted as \"%.*s\"", in, (int)tl, t);
    return 0;
  }
  if (rc != 0)
    GW_TEST_FAIL("\"%s\" rejected", in);
  GW_ASSERT_MEMEQ(t, tl, want, strlen(want));
  return 1;
}

static void test_trim_and_validate(void) {
  check("alice", 64, "alice");
  check("  alice \t\n", 64, "alice");
  check("\xe3\x80\x80\xe3\x85\x8e\xe3\x80\x80", 64,
        "\xe3\x85\x8e"); /* U+3000 */
  check("\xc2\xa0"
        "bob"
        "\xef\xbb\xbf",
        64, "bob"); /* NBSP, BOM */
  check("a b", 64, "a b");
  check("\xf0\x9f\x98\x80", 1, "\xf0\x9f\x98\x80"); /* one emoji = 1 char */
  check("\xea\xb0\x80\xea\xb0\x80", 2, "\xea\xb0\x80\xea\xb0\x80");
  check("\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80", 2, NULL);
  check("", 64, NULL);
  check("   ", 64, NULL);
  check("\xe3\x80\x80", 64, NULL);
  check("a\nb", 64, NULL); /* control characters inside, even white ones */
  check("a\tb", 64, NULL);
  check("a\x01", 64, NULL);
  check("a\x7f", 64, NULL);
  check("a\xc2\x85"
        "b",
        64, NULL); /* U+0085, a C1 control */
  char s64[65], s65[66];
  memset(s64, 'x', 64);
  s64[64] = '\0';
  memset(s65, 'x', 65);
  s65[65] = '\0';
  check(s64, 64, s64);
  check(s65, 64, NULL);
  /* A NUL inside the string (JSON \u0000) is a control character. */
  const char *t;
  size_t tl;
  GW_ASSERT_EQ(gw_chat_trim_name("a\0b", 3, 64, &t, &tl), GW_EINVAL);
}

/* parse_req parses the frame |frame| and validates it as a chat request
 * with limits 8 characters / 16 bytes. Returns gw_chat_parse_request's
 * result; |pkt| stays alive for the spans in |rq| (cleared by the caller). */
static int parse_req(const char *frame, gw_eio_pkt_t *pkt, gw_chat_req_t *rq) {
  GW_ASSERT_OK(gw_eio_parse(frame, strlen(frame), pkt));
  return gw_chat_parse_request(pkt, 8, 16, rq);
}

#define REQ_ERR(frame, kind_, err_)                                            \
  do {                                                                         \
    gw_eio_pkt_t p_;                                                           \
    gw_chat_req_t r_;                                                          \
    GW_ASSERT_EQ(parse_req(frame, &p_, &r_), GW_EINVAL);                       \
    GW_ASSERT_EQ(r_.kind, kind_);                                              \
    GW_ASSERT_EQ(r_.err, err_);                                                \
    gw_eio_pkt_clear(&p_);                                                     \
  } while (0)

static void test_parse_request(void) {
  gw_eio_pkt_t p;
  gw_chat_req_t r;
  GW_ASSERT_OK(parse_req(
      "427[\"create\",{\"roomName\":\" lobby \",\"userName\":\"ann\"}]", &p,
      &r));
  GW_ASSERT_EQ(r.kind, GW_CHAT_REQ_CREATE);
  GW_ASSERT_EQ(r.ack, 7);
  GW_ASSERT_MEMEQ(r.room, r.room_len, "lobby", 5);
  GW_ASSERT_MEMEQ(r.user, r.user_len, "ann", 3);
  gw_eio_pkt_clear(&p);
  /* userName absent or null: no name, and no error (a token may give one). */
  GW_ASSERT_OK(parse_req("42[\"create\",{\"roomName\":\"a\"}]", &p, &r));
  GW_ASSERT(r.user == NULL && r.ack == GW_EIO_NO_ID);
  gw_eio_pkt_clear(&p);
  GW_ASSERT_OK(parse_req(
      "42[\"create\",{\"roomName\":\"a\",\"userName\":null}]", &p, &r));
  GW_ASSERT(r.user == NULL);
  gw_eio_pkt_clear(&p);
  REQ_ERR("42[\"create\"]", GW_CHAT_REQ_CREATE, GW_CE_BAD_REQUEST);
  REQ_ERR("42[\"create\",\"a\"]", GW_CHAT_REQ_CREATE, GW_CE_BAD_REQUEST);
  REQ_ERR("42[\"create\",{\"userName\":\"a\"}]", GW_CHAT_REQ_CREATE,
          GW_CE_INVALID_NAME);
  REQ_ERR("42[\"create\",{\"roomName\":\"123456789\",\"userName\":\"a\"}]",
          GW_CHAT_REQ_CREATE, GW_CE_INVALID_NAME); /* over 8 characters */
  REQ_ERR("42[\"create\",{\"roomName\":\"a\",\"userName\":1}]",
          GW_CHAT_REQ_CREATE, GW_CE_INVALID_NAME);
  REQ_ERR("42[\"create\",{\"roomName\":\"a\",\"userName\":\"a\\u0000\"}]",
          GW_CHAT_REQ_CREATE, GW_CE_INVALID_NAME);

  GW_ASSERT_OK(parse_req(
      "42[\"sendMessage\",{\"message\":\"hi\",\"select\":\"all\"}]", &p, &r));
  GW_ASSERT_EQ(r.kind, GW_CHAT_REQ_SEND);
  GW_ASSERT_MEMEQ(r.message, r.message_len, "hi", 2);
  GW_ASSERT(r.target == NULL);
  gw_eio_pkt_clear(&p);
  GW_ASSERT_OK(parse_req(
      "42[\"sendMessage\",{\"message\":\"hi\",\"select\":\"sid1\"}]", &p, &r));
  GW_ASSERT_MEMEQ(r.target, r.target_len, "sid1", 4);
  gw_eio_pkt_clear(&p);
  GW_ASSERT_OK(parse_req(
      "42[\"sendMessage\",{\"message\":\"0123456789abcdef\"}]", &p, &r));
  GW_ASSERT_EQ(r.message_len, 16);
  gw_eio_pkt_clear(&p);
  REQ_ERR("42[\"sendMessage\",{\"message\":\"0123456789abcdefg\"}]",
          GW_CHAT_REQ_SEND, GW_CE_INVALID_MESSAGE); /* 17 bytes */
  REQ_ERR("42[\"sendMessage\",{\"message\":\"\"}]", GW_CHAT_REQ_SEND,
          GW_CE_INVALID_MESSAGE);
  REQ_ERR("42[\"sendMessage\",{\"message\":\"a\\u0000b\"}]", GW_CHAT_REQ_SEND,
          GW_CE_INVALID_MESSAGE);
  REQ_ERR("42[\"sendMessage\",{\"message\":1}]", GW_CHAT_REQ_SEND,
          GW_CE_INVALID_MESSAGE);
  REQ_ERR("42[\"sendMessage\",[]]", GW_CHAT_REQ_SEND, GW_CE_BAD_REQUEST);
  REQ_ERR("42[\"sendMessage\",{\"message\":\"a\",\"select\":2}]",
          GW_CHAT_REQ_SEND, GW_CE_USER_NOT_FOUND);
  REQ_ERR("42[\"sendMessage\",{\"message\":\"a\",\"select\":\"all\\u0000x\"}]",
          GW_CHAT_REQ_SEND, GW_CE_USER_NOT_FOUND); /* not "all", nor a sid */

  GW_ASSERT_OK(parse_req("42[\"leave\"]", &p, &r));
  GW_ASSERT_EQ(r.kind, GW_CHAT_REQ_LEAVE);
  gw_eio_pkt_clear(&p);
  GW_ASSERT_OK(parse_req("42[\"leave\",null]", &p, &r));
  gw_eio_pkt_clear(&p);
  REQ_ERR("42[\"leave\",1]", GW_CHAT_REQ_LEAVE, GW_CE_BAD_REQUEST);

  REQ_ERR("42[\"hello\"]", GW_CHAT_REQ_UNKNOWN, GW_CE_UNKNOWN_EVENT);
  REQ_ERR("42[1,{}]", GW_CHAT_REQ_UNKNOWN, GW_CE_UNKNOWN_EVENT);
  /* The event name is matched whole, NUL bytes included. */
  REQ_ERR("42[\"create\\u0000x\",{\"roomName\":\"a\"}]", GW_CHAT_REQ_UNKNOWN,
          GW_CE_UNKNOWN_EVENT);
}

GW_TEST_LIST = {
    {"trim and validate names", test_trim_and_validate},
    {"parse request", test_parse_request},
    {NULL, NULL},
};
