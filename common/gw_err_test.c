/* SPDX-License-Identifier: MIT */
/* gw_err_test.c: the error convention (gw_err.h). */
#include "gw_test.h"

#include "gw_err.h"

static void test_strerror(void) {
  GW_ASSERT_STREQ(gw_strerror(0), "ok");
  GW_ASSERT_STREQ(gw_strerror(GW_EFULL), "queue full");
  GW_ASSERT_STREQ(gw_strerror(GW_ENOMEM), "out of memory");
  GW_ASSERT_STREQ(gw_strerror(-2), strerror(2)); /* -errno passes through */
  GW_ASSERT_STREQ(gw_strerror(GW__ERR_BASE), "unknown error");
  GW_ASSERT_STREQ(gw_strerror(1), "unknown error");
}

static void test_ranges(void) {
  /* GW_E* codes are negative and stay clear of -errno. */
  GW_ASSERT(GW_EFULL < GW__ERR_BASE + 2 && GW_EFULL > GW__ERR_BASE);
  GW_ASSERT(GW_ENOMEM < 0 && GW_ENOMEM > GW__ERR_BASE);
}

GW_TEST_LIST = {
    {"strerror", test_strerror},
    {"ranges", test_ranges},
    {NULL, NULL},
};
