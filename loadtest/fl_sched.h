/* SPDX-License-Identifier: MIT */
/* fl_sched.h: open-loop send schedule (constant arrival rate).
 * Send k (k = 0, 1, ...) is due at t0 + k / rate, whatever happened before:
 * a caller that stalls takes every overdue send at once when it wakes up and
 * stamps each with its *scheduled* time, so a stalled server cannot hide
 * latency (coordinated omission). Nothing is dropped. Times are in us. */
#ifndef FL_SCHED_H
#define FL_SCHED_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_sched {
  uint64_t t0;    /* time of send 0 */
  double period;  /* us between sends (1e6 / rate) */
  uint64_t next;  /* index of the next send not yet taken */
  uint64_t total; /* number of sends in the schedule */
} fl_sched_t;

/* fl_sched_init schedules the sends k with t0 + k * 1e6 / rate < end.
 * A rate <= 0 or end <= t0 gives an empty schedule. */
void fl_sched_init(fl_sched_t *s, uint64_t t0, double rate, uint64_t end);

/* fl_sched_time returns the scheduled time of send |k|. */
uint64_t fl_sched_time(const fl_sched_t *s, uint64_t k);

/* fl_sched_take marks as taken the sends due at |now| (scheduled time <=
 * now), at most |max| of them, stores the index of the first in |*first|
 * and returns how many were taken (0 if none is due). */
size_t fl_sched_take(fl_sched_t *s, uint64_t now, size_t max, uint64_t *first);

/* fl_sched_next_due returns the scheduled time of the next send not yet
 * taken, or UINT64_MAX when the schedule is exhausted. */
uint64_t fl_sched_next_due(const fl_sched_t *s);

/* fl_sched_done is 1 when every send has been taken. */
int fl_sched_done(const fl_sched_t *s);

#endif /* FL_SCHED_H */
