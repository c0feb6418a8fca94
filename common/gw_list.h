/* SPDX-License-Identifier: MIT */
/* gw_list.h: intrusive circular doubly-linked list (like libuv's queue.h).
 * Embed a gw_list_t in each element; recover it with GW_LIST_DATA. */
#ifndef GW_LIST_H
#define GW_LIST_H

#include <stddef.h>

typedef struct gw_list {
  struct gw_list *next, *prev;
} gw_list_t;

#define GW_LIST_DATA(ptr, type, field)                                         \
  ((type *)((char *)(ptr)-offsetof(type, field)))

#define GW_LIST_FOREACH(it, head)                                              \
  for ((it) = (head)->next; (it) != (head); (it) = (it)->next)

static inline void gw_list_init(gw_list_t *h) {
  h->next = h->prev = h;
}
static inline int gw_list_empty(const gw_list_t *h) {
  return h->next == h;
}

/* gw_list_push_back appends |e| before |h| (at the tail). */
static inline void gw_list_push_back(gw_list_t *h, gw_list_t *e) {
  e->prev = h->prev;
  e->next = h;
  h->prev->next = e;
  h->prev = e;
}

/* gw_list_remove unlinks |e| and leaves it self-linked (safe to re-remove). */
static inline void gw_list_remove(gw_list_t *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
  e->next = e->prev = e;
}

static inline gw_list_t *gw_list_head(const gw_list_t *h) {
  return h->next == h ? NULL : h->next;
}

#endif /* GW_LIST_H */
