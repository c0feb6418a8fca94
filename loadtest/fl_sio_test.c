/* SPDX-License-Identifier: MIT */
/* fl_sio_test.c: Engine.IO / Socket.IO client parsing with the byte forms
 * of docs/protocol.md ("1. Transport"), the field scans, and the chat
 * request encoders (round trip of the message stamp). */
#include "fl_sio.h"
#include "gw_test.h"

static fl_pkt_type_t parse(const char *s, fl_pkt_t *p) {
  return fl_sio_parse(s, strlen(s), p);
}

static void test_engine_io(void) {
  fl_pkt_t p;
  const char *open = "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[],"
                     "\"pingInterval\":25000,\"pingTimeout\":20000,"
                     "\"maxPayload\":1000000}";
  GW_ASSERT_EQ(parse(open, &p), FL_PKT_OPEN);
  int64_t v;
  GW_ASSERT_OK(fl_json_int(p.data, p.data_len, "pingInterval", &v));
  GW_ASSERT_EQ(v, 25000);
  GW_ASSERT_OK(fl_json_int(p.data, p.data_len, "maxPayload", &v));
  GW_ASSERT_EQ(v, 1000000);
  GW_ASSERT_EQ(fl_json_int(p.data, p.data_len, "nope", &v), -1);
  const char *sid;
  size_t sl;
  GW_ASSERT_OK(fl_json_str(p.data, p.data_len, "sid", &sid, &sl));
  GW_ASSERT_MEMEQ(sid, sl, "lv_VI97HAXpY6yYWAAAC", 20);
  GW_ASSERT_EQ(parse("2", &p), FL_PKT_PING);
  GW_ASSERT_EQ(parse("3", &p), FL_PKT_PONG);
  GW_ASSERT_EQ(parse("1", &p), FL_PKT_CLOSE);
  GW_ASSERT_EQ(parse("6", &p), FL_PKT_NOOP);
  GW_ASSERT_EQ(parse("0", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("9", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("4", &p), FL_PKT_INVALID);
}

static void test_socket_io(void) {
  fl_pkt_t p;
  GW_ASSERT_EQ(parse("40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", &p),
               FL_PKT_CONNECT);
  GW_ASSERT_MEMEQ(p.data, p.data_len, "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", 30);
  GW_ASSERT_EQ(parse("44{\"message\":\"Not authorized\"}", &p),
               FL_PKT_CONNECT_ERROR);
  GW_ASSERT_EQ(parse("41", &p), FL_PKT_DISCONNECT);
  GW_ASSERT_EQ(parse("42[\"roomList\",[\"a\",\"b\"]]", &p), FL_PKT_EVENT);
  GW_ASSERT_MEMEQ(p.name, p.name_len, "roomList", 8);
  GW_ASSERT_EQ(p.ack_id, -1);
  GW_ASSERT_EQ(parse("4212[\"hello\",\"world\"]", &p), FL_PKT_EVENT);
  GW_ASSERT_EQ(p.ack_id, 12);
  GW_ASSERT_MEMEQ(p.name, p.name_len, "hello", 5);
  GW_ASSERT_EQ(parse("42[\"a\\\"b\"]", &p), FL_PKT_EVENT); /* escaped quote */
  GW_ASSERT_MEMEQ(p.name, p.name_len, "a\\\"b", 4);
  GW_ASSERT_EQ(parse("431[{\"ok\":true,\"room\":\"r\",\"key\":\"x\"}]", &p),
               FL_PKT_ACK);
  GW_ASSERT_EQ(p.ack_id, 1);
  GW_ASSERT(fl_json_true(p.data, p.data_len, "ok"));
  GW_ASSERT_EQ(parse("4312[]", &p), FL_PKT_ACK);
  GW_ASSERT_EQ(
      parse("431[{\"ok\":false,\"error\":{\"code\":\"name_taken\"}}]", &p),
      FL_PKT_ACK);
  GW_ASSERT(!fl_json_true(p.data, p.data_len, "ok"));
  /* other namespaces and binary packets are valid but not ours */
  GW_ASSERT_EQ(parse("42/chat,[\"x\"]", &p), FL_PKT_OTHER);
  GW_ASSERT_EQ(parse("451-[\"baz\",{\"_placeholder\":true,\"num\":0}]", &p),
               FL_PKT_OTHER);
  /* malformed */
  GW_ASSERT_EQ(parse("43[\"no id\"]", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("42{}", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("42[\"unterminated", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("42[]", &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(parse("47", &p), FL_PKT_INVALID);
}

static void test_requests_and_stamp(void) {
  char buf[256];
  size_t n = fl_sio_create(buf, sizeof buf, 1, "fl-0000abcd-3", "u17");
  GW_ASSERT_MEMEQ(buf, n,
                  "421[\"create\",{\"roomName\":\"fl-0000abcd-3\","
                  "\"userName\":\"u17\"}]",
                  strlen("421[\"create\",{\"roomName\":\"fl-0000abcd-3\","
                         "\"userName\":\"u17\"}]"));
  GW_ASSERT_EQ(fl_sio_create(buf, 10, 1, "r", "u"), 0);

  n = fl_sio_message(buf, sizeof buf, 0xabcd0123u, 123456789, 42, 64);
  const char *want_head = "42[\"sendMessage\",{\"message\":\"fl1:abcd0123:"
                          "123456789:42:xxx";
  GW_ASSERT(n > 0 && memcmp(buf, want_head, strlen(want_head)) == 0);
  const char *tail = "\",\"select\":\"all\"}]";
  GW_ASSERT_OK(strcmp(buf + n - strlen(tail), tail));
  /* the message string is exactly |payload| characters */
  const char *m = strstr(buf, "fl1:");
  GW_ASSERT_EQ(strstr(m, "\"") - m, 64);
  /* a short payload still carries the whole stamp */
  n = fl_sio_message(buf, sizeof buf, 1, 5, 6, 1);
  GW_ASSERT(strstr(buf, "\"fl1:00000001:5:6:\"") != NULL);
  GW_ASSERT_EQ(fl_sio_message(buf, 100, 1, 5, 6, 1000), 0);

  /* the server's newMessage, in either key order, yields the stamp */
  const char *ev =
      "42[\"newMessage\",{\"message\":\"fl1:abcd0123:987654:3:xx\","
      "\"user\":\"u1\",\"dm\":false,\"ts\":1}]";
  fl_pkt_t p;
  GW_ASSERT_EQ(parse(ev, &p), FL_PKT_EVENT);
  uint64_t sched = 0;
  GW_ASSERT_OK(fl_sio_stamp(p.data, p.data_len, 0xabcd0123u, &sched));
  GW_ASSERT_EQ(sched, 987654);
  const char *ev2 = "[\"newMessage\",{\"user\":\"u\",\"dm\":false,\"ts\":2,"
                    "\"message\":\"fl1:abcd0123:55:0:\"}]";
  GW_ASSERT_OK(fl_sio_stamp(ev2, strlen(ev2), 0xabcd0123u, &sched));
  GW_ASSERT_EQ(sched, 55);
  /* another run's tag, a human's message, a malformed stamp */
  GW_ASSERT_EQ(fl_sio_stamp(ev2, strlen(ev2), 0xabcd0124u, &sched), -1);
  const char *human = "[\"newMessage\",{\"message\":\"hello\",\"user\":\"a\"}]";
  GW_ASSERT_EQ(fl_sio_stamp(human, strlen(human), 1, &sched), -1);
  const char *bad = "[\"newMessage\",{\"message\":\"fl1:00000001:12x:\"}]";
  GW_ASSERT_EQ(fl_sio_stamp(bad, strlen(bad), 1, &sched), -1);
}

/* Collects the packets of |payload| as "[pkt]" strings into |out|. */
static size_t split(const char *payload, size_t n, char *out, size_t cap) {
  const char *p = payload, *pkt;
  size_t len, o = 0, count = 0;
  out[0] = '\0';
  while (fl_eio_next(&p, &n, &pkt, &len)) {
    o += (size_t)snprintf(out + o, cap - o, "[%.*s]", (int)len, pkt);
    count++;
  }
  GW_ASSERT(p == NULL && n == 0);
  GW_ASSERT_EQ(fl_eio_next(&p, &n, &pkt, &len), 0); /* stays done */
  return count;
}

static void test_payloads(void) {
  char out[256];
  /* the byte forms of docs/protocol.md and engine.io-parser */
  const char *body = "4hello\x1e"
                     "2\x1e"
                     "4world";
  GW_ASSERT_EQ(split(body, strlen(body), out, sizeof out), 3);
  GW_ASSERT_STREQ(out, "[4hello][2][4world]");
  GW_ASSERT_EQ(split("6", 1, out, sizeof out), 1);
  GW_ASSERT_STREQ(out, "[6]");
  /* k separators, k + 1 packets: empty ones are the parser's to refuse */
  GW_ASSERT_EQ(split("", 0, out, sizeof out), 1);
  GW_ASSERT_STREQ(out, "[]");
  GW_ASSERT_EQ(split("2\x1e", 2, out, sizeof out), 2);
  GW_ASSERT_STREQ(out, "[2][]");
  GW_ASSERT_EQ(split("\x1e\x1e", 2, out, sizeof out), 3);
  GW_ASSERT_STREQ(out, "[][][]");
  /* binary packets travel as b<base64>; a packet may hold any other byte */
  const char *bin = "bAQIDBA==\x1e"
                    "42[\"a\\u001e\"]";
  GW_ASSERT_EQ(split(bin, strlen(bin), out, sizeof out), 2);
  GW_ASSERT_STREQ(out, "[bAQIDBA==][42[\"a\\u001e\"]]");
  fl_pkt_t p;
  GW_ASSERT_EQ(fl_sio_parse("bAQIDBA==", 9, &p), FL_PKT_INVALID);
  GW_ASSERT_EQ(fl_sio_parse("", 0, &p), FL_PKT_INVALID);

  /* POST batching: whole packets up to max bytes, at least one packet */
  const char *q = "40\x1e"
                  "3\x1e"
                  "42[\"x\"]"; /* 2 + 1 + 1 + 1 + 7 */
  size_t qn = strlen(q);
  GW_ASSERT_EQ(fl_eio_cut(q, qn, 1000), qn);
  GW_ASSERT_EQ(fl_eio_cut(q, qn, qn), qn);
  GW_ASSERT_EQ(fl_eio_cut(q, qn, qn - 1), 4); /* "40\x1e3" */
  GW_ASSERT_EQ(fl_eio_cut(q, qn, 4), 4);
  GW_ASSERT_EQ(fl_eio_cut(q, qn, 3), 2); /* "40" */
  GW_ASSERT_EQ(fl_eio_cut(q, qn, 2), 2);
  GW_ASSERT_EQ(fl_eio_cut(q, qn, 1), 2);        /* too big: sent alone */
  GW_ASSERT_EQ(fl_eio_cut("4abcdef", 7, 3), 7); /* one oversize packet */
}

static void test_targets(void) {
  char buf[256];
  const char *ws = "/socket.io/?EIO=4&transport=websocket";
  size_t n = fl_eio_target(buf, sizeof buf, ws, "polling", 7, NULL);
  GW_ASSERT_MEMEQ(buf, n, "/socket.io/?EIO=4&transport=polling&t=7",
                  strlen("/socket.io/?EIO=4&transport=polling&t=7"));
  n = fl_eio_target(buf, sizeof buf, ws, "polling", 8, "AbC-d_9");
  GW_ASSERT_STREQ(buf, "/socket.io/?EIO=4&transport=polling&t=8&sid=AbC-d_9");
  GW_ASSERT_EQ(n, strlen(buf));
  /* the upgrade: the websocket target with the sid, no t */
  fl_eio_target(buf, sizeof buf, ws, "websocket", -1, "s1");
  GW_ASSERT_STREQ(buf, "/socket.io/?EIO=4&transport=websocket&sid=s1");
  /* the parameter anywhere in the query; other parameters are kept */
  fl_eio_target(buf, sizeof buf, "/x/?transport=websocket&EIO=4&k=v", "polling",
                1, NULL);
  GW_ASSERT_STREQ(buf, "/x/?transport=polling&EIO=4&k=v&t=1");
  fl_eio_target(buf, sizeof buf, "/x/?EIO=4&xtransport=a", "polling", -1, NULL);
  GW_ASSERT_STREQ(buf, "/x/?EIO=4&xtransport=a&transport=polling");
  fl_eio_target(buf, sizeof buf, "/x/", "polling", -1, NULL);
  GW_ASSERT_STREQ(buf, "/x/?transport=polling");
  fl_eio_target(buf, sizeof buf, "/x/?", "polling", -1, NULL);
  GW_ASSERT_STREQ(buf, "/x/?transport=polling");
  GW_ASSERT_EQ(fl_eio_target(buf, 20, ws, "polling", 1, NULL), 0);
  GW_ASSERT_EQ(fl_eio_target(buf, 43, ws, "polling", 12345, NULL), 0);
  /* sids go into the query unescaped, so only safe ones are accepted */
  GW_ASSERT(fl_eio_sid_ok("lv_VI97HAXpY6yYWAAAC", 20));
  GW_ASSERT(fl_eio_sid_ok("a-b.c~d", 7));
  GW_ASSERT(!fl_eio_sid_ok("", 0));
  GW_ASSERT(!fl_eio_sid_ok("a&b", 3));
  GW_ASSERT(!fl_eio_sid_ok("a b", 3));
  GW_ASSERT(!fl_eio_sid_ok("a%20", 4));
  char longsid[80];
  memset(longsid, 'a', sizeof longsid);
  GW_ASSERT(fl_eio_sid_ok(longsid, 63));
  GW_ASSERT(!fl_eio_sid_ok(longsid, 64));
}

GW_TEST_LIST = {{"engine.io packets", test_engine_io},
                {"socket.io packets", test_socket_io},
                {"requests and stamps", test_requests_and_stamp},
                {"polling payloads", test_payloads},
                {"request targets", test_targets},
                {NULL, NULL}};
