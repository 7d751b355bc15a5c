/* Loggers: resql.core.log (the change log and the query log) and the
 * methods of a logger. */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"

void lcore_close_logger(lua_State *L, llogger *g)
{
    if (!g->logger) return;
    resql_logger_free(g->logger);       /* closes first; inside a transaction it makes itself inert */
    g->logger = NULL;
    if (g->prev) g->prev->next = g->next;
    else g->owner->loggers = g->next;
    if (g->next) g->next->prev = g->prev;
    luaL_unref(L, LUA_REGISTRYINDEX, g->owner_ref);
    g->owner = NULL;
}

static llogger *check_logger(lua_State *L, int i)
{
    llogger *g = lcore_check_object(L, i, LOGGER_MT, "logger");
    if (!g->logger) lcore_raise(L, "resql: the logger is closed");
    return g;
}

/* Reads the options table at index i into opts (raises on bad input). */
static void read_options(lua_State *L, int i, resql_options *opts, int logger, ldb *owner)
{
    lua_getfield(L, i, "extra_json");
    if (lua_type(L, -1) == LUA_TSTRING && resql_options_set_extra_json(opts, lua_tostring(L, -1)) != RESQL_OK)
        lcore_raise(L, "%s", resql_errmsg(NULL));
    lua_getfield(L, i, "extra_fn");
    if (lua_type(L, -1) == LUA_TFUNCTION)
        resql_options_set_extra_callback(opts, lcore_extra_trampoline, lcore_callback_new(L, -1, logger, owner),
                                         lcore_callback_destroy);
    lua_getfield(L, i, "clock");
    if (lua_type(L, -1) == LUA_TFUNCTION)
        resql_options_set_clock(opts, lcore_clock_trampoline, lcore_callback_new(L, -1, logger, owner), lcore_callback_destroy);
    static const char *const lists[] = {"tables", "exclude"};
    for (int k = 0; k < 2; k++) {
        lua_getfield(L, i, lists[k]);
        if (lua_type(L, -1) == LUA_TTABLE) {
            for (int j = 1; j <= (int)lua_rawlen(L, -1); j++) {
                lua_rawgeti(L, -1, j);
                const char *name = lua_tostring(L, -1);
                if (!name) lcore_raise(L, "resql: %s must be a list of table names", lists[k]);
                if (k == 0) resql_options_include_table(opts, name);
                else resql_options_exclude_table(opts, name);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, i, "include_reads");
    resql_options_include_reads(opts, lua_toboolean(L, -1));
    lua_getfield(L, i, "drop_rollbacks");
    resql_options_drop_rollbacks(opts, lua_toboolean(L, -1));
    lua_getfield(L, i, "busy_timeout");
    if (lua_type(L, -1) == LUA_TNUMBER) resql_options_set_busy_timeout(opts, (int)lua_tointeger(L, -1));
    lua_pop(L, 6);
}

/* resql.core.log(kind, db, to, options) -> logger | nil, message, code.
 * kind is "changes" or "queries"; `to` a path or nil; options as the Lua
 * side prepared them (extra_json, extra_fn, clock, tables, exclude, ...). */
static int l_log(lua_State *L)
{
    const char *kind = lcore_check_string(L, 1, 0, "log", NULL);
    ldb *d = lcore_check_db(L, 2);
    const char *to = lua_isnil(L, 3) ? NULL : lcore_check_string(L, 3, 0, "log", NULL);
    if (lua_type(L, 4) != LUA_TTABLE) lcore_bad_argument(L, 4, 0, "log", "table");
    int changes = strcmp(kind, "changes") == 0;

    /* The options live in a userdata with __gc, so a raise below frees them. */
    resql_options **box = lua_newuserdata(L, sizeof *box);
    *box = NULL;
    luaL_setmetatable(L, OPTIONS_MT);
    if (resql_options_new(box) != RESQL_OK) return lcore_raise(L, "resql: out of memory");
    resql_options *opts = *box;
    llogger *g = lua_newuserdata(L, sizeof *g);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, LOGGER_MT);
    read_options(L, 4, opts, lua_gettop(L), d);
    resql_logger *logger = NULL;
    int rc = changes ? resql_log_changes(d->db, to, opts, &logger)
                     : resql_log_queries(d->db, to, opts, &logger);
    resql_options_free(opts);
    *box = NULL;
    if (rc != RESQL_OK) {
        if (rc == RESQL_MISUSE) return lcore_raise(L, "%s", resql_errmsg(NULL));
        return lcore_logger_failure(L, NULL, rc);
    }
    g->logger = logger;
    g->owner = d;
    lua_pushvalue(L, 2);
    g->owner_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    g->next = d->loggers;
    if (d->loggers) d->loggers->prev = g;
    d->loggers = g;
    return 1;
}

/* logger:set_extra(json_or_nil, fn_or_nil) -- the Lua side encodes tables. */
static int logger_set_extra(lua_State *L)
{
    llogger *g = check_logger(L, 1);
    int rc;
    if (lua_type(L, 3) == LUA_TFUNCTION)
        rc = resql_logger_set_extra_callback(g->logger, lcore_extra_trampoline, lcore_callback_new(L, 3, 1, g->owner),
                                             lcore_callback_destroy);
    else
        rc = resql_logger_set_extra_json(g->logger, lua_isnil(L, 2) ? NULL : lcore_check_string(L, 2, 1, "set_extra", NULL));
    if (rc != RESQL_OK) return lcore_raise(L, "%s", resql_errmsg(g->logger));
    lua_settop(L, 1);
    return 1;
}

static int logger_close(lua_State *L)
{
    llogger *g = lcore_check_self(L, LOGGER_MT, __func__, "logger");
    if (g->logger) {
        int rc = resql_logger_close(g->logger);
        if (rc == RESQL_MISUSE) return lcore_raise(L, "%s", resql_errmsg(g->logger));
        if (rc != RESQL_OK) return lcore_logger_failure(L, g->logger, rc);
        lcore_close_logger(L, g);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* __gc: a logger dropped without close() is closed however it can be. */
int lcore_logger_gc(lua_State *L)
{
    llogger *g = lcore_check_self(L, LOGGER_MT, __func__, "logger");
    lcore_close_logger(L, g);
    return 0;
}

static int logger_is_open(lua_State *L)
{
    llogger *g = lcore_check_self(L, LOGGER_MT, __func__, "logger");
    lua_pushboolean(L, g->logger != NULL);
    return 1;
}

int lcore_logger_tostring(lua_State *L)
{
    llogger *g = lcore_check_self(L, LOGGER_MT, __func__, "logger");
    lua_pushstring(L, g->logger ? "resql.logger" : "resql.logger (closed)");
    return 1;
}

static int options_gc(lua_State *L)
{
    resql_options **box = lua_touserdata(L, 1);
    resql_options_free(*box);
    *box = NULL;
    return 0;
}

const luaL_Reg lcore_logger_methods[] = {
    {"set_extra_raw", logger_set_extra},
    {"close", logger_close},
    {"is_open", logger_is_open},
    {NULL, NULL},
};

const luaL_Reg lcore_logger_functions[] = {
    {"log", l_log},
    {NULL, NULL},
};

void lcore_logger_init(lua_State *L)
{
    lcore_box_class(L, OPTIONS_MT, options_gc);
}
