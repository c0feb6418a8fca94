/* SPDX-License-Identifier: MIT */
/* gw_sio.h: every packet the server sends, encoded once into a frame: the
 * Socket.IO v5 packets (EVENT `42`, ACK `43`, CONNECT `40`, CONNECT_ERROR
 * `44`) on namespace `/`, and the two Engine.IO v4 packets of a session of
 * its own (open `0`, ping `2`). Parsing is gw_eio.h's; the chat event
 * payloads are gw_events.h's, on top of gw_sio_event.
 *
 * The Engine.IO packets keep the gw_eio_ prefix of the protocol they belong
 * to; they live here so that every encoder has one home.
 *
 * Each function returns a new frame (owned, refs == 1) holding the whole
 * Engine.IO packet, ready for any transport, or NULL when out of memory (or
 * when a stolen argument was NULL). Pure: no I/O, no state. */
#ifndef GW_SIO_H
#define GW_SIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_frame.h"

/* gw_sio_event encodes the EVENT `42["<name of kind>",<arg>]` (JSON in
 * compact form) as a frame of |kind|. |arg| is stolen (NULL: returns NULL,
 * as after a failed json_pack). */
gw_frame_t *gw_sio_event(gw_ev_kind_t kind, json_t *arg);

/* gw_sio_ack encodes the ACK `43<id>[<arg>]` as a GW_EV_ACK frame. |arg| is
 * stolen (NULL: returns NULL). */
gw_frame_t *gw_sio_ack(uint64_t id, json_t *arg);

/* gw_sio_connect_ok encodes the CONNECT answer `40{"sid":"<sid>"}` that
 * admits a client to namespace `/`, as a GW_EV_CONTROL frame. |sid| is
 * borrowed; a Socket.IO id (gw_eio_sid), written as is. */
gw_frame_t *gw_sio_connect_ok(const char *sid);

/* gw_sio_connect_error encodes the CONNECT_ERROR
 * `44<nsp>,{"message":"<message>"}` as a GW_EV_CONTROL frame. |nsp| (its
 * |nsp_len| bytes written as they are, whatever they hold) is the namespace
 * refused, or NULL for the main namespace, which is left out with its comma:
 * `44{"message":"<message>"}`, as Socket.IO does. |message| (borrowed,
 * UTF-8) is JSON-escaped. */
gw_frame_t *gw_sio_connect_error(const char *nsp, size_t nsp_len,
                                 const char *message);

/* gw_eio_open encodes the Engine.IO open packet of session |sid| (borrowed;
 * gw_eio_sid's 20 characters, written as is) as a GW_EV_CONTROL frame:
 * `0{"sid":"<sid>","upgrades":[...],"pingInterval":<ms>,"pingTimeout":<ms>,
 * "maxPayload":<bytes>}`. The upgrades are ["websocket"] for a session
 * opened by |polling|, [] for one opened on a WebSocket (as engine.io). */
gw_frame_t *gw_eio_open(const char *sid, int polling, uint64_t ping_interval_ms,
                        uint64_t ping_timeout_ms, uint64_t max_payload);

/* gw_eio_ping encodes the Engine.IO ping `2` as a GW_EV_CONTROL frame. It
 * holds nothing per session: one frame may go to every socket. */
gw_frame_t *gw_eio_ping(void);

/* gw_eio_noop encodes the Engine.IO noop `6` (GW_EV_CONTROL), shared too. */
gw_frame_t *gw_eio_noop(void);

#endif /* GW_SIO_H */
