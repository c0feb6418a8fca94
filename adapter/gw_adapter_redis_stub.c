/* SPDX-License-Identifier: MIT */
/* gw_adapter_redis_stub.c: stands in for the Redis adapter in builds
 * configured with -DGW_WITH_REDIS=OFF (no hiredis needed). */
#include "gw_adapter.h"

gw_adapter_t *gw_adapter_redis_new(const gw_adapter_cfg_t *cfg, int *err) {
  (void)cfg;
  if (err != NULL)
    *err = GW_EUNAVAIL;
  return NULL;
}
