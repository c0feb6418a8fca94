/* SPDX-License-Identifier: MIT */
/* gw_map_test.c: the string hash map, against a brute-force model. */
#include "gw_test.h"

#include <stdio.h>

#include "gw_map.h"

#define N 2000

static void test_put_get_del(void) {
  static char keys[N][16];
  static int present[N];
  gw_map_t m;
  gw_map_init(&m);
  GW_ASSERT(gw_map_get(&m, "x") == NULL);
  GW_ASSERT(gw_map_del(&m, "x") == NULL);
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof(keys[i]), "k%d", i);
    GW_ASSERT_OK(gw_map_put(&m, keys[i], &present[i]));
    present[i] = 1;
  }
  GW_ASSERT_EQ(gw_map_len(&m), N);
  /* Delete a pseudo-random two thirds and check every key after. */
  unsigned x = 12345;
  for (int round = 0; round < 3 * N; round++) {
    x = x * 1103515245u + 12345u;
    int i = (int)((x >> 8) % N);
    void *v = gw_map_del(&m, keys[i]);
    GW_ASSERT_EQ(v != NULL, present[i]);
    present[i] = 0;
  }
  size_t live = 0;
  for (int i = 0; i < N; i++) {
    GW_ASSERT_EQ(gw_map_get(&m, keys[i]) != NULL, present[i]);
    live += (size_t)present[i];
  }
  GW_ASSERT_EQ(gw_map_len(&m), live);
  /* Replace keeps the length. */
  GW_ASSERT_OK(gw_map_put(&m, keys[0], &present[1]));
  GW_ASSERT_OK(gw_map_put(&m, keys[0], &present[2]));
  GW_ASSERT(gw_map_get(&m, keys[0]) == &present[2]);
  gw_map_close(&m);
}

GW_TEST_LIST = {
    {"put/get/del against a model", test_put_get_del},
    {NULL, NULL},
};
