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

GW_TEST_LIST = {
    {"trim and validate names", test_trim_and_validate},
    {NULL, NULL},
};
