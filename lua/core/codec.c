/* JSON for Lua, losslessly: resql.decode (the logs' JSON to Lua values, with
 * the core's decoder for every scalar) and resql.encode (Lua values to the
 * logs' JSON, with the core's encoder). */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include "lcore.h"
#include "value_json.h"


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
    const char *json = lcore_check_string(L, 1, 0, "decode", &n);
    resql_buf *scratch = new_buffer(L);             /* freed by __gc, also on a raise */
    const char *end = decode(L, json, json + n, scratch, 0);
    if (!end || skip_ws(end, json + n) != json + n) return lcore_raise(L, "resql: malformed JSON");
    return 1;
}

/* Encoding Lua values as JSON, losslessly (REALs shortest, 64-bit integers
 * exact). Two flavours: VALUES, as SQLite sees them (true is 1, a list is a
 * composite key), and OBJECTS, for `extra` (true is true, NaN refused). */
enum { AS_VALUE, AS_OBJECT };
#define MAX_DEPTH 64

/* The length of the table at i if it is a list (keys 1..n), else -1. For
 * values, a field n gives the length, as in lists resql.decode makes (which
 * may hold nils); in objects "n" is just a key. */
static int list_length(lua_State *L, int i, int mode)
{
    int has_n = 0, n = (int)lua_rawlen(L, i);
    if (mode == AS_VALUE) {
        lua_getfield(L, i, "n");
        has_n = lua_type(L, -1) == LUA_TNUMBER;
        if (has_n) n = (int)lua_tointeger(L, -1);
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
    if (depth > MAX_DEPTH) lcore_raise(L, "resql: encode: nested too deep (a cycle?)");
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
                lcore_raise(L, "resql: encode: %s is not a JSON number", v.r != v.r ? "NaN" : "infinity");
        }
        break;
    case LUA_TSTRING:
        v.type = SQLITE_TEXT;
        v.bytes = (const unsigned char *)lua_tolstring(L, i, &n);
        v.n = n;
        break;
    case LUA_TTABLE:
        if (lcore_is_blob(L, i)) {
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
        if (mode == AS_VALUE) lcore_raise(L, "resql: encode: a table of keys is not a value");
        resql__buf_putc(out, '{');
        int first = 1;
        lua_pushnil(L);
        while (lua_next(L, i)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                lcore_raise(L, "resql: encode: a table with keys that are not all strings (%s key) is not an object",
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
    default: lcore_raise(L, "resql: encode: cannot encode a %s", luaL_typename(L, i));
    }
    resql__json_value(out, &v);
}

static int push_encoded(lua_State *L, int mode)
{
    resql_buf *out = new_buffer(L);
    encode(L, 1, out, mode, 0);
    if (out->oom) return lcore_raise(L, "resql: out of memory");
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
    if (lua_type(L, 1) != LUA_TTABLE || lcore_is_blob(L, 1) || list_length(L, 1, AS_OBJECT) > 0)
        return lcore_raise(L, "resql: encode: must be a table with string keys (a JSON object), got %s",
                     lua_type(L, 1) == LUA_TTABLE ? "a list" : luaL_typename(L, 1));
    return push_encoded(L, AS_OBJECT);
}

/* resql.core.blob(s) -> a value that binds as a BLOB. */
static int l_blob(lua_State *L)
{
    size_t n;
    lcore_check_string(L, 1, 0, "blob", &n);                  /* any bytes, NULs too */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    luaL_setmetatable(L, BLOB_MT);
    return 1;
}

const luaL_Reg lcore_codec_functions[] = {
    {"encode", l_encode},
    {"encode_object", l_encode_object},
    {"decode", l_decode},
    {"blob", l_blob},
    {NULL, NULL},
};

void lcore_codec_init(lua_State *L)
{
    lcore_box_class(L, BLOB_MT, NULL);
    lcore_box_class(L, BUFFER_MT, buffer_gc);
}
