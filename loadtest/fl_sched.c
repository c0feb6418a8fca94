/* SPDX-License-Identifier: MIT */
/* fl_sched.c: open-loop schedule arithmetic (see fl_sched.h). Times are
 * computed from t0 for every k, never accumulated, so rounding errors do not
 * drift over long runs. */
#include "fl_sched.h"

#include <math.h>

void fl_sched_init(fl_sched_t *s, uint64_t t0, double rate, uint64_t end) {
  s->t0 = t0;
  s->next = 0;
  s->total = 0;
  s->period = rate > 0 ? 1e6 / rate : 0;
  if (rate > 0 && end > t0) {
    /* smallest k with t0 + k * period >= end */
    double k = ceil((double)(end - t0) / s->period);
    s->total = (uint64_t)k;
    while (s->total > 0 && fl_sched_time(s, s->total - 1) >= end)
      s->total--;
    while (fl_sched_time(s, s->total) < end)
      s->total++;
  }
}

uint64_t fl_sched_time(const fl_sched_t *s, uint64_t k) {
  return s->t0 + (uint64_t)llround((double)k * s->period);
}

size_t fl_sched_take(fl_sched_t *s, uint64_t now, size_t max, uint64_t *first) {
  size_t n = 0;
  *first = s->next;
  while (n < max && s->next < s->total && fl_sched_time(s, s->next) <= now) {
    s->next++;
    n++;
  }
  return n;
}

uint64_t fl_sched_next_due(const fl_sched_t *s) {
  return s->next < s->total ? fl_sched_time(s, s->next) : UINT64_MAX;
}

int fl_sched_done(const fl_sched_t *s) {
  return s->next >= s->total;
}
