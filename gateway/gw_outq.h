/* SPDX-License-Identifier: MIT */
/* gw_outq.h: a socket's bounded outbound queue of frame references.
 * Bounded in frames and bytes; the caller closes a socket whose push fails
 * (a stalled reader is cut off, never buffered without end). The ring grows
 * on demand and is freed when it drains, so an idle socket costs no ring.
 * State snapshots (roomList, userList) coalesce: a newer one replaces an
 * older one still waiting in the queue, keeping its place. */
#ifndef GW_OUTQ_H
#define GW_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "gw_frame.h"

typedef struct gw_outq { /* embeddable; fields are private */
  gw_frame_t **ring;
  uint32_t cap, head, n;
  uint32_t max_frames;
  size_t bytes, max_bytes;
  uint64_t popped;     /* frames popped so far: absolute index of head */
  uint64_t snap_at[2]; /* absolute index + 1 of a queued snapshot, or 0 */
} gw_outq_t;

void gw_outq_init(gw_outq_t *q, uint32_t max_frames, size_t max_bytes);
/* gw_outq_close drops every queued reference and frees the ring. */
void gw_outq_close(gw_outq_t *q);
/* gw_outq_push queues |f|, taking a reference on success. Returns 0,
 * GW_EFULL (over a bound; nothing queued) or GW_ENOMEM. */
int gw_outq_push(gw_outq_t *q, gw_frame_t *f);
/* gw_outq_peek returns the oldest frame (borrowed) or NULL. */
static inline gw_frame_t *gw_outq_peek(const gw_outq_t *q) {
  return q->n ? q->ring[q->head] : NULL;
}
/* gw_outq_pop drops the oldest frame's reference. */
void gw_outq_pop(gw_outq_t *q);
static inline uint32_t gw_outq_len(const gw_outq_t *q) {
  return q->n;
}
static inline size_t gw_outq_bytes(const gw_outq_t *q) {
  return q->bytes;
}

#endif /* GW_OUTQ_H */
