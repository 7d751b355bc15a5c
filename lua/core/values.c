/* Values between Lua and SQLite: pushing column values, binding parameters
 * (through resql_bind_*, so the query log sees them exactly). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"

int lcore_is_blob(lua_State *L, int i)
{
    if (lua_type(L, i) != LUA_TTABLE || !lua_getmetatable(L, i)) return 0;
    luaL_getmetatable(L, BLOB_MT);
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

void lcore_push_value(lua_State *L, sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: lua_pushinteger(L, (lua_Integer)sqlite3_value_int64(v)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_value_double(v)); break;
    case SQLITE_TEXT:
        lua_pushlstring(L, (const char *)sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v));
        break;
    case SQLITE_BLOB: {
        const void *p = sqlite3_value_blob(v);
        lua_pushlstring(L, p ? p : "", (size_t)sqlite3_value_bytes(v));
        break;
    }
    default: lua_pushnil(L);
    }
}


/* Binding reports misuse without raising, so the caller can finalize a
 * statement it made first: BIND_MISUSE with the message pushed. */

static int bind_misuse(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return BIND_MISUSE;
}

/* Binds the Lua value at index i to parameter `index`, through resql_bind_*
 * so the query log sees it exactly. Returns SQLite's code, or BIND_MISUSE
 * for a value SQLite cannot hold. */
static int bind_value(lua_State *L, sqlite3_stmt *stmt, int index, int i)
{
    size_t n;
    const char *s;
    switch (lua_type(L, i)) {
    case LUA_TNIL: return resql_bind_null(stmt, index);
    case LUA_TBOOLEAN: return resql_bind_int64(stmt, index, lua_toboolean(L, i));
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) return resql_bind_int64(stmt, index, (sqlite3_int64)lua_tointeger(L, i));
        return resql_bind_double(stmt, index, (double)lua_tonumber(L, i));
    case LUA_TSTRING:
        s = lua_tolstring(L, i, &n);
        return resql_bind_text(stmt, index, s, (int)n, SQLITE_TRANSIENT);
    case LUA_TTABLE:
        if (lcore_is_blob(L, i)) {
            lua_rawgeti(L, i, 1);
            s = lua_tolstring(L, -1, &n);
            int rc = resql_bind_blob(stmt, index, s ? s : "", (int)n, SQLITE_TRANSIENT);
            lua_pop(L, 1);
            return rc;
        }
        /* fall through */
    default:
        return bind_misuse(L, "resql: cannot bind a %s to parameter %d", luaL_typename(L, i), index);
    }
}

/* Binds the arguments from `first` on: positional values, or one table of
 * named (string keys, with or without the :/@/$ prefix) and positional
 * (integer keys) values. */
int lcore_bind_all(lua_State *L, sqlite3_stmt *stmt, int first)
{
    int top = lua_gettop(L), count = sqlite3_bind_parameter_count(stmt);
    if (top == first && lua_type(L, first) == LUA_TTABLE && !lcore_is_blob(L, first)) {
        lua_pushnil(L);
        while (lua_next(L, first)) {
            int index = 0;
            if (lua_type(L, -2) == LUA_TNUMBER) {
                /* Checked before the cast to int, which would wrap 2^32 + 1 to 1. */
                lua_Integer k = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
                if (k < 1 || k > count) {
                    lua_pushvalue(L, -2);           /* a copy, for its text */
                    return bind_misuse(L, "resql: no parameter %s (the statement has %d)", lua_tostring(L, -1), count);
                }
                index = (int)k;
            } else if (lua_type(L, -2) == LUA_TSTRING) {
                const char *name = lua_tostring(L, -2);
                index = sqlite3_bind_parameter_index(stmt, name);
                for (const char *p = ":@$"; !index && *p; p++) {
                    char prefixed[256];
                    snprintf(prefixed, sizeof prefixed, "%c%s", *p, name);
                    index = sqlite3_bind_parameter_index(stmt, prefixed);
                }
                if (!index) return bind_misuse(L, "resql: no parameter named '%s'", name);
            } else {
                return bind_misuse(L, "resql: a parameter key must be a position or a name, got %s",
                                   luaL_typename(L, -2));
            }
            int rc = bind_value(L, stmt, index, lua_gettop(L));
            if (rc != SQLITE_OK) return rc;
            lua_pop(L, 1);
        }
        return SQLITE_OK;
    }
    if (top - first + 1 > count)
        return bind_misuse(L, "resql: %d values for %d parameters", top - first + 1, count);
    for (int i = first; i <= top; i++) {
        int rc = bind_value(L, stmt, i - first + 1, i);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}
