/* SPDX-License-Identifier: MIT */
/* gw_redis_rooms.c: the Redis adapter's rooms (gw_redis_int.h): local
 * membership, the room channel subscriptions, roomList, and the pub/sub
 * events that drive them.
 *
 * A room exists here while this process needs its channel: it has local
 * members, joins in progress or a session sync waiting for it. Membership
 * changes only as the J and L events arrive, in Redis order; a join waits for
 * its room's subscription before it is sent, so this process sees its own J
 * event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_check.h"
#include "gw_log.h"
#include "gw_redis_int.h"

static int room_sub_send(rad_t *a, rroom_t *r, int unsub);

/* ---- rooms and local membership ------------------------------------------ */

rroom_t *gw__redis_room_get(rad_t *a, const char *name, int create) {
  rroom_t *r = gw_map_get(&a->rooms_by_name, name);
  if (r != NULL || !create)
    return r;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->name = strdup(name);
  r->chan = gw__redis_cat2(ROOM_PREFIX, name);
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

void gw__redis_room_free(rad_t *a, rroom_t *r) {
  GW_CHECK(r->n_members == 0 && gw_list_empty(&r->members));
  GW_CHECK(gw_list_empty(&r->joins) && r->busy == 0);
  gw_map_del(&a->rooms_by_name, r->name);
  gw_list_remove(&r->link);
  free(r->name);
  free(r->chan);
  free(r);
}

void gw__redis_local_add(rad_t *a, rsock_t *s, rroom_t *r) {
  GW_CHECK(s->attached && s->room == NULL && gw_list_empty(&s->member_link));
  s->room = r;
  gw_list_push_back(&r->members, &s->member_link);
  if (r->n_members++ == 0)
    a->local_rooms++;
  a->local_members++;
}

void gw__redis_local_remove(rad_t *a, rsock_t *s) {
  rroom_t *r = s->room;
  if (r == NULL)
    return;
  GW_CHECK(!gw_list_empty(&s->member_link));
  GW_CHECK(r->n_members > 0 && a->local_rooms > 0 && a->local_members > 0);
  gw_list_remove(&s->member_link);
  s->room = NULL;
  if (--r->n_members == 0)
    a->local_rooms--;
  a->local_members--;
}

static void deliver_room(rad_t *a, rroom_t *r, gw_frame_t *f,
                         const rsock_t *except) {
  gw_list_t *it;
  if (f == NULL)
    return;
  GW_LIST_FOREACH(it, &r->members) {
    rsock_t *s = GW_LIST_DATA(it, rsock_t, member_link);
    if (s != except)
      gw__redis_deliver(a, s, f);
  }
}

/* ---- roomList ------------------------------------------------------------ */

void gw__redis_rl_update(rad_t *a, uint64_t ver, const char *p, size_t n) {
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
      gw__redis_deliver(a, s, f);
    }
  }
}

/* ---- room subscriptions -------------------------------------------------- */

static int room_wanted(const rroom_t *r) {
  return r->n_members > 0 || !gw_list_empty(&r->joins) || r->sync_wait;
}

int gw__redis_ensure_sub(rad_t *a, rroom_t *r) {
  if (r->sub == SUB_NONE)
    return room_sub_send(a, r, 0);
  return 0; /* PENDING/ON; OFF resubscribes when the UNSUBSCRIBE lands */
}

void gw__redis_maybe_unsub(rroom_t *r, rad_t *a) {
  if (room_wanted(r) || r->busy)
    return;
  if (r->sub == SUB_ON) {
    if (room_sub_send(a, r, 1) != 0)
      gw__redis_session_fail(a, "cannot unsubscribe");
  } else if (r->sub == SUB_NONE) {
    gw__redis_room_free(a, r);
  } /* PENDING/OFF: decided when the confirmation lands */
}

/* run_waiters sends the joins that waited for |r|'s subscription. */
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
    GW_CHECK(q->phase == PH_WAIT && q->room == r);
    gw_list_remove(&q->link);
    int rc = GW_ECLOSED;
    if (q->s != NULL && q->s->attached && a->state == S_UP)
      rc = gw__redis_send_script(q, 0);
    else if (a->state != S_UP)
      rc = GW_EUNAVAIL;
    if (rc == 0) {
      q->phase = PH_SENT;
      gw_list_push_back(&r->joins, &q->link);
    } else {
      gw__redis_req_complete(q, rc); /* detached while waiting: GW_ECLOSED */
      free(q);
    }
  }
  GW_CHECK(r->busy > 0);
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
    gw__redis_session_fail(a, status == GW_ETIMEDOUT ? "SUBSCRIBE timed out"
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
  GW_CHECK(r->sub == SUB_PENDING);
  r->sub = SUB_ON;
  if (r->sync_wait) {
    r->sync_wait = 0;
    gw__redis_sync_step_done(a);
    if (a->gen != gen)
      return;
  }
  run_waiters(a, r);
  gw__redis_maybe_unsub(r, a);
}

static void room_unsub_done(rreq_t *q, int status, redisReply *reply) {
  rad_t *a = q->a;
  rroom_t *r = q->room;
  int ok = room_sub_ok(q, status);
  (void)reply;
  free(q);
  if (!ok)
    return;
  GW_CHECK(r->sub == SUB_OFF);
  r->sub = SUB_NONE;
  if (room_wanted(r)) {
    if (room_sub_send(a, r, 0) != 0)
      gw__redis_session_fail(a, "cannot subscribe");
  } else {
    gw__redis_room_free(a, r);
  }
}

/* room_sub_send (un)subscribes |r|'s channel: NONE -> PENDING, or ON -> OFF
 * when |unsub|. Returns 0 or the send error (then |r| is unchanged). */
static int room_sub_send(rad_t *a, rroom_t *r, int unsub) {
  GW_CHECK(r->sub == (unsub ? SUB_ON : SUB_NONE));
  const char *p[2] = {unsub ? "UNSUBSCRIBE" : "SUBSCRIBE", r->chan};
  size_t len[2] = {strlen(p[0]), r->chanlen};
  rreq_t *q = gw__redis_req_new(a, unsub ? room_unsub_done : room_sub_done, -1,
                                2, p, len);
  if (q == NULL)
    return GW_ENOMEM;
  q->setup = 1;
  q->room = r;
  int rc = gw__redis_send_cmd(q, a->sub);
  if (rc != 0) {
    free(q);
    return rc;
  }
  r->sub = unsub ? SUB_OFF : SUB_PENDING;
  return 0;
}

void gw__redis_rooms_reset(rad_t *a, int status) {
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
        gw__redis_req_free(q);
      } /* PH_SENT: answered when the link drops */
    }
  }
  while (!gw_list_empty(&fail)) {
    rreq_t *q = GW_LIST_DATA(fail.next, rreq_t, link);
    gw_list_remove(&q->link);
    gw__redis_req_complete(q, status);
    free(q);
  }
}

void gw__redis_rooms_sweep(rad_t *a) {
  gw_list_t *it = a->rooms.next;
  while (it != &a->rooms) {
    rroom_t *r = GW_LIST_DATA(it, rroom_t, link);
    it = it->next;
    if (!room_wanted(r) && r->sub == SUB_NONE && !r->busy)
      gw__redis_room_free(a, r);
  }
}

/* ---- pub/sub events ------------------------------------------------------ */

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

/* on_join_event applies a J event: |s| (ours, or NULL) is now in |r|, and
 * the join that caused it has seen its event. */
static void on_join_event(rad_t *a, rroom_t *r, rsock_t *s,
                          const gw_redis_msg_t *m) {
  if (s != NULL) {
    if (s->room != r) {
      rroom_t *old = s->room;
      gw__redis_local_remove(a, s);
      gw__redis_local_add(a, s, r);
      if (old != NULL)
        gw__redis_maybe_unsub(old, a);
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
      gw__redis_req_free(q);
    } else {
      q->j_seen = 1;
    }
  }
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
    on_join_event(a, r, s, m);
    fr = span_frame(GW_EV_NOTICE, m->notice);
    deliver_room(a, r, fr, s);
    gw_frame_unref(fr);
    fr = span_frame(GW_EV_USERLIST, m->userlist);
    deliver_room(a, r, fr, NULL);
    gw_frame_unref(fr);
  } else if (m->type == 'L') {
    rsock_t *s = sock_of(a, m->sid);
    if (s != NULL && s->room == r)
      gw__redis_local_remove(a, s);
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
  GW_CHECK(r->busy > 0);
  r->busy--;
  gw__redis_maybe_unsub(r, a);
}

static void on_node_event(rad_t *a, const gw_redis_msg_t *m) {
  if (m->type == 'D') {
    gw_frame_t *fr = span_frame(m->kind, m->frame);
    for (int i = 0; fr != NULL && i < m->n_sids; i++) {
      rsock_t *s = sock_of(a, m->sids[i]);
      if (s != NULL)
        gw__redis_deliver(a, s, fr);
    }
    gw_frame_unref(fr);
  } else if (m->type == 'H') {
    uint64_t t = m->version;
    if (t > a->hb_echo)
      a->hb_echo = t;
    if (a->assert_token != 0 && t >= a->assert_token && a->state == S_UP) {
      a->assert_token = 0;
      gw__redis_start_reassert(a);
    }
  }
}

void gw__redis_on_push(void *arg, redisReply *rep) {
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
    gw__redis_log(GW_LOG_WARN, "dropped malformed event (%zu bytes) on %.*s",
                  pl->len, (int)(ch->len < 64 ? ch->len : 64), ch->str);
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
    gw__redis_rl_update(a, m.version, m.frame.p, m.frame.n);
  } else {
    on_node_event(a, &m);
  }
}
