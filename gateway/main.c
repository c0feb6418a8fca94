/* SPDX-License-Identifier: MIT */
/* main.c: chat-gateway. main() owns the one libuv loop and the signals;
 * libwebsockets and hiredis run on the loop as guests. No threads: scale
 * out with processes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <uv.h>

#include "gw_config.h"
#include "gw_log.h"
#include "gw_server.h"

static const char *env(const char *k) {
  return getenv(k);
}

/* The signals that end the process. lws installs no handler on a foreign
 * loop (docs/hacking.md, Platform notes): they are ours. */
typedef struct signals {
  uv_signal_t sigint, sigterm;
} signals_t;

/* SIGTERM (an orchestrator's stop) drains; SIGINT (a terminal) closes every
 * connection at once. A second signal hurries a drain. */
static void on_signal(uv_signal_t *h, int signum) {
  gw_server_shutdown(h->data, signum == SIGTERM);
}

/* on_server_done closes the watchers when the shutdown is over, so that
 * uv_run returns (gw_server.h); a signal after that gets its default
 * action. */
static void on_server_done(void *arg) {
  signals_t *sig = arg;
  uv_close((uv_handle_t *)&sig->sigint, NULL);
  uv_close((uv_handle_t *)&sig->sigterm, NULL);
}

int main(int argc, char **argv) {
  gw_config_t cfg;
  char err[256];
  gw_config_defaults(&cfg);
  if (gw_config_parse(&cfg, argc, argv, env, err, sizeof(err)) != 0) {
    fprintf(stderr, "chat-gateway: %s\n", err);
    return 2;
  }
  if (cfg.help) {
    gw_config_usage(stdout);
    return 0;
  }
  gw_log_set_level(cfg.log_level);

  /* Sockets are file descriptors: take the hard limit (systemd and many
   * shells start services with a soft limit of 1024), but no more than 1M:
   * libwebsockets allocates tables sized by the limit, and some runtimes
   * set the hard limit to about 2^30. */
  struct rlimit rl;
  const rlim_t cap = 1u << 20;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = rl.rlim_max < cap ? rl.rlim_max : cap;
    if (want != rl.rlim_cur && (want > rl.rlim_cur || rl.rlim_cur > cap)) {
      rl.rlim_cur = want;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        GW_LOGW("cannot set the open-file limit to %llu",
                (unsigned long long)want);
    }
  }

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    return 1;
  int rc = 0;
  signals_t sig;
  gw_server_t *srv = gw_server_new(&loop, &cfg, on_server_done, &sig, &rc);
  if (srv == NULL)
    return 1; /* logged; a half-built lws context may still hold the loop */
  uv_signal_init(&loop, &sig.sigint);
  uv_signal_init(&loop, &sig.sigterm);
  sig.sigint.data = sig.sigterm.data = srv;
  uv_signal_start(&sig.sigint, on_signal, SIGINT);
  uv_signal_start(&sig.sigterm, on_signal, SIGTERM);
  uv_run(&loop, UV_RUN_DEFAULT);
  int status = gw_server_free(srv);
  uv_run(&loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&loop) != 0) {
    GW_LOGE("event loop still had open handles at exit");
    status = 1;
  }
  return status;
}
