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
#include <time.h>

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
#define BUFFER_MT "resql.buffer"

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

/* A string argument; SQL text, paths and names must not hold a NUL byte
 * (SQLite would silently stop reading there). */
static const char *check_string(lua_State *L, int i, int method, const char *fn, size_t *n)
{
    size_t len;
    if (lua_type(L, i) != LUA_TSTRING) bad_argument(L, i, method, fn, "string");
    const char *s = lua_tolstring(L, i, &len);
    if (!n && strlen(s) != len)
        raise(L, "resql: bad argument #%d to '%s' (a NUL byte in the text)", method ? i - 1 : i, fn);
    if (n) *n = len;
    return s;
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

static resql_buf *new_buffer(lua_State *L);

/* resql.core.decode(json) -> value; raises on malformed JSON. */
static int l_decode(lua_State *L)
{
    size_t n;
    const char *json = check_string(L, 1, 0, "decode", &n);
    resql_buf *scratch = new_buffer(L);             /* freed by __gc, also on a raise */
    const char *end = decode(L, json, json + n, scratch, 0);
    if (!end || skip_ws(end, json + n) != json + n) return raise(L, "resql: malformed JSON");
    return 1;
}

/* Encoding Lua values as JSON, losslessly (REALs shortest, 64-bit integers
 * exact). Two flavours: VALUES, as SQLite sees them (true is 1, a list is a
 * composite key), and OBJECTS, for `extra` (true is true, NaN refused). */
enum { AS_VALUE, AS_OBJECT };
#define MAX_DEPTH 64

/* The buffer lives in a userdata with __gc, so a raise frees it. */
static resql_buf *new_buffer(lua_State *L)
{
    resql_buf *b = lua_newuserdata(L, sizeof *b);
    resql__buf_init(b);
    luaL_setmetatable(L, BUFFER_MT);
    return b;
}

static int buffer_gc(lua_State *L)
{
    resql__buf_free(lua_touserdata(L, 1));
    return 0;
}

/* The length of the table at i if it is a list (keys 1..n), else -1. For
 * values, a field n gives the length, as in lists resql.decode makes (which
 * may hold nils); in objects "n" is just a key. */
static int list_length(lua_State *L, int i, int mode)
{
    int has_n = 0;
    if (mode == AS_VALUE) {
        lua_getfield(L, i, "n");
        has_n = lua_type(L, -1) == LUA_TNUMBER;
        lua_pop(L, 1);
    }
    int n = (int)lua_rawlen(L, i);
    if (has_n) {
        lua_getfield(L, i, "n");
        n = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, i)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && has_n && !strcmp(lua_tostring(L, -1), "n")) continue;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return -1;
        }
    }
    return n;
}

static void encode(lua_State *L, int i, resql_buf *out, int mode, int depth)
{
    resql_value v = {SQLITE_NULL, 0, 0, NULL, 0};
    size_t n;
    if (i < 0) i = lua_gettop(L) + i + 1;
    if (depth > MAX_DEPTH) raise(L, "resql: encode: nested too deep (a cycle?)");
    switch (lua_type(L, i)) {
    case LUA_TNIL: break;
    case LUA_TBOOLEAN:
        if (mode == AS_OBJECT) {
            resql__buf_puts(out, lua_toboolean(L, i) ? "true" : "false");
            return;
        }
        v.type = SQLITE_INTEGER;
        v.i = lua_toboolean(L, i);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) {
            v.type = SQLITE_INTEGER;
            v.i = (sqlite3_int64)lua_tointeger(L, i);
        } else {
            v.type = SQLITE_FLOAT;
            v.r = (double)lua_tonumber(L, i);
            if (mode == AS_OBJECT && (v.r != v.r || v.r - v.r != 0))
                raise(L, "resql: encode: %s is not a JSON number", v.r != v.r ? "NaN" : "infinity");
        }
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
        luaL_checkstack(L, 4, "resql: encode: nested too deep");
        int len = list_length(L, i, mode);
        if (len > 0 || (len == 0 && mode == AS_VALUE)) {
            resql__buf_putc(out, '[');
            for (int k = 1; k <= len; k++) {
                if (k > 1) resql__buf_putc(out, ',');
                lua_rawgeti(L, i, k);
                encode(L, -1, out, mode, depth + 1);
                lua_pop(L, 1);
            }
            resql__buf_putc(out, ']');
            return;
        }
        if (mode == AS_VALUE) raise(L, "resql: encode: a table of keys is not a value");
        resql__buf_putc(out, '{');
        int first = 1;
        lua_pushnil(L);
        while (lua_next(L, i)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                raise(L, "resql: encode: a table with keys that are not all strings (%s key) is not an object",
                      luaL_typename(L, -2));
            if (!first) resql__buf_putc(out, ',');
            first = 0;
            const char *key = lua_tolstring(L, -2, &n);
            resql__json_string(out, key, n);
            resql__buf_putc(out, ':');
            encode(L, -1, out, mode, depth + 1);
            lua_pop(L, 1);
        }
        resql__buf_putc(out, '}');
        return;
    default: raise(L, "resql: encode: cannot encode a %s", luaL_typename(L, i));
    }
    resql__json_value(out, &v);
}

static int push_encoded(lua_State *L, int mode)
{
    resql_buf *out = new_buffer(L);
    encode(L, 1, out, mode, 0);
    if (out->oom) return raise(L, "resql: out of memory");
    lua_pushlstring(L, out->data ? out->data : "", out->len);
    return 1;
}

/* resql.core.encode(value) -> JSON text, as the logs write a value (a list
 * is a composite key). */
static int l_encode(lua_State *L)
{
    return push_encoded(L, AS_VALUE);
}

/* resql.core.encode_object(table) -> JSON object text, for `extra`. */
static int l_encode_object(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE || is_blob(L, 1) || list_length(L, 1, AS_OBJECT) > 0)
        return raise(L, "resql: encode: must be a table with string keys (a JSON object), got %s",
                     lua_type(L, 1) == LUA_TTABLE ? "a list" : luaL_typename(L, 1));
    return push_encoded(L, AS_OBJECT);
}

/* resql.core.blob(s) -> a value that binds as a BLOB. */
static int l_blob(lua_State *L)
{
    size_t n;
    check_string(L, 1, 0, "blob", &n);                  /* any bytes, NULs too */
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

/* resql.core.wrap(ptr) -> db, borrowing a sqlite3* that resql never closes.
 * A pointer from db:get_ptr() gives back that connection object itself, so
 * the wrapper can never outlive the connection it points to. */
static int l_wrap(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TLIGHTUSERDATA || !lua_touserdata(L, 1))
        return raise(L, "resql: wrap: expected a sqlite3* as light userdata, got %s", luaL_typename(L, 1));
    lua_getfield(L, LUA_REGISTRYINDEX, OWNERS);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 2);
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
    if (d->in_callback) return raise(L, "resql: cannot close the connection from inside a resql callback");
    while (d->loggers) close_logger(L, d->loggers);
    while (d->stmts) finalize_stmt(L, d->stmts);
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
            int rc = sqlite3_prepare_v2(d->db, tail, -1, &next, NULL);
            if (rc != SQLITE_OK) {                      /* text after the statement that is not SQL */
                int n = db_failure(L, d->db);
                sqlite3_finalize(stmt);
                return n;
            }
            if (next) {
                sqlite3_finalize(next);
                sqlite3_finalize(stmt);
                return raise(L, "resql: exec with parameters takes one statement");
            }
            rc = bind_all(L, stmt, 3);
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
    s->stepping = 1;
    int rc = sqlite3_step(s->stmt);
    s->stepping = 0;
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
    if (s->stepping) return raise(L, "resql: cannot finalize a statement while it runs (from a callback)");
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

/* A Lua function that C calls later. It runs on the main thread (5.2+) or
 * on a thread of its own (5.1, which cannot name the main thread), never on
 * the coroutine that happened to create it, which may be dead by then.
 * While it runs, its logger is anchored on the stack (so the garbage
 * collector cannot free the logger under it) and its connection counts the
 * callback (so the callback cannot close the connection under it). */
typedef struct lua_callback {
    lua_State *L;
    int ref;                /* the function */
    int thread_ref;         /* the thread of its own, or LUA_NOREF */
    ldb *owner;
} lua_callback;

#define ANCHORS "resql.anchors"     /* weak: callback -> its logger's userdata */

static lua_callback *callback_new(lua_State *L, int fn, int logger, ldb *owner)
{
    lua_callback *cb = malloc(sizeof *cb);
    if (!cb) raise(L, "resql: out of memory");
    cb->owner = owner;
    cb->thread_ref = LUA_NOREF;
#if LUA_VERSION_NUM >= 502
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    cb->L = lua_tothread(L, -1);
    lua_pop(L, 1);
#else
    cb->L = lua_newthread(L);
    cb->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
#endif
    lua_pushvalue(L, fn);
    cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_pushlightuserdata(L, cb);
    lua_pushvalue(L, logger < 0 ? logger - 2 : logger);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return cb;
}

static void callback_destroy(void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_pushlightuserdata(L, cb);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, cb->ref);
    luaL_unref(L, LUA_REGISTRYINDEX, cb->thread_ref);   /* last: L may be this thread */
    free(cb);
}

/* Pushes the logger (anchor) and the function; returns the stack top to
 * restore, or -1 when the stack cannot grow. */
static int callback_enter(lua_callback *cb)
{
    lua_State *L = cb->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) return -1;
    lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_pushlightuserdata(L, cb);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    cb->owner->in_callback++;
    return top;
}

static void callback_leave(lua_callback *cb, int top)
{
    cb->owner->in_callback--;
    lua_settop(cb->L, top);
}

/* The Lua side (resql.lua) gives a function that returns the JSON text of
 * the extra object, or nil, or raises. */
static void extra_trampoline(resql_extra_result *result, void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    int top = callback_enter(cb);
    if (top < 0) {
        resql_extra_error(result, "the Lua stack cannot grow");
        return;
    }
    if (lua_pcall(L, 0, 1, 0) != 0) {
        const char *msg = lua_tostring(L, -1);
        resql_extra_error(result, msg ? msg : "(error object is not a string)");
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        resql_extra_json(result, lua_tostring(L, -1));
    } else if (!lua_isnil(L, -1)) {
        resql_extra_error(result, "the extra function must return a table or nil");
    }
    callback_leave(cb, top);
}

static sqlite3_int64 system_micros(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (sqlite3_int64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A clock that fails or answers something else than a number: the system
 * clock stands in (a log row must have a time). */
static sqlite3_int64 clock_trampoline(void *ctx)
{
    lua_callback *cb = ctx;
    lua_State *L = cb->L;
    int top = callback_enter(cb);
    if (top < 0) return system_micros();
    sqlite3_int64 now = system_micros();
    if (lua_pcall(L, 0, 1, 0) == 0 && lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, -1);
        if (n == n && n > -9.2e18 && n < 9.2e18) now = (sqlite3_int64)n;
    }
    callback_leave(cb, top);
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
static void read_options(lua_State *L, int i, resql_options *opts, int logger, ldb *owner)
{
    lua_getfield(L, i, "extra_json");
    if (lua_type(L, -1) == LUA_TSTRING && resql_options_set_extra_json(opts, lua_tostring(L, -1)) != RESQL_OK)
        raise(L, "%s", resql_errmsg(NULL));
    lua_getfield(L, i, "extra_fn");
    if (lua_type(L, -1) == LUA_TFUNCTION)
        resql_options_set_extra_callback(opts, extra_trampoline, callback_new(L, -1, logger, owner),
                                         callback_destroy);
    lua_getfield(L, i, "clock");
    if (lua_type(L, -1) == LUA_TFUNCTION)
        resql_options_set_clock(opts, clock_trampoline, callback_new(L, -1, logger, owner), callback_destroy);
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
    read_options(L, 4, opts, lua_gettop(L), d);
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
        rc = resql_logger_set_extra_callback(g->logger, extra_trampoline, callback_new(L, 3, 1, g->owner),
                                             callback_destroy);
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
    luaL_newmetatable(L, BLOB_MT);
    lua_pop(L, 1);
    lua_newtable(L);                                    /* ANCHORS, weak values */
    lua_createtable(L, 0, 1);
    lua_pushstring(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, ANCHORS);
    lua_newtable(L);                                    /* OWNERS, weak values */
    lua_createtable(L, 0, 1);
    lua_pushstring(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, OWNERS);
    luaL_newmetatable(L, BUFFER_MT);
    lua_pushcfunction(L, buffer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, OPTIONS_MT);
    lua_pushcfunction(L, options_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    lua_newtable(L);
    static const luaL_Reg functions[] = {
        {"open", l_open}, {"wrap", l_wrap}, {"log", l_log},
        {"encode", l_encode}, {"encode_object", l_encode_object}, {"decode", l_decode}, {"blob", l_blob},
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
