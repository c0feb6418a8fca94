/* SPDX-License-Identifier: MIT */
/* fl_hist.h: log-linear latency histogram (HdrHistogram-style), our own code.
 * Values are unsigned integers (microseconds in chat-flood). Values below
 * 2^FL_HIST_SUB_BITS are counted exactly; above, each power-of-two range is
 * split into 2^FL_HIST_SUB_BITS linear buckets, so a reported value is at
 * most 1/2^FL_HIST_SUB_BITS (0.78%) above the true one and never below it.
 * The struct is plain data: it can be copied, written to a pipe and merged. */
#ifndef FL_HIST_H
#define FL_HIST_H

#include <stddef.h>
#include <stdint.h>

#define FL_HIST_SUB_BITS 7
#define FL_HIST_SUB      (1u << FL_HIST_SUB_BITS)
#define FL_HIST_MAX_BITS 36 /* values >= 2^36 (19 h in us) are clamped */
#define FL_HIST_BUCKETS                                                        \
  ((FL_HIST_MAX_BITS - FL_HIST_SUB_BITS + 1) * FL_HIST_SUB)

typedef struct fl_hist {
  uint64_t count;
  uint64_t min;
  uint64_t max;
  uint64_t counts[FL_HIST_BUCKETS];
} fl_hist_t;

/* fl_hist_init empties |h|. */
void fl_hist_init(fl_hist_t *h);

/* fl_hist_record counts one value (clamped to the largest bucket). */
void fl_hist_record(fl_hist_t *h, uint64_t v);

/* fl_hist_merge adds every count of |src| into |dst|. */
void fl_hist_merge(fl_hist_t *dst, const fl_hist_t *src);

/* fl_hist_percentile returns the smallest bucket upper bound below or at
 * which |pct| percent (0..100) of the values lie; the exact max for 100 and
 * 0 for an empty histogram. */
uint64_t fl_hist_percentile(const fl_hist_t *h, double pct);

/* fl_hist_index and fl_hist_upper map a value to its bucket and a bucket to
 * the largest value it holds (exposed for the tests). */
size_t fl_hist_index(uint64_t v);
uint64_t fl_hist_upper(size_t idx);

#endif /* FL_HIST_H */
