/* SPDX-License-Identifier: MIT */
/* gw_map.h: string-keyed hash map (open addressing, linear probing,
 * backward-shift deletion). Keys are borrowed: the value usually owns its key
 * string, which must stay unchanged while the entry is in the map. */
#ifndef GW_MAP_H
#define GW_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_map_slot {
  uint64_t hash; /* 0 = empty */
  const char *key;
  void *val;
} gw_map_slot_t;

typedef struct gw_map {
  gw_map_slot_t *slots;
  size_t cap; /* power of two, or 0 */
  size_t len;
} gw_map_t;

/* gw_map_init makes an empty map (no allocation until the first put). */
void gw_map_init(gw_map_t *m);
/* gw_map_close frees the table (not the values). */
void gw_map_close(gw_map_t *m);
/* gw_map_get returns the value for |key| or NULL. */
void *gw_map_get(const gw_map_t *m, const char *key);
/* gw_map_put inserts or replaces; |key| is borrowed. 0 or GW_ENOMEM. */
int gw_map_put(gw_map_t *m, const char *key, void *val);
/* gw_map_del removes |key| and returns its value, or NULL. */
void *gw_map_del(gw_map_t *m, const char *key);
static inline size_t gw_map_len(const gw_map_t *m) {
  return m->len;
}

#endif /* GW_MAP_H */
