/* resql.core: the C half of the Lua module. Thin on purpose: userdata for
 * connections, statements and loggers, argument checks, callbacks into Lua,
 * and the value codec. The friendly API is lua/resql.lua.
 *
 * Errors: misuse raises "resql: ..."; database failures return
 * nil, message, code. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "resql.h"
#include "value_json.h"

#if defined(__GNUC__)
#  define EXPORT __attribute__((visibility("default")))
#else
#  define EXPORT
#endif

#define DB_MT "resql.db"
#define STMT_MT "resql.stmt"
#define LOGGER_MT "resql.logger"
#define BLOB_MT "resql.blob"
#define OPTIONS_MT "resql.options"

typedef struct lstmt lstmt;
typedef struct llogger llogger;

/* A connection. Statements and loggers made on it are linked here, so that
 * closing it closes them first; each of them holds a registry reference to
 * the connection's userdata, so the connection outlives them. */
typedef struct ldb {
    sqlite3 *db;            /* NULL once closed */
    int owned;              /* opened by resql.open (else borrowed through resql.wrap) */
    lstmt *stmts;
    llogger *loggers;
} ldb;

struct lstmt {
    sqlite3_stmt *stmt;     /* NULL once finalized */
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

/* ---- errors ------------------------------------------------------------------ */

/* Raises "resql: ..." as is: messages start with "resql:", with no position
 * in front (luaL_error would add one). */
static int raise(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

/* Argument checks that raise "resql: bad argument #N to 'fn' (...)". For
 * methods, #1 is the first argument after self, as in Lua's own messages. */
static int bad_argument(lua_State *L, int i, int method, const char *fn, const char *expected)
{
    return raise(L, "resql: bad argument #%d to '%s' (%s expected, got %s)", method ? i - 1 : i, fn,
                 expected, luaL_typename(L, i));
}

static const char *check_string(lua_State *L, int i, int method, const char *fn, size_t *n)
{
    if (lua_type(L, i) != LUA_TSTRING) bad_argument(L, i, method, fn, "string");
    return lua_tolstring(L, i, n);
}

static void *check_self(lua_State *L, const char *mt, const char *fn, const char *what)
{
    void *p = luaL_testudata(L, 1, mt);
    const char *method = strchr(fn, '_');          /* db_close -> close */
    if (!p) raise(L, "resql: '%s' called on a %s, not a %s", method ? method + 1 : fn, luaL_typename(L, 1), what);
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
static int db_failure(lua_State *L, sqlite3 *db)
{
    lua_pushnil(L);
    lua_pushstring(L, errmsg_of(db));
    lua_pushinteger(L, sqlite3_extended_errcode(db));
    return 3;
}

static int logger_failure(lua_State *L, resql_logger *logger, int rc)
{
    lua_pushnil(L);
    lua_pushstring(L, resql_errmsg(logger));
    lua_pushinteger(L, rc);
    return 3;
}

/* ---- values --------------------------------------------------------------------- */

static int is_blob(lua_State *L, int i)
{
    if (lua_type(L, i) != LUA_TTABLE || !lua_getmetatable(L, i)) return 0;
    luaL_getmetatable(L, BLOB_MT);
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

static void push_value(lua_State *L, sqlite3_value *v)
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

static void push_resql_value(lua_State *L, const resql_value *v)
{
    switch (v->type) {
    case SQLITE_INTEGER: lua_pushinteger(L, (lua_Integer)v->i); break;
    case SQLITE_FLOAT: lua_pushnumber(L, v->r); break;
    case SQLITE_TEXT:
    case SQLITE_BLOB: lua_pushlstring(L, v->bytes ? (const char *)v->bytes : "", v->n); break;
    default: lua_pushnil(L);
    }
}

/* Binding reports misuse without raising, so the caller can finalize a
 * statement it made first: BIND_MISUSE with the message pushed. */
#define BIND_MISUSE (-1)

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
    case LUA_TNIL:
    case LUA_TNONE: return resql_bind_null(stmt, index);
    case LUA_TBOOLEAN: return resql_bind_int64(stmt, index, lua_toboolean(L, i));
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) return resql_bind_int64(stmt, index, (sqlite3_int64)lua_tointeger(L, i));
        return resql_bind_double(stmt, index, (double)lua_tonumber(L, i));
    case LUA_TSTRING:
        s = lua_tolstring(L, i, &n);
        return resql_bind_text(stmt, index, s, (int)n, SQLITE_TRANSIENT);
    case LUA_TTABLE:
        if (is_blob(L, i)) {
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
static int bind_all(lua_State *L, sqlite3_stmt *stmt, int first)
{
    int top = lua_gettop(L), count = sqlite3_bind_parameter_count(stmt);
    if (top == first && lua_type(L, first) == LUA_TTABLE && !is_blob(L, first)) {
        lua_pushnil(L);
        while (lua_next(L, first)) {
            int index = 0;
            if (lua_type(L, -2) == LUA_TNUMBER) {
                index = (int)lua_tointeger(L, -2);
            } else if (lua_type(L, -2) == LUA_TSTRING) {
                const char *name = lua_tostring(L, -2);
                index = sqlite3_bind_parameter_index(stmt, name);
                for (const char *p = ":@$"; !index && *p; p++) {
                    char prefixed[256];
                    snprintf(prefixed, sizeof prefixed, "%c%s", *p, name);
                    index = sqlite3_bind_parameter_index(stmt, prefixed);
                }
                if (!index) return bind_misuse(L, "resql: no parameter named '%s'", name);
            }
            if (index < 1 || index > count)
                return bind_misuse(L, "resql: no parameter %d (the statement has %d)", index, count);
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

/* ---- JSON: the lossless codec, with resql's own decoder for the scalars ------ */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The end of the JSON string starting at p (on its opening quote). */
static const char *string_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return NULL;
}

static const char *decode(lua_State *L, const char *p, const char *end, resql_buf *scratch, int depth);

/* {"$blob": "..."} or {"$text": "..."}: one of resql's typed values? */
static const char *typed_object_end(const char *p, const char *end)
{
    const char *q = skip_ws(p + 1, end);
    if (q >= end || *q != '"') return NULL;
    const char *key_end = string_end(q, end);
    if (!key_end || (key_end - q != 7) || (strncmp(q, "\"$blob\"", 7) && strncmp(q, "\"$text\"", 7)))
        return NULL;
    q = skip_ws(key_end, end);
    if (q >= end || *q != ':') return NULL;
    q = skip_ws(q + 1, end);
    if (q >= end || *q != '"') return NULL;
    q = string_end(q, end);
    if (!q) return NULL;
    q = skip_ws(q, end);
    return q < end && *q == '}' ? q + 1 : NULL;
}

static const char *decode_scalar(lua_State *L, const char *p, const char *stop, resql_buf *scratch)
{
    resql_value v;
    const char *why = NULL;
    if (resql__json_decode_value(p, (size_t)(stop - p), &v, scratch, &why) != 0) return NULL;
    push_resql_value(L, &v);
    return stop;
}

static const char *decode(lua_State *L, const char *p, const char *end, resql_buf *scratch, int depth)
{
    p = skip_ws(p, end);
    if (p >= end || depth > 200) return NULL;
    luaL_checkstack(L, 4, "resql: JSON too deep");
    if (*p == '"') {
        const char *q = string_end(p, end);
        return q ? decode_scalar(L, p, q, scratch) : NULL;
    }
    if (*p == '{') {
        const char *typed = typed_object_end(p, end);
        if (typed) return decode_scalar(L, p, typed, scratch);
        lua_newtable(L);
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}') return p + 1;
        for (;;) {
            p = skip_ws(p, end);
            const char *key_end = p < end && *p == '"' ? string_end(p, end) : NULL;
            if (!key_end || !decode_scalar(L, p, key_end, scratch)) return NULL;
            p = skip_ws(key_end, end);
            if (p >= end || *p != ':') return NULL;
            if (!(p = decode(L, p + 1, end, scratch, depth + 1))) return NULL;
            lua_rawset(L, -3);
            p = skip_ws(p, end);
            if (p < end && *p == ',') { p++; continue; }
            return p < end && *p == '}' ? p + 1 : NULL;
        }
    }
    if (*p == '[') {
        lua_newtable(L);
        int n = 0;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') p++;
        else for (;;) {
            if (!(p = decode(L, p, end, scratch, depth + 1))) return NULL;
            lua_rawseti(L, -2, ++n);
            p = skip_ws(p, end);
            if (p < end && *p == ',') { p++; continue; }
            if (p < end && *p == ']') { p++; break; }
            return NULL;
        }
        lua_pushinteger(L, n);
        lua_setfield(L, -2, "n");
        return p;
    }
    if (end - p >= 4 && !strncmp(p, "true", 4)) { lua_pushboolean(L, 1); return p + 4; }
    if (end - p >= 5 && !strncmp(p, "false", 5)) { lua_pushboolean(L, 0); return p + 5; }
    const char *q = p;                      /* null or a number */
    while (q < end && (strchr("+-.eE", *q) || (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z'))) q++;
    return decode_scalar(L, p, q, scratch);
}

/* resql.core.decode(json) -> value; raises on malformed JSON. */
static int l_decode(lua_State *L)
{
    size_t n;
    const char *json = check_string(L, 1, 0, "decode", &n);
    resql_buf scratch;
    resql__buf_init(&scratch);
    const char *end = decode(L, json, json + n, &scratch, 0);
    resql__buf_free(&scratch);
    if (!end || skip_ws(end, json + n) != json + n) return raise(L, "resql: malformed JSON");
    return 1;
}

static void encode_value(lua_State *L, int i, resql_buf *out)
{
    resql_value v = {SQLITE_NULL, 0, 0, NULL, 0};
    size_t n;
    switch (lua_type(L, i)) {
    case LUA_TBOOLEAN: v.type = SQLITE_INTEGER; v.i = lua_toboolean(L, i); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) { v.type = SQLITE_INTEGER; v.i = (sqlite3_int64)lua_tointeger(L, i); }
        else { v.type = SQLITE_FLOAT; v.r = (double)lua_tonumber(L, i); }
        break;
    case LUA_TSTRING:
        v.type = SQLITE_TEXT;
        v.bytes = (const unsigned char *)lua_tolstring(L, i, &n);
        v.n = n;
        break;
    case LUA_TTABLE:
        if (is_blob(L, i)) {
            lua_rawgeti(L, i, 1);
            v.type = SQLITE_BLOB;
            v.bytes = (const unsigned char *)lua_tolstring(L, -1, &n);
            v.n = n;
            resql__json_value(out, &v);
            lua_pop(L, 1);
            return;
        }
        /* a list of values: a composite key */
        resql__buf_putc(out, '[');
        for (int k = 1; k <= (int)lua_rawlen(L, i); k++) {
            if (k > 1) resql__buf_putc(out, ',');
            lua_rawgeti(L, i, k);
            if (lua_type(L, -1) == LUA_TTABLE && !is_blob(L, -1))
                raise(L, "resql: encode: nested tables are not values");
            encode_value(L, lua_gettop(L), out);
            lua_pop(L, 1);
        }
        resql__buf_putc(out, ']');
        return;
    case LUA_TNIL: break;
    default: raise(L, "resql: encode: cannot encode a %s", luaL_typename(L, i));
    }
    resql__json_value(out, &v);
}

/* resql.core.encode(value) -> JSON text, as the logs write it. */
static int l_encode(lua_State *L)
{
    resql_buf out;
    resql__buf_init(&out);
    encode_value(L, 1, &out);        /* may raise: only then is `out` lost (small) */
    lua_pushlstring(L, out.data ? out.data : "", out.len);
    resql__buf_free(&out);
    return 1;
}

/* resql.core.blob(s) -> a value that binds as a BLOB. */
static int l_blob(lua_State *L)
{
    check_string(L, 1, 0, "blob", NULL);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    luaL_setmetatable(L, BLOB_MT);
    return 1;
}

/* ---- connections -------------------------------------------------------------- */

static ldb *check_db(lua_State *L, int i)
{
    ldb *d = luaL_testudata(L, i, DB_MT);
    if (!d) raise(L, "resql: bad argument #%d (connection expected, got %s)", i, luaL_typename(L, i));
    if (!d->db) raise(L, "resql: the connection is closed");
    return d;
}

static ldb *new_db(lua_State *L, sqlite3 *db, int owned)
{
    ldb *d = lua_newuserdata(L, sizeof *d);
    memset(d, 0, sizeof *d);
    d->db = db;
    d->owned = owned;
    luaL_setmetatable(L, DB_MT);
    return d;
}

/* resql.core.open(path, readonly) -> db | nil, message, code */
static int l_open(lua_State *L)
{
    const char *path = check_string(L, 1, 0, "open", NULL);
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

/* resql.core.wrap(ptr) -> db, borrowing a sqlite3* that resql never closes. */
static int l_wrap(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TLIGHTUSERDATA || !lua_touserdata(L, 1))
        return raise(L, "resql: wrap: expected a sqlite3* as light userdata, got %s", luaL_typename(L, 1));
    new_db(L, lua_touserdata(L, 1), 0);
    return 1;
}

static void close_logger(lua_State *L, llogger *g);
static void finalize_stmt(lua_State *L, lstmt *s);

static int db_close(lua_State *L)
{
    ldb *d = check_self(L, DB_MT, __func__, "connection");
    if (!d->db) {
        lua_pushboolean(L, 1);
        return 1;
    }
    while (d->loggers) close_logger(L, d->loggers);
    while (d->stmts) finalize_stmt(L, d->stmts);
    if (d->owned) sqlite3_close_v2(d->db);      /* _v2: also on a garbage-collected path */
    d->db = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

static int db_is_open(lua_State *L)
{
    ldb *d = check_self(L, DB_MT, __func__, "connection");
    lua_pushboolean(L, d->db != NULL);
    return 1;
}

static int db_tostring(lua_State *L)
{
    ldb *d = check_self(L, DB_MT, __func__, "connection");
    if (d->db) lua_pushfstring(L, "resql.db (%s)", sqlite3_db_filename(d->db, "main"));
    else lua_pushstring(L, "resql.db (closed)");
    return 1;
}

/* db:exec(sql, ...) -> true | nil, message, code */
static int db_exec(lua_State *L)
{
    ldb *d = check_db(L, 1);
    const char *sql = check_string(L, 2, 1, "exec", NULL);
    int with_params = lua_gettop(L) > 2;
    while (*sql) {
        sqlite3_stmt *stmt = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(d->db, sql, -1, &stmt, &tail) != SQLITE_OK) return db_failure(L, d->db);
        if (!stmt) break;                               /* only comments or spaces left */
        if (with_params) {
            sqlite3_stmt *next = NULL;
            if (sqlite3_prepare_v2(d->db, tail, -1, &next, NULL) == SQLITE_OK && next) {
                sqlite3_finalize(next);
                sqlite3_finalize(stmt);
                return raise(L, "resql: exec with parameters takes one statement");
            }
            int rc = bind_all(L, stmt, 3);
            if (rc != SQLITE_OK) {
                int n = rc == BIND_MISUSE ? 0 : db_failure(L, d->db);
                sqlite3_finalize(stmt);
                return rc == BIND_MISUSE ? lua_error(L) : n;
            }
        }
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE) {
            /* The message belongs to the statement until it is finalized. */
            int n = db_failure(L, d->db);
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
    lua_pushinteger(L, (lua_Integer)sqlite3_last_insert_rowid(check_db(L, 1)->db));
    return 1;
}

static int db_changes(lua_State *L)
{
    lua_pushinteger(L, sqlite3_changes(check_db(L, 1)->db));
    return 1;
}

static int db_total_changes(lua_State *L)
{
    lua_pushinteger(L, sqlite3_total_changes(check_db(L, 1)->db));
    return 1;
}

static int db_in_transaction(lua_State *L)
{
    lua_pushboolean(L, !sqlite3_get_autocommit(check_db(L, 1)->db));
    return 1;
}

static int db_get_ptr(lua_State *L)
{
    lua_pushlightuserdata(L, check_db(L, 1)->db);
    return 1;
}

static int db_filename(lua_State *L)
{
    const char *name = sqlite3_db_filename(check_db(L, 1)->db, "main");
    lua_pushstring(L, name ? name : "");
    return 1;
}

/* ---- statements ----------------------------------------------------------------- */

static void finalize_stmt(lua_State *L, lstmt *s)
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
    lstmt *s = luaL_testudata(L, i, STMT_MT);
    if (!s) raise(L, "resql: bad argument #%d (statement expected, got %s)", i, luaL_typename(L, i));
    if (!s->stmt) raise(L, "resql: the statement is finalized");
    return s;
}

/* db:prepare(sql) -> stmt | nil, message, code */
static int db_prepare(lua_State *L)
{
    ldb *d = check_db(L, 1);
    const char *sql = check_string(L, 2, 1, "prepare", NULL);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &stmt, NULL) != SQLITE_OK) return db_failure(L, d->db);
    if (!stmt) return raise(L, "resql: prepare: no statement in the SQL text");
    lstmt *s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    s->stmt = stmt;
    s->owner = d;
    lua_pushvalue(L, 1);
    s->owner_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->next = d->stmts;
    if (d->stmts) d->stmts->prev = s;
    d->stmts = s;
    luaL_setmetatable(L, STMT_MT);
    return 1;
}

static int stmt_bind(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int rc = bind_all(L, s->stmt, 2);
    if (rc == BIND_MISUSE) return lua_error(L);
    if (rc != SQLITE_OK) return db_failure(L, s->owner->db);
    lua_settop(L, 1);
    return 1;
}

/* stmt:step() -> true (a row) | false (done) | nil, message, code */
static int stmt_step(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int rc = sqlite3_step(s->stmt);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        lua_pushboolean(L, rc == SQLITE_ROW);
        return 1;
    }
    int n = db_failure(L, s->owner->db);
    sqlite3_reset(s->stmt);
    return n;
}

static int stmt_row(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int n = sqlite3_data_count(s->stmt);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        push_value(L, sqlite3_column_value(s->stmt, i));
        lua_setfield(L, -2, sqlite3_column_name(s->stmt, i));
    }
    return 1;
}

static int stmt_values(lua_State *L)
{
    lstmt *s = check_stmt(L, 1);
    int n = sqlite3_data_count(s->stmt);
    luaL_checkstack(L, n, "resql: too many columns");
    for (int i = 0; i < n; i++) push_value(L, sqlite3_column_value(s->stmt, i));
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
    lstmt *s = check_self(L, STMT_MT, __func__, "statement");
    finalize_stmt(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

static int stmt_tostring(lua_State *L)
{
    lstmt *s = check_self(L, STMT_MT, __func__, "statement");
    lua_pushfstring(L, "resql.stmt (%s)", s->stmt ? sqlite3_sql(s->stmt) : "finalized");
    return 1;
}

/* ---- callbacks into Lua ------------------------------------------------------------ */

/* A Lua function that C calls later, on the main thread (never on the
 * coroutine that happened to create it, which may be dead by then). */
typedef struct lua_callback {
    lua_State *L;
    int ref;
} lua_callback;

static lua_State *main_thread(lua_State *L)
{
#if LUA_VERSION_NUM >= 502
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main;
#else
    lua_getfield(L, LUA_REGISTRYINDEX, "resql.main_thread");
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main ? main : L;
#endif
}

static lua_callback *callback_new(lua_State *L, int i)
{
    lua_callback *cb = malloc(sizeof *cb);
    if (!cb) raise(L, "resql: out of memory");
    cb->L = main_thread(L);
    lua_pushvalue(L, i);
    cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return cb;
}

static void callback_destroy(void *ctx)
{
    lua_callback *cb = ctx;
    luaL_unref(cb->L, LUA_REGISTRYINDEX, cb->ref);
    free(cb);
}

/* The Lua side (resql.lua) gives a function that returns the JSON text of
 * the extra object, or nil, or raises. */
static void extra_trampoline(resql_extra_result *result, void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    if (lua_pcall(L, 0, 1, 0) != 0) {
        const char *msg = lua_tostring(L, -1);
        resql_extra_error(result, msg ? msg : "(error object is not a string)");
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        resql_extra_json(result, lua_tostring(L, -1));
    } else if (!lua_isnil(L, -1)) {
        resql_extra_error(result, "the extra function must return a table or nil");
    }
    lua_settop(L, top);
}

static sqlite3_int64 clock_trampoline(void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    sqlite3_int64 now = 0;
    if (lua_pcall(L, 0, 1, 0) == 0) now = (sqlite3_int64)lua_tonumber(L, -1);
    lua_settop(L, top);
    return now;
}

/* ---- loggers ------------------------------------------------------------------------ */

static void close_logger(lua_State *L, llogger *g)
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
    llogger *g = luaL_testudata(L, i, LOGGER_MT);
    if (!g) raise(L, "resql: bad argument #%d (logger expected, got %s)", i, luaL_typename(L, i));
    if (!g->logger) raise(L, "resql: the logger is closed");
    return g;
}

/* Reads the options table at index i into opts (raises on bad input). */
static void read_options(lua_State *L, int i, resql_options *opts)
{
    lua_getfield(L, i, "extra_json");
    if (lua_type(L, -1) == LUA_TSTRING && resql_options_set_extra_json(opts, lua_tostring(L, -1)) != RESQL_OK)
        raise(L, "%s", resql_errmsg(NULL));
    lua_getfield(L, i, "extra_fn");
    if (lua_type(L, -1) == LUA_TFUNCTION)
        resql_options_set_extra_callback(opts, extra_trampoline, callback_new(L, -1), callback_destroy);
    lua_getfield(L, i, "clock");
    if (lua_type(L, -1) == LUA_TFUNCTION)
        resql_options_set_clock(opts, clock_trampoline, callback_new(L, -1), callback_destroy);
    static const char *const lists[] = {"tables", "exclude"};
    for (int k = 0; k < 2; k++) {
        lua_getfield(L, i, lists[k]);
        if (lua_type(L, -1) == LUA_TTABLE) {
            for (int j = 1; j <= (int)lua_rawlen(L, -1); j++) {
                lua_rawgeti(L, -1, j);
                const char *name = lua_tostring(L, -1);
                if (!name) raise(L, "resql: %s must be a list of table names", lists[k]);
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
    const char *kind = check_string(L, 1, 0, "log", NULL);
    ldb *d = check_db(L, 2);
    const char *to = lua_isnil(L, 3) ? NULL : check_string(L, 3, 0, "log", NULL);
    if (lua_type(L, 4) != LUA_TTABLE) bad_argument(L, 4, 0, "log", "table");
    int changes = strcmp(kind, "changes") == 0;

    /* The options live in a userdata with __gc, so a raise below frees them. */
    resql_options **box = lua_newuserdata(L, sizeof *box);
    *box = NULL;
    luaL_setmetatable(L, OPTIONS_MT);
    if (resql_options_new(box) != RESQL_OK) return raise(L, "resql: out of memory");
    resql_options *opts = *box;
    llogger *g = lua_newuserdata(L, sizeof *g);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, LOGGER_MT);
    read_options(L, 4, opts);
    resql_logger *logger = NULL;
    int rc = changes ? resql_log_changes(d->db, to, opts, &logger)
                     : resql_log_queries(d->db, to, opts, &logger);
    resql_options_free(opts);
    *box = NULL;
    if (rc != RESQL_OK) {
        if (rc == RESQL_MISUSE) return raise(L, "%s", resql_errmsg(NULL));
        return logger_failure(L, NULL, rc);
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
        rc = resql_logger_set_extra_callback(g->logger, extra_trampoline, callback_new(L, 3), callback_destroy);
    else
        rc = resql_logger_set_extra_json(g->logger, lua_isnil(L, 2) ? NULL : check_string(L, 2, 1, "set_extra", NULL));
    if (rc != RESQL_OK) return raise(L, "%s", resql_errmsg(g->logger));
    lua_settop(L, 1);
    return 1;
}

static int logger_close(lua_State *L)
{
    llogger *g = check_self(L, LOGGER_MT, __func__, "logger");
    if (g->logger) {
        int rc = resql_logger_close(g->logger);
        if (rc == RESQL_MISUSE) return raise(L, "%s", resql_errmsg(g->logger));
        if (rc != RESQL_OK) return logger_failure(L, g->logger, rc);
        close_logger(L, g);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* __gc: a logger dropped without close() is closed however it can be. */
static int logger_gc(lua_State *L)
{
    llogger *g = check_self(L, LOGGER_MT, __func__, "logger");
    close_logger(L, g);
    return 0;
}

static int logger_is_open(lua_State *L)
{
    llogger *g = check_self(L, LOGGER_MT, __func__, "logger");
    lua_pushboolean(L, g->logger != NULL);
    return 1;
}

static int logger_errmsg(lua_State *L)
{
    llogger *g = check_self(L, LOGGER_MT, __func__, "logger");
    lua_pushstring(L, resql_errmsg(g->logger));
    return 1;
}

static int logger_tostring(lua_State *L)
{
    llogger *g = check_self(L, LOGGER_MT, __func__, "logger");
    lua_pushstring(L, g->logger ? "resql.logger" : "resql.logger (closed)");
    return 1;
}

/* ---- the module ------------------------------------------------------------------- */

static int options_gc(lua_State *L)
{
    resql_options **box = lua_touserdata(L, 1);
    resql_options_free(*box);
    *box = NULL;
    return 0;
}

static int stmt_gc(lua_State *L)
{
    lstmt *s = check_self(L, STMT_MT, __func__, "statement");
    finalize_stmt(L, s);
    return 0;
}

static const luaL_Reg db_methods[] = {
    {"exec", db_exec},
    {"prepare", db_prepare},
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

static const luaL_Reg stmt_methods[] = {
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

static const luaL_Reg logger_methods[] = {
    {"set_extra_raw", logger_set_extra},
    {"close", logger_close},
    {"is_open", logger_is_open},
    {"errmsg", logger_errmsg},
    {NULL, NULL},
};

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

static int db_gc(lua_State *L)
{
    db_close(L);
    return 0;
}

EXPORT int luaopen_resql_core(lua_State *L);
EXPORT int luaopen_resql_core(lua_State *L)
{
#if LUA_VERSION_NUM < 502
    if (lua_pushthread(L)) lua_setfield(L, LUA_REGISTRYINDEX, "resql.main_thread");
    else lua_pop(L, 1);
#endif
    luaL_newmetatable(L, BLOB_MT);
    lua_pop(L, 1);
    luaL_newmetatable(L, OPTIONS_MT);
    lua_pushcfunction(L, options_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    lua_newtable(L);
    static const luaL_Reg functions[] = {
        {"open", l_open}, {"wrap", l_wrap}, {"log", l_log},
        {"encode", l_encode}, {"decode", l_decode}, {"blob", l_blob},
        {NULL, NULL},
    };
    luaL_setfuncs(L, functions, 0);
    new_class(L, DB_MT, db_methods, db_gc, db_tostring);
    lua_setfield(L, -2, "db_methods");
    new_class(L, STMT_MT, stmt_methods, stmt_gc, stmt_tostring);
    lua_setfield(L, -2, "stmt_methods");
    new_class(L, LOGGER_MT, logger_methods, logger_gc, logger_tostring);
    lua_setfield(L, -2, "logger_methods");
    lua_pushstring(L, resql_version());
    lua_setfield(L, -2, "version");
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "sqlite_version");
    return 1;
}
