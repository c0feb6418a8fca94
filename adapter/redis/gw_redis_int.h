/* SPDX-License-Identifier: MIT */
/* gw_redis_int.h: the Redis adapter's internals, shared inside adapter/redis/
 * only (nng's sockimpl.h). Nothing outside this folder includes it.
 *
 * The adapter (gw_adapter_redis.c's header comment tells how it works) is
 * split by concern:
 *   gw_adapter_redis.c  the ops table; requests, their shared reply path and
 *                       the requests of the ops (join, leave, emit, dm,
 *                       detach); close and free
 *   gw_redis_session.c  the session: connect, sync, re-assert, heartbeat and
 *                       reaping, failure and backoff
 *   gw_redis_rooms.c    rooms and local membership, room subscriptions,
 *                       roomList, and the pub/sub events that drive them
 * Functions called across these files carry the gw__redis_ prefix; the rest
 * are static. Threading: none; everything runs on the adapter's loop. */
#ifndef GW_REDIS_INT_H
#define GW_REDIS_INT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <hiredis/hiredis.h>

#include "gw_adapter.h"
#include "gw_list.h"
#include "gw_map.h"
#include "gw_redis_conn.h"
#include "gw_redis_msg.h"
#include "gw_redis_url.h"

/* ---- constants ----------------------------------------------------------- */

/* The Lua scripts (lua/NAME.lua), by index into gw__redis_script_src. */
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

/* Session states, in this order (code compares them). Requests are accepted
 * only in S_UP. */
enum { S_DOWN, S_CONNECTING, S_SYNCING, S_UP, S_CLOSING, S_CLOSED };

/* Room channel subscription states: none, SUBSCRIBE in flight, subscribed,
 * UNSUBSCRIBE in flight. */
enum { SUB_NONE, SUB_PENDING, SUB_ON, SUB_OFF };

/* Join request phases: waiting for the room subscription, sent, or answered
 * "ok" but its J event not seen yet (keeps the subscription alive). */
enum { PH_WAIT, PH_SENT, PH_AWAIT_J };

#define ROOM_PREFIX       GW_REDIS_ROOM_PREFIX
#define REAP_LIMIT        1000
#define BACKOFF_MIN_MS    100
#define BACKOFF_MAX_MS    2000
#define INTERNAL_HEADROOM 64 /* commands beyond max_pending for upkeep */

/* ---- types --------------------------------------------------------------- */

typedef struct rad rad_t;
typedef struct rroom rroom_t;
typedef struct rreq rreq_t;

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

/* rreq_done_fn completes one request: the shared reply path (on_reply in
 * gw_adapter_redis.c) runs it exactly once per sent request, after the steps
 * every reply shares. |status| is 0 with |r| set (borrowed for the call;
 * never an error reply: those arrive as GW_EUNAVAIL), or a negative code
 * with |r| NULL. It owns |q|: it frees it, or keeps it (a join waiting for
 * its J event). A session setup request (rreq_t.setup) never sees an error
 * reply: the shared path ends the session instead. */
typedef void (*rreq_done_fn)(rreq_t *q, int status, redisReply *r);

struct rreq {
  rad_t *a;
  rreq_done_fn done; /* set where the request is made */
  int script;        /* SC_* or -1 for a plain command */
  int setup;         /* part of the session setup: an error reply ends it */
  uint64_t gen;
  gw_result_fn cb;
  gw_peer_fn peer_cb; /* a peer lookup's callback (cb is NULL then) */
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
  /* The peer registry: our tag and address ("" for both when this node does
   * not register), whether another address holds our tag (logged once per
   * collision), and the lookup counters. */
  char peer_tag[GW_PEER_TAG_LEN + 1];
  char advertise[GW_PEER_ADDR_MAX + 1];
  int peer_conflict;
  uint64_t peer_lookups, peer_lookup_failures;
};

/* ---- gw_adapter_redis.c: helpers, requests, close ------------------------ */

/* The script bodies, indexed by SC_*. */
extern const char *const gw__redis_script_src[SC__COUNT];

/* gw__redis_log logs "redis: <message>" at |level| (GW_LOG_*). */
__attribute__((format(printf, 2, 3))) void gw__redis_log(int level,
                                                         const char *fmt, ...);

/* gw__redis_cat2 returns |a| followed by |b| (owned), or NULL. */
char *gw__redis_cat2(const char *a, const char *b);

/* gw__redis_deliver hands |f| (borrowed) to the gateway for |s|. */
void gw__redis_deliver(rad_t *a, rsock_t *s, gw_frame_t *f);

/* gw__redis_set_acked records what the gateway was told (both copied; both
 * NULL, also when out of memory, for "in no room"). */
void gw__redis_set_acked(rsock_t *s, const char *room, const char *name);

/* gw__redis_req_new returns a request (owned) completed by |done|, with a
 * copy of |n| arguments (|p|, |len|: borrowed), or NULL. |script| is an SC_*
 * for gw__redis_send_script, or -1 for a plain command. A request that was
 * never sent is released with free(). */
rreq_t *gw__redis_req_new(rad_t *a, rreq_done_fn done, int script, int n,
                          const char *const *p, const size_t *len);

/* gw__redis_req_newv is gw__redis_req_new for at most 8 C strings. */
rreq_t *gw__redis_req_newv(rad_t *a, rreq_done_fn done, int script, int n,
                           const char *const *p);

/* gw__redis_req_complete runs the gateway's callback once (later calls do
 * nothing) and drops the request's hold on its socket; |q| stays allocated
 * (PH_AWAIT_J). */
void gw__redis_req_complete(rreq_t *q, int status);

/* gw__redis_req_free frees a request whose callback already ran. */
void gw__redis_req_free(rreq_t *q);

/* gw__redis_send_cmd sends |q|'s arguments as a command on |c|; its reply
 * reaches q->done. Returns 0 or gw_redis_conn_command's error (then nothing
 * runs and the caller still owns |q|). */
int gw__redis_send_cmd(rreq_t *q, gw_redis_conn_t *c);

/* gw__redis_send_script runs |q|'s script (EVALSHA, or EVAL with the body
 * when |use_eval| or the script is not loaded) on the command link, with
 * |q|'s arguments as ARGV. Returns as gw__redis_send_cmd, or GW_ENOMEM. */
int gw__redis_send_script(rreq_t *q, int use_eval);

/* gw__redis_internal sends an upkeep script (no gateway callback; |token| is
 * kept in the request). Failures are repaired by re-asserting: it sets
 * a->dirty when the script cannot be sent. */
void gw__redis_internal(rad_t *a, rreq_done_fn done, int script, int n,
                        const char *const *p, uint64_t token);

/* gw__redis_close_part_done counts one finished part of the close; the last
 * one runs the close callback. */
void gw__redis_close_part_done(rad_t *a);

/* ---- gw_redis_session.c: the session ------------------------------------ */

/* gw__redis_session_init creates the two links (not connected). Returns 0 or
 * an error code (then a->cmd and a->sub are NULL). */
int gw__redis_session_init(rad_t *a);

/* gw__redis_session_start starts the heartbeat timer and the first connect
 * attempt (S_DOWN -> S_CONNECTING). */
void gw__redis_session_start(rad_t *a);

/* gw__redis_session_fail ends the session (unless down or closing): requests
 * in flight are answered GW_EUNAVAIL, stale replies are ignored (a->gen), and
 * a reconnect is scheduled with backoff. */
void gw__redis_session_fail(rad_t *a, const char *why);

/* gw__redis_sync_step_done counts one finished step of the session sync;
 * the last one of a phase starts the next (or brings the session up). */
void gw__redis_sync_step_done(rad_t *a);

/* gw__redis_start_reassert makes Redis match the local truth again (S_UP ->
 * S_SYNCING): requests get GW_EUNAVAIL meanwhile. */
void gw__redis_start_reassert(rad_t *a);

/* ---- gw_redis_rooms.c: rooms, subscriptions, events ---------------------- */

/* gw__redis_room_get returns the room |name| (borrowed from the adapter),
 * creating it when |create|; NULL when absent or out of memory. */
rroom_t *gw__redis_room_get(rad_t *a, const char *name, int create);

/* gw__redis_room_free forgets |r|: no members, no joins, not iterated. */
void gw__redis_room_free(rad_t *a, rroom_t *r);

/* gw__redis_local_add makes |s| (in no room) a local member of |r|. */
void gw__redis_local_add(rad_t *a, rsock_t *s, rroom_t *r);

/* gw__redis_local_remove takes |s| out of its room, if any. */
void gw__redis_local_remove(rad_t *a, rsock_t *s);

/* gw__redis_rl_update keeps roomList version |ver| (|p|, |n|: the frame,
 * borrowed) if newer than the one held and delivers it to every socket. */
void gw__redis_rl_update(rad_t *a, uint64_t ver, const char *p, size_t n);

/* gw__redis_ensure_sub makes |r|'s channel subscribed (or on its way to it).
 * Returns 0 or the send error. */
int gw__redis_ensure_sub(rad_t *a, rroom_t *r);

/* gw__redis_maybe_unsub unsubscribes |r|, or frees it, once nothing needs
 * it (no members, joins or sync waiting) and nothing iterates it (busy). */
void gw__redis_maybe_unsub(rroom_t *r, rad_t *a);

/* gw__redis_rooms_reset marks every room unsubscribed when the session ends
 * or the adapter closes: waiting joins complete with |status|, joins awaiting
 * their J event are dropped; joins sent are answered by their links. */
void gw__redis_rooms_reset(rad_t *a, int status);

/* gw__redis_rooms_sweep frees the rooms nothing needs any more. */
void gw__redis_rooms_sweep(rad_t *a);

/* gw__redis_on_push applies one pub/sub message (the subscription link's
 * gw_redis_push_fn; |arg| is the adapter). */
void gw__redis_on_push(void *arg, redisReply *rep);

#endif /* GW_REDIS_INT_H */
