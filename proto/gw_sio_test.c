/* SPDX-License-Identifier: MIT */
/* gw_sio_test.c: the Engine.IO / Socket.IO encoders, byte for byte. */
#include "gw_test.h"

#include "gw_eio.h"
#include "gw_sio.h"

#define DATA(f) ((const char *)gw_frame_data(f))

/* expect checks |f|'s payload and kind, and releases it. */
static void expect(gw_frame_t *f, const char *want, gw_ev_kind_t kind) {
  GW_ASSERT(f != NULL);
  GW_ASSERT_MEMEQ(DATA(f), f->len, want, strlen(want));
  GW_ASSERT_EQ(f->kind, kind);
  GW_ASSERT_EQ(f->refs, 1);
  gw_frame_unref(f);
}

static void test_event(void) {
  expect(gw_sio_event(GW_EV_CHATERROR,
                      json_pack("{s:s,s:s}", "code", "x", "message", "y")),
         "42[\"chatError\",{\"code\":\"x\",\"message\":\"y\"}]",
         GW_EV_CHATERROR);
  expect(gw_sio_event(GW_EV_NEWMESSAGE, json_string("a\"b/\xec\x95\x88")),
         "42[\"newMessage\",\"a\\\"b/\xec\x95\x88\"]", GW_EV_NEWMESSAGE);
  expect(gw_sio_event(GW_EV_NOTICE, json_integer(7)), "42[\"notice\",7]",
         GW_EV_NOTICE);
  /* A failed json_pack upstream: NULL in, NULL out. */
  GW_ASSERT(gw_sio_event(GW_EV_NOTICE, NULL) == NULL);
}

static void test_ack(void) {
  expect(gw_sio_ack(42, json_pack("{s:b}", "ok", 1)), "4342[{\"ok\":true}]",
         GW_EV_ACK);
  expect(gw_sio_ack(0, json_array()), "430[[]]", GW_EV_ACK);
  expect(gw_sio_ack(999999999999999, json_null()), "43999999999999999[null]",
         GW_EV_ACK);
  GW_ASSERT(gw_sio_ack(1, NULL) == NULL);
}

static void test_connect(void) {
  expect(gw_sio_connect_ok("AAAAAAAAAAAAAAAAAAA-"),
         "40{\"sid\":\"AAAAAAAAAAAAAAAAAAA-\"}", GW_EV_CONTROL);
  /* The main namespace is left out, with its comma. */
  expect(gw_sio_connect_error(NULL, 0, "unauthorized"),
         "44{\"message\":\"unauthorized\"}", GW_EV_CONTROL);
  expect(gw_sio_connect_error("/chat", 5, "Invalid namespace"),
         "44/chat,{\"message\":\"Invalid namespace\"}", GW_EV_CONTROL);
  /* Only |nsp_len| bytes, written as they are. */
  expect(gw_sio_connect_error("/a\"b,c", 4, "Invalid namespace"),
         "44/a\"b,{\"message\":\"Invalid namespace\"}", GW_EV_CONTROL);
  expect(gw_sio_connect_error("/", 1, "m"), "44/,{\"message\":\"m\"}",
         GW_EV_CONTROL);
  expect(gw_sio_connect_error("", 0, "m"), "44,{\"message\":\"m\"}",
         GW_EV_CONTROL);
  /* The message is JSON. */
  expect(gw_sio_connect_error(NULL, 0, "say \"no\"\n"),
         "44{\"message\":\"say \\\"no\\\"\\n\"}", GW_EV_CONTROL);
  /* A namespace longer than any stack buffer. */
  char nsp[1001];
  memset(nsp, 'n', sizeof(nsp) - 1);
  nsp[0] = '/';
  nsp[1000] = '\0';
  gw_frame_t *f = gw_sio_connect_error(nsp, 1000, "x");
  GW_ASSERT(f != NULL);
  GW_ASSERT_EQ(f->len, 2 + 1000 + 1 + strlen("{\"message\":\"x\"}"));
  GW_ASSERT_MEMEQ(DATA(f) + 2, 1000, nsp, 1000);
  gw_frame_unref(f);
}

static void test_open(void) {
  expect(gw_eio_open("AAAAAAAAAAAAAAAAAAAA", 0, 25000, 20000, 1000000),
         "0{\"sid\":\"AAAAAAAAAAAAAAAAAAAA\",\"upgrades\":[],"
         "\"pingInterval\":25000,\"pingTimeout\":20000,"
         "\"maxPayload\":1000000}",
         GW_EV_CONTROL);
  expect(gw_eio_open("AAAAAAAAAAAAAAAAAAAA", 1, 25000, 20000, 1000000),
         "0{\"sid\":\"AAAAAAAAAAAAAAAAAAAA\",\"upgrades\":[\"websocket\"],"
         "\"pingInterval\":25000,\"pingTimeout\":20000,"
         "\"maxPayload\":1000000}",
         GW_EV_CONTROL);
  expect(gw_eio_open("x", 0, UINT64_MAX, 0, UINT64_MAX),
         "0{\"sid\":\"x\",\"upgrades\":[],"
         "\"pingInterval\":18446744073709551615,\"pingTimeout\":0,"
         "\"maxPayload\":18446744073709551615}",
         GW_EV_CONTROL);
  /* With a real id, and one past the stack buffer. */
  char sid[21];
  GW_ASSERT_OK(gw_eio_sid(sid));
  gw_frame_t *f = gw_eio_open(sid, 0, 1, 2, 3);
  GW_ASSERT(f != NULL && memcmp(DATA(f) + 9, sid, 20) == 0);
  gw_frame_unref(f);
  char big[301];
  memset(big, 's', 300);
  big[300] = '\0';
  f = gw_eio_open(big, 0, 1, 2, 3);
  GW_ASSERT(f != NULL);
  GW_ASSERT_EQ(f->len,
               strlen("0{\"sid\":\"\",\"upgrades\":[],\"pingInterval\":1,"
                      "\"pingTimeout\":2,\"maxPayload\":3}") +
                   300);
  gw_frame_unref(f);
}

static void test_ping(void) {
  expect(gw_eio_ping(), "2", GW_EV_CONTROL);
}

GW_TEST_LIST = {
    {"event", test_event}, {"ack", test_ack},   {"connect", test_connect},
    {"open", test_open},   {"ping", test_ping}, {NULL, NULL},
};
