#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "params.h"

/* ---- the cache of values bound through resql_bind_* ------------------------ */

#define CACHE_SLOTS 64     /* statements remembered; more evict each other */

/* A value bound through resql_bind_*; TEXT/BLOB bytes are copied into `own`,
 * which is kept and reused, so binding in a loop allocates nothing. */
typedef struct cached {
    resql_value v;         /* type 0: not bound through resql */
    unsigned char *own;
    size_t cap;
} cached;

/* The shape of a statement's SQL, as its expanded SQL repeats it: runs of
 * text (index 0), and the parameter tokens in between (index > 0), each
 * `len` bytes of sqlite3_sql(). */
typedef struct piece {
    int len;
    int index;
} piece;

typedef struct shadow {
    sqlite3_stmt *stmt;    /* NULL: free slot */
    sqlite3 *db;
    int n;
    cached *values;        /* values[1..n] */
    char *sql;             /* the SQL `pieces` were worked out for, or NULL */
    piece *pieces;
    int npieces;
} shadow;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static shadow cache[CACHE_SLOTS];
static sqlite3 **watched;
static int nwatched;

static shadow *slot_of(sqlite3_stmt *stmt)
{
    size_t h = (size_t)stmt;
    return &cache[(h >> 4 ^ h >> 12) % CACHE_SLOTS];
}

static void shadow_forget_shape(shadow *s)
{
    free(s->sql);
    free(s->pieces);
    s->sql = NULL;
    s->pieces = NULL;
    s->npieces = 0;
}

static void shadow_clear(shadow *s)
{
    for (int i = 1; i <= s->n; i++) free(s->values[i].own);
    free(s->values);
    shadow_forget_shape(s);
    memset(s, 0, sizeof *s);
}

/* Taking a slot over for another statement keeps its values' memory. */
static void shadow_take(shadow *s, sqlite3_stmt *stmt, sqlite3 *db)
{
    for (int i = 1; i <= s->n; i++) s->values[i].v.type = 0;
    shadow_forget_shape(s);
    s->stmt = stmt;
    s->db = db;
}

static int is_watched(sqlite3 *db)
{
    for (int i = 0; i < nwatched; i++)
        if (watched[i] == db) return 1;
    return 0;
}

void resql__params_watch(sqlite3 *db, int on)
{
    pthread_mutex_lock(&lock);
    if (on && !is_watched(db)) {
        sqlite3 **w = realloc(watched, (size_t)(nwatched + 1) * sizeof *w);
        if (w) {                       /* without memory, values are just not exact */
            watched = w;
            watched[nwatched] = db;
            __atomic_store_n(&nwatched, nwatched + 1, __ATOMIC_RELAXED);
        }
    } else if (!on) {
        for (int i = 0; i < nwatched; i++)
            if (watched[i] == db) {
                watched[i--] = watched[nwatched - 1];
                __atomic_store_n(&nwatched, nwatched - 1, __ATOMIC_RELAXED);
            }
        if (nwatched == 0) {
            free(watched);
            watched = NULL;
        }
        for (int i = 0; i < CACHE_SLOTS; i++)
            if (cache[i].db == db) shadow_clear(&cache[i]);
    }
    pthread_mutex_unlock(&lock);
}

/* Any query logger at all: read without the lock, so binds stay cheap when
 * there is none (remember() checks the connection under the lock). */
static int watching(void) { return __atomic_load_n(&nwatched, __ATOMIC_RELAXED) != 0; }

/* Records v as parameter i of stmt, if a query logger watches its connection. */
static void remember(sqlite3_stmt *stmt, int i, const resql_value *v)
{
    sqlite3 *db = sqlite3_db_handle(stmt);
    pthread_mutex_lock(&lock);
    if (!is_watched(db)) goto done;
    shadow *s = slot_of(stmt);
    if (s->stmt != stmt) shadow_take(s, stmt, db);
    if (i > s->n) {
        cached *values = realloc(s->values, (size_t)(i + 1) * sizeof *values);
        if (!values) { shadow_clear(s); goto done; }
        memset(values + s->n + 1, 0, (size_t)(i - s->n) * sizeof *values);
        if (s->n == 0) memset(values, 0, sizeof *values);
        s->values = values;
        s->n = i;
    }
    cached *c = &s->values[i];
    if (v->n > c->cap) {
        unsigned char *own = realloc(c->own, v->n);
        if (!own) { c->v.type = 0; goto done; }
        c->own = own;
        c->cap = v->n;
    }
    if (v->n) memcpy(c->own, v->bytes, v->n);
    c->v = *v;
    c->v.bytes = v->n ? c->own : NULL;
done:
    pthread_mutex_unlock(&lock);
}

RESQL_API int resql_bind_null(sqlite3_stmt *stmt, int i)
{
    int rc = sqlite3_bind_null(stmt, i);
    resql_value v = {SQLITE_NULL, 0, 0, NULL, 0};
    if (rc == SQLITE_OK && watching()) remember(stmt, i, &v);
    return rc;
}

RESQL_API int resql_bind_int64(sqlite3_stmt *stmt, int i, sqlite3_int64 value)
{
    int rc = sqlite3_bind_int64(stmt, i, value);
    resql_value v = {SQLITE_INTEGER, value, 0, NULL, 0};
    if (rc == SQLITE_OK && watching()) remember(stmt, i, &v);
    return rc;
}

RESQL_API int resql_bind_double(sqlite3_stmt *stmt, int i, double value)
{
    int rc = sqlite3_bind_double(stmt, i, value);
    /* SQLite stores a NaN as NULL; record what it stores. */
    resql_value v = {isnan(value) ? SQLITE_NULL : SQLITE_FLOAT, 0, value, NULL, 0};
    if (rc == SQLITE_OK && watching()) remember(stmt, i, &v);
    return rc;
}

RESQL_API int resql_bind_text(sqlite3_stmt *stmt, int i, const char *text, int n,
                              void (*destroy)(void *))
{
    int rc = sqlite3_bind_text(stmt, i, text, n, destroy);
    if (rc == SQLITE_OK && watching()) {
        resql_value v = {text ? SQLITE_TEXT : SQLITE_NULL, 0, 0, (const unsigned char *)text,
                         text ? (n < 0 ? strlen(text) : (size_t)n) : 0};
        remember(stmt, i, &v);
    }
    return rc;
}

RESQL_API int resql_bind_blob(sqlite3_stmt *stmt, int i, const void *blob, int n,
                              void (*destroy)(void *))
{
    /* SQLite leaves a negative size undefined (it reads on to a pair of NUL
     * bytes): refuse it, and dispose of the blob as a failed bind does. */
    if (blob && n < 0) {
        if (destroy != SQLITE_STATIC && destroy != SQLITE_TRANSIENT) destroy((void *)blob);
        return resql__fail(SQLITE_MISUSE, "resql: resql_bind_blob: the size %d is negative", n);
    }
    int rc = sqlite3_bind_blob(stmt, i, blob, n, destroy);
    if (rc == SQLITE_OK && watching()) {
        resql_value v = {blob ? SQLITE_BLOB : SQLITE_NULL, 0, 0, blob, blob && n > 0 ? (size_t)n : 0};
        remember(stmt, i, &v);
    }
    return rc;
}

/* ---- values from the expanded SQL ----------------------------------------- */

static int is_ident(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

/* The end of a parameter token at p, or NULL: ?, ?NNN, or :name, @name,
 * $name, #name, where a name may go on with Tcl's ::name and end with a
 * (suffix), as SQLite's tokenizer reads them. */
static const char *param_end(const char *p)
{
    if (*p == '?') {
        p++;
        while (isdigit((unsigned char)*p)) p++;
        return p;
    }
    if (*p != ':' && *p != '@' && *p != '$' && *p != '#') return NULL;
    int n = 0;
    for (p++;;) {
        if (is_ident((unsigned char)*p)) {
            n++;
            p++;
        } else if (*p == ':' && p[1] == ':') {
            p += 2;
        } else if (*p == '(' && n) {
            while (*p && *p != ')' && !isspace((unsigned char)*p)) p++;
            return *p == ')' ? p + 1 : NULL;
        } else {
            return n ? p : NULL;
        }
    }
}

static int hex(int c)
{
    return isdigit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int is_number_char(const char *q)
{
    return isdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' ||
           ((*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E'));
}

/* The end of the literal SQLite's expanded SQL writes for a value at p, or
 * NULL when there is none. */
static const char *literal_end(const char *p)
{
    if (strncmp(p, "NULL", 4) == 0) return p + 4;
    if (strncmp(p, "Inf", 3) == 0) return p + 3;
    if (strncmp(p, "-Inf", 4) == 0) return p + 4;
    if (*p == '-' || isdigit((unsigned char)*p)) {
        const char *q = p + 1;
        while (is_number_char(q)) q++;
        return q;
    }
    if (*p == '\'') {
        for (p++; *p; p++)
            if (*p == '\'' && *++p != '\'') return p;
        return NULL;
    }
    if ((*p == 'x' || *p == 'X') && p[1] == '\'') {
        for (p += 2; hex(p[0]) >= 0 && hex(p[1]) >= 0; p += 2) {}
        return *p == '\'' ? p + 1 : NULL;
    }
    if (strncmp(p, "zeroblob(", 9) == 0) {
        for (p += 9; isdigit((unsigned char)*p); p++) {}
        return *p == ')' ? p + 1 : NULL;
    }
    return NULL;
}

/* Decodes the literal p[0..end) (found by literal_end) into *v; TEXT/BLOB
 * bytes go to `bytes` (reset first) and v->bytes points there. 0, or -1. */
static int decode_literal(const char *p, const char *end, resql_value *v, resql_buf *bytes)
{
    memset(v, 0, sizeof *v);
    resql__buf_reset(bytes);
    if (*p == 'N') {
        v->type = SQLITE_NULL;
    } else if (*p == 'I' || (*p == '-' && p[1] == 'I')) {
        v->type = SQLITE_FLOAT;
        v->r = *p == '-' ? -HUGE_VAL : HUGE_VAL;
    } else if (*p == '-' || isdigit((unsigned char)*p)) {
        int real = 0;
        for (const char *q = p + 1; q < end; q++) real |= !isdigit((unsigned char)*q);
        char *stop;
        v->type = real ? SQLITE_FLOAT : SQLITE_INTEGER;
        if (real) v->r = strtod(p, &stop);
        else v->i = strtoll(p, &stop, 10);
        if (stop != end) return -1;
    } else if (*p == '\'') {
        v->type = SQLITE_TEXT;
        for (p++; p < end - 1; p++) resql__buf_putc(bytes, *p == '\'' ? *p++ : *p);
    } else if (*p == 'z') {
        v->type = SQLITE_BLOB;
        for (long n = strtol(p + 9, NULL, 10); n > 0; n--) resql__buf_putc(bytes, 0);
    } else {
        v->type = SQLITE_BLOB;
        for (p += 2; p < end - 1; p += 2) resql__buf_putc(bytes, (char)(hex(p[0]) << 4 | hex(p[1])));
    }
    if (bytes->oom) return -1;
    v->bytes = (const unsigned char *)bytes->data;
    v->n = bytes->len;
    return 0;
}

/* Works out the shape of `sql` (see piece) into a new array; returns the
 * number of pieces, or -1 (a parameter SQLite does not know, or no memory). */
static int shape_of(sqlite3_stmt *stmt, const char *sql, int nparams, piece **out)
{
    piece *pieces = NULL;
    int n = 0, cap = 0, next = 1;
    for (const char *p = sql; *p;) {
        const char *end = param_end(p);
        int index = 0;
        if (end) {
            if (*p == '?' && end > p + 1) {
                index = atoi(p + 1);
            } else if (*p == '?') {
                index = next;
            } else {
                char name[256];
                size_t len = (size_t)(end - p);
                if (len >= sizeof name) goto fail;
                memcpy(name, p, len);
                name[len] = '\0';
                index = sqlite3_bind_parameter_index(stmt, name);
            }
            if (index < 1 || index > nparams) goto fail;
            if (index >= next) next = index + 1;
        } else {
            end = resql__sql_token_end(p);
        }
        int len = (int)(end - p);
        if (!index && n && !pieces[n - 1].index) {
            pieces[n - 1].len += len;
        } else {
            if (n == cap) {
                piece *more = realloc(pieces, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *more);
                if (!more) goto fail;
                pieces = more;
            }
            pieces[n++] = (piece){len, index};
        }
        p = end;
    }
    *out = pieces;
    return n;
fail:
    free(pieces);
    return -1;
}

/* Where each parameter's literal is in `expanded`, the expanded SQL of a
 * statement of the given shape: lit[i] is the start of parameter i's literal
 * (1-based), lit_end[i] its end; NULL for a parameter the SQL never uses
 * (?3 with no ?2). Returns 0, or -1 when the two texts do not line up. */
static int find_literals(const piece *pieces, int npieces, const char *sql, const char *expanded,
                         const char **lit, const char **lit_end, int n)
{
    const char *p = sql, *e = expanded;
    for (int i = 1; i <= n; i++) lit[i] = NULL;
    for (int k = 0; k < npieces; k++) {
        int i = pieces[k].index;
        if (i) {
            lit[i] = e;
            if (!(e = lit_end[i] = literal_end(e))) return -1;
        } else {
            if (strncmp(p, e, (size_t)pieces[k].len) != 0) return -1;
            e += pieces[k].len;
        }
        p += pieces[k].len;
    }
    return *e ? -1 : 0;
}

/* ---- choosing and encoding ---------------------------------------------------- */

static int text_is(const char *p, const char *end, const char *s, size_t n)
{
    return (size_t)(end - p) == n && memcmp(p, s, n) == 0;
}

/* Does the exact value `v` print as the literal p[0..end)? Compared as text,
 * without decoding the literal. */
static int agrees(const resql_value *v, const char *p, const char *end)
{
    switch (v->type) {
    case SQLITE_NULL: return text_is(p, end, "NULL", 4);
    case SQLITE_INTEGER: {
        char digits[24], *d = digits + sizeof digits;
        sqlite3_uint64 u = v->i < 0 ? 0 - (sqlite3_uint64)v->i : (sqlite3_uint64)v->i;
        do *--d = (char)('0' + u % 10); while ((u /= 10) != 0);
        if (v->i < 0) *--d = '-';
        return text_is(p, end, d, (size_t)(digits + sizeof digits - d));
    }
    case SQLITE_FLOAT: {
        char printed[64];           /* as SQLite's expanded SQL prints a REAL */
        sqlite3_snprintf(sizeof printed, printed, "%!.15g", v->r);
        return text_is(p, end, printed, strlen(printed));
    }
    case SQLITE_TEXT: {             /* '...' with quotes doubled, cut at a NUL */
        const unsigned char *s = v->bytes, *stop = memchr(s, 0, v->n);
        if (!stop) stop = s + v->n;
        if (*p++ != '\'') return 0;
        for (; s < stop; s++, p++) {
            if (p >= end || *p != (char)*s) return 0;
            if (*s == '\'' && (++p >= end || *p != '\'')) return 0;
        }
        return p == end - 1;
    }
    default: {                      /* x'hex' */
        if (*p == 'z') return v->n == 0 && text_is(p, end, "zeroblob(0)", 11);
        if (end - p != (ptrdiff_t)(3 + 2 * v->n)) return 0;
        for (size_t k = 0; k < v->n; k++)
            if (hex(p[2 + 2 * k]) != v->bytes[k] >> 4 || hex(p[3 + 2 * k]) != (v->bytes[k] & 15)) return 0;
        return 1;
    }
    }
}

void resql__params_json(sqlite3_stmt *stmt, resql_buf *out, int *exact)
{
    int n = sqlite3_bind_parameter_count(stmt);
    *exact = 1;
    if (n == 0) {
        resql__buf_puts(out, "[]");
        return;
    }
    int named = 0;
    for (int i = 1; i <= n && !named; i++) {
        const char *name = sqlite3_bind_parameter_name(stmt, i);
        named = name && name[0] != '?';
    }

    /* Where each literal is; on the stack for the usual few parameters. */
    enum { FEW = 32 };
    const char *few[2 * (FEW + 1)], **lit = n <= FEW ? few : malloc(2 * ((size_t)n + 1) * sizeof *lit);
    const char **lit_end = lit ? lit + n + 1 : NULL;
    const char *sql = sqlite3_sql(stmt) ? sqlite3_sql(stmt) : "";
    char *text = sqlite3_expanded_sql(stmt);

    resql_buf bytes;                /* only for values not bound through resql */
    resql__buf_init(&bytes);
    pthread_mutex_lock(&lock);
    shadow *s = slot_of(stmt);
    if (s->stmt != stmt) s = NULL;

    /* The shape of the SQL: kept with the values of a statement bound
     * through resql (checked against its text: a freed statement's address
     * may come back), else worked out for this call. */
    piece *pieces = NULL;
    int npieces = -1, shape_kept = 0;
    if (s && s->sql && strcmp(s->sql, sql) == 0) {
        pieces = s->pieces;
        npieces = s->npieces;
        shape_kept = 1;
    } else if (text && (npieces = shape_of(stmt, sql, n, &pieces)) >= 0 && s) {
        shadow_forget_shape(s);
        if ((s->sql = strdup(sql)) != NULL) {
            s->pieces = pieces;
            s->npieces = npieces;
            shape_kept = 1;
        }
    }
    int have_expanded = lit && text && npieces >= 0 &&
        find_literals(pieces, npieces, sql, text, lit, lit_end, n) == 0;
    if (!shape_kept) free(pieces);

    resql__buf_putc(out, named ? '{' : '[');
    for (int i = 1; i <= n; i++) {
        const resql_value null_value = {SQLITE_NULL, 0, 0, NULL, 0};
        const resql_value *mine = s && i <= s->n && s->values[i].v.type ? &s->values[i].v : NULL;
        const resql_value *v = &null_value;
        resql_value decoded;
        if (have_expanded && !lit[i]) {
            /* not in the SQL: no value of it plays a part; logged as null */
        } else if (mine && (!have_expanded || agrees(mine, lit[i], lit_end[i]))) {
            v = mine;
            if (!have_expanded) *exact = 0;         /* nothing to check it against */
        } else if (have_expanded && decode_literal(lit[i], lit_end[i], &decoded, &bytes) == 0) {
            v = &decoded;
            if (decoded.type == SQLITE_FLOAT || decoded.type == SQLITE_TEXT) *exact = 0;
        } else {
            *exact = 0;
        }
        if (i > 1) resql__buf_putc(out, ',');
        if (named) {
            const char *name = sqlite3_bind_parameter_name(stmt, i);
            char unnamed[16];
            if (!name) {
                snprintf(unnamed, sizeof unnamed, "?%d", i);
                name = unnamed;
            }
            resql__json_string(out, name, strlen(name));
            resql__buf_putc(out, ':');
        }
        resql__json_value(out, v);
    }
    resql__buf_putc(out, named ? '}' : ']');
    pthread_mutex_unlock(&lock);

    sqlite3_free(text);
    resql__buf_free(&bytes);
    if (lit != few) free(lit);
}
