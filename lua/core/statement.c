/* Prepared statements: db:prepare and the methods of a statement. */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"

void lcore_finalize_stmt(lua_State *L, lstmt *s)
{
    if (!s->stmt) return;
    sqlite3_finalize(s->stmt);
    s->stmt = NULL;
    if (s->prev) s->prev->next = s->next;
    else s->owner->stmts = s->next;
    if (s->next) s->next->prev = s->prev;
    luaL_unref(L, LUA_REGISTRYINDEX, s->owner_ref);
    s->owner = NULL;
}

static lstmt *check_stmt(lua_State *L, int i)
{
    lstmt *s = lcore_check_object(L, i, STMT_MT, "statement");
    if (!s->stmt) lcore_raise(L, "resql: the statement is finalized");
    return s;
}

/* db:prepare(sql) -> stmt | nil, message, code */
int lcore_db_prepare(lua_State *L)
{
    ldb *d = lcore_check_db(L, 1);
    const char *sql = lcore_check_string(L, 2, 1, "prepare", NULL);
    /* Everything that may raise (allocations) comes before the statement
     * exists, so a raise never leaves one unfinalized. */
    lstmt *s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    lua_pushvalue(L, 1);
    int owner_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &stmt, NULL) != SQLITE_OK || !stmt) {
        luaL_unref(L, LUA_REGISTRYINDEX, owner_ref);
        if (stmt == NULL && sqlite3_errcode(d->db) == SQLITE_OK)
            return lcore_raise(L, "resql: prepare: no statement in the SQL text");
        return lcore_db_failure(L, d->db);
    }
    s->stmt = stmt;
    s->owner = d;
    s->owner_ref = owner_ref;
    s->next = d->stmts;
    if (d->stmts) d->stmts->prev = s;
    d->stmts = s;
    luaL_setmetatable(L, STMT_MT);
    return 1;
}

static int stmt_bind(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int rc = lcore_bind_all(L, s->stmt, 2);
    if (rc == BIND_MISUSE) return lua_error(L);
    if (rc != SQLITE_OK) return lcore_db_failure(L, s->owner->db);
    lua_settop(L, 1);
    return 1;
}

/* stmt:step() -> true (a row) | false (done) | nil, message, code */
static int stmt_step(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    s->stepping = 1;
    int rc = sqlite3_step(s->stmt);
    s->stepping = 0;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        lua_pushboolean(L, rc == SQLITE_ROW);
        return 1;
    }
    int n = lcore_db_failure(L, s->owner->db);
    sqlite3_reset(s->stmt);
    return n;
}

static int stmt_row(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int n = sqlite3_data_count(s->stmt);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lcore_push_value(L, sqlite3_column_value(s->stmt, i));
        lua_setfield(L, -2, sqlite3_column_name(s->stmt, i));
    }
    return 1;
}

static int stmt_values(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int n = sqlite3_data_count(s->stmt);
    luaL_checkstack(L, n, "resql: too many columns");
    for (int i = 0; i < n; i++) lcore_push_value(L, sqlite3_column_value(s->stmt, i));
    return n;
}

static int stmt_columns(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int n = sqlite3_column_count(s->stmt);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, sqlite3_column_name(s->stmt, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int stmt_reset(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    sqlite3_reset(s->stmt);
    lua_settop(L, 1);
    return 1;
}

static int stmt_clear(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    sqlite3_clear_bindings(s->stmt);
    lua_settop(L, 1);
    return 1;
}

static int stmt_finalize(lua_State *L)
{
    lstmt *s = lcore_check_self(L, STMT_MT, __func__, "statement");
    if (s->stepping) return lcore_raise(L, "resql: cannot finalize a statement while it runs (from a callback)");
    lcore_finalize_stmt(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

int lcore_stmt_tostring(lua_State *L)
{
    lstmt *s = lcore_check_self(L, STMT_MT, __func__, "statement");
    lua_pushfstring(L, "resql.stmt (%s)", s->stmt ? sqlite3_sql(s->stmt) : "finalized");
    return 1;
}

int lcore_stmt_gc(lua_State *L)
{
    lstmt *s = lcore_check_self(L, STMT_MT, __func__, "statement");
    lcore_finalize_stmt(L, s);
    return 0;
}

const luaL_Reg lcore_stmt_methods[] = {
    {"bind", stmt_bind},
    {"step", stmt_step},
    {"row", stmt_row},
    {"values", stmt_values},
    {"columns", stmt_columns},
    {"reset", stmt_reset},
    {"clear", stmt_clear},
    {"finalize", stmt_finalize},
    {NULL, NULL},
};
