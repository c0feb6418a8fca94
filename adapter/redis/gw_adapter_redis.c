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
 * on_reply below runs the steps all replies share, then it. This file holds
 * the ops and their requests; the session and the rooms have files of their
 * own (gw_redis_int.h lists them). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_check.h"
#include "gw_log.h"
#include "gw_redis_int.h"
#include "gw_redis_scripts.h"

/* Events carry a frame's kind as one decimal digit. */
_Static_assert(GW_EV__COUNT <= 10, "event kind must fit one digit");

const char *const gw__redis_script_src[SC__COUNT] = {
    gw_lua_join, gw_lua_leave,     gw_lua_dm,     gw_lua_heartbeat,
    gw_lua_reap, gw_lua_node_down, gw_lua_assert, gw_lua_roomlist};

static void close_finish(rad_t *a);

/* ---- small helpers ------------------------------------------------------- */

void gw__redis_log(int level, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  gw_log(level, "redis: %s", buf);
}

char *gw__redis_cat2(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *d = malloc(la + lb + 1);
  if (d != NULL) {
    memcpy(d, a, la);
    memcpy(d + la, b, lb + 1);
  }
  return d;
}

void gw__redis_deliver(rad_t *a, rsock_t *s, gw_frame_t *f) {
  a->base.cfg.deliver(a->base.cfg.ctx, s->handle, f);
}

static void sock_unref(rsock_t *s) {
  GW_CHECK(s->refs > 0);
  if (--s->refs > 0)
    return;
  free(s->acked_room);
  free(s->acked_name);
  free(s->sid);
  free(s);
}

void gw__redis_set_acked(rsock_t *s, const char *room, const char *name) {
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

static int reply_is(const redisReply *r, const char *s) {
  return r != NULL &&
         (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
         r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* ---- requests ------------------------------------------------------------ */

rreq_t *gw__redis_req_new(rad_t *a, rreq_done_fn done, int script, int n,
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

rreq_t *gw__redis_req_newv(rad_t *a, rreq_done_fn done, int script, int n,
                           const char *const *p) {
  size_t len[8];
  GW_CHECK(n >= 0 && n <= 8);
  for (int i = 0; i < n; i++)
    len[i] = strlen(p[i]);
  return gw__redis_req_new(a, done, script, n, p, len);
}

void gw__redis_req_complete(rreq_t *q, int status) {
  gw_result_fn cb = q->cb;
  q->cb = NULL;
  if (q->s != NULL) {
    sock_unref(q->s);
    q->s = NULL;
  }
  if (cb != NULL) {
    GW_CHECK(q->a->inflight > 0);
    q->a->inflight--;
    cb(q->arg, status);
  }
}

void gw__redis_req_free(rreq_t *q) {
  GW_CHECK(q->cb == NULL);
  gw__redis_req_complete(q, GW_ECLOSED); /* only reached with cb already run */
  free(q);
}

/* on_reply is the one reply path of every request: the steps all replies
 * share (NOSCRIPT retry, error counting, the end of the session on a failed
 * setup step or a missed deadline), around the request's own q->done. */
static void on_reply(void *arg, int status, redisReply *r) {
  rreq_t *q = arg;
  rad_t *a = q->a;

  GW_CHECK(q->done != NULL);
  if (status == 0 && r->type == REDIS_REPLY_ERROR && q->script >= 0 &&
      !q->retried && strncmp(r->str, "NOSCRIPT", 8) == 0) {
    q->retried = 1; /* the script cache was flushed: send the body */
    if (gw__redis_send_script(q, 1) == 0)
      return;
    status = GW_EUNAVAIL;
  }
  if (status == 0 && r->type == REDIS_REPLY_ERROR) {
    gw__redis_log(GW_LOG_WARN, "command failed: %.*s", (int)r->len, r->str);
    a->errors++;
    if (q->setup) {
      if (q->gen == a->gen)
        gw__redis_session_fail(a, "session setup failed");
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
    gw__redis_session_fail(a, "command timed out");
}

int gw__redis_send_cmd(rreq_t *q, gw_redis_conn_t *c) {
  return gw_redis_conn_command(c, on_reply, q, q->argc, q->argv, q->argvlen);
}

int gw__redis_send_script(rreq_t *q, int use_eval) {
  rad_t *a = q->a;
  int n = q->argc + 3;
  GW_CHECK(q->script >= 0 && q->script < SC__COUNT);
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
  av[1] = use_eval ? gw__redis_script_src[q->script] : a->sha[q->script];
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

void gw__redis_internal(rad_t *a, rreq_done_fn done, int script, int n,
                        const char *const *p, uint64_t token) {
  rreq_t *q = gw__redis_req_newv(a, done, script, n, p);
  if (q == NULL) {
    a->dirty = 1;
    return;
  }
  q->token = token;
  if (gw__redis_send_script(q, 0) != 0) {
    a->dirty = 1;
    free(q);
  }
}

/* ---- ops: attach and detach ---------------------------------------------- */

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
    gw__redis_deliver(a, s, a->rl_frame);
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
  GW_CHECK(s->attached && s->refs > 0);
  gw_list_remove(&s->all_link); /* no delivery to it from here on */
  s->attached = 0;
  rroom_t *r = s->room;
  gw__redis_local_remove(a, s);
  if (r != NULL)
    gw__redis_maybe_unsub(r, a);
  if (s->acked_room != NULL || s->touched) {
    /* Queued behind any join of this socket on the same connection, so it
     * runs after it in Redis. When down, the next re-assert cleans up. */
    if (a->state == S_UP || a->state == S_SYNCING) {
      const char *p[1] = {s->sid};
      gw__redis_internal(a, detach_done, SC_LEAVE, 1, p, 0);
    } else if (a->state < S_CLOSING) {
      a->dirty = 1;
    }
  }
  gw__redis_set_acked(s, NULL, NULL);
  sock_unref(s);
}

/* ---- ops: the gateway's requests ----------------------------------------- */

/* admit_any admits a new gateway request if the session is up and
 * max_pending allows one more. Returns 0 or GW_EUNAVAIL. */
static int admit_any(rad_t *a) {
  if (a->state != S_UP)
    return GW_EUNAVAIL;
  if (a->base.cfg.max_pending != 0 && a->inflight >= a->base.cfg.max_pending) {
    a->pending_full++;
    return GW_EUNAVAIL;
  }
  return 0;
}

/* admit finds the socket |sid| for a new gateway request, if admit_any
 * admits it. Returns 0 with *out set (borrowed), GW_EINVAL or GW_EUNAVAIL. */
static int admit(rad_t *a, const char *sid, rsock_t **out) {
  rsock_t *s = gw_map_get(&a->socks_by_sid, sid);
  if (s == NULL)
    return GW_EINVAL;
  int rc = admit_any(a);
  if (rc == 0)
    *out = s;
  return rc;
}

/* req_bind gives |q| the gateway's callback and a reference on |s|. */
static void req_bind(rreq_t *q, rsock_t *s, gw_result_fn cb, void *arg) {
  GW_CHECK(s->attached && q->s == NULL);
  q->cb = cb;
  q->arg = arg;
  q->s = s;
  s->refs++;
  q->a->inflight++;
}

/* req_unbind undoes req_bind for a request that was never sent. */
static void req_unbind(rreq_t *q) {
  GW_CHECK(q->a->inflight > 0);
  q->a->inflight--;
  sock_unref(q->s);
  free(q);
}

/* req_start binds |q| to |s| and the gateway's callback, then sends it: its
 * script, or its command on the command link. Returns 0, or GW_EUNAVAIL with
 * |q| freed and the callback never run. */
static int req_start(rreq_t *q, rsock_t *s, gw_result_fn cb, void *arg) {
  req_bind(q, s, cb, arg);
  int rc = q->script >= 0 ? gw__redis_send_script(q, 0)
                          : gw__redis_send_cmd(q, q->a->cmd);
  if (rc != 0) {
    req_unbind(q);
    return GW_EUNAVAIL;
  }
  return 0;
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

/* join_done completes a join (sent by rad_join, or by the room's
 * subscription when it waited for it: gw_redis_rooms.c). */
static void join_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  rroom_t *room = q->room;
  int st = status != 0 ? status : join_status(r);
  int published = status == 0 && reply_is(r, "ok");
  GW_CHECK(q->phase == PH_SENT && !gw_list_empty(&q->link));
  if (st == 0 && q->s != NULL && q->s->attached) {
    gw__redis_set_acked(q->s, q->argv[1], q->argv[2]);
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
    gw__redis_req_complete(q, st);
    room->busy--;
  } else {
    room->busy++;
    gw__redis_req_complete(q, st);
    room->busy--;
    free(q);
  }
  gw__redis_maybe_unsub(room, a);
}

static int rad_join(gw_adapter_t *b, const char *sid, const char *room,
                    const char *user, gw_result_fn cb, void *arg) {
  rad_t *a = rad_of(b);
  rsock_t *s;
  int rc = admit(a, sid, &s);
  if (rc != 0)
    return rc;
  rroom_t *r = gw__redis_room_get(a, room, 1);
  if (r == NULL)
    return GW_ENOMEM;
  char mr[24], mm[24];
  snprintf(mr, sizeof(mr), "%zu", a->base.cfg.max_rooms);
  snprintf(mm, sizeof(mm), "%zu", a->base.cfg.max_room_members);
  const char *p[6] = {sid, room, user, a->node, mr, mm};
  rreq_t *q = gw__redis_req_newv(a, join_done, SC_JOIN, 6, p);
  if (q == NULL) {
    gw__redis_maybe_unsub(r, a);
    return GW_ENOMEM;
  }
  req_bind(q, s, cb, arg);
  q->room = r;
  s->touched = 1;
  gw_list_push_back(&r->joins, &q->link);
  if (r->sub == SUB_ON) {
    q->phase = PH_SENT;
    rc = gw__redis_send_script(q, 0);
  } else {
    /* Subscribe first, so this process sees its own join event. */
    q->phase = PH_WAIT;
    rc = gw__redis_ensure_sub(a, r);
  }
  if (rc != 0) {
    gw_list_remove(&q->link);
    req_unbind(q);
    gw__redis_maybe_unsub(r, a);
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
    gw__redis_set_acked(q->s, NULL, NULL);
  gw__redis_req_complete(q, st);
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
  rreq_t *q = gw__redis_req_newv(a, leave_done, SC_LEAVE, 1, p);
  if (q == NULL)
    return GW_ENOMEM;
  return req_start(q, s, cb, arg);
}

/* An emit: a room message (target NULL) or a DM. All borrowed. */
typedef struct emit {
  const char *sid, *room, *target;
  gw_frame_t *f;
} emit_t;

/* emit_new_fn returns the request that carries |e| (owned), or NULL. */
typedef rreq_t *(*emit_new_fn)(rad_t *a, const emit_t *e);

static int check_room(rsock_t *s, const char *room) {
  return s->acked_room != NULL && strcmp(s->acked_room, room) == 0;
}

/* emit runs the steps both emits share: admit the sender; refuse one not in
 * |e->room| through the callback (GW_ENOTINROOM, nothing sent); make the
 * request with |make|, then bind and send it. */
static int emit(rad_t *a, const emit_t *e, emit_new_fn make, gw_result_fn cb,
                void *arg) {
  rsock_t *s;
  int rc = admit(a, e->sid, &s);
  if (rc != 0)
    return rc;
  if (!check_room(s, e->room)) {
    cb(arg, GW_ENOTINROOM);
    return 0;
  }
  rreq_t *q = make(a, e);
  if (q == NULL)
    return GW_ENOMEM;
  return req_start(q, s, cb, arg);
}

static void room_msg_done(rreq_t *q, int status, redisReply *r) {
  (void)r;
  gw__redis_req_complete(q, status);
  free(q);
}

/* room_msg_new: an M event, one PUBLISH; every instance with members
 * re-wraps it once. */
static rreq_t *room_msg_new(rad_t *a, const emit_t *e) {
  gw_frame_t *f = e->f;
  char hdr[32];
  int hl = snprintf(hdr, sizeof(hdr), "M1:%u%zu:", (unsigned)f->kind, f->len);
  char *payload = malloc((size_t)hl + f->len);
  char *chan = gw__redis_cat2(ROOM_PREFIX, e->room);
  rreq_t *q = NULL;
  if (payload != NULL && chan != NULL) {
    memcpy(payload, hdr, (size_t)hl);
    memcpy(payload + hl, gw_frame_data(f), f->len);
    const char *p[3] = {"PUBLISH", chan, payload};
    size_t len[3] = {7, strlen(chan), (size_t)hl + f->len};
    q = gw__redis_req_new(a, room_msg_done, -1, 3, p, len);
  }
  free(payload);
  free(chan);
  return q;
}

static int rad_emit_room(gw_adapter_t *b, const char *sid, const char *room,
                         gw_frame_t *f, gw_result_fn cb, void *arg) {
  emit_t e = {sid, room, NULL, f};
  return emit(rad_of(b), &e, room_msg_new, cb, arg);
}

static void dm_done(rreq_t *q, int status, redisReply *r) {
  int st = status;
  if (st == 0)
    st = reply_is(r, "ok")               ? 0
         : reply_is(r, "user_not_found") ? GW_ENOTFOUND
         : reply_is(r, "not_in_room")    ? GW_ENOTINROOM
                                         : GW_EUNAVAIL;
  gw__redis_req_complete(q, st);
  free(q);
}

/* dm_new: the dm script, which finds the target's node and publishes a D
 * event to it (and to the sender's). */
static rreq_t *dm_new(rad_t *a, const emit_t *e) {
  gw_frame_t *f = e->f;
  char kind[4];
  snprintf(kind, sizeof(kind), "%u", (unsigned)f->kind);
  const char *p[6] = {e->sid,  e->room, e->target,
                      a->node, kind,    (const char *)gw_frame_data(f)};
  size_t len[6] = {strlen(e->sid),  strlen(e->room), strlen(e->target),
                   strlen(a->node), strlen(kind),    f->len};
  return gw__redis_req_new(a, dm_done, SC_DM, 6, p, len);
}

static int rad_emit_dm(gw_adapter_t *b, const char *sid, const char *room,
                       const char *target, gw_frame_t *f, gw_result_fn cb,
                       void *arg) {
  emit_t e = {sid, room, target, f};
  return emit(rad_of(b), &e, dm_new, cb, arg);
}

/* ---- ops: the peer registry --------------------------------------------- */

/* lookup_done answers a peer lookup: the GET of gw:peer:<tag>. A value that
 * is not an address we could have stored is counted as a bad message and
 * answered as unknown. Close and link loss (GW_ECLOSED, GW_EUNAVAIL) are
 * GW_EUNAVAIL to the gateway. */
static void lookup_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  gw_peer_fn cb = q->peer_cb;
  void *arg = q->arg;
  const char *addr = NULL;
  int st = status;
  if (st == 0 && r->type == REDIS_REPLY_STRING && strlen(r->str) == r->len &&
      gw_adapter_advertise_ok(r->str)) {
    addr = r->str; /* borrowed from the reply, valid during cb */
  } else if (st == 0) {
    if (r->type != REDIS_REPLY_NIL)
      a->bad_messages++;
    st = GW_ENOTFOUND;
  } else if (st != GW_ETIMEDOUT) {
    st = GW_EUNAVAIL;
  }
  if (st == GW_EUNAVAIL || st == GW_ETIMEDOUT)
    a->peer_lookup_failures++;
  GW_CHECK(a->inflight > 0);
  a->inflight--;
  free(q);
  cb(arg, st, addr);
}

static int rad_peer_lookup(gw_adapter_t *b, const char *tag, gw_peer_fn cb,
                           void *arg) {
  rad_t *a = rad_of(b);
  a->peer_lookups++;
  if (!gw_adapter_peer_tag_ok(tag))
    return GW_EINVAL;
  int rc = admit_any(a);
  if (rc != 0) {
    a->peer_lookup_failures++;
    return rc;
  }
  char key[sizeof("gw:peer:") + GW_PEER_TAG_LEN];
  snprintf(key, sizeof(key), "gw:peer:%s", tag);
  const char *p[2] = {"GET", key};
  rreq_t *q = gw__redis_req_newv(a, lookup_done, -1, 2, p);
  if (q == NULL) {
    a->peer_lookup_failures++;
    return GW_ENOMEM;
  }
  q->peer_cb = cb;
  q->arg = arg;
  a->inflight++;
  if (gw__redis_send_cmd(q, a->cmd) != 0) {
    a->inflight--;
    free(q);
    a->peer_lookup_failures++;
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
  out->peer_lookups = a->peer_lookups;
  out->peer_lookup_failures = a->peer_lookup_failures;
}

/* ---- close and free ------------------------------------------------------ */

void gw__redis_close_part_done(rad_t *a) {
  GW_CHECK(a->state == S_CLOSING && a->closing_parts > 0);
  if (--a->closing_parts == 0) {
    a->state = S_CLOSED;
    a->close_cb(a->close_arg);
  }
}

static void on_conn_closed(void *arg) {
  gw__redis_close_part_done(arg);
}

static void on_handle_closed(uv_handle_t *h) {
  gw__redis_close_part_done(h->data);
}

static void close_finish(rad_t *a) {
  GW_CHECK(a->state == S_CLOSING);
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
  gw__redis_rooms_reset(a, GW_ECLOSED);
  if (was_up) {
    /* Our members leave with the usual effects; heartbeat, registration
     * and peer key go. Bounded by the command deadline like everything
     * else. */
    const char *p[3] = {a->node, a->peer_tag, a->advertise};
    rreq_t *q = gw__redis_req_newv(a, node_down_done, SC_NODE_DOWN, 3, p);
    if (q != NULL && gw__redis_send_script(q, 0) == 0)
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
    gw__redis_local_remove(a, s);
    gw__redis_set_acked(s, NULL, NULL);
    sock_unref(s);
  }
  while (!gw_list_empty(&a->rooms)) {
    rroom_t *r = GW_LIST_DATA(a->rooms.next, rroom_t, link);
    while (!gw_list_empty(&r->joins)) {
      rreq_t *q = GW_LIST_DATA(r->joins.next, rreq_t, link);
      gw_list_remove(&q->link);
      gw__redis_req_free(q);
    }
    gw__redis_room_free(a, r);
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
    .peer_lookup = rad_peer_lookup,
    .close = rad_close,
    .free = rad_free,
};

gw_adapter_t *gw_adapter_redis_new(const gw_adapter_cfg_t *cfg, int *err) {
  int e = GW_EINVAL;
  rad_t *a = NULL;
  if (cfg == NULL || cfg->loop == NULL || cfg->deliver == NULL ||
      cfg->node_id == NULL || cfg->node_id[0] == '\0' ||
      cfg->redis_url == NULL ||
      (cfg->peer_tag != NULL && !gw_adapter_peer_tag_ok(cfg->peer_tag)) ||
      (cfg->advertise != NULL && !gw_adapter_advertise_ok(cfg->advertise)))
    goto fail;
  e = GW_ENOMEM;
  a = calloc(1, sizeof(*a));
  if (a == NULL)
    goto fail;
  a->base.ops = &rad_ops;
  a->base.cfg = *cfg;
  a->base.cfg.peer_tag = a->base.cfg.advertise = NULL;
  if (cfg->peer_tag != NULL && cfg->advertise != NULL) {
    /* Both checked above: they fit. */
    memcpy(a->peer_tag, cfg->peer_tag, GW_PEER_TAG_LEN + 1);
    memcpy(a->advertise, cfg->advertise, strlen(cfg->advertise) + 1);
    a->base.cfg.peer_tag = a->peer_tag;
    a->base.cfg.advertise = a->advertise;
  }
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
  a->node_chan = a->node ? gw__redis_cat2("gw:n:", a->node) : NULL;
  if (a->node_chan == NULL)
    goto fail_free;
  e = gw__redis_session_init(a);
  if (e != 0)
    goto fail_free;
  gw__redis_session_start(a);
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
