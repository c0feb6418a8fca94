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

void gw_log(int level, const char *fmt, ...) {
  if (level > log_level)
    return;
  char line[1024];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ",
                        (int)(tv.tv_usec / 1000), names[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  va_end(ap);
  if (m < 0)
    m = 0;
  n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
  line[n++] = '\n';
  fwrite(line, 1, n, stderr);
}
