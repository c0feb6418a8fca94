/* SPDX-License-Identifier: MIT */
/* gw_log_test.c: the per-second line budget. */
#include "gw_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

#include "gw_log.h"

/* burst logs |n| lines within one wall-clock second (retrying when a second
 * boundary falls inside) and returns how many were suppressed. */
static unsigned long long burst(int level, int n) {
  for (int attempt = 0; attempt < 3; attempt++) {
    struct timeval a, b;
    unsigned long long before = gw_log_suppressed();
    /* stderr is the log: send the burst to /dev/null, keep failures. */
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    GW_ASSERT(saved >= 0 && null >= 0 && dup2(null, 2) == 2);
    gettimeofday(&a, NULL);
    for (int i = 0; i < n; i++)
      gw_log(level, "line %d", i);
    gettimeofday(&b, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(null);
    if (a.tv_sec == b.tv_sec)
      return gw_log_suppressed() - before;
  }
  GW_TEST_FAIL("could not log %d lines within one second", n);
  return 0;
}

static void test_budget(void) {
  gw_log_set_level(GW_LOG_INFO);
  /* Wait for a fresh second so the budget starts full. */
  struct timeval t0, t;
  gettimeofday(&t0, NULL);
  do
    gettimeofday(&t, NULL);
  while (t.tv_sec == t0.tv_sec);
  GW_ASSERT_EQ(burst(GW_LOG_ERROR, 300), 100);
  /* Lines above the level are not lines at all: no budget used. */
  GW_ASSERT_EQ(burst(GW_LOG_DEBUG, 1000), 0);
  /* At debug level nothing is rationed. */
  gw_log_set_level(GW_LOG_DEBUG);
  GW_ASSERT_EQ(burst(GW_LOG_ERROR, 500), 0);
}

GW_TEST_LIST = {
    {"budget", test_budget},
    {NULL, NULL},
};
