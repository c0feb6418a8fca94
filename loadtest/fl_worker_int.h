/* SPDX-License-Identifier: MIT */
/* fl_worker_int.h: what the worker's files share (fl_worker.c: clients,
 * WebSocket transport, Socket.IO client, schedule; fl_poll.c: the HTTP
 * long-polling transport and the upgrade). Not part of any API: one worker
 * process, one loop, no locking. A client (fl_conn_t) lives in the worker's
 * array for the whole run; what it allocates is freed in close callbacks. */
#ifndef FL_WORKER_INT_H
#define FL_WORKER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "fl_chan.h"
#include "fl_flood.h"
#include "fl_sched.h"
#include "fl_ws.h"

#define FL_MAX_FRAME (64u << 20) /* longest message, response or queue */

enum fl_cstate {
  FL_C_IDLE = 0, /* not started */
  FL_C_TCP,      /* TCP connect pending */
  FL_C_UPGRADE,  /* websocket: upgrade request sent */
  FL_C_OPEN,     /* waiting for the Engine.IO open packet */
  FL_C_SIO,      /* "40" sent, waiting for 40{"sid"} */
  FL_C_JOIN,     /* create sent, waiting for its ack */
  FL_C_READY,    /* set up */
  FL_C_DEAD      /* failed or closed */
};

/* The upgrade of a polling client (--transport upgrade). */
enum fl_upg {
  FL_U_NONE = 0, /* not started (or not an upgrading client) */
  FL_U_PROBING,  /* WebSocket connecting, or "2probe" sent */
  FL_U_PAUSING,  /* "3probe" received: waiting for the GET and POST */
  FL_U_DONE      /* "5" sent: the WebSocket is the transport */
};

enum fl_phase { FL_P_SETUP = 0, FL_P_READY, FL_P_RUN, FL_P_DRAIN, FL_P_DONE };

typedef struct fl_worker fl_worker_t;
typedef struct fl_poll fl_poll_t;

typedef struct fl_conn {
  uv_tcp_t tcp; /* the WebSocket (from the start, or the upgrade) */
  uv_connect_t creq;
  fl_worker_t *w;
  fl_poll_t *poll; /* polling state while polling is used, else NULL */
  uint32_t gi;     /* global client index */
  uint32_t room;   /* gi % rooms */
  uint8_t state;
  uint8_t handle_open; /* |tcp| is initialized and not yet closed */
  uint8_t ws_hs;       /* WebSocket opening handshake in progress */
  uint8_t on_ws;       /* packets go over the WebSocket (else polling) */
  uint8_t upg;         /* enum fl_upg */
  uint8_t mop;         /* opcode of the message being received */
  uint8_t mtrunc;      /* message longer than the kept prefix */
  char key[25];        /* Sec-WebSocket-Key */
  uint64_t t_start;
  char *hbuf; /* HTTP response head being collected */
  uint32_t hlen;
  uint32_t mlen, mcap;
  char *msg; /* kept prefix of the message being received */
  fl_ws_dec_t dec;
} fl_conn_t;

struct fl_worker {
  uv_loop_t *loop;
  const fl_opts_t *o;
  unsigned id;
  fl_conn_t *conns;
  uint32_t n;
  fl_chan_t chan;
  uv_timer_t tick;   /* 20 ms: ramp, timeouts, phase changes, progress */
  uv_timer_t sender; /* send schedule */
  int timers_open;
  enum fl_phase phase;
  uint32_t next_start; /* next local connection to start */
  uint32_t inflight;   /* handshakes in progress */
  uint32_t settled;    /* set up or failed */
  uint32_t upgrading;  /* upgrades started and not yet done or failed */
  uint32_t live;       /* TCP handles open */
  uint64_t ramp_t0;
  uint64_t last_rx_us;
  uint64_t last_progress_us;
  uint64_t end_us;
  uint64_t drain_until;
  uint64_t rng;
  uint32_t *room_local; /* members set up here, per room */
  uint32_t *room_size;  /* cluster-wide members per room (from GO) */
  uint32_t next_sender;
  size_t keep; /* bytes of a message kept for parsing */
  int debug;   /* CHAT_FLOOD_DEBUG set: log failures */
  fl_sched_t sched;
  fl_stats_t st;
  char *sbuf; /* scratch for outgoing packets */
  size_t sbuf_cap;
  uint8_t rbuf[65536]; /* read buffer shared by all connections */
};

/* ---- fl_worker.c ---------------------------------------------------------
 */

/* fl__packet handles one Engine.IO packet |p| (|n| bytes, borrowed; a
 * prefix when |truncated|) received by |c| on either transport. Returns
 * non-zero when |c| was closed. */
int fl__packet(fl_conn_t *c, const char *p, size_t n, int truncated);

/* fl__conn_close closes every connection of |c|; |failed|: an error
 * (counted), not our own shutdown. Idempotent. */
void fl__conn_close(fl_conn_t *c, int failed);

/* What a client's TCP connection carries: with --spread each goes to
 * another of the --url list, as a balancer without affinity would send it. */
enum fl_role {
  FL_ROLE_MAIN = 0, /* the WebSocket, or the polling GETs */
  FL_ROLE_POST,     /* the polling POSTs */
  FL_ROLE_UPGRADE   /* the WebSocket of an upgrade */
};

/* fl__url is the URL of |c|'s connection for |role| (borrowed). */
const fl_url_t *fl__url(const fl_conn_t *c, enum fl_role role);

/* fl__tcp_connect initializes |tcp| (its data = |data|), binds it to the
 * client's source address (--source-ips) and starts connecting to the
 * client's URL for |role|; |cb| runs once with |req| (data = |data|).
 * Returns 0; or a negative libuv error when |tcp| could not be initialized
 * (nothing to close); or 1 when |tcp| was initialized but the connect did
 * not start (the caller closes |tcp|; |cb| never runs). */
int fl__tcp_connect(fl_conn_t *c, enum fl_role role, uv_tcp_t *tcp,
                    uv_connect_t *req, void *data, uv_connect_cb cb);

/* fl__write sends |len| bytes (borrowed) on |s|: uv_try_write first, then
 * a copy of the rest. Returns 0 or a negative libuv error. */
int fl__write(uv_stream_t *s, const void *p, size_t len);

/* fl__ws_open starts |c|'s WebSocket: TCP connect, then the opening
 * handshake (to the upgrade target when c->upg is FL_U_PROBING). Returns 0
 * or an error (then the caller closes |c|). */
int fl__ws_open(fl_conn_t *c);

/* fl__ws_send sends |s| (|len| bytes, borrowed) as one masked text frame on
 * |c|'s WebSocket. Returns 0 or a negative libuv error. */
int fl__ws_send(fl_conn_t *c, const char *s, size_t len);

/* ---- fl_poll.c ----------------------------------------------------------
 */

/* fl__poll_start opens |c| by polling: the GET connection and the
 * handshake request. Returns 0 or an error (then the caller closes |c|). */
int fl__poll_start(fl_conn_t *c);

/* fl__poll_send queues the packet |p| (|n| bytes, copied) for the next POST
 * and sends it unless a POST is in flight or an upgrade is pausing the
 * transport. Returns 0 or a negative libuv error (then the caller closes
 * |c|). */
int fl__poll_send(fl_conn_t *c, const char *p, size_t n);

/* fl__poll_close closes |c|'s polling connections; the state is freed once
 * they are closed. Sets c->poll to NULL. Idempotent. */
void fl__poll_close(fl_conn_t *c);

/* fl__poll_sid is |c|'s Engine.IO sid (borrowed), or NULL before the open
 * packet. */
const char *fl__poll_sid(const fl_conn_t *c);

/* fl__upg_message handles a WebSocket text message |p| (|n| bytes) that
 * arrives while |c| upgrades: "3probe" pauses polling, anything else fails
 * the client. Returns non-zero when |c| was closed. */
int fl__upg_message(fl_conn_t *c, const char *p, size_t n);

#endif /* FL_WORKER_INT_H */
