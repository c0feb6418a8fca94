/* SPDX-License-Identifier: MIT */
/* gw_adapter_redis.c: the Redis adapter (gw_adapter.h, docs/architecture.md).
 *
 * Redis holds the chat state; every membership change and the events it
 * causes are one Lua script (lua/NAME.lua), so all instances see them in one
 * order. This process keeps only its own sockets: which room each is in,
 * driven by the events as they arrive on the subscription connection (a
 * replicated state machine in Redis order), plus what the gateway was told
 * (the "acked" room and name), which is the truth re-asserted into Redis
 * after a reconnect, a Redis restart or a reap.
 *
 * Two connections (gw_redis_conn.c): |cmd| for scripts and PUBLISH, |sub|
 * for SUBSCRIBE. Channels: gw:lobby (roomList), gw:r:<room> (subscribed only
 * while this process has members or joins in flight there), gw:n:<node>
 * (DMs, heartbeat echoes). Ownership: the adapter owns sockets (rsock_t),
 * rooms (rroom_t) and requests (rreq_t); a request holds a reference on its
 * socket, so a detached socket lives until its last reply.
 *
 * Every request carries its completion function (rreq_t.done), set where the
 * request is made and defined next to that code, as hiredis callbacks are:
 * on_reply runs the steps all replies share, then it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "gw_adapter.h"
#include "gw_list.h"
#include "gw_log.h"
#include "gw_map.h"
#include "gw_redis_conn.h"
#include "gw_redis_msg.h"
#include "gw_redis_scripts.h"
#include "gw_redis_url.h"

/* ---- logging ------------------------------------------------------------ */

enum {
  LOG_ERROR = GW_LOG_ERROR,
  LOG_WARN = GW_LOG_WARN,
  LOG_INFO = GW_LOG_INFO
};

__attribute__((format(printf, 2, 3))) static void rlog(int level,
                                                       const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  gw_log(level, "redis: %s", buf);
}

/* ---- types -------------------------------------------------------------- */

enum {
  SC_JOIN,
  SC_LEAVE,
  SC_DM,
  SC_HEARTBEAT,
  SC_REAP,
  SC_NODE_DOWN,
  SC_ASSERT,
  SC_ROOMLIST,
  SC__COUNT
};

static const char *const script_src[SC__COUNT] = {
    gw_lua_join, gw_lua_leave,     gw_lua_dm,     gw_lua_heartbeat,
    gw_lua_reap, gw_lua_node_down, gw_lua_assert, gw_lua_roomlist};

/* Session states. Requests are accepted only in S_UP. */
enum { S_DOWN, S_CONNECTING, S_SYNCING, S_UP, S_CLOSING, S_CLOSED };

/* Room channel subscription states. */
enum { SUB_NONE, SUB_PENDING, SUB_ON, SUB_OFF };

/* Join request phases: waiting for the room subscription, sent, or answered
 * "ok" but its J event not seen yet (keeps the subscription alive). */
enum { PH_WAIT, PH_SENT, PH_AWAIT_J };

#define ROOM_PREFIX       GW_REDIS_ROOM_PREFIX
#define REAP_LIMIT        1000
#define BACKOFF_MIN_MS    100
#define BACKOFF_MAX_MS    2000
#define INTERNAL_HEADROOM 64 /* commands beyond max_pending for upkeep */

/* Events carry a frame's kind as one decimal digit. */
_Static_assert(GW_EV__COUNT <= 10, "event kind must fit one digit");

typedef struct rad rad_t;
typedef struct rroom rroom_t;

typedef struct rsock {
  char *sid;
  void *handle;
  gw_list_t all_link; /* rad.socks */
  rroom_t *room;      /* local membership, driven by events */
  gw_list_t member_link;
  char *acked_room; /* what the gateway was told: re-asserted into Redis */
  char *acked_name;
  uint64_t rseq, mseq; /* order keys from the J event, kept on re-assert */
  uint64_t rl_ver;     /* roomList version last delivered */
  unsigned refs;       /* 1 while attached + 1 per request */
  int attached;        /* 0 once detached (it may live on for replies) */
  int touched;         /* a join was ever sent: detach must clean Redis */
} rsock_t;

struct rroom {
  char *name;
  char *chan; /* "gw:r:<name>" */
  size_t chanlen;
  gw_list_t link;    /* rad.rooms */
  gw_list_t members; /* rsock_t.member_link */
  size_t n_members;
  gw_list_t joins; /* rreq_t.link, joins of this room in progress */
  int sub;
  int sync_wait; /* the session sync waits for this subscription */
  int busy;      /* iterating: do not free */
};

typedef struct rreq rreq_t;

/* rreq_done_fn completes one request: the shared reply path (on_reply) runs
 * it exactly once per sent request, after the steps every reply shares.
 * |status| is 0 with |r| set (borrowed for the call; never an error reply:
 * those arrive as GW_EUNAVAIL), or a negative code with |r| NULL. It owns
 * |q|: it frees it, or keeps it (a join waiting for its J event). A session
 * setup request (rreq_t.setup) never sees an error reply: the shared path
 * ends the session instead. */
typedef void (*rreq_done_fn)(rreq_t *q, int status, redisReply *r);

struct rreq {
  rad_t *a;
  rreq_done_fn done; /* set where the request is made */
  int script;        /* SC_* or -1 for a plain command */
  int setup;         /* part of the session setup: an error reply ends it */
  uint64_t gen;
  gw_result_fn cb;
  void *arg;
  rsock_t *s;
  rroom_t *room;
  gw_list_t link;
  int phase;
  int j_seen;
  int retried;
  uint64_t token;
  int argc;
  const char **argv;
  size_t *argvlen;
};

struct rad {
  gw_adapter_t base;
  uv_loop_t *loop;
  char *node;
  char *node_chan;
  gw_redis_url_t url;
  char ip[INET6_ADDRSTRLEN];
  gw_redis_conn_t *cmd, *sub;
  int cmd_up, sub_up;
  int state;
  uint64_t gen; /* bumped when a session ends: stale replies are ignored */
  int sync_phase;
  size_t sync_left;
  uv_timer_t hb, retry;
  uv_getaddrinfo_t gai;
  int gai_busy;
  unsigned backoff_ms;
  uint64_t hb_sent, hb_echo, assert_token;
  int dirty; /* Redis may disagree with local truth: re-assert */
  char sha[SC__COUNT][41];
  gw_map_t socks_by_sid;
  gw_list_t socks;
  gw_map_t rooms_by_name;
  gw_list_t rooms;
  size_t local_rooms, local_members;
  size_t inflight; /* gateway requests in flight */
  gw_frame_t *rl_frame;
  uint64_t rl_ver;
  uint64_t ups, errors, reconnects, reaped, pending_full;
  uint64_t bad_messages; /* malformed pub/sub events dropped */
  gw_close_fn close_cb;
  void *close_arg;
  int closing_parts;
  int close_started;
  uint64_t rng; /* xorshift state for backoff jitter */
};

static void session_fail(rad_t *a, const char *why);
static void sync_step_done(rad_t *a);
static void maybe_unsub(rroom_t *r, rad_t *a);
static int send_script(rreq_t *q, int use_eval);
static void start_reassert(rad_t *a);
static void close_finish(rad_t *a);
static void close_part_done(rad_t *a);

/* ---- small helpers ------------------------------------------------------ */

static uint64_t next_rand(rad_t *a) {
  uint64_t x = a->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return a->rng = x;
}

static char *cat2(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *d = malloc(la + lb + 1);
  if (d != NULL) {
    memcpy(d, a, la);
    memcpy(d + la, b, lb + 1);
  }
  return d;
}

static void deliver(rad_t *a, rsock_t *s, gw_frame_t *f) {
  a->base.cfg.deliver(a->base.cfg.ctx, s->handle, f);
}

static void deliver_room(rad_t *a, rroom_t *r, gw_frame_t *f,
                         const rsock_t *except) {
  gw_list_t *it;
  if (f == NULL)
    return;
  GW_LIST_FOREACH(it, &r->members) {
    rsock_t *s = GW_LIST_DATA(it, rsock_t, member_link);
    if (s != except)
      deliver(a, s, f);
  }
}

static void sock_unref(rsock_t *s) {
  if (--s->refs > 0)
    return;
  free(s->acked_room);
  free(s->acked_name);
  free(s->sid);
  free(s);
}

static void set_acked(rsock_t *s, const char *room, const char *name) {
  free(s->acked_room);
  free(s->acked_name);
  s->acked_room = room ? strdup(room) : NULL;
  s->acked_name = name ? strdup(name) : NULL;
  if (s->acked_room == NULL || s->acked_name == NULL) {
    free(s->acked_room);
    free(s->acked_name);
    s->acked_room = s->acked_name = NULL;
  }
}

/* ---- rooms and local membership ------------------------------------------ */

static rroom_t *room_get(rad_t *a, const char *name, int create) {
  rroom_t *r = gw_map_get(&a->rooms_by_name, name);
  if (r != NULL || !create)
    return r;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->name = strdup(name);
  r->chan = cat2(ROOM_PREFIX, name);
  if (r->name == NULL || r->chan == NULL ||
      gw_map_put(&a->rooms_by_name, r->name, r) != 0) {
    free(r->name);
    free(r->chan);
    free(r);
    return NULL;
  }
  r->chanlen = strlen(r->chan);
  gw_list_init(&r->members);
  gw_list_init(&r->joins);
  gw_list_push_back(&a->rooms, &r->link);
  return r;
}

static void room_free(rad_t *a, rroom_t *r) {
  gw_map_del(&a->rooms_by_name, r->name);
  gw_list_remove(&r->link);
  free(r->name);
  free(r->chan);
  free(r);
}

static void local_add(rad_t *a, rsock_t *s, rroom_t *r) {
  s->room = r;
  gw_list_push_back(&r->members, &s->member_link);
  if (r->n_members++ == 0)
    a->local_rooms++;
  a->local_members++;
}

static void local_remove(rad_t *a, rsock_t *s) {
  rroom_t *r = s->room;
  if (r == NULL)
    return;
  gw_list_remove(&s->member_link);
  s->room = NULL;
  if (--r->n_members == 0)
    a->local_rooms--;
  a->local_members--;
}

/* ---- requests ------------------------------------------------------------ */

/* req_new copies |n| arguments into one block owned by the request. */
static rreq_t *req_new(rad_t *a, rreq_done_fn done, int script, int n,
                       const char *const *p, const size_t *len) {
  size_t bytes = 0;
  for (int i = 0; i < n; i++)
    bytes += len[i] + 1;
  size_t head = sizeof(rreq_t) + (size_t)n * (sizeof(char *) + sizeof(size_t));
  rreq_t *q = calloc(1, head + bytes);
  if (q == NULL)
    return NULL;
  q->a = a;
  q->done = done;
  q->script = script;
  q->gen = a->gen;
  q->argc = n;
  q->argv = (const char **)(q + 1);
  q->argvlen = (size_t *)(q->argv + n);
  char *d = (char *)(q->argvlen + n);
  for (int i = 0; i < n; i++) {
    memcpy(d, p[i], len[i]);
    d[len[i]] = '\0';
    q->argv[i] = d;
    q->argvlen[i] = len[i];
    d += len[i] + 1;
  }
  gw_list_init(&q->link);
  return q;
}

static rreq_t *req_newv(rad_t *a, rreq_done_fn done, int script, int n,
                        const char *const *p) {
  size_t len[8];
  for (int i = 0; i < n; i++)
    len[i] = strlen(p[i]);
  return req_new(a, done, script, n, p, len);
}

/* req_complete runs the gateway's callback once and drops the request's
 * hold on its socket; the request itself may live on (PH_AWAIT_J). */
static void req_complete(rreq_t *q, int status) {
  gw_result_fn cb = q->cb;
  q->cb = NULL;
  if (q->s != NULL) {
    sock_unref(q->s);
    q->s = NULL;
  }
  if (cb != NULL) {
    q->a->inflight--;
    cb(q->arg, status);
  }
}

static void req_free(rreq_t *q) {
  req_complete(q, GW_ECLOSED); /* only reached with cb already run */
  free(q);
}

/* on_reply is the one reply path of every request: the steps all replies
 * share (NOSCRIPT retry, error counting, the end of the session on a failed
 * setup step or a missed deadline), around the request's own q->done. */
static void on_reply(void *arg, int status, redisReply *r) {
  rreq_t *q = arg;
  rad_t *a = q->a;

  if (status == 0 && r->type == REDIS_REPLY_ERROR && q->script >= 0 &&
      !q->retried && strncmp(r->str, "NOSCRIPT", 8) == 0) {
    q->retried = 1; /* the script cache was flushed: send the body */
    if (send_script(q, 1) == 0)
      return;
    status = GW_EUNAVAIL;
  }
  if (status == 0 && r->type == REDIS_REPLY_ERROR) {
    rlog(LOG_WARN, "command failed: %.*s", (int)r->len, r->str);
    a->errors++;
    if (q->setup) {
      if (q->gen == a->gen)
        session_fail(a, "session setup failed");
      free(q);
      return;
    }
    status = GW_EUNAVAIL;
  }
  if (status != 0)
    a->errors += status == GW_ETIMEDOUT;
  q->done(q, status, status == 0 ? r : NULL); /* frees or keeps |q| */
  /* |a| is still there: a close that q->done finished calls back on a later
   * loop turn, and a closing session ignores session_fail. */
  if (status == GW_ETIMEDOUT)
    session_fail(a, "command timed out");
}

static int send_cmd(rreq_t *q, gw_redis_conn_t *c) {
  return gw_redis_conn_command(c, on_reply, q, q->argc, q->argv, q->argvlen);
}

static int send_script(rreq_t *q, int use_eval) {
  rad_t *a = q->a;
  int n = q->argc + 3;
  const char **av = malloc(sizeof(*av) * (size_t)n);
  size_t *al = malloc(sizeof(*al) * (size_t)n);
  if (av == NULL || al == NULL) {
    free(av);
    free(al);
    return GW_ENOMEM;
  }
  if (a->sha[q->script][0] == '\0')
    use_eval = 1;
  av[0] = use_eval ? "EVAL" : "EVALSHA";
  av[1] = use_eval ? script_src[q->script] : a->sha[q->script];
  av[2] = "0";
  for (int i = 0; i < 3; i++)
    al[i] = strlen(av[i]);
  memcpy(av + 3, q->argv, sizeof(*av) * (size_t)q->argc);
  memcpy(al + 3, q->argvlen, sizeof(*al) * (size_t)q->argc);
  int rc = gw_redis_conn_command(a->cmd, on_reply, q, n, av, al);
  free(av);
  free(al);
  return rc;
}

/* internal sends an upkeep script; failures are repaired by re-asserting. */
static void internal(rad_t *a, rreq_done_fn done, int script, int n,
                     const char *const *p, uint64_t token) {
  rreq_t *q = req_newv(a, done, script, n, p);
  if (q == NULL) {
    a->dirty = 1;
    return;
  }
  q->token = token;
  if (send_script(q, 0) != 0) {
    a->dirty = 1;
    free(q);
  }
}

static int reply_is(const redisReply *r, const char *s) {
  return r != NULL &&
         (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
         r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* ---- roomList --------------------------------------------------------------
 */

static void rl_update(rad_t *a, uint64_t ver, const char *p, size_t n) {
  if (a->rl_frame != NULL && ver <= a->rl_ver)
    return; /* never an older list after a newer one */
  gw_frame_t *f = gw_frame_from(GW_EV_ROOMLIST, p, n);
  if (f == NULL)
    return;
  gw_frame_unref(a->rl_frame);
  a->rl_frame = f;
  a->rl_ver = ver;
  gw_list_t *it;
  GW_LIST_FOREACH(it, &a->socks) {
    rsock_t *s = GW_LIST_DATA(it, rsock_t, all_link);
    if (s->rl_ver < ver) {
      s->rl_ver = ver;
      deliver(a, s, f);
    }
  }
}

/* ---- room subscriptions -----------------------------------------------------
 */

static void room_sub_done(rreq_t *q, int status, redisReply *reply);
static void room_unsub_done(rreq_t *q, int status, redisReply *reply);

/* room_sub_send (un)subscribes |r|'s channel: NONE -> PENDING, or ON -> OFF
 * when |unsub|. Returns 0 or the send error (then |r| is unchanged). */
static int room_sub_send(rad_t *a, rroom_t *r, int unsub) {
  const char *p[2] = {unsub ? "UNSUBSCRIBE" : "SUBSCRIBE", r->chan};
  size_t len[2] = {strlen(p[0]), r->chanlen};
  rreq_t *q =
      req_new(a, unsub ? room_unsub_done : room_sub_done, -1, 2, p, len);
  if (q == NULL)
    return GW_ENOMEM;
  q->setup = 1;
  q->room = r;
  int rc = send_cmd(q, a->sub);
  if (rc != 0) {
    free(q);
    return rc;
  }
  r->sub = unsub ? SUB_OFF : SUB_PENDING;
  return 0;
}

/* ensure_sub makes |r|'s channel subscribed (or on its way to it). */
static int ensure_sub(rad_t *a, rroom_t *r) {
  if (r->sub == SUB_NONE)
    return room_sub_send(a, r, 0);
  return 0; /* PENDING/ON; OFF resubscribes when the UNSUBSCRIBE lands */
}

static int room_wanted(const rroom_t *r) {
  return r->n_members > 0 || !gw_list_empty(&r->joins) || r->sync_wait;
}

static void maybe_unsub(rroom_t *r, rad_t *a) {
  if (room_wanted(r) || r->busy)
    return;
  if (r->sub == SUB_ON) {
    if (room_sub_send(a, r, 1) != 0)
      session_fail(a, "cannot unsubscribe");
  } else if (r->sub == SUB_NONE) {
    room_free(a, r);
  } /* PENDING/OFF: decided when the confirmation lands */
}

static void run_waiters(rad_t *a, rroom_t *r) {
  gw_list_t wait;
  gw_list_init(&wait);
  gw_list_t *it = r->joins.next;
  while (it != &r->joins) {
    rreq_t *q = GW_LIST_DATA(it, rreq_t, link);
    it = it->next;
    if (q->phase == PH_WAIT) {
      gw_list_remove(&q->link);
      gw_list_push_back(&wait, &q->link);
    }
  }
  r->busy++;
  while (!gw_list_empty(&wait)) {
    rreq_t *q = GW_LIST_DATA(wait.next, rreq_t, link);
    gw_list_remove(&q->link);
    int rc = GW_ECLOSED;
    if (q->s != NULL && q->s->attached && a->state == S_UP)
      rc = send_script(q, 0);
    else if (a->state != S_UP)
      rc = GW_EUNAVAIL;
    if (rc == 0) {
      q->phase = PH_SENT;
      gw_list_push_back(&r->joins, &q->link);
    } else {
      req_complete(q, rc); /* detached while waiting: GW_ECLOSED */
      free(q);
    }
  }
  r->busy--;
}

/* room_sub_ok: whether a (un)subscription reply of this session arrived
 * well; one of a past session is ignored (its room was reset), a failed one
 * ends the session. */
static int room_sub_ok(rreq_t *q, int status) {
  rad_t *a = q->a;
  if (q->gen != a->gen || a->state >= S_CLOSING)
    return 0; /* this session is over: the room was reset */
  if (status != 0) {
    session_fail(a, status == GW_ETIMEDOUT ? "SUBSCRIBE timed out"
                                           : "SUBSCRIBE failed");
    return 0;
  }
  return 1;
}

static void room_sub_done(rreq_t *q, int status, redisReply *reply) {
  rad_t *a = q->a;
  rroom_t *r = q->room;
  uint64_t gen = q->gen;
  int ok = room_sub_ok(q, status);
  (void)reply;
  free(q);
  if (!ok)
    return;
  r->sub = SUB_ON;
  if (r->sync_wait) {
    r->sync_wait = 0;
    sync_step_done(a);
    if (a->gen != gen)
      return;
  }
  run_waiters(a, r);
  maybe_unsub(r, a);
}

static void room_unsub_done(rreq_t *q, int status, redisReply *reply) {
  rad_t *a = q->a;
  rroom_t *r = q->room;
  int ok = room_sub_ok(q, status);
  (void)reply;
  free(q);
  if (!ok)
    return;
  r->sub = SUB_NONE;
  if (room_wanted(r)) {
    if (room_sub_send(a, r, 0) != 0)
      session_fail(a, "cannot subscribe");
  } else {
    room_free(a, r);
  }
}

/* ---- session --------------------------------------------------------------
 */

static void go_up(rad_t *a) {
  a->state = S_UP;
  a->backoff_ms = BACKOFF_MIN_MS;
  a->hb_echo = a->hb_sent;
  if (a->ups++ > 0)
    a->reconnects++;
  rlog(LOG_INFO, "up (node %s, %s:%d)", a->node, a->url.host, a->url.port);
}

/* sync_rooms rebuilds local membership from what the gateway was told and
 * subscribes every room that has local members. */
static int sync_rooms(rad_t *a) {
  gw_list_t *it;
  GW_LIST_FOREACH(it, &a->socks) {
    rsock_t *s = GW_LIST_DATA(it, rsock_t, all_link);
    rroom_t *want = s->acked_room ? room_get(a, s->acked_room, 1) : NULL;
    if (s->acked_room != NULL && want == NULL)
      return GW_ENOMEM;
    if (s->room != want) {
      rroom_t *old = s->room;
      local_remove(a, s);
      if (want != NULL)
        local_add(a, s, want);
      if (old != NULL)
        maybe_unsub(old, a);
    }
  }
  GW_LIST_FOREACH(it, &a->rooms) {
    rroom_t *r = GW_LIST_DATA(it, rroom_t, link);
    if (r->n_members > 0 && r->sub != SUB_ON) {
      r->sync_wait = 1;
      a->sync_left++;
      if (ensure_sub(a, r) != 0)
        return GW_EUNAVAIL;
    }
  }
  return 0;
}

/* this_sync: whether |q| belongs to the session sync in progress. */
static int this_sync(const rreq_t *q) {
  return q->gen == q->a->gen && q->a->state == S_SYNCING;
}

/* setup marks |q| (or NULL) as a step of the session setup (rreq_t.setup). */
static rreq_t *setup(rreq_t *q) {
  if (q != NULL)
    q->setup = 1;
  return q;
}

/* assert_done: the assert script answers the sids whose names someone else
 * took while Redis had lost them. */
static void assert_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  int current = this_sync(q);
  free(q);
  if (!current)
    return;
  if (status != 0 || r->type != REDIS_REPLY_ARRAY) {
    session_fail(a, "re-assert failed");
    return;
  }
  for (size_t i = 0; i < r->elements; i++) {
    rsock_t *s = gw_map_get(&a->socks_by_sid, r->element[i]->str);
    if (s == NULL)
      continue;
    /* Someone took the name while Redis had lost it: the socket is no
     * longer in that room (the gateway learns it on its next request). */
    rlog(LOG_WARN, "lost the name \"%s\" in \"%s\" on re-assert", s->acked_name,
         s->acked_room);
    rroom_t *old = s->room;
    local_remove(a, s);
    set_acked(s, NULL, NULL);
    if (old != NULL)
      maybe_unsub(old, a);
  }
  sync_step_done(a);
}

static void roomlist_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  int current = this_sync(q);
  free(q);
  if (!current)
    return;
  if (status != 0) {
    session_fail(a, "re-assert failed");
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
    rl_update(a, strtoull(r->element[0]->str, NULL, 10), r->element[1]->str,
              r->element[1]->len);
    sync_step_done(a);
  } else {
    session_fail(a, "bad roomList reply");
  }
}

/* sync_phase2 re-asserts every acked membership (with its order keys) and
 * fetches the roomList newer than the one known. */
static void sync_phase2(rad_t *a) {
  char ttl[24], known[24];
  snprintf(ttl, sizeof(ttl), "%llu",
           (unsigned long long)a->base.cfg.node_ttl_ms);
  snprintf(known, sizeof(known), "%llu", (unsigned long long)a->rl_ver);
  size_t n = 3;
  gw_list_t *it;
  GW_LIST_FOREACH(it, &a->socks) {
    if (GW_LIST_DATA(it, rsock_t, all_link)->acked_room != NULL)
      n += 5;
  }
  const char **p = malloc(sizeof(*p) * n);
  size_t *len = malloc(sizeof(*len) * n);
  char(*nums)[2][24] = malloc(sizeof(*nums) * (n / 5 + 1));
  rreq_t *q = NULL, *q2 = NULL;
  if (p != NULL && len != NULL && nums != NULL) {
    size_t i = 0, k = 0;
    p[i++] = a->node;
    p[i++] = ttl;
    p[i++] = known;
    GW_LIST_FOREACH(it, &a->socks) {
      rsock_t *s = GW_LIST_DATA(it, rsock_t, all_link);
      if (s->acked_room == NULL)
        continue;
      snprintf(nums[k][0], 24, "%llu", (unsigned long long)s->rseq);
      snprintf(nums[k][1], 24, "%llu", (unsigned long long)s->mseq);
      p[i++] = s->sid;
      p[i++] = s->acked_room;
      p[i++] = s->acked_name;
      p[i++] = nums[k][0];
      p[i++] = nums[k][1];
      k++;
    }
    for (i = 0; i < n; i++)
      len[i] = strlen(p[i]);
    q = setup(req_new(a, assert_done, SC_ASSERT, (int)n, p, len));
    const char *rl[1] = {known};
    q2 = setup(req_newv(a, roomlist_done, SC_ROOMLIST, 1, rl));
  }
  free(p);
  free(len);
  free(nums);
  a->sync_phase = 2;
  a->sync_left = 2;
  if (q == NULL || q2 == NULL || send_script(q, 0) != 0) {
    free(q);
    free(q2);
    session_fail(a, "cannot re-assert membership");
    return;
  }
  if (send_script(q2, 0) != 0) {
    free(q2);
    session_fail(a, "cannot fetch roomList");
  }
}

static void sync_step_done(rad_t *a) {
  if (a->sync_left == 0 || --a->sync_left > 0)
    return;
  if (a->sync_phase == 1)
    sync_phase2(a);
  else
    go_up(a);
}

/* sync_done completes a phase 1 step: AUTH, SELECT or SUBSCRIBE. */
static void sync_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  (void)r;
  if (this_sync(q)) {
    if (status != 0)
      session_fail(a, "session setup failed");
    else
      sync_step_done(a);
  }
  free(q);
}

/* load_done completes a SCRIPT LOAD: the SHA1 of script q->script. */
static void load_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  if (this_sync(q)) {
    if (status != 0) {
      session_fail(a, "session setup failed");
    } else {
      if (r->type == REDIS_REPLY_STRING && r->len < sizeof(a->sha[0]))
        memcpy(a->sha[q->script], r->str, r->len + 1);
      sync_step_done(a);
    }
  }
  free(q);
}

static void sync_send(rad_t *a, gw_redis_conn_t *c, int n,
                      const char *const *p) {
  rreq_t *q = setup(req_newv(a, sync_done, -1, n, p));
  if (q == NULL || send_cmd(q, c) != 0) {
    free(q);
    a->sync_left = 0;
    session_fail(a, "cannot start session");
    return;
  }
  a->sync_left++;
}

/* sync_start runs once both links are up: authenticate, select the db, load
 * the scripts, subscribe, then (phase 2) re-assert and fetch roomList. */
static void sync_start(rad_t *a) {
  uint64_t gen = a->gen;
  a->state = S_SYNCING;
  a->sync_phase = 1;
  a->sync_left = 1; /* held until every step is sent */
  gw_redis_conn_t *conns[2] = {a->cmd, a->sub};
  for (int i = 0; i < 2 && a->gen == gen; i++) {
    if (a->url.has_password) {
      const char *p[3] = {"AUTH", a->url.user, a->url.password};
      if (a->url.has_user)
        sync_send(a, conns[i], 3, p);
      else {
        const char *p2[2] = {"AUTH", a->url.password};
        sync_send(a, conns[i], 2, p2);
      }
    }
    if (a->url.db != 0 && a->gen == gen) {
      char db[16];
      snprintf(db, sizeof(db), "%d", a->url.db);
      const char *p[2] = {"SELECT", db};
      sync_send(a, conns[i], 2, p);
    }
  }
  for (int i = 0; i < SC__COUNT && a->gen == gen; i++) {
    /* q->script names the script loaded: load_done files its SHA1. */
    const char *p[3] = {"SCRIPT", "LOAD", script_src[i]};
    rreq_t *q = setup(req_newv(a, load_done, i, 3, p));
    if (q == NULL || send_cmd(q, a->cmd) != 0) {
      free(q);
      session_fail(a, "cannot load scripts");
      return;
    }
    a->sync_left++;
  }
  if (a->gen != gen)
    return;
  const char *lobby[2] = {"SUBSCRIBE", "gw:lobby"};
  sync_send(a, a->sub, 2, lobby);
  const char *mine[2] = {"SUBSCRIBE", a->node_chan};
  if (a->gen == gen)
    sync_send(a, a->sub, 2, mine);
  if (a->gen == gen && sync_rooms(a) != 0)
    session_fail(a, "cannot subscribe rooms");
  if (a->gen == gen)
    sync_step_done(a); /* release the hold */
}

/* start_reassert: this node was reaped (paused past its TTL) or an upkeep
 * command failed. Requests wait (GW_EUNAVAIL) while Redis is made to match
 * the local truth again. */
static void start_reassert(rad_t *a) {
  uint64_t gen = a->gen;
  rlog(LOG_WARN, "re-asserting local membership of node %s", a->node);
  a->state = S_SYNCING;
  a->sync_phase = 1;
  a->sync_left = 1;
  if (sync_rooms(a) != 0)
    session_fail(a, "cannot subscribe rooms");
  if (a->gen == gen)
    sync_step_done(a);
}

static void rooms_reset(rad_t *a, int status) {
  gw_list_t fail;
  gw_list_init(&fail);
  gw_list_t *it;
  GW_LIST_FOREACH(it, &a->rooms) {
    rroom_t *r = GW_LIST_DATA(it, rroom_t, link);
    r->sub = SUB_NONE;
    r->sync_wait = 0;
    gw_list_t *j = r->joins.next;
    while (j != &r->joins) {
      rreq_t *q = GW_LIST_DATA(j, rreq_t, link);
      j = j->next;
      if (q->phase == PH_WAIT) {
        gw_list_remove(&q->link);
        gw_list_push_back(&fail, &q->link);
      } else if (q->phase == PH_AWAIT_J) {
        gw_list_remove(&q->link);
        req_free(q);
      } /* PH_SENT: answered when the link drops */
    }
  }
  while (!gw_list_empty(&fail)) {
    rreq_t *q = GW_LIST_DATA(fail.next, rreq_t, link);
    gw_list_remove(&q->link);
    req_complete(q, status);
    free(q);
  }
}

static void rooms_sweep(rad_t *a) {
  gw_list_t *it = a->rooms.next;
  while (it != &a->rooms) {
    rroom_t *r = GW_LIST_DATA(it, rroom_t, link);
    it = it->next;
    if (!room_wanted(r) && r->sub == SUB_NONE && !r->busy)
      room_free(a, r);
  }
}

static void session_connect(rad_t *a);

static void on_retry(uv_timer_t *t) {
  session_connect(t->data);
}

static void session_fail(rad_t *a, const char *why) {
  if (a->state == S_DOWN || a->state >= S_CLOSING)
    return;
  int was_up = a->state == S_UP;
  a->state = S_DOWN;
  a->gen++;
  a->sync_left = 0;
  a->assert_token = 0;
  a->errors++;
  unsigned b = a->backoff_ms;
  unsigned delay = b / 2 + (unsigned)(next_rand(a) % (b / 2 + 1)); /* jitter */
  a->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
  const char *detail = gw_redis_conn_errstr(a->cmd);
  if (detail[0] == '\0')
    detail = gw_redis_conn_errstr(a->sub);
  rlog(was_up ? LOG_WARN : LOG_INFO, "%s%s%s%s; retrying in %u ms",
       was_up ? "down: " : "", why, detail[0] ? ": " : "", detail, delay);
  rooms_reset(a, GW_EUNAVAIL);
  gw_redis_conn_disconnect(a->cmd); /* answers in-flight commands */
  gw_redis_conn_disconnect(a->sub);
  a->cmd_up = a->sub_up = 0;
  rooms_sweep(a);
  if (a->state == S_DOWN)
    uv_timer_start(&a->retry, on_retry, delay, 0);
}

static void connect_both(rad_t *a) {
  if (gw_redis_conn_connect(a->cmd, a->ip, a->url.port) != 0 ||
      gw_redis_conn_connect(a->sub, a->ip, a->url.port) != 0)
    session_fail(a, "cannot connect");
}

static void on_gai(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rad_t *a = req->data;
  a->gai_busy = 0;
  if (a->state >= S_CLOSING) {
    uv_freeaddrinfo(res);
    if (a->close_started)
      close_part_done(a);
    return;
  }
  if (a->state != S_CONNECTING) { /* the attempt was abandoned */
    uv_freeaddrinfo(res);
    return;
  }
  if (status != 0 || res == NULL) {
    uv_freeaddrinfo(res);
    rlog(LOG_WARN, "cannot resolve %s: %s", a->url.host, uv_strerror(status));
    session_fail(a, "resolve failed");
    return;
  }
  const void *addr =
      res->ai_family == AF_INET6
          ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
          : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
  inet_ntop(res->ai_family, addr, a->ip, sizeof(a->ip));
  uv_freeaddrinfo(res);
  connect_both(a);
}

static void session_connect(rad_t *a) {
  if (a->state != S_DOWN)
    return;
  if (a->gai_busy) { /* an abandoned lookup is still running */
    uv_timer_start(&a->retry, on_retry, BACKOFF_MIN_MS, 0);
    return;
  }
  a->state = S_CONNECTING;
  a->cmd_up = a->sub_up = 0;
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, a->url.host, buf) == 1 ||
      inet_pton(AF_INET6, a->url.host, buf) == 1) {
    memcpy(a->ip, a->url.host, strlen(a->url.host) + 1); /* fits: parsed */
    connect_both(a);
    return;
  }
  /* hiredis would resolve with a blocking getaddrinfo: do it off-loop. */
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  a->gai.data = a;
  if (uv_getaddrinfo(a->loop, &a->gai, on_gai, a->url.host, NULL, &hints) !=
      0) {
    session_fail(a, "resolve failed");
    return;
  }
  a->gai_busy = 1;
}

static void on_conn_state(rad_t *a, int *up, int status) {
  if (a->state != S_CONNECTING)
    return;
  if (status != 0) {
    session_fail(a, status == GW_ETIMEDOUT ? "connect timed out"
                                           : "cannot connect");
    return;
  }
  *up = 1;
  if (a->cmd_up && a->sub_up)
    sync_start(a);
}

static void on_cmd_state(void *arg, int status) {
  rad_t *a = arg;
  if (status != 0 && a->state != S_CONNECTING) {
    session_fail(a, "command link lost");
    return;
  }
  on_conn_state(a, &a->cmd_up, status);
}

static void on_sub_state(void *arg, int status) {
  rad_t *a = arg;
  if (status != 0 && a->state != S_CONNECTING) {
    session_fail(a, "subscription link lost");
    return;
  }
  on_conn_state(a, &a->sub_up, status);
}

/* ---- pub/sub events -------------------------------------------------------
 */

/* Decoding and validation live in gw_redis_msg.c (pure, fuzzed); here a
 * decoded event is applied. A malformed one is counted, logged (gw_log bounds
 * the rate) and dropped whole: it changes no state and reaches no client. */

static rsock_t *sock_of(rad_t *a, gw_redis_span_t sid) {
  char buf[GW_REDIS_SID_MAX + 1];
  if (sid.n == 0 || sid.n >= sizeof(buf))
    return NULL;
  memcpy(buf, sid.p, sid.n);
  buf[sid.n] = '\0';
  return gw_map_get(&a->socks_by_sid, buf);
}

/* span_frame: a frame for a non-empty span, NULL for an empty one. */
static gw_frame_t *span_frame(gw_ev_kind_t kind, gw_redis_span_t f) {
  return f.n > 0 ? gw_frame_from(kind, f.p, f.n) : NULL;
}

static void on_room_event(rad_t *a, rroom_t *r, const gw_redis_msg_t *m) {
  gw_frame_t *fr;
  r->busy++;
  if (m->type == 'M') {
    fr = span_frame(m->kind, m->frame);
    deliver_room(a, r, fr, NULL);
    gw_frame_unref(fr);
  } else if (m->type == 'J') {
    rsock_t *s = sock_of(a, m->sid);
    if (s != NULL) {
      if (s->room != r) {
        rroom_t *old = s->room;
        local_remove(a, s);
        local_add(a, s, r);
        if (old != NULL)
          maybe_unsub(old, a);
      }
      s->rseq = m->rseq;
      s->mseq = m->mseq;
    }
    gw_list_t *it = r->joins.next;
    while (it != &r->joins) {
      rreq_t *q = GW_LIST_DATA(it, rreq_t, link);
      it = it->next;
      if (q->phase == PH_WAIT || q->argvlen[0] != m->sid.n ||
          memcmp(q->argv[0], m->sid.p, m->sid.n) != 0)
        continue;
      if (q->phase == PH_AWAIT_J) {
        gw_list_remove(&q->link);
        req_free(q);
      } else {
        q->j_seen = 1;
      }
    }
    fr = span_frame(GW_EV_NOTICE, m->notice);
    deliver_room(a, r, fr, s);
    gw_frame_unref(fr);
    fr = span_frame(GW_EV_USERLIST, m->userlist);
    deliver_room(a, r, fr, NULL);
    gw_frame_unref(fr);
  } else if (m->type == 'L') {
    rsock_t *s = sock_of(a, m->sid);
    if (s != NULL && s->room == r)
      local_remove(a, s);
    fr = span_frame(GW_EV_NOTICE, m->notice);
    deliver_room(a, r, fr, NULL);
    gw_frame_unref(fr);
    fr = span_frame(GW_EV_USERLIST, m->userlist);
    deliver_room(a, r, fr, NULL);
    gw_frame_unref(fr);
  } else if (m->type == 'U') {
    fr = span_frame(GW_EV_USERLIST, m->userlist);
    deliver_room(a, r, fr, NULL);
    gw_frame_unref(fr);
  }
  r->busy--;
  maybe_unsub(r, a);
}

static void on_node_event(rad_t *a, const gw_redis_msg_t *m) {
  if (m->type == 'D') {
    gw_frame_t *fr = span_frame(m->kind, m->frame);
    for (int i = 0; fr != NULL && i < m->n_sids; i++) {
      rsock_t *s = sock_of(a, m->sids[i]);
      if (s != NULL)
        deliver(a, s, fr);
    }
    gw_frame_unref(fr);
  } else if (m->type == 'H') {
    uint64_t t = m->version;
    if (t > a->hb_echo)
      a->hb_echo = t;
    if (a->assert_token != 0 && t >= a->assert_token && a->state == S_UP) {
      a->assert_token = 0;
      start_reassert(a);
    }
  }
}

static void on_push(void *arg, redisReply *rep) {
  rad_t *a = arg;
  const redisReply *ch = rep->element[1], *pl = rep->element[2];
  if (a->state >= S_CLOSED || pl->type != REDIS_REPLY_STRING)
    return;
  const char *room = NULL;
  size_t room_len = 0;
  gw_redis_chan_t kind =
      gw_redis_chan_classify(ch->str, ch->len, a->node_chan, &room, &room_len);
  if (kind == GW_REDIS_CH_OTHER)
    return; /* a channel we no longer want; nothing to check */
  gw_redis_msg_t m;
  if (gw_redis_msg_parse(kind, pl->str, pl->len, &m) != 0) {
    a->bad_messages++;
    rlog(LOG_WARN, "dropped malformed event (%zu bytes) on %.*s", pl->len,
         (int)(ch->len < 64 ? ch->len : 64), ch->str);
    return;
  }
  if (kind == GW_REDIS_CH_ROOM) {
    /* Room names never hold NUL (gw_chat_trim_name refuses controls). */
    rroom_t *r = memchr(room, '\0', room_len) == NULL
                     ? gw_map_get(&a->rooms_by_name, room)
                     : NULL;
    if (r != NULL)
      on_room_event(a, r, &m);
  } else if (kind == GW_REDIS_CH_LOBBY) {
    rl_update(a, m.version, m.frame.p, m.frame.n);
  } else {
    on_node_event(a, &m);
  }
}

/* ---- heartbeat and reaping --------------------------------------------------
 */

/* heartbeat_done: the script answers 1 when this node was reaped (or Redis
 * lost it). Re-assert once the reaper's leave events, which precede our
 * echo, have been applied. */
static void heartbeat_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  if (status == 0 && r->type == REDIS_REPLY_INTEGER && r->integer == 1 &&
      q->gen == a->gen)
    a->assert_token = q->token;
  if (status != 0 && q->gen == a->gen)
    session_fail(a, "heartbeat failed");
  free(q);
}

static void reap_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  if (status == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
    long long nodes = r->element[0]->integer;
    long long socks = r->element[1]->integer;
    const redisReply *names = r->element[2];
    if (nodes > 0 || socks > 0) {
      a->reaped += (uint64_t)nodes;
      rlog(LOG_WARN, "reaped %lld dead node(s) (%s%s), %lld socket(s)", nodes,
           names->elements > 0 ? names->element[0]->str : "partly",
           names->elements > 1 ? ", ..." : "", socks);
    }
    if (socks >= REAP_LIMIT && a->state == S_UP) {
      char lim[16];
      snprintf(lim, sizeof(lim), "%d", REAP_LIMIT);
      const char *p[1] = {lim};
      internal(a, reap_done, SC_REAP, 1, p, 0);
    }
  }
  free(q);
}

static void on_heartbeat(uv_timer_t *t) {
  rad_t *a = t->data;
  if (a->state != S_UP)
    return;
  if (a->hb_sent > a->hb_echo + 2) {
    session_fail(a, "subscription stalled");
    return;
  }
  if (a->dirty) {
    a->dirty = 0;
    start_reassert(a);
    return;
  }
  char ttl[24], tok[24], lim[16];
  snprintf(ttl, sizeof(ttl), "%llu",
           (unsigned long long)a->base.cfg.node_ttl_ms);
  snprintf(tok, sizeof(tok), "%llu", (unsigned long long)++a->hb_sent);
  snprintf(lim, sizeof(lim), "%d", REAP_LIMIT);
  const char *hb[3] = {a->node, ttl, tok};
  internal(a, heartbeat_done, SC_HEARTBEAT, 3, hb, a->hb_sent);
  const char *reap[1] = {lim};
  internal(a, reap_done, SC_REAP, 1, reap, 0);
}

/* ---- ops ------------------------------------------------------------------
 */

static rad_t *rad_of(gw_adapter_t *b) {
  return (rad_t *)b;
}

static int rad_attach(gw_adapter_t *b, const char *sid, void *handle) {
  rad_t *a = rad_of(b);
  if (gw_map_get(&a->socks_by_sid, sid) != NULL)
    return GW_EINVAL;
  rsock_t *s = calloc(1, sizeof(*s));
  if (s == NULL || (s->sid = strdup(sid)) == NULL) {
    free(s);
    return GW_ENOMEM;
  }
  if (gw_map_put(&a->socks_by_sid, s->sid, s) != 0) {
    free(s->sid);
    free(s);
    return GW_ENOMEM;
  }
  s->handle = handle;
  s->refs = 1;
  s->attached = 1;
  gw_list_init(&s->member_link);
  gw_list_push_back(&a->socks, &s->all_link);
  if (a->rl_frame != NULL) {
    s->rl_ver = a->rl_ver;
    deliver(a, s, a->rl_frame);
  }
  return 0;
}

/* detach_done completes the leave sent for a detached socket: a failure is
 * repaired by the next re-assert. */
static void detach_done(rreq_t *q, int status, redisReply *r) {
  (void)r;
  if (status != 0)
    q->a->dirty = 1;
  free(q);
}

static void rad_detach(gw_adapter_t *b, const char *sid) {
  rad_t *a = rad_of(b);
  rsock_t *s = gw_map_del(&a->socks_by_sid, sid);
  if (s == NULL)
    return;
  gw_list_remove(&s->all_link); /* no delivery to it from here on */
  s->attached = 0;
  rroom_t *r = s->room;
  local_remove(a, s);
  if (r != NULL)
    maybe_unsub(r, a);
  if (s->acked_room != NULL || s->touched) {
    /* Queued behind any join of this socket on the same connection, so it
     * runs after it in Redis. When down, the next re-assert cleans up. */
    if (a->state == S_UP || a->state == S_SYNCING) {
      const char *p[1] = {s->sid};
      internal(a, detach_done, SC_LEAVE, 1, p, 0);
    } else if (a->state < S_CLOSING) {
      a->dirty = 1;
    }
  }
  set_acked(s, NULL, NULL);
  sock_unref(s);
}

static int admit(rad_t *a, const char *sid, rsock_t **out) {
  rsock_t *s = gw_map_get(&a->socks_by_sid, sid);
  if (s == NULL)
    return GW_EINVAL;
  if (a->state != S_UP)
    return GW_EUNAVAIL;
  if (a->base.cfg.max_pending != 0 && a->inflight >= a->base.cfg.max_pending) {
    a->pending_full++;
    return GW_EUNAVAIL;
  }
  *out = s;
  return 0;
}

static void req_bind(rreq_t *q, rsock_t *s, gw_result_fn cb, void *arg) {
  q->cb = cb;
  q->arg = arg;
  q->s = s;
  s->refs++;
  q->a->inflight++;
}

/* req_unbind undoes req_bind for a request that was never sent. */
static void req_unbind(rreq_t *q) {
  q->a->inflight--;
  sock_unref(q->s);
  free(q);
}

static int join_status(const redisReply *r) {
  if (reply_is(r, "ok") || reply_is(r, "noop"))
    return 0;
  if (reply_is(r, "name_taken"))
    return GW_ENAMETAKEN;
  if (reply_is(r, "room_limit"))
    return GW_EROOMLIMIT;
  if (reply_is(r, "room_full"))
    return GW_EROOMFULL;
  return GW_EUNAVAIL;
}

/* join_done completes a join (sent by rad_join, or by run_waiters when it
 * waited for the room's subscription). */
static void join_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  rroom_t *room = q->room;
  int st = status != 0 ? status : join_status(r);
  int published = status == 0 && reply_is(r, "ok");
  if (st == 0 && q->s != NULL && q->s->attached) {
    set_acked(q->s, q->argv[1], q->argv[2]);
    if (q->s->acked_room == NULL)
      st = GW_ENOMEM; /* Redis has it; the next re-assert removes it */
  }
  gw_list_remove(&q->link);
  if (st == 0 && published && !q->j_seen && q->gen == a->gen &&
      a->state <= S_UP) {
    /* Keep the room subscribed until our own J event arrives. */
    q->phase = PH_AWAIT_J;
    gw_list_push_back(&room->joins, &q->link);
    room->busy++;
    req_complete(q, st);
    room->busy--;
  } else {
    room->busy++;
    req_complete(q, st);
    room->busy--;
    free(q);
  }
  maybe_unsub(room, a);
}

static int rad_join(gw_adapter_t *b, const char *sid, const char *room,
                    const char *user, gw_result_fn cb, void *arg) {
  rad_t *a = rad_of(b);
  rsock_t *s;
  int rc = admit(a, sid, &s);
  if (rc != 0)
    return rc;
  rroom_t *r = room_get(a, room, 1);
  if (r == NULL)
    return GW_ENOMEM;
  char mr[24], mm[24];
  snprintf(mr, sizeof(mr), "%zu", a->base.cfg.max_rooms);
  snprintf(mm, sizeof(mm), "%zu", a->base.cfg.max_room_members);
  const char *p[6] = {sid, room, user, a->node, mr, mm};
  rreq_t *q = req_newv(a, join_done, SC_JOIN, 6, p);
  if (q == NULL) {
    maybe_unsub(r, a);
    return GW_ENOMEM;
  }
  req_bind(q, s, cb, arg);
  q->room = r;
  s->touched = 1;
  gw_list_push_back(&r->joins, &q->link);
  if (r->sub == SUB_ON) {
    q->phase = PH_SENT;
    rc = send_script(q, 0);
  } else {
    /* Subscribe first, so this process sees its own join event. */
    q->phase = PH_WAIT;
    rc = ensure_sub(a, r);
  }
  if (rc != 0) {
    gw_list_remove(&q->link);
    req_unbind(q);
    maybe_unsub(r, a);
    return GW_EUNAVAIL;
  }
  return 0;
}

static void leave_done(rreq_t *q, int status, redisReply *r) {
  int st = status;
  if (st == 0)
    st = reply_is(r, "ok")            ? 0
         : reply_is(r, "not_in_room") ? GW_ENOTINROOM
                                      : GW_EUNAVAIL;
  if ((st == 0 || st == GW_ENOTINROOM) && q->s != NULL)
    set_acked(q->s, NULL, NULL);
  req_complete(q, st);
  free(q);
}

static int rad_leave(gw_adapter_t *b, const char *sid, gw_result_fn cb,
                     void *arg) {
  rad_t *a = rad_of(b);
  rsock_t *s;
  int rc = admit(a, sid, &s);
  if (rc != 0)
    return rc;
  const char *p[1] = {sid};
  rreq_t *q = req_newv(a, leave_done, SC_LEAVE, 1, p);
  if (q == NULL)
    return GW_ENOMEM;
  req_bind(q, s, cb, arg);
  if (send_script(q, 0) != 0) {
    req_unbind(q);
    return GW_EUNAVAIL;
  }
  return 0;
}

static int check_room(rsock_t *s, const char *room) {
  return s->acked_room != NULL && strcmp(s->acked_room, room) == 0;
}

static void emit_done(rreq_t *q, int status, redisReply *r) {
  (void)r;
  req_complete(q, status);
  free(q);
}

static int rad_emit_room(gw_adapter_t *b, const char *sid, const char *room,
                         gw_frame_t *f, gw_result_fn cb, void *arg) {
  rad_t *a = rad_of(b);
  rsock_t *s;
  int rc = admit(a, sid, &s);
  if (rc != 0)
    return rc;
  if (!check_room(s, room)) {
    cb(arg, GW_ENOTINROOM);
    return 0;
  }
  /* M event: one PUBLISH; every instance with members re-wraps it once. */
  char hdr[32];
  int hl = snprintf(hdr, sizeof(hdr), "M1:%u%zu:", (unsigned)f->kind, f->len);
  char *payload = malloc((size_t)hl + f->len);
  char *chan = cat2(ROOM_PREFIX, room);
  rreq_t *q = NULL;
  if (payload != NULL && chan != NULL) {
    memcpy(payload, hdr, (size_t)hl);
    memcpy(payload + hl, gw_frame_data(f), f->len);
    const char *p[3] = {"PUBLISH", chan, payload};
    size_t len[3] = {7, strlen(chan), (size_t)hl + f->len};
    q = req_new(a, emit_done, -1, 3, p, len);
  }
  free(payload);
  free(chan);
  if (q == NULL)
    return GW_ENOMEM;
  req_bind(q, s, cb, arg);
  if (send_cmd(q, a->cmd) != 0) {
    req_unbind(q);
    return GW_EUNAVAIL;
  }
  return 0;
}

static void dm_done(rreq_t *q, int status, redisReply *r) {
  int st = status;
  if (st == 0)
    st = reply_is(r, "ok")               ? 0
         : reply_is(r, "user_not_found") ? GW_ENOTFOUND
         : reply_is(r, "not_in_room")    ? GW_ENOTINROOM
                                         : GW_EUNAVAIL;
  req_complete(q, st);
  free(q);
}

static int rad_emit_dm(gw_adapter_t *b, const char *sid, const char *room,
                       const char *target, gw_frame_t *f, gw_result_fn cb,
                       void *arg) {
  rad_t *a = rad_of(b);
  rsock_t *s;
  int rc = admit(a, sid, &s);
  if (rc != 0)
    return rc;
  if (!check_room(s, room)) {
    cb(arg, GW_ENOTINROOM);
    return 0;
  }
  char kind[4];
  snprintf(kind, sizeof(kind), "%u", (unsigned)f->kind);
  const char *p[6] = {sid,     room, target,
                      a->node, kind, (const char *)gw_frame_data(f)};
  size_t len[6] = {strlen(sid),     strlen(room), strlen(target),
                   strlen(a->node), strlen(kind), f->len};
  rreq_t *q = req_new(a, dm_done, SC_DM, 6, p, len);
  if (q == NULL)
    return GW_ENOMEM;
  req_bind(q, s, cb, arg);
  if (send_script(q, 0) != 0) {
    req_unbind(q);
    return GW_EUNAVAIL;
  }
  return 0;
}

static void rad_stats(gw_adapter_t *b, gw_adapter_stats_t *out) {
  rad_t *a = rad_of(b);
  memset(out, 0, sizeof(*out));
  out->rooms = a->local_rooms;
  out->local_members = a->local_members;
  out->backend_up = a->state == S_UP;
  out->pending = gw_redis_conn_pending(a->cmd) + gw_redis_conn_pending(a->sub);
  out->backend_errors = a->errors;
  out->reconnects = a->reconnects;
  out->nodes_reaped = a->reaped;
  out->pending_full = a->pending_full;
  out->bad_messages = a->bad_messages;
}

/* ---- close and free
 * ---------------------------------------------------------- */

static void close_part_done(rad_t *a) {
  if (--a->closing_parts == 0) {
    a->state = S_CLOSED;
    a->close_cb(a->close_arg);
  }
}

static void on_conn_closed(void *arg) {
  close_part_done(arg);
}

static void on_handle_closed(uv_handle_t *h) {
  close_part_done(h->data);
}

static void close_finish(rad_t *a) {
  if (a->close_started)
    return;
  a->close_started = 1;
  a->closing_parts = 4 + a->gai_busy;
  if (a->gai_busy)
    uv_cancel((uv_req_t *)&a->gai);
  gw_redis_conn_close(a->cmd, on_conn_closed, a);
  gw_redis_conn_close(a->sub, on_conn_closed, a);
  uv_close((uv_handle_t *)&a->hb, on_handle_closed);
  uv_close((uv_handle_t *)&a->retry, on_handle_closed);
}

/* node_down_done: the close goes on whatever the node_down script did. */
static void node_down_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  (void)r;
  if (status != 0)
    a->dirty = 1;
  free(q);
  if (a->state == S_CLOSING)
    close_finish(a);
}

static void rad_close(gw_adapter_t *b, gw_close_fn cb, void *arg) {
  rad_t *a = rad_of(b);
  if (a->state >= S_CLOSING)
    return;
  /* Also while (re)syncing: scripts fall back to EVAL if not loaded yet. */
  int was_up = gw_redis_conn_connected(a->cmd);
  a->state = S_CLOSING;
  a->close_cb = cb;
  a->close_arg = arg;
  uv_timer_stop(&a->hb);
  uv_timer_stop(&a->retry);
  rooms_reset(a, GW_ECLOSED);
  if (was_up) {
    /* Our members leave with the usual effects; heartbeat and registration
     * go. Bounded by the command deadline like everything else. */
    const char *p[1] = {a->node};
    rreq_t *q = req_newv(a, node_down_done, SC_NODE_DOWN, 1, p);
    if (q != NULL && send_script(q, 0) == 0)
      return;
    free(q);
  }
  close_finish(a);
}

static void rad_free(gw_adapter_t *b) {
  rad_t *a = rad_of(b);
  while (!gw_list_empty(&a->socks)) {
    rsock_t *s = GW_LIST_DATA(a->socks.next, rsock_t, all_link);
    gw_list_remove(&s->all_link);
    gw_map_del(&a->socks_by_sid, s->sid);
    local_remove(a, s);
    set_acked(s, NULL, NULL);
    sock_unref(s);
  }
  while (!gw_list_empty(&a->rooms)) {
    rroom_t *r = GW_LIST_DATA(a->rooms.next, rroom_t, link);
    while (!gw_list_empty(&r->joins)) {
      rreq_t *q = GW_LIST_DATA(r->joins.next, rreq_t, link);
      gw_list_remove(&q->link);
      req_free(q);
    }
    room_free(a, r);
  }
  gw_frame_unref(a->rl_frame);
  gw_map_close(&a->socks_by_sid);
  gw_map_close(&a->rooms_by_name);
  free(a->node);
  free(a->node_chan);
  free(a);
}

static const gw_adapter_ops_t rad_ops = {
    .name = "redis",
    .attach = rad_attach,
    .detach = rad_detach,
    .join = rad_join,
    .leave = rad_leave,
    .emit_room = rad_emit_room,
    .emit_dm = rad_emit_dm,
    .stats = rad_stats,
    .close = rad_close,
    .free = rad_free,
};

gw_adapter_t *gw_adapter_redis_new(const gw_adapter_cfg_t *cfg, int *err) {
  int e = GW_EINVAL;
  rad_t *a = NULL;
  if (cfg == NULL || cfg->loop == NULL || cfg->deliver == NULL ||
      cfg->node_id == NULL || cfg->node_id[0] == '\0' || cfg->redis_url == NULL)
    goto fail;
  e = GW_ENOMEM;
  a = calloc(1, sizeof(*a));
  if (a == NULL)
    goto fail;
  a->base.ops = &rad_ops;
  a->base.cfg = *cfg;
  a->loop = cfg->loop;
  if (a->base.cfg.heartbeat_ms == 0)
    a->base.cfg.heartbeat_ms = 2000;
  if (a->base.cfg.node_ttl_ms == 0)
    a->base.cfg.node_ttl_ms = 3 * a->base.cfg.heartbeat_ms;
  if (a->base.cfg.command_timeout_ms == 0)
    a->base.cfg.command_timeout_ms = 3000;
  gw_map_init(&a->socks_by_sid);
  gw_map_init(&a->rooms_by_name);
  gw_list_init(&a->socks);
  gw_list_init(&a->rooms);
  a->backoff_ms = BACKOFF_MIN_MS;
  if (gw_redis_url_parse(cfg->redis_url, &a->url) != 0) {
    e = GW_EINVAL;
    goto fail_free;
  }
  a->node = strdup(cfg->node_id);
  a->node_chan = a->node ? cat2("gw:n:", a->node) : NULL;
  if (a->node_chan == NULL)
    goto fail_free;
  size_t maxp = cfg->max_pending ? cfg->max_pending + INTERNAL_HEADROOM : 0;
  gw_redis_conn_cfg_t cc = {a->loop,      maxp, a->base.cfg.command_timeout_ms,
                            on_cmd_state, NULL, a};
  a->cmd = gw_redis_conn_new(&cc, &e);
  cc.on_state = on_sub_state;
  cc.on_push = on_push;
  a->sub = a->cmd ? gw_redis_conn_new(&cc, &e) : NULL;
  if (a->sub == NULL) {
    if (a->cmd != NULL) {
      /* Not started: closing completes on the loop; nothing waits for it. */
      gw_redis_conn_close(a->cmd, NULL, NULL);
    }
    goto fail_free;
  }
  a->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)a << 16) ^
           0x9e3779b97f4a7c15ULL;
  uv_timer_init(a->loop, &a->hb);
  uv_timer_init(a->loop, &a->retry);
  a->hb.data = a->retry.data = a;
  uv_timer_start(&a->hb, on_heartbeat, a->base.cfg.heartbeat_ms,
                 a->base.cfg.heartbeat_ms);
  a->state = S_DOWN;
  session_connect(a);
  return &a->base;

fail_free:
  free(a->node);
  free(a->node_chan);
  gw_map_close(&a->socks_by_sid);
  gw_map_close(&a->rooms_by_name);
  free(a);
fail:
  if (err != NULL)
    *err = e;
  return NULL;
}
