/* Lossless typed JSON for SQLite values (DESIGN.md, "Values").
 *
 *   NULL    -> null
 *   INTEGER -> JSON integer, whole int64 range, exact
 *   REAL    -> shortest text that reads back to the same double, always with
 *              '.' or an exponent (1.0, -0.0, 1e+300); 1e999 / -1e999 for +-inf
 *   TEXT    -> JSON string (RFC 8259 escaping); invalid UTF-8 -> {"$text":"<base64>"}
 *   BLOB    -> {"$blob":"<base64>"}
 *
 * The decoder is the exact inverse: it gives back the storage class and bytes. */
#ifndef RESQL_VALUE_JSON_H
#define RESQL_VALUE_JSON_H

#include <stddef.h>
#include <sqlite3.h>

#include "buf.h"

/* One SQLite value, borrowed: `bytes` points at memory owned by someone else
 * (for TEXT/BLOB; may be NULL when n == 0). */
typedef struct resql_value {
    int type;                 /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB */
    sqlite3_int64 i;
    double r;
    const unsigned char *bytes;
    size_t n;
} resql_value;

/* Appends the JSON of `v` to `out`. */
void resql__json_value(resql_buf *out, const resql_value *v);

/* Appends `s` (n bytes) as a JSON string; bytes that are not valid UTF-8 are
 * replaced by U+FFFD. For names (tables, columns), never for values. */
void resql__json_string(resql_buf *out, const char *s, size_t n);

/* 1 if s[0..n) is valid UTF-8 (NUL bytes allowed), else 0. */
int resql__utf8_valid(const unsigned char *s, size_t n);

/* Borrows v's storage class and bytes into *out (valid while v is). */
void resql__value_of(sqlite3_value *v, resql_value *out);

/* Same value: same storage class and same bytes (REAL compared bit for bit). */
int resql__value_same(const resql_value *a, const resql_value *b);

/* Decodes one JSON value, as written by resql__json_value, from json[0..n)
 * (leading/trailing whitespace allowed). On success returns 0 and fills *out;
 * TEXT/BLOB bytes are written to `scratch` (reset first) and out->bytes points
 * into it, valid until scratch changes. On failure returns -1 and, if errmsg
 * is not NULL, sets *errmsg to a static string saying what is wrong. */
int resql__json_decode_value(const char *json, size_t n, resql_value *out,
                             resql_buf *scratch, const char **errmsg);

/* Checks that json[0..n) is one well-formed JSON text (RFC 8259). Returns the
 * type of the top value as a character: 'o' object, 'a' array, 's' string,
 * 'n' number, 't' true, 'f' false, 'z' null; or 0 if malformed (and sets
 * *errmsg if not NULL). */
int resql__json_check(const char *json, size_t n, const char **errmsg);

#endif
