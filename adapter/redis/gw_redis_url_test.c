/* SPDX-License-Identifier: MIT */
/* gw_redis_url_test.c: redis:// URL parsing. */
#include "gw_redis_url.h"

#include "gw_err.h"
#include "gw_test.h"

static void test_forms(void) {
  gw_redis_url_t u;
  GW_ASSERT_OK(gw_redis_url_parse("redis://127.0.0.1:6380", &u));
  GW_ASSERT_STREQ(u.host, "127.0.0.1");
  GW_ASSERT_EQ(u.port, 6380);
  GW_ASSERT_EQ(u.db, 0);
  GW_ASSERT(!u.has_password && !u.has_user);

  GW_ASSERT_OK(gw_redis_url_parse("redis://redis", &u));
  GW_ASSERT_STREQ(u.host, "redis");
  GW_ASSERT_EQ(u.port, 6379);

  GW_ASSERT_OK(gw_redis_url_parse("redis://:s%40cr%3At@localhost:7000/3", &u));
  GW_ASSERT(u.has_password && !u.has_user);
  GW_ASSERT_STREQ(u.password, "s@cr:t");
  GW_ASSERT_STREQ(u.host, "localhost");
  GW_ASSERT_EQ(u.port, 7000);
  GW_ASSERT_EQ(u.db, 3);

  GW_ASSERT_OK(gw_redis_url_parse("REDIS://gw:pw@[::1]:6379/", &u));
  GW_ASSERT(u.has_user && u.has_password);
  GW_ASSERT_STREQ(u.user, "gw");
  GW_ASSERT_STREQ(u.password, "pw");
  GW_ASSERT_STREQ(u.host, "::1");

  GW_ASSERT_OK(gw_redis_url_parse("redis://pw@h", &u));
  GW_ASSERT(u.has_password && !u.has_user);
  GW_ASSERT_STREQ(u.password, "pw");
}

static void test_rejects(void) {
  gw_redis_url_t u;
  const char *bad[] = {"",
                       "http://h:1",
                       "redis://",
                       "redis://:pw@",
                       "redis://h:0",
                       "redis://h:65536",
                       "redis://h:12x",
                       "redis://h/x",
                       "redis://h/1?tls=1",
                       "redis://[::1",
                       "redis://[::1]x",
                       "redis://:p%4@h",
                       "redis://:p%00@h",
                       NULL};
  for (int i = 0; bad[i] != NULL; i++)
    if (gw_redis_url_parse(bad[i], &u) != GW_EINVAL)
      GW_TEST_FAIL("accepted: %s", bad[i]);
  GW_ASSERT_EQ(gw_redis_url_parse(NULL, &u), GW_EINVAL);
}

GW_TEST_LIST = {
    {"forms", test_forms},
    {"rejects", test_rejects},
    {NULL, NULL},
};
