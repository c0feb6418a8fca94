/* SPDX-License-Identifier: MIT */
/* gw_adapter_memory_test.c: the chat effects of the in-memory adapter. */
#include "gw_test.h"

#include "gw_adapter.h"

#define MAXLOG 64

typedef struct {
  int who[MAXLOG];
  char what[MAXLOG][256];
  int n;
} log_t;

static log_t lg;
static int handles[8];

static void on_deliver(void *ctx, void *sock, gw_frame_t *f) {
  (void)ctx;
  GW_ASSERT(lg.n < MAXLOG);
  lg.who[lg.n] = *(int *)sock;
  snprintf(lg.what[lg.n], sizeof(lg.what[0]), "%s",
           (const char *)gw_frame_data(f));
  lg.n++;
}

static int last_status;
static int cb_calls;
static void on_result(void *arg, int status) {
  (void)arg;
  last_status = status;
  cb_calls++;
}

/* expect asserts that |who| got exactly |what| among the logged deliveries. */
static int count(int who, const char *what) {
  int c = 0;
  for (int i = 0; i < lg.n; i++)
    if (lg.who[i] == who && strcmp(lg.what[i], what) == 0)
      c++;
  return c;
}

static gw_adapter_t *make(size_t max_rooms, size_t max_members) {
  gw_adapter_cfg_t cfg = {0};
  cfg.deliver = on_deliver;
  cfg.max_rooms = max_rooms;
  cfg.max_room_members = max_members;
  int err = 0;
  gw_adapter_t *a = gw_adapter_memory_new(&cfg, &err);
  GW_ASSERT(a != NULL);
  for (int i = 0; i < 8; i++)
    handles[i] = i;
  memset(&lg, 0, sizeof(lg));
  return a;
}

static int join(gw_adapter_t *a, const char *sid, const char *room,
                const char *user) {
  int calls = cb_calls;
  GW_ASSERT_OK(gw_adapter_join(a, sid, room, user, on_result, NULL));
  GW_ASSERT_EQ(cb_calls, calls + 1);
  return last_status;
}

static void closed(void *arg) {
  *(int *)arg = 1;
}

static void finish(gw_adapter_t *a) {
  int done = 0;
  gw_adapter_close(a, closed, &done);
  GW_ASSERT(done);
  gw_adapter_free(a);
}

static void test_join_effects(void) {
  gw_adapter_t *a = make(0, 0);
  GW_ASSERT_OK(gw_adapter_attach(a, "s1", &handles[1]));
  GW_ASSERT_OK(gw_adapter_attach(a, "s2", &handles[2]));
  GW_ASSERT_OK(gw_adapter_attach(a, "s3", &handles[3]));
  GW_ASSERT_EQ(gw_adapter_attach(a, "s3", &handles[3]), GW_EINVAL);
  GW_ASSERT_EQ(count(1, "42[\"roomList\",[]]"), 1);

  lg.n = 0;
  GW_ASSERT_OK(join(a, "s1", "r1", "alice"));
  GW_ASSERT_EQ(count(1, "42[\"userList\",[{\"userName\":\"alice\",\"key\":"
                        "\"s1\"}]]"),
               1);
  for (int i = 1; i <= 3; i++)
    GW_ASSERT_EQ(count(i, "42[\"roomList\",[\"r1\"]]"), 1);
  GW_ASSERT_EQ(lg.n, 4); /* no notice to the joiner itself */

  lg.n = 0;
  GW_ASSERT_OK(join(a, "s2", "r1", "bob"));
  GW_ASSERT_EQ(count(1, "42[\"notice\",\"bob joined the room.\"]"), 1);
  GW_ASSERT_EQ(count(2, "42[\"notice\",\"bob joined the room.\"]"), 0);
  const char *ul = "42[\"userList\",[{\"userName\":\"alice\",\"key\":\"s1\"},"
                   "{\"userName\":\"bob\",\"key\":\"s2\"}]]";
  GW_ASSERT_EQ(count(1, ul), 1);
  GW_ASSERT_EQ(count(2, ul), 1);
  GW_ASSERT_EQ(lg.n, 3); /* existing room: no roomList */

  GW_ASSERT_EQ(join(a, "s3", "r1", "bob"), GW_ENAMETAKEN);
  GW_ASSERT_OK(join(a, "s3", "r1", "Bob")); /* exact match only */

  /* Moving to another room leaves the first one, with its effects. */
  lg.n = 0;
  GW_ASSERT_OK(join(a, "s1", "r2", "alice"));
  GW_ASSERT_EQ(count(2, "42[\"notice\",\"alice left the room.\"]"), 1);
  GW_ASSERT_EQ(count(3, "42[\"roomList\",[\"r1\",\"r2\"]]"), 1);

  /* Same room, same name: nothing happens. */
  lg.n = 0;
  GW_ASSERT_OK(join(a, "s1", "r2", "alice"));
  GW_ASSERT_EQ(lg.n, 0);
  finish(a);
}

static void test_leave_and_detach(void) {
  gw_adapter_t *a = make(0, 0);
  GW_ASSERT_OK(gw_adapter_attach(a, "s1", &handles[1]));
  GW_ASSERT_OK(gw_adapter_attach(a, "s2", &handles[2]));
  GW_ASSERT_OK(join(a, "s1", "r1", "alice"));
  GW_ASSERT_OK(join(a, "s2", "r1", "bob"));
  lg.n = 0;
  GW_ASSERT_OK(gw_adapter_leave(a, "s2", on_result, NULL));
  GW_ASSERT_OK(last_status);
  GW_ASSERT_EQ(count(1, "42[\"notice\",\"bob left the room.\"]"), 1);
  GW_ASSERT_EQ(count(1, "42[\"userList\",[{\"userName\":\"alice\",\"key\":"
                        "\"s1\"}]]"),
               1);
  GW_ASSERT_OK(gw_adapter_leave(a, "s2", on_result, NULL));
  GW_ASSERT_EQ(last_status, GW_ENOTINROOM);

  /* The last member going away deletes the room. */
  lg.n = 0;
  gw_adapter_detach(a, "s1");
  GW_ASSERT_EQ(count(2, "42[\"roomList\",[]]"), 1);
  GW_ASSERT_EQ(count(1, "42[\"roomList\",[]]"), 0);
  gw_adapter_stats_t st;
  gw_adapter_stats(a, &st);
  GW_ASSERT_EQ(st.rooms, 0);
  GW_ASSERT_EQ(st.local_members, 0);
  finish(a);
}

static void test_messages(void) {
  gw_adapter_t *a = make(0, 0);
  for (int i = 1; i <= 3; i++) {
    char sid[4] = {'s', (char)('0' + i), 0};
    GW_ASSERT_OK(gw_adapter_attach(a, sid, &handles[i]));
  }
  GW_ASSERT_OK(join(a, "s1", "r1", "a"));
  GW_ASSERT_OK(join(a, "s2", "r1", "b"));
  GW_ASSERT_OK(join(a, "s3", "r2", "c"));
  gw_frame_t *f = gw_frame_from(GW_EV_NEWMESSAGE, "M", 1);

  lg.n = 0;
  GW_ASSERT_OK(gw_adapter_emit_room(a, "s1", "r1", f, on_result, NULL));
  GW_ASSERT_OK(last_status);
  GW_ASSERT_EQ(count(1, "M") + count(2, "M"), 2);
  GW_ASSERT_EQ(lg.n, 2);

  lg.n = 0;
  GW_ASSERT_OK(gw_adapter_emit_dm(a, "s1", "r1", "s2", f, on_result, NULL));
  GW_ASSERT_OK(last_status);
  GW_ASSERT_EQ(count(1, "M") + count(2, "M"), 2);
  GW_ASSERT_OK(gw_adapter_emit_dm(a, "s1", "r1", "s1", f, on_result, NULL));
  GW_ASSERT_EQ(count(1, "M"), 2); /* a DM to oneself arrives once */
  lg.n = 0;
  GW_ASSERT_OK(gw_adapter_emit_dm(a, "s1", "r1", "s3", f, on_result, NULL));
  GW_ASSERT_EQ(last_status, GW_ENOTFOUND);
  GW_ASSERT_OK(gw_adapter_emit_dm(a, "s1", "r1", "nobody", f, on_result, NULL));
  GW_ASSERT_EQ(last_status, GW_ENOTFOUND);
  GW_ASSERT_EQ(lg.n, 0);
  GW_ASSERT_EQ(f->refs, 1); /* the hook took no reference */
  gw_frame_unref(f);
  finish(a);
}

static void test_rename(void) {
  gw_adapter_t *a = make(0, 0);
  GW_ASSERT_OK(gw_adapter_attach(a, "s1", &handles[1]));
  GW_ASSERT_OK(gw_adapter_attach(a, "s2", &handles[2]));
  GW_ASSERT_OK(gw_adapter_attach(a, "s3", &handles[3]));
  GW_ASSERT_OK(join(a, "s1", "r1", "alice"));
  GW_ASSERT_OK(join(a, "s2", "r1", "bob"));
  GW_ASSERT_OK(join(a, "s3", "r2", "c"));

  /* Another name in the same room: the leave effects, then the join
   * effects, in that order; the room and its place stay. */
  lg.n = 0;
  GW_ASSERT_OK(join(a, "s1", "r1", "carol"));
  GW_ASSERT_EQ(lg.n, 5);
  GW_ASSERT_EQ(lg.who[0], 2);
  GW_ASSERT_STREQ(lg.what[0], "42[\"notice\",\"alice left the room.\"]");
  GW_ASSERT_EQ(lg.who[1], 2);
  GW_ASSERT_STREQ(lg.what[1], "42[\"userList\",[{\"userName\":\"bob\","
                              "\"key\":\"s2\"}]]");
  GW_ASSERT_EQ(lg.who[2], 2);
  GW_ASSERT_STREQ(lg.what[2], "42[\"notice\",\"carol joined the room.\"]");
  const char *ul = "42[\"userList\",[{\"userName\":\"bob\",\"key\":\"s2\"},"
                   "{\"userName\":\"carol\",\"key\":\"s1\"}]]";
  GW_ASSERT_EQ(count(1, ul), 1);
  GW_ASSERT_EQ(count(2, ul), 1);
  GW_ASSERT_STREQ(lg.what[4], ul);

  /* Alone in the room: it survives the rename, so no roomList. */
  lg.n = 0;
  GW_ASSERT_OK(join(a, "s3", "r2", "d"));
  GW_ASSERT_EQ(lg.n, 1);
  GW_ASSERT_EQ(count(3, "42[\"userList\",[{\"userName\":\"d\",\"key\":"
                        "\"s3\"}]]"),
               1);
  gw_adapter_stats_t st;
  gw_adapter_stats(a, &st);
  GW_ASSERT_EQ(st.rooms, 2);
  GW_ASSERT_EQ(st.local_members, 3);

  /* A name taken by another member is refused; the socket stays put. */
  lg.n = 0;
  GW_ASSERT_EQ(join(a, "s1", "r1", "bob"), GW_ENAMETAKEN);
  GW_ASSERT_EQ(lg.n, 0);
  gw_adapter_stats(a, &st);
  GW_ASSERT_EQ(st.local_members, 3);
  finish(a);
}

static void test_limits(void) {
  gw_adapter_t *a = make(1, 1);
  GW_ASSERT_OK(gw_adapter_attach(a, "s1", &handles[1]));
  GW_ASSERT_OK(gw_adapter_attach(a, "s2", &handles[2]));
  GW_ASSERT_OK(join(a, "s1", "r1", "a"));
  GW_ASSERT_EQ(join(a, "s2", "r2", "b"), GW_EROOMLIMIT);
  GW_ASSERT_EQ(join(a, "s2", "r1", "b"), GW_EROOMFULL);
  /* Moving away from a full room to a new one frees the room slot. */
  GW_ASSERT_OK(join(a, "s1", "r3", "a"));
  GW_ASSERT_EQ(join(a, "s2", "r3", "b"), GW_EROOMFULL);
  finish(a);
}

static int peer_calls;
static void on_peer(void *arg, int status, const char *addr) {
  (void)arg;
  (void)status;
  (void)addr;
  peer_calls++;
}

/* One process has no peers: every well-formed tag is unknown, answered at
 * once by the return code; the callback never runs. */
static void test_peer_lookup(void) {
  gw_adapter_cfg_t cfg = {0};
  cfg.deliver = on_deliver;
  char tag[] = "Ab3_-z", addr[] = "10.0.0.7:3000";
  cfg.peer_tag = tag;
  cfg.advertise = addr;
  int err = 0;
  gw_adapter_t *a = gw_adapter_memory_new(&cfg, &err);
  GW_ASSERT(a != NULL);
  tag[0] = addr[0] = 'X'; /* borrowed during _new only */
  peer_calls = 0;
  GW_ASSERT_EQ(gw_adapter_peer_lookup(a, "Ab3_-z", on_peer, NULL),
               GW_ENOTFOUND);
  GW_ASSERT_EQ(gw_adapter_peer_lookup(a, "zzzzzz", on_peer, NULL),
               GW_ENOTFOUND);
  /* Not a tag (too short, too long, outside the alphabet): GW_EINVAL. */
  static const char *bad[] = {"",       "abcde",  "abcdefg",
                              "ab/def", "ab def", "ab:def"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    GW_ASSERT_EQ(gw_adapter_peer_lookup(a, bad[i], on_peer, NULL), GW_EINVAL);
  GW_ASSERT_EQ(gw_adapter_peer_lookup(a, NULL, on_peer, NULL), GW_EINVAL);
  GW_ASSERT_EQ(peer_calls, 0);
  gw_adapter_stats_t st;
  gw_adapter_stats(a, &st);
  GW_ASSERT_EQ(st.peer_lookups, 9);
  GW_ASSERT_EQ(st.peer_lookup_failures, 0);
  finish(a);

  /* A malformed tag or address is refused as the Redis adapter refuses it. */
  static const char *bad_addr[] = {"", "host port", "h\n:1", "h\x7f:1"};
  cfg.peer_tag = "abc";
  cfg.advertise = NULL;
  err = 0;
  GW_ASSERT(gw_adapter_memory_new(&cfg, &err) == NULL);
  GW_ASSERT_EQ(err, GW_EINVAL);
  cfg.peer_tag = NULL;
  for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
    cfg.advertise = bad_addr[i];
    err = 0;
    GW_ASSERT(gw_adapter_memory_new(&cfg, &err) == NULL);
    GW_ASSERT_EQ(err, GW_EINVAL);
  }
  char longaddr[GW_PEER_ADDR_MAX + 2];
  memset(longaddr, 'a', sizeof(longaddr) - 1);
  longaddr[GW_PEER_ADDR_MAX + 1] = '\0';
  cfg.advertise = longaddr;
  GW_ASSERT(gw_adapter_memory_new(&cfg, &err) == NULL);
  longaddr[GW_PEER_ADDR_MAX] = '\0'; /* exactly the bound: accepted */
  a = gw_adapter_memory_new(&cfg, &err);
  GW_ASSERT(a != NULL);
  finish(a);
}

GW_TEST_LIST = {
    {"join effects", test_join_effects},
    {"leave and detach", test_leave_and_detach},
    {"messages", test_messages},
    {"rename in the same room", test_rename},
    {"limits", test_limits},
    {"peer lookup", test_peer_lookup},
    {NULL, NULL},
};
