/* SPDX-License-Identifier: MIT */
/* gw_map.c: string-keyed open-addressing hash map (see gw_map.h). */
#include "gw_map.h"

#include <stdlib.h>
#include <string.h>

#include "gw_err.h"

/* FNV-1a, 64 bit; never 0 (0 marks an empty slot). */
static uint64_t hash_str(const char *s) {
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h ? h : 1;
}

void gw_map_init(gw_map_t *m) {
  memset(m, 0, sizeof(*m));
}

void gw_map_close(gw_map_t *m) {
  free(m->slots);
  gw_map_init(m);
}

static gw_map_slot_t *find(const gw_map_t *m, const char *key, uint64_t h) {
  if (m->cap == 0)
    return NULL;
  for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    gw_map_slot_t *s = &m->slots[i];
    if (s->hash == 0)
      return NULL;
    if (s->hash == h && strcmp(s->key, key) == 0)
      return s;
  }
}

void *gw_map_get(const gw_map_t *m, const char *key) {
  gw_map_slot_t *s = find(m, key, hash_str(key));
  return s ? s->val : NULL;
}

static void insert(gw_map_slot_t *slots, size_t cap, uint64_t h,
                   const char *key, void *val) {
  size_t i = h & (cap - 1);
  while (slots[i].hash != 0)
    i = (i + 1) & (cap - 1);
  slots[i].hash = h;
  slots[i].key = key;
  slots[i].val = val;
}

static int grow(gw_map_t *m) {
  size_t ncap = m->cap ? m->cap * 2 : 8;
  gw_map_slot_t *ns = calloc(ncap, sizeof(*ns));
  if (ns == NULL)
    return GW_ENOMEM;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].hash != 0)
      insert(ns, ncap, m->slots[i].hash, m->slots[i].key, m->slots[i].val);
  free(m->slots);
  m->slots = ns;
  m->cap = ncap;
  return 0;
}

int gw_map_put(gw_map_t *m, const char *key, void *val) {
  uint64_t h = hash_str(key);
  gw_map_slot_t *s = find(m, key, h);
  if (s != NULL) {
    s->key = key;
    s->val = val;
    return 0;
  }
  /* Keep the load factor at or below 3/4. */
  if ((m->len + 1) * 4 > m->cap * 3) {
    int rc = grow(m);
    if (rc != 0)
      return rc;
  }
  insert(m->slots, m->cap, h, key, val);
  m->len++;
  return 0;
}

void *gw_map_del(gw_map_t *m, const char *key) {
  gw_map_slot_t *s = find(m, key, hash_str(key));
  if (s == NULL)
    return NULL;
  void *val = s->val;
  size_t mask = m->cap - 1;
  size_t i = (size_t)(s - m->slots);
  /* Backward-shift: pull later entries of the probe run into the hole. */
  for (size_t j = (i + 1) & mask; m->slots[j].hash != 0; j = (j + 1) & mask) {
    size_t home = m->slots[j].hash & mask;
    /* Entry j may move to i if i lies cyclically in [home, j). */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].hash = 0;
  m->slots[i].key = NULL;
  m->slots[i].val = NULL;
  m->len--;
  return val;
}
