/* SPDX-License-Identifier: MIT */
/* gw_adapter.h: the membership and fan-out seam (Socket.IO's Adapter).
 *
 * The gateway owns sockets and the transport; the adapter owns the chat's
 * shared state (rooms in creation order, members in join order with their
 * names) and decides who receives what. It knows nothing of libwebsockets: it
 * hands encoded frames to local sockets through the deliver hook that the
 * gateway registers. Two implementations sit behind one ops table:
 *   - memory (gw_adapter_memory.c): one process, the embedded default;
 *   - redis (redis/gw_adapter_redis.c): any number of processes sharing one
 *     Redis, where every membership change and the events it causes are one
 *     atomic step in Redis.
 * gw_adapter_new (gw_adapter.c) picks one from the config. Both must pass
 * the same protocol test suite. The adapter also keeps the peer registry
 * (gw_adapter_peer_lookup): which address each live gateway instance
 * advertises under its peer tag, so requests can be relayed to the owner of
 * a session.
 *
 * Effects of each call (the chat protocol, docs/protocol.md):
 *   join   -> leaves the previous room first (with the leave effects), then
 *             `notice` "<user> joined the room." to the other members,
 *             `userList` to every member, and `roomList` to every socket of
 *             the cluster if the room is new.
 *   leave/detach -> `notice` "<user> left the room." and `userList` to the
 *             remaining members; if the room emptied it is deleted and
 *             `roomList` goes to every socket.
 *   emit_room -> the frame to every member of the room, sender included.
 *   emit_dm  -> the frame to the target and to the sender (once if the same).
 *
 * Threading: none. Everything runs on the loop given in the config.
 * Result callbacks (gw_result_fn) run exactly once per call that returned 0,
 * possibly before the call returns (the memory adapter is synchronous); a call
 * that returns an error never runs its callback (libuv's rule). Deliveries
 * caused by a call may come before or after its result callback.
 */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gw_err.h"
#include "gw_frame.h"

typedef struct gw_adapter gw_adapter_t;

/* The gateway's delivery hook: queue |f| (borrowed; take a reference with
 * gw_frame_ref to keep it) for the local socket whose handle is |sock|.
 * It must not call back into the adapter; to drop a slow socket it marks the
 * socket and detaches it later, from the transport's close path. */
typedef void (*gw_deliver_fn)(void *ctx, void *sock, gw_frame_t *f);

/* Result of an asynchronous request: 0 or a negative GW_E* code. */
typedef void (*gw_result_fn)(void *arg, int status);

/* Completion of gw_adapter_close. */
typedef void (*gw_close_fn)(void *arg);

/* Result of gw_adapter_peer_lookup: |status| 0 with |addr| ("host:port",
 * borrowed for the callback's duration), or GW_ENOTFOUND (no live instance
 * has that tag), GW_EUNAVAIL, GW_ETIMEDOUT; |addr| is NULL when |status| is
 * not 0. */
typedef void (*gw_peer_fn)(void *arg, int status, const char *addr);

/* A peer tag names one gateway instance: the first GW_PEER_TAG_LEN
 * characters of the Engine.IO sids it issues, from [A-Za-z0-9_-]. */
#define GW_PEER_TAG_LEN 6

/* An advertised address ("host:port") is at most this many bytes. */
#define GW_PEER_ADDR_MAX 255

typedef struct gw_adapter_cfg {
  uv_loop_t *loop;         /* borrowed; outlives the adapter */
  gw_deliver_fn deliver;   /* required */
  void *ctx;               /* passed to deliver */
  const char *node_id;     /* borrowed during _new; unique per process */
  size_t max_rooms;        /* cluster-wide room count bound (GW_EROOMLIMIT) */
  size_t max_room_members; /* members per room bound (GW_EROOMFULL) */
  /* Redis adapter only. */
  const char *redis_url;       /* redis://[:password@]host:port[/db] */
  size_t max_pending;          /* in-flight Redis commands (GW_EUNAVAIL) */
  uint64_t command_timeout_ms; /* deadline of each command (GW_ETIMEDOUT) */
  uint64_t heartbeat_ms;       /* node heartbeat period */
  uint64_t node_ttl_ms;        /* a node silent this long is dead */
  /* Peer registry (Redis adapter only; see gw_adapter_peer_lookup). The
   * node registers only when both are set. */
  const char *peer_tag;  /* borrowed during _new (copied): GW_PEER_TAG_LEN
                            chars [A-Za-z0-9_-]; NULL: do not register */
  const char *advertise; /* borrowed during _new (copied): "host:port" peers
                            can reach; NULL: do not register */
} gw_adapter_cfg_t;

/* Counters and gauges for /metrics. */
typedef struct gw_adapter_stats {
  uint64_t rooms; /* rooms known (memory: all; redis: with local members) */
  uint64_t local_members;  /* local sockets that are in a room */
  int backend_up;          /* 1 when the backend is usable (memory: always) */
  uint64_t pending;        /* in-flight backend commands */
  uint64_t backend_errors; /* failed or timed-out backend commands */
  uint64_t reconnects;     /* backend reconnections */
  uint64_t nodes_reaped;   /* dead nodes cleaned up by this process */
  uint64_t pending_full;   /* requests refused: max_pending in flight */
  uint64_t bad_messages;   /* malformed backend messages dropped */
  uint64_t peer_lookups;   /* gw_adapter_peer_lookup calls */
  /* Of those, the ones that failed, returned or through the callback:
   * GW_EUNAVAIL, GW_ETIMEDOUT, GW_ENOMEM (not GW_ENOTFOUND, GW_EINVAL). */
  uint64_t peer_lookup_failures;
} gw_adapter_stats_t;

typedef struct gw_adapter_ops {
  const char *name;
  int (*attach)(gw_adapter_t *a, const char *sid, void *sock);
  void (*detach)(gw_adapter_t *a, const char *sid);
  int (*join)(gw_adapter_t *a, const char *sid, const char *room,
              const char *user, gw_result_fn cb, void *arg);
  int (*leave)(gw_adapter_t *a, const char *sid, gw_result_fn cb, void *arg);
  int (*emit_room)(gw_adapter_t *a, const char *sid, const char *room,
                   gw_frame_t *f, gw_result_fn cb, void *arg);
  int (*emit_dm)(gw_adapter_t *a, const char *sid, const char *room,
                 const char *target, gw_frame_t *f, gw_result_fn cb, void *arg);
  void (*stats)(gw_adapter_t *a, gw_adapter_stats_t *out);
  int (*peer_lookup)(gw_adapter_t *a, const char *tag, gw_peer_fn cb,
                     void *arg);
  void (*close)(gw_adapter_t *a, gw_close_fn cb, void *arg);
  void (*free)(gw_adapter_t *a);
} gw_adapter_ops_t;

/* Every implementation embeds this as its first member. */
struct gw_adapter {
  const gw_adapter_ops_t *ops;
  gw_adapter_cfg_t cfg; /* copied; pointer members stay borrowed, except
                           peer_tag and advertise: the implementation's own
                           copies, or NULL */
};

/* gw_adapter_new returns the adapter |cfg| asks for (owned): the Redis
 * adapter when cfg->redis_url is set, the in-memory one otherwise. |cfg| is
 * copied; its pointer members stay borrowed (see gw_adapter_cfg_t). On
 * failure returns NULL with *err (if |err| is not NULL) set to what the
 * implementation's constructor set: GW_EUNAVAIL for a Redis URL in a build
 * without the Redis adapter (-DGW_WITH_REDIS=OFF), GW_EINVAL for a bad URL,
 * GW_ENOMEM. It logs nothing: telling the user is the caller's part. Link
 * gw_adapters (adapter/CMakeLists.txt), which brings every implementation. */
gw_adapter_t *gw_adapter_new(const gw_adapter_cfg_t *cfg, int *err);

/* gw_adapter_memory_new returns the in-memory adapter (owned), or NULL with
 * *err set. */
gw_adapter_t *gw_adapter_memory_new(const gw_adapter_cfg_t *cfg, int *err);

/* gw_adapter_redis_new returns the Redis adapter (owned), or NULL with *err
 * set (GW_EINVAL for a bad URL). It connects in the background: it never
 * blocks the loop, and requests fail with GW_EUNAVAIL until Redis answers. */
gw_adapter_t *gw_adapter_redis_new(const gw_adapter_cfg_t *cfg, int *err);

/* gw_adapter_attach registers the local socket |sid| with handle |sock|.
 * The adapter then delivers `roomList` to it (now or once known), and every
 * later roomList change; a socket never receives an older room list after a
 * newer one. |sid| is copied. Returns 0, GW_ENOMEM or GW_EINVAL (duplicate). */
static inline int gw_adapter_attach(gw_adapter_t *a, const char *sid,
                                    void *sock) {
  return a->ops->attach(a, sid, sock);
}

/* gw_adapter_detach forgets |sid|: if it is in a room, the leave effects
 * follow. No delivery to its handle happens after this returns. Result
 * callbacks of its requests still in flight will run (with their status). */
static inline void gw_adapter_detach(gw_adapter_t *a, const char *sid) {
  a->ops->detach(a, sid);
}

/* gw_adapter_join puts |sid| in |room| as |user| (both validated and trimmed
 * by the caller; copied). Status: 0, GW_ENAMETAKEN, GW_EROOMLIMIT,
 * GW_EROOMFULL, GW_EUNAVAIL, GW_ETIMEDOUT. On failure the socket stays
 * where it was. */
static inline int gw_adapter_join(gw_adapter_t *a, const char *sid,
                                  const char *room, const char *user,
                                  gw_result_fn cb, void *arg) {
  return a->ops->join(a, sid, room, user, cb, arg);
}

/* gw_adapter_leave takes |sid| out of its room. Status: 0, GW_ENOTINROOM,
 * GW_EUNAVAIL, GW_ETIMEDOUT. */
static inline int gw_adapter_leave(gw_adapter_t *a, const char *sid,
                                   gw_result_fn cb, void *arg) {
  return a->ops->leave(a, sid, cb, arg);
}

/* gw_adapter_emit_room delivers |f| (borrowed) to every member of |room|,
 * wherever they are connected. Status: 0, GW_EUNAVAIL, GW_ETIMEDOUT. */
static inline int gw_adapter_emit_room(gw_adapter_t *a, const char *sid,
                                       const char *room, gw_frame_t *f,
                                       gw_result_fn cb, void *arg) {
  return a->ops->emit_room(a, sid, room, f, cb, arg);
}

/* gw_adapter_emit_dm delivers |f| (borrowed) to |target| if it is a member of
 * |room|, and to the sender |sid| (once if target == sid). Status: 0,
 * GW_ENOTFOUND (nothing delivered), GW_EUNAVAIL, GW_ETIMEDOUT. */
static inline int gw_adapter_emit_dm(gw_adapter_t *a, const char *sid,
                                     const char *room, const char *target,
                                     gw_frame_t *f, gw_result_fn cb,
                                     void *arg) {
  return a->ops->emit_dm(a, sid, room, target, f, cb, arg);
}

static inline void gw_adapter_stats(gw_adapter_t *a, gw_adapter_stats_t *o) {
  a->ops->stats(a, o);
}

/* gw_adapter_peer_tag_ok returns 1 when |tag| is a well-formed peer tag:
 * exactly GW_PEER_TAG_LEN characters of [A-Za-z0-9_-], then the NUL. */
static inline int gw_adapter_peer_tag_ok(const char *tag) {
  if (tag == NULL)
    return 0;
  for (int i = 0; i < GW_PEER_TAG_LEN; i++) {
    char c = tag[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return 0; /* also stops at the NUL of a shorter string */
  }
  return tag[GW_PEER_TAG_LEN] == '\0';
}

/* gw_adapter_advertise_ok returns 1 when |addr| may be advertised: 1 to
 * GW_PEER_ADDR_MAX bytes of printable ASCII without spaces. (What peers
 * make of it, "host:port", is theirs to check.) */
static inline int gw_adapter_advertise_ok(const char *addr) {
  size_t n = 0;
  if (addr == NULL)
    return 0;
  for (; addr[n] != '\0'; n++)
    if (n == GW_PEER_ADDR_MAX || addr[n] <= ' ' || addr[n] > '~')
      return 0;
  return n > 0;
}

/* gw_adapter_peer_lookup finds the address another live gateway instance
 * advertised (cfg.advertise) under the peer tag |tag| (borrowed for the
 * call; a NUL-terminated string, e.g. copied out of an untrusted sid), so a
 * polling request or WebSocket upgrade for one of its sessions can be
 * relayed there. Returns 0, then |cb| runs exactly once (see gw_peer_fn),
 * possibly before this returns; or an error, and |cb| never runs:
 * GW_EINVAL (|tag| is not well formed: gw_adapter_peer_tag_ok),
 * GW_ENOTFOUND (memory: one process has no peers), GW_EUNAVAIL (Redis down
 * or re-syncing, closing, or max_pending requests in flight), GW_ENOMEM.
 * Redis: one GET of the tag's key under the command deadline
 * (GW_ETIMEDOUT). A node's key lives while it heartbeats (expiry
 * node_ttl_ms) and goes with gw_adapter_close or when it is reaped; a
 * lookup of this node's own tag finds its own address. */
static inline int gw_adapter_peer_lookup(gw_adapter_t *a, const char *tag,
                                         gw_peer_fn cb, void *arg) {
  return a->ops->peer_lookup(a, tag, cb, arg);
}

/* gw_adapter_close starts an orderly shutdown: the remaining local members
 * leave (with the leave effects), the node's cluster state is removed, and
 * connections close. |cb| runs once, when gw_adapter_free may be called. */
static inline void gw_adapter_close(gw_adapter_t *a, gw_close_fn cb,
                                    void *arg) {
  a->ops->close(a, cb, arg);
}

/* gw_adapter_free releases the adapter; only after the close callback. */
static inline void gw_adapter_free(gw_adapter_t *a) {
  a->ops->free(a);
}

#endif /* GW_ADAPTER_H */
