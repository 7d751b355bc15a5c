/* resql_test_helper: a Lua module for the specs that opens SQLite
 * connections outside resql, as lsqlite3 or a host application would, and
 * hands them over as a sqlite3* in light userdata. */
#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

static sqlite3 *check_ptr(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    return lua_touserdata(L, 1);
}

static int h_open(lua_State *L)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(luaL_checkstring(L, 1), &db) != SQLITE_OK) {
        lua_pushnil(L);
        lua_pushstring(L, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    lua_pushlightuserdata(L, db);
    return 1;
}

static int h_exec(lua_State *L)
{
    sqlite3 *db = check_ptr(L);
    if (sqlite3_exec(db, luaL_checkstring(L, 2), NULL, NULL, NULL) != SQLITE_OK) {
        lua_pushnil(L);
        lua_pushstring(L, sqlite3_errmsg(db));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Returns SQLite's result code: 0 only if nothing (statements, ...) is left. */
static int h_close(lua_State *L)
{
    lua_pushinteger(L, sqlite3_close(check_ptr(L)));
    return 1;
}

__attribute__((visibility("default"))) int luaopen_resql_test_helper(lua_State *L);
__attribute__((visibility("default"))) int luaopen_resql_test_helper(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, h_open);
    lua_setfield(L, -2, "open");
    lua_pushcfunction(L, h_exec);
    lua_setfield(L, -2, "exec");
    lua_pushcfunction(L, h_close);
    lua_setfield(L, -2, "close");
    return 1;
}
