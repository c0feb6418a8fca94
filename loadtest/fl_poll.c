/* SPDX-License-Identifier: MIT */
/* fl_poll.c: chat-flood's Engine.IO v4 HTTP long-polling transport and the
 * upgrade to a WebSocket (--transport polling|upgrade).
 * Each polling client has two keep-alive HTTP/1.1 connections: one carries
 * the handshake GET and then exactly one long-poll GET at a time (its body:
 * packets joined by 0x1e), the other the POSTs (one in flight at a time;
 * what is queued meanwhile goes into the next POST, bounded by the
 * session's maxPayload). A connection the server closed between requests is
 * reopened for the next one; a request that met such a close before any
 * answer is resent once on a new connection. A non-200 answer fails the
 * client and is counted by its engine.io code.
 * Upgrade: after the open packet the client connects the WebSocket with the
 * sid and sends "2probe"; on "3probe" it pauses polling (no new GET or
 * POST), waits for the pending GET to come back (the server releases it
 * with "6") and for the POST in flight, then sends "5" and the queued
 * packets on the WebSocket and closes the HTTP connections. So every packet
 * of the last GET is handled before anything the WebSocket brings.
 * The polling state (fl_poll_t) belongs to its client while c->poll points
 * at it; once let go (fl__poll_close) it is freed by the last close
 * callback of its connections. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_http.h"
#include "fl_sio.h"
#include "fl_worker_int.h"

#define FL_POLL_CTYPE "text/plain;charset=UTF-8"

enum fl_hst {
  FL_H_CLOSED = 0, /* no handle */
  FL_H_CONNECTING, /* handle open, TCP connect pending */
  FL_H_IDLE,       /* connected, no request in flight */
  FL_H_BUSY,       /* request sent, answer pending */
  FL_H_CLOSING     /* uv_close called, close callback pending */
};

typedef struct fl_hconn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  fl_poll_t *pl;
  uint8_t st;      /* enum fl_hst */
  uint8_t is_post; /* the POST connection (else the GET one) */
  uint8_t pending; /* a request waits for the connection to (re)open */
  uint8_t reused;  /* an answer was read on this TCP connection */
  uint8_t resent;  /* the request in flight was already resent once */
  long head;       /* length of the answer's head once parsed, else 0 */
  fl_http_resp_t resp;
  char *in; /* the answer being received */
  size_t inlen, incap;
} fl_hconn_t;

struct fl_poll {
  fl_conn_t *c; /* NULL once the client let go */
  fl_worker_t *w;
  fl_hconn_t get, post;
  uint64_t max_payload; /* from the open packet */
  int64_t t;            /* request counter: the t= parameter */
  char *q;              /* packets for the next POST, joined by 0x1e */
  size_t qlen, qcap;
  char *req; /* the POST in flight (head and body), kept for a resend */
  size_t reqlen;
  unsigned handles; /* TCP handles open */
  char sid[64];     /* "" before the open packet */
};

static int hc_send(fl_hconn_t *hc);
static void hc_closed(uv_handle_t *h);

static void poll_free(fl_poll_t *pl) {
  free(pl->get.in);
  free(pl->post.in);
  free(pl->q);
  free(pl->req);
  free(pl);
}

/* Fails the client of |pl| (a protocol error when |proto|). Returns 1. */
static int fail(fl_poll_t *pl, int proto) {
  fl_conn_t *c = pl->c;
  if (c == NULL)
    return 1;
  if (proto)
    pl->w->st.proto_errors++;
  fl__conn_close(c, 1);
  return 1;
}

/* ---- connections -------------------------------------------------------- */

static void hc_close(fl_hconn_t *hc) {
  if (hc->st == FL_H_CLOSED || hc->st == FL_H_CLOSING)
    return;
  hc->st = FL_H_CLOSING;
  uv_close((uv_handle_t *)&hc->tcp, hc_closed);
}

static void hc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  fl_hconn_t *hc = h->data;
  (void)hint;
  /* the worker's shared buffer: each read is copied out before the next */
  *b = uv_buf_init((char *)hc->pl->w->rbuf, sizeof hc->pl->w->rbuf);
}

static void hc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void on_hc_connect(uv_connect_t *req, int status) {
  fl_hconn_t *hc = req->data;
  fl_poll_t *pl = hc->pl;
  if (pl->c == NULL || hc->st != FL_H_CONNECTING)
    return; /* closed meanwhile (status is UV_ECANCELED) */
  if (status < 0) {
    if (pl->w->debug)
      fprintf(stderr, "chat-flood: client %u: connect: %s\n", pl->c->gi,
              uv_strerror(status));
    fail(pl, 0);
    return;
  }
  hc->st = FL_H_IDLE;
  if (uv_read_start((uv_stream_t *)&hc->tcp, hc_alloc, hc_read) != 0) {
    fail(pl, 0);
    return;
  }
  if (hc->pending && hc_send(hc) != 0)
    fail(pl, 0);
}

/* Opens a new TCP connection for |hc|. Returns 0 or an error. */
static int hc_open(fl_hconn_t *hc) {
  fl_poll_t *pl = hc->pl;
  int rc = fl__tcp_connect(pl->c, hc->is_post ? FL_ROLE_POST : FL_ROLE_MAIN,
                           &hc->tcp, &hc->creq, hc, on_hc_connect);
  if (rc < 0)
    return rc;
  pl->handles++;
  pl->w->live++;
  pl->w->st.http_conns++;
  hc->st = FL_H_CONNECTING; /* on rc == 1 the client's close closes it */
  hc->reused = 0;
  return rc == 0 ? 0 : UV_ECONNABORTED;
}

static void hc_closed(uv_handle_t *h) {
  fl_hconn_t *hc = h->data;
  fl_poll_t *pl = hc->pl;
  pl->handles--;
  pl->w->live--;
  hc->st = FL_H_CLOSED;
  hc->head = 0;
  hc->inlen = 0;
  if (pl->c == NULL) {
    if (pl->handles == 0)
      poll_free(pl);
    return;
  }
  if (hc->pending && hc_open(hc) != 0)
    fail(pl, 0);
}

/* Writes |hc|'s request: the next GET (the handshake while there is no
 * sid), or the POST in pl->req. */
static int hc_write(fl_hconn_t *hc) {
  fl_poll_t *pl = hc->pl;
  fl_conn_t *c = pl->c;
  const fl_url_t *u = fl__url(c, hc->is_post ? FL_ROLE_POST : FL_ROLE_MAIN);
  int rc;
  hc->pending = 0;
  hc->head = 0;
  hc->inlen = 0;
  if (hc->is_post) {
    rc = fl__write((uv_stream_t *)&hc->tcp, pl->req, pl->reqlen);
    pl->w->st.posts++;
  } else {
    char target[512], req[768];
    size_t tl = fl_eio_target(target, sizeof target, u->path, "polling",
                              pl->t++, pl->sid[0] ? pl->sid : NULL);
    size_t n = tl ? fl_http_request(req, sizeof req, "GET", u->hostport, target,
                                    NULL, 0)
                  : 0;
    if (n == 0)
      return UV_E2BIG;
    rc = fl__write((uv_stream_t *)&hc->tcp, req, n);
    pl->w->st.gets++;
  }
  if (rc == 0)
    hc->st = FL_H_BUSY;
  return rc;
}

/* Sends |hc|'s request now, or once its connection is (re)open. */
static int hc_send(fl_hconn_t *hc) {
  switch (hc->st) {
  case FL_H_IDLE:
    return hc_write(hc);
  case FL_H_CLOSED:
    hc->pending = 1;
    return hc_open(hc);
  case FL_H_CONNECTING:
  case FL_H_CLOSING:
    hc->pending = 1;
    return 0;
  default:
    return UV_EBUSY; /* one request at a time: a bug of ours */
  }
}

/* 1 while |hc|'s request is sent or waiting to be. */
static int hc_outstanding(const fl_hconn_t *hc) {
  return hc->st == FL_H_BUSY || hc->pending;
}

/* ---- POST ---------------------------------------------------------------- */

/* Sends the next POST unless one is in flight, nothing is queued, the
 * session is not open yet, or an upgrade pauses polling. */
static int post_flush(fl_poll_t *pl) {
  fl_conn_t *c = pl->c;
  if (pl->req != NULL || pl->qlen == 0 || pl->sid[0] == '\0' ||
      c->upg == FL_U_PAUSING)
    return 0;
  const fl_url_t *u = fl__url(c, FL_ROLE_POST);
  size_t cut = fl_eio_cut(pl->q, pl->qlen, pl->max_payload);
  char target[512], head[768];
  size_t tl = fl_eio_target(target, sizeof target, u->path, "polling", pl->t++,
                            pl->sid);
  size_t hl = tl ? fl_http_request(head, sizeof head, "POST", u->hostport,
                                   target, FL_POLL_CTYPE, cut)
                 : 0;
  if (hl == 0)
    return UV_E2BIG;
  pl->req = malloc(hl + cut);
  if (pl->req == NULL)
    return UV_ENOMEM;
  memcpy(pl->req, head, hl);
  memcpy(pl->req + hl, pl->q, cut);
  pl->reqlen = hl + cut;
  size_t skip = cut < pl->qlen ? cut + 1 : cut; /* and the separator */
  memmove(pl->q, pl->q + skip, pl->qlen - skip);
  pl->qlen -= skip;
  return hc_send(&pl->post);
}

int fl__poll_send(fl_conn_t *c, const char *p, size_t n) {
  fl_poll_t *pl = c->poll;
  if (pl == NULL)
    return UV_ENOTCONN;
  size_t need = pl->qlen + n + 1;
  if (need > FL_MAX_FRAME)
    return UV_ENOBUFS; /* the server stopped taking our POSTs */
  if (need > pl->qcap) {
    size_t cap = pl->qcap ? pl->qcap : 256;
    while (cap < need)
      cap *= 2;
    char *nq = realloc(pl->q, cap);
    if (nq == NULL)
      return UV_ENOMEM;
    pl->q = nq;
    pl->qcap = cap;
  }
  if (pl->qlen > 0)
    pl->q[pl->qlen++] = FL_EIO_SEP;
  memcpy(pl->q + pl->qlen, p, n);
  pl->qlen += n;
  return post_flush(pl);
}

/* ---- upgrade ------------------------------------------------------------- */

/* Switches to the WebSocket once polling is paused and quiet. Returns
 * non-zero when the client was closed. */
static int try_switch(fl_poll_t *pl) {
  fl_conn_t *c = pl->c;
  fl_worker_t *w = pl->w;
  if (c->upg != FL_U_PAUSING || hc_outstanding(&pl->get) || pl->req != NULL)
    return 0;
  if (fl__ws_send(c, "5", 1) != 0)
    return fail(pl, 0);
  c->upg = FL_U_DONE;
  c->on_ws = 1;
  w->upgrading--;
  w->st.upgrades++;
  /* what was queued while paused goes out on the WebSocket, in order */
  const char *p = pl->q, *pkt;
  size_t n = pl->qlen, len;
  if (n > 0)
    while (fl_eio_next(&p, &n, &pkt, &len))
      if (fl__ws_send(c, pkt, len) != 0)
        return fail(pl, 0);
  pl->qlen = 0;
  fl__poll_close(c);
  return 0;
}

int fl__upg_message(fl_conn_t *c, const char *p, size_t n) {
  fl_poll_t *pl = c->poll;
  if (pl == NULL || c->upg != FL_U_PROBING || n != 6 ||
      memcmp(p, "3probe", 6) != 0) {
    if (c->w->debug)
      fprintf(stderr,
              "chat-flood: client %u: unexpected during upgrade: %.*s\n", c->gi,
              (int)(n > 40 ? 40 : n), p);
    c->w->st.proto_errors++;
    fl__conn_close(c, 1);
    return 1;
  }
  c->upg = FL_U_PAUSING;
  return try_switch(pl);
}

static int start_upgrade(fl_poll_t *pl) {
  fl_conn_t *c = pl->c;
  c->upg = FL_U_PROBING;
  pl->w->upgrading++;
  if (fl__ws_open(c) != 0)
    return fail(pl, 0);
  return 0;
}

/* ---- answers ------------------------------------------------------------- */

/* A non-200 answer: counted by engine.io code ({"code":N,...}), fatal. */
static void http_error(fl_poll_t *pl, const fl_hconn_t *hc, const char *body,
                       size_t blen) {
  fl_worker_t *w = pl->w;
  int64_t code = -1;
  if (fl_json_int(body, blen, "code", &code) != 0 || code < 0 ||
      code >= FL_HTTP_CODES - 1)
    code = FL_HTTP_CODES - 1;
  w->st.http_errors++;
  w->st.http_code[code]++;
  if (w->debug)
    fprintf(stderr, "chat-flood: client %u: %s answered %d: %.*s\n", pl->c->gi,
            hc->is_post ? "POST" : "GET", hc->resp.status,
            (int)(blen > 120 ? 120 : blen), body);
  fail(pl, 0);
}

/* The open packet: the sid and the POST bound. Returns non-zero when the
 * client was closed. */
static int open_packet(fl_poll_t *pl, const char *p, size_t n) {
  fl_pkt_t pkt;
  const char *sid;
  size_t sl;
  int64_t max = 0;
  if (fl_sio_parse(p, n, &pkt) != FL_PKT_OPEN ||
      fl_json_str(pkt.data, pkt.data_len, "sid", &sid, &sl) != 0 ||
      !fl_eio_sid_ok(sid, sl) || sl >= sizeof pl->sid)
    return fail(pl, 1);
  memcpy(pl->sid, sid, sl);
  pl->sid[sl] = '\0';
  /* engine.io's default when absent; a server's bound below 64 is odd
   * enough to ignore rather than to send one packet per POST */
  if (fl_json_int(pkt.data, pkt.data_len, "maxPayload", &max) != 0 || max < 64)
    max = 1000000;
  pl->max_payload = (uint64_t)max;
  return 0;
}

static void get_done(fl_poll_t *pl, char *body, size_t blen) {
  fl_conn_t *c = pl->c;
  fl_worker_t *w = pl->w;
  const char *p = body, *pkt;
  size_t n = blen, len;
  while (fl_eio_next(&p, &n, &pkt, &len)) {
    w->st.frames_in++;
    if (len > 0 && pkt[0] == 'b')
      continue; /* base64 binary: not part of this protocol subset */
    if (c->state == FL_C_OPEN && open_packet(pl, pkt, len))
      return;
    if (fl__packet(c, pkt, len, 0))
      return;
  }
  if (c->upg == FL_U_NONE && w->o->transport == FL_TR_UPGRADE &&
      start_upgrade(pl))
    return;
  if (c->upg == FL_U_PAUSING) {
    try_switch(pl); /* the last GET: not re-issued */
    return;
  }
  if (hc_send(&pl->get) != 0)
    fail(pl, 0);
}

static void post_done(fl_poll_t *pl, const char *body, size_t blen) {
  if (blen != 2 || memcmp(body, "ok", 2) != 0) {
    fail(pl, 1);
    return;
  }
  free(pl->req);
  pl->req = NULL;
  if (pl->c->upg == FL_U_PAUSING) {
    try_switch(pl);
    return;
  }
  if (post_flush(pl) != 0)
    fail(pl, 0);
}

/* A complete answer: |body| (|blen| bytes) lies in hc->in. */
static void hc_done(fl_hconn_t *hc, char *body, size_t blen) {
  fl_poll_t *pl = hc->pl;
  hc->reused = 1;
  hc->resent = 0;
  hc->st = FL_H_IDLE;
  /* close first, so that the next request waits for a new connection;
   * the body stays valid: hc->in is reused only by the next request */
  if (hc->resp.close)
    hc_close(hc);
  if (hc->resp.status != 200)
    http_error(pl, hc, body, blen);
  else if (hc->is_post)
    post_done(pl, body, blen);
  else
    get_done(pl, body, blen);
}

/* Parses what hc->in holds; dispatches a complete answer. */
static void hc_parse(fl_hconn_t *hc) {
  fl_poll_t *pl = hc->pl;
  if (hc->head == 0) {
    hc->head = fl_http_head(hc->in, hc->inlen, &hc->resp);
    if (hc->head == 0)
      return;
    if (hc->head < 0) {
      hc->head = 0;
      fail(pl, 1);
      return;
    }
  }
  char *body = hc->in + hc->head;
  size_t have = hc->inlen - (size_t)hc->head, blen;
  switch (hc->resp.body) {
  case FL_HTTP_BODY_LENGTH:
    if (have < hc->resp.length)
      return;
    if (have > hc->resp.length) {
      fail(pl, 1); /* bytes nobody asked for */
      return;
    }
    blen = (size_t)hc->resp.length;
    break;
  case FL_HTTP_BODY_CHUNKED: {
    long used = fl_http_chunked(body, have, body, &blen);
    if (used == 0)
      return;
    if (used < 0 || (size_t)used != have) {
      fail(pl, 1);
      return;
    }
    break;
  }
  default:
    return; /* FL_HTTP_BODY_EOF: complete when the server closes */
  }
  hc_done(hc, body, blen);
}

/* The server closed |hc| (or it failed with |err|). */
static void hc_eof(fl_hconn_t *hc, ssize_t err) {
  fl_poll_t *pl = hc->pl;
  if (hc->st == FL_H_BUSY && hc->head > 0 &&
      hc->resp.body == FL_HTTP_BODY_EOF) {
    hc_done(hc, hc->in + hc->head, hc->inlen - (size_t)hc->head);
    return;
  }
  if (hc->st == FL_H_BUSY && hc->inlen == 0 && hc->reused && !hc->resent) {
    /* The server closed a kept-alive connection as our request went out
     * (Node's keepAliveTimeout): it never saw the request. Once. */
    hc->resent = 1;
    pl->w->st.resent++;
    hc->pending = 1;
    hc_close(hc);
    return;
  }
  if (hc->st == FL_H_BUSY) {
    if (pl->w->debug)
      fprintf(stderr, "chat-flood: client %u: %s lost: %s\n", pl->c->gi,
              hc->is_post ? "POST" : "GET",
              err == UV_EOF ? "closed by the server" : uv_strerror((int)err));
    fail(pl, 0);
    return;
  }
  hc_close(hc); /* idle: reopened for the next request */
}

static void hc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  fl_hconn_t *hc = s->data;
  fl_poll_t *pl = hc->pl;
  if (nread == 0 || pl->c == NULL)
    return;
  if (nread < 0) {
    hc_eof(hc, nread);
    return;
  }
  pl->w->last_rx_us = fl_now_us();
  if (hc->st != FL_H_BUSY) {
    fail(pl, 1); /* an answer to no request */
    return;
  }
  size_t n = (size_t)nread, need = hc->inlen + n;
  if (need > FL_MAX_FRAME) {
    fail(pl, 1);
    return;
  }
  if (need > hc->incap) {
    size_t cap = hc->incap ? hc->incap : 1024;
    while (cap < need)
      cap *= 2;
    char *ni = realloc(hc->in, cap);
    if (ni == NULL) {
      fail(pl, 0);
      return;
    }
    hc->in = ni;
    hc->incap = cap;
  }
  memcpy(hc->in + hc->inlen, b->base, n);
  hc->inlen += n;
  hc_parse(hc);
}

/* ---- client -------------------------------------------------------------- */

int fl__poll_start(fl_conn_t *c) {
  fl_poll_t *pl = calloc(1, sizeof *pl);
  if (pl == NULL)
    return UV_ENOMEM;
  pl->c = c;
  pl->w = c->w;
  pl->get.pl = pl->post.pl = pl;
  pl->post.is_post = 1;
  pl->max_payload = 1000000;
  c->poll = pl;
  c->state = FL_C_OPEN; /* the handshake GET waits for the connection */
  return hc_send(&pl->get);
}

void fl__poll_close(fl_conn_t *c) {
  fl_poll_t *pl = c->poll;
  if (pl == NULL)
    return;
  c->poll = NULL;
  pl->c = NULL;
  hc_close(&pl->get);
  hc_close(&pl->post);
  if (pl->handles == 0)
    poll_free(pl);
}

const char *fl__poll_sid(const fl_conn_t *c) {
  return c->poll != NULL && c->poll->sid[0] ? c->poll->sid : NULL;
}
