/*
 * resql_lua.h: for host applications that embed Lua and let a Lua script
 * configure auditing of the host's own SQLite connection.
 *
 * Header-only (it uses only the Lua C API), so a host needs no extra library:
 * the Lua module resql (resql.lua and resql/core.so) must be reachable by the
 * Lua state's `require`.
 */
#ifndef RESQL_LUA_H
#define RESQL_LUA_H

#include <lua.h>
#include <sqlite3.h>

/* Pushes onto L's stack the resql connection object for `db`, the same object
 * resql.wrap(ptr) returns: the script can log it (resql.log_changes{of = ...})
 * but never closes `db` itself; the host keeps owning it. Loads the "resql"
 * module with `require`. Returns 1 with the object pushed, or 0 with an error
 * message pushed (the module cannot be loaded). Close the object (its
 * close method, or lua_close of the state) before sqlite3_close(db). */
static int resql_lua_push_connection(lua_State *L, sqlite3 *db)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, "resql");
    if (lua_pcall(L, 1, 1, 0) != 0) return 0;
    lua_getfield(L, -1, "wrap");
    lua_remove(L, -2);
    lua_pushlightuserdata(L, db);
    return lua_pcall(L, 1, 1, 0) == 0;
}

#endif
