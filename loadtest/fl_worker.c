/* SPDX-License-Identifier: MIT */
/* fl_worker.c: one chat-flood worker: its share of the clients on one libuv
 * loop. Each client is a TCP connection running our RFC 6455 client
 * (fl_ws) and the Engine.IO/Socket.IO client (fl_sio): upgrade, open,
 * "40", create {roomName, userName} with an ack, then sendMessage on the
 * open-loop schedule (fl_sched) while every newMessage received is timed
 * against the send time stamped in it (fl_hist).
 * With --transport polling or upgrade, fl_poll.c carries the packets over
 * HTTP long-polling (and hands over to the WebSocket for upgrade); the
 * Socket.IO client here is the same for every transport.
 * Phases: SETUP (ramp, handshakes, joins, then quiet) -> READY sent -> RUN
 * (after GO) -> DRAIN (late deliveries) -> DONE (FINAL sent, closing).
 * All connections are owned by the worker's array; memory is freed only in
 * close callbacks. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fl_http.h"
#include "fl_sio.h"
#include "fl_worker_int.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define FL_SETUP_TIMEOUT_US 60000000u /* per connection */
#define FL_QUIET_US         300000u   /* setup traffic settled */
#define FL_MAX_INFLIGHT     512u      /* concurrent handshakes per worker */
#define FL_SEND_BATCH       4096u     /* sends per timer callback */

uint64_t fl_now_us(void) {
  return uv_hrtime() / 1000u;
}

const char *fl_transport_name(fl_transport_t t) {
  return t == FL_TR_POLLING   ? "polling"
         : t == FL_TR_UPGRADE ? "upgrade"
                              : "websocket";
}

void fl_stats_merge(fl_stats_t *d, const fl_stats_t *s) {
  d->started += s->started;
  d->connected += s->connected;
  d->joined += s->joined;
  d->setup_failed += s->setup_failed;
  d->disconnects += s->disconnects;
  d->chat_errors += s->chat_errors;
  d->proto_errors += s->proto_errors;
  d->sent += s->sent;
  d->unsent += s->unsent;
  d->expected += s->expected;
  d->delivered += s->delivered;
  d->frames_in += s->frames_in;
  d->gets += s->gets;
  d->posts += s->posts;
  d->resent += s->resent;
  d->http_conns += s->http_conns;
  d->upgrades += s->upgrades;
  d->http_errors += s->http_errors;
  for (int i = 0; i < FL_HTTP_CODES; i++)
    d->http_code[i] += s->http_code[i];
  if (s->first_us && (d->first_us == 0 || s->first_us < d->first_us))
    d->first_us = s->first_us;
  if (s->last_us > d->last_us)
    d->last_us = s->last_us;
  fl_hist_merge(&d->hist, &s->hist);
}

static uint64_t rng_next(fl_worker_t *w) {
  /* xorshift64*: masks and keys need to be unpredictable to proxies, not
   * cryptographically strong; seeded from getrandom(). */
  uint64_t x = w->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static int mode_joins(const fl_worker_t *w) {
  return w->o->mode != FL_MODE_HANDSHAKE;
}

/* ---- sending ----------------------------------------------------------- */

typedef struct wr {
  uv_write_t req;
  uint8_t data[];
} wr_t;

static void written(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

int fl__write(uv_stream_t *s, const void *p, size_t len) {
  int n = uv_try_write(s, &(uv_buf_t){.base = (char *)p, .len = len}, 1);
  if (n == (int)len)
    return 0;
  if (n < 0 && n != UV_EAGAIN)
    return n;
  size_t done = n > 0 ? (size_t)n : 0;
  wr_t *wr = malloc(sizeof *wr + len - done);
  if (wr == NULL)
    return UV_ENOMEM;
  memcpy(wr->data, (const uint8_t *)p + done, len - done);
  uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)(len - done));
  int rc = uv_write(&wr->req, s, &b, 1, written);
  if (rc)
    free(wr);
  return rc;
}

static int send_raw(fl_conn_t *c, const uint8_t *p, size_t len) {
  return fl__write((uv_stream_t *)&c->tcp, p, len);
}

/* Sends one masked frame. */
static int send_frame(fl_conn_t *c, int opcode, const void *payload,
                      size_t len) {
  fl_worker_t *w = c->w;
  size_t need = FL_WS_MAX_HEADER + len;
  uint8_t stackbuf[512];
  uint8_t *buf = need <= sizeof stackbuf ? stackbuf : malloc(need);
  if (buf == NULL)
    return UV_ENOMEM;
  uint64_t r = rng_next(w);
  uint8_t mask[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16),
                     (uint8_t)(r >> 24)};
  size_t fl = fl_ws_encode(buf, opcode, payload, len, mask);
  int rc = send_raw(c, buf, fl);
  if (buf != stackbuf)
    free(buf);
  return rc;
}

int fl__ws_send(fl_conn_t *c, const char *s, size_t len) {
  return send_frame(c, FL_WS_TEXT, s, len);
}

/* Sends one Engine.IO packet over |c|'s current transport. */
static int send_text(fl_conn_t *c, const char *s, size_t len) {
  if (c->poll != NULL && !c->on_ws)
    return fl__poll_send(c, s, len);
  return send_frame(c, FL_WS_TEXT, s, len);
}

/* ---- connection life --------------------------------------------------- */

static void conn_closed(uv_handle_t *h) {
  fl_conn_t *c = h->data;
  free(c->hbuf);
  c->hbuf = NULL;
  free(c->msg);
  c->msg = NULL;
  c->mcap = c->mlen = 0;
  c->handle_open = 0;
  c->w->live--;
}

/* Marks |c| set up (or failed) for the setup accounting. */
static void settle(fl_conn_t *c, int ok) {
  fl_worker_t *w = c->w;
  if (c->state <= FL_C_JOIN && c->state >= FL_C_TCP)
    w->inflight--;
  w->settled++;
  if (ok) {
    c->state = FL_C_READY;
  } else {
    c->state = FL_C_DEAD;
    w->st.setup_failed++;
  }
}

void fl__conn_close(fl_conn_t *c, int failed) {
  fl_worker_t *w = c->w;
  if (c->state == FL_C_DEAD && !c->handle_open && c->poll == NULL)
    return;
  if (failed && w->debug)
    fprintf(stderr, "chat-flood: client %u failed in state %d\n", c->gi,
            c->state);
  if (c->upg == FL_U_PROBING || c->upg == FL_U_PAUSING) {
    w->upgrading--;
    c->upg = FL_U_NONE;
  }
  if (c->state >= FL_C_TCP && c->state < FL_C_READY) {
    settle(c, 0);
  } else if (c->state == FL_C_READY) {
    if (failed)
      w->st.disconnects++;
    if (mode_joins(w)) {
      if (w->room_local[c->room] > 0)
        w->room_local[c->room]--;
      /* Membership changes are known for local clients only. */
      if (w->room_size != NULL && w->room_size[c->room] > 0)
        w->room_size[c->room]--;
    }
  }
  c->state = FL_C_DEAD;
  fl__poll_close(c);
  if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_close(fl_conn_t *c, int failed) {
  fl__conn_close(c, failed);
}

static void on_connect(uv_connect_t *req, int status);
static void alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

const fl_url_t *fl__url(const fl_conn_t *c, enum fl_role role) {
  const fl_opts_t *o = c->w->o;
  return &o->urls[(c->gi + (o->spread ? (uint32_t)role : 0)) % o->nurls];
}

int fl__tcp_connect(fl_conn_t *c, enum fl_role role, uv_tcp_t *tcp,
                    uv_connect_t *req, void *data, uv_connect_cb cb) {
  fl_worker_t *w = c->w;
  const fl_opts_t *o = w->o;
  int rc = uv_tcp_init_ex(w->loop, tcp, AF_INET);
  if (rc)
    return rc;
  tcp->data = data;
  uv_tcp_nodelay(tcp, 1);
  if (o->nsrc > 0) {
    /* Let connect() pick the port per 4-tuple, not bind() per address. */
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)tcp, &fd) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr = o->src[c->gi % o->nsrc];
    if (uv_tcp_bind(tcp, (const struct sockaddr *)&sa, 0) != 0)
      return 1;
  }
  const fl_url_t *u = fl__url(c, role);
  req->data = data;
  if (uv_tcp_connect(req, tcp, (const struct sockaddr *)&u->addr, cb) != 0)
    return 1;
  return 0;
}

int fl__ws_open(fl_conn_t *c) {
  int rc = fl__tcp_connect(
      c, c->upg == FL_U_PROBING ? FL_ROLE_UPGRADE : FL_ROLE_MAIN, &c->tcp,
      &c->creq, c, on_connect);
  if (rc < 0)
    return rc;
  c->handle_open = 1;
  c->w->live++;
  return rc == 0 ? 0 : UV_ECONNABORTED;
}

static void conn_start(fl_worker_t *w, fl_conn_t *c) {
  c->t_start = fl_now_us();
  c->state = FL_C_TCP;
  w->inflight++;
  w->st.started++;
  int rc =
      w->o->transport == FL_TR_WEBSOCKET ? fl__ws_open(c) : fl__poll_start(c);
  if (rc)
    conn_close(c, 1);
}

static void on_connect(uv_connect_t *req, int status) {
  fl_conn_t *c = req->data;
  fl_worker_t *w = c->w;
  if (status < 0 || c->state == FL_C_DEAD) {
    if (w->debug)
      fprintf(stderr, "chat-flood: client %u: connect: %s\n", c->gi,
              uv_strerror(status));
    conn_close(c, 1);
    return;
  }
  uint8_t raw[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = rng_next(w);
    memcpy(raw + i, &r, 8);
  }
  fl_ws_base64(raw, 16, c->key);
  const fl_url_t *u =
      fl__url(c, c->upg == FL_U_PROBING ? FL_ROLE_UPGRADE : FL_ROLE_MAIN);
  const char *target = u->path;
  char upg[512];
  if (c->upg == FL_U_PROBING) {
    /* the upgrade of a polling session: same URL, with its sid */
    const char *sid = fl__poll_sid(c);
    if (sid == NULL ||
        fl_eio_target(upg, sizeof upg, u->path, "websocket", -1, sid) == 0) {
      conn_close(c, 1);
      return;
    }
    target = upg;
  } else {
    c->state = FL_C_UPGRADE;
  }
  char req_buf[768];
  size_t n =
      fl_ws_request(req_buf, sizeof req_buf, u->hostport, target, c->key);
  c->ws_hs = 1;
  if (n == 0 || send_raw(c, (const uint8_t *)req_buf, n) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, alloc, on_read) != 0)
    conn_close(c, 1);
}

/* ---- receiving --------------------------------------------------------- */

static void alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  fl_conn_t *c = h->data;
  (void)hint;
  /* One buffer per worker: every read is parsed before the next one. */
  *b = uv_buf_init((char *)c->w->rbuf, sizeof c->w->rbuf);
}

static int ws_begin(void *u, int opcode) {
  fl_conn_t *c = u;
  c->mop = (uint8_t)opcode;
  c->mlen = 0;
  c->mtrunc = 0;
  return 0;
}

static int ws_data(void *u, const uint8_t *p, size_t n) {
  fl_conn_t *c = u;
  size_t keep = c->w->keep;
  if (c->mlen >= keep) {
    c->mtrunc = 1;
    return 0;
  }
  size_t take = n;
  if (c->mlen + take > keep) {
    take = keep - c->mlen;
    c->mtrunc = 1;
  }
  if (c->mlen + take > c->mcap) {
    size_t cap = c->mcap ? c->mcap : 256;
    while (cap < c->mlen + take)
      cap *= 2;
    if (cap > keep)
      cap = keep;
    char *nm = realloc(c->msg, cap);
    if (nm == NULL)
      return 1;
    c->msg = nm;
    c->mcap = (uint32_t)cap;
  }
  memcpy(c->msg + c->mlen, p, take);
  c->mlen += (uint32_t)take;
  return 0;
}

static void ready_conn(fl_conn_t *c) {
  fl_worker_t *w = c->w;
  settle(c, 1);
  if (mode_joins(w)) {
    w->st.joined++;
    w->room_local[c->room]++;
  }
}

int fl__packet(fl_conn_t *c, const char *p, size_t n, int truncated) {
  fl_worker_t *w = c->w;
  fl_pkt_t pkt;
  fl_sio_parse(p, n, &pkt);
  switch (pkt.type) {
  case FL_PKT_OPEN:
    if (c->state != FL_C_OPEN)
      break;
    c->state = FL_C_SIO;
    if (send_text(c, "40", 2) != 0)
      goto fail;
    return 0;
  case FL_PKT_PING:
    if (send_text(c, "3", 1) != 0)
      goto fail;
    return 0;
  case FL_PKT_CONNECT:
    if (c->state != FL_C_SIO)
      break;
    w->st.connected++;
    if (!mode_joins(w)) {
      uint64_t now = fl_now_us();
      fl_hist_record(&w->st.hist, now - c->t_start);
      if (now > w->st.last_us)
        w->st.last_us = now;
      ready_conn(c);
      return 0;
    }
    {
      char room[32], user[32];
      snprintf(room, sizeof room, "fl-%08" PRIx32 "-%" PRIu32, w->o->tag,
               c->room);
      snprintf(user, sizeof user, "u%" PRIu32, c->gi);
      size_t len = fl_sio_create(w->sbuf, w->sbuf_cap, 1, room, user);
      c->state = FL_C_JOIN;
      if (len == 0 || send_text(c, w->sbuf, len) != 0)
        goto fail;
    }
    return 0;
  case FL_PKT_ACK:
    if (c->state == FL_C_JOIN && pkt.ack_id == 1) {
      if (!truncated && fl_json_true(pkt.data, pkt.data_len, "ok")) {
        ready_conn(c);
        return 0;
      }
      w->st.chat_errors++;
      goto fail;
    }
    return 0;
  case FL_PKT_EVENT:
    if (pkt.name_len == 10 && memcmp(pkt.name, "newMessage", 10) == 0) {
      uint64_t sched;
      if (fl_sio_stamp(pkt.data, pkt.data_len, w->o->tag, &sched) == 0) {
        uint64_t now = fl_now_us();
        w->st.delivered++;
        fl_hist_record(&w->st.hist, now > sched ? now - sched : 0);
        w->st.last_us = now;
      }
    } else if (pkt.name_len == 9 && memcmp(pkt.name, "chatError", 9) == 0) {
      w->st.chat_errors++;
    }
    return 0;
  case FL_PKT_PONG:
  case FL_PKT_NOOP:
  case FL_PKT_OTHER:
    return 0;
  case FL_PKT_CLOSE:
  case FL_PKT_DISCONNECT:
  case FL_PKT_CONNECT_ERROR:
    goto fail;
  case FL_PKT_INVALID:
    w->st.proto_errors++;
    goto fail;
  }
  return 0;
fail:
  conn_close(c, 1);
  return 1;
}

static int ws_end(void *u) {
  fl_conn_t *c = u;
  c->w->st.frames_in++;
  if (c->mop != FL_WS_TEXT)
    return 0; /* binary: not part of this protocol subset */
  if (c->upg == FL_U_PROBING || c->upg == FL_U_PAUSING)
    return fl__upg_message(c, c->msg, c->mlen);
  return fl__packet(c, c->msg, c->mlen, c->mtrunc);
}

static int ws_control(void *u, int opcode, const uint8_t *p, size_t n) {
  fl_conn_t *c = u;
  if (opcode == FL_WS_PING)
    return send_frame(c, FL_WS_PONG, p, n) != 0;
  if (opcode == FL_WS_CLOSE) {
    /* echo the status code, then drop the connection */
    send_frame(c, FL_WS_CLOSE, p, n >= 2 ? 2 : 0);
    conn_close(c, 1);
    return 1;
  }
  return 0;
}

static const fl_ws_callbacks_t ws_cb = {ws_begin, ws_data, ws_end, ws_control};

/* Counts a refused WebSocket handshake: an HTTP answer other than 101 is
 * an HTTP error (by its engine.io code when its JSON body is here). */
static void ws_refused(fl_conn_t *c) {
  fl_worker_t *w = c->w;
  fl_http_resp_t r;
  long head = fl_http_head(c->hbuf, c->hlen, &r);
  if (head > 0 && r.status != 101) {
    int64_t code = -1;
    size_t have = c->hlen - (size_t)head;
    if (r.body != FL_HTTP_BODY_LENGTH || have < r.length ||
        fl_json_int(c->hbuf + head, (size_t)r.length, "code", &code) != 0 ||
        code < 0 || code >= FL_HTTP_CODES - 1)
      code = FL_HTTP_CODES - 1;
    w->st.http_errors++;
    w->st.http_code[code]++;
  }
  if (w->debug) {
    const char *eol = memchr(c->hbuf, '\r', c->hlen);
    int ll = eol ? (int)(eol - c->hbuf) : (int)(c->hlen > 80 ? 80 : c->hlen);
    fprintf(stderr, "chat-flood: client %u: WebSocket refused: %.*s\n", c->gi,
            ll, c->hbuf);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  fl_conn_t *c = s->data;
  fl_worker_t *w = c->w;
  if (nread == 0)
    return;
  if (nread < 0) {
    conn_close(c, 1);
    return;
  }
  w->last_rx_us = fl_now_us();
  const uint8_t *p = (const uint8_t *)b->base;
  size_t n = (size_t)nread;
  if (c->ws_hs) {
    char *nh = realloc(c->hbuf, c->hlen + n);
    if (nh == NULL) {
      conn_close(c, 1);
      return;
    }
    c->hbuf = nh;
    memcpy(c->hbuf + c->hlen, p, n);
    c->hlen += (uint32_t)n;
    long head = fl_ws_response(c->hbuf, c->hlen, c->key);
    if (head == 0)
      return;
    if (head < 0) {
      ws_refused(c);
      conn_close(c, 1);
      return;
    }
    c->ws_hs = 0;
    fl_ws_dec_init(&c->dec, FL_MAX_FRAME);
    if (c->upg == FL_U_PROBING) {
      if (fl__ws_send(c, "2probe", 6) != 0) {
        conn_close(c, 1);
        return;
      }
    } else {
      c->state = FL_C_OPEN;
    }
    size_t rest = c->hlen - (size_t)head;
    char *tmp = c->hbuf;
    c->hbuf = NULL;
    c->hlen = 0;
    int rc =
        rest ? fl_ws_dec_feed(&c->dec, (uint8_t *)tmp + head, rest, &ws_cb, c)
             : 0;
    free(tmp);
    if (rc != 0 && rc != FL_WS_ESTOPPED) {
      w->st.proto_errors++;
      conn_close(c, 1);
    }
    return;
  }
  int rc = fl_ws_dec_feed(&c->dec, p, n, &ws_cb, c);
  if (rc != 0 && rc != FL_WS_ESTOPPED) {
    w->st.proto_errors++;
    conn_close(c, 1);
  }
}

/* ---- schedule ---------------------------------------------------------- */

static void arm_sender(fl_worker_t *w);

static void send_due(uv_timer_t *t) {
  fl_worker_t *w = t->data;
  if (w->phase != FL_P_RUN)
    return;
  uint64_t first;
  size_t k = fl_sched_take(&w->sched, fl_now_us(), FL_SEND_BATCH, &first);
  for (size_t i = 0; i < k; i++) {
    uint64_t seq = first + i;
    uint64_t sched_us = fl_sched_time(&w->sched, seq);
    /* next live, set-up client, round robin */
    fl_conn_t *c = NULL;
    for (uint32_t tries = 0; tries < w->n; tries++) {
      fl_conn_t *cand = &w->conns[w->next_sender];
      w->next_sender = (w->next_sender + 1) % w->n;
      if (cand->state == FL_C_READY) {
        c = cand;
        break;
      }
    }
    if (c == NULL) {
      w->st.unsent++;
      continue;
    }
    size_t len = fl_sio_message(w->sbuf, w->sbuf_cap, w->o->tag, sched_us,
                                seq * w->o->procs + w->id, w->o->payload);
    uint32_t members = w->room_size[c->room];
    if (len == 0 || send_text(c, w->sbuf, len) != 0) {
      w->st.unsent++;
      conn_close(c, 1);
      continue;
    }
    w->st.sent++;
    w->st.expected += members;
  }
  arm_sender(w);
}

static void arm_sender(fl_worker_t *w) {
  uint64_t due = fl_sched_next_due(&w->sched);
  if (due == UINT64_MAX) {
    if (w->phase == FL_P_RUN) {
      w->phase = FL_P_DRAIN;
      uint64_t now = fl_now_us();
      w->drain_until =
          (now > w->end_us ? now : w->end_us) + (uint64_t)(w->o->drain * 1e6);
    }
    return;
  }
  uint64_t now = fl_now_us();
  uint64_t ms = due > now ? (due - now + 999) / 1000 : 0;
  uv_timer_start(&w->sender, send_due, ms, 0);
}

/* ---- coordinator channel ------------------------------------------------ */

static void report(fl_worker_t *w, uint32_t type) {
  if (type == FL_REC_READY)
    fl_chan_send(&w->chan, type, &w->st, sizeof w->st, w->room_local,
                 sizeof(uint32_t) * w->o->rooms);
  else
    fl_chan_send(&w->chan, type, &w->st, sizeof w->st, NULL, 0);
}

static void finish(fl_worker_t *w) {
  if (w->phase == FL_P_DONE)
    return;
  w->phase = FL_P_DONE;
  uv_timer_stop(&w->sender);
  report(w, FL_REC_FINAL);
  /* Close the clients now: the FINAL snapshot is taken. The channel stays
   * open until the coordinator has read it and closes its end. */
  for (uint32_t i = 0; i < w->n; i++)
    conn_close(&w->conns[i], 0);
}

static void on_rec(fl_chan_t *ch, uint32_t type, const uint8_t *p, size_t n) {
  fl_worker_t *w = ch->data;
  if (type == FL_REC_GO && w->phase == FL_P_READY &&
      n == sizeof(fl_go_t) + sizeof(uint32_t) * w->o->rooms) {
    fl_go_t go;
    memcpy(&go, p, sizeof go);
    memcpy(w->room_size, p + sizeof go, sizeof(uint32_t) * w->o->rooms);
    w->end_us = go.end_us;
    w->phase = FL_P_RUN;
    if (w->o->mode == FL_MODE_FLOOD) {
      /* Worker i takes sends i, i+P, i+2P, ... of the global schedule. */
      double rate = w->o->rate / w->o->procs;
      uint64_t t0 = go.t0_us + (uint64_t)(w->id * 1e6 / w->o->rate);
      fl_sched_init(&w->sched, t0, rate, go.end_us);
      w->st.first_us = go.t0_us;
      arm_sender(w);
    } else {
      w->st.first_us = go.t0_us;
    }
  } else if (type == FL_REC_STOP) {
    if (w->phase == FL_P_RUN || w->phase == FL_P_DRAIN) {
      w->sched.total = w->sched.next;
      w->end_us = fl_now_us();
      w->drain_until = w->end_us + 1000000u;
      w->phase = FL_P_DRAIN;
      uv_timer_stop(&w->sender);
    } else if (w->phase < FL_P_RUN) {
      finish(w);
    }
  }
}

static void timer_closed(uv_handle_t *h) {
  fl_worker_t *w = h->data;
  w->timers_open--;
}

static void on_eof(fl_chan_t *ch) {
  /* The coordinator is done with us (or gone): stop everything. */
  fl_worker_t *w = ch->data;
  if (w->phase != FL_P_DONE) {
    w->phase = FL_P_DONE;
    for (uint32_t i = 0; i < w->n; i++)
      conn_close(&w->conns[i], 0);
  }
  fl_chan_close(ch, NULL);
  uv_close((uv_handle_t *)&w->tick, timer_closed);
  uv_close((uv_handle_t *)&w->sender, timer_closed);
}

/* ---- tick ------------------------------------------------------------- */

static void tick(uv_timer_t *t) {
  fl_worker_t *w = t->data;
  const fl_opts_t *o = w->o;
  uint64_t now = fl_now_us();

  if (w->phase == FL_P_SETUP) {
    /* ramp: aggregate rate split over the workers */
    uint32_t allowed = w->n;
    if (o->ramp > 0) {
      double r = o->ramp / o->procs * (double)(now - w->ramp_t0) / 1e6 + 1;
      allowed = r < w->n ? (uint32_t)r : w->n;
    }
    while (w->next_start < allowed && w->inflight < FL_MAX_INFLIGHT)
      conn_start(w, &w->conns[w->next_start++]);
    /* handshakes that take too long fail */
    for (uint32_t i = 0; i < w->next_start; i++) {
      fl_conn_t *c = &w->conns[i];
      if (((c->state >= FL_C_TCP && c->state < FL_C_READY) ||
           c->upg == FL_U_PROBING || c->upg == FL_U_PAUSING) &&
          now > c->t_start + FL_SETUP_TIMEOUT_US)
        conn_close(c, 1);
    }
    /* upgrades finish before the measured window, so that a run over
     * "upgrade" measures the WebSocket it ends on */
    if (w->settled == w->n &&
        (o->mode == FL_MODE_HANDSHAKE ||
         (w->upgrading == 0 && now > w->last_rx_us + FL_QUIET_US))) {
      w->phase = FL_P_READY;
      report(w, FL_REC_READY);
    }
  } else if (w->phase == FL_P_RUN && o->mode != FL_MODE_FLOOD) {
    if (now >= w->end_us) {
      if (o->mode == FL_MODE_IDLE)
        w->st.last_us = now;
      finish(w);
    }
  } else if (w->phase == FL_P_DRAIN) {
    /* Late deliveries: stop when quiet for a second or at the deadline. */
    uint64_t last = w->st.last_us > w->end_us ? w->st.last_us : w->end_us;
    if (now >= w->drain_until || now > last + 1000000u ||
        (w->o->drain <= 0 && now >= w->end_us))
      finish(w);
  }
  if (w->phase != FL_P_DONE && now - w->last_progress_us >= 1000000u) {
    w->last_progress_us = now;
    report(w, FL_REC_PROGRESS);
  }
}

/* ---- run ---------------------------------------------------------------- */

int fl_worker_run(uv_loop_t *loop, const fl_opts_t *o, unsigned id, int fd) {
  fl_worker_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return UV_ENOMEM;
  w->loop = loop;
  w->o = o;
  w->id = id;
  w->n = o->clients / o->procs + (id < o->clients % o->procs ? 1 : 0);
  w->conns = calloc(w->n ? w->n : 1, sizeof *w->conns);
  w->room_local = calloc(o->rooms, sizeof(uint32_t));
  w->room_size = calloc(o->rooms, sizeof(uint32_t));
  w->sbuf_cap = o->payload + 512;
  w->sbuf = malloc(w->sbuf_cap);
  w->keep = o->payload + 1024;
  w->debug = getenv("CHAT_FLOOD_DEBUG") != NULL;
  if (w->conns == NULL || w->room_local == NULL || w->room_size == NULL ||
      w->sbuf == NULL)
    abort(); /* at startup: nothing to recover */
  if (getrandom(&w->rng, sizeof w->rng, 0) != sizeof w->rng || w->rng == 0)
    w->rng = uv_hrtime() | 1;
  fl_stats_t *st = &w->st;
  memset(st, 0, sizeof *st);
  fl_hist_init(&st->hist);
  for (uint32_t i = 0; i < w->n; i++) {
    fl_conn_t *c = &w->conns[i];
    c->w = w;
    c->gi = i * o->procs + id;
    c->room = o->rooms ? c->gi % o->rooms : 0;
  }
  w->chan.data = w;
  if (fl_chan_open(&w->chan, loop, fd, on_rec, on_eof) != 0)
    abort();
  uv_timer_init(loop, &w->tick);
  uv_timer_init(loop, &w->sender);
  w->tick.data = w->sender.data = w;
  w->timers_open = 2;
  w->ramp_t0 = w->last_rx_us = w->last_progress_us = fl_now_us();
  uv_timer_start(&w->tick, tick, 0, 20);
  uv_run(loop, UV_RUN_DEFAULT);
  /* Also returns here in the in-process mode once everything is closed. */
  free(w->conns);
  free(w->room_local);
  free(w->room_size);
  free(w->sbuf);
  free(w);
  return 0;
}
