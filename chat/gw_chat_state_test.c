/* SPDX-License-Identifier: MIT */
/* gw_chat_state_test.c: the stateful chat (gw_chat.c) with no server, on
 * the fakes of gw_chat_fake.h: the success acks, the order of requests
 * behind a membership change, the inbox bound, a socket closed while its
 * request is in flight, and the token bucket. Every error code is in
 * gw_chat_errors_test.c. */
#include "gw_chat_fake.h"

/* ---- 6. success acks ----------------------------------------------------- */

static void test_success_acks(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);

  /* create: trimmed names; the ack waits for the adapter. */
  ev(&w, a,
     "421[\"create\",{\"roomName\":\" lobby \",\"userName\":\" alice\"}]");
  EXPECT_CALLS(&w.ad, "join lobby alice;");
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(a->holds - a->releases, 1); /* held while in flight */
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"lobby\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  GW_ASSERT_EQ(a->holds, a->releases);

  /* sendMessage to the room: one frame to the adapter, ts in the ack. */
  int64_t lo = wall_ms();
  ev(&w, a, "422[\"sendMessage\",{\"message\":\"hi\",\"user\":\"mallory\"}]");
  EXPECT_CALLS(&w.ad, "room lobby;");
  EXPECT_NO_FRAME(a);
  complete(&w.ad, 0);
  int64_t ts = expect_ts_ack(a, 2, lo, wall_ms());
  expect_message(last_frame(&w.ad), "hi", "alice", 0, ts);

  /* select "all" and null are the room too. */
  ev(&w, a, "42[\"sendMessage\",{\"message\":\"x\",\"select\":\"all\"}]");
  ev(&w, a, "42[\"sendMessage\",{\"message\":\"y\",\"select\":null}]");
  EXPECT_CALLS(&w.ad, "room lobby;room lobby;");
  complete(&w.ad, 0);
  complete(&w.ad, 0);
  EXPECT_NO_FRAME(a); /* success without an ack id is silent */

  /* A DM names its target; the frame says dm:true. */
  lo = wall_ms();
  ev(&w, a,
     "423[\"sendMessage\",{\"message\":\"psst\",\"select\":"
     "\"BBBBBBBBBBBBBBBBBBB2\"}]");
  EXPECT_CALLS(&w.ad, "dm lobby BBBBBBBBBBBBBBBBBBB2;");
  complete(&w.ad, 0);
  ts = expect_ts_ack(a, 3, lo, wall_ms());
  expect_message(last_frame(&w.ad), "psst", "alice", 1, ts);

  /* Unicode and escapes go through as JSON. */
  ev(&w, a,
     "425[\"sendMessage\",{\"message\":\"\xec\x95\x88\xeb\x85\x95 "
     "\\\"q\\\"\"}]");
  complete(&w.ad, 0);
  expect_ts_ack(a, 5, lo, wall_ms());
  GW_ASSERT(strstr(last_frame(&w.ad),
                   "\"message\":\"\xec\x95\x88\xeb\x85\x95 \\\"q\\\"\"") !=
            NULL);
  EXPECT_CALLS(&w.ad, "room lobby;");

  /* leave: {"ok":true} alone. */
  ev(&w, a, "424[\"leave\"]");
  EXPECT_CALLS(&w.ad, "leave;");
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "434[{\"ok\":true}]");

  /* A create without an ack id succeeds silently; leave with {} and null. */
  ev(&w, a, "42[\"create\",{\"roomName\":\"r\",\"userName\":\"al\"}]");
  complete(&w.ad, 0);
  ev(&w, a, "42[\"leave\",{}]");
  complete(&w.ad, 0);
  ev(&w, a, "42[\"create\",{\"roomName\":\"r\",\"userName\":\"al\"}]");
  complete(&w.ad, 0);
  ev(&w, a, "426[\"leave\",null]");
  complete(&w.ad, 0);
  EXPECT_CALLS(&w.ad, "join r al;leave;join r al;leave;");
  EXPECT_FRAME(a, "436[{\"ok\":true}]");
  EXPECT_NO_FRAME(a);

  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_CREATE], 3);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_SENDMESSAGE], 5);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_LEAVE], 3);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_OTHER], 0);
  GW_ASSERT_EQ(sum_errors(&w.chat), 0);
  GW_ASSERT(a->holds >= 11); /* at least one per adapter call */
  GW_ASSERT_EQ(a->holds, a->releases);
  sock_close(a);
  GW_ASSERT_EQ(g_frees, 1);
  world_fini(&w);
}

/* A token's name fixes the user name: userName may be left out, and the
 * same name (once trimmed) is accepted. */
static void test_auth_name(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  GW_ASSERT_EQ(gw_chat_set_auth_name(&w.chat, &a->base, " ", 1), GW_EINVAL);
  GW_ASSERT_EQ(gw_chat_set_auth_name(&w.chat, &a->base, "123456789", 9),
               GW_ETOOLONG);
  GW_ASSERT_OK(gw_chat_set_auth_name(&w.chat, &a->base, " alice ", 7));
  ev(&w, a, "421[\"create\",{\"roomName\":\"r\"}]");
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  ev(&w, a, "422[\"create\",{\"roomName\":\"s\",\"userName\":null}]");
  complete(&w.ad, 0);
  ev(&w, a, "423[\"create\",{\"roomName\":\"t\",\"userName\":\"alice \"}]");
  complete(&w.ad, 0);
  EXPECT_CALLS(&w.ad, "join r alice;join s alice;join t alice;");
  EXPECT_FRAME(a, "432[{\"ok\":true,\"room\":\"s\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  EXPECT_FRAME(a, "433[{\"ok\":true,\"room\":\"t\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  ev(&w, a, "424[\"create\",{\"roomName\":\"u\",\"userName\":\"Alice\"}]");
  EXPECT_FRAME(a, ERR_ACK(4, "name_mismatch",
                          "your token fixes your user name; use that name"));
  EXPECT_CALLS(&w.ad, "");
  EXPECT_NO_FRAME(a);
  sock_close(a);
  world_fini(&w);
}

/* ---- 1. ordering behind a membership change ------------------------------ */

static void test_order_behind_join(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);

  ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  int64_t lo = wall_ms();
  ev(&w, a, "422[\"sendMessage\",{\"message\":\"one\"}]");
  ev(&w, a, "423[\"leave\"]");
  /* Nothing happens for them while the join is in flight, yet they count
   * as arrived. */
  EXPECT_CALLS(&w.ad, "join r alice;");
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(n_pending(&w.ad), 1);
  GW_ASSERT_EQ(a->base.sess.in_n, 2);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_SENDMESSAGE], 1);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_LEAVE], 1);

  /* The join's answer: its ack, then the two run in arrival order. */
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  EXPECT_NO_FRAME(a);
  EXPECT_CALLS(&w.ad, "room r;leave;");
  GW_ASSERT_EQ(a->base.sess.in_n, 0);

  /* The leave is in flight now: a later request waits behind it. */
  ev(&w, a, "424[\"sendMessage\",{\"message\":\"two\"}]");
  EXPECT_CALLS(&w.ad, "");
  complete(&w.ad, 0); /* emit_room */
  int64_t ts = expect_ts_ack(a, 2, lo, wall_ms());
  expect_message(w.ad.calls[1].frame, "one", "alice", 0, ts);
  EXPECT_NO_FRAME(a);
  complete(&w.ad, 0); /* leave */
  EXPECT_FRAME(a, "433[{\"ok\":true}]");
  /* It ran after the leave: no room any more. */
  EXPECT_FRAME(a, ERR_ACK(4, "not_in_room", MSG_NOT_IN));
  EXPECT_NO_FRAME(a);
  EXPECT_CALLS(&w.ad, "");

  /* A failed join: what waited behind it still runs, in order. */
  ev(&w, a, "425[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  ev(&w, a, "426[\"sendMessage\",{\"message\":\"three\"}]");
  ev(&w, a, "42[\"hello\"]");
  ev(&w, a, "427[\"create\",{\"roomName\":\"s\",\"userName\":\"bob\"}]");
  ev(&w, a, "428[\"sendMessage\",{\"message\":\"four\"}]");
  EXPECT_CALLS(&w.ad, "join r alice;");
  complete(&w.ad, GW_ENAMETAKEN);
  EXPECT_FRAME(a, ERR_ACK(5, "name_taken", MSG_NAMETAKEN));
  EXPECT_FRAME(a, ERR_ACK(6, "not_in_room", MSG_NOT_IN));
  EXPECT_FRAME(a, ERR_EV("unknown_event", "unknown event"));
  EXPECT_NO_FRAME(a);
  EXPECT_CALLS(&w.ad, "join s bob;"); /* and "four" waits behind it */
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "437[{\"ok\":true,\"room\":\"s\",\"userName\":\"bob\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  EXPECT_CALLS(&w.ad, "room s;");
  complete(&w.ad, 0);
  expect_ts_ack(a, 8, lo, wall_ms());
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(w.chat.stats.errors[GW_CE_NOT_IN_ROOM], 2);
  GW_ASSERT_EQ(w.chat.stats.errors[GW_CE_NAME_TAKEN], 1);
  GW_ASSERT_EQ(w.chat.stats.errors[GW_CE_UNKNOWN_EVENT], 1);
  GW_ASSERT_EQ(sum_errors(&w.chat), 4);
  sock_close(a);
  world_fini(&w);
}

/* Another socket is not held up by one whose join is in flight. */
static void test_order_is_per_socket(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  fake_sock_t *b = sock_new(&w.chat, SID_B);
  ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  ev(&w, a, "422[\"leave\"]");
  ev(&w, b, "421[\"leave\"]");
  EXPECT_FRAME(b, ERR_ACK(1, "not_in_room", MSG_NOT_IN));
  ev(&w, b, "422[\"create\",{\"roomName\":\"r\",\"userName\":\"bob\"}]");
  EXPECT_CALLS(&w.ad, "join r alice;join r bob;");
  complete(&w.ad, 0); /* alice's join; her leave goes out */
  complete(&w.ad, 0); /* bob's join */
  EXPECT_CALLS(&w.ad, "leave;");
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  EXPECT_FRAME(a, "432[{\"ok\":true}]");
  EXPECT_FRAME(b, "432[{\"ok\":true,\"room\":\"r\",\"userName\":\"bob\","
                  "\"key\":\"BBBBBBBBBBBBBBBBBBB2\"}]");
  EXPECT_NO_FRAME(a);
  EXPECT_NO_FRAME(b);
  sock_close(a);
  sock_close(b);
  GW_ASSERT_EQ(g_frees, 2);
  world_fini(&w);
}

/* An adapter that answers before returning (as the memory adapter does):
 * a queued create completing inside the dispatch of the inbox must not
 * break the order nor the one-change-at-a-time rule (GW_CHECK). */
static void test_order_with_sync_adapter(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  ev(&w, a, "422[\"create\",{\"roomName\":\"s\",\"userName\":\"alice\"}]");
  int64_t lo = wall_ms();
  ev(&w, a, "423[\"sendMessage\",{\"message\":\"m\"}]");
  ev(&w, a, "424[\"leave\"]");
  ev(&w, a, "425[\"sendMessage\",{\"message\":\"n\"}]");
  w.ad.sync = 1;
  complete(&w.ad, 0);
  EXPECT_CALLS(&w.ad, "join r alice;join s alice;room s;leave;");
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  EXPECT_FRAME(a, "432[{\"ok\":true,\"room\":\"s\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  expect_ts_ack(a, 3, lo, wall_ms());
  EXPECT_FRAME(a, "434[{\"ok\":true}]");
  EXPECT_FRAME(a, ERR_ACK(5, "not_in_room", MSG_NOT_IN));
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(a->base.sess.in_n, 0);
  GW_ASSERT_EQ(a->holds, a->releases);
  sock_close(a);
  world_fini(&w);
}

/* The inbox is a ring: many rounds of requests queued behind a join keep
 * their order across its wrap. */
static void test_inbox_ring_wraps(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  cfg.inbox_max = 64;
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  for (int round = 0; round < 4; round++) {
    ev(&w, a, "42[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
    for (int i = 0; i < 50; i++) {
      char raw[128];
      snprintf(raw, sizeof(raw), "42[\"sendMessage\",{\"message\":\"m%d-%d\"}]",
               round, i);
      ev(&w, a, raw);
    }
    int first = w.ad.n_calls;
    GW_ASSERT_EQ(n_pending(&w.ad), 1);
    complete(&w.ad, 0);
    GW_ASSERT_EQ(w.ad.n_calls - first, 50);
    for (int i = 0; i < 50; i++) {
      char want[64];
      snprintf(want, sizeof(want), "42[\"newMessage\",{\"message\":\"m%d-%d\",",
               round, i);
      const char *got = w.ad.calls[first + i].frame;
      GW_ASSERT(got != NULL);
      if (strncmp(got, want, strlen(want)) != 0)
        GW_TEST_FAIL("round %d, message %d: %s", round, i, got);
    }
    while (n_pending(&w.ad) > 0)
      complete(&w.ad, 0);
  }
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(sum_errors(&w.chat), 0);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_INBOX], 0);
  w.ad.log[0] = '\0';
  sock_close(a);
  world_fini(&w);
}

/* ---- 2. inbox overflow --------------------------------------------------- */

static void test_inbox_overflow(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  cfg.inbox_max = 3;
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  int64_t lo = wall_ms();
  ev(&w, a, "422[\"sendMessage\",{\"message\":\"a\"}]");
  ev(&w, a, "423[\"sendMessage\",{\"message\":\"b\"}]");
  ev(&w, a, "424[\"sendMessage\",{\"message\":\"c\"}]");
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_INBOX], 0);
  /* The 4th behind the busy socket: refused at once, ack or chatError. */
  ev(&w, a, "425[\"sendMessage\",{\"message\":\"d\"}]");
  EXPECT_FRAME(a, ERR_ACK(5, "rate_limited", MSG_RATE));
  ev(&w, a, "42[\"leave\"]");
  EXPECT_FRAME(a, ERR_EV("rate_limited", MSG_RATE));
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_INBOX], 2);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_RATE], 0);
  GW_ASSERT_EQ(w.chat.stats.errors[GW_CE_RATE_LIMITED], 2);
  GW_ASSERT_EQ(sum_errors(&w.chat), 2);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_SENDMESSAGE], 4);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_LEAVE], 1);
  EXPECT_CALLS(&w.ad, "join r alice;");

  /* The three that waited run; the refused ones never do. */
  complete(&w.ad, 0);
  EXPECT_CALLS(&w.ad, "room r;room r;room r;");
  for (int i = 0; i < 3; i++)
    complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  const char *msgs[] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++) {
    int64_t ts = expect_ts_ack(a, 2 + i, lo, wall_ms());
    expect_message(w.ad.calls[1 + i].frame, msgs[i], "alice", 0, ts);
  }
  EXPECT_NO_FRAME(a);

  /* Drained: the inbox takes three again. */
  ev(&w, a, "42[\"leave\"]");
  for (int i = 0; i < 3; i++)
    ev(&w, a, "42[\"hello\"]");
  EXPECT_NO_FRAME(a);
  ev(&w, a, "426[\"hello\"]");
  EXPECT_FRAME(a, ERR_ACK(6, "rate_limited", MSG_RATE));
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_INBOX], 3);
  complete(&w.ad, 0);
  for (int i = 0; i < 3; i++)
    EXPECT_FRAME(a, ERR_EV("unknown_event", "unknown event"));
  EXPECT_NO_FRAME(a);
  EXPECT_CALLS(&w.ad, "leave;");
  sock_close(a);
  world_fini(&w);
}

/* inbox_max 0: nothing may wait behind a request in flight. */
static void test_inbox_zero(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  cfg.inbox_max = 0;
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  ev(&w, a, "422[\"sendMessage\",{\"message\":\"a\"}]");
  EXPECT_FRAME(a, ERR_ACK(2, "rate_limited", MSG_RATE));
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  /* An emit in flight does not make the socket busy. */
  ev(&w, a, "423[\"sendMessage\",{\"message\":\"a\"}]");
  ev(&w, a, "424[\"sendMessage\",{\"message\":\"b\"}]");
  EXPECT_CALLS(&w.ad, "join r alice;room r;room r;");
  complete(&w.ad, 0);
  complete(&w.ad, 0);
  expect_ts_ack(a, 3, 0, INT64_MAX);
  expect_ts_ack(a, 4, 0, INT64_MAX);
  EXPECT_NO_FRAME(a);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_INBOX], 1);
  sock_close(a);
  world_fini(&w);
}

/* ---- 3. a socket closed while its request is in flight ------------------- */

static void test_close_mid_join(void) {
  static const int statuses[] = {0, GW_ENAMETAKEN, GW_EUNAVAIL};
  for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
    world_t w;
    gw_chat_cfg_t cfg = cfg_default();
    world_init(&w, &cfg);
    fake_sock_t *a = sock_new(&w.chat, SID_A);
    ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
    ev(&w, a, "422[\"sendMessage\",{\"message\":\"a\"}]");
    ev(&w, a, "42[\"leave\"]");
    GW_ASSERT_EQ(g_holds - g_releases, 1);
    sock_close(a); /* the transport lets go; the chat's hold keeps it */
    GW_ASSERT_EQ(g_frees, 0);
    complete(&w.ad, statuses[k]);
    /* Nobody to answer, nothing queued runs, and the last release freed
     * it. (a is gone: only the global counters are read from here.) */
    GW_ASSERT_EQ(g_frees, 1);
    GW_ASSERT_EQ(g_holds, g_releases);
    GW_ASSERT_EQ(g_sends_dead, 0);
    EXPECT_CALLS(&w.ad, "join r alice;");
    GW_ASSERT_EQ(n_pending(&w.ad), 0);
    world_fini(&w);
  }
}

/* The same for a leave and for a message in flight. */
static void test_close_mid_leave_and_send(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  ev(&w, a, "421[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  complete(&w.ad, 0);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"r\",\"userName\":\"alice\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  ev(&w, a, "422[\"sendMessage\",{\"message\":\"a\"}]");
  ev(&w, a,
     "423[\"sendMessage\",{\"message\":\"b\",\"select\":"
     "\"BBBBBBBBBBBBBBBBBBB2\"}]");
  ev(&w, a, "424[\"leave\"]");
  ev(&w, a, "425[\"sendMessage\",{\"message\":\"c\"}]");
  EXPECT_CALLS(&w.ad, "join r alice;room r;dm r BBBBBBBBBBBBBBBBBBB2;leave;");
  GW_ASSERT_EQ(g_holds - g_releases, 3);
  EXPECT_NO_FRAME(a);
  sock_close(a);
  complete(&w.ad, 0);
  complete(&w.ad, GW_ENOTFOUND);
  GW_ASSERT_EQ(g_frees, 0);
  complete(&w.ad, GW_EUNAVAIL);
  GW_ASSERT_EQ(g_frees, 1);
  GW_ASSERT_EQ(g_holds, g_releases);
  GW_ASSERT_EQ(g_sends_dead, 0);
  EXPECT_CALLS(&w.ad, "");
  world_fini(&w);
}

/* ---- 4. the token bucket ------------------------------------------------- */

/* leaves sends |n| leaves without an ack id (each answered not_in_room when
 * it passes the bucket) and returns how many passed. */
static int leaves(world_t *w, fake_sock_t *a, int n) {
  int passed = 0;
  for (int i = 0; i < n; i++) {
    ev(w, a, "42[\"leave\"]");
    const char *t = next_frame(a);
    if (strcmp(t, ERR_EV("not_in_room", MSG_NOT_IN)) == 0)
      passed++;
    else
      GW_ASSERT_STREQ(t, ERR_EV("rate_limited", MSG_RATE));
  }
  return passed;
}

static void test_token_bucket(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  cfg.rate_limit = 100; /* one token per 10 ms */
  cfg.rate_burst = 3;
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  uint64_t t0 = uv_now(&w.loop);

  /* A full bucket: 3 pass (the clock does not move between them), the
   * 4th is refused, with an ack or a chatError. */
  GW_ASSERT_EQ(leaves(&w, a, 3), 3);
  ev(&w, a, "424[\"leave\"]");
  EXPECT_FRAME(a, ERR_ACK(4, "rate_limited", MSG_RATE));
  ev(&w, a, "42[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]");
  EXPECT_FRAME(a, ERR_EV("rate_limited", MSG_RATE));
  EXPECT_CALLS(&w.ad, ""); /* dropped, not queued */
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_RATE], 2);
  GW_ASSERT_EQ(w.chat.stats.errors[GW_CE_RATE_LIMITED], 2);
  GW_ASSERT_EQ(w.chat.stats.errors[GW_CE_NOT_IN_ROOM], 3);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_LEAVE], 4);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_CREATE], 1);

  /* Refill: dt ms give dt/10 tokens, capped at 3. */
  uv_sleep(15);
  uv_update_time(&w.loop);
  uint64_t dt = uv_now(&w.loop) - t0;
  GW_ASSERT(dt >= 15);
  uint64_t want = dt / 10 < 3 ? dt / 10 : 3;
  GW_ASSERT_EQ(leaves(&w, a, (int)want + 1), want);

  /* Long enough to fill the bucket: exactly the burst passes. */
  uv_sleep(40);
  uv_update_time(&w.loop);
  GW_ASSERT_EQ(leaves(&w, a, 5), 3);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_RATE], 2 + 1 + (5 - 3));
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_INBOX], 0);
  EXPECT_NO_FRAME(a);

  /* The bucket is per socket: a new one starts full. */
  fake_sock_t *b = sock_new(&w.chat, SID_B);
  GW_ASSERT_EQ(leaves(&w, b, 4), 3);
  sock_close(a);
  sock_close(b);
  world_fini(&w);
}

/* rate_burst 0 is twice the rate; rate_limit 0 is no limit. */
static void test_token_bucket_defaults(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  cfg.rate_limit = 2;
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  GW_ASSERT_EQ(leaves(&w, a, 6), 4);
  sock_close(a);
  world_fini(&w);

  cfg.rate_limit = 0;
  cfg.rate_burst = 1;
  world_init(&w, &cfg);
  a = sock_new(&w.chat, SID_A);
  GW_ASSERT_EQ(leaves(&w, a, 500), 500);
  GW_ASSERT_EQ(w.chat.stats.limit_hits[GW_CHAT_LIMIT_RATE], 0);
  sock_close(a);
  world_fini(&w);
}

GW_TEST_LIST = {
    {"success acks carry room, userName, key and ts", test_success_acks},
    {"a token's name", test_auth_name},
    {"order behind a join in flight", test_order_behind_join},
    {"order is per socket", test_order_is_per_socket},
    {"order with an adapter that answers at once",
     test_order_with_sync_adapter},
    {"inbox ring wraps", test_inbox_ring_wraps},
    {"inbox overflow", test_inbox_overflow},
    {"inbox_max 0", test_inbox_zero},
    {"socket closed mid-join", test_close_mid_join},
    {"socket closed mid-leave and mid-send", test_close_mid_leave_and_send},
    {"token bucket", test_token_bucket},
    {"token bucket defaults", test_token_bucket_defaults},
    {NULL, NULL},
};
