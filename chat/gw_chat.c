/* SPDX-License-Identifier: MIT */
/* gw_chat.c: the chat protocol's request side (see gw_chat.h and
 * docs/protocol.md). jansson stays at this edge: payloads are parsed,
 * validated, turned into adapter calls and released before returning. */
#include "gw_chat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_check.h"
#include "gw_sio.h"
#include "gw_socket.h"

#define INBOX_CAP 64 /* ring size; cfg->inbox_max bounds what is used */

typedef struct req {
  struct req *next; /* in gw_chat_t.spare_reqs while recycled */
  gw_chat_t *c;
  gw_socket_t *s;
  uint64_t ack;
  char *room;
  char *name;
  int64_t ts;
} req_t;

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const limit_names[] = {
#define XX(k, name) name,
    GW_CHAT_LIMIT_MAP(XX)
#undef XX
};
static const char *const in_names[] = {
#define XX(k, name) name,
    GW_IN_EVENT_MAP(XX)
#undef XX
};

const char *gw_chat_limit_name(gw_chat_limit_t l) {
  return (unsigned)l < GW_CHAT_LIMIT__COUNT ? limit_names[l] : "other";
}

const char *gw_in_event_name(gw_in_event_t k) {
  return (unsigned)k < GW_IN__COUNT ? in_names[k] : "other";
}

/* ---- replies ------------------------------------------------------------ */

static void send_owned(gw_socket_t *s, gw_frame_t *f) {
  if (f != NULL) {
    gw_socket_send(s, f);
    gw_frame_unref(f);
  }
}

static void reply_error(gw_chat_t *c, gw_socket_t *s, uint64_t ack,
                        gw_chat_err_t e) {
  c->stats.errors[e]++;
  if (e == GW_CE_ROOM_LIMIT)
    c->stats.limit_hits[GW_CHAT_LIMIT_ROOMS]++;
  else if (e == GW_CE_ROOM_FULL)
    c->stats.limit_hits[GW_CHAT_LIMIT_ROOM_MEMBERS]++;
  if (!gw_socket_alive(s))
    return;
  json_t *err = json_pack("{s:s,s:s}", "code", gw_chat_err_code(e), "message",
                          gw_chat_err_msg(e));
  if (ack != GW_EIO_NO_ID)
    send_owned(s,
               gw_sio_ack(ack, json_pack("{s:b,s:o}", "ok", 0, "error", err)));
  else
    send_owned(s, gw_sio_event(GW_EV_CHATERROR, err));
}

/* reply_ok answers an ack with {"ok":true} plus |extra|'s members (stolen,
 * may be NULL). Without an ack id nothing is sent. */
static void reply_ok(gw_socket_t *s, uint64_t ack, json_t *extra) {
  if (ack == GW_EIO_NO_ID || !gw_socket_alive(s)) {
    json_decref(extra);
    return;
  }
  json_t *o = json_pack("{s:b}", "ok", 1);
  if (o != NULL && extra != NULL)
    json_object_update(o, extra);
  json_decref(extra);
  send_owned(s, gw_sio_ack(ack, o));
}

/* ---- validation --------------------------------------------------------- */

/* utf8_next decodes one code point of valid UTF-8 (jansson validated it). */
static size_t utf8_next(const unsigned char *p, const unsigned char *end,
                        uint32_t *cp) {
  if (p[0] < 0x80 || p + 1 >= end) {
    *cp = p[0];
    return 1;
  }
  if ((p[0] & 0xE0) == 0xC0) {
    *cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    return 2;
  }
  if ((p[0] & 0xF0) == 0xE0 && p + 2 < end) {
    *cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 |
          (p[2] & 0x3F);
    return 3;
  }
  if (p + 3 < end) {
    *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
          (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    return 4;
  }
  *cp = 0xFFFD;
  return 1;
}

/* is_space: the white space JavaScript's trim() removes. */
static int is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static int is_control(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F);
}

int gw_chat_trim_name(const char *s, size_t len, size_t max_chars,
                      const char **out, size_t *out_len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  const unsigned char *first = NULL, *last_end = NULL;
  /* Pass 1: the span between the first and the last non-space. */
  while (p < end) {
    uint32_t cp;
    size_t n = utf8_next(p, end, &cp);
    if (!is_space(cp)) {
      if (first == NULL)
        first = p;
      last_end = p + n;
    }
    p += n;
  }
  if (first == NULL)
    return GW_EINVAL; /* empty after trimming */
  /* Pass 2: inside it, count characters and refuse control characters,
   * including the ones that are also white space (tab, newline, ...). */
  size_t chars = 0;
  for (p = first; p < last_end; chars++) {
    uint32_t cp;
    p += utf8_next(p, last_end, &cp);
    if (is_control(cp))
      return GW_EINVAL;
    if (chars >= max_chars)
      return GW_ETOOLONG;
  }
  *out = (const char *)first;
  *out_len = (size_t)(last_end - first);
  return 0;
}

/* name_span validates payload[key] as a name: 0 and the trimmed span, or
 * -1 (absent, not a string, or not a valid name; |*too_long| is set when the
 * name was refused for its length alone). */
static int name_span(json_t *payload, const char *key, size_t max_chars,
                     const char **t, size_t *tl, int *too_long) {
  json_t *v = json_object_get(payload, key);
  if (!json_is_string(v))
    return -1;
  int rc = gw_chat_trim_name(json_string_value(v), json_string_length(v),
                             max_chars, t, tl);
  *too_long = rc == GW_ETOOLONG;
  return rc == 0 ? 0 : -1;
}

/* is_event: the event name is exactly |name| (it may hold NUL bytes). */
static int is_event(json_t *ev, const char *name) {
  return json_is_string(ev) && json_string_length(ev) == strlen(name) &&
         memcmp(json_string_value(ev), name, strlen(name)) == 0;
}

static int req_fail(gw_chat_req_t *out, gw_chat_err_t e) {
  out->err = e;
  return GW_EINVAL;
}

int gw_chat_parse_request(const gw_eio_pkt_t *pkt, size_t max_name_chars,
                          size_t max_message_bytes, gw_chat_req_t *out) {
  memset(out, 0, sizeof(*out));
  out->ack = pkt->id;
  json_t *ev = json_array_get(pkt->data, 0);
  json_t *payload = json_array_get(pkt->data, 1);
  if (is_event(ev, "create")) {
    out->kind = GW_CHAT_REQ_CREATE;
    if (!json_is_object(payload))
      return req_fail(out, GW_CE_BAD_REQUEST);
    if (name_span(payload, "roomName", max_name_chars, &out->room,
                  &out->room_len, &out->too_long) != 0)
      return req_fail(out, GW_CE_INVALID_NAME);
    json_t *u = json_object_get(payload, "userName");
    if (u != NULL && !json_is_null(u) &&
        name_span(payload, "userName", max_name_chars, &out->user,
                  &out->user_len, &out->too_long) != 0)
      return req_fail(out, GW_CE_INVALID_NAME);
    return 0;
  }
  if (is_event(ev, "sendMessage")) {
    out->kind = GW_CHAT_REQ_SEND;
    if (!json_is_object(payload))
      return req_fail(out, GW_CE_BAD_REQUEST);
    json_t *msg = json_object_get(payload, "message");
    size_t mlen = json_string_length(msg);
    if (!json_is_string(msg) || mlen == 0 || mlen > max_message_bytes ||
        memchr(json_string_value(msg), '\0', mlen) != NULL) {
      out->too_long = json_is_string(msg) && mlen > max_message_bytes;
      return req_fail(out, GW_CE_INVALID_MESSAGE);
    }
    out->message = json_string_value(msg);
    out->message_len = mlen;
    json_t *sel = json_object_get(payload, "select");
    if (sel != NULL && !json_is_null(sel) && !is_event(sel, "all")) {
      /* A sid never holds NUL: such a target is nobody (it used to be cut
       * at the NUL and name someone else). */
      if (!json_is_string(sel) ||
          memchr(json_string_value(sel), '\0', json_string_length(sel)))
        return req_fail(out, GW_CE_USER_NOT_FOUND);
      out->target = json_string_value(sel);
      out->target_len = json_string_length(sel);
    }
    return 0;
  }
  if (is_event(ev, "leave")) {
    out->kind = GW_CHAT_REQ_LEAVE;
    if (payload != NULL && !json_is_object(payload) && !json_is_null(payload))
      return req_fail(out, GW_CE_BAD_REQUEST);
    return 0;
  }
  out->kind = GW_CHAT_REQ_UNKNOWN;
  return req_fail(out, GW_CE_UNKNOWN_EVENT);
}

/* ---- rate limit (token bucket) ----------------------------------------- */

static int rate_ok(gw_chat_t *c, gw_chat_sess_t *ss) {
  if (c->cfg.rate_limit == 0)
    return 1;
  double burst =
      (double)(c->cfg.rate_burst ? c->cfg.rate_burst : 2 * c->cfg.rate_limit);
  uint64_t now = uv_now(c->loop);
  ss->tokens +=
      (double)(now - ss->refill_ms) * (double)c->cfg.rate_limit / 1000.0;
  ss->refill_ms = now;
  if (ss->tokens > burst)
    ss->tokens = burst;
  if (ss->tokens < 1.0)
    return 0;
  ss->tokens -= 1.0;
  return 1;
}

void gw_socket_init(gw_socket_t *s, const gw_socket_ops_t *ops,
                    const struct gw_chat *c) {
  gw_chat_sess_t *ss = &s->sess;
  s->ops = ops;
  s->sid[0] = '\0';
  memset(ss, 0, sizeof(*ss));
  ss->tokens =
      (double)(c->cfg.rate_burst ? c->cfg.rate_burst : 2 * c->cfg.rate_limit);
  ss->refill_ms = uv_now(c->loop);
}

void gw_socket_fini(gw_socket_t *s) {
  gw_chat_sess_t *ss = &s->sess;
  free(ss->room);
  free(ss->name);
  free(ss->auth_name);
  ss->room = ss->name = ss->auth_name = NULL;
  while (ss->in_n) {
    free(ss->inbox[ss->in_head]);
    ss->in_head = (ss->in_head + 1) % INBOX_CAP;
    ss->in_n--;
  }
  free(ss->inbox);
  ss->inbox = NULL;
}

int gw_chat_set_auth_name(gw_chat_t *c, gw_socket_t *s, const char *name,
                          size_t len) {
  const char *t;
  size_t tl;
  int rc = gw_chat_trim_name(name, len, c->cfg.max_name_chars, &t, &tl);
  if (rc != 0)
    return rc;
  char *copy = strndup(t, tl);
  if (copy == NULL)
    return GW_ENOMEM;
  free(s->sess.auth_name);
  s->sess.auth_name = copy;
  return 0;
}

/* ---- requests ----------------------------------------------------------- */

#define SPARE_REQS_MAX 1024

static req_t *req_new(gw_chat_t *c, gw_socket_t *s, uint64_t ack) {
  req_t *r = c->spare_reqs;
  if (r != NULL) {
    c->spare_reqs = r->next;
    c->n_spare--;
    memset(r, 0, sizeof(*r));
  } else if ((r = calloc(1, sizeof(*r))) == NULL) {
    return NULL;
  }
  r->c = c;
  r->s = s;
  r->ack = ack;
  gw_socket_hold(s);
  return r;
}

static void req_free(req_t *r) {
  gw_socket_t *s = r->s;
  gw_chat_t *c = r->c;
  free(r->room);
  free(r->name);
  if (c->n_spare < SPARE_REQS_MAX) {
    r->next = c->spare_reqs;
    c->spare_reqs = r;
    c->n_spare++;
  } else {
    free(r);
  }
  gw_socket_release(s);
}

void gw_chat_init(gw_chat_t *c, uv_loop_t *loop, gw_adapter_t *adapter,
                  const gw_chat_cfg_t *cfg) {
  memset(c, 0, sizeof(*c));
  c->loop = loop;
  c->adapter = adapter;
  c->cfg = *cfg;
}

void gw_chat_fini(gw_chat_t *c) {
  while (c->spare_reqs != NULL) {
    req_t *r = c->spare_reqs;
    c->spare_reqs = r->next;
    free(r);
  }
  c->n_spare = 0;
}

static void dispatch(gw_chat_t *c, gw_socket_t *s);

/* membership_done ends a create or leave: the request record goes, and the
 * requests that waited behind it in the inbox run now. */
static void membership_done(req_t *r) {
  gw_socket_t *s = r->s;
  gw_chat_t *c = r->c;
  gw_socket_hold(s); /* req_free drops the request's hold */
  req_free(r);
  dispatch(c, s);
  gw_socket_release(s);
}

static void on_join_done(void *arg, int status) {
  req_t *r = arg;
  gw_chat_sess_t *ss = &r->s->sess;
  GW_CHECK(ss->busy); /* one membership change at a time */
  ss->busy = 0;
  if (status == 0) {
    free(ss->room);
    free(ss->name);
    ss->room = r->room;
    ss->name = r->name;
    r->room = r->name = NULL;
    reply_ok(r->s, r->ack,
             json_pack("{s:s,s:s,s:s}", "room", ss->room, "userName", ss->name,
                       "key", gw_socket_sid(r->s)));
  } else if (gw_socket_alive(r->s)) {
    reply_error(r->c, r->s, r->ack, gw_chat_err_from(status));
  } /* else: the socket left while its join was in flight; nobody to tell */
  membership_done(r);
}

static void on_leave_done(void *arg, int status) {
  req_t *r = arg;
  gw_chat_sess_t *ss = &r->s->sess;
  GW_CHECK(ss->busy);
  ss->busy = 0;
  if (status == 0 || status == GW_ENOTINROOM) {
    free(ss->room);
    free(ss->name);
    ss->room = ss->name = NULL;
  }
  if (status == 0)
    reply_ok(r->s, r->ack, NULL);
  else
    reply_error(r->c, r->s, r->ack, gw_chat_err_from(status));
  membership_done(r);
}

static void on_send_done(void *arg, int status) {
  req_t *r = arg;
  if (status == 0)
    reply_ok(r->s, r->ack, json_pack("{s:I}", "ts", (json_int_t)r->ts));
  else
    reply_error(r->c, r->s, r->ack, gw_chat_err_from(status));
  req_free(r);
}

/* user_name_arg returns the user name a create asks for (owned), or NULL
 * with |*e| set. A token's `name` claim (--jwt-secret) fixes the name:
 * userName may be left out, and when given it must be that name once
 * trimmed; impersonation is refused rather than silently renamed. */
static char *user_name_arg(gw_chat_sess_t *ss, const gw_chat_req_t *rq,
                           gw_chat_err_t *e) {
  if (ss->auth_name != NULL && rq->user == NULL) {
    char *name = strdup(ss->auth_name);
    *e = GW_CE_INTERNAL;
    return name;
  }
  *e = GW_CE_INVALID_NAME;
  if (rq->user == NULL)
    return NULL;
  char *name = strndup(rq->user, rq->user_len);
  if (name != NULL && ss->auth_name != NULL &&
      strcmp(name, ss->auth_name) != 0) {
    free(name);
    *e = GW_CE_NAME_MISMATCH;
    return NULL;
  }
  return name;
}

/* reply_bad answers the error gw_chat_parse_request found in |rq|. */
static void reply_bad(gw_chat_t *c, gw_socket_t *s, const gw_chat_req_t *rq) {
  if (rq->too_long)
    c->stats
        .limit_hits[rq->kind == GW_CHAT_REQ_SEND ? GW_CHAT_LIMIT_MESSAGE_SIZE
                                                 : GW_CHAT_LIMIT_NAME_LENGTH]++;
  reply_error(c, s, rq->ack, rq->err);
}

/* The do_* functions act on a request gw_chat_parse_request accepted, or
 * answer the error it found once the session's own checks have had their
 * turn. */

static void do_create(gw_chat_t *c, gw_socket_t *s, const gw_chat_req_t *rq,
                      int bad) {
  gw_chat_sess_t *ss = &s->sess;
  uint64_t ack = rq->ack;
  if (bad)
    return reply_bad(c, s, rq);
  char *room = strndup(rq->room, rq->room_len);
  gw_chat_err_t ne = GW_CE_INTERNAL;
  char *name = room ? user_name_arg(ss, rq, &ne) : NULL;
  if (room == NULL || name == NULL) {
    free(room);
    return reply_error(c, s, ack, ne);
  }
  req_t *r = req_new(c, s, ack);
  if (r == NULL) {
    free(room);
    free(name);
    return reply_error(c, s, ack, GW_CE_INTERNAL);
  }
  r->room = room;
  r->name = name;
  GW_CHECK(!ss->busy); /* requests wait in the inbox behind a busy socket */
  ss->busy = 1;
  int rc = gw_adapter_join(c->adapter, gw_socket_sid(s), room, name,
                           on_join_done, r);
  if (rc != 0) {
    ss->busy = 0;
    req_free(r);
    reply_error(c, s, ack, gw_chat_err_from(rc));
  }
}

static void do_leave(gw_chat_t *c, gw_socket_t *s, const gw_chat_req_t *rq,
                     int bad) {
  gw_chat_sess_t *ss = &s->sess;
  uint64_t ack = rq->ack;
  if (bad)
    return reply_bad(c, s, rq);
  if (ss->room == NULL)
    return reply_error(c, s, ack, GW_CE_NOT_IN_ROOM);
  req_t *r = req_new(c, s, ack);
  if (r == NULL)
    return reply_error(c, s, ack, GW_CE_INTERNAL);
  GW_CHECK(!ss->busy);
  ss->busy = 1;
  int rc = gw_adapter_leave(c->adapter, gw_socket_sid(s), on_leave_done, r);
  if (rc != 0) {
    ss->busy = 0;
    req_free(r);
    reply_error(c, s, ack, gw_chat_err_from(rc));
  }
}

static void do_send(gw_chat_t *c, gw_socket_t *s, const gw_chat_req_t *rq,
                    int bad) {
  gw_chat_sess_t *ss = &s->sess;
  uint64_t ack = rq->ack;
  if (bad && rq->err == GW_CE_BAD_REQUEST)
    return reply_bad(c, s, rq);
  if (ss->room == NULL)
    return reply_error(c, s, ack, GW_CE_NOT_IN_ROOM);
  if (bad)
    return reply_bad(c, s, rq);
  const char *target = rq->target;
  req_t *r = req_new(c, s, ack);
  if (r == NULL)
    return reply_error(c, s, ack, GW_CE_INTERNAL);
  r->ts = wall_ms();
  /* The one encoding of this message, whatever the number of recipients. */
  gw_frame_t *f = gw_sio_event(
      GW_EV_NEWMESSAGE, json_pack("{s:s%,s:s,s:b,s:I}", "message", rq->message,
                                  rq->message_len, "user", ss->name, "dm",
                                  target != NULL, "ts", (json_int_t)r->ts));
  int rc = GW_ENOMEM;
  if (f != NULL)
    rc = target ? gw_adapter_emit_dm(c->adapter, gw_socket_sid(s), ss->room,
                                     target, f, on_send_done, r)
                : gw_adapter_emit_room(c->adapter, gw_socket_sid(s), ss->room,
                                       f, on_send_done, r);
  gw_frame_unref(f);
  if (rc != 0) {
    req_free(r);
    reply_error(c, s, ack, gw_chat_err_from(rc));
  }
}

static void handle(gw_chat_t *c, gw_socket_t *s, const gw_eio_pkt_t *pkt) {
  gw_chat_req_t rq;
  int bad = gw_chat_parse_request(pkt, c->cfg.max_name_chars,
                                  c->cfg.max_message_bytes, &rq) != 0;
  switch (rq.kind) {
  case GW_CHAT_REQ_CREATE:
    return do_create(c, s, &rq, bad);
  case GW_CHAT_REQ_SEND:
    return do_send(c, s, &rq, bad);
  case GW_CHAT_REQ_LEAVE:
    return do_leave(c, s, &rq, bad);
  case GW_CHAT_REQ_UNKNOWN:
    break;
  }
  reply_bad(c, s, &rq);
}

/* ---- arrival and the inbox ---------------------------------------------- */

static void dispatch(gw_chat_t *c, gw_socket_t *s) {
  gw_chat_sess_t *ss = &s->sess;
  if (ss->dispatching)
    return;
  ss->dispatching = 1;
  while (!ss->busy && ss->in_n > 0 && gw_socket_alive(s)) {
    GW_CHECK(ss->in_n <= INBOX_CAP);
    gw_chat_msg_t *m = ss->inbox[ss->in_head];
    ss->in_head = (ss->in_head + 1) % INBOX_CAP;
    ss->in_n--;
    gw_eio_pkt_t pkt;
    if (gw_eio_parse(m->buf, m->len, &pkt) == 0) {
      handle(c, s, &pkt);
      gw_eio_pkt_clear(&pkt);
    }
    free(m);
  }
  ss->dispatching = 0;
}

/* in_kind names the event for the stats by its whole name: a name with a
 * NUL inside ("create\u0000x") is no chat event, as the request side says
 * (is_event). */
static gw_in_event_t in_kind(const gw_eio_pkt_t *pkt) {
  json_t *ev = json_array_get(pkt->data, 0);
  if (pkt->event == NULL)
    return GW_IN_OTHER;
  if (is_event(ev, "create"))
    return GW_IN_CREATE;
  if (is_event(ev, "sendMessage"))
    return GW_IN_SENDMESSAGE;
  if (is_event(ev, "leave"))
    return GW_IN_LEAVE;
  return GW_IN_OTHER;
}

void gw_chat_on_event(gw_chat_t *c, gw_socket_t *s, const char *raw, size_t len,
                      const gw_eio_pkt_t *pkt) {
  gw_chat_sess_t *ss = &s->sess;
  c->stats.events_in[in_kind(pkt)]++;
  if (!rate_ok(c, ss)) {
    c->stats.limit_hits[GW_CHAT_LIMIT_RATE]++;
    return reply_error(c, s, pkt->id, GW_CE_RATE_LIMITED);
  }
  if (!ss->busy && ss->in_n == 0) {
    handle(c, s, pkt);
    return;
  }
  /* A membership change is in flight: keep arrival order. */
  size_t max = c->cfg.inbox_max < INBOX_CAP ? c->cfg.inbox_max : INBOX_CAP;
  gw_chat_msg_t *m = NULL;
  if (ss->inbox == NULL)
    ss->inbox = calloc(INBOX_CAP, sizeof(*ss->inbox));
  if (ss->inbox == NULL || ss->in_n >= max ||
      (m = malloc(sizeof(*m) + len)) == NULL) {
    c->stats.limit_hits[GW_CHAT_LIMIT_INBOX]++;
    return reply_error(c, s, pkt->id, GW_CE_RATE_LIMITED);
  }
  m->len = len;
  memcpy(m->buf, raw, len);
  ss->inbox[(ss->in_head + ss->in_n) % INBOX_CAP] = m;
  ss->in_n++;
  dispatch(c, s);
}
