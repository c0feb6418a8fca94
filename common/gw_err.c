/* SPDX-License-Identifier: MIT */
/* gw_err.c: names for the GW_E* codes, generated from GW_ERRNO_MAP. */
#include "gw_err.h"

#include <string.h>

const char *gw_strerror(int err) {
  switch (err) {
  case GW_OK:
    return "ok";
#define XX(code, msg)                                                          \
  case GW_##code:                                                              \
    return msg;
    GW_ERRNO_MAP(XX)
#undef XX
  default:
    return err < 0 && err > GW__ERR_BASE ? strerror(-err) : "unknown error";
  }
}
