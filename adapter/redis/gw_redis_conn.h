/* SPDX-License-Identifier: MIT */
/* gw_redis_conn.h: one hiredis 0.14.1 async connection on a libuv loop.
 *
 * Our own glue instead of <hiredis/adapters/libuv.h>, which drops poll errors
 * (a refused connection never reports) and has no deadlines. This module
 * reports every way a connection can fail, gives every command a deadline
 * (one sweep timer per connection, FIFO order), bounds in-flight commands,
 * and routes pub/sub pushes to one callback. It knows nothing about the chat.
 *
 * A gw_redis_conn_t is long-lived: it survives its TCP connections. Connect,
 * lose the link (on_state reports it), connect again. Commands are argv
 * arrays (length-prefixed, binary-safe), never format strings. */
#ifndef GW_REDIS_CONN_H
#define GW_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <hiredis/hiredis.h>

typedef struct gw_redis_conn gw_redis_conn_t;

/* Result of one command. |status| is 0 with |reply| set (borrowed, valid only
 * during the callback; it may be a REDIS_REPLY_ERROR), or with |reply| NULL:
 * GW_ETIMEDOUT (deadline passed; a late reply is dropped), GW_EUNAVAIL (the
 * link was lost, or dropped with gw_redis_conn_disconnect) or GW_ECLOSED
 * (gw_redis_conn_close). It runs exactly once per accepted command. */
typedef void (*gw_redis_reply_fn)(void *arg, int status, redisReply *reply);

/* Link state: 0 once connected; a negative code when a connect attempt failed
 * or an established link was lost (not after gw_redis_conn_disconnect or
 * _close, which the caller asked for). Pending commands are answered before
 * the loss is reported. gw_redis_conn_connect may be called from here. */
typedef void (*gw_redis_state_fn)(void *arg, int status);

/* A pub/sub push: the array ["message", channel, payload] (borrowed, valid
 * during the callback; use ->len, payloads are binary). */
typedef void (*gw_redis_push_fn)(void *arg, redisReply *msg);

typedef struct gw_redis_conn_cfg {
  uv_loop_t *loop;            /* borrowed; outlives the connection */
  size_t max_pending;         /* in-flight commands; 0 = unbounded */
  uint64_t timeout_ms;        /* deadline of connects and commands; 0 = none */
  gw_redis_state_fn on_state; /* required */
  gw_redis_push_fn on_push;   /* may be NULL if never subscribing */
  void *arg;                  /* passed to on_state and on_push */
} gw_redis_conn_cfg_t;

/* gw_redis_conn_new returns an idle connection (owned; release it with
 * gw_redis_conn_close), or NULL with *err set. */
gw_redis_conn_t *gw_redis_conn_new(const gw_redis_conn_cfg_t *cfg, int *err);

/* gw_redis_conn_connect starts a non-blocking TCP connect to |ip| (a numeric
 * IPv4/IPv6 address: resolve names first, hiredis would block) and |port|.
 * Returns 0, then on_state runs exactly once with 0 or a negative code (also
 * when the connect deadline passes). GW_EINVAL when already connecting or
 * connected, or closing. */
int gw_redis_conn_connect(gw_redis_conn_t *c, const char *ip, int port);

/* gw_redis_conn_command sends |argc| arguments (each |argvlen| bytes,
 * borrowed for the call). SUBSCRIBE and UNSUBSCRIBE take exactly one channel
 * and complete with their confirmation. Returns 0 (then |cb| runs once) or
 * GW_EUNAVAIL (not connected, or max_pending reached), GW_EINVAL, GW_ENOMEM;
 * on error |cb| never runs. */
int gw_redis_conn_command(gw_redis_conn_t *c, gw_redis_reply_fn cb, void *arg,
                          int argc, const char **argv, const size_t *argvlen);

/* gw_redis_conn_disconnect drops the link now (if any): pending commands are
 * answered with GW_EUNAVAIL, possibly after this returns when called from a
 * reply callback. on_state is not called for it. */
void gw_redis_conn_disconnect(gw_redis_conn_t *c);

/* gw_redis_conn_close disconnects, closes the timer and frees |c| after
 * running |cb| (which must not touch |c|). Pending commands get GW_ECLOSED. */
void gw_redis_conn_close(gw_redis_conn_t *c, void (*cb)(void *), void *arg);

/* 1 while connected (and not being dropped). */
int gw_redis_conn_connected(const gw_redis_conn_t *c);

/* In-flight commands. */
size_t gw_redis_conn_pending(const gw_redis_conn_t *c);

/* The last link error as text ("" if none); valid until the next connect. */
const char *gw_redis_conn_errstr(const gw_redis_conn_t *c);

#endif /* GW_REDIS_CONN_H */
