/* resql.core: the C half of the Lua module. Thin on purpose: userdata for
 * connections, statements and loggers, argument checks, callbacks into Lua,
 * and the value codec; the friendly API is lua/resql.lua. */
#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"

/* Makes metatable `name` with __index = a table of `methods` (returned on
 * the stack as the methods table, so resql.lua can add to it). */
static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                      lua_CFunction tostring)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -3, "__gc");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -3, "__close");
    }
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -3, "__tostring");
    lua_remove(L, -2);
}

/* Weak-valued table in the registry, under `name` (kept if the module is
 * loaded again: objects made before still have entries in it). */
void lcore_weak_table(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, name);
    int exists = lua_istable(L, -1);
    lua_pop(L, 1);
    if (exists) return;
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, name);
}

/* A metatable with only __gc, for boxes that hold C memory. */
void lcore_box_class(lua_State *L, const char *name, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}

/* resql.core.type(v) -> "connection" | "statement" | "logger" | nil: what
 * resql.lua checks its arguments with (the methods tables are no proof: a
 * second load of the module gives the metatables new ones). */
static int l_type(lua_State *L)
{
    static const char *const kinds[][2] = {
        {DB_MT, "connection"}, {STMT_MT, "statement"}, {LOGGER_MT, "logger"},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (luaL_testudata(L, 1, kinds[k][0])) {
            lua_pushstring(L, kinds[k][1]);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

EXPORT int luaopen_resql_core(lua_State *L);
EXPORT int luaopen_resql_core(lua_State *L)
{
    lcore_codec_init(L);
    lcore_callback_init(L);
    lcore_connection_init(L);
    lcore_logger_init(L);

    lua_newtable(L);
    luaL_setfuncs(L, lcore_codec_functions, 0);
    luaL_setfuncs(L, lcore_connection_functions, 0);
    luaL_setfuncs(L, lcore_logger_functions, 0);
    lua_pushcfunction(L, l_type);
    lua_setfield(L, -2, "type");
    new_class(L, DB_MT, lcore_db_methods, lcore_db_gc, lcore_db_tostring);
    lua_setfield(L, -2, "db_methods");
    new_class(L, STMT_MT, lcore_stmt_methods, lcore_stmt_gc, lcore_stmt_tostring);
    lua_setfield(L, -2, "stmt_methods");
    new_class(L, LOGGER_MT, lcore_logger_methods, lcore_logger_gc, lcore_logger_tostring);
    lua_setfield(L, -2, "logger_methods");
    lua_pushstring(L, resql_version());
    lua_setfield(L, -2, "version");
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "sqlite_version");
    return 1;
}
