/* What Lua 5.1 and LuaJIT lack of the 5.2+ C API that resql.core uses. */
#ifndef RESQL_LUA_COMPAT_H
#define RESQL_LUA_COMPAT_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>      /* LUA_JITLIBNAME tells LuaJIT apart */

#if LUA_VERSION_NUM < 502
#  define lua_rawlen(L, i) lua_objlen((L), (i))
#  ifndef LUA_JITLIBNAME   /* LuaJIT 2.1 has these three */
static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    for (; l->name; l++) {
        for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
static inline void *luaL_testudata(lua_State *L, int i, const char *name)
{
    void *p = lua_touserdata(L, i);
    if (!p || !lua_getmetatable(L, i)) return NULL;
    luaL_getmetatable(L, name);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}
static inline void luaL_setmetatable(lua_State *L, const char *name)
{
    luaL_getmetatable(L, name);
    lua_setmetatable(L, -2);
}
#  endif
#endif

#if LUA_VERSION_NUM < 503
/* Integers: on 5.1 / LuaJIT every number is a double; an integral one with
 * magnitude below 2^53 is taken as an INTEGER when bound. */
#  include <math.h>
static inline int lua_isinteger(lua_State *L, int i)
{
    if (lua_type(L, i) != LUA_TNUMBER) return 0;
    lua_Number n = lua_tonumber(L, i);
    return n == floor(n) && fabs(n) < 9007199254740992.0;
}
#endif

#endif
