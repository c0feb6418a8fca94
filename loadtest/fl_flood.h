/* SPDX-License-Identifier: MIT */
/* fl_flood.h: chat-flood's run model shared by the coordinator and workers.
 * The coordinator forks --procs workers (or runs one in-process); each
 * worker owns a share of the clients on its own libuv loop. They talk over a
 * socketpair with length-prefixed records: workers send cumulative
 * fl_stats_t snapshots (progress, ready, final), the coordinator answers
 * READY with GO (common start time and the cluster-wide room sizes). */
#ifndef FL_FLOOD_H
#define FL_FLOOD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "fl_hist.h"

typedef enum fl_mode {
  FL_MODE_FLOOD = 0, /* --rate > 0: room messages at a constant rate */
  FL_MODE_IDLE,      /* --rate 0: hold connections, answer pings */
  FL_MODE_HANDSHAKE  /* --handshake: measure connect + Socket.IO handshake */
} fl_mode_t;

typedef enum fl_transport {
  FL_TR_WEBSOCKET = 0, /* RFC 6455 from the first request (the default) */
  FL_TR_POLLING,       /* Engine.IO HTTP long-polling only */
  FL_TR_UPGRADE        /* open by polling, then upgrade to a WebSocket */
} fl_transport_t;

/* fl_transport_name is "websocket", "polling" or "upgrade". */
const char *fl_transport_name(fl_transport_t t);

typedef struct fl_url {
  struct sockaddr_in addr;
  char hostport[64]; /* Host: header */
  char path[256];    /* request target */
} fl_url_t;

typedef struct fl_opts {
  fl_url_t *urls;
  size_t nurls;
  struct in_addr *src;
  size_t nsrc;
  pid_t *server_pids;
  size_t nserver_pids;
  uint32_t clients;
  uint32_t rooms;
  double rate;     /* aggregate messages/s */
  double duration; /* s */
  double ramp;     /* aggregate connections/s, 0 = as fast as possible */
  double drain;    /* s to wait for late deliveries after the last send */
  size_t payload;  /* message string length */
  unsigned procs;
  int json;
  fl_mode_t mode;
  fl_transport_t transport;
  int spread;   /* --spread: a client's connections on different URLs */
  uint32_t tag; /* run tag: names and message stamps */
} fl_opts_t;

#define FL_HTTP_CODES 7 /* engine.io error codes 0..5, then "other" */

/* Cumulative counters of one worker (or the merge of all). */
typedef struct fl_stats {
  uint64_t started;      /* connection attempts */
  uint64_t connected;    /* Socket.IO connect completed */
  uint64_t joined;       /* create acked ok */
  uint64_t setup_failed; /* failed before being set up */
  uint64_t disconnects;  /* set-up clients lost during the run */
  uint64_t chat_errors;  /* chatError events, failed acks */
  uint64_t proto_errors; /* malformed frames or packets */
  uint64_t sent;         /* sendMessage emitted */
  uint64_t unsent;       /* scheduled with no live sender */
  uint64_t expected;     /* sum of room sizes at send time */
  uint64_t delivered;    /* newMessage with our stamp received */
  uint64_t frames_in;    /* all text messages (or polled packets) received */
  /* polling and upgrade transports only */
  uint64_t gets;        /* HTTP GETs sent (handshake and long-polls) */
  uint64_t posts;       /* HTTP POSTs sent */
  uint64_t resent;      /* requests resent once on a new connection */
  uint64_t http_conns;  /* HTTP connections opened */
  uint64_t upgrades;    /* switches from polling to the WebSocket */
  uint64_t http_errors; /* non-200 answers, refused upgrades (fatal) */
  uint64_t http_code[FL_HTTP_CODES]; /* by engine.io code 0-5; [6] other */
  uint64_t first_us;                 /* start of the measured window */
  uint64_t last_us;                  /* last delivery / handshake */
  fl_hist_t hist;                    /* latency in us */
} fl_stats_t;

/* Record types on the worker <-> coordinator channel. */
enum {
  FL_REC_PROGRESS = 1, /* W->C: fl_stats_t */
  FL_REC_READY = 2,    /* W->C: fl_stats_t + uint32_t[rooms] local members */
  FL_REC_FINAL = 3,    /* W->C: fl_stats_t */
  FL_REC_GO = 10,      /* C->W: fl_go_t + uint32_t[rooms] cluster sizes */
  FL_REC_STOP = 11     /* C->W: end the send phase now */
};

typedef struct fl_go {
  uint64_t t0_us;  /* first scheduled send (monotonic clock, shared) */
  uint64_t end_us; /* end of the send (or hold) phase */
} fl_go_t;

/* fl_now_us is CLOCK_MONOTONIC in us: one clock for every process. */
uint64_t fl_now_us(void);

/* fl_stats_merge adds |src| into |dst|. */
void fl_stats_merge(fl_stats_t *dst, const fl_stats_t *src);

/* fl_worker_run runs worker |id| of |o| on |loop| until its clients are
 * done, talking to the coordinator over the socket |fd|. Returns 0. */
int fl_worker_run(uv_loop_t *loop, const fl_opts_t *o, unsigned id, int fd);

#endif /* FL_FLOOD_H */
