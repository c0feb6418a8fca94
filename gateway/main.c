/* SPDX-License-Identifier: MIT */
/* main.c: chat-gateway. main() owns the one libuv loop; libwebsockets and
 * hiredis run on it as guests. No threads: scale out with processes. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "gw_config.h"
#include "gw_log.h"
#include "gw_server.h"

static const char *env(const char *k) {
  return getenv(k);
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

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    return 1;
  int rc = 0;
  gw_server_t *srv = gw_server_new(&loop, &cfg, &rc);
  if (srv == NULL)
    return 1; /* logged; a half-built lws context may still hold the loop */
  uv_run(&loop, UV_RUN_DEFAULT);
  int status = gw_server_free(srv);
  uv_run(&loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&loop) != 0) {
    GW_LOGE("event loop still had open handles at exit");
    status = 1;
  }
  return status;
}
