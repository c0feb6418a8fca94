/* SPDX-License-Identifier: MIT */
/* gw_redis_conn.c: hiredis 0.14.1 async <-> libuv glue (see gw_redis_conn.h).
 *
 * Ownership: a gw_redis_conn_t owns one sweep timer and at most one live link
 * (a redisAsyncContext plus the uv_poll_t watching its fd). A link is freed in
 * its poll handle's close callback, after hiredis ran our cleanup hook. Each
 * command is a req_t: hiredis holds it as privdata until it calls us back
 * (reply, or NULL when the context dies), so a timed-out req stays allocated,
 * marked done, until then. SUBSCRIBE/UNSUBSCRIBE reqs are ours alone: hiredis
 * keeps one callback per channel (privdata = the conn) and we match each
 * confirmation to the oldest waiting req of that channel.
 *
 * hiredis 0.14.1 facts this relies on (async.c):
 *  - redisAsyncFree() from inside a reply callback only sets REDIS_FREEING;
 *    the free happens when the callback returns. onConnect/onDisconnect run
 *    outside that protection, so we never call back into the user from them:
 *    state changes are reported from the sweep timer (next loop turn).
 *  - On teardown hiredis answers every pending callback with a NULL reply,
 *    then calls the cleanup hook, then onDisconnect (only if it connected).
 *  - redisAsyncSetConnectCallback() arms the write event: hooks first. */
#include "gw_redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>

#include "gw_err.h"
#include "gw_list.h"

enum { ST_IDLE, ST_CONNECTING, ST_CONNECTED };
enum { REQ_CMD, REQ_SUB, REQ_UNSUB };

typedef struct link {
  gw_redis_conn_t *c; /* NULL once detached from its conn */
  redisAsyncContext *ac;
  uv_poll_t poll;
  int poll_inited;
  int events;
  int tearing;   /* hiredis is freeing it, or we asked it to */
  int requested; /* the teardown was asked for: no state report */
} link_t;

typedef struct req {
  gw_list_t link;
  gw_redis_conn_t *c;
  uint64_t deadline;
  gw_redis_reply_fn cb;
  void *arg;
  int kind;
  int done; /* answered (timed out); hiredis still owns it */
  size_t chanlen;
  char *chan;
} req_t;

struct gw_redis_conn {
  gw_redis_conn_cfg_t cfg;
  uv_timer_t timer;
  link_t *link;
  int state;
  gw_list_t pending; /* req_t in send order: deadlines ascend */
  size_t npending;
  uint64_t connect_deadline;
  int notify;        /* a state report is due */
  int notify_status; /* ... with this status */
  int closing;
  void (*close_cb)(void *);
  void *close_arg;
  char errstr[128];
};

static void arm(gw_redis_conn_t *c);

static void set_err(gw_redis_conn_t *c, const char *s) {
  snprintf(c->errstr, sizeof(c->errstr), "%s", s != NULL ? s : "");
}

static void post_state(gw_redis_conn_t *c, int status) {
  /* A loss reported before "connected" was delivered replaces it. */
  c->notify = 1;
  c->notify_status = status;
  arm(c);
}

static void req_finish(req_t *q, int status, redisReply *r) {
  gw_redis_conn_t *c = q->c;
  gw_list_remove(&q->link);
  c->npending--;
  q->done = 1;
  q->cb(q->arg, status, r);
}

/* fail_subs answers the SUBSCRIBE/UNSUBSCRIBE reqs, which hiredis does not
 * track, when their link goes away. */
static void fail_subs(gw_redis_conn_t *c, int status) {
  gw_list_t *it = c->pending.next;
  while (it != &c->pending) {
    req_t *q = GW_LIST_DATA(it, req_t, link);
    it = it->next;
    if (q->kind != REQ_CMD) {
      req_finish(q, status, NULL);
      free(q->chan);
      free(q);
      it = c->pending.next; /* the callback may have changed the list */
    }
  }
}

/* ---- event hooks (hiredis -> libuv) ---------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events);

static void ev_set(link_t *l, int add, int ev) {
  int n = add ? (l->events | ev) : (l->events & ~ev);
  if (n == l->events || !l->poll_inited)
    return;
  l->events = n;
  if (n != 0)
    uv_poll_start(&l->poll, n, on_poll);
  else
    uv_poll_stop(&l->poll);
}

static void ev_add_read(void *p) {
  ev_set(p, 1, UV_READABLE);
}
static void ev_del_read(void *p) {
  ev_set(p, 0, UV_READABLE);
}
static void ev_add_write(void *p) {
  ev_set(p, 1, UV_WRITABLE);
}
static void ev_del_write(void *p) {
  ev_set(p, 0, UV_WRITABLE);
}

static void link_free(uv_handle_t *h) {
  free(h->data);
}

static void ev_cleanup(void *p) {
  link_t *l = p;
  gw_redis_conn_t *c = l->c;
  l->tearing = 1;
  l->ac = NULL;
  if (c != NULL && c->link == l) {
    c->link = NULL;
    c->state = ST_IDLE;
    fail_subs(c, c->closing ? GW_ECLOSED : GW_EUNAVAIL);
  }
  if (l->poll_inited)
    uv_close((uv_handle_t *)&l->poll, link_free);
  else
    free(l);
}

/* drop asks hiredis to free the link's context (at once, or when the reply
 * callback we are in returns). */
static void drop(link_t *l) {
  if (l->tearing)
    return;
  l->tearing = 1;
  l->requested = 1;
  redisAsyncFree(l->ac);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  link_t *l = p->data;
  if (l->ac == NULL)
    return;
  if (status < 0) {
    /* The bundled adapter returns here and the error is lost. Let hiredis
     * read the socket error instead: a failed connect reports through
     * onConnect, a broken link through a failed read. libuv stopped the
     * watcher, so if hiredis saw nothing, drop the link ourselves. */
    gw_redis_conn_t *c = l->c;
    if (l->ac->c.flags & REDIS_CONNECTED)
      redisAsyncHandleRead(l->ac);
    else
      redisAsyncHandleWrite(l->ac);
    if (l->ac != NULL && !l->tearing) {
      int connected = (l->ac->c.flags & REDIS_CONNECTED) != 0;
      if (c != NULL)
        set_err(c, uv_strerror(status));
      if (c != NULL && !connected) {
        /* No onDisconnect comes for a link that never connected. */
        l->c = NULL;
        c->link = NULL;
        c->state = ST_IDLE;
        c->connect_deadline = 0;
        post_state(c, GW_EUNAVAIL);
      }
      l->tearing = 1; /* unrequested: onDisconnect reports the loss */
      redisAsyncFree(l->ac);
    }
    return;
  }
  if (events & UV_READABLE)
    redisAsyncHandleRead(l->ac);
  if (l->ac != NULL && (events & UV_WRITABLE))
    redisAsyncHandleWrite(l->ac);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  link_t *l = ac->data;
  gw_redis_conn_t *c = l->c;
  if (c == NULL)
    return;
  if (status == REDIS_OK) {
    c->state = ST_CONNECTED;
    c->connect_deadline = 0;
    redisEnableKeepAlive((redisContext *)&ac->c);
    post_state(c, 0);
    return;
  }
  /* hiredis frees the context after this returns. */
  set_err(c, ac->errstr);
  l->tearing = 1;
  l->c = NULL;
  c->link = NULL;
  c->state = ST_IDLE;
  c->connect_deadline = 0;
  post_state(c, GW_EUNAVAIL);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  link_t *l = ac->data;
  gw_redis_conn_t *c = l->c;
  (void)status;
  l->c = NULL;
  if (c == NULL || l->requested)
    return;
  if (ac->err != 0)
    set_err(c, ac->errstr);
  else if (c->errstr[0] == '\0')
    set_err(c, "connection lost");
  if (c->link == l) {
    c->link = NULL;
    c->state = ST_IDLE;
  }
  post_state(c, GW_EUNAVAIL);
}

/* ---- replies ---------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  req_t *q = priv;
  if (q->done) { /* timed out earlier; hiredis is done with it now */
    free(q);
    return;
  }
  gw_redis_conn_t *c = q->c;
  int status = 0;
  if (reply == NULL) {
    link_t *l = ac->data;
    l->tearing = 1; /* the context is going away: accept no more commands */
    status = c->closing ? GW_ECLOSED : GW_EUNAVAIL;
  }
  req_finish(q, status, reply);
  free(q);
}

static void on_sub(redisAsyncContext *ac, void *reply, void *priv) {
  gw_redis_conn_t *c = priv;
  redisReply *r = reply;
  (void)ac;
  if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_STRING)
    return;
  const char *what = r->element[0]->str;
  if (strcasecmp(what, "message") == 0) {
    if (c->cfg.on_push != NULL)
      c->cfg.on_push(c->cfg.arg, r);
    return;
  }
  int kind = strcasecmp(what, "subscribe") == 0     ? REQ_SUB
             : strcasecmp(what, "unsubscribe") == 0 ? REQ_UNSUB
                                                    : -1;
  if (kind < 0)
    return;
  gw_list_t *it;
  GW_LIST_FOREACH(it, &c->pending) {
    req_t *q = GW_LIST_DATA(it, req_t, link);
    if (q->kind == kind && q->chanlen == r->element[1]->len &&
        memcmp(q->chan, r->element[1]->str, q->chanlen) == 0) {
      req_finish(q, 0, r);
      free(q->chan);
      free(q);
      return;
    }
  }
  /* A confirmation nobody waits for (its req timed out): ignore. */
}

/* ---- deadlines and deferred reports ------------------------------------ */

static void sweep(uv_timer_t *t) {
  gw_redis_conn_t *c = t->data;
  uint64_t now = uv_now(c->cfg.loop);

  if (c->state == ST_CONNECTING && c->connect_deadline != 0 &&
      now >= c->connect_deadline) {
    link_t *l = c->link;
    set_err(c, "connect timed out");
    c->link = NULL;
    c->state = ST_IDLE;
    c->connect_deadline = 0;
    if (l != NULL) {
      l->c = NULL;
      drop(l);
    }
    post_state(c, GW_ETIMEDOUT);
  }

  while (!c->closing && !gw_list_empty(&c->pending)) {
    req_t *q = GW_LIST_DATA(c->pending.next, req_t, link);
    if (q->deadline > now)
      break;
    /* The callback may end the session: redisAsyncFree then answers this
     * REQ_CMD (done) with a NULL reply, and on_reply frees it. */
    int kind = q->kind;
    req_finish(q, GW_ETIMEDOUT, NULL);
    if (kind != REQ_CMD) {
      free(q->chan);
      free(q);
    } /* a REQ_CMD is freed when hiredis lets go of it */
  }

  if (!c->closing && c->notify) {
    c->notify = 0;
    c->cfg.on_state(c->cfg.arg, c->notify_status);
  }
  arm(c);
}

static void arm(gw_redis_conn_t *c) {
  if (c->closing)
    return;
  uint64_t now = uv_now(c->cfg.loop), next = UINT64_MAX;
  if (c->notify)
    next = now;
  if (c->state == ST_CONNECTING && c->connect_deadline != 0 &&
      c->connect_deadline < next)
    next = c->connect_deadline;
  if (!gw_list_empty(&c->pending)) {
    req_t *q = GW_LIST_DATA(c->pending.next, req_t, link);
    if (q->deadline != 0 && q->deadline < next)
      next = q->deadline;
  }
  if (next == UINT64_MAX)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, sweep, next > now ? next - now : 0, 0);
}

/* ---- public API -------------------------------------------------------- */

gw_redis_conn_t *gw_redis_conn_new(const gw_redis_conn_cfg_t *cfg, int *err) {
  if (cfg == NULL || cfg->loop == NULL || cfg->on_state == NULL) {
    if (err != NULL)
      *err = GW_EINVAL;
    return NULL;
  }
  gw_redis_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    if (err != NULL)
      *err = GW_ENOMEM;
    return NULL;
  }
  c->cfg = *cfg;
  gw_list_init(&c->pending);
  uv_timer_init(cfg->loop, &c->timer);
  c->timer.data = c;
  return c;
}

int gw_redis_conn_connect(gw_redis_conn_t *c, const char *ip, int port) {
  if (c->closing || c->state != ST_IDLE || c->link != NULL)
    return GW_EINVAL;
  c->errstr[0] = '\0';
  c->notify = 0;
  redisAsyncContext *ac = redisAsyncConnect(ip, port);
  if (ac == NULL)
    return GW_ENOMEM;
  c->state = ST_CONNECTING;
  if (ac->err != 0) {
    /* Failed at once (e.g. refused on loopback): report from the loop, as
     * every other outcome is. */
    set_err(c, ac->errstr);
    redisAsyncFree(ac);
    c->state = ST_IDLE;
    post_state(c, GW_EUNAVAIL);
    return 0;
  }
  link_t *l = calloc(1, sizeof(*l));
  if (l == NULL) {
    redisAsyncFree(ac);
    c->state = ST_IDLE;
    return GW_ENOMEM;
  }
  l->c = c;
  l->ac = ac;
  ac->data = l;
  ac->ev.data = l;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  c->link = l;
  int rc = uv_poll_init(c->cfg.loop, &l->poll, ac->c.fd);
  if (rc != 0) {
    set_err(c, uv_strerror(rc));
    l->c = NULL;
    c->link = NULL;
    drop(l); /* cleanup frees l */
    c->state = ST_IDLE;
    post_state(c, GW_EUNAVAIL);
    return 0;
  }
  l->poll_inited = 1;
  l->poll.data = l;
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  redisAsyncSetConnectCallback(ac, on_connect); /* arms the write event */
  if (c->cfg.timeout_ms != 0)
    c->connect_deadline = uv_now(c->cfg.loop) + c->cfg.timeout_ms;
  arm(c);
  return 0;
}

int gw_redis_conn_command(gw_redis_conn_t *c, gw_redis_reply_fn cb, void *arg,
                          int argc, const char **argv, const size_t *argvlen) {
  if (cb == NULL || argc < 1)
    return GW_EINVAL;
  if (!gw_redis_conn_connected(c))
    return GW_EUNAVAIL;
  if (c->cfg.max_pending != 0 && c->npending >= c->cfg.max_pending)
    return GW_EUNAVAIL;
  int kind = REQ_CMD;
  if (argvlen[0] == 9 && strncasecmp(argv[0], "subscribe", 9) == 0)
    kind = REQ_SUB;
  else if (argvlen[0] == 11 && strncasecmp(argv[0], "unsubscribe", 11) == 0)
    kind = REQ_UNSUB;
  if (kind != REQ_CMD && argc != 2)
    return GW_EINVAL; /* one channel per request: one confirmation */

  req_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return GW_ENOMEM;
  q->c = c;
  q->cb = cb;
  q->arg = arg;
  q->kind = kind;
  if (kind != REQ_CMD) {
    q->chanlen = argvlen[1];
    q->chan = malloc(argvlen[1] + 1);
    if (q->chan == NULL) {
      free(q);
      return GW_ENOMEM;
    }
    memcpy(q->chan, argv[1], argvlen[1]);
  }
  redisAsyncContext *ac = c->link->ac;
  int rc;
  if (kind == REQ_CMD)
    rc = redisAsyncCommandArgv(ac, on_reply, q, argc, argv, argvlen);
  else
    rc = redisAsyncCommandArgv(ac, kind == REQ_SUB ? on_sub : NULL, c, argc,
                               argv, argvlen);
  if (rc != REDIS_OK) {
    free(q->chan);
    free(q);
    return GW_EINVAL; /* e.g. UNSUBSCRIBE on a context never subscribed */
  }
  q->deadline = c->cfg.timeout_ms != 0 ? uv_now(c->cfg.loop) + c->cfg.timeout_ms
                                       : UINT64_MAX;
  int was_empty = gw_list_empty(&c->pending);
  gw_list_push_back(&c->pending, &q->link);
  c->npending++;
  if (was_empty)
    arm(c);
  return 0;
}

void gw_redis_conn_disconnect(gw_redis_conn_t *c) {
  link_t *l = c->link;
  c->notify = 0;
  c->connect_deadline = 0;
  if (l == NULL)
    return;
  c->link = NULL;
  c->state = ST_IDLE;
  l->requested = 1;
  /* SUB reqs first: hiredis knows nothing about them. Then the context:
   * its NULL replies answer the commands (they find c through their req). */
  fail_subs(c, c->closing ? GW_ECLOSED : GW_EUNAVAIL);
  l->c = NULL;
  if (!l->tearing) {
    l->tearing = 1;
    redisAsyncFree(l->ac);
  }
}

static void on_timer_closed(uv_handle_t *h) {
  gw_redis_conn_t *c = h->data;
  /* Every req was answered: hiredis frees a context synchronously, or right
   * after the reply callback that asked for it returns. */
  if (c->close_cb != NULL)
    c->close_cb(c->close_arg);
  free(c);
}

void gw_redis_conn_close(gw_redis_conn_t *c, void (*cb)(void *), void *arg) {
  if (c->closing)
    return;
  c->closing = 1;
  c->close_cb = cb;
  c->close_arg = arg;
  gw_redis_conn_disconnect(c);
  /* Timed-out commands are already out of the list; anything left is a SUB
   * req of a link that is gone. */
  fail_subs(c, GW_ECLOSED);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

int gw_redis_conn_connected(const gw_redis_conn_t *c) {
  return c->state == ST_CONNECTED && c->link != NULL && !c->link->tearing &&
         !c->closing;
}

size_t gw_redis_conn_pending(const gw_redis_conn_t *c) {
  return c->npending;
}

const char *gw_redis_conn_errstr(const gw_redis_conn_t *c) {
  return c->errstr;
}
