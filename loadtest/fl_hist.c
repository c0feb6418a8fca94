/* SPDX-License-Identifier: MIT */
/* fl_hist.c: log-linear histogram; see fl_hist.h for the error bound.
 * Bucket layout: index v for v < 2^S; above, with h = floor(log2 v) and
 * shift = h - S, index = shift * 2^S + (v >> shift), which continues the
 * linear range without gaps (v >> shift lies in [2^S, 2^(S+1))). */
#include "fl_hist.h"

#include <string.h>

void fl_hist_init(fl_hist_t *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

static unsigned floor_log2(uint64_t v) {
  return 63u - (unsigned)__builtin_clzll(v);
}

size_t fl_hist_index(uint64_t v) {
  if (v < FL_HIST_SUB)
    return (size_t)v;
  unsigned shift = floor_log2(v) - FL_HIST_SUB_BITS;
  if (shift >= FL_HIST_MAX_BITS - FL_HIST_SUB_BITS) /* v >= 2^MAX_BITS */
    return FL_HIST_BUCKETS - 1;
  return (size_t)shift * FL_HIST_SUB + (size_t)(v >> shift);
}

uint64_t fl_hist_upper(size_t idx) {
  if (idx < 2 * FL_HIST_SUB)
    return idx; /* shift 0: width 1 */
  unsigned shift = (unsigned)(idx / FL_HIST_SUB) - 1;
  uint64_t mant = idx - (uint64_t)shift * FL_HIST_SUB;
  return ((mant + 1) << shift) - 1;
}

void fl_hist_record(fl_hist_t *h, uint64_t v) {
  h->counts[fl_hist_index(v)]++;
  h->count++;
  if (v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
}

void fl_hist_merge(fl_hist_t *dst, const fl_hist_t *src) {
  if (src->count == 0)
    return;
  for (size_t i = 0; i < FL_HIST_BUCKETS; i++)
    dst->counts[i] += src->counts[i];
  dst->count += src->count;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
}

uint64_t fl_hist_percentile(const fl_hist_t *h, double pct) {
  if (h->count == 0)
    return 0;
  if (pct >= 100.0)
    return h->max;
  /* rank = ceil(pct% of count), at least 1 */
  double r = pct / 100.0 * (double)h->count;
  uint64_t rank = (uint64_t)r;
  if ((double)rank < r)
    rank++;
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < FL_HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t up = fl_hist_upper(i);
      return up < h->max ? up : h->max;
    }
  }
  return h->max;
}
