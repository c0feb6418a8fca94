/* SPDX-License-Identifier: MIT */
/* gw_chat_state_test.c: the stateful chat (gw_chat.c) with no server.
 * A fake socket records every frame the chat sends as its Socket.IO text
 * and counts holds and releases; a stub adapter records every call and
 * answers only when the test says so (or at once, or with a synchronous
 * error). Covers the order of requests behind a membership change, the
 * inbox bound, a socket closed while its request is in flight, the token
 * bucket, every chat error code (as an ack and as a chatError) and the
 * success acks. */
#include "gw_test.h"

#include <stdarg.h>
#include <time.h>
#include <uv.h>

#include "gw_chat.h"
#include "gw_eio.h"
#include "gw_err.h"
#include "gw_frame.h"

/* ---- counters that outlive the sockets ----------------------------------- */

static int g_holds, g_releases, g_frees, g_sends_dead;

/* ---- fake socket --------------------------------------------------------- */

typedef struct fake_sock {
  gw_socket_t base; /* first: the chat sees only this */
  int alive;
  int refs; /* the transport's own reference plus the chat's holds */
  int holds, releases;
  char **frames; /* the text of every frame sent, in order (owned) */
  int n_frames, cap_frames;
  int read; /* frames already taken by next_frame */
} fake_sock_t;

static void sock_free(fake_sock_t *fs) {
  gw_socket_fini(&fs->base);
  for (int i = 0; i < fs->n_frames; i++)
    free(fs->frames[i]);
  free(fs->frames);
  /* Poison what is left: a chat that kept the pointer fails under ASan
   * (heap-use-after-free) and, without it, on the ops pointer. */
  memset(fs, 0xA5, sizeof(*fs));
  free(fs);
  g_frees++;
}

static int fs_send(gw_socket_t *s, gw_frame_t *f) {
  fake_sock_t *fs = (fake_sock_t *)s;
  GW_ASSERT(fs->refs > 0);
  GW_ASSERT(f != NULL && f->refs > 0);
  if (!fs->alive) {
    g_sends_dead++;
    return GW_ECLOSED;
  }
  char *t = malloc(f->len + 1);
  GW_ASSERT(t != NULL);
  memcpy(t, gw_frame_data(f), f->len);
  t[f->len] = '\0';
  /* The frame's kind goes with its text (metrics count by kind). */
  if (strncmp(t, "43", 2) == 0)
    GW_ASSERT_EQ(f->kind, GW_EV_ACK);
  else if (strncmp(t, "42[\"chatError\",", 15) == 0)
    GW_ASSERT_EQ(f->kind, GW_EV_CHATERROR);
  else
    GW_TEST_FAIL("unexpected frame sent: %s", t);
  if (fs->n_frames == fs->cap_frames) {
    fs->cap_frames = fs->cap_frames ? 2 * fs->cap_frames : 16;
    fs->frames = realloc(fs->frames, sizeof(char *) * (size_t)fs->cap_frames);
    GW_ASSERT(fs->frames != NULL);
  }
  fs->frames[fs->n_frames++] = t;
  return 0;
}

static void fs_hold(gw_socket_t *s) {
  fake_sock_t *fs = (fake_sock_t *)s;
  GW_ASSERT(fs->refs > 0); /* never revived once freed */
  fs->refs++;
  fs->holds++;
  g_holds++;
}

static void fs_release(gw_socket_t *s) {
  fake_sock_t *fs = (fake_sock_t *)s;
  GW_ASSERT(fs->refs > 0);
  fs->releases++;
  g_releases++;
  GW_ASSERT(fs->releases <= fs->holds);
  if (--fs->refs == 0)
    sock_free(fs);
}

static int fs_alive(const gw_socket_t *s) {
  const fake_sock_t *fs = (const fake_sock_t *)s;
  GW_ASSERT(fs->refs > 0);
  return fs->alive;
}

static const gw_socket_ops_t fake_ops = {
    .send = fs_send,
    .hold = fs_hold,
    .release = fs_release,
    .alive = fs_alive,
};

/* sock_new returns an open socket whose sid is |sid| (20 characters), with
 * the transport's reference. */
static fake_sock_t *sock_new(gw_chat_t *c, const char *sid) {
  fake_sock_t *fs = calloc(1, sizeof(*fs));
  GW_ASSERT(fs != NULL);
  gw_socket_init(&fs->base, &fake_ops, c);
  GW_ASSERT_EQ(strlen(sid), 20);
  memcpy(fs->base.sid, sid, 21);
  fs->alive = 1;
  fs->refs = 1;
  return fs;
}

/* sock_close is the transport's close: the socket is dead, and the
 * transport drops its reference (the chat's holds keep it allocated). */
static void sock_close(fake_sock_t *fs) {
  GW_ASSERT(fs->alive);
  fs->alive = 0;
  if (--fs->refs == 0)
    sock_free(fs);
}

/* next_frame returns the oldest frame not yet taken (owned by |fs|). */
static const char *next_frame(fake_sock_t *fs) {
  if (fs->read >= fs->n_frames)
    GW_TEST_FAIL("no frame left (%d sent)", fs->n_frames);
  return fs->frames[fs->read++];
}

#define EXPECT_FRAME(fs, text) GW_ASSERT_STREQ(next_frame(fs), (text))

#define EXPECT_NO_FRAME(fs)                                                    \
  do {                                                                         \
    if ((fs)->read < (fs)->n_frames)                                           \
      GW_TEST_FAIL("unexpected frame: %s", (fs)->frames[(fs)->read]);          \
  } while (0)

/* ---- stub adapter -------------------------------------------------------- */

typedef struct call {
  char *frame; /* emit_room / emit_dm: the frame's text (owned) */
  gw_result_fn cb;
  void *arg;
  int pending; /* returned 0 and not completed yet */
} call_t;

typedef struct stub {
  gw_adapter_t base; /* first */
  call_t *calls;     /* every call, in order */
  int n_calls, cap_calls;
  char log[8192]; /* "join r alice;room r;leave;dm r <target>;" */
  int fail_next;  /* nonzero: the next call returns it at once */
  int sync;       /* answer each call before returning, with sync_status */
  int sync_status;
  int attaches;
} stub_t;

__attribute__((format(printf, 2, 3))) static void
stub_log(stub_t *a, const char *fmt, ...) {
  size_t n = strlen(a->log);
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(a->log + n, sizeof(a->log) - n, fmt, ap);
  va_end(ap);
  GW_ASSERT(w > 0 && (size_t)w < sizeof(a->log) - n);
}

static int stub_call(stub_t *a, gw_frame_t *f, gw_result_fn cb, void *arg) {
  GW_ASSERT(cb != NULL);
  if (a->n_calls == a->cap_calls) {
    a->cap_calls = a->cap_calls ? 2 * a->cap_calls : 16;
    a->calls = realloc(a->calls, sizeof(call_t) * (size_t)a->cap_calls);
    GW_ASSERT(a->calls != NULL);
  }
  call_t *k = &a->calls[a->n_calls++];
  memset(k, 0, sizeof(*k));
  if (f != NULL) {
    GW_ASSERT_EQ(f->kind, GW_EV_NEWMESSAGE);
    k->frame = malloc(f->len + 1);
    GW_ASSERT(k->frame != NULL);
    memcpy(k->frame, gw_frame_data(f), f->len);
    k->frame[f->len] = '\0';
  }
  if (a->fail_next != 0) {
    int rc = a->fail_next;
    a->fail_next = 0;
    return rc; /* libuv's rule: no callback for a call that failed */
  }
  k->cb = cb;
  k->arg = arg;
  if (a->sync) {
    cb(arg, a->sync_status);
    return 0;
  }
  k->pending = 1;
  return 0;
}

static gw_adapter_t *to_base(stub_t *a) {
  return &a->base;
}

static int st_attach(gw_adapter_t *ad, const char *sid, void *sock) {
  (void)sid;
  (void)sock;
  ((stub_t *)ad)->attaches++;
  return 0;
}

static void st_detach(gw_adapter_t *ad, const char *sid) {
  (void)ad;
  (void)sid;
}

static int st_join(gw_adapter_t *ad, const char *sid, const char *room,
                   const char *user, gw_result_fn cb, void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "join %s %s;", room, user);
  return stub_call(a, NULL, cb, arg);
}

static int st_leave(gw_adapter_t *ad, const char *sid, gw_result_fn cb,
                    void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "leave;");
  return stub_call(a, NULL, cb, arg);
}

static int st_emit_room(gw_adapter_t *ad, const char *sid, const char *room,
                        gw_frame_t *f, gw_result_fn cb, void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "room %s;", room);
  return stub_call(a, f, cb, arg);
}

static int st_emit_dm(gw_adapter_t *ad, const char *sid, const char *room,
                      const char *target, gw_frame_t *f, gw_result_fn cb,
                      void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "dm %s %s;", room, target);
  return stub_call(a, f, cb, arg);
}

static void st_stats(gw_adapter_t *ad, gw_adapter_stats_t *out) {
  (void)ad;
  memset(out, 0, sizeof(*out));
  out->backend_up = 1;
}

static void st_close(gw_adapter_t *ad, gw_close_fn cb, void *arg) {
  (void)ad;
  cb(arg);
}

static void st_free(gw_adapter_t *ad) {
  (void)ad;
}

static const gw_adapter_ops_t stub_ops = {
    .name = "stub",
    .attach = st_attach,
    .detach = st_detach,
    .join = st_join,
    .leave = st_leave,
    .emit_room = st_emit_room,
    .emit_dm = st_emit_dm,
    .stats = st_stats,
    .close = st_close,
    .free = st_free,
};

static int n_pending(const stub_t *a) {
  int n = 0;
  for (int i = 0; i < a->n_calls; i++)
    n += a->calls[i].pending;
  return n;
}

/* complete answers the oldest call still pending with |status|. */
static void complete(stub_t *a, int status) {
  for (int i = 0; i < a->n_calls; i++) {
    call_t *k = &a->calls[i];
    if (k->pending) {
      k->pending = 0;
      k->cb(k->arg, status);
      return;
    }
  }
  GW_TEST_FAIL("complete(%d): no call pending", status);
}

/* EXPECT_CALLS checks the calls made since the last check, then forgets
 * them. */
#define EXPECT_CALLS(a, text)                                                  \
  do {                                                                         \
    GW_ASSERT_STREQ((a)->log, (text));                                         \
    (a)->log[0] = '\0';                                                        \
  } while (0)

/* last_frame is the frame of the last emit call. */
static const char *last_frame(const stub_t *a) {
  GW_ASSERT(a->n_calls > 0 && a->calls[a->n_calls - 1].frame != NULL);
  return a->calls[a->n_calls - 1].frame;
}

/* ---- the world: a loop, the stub and a chat ------------------------------ */

typedef struct world {
  uv_loop_t loop;
  stub_t ad;
  gw_chat_t chat;
} world_t;

static gw_chat_cfg_t cfg_default(void) {
  gw_chat_cfg_t cfg = {
      .rate_limit = 0, /* off unless a test turns it on */
      .rate_burst = 0,
      .max_name_chars = 8,
      .max_message_bytes = 16,
      .inbox_max = 4,
  };
  return cfg;
}

static void world_init(world_t *w, const gw_chat_cfg_t *cfg) {
  memset(w, 0, sizeof(*w));
  g_holds = g_releases = g_frees = g_sends_dead = 0;
  GW_ASSERT_OK(uv_loop_init(&w->loop));
  uv_update_time(&w->loop);
  w->ad.base.ops = &stub_ops;
  w->ad.base.cfg.loop = &w->loop;
  gw_chat_init(&w->chat, &w->loop, to_base(&w->ad), cfg);
}

/* world_fini checks that nothing is left in flight and no hold leaked. */
static void world_fini(world_t *w) {
  GW_ASSERT_EQ(n_pending(&w->ad), 0);
  GW_ASSERT_EQ(g_holds, g_releases);
  GW_ASSERT_EQ(g_sends_dead, 0); /* the chat asks alive before it sends */
  GW_ASSERT_EQ(w->ad.attaches, 0);
  for (int i = 0; i < w->ad.n_calls; i++)
    free(w->ad.calls[i].frame);
  free(w->ad.calls);
  gw_chat_fini(&w->chat);
  GW_ASSERT_OK(uv_loop_close(&w->loop));
}

/* ev hands the Engine.IO packet |raw| to the chat, as the transport does:
 * from a buffer that is gone once the call returns. */
static void ev(world_t *w, fake_sock_t *fs, const char *raw) {
  size_t len = strlen(raw);
  char *buf = malloc(len + 1);
  GW_ASSERT(buf != NULL);
  memcpy(buf, raw, len + 1);
  gw_eio_pkt_t pkt;
  GW_ASSERT_OK(gw_eio_parse(buf, len, &pkt));
  GW_ASSERT_EQ(pkt.eio_type, GW_EIO_MESSAGE);
  GW_ASSERT_EQ(pkt.sio_type, GW_SIO_EVENT);
  gw_chat_on_event(&w->chat, &fs->base, buf, len, &pkt);
  gw_eio_pkt_clear(&pkt);
  memset(buf, 'X', len);
  free(buf);
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* expect_ts_ack takes the next frame, which must be `43<id>[{"ok":true,
 * "ts":<ts>}]` with |lo| <= ts <= |hi|, and returns ts. */
static int64_t expect_ts_ack(fake_sock_t *fs, int id, int64_t lo, int64_t hi) {
  const char *t = next_frame(fs);
  char head[64];
  snprintf(head, sizeof(head), "43%d[{\"ok\":true,\"ts\":", id);
  size_t hl = strlen(head);
  if (strncmp(t, head, hl) != 0)
    GW_TEST_FAIL("not a ts ack %d: %s", id, t);
  char *end;
  long long ts = strtoll(t + hl, &end, 10);
  GW_ASSERT_STREQ(end, "}]");
  GW_ASSERT(end > t + hl);
  if (ts < lo || ts > hi)
    GW_TEST_FAIL("ts %lld outside [%lld, %lld]", ts, (long long)lo,
                 (long long)hi);
  return ts;
}

/* expect_message checks |frame| is the newMessage of |msg| by |user|. */
static void expect_message(const char *frame, const char *msg, const char *user,
                           int dm, int64_t ts) {
  char want[256];
  snprintf(want, sizeof(want),
           "42[\"newMessage\",{\"message\":\"%s\",\"user\":\"%s\",\"dm\":%s,"
           "\"ts\":%lld}]",
           msg, user, dm ? "true" : "false", (long long)ts);
  GW_ASSERT_STREQ(frame, want);
}

static const char SID_A[] = "AAAAAAAAAAAAAAAAAAA1";
static const char SID_B[] = "BBBBBBBBBBBBBBBBBBB2";

#define ERR_ACK(id, code, msg)                                                 \
  "43" #id "[{\"ok\":false,\"error\":{\"code\":\"" code                        \
  "\",\"message\":\"" msg "\"}}]"
#define ERR_EV(code, msg)                                                      \
  "42[\"chatError\",{\"code\":\"" code "\",\"message\":\"" msg "\"}]"
#define MSG_RATE      "too many messages; slow down"
#define MSG_NOT_IN    "join a room first"
#define MSG_NAME      "names must be 1-64 characters without control characters"
#define MSG_NAMETAKEN "that user name is already in the room"

static uint64_t sum_errors(const gw_chat_t *c) {
  uint64_t n = 0;
  for (int i = 0; i < GW_CE__COUNT; i++)
    n += c->stats.errors[i];
  return n;
}

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
    {"every chat error, as ack and chatError", test_every_error},
    {"session after failed requests", test_session_after_errors},
    {"error vocabulary", test_err_vocabulary},
    {"events_in of a name with a NUL", test_events_in_nul_name},
    {NULL, NULL},
};
