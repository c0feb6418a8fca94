/* SPDX-License-Identifier: MIT */
/* gw_server.h: the gateway server: libwebsockets on the caller's libuv loop,
 * the Engine.IO/Socket.IO session of each WebSocket, HTTP endpoints
 * (/healthz, /readyz, /metrics, static files) and the shutdown sequence.
 * It owns the lws context, the sockets and the adapter; it borrows the loop
 * and the config. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <uv.h>

#include "gw_config.h"

typedef struct gw_server gw_server_t;

/* The end of a shutdown (gw_server_new's |done|): the server has closed
 * its own handles and started lws's teardown. The loop keeps running while
 * any handle stays open, so the caller closes its own here, those that
 * would outlive the server otherwise (main.c: its signal watchers); uv_run
 * then returns once the teardown is over. */
typedef void (*gw_server_done_fn)(void *arg);

/* gw_server_new creates the adapter and starts listening on |loop|. It
 * installs no signal handler: the caller decides what starts a shutdown
 * (main.c: SIGTERM drains, SIGINT does not). |done| (may be NULL) runs
 * once, with |arg|, when the shutdown completes, from inside uv_run.
 * Returns the server (owned) or NULL with *err set and a logged reason;
 * |done| never runs then. */
gw_server_t *gw_server_new(uv_loop_t *loop, const gw_config_t *cfg,
                           gw_server_done_fn done, void *arg, int *err);

/* gw_server_shutdown starts the shutdown: with |drain| the sockets close in
 * batches over cfg->drain_ms (readyz fails at once), else all at once. A
 * second call hurries a running drain; later calls, or calls once the
 * sockets are closed, do nothing. When everything is closed the server
 * stops its handles and runs |done|; uv_run then returns. */
void gw_server_shutdown(gw_server_t *srv, int drain);

/* gw_server_free finishes the lws teardown and frees the server. Call after
 * uv_run returned; then run the loop once more (UV_RUN_NOWAIT) and close it.
 * Returns the process exit status the shutdown earned (0 = clean). */
int gw_server_free(gw_server_t *srv);

#endif /* GW_SERVER_H */
