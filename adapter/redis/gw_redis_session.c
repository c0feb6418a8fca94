/* SPDX-License-Identifier: MIT */
/* gw_redis_session.c: the Redis adapter's session (gw_redis_int.h).
 *
 * A session is one pair of live links. S_DOWN -> S_CONNECTING (resolve off
 * the loop, connect both links) -> S_SYNCING (phase 1: AUTH, SELECT, SCRIPT
 * LOAD, the lobby, node and room subscriptions; phase 2: re-assert the local
 * truth and fetch roomList) -> S_UP. A re-assert (reaped, or an upkeep
 * command failed) goes S_UP -> S_SYNCING on the same links. Any failure goes
 * to S_DOWN: a->gen is bumped so the replies of the old session are ignored,
 * and a reconnect follows with jittered exponential backoff. Once up, a
 * heartbeat keeps this node alive in Redis, checks that the subscription
 * link still delivers (its echo), and reaps dead nodes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "gw_check.h"
#include "gw_log.h"
#include "gw_redis_int.h"

static uint64_t next_rand(rad_t *a) {
  uint64_t x = a->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return a->rng = x;
}

/* ---- sync ---------------------------------------------------------------- */

static void go_up(rad_t *a) {
  GW_CHECK(a->state == S_SYNCING);
  a->state = S_UP;
  a->backoff_ms = BACKOFF_MIN_MS;
  a->hb_echo = a->hb_sent;
  if (a->ups++ > 0)
    a->reconnects++;
  gw__redis_log(GW_LOG_INFO, "up (node %s, %s:%d%s%s%s%s)", a->node,
                a->url.host, a->url.port, a->peer_tag[0] ? "; peer " : "",
                a->peer_tag, a->peer_tag[0] ? " at " : "", a->advertise);
}

/* peer_claimed applies what the peer claim in the heartbeat or assert
 * script answered: "" when our peer key is set, else the address holding our
 * tag. Random 36-bit tags should never collide: it is logged as an error
 * (once until resolved), not retried with another tag; the heartbeat claims
 * the key once the other holder's expires. */
static void peer_claimed(rad_t *a, const redisReply *holder) {
  if (holder == NULL || holder->type != REDIS_REPLY_STRING)
    return;
  if (holder->len == 0) {
    if (a->peer_conflict)
      gw__redis_log(GW_LOG_INFO, "peer tag %s now advertised at %s",
                    a->peer_tag, a->advertise);
    a->peer_conflict = 0;
    return;
  }
  if (!a->peer_conflict)
    gw__redis_log(GW_LOG_ERROR,
                  "peer tag collision: %s is advertised by another node at "
                  "%.*s, not at %s; requests relayed to this tag go there",
                  a->peer_tag, (int)(holder->len > 128 ? 128 : holder->len),
                  holder->str, a->advertise);
  a->peer_conflict = 1;
}

/* sync_rooms rebuilds local membership from what the gateway was told and
 * subscribes every room that has local members. */
static int sync_rooms(rad_t *a) {
  gw_list_t *it;
  GW_LIST_FOREACH(it, &a->socks) {
    rsock_t *s = GW_LIST_DATA(it, rsock_t, all_link);
    rroom_t *want =
        s->acked_room ? gw__redis_room_get(a, s->acked_room, 1) : NULL;
    if (s->acked_room != NULL && want == NULL)
      return GW_ENOMEM;
    if (s->room != want) {
      rroom_t *old = s->room;
      gw__redis_local_remove(a, s);
      if (want != NULL)
        gw__redis_local_add(a, s, want);
      if (old != NULL)
        gw__redis_maybe_unsub(old, a);
    }
  }
  GW_LIST_FOREACH(it, &a->rooms) {
    rroom_t *r = GW_LIST_DATA(it, rroom_t, link);
    if (r->n_members > 0 && r->sub != SUB_ON) {
      r->sync_wait = 1;
      a->sync_left++;
      if (gw__redis_ensure_sub(a, r) != 0)
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

/* assert_done: the assert script answers the peer claim and the sids whose
 * names someone else took while Redis had lost them. */
static void assert_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  int current = this_sync(q);
  free(q);
  if (!current)
    return;
  if (status != 0 || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[1]->type != REDIS_REPLY_ARRAY) {
    gw__redis_session_fail(a, "re-assert failed");
    return;
  }
  peer_claimed(a, r->element[0]);
  r = r->element[1];
  for (size_t i = 0; i < r->elements; i++) {
    rsock_t *s = gw_map_get(&a->socks_by_sid, r->element[i]->str);
    if (s == NULL)
      continue;
    /* Someone took the name while Redis had lost it: the socket is no
     * longer in that room (the gateway learns it on its next request). */
    gw__redis_log(GW_LOG_WARN, "lost the name \"%s\" in \"%s\" on re-assert",
                  s->acked_name, s->acked_room);
    rroom_t *old = s->room;
    gw__redis_local_remove(a, s);
    gw__redis_set_acked(s, NULL, NULL);
    if (old != NULL)
      gw__redis_maybe_unsub(old, a);
  }
  gw__redis_sync_step_done(a);
}

static void roomlist_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  int current = this_sync(q);
  free(q);
  if (!current)
    return;
  if (status != 0) {
    gw__redis_session_fail(a, "re-assert failed");
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
    gw__redis_rl_update(a, strtoull(r->element[0]->str, NULL, 10),
                        r->element[1]->str, r->element[1]->len);
    gw__redis_sync_step_done(a);
  } else {
    gw__redis_session_fail(a, "bad roomList reply");
  }
}

/* sync_phase2 re-asserts every acked membership (with its order keys) and
 * fetches the roomList newer than the one known. */
static void sync_phase2(rad_t *a) {
  char ttl[24], known[24];
  snprintf(ttl, sizeof(ttl), "%llu",
           (unsigned long long)a->base.cfg.node_ttl_ms);
  snprintf(known, sizeof(known), "%llu", (unsigned long long)a->rl_ver);
  size_t n = 5;
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
    p[i++] = a->peer_tag;
    p[i++] = a->advertise;
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
    q = setup(gw__redis_req_new(a, assert_done, SC_ASSERT, (int)n, p, len));
    const char *rl[1] = {known};
    q2 = setup(gw__redis_req_newv(a, roomlist_done, SC_ROOMLIST, 1, rl));
  }
  free(p);
  free(len);
  free(nums);
  a->sync_phase = 2;
  a->sync_left = 2;
  if (q == NULL || q2 == NULL || gw__redis_send_script(q, 0) != 0) {
    free(q);
    free(q2);
    gw__redis_session_fail(a, "cannot re-assert membership");
    return;
  }
  if (gw__redis_send_script(q2, 0) != 0) {
    free(q2);
    gw__redis_session_fail(a, "cannot fetch roomList");
  }
}

void gw__redis_sync_step_done(rad_t *a) {
  GW_CHECK(a->sync_left == 0 || a->state == S_SYNCING);
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
      gw__redis_session_fail(a, "session setup failed");
    else
      gw__redis_sync_step_done(a);
  }
  free(q);
}

/* load_done completes a SCRIPT LOAD: the SHA1 of script q->script. */
static void load_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  if (this_sync(q)) {
    if (status != 0) {
      gw__redis_session_fail(a, "session setup failed");
    } else {
      if (r->type == REDIS_REPLY_STRING && r->len < sizeof(a->sha[0]))
        memcpy(a->sha[q->script], r->str, r->len + 1);
      gw__redis_sync_step_done(a);
    }
  }
  free(q);
}

static void sync_send(rad_t *a, gw_redis_conn_t *c, int n,
                      const char *const *p) {
  rreq_t *q = setup(gw__redis_req_newv(a, sync_done, -1, n, p));
  if (q == NULL || gw__redis_send_cmd(q, c) != 0) {
    free(q);
    a->sync_left = 0;
    gw__redis_session_fail(a, "cannot start session");
    return;
  }
  a->sync_left++;
}

/* sync_start runs once both links are up: authenticate, select the db, load
 * the scripts, subscribe, then (phase 2) re-assert and fetch roomList. */
static void sync_start(rad_t *a) {
  uint64_t gen = a->gen;
  GW_CHECK(a->state == S_CONNECTING);
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
    const char *p[3] = {"SCRIPT", "LOAD", gw__redis_script_src[i]};
    rreq_t *q = setup(gw__redis_req_newv(a, load_done, i, 3, p));
    if (q == NULL || gw__redis_send_cmd(q, a->cmd) != 0) {
      free(q);
      gw__redis_session_fail(a, "cannot load scripts");
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
    gw__redis_session_fail(a, "cannot subscribe rooms");
  if (a->gen == gen)
    gw__redis_sync_step_done(a); /* release the hold */
}

void gw__redis_start_reassert(rad_t *a) {
  uint64_t gen = a->gen;
  GW_CHECK(a->state == S_UP);
  gw__redis_log(GW_LOG_WARN, "re-asserting local membership of node %s",
                a->node);
  a->state = S_SYNCING;
  a->sync_phase = 1;
  a->sync_left = 1;
  if (sync_rooms(a) != 0)
    gw__redis_session_fail(a, "cannot subscribe rooms");
  if (a->gen == gen)
    gw__redis_sync_step_done(a);
}

/* ---- connect and fail ---------------------------------------------------- */

static void session_connect(rad_t *a);

static void on_retry(uv_timer_t *t) {
  session_connect(t->data);
}

void gw__redis_session_fail(rad_t *a, const char *why) {
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
  gw__redis_log(was_up ? GW_LOG_WARN : GW_LOG_INFO,
                "%s%s%s%s; retrying in %u ms", was_up ? "down: " : "", why,
                detail[0] ? ": " : "", detail, delay);
  gw__redis_rooms_reset(a, GW_EUNAVAIL);
  gw_redis_conn_disconnect(a->cmd); /* answers in-flight commands */
  gw_redis_conn_disconnect(a->sub);
  a->cmd_up = a->sub_up = 0;
  gw__redis_rooms_sweep(a);
  if (a->state == S_DOWN)
    uv_timer_start(&a->retry, on_retry, delay, 0);
}

static void connect_both(rad_t *a) {
  if (gw_redis_conn_connect(a->cmd, a->ip, a->url.port) != 0 ||
      gw_redis_conn_connect(a->sub, a->ip, a->url.port) != 0)
    gw__redis_session_fail(a, "cannot connect");
}

static void on_gai(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rad_t *a = req->data;
  a->gai_busy = 0;
  if (a->state >= S_CLOSING) {
    uv_freeaddrinfo(res);
    if (a->close_started)
      gw__redis_close_part_done(a);
    return;
  }
  if (a->state != S_CONNECTING) { /* the attempt was abandoned */
    uv_freeaddrinfo(res);
    return;
  }
  if (status != 0 || res == NULL) {
    uv_freeaddrinfo(res);
    gw__redis_log(GW_LOG_WARN, "cannot resolve %s: %s", a->url.host,
                  uv_strerror(status));
    gw__redis_session_fail(a, "resolve failed");
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
    gw__redis_session_fail(a, "resolve failed");
    return;
  }
  a->gai_busy = 1;
}

static void on_conn_state(rad_t *a, int *up, int status) {
  if (a->state != S_CONNECTING)
    return;
  if (status != 0) {
    gw__redis_session_fail(a, status == GW_ETIMEDOUT ? "connect timed out"
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
    gw__redis_session_fail(a, "command link lost");
    return;
  }
  on_conn_state(a, &a->cmd_up, status);
}

static void on_sub_state(void *arg, int status) {
  rad_t *a = arg;
  if (status != 0 && a->state != S_CONNECTING) {
    gw__redis_session_fail(a, "subscription link lost");
    return;
  }
  on_conn_state(a, &a->sub_up, status);
}

/* ---- heartbeat and reaping ----------------------------------------------- */

/* heartbeat_done: the script answers {1, _} when this node was reaped (or
 * Redis lost it). Re-assert once the reaper's leave events, which precede
 * our echo, have been applied. The second element is the peer claim. */
static void heartbeat_done(rreq_t *q, int status, redisReply *r) {
  rad_t *a = q->a;
  if (status == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
      q->gen == a->gen) {
    if (r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[0]->integer == 1)
      a->assert_token = q->token;
    peer_claimed(a, r->element[1]);
  }
  if (status != 0 && q->gen == a->gen)
    gw__redis_session_fail(a, "heartbeat failed");
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
      gw__redis_log(GW_LOG_WARN,
                    "reaped %lld dead node(s) (%s%s), %lld socket(s)", nodes,
                    names->elements > 0 ? names->element[0]->str : "partly",
                    names->elements > 1 ? ", ..." : "", socks);
    }
    if (socks >= REAP_LIMIT && a->state == S_UP) {
      char lim[16];
      snprintf(lim, sizeof(lim), "%d", REAP_LIMIT);
      const char *p[1] = {lim};
      gw__redis_internal(a, reap_done, SC_REAP, 1, p, 0);
    }
  }
  free(q);
}

static void on_heartbeat(uv_timer_t *t) {
  rad_t *a = t->data;
  if (a->state != S_UP)
    return;
  if (a->hb_sent > a->hb_echo + 2) {
    gw__redis_session_fail(a, "subscription stalled");
    return;
  }
  if (a->dirty) {
    a->dirty = 0;
    gw__redis_start_reassert(a);
    return;
  }
  char ttl[24], tok[24], lim[16];
  snprintf(ttl, sizeof(ttl), "%llu",
           (unsigned long long)a->base.cfg.node_ttl_ms);
  snprintf(tok, sizeof(tok), "%llu", (unsigned long long)++a->hb_sent);
  snprintf(lim, sizeof(lim), "%d", REAP_LIMIT);
  const char *hb[5] = {a->node, ttl, tok, a->peer_tag, a->advertise};
  gw__redis_internal(a, heartbeat_done, SC_HEARTBEAT, 5, hb, a->hb_sent);
  const char *reap[1] = {lim};
  gw__redis_internal(a, reap_done, SC_REAP, 1, reap, 0);
}

/* ---- start --------------------------------------------------------------- */

int gw__redis_session_init(rad_t *a) {
  int e = GW_ENOMEM;
  size_t maxp =
      a->base.cfg.max_pending ? a->base.cfg.max_pending + INTERNAL_HEADROOM : 0;
  gw_redis_conn_cfg_t cc = {a->loop,      maxp, a->base.cfg.command_timeout_ms,
                            on_cmd_state, NULL, a};
  a->cmd = gw_redis_conn_new(&cc, &e);
  cc.on_state = on_sub_state;
  cc.on_push = gw__redis_on_push;
  a->sub = a->cmd ? gw_redis_conn_new(&cc, &e) : NULL;
  if (a->sub == NULL) {
    if (a->cmd != NULL) {
      /* Not started: closing completes on the loop; nothing waits for it. */
      gw_redis_conn_close(a->cmd, NULL, NULL);
      a->cmd = NULL;
    }
    return e;
  }
  return 0;
}

void gw__redis_session_start(rad_t *a) {
  a->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)a << 16) ^
           0x9e3779b97f4a7c15ULL;
  uv_timer_init(a->loop, &a->hb);
  uv_timer_init(a->loop, &a->retry);
  a->hb.data = a->retry.data = a;
  uv_timer_start(&a->hb, on_heartbeat, a->base.cfg.heartbeat_ms,
                 a->base.cfg.heartbeat_ms);
  a->state = S_DOWN;
  session_connect(a);
}
