/* SPDX-License-Identifier: MIT */
/* fl_hist_test.c: bucket layout, the 1/128 relative error bound, percentiles
 * against a sorted reference, merge, clamping. */
#include <stdlib.h>

#include "fl_hist.h"
#include "gw_test.h"

static fl_hist_t h1, h2, h3; /* large: keep them off the stack */

static void test_index_monotonic_and_bound(void) {
  /* every value maps into a bucket whose upper bound is >= it and within
   * 1/2^SUB_BITS above it; buckets never go backwards */
  size_t prev = 0;
  for (uint64_t v = 0; v < (1u << 22); v += 1 + v / 1000) {
    size_t i = fl_hist_index(v);
    GW_ASSERT(i < FL_HIST_BUCKETS);
    GW_ASSERT(i >= prev);
    prev = i;
    uint64_t up = fl_hist_upper(i);
    GW_ASSERT(up >= v);
    GW_ASSERT((double)(up - v) <= (double)v / FL_HIST_SUB + 1e-9);
    /* the bucket below ends right before this one starts */
    if (i > 0)
      GW_ASSERT(fl_hist_upper(i - 1) < v ||
                fl_hist_index(fl_hist_upper(i - 1)) == i - 1);
  }
  /* exact below 2^SUB_BITS, and the layout has no gaps */
  for (uint64_t v = 0; v < 2 * FL_HIST_SUB; v++)
    GW_ASSERT_EQ(fl_hist_upper(fl_hist_index(v)), v);
  for (size_t i = 1; i < FL_HIST_BUCKETS; i++)
    GW_ASSERT_EQ(fl_hist_index(fl_hist_upper(i - 1) + 1), i);
  /* clamping at 2^MAX_BITS */
  GW_ASSERT_EQ(fl_hist_index(UINT64_MAX), FL_HIST_BUCKETS - 1);
  GW_ASSERT_EQ(fl_hist_index((uint64_t)1 << FL_HIST_MAX_BITS),
               FL_HIST_BUCKETS - 1);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_percentiles_vs_sorted(void) {
  enum { N = 100000 };
  uint64_t *vals = malloc(N * sizeof *vals);
  fl_hist_init(&h1);
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < N; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    /* log-uniform between 1 us and ~1 s */
    vals[i] = (uint64_t)1 << (x % 20);
    vals[i] += (x >> 20) % vals[i];
    fl_hist_record(&h1, vals[i]);
  }
  qsort(vals, N, sizeof *vals, cmp_u64);
  double pcts[] = {1, 50, 90, 99, 99.9, 99.99};
  for (size_t k = 0; k < sizeof pcts / sizeof pcts[0]; k++) {
    size_t rank = (size_t)(pcts[k] / 100.0 * N + 0.999999);
    uint64_t want = vals[rank - 1];
    uint64_t got = fl_hist_percentile(&h1, pcts[k]);
    GW_ASSERT(got >= want);
    GW_ASSERT((double)(got - want) <= (double)want / FL_HIST_SUB + 1);
  }
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 100), vals[N - 1]);
  GW_ASSERT_EQ(h1.min, vals[0]);
  GW_ASSERT_EQ(h1.max, vals[N - 1]);
  GW_ASSERT_EQ(h1.count, N);
  free(vals);
}

static void test_small_and_empty(void) {
  fl_hist_init(&h1);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 50), 0);
  for (uint64_t v = 1; v <= 100; v++)
    fl_hist_record(&h1, v);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 50), 50);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 90), 90);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 99), 99);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 99.9), 100);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 0), 1);
  /* a percentile never reports more than the max seen */
  fl_hist_init(&h1);
  fl_hist_record(&h1, 1000001);
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 50), 1000001);
}

static void test_merge(void) {
  fl_hist_init(&h1);
  fl_hist_init(&h2);
  fl_hist_init(&h3);
  for (uint64_t v = 0; v < 5000; v++) {
    fl_hist_record(v % 2 ? &h1 : &h2, v * 37);
    fl_hist_record(&h3, v * 37);
  }
  fl_hist_merge(&h1, &h2);
  GW_ASSERT_EQ(h1.count, h3.count);
  GW_ASSERT_EQ(h1.min, h3.min);
  GW_ASSERT_EQ(h1.max, h3.max);
  GW_ASSERT_OK(memcmp(h1.counts, h3.counts, sizeof h1.counts));
  GW_ASSERT_EQ(fl_hist_percentile(&h1, 99), fl_hist_percentile(&h3, 99));
  /* merging an empty histogram changes nothing */
  fl_hist_init(&h2);
  fl_hist_merge(&h1, &h2);
  GW_ASSERT_EQ(h1.min, 0);
  GW_ASSERT_EQ(h1.count, 5000);
}

GW_TEST_LIST = {
    {"index monotonic, error bound", test_index_monotonic_and_bound},
    {"percentiles vs sorted values", test_percentiles_vs_sorted},
    {"small and empty", test_small_and_empty},
    {"merge", test_merge},
    {NULL, NULL}};
