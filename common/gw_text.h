/* SPDX-License-Identifier: MIT */
/* gw_text.h: character helpers shared by the decoders (URL, query). */
#ifndef GW_TEXT_H
#define GW_TEXT_H

/* gw_hexval is the value of the hex digit |c|, or -1. */
static inline int gw_hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

#endif /* GW_TEXT_H */
