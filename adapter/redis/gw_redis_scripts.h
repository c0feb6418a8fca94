/* SPDX-License-Identifier: MIT */
/* gw_redis_scripts.h: the adapter's Lua scripts (lua/NAME.lua), each with
 * lua/common.lua prepended, embedded at build time by embed_lua.cmake. */
#ifndef GW_REDIS_SCRIPTS_H
#define GW_REDIS_SCRIPTS_H

extern const char gw_lua_join[];
extern const char gw_lua_leave[];
extern const char gw_lua_dm[];
extern const char gw_lua_heartbeat[];
extern const char gw_lua_reap[];
extern const char gw_lua_node_down[];
extern const char gw_lua_assert[];
extern const char gw_lua_roomlist[];

#endif /* GW_REDIS_SCRIPTS_H */
