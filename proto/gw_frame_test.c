/* SPDX-License-Identifier: MIT */
/* gw_frame_test.c: frames, error names and event encoders. */
#include "gw_test.h"

#include "gw_events.h"
#include "gw_frame.h"

#define DATA(f) ((const char *)gw_frame_data(f))

static void test_refcount(void) {
  gw_frame_t *f = gw_frame_from(GW_EV_NOTICE, "42[1]", 5);
  GW_ASSERT(f != NULL);
  GW_ASSERT_EQ(f->refs, 1);
  GW_ASSERT_EQ(gw_frame_ref(f)->refs, 2);
  gw_frame_unref(f);
  GW_ASSERT_EQ(f->refs, 1);
  GW_ASSERT_STREQ(DATA(f), "42[1]");
  GW_ASSERT_EQ(f->len, 5);
  gw_frame_unref(f);
  gw_frame_unref(NULL);
}

static void test_events(void) {
  const char *rooms[] = {"lobby", "방/1", "a\"b"};
  gw_frame_t *f = gw_ev_roomlist(rooms, 3);
  GW_ASSERT_STREQ(DATA(f), "42[\"roomList\",[\"lobby\",\"방/1\",\"a\\\"b\"]]");
  GW_ASSERT_EQ(f->kind, GW_EV_ROOMLIST);
  GW_ASSERT_EQ(f->len, strlen(DATA(f)));
  gw_frame_unref(f);

  f = gw_ev_roomlist(NULL, 0);
  GW_ASSERT_STREQ(DATA(f), "42[\"roomList\",[]]");
  gw_frame_unref(f);

  const char *names[] = {"alice", "bob"}, *keys[] = {"k1", "k2"};
  f = gw_ev_userlist(names, keys, 2);
  GW_ASSERT_STREQ(DATA(f), "42[\"userList\",[{\"userName\":\"alice\",\"key\":"
                           "\"k1\"},{\"userName\":\"bob\",\"key\":\"k2\"}]]");
  gw_frame_unref(f);

  f = gw_ev_notice_joined("<b>앨리스</b>");
  GW_ASSERT_STREQ(DATA(f), "42[\"notice\",\"<b>앨리스</b> joined the room.\"]");
  gw_frame_unref(f);
  f = gw_ev_notice_left("bob");
  GW_ASSERT_STREQ(DATA(f), "42[\"notice\",\"bob left the room.\"]");
  gw_frame_unref(f);
}

static void test_names(void) {
  GW_ASSERT_STREQ(gw_ev_name(GW_EV_NEWMESSAGE), "newMessage");
  GW_ASSERT_STREQ(gw_ev_name(GW_EV_CONTROL), "control");
}

GW_TEST_LIST = {
    {"refcount", test_refcount},
    {"events", test_events},
    {"names", test_names},
    {NULL, NULL},
};
