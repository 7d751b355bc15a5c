/* How resql.core reports: misuse raises "resql: ...", database failures
 * return nil, message, code. */
#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"

/* Raises "resql: ..." as is: messages start with "resql:", with no position
 * in front (luaL_error would add one). */
int lcore_raise(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

/* Argument checks that raise "resql: bad argument #N to 'fn' (...)". For
 * methods, #1 is the first argument after self, as in Lua's own messages. */
int lcore_bad_argument(lua_State *L, int i, int method, const char *fn, const char *expected)
{
    return lcore_raise(L, "resql: bad argument #%d to '%s' (%s expected, got %s)", method ? i - 1 : i, fn,
                 expected, luaL_typename(L, i));
}

/* A string argument; SQL text, paths and names must not hold a NUL byte
 * (SQLite would silently stop reading there). */
const char *lcore_check_string(lua_State *L, int i, int method, const char *fn, size_t *n)
{
    size_t len;
    if (lua_type(L, i) != LUA_TSTRING) lcore_bad_argument(L, i, method, fn, "string");
    const char *s = lua_tolstring(L, i, &len);
    if (!n && strlen(s) != len)
        lcore_raise(L, "resql: bad argument #%d to '%s' (a NUL byte in the text)", method ? i - 1 : i, fn);
    if (n) *n = len;
    return s;
}

/* The userdata of class `mt` at index i (open or closed: each caller says
 * how it is closed), or "resql: bad argument #i (<what> expected, got ...)". */
void *lcore_check_object(lua_State *L, int i, const char *mt, const char *what)
{
    void *p = luaL_testudata(L, i, mt);
    if (!p) lcore_raise(L, "resql: bad argument #%d (%s expected, got %s)", i, what, luaL_typename(L, i));
    return p;
}

void *lcore_check_self(lua_State *L, const char *mt, const char *fn, const char *what)
{
    void *p = luaL_testudata(L, 1, mt);
    const char *method = strchr(fn, '_');          /* db_close -> close */
    if (!p) lcore_raise(L, "resql: '%s' called on a %s, not a %s", method ? method + 1 : fn, luaL_typename(L, 1), what);
    return p;
}

/* SQLite's message, or resql's reason when resql refused the commit (SQLite
 * only says "constraint failed" then). */
static const char *errmsg_of(sqlite3 *db)
{
    const char *why = sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_COMMITHOOK
                    ? resql_commit_refusal(db) : NULL;
    return why ? why : sqlite3_errmsg(db);
}

/* nil, message, code: how database failures come back. */
int lcore_db_failure(lua_State *L, sqlite3 *db)
{
    lua_pushnil(L);
    lua_pushstring(L, errmsg_of(db));
    lua_pushinteger(L, sqlite3_extended_errcode(db));
    return 3;
}

int lcore_logger_failure(lua_State *L, resql_logger *logger, int rc)
{
    lua_pushnil(L);
    lua_pushstring(L, resql_errmsg(logger));
    lua_pushinteger(L, rc);
    return 3;
}
