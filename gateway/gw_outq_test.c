/* SPDX-License-Identifier: MIT */
/* gw_outq_test.c: bounds, order, growth and snapshot coalescing. */
#include "gw_test.h"

#include "gw_err.h"
#include "gw_outq.h"

static gw_frame_t *mk(gw_ev_kind_t k, const char *s) {
  return gw_frame_from(k, s, strlen(s));
}

static void test_fifo_and_bounds(void) {
  gw_outq_t q;
  gw_outq_init(&q, 100, 0);
  gw_frame_t *f[100];
  char buf[8];
  for (int i = 0; i < 100; i++) {
    snprintf(buf, sizeof(buf), "%d", i);
    f[i] = mk(GW_EV_NEWMESSAGE, buf);
    GW_ASSERT_OK(gw_outq_push(&q, f[i]));
    GW_ASSERT_EQ(f[i]->refs, 2);
  }
  gw_frame_t *extra = mk(GW_EV_NEWMESSAGE, "x");
  GW_ASSERT_EQ(gw_outq_push(&q, extra), GW_EFULL);
  GW_ASSERT_EQ(extra->refs, 1);
  for (int i = 0; i < 100; i++) {
    GW_ASSERT(gw_outq_peek(&q) == f[i]);
    gw_outq_pop(&q);
    GW_ASSERT_EQ(f[i]->refs, 1);
    gw_frame_unref(f[i]);
  }
  GW_ASSERT(gw_outq_peek(&q) == NULL);
  GW_ASSERT(q.ring == NULL); /* drained after growth: ring released */
  /* Byte bound. */
  gw_outq_close(&q);
  gw_outq_init(&q, 100, 10);
  gw_frame_t *big = mk(GW_EV_NEWMESSAGE, "0123456");
  GW_ASSERT_OK(gw_outq_push(&q, big));
  GW_ASSERT_EQ(gw_outq_push(&q, big), GW_EFULL);
  GW_ASSERT_OK(gw_outq_push(&q, extra));
  GW_ASSERT_EQ(gw_outq_bytes(&q), 8);
  gw_outq_close(&q);
  GW_ASSERT_EQ(big->refs, 1);
  gw_frame_unref(big);
  gw_frame_unref(extra);
}

static void test_wraparound(void) {
  gw_outq_t q;
  gw_outq_init(&q, 8, 0);
  gw_frame_t *f[3] = {mk(GW_EV_NOTICE, "0"), mk(GW_EV_NOTICE, "1"),
                      mk(GW_EV_NOTICE, "2")};
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < 3; i++)
      GW_ASSERT_OK(gw_outq_push(&q, f[i]));
    for (int i = 0; i < 3; i++) {
      GW_ASSERT(gw_outq_peek(&q) == f[i]);
      gw_outq_pop(&q);
    }
  }
  GW_ASSERT_EQ(gw_outq_len(&q), 0);
  gw_outq_close(&q);
  for (int i = 0; i < 3; i++) {
    GW_ASSERT_EQ(f[i]->refs, 1);
    gw_frame_unref(f[i]);
  }
}

static void test_snapshots_coalesce(void) {
  gw_outq_t q;
  gw_outq_init(&q, 16, 0);
  gw_frame_t *n1 = mk(GW_EV_NOTICE, "a joined");
  gw_frame_t *u1 = mk(GW_EV_USERLIST, "[a]");
  gw_frame_t *n2 = mk(GW_EV_NOTICE, "b joined");
  gw_frame_t *u2 = mk(GW_EV_USERLIST, "[a,b]");
  gw_frame_t *r1 = mk(GW_EV_ROOMLIST, "[r]");
  GW_ASSERT_OK(gw_outq_push(&q, n1));
  GW_ASSERT_OK(gw_outq_push(&q, u1));
  GW_ASSERT_OK(gw_outq_push(&q, r1));
  GW_ASSERT_OK(gw_outq_push(&q, n2));
  GW_ASSERT_OK(gw_outq_push(&q, u2)); /* replaces u1 in place */
  GW_ASSERT_EQ(gw_outq_len(&q), 4);
  GW_ASSERT_EQ(u1->refs, 1);
  GW_ASSERT(gw_outq_peek(&q) == n1);
  gw_outq_pop(&q);
  GW_ASSERT(gw_outq_peek(&q) == u2);
  gw_outq_pop(&q);
  /* Once the snapshot left the queue, the next one queues anew. */
  GW_ASSERT_OK(gw_outq_push(&q, u1));
  GW_ASSERT_EQ(gw_outq_len(&q), 3);
  GW_ASSERT(gw_outq_peek(&q) == r1);
  gw_outq_pop(&q);
  GW_ASSERT(gw_outq_peek(&q) == n2);
  gw_outq_pop(&q);
  GW_ASSERT(gw_outq_peek(&q) == u1);
  gw_outq_close(&q);
  gw_frame_t *all[] = {n1, u1, n2, u2, r1};
  for (int i = 0; i < 5; i++) {
    GW_ASSERT_EQ(all[i]->refs, 1);
    gw_frame_unref(all[i]);
  }
}

GW_TEST_LIST = {
    {"fifo and bounds", test_fifo_and_bounds},
    {"wraparound", test_wraparound},
    {"snapshots coalesce", test_snapshots_coalesce},
    {NULL, NULL},
};
