/* What the files of resql.core (the C half of the Lua module) share. */
#ifndef RESQL_LCORE_H
#define RESQL_LCORE_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#include "resql.h"
#include "value_json.h"

#if defined(__GNUC__)
#  define EXPORT __attribute__((visibility("default")))
#else
#  define EXPORT
#endif

/* Metatables in the registry. */
#define DB_MT "resql.db"
#define STMT_MT "resql.stmt"
#define LOGGER_MT "resql.logger"
#define BLOB_MT "resql.blob"          /* resql.blob(s): binds as a BLOB */
#define OPTIONS_MT "resql.options"    /* a resql_options* box, freed by __gc */
#define BUFFER_MT "resql.buffer"      /* a resql_buf box, freed by __gc */

typedef struct lstmt lstmt;
typedef struct llogger llogger;

/* A connection. Statements and loggers made on it are linked here, so that
 * closing it closes them first; each of them holds a registry reference to
 * the connection's userdata, so the connection outlives them. */
typedef struct ldb {
    sqlite3 *db;            /* NULL once closed */
    int owned;              /* opened by resql.open (else borrowed through resql.wrap) */
    int in_callback;        /* a resql callback (extra, clock) of this connection is running */
    lstmt *stmts;
    llogger *loggers;
} ldb;

struct lstmt {
    sqlite3_stmt *stmt;     /* NULL once finalized */
    int stepping;           /* inside sqlite3_step: a callback must not finalize it */
    ldb *owner;
    int owner_ref;
    lstmt *prev, *next;
};

struct llogger {
    resql_logger *logger;   /* NULL once closed */
    ldb *owner;
    int owner_ref;
    llogger *prev, *next;
};

/* errors.c: misuse raises "resql: ..."; failures return nil, message, code. */
int lcore_raise(lua_State *L, const char *fmt, ...);
int lcore_bad_argument(lua_State *L, int i, int method, const char *fn, const char *expected);
const char *lcore_check_string(lua_State *L, int i, int method, const char *fn, size_t *n);
void *lcore_check_object(lua_State *L, int i, const char *mt, const char *what);
void *lcore_check_self(lua_State *L, const char *mt, const char *fn, const char *what);
int lcore_db_failure(lua_State *L, sqlite3 *db);
int lcore_logger_failure(lua_State *L, resql_logger *logger, int rc);

/* values.c */
int lcore_is_blob(lua_State *L, int i);
void lcore_push_value(lua_State *L, sqlite3_value *v);
#define BIND_MISUSE (-1)    /* lcore_bind_all: misuse, with the message pushed */
int lcore_bind_all(lua_State *L, sqlite3_stmt *stmt, int first);

/* codec.c */
extern const luaL_Reg lcore_codec_functions[];
void lcore_codec_init(lua_State *L);

/* connection.c */
ldb *lcore_check_db(lua_State *L, int i);
extern const luaL_Reg lcore_connection_functions[];
extern const luaL_Reg lcore_db_methods[];
int lcore_db_gc(lua_State *L);
int lcore_db_tostring(lua_State *L);
void lcore_connection_init(lua_State *L);

/* statement.c */
int lcore_db_prepare(lua_State *L);
void lcore_finalize_stmt(lua_State *L, lstmt *s);
extern const luaL_Reg lcore_stmt_methods[];
int lcore_stmt_gc(lua_State *L);
int lcore_stmt_tostring(lua_State *L);

/* callback.c: Lua functions the C core calls (extra, clock). */
typedef struct lua_callback lua_callback;
lua_callback *lcore_callback_new(lua_State *L, int fn, int logger, ldb *owner);
void lcore_callback_destroy(void *ctx);
void lcore_extra_trampoline(resql_extra_result *result, void *ctx);
sqlite3_int64 lcore_clock_trampoline(void *ctx);
void lcore_callback_init(lua_State *L);

/* logger.c */
void lcore_close_logger(lua_State *L, llogger *g);
extern const luaL_Reg lcore_logger_functions[];
extern const luaL_Reg lcore_logger_methods[];
int lcore_logger_gc(lua_State *L);
int lcore_logger_tostring(lua_State *L);
void lcore_logger_init(lua_State *L);

/* module.c */
void lcore_weak_table(lua_State *L, const char *name);
void lcore_box_class(lua_State *L, const char *name, lua_CFunction gc);

#endif
