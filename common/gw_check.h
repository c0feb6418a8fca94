/* SPDX-License-Identifier: MIT */
/* gw_check.h: runtime invariant checks for programmer errors (nng's
 * NNI_ASSERT; panic.h's split between programmer errors and outside ones).
 *
 * GW_CHECK(cond) aborts with file:line and the condition when |cond| is
 * false. It is compiled in when GW_CHECKS is defined (cmake -DGW_CHECKS=ON;
 * scripts/test.sh turns it on for the ASan+UBSan pass) and compiled out
 * otherwise; the condition is then not evaluated, so it must have no side
 * effects. Plain assert() would not do: both test passes build
 * RelWithDebInfo, which defines NDEBUG.
 *
 * Use it for what no input can cause: reference counts going below zero,
 * state-machine transitions, list membership. Outside errors (bad packets,
 * a lost Redis) get error codes, never GW_CHECK. */
#ifndef GW_CHECK_H
#define GW_CHECK_H

#ifdef GW_CHECKS
#include <stdio.h>
#include <stdlib.h>

static inline void gw_check_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
  abort();
}

#define GW_CHECK(cond)                                                         \
  ((cond) ? (void)0 : gw_check_fail(__FILE__, __LINE__, #cond))
#else
#define GW_CHECK(cond) ((void)sizeof(!(cond)))
#endif

#endif /* GW_CHECK_H */
