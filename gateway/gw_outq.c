/* SPDX-License-Identifier: MIT */
/* gw_outq.c: bounded per-socket outbound queue (see gw_outq.h). */
#include "gw_outq.h"

#include <stdlib.h>
#include <string.h>

#include "gw_err.h"

#define MIN_CAP 4

void gw_outq_init(gw_outq_t *q, uint32_t max_frames, size_t max_bytes) {
  memset(q, 0, sizeof(*q));
  q->max_frames = max_frames ? max_frames : 1;
  q->max_bytes = max_bytes;
}

void gw_outq_close(gw_outq_t *q) {
  while (q->n)
    gw_outq_pop(q);
  free(q->ring);
  q->ring = NULL;
  q->cap = 0;
}

static int snap_slot(const gw_frame_t *f) {
  return f->kind == GW_EV_ROOMLIST ? 0 : f->kind == GW_EV_USERLIST ? 1 : -1;
}

static int grow(gw_outq_t *q) {
  uint32_t ncap = q->cap ? q->cap * 2 : MIN_CAP;
  if (ncap > q->max_frames)
    ncap = q->max_frames;
  gw_frame_t **nr = malloc(sizeof(*nr) * ncap);
  if (nr == NULL)
    return GW_ENOMEM;
  for (uint32_t i = 0; i < q->n; i++)
    nr[i] = q->ring[(q->head + i) % q->cap];
  free(q->ring);
  q->ring = nr;
  q->cap = ncap;
  q->head = 0;
  return 0;
}

int gw_outq_push(gw_outq_t *q, gw_frame_t *f) {
  int slot = snap_slot(f);
  if (slot >= 0 && q->snap_at[slot] > q->popped) {
    /* Replace the queued snapshot in place: the client only needs the
     * newest state, and this bounds what a burst of joins costs. */
    uint32_t i =
        (uint32_t)((q->head + (q->snap_at[slot] - 1 - q->popped)) % q->cap);
    gw_frame_t *old = q->ring[i];
    if (q->max_bytes && q->bytes - old->len + f->len > q->max_bytes)
      return GW_EFULL;
    q->bytes = q->bytes - old->len + f->len;
    q->ring[i] = gw_frame_ref(f);
    gw_frame_unref(old);
    return 0;
  }
  if (q->n == q->max_frames ||
      (q->max_bytes && q->bytes + f->len > q->max_bytes))
    return GW_EFULL;
  if (q->n == q->cap) {
    int rc = grow(q);
    if (rc != 0)
      return rc;
  }
  q->ring[(q->head + q->n) % q->cap] = gw_frame_ref(f);
  q->n++;
  q->bytes += f->len;
  if (slot >= 0)
    q->snap_at[slot] = q->popped + q->n;
  return 0;
}

void gw_outq_pop(gw_outq_t *q) {
  if (q->n == 0)
    return;
  gw_frame_t *f = q->ring[q->head];
  q->head = (q->head + 1) % q->cap;
  q->n--;
  q->popped++;
  q->bytes -= f->len;
  gw_frame_unref(f);
  if (q->n == 0 && q->cap > MIN_CAP * 4) {
    /* Drained after a burst: give the ring back; idle sockets stay small. */
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
    q->head = 0;
  }
}
