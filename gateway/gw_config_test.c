/* SPDX-License-Identifier: MIT */
/* gw_config_test.c: flags, environment and their precedence. */
#include "gw_test.h"

#include "gw_config.h"
#include "gw_err.h"
#include "gw_log.h"

static const char *fake_env(const char *k) {
  if (strcmp(k, "CHAT_PORT") == 0)
    return "9000";
  if (strcmp(k, "REDIS_URL") == 0)
    return "redis://127.0.0.1:6379";
  if (strcmp(k, "CHAT_LOG_LEVEL") == 0)
    return "debug";
  return NULL;
}

static const char *bad_env(const char *k) {
  return strcmp(k, "CHAT_RATE_LIMIT") == 0 ? "fast" : NULL;
}

static void test_defaults_env_flags(void) {
  gw_config_t c;
  char err[256] = "";
  gw_config_defaults(&c);
  GW_ASSERT_EQ(c.port, 8000);
  GW_ASSERT(c.redis_url == NULL);
  char *argv[] = {"gw",     "--port",  "9100", "--rate-limit=0",
                  "--host", "0.0.0.0", NULL};
  GW_ASSERT_OK(gw_config_parse(&c, 6, argv, fake_env, err, sizeof(err)));
  GW_ASSERT_EQ(c.port, 9100); /* the flag wins over CHAT_PORT */
  GW_ASSERT_STREQ(c.redis_url, "redis://127.0.0.1:6379");
  GW_ASSERT_EQ(c.rate_limit, 0);
  GW_ASSERT_EQ(c.log_level, GW_LOG_DEBUG);
  GW_ASSERT_STREQ(c.host, "0.0.0.0");
}

static void test_errors(void) {
  gw_config_t c;
  char err[256];
  char *a1[] = {"gw", "--port", "70000", NULL};
  char *a2[] = {"gw", "--bogus", NULL};
  char *a3[] = {"gw", "--port", NULL};
  char *a4[] = {"gw", "--log-level", "loud", NULL};
  char *a5[] = {"gw", "--port", "-1", NULL};
  char *a6[] = {"gw", "--help", NULL};
  gw_config_defaults(&c);
  GW_ASSERT_EQ(gw_config_parse(&c, 3, a1, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, "--port") != NULL);
  GW_ASSERT_EQ(gw_config_parse(&c, 2, a2, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, "--bogus") != NULL);
  GW_ASSERT_EQ(gw_config_parse(&c, 2, a3, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT_EQ(gw_config_parse(&c, 3, a4, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT_EQ(gw_config_parse(&c, 3, a5, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT_EQ(gw_config_parse(&c, 1, a6, bad_env, err, sizeof(err)),
               GW_EINVAL);
  GW_ASSERT(strstr(err, "CHAT_RATE_LIMIT") != NULL);
  GW_ASSERT_OK(gw_config_parse(&c, 2, a6, NULL, err, sizeof(err)));
  GW_ASSERT_EQ(c.help, 1);
}

static void test_origins(void) {
  gw_config_t c;
  gw_config_defaults(&c);
  GW_ASSERT(gw_config_origin_allowed(&c, "https://evil.example"));
  c.allowed_origins = "https://chat.example.com, http://localhost:8000";
  GW_ASSERT(gw_config_origin_allowed(&c, "https://chat.example.com"));
  GW_ASSERT(gw_config_origin_allowed(&c, "http://localhost:8000"));
  GW_ASSERT(gw_config_origin_allowed(&c, NULL)); /* not a browser */
  GW_ASSERT(!gw_config_origin_allowed(&c, "https://chat.example.com.evil"));
  GW_ASSERT(!gw_config_origin_allowed(&c, "https://chat.example"));
  GW_ASSERT(!gw_config_origin_allowed(&c, "http://localhost"));
  GW_ASSERT(!gw_config_origin_allowed(&c, ""));
  GW_ASSERT(!gw_config_origin_allowed(&c, "null"));
}

GW_TEST_LIST = {
    {"origins", test_origins},
    {"defaults, env, flags", test_defaults_env_flags},
    {"errors", test_errors},
    {NULL, NULL},
};
