/* SPDX-License-Identifier: MIT */
/* gw_adapter.c: the adapter constructor, which picks the implementation
 * (see gw_adapter.h). */
#include "gw_adapter.h"

gw_adapter_t *gw_adapter_new(const gw_adapter_cfg_t *cfg, int *err) {
  if (cfg != NULL && cfg->redis_url != NULL)
    return gw_adapter_redis_new(cfg, err);
  return gw_adapter_memory_new(cfg, err); /* GW_EINVAL without a cfg */
}
