/* SPDX-License-Identifier: MIT */
/* gw_chat_fake.h: test support for the chat's unit tests (tests only). A
 * fake socket records every frame the chat sends as its Socket.IO text and
 * counts holds and releases; a stub adapter records every call and answers
 * only when the test says so (or at once, or with a synchronous error); a
 * world is a loop, the stub and a chat. */
#ifndef GW_CHAT_FAKE_H
#define GW_CHAT_FAKE_H

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

static inline void sock_free(fake_sock_t *fs) {
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

static inline int fs_send(gw_socket_t *s, gw_frame_t *f) {
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

static inline void fs_hold(gw_socket_t *s) {
  fake_sock_t *fs = (fake_sock_t *)s;
  GW_ASSERT(fs->refs > 0); /* never revived once freed */
  fs->refs++;
  fs->holds++;
  g_holds++;
}

static inline void fs_release(gw_socket_t *s) {
  fake_sock_t *fs = (fake_sock_t *)s;
  GW_ASSERT(fs->refs > 0);
  fs->releases++;
  g_releases++;
  GW_ASSERT(fs->releases <= fs->holds);
  if (--fs->refs == 0)
    sock_free(fs);
}

static inline int fs_alive(const gw_socket_t *s) {
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
static inline fake_sock_t *sock_new(gw_chat_t *c, const char *sid) {
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
static inline void sock_close(fake_sock_t *fs) {
  GW_ASSERT(fs->alive);
  fs->alive = 0;
  if (--fs->refs == 0)
    sock_free(fs);
}

/* next_frame returns the oldest frame not yet taken (owned by |fs|). */
static inline const char *next_frame(fake_sock_t *fs) {
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

static inline int stub_call(stub_t *a, gw_frame_t *f, gw_result_fn cb,
                            void *arg) {
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

static inline gw_adapter_t *to_base(stub_t *a) {
  return &a->base;
}

static inline int st_attach(gw_adapter_t *ad, const char *sid, void *sock) {
  (void)sid;
  (void)sock;
  ((stub_t *)ad)->attaches++;
  return 0;
}

static inline void st_detach(gw_adapter_t *ad, const char *sid) {
  (void)ad;
  (void)sid;
}

static inline int st_join(gw_adapter_t *ad, const char *sid, const char *room,
                          const char *user, gw_result_fn cb, void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "join %s %s;", room, user);
  return stub_call(a, NULL, cb, arg);
}

static inline int st_leave(gw_adapter_t *ad, const char *sid, gw_result_fn cb,
                           void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "leave;");
  return stub_call(a, NULL, cb, arg);
}

static inline int st_emit_room(gw_adapter_t *ad, const char *sid,
                               const char *room, gw_frame_t *f, gw_result_fn cb,
                               void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "room %s;", room);
  return stub_call(a, f, cb, arg);
}

static inline int st_emit_dm(gw_adapter_t *ad, const char *sid,
                             const char *room, const char *target,
                             gw_frame_t *f, gw_result_fn cb, void *arg) {
  stub_t *a = (stub_t *)ad;
  GW_ASSERT_EQ(strlen(sid), 20);
  stub_log(a, "dm %s %s;", room, target);
  return stub_call(a, f, cb, arg);
}

static inline void st_stats(gw_adapter_t *ad, gw_adapter_stats_t *out) {
  (void)ad;
  memset(out, 0, sizeof(*out));
  out->backend_up = 1;
}

static inline void st_close(gw_adapter_t *ad, gw_close_fn cb, void *arg) {
  (void)ad;
  cb(arg);
}

static inline void st_free(gw_adapter_t *ad) {
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

static inline int n_pending(const stub_t *a) {
  int n = 0;
  for (int i = 0; i < a->n_calls; i++)
    n += a->calls[i].pending;
  return n;
}

/* complete answers the oldest call still pending with |status|. */
static inline void complete(stub_t *a, int status) {
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
static inline const char *last_frame(const stub_t *a) {
  GW_ASSERT(a->n_calls > 0 && a->calls[a->n_calls - 1].frame != NULL);
  return a->calls[a->n_calls - 1].frame;
}

/* ---- the world: a loop, the stub and a chat ------------------------------ */

typedef struct world {
  uv_loop_t loop;
  stub_t ad;
  gw_chat_t chat;
} world_t;

static inline gw_chat_cfg_t cfg_default(void) {
  gw_chat_cfg_t cfg = {
      .rate_limit = 0, /* off unless a test turns it on */
      .rate_burst = 0,
      .max_name_chars = 8,
      .max_message_bytes = 16,
      .inbox_max = 4,
  };
  return cfg;
}

static inline void world_init(world_t *w, const gw_chat_cfg_t *cfg) {
  memset(w, 0, sizeof(*w));
  g_holds = g_releases = g_frees = g_sends_dead = 0;
  GW_ASSERT_OK(uv_loop_init(&w->loop));
  uv_update_time(&w->loop);
  w->ad.base.ops = &stub_ops;
  w->ad.base.cfg.loop = &w->loop;
  gw_chat_init(&w->chat, &w->loop, to_base(&w->ad), cfg);
}

/* world_fini checks that nothing is left in flight and no hold leaked. */
static inline void world_fini(world_t *w) {
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
static inline void ev(world_t *w, fake_sock_t *fs, const char *raw) {
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

static inline int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* expect_ts_ack takes the next frame, which must be `43<id>[{"ok":true,
 * "ts":<ts>}]` with |lo| <= ts <= |hi|, and returns ts. */
static inline int64_t expect_ts_ack(fake_sock_t *fs, int id, int64_t lo,
                                    int64_t hi) {
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
static inline void expect_message(const char *frame, const char *msg,
                                  const char *user, int dm, int64_t ts) {
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

static inline uint64_t sum_errors(const gw_chat_t *c) {
  uint64_t n = 0;
  for (int i = 0; i < GW_CE__COUNT; i++)
    n += c->stats.errors[i];
  return n;
}

#endif /* GW_CHAT_FAKE_H */
