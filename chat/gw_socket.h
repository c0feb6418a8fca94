/* SPDX-License-Identifier: MIT */
/* gw_socket.h: what the chat application may do with a socket. The socket
 * itself (transport, queue, timers) lives in gw_server.c. A socket object
 * outlives its connection while requests it made are in flight: hold it for
 * the duration of each asynchronous request. */
#ifndef GW_SOCKET_H
#define GW_SOCKET_H

#include "gw_chat.h"
#include "gw_frame.h"

/* gw_socket_send queues |f| (borrowed; the queue takes a reference). A
 * socket over its queue bound is closed as a slow reader. Returns 0,
 * GW_ECLOSED or GW_EFULL. */
int gw_socket_send(gw_socket_t *s, gw_frame_t *f);

/* gw_socket_hold / gw_socket_release keep |s| allocated across an
 * asynchronous request. */
void gw_socket_hold(gw_socket_t *s);
void gw_socket_release(gw_socket_t *s);

/* gw_socket_alive is 1 while the connection is open and attached. */
int gw_socket_alive(const gw_socket_t *s);

/* gw_socket_sid is the Socket.IO socket id (20 characters). */
const char *gw_socket_sid(const gw_socket_t *s);

gw_chat_sess_t *gw_socket_sess(gw_socket_t *s);

#endif /* GW_SOCKET_H */
