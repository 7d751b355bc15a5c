/* Callbacks from the C core into Lua functions (extra, clock). */
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "internal.h"
#include "lcore.h"

/* A Lua function that C calls later. It runs on the main thread (5.2+) or
 * on a thread of its own (5.1, which cannot name the main thread), never on
 * the coroutine that happened to create it, which may be dead by then.
 * While it runs, its logger is anchored on the stack (so the garbage
 * collector cannot free the logger under it) and its connection counts the
 * callback (so the callback cannot close the connection under it). */
struct lua_callback {
    lua_State *L;
    int ref;                /* the function */
    int thread_ref;         /* the thread of its own, or LUA_NOREF */
    ldb *owner;
};

#define ANCHORS "resql.anchors"     /* weak: callback -> its logger's userdata */

lua_callback *lcore_callback_new(lua_State *L, int fn, int logger, ldb *owner)
{
    lua_callback *cb = malloc(sizeof *cb);
    if (!cb) lcore_raise(L, "resql: out of memory");
    cb->owner = owner;
    cb->thread_ref = LUA_NOREF;
#if LUA_VERSION_NUM >= 502
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    cb->L = lua_tothread(L, -1);
    lua_pop(L, 1);
#else
    cb->L = lua_newthread(L);
    cb->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
#endif
    lua_pushvalue(L, fn);
    cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_pushlightuserdata(L, cb);
    lua_pushvalue(L, logger < 0 ? logger - 2 : logger);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return cb;
}

void lcore_callback_destroy(void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_pushlightuserdata(L, cb);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, cb->ref);
    luaL_unref(L, LUA_REGISTRYINDEX, cb->thread_ref);   /* last: L may be this thread */
    free(cb);
}

/* Pushes the logger (anchor) and the function; returns the stack top to
 * restore, or -1 when the stack cannot grow. */
static int callback_enter(lua_callback *cb)
{
    lua_State *L = cb->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) return -1;
    lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_pushlightuserdata(L, cb);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    cb->owner->in_callback++;
    return top;
}

static void callback_leave(lua_callback *cb, int top)
{
    cb->owner->in_callback--;
    lua_settop(cb->L, top);
}

/* The Lua side (resql.lua) gives a function that returns the JSON text of
 * the extra object, or nil, or raises. */
void lcore_extra_trampoline(resql_extra_result *result, void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    int top = callback_enter(cb);
    if (top < 0) {
        resql_extra_error(result, "the Lua stack cannot grow");
        return;
    }
    if (lua_pcall(L, 0, 1, 0) != 0) {
        const char *msg = lua_tostring(L, -1);
        resql_extra_error(result, msg ? msg : "(error object is not a string)");
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        resql_extra_json(result, lua_tostring(L, -1));
    } else if (!lua_isnil(L, -1)) {
        resql_extra_error(result, "the extra function must return a table or nil");
    }
    callback_leave(cb, top);
}

/* A clock that fails or answers something else than a number: the system
 * clock stands in (a log row must have a time). */
sqlite3_int64 lcore_clock_trampoline(void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    int top = callback_enter(cb);
    if (top < 0) return resql__clock_now(NULL);
    sqlite3_int64 now = resql__clock_now(NULL);
    if (lua_pcall(L, 0, 1, 0) == 0 && lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, -1);
        if (n == n && n > -9.2e18 && n < 9.2e18) now = (sqlite3_int64)n;
    }
    callback_leave(cb, top);
    return now;
}

void lcore_callback_init(lua_State *L)
{
    lcore_weak_table(L, ANCHORS);
}
