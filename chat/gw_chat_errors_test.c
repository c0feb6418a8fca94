/* SPDX-License-Identifier: MIT */
/* gw_chat_errors_test.c: every chat error code the chat can produce,
 * reached through the chat (on the fakes of gw_chat_fake.h) as an ack and
 * as a chatError, with its stats; the session after failed requests; and
 * the error vocabulary (gw_chat_err.h). */
#include "gw_chat_fake.h"

/* ---- 5. every chat error, through the chat ------------------------------- */

typedef struct err_case {
  const char *what;
  int in_room;       /* joined room "r" as "alice" first */
  const char *auth;  /* gw_chat_set_auth_name first, or NULL */
  int rate;          /* rate_limit 1, burst 1, one token spent first */
  int sync_fail;     /* the adapter call returns this at once */
  int async;         /* the adapter call is answered with this later */
  const char *event; /* the Socket.IO array after "42<id>" */
  gw_chat_err_t err; /* expected */
  const char *calls; /* expected adapter calls */
  int limit;         /* expected limit_hits index, or -1 */
} err_case_t;

#define CREATE_R "[\"create\",{\"roomName\":\"r\",\"userName\":\"alice\"}]"

static const err_case_t err_cases[] = {
    /* bad_request: the payload's type, before any state. */
    {"create of a string", 0, NULL, 0, 0, 0, "[\"create\",\"x\"]",
     GW_CE_BAD_REQUEST, "", -1},
    {"create of nothing", 0, NULL, 0, 0, 0, "[\"create\"]", GW_CE_BAD_REQUEST,
     "", -1},
    {"sendMessage of an array", 0, NULL, 0, 0, 0, "[\"sendMessage\",[]]",
     GW_CE_BAD_REQUEST, "", -1},
    {"sendMessage of a string", 1, NULL, 0, 0, 0, "[\"sendMessage\",\"hi\"]",
     GW_CE_BAD_REQUEST, "", -1},
    {"leave of a number", 0, NULL, 0, 0, 0, "[\"leave\",1]", GW_CE_BAD_REQUEST,
     "", -1},
    {"leave of a number in a room", 1, NULL, 0, 0, 0, "[\"leave\",1]",
     GW_CE_BAD_REQUEST, "", -1},
    /* invalid_name */
    {"blank room", 0, NULL, 0, 0, 0,
     "[\"create\",{\"roomName\":\" \\t \",\"userName\":\"alice\"}]",
     GW_CE_INVALID_NAME, "", -1},
    {"no roomName", 0, NULL, 0, 0, 0, "[\"create\",{\"userName\":\"alice\"}]",
     GW_CE_INVALID_NAME, "", -1},
    {"no userName, no token", 0, NULL, 0, 0, 0,
     "[\"create\",{\"roomName\":\"r\"}]", GW_CE_INVALID_NAME, "", -1},
    {"numeric userName", 0, NULL, 0, 0, 0,
     "[\"create\",{\"roomName\":\"r\",\"userName\":7}]", GW_CE_INVALID_NAME, "",
     -1},
    {"control character", 0, NULL, 0, 0, 0,
     "[\"create\",{\"roomName\":\"a\\u0001\",\"userName\":\"alice\"}]",
     GW_CE_INVALID_NAME, "", -1},
    {"name over max_name_chars", 0, NULL, 0, 0, 0,
     "[\"create\",{\"roomName\":\"r\",\"userName\":\"123456789\"}]",
     GW_CE_INVALID_NAME, "", GW_CHAT_LIMIT_NAME_LENGTH},
    {"invalid_name before name_mismatch", 0, "alice", 0, 0, 0,
     "[\"create\",{\"roomName\":\"r\",\"userName\":\"\"}]", GW_CE_INVALID_NAME,
     "", -1},
    /* name_taken: the adapter's answer */
    {"name taken", 0, NULL, 0, 0, GW_ENAMETAKEN, CREATE_R, GW_CE_NAME_TAKEN,
     "join r alice;", -1},
    {"name taken in another room", 1, NULL, 0, 0, GW_ENAMETAKEN,
     "[\"create\",{\"roomName\":\"s\",\"userName\":\"bob\"}]", GW_CE_NAME_TAKEN,
     "join s bob;", -1},
    /* name_mismatch */
    {"another name than the token's", 0, "alice", 0, 0, 0,
     "[\"create\",{\"roomName\":\"r\",\"userName\":\"bob\"}]",
     GW_CE_NAME_MISMATCH, "", -1},
    /* not_in_room: the state, before the fields */
    {"sendMessage in no room", 0, NULL, 0, 0, 0,
     "[\"sendMessage\",{\"message\":\"hi\"}]", GW_CE_NOT_IN_ROOM, "", -1},
    {"empty message in no room", 0, NULL, 0, 0, 0,
     "[\"sendMessage\",{\"message\":\"\"}]", GW_CE_NOT_IN_ROOM, "", -1},
    {"DM to a bad select in no room", 0, NULL, 0, 0, 0,
     "[\"sendMessage\",{\"message\":\"a\",\"select\":2}]", GW_CE_NOT_IN_ROOM,
     "", -1},
    {"leave in no room", 0, NULL, 0, 0, 0, "[\"leave\"]", GW_CE_NOT_IN_ROOM, "",
     -1},
    {"leave the adapter says is in no room", 1, NULL, 0, 0, GW_ENOTINROOM,
     "[\"leave\",{}]", GW_CE_NOT_IN_ROOM, "leave;", -1},
    /* invalid_message */
    {"empty message", 1, NULL, 0, 0, 0, "[\"sendMessage\",{\"message\":\"\"}]",
     GW_CE_INVALID_MESSAGE, "", -1},
    {"no message", 1, NULL, 0, 0, 0, "[\"sendMessage\",{}]",
     GW_CE_INVALID_MESSAGE, "", -1},
    {"numeric message", 1, NULL, 0, 0, 0, "[\"sendMessage\",{\"message\":1}]",
     GW_CE_INVALID_MESSAGE, "", -1},
    {"message with NUL", 1, NULL, 0, 0, 0,
     "[\"sendMessage\",{\"message\":\"a\\u0000\"}]", GW_CE_INVALID_MESSAGE, "",
     -1},
    {"message over max_message_bytes", 1, NULL, 0, 0, 0,
     "[\"sendMessage\",{\"message\":\"0123456789abcdefg\"}]",
     GW_CE_INVALID_MESSAGE, "", GW_CHAT_LIMIT_MESSAGE_SIZE},
    /* user_not_found */
    {"select not a string", 1, NULL, 0, 0, 0,
     "[\"sendMessage\",{\"message\":\"a\",\"select\":2}]", GW_CE_USER_NOT_FOUND,
     "", -1},
    {"select nobody", 1, NULL, 0, 0, GW_ENOTFOUND,
     "[\"sendMessage\",{\"message\":\"a\",\"select\":\"nobody\"}]",
     GW_CE_USER_NOT_FOUND, "dm r nobody;", -1},
    {"select nobody, refused at once", 1, NULL, 0, GW_ENOTFOUND, 0,
     "[\"sendMessage\",{\"message\":\"a\",\"select\":\"nobody\"}]",
     GW_CE_USER_NOT_FOUND, "dm r nobody;", -1},
    /* rate_limited */
    {"over the rate", 0, NULL, 1, 0, 0, CREATE_R, GW_CE_RATE_LIMITED, "",
     GW_CHAT_LIMIT_RATE},
    /* unknown_event */
    {"unknown event", 0, NULL, 0, 0, 0, "[\"hello\",{}]", GW_CE_UNKNOWN_EVENT,
     "", -1},
    {"unknown event in a room", 1, NULL, 0, 0, 0, "[\"Create\"]",
     GW_CE_UNKNOWN_EVENT, "", -1},
    /* room_limit, room_full */
    {"room limit", 0, NULL, 0, 0, GW_EROOMLIMIT, CREATE_R, GW_CE_ROOM_LIMIT,
     "join r alice;", GW_CHAT_LIMIT_ROOMS},
    {"room full", 0, NULL, 0, 0, GW_EROOMFULL, CREATE_R, GW_CE_ROOM_FULL,
     "join r alice;", GW_CHAT_LIMIT_ROOM_MEMBERS},
    {"room full, refused at once", 0, NULL, 0, GW_EROOMFULL, 0, CREATE_R,
     GW_CE_ROOM_FULL, "join r alice;", GW_CHAT_LIMIT_ROOM_MEMBERS},
    /* unavailable: GW_EUNAVAIL and GW_ETIMEDOUT, late or at once */
    {"join unavailable", 0, NULL, 0, 0, GW_EUNAVAIL, CREATE_R,
     GW_CE_UNAVAILABLE, "join r alice;", -1},
    {"join timed out", 0, NULL, 0, 0, GW_ETIMEDOUT, CREATE_R, GW_CE_UNAVAILABLE,
     "join r alice;", -1},
    {"join unavailable at once", 0, NULL, 0, GW_EUNAVAIL, 0, CREATE_R,
     GW_CE_UNAVAILABLE, "join r alice;", -1},
    {"leave timed out", 1, NULL, 0, 0, GW_ETIMEDOUT, "[\"leave\"]",
     GW_CE_UNAVAILABLE, "leave;", -1},
    {"leave unavailable at once", 1, NULL, 0, GW_EUNAVAIL, 0, "[\"leave\"]",
     GW_CE_UNAVAILABLE, "leave;", -1},
    {"room message timed out", 1, NULL, 0, 0, GW_ETIMEDOUT,
     "[\"sendMessage\",{\"message\":\"a\"}]", GW_CE_UNAVAILABLE, "room r;", -1},
    {"room message unavailable at once", 1, NULL, 0, GW_EUNAVAIL, 0,
     "[\"sendMessage\",{\"message\":\"a\"}]", GW_CE_UNAVAILABLE, "room r;", -1},
    {"DM unavailable", 1, NULL, 0, 0, GW_EUNAVAIL,
     "[\"sendMessage\",{\"message\":\"a\",\"select\":\"x\"}]",
     GW_CE_UNAVAILABLE, "dm r x;", -1},
    {"DM timed out at once", 1, NULL, 0, GW_ETIMEDOUT, 0,
     "[\"sendMessage\",{\"message\":\"a\",\"select\":\"x\"}]",
     GW_CE_UNAVAILABLE, "dm r x;", -1},
    /* internal: an adapter status with no protocol meaning */
    {"join out of memory", 0, NULL, 0, 0, GW_ENOMEM, CREATE_R, GW_CE_INTERNAL,
     "join r alice;", -1},
    {"join full at once", 0, NULL, 0, GW_EFULL, 0, CREATE_R, GW_CE_INTERNAL,
     "join r alice;", -1},
    {"room message closed", 1, NULL, 0, 0, GW_ECLOSED,
     "[\"sendMessage\",{\"message\":\"a\"}]", GW_CE_INTERNAL, "room r;", -1},
    {"leave out of memory", 1, NULL, 0, 0, GW_ENOMEM, "[\"leave\"]",
     GW_CE_INTERNAL, "leave;", -1},
};

/* The wire form of each code, written out here so that a change to the
 * map shows up as a failing test. */
static const char *const want_code[GW_CE__COUNT] = {
    [GW_CE_BAD_REQUEST] = "bad_request",
    [GW_CE_INVALID_NAME] = "invalid_name",
    [GW_CE_NAME_TAKEN] = "name_taken",
    [GW_CE_NAME_MISMATCH] = "name_mismatch",
    [GW_CE_NOT_IN_ROOM] = "not_in_room",
    [GW_CE_INVALID_MESSAGE] = "invalid_message",
    [GW_CE_USER_NOT_FOUND] = "user_not_found",
    [GW_CE_RATE_LIMITED] = "rate_limited",
    [GW_CE_UNKNOWN_EVENT] = "unknown_event",
    [GW_CE_ROOM_LIMIT] = "room_limit",
    [GW_CE_ROOM_FULL] = "room_full",
    [GW_CE_UNAVAILABLE] = "unavailable",
    [GW_CE_INTERNAL] = "internal",
};
static const char *const want_msg[GW_CE__COUNT] = {
    [GW_CE_BAD_REQUEST] = "payload must be an object",
    [GW_CE_INVALID_NAME] = MSG_NAME,
    [GW_CE_NAME_TAKEN] = MSG_NAMETAKEN,
    [GW_CE_NAME_MISMATCH] = "your token fixes your user name; use that name",
    [GW_CE_NOT_IN_ROOM] = MSG_NOT_IN,
    [GW_CE_INVALID_MESSAGE] =
        "message must be a non-empty string of at most 4096 bytes",
    [GW_CE_USER_NOT_FOUND] = "no such user in your room",
    [GW_CE_RATE_LIMITED] = MSG_RATE,
    [GW_CE_UNKNOWN_EVENT] = "unknown event",
    [GW_CE_ROOM_LIMIT] = "too many rooms",
    [GW_CE_ROOM_FULL] = "this room is full",
    [GW_CE_UNAVAILABLE] = "chat backend unavailable; try again",
    [GW_CE_INTERNAL] = "internal error",
};

static void run_err_case(const err_case_t *k, int with_ack) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  if (k->rate) {
    cfg.rate_limit = 1;
    cfg.rate_burst = 1;
  }
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  if (k->in_room) {
    ev(&w, a, "42" CREATE_R);
    complete(&w.ad, 0);
  }
  if (k->rate)
    ev(&w, a, "42[\"hello\"]"); /* spends the only token */
  if (k->auth != NULL)
    GW_ASSERT_OK(
        gw_chat_set_auth_name(&w.chat, &a->base, k->auth, strlen(k->auth)));
  /* From here on only the event under test counts. */
  memset(&w.chat.stats, 0, sizeof(w.chat.stats));
  a->read = a->n_frames;
  w.ad.log[0] = '\0';

  char raw[256];
  snprintf(raw, sizeof(raw), "42%s%s", with_ack ? "17" : "", k->event);
  w.ad.fail_next = k->sync_fail;
  ev(&w, a, raw);
  GW_ASSERT_EQ(w.ad.fail_next, 0); /* the call it was meant for was made */
  if (k->async != 0) {
    GW_ASSERT_EQ(n_pending(&w.ad), 1);
    EXPECT_NO_FRAME(a); /* the answer waits for the adapter */
    complete(&w.ad, k->async);
  }
  GW_ASSERT_EQ(n_pending(&w.ad), 0);

  char want[512];
  if (with_ack)
    snprintf(want, sizeof(want),
             "4317[{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\""
             "}}]",
             want_code[k->err], want_msg[k->err]);
  else
    snprintf(want, sizeof(want),
             "42[\"chatError\",{\"code\":\"%s\",\"message\":\"%s\"}]",
             want_code[k->err], want_msg[k->err]);
  if (a->read >= a->n_frames)
    GW_TEST_FAIL("%s (ack %d): no answer", k->what, with_ack);
  if (strcmp(a->frames[a->read], want) != 0)
    GW_TEST_FAIL("%s (ack %d): got %s, want %s", k->what, with_ack,
                 a->frames[a->read], want);
  a->read++;
  EXPECT_NO_FRAME(a);
  if (strcmp(w.ad.log, k->calls) != 0)
    GW_TEST_FAIL("%s: calls \"%s\", want \"%s\"", k->what, w.ad.log, k->calls);
  w.ad.log[0] = '\0';

  for (int e = 0; e < GW_CE__COUNT; e++)
    if (w.chat.stats.errors[e] != (uint64_t)(e == (int)k->err))
      GW_TEST_FAIL("%s: errors[%s] = %" PRIu64, k->what, want_code[e],
                   w.chat.stats.errors[e]);
  for (int l = 0; l < GW_CHAT_LIMIT__COUNT; l++)
    if (w.chat.stats.limit_hits[l] != (uint64_t)(l == k->limit))
      GW_TEST_FAIL("%s: limit_hits[%s] = %" PRIu64, k->what,
                   gw_chat_limit_name((gw_chat_limit_t)l),
                   w.chat.stats.limit_hits[l]);
  GW_ASSERT_EQ(a->holds, a->releases);
  /* Nothing is left busy: the next request is handled at once. */
  ev(&w, a, "42[\"hello\"]");
  if (k->rate)
    EXPECT_FRAME(a, ERR_EV("rate_limited", MSG_RATE));
  else
    EXPECT_FRAME(a, ERR_EV("unknown_event", "unknown event"));
  EXPECT_NO_FRAME(a);
  sock_close(a);
  GW_ASSERT_EQ(g_frees, 1);
  world_fini(&w);
}

static void test_every_error(void) {
  int seen[GW_CE__COUNT][2] = {{0}};
  for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
    for (int with_ack = 0; with_ack < 2; with_ack++) {
      run_err_case(&err_cases[i], with_ack);
      seen[err_cases[i].err][with_ack]++;
    }
  }
  /* Every code of the map was reached, both ways. */
  for (int e = 0; e < GW_CE__COUNT; e++)
    if (!seen[e][0] || !seen[e][1])
      GW_TEST_FAIL("code %s never reached", want_code[e]);
}

/* What a failed request leaves behind: the session where it was, except
 * that a leave the adapter says was in no room leaves no room either. */
static void test_session_after_errors(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  ev(&w, a, "42" CREATE_R);
  complete(&w.ad, 0);
  ev(&w, a, "42[\"create\",{\"roomName\":\"s\",\"userName\":\"bob\"}]");
  complete(&w.ad, GW_ENAMETAKEN);
  ev(&w, a, "42[\"sendMessage\",{\"message\":\"a\"}]");
  complete(&w.ad, 0);
  expect_message(last_frame(&w.ad), "a", "alice", 0,
                 strtoll(strstr(last_frame(&w.ad), "\"ts\":") + 5, NULL, 10));
  ev(&w, a, "42[\"leave\"]");
  complete(&w.ad, GW_EUNAVAIL);
  ev(&w, a, "42[\"sendMessage\",{\"message\":\"b\"}]");
  complete(&w.ad, 0);
  ev(&w, a, "42[\"leave\"]");
  complete(&w.ad, GW_ENOTINROOM);
  ev(&w, a, "42[\"sendMessage\",{\"message\":\"c\"}]");
  EXPECT_CALLS(&w.ad, "join r alice;join s bob;room r;leave;room r;leave;");
  EXPECT_FRAME(a, ERR_EV("name_taken", MSG_NAMETAKEN));
  EXPECT_FRAME(a, ERR_EV("unavailable", "chat backend unavailable; try again"));
  EXPECT_FRAME(a, ERR_EV("not_in_room", MSG_NOT_IN));
  EXPECT_FRAME(a, ERR_EV("not_in_room", MSG_NOT_IN));
  EXPECT_NO_FRAME(a);
  /* A new room under a new name. */
  ev(&w, a, "421[\"create\",{\"roomName\":\"s\",\"userName\":\"bob\"}]");
  complete(&w.ad, 0);
  ev(&w, a, "42[\"sendMessage\",{\"message\":\"d\"}]");
  complete(&w.ad, 0);
  EXPECT_CALLS(&w.ad, "join s bob;room s;");
  GW_ASSERT(strstr(last_frame(&w.ad), "\"user\":\"bob\"") != NULL);
  EXPECT_FRAME(a, "431[{\"ok\":true,\"room\":\"s\",\"userName\":\"bob\","
                  "\"key\":\"AAAAAAAAAAAAAAAAAAA1\"}]");
  EXPECT_NO_FRAME(a);
  sock_close(a);
  world_fini(&w);
}

/* gw_chat_err_from for every GW_E* code (and others), and the wire form
 * and message of every chat error. */
static void test_err_vocabulary(void) {
  static const struct {
    int status;
    gw_chat_err_t want;
  } map[] = {
      {GW_EFULL, GW_CE_INTERNAL},         {GW_EPROTO, GW_CE_INTERNAL},
      {GW_EINVAL, GW_CE_BAD_REQUEST},     {GW_ENAMETAKEN, GW_CE_NAME_TAKEN},
      {GW_ENOTINROOM, GW_CE_NOT_IN_ROOM}, {GW_ENOTFOUND, GW_CE_USER_NOT_FOUND},
      {GW_EROOMLIMIT, GW_CE_ROOM_LIMIT},  {GW_EROOMFULL, GW_CE_ROOM_FULL},
      {GW_EUNAVAIL, GW_CE_UNAVAILABLE},   {GW_ETIMEDOUT, GW_CE_UNAVAILABLE},
      {GW_ETOOLONG, GW_CE_INTERNAL},      {GW_ECLOSED, GW_CE_INTERNAL},
      {GW_ENOMEM, GW_CE_INTERNAL},
  };
  static const int all_codes[] = {
#define XX(code, msg) GW_##code,
      GW_ERRNO_MAP(XX)
#undef XX
  };
  size_t n = sizeof(map) / sizeof(map[0]);
  /* A GW_E* code added to gw_err.h must be added here. */
  GW_ASSERT_EQ(n, sizeof(all_codes) / sizeof(all_codes[0]));
  for (size_t i = 0; i < n; i++) {
    GW_ASSERT_EQ(map[i].status, all_codes[i]);
    if (gw_chat_err_from(map[i].status) != map[i].want)
      GW_TEST_FAIL("gw_chat_err_from(%s) = %s, want %s",
                   gw_strerror(map[i].status),
                   gw_chat_err_code(gw_chat_err_from(map[i].status)),
                   want_code[map[i].want]);
  }
  GW_ASSERT_EQ(gw_chat_err_from(0), GW_CE_INTERNAL);
  GW_ASSERT_EQ(gw_chat_err_from(-2), GW_CE_INTERNAL); /* -ENOENT */
  GW_ASSERT_EQ(gw_chat_err_from(GW__ERR_BASE), GW_CE_INTERNAL);
  for (int e = 0; e < GW_CE__COUNT; e++) {
    GW_ASSERT_STREQ(gw_chat_err_code((gw_chat_err_t)e), want_code[e]);
    GW_ASSERT_STREQ(gw_chat_err_msg((gw_chat_err_t)e), want_msg[e]);
  }
  GW_ASSERT_STREQ(gw_chat_err_code(GW_CE__COUNT), "internal");
  GW_ASSERT_STREQ(gw_chat_err_msg((gw_chat_err_t)-1), "internal error");
  GW_ASSERT_STREQ(gw_chat_limit_name(GW_CHAT_LIMIT_INBOX), "inbox");
  GW_ASSERT_STREQ(gw_in_event_name(GW_IN_SENDMESSAGE), "sendMessage");
}

/* The stats count an event by its whole name, as the request side matches
 * it: `create\u0000x` is answered unknown_event and counted as "other". */
static void test_events_in_nul_name(void) {
  world_t w;
  gw_chat_cfg_t cfg = cfg_default();
  world_init(&w, &cfg);
  fake_sock_t *a = sock_new(&w.chat, SID_A);
  ev(&w, a, "42[\"create\\u0000x\",{\"roomName\":\"r\",\"userName\":\"a\"}]");
  EXPECT_FRAME(a, ERR_EV("unknown_event", "unknown event"));
  EXPECT_CALLS(&w.ad, "");
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_OTHER], 1);
  GW_ASSERT_EQ(w.chat.stats.events_in[GW_IN_CREATE], 0);
  sock_close(a);
  world_fini(&w);
}

GW_TEST_LIST = {
    {"every chat error, as ack and chatError", test_every_error},
    {"session after failed requests", test_session_after_errors},
    {"error vocabulary", test_err_vocabulary},
    {"events_in of a name with a NUL", test_events_in_nul_name},
    {NULL, NULL},
};
