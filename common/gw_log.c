/* SPDX-License-Identifier: MIT */
/* gw_log.c: stderr logging with an ISO-8601 UTC timestamp per line. */
#include "gw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int log_level = GW_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

int gw_log_parse_level(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0)
      return i;
  return -1;
}

void gw_log_set_level(int level) {
  log_level = level;
}
int gw_log_enabled(int level) {
  return level <= log_level;
}

/* Clients can make the gateway (and lws) log: a malformed request, a header
 * that does not fit. So below debug level, lines are rationed per second and
 * the excess is counted, then reported, instead of filling the disk. */
#define LOG_LINES_PER_SEC 200
static time_t budget_sec;
static unsigned budget_used;
static unsigned long long suppressed, suppressed_total;

unsigned long long gw_log_suppressed(void) {
  return suppressed_total;
}

static void emit(int level, const struct timeval *tv, const char *fmt,
                 va_list ap);

static void emitf(int level, const struct timeval *tv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(level, tv, fmt, ap);
  va_end(ap);
}

void gw_log(int level, const char *fmt, ...) {
  if (level > log_level)
    return;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  if (log_level < GW_LOG_DEBUG) {
    if (tv.tv_sec != budget_sec) {
      budget_sec = tv.tv_sec;
      budget_used = 0;
      if (suppressed > 0) {
        emitf(GW_LOG_WARN, &tv, "%llu log lines suppressed (over %d/s)",
              suppressed, LOG_LINES_PER_SEC);
        suppressed = 0;
      }
    }
    if (budget_used >= LOG_LINES_PER_SEC) {
      suppressed++;
      suppressed_total++;
      return;
    }
    budget_used++;
  }
  va_list ap;
  va_start(ap, fmt);
  emit(level, &tv, fmt, ap);
  va_end(ap);
}

static void emit(int level, const struct timeval *tv, const char *fmt,
                 va_list ap) {
  char line[1024];
  struct tm tm;
  gmtime_r(&tv->tv_sec, &tm);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ",
                        (int)(tv->tv_usec / 1000), names[level]);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  if (m < 0)
    m = 0;
  n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
  line[n++] = '\n';
  fwrite(line, 1, n, stderr);
}
