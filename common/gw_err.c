/* SPDX-License-Identifier: MIT */
/* gw_err.c: names for the GW_E* codes, generated from GW_ERRNO_MAP. */
#include "gw_err.h"

#include <string.h>

const char *gw_strerror(int err) {
  switch (err) {
  case GW_OK:
    return "ok";
#define XX(code, chat, msg)                                                    \
  case GW_##code:                                                              \
    return msg;
    GW_ERRNO_MAP(XX)
#undef XX
  default:
    return err < 0 && err > GW__ERR_BASE ? strerror(-err) : "unknown error";
  }
}

const char *gw_err_chat_code(int err) {
  const char *c = NULL;
  switch (err) {
#define XX(code, chat, msg)                                                    \
  case GW_##code:                                                              \
    c = chat;                                                                  \
    break;
    GW_ERRNO_MAP(XX)
#undef XX
  default:
    break;
  }
  return c ? c : "internal";
}
