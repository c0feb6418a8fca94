/* SPDX-License-Identifier: MIT */
/* gw_config_test.c: flags, environment and their precedence. */
#include "gw_test.h"

#include <unistd.h>

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

static void test_trusted_proxies(void) {
  gw_config_t c;
  char err[256] = "";
  gw_config_defaults(&c);
  GW_ASSERT_EQ(c.max_connections_per_ip, 1000);
  GW_ASSERT_EQ(c.trusted.n, 0);
  char *ok[] = {"gw", "--trusted-proxies", "127.0.0.1, 10.0.0.0/8",
                "--max-connections-per-ip=0", NULL};
  GW_ASSERT_OK(gw_config_parse(&c, 4, ok, NULL, err, sizeof(err)));
  GW_ASSERT_EQ(c.trusted.n, 2);
  GW_ASSERT_EQ(c.max_connections_per_ip, 0);
  char *bad[] = {"gw", "--trusted-proxies", "nginx.local", NULL};
  GW_ASSERT_EQ(gw_config_parse(&c, 3, bad, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, "--trusted-proxies") != NULL);
}

static void test_auth_tls(void) {
  gw_config_t c;
  char err[256] = "";
  char path[] = "/tmp/gw_config_test_XXXXXX";
  int fd = mkstemp(path);
  GW_ASSERT(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("0123456789abcdef0123456789abcdef\r\n", f);
  fclose(f);
  gw_config_defaults(&c);
  GW_ASSERT(c.jwt_secret == NULL && c.tls_cert == NULL);
  GW_ASSERT_EQ(c.jwt_leeway_s, 30);
  char *a1[] = {"gw", "--jwt-secret-file", path, "--jwt-leeway=0", NULL};
  GW_ASSERT_OK(gw_config_parse(&c, 4, a1, NULL, err, sizeof(err)));
  GW_ASSERT_STREQ(c.jwt_secret, "0123456789abcdef0123456789abcdef");
  GW_ASSERT_EQ(c.jwt_leeway_s, 0);
  gw_config_defaults(&c);
  char *a2[] = {"gw", "--jwt-secret", "0123456789abcdef0123456789abcde", NULL};
  GW_ASSERT_EQ(gw_config_parse(&c, 3, a2, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, "32 bytes") != NULL);
  gw_config_defaults(&c);
  /* One or the other. */
  char *a3[] = {"gw", "--jwt-secret=0123456789abcdef0123456789abcdef",
                "--jwt-secret-file", path, NULL};
  GW_ASSERT_EQ(gw_config_parse(&c, 4, a3, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, "exclude") != NULL);
  gw_config_defaults(&c);
  char *a4[] = {"gw", "--tls-cert", path, NULL};
  GW_ASSERT_EQ(gw_config_parse(&c, 3, a4, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, "--tls-key") != NULL);
  gw_config_defaults(&c);
  char *a5[] = {"gw", "--tls-cert", path, "--tls-key", path, NULL};
  GW_ASSERT_OK(gw_config_parse(&c, 5, a5, NULL, err, sizeof(err)));
  unlink(path);
  gw_config_defaults(&c);
  GW_ASSERT_EQ(gw_config_parse(&c, 5, a5, NULL, err, sizeof(err)), GW_EINVAL);
  GW_ASSERT(strstr(err, path) != NULL); /* names the missing file */
}

GW_TEST_LIST = {
    {"auth and tls", test_auth_tls},
    {"trusted proxies", test_trusted_proxies},
    {"origins", test_origins},
    {"defaults, env, flags", test_defaults_env_flags},
    {"errors", test_errors},
    {NULL, NULL},
};
