/* Connections: resql.open, resql.wrap and the methods of a connection. */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"

ldb *lcore_check_db(lua_State *L, int i)
{
    ldb *d = lcore_check_object(L, i, DB_MT, "connection");
    if (!d->db) lcore_raise(L, "resql: the connection is closed");
    return d;
}

#define OWNERS "resql.owners"      /* weak: sqlite3* -> the resql.open object that owns it */

static ldb *new_db(lua_State *L, sqlite3 *db, int owned)
{
    ldb *d = lua_newuserdata(L, sizeof *d);
    memset(d, 0, sizeof *d);
    d->db = db;
    d->owned = owned;
    luaL_setmetatable(L, DB_MT);
    if (owned) {
        lua_getfield(L, LUA_REGISTRYINDEX, OWNERS);
        lua_pushlightuserdata(L, db);
        lua_pushvalue(L, -3);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    return d;
}

/* resql.core.open(path, readonly) -> db | nil, message, code */
static int l_open(lua_State *L)
{
    const char *path = lcore_check_string(L, 1, 0, "open", NULL);
    int flags = lua_toboolean(L, 2) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_URI, NULL);
    if (rc != SQLITE_OK) {
        lua_pushnil(L);
        lua_pushstring(L, db ? sqlite3_errmsg(db) : "out of memory");
        lua_pushinteger(L, db ? sqlite3_extended_errcode(db) : rc);
        sqlite3_close(db);
        return 3;
    }
    sqlite3_extended_result_codes(db, 1);
    new_db(L, db, 1);
    return 1;
}

/* resql.core.wrap(ptr) -> db, borrowing a sqlite3* that resql never closes.
 * A pointer from db:get_ptr() gives back that connection object itself, so
 * the wrapper can never outlive the connection it points to. */
static int l_wrap(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TLIGHTUSERDATA || !lua_touserdata(L, 1))
        return lcore_raise(L, "resql: wrap: expected a sqlite3* as light userdata, got %s", luaL_typename(L, 1));
    lua_getfield(L, LUA_REGISTRYINDEX, OWNERS);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 2);
    new_db(L, lua_touserdata(L, 1), 0);
    return 1;
}


static int db_close(lua_State *L)
{
    ldb *d = lcore_check_self(L, DB_MT, __func__, "connection");
    if (!d->db) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (d->in_callback) return lcore_raise(L, "resql: cannot close the connection from inside a resql callback");
    while (d->loggers) lcore_close_logger(L, d->loggers);
    while (d->stmts) lcore_finalize_stmt(L, d->stmts);
    if (d->owned) {
        lua_getfield(L, LUA_REGISTRYINDEX, OWNERS);
        lua_pushlightuserdata(L, d->db);
        lua_pushnil(L);
        lua_rawset(L, -3);
        lua_pop(L, 1);
        sqlite3_close_v2(d->db);                /* _v2: also on a garbage-collected path */
    }
    d->db = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

static int db_is_open(lua_State *L)
{
    ldb *d = lcore_check_self(L, DB_MT, __func__, "connection");
    lua_pushboolean(L, d->db != NULL);
    return 1;
}

int lcore_db_tostring(lua_State *L)
{
    ldb *d = lcore_check_self(L, DB_MT, __func__, "connection");
    if (d->db) lua_pushfstring(L, "resql.db (%s)", sqlite3_db_filename(d->db, "main"));
    else lua_pushstring(L, "resql.db (closed)");
    return 1;
}

/* db:exec(sql, ...) -> true | nil, message, code */
static int db_exec(lua_State *L)
{
    ldb *d = lcore_check_db(L, 1);
    const char *sql = lcore_check_string(L, 2, 1, "exec", NULL);
    int with_params = lua_gettop(L) > 2;
    while (*sql) {
        sqlite3_stmt *stmt = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(d->db, sql, -1, &stmt, &tail) != SQLITE_OK) return lcore_db_failure(L, d->db);
        if (!stmt) break;                               /* only comments or spaces left */
        if (with_params) {
            sqlite3_stmt *next = NULL;
            int rc = sqlite3_prepare_v2(d->db, tail, -1, &next, NULL);
            if (rc != SQLITE_OK) {                      /* text after the statement that is not SQL */
                int n = lcore_db_failure(L, d->db);
                sqlite3_finalize(stmt);
                return n;
            }
            if (next) {
                sqlite3_finalize(next);
                sqlite3_finalize(stmt);
                return lcore_raise(L, "resql: exec with parameters takes one statement");
            }
            rc = lcore_bind_all(L, stmt, 3);
            if (rc != SQLITE_OK) {
                int n = rc == BIND_MISUSE ? 0 : lcore_db_failure(L, d->db);
                sqlite3_finalize(stmt);
                return rc == BIND_MISUSE ? lua_error(L) : n;
            }
        }
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE) {
            /* The message belongs to the statement until it is finalized. */
            int n = lcore_db_failure(L, d->db);
            sqlite3_finalize(stmt);
            return n;
        }
        sqlite3_finalize(stmt);
        if (with_params) break;
        sql = tail;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int db_last_insert_rowid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sqlite3_last_insert_rowid(lcore_check_db(L, 1)->db));
    return 1;
}

static int db_changes(lua_State *L)
{
    lua_pushinteger(L, sqlite3_changes(lcore_check_db(L, 1)->db));
    return 1;
}

static int db_total_changes(lua_State *L)
{
    lua_pushinteger(L, sqlite3_total_changes(lcore_check_db(L, 1)->db));
    return 1;
}

static int db_in_transaction(lua_State *L)
{
    lua_pushboolean(L, !sqlite3_get_autocommit(lcore_check_db(L, 1)->db));
    return 1;
}

static int db_get_ptr(lua_State *L)
{
    lua_pushlightuserdata(L, lcore_check_db(L, 1)->db);
    return 1;
}

static int db_filename(lua_State *L)
{
    const char *name = sqlite3_db_filename(lcore_check_db(L, 1)->db, "main");
    lua_pushstring(L, name ? name : "");
    return 1;
}

int lcore_db_gc(lua_State *L)
{
    db_close(L);
    return 0;
}

const luaL_Reg lcore_db_methods[] = {
    {"exec", db_exec},
    {"prepare", lcore_db_prepare},
    {"close", db_close},
    {"is_open", db_is_open},
    {"last_insert_rowid", db_last_insert_rowid},
    {"changes", db_changes},
    {"total_changes", db_total_changes},
    {"in_transaction", db_in_transaction},
    {"get_ptr", db_get_ptr},
    {"filename", db_filename},
    {NULL, NULL},
};

const luaL_Reg lcore_connection_functions[] = {
    {"open", l_open},
    {"wrap", l_wrap},
    {NULL, NULL},
};

void lcore_connection_init(lua_State *L)
{
    lcore_weak_table(L, OWNERS);
}
