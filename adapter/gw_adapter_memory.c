/* SPDX-License-Identifier: MIT */
/* gw_adapter_memory.c: the in-memory adapter, for one process.
 * It owns the whole chat state: sockets by sid, rooms by name in creation
 * order, members of each room in join order. Every call completes before it
 * returns; its result callback runs synchronously, after the deliveries. */
#include <stdlib.h>
#include <string.h>

#include "gw_adapter.h"
#include "gw_check.h"
#include "gw_events.h"
#include "gw_list.h"
#include "gw_map.h"

typedef struct mem_room mem_room_t;

typedef struct mem_sock {
  char *sid;
  void *handle;
  gw_list_t all_link;    /* in mem_adapter.socks, attach order */
  mem_room_t *room;      /* NULL when in no room */
  char *name;            /* user name in room */
  gw_list_t member_link; /* in room->members, join order */
} mem_sock_t;

struct mem_room {
  char *name;
  gw_list_t link;    /* in mem_adapter.rooms, creation order */
  gw_list_t members; /* mem_sock_t, join order */
  size_t n_members;
};

typedef struct mem_adapter {
  gw_adapter_t base;
  gw_map_t socks_by_sid;
  gw_map_t rooms_by_name;
  gw_list_t socks; /* every attached socket */
  gw_list_t rooms; /* creation order */
  size_t n_rooms;
  size_t n_members;
  gw_frame_t *roomlist; /* the current roomList frame, shared */
  uint64_t peer_lookups;
} mem_adapter_t;

static void deliver(mem_adapter_t *m, mem_sock_t *s, gw_frame_t *f) {
  m->base.cfg.deliver(m->base.cfg.ctx, s->handle, f);
}

/* to_room delivers |f| to every member of |r| except |except|. */
static void to_room(mem_adapter_t *m, mem_room_t *r, gw_frame_t *f,
                    const mem_sock_t *except) {
  gw_list_t *it;
  if (f == NULL)
    return;
  GW_LIST_FOREACH(it, &r->members) {
    mem_sock_t *s = GW_LIST_DATA(it, mem_sock_t, member_link);
    GW_CHECK(s->room == r);
    if (s != except)
      deliver(m, s, f);
  }
}

static gw_frame_t *encode_userlist(mem_room_t *r) {
  const char **names = malloc(sizeof(*names) * (r->n_members + 1));
  const char **keys = malloc(sizeof(*keys) * (r->n_members + 1));
  gw_frame_t *f = NULL;
  if (names != NULL && keys != NULL) {
    size_t i = 0;
    gw_list_t *it;
    GW_LIST_FOREACH(it, &r->members) {
      mem_sock_t *s = GW_LIST_DATA(it, mem_sock_t, member_link);
      GW_CHECK(i < r->n_members && s->room == r && s->name != NULL);
      names[i] = s->name;
      keys[i++] = s->sid;
    }
    GW_CHECK(i == r->n_members);
    f = gw_ev_userlist(names, keys, i);
  }
  free(names);
  free(keys);
  return f;
}

/* rooms_changed re-encodes roomList once and sends it to every socket. */
static void rooms_changed(mem_adapter_t *m) {
  const char **names = malloc(sizeof(*names) * (m->n_rooms + 1));
  if (names == NULL)
    return;
  size_t i = 0;
  gw_list_t *it;
  GW_LIST_FOREACH(it, &m->rooms) {
    GW_CHECK(i < m->n_rooms);
    names[i++] = GW_LIST_DATA(it, mem_room_t, link)->name;
  }
  GW_CHECK(i == m->n_rooms);
  gw_frame_t *f = gw_ev_roomlist(names, i);
  free(names);
  if (f == NULL)
    return;
  gw_frame_unref(m->roomlist);
  m->roomlist = f;
  GW_LIST_FOREACH(it, &m->socks) {
    deliver(m, GW_LIST_DATA(it, mem_sock_t, all_link), f);
  }
}

/* room_changed tells the members of |r| about a membership change: the
 * |notice| (consumed) to all but |except|, then the new userList to all. */
static void room_changed(mem_adapter_t *m, mem_room_t *r, gw_frame_t *notice,
                         const mem_sock_t *except) {
  to_room(m, r, notice, except);
  gw_frame_unref(notice);
  gw_frame_t *ul = encode_userlist(r);
  to_room(m, r, ul, NULL);
  gw_frame_unref(ul);
}

static void room_free(mem_adapter_t *m, mem_room_t *r) {
  GW_CHECK(r->n_members == 0 && gw_list_empty(&r->members));
  GW_CHECK(m->n_rooms > 0);
  mem_room_t *gone = gw_map_del(&m->rooms_by_name, r->name);
  GW_CHECK(gone == r);
  gw_list_remove(&r->link);
  m->n_rooms--;
  GW_CHECK(gw_map_len(&m->rooms_by_name) == m->n_rooms);
  free(r->name);
  free(r);
}

/* leave_room takes |s| out of its room with the leave effects. With
 * |keep_room| an emptied room survives (a rename within the same room). */
static void leave_room(mem_adapter_t *m, mem_sock_t *s, int keep_room) {
  mem_room_t *r = s->room;
  if (r == NULL) {
    GW_CHECK(s->name == NULL && gw_list_empty(&s->member_link));
    return;
  }
  GW_CHECK(s->name != NULL && !gw_list_empty(&s->member_link));
  GW_CHECK(r->n_members > 0 && m->n_members >= r->n_members);
  gw_list_remove(&s->member_link);
  r->n_members--;
  m->n_members--;
  s->room = NULL;
  if (r->n_members > 0)
    room_changed(m, r, gw_ev_notice_left(s->name), NULL);
  free(s->name);
  s->name = NULL;
  if (r->n_members == 0 && !keep_room) {
    room_free(m, r);
    rooms_changed(m);
  }
}

static int mem_attach(gw_adapter_t *a, const char *sid, void *handle) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  if (gw_map_get(&m->socks_by_sid, sid) != NULL)
    return GW_EINVAL;
  mem_sock_t *s = calloc(1, sizeof(*s));
  if (s == NULL || (s->sid = strdup(sid)) == NULL) {
    free(s);
    return GW_ENOMEM;
  }
  if (gw_map_put(&m->socks_by_sid, s->sid, s) != 0) {
    free(s->sid);
    free(s);
    return GW_ENOMEM;
  }
  s->handle = handle;
  gw_list_init(&s->member_link);
  gw_list_push_back(&m->socks, &s->all_link);
  if (m->roomlist == NULL)
    m->roomlist = gw_ev_roomlist(NULL, 0);
  if (m->roomlist != NULL)
    deliver(m, s, m->roomlist);
  return 0;
}

static void mem_detach(gw_adapter_t *a, const char *sid) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  mem_sock_t *s = gw_map_del(&m->socks_by_sid, sid);
  if (s == NULL)
    return;
  GW_CHECK(!gw_list_empty(&s->all_link));
  gw_list_remove(&s->all_link); /* no delivery to it from here on */
  leave_room(m, s, 0);
  GW_CHECK(s->room == NULL && gw_list_empty(&s->member_link));
  free(s->sid);
  free(s);
}

static int name_taken(const mem_room_t *r, const char *user,
                      const mem_sock_t *self) {
  const gw_list_t *it;
  GW_LIST_FOREACH(it, &r->members) {
    const mem_sock_t *s = GW_LIST_DATA(it, mem_sock_t, member_link);
    if (s != self && strcmp(s->name, user) == 0)
      return 1;
  }
  return 0;
}

static int mem_join(gw_adapter_t *a, const char *sid, const char *room,
                    const char *user, gw_result_fn cb, void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  mem_sock_t *s = gw_map_get(&m->socks_by_sid, sid);
  if (s == NULL)
    return GW_EINVAL;
  mem_room_t *r = gw_map_get(&m->rooms_by_name, room);
  int status = 0;

  /* Check everything before changing anything: a failed join leaves the
   * socket where it was. */
  if (r != NULL && name_taken(r, user, s))
    status = GW_ENAMETAKEN;
  else if (r == NULL && m->base.cfg.max_rooms &&
           m->n_rooms - (s->room && s->room->n_members == 1) >=
               m->base.cfg.max_rooms)
    status = GW_EROOMLIMIT;
  else if (r != NULL && s->room != r && m->base.cfg.max_room_members &&
           r->n_members >= m->base.cfg.max_room_members)
    status = GW_EROOMFULL;
  if (status != 0)
    goto done;

  if (s->room == r && r != NULL) {
    if (strcmp(s->name, user) == 0)
      goto done;         /* already there under that name: nothing changes */
    leave_room(m, s, 1); /* a rename: leave and rejoin, the room stays */
  } else {
    leave_room(m, s, 0);
  }
  GW_CHECK(s->room == NULL && s->name == NULL);

  char *uname = strdup(user);
  int created = 0;
  if (uname == NULL) {
    status = GW_ENOMEM;
    goto done;
  }
  if (r == NULL) {
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->name = strdup(room)) == NULL ||
        gw_map_put(&m->rooms_by_name, r->name, r) != 0) {
      if (r != NULL)
        free(r->name);
      free(r);
      free(uname);
      status = GW_ENOMEM;
      goto done;
    }
    gw_list_init(&r->members);
    gw_list_push_back(&m->rooms, &r->link);
    m->n_rooms++;
    GW_CHECK(gw_map_len(&m->rooms_by_name) == m->n_rooms);
    created = 1;
  }
  s->room = r;
  s->name = uname;
  gw_list_push_back(&r->members, &s->member_link);
  r->n_members++;
  m->n_members++;
  GW_CHECK(r->n_members <= m->n_members);

  room_changed(m, r, gw_ev_notice_joined(s->name), s);
  if (created)
    rooms_changed(m);
done:
  cb(arg, status);
  return 0;
}

static int mem_leave(gw_adapter_t *a, const char *sid, gw_result_fn cb,
                     void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  mem_sock_t *s = gw_map_get(&m->socks_by_sid, sid);
  if (s == NULL)
    return GW_EINVAL;
  int status = s->room ? 0 : GW_ENOTINROOM;
  leave_room(m, s, 0);
  cb(arg, status);
  return 0;
}

static int mem_emit_room(gw_adapter_t *a, const char *sid, const char *room,
                         gw_frame_t *f, gw_result_fn cb, void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  mem_sock_t *s = gw_map_get(&m->socks_by_sid, sid);
  if (s == NULL)
    return GW_EINVAL;
  mem_room_t *r = gw_map_get(&m->rooms_by_name, room);
  int status = GW_ENOTINROOM;
  if (r != NULL && s->room == r) {
    to_room(m, r, f, NULL);
    status = 0;
  }
  cb(arg, status);
  return 0;
}

static int mem_emit_dm(gw_adapter_t *a, const char *sid, const char *room,
                       const char *target, gw_frame_t *f, gw_result_fn cb,
                       void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  mem_sock_t *s = gw_map_get(&m->socks_by_sid, sid);
  if (s == NULL)
    return GW_EINVAL;
  mem_sock_t *t = gw_map_get(&m->socks_by_sid, target);
  int status = 0;
  if (s->room == NULL || strcmp(s->room->name, room) != 0)
    status = GW_ENOTINROOM;
  else if (t == NULL || t->room != s->room)
    status = GW_ENOTFOUND;
  else {
    deliver(m, t, f);
    if (t != s)
      deliver(m, s, f);
  }
  cb(arg, status);
  return 0;
}

static void mem_stats(gw_adapter_t *a, gw_adapter_stats_t *out) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  memset(out, 0, sizeof(*out));
  out->rooms = m->n_rooms;
  out->local_members = m->n_members;
  out->backend_up = 1;
  out->peer_lookups = m->peer_lookups;
}

/* mem_peer_lookup: one process has no peers, so every well-formed tag is
 * unknown (the gateway recognises its own tag before asking). */
static int mem_peer_lookup(gw_adapter_t *a, const char *tag, gw_peer_fn cb,
                           void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  (void)cb;
  (void)arg;
  m->peer_lookups++;
  return gw_adapter_peer_tag_ok(tag) ? GW_ENOTFOUND : GW_EINVAL;
}

static void mem_close(gw_adapter_t *a, gw_close_fn cb, void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  /* Sockets still attached leave their rooms, with the usual leave
   * effects for those still attached; every local socket is going away
   * with the process, so the gateway drops what it is handed. */
  while (!gw_list_empty(&m->socks)) {
    mem_sock_t *s = GW_LIST_DATA(m->socks.next, mem_sock_t, all_link);
    mem_detach(a, s->sid);
  }
  GW_CHECK(m->n_members == 0 && gw_map_len(&m->socks_by_sid) == 0);
  cb(arg);
}

static void mem_free(gw_adapter_t *a) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  while (!gw_list_empty(&m->socks)) {
    mem_sock_t *s = GW_LIST_DATA(m->socks.next, mem_sock_t, all_link);
    mem_detach(a, s->sid);
  }
  GW_CHECK(m->n_members == 0 && gw_map_len(&m->socks_by_sid) == 0);
  gw_frame_unref(m->roomlist);
  gw_map_close(&m->socks_by_sid);
  gw_map_close(&m->rooms_by_name);
  free(m);
}

static const gw_adapter_ops_t mem_ops = {
    .name = "memory",
    .attach = mem_attach,
    .detach = mem_detach,
    .join = mem_join,
    .leave = mem_leave,
    .emit_room = mem_emit_room,
    .emit_dm = mem_emit_dm,
    .stats = mem_stats,
    .peer_lookup = mem_peer_lookup,
    .close = mem_close,
    .free = mem_free,
};

gw_adapter_t *gw_adapter_memory_new(const gw_adapter_cfg_t *cfg, int *err) {
  /* The peer settings are unused here, but checked as the Redis adapter
   * checks them: a configuration is valid in both or in neither. */
  if (cfg == NULL || cfg->deliver == NULL ||
      (cfg->peer_tag != NULL && !gw_adapter_peer_tag_ok(cfg->peer_tag)) ||
      (cfg->advertise != NULL && !gw_adapter_advertise_ok(cfg->advertise))) {
    if (err != NULL)
      *err = GW_EINVAL;
    return NULL;
  }
  mem_adapter_t *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    if (err != NULL)
      *err = GW_ENOMEM;
    return NULL;
  }
  m->base.ops = &mem_ops;
  m->base.cfg = *cfg;
  m->base.cfg.peer_tag = m->base.cfg.advertise = NULL; /* borrowed: not kept */
  gw_map_init(&m->socks_by_sid);
  gw_map_init(&m->rooms_by_name);
  gw_list_init(&m->socks);
  gw_list_init(&m->rooms);
  return &m->base;
}
