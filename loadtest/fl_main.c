/* SPDX-License-Identifier: MIT */
/* fl_main.c: chat-flood's command line and coordinator. The coordinator
 * forks the workers (or runs one in this process), merges their snapshots
 * into the progress line, releases them together (GO) once all are set up,
 * samples server memory, and prints the summary and the --json line. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_chan.h"
#include "fl_flood.h"

typedef struct fl_wk {
  fl_chan_t chan;
  fl_stats_t last; /* latest snapshot */
  pid_t pid;
  int ready, final;
} fl_wk_t;

typedef struct fl_coord {
  uv_loop_t *loop;
  const fl_opts_t *o;
  fl_wk_t *wk;
  unsigned nready, nfinal, nclosed;
  uint32_t *room_size;
  uv_timer_t progress;
  uv_timer_t rss_timer;
  uv_signal_t sigint;
  uint64_t start_us, go_us, end_us;
  uint64_t prev_sent, prev_delivered, prev_us;
  uint64_t *rss_before, *rss_held; /* kB per --server-pid */
  uint64_t *cpu_start, *cpu_end;   /* utime+stime ticks per --server-pid */
  int stopping, handles_closed;
} fl_coord_t;

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: chat-flood --url URL[,URL...] --clients N --rooms R "
          "--rate MSGS_PER_S --duration S\n"
          "                  [--payload BYTES] [--ramp CONNS_PER_S] "
          "[--procs P]\n"
          "                  [--source-ips 127.0.0.2-127.0.0.9] [--json]\n"
          "                  [--handshake] [--server-pid PID[,PID...]] "
          "[--drain S]\n"
          "                  [--transport websocket|polling|upgrade] "
          "[--spread]\n"
          "  URL: ws://HOST:PORT[/path] or http://... (path default "
          "/socket.io/?EIO=4&transport=websocket)\n"
          "  --transport: websocket (default) from the first request; "
          "polling: Engine.IO\n"
          "    HTTP long-polling only (one GET and one POST connection per "
          "client);\n"
          "    upgrade: open by polling, then upgrade to a WebSocket before "
          "the run\n"
          "  --spread: a client's GET, POST and upgrade connections go to "
          "consecutive\n"
          "    URLs of the list (a balancer without affinity), not all to "
          "the same one\n"
          "  --rate 0: idle mode, hold the connections for --duration and "
          "answer pings\n"
          "  --handshake: connect N clients (upgrade + open + 40), report "
          "handshakes/s\n"
          "    (polling and upgrade: GET open, POST 40, GET 40{sid})\n"
          "  --server-pid: report these processes' VmRSS (before, and with "
          "the clients\n"
          "    connected) and CPU seconds in the measured window; with "
          "--json as the line\n"
          "    {\"servers\":[{\"pid\",\"rss_before_kb\",\"rss_connected_kb\","
          "\"cpu_s\"}]} before the result line\n");
}

static int parse_url(const char *s, fl_url_t *u) {
  memset(u, 0, sizeof *u);
  const char *p = s;
  if (strncmp(p, "ws://", 5) == 0)
    p += 5;
  else if (strncmp(p, "http://", 7) == 0)
    p += 7;
  const char *slash = strchr(p, '/');
  size_t hl = slash ? (size_t)(slash - p) : strlen(p);
  if (hl == 0 || hl >= sizeof u->hostport)
    return -1;
  memcpy(u->hostport, p, hl);
  char host[64];
  memcpy(host, p, hl);
  host[hl] = '\0';
  char *colon = strrchr(host, ':');
  int port = 80;
  if (colon) {
    *colon = '\0';
    port = atoi(colon + 1);
    if (port <= 0 || port > 65535)
      return -1;
  }
  if (strcmp(host, "localhost") == 0)
    strcpy(host, "127.0.0.1");
  if (uv_ip4_addr(host, port, &u->addr) != 0)
    return -1;
  const char *path = slash ? slash : "";
  const char *def = "/socket.io/?EIO=4&transport=websocket";
  if (path[0] == '\0' || strcmp(path, "/") == 0)
    snprintf(u->path, sizeof u->path, "%s", def);
  else if (strchr(path, '?') == NULL)
    snprintf(u->path, sizeof u->path, "%s%s?EIO=4&transport=websocket", path,
             path[strlen(path) - 1] == '/' ? "" : "/");
  else
    snprintf(u->path, sizeof u->path, "%s", path);
  return 0;
}

/* Parses "a.b.c.d", "a.b.c.d-a.b.c.e" and comma lists thereof. */
static int parse_ips(char *s, fl_opts_t *o) {
  for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
    char *dash = strchr(tok, '-');
    struct in_addr a, b;
    if (dash)
      *dash = '\0';
    if (inet_pton(AF_INET, tok, &a) != 1)
      return -1;
    b = a;
    if (dash && inet_pton(AF_INET, dash + 1, &b) != 1)
      return -1;
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (hi < lo || hi - lo > 65535)
      return -1;
    for (uint32_t x = lo; x <= hi; x++) {
      struct in_addr *na = realloc(o->src, (o->nsrc + 1) * sizeof *na);
      if (na == NULL)
        return -1;
      o->src = na;
      o->src[o->nsrc++].s_addr = htonl(x);
    }
  }
  return 0;
}

static int parse_opts(int argc, char **argv, fl_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->clients = 100;
  o->rooms = 10;
  o->rate = 100;
  o->duration = 10;
  o->payload = 64;
  o->ramp = 1000;
  o->procs = 1;
  o->drain = 10;
  int have_url = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define FL_ARG(name) (strcmp(a, name) == 0 && v != NULL && (i++, 1))
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (strcmp(a, "--handshake") == 0) {
      o->mode = FL_MODE_HANDSHAKE;
    } else if (strcmp(a, "--spread") == 0) {
      o->spread = 1;
    } else if (FL_ARG("--transport")) {
      if (strcmp(v, "websocket") == 0) {
        o->transport = FL_TR_WEBSOCKET;
      } else if (strcmp(v, "polling") == 0) {
        o->transport = FL_TR_POLLING;
      } else if (strcmp(v, "upgrade") == 0) {
        o->transport = FL_TR_UPGRADE;
      } else {
        fprintf(stderr,
                "chat-flood: --transport is websocket, polling or "
                "upgrade, not %s\n",
                v);
        return -1;
      }
    } else if (FL_ARG("--url")) {
      char *dup = strdup(v);
      for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
        fl_url_t *nu = realloc(o->urls, (o->nurls + 1) * sizeof *nu);
        if (nu == NULL)
          return -1;
        o->urls = nu;
        if (parse_url(tok, &o->urls[o->nurls]) != 0) {
          fprintf(stderr, "chat-flood: bad URL %s\n", tok);
          return -1;
        }
        o->nurls++;
      }
      free(dup);
      have_url = 1;
    } else if (FL_ARG("--clients")) {
      o->clients = (uint32_t)strtoul(v, NULL, 10);
    } else if (FL_ARG("--rooms")) {
      o->rooms = (uint32_t)strtoul(v, NULL, 10);
    } else if (FL_ARG("--rate")) {
      o->rate = strtod(v, NULL);
    } else if (FL_ARG("--duration")) {
      o->duration = strtod(v, NULL);
    } else if (FL_ARG("--payload")) {
      o->payload = strtoul(v, NULL, 10);
    } else if (FL_ARG("--ramp")) {
      o->ramp = strtod(v, NULL);
    } else if (FL_ARG("--procs")) {
      o->procs = (unsigned)strtoul(v, NULL, 10);
    } else if (FL_ARG("--drain")) {
      o->drain = strtod(v, NULL);
    } else if (FL_ARG("--source-ips")) {
      char *dup = strdup(v);
      int rc = parse_ips(dup, o);
      free(dup);
      if (rc) {
        fprintf(stderr, "chat-flood: bad --source-ips %s\n", v);
        return -1;
      }
    } else if (FL_ARG("--server-pid")) {
      char *dup = strdup(v);
      for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
        pid_t *np = realloc(o->server_pids, (o->nserver_pids + 1) * sizeof *np);
        if (np == NULL)
          return -1;
        o->server_pids = np;
        o->server_pids[o->nserver_pids++] = (pid_t)atoi(tok);
      }
      free(dup);
    } else {
      fprintf(stderr, "chat-flood: unknown or incomplete option %s\n", a);
      return -1;
    }
#undef FL_ARG
  }
  if (!have_url) {
    fprintf(stderr, "chat-flood: --url is required\n");
    return -1;
  }
  if (o->mode != FL_MODE_HANDSHAKE && o->rate <= 0)
    o->mode = FL_MODE_IDLE;
  if (o->clients == 0 || o->procs == 0 || o->procs > o->clients ||
      o->rate < 0 || o->duration < 0 || o->payload > 1000000 ||
      (o->mode != FL_MODE_HANDSHAKE && o->rooms == 0) ||
      (o->mode == FL_MODE_FLOOD && o->duration <= 0)) {
    fprintf(stderr, "chat-flood: bad numbers (need clients >= procs >= 1, "
                    "rooms >= 1, duration > 0)\n");
    return -1;
  }
  if (o->rooms == 0)
    o->rooms = 1;
  unsigned fds = o->transport == FL_TR_WEBSOCKET ? 1
                 : o->transport == FL_TR_POLLING ? 2
                                                 : 3; /* while upgrading */
  if (o->clients / o->procs * fds > 19500)
    fprintf(stderr,
            "chat-flood: warning: %u clients per process is near the "
            "open-files limit; use more --procs\n",
            (o->clients + o->procs - 1) / o->procs);
  return 0;
}

/* ---- memory of the servers --------------------------------------------- */

static uint64_t rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  uint64_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtoull(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

static void sample_rss(uint64_t *out, const fl_opts_t *o) {
  for (size_t i = 0; i < o->nserver_pids; i++)
    out[i] = rss_kb(o->server_pids[i]);
}

/* utime + stime of |pid| in clock ticks (/proc/PID/stat fields 14, 15). */
static uint64_t cpu_ticks(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may contain spaces */
  if (p == NULL)
    return 0;
  uint64_t v[13] = {0};
  int i = 0;
  for (char *tok = strtok(p + 1, " "); tok && i < 13; tok = strtok(NULL, " "))
    v[i++] = strtoull(tok, NULL, 10);
  return i == 13 ? v[11] + v[12] : 0; /* fields 3.. : utime is 14, stime 15 */
}

static void sample_cpu(uint64_t *out, const fl_opts_t *o) {
  for (size_t i = 0; i < o->nserver_pids; i++)
    out[i] = cpu_ticks(o->server_pids[i]);
}

/* ---- coordinator ----------------------------------------------------------
 */

static void total(const fl_coord_t *co, fl_stats_t *t) {
  memset(t, 0, sizeof *t);
  fl_hist_init(&t->hist);
  for (unsigned i = 0; i < co->o->procs; i++)
    fl_stats_merge(t, &co->wk[i].last);
}

static uint64_t count_errors(const fl_stats_t *t) {
  return t->setup_failed + t->disconnects + t->chat_errors + t->proto_errors +
         t->unsent;
}

static void on_progress(uv_timer_t *t) {
  fl_coord_t *co = t->data;
  fl_stats_t tot;
  total(co, &tot);
  uint64_t now = fl_now_us();
  double dt = (double)(now - co->prev_us) / 1e6;
  if (dt <= 0)
    dt = 1;
  const char *phase = co->nready < co->o->procs           ? "setup"
                      : co->go_us == 0 || now < co->go_us ? "ready"
                      : now < co->end_us                  ? "run"
                                                          : "drain";
  uint64_t live =
      tot.connected -
      (tot.disconnects > tot.connected ? tot.connected : tot.disconnects);
  fprintf(stderr,
          "[%5.1fs] %-5s connected %" PRIu64 "/%" PRIu32 "  sent/s %.0f  "
          "delivered/s %.0f  p99 %.2f ms  errors %" PRIu64 "\n",
          (double)(now - co->start_us) / 1e6, phase, live, co->o->clients,
          (double)(tot.sent - co->prev_sent) / dt,
          (double)(tot.delivered - co->prev_delivered) / dt,
          (double)fl_hist_percentile(&tot.hist, 99) / 1000.0,
          count_errors(&tot));
  co->prev_sent = tot.sent;
  co->prev_delivered = tot.delivered;
  co->prev_us = now;
}

static void on_rss(uv_timer_t *t) {
  fl_coord_t *co = t->data;
  sample_rss(co->rss_held, co->o);
}

static void send_go(fl_coord_t *co) {
  const fl_opts_t *o = co->o;
  fl_go_t go;
  uint64_t now = fl_now_us();
  go.t0_us = now + 200000; /* everyone has the record before t0 */
  go.end_us = go.t0_us + (uint64_t)(o->duration * 1e6);
  if (o->mode == FL_MODE_HANDSHAKE)
    go.end_us = go.t0_us;
  co->go_us = go.t0_us;
  co->end_us = go.end_us;
  for (unsigned i = 0; i < o->procs; i++)
    fl_chan_send(&co->wk[i].chan, FL_REC_GO, &go, sizeof go, co->room_size,
                 sizeof(uint32_t) * o->rooms);
  if (o->nserver_pids > 0) {
    /* connections are all up now; sample again near the end of the hold */
    sample_rss(co->rss_held, o);
    if (o->mode != FL_MODE_HANDSHAKE)
      sample_cpu(co->cpu_start, o);
    uint64_t ms = (go.end_us - now) / 1000;
    uv_timer_start(&co->rss_timer, on_rss, ms > 500 ? ms - 500 : 0, 0);
  }
}

static void coord_closed(uv_handle_t *h) {
  fl_coord_t *co = h->data;
  co->handles_closed++;
}

static void chan_closed(fl_chan_t *ch) {
  fl_coord_t *co = ch->data;
  co->nclosed++;
  if (co->nclosed == co->o->procs) {
    uv_close((uv_handle_t *)&co->progress, coord_closed);
    uv_close((uv_handle_t *)&co->rss_timer, coord_closed);
    uv_close((uv_handle_t *)&co->sigint, coord_closed);
  }
}

static fl_wk_t *wk_of(fl_chan_t *ch) {
  return (fl_wk_t *)((char *)ch - offsetof(fl_wk_t, chan));
}

static void coord_rec(fl_chan_t *ch, uint32_t type, const uint8_t *p,
                      size_t n) {
  fl_coord_t *co = ch->data;
  fl_wk_t *wk = wk_of(ch);
  if (n < sizeof(fl_stats_t))
    return;
  memcpy(&wk->last, p, sizeof wk->last);
  if (type == FL_REC_READY && !wk->ready &&
      n == sizeof(fl_stats_t) + sizeof(uint32_t) * co->o->rooms) {
    wk->ready = 1;
    co->nready++;
    for (uint32_t r = 0; r < co->o->rooms; r++) {
      uint32_t v;
      memcpy(&v, p + sizeof(fl_stats_t) + sizeof v * r, sizeof v);
      co->room_size[r] += v;
    }
    if (co->nready == co->o->procs && !co->stopping)
      send_go(co);
  } else if (type == FL_REC_FINAL && !wk->final) {
    wk->final = 1;
    co->nfinal++;
    if (co->nfinal == co->o->procs)
      sample_cpu(co->cpu_end, co->o);
    fl_chan_close(ch, chan_closed);
  }
}

static void coord_eof(fl_chan_t *ch) {
  fl_coord_t *co = ch->data;
  fl_wk_t *wk = wk_of(ch);
  if (!wk->final) {
    fprintf(stderr, "chat-flood: worker %u ended without a result\n",
            (unsigned)(wk - co->wk));
    wk->final = 1;
    co->nfinal++;
  }
  fl_chan_close(ch, chan_closed);
}

static void on_sigint(uv_signal_t *h, int signum) {
  fl_coord_t *co = h->data;
  (void)signum;
  if (co->stopping) {
    fprintf(stderr, "chat-flood: second interrupt, exiting\n");
    for (unsigned i = 0; i < co->o->procs; i++)
      if (co->wk[i].pid > 0)
        kill(co->wk[i].pid, SIGKILL);
    _exit(130);
  }
  co->stopping = 1;
  fprintf(stderr, "chat-flood: interrupted, finishing\n");
  for (unsigned i = 0; i < co->o->procs; i++)
    if (!co->wk[i].final)
      fl_chan_send(&co->wk[i].chan, FL_REC_STOP, NULL, 0, NULL, 0);
}

static int coord_init(fl_coord_t *co, uv_loop_t *loop, const fl_opts_t *o,
                      fl_wk_t *wk, const int *fds) {
  memset(co, 0, sizeof *co);
  co->loop = loop;
  co->o = o;
  co->wk = wk;
  co->room_size = calloc(o->rooms, sizeof(uint32_t));
  co->rss_before = calloc(o->nserver_pids + 1, sizeof(uint64_t));
  co->rss_held = calloc(o->nserver_pids + 1, sizeof(uint64_t));
  co->cpu_start = calloc(o->nserver_pids + 1, sizeof(uint64_t));
  co->cpu_end = calloc(o->nserver_pids + 1, sizeof(uint64_t));
  if (co->room_size == NULL || co->rss_before == NULL || co->rss_held == NULL ||
      co->cpu_start == NULL || co->cpu_end == NULL)
    return UV_ENOMEM;
  sample_rss(co->rss_before, o);
  sample_cpu(co->cpu_start, o); /* handshake mode: the whole run */
  co->start_us = co->prev_us = fl_now_us();
  for (unsigned i = 0; i < o->procs; i++) {
    fl_hist_init(&wk[i].last.hist);
    wk[i].chan.data = co;
    int rc = fl_chan_open(&wk[i].chan, loop, fds[i], coord_rec, coord_eof);
    if (rc)
      return rc;
  }
  uv_timer_init(loop, &co->progress);
  uv_timer_init(loop, &co->rss_timer);
  uv_signal_init(loop, &co->sigint);
  co->progress.data = co->rss_timer.data = co->sigint.data = co;
  uv_timer_start(&co->progress, on_progress, 1000, 1000);
  uv_signal_start(&co->sigint, on_sigint, SIGINT);
  return 0;
}

/* ---- report ------------------------------------------------------------- */

static double us_to_ms(uint64_t us) {
  return (double)us / 1000.0;
}

static int report(fl_coord_t *co) {
  const fl_opts_t *o = co->o;
  fl_stats_t t;
  total(co, &t);
  uint64_t set_up = o->mode == FL_MODE_HANDSHAKE ? t.connected : t.joined;
  uint64_t errors = o->clients > set_up ? o->clients - set_up : 0;
  uint64_t sent = t.sent, expected = t.expected, delivered = t.delivered;
  double duration = 0;
  if (o->mode == FL_MODE_HANDSHAKE) {
    /* sent/expected = attempts, delivered = completed handshakes */
    sent = expected = o->clients;
    delivered = t.connected;
    uint64_t first = co->start_us;
    duration = t.last_us > first ? (double)(t.last_us - first) / 1e6 : 0;
  } else if (co->go_us) {
    uint64_t end = co->end_us;
    if (o->mode == FL_MODE_FLOOD && t.last_us > end)
      end = t.last_us;
    duration = (double)(end - co->go_us) / 1e6;
  }
  int64_t lost = (int64_t)expected - (int64_t)delivered;
  double per_s = duration > 0 ? (double)delivered / duration : 0;
  const fl_hist_t *h = &t.hist;

  fprintf(
      stderr,
      "\nchat-flood: %s, %u clients over %zu URL(s), %u rooms, %u "
      "process(es), transport %s%s\n"
      "  set up %" PRIu64 ", connect errors %" PRIu64 ", disconnects %" PRIu64
      ", chat errors %" PRIu64 ", protocol errors %" PRIu64 ", unsent %" PRIu64
      "\n"
      "  sent %" PRIu64 ", expected %" PRIu64 ", delivered %" PRIu64
      ", lost %" PRId64 "\n"
      "  %.0f %s/s over %.2f s\n"
      "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
      o->mode == FL_MODE_FLOOD  ? "flood"
      : o->mode == FL_MODE_IDLE ? "idle"
                                : "handshake",
      o->clients, o->nurls, o->rooms, o->procs, fl_transport_name(o->transport),
      o->spread ? " (spread)" : "", set_up, errors, t.disconnects,
      t.chat_errors, t.proto_errors, t.unsent, sent, expected, delivered, lost,
      per_s, o->mode == FL_MODE_HANDSHAKE ? "handshakes" : "deliveries",
      duration, us_to_ms(fl_hist_percentile(h, 50)),
      us_to_ms(fl_hist_percentile(h, 90)), us_to_ms(fl_hist_percentile(h, 99)),
      us_to_ms(fl_hist_percentile(h, 99.9)), us_to_ms(h->count ? h->max : 0));
  if (o->transport != FL_TR_WEBSOCKET) {
    fprintf(stderr,
            "  polling: GETs %" PRIu64 ", POSTs %" PRIu64 " on %" PRIu64
            " connections, resent %" PRIu64 ", upgrades %" PRIu64
            ", HTTP errors %" PRIu64,
            t.gets, t.posts, t.http_conns, t.resent, t.upgrades, t.http_errors);
    for (int i = 0; i < FL_HTTP_CODES; i++)
      if (t.http_code[i] > 0) {
        if (i < FL_HTTP_CODES - 1)
          fprintf(stderr, ", code %d: %" PRIu64, i, t.http_code[i]);
        else
          fprintf(stderr, ", other: %" PRIu64, t.http_code[i]);
      }
    fputc('\n', stderr);
  }
  if (o->nserver_pids > 0) {
    double tick = (double)sysconf(_SC_CLK_TCK);
    if (o->json)
      printf("{\"servers\":[");
    for (size_t i = 0; i < o->nserver_pids; i++) {
      double cpu = co->cpu_end[i] >= co->cpu_start[i]
                       ? (double)(co->cpu_end[i] - co->cpu_start[i]) / tick
                       : 0;
      fprintf(stderr,
              "  server pid %d: VmRSS %" PRIu64 " kB before, %" PRIu64
              " kB with the clients connected; %.2f CPU s in the measured "
              "window\n",
              (int)o->server_pids[i], co->rss_before[i], co->rss_held[i], cpu);
      if (o->json)
        printf("%s{\"pid\":%d,\"rss_before_kb\":%" PRIu64
               ",\"rss_connected_kb\":%" PRIu64 ",\"cpu_s\":%.2f}",
               i ? "," : "", (int)o->server_pids[i], co->rss_before[i],
               co->rss_held[i], cpu);
    }
    if (o->json)
      printf("]}\n");
  }
  if (o->json) {
    printf(
        "{\"clients_connected\":%" PRIu64 ",\"connect_errors\":%" PRIu64
        ",\"sent\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64
        ",\"lost\":%" PRId64 ",\"delivered_per_s\":%.1f,\"duration_s\":%.3f,"
        "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
        "\"p999\":%.3f,\"max\":%.3f}}\n",
        set_up, errors, sent, expected, delivered, lost, per_s, duration,
        us_to_ms(fl_hist_percentile(h, 50)),
        us_to_ms(fl_hist_percentile(h, 90)),
        us_to_ms(fl_hist_percentile(h, 99)),
        us_to_ms(fl_hist_percentile(h, 99.9)), us_to_ms(h->count ? h->max : 0));
    fflush(stdout);
  }
  return set_up > 0 ? 0 : 2;
}

/* ---- main -----------------------------------------------------------------
 */

int main(int argc, char **argv) {
  static fl_opts_t o; /* read-only after parsing; shared with forked workers */
  if (parse_opts(argc, argv, &o) != 0) {
    usage(stderr);
    return 1;
  }
  if (getrandom(&o.tag, sizeof o.tag, 0) != sizeof o.tag)
    o.tag = (uint32_t)uv_hrtime();
  signal(SIGPIPE, SIG_IGN);

  fl_wk_t *wk = calloc(o.procs, sizeof *wk);
  int *fds = calloc(o.procs, sizeof(int));
  int *child_fds = calloc(o.procs, sizeof(int));
  if (wk == NULL || fds == NULL || child_fds == NULL)
    return 1;
  for (unsigned i = 0; i < o.procs; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      perror("chat-flood: socketpair");
      return 1;
    }
    fds[i] = sv[0];
    child_fds[i] = sv[1];
  }

  uv_loop_t loop;
  fl_coord_t co;
  int rc;
  if (o.procs == 1) {
    /* One process: coordinator and worker share the loop. */
    if (uv_loop_init(&loop) != 0 || coord_init(&co, &loop, &o, wk, fds) != 0)
      return 1;
    fl_worker_run(&loop, &o, 0, child_fds[0]);
  } else {
    fflush(NULL);
    for (unsigned i = 0; i < o.procs; i++) {
      pid_t pid = fork();
      if (pid < 0) {
        perror("chat-flood: fork");
        return 1;
      }
      if (pid == 0) {
        /* worker: the coordinator handles Ctrl-C and tells us to stop */
        signal(SIGINT, SIG_IGN);
        for (unsigned j = 0; j < o.procs; j++) {
          close(fds[j]);
          if (j != i)
            close(child_fds[j]);
        }
        uv_loop_t wl;
        if (uv_loop_init(&wl) != 0)
          _exit(1);
        fl_worker_run(&wl, &o, i, child_fds[i]);
        rc = uv_loop_close(&wl);
        fflush(NULL);
        _exit(rc == 0 ? 0 : 3);
      }
      wk[i].pid = pid;
    }
    for (unsigned i = 0; i < o.procs; i++)
      close(child_fds[i]);
    if (uv_loop_init(&loop) != 0 || coord_init(&co, &loop, &o, wk, fds) != 0)
      return 1;
    uv_run(&loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < o.procs; i++) {
      int status;
      waitpid(wk[i].pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "chat-flood: worker %u exited abnormally (%d)\n", i,
                status);
    }
  }
  /* finish anything still closing, then the loop must be empty */
  uv_run(&loop, UV_RUN_DEFAULT);
  rc = report(&co);
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "chat-flood: loop not empty at exit\n");
  free(co.room_size);
  free(co.rss_before);
  free(co.rss_held);
  free(co.cpu_start);
  free(co.cpu_end);
  free(wk);
  free(fds);
  free(child_fds);
  free(o.urls);
  free(o.src);
  free(o.server_pids);
  return rc;
}
