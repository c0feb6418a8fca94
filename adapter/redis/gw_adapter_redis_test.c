/* SPDX-License-Identifier: MIT */
/* gw_adapter_redis_test.c: several Redis adapters (nodes) in one process
 * against a real redis-server on a free loopback port: cluster-wide effects,
 * byte-identical frames to the in-memory encoders, hostile room names, crash
 * reaping (a node whose loop is frozen), re-assertion after being reaped and
 * after Redis restarts empty, graceful close, the peer registry. */
#include "gw_adapter.h"

#include <hiredis/hiredis.h>

#include "gw_events.h"
#include "gw_redis_test_util.h"
#include "gw_test.h"

#include <stdarg.h>

#define MAXF 256

typedef struct fsock {
  char sid[32];
  char *frames[MAXF];
  size_t n;
} fsock_t;

static void on_deliver(void *ctx, void *sock, gw_frame_t *f) {
  fsock_t *s = sock;
  (void)ctx;
  GW_ASSERT(s->n < MAXF);
  s->frames[s->n] = malloc(f->len + 1);
  memcpy(s->frames[s->n], gw_frame_data(f), f->len);
  s->frames[s->n][f->len] = '\0';
  s->n++;
}

static void fs_clear(fsock_t *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->frames[i]);
  s->n = 0;
}

/* count of frames equal to |want| (exact bytes). */
static int fs_count(const fsock_t *s, const char *want) {
  int c = 0;
  for (size_t i = 0; i < s->n; i++)
    c += strcmp(s->frames[i], want) == 0;
  return c;
}

static const char *fs_last(const fsock_t *s, const char *prefix) {
  for (size_t i = s->n; i-- > 0;)
    if (strncmp(s->frames[i], prefix, strlen(prefix)) == 0)
      return s->frames[i];
  return NULL;
}

static int fs_last_is(const fsock_t *s, const char *prefix, const char *want) {
  const char *l = fs_last(s, prefix);
  return l != NULL && strcmp(l, want) == 0;
}

static char *frame_str(gw_frame_t *f) {
  char *s = malloc(f->len + 1);
  memcpy(s, gw_frame_data(f), f->len);
  s[f->len] = '\0';
  gw_frame_unref(f);
  return s;
}

/* Expected frames, encoded by the same jansson code the memory adapter uses:
 * the Redis scripts must produce identical bytes. */
static char *exp_userlist(int n, ...) {
  const char *names[8], *keys[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    names[i] = va_arg(ap, const char *);
    keys[i] = va_arg(ap, const char *);
  }
  va_end(ap);
  return frame_str(gw_ev_userlist(names, keys, (size_t)n));
}

static char *exp_roomlist(int n, ...) {
  const char *rooms[16];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    rooms[i] = va_arg(ap, const char *);
  va_end(ap);
  return frame_str(gw_ev_roomlist(rooms, (size_t)n));
}

typedef struct res {
  int done;
  int status;
} res_t;

static void on_res(void *arg, int status) {
  res_t *r = arg;
  r->done++;
  r->status = status;
}

static void on_closed(void *arg) {
  (*(int *)arg)++;
}

/* ---- world ----------------------------------------------------------------
 */

/* spin runs |loop| for up to |ms| or until |pred| holds. */
#define SPIN(loop, ms, pred)                                                   \
  do {                                                                         \
    uint64_t until_ = uv_now(loop) + (ms);                                     \
    while (!(pred)) {                                                          \
      if (uv_now(loop) > until_)                                               \
        GW_TEST_FAIL("timed out waiting for: %s", #pred);                      \
      uv_run(loop, UV_RUN_NOWAIT);                                             \
      gw_test_sleep_ms(2);                                                     \
      uv_update_time(loop);                                                    \
    }                                                                          \
  } while (0)

static void spin_for(uv_loop_t *loop, int ms) {
  uint64_t until = uv_now(loop) + (uint64_t)ms;
  while (uv_now(loop) < until) {
    uv_run(loop, UV_RUN_NOWAIT);
    gw_test_sleep_ms(2);
    uv_update_time(loop);
  }
}

/* World options; a zero field takes the default. */
typedef struct wopts {
  size_t max_pending; /* 1000 */
  size_t max_rooms;   /* 100 */
  size_t max_members; /* 100 per room */
  int no_redis;       /* 1: no redis-server; nobody listens on the port */
} wopts_t;

#define WORLD_SOCKS 32

/* A world: a redis-server on a free loopback port, one loop, and the nodes
 * "nodeA" and "nodeB" on it. */
typedef struct world {
  wopts_t o;
  int port;
  pid_t redis; /* 0 when none runs */
  char url[64];
  uv_loop_t loop;
  gw_adapter_t *A, *B;         /* NULL when not made; world_close closes */
  fsock_t *socks[WORLD_SOCKS]; /* world_attach'ed: cleared by world_close */
  size_t n_socks;
} world_t;

/* node_new makes the node |node| with peer tag "tag" + its last character
 * three times ("nodeA": "tagAAA") advertised at peer_addr(tag), or with no
 * peer registration for a node whose name ends in '0'. */
static void peer_addr(char *buf, size_t size, const char *tag) {
  snprintf(buf, size, "10.0.0.%d:%d", tag[3], 3000 + tag[3]);
}

static gw_adapter_t *node_new(uv_loop_t *loop, const world_t *w,
                              const char *node) {
  char tag[8], addr[32];
  char last = node[strlen(node) - 1];
  snprintf(tag, sizeof(tag), "tag%c%c%c", last, last, last);
  peer_addr(addr, sizeof(addr), tag);
  gw_adapter_cfg_t cfg = {0};
  if (last != '0') {
    cfg.peer_tag = tag; /* borrowed during _new only */
    cfg.advertise = addr;
  }
  cfg.loop = loop;
  cfg.deliver = on_deliver;
  cfg.node_id = node;
  cfg.max_rooms = w->o.max_rooms;
  cfg.max_room_members = w->o.max_members;
  cfg.redis_url = w->url;
  cfg.max_pending = w->o.max_pending;
  cfg.command_timeout_ms = 1000;
  cfg.heartbeat_ms = 100;
  cfg.node_ttl_ms = 400;
  int err = 0;
  gw_adapter_t *a = gw_adapter_redis_new(&cfg, &err);
  GW_ASSERT(a != NULL);
  return a;
}

static void node_close(uv_loop_t *loop, gw_adapter_t *a) {
  int closed = 0;
  gw_adapter_close(a, on_closed, &closed);
  SPIN(loop, 5000, closed == 1);
  gw_adapter_free(a);
}

static int is_up(gw_adapter_t *a) {
  gw_adapter_stats_t st;
  gw_adapter_stats(a, &st);
  return st.backend_up;
}

/* world_start starts |w|: a redis-server (unless o->no_redis), the loop and
 * |nodes| nodes (0, 1: A, 2: A and B); it does not wait for them to come up.
 * |o| may be NULL. Returns the loop. */
static uv_loop_t *world_start(world_t *w, int nodes, const wopts_t *o) {
  memset(w, 0, sizeof(*w));
  if (o != NULL)
    w->o = *o;
  if (w->o.max_pending == 0)
    w->o.max_pending = 1000;
  if (w->o.max_rooms == 0)
    w->o.max_rooms = 100;
  if (w->o.max_members == 0)
    w->o.max_members = 100;
  w->port = gw_test_free_port();
  if (!w->o.no_redis)
    w->redis = gw_test_redis_start(w->port);
  snprintf(w->url, sizeof(w->url), "redis://127.0.0.1:%d", w->port);
  GW_ASSERT_OK(uv_loop_init(&w->loop));
  if (nodes >= 1)
    w->A = node_new(&w->loop, w, "nodeA");
  if (nodes >= 2)
    w->B = node_new(&w->loop, w, "nodeB");
  return &w->loop;
}

/* world_open is world_start, then waits until its nodes are up. */
static uv_loop_t *world_open(world_t *w, int nodes, const wopts_t *o) {
  uv_loop_t *loop = world_start(w, nodes, o);
  SPIN(loop, 5000,
       (w->A == NULL || is_up(w->A)) && (w->B == NULL || is_up(w->B)));
  return loop;
}

/* world_attach attaches |s| to |node| (of this world, whatever its loop);
 * world_close clears its frames. */
static void world_attach(world_t *w, gw_adapter_t *node, fsock_t *s) {
  GW_ASSERT(w->n_socks < WORLD_SOCKS);
  GW_ASSERT_OK(gw_adapter_attach(node, s->sid, s));
  w->socks[w->n_socks++] = s;
}

/* world_close closes the nodes left in w->A and w->B, then the loop (which
 * must have nothing else open) and the redis-server, and clears the frames
 * of the attached sockets. */
static void world_close(world_t *w) {
  if (w->A != NULL)
    node_close(&w->loop, w->A);
  if (w->B != NULL)
    node_close(&w->loop, w->B);
  w->A = w->B = NULL;
  GW_ASSERT_OK(uv_loop_close(&w->loop));
  if (w->redis != 0)
    gw_test_redis_stop(w->redis, SIGTERM);
  for (size_t i = 0; i < w->n_socks; i++)
    fs_clear(w->socks[i]);
}

static void join_ok(uv_loop_t *loop, gw_adapter_t *a, fsock_t *s,
                    const char *room, const char *user) {
  res_t r = {0};
  GW_ASSERT_OK(gw_adapter_join(a, s->sid, room, user, on_res, &r));
  SPIN(loop, 3000, r.done == 1);
  GW_ASSERT_EQ(r.status, 0);
}

/* ---- peer lookups ---------------------------------------------------------
 */

typedef struct pres {
  int done;
  int status;
  char addr[64];
} pres_t;

static void on_peer(void *arg, int status, const char *addr) {
  pres_t *p = arg;
  GW_ASSERT((status == 0) == (addr != NULL));
  p->done++;
  p->status = status;
  snprintf(p->addr, sizeof(p->addr), "%s", addr ? addr : "");
}

/* lookup asks |a| for |tag|, which it must accept, and returns the answer
 * once its callback ran (exactly once: checked a little later). */
static pres_t lookup(uv_loop_t *loop, gw_adapter_t *a, const char *tag) {
  pres_t p = {0};
  GW_ASSERT_OK(gw_adapter_peer_lookup(a, tag, on_peer, &p));
  SPIN(loop, 3000, p.done > 0);
  spin_for(loop, 10);
  GW_ASSERT_EQ(p.done, 1);
  return p;
}

/* expect_peer asserts that |a| finds |tag| at its test address. */
static void expect_peer(uv_loop_t *loop, gw_adapter_t *a, const char *tag) {
  char want[32];
  peer_addr(want, sizeof(want), tag);
  pres_t p = lookup(loop, a, tag);
  GW_ASSERT_EQ(p.status, 0);
  GW_ASSERT_STREQ(p.addr, want);
}

static void expect_no_peer(uv_loop_t *loop, gw_adapter_t *a, const char *tag) {
  pres_t p = lookup(loop, a, tag);
  GW_ASSERT_EQ(p.status, GW_ENOTFOUND);
  GW_ASSERT_STREQ(p.addr, "");
}

/* redis_sync runs one command on a blocking connection of its own, to look
 * at (or set up) the keys directly. Returns the reply (owned). */
static redisReply *redis_sync(const world_t *w, const char *fmt, ...) {
  redisContext *c = redisConnect("127.0.0.1", w->port);
  GW_ASSERT(c != NULL && c->err == 0);
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  GW_ASSERT(r != NULL && r->type != REDIS_REPLY_ERROR);
  redisFree(c);
  return r;
}

static long long redis_int(const world_t *w, const char *fmt, const char *a1) {
  redisReply *r = redis_sync(w, fmt, a1);
  GW_ASSERT_EQ(r->type, REDIS_REPLY_INTEGER);
  long long v = r->integer;
  freeReplyObject(r);
  return v;
}

/* redis_str returns the string reply of |fmt| (owned), or NULL for nil. */
static char *redis_str(const world_t *w, const char *fmt, const char *a1) {
  redisReply *r = redis_sync(w, fmt, a1);
  GW_ASSERT(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL);
  char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
  freeReplyObject(r);
  return v;
}

/* stderr_capture sends stderr (the log) to a temporary file until
 * stderr_release, which returns how often |needle| was logged. */
typedef struct capture {
  int saved;
  FILE *tmp;
} capture_t;

static capture_t stderr_capture(void) {
  capture_t c;
  fflush(stderr);
  c.saved = dup(2);
  c.tmp = tmpfile();
  GW_ASSERT(c.saved >= 0 && c.tmp != NULL);
  dup2(fileno(c.tmp), 2);
  return c;
}

static int stderr_release(capture_t *c, const char *needle) {
  char line[1024];
  int n = 0;
  fflush(stderr);
  dup2(c->saved, 2);
  close(c->saved);
  rewind(c->tmp);
  while (fgets(line, sizeof(line), c->tmp) != NULL) {
    fputs(line, stderr); /* keep the log visible */
    n += strstr(line, needle) != NULL;
  }
  fclose(c->tmp);
  return n;
}

/* ---- tests ----------------------------------------------------------------
 */

static void test_cluster_effects(void) {
  world_t w;
  uv_loop_t *loop = world_start(&w, 2, NULL);
  gw_adapter_t *A = w.A, *B = w.B;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"}, b1 = {"sidB1bbbbbbbbbbbbbbb"},
          b2 = {"sidB2bbbbbbbbbbbbbbb"};
  res_t r = {0};
  /* Not up yet: requests are refused at once, the callback never runs. */
  world_attach(&w, A, &a1);
  GW_ASSERT_EQ(gw_adapter_attach(A, a1.sid, &a1), GW_EINVAL);
  GW_ASSERT_EQ(gw_adapter_join(A, a1.sid, "r1", "alice", on_res, &r),
               GW_EUNAVAIL);
  SPIN(loop, 5000, is_up(A) && is_up(B));
  GW_ASSERT_EQ(r.done, 0);
  world_attach(&w, B, &b1);
  world_attach(&w, B, &b2);
  char *rl0 = exp_roomlist(0);
  GW_ASSERT_EQ(fs_count(&a1, rl0), 1); /* delivered once known */
  GW_ASSERT_EQ(fs_count(&b1, rl0), 1);

  join_ok(loop, A, &a1, "r1", "alice");
  char *ul_a = exp_userlist(1, "alice", a1.sid);
  char *rl1 = exp_roomlist(1, "r1");
  SPIN(loop, 2000, fs_count(&a1, ul_a) == 1 && fs_count(&b2, rl1) == 1);
  GW_ASSERT(fs_last_is(&b1, "42[\"roomList\"", rl1));

  /* name_taken across nodes; the socket stays where it was (nowhere). */
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_join(B, b1.sid, "r1", "alice", on_res, &r));
  SPIN(loop, 2000, r.done == 1);
  GW_ASSERT_EQ(r.status, GW_ENAMETAKEN);

  join_ok(loop, B, &b1, "r1", "bob");
  char *ul_ab = exp_userlist(2, "alice", a1.sid, "bob", b1.sid);
  char *n_bob = frame_str(gw_ev_notice_joined("bob"));
  SPIN(loop, 2000, fs_count(&a1, ul_ab) == 1 && fs_count(&b1, ul_ab) == 1);
  GW_ASSERT_EQ(fs_count(&a1, n_bob), 1);
  GW_ASSERT_EQ(fs_count(&b1, n_bob), 0); /* the joiner gets no notice */
  GW_ASSERT_EQ(fs_count(&b2, ul_ab), 0); /* not a member */

  /* Room message: once to every member, sender included, through Redis. */
  const char *msg = "42[\"newMessage\",{\"message\":\"hi/ünï\",\"dm\":false}]";
  gw_frame_t *f = gw_frame_from(GW_EV_NEWMESSAGE, msg, strlen(msg));
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_emit_room(B, b1.sid, "r1", f, on_res, &r));
  SPIN(loop, 2000,
       r.done == 1 && fs_count(&a1, msg) == 1 && fs_count(&b1, msg) == 1);
  GW_ASSERT_EQ(r.status, 0);
  GW_ASSERT_EQ(fs_count(&b2, msg), 0);

  /* Not in that room: refused without a publish. */
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_emit_room(B, b2.sid, "r1", f, on_res, &r));
  GW_ASSERT_EQ(r.done, 1);
  GW_ASSERT_EQ(r.status, GW_ENOTINROOM);

  /* DMs across nodes; unknown key → user_not_found, nothing delivered. */
  const char *dm = "42[\"newMessage\",{\"message\":\"psst\",\"dm\":true}]";
  gw_frame_t *fd = gw_frame_from(GW_EV_NEWMESSAGE, dm, strlen(dm));
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_emit_dm(A, a1.sid, "r1", b1.sid, fd, on_res, &r));
  SPIN(loop, 2000,
       r.done == 1 && fs_count(&a1, dm) == 1 && fs_count(&b1, dm) == 1);
  GW_ASSERT_EQ(r.status, 0);
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_emit_dm(A, a1.sid, "r1", b2.sid, fd, on_res, &r));
  SPIN(loop, 2000, r.done == 1);
  GW_ASSERT_EQ(r.status, GW_ENOTFOUND); /* b2 is in no room */
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_emit_dm(A, a1.sid, "r1", a1.sid, fd, on_res, &r));
  SPIN(loop, 2000, r.done == 1 && fs_count(&a1, dm) == 2);
  spin_for(loop, 50);
  GW_ASSERT_EQ(fs_count(&a1, dm), 2); /* to self: once */
  GW_ASSERT_EQ(fs_count(&b1, dm), 1);
  gw_frame_unref(fd);

  /* Rename in place: leave + join effects, the room stays. */
  join_ok(loop, B, &b1, "r1", "bobby");
  char *ul_ab2 = exp_userlist(2, "alice", a1.sid, "bobby", b1.sid);
  SPIN(loop, 2000, fs_count(&a1, ul_ab2) == 1);
  /* Same room, same name: nothing happens. */
  size_t before = a1.n;
  join_ok(loop, B, &b1, "r1", "bobby");
  spin_for(loop, 50);
  GW_ASSERT_EQ(a1.n, before);

  /* Leave: notice + userList to the rest; emit after leave is refused. */
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_leave(B, b1.sid, on_res, &r));
  char *n_left = frame_str(gw_ev_notice_left("bobby"));
  SPIN(loop, 2000, r.done == 1 && fs_count(&a1, n_left) == 1);
  GW_ASSERT_EQ(r.status, 0);
  SPIN(loop, 2000, fs_last_is(&a1, "42[\"userList\"", ul_a));
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_leave(B, b1.sid, on_res, &r));
  SPIN(loop, 2000, r.done == 1);
  GW_ASSERT_EQ(r.status, GW_ENOTINROOM);

  /* Detach of the last member deletes the room everywhere. */
  gw_adapter_detach(A, a1.sid);
  SPIN(loop, 2000, fs_last_is(&b2, "42[\"roomList\"", rl0));
  gw_adapter_stats_t st;
  gw_adapter_stats(A, &st);
  GW_ASSERT_EQ(st.local_members, 0);
  GW_ASSERT_EQ(st.rooms, 0);

  gw_frame_unref(f);
  world_close(&w);
  free(rl0);
  free(rl1);
  free(ul_a);
  free(ul_ab);
  free(ul_ab2);
  free(n_bob);
  free(n_left);
}

static void test_hostile_room_names(void) {
  static const char *rooms[] = {
      "#",
      "*",
      "gw:lobby",
      "lobby",
      "a:b",
      "n:nodeA",
      "x y z",
      "한국어 방",
      "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"};
  enum { N = sizeof(rooms) / sizeof(rooms[0]) };
  world_t w;
  uv_loop_t *loop = world_open(&w, 2, NULL);
  gw_adapter_t *A = w.A, *B = w.B;
  fsock_t sa[N], sb[N];
  for (int i = 0; i < N; i++) {
    memset(&sa[i], 0, sizeof(sa[i]));
    memset(&sb[i], 0, sizeof(sb[i]));
    snprintf(sa[i].sid, sizeof(sa[i].sid), "sa%02dxxxxxxxxxxxxxxxx", i);
    snprintf(sb[i].sid, sizeof(sb[i].sid), "sb%02dxxxxxxxxxxxxxxxx", i);
    world_attach(&w, A, &sa[i]);
    world_attach(&w, B, &sb[i]);
    join_ok(loop, A, &sa[i], rooms[i], "sender");
    join_ok(loop, B, &sb[i], rooms[i], "reader");
  }
  char *rl = exp_roomlist(N, rooms[0], rooms[1], rooms[2], rooms[3], rooms[4],
                          rooms[5], rooms[6], rooms[7], rooms[8]);
  SPIN(loop, 2000, fs_last_is(&sb[0], "42[\"roomList\"", rl));
  for (int i = 0; i < N; i++) {
    char msg[96];
    snprintf(msg, sizeof(msg), "42[\"newMessage\",{\"message\":\"m%d\"}]", i);
    gw_frame_t *f = gw_frame_from(GW_EV_NEWMESSAGE, msg, strlen(msg));
    res_t r = {0};
    GW_ASSERT_OK(gw_adapter_emit_room(A, sa[i].sid, rooms[i], f, on_res, &r));
    gw_frame_unref(f);
    SPIN(loop, 2000, r.done == 1);
  }
  for (int i = 0; i < N; i++) {
    char msg[96];
    snprintf(msg, sizeof(msg), "42[\"newMessage\",{\"message\":\"m%d\"}]", i);
    SPIN(loop, 2000, fs_count(&sb[i], msg) == 1);
  }
  spin_for(loop, 100);
  for (int i = 0; i < N; i++) {
    int msgs = 0;
    for (size_t k = 0; k < sb[i].n; k++)
      msgs += strncmp(sb[i].frames[k], "42[\"newMessage\"", 15) == 0;
    if (msgs != 1)
      GW_TEST_FAIL("room %s: %d messages, want 1", rooms[i], msgs);
  }
  world_close(&w);
  free(rl);
}

/* A node whose loop stops (SIGKILL, or a long pause) is reaped by the
 * others; when it comes back it finds itself reaped and re-asserts. */
static void test_reap_and_reassert(void) {
  world_t w;
  uv_loop_t frozen;
  uv_loop_t *loop = world_start(&w, 0, NULL);
  uv_loop_init(&frozen);
  /* B runs on the world's loop (world_close closes it), C on its own. */
  gw_adapter_t *B = w.B = node_new(loop, &w, "nodeB");
  gw_adapter_t *C = node_new(&frozen, &w, "nodeC");
  SPIN(loop, 5000, is_up(B));
  SPIN(&frozen, 5000, is_up(C));
  fsock_t b1 = {"sidB1bbbbbbbbbbbbbbb"}, c1 = {"sidC1ccccccccccccccc"};
  world_attach(&w, B, &b1);
  world_attach(&w, C, &c1);
  join_ok(&frozen, C, &c1, "r2", "carol");
  join_ok(loop, B, &b1, "r2", "bob");
  char *ul_cb = exp_userlist(2, "carol", c1.sid, "bob", b1.sid);
  SPIN(&frozen, 2000, fs_count(&c1, ul_cb) == 1);

  /* Freeze C: only B's loop runs. C's heartbeat expires, B reaps it. */
  char *n_left = frame_str(gw_ev_notice_left("carol"));
  char *ul_b = exp_userlist(1, "bob", b1.sid);
  SPIN(loop, 3000, fs_count(&b1, n_left) == 1);
  SPIN(loop, 1000, fs_last_is(&b1, "42[\"userList\"", ul_b));
  gw_adapter_stats_t st;
  gw_adapter_stats(B, &st);
  GW_ASSERT_EQ(st.nodes_reaped, 1);
  /* C's peer key expired with its heartbeat; the reap removed its record. */
  expect_no_peer(loop, B, "tagCCC");
  GW_ASSERT_EQ(redis_int(&w, "HEXISTS gw:peerof %s", "nodeC"), 0);
  spin_for(loop, 500);
  GW_ASSERT_EQ(fs_count(&b1, n_left), 1); /* exactly once */

  /* Thaw C: it learns it was reaped and puts carol back (original order,
   * no join notice). */
  for (int i = 0; i < 200 && !fs_last_is(&b1, "42[\"userList\"", ul_cb); i++) {
    spin_for(&frozen, 10);
    spin_for(loop, 10);
  }
  GW_ASSERT(fs_last_is(&b1, "42[\"userList\"", ul_cb));
  SPIN(&frozen, 2000, fs_last_is(&c1, "42[\"userList\"", ul_cb));
  char *n_join = frame_str(gw_ev_notice_joined("carol"));
  GW_ASSERT_EQ(fs_count(&b1, n_join), 0);
  expect_peer(loop, B, "tagCCC"); /* re-registered */

  /* Graceful close of C: carol leaves with the usual effects. */
  int closed = 0;
  gw_adapter_close(C, on_closed, &closed);
  SPIN(&frozen, 3000, closed == 1);
  gw_adapter_free(C);
  GW_ASSERT_OK(uv_loop_close(&frozen));
  SPIN(loop, 2000, fs_count(&b1, n_left) == 2);
  SPIN(loop, 2000, fs_last_is(&b1, "42[\"userList\"", ul_b));
  expect_no_peer(loop, B, "tagCCC");

  world_close(&w);
  free(ul_cb);
  free(ul_b);
  free(n_left);
  free(n_join);
}

static void test_redis_restart_empty(void) {
  world_t w;
  uv_loop_t *loop = world_open(&w, 2, NULL);
  gw_adapter_t *A = w.A, *B = w.B;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"}, b1 = {"sidB1bbbbbbbbbbbbbbb"},
          b2 = {"sidB2bbbbbbbbbbbbbbb"}, a2 = {"sidA2aaaaaaaaaaaaaaa"};
  world_attach(&w, A, &a1);
  world_attach(&w, B, &b1);
  world_attach(&w, B, &b2);
  world_attach(&w, A, &a2);
  join_ok(loop, A, &a1, "r3", "alice");
  join_ok(loop, B, &b1, "r3", "bob");
  join_ok(loop, A, &a2, "zz", "zed");

  /* A lookup in flight when Redis dies: GW_EUNAVAIL through the callback
   * (the GET is written on the next loop turn, to a dead server). */
  pres_t p = {0};
  GW_ASSERT_OK(gw_adapter_peer_lookup(A, "tagBBB", on_peer, &p));
  gw_test_redis_stop(w.redis, SIGKILL);
  SPIN(loop, 3000, !is_up(A) && !is_up(B));
  GW_ASSERT_EQ(p.done, 1);
  GW_ASSERT_EQ(p.status, GW_EUNAVAIL);
  /* While down: refused at once, the callback never runs. */
  GW_ASSERT_EQ(gw_adapter_peer_lookup(A, "tagBBB", on_peer, &p), GW_EUNAVAIL);
  gw_adapter_stats_t pst;
  gw_adapter_stats(A, &pst);
  GW_ASSERT_EQ(pst.peer_lookups, 2);
  GW_ASSERT_EQ(pst.peer_lookup_failures, 2);
  res_t r = {0};
  GW_ASSERT_EQ(gw_adapter_join(B, b2.sid, "r3", "carol", on_res, &r),
               GW_EUNAVAIL);
  gw_frame_t *f = gw_frame_from(GW_EV_NEWMESSAGE, "42[\"x\"]", 7);
  GW_ASSERT_EQ(gw_adapter_emit_room(A, a1.sid, "r3", f, on_res, &r),
               GW_EUNAVAIL);
  gw_frame_unref(f);
  spin_for(loop, 300);

  w.redis = gw_test_redis_start(w.port); /* empty: no persistence */
  uint64_t t0 = uv_now(loop);
  SPIN(loop, 5000, is_up(A) && is_up(B));
  GW_ASSERT(uv_now(loop) - t0 < 5000);
  gw_adapter_stats_t st;
  gw_adapter_stats(A, &st);
  GW_ASSERT_EQ(st.reconnects, 1);
  GW_ASSERT_EQ(p.done, 1);
  /* Redis came back empty: the re-assert registered both peers again. */
  expect_peer(loop, A, "tagBBB");
  expect_peer(loop, B, "tagAAA");

  /* A newcomer sees the full list in the original join order. */
  join_ok(loop, B, &b2, "r3", "carol");
  char *ul = exp_userlist(3, "alice", a1.sid, "bob", b1.sid, "carol", b2.sid);
  SPIN(loop, 2000, fs_last_is(&b2, "42[\"userList\"", ul));
  SPIN(loop, 2000, fs_last_is(&a1, "42[\"userList\"", ul));
  char *rl = exp_roomlist(2, "r3", "zz");
  SPIN(loop, 2000, fs_last_is(&b2, "42[\"roomList\"", rl));
  /* Cross-instance delivery heals. */
  const char *msg = "42[\"newMessage\",{\"message\":\"back\"}]";
  f = gw_frame_from(GW_EV_NEWMESSAGE, msg, strlen(msg));
  GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "r3", f, on_res, &r));
  gw_frame_unref(f);
  SPIN(loop, 2000,
       fs_count(&b1, msg) == 1 && fs_count(&b2, msg) == 1 &&
           fs_count(&a1, msg) == 1);
  GW_ASSERT_EQ(fs_count(&a2, msg), 0);

  world_close(&w);
  free(ul);
  free(rl);
}

static void test_unreachable_then_close(void) {
  world_t w;
  wopts_t o = {.no_redis = 1}; /* nobody listens */
  uv_loop_t *loop = world_start(&w, 1, &o);
  gw_adapter_t *A = w.A;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"};
  world_attach(&w, A, &a1);
  spin_for(loop, 400); /* several refused attempts, backing off */
  GW_ASSERT(!is_up(A));
  res_t r = {0};
  GW_ASSERT_EQ(gw_adapter_join(A, a1.sid, "r", "u", on_res, &r), GW_EUNAVAIL);
  pres_t p = {0};
  GW_ASSERT_EQ(gw_adapter_peer_lookup(A, "tagAAA", on_peer, &p), GW_EUNAVAIL);
  GW_ASSERT_EQ(a1.n, 0); /* no roomList until one is known */
  gw_adapter_detach(A, a1.sid);
  world_close(&w);

  /* Bad URLs are refused at creation. */
  gw_adapter_cfg_t cfg = {0};
  cfg.loop = loop;
  cfg.deliver = on_deliver;
  cfg.node_id = "n";
  cfg.redis_url = "http://x";
  int err = 0;
  GW_ASSERT(gw_adapter_redis_new(&cfg, &err) == NULL);
  GW_ASSERT_EQ(err, GW_EINVAL);
  /* So are a malformed peer tag or address. */
  cfg.redis_url = "redis://127.0.0.1:1";
  cfg.peer_tag = "tag/AA";
  err = 0;
  GW_ASSERT(gw_adapter_redis_new(&cfg, &err) == NULL);
  GW_ASSERT_EQ(err, GW_EINVAL);
  cfg.peer_tag = "tagAAA";
  cfg.advertise = "a b:1";
  err = 0;
  GW_ASSERT(gw_adapter_redis_new(&cfg, &err) == NULL);
  GW_ASSERT_EQ(err, GW_EINVAL);
  GW_ASSERT(p.done == 0);
}

/* Redis stops answering (SIGSTOP): deadlines fire, the adapter reports down,
 * reconnects when Redis answers again and re-syncs; nothing is lost. */
static void test_redis_paused(void) {
  world_t w;
  uv_loop_t *loop = world_open(&w, 2, NULL);
  gw_adapter_t *A = w.A, *B = w.B;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"}, b1 = {"sidB1bbbbbbbbbbbbbbb"};
  world_attach(&w, A, &a1);
  world_attach(&w, B, &b1);
  join_ok(loop, A, &a1, "p", "alice");
  join_ok(loop, B, &b1, "p", "bob");

  kill(w.redis, SIGSTOP);
  res_t r = {0};
  const char *msg = "42[\"newMessage\",{\"message\":\"into the void\"}]";
  gw_frame_t *f = gw_frame_from(GW_EV_NEWMESSAGE, msg, strlen(msg));
  GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "p", f, on_res, &r));
  pres_t p = {0};
  GW_ASSERT_OK(gw_adapter_peer_lookup(B, "tagAAA", on_peer, &p));
  /* Answered by the 1 s deadline, or earlier when the stalled heartbeat
   * echo (3 periods) ends the session. */
  SPIN(loop, 3000, r.done == 1 && p.done == 1);
  GW_ASSERT(r.status == GW_ETIMEDOUT || r.status == GW_EUNAVAIL);
  GW_ASSERT(p.status == GW_ETIMEDOUT || p.status == GW_EUNAVAIL);
  gw_adapter_stats_t st;
  gw_adapter_stats(B, &st);
  GW_ASSERT_EQ(st.peer_lookup_failures, 1);
  SPIN(loop, 3000, !is_up(A) && !is_up(B));
  spin_for(loop, 300);
  kill(w.redis, SIGCONT);
  SPIN(loop, 8000, is_up(A) && is_up(B));
  GW_ASSERT_EQ(p.done, 1);
  expect_peer(loop, B, "tagAAA");
  char *ul = exp_userlist(2, "alice", a1.sid, "bob", b1.sid);
  r.done = 0;
  const char *msg2 = "42[\"newMessage\",{\"message\":\"after\"}]";
  gw_frame_t *f2 = gw_frame_from(GW_EV_NEWMESSAGE, msg2, strlen(msg2));
  GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "p", f2, on_res, &r));
  SPIN(loop, 2000, fs_count(&b1, msg2) == 1 && fs_count(&a1, msg2) == 1);
  /* Membership survived (re-asserted), names still unique. */
  fsock_t b2 = {"sidB2bbbbbbbbbbbbbbb"};
  world_attach(&w, B, &b2);
  r.done = 0;
  GW_ASSERT_OK(gw_adapter_join(B, b2.sid, "p", "alice", on_res, &r));
  SPIN(loop, 2000, r.done == 1);
  GW_ASSERT_EQ(r.status, GW_ENAMETAKEN);
  join_ok(loop, B, &b2, "p", "carol");
  char *ul3 = exp_userlist(3, "alice", a1.sid, "bob", b1.sid, "carol", b2.sid);
  SPIN(loop, 2000, fs_last_is(&b2, "42[\"userList\"", ul3));
  (void)ul;
  gw_frame_unref(f);
  gw_frame_unref(f2);
  world_close(&w);
  free(ul);
  free(ul3);
}

/* Detach while a join waits for its room subscription, or is in flight: the
 * callback still runs once, and the socket does not stay in Redis. */
static void test_detach_races(void) {
  world_t w;
  uv_loop_t *loop = world_open(&w, 2, NULL);
  gw_adapter_t *A = w.A, *B = w.B;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"}, a2 = {"sidA2aaaaaaaaaaaaaaa"},
          b1 = {"sidB1bbbbbbbbbbbbbbb"};
  world_attach(&w, A, &a1);
  world_attach(&w, A, &a2);
  world_attach(&w, B, &b1);
  join_ok(loop, B, &b1, "d", "bob");
  res_t r1 = {0}, r2 = {0}, r3 = {0};
  /* a1: waits for SUBSCRIBE, then detached. */
  GW_ASSERT_OK(gw_adapter_join(A, a1.sid, "d", "ann", on_res, &r1));
  /* a2: a second request behind it, both outstanding at detach. */
  GW_ASSERT_OK(gw_adapter_join(A, a2.sid, "d", "amy", on_res, &r2));
  GW_ASSERT_OK(gw_adapter_leave(A, a2.sid, on_res, &r3));
  gw_adapter_detach(A, a1.sid);
  gw_adapter_detach(A, a2.sid);
  SPIN(loop, 2000, r1.done == 1 && r2.done == 1 && r3.done == 1);
  spin_for(loop, 300);
  char *ul = exp_userlist(1, "bob", b1.sid);
  GW_ASSERT(fs_last_is(&b1, "42[\"userList\"", ul));
  /* Nothing but roomLists reached them: no userList, notice, message. */
  for (size_t i = 0; i < a1.n; i++)
    GW_ASSERT(strncmp(a1.frames[i], "42[\"roomList\"", 13) == 0);
  for (size_t i = 0; i < a2.n; i++)
    GW_ASSERT(strncmp(a2.frames[i], "42[\"roomList\"", 13) == 0);
  GW_ASSERT_EQ(r1.status, GW_ECLOSED); /* never sent: detached first */
  gw_adapter_stats_t st;
  gw_adapter_stats(A, &st);
  GW_ASSERT_EQ(st.local_members, 0);
  GW_ASSERT_EQ(st.rooms, 0);
  world_close(&w);
  free(ul);
}

static void test_max_pending(void) {
  world_t w;
  wopts_t o = {.max_pending = 3};
  uv_loop_t *loop = world_open(&w, 1, &o);
  gw_adapter_t *A = w.A;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"};
  world_attach(&w, A, &a1);
  join_ok(loop, A, &a1, "m", "alice");
  gw_frame_t *f = gw_frame_from(GW_EV_NEWMESSAGE, "42[\"m\"]", 7);
  res_t r = {0};
  for (int i = 0; i < 3; i++)
    GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "m", f, on_res, &r));
  GW_ASSERT_EQ(gw_adapter_emit_room(A, a1.sid, "m", f, on_res, &r),
               GW_EUNAVAIL);
  /* Lookups share the bound. */
  pres_t p = {0};
  GW_ASSERT_EQ(gw_adapter_peer_lookup(A, "tagAAA", on_peer, &p), GW_EUNAVAIL);
  SPIN(loop, 2000, r.done == 3 && fs_count(&a1, "42[\"m\"]") == 3);
  GW_ASSERT_EQ(p.done, 0);
  expect_peer(loop, A, "tagAAA");
  GW_ASSERT_OK(gw_adapter_peer_lookup(A, "tagAAA", on_peer, &p));
  GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "m", f, on_res, &r));
  GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "m", f, on_res, &r));
  GW_ASSERT_EQ(gw_adapter_emit_room(A, a1.sid, "m", f, on_res, &r),
               GW_EUNAVAIL);
  SPIN(loop, 2000, r.done == 5 && p.done == 1);
  r.done = 3;
  GW_ASSERT_OK(gw_adapter_emit_room(A, a1.sid, "m", f, on_res, &r));
  SPIN(loop, 2000, r.done == 4);
  gw_frame_unref(f);
  world_close(&w);
}

static int join_status(uv_loop_t *loop, gw_adapter_t *a, fsock_t *s,
                       const char *room, const char *user) {
  res_t r = {0};
  GW_ASSERT_OK(gw_adapter_join(a, s->sid, room, user, on_res, &r));
  SPIN(loop, 3000, r.done == 1);
  return r.status;
}

/* Limits as the memory adapter applies them, cluster-wide; frames for names
 * that need JSON escaping are byte-identical to jansson's. */
static void test_limits_and_escaping(void) {
  world_t w;
  wopts_t o = {.max_rooms = 2, .max_members = 2};
  uv_loop_t *loop = world_open(&w, 2, &o);
  gw_adapter_t *A = w.A, *B = w.B;
  fsock_t a1 = {"sidA1aaaaaaaaaaaaaaa"}, a2 = {"sidA2aaaaaaaaaaaaaaa"},
          b1 = {"sidB1bbbbbbbbbbbbbbb"}, b2 = {"sidB2bbbbbbbbbbbbbbb"};
  world_attach(&w, A, &a1);
  world_attach(&w, A, &a2);
  world_attach(&w, B, &b1);
  world_attach(&w, B, &b2);
  const char *odd = "\xeb\xb0\xa5 \"q\" \\ / \xf0\x9f\x99\x82";
  join_ok(loop, A, &a1, "r1", odd);
  join_ok(loop, B, &b1, "r2", "bob");
  GW_ASSERT_EQ(join_status(loop, B, &b2, "r3", "x"), GW_EROOMLIMIT);
  /* Leaving a room you would empty frees its slot. */
  GW_ASSERT_OK(join_status(loop, B, &b1, "r3", "bob"));
  join_ok(loop, A, &a2, "r1", "amy");
  GW_ASSERT_EQ(join_status(loop, B, &b2, "r1", "zed"), GW_EROOMFULL);
  /* A rename inside a full room is not a new member. */
  GW_ASSERT_OK(join_status(loop, A, &a2, "r1", "amy2"));

  char *ul = exp_userlist(2, odd, a1.sid, "amy2", a2.sid);
  char *nj = frame_str(gw_ev_notice_joined("amy2"));
  char *nl = frame_str(gw_ev_notice_left("amy"));
  SPIN(loop, 2000, fs_last_is(&a1, "42[\"userList\"", ul));
  GW_ASSERT_EQ(fs_count(&a1, nj), 1);
  GW_ASSERT_EQ(fs_count(&a1, nl), 1);
  char *nodd = frame_str(gw_ev_notice_left(odd));
  gw_adapter_detach(A, a1.sid);
  SPIN(loop, 2000, fs_count(&a2, nodd) == 1);
  char *rl = exp_roomlist(2, "r1", "r3");
  SPIN(loop, 2000, fs_last_is(&b2, "42[\"roomList\"", rl));

  world_close(&w);
  free(ul);
  free(nj);
  free(nl);
  free(nodd);
  free(rl);
}

/* Nodes find each other by peer tag while they heartbeat; an orderly close
 * removes the key at once. */
static void test_peer_registry(void) {
  world_t w;
  uv_loop_t *loop = world_open(&w, 2, NULL);
  gw_adapter_t *A = w.A, *B = w.B;
  expect_peer(loop, A, "tagBBB");
  expect_peer(loop, B, "tagAAA");
  expect_peer(loop, A, "tagAAA"); /* its own, too */
  expect_no_peer(loop, A, "nobody");

  /* Not a tag: refused at once, the callback never runs. */
  static const char *bad[] = {"",       "tagBB",  "tagBBBB",
                              "tag:BB", "tag BB", "tag*BB"};
  pres_t x = {0};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    GW_ASSERT_EQ(gw_adapter_peer_lookup(A, bad[i], on_peer, &x), GW_EINVAL);
  GW_ASSERT_EQ(gw_adapter_peer_lookup(A, NULL, on_peer, &x), GW_EINVAL);

  /* In Redis: the key expires with the heartbeat (node_ttl 400 ms) and the
   * node's record names it; heartbeats keep it alive past several TTLs. */
  long long ttl = redis_int(&w, "PTTL %s", "gw:peer:tagBBB");
  GW_ASSERT(ttl > 0 && ttl <= 400);
  char *rec = redis_str(&w, "HGET gw:peerof %s", "nodeB");
  char want[48];
  peer_addr(want, sizeof(want), "tagBBB");
  char want_rec[64];
  snprintf(want_rec, sizeof(want_rec), "tagBBB%s", want);
  GW_ASSERT_STREQ(rec, want_rec);
  free(rec);
  spin_for(loop, 1300);
  expect_peer(loop, A, "tagBBB");

  /* A node without a tag registers nothing and can still look up. */
  gw_adapter_t *Z = node_new(loop, &w, "node0");
  SPIN(loop, 5000, is_up(Z));
  expect_peer(loop, Z, "tagAAA");
  expect_no_peer(loop, A, "tag000");
  GW_ASSERT_EQ(redis_int(&w, "HEXISTS gw:peerof %s", "node0"), 0);
  node_close(loop, Z);

  /* A lookup in flight when its node closes is answered once. */
  pres_t p = {0};
  GW_ASSERT_OK(gw_adapter_peer_lookup(B, "tagAAA", on_peer, &p));
  node_close(loop, B);
  w.B = NULL;
  GW_ASSERT_EQ(p.done, 1);

  /* Orderly close: B's key and record are gone at once, not by expiry. */
  GW_ASSERT_EQ(redis_int(&w, "EXISTS %s", "gw:peer:tagBBB"), 0);
  GW_ASSERT_EQ(redis_int(&w, "HEXISTS gw:peerof %s", "nodeB"), 0);
  expect_no_peer(loop, A, "tagBBB");
  expect_peer(loop, A, "tagAAA");

  gw_adapter_stats_t st;
  gw_adapter_stats(A, &st);
  GW_ASSERT_EQ(st.peer_lookups, 3 + 7 + 2 + 2);
  GW_ASSERT_EQ(st.peer_lookup_failures, 0);
  world_close(&w);
}

/* Our tag held by another address (two nodes drew the same random tag): the
 * node logs it once, never overwrites or deletes the other's key, and takes
 * the tag once the other's key is gone. */
static void test_peer_tag_collision(void) {
  world_t w;
  uv_loop_t *loop = world_start(&w, 0, NULL);
  redisReply *r = redis_sync(&w, "SET gw:peer:tagCCC other.host:9 PX 60000");
  freeReplyObject(r);
  capture_t cap = stderr_capture();
  gw_adapter_t *C = w.A = node_new(loop, &w, "nodeC");
  SPIN(loop, 5000, is_up(C));
  spin_for(loop, 400); /* a few heartbeats */
  pres_t p = lookup(loop, C, "tagCCC");
  GW_ASSERT_EQ(p.status, 0);
  GW_ASSERT_STREQ(p.addr, "other.host:9");
  GW_ASSERT_EQ(redis_int(&w, "HEXISTS gw:peerof %s", "nodeC"), 0);
  GW_ASSERT_EQ(stderr_release(&cap, "peer tag collision: tagCCC"), 1);

  /* The other holder goes: C's next heartbeat claims the tag. */
  r = redis_sync(&w, "DEL gw:peer:tagCCC");
  freeReplyObject(r);
  char want[32];
  peer_addr(want, sizeof(want), "tagCCC");
  for (int i = 0; i < 100; i++) {
    p = lookup(loop, C, "tagCCC");
    if (p.status == 0 && strcmp(p.addr, want) == 0)
      break;
    spin_for(loop, 20);
  }
  expect_peer(loop, C, "tagCCC");

  /* Taken over again, then C closes: the other's key stays. */
  r = redis_sync(&w, "SET gw:peer:tagCCC other.host:9 PX 60000");
  freeReplyObject(r);
  node_close(loop, C);
  w.A = NULL;
  char *v = redis_str(&w, "GET %s", "gw:peer:tagCCC");
  GW_ASSERT_STREQ(v, "other.host:9");
  free(v);
  GW_ASSERT_EQ(redis_int(&w, "HEXISTS gw:peerof %s", "nodeC"), 0);
  world_close(&w);
}

GW_TEST_LIST = {
    {"cluster_effects", test_cluster_effects},
    {"hostile_room_names", test_hostile_room_names},
    {"reap_and_reassert", test_reap_and_reassert},
    {"redis_restart_empty", test_redis_restart_empty},
    {"unreachable_then_close", test_unreachable_then_close},
    {"redis_paused", test_redis_paused},
    {"detach_races", test_detach_races},
    {"max_pending", test_max_pending},
    {"limits_and_escaping", test_limits_and_escaping},
    {"peer_registry", test_peer_registry},
    {"peer_tag_collision", test_peer_tag_collision},
    {NULL, NULL},
};
