/* SPDX-License-Identifier: MIT */
/* gw_chat_err.c: the chat error vocabulary (see gw_chat_err.h). */
#include "gw_chat_err.h"

#include "gw_err.h"

static const char *const ce_codes[] = {
#define XX(k, code, msg) code,
    GW_CHAT_ERROR_MAP(XX)
#undef XX
};
static const char *const ce_msgs[] = {
#define XX(k, code, msg) msg,
    GW_CHAT_ERROR_MAP(XX)
#undef XX
};

const char *gw_chat_err_code(gw_chat_err_t e) {
  return (unsigned)e < GW_CE__COUNT ? ce_codes[e] : "internal";
}

const char *gw_chat_err_msg(gw_chat_err_t e) {
  return (unsigned)e < GW_CE__COUNT ? ce_msgs[e] : "internal error";
}

gw_chat_err_t gw_chat_err_from(int status) {
  switch (status) {
  case GW_ENAMETAKEN:
    return GW_CE_NAME_TAKEN;
  case GW_ENOTINROOM:
    return GW_CE_NOT_IN_ROOM;
  case GW_ENOTFOUND:
    return GW_CE_USER_NOT_FOUND;
  case GW_EROOMLIMIT:
    return GW_CE_ROOM_LIMIT;
  case GW_EROOMFULL:
    return GW_CE_ROOM_FULL;
  case GW_EUNAVAIL:
  case GW_ETIMEDOUT:
    return GW_CE_UNAVAILABLE;
  case GW_EINVAL:
    return GW_CE_BAD_REQUEST;
  default:
    return GW_CE_INTERNAL;
  }
}
