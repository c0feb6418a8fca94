/* SPDX-License-Identifier: MIT */
/* gw_redis_conn_test.c: the hiredis glue against a real redis-server on a
 * free loopback port, and against tiny local TCP servers for the faults
 * (accept-then-close, never-answer, answer-too-late). */
#include "gw_redis_conn.h"

#include "gw_err.h"
#include "gw_redis_test_util.h"
#include "gw_test.h"

#include <strings.h>

typedef struct ctx {
  uv_loop_t *loop;
  int states;
  int last_state;
  int replies;
  int last_status;
  int timeouts;
  int unavail;
  int closed;
  int pushes;
  char buf[256];
  size_t buflen;
  uint64_t t_reply;
} ctx_t;

static void on_state(void *arg, int status) {
  ctx_t *x = arg;
  x->states++;
  x->last_state = status;
}

static void on_push(void *arg, redisReply *m) {
  ctx_t *x = arg;
  x->pushes++;
  GW_ASSERT_EQ(m->elements, 3);
  x->buflen = m->element[2]->len;
  GW_ASSERT(x->buflen <= sizeof(x->buf));
  memcpy(x->buf, m->element[2]->str, x->buflen);
}

static void on_reply(void *arg, int status, redisReply *r) {
  ctx_t *x = arg;
  x->replies++;
  x->last_status = status;
  x->t_reply = uv_now(x->loop);
  if (status == GW_ETIMEDOUT)
    x->timeouts++;
  if (status == GW_EUNAVAIL)
    x->unavail++;
  if (status == GW_ECLOSED)
    x->closed++;
  if (r != NULL && r->type == REDIS_REPLY_STRING) {
    GW_ASSERT(r->len <= sizeof(x->buf));
    memcpy(x->buf, r->str, r->len);
    x->buflen = r->len;
  }
}

static void on_closed(void *arg) {
  ((ctx_t *)arg)->closed += 100;
}

static gw_redis_conn_t *mk(uv_loop_t *loop, ctx_t *x, size_t max_pending,
                           uint64_t timeout_ms) {
  gw_redis_conn_cfg_t cfg = {loop,     max_pending, timeout_ms,
                             on_state, on_push,     x};
  int err = 0;
  gw_redis_conn_t *c = gw_redis_conn_new(&cfg, &err);
  GW_ASSERT(c != NULL);
  return c;
}

static void run_until(uv_loop_t *loop, const int *flag, int want) {
  for (int i = 0; i < 100000 && *flag < want; i++)
    uv_run(loop, UV_RUN_ONCE);
  GW_ASSERT(*flag >= want);
}

static int cmd(gw_redis_conn_t *c, ctx_t *x, int argc, const char **argv) {
  size_t lens[8];
  for (int i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  return gw_redis_conn_command(c, on_reply, x, argc, argv, lens);
}

static void finish(uv_loop_t *loop, gw_redis_conn_t *c, ctx_t *x) {
  gw_redis_conn_close(c, on_closed, x);
  uv_run(loop, UV_RUN_DEFAULT);
  GW_ASSERT(x->closed >= 100);
  GW_ASSERT_OK(uv_loop_close(loop));
}

/* ---- connection refused ---------------------------------------------- */

static void test_refused(void) {
  uv_loop_t loop;
  ctx_t x = {.loop = &loop};
  uv_loop_init(&loop);
  gw_redis_conn_t *c = mk(&loop, &x, 0, 1000);
  const char *ping[] = {"PING"};
  GW_ASSERT_EQ(cmd(c, &x, 1, ping), GW_EUNAVAIL); /* not connected */
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", gw_test_free_port()));
  GW_ASSERT_EQ(gw_redis_conn_connect(c, "127.0.0.1", 1), GW_EINVAL);
  run_until(&loop, &x.states, 1);
  GW_ASSERT_EQ(x.states, 1);
  GW_ASSERT_EQ(x.last_state, GW_EUNAVAIL);
  GW_ASSERT(strstr(gw_redis_conn_errstr(c), "refused") != NULL);
  GW_ASSERT(!gw_redis_conn_connected(c));
  /* A refused connection can be retried with the same object. */
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", gw_test_free_port()));
  run_until(&loop, &x.states, 2);
  GW_ASSERT_EQ(x.last_state, GW_EUNAVAIL);
  finish(&loop, c, &x);
  GW_ASSERT_EQ(x.states, 2);
}

/* ---- real redis-server: commands, binary args, bounds, pub/sub ---------- */

static void test_redis_commands(void) {
  int port = gw_test_free_port();
  pid_t pid = gw_test_redis_start(port);
  uv_loop_t loop;
  ctx_t x = {.loop = &loop};
  uv_loop_init(&loop);
  gw_redis_conn_t *c = mk(&loop, &x, 10, 2000);
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", port));
  run_until(&loop, &x.states, 1);
  GW_ASSERT_EQ(x.last_state, 0);
  GW_ASSERT(gw_redis_conn_connected(c));

  /* Binary-safe arguments: NUL, CR LF, '*', '$' never reach a parser. */
  static const char val[] = "a\0b\r\n*1\r\n$3 \xed\x95\x9c";
  const char *set[] = {"SET", "gw:test:k", val};
  size_t setl[] = {3, 9, sizeof(val) - 1};
  GW_ASSERT_OK(gw_redis_conn_command(c, on_reply, &x, 3, set, setl));
  const char *get[] = {"GET", "gw:test:k"};
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  run_until(&loop, &x.replies, 2);
  GW_ASSERT_EQ(x.last_status, 0);
  GW_ASSERT_MEMEQ(x.buf, x.buflen, val, sizeof(val) - 1);

  /* Pipelining up to max_pending, then GW_EUNAVAIL (callback never runs). */
  const char *incr[] = {"INCR", "gw:test:n"};
  for (int i = 0; i < 10; i++)
    GW_ASSERT_OK(cmd(c, &x, 2, incr));
  GW_ASSERT_EQ(gw_redis_conn_pending(c), 10);
  GW_ASSERT_EQ(cmd(c, &x, 2, incr), GW_EUNAVAIL);
  run_until(&loop, &x.replies, 12);
  GW_ASSERT_EQ(gw_redis_conn_pending(c), 0);
  GW_ASSERT_EQ(x.replies, 12);
  GW_ASSERT_EQ(x.timeouts, 0);

  /* Close with commands in flight: each is answered with GW_ECLOSED. */
  GW_ASSERT_OK(cmd(c, &x, 2, incr));
  GW_ASSERT_OK(cmd(c, &x, 2, incr));
  finish(&loop, c, &x);
  GW_ASSERT_EQ(x.closed, 100 + 2);
  GW_ASSERT_EQ(x.states, 1); /* a requested close is not a "loss" */
  gw_test_redis_stop(pid, SIGTERM);
}

static void test_redis_pubsub(void) {
  int port = gw_test_free_port();
  pid_t pid = gw_test_redis_start(port);
  uv_loop_t loop;
  ctx_t xs = {.loop = &loop}, xp = {.loop = &loop};
  uv_loop_init(&loop);
  gw_redis_conn_t *sub = mk(&loop, &xs, 0, 2000);
  gw_redis_conn_t *pub = mk(&loop, &xp, 0, 2000);
  GW_ASSERT_OK(gw_redis_conn_connect(sub, "127.0.0.1", port));
  GW_ASSERT_OK(gw_redis_conn_connect(pub, "127.0.0.1", port));
  run_until(&loop, &xs.states, 1);
  run_until(&loop, &xp.states, 1);

  /* A hostile channel name: literal, no pattern, no injection. */
  static const char chan[] = "gw:r:a *#?[x] \xec\x95\x88";
  const char *s[] = {"SUBSCRIBE", chan};
  size_t sl[] = {9, sizeof(chan) - 1};
  const char *two[] = {"SUBSCRIBE", "a", "b"};
  size_t twol[] = {9, 1, 1};
  GW_ASSERT_EQ(gw_redis_conn_command(sub, on_reply, &xs, 3, two, twol),
               GW_EINVAL);
  GW_ASSERT_OK(gw_redis_conn_command(sub, on_reply, &xs, 2, s, sl));
  run_until(&loop, &xs.replies, 1);
  GW_ASSERT_EQ(xs.last_status, 0);

  static const char payload[] = "M\0binary\r\n";
  const char *p[] = {"PUBLISH", chan, payload};
  size_t pl[] = {7, sizeof(chan) - 1, sizeof(payload) - 1};
  GW_ASSERT_OK(gw_redis_conn_command(pub, on_reply, &xp, 3, p, pl));
  /* A pattern-looking channel must not match the literal one. */
  const char *p2[] = {"PUBLISH", "gw:r:a *", "x"};
  GW_ASSERT_OK(cmd(pub, &xp, 3, p2));
  run_until(&loop, &xs.pushes, 1);
  run_until(&loop, &xp.replies, 2);
  GW_ASSERT_MEMEQ(xs.buf, xs.buflen, payload, sizeof(payload) - 1);

  const char *u[] = {"UNSUBSCRIBE", chan};
  size_t ul[] = {11, sizeof(chan) - 1};
  GW_ASSERT_OK(gw_redis_conn_command(sub, on_reply, &xs, 2, u, ul));
  run_until(&loop, &xs.replies, 2);
  GW_ASSERT_EQ(xs.last_status, 0);
  GW_ASSERT_OK(gw_redis_conn_command(pub, on_reply, &xp, 3, p, pl));
  run_until(&loop, &xp.replies, 3);
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  GW_ASSERT_EQ(xs.pushes, 1);

  /* The server goes away: the subscriber learns it (hiredis calls channel
   * callbacks with NULL; the loss is reported once). */
  GW_ASSERT_OK(gw_redis_conn_command(sub, on_reply, &xs, 2, s, sl));
  run_until(&loop, &xs.replies, 3);
  gw_test_redis_stop(pid, SIGKILL);
  run_until(&loop, &xs.states, 2);
  GW_ASSERT_EQ(xs.last_state, GW_EUNAVAIL);
  run_until(&loop, &xp.states, 2);
  gw_redis_conn_close(pub, on_closed, &xp);
  finish(&loop, sub, &xs);
}

/* ---- fault servers ---------------------------------------------------- */

enum { SRV_CLOSE, SRV_SILENT, SRV_LATE };

typedef struct srv {
  uv_tcp_t tcp;
  uv_tcp_t client;
  uv_timer_t late;
  int mode;
  int accepted;
  int client_open;
  size_t bytes;
  int port;
} srv_t;

static void srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = malloc(n);
  b->len = n;
}

static void srv_write_done(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void srv_late(uv_timer_t *t) {
  srv_t *s = t->data;
  static char ok[] = "+OK\r\n+OK\r\n";
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b = uv_buf_init(ok, sizeof(ok) - 1);
  if (s->client_open)
    uv_write(w, (uv_stream_t *)&s->client, &b, 1, srv_write_done);
  else
    free(w);
}

static void srv_client_closed(uv_handle_t *h) {
  srv_t *s = h->data;
  s->client_open = 0;
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  srv_t *s = st->data;
  free(b->base);
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)st))
      uv_close((uv_handle_t *)st, srv_client_closed);
    return;
  }
  s->bytes += (size_t)n;
  if (s->mode == SRV_CLOSE && n > 0 && !uv_is_closing((uv_handle_t *)st)) {
    /* Reset mid-command: SO_LINGER 0 turns the close into an RST. */
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)st, &fd);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    uv_close((uv_handle_t *)st, srv_client_closed);
  }
  if (s->mode == SRV_LATE && n > 0 && !uv_is_active((uv_handle_t *)&s->late))
    uv_timer_start(&s->late, srv_late, 300, 0);
}

static void srv_conn(uv_stream_t *st, int status) {
  srv_t *s = st->data;
  GW_ASSERT_OK(status);
  GW_ASSERT_EQ(s->accepted, 0);
  uv_tcp_init(st->loop, &s->client);
  s->client.data = s;
  GW_ASSERT_OK(uv_accept(st, (uv_stream_t *)&s->client));
  s->accepted = 1;
  s->client_open = 1;
  uv_read_start((uv_stream_t *)&s->client, srv_alloc, srv_read);
}

static void srv_start(uv_loop_t *loop, srv_t *s, int mode) {
  struct sockaddr_in a;
  int len = sizeof(a);
  memset(s, 0, sizeof(*s));
  s->mode = mode;
  uv_tcp_init(loop, &s->tcp);
  uv_timer_init(loop, &s->late);
  s->tcp.data = s;
  s->late.data = s;
  uv_ip4_addr("127.0.0.1", 0, &a);
  GW_ASSERT_OK(uv_tcp_bind(&s->tcp, (struct sockaddr *)&a, 0));
  GW_ASSERT_OK(uv_listen((uv_stream_t *)&s->tcp, 8, srv_conn));
  GW_ASSERT_OK(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a, &len));
  s->port = ntohs(a.sin_port);
}

static void srv_stop(srv_t *s) {
  uv_close((uv_handle_t *)&s->tcp, NULL);
  uv_close((uv_handle_t *)&s->late, NULL);
  if (s->client_open && !uv_is_closing((uv_handle_t *)&s->client))
    uv_close((uv_handle_t *)&s->client, srv_client_closed);
}

static void test_reset_mid_command(void) {
  uv_loop_t loop;
  ctx_t x = {.loop = &loop};
  srv_t s;
  uv_loop_init(&loop);
  srv_start(&loop, &s, SRV_CLOSE);
  gw_redis_conn_t *c = mk(&loop, &x, 0, 5000);
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", s.port));
  run_until(&loop, &x.states, 1);
  GW_ASSERT_EQ(x.last_state, 0);
  const char *get[] = {"GET", "k"};
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  run_until(&loop, &x.states, 2); /* the loss is reported after the replies */
  GW_ASSERT_EQ(x.replies, 2);
  GW_ASSERT_EQ(x.unavail, 2);
  GW_ASSERT_EQ(x.last_state, GW_EUNAVAIL);
  GW_ASSERT(gw_redis_conn_errstr(c)[0] != '\0');
  GW_ASSERT(!gw_redis_conn_connected(c));
  GW_ASSERT_EQ(cmd(c, &x, 2, get), GW_EUNAVAIL);
  GW_ASSERT(s.bytes > 0);
  srv_stop(&s);
  finish(&loop, c, &x);
  GW_ASSERT_EQ(x.replies, 2);
}

static void test_deadline(void) {
  uv_loop_t loop;
  ctx_t x = {.loop = &loop};
  srv_t s;
  uv_loop_init(&loop);
  srv_start(&loop, &s, SRV_SILENT);
  gw_redis_conn_t *c = mk(&loop, &x, 0, 150);
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", s.port));
  run_until(&loop, &x.states, 1);
  GW_ASSERT_EQ(x.last_state, 0);
  const char *get[] = {"GET", "k"};
  uint64_t t0 = uv_now(&loop);
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  GW_ASSERT_EQ(gw_redis_conn_pending(c), 2);
  run_until(&loop, &x.replies, 2);
  GW_ASSERT_EQ(x.timeouts, 2);
  GW_ASSERT(x.t_reply - t0 >= 150);
  GW_ASSERT(x.t_reply - t0 < 1000);
  GW_ASSERT_EQ(gw_redis_conn_pending(c), 0);
  /* The link itself is still up: the caller decides what a timeout means. */
  GW_ASSERT(gw_redis_conn_connected(c));
  srv_stop(&s);
  finish(&loop, c, &x);
  GW_ASSERT_EQ(x.replies, 2); /* closing does not answer them twice */
}

/* The adapter ends its session when a command times out: the timeout
 * callback disconnects, and hiredis then answers (and frees) every pending
 * command from inside the sweep. Regression: the sweep read the freed
 * request after the callback (use after free under ASan, a crash seen when
 * Redis was SIGSTOPped, tests/cluster/faults.test.js). */
static gw_redis_conn_t *drop_conn;

static void on_reply_drop(void *arg, int status, redisReply *r) {
  on_reply(arg, status, r);
  if (status == GW_ETIMEDOUT && drop_conn != NULL)
    gw_redis_conn_disconnect(drop_conn);
}

static void test_deadline_then_disconnect(void) {
  uv_loop_t loop;
  ctx_t x = {.loop = &loop};
  srv_t s;
  uv_loop_init(&loop);
  srv_start(&loop, &s, SRV_SILENT);
  gw_redis_conn_t *c = mk(&loop, &x, 0, 100);
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", s.port));
  run_until(&loop, &x.states, 1);
  drop_conn = c;
  const char *get[] = {"GET", "k"};
  size_t lens[] = {3, 1};
  for (int i = 0; i < 3; i++)
    GW_ASSERT_OK(gw_redis_conn_command(c, on_reply_drop, &x, 2, get, lens));
  run_until(&loop, &x.replies, 3);
  drop_conn = NULL;
  GW_ASSERT_EQ(x.timeouts, 1); /* the first; the others end with the link */
  GW_ASSERT_EQ(x.unavail, 2);
  GW_ASSERT_EQ(gw_redis_conn_pending(c), 0);
  GW_ASSERT(!gw_redis_conn_connected(c));
  srv_stop(&s);
  finish(&loop, c, &x);
  GW_ASSERT_EQ(x.replies, 3);
}

static void test_late_reply_ignored(void) {
  uv_loop_t loop;
  ctx_t x = {.loop = &loop};
  srv_t s;
  uv_loop_init(&loop);
  srv_start(&loop, &s, SRV_LATE); /* answers 300 ms after the request */
  gw_redis_conn_t *c = mk(&loop, &x, 0, 100);
  GW_ASSERT_OK(gw_redis_conn_connect(c, "127.0.0.1", s.port));
  run_until(&loop, &x.states, 1);
  const char *get[] = {"GET", "k"};
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  GW_ASSERT_OK(cmd(c, &x, 2, get));
  run_until(&loop, &x.replies, 2);
  GW_ASSERT_EQ(x.timeouts, 2);
  /* Let the late "+OK" replies arrive: hiredis hands them to the dead
   * slots, which drop them. */
  uint64_t until = uv_now(&loop) + 500;
  while (uv_now(&loop) < until) {
    uv_run(&loop, UV_RUN_NOWAIT);
    gw_test_sleep_ms(5);
    uv_update_time(&loop);
  }
  GW_ASSERT_EQ(x.replies, 2);
  GW_ASSERT(gw_redis_conn_connected(c));
  srv_stop(&s);
  finish(&loop, c, &x);
}

GW_TEST_LIST = {
    {"refused", test_refused},
    {"redis_commands", test_redis_commands},
    {"redis_pubsub", test_redis_pubsub},
    {"reset_mid_command", test_reset_mid_command},
    {"deadline", test_deadline},
    {"deadline_then_disconnect", test_deadline_then_disconnect},
    {"late_reply_ignored", test_late_reply_ignored},
    {NULL, NULL},
};
