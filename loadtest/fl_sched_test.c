/* SPDX-License-Identifier: MIT */
/* fl_sched_test.c: open-loop schedule math: counts over a window, times
 * computed from t0 (no drift), catching up after a stall without dropping
 * or re-stamping sends, batching limits, interleaving across workers. */
#include "fl_sched.h"
#include "gw_test.h"

static void test_counts_and_times(void) {
  fl_sched_t s;
  fl_sched_init(&s, 1000, 100.0, 1000 + 1000000); /* 100/s for 1 s */
  GW_ASSERT_EQ(s.total, 100);
  GW_ASSERT_EQ(fl_sched_time(&s, 0), 1000);
  GW_ASSERT_EQ(fl_sched_time(&s, 1), 11000);
  GW_ASSERT_EQ(fl_sched_time(&s, 99), 1000 + 990000);
  /* fractional periods: 3/s -> 333333.33 us, rounded per k, no drift */
  fl_sched_init(&s, 0, 3.0, 10000000);
  GW_ASSERT_EQ(s.total, 30);
  GW_ASSERT_EQ(fl_sched_time(&s, 1), 333333);
  GW_ASSERT_EQ(fl_sched_time(&s, 2), 666667);
  GW_ASSERT_EQ(fl_sched_time(&s, 29), 9666667);
  /* a million sends at 1e5/s end exactly at 10 s */
  fl_sched_init(&s, 0, 1e5, 10000000);
  GW_ASSERT_EQ(s.total, 1000000);
  GW_ASSERT_EQ(fl_sched_time(&s, 999999), 9999990);
  /* empty schedules */
  fl_sched_init(&s, 0, 0, 1000000);
  GW_ASSERT_EQ(s.total, 0);
  GW_ASSERT(fl_sched_done(&s));
  GW_ASSERT_EQ(fl_sched_next_due(&s), UINT64_MAX);
  fl_sched_init(&s, 500, 10, 500);
  GW_ASSERT_EQ(s.total, 0);
}

static void test_take_on_time(void) {
  fl_sched_t s;
  uint64_t first;
  fl_sched_init(&s, 0, 1000.0, 10000);                /* every 1 ms for 10 ms */
  GW_ASSERT_EQ(fl_sched_take(&s, 0, 100, &first), 1); /* k=0 due at 0 */
  GW_ASSERT_EQ(first, 0);
  GW_ASSERT_EQ(fl_sched_take(&s, 999, 100, &first), 0);
  GW_ASSERT_EQ(fl_sched_next_due(&s), 1000);
  GW_ASSERT_EQ(fl_sched_take(&s, 1000, 100, &first), 1);
  GW_ASSERT_EQ(first, 1);
}

static void test_catch_up_after_stall(void) {
  fl_sched_t s;
  uint64_t first;
  fl_sched_init(&s, 0, 1000.0, 1000000); /* 1000 sends over 1 s */
  GW_ASSERT_EQ(fl_sched_take(&s, 0, 10, &first), 1);
  /* the caller stalls for 250 ms: 250 sends are overdue, none dropped;
   * with a batch limit of 100 they come out in order over three takes */
  GW_ASSERT_EQ(fl_sched_take(&s, 250000, 100, &first), 100);
  GW_ASSERT_EQ(first, 1);
  GW_ASSERT_EQ(fl_sched_take(&s, 250000, 100, &first), 100);
  GW_ASSERT_EQ(first, 101);
  GW_ASSERT_EQ(fl_sched_take(&s, 250000, 100, &first), 50);
  GW_ASSERT_EQ(first, 201);
  /* the overdue sends keep their scheduled times: latency measured from
   * them includes the stall (coordinated omission) */
  GW_ASSERT_EQ(fl_sched_time(&s, 201), 201000);
  GW_ASSERT_EQ(fl_sched_next_due(&s), 251000);
  /* a stall past the end delivers everything that remains, then done */
  uint64_t total = 251;
  size_t k;
  while ((k = fl_sched_take(&s, 5000000, 300, &first)) > 0)
    total += k;
  GW_ASSERT_EQ(total, 1000);
  GW_ASSERT(fl_sched_done(&s));
}

static void test_interleaved_workers(void) {
  /* 3 workers, aggregate 300/s: worker i sends at t0 + i/300 + k/100; the
   * union is exactly the single-process schedule */
  fl_sched_t w[3];
  for (int i = 0; i < 3; i++)
    fl_sched_init(&w[i], 1000000 + (uint64_t)(i * 1e6 / 300), 100.0, 2000000);
  fl_sched_t one;
  fl_sched_init(&one, 1000000, 300.0, 2000000);
  GW_ASSERT_EQ(w[0].total + w[1].total + w[2].total, one.total);
  for (uint64_t k = 0; k < one.total; k++) {
    uint64_t t = fl_sched_time(&w[k % 3], k / 3);
    uint64_t d = t > fl_sched_time(&one, k) ? t - fl_sched_time(&one, k)
                                            : fl_sched_time(&one, k) - t;
    GW_ASSERT(d <= 1);
  }
}

GW_TEST_LIST = {{"counts and times", test_counts_and_times},
                {"take on time", test_take_on_time},
                {"catch up after a stall", test_catch_up_after_stall},
                {"interleaved workers", test_interleaved_workers},
                {NULL, NULL}};
