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

/* gw_server_new creates the adapter and starts listening on |loop|.
 * Returns the server (owned) or NULL with *err set and a logged reason. */
gw_server_t *gw_server_new(uv_loop_t *loop, const gw_config_t *cfg, int *err);

/* gw_server_shutdown starts the shutdown: with |drain| the sockets close in
 * batches over cfg->drain_ms (readyz fails at once), else all at once. A
 * second call hurries a running drain. When everything is closed the server
 * stops its handles; uv_run then returns. */
void gw_server_shutdown(gw_server_t *srv, int drain);

/* gw_server_free finishes the lws teardown and frees the server. Call after
 * uv_run returned; then run the loop once more (UV_RUN_NOWAIT) and close it.
 * Returns the process exit status the shutdown earned (0 = clean). */
int gw_server_free(gw_server_t *srv);

#endif /* GW_SERVER_H */
