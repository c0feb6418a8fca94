/* SPDX-License-Identifier: MIT */
/* gw_log.h: one line per event that matters, to stderr; the gateway and the
 * adapters log through it. The level is set once at start-up (the one
 * allowed piece of mutable global state besides the loop: docs/hacking.md,
 * "Global state"). */
#ifndef GW_LOG_H
#define GW_LOG_H

enum { GW_LOG_ERROR = 0, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };

/* gw_log_parse_level maps "error".."debug" to a level, or -1. */
int gw_log_parse_level(const char *s);
void gw_log_set_level(int level);
int gw_log_enabled(int level);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void gw_log(int level, const char *fmt, ...);

/* gw_log_suppressed counts lines dropped by the rate bound: below debug
 * level at most 200 lines per second are written, and the number dropped is
 * logged when the next second starts. */
unsigned long long gw_log_suppressed(void);

#define GW_LOGE(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)
#define GW_LOGW(...) gw_log(GW_LOG_WARN, __VA_ARGS__)
#define GW_LOGI(...) gw_log(GW_LOG_INFO, __VA_ARGS__)
#define GW_LOGD(...)                                                           \
  do {                                                                         \
    if (gw_log_enabled(GW_LOG_DEBUG))                                          \
      gw_log(GW_LOG_DEBUG, __VA_ARGS__);                                       \
  } while (0)

#endif /* GW_LOG_H */
