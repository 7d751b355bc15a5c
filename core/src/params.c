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

typedef struct shadow {
    sqlite3_stmt *stmt;    /* NULL: free slot */
    sqlite3 *db;
    int n;
    resql_value *values;   /* values[1..n]; type 0: not bound through resql; bytes owned */
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

static void shadow_clear(shadow *s)
{
    for (int i = 1; i <= s->n; i++) free((void *)s->values[i].bytes);
    free(s->values);
    memset(s, 0, sizeof *s);
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
            watched[nwatched++] = db;
        }
    } else if (!on) {
        for (int i = 0; i < nwatched; i++)
            if (watched[i] == db) watched[i--] = watched[--nwatched];
        if (nwatched == 0) {
            free(watched);
            watched = NULL;
        }
        for (int i = 0; i < CACHE_SLOTS; i++)
            if (cache[i].db == db) shadow_clear(&cache[i]);
    }
    pthread_mutex_unlock(&lock);
}

/* Records v as parameter i of stmt, if a query logger watches its connection. */
static void remember(sqlite3_stmt *stmt, int i, const resql_value *v)
{
    sqlite3 *db = sqlite3_db_handle(stmt);
    pthread_mutex_lock(&lock);
    if (!is_watched(db)) goto done;
    shadow *s = slot_of(stmt);
    if (s->stmt != stmt) {
        shadow_clear(s);
        s->stmt = stmt;
        s->db = db;
    }
    if (i > s->n) {
        resql_value *values = realloc(s->values, (size_t)(i + 1) * sizeof *values);
        if (!values) { shadow_clear(s); goto done; }
        memset(values + s->n + 1, 0, (size_t)(i - s->n) * sizeof *values);
        if (s->n == 0) memset(values, 0, sizeof *values);
        s->values = values;
        s->n = i;
    }
    free((void *)s->values[i].bytes);
    s->values[i] = *v;
    s->values[i].bytes = NULL;
    if (v->n) {
        unsigned char *copy = malloc(v->n);
        if (!copy) { s->values[i].type = 0; goto done; }
        memcpy(copy, v->bytes, v->n);
        s->values[i].bytes = copy;
    }
done:
    pthread_mutex_unlock(&lock);
}

RESQL_API int resql_bind_null(sqlite3_stmt *stmt, int i)
{
    int rc = sqlite3_bind_null(stmt, i);
    resql_value v = {SQLITE_NULL, 0, 0, NULL, 0};
    if (rc == SQLITE_OK && nwatched) remember(stmt, i, &v);
    return rc;
}

RESQL_API int resql_bind_int64(sqlite3_stmt *stmt, int i, sqlite3_int64 value)
{
    int rc = sqlite3_bind_int64(stmt, i, value);
    resql_value v = {SQLITE_INTEGER, value, 0, NULL, 0};
    if (rc == SQLITE_OK && nwatched) remember(stmt, i, &v);
    return rc;
}

RESQL_API int resql_bind_double(sqlite3_stmt *stmt, int i, double value)
{
    int rc = sqlite3_bind_double(stmt, i, value);
    /* SQLite stores a NaN as NULL; record what it stores. */
    resql_value v = {isnan(value) ? SQLITE_NULL : SQLITE_FLOAT, 0, value, NULL, 0};
    if (rc == SQLITE_OK && nwatched) remember(stmt, i, &v);
    return rc;
}

RESQL_API int resql_bind_text(sqlite3_stmt *stmt, int i, const char *text, int n,
                              void (*destroy)(void *))
{
    int rc = sqlite3_bind_text(stmt, i, text, n, destroy);
    if (rc == SQLITE_OK && nwatched) {
        resql_value v = {text ? SQLITE_TEXT : SQLITE_NULL, 0, 0, (const unsigned char *)text,
                         text ? (n < 0 ? strlen(text) : (size_t)n) : 0};
        remember(stmt, i, &v);
    }
    return rc;
}

RESQL_API int resql_bind_blob(sqlite3_stmt *stmt, int i, const void *blob, int n,
                              void (*destroy)(void *))
{
    int rc = sqlite3_bind_blob(stmt, i, blob, n, destroy);
    if (rc == SQLITE_OK && nwatched) {
        resql_value v = {blob ? SQLITE_BLOB : SQLITE_NULL, 0, 0, blob, blob && n > 0 ? (size_t)n : 0};
        remember(stmt, i, &v);
    }
    return rc;
}

/* ---- values from the expanded SQL ----------------------------------------- */

static int is_ident(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

/* The end of a parameter token at p (?, ?NNN, :name, @name, $name), or NULL. */
static const char *param_end(const char *p)
{
    if (*p == '?') {
        p++;
        while (isdigit((unsigned char)*p)) p++;
        return p;
    }
    if ((*p == ':' || *p == '@' || *p == '$') && is_ident((unsigned char)p[1])) {
        p++;
        while (is_ident((unsigned char)*p)) p++;
        return p;
    }
    return NULL;
}

static int hex(int c)
{
    return isdigit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Parses the literal SQLite's expanded SQL writes for a value. TEXT/BLOB
 * bytes are appended to `bytes`; v->bytes holds their offset for now. */
static const char *parse_literal(const char *p, resql_value *v, resql_buf *bytes)
{
    memset(v, 0, sizeof *v);
    if (strncmp(p, "NULL", 4) == 0) {
        v->type = SQLITE_NULL;
        return p + 4;
    }
    if (strncmp(p, "Inf", 3) == 0 || strncmp(p, "-Inf", 4) == 0) {
        v->type = SQLITE_FLOAT;
        v->r = *p == '-' ? -HUGE_VAL : HUGE_VAL;
        return p + (*p == '-' ? 4 : 3);
    }
    if (*p == '-' || isdigit((unsigned char)*p)) {
        const char *q = p + (*p == '-');
        int real = 0;
        while (isdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' ||
               ((*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E'))) {
            real |= !isdigit((unsigned char)*q);
            q++;
        }
        char *end;
        if (real) {
            v->type = SQLITE_FLOAT;
            v->r = strtod(p, &end);
        } else {
            v->type = SQLITE_INTEGER;
            v->i = strtoll(p, &end, 10);
        }
        return end == q ? q : NULL;
    }
    v->bytes = (const unsigned char *)(uintptr_t)bytes->len;
    if (*p == '\'') {
        v->type = SQLITE_TEXT;
        for (p++; *p; p++) {
            if (*p == '\'') {
                if (p[1] != '\'') return p + 1;
                p++;
            }
            resql__buf_putc(bytes, *p);
            v->n++;
        }
        return NULL;
    }
    if ((*p == 'x' || *p == 'X') && p[1] == '\'') {
        v->type = SQLITE_BLOB;
        for (p += 2; hex(p[0]) >= 0 && hex(p[1]) >= 0; p += 2) {
            resql__buf_putc(bytes, (char)(hex(p[0]) << 4 | hex(p[1])));
            v->n++;
        }
        return *p == '\'' ? p + 1 : NULL;
    }
    if (strncmp(p, "zeroblob(", 9) == 0) {
        v->type = SQLITE_BLOB;
        char *end;
        long n = strtol(p + 9, &end, 10);
        if (*end != ')' || n < 0) return NULL;
        for (long k = 0; k < n; k++) resql__buf_putc(bytes, 0);
        v->n = (size_t)n;
        return end + 1;
    }
    return NULL;
}

/* Parses the expanded SQL of `sql` into one value per parameter (1-based in
 * values[1..n]); TEXT/BLOB bytes are copied into `bytes`. Returns 0, or -1
 * when the two texts do not line up. */
static int params_from_expanded(sqlite3_stmt *stmt, const char *sql, const char *expanded,
                                resql_value *values, int n, resql_buf *bytes)
{
    int next = 1;
    const char *p = sql, *e = expanded;
    for (int i = 1; i <= n; i++) values[i].type = 0;
    resql__buf_reset(bytes);
    while (*p) {
        const char *end = param_end(p);
        if (end) {
            int index;
            if (*p == '?' && end > p + 1) {
                index = atoi(p + 1);
            } else if (*p == '?') {
                index = next;
            } else {
                char name[256];
                size_t len = (size_t)(end - p);
                if (len >= sizeof name) return -1;
                memcpy(name, p, len);
                name[len] = '\0';
                index = sqlite3_bind_parameter_index(stmt, name);
            }
            if (index < 1 || index > n) return -1;
            if (index >= next) next = index + 1;
            if (!(e = parse_literal(e, &values[index], bytes))) return -1;
            p = end;
            continue;
        }
        end = resql__sql_token_end(p);
        size_t len = (size_t)(end - p);
        if (strncmp(p, e, len) != 0) return -1;    /* the texts do not line up */
        p += len;
        e += len;
    }
    if (*e || bytes->oom) return -1;
    for (int i = 1; i <= n; i++) {
        if (values[i].type == 0) return -1;
        if (values[i].type == SQLITE_TEXT || values[i].type == SQLITE_BLOB)
            values[i].bytes = (const unsigned char *)bytes->data + (uintptr_t)values[i].bytes;
    }
    return 0;
}

/* ---- choosing and encoding ---------------------------------------------------- */

/* Does the exact value `s` print as the expanded SQL's `e`? */
static int agrees(const resql_value *s, const resql_value *e)
{
    if (s->type != e->type) return 0;
    switch (s->type) {
    case SQLITE_NULL: return 1;
    case SQLITE_INTEGER: return s->i == e->i;
    case SQLITE_FLOAT: {
        char *printed = sqlite3_mprintf("%!.15g", s->r);
        resql_value p;
        resql_buf none;
        resql__buf_init(&none);
        int same = printed && parse_literal(printed, &p, &none) && p.type == SQLITE_FLOAT &&
                   (p.r == e->r || (isinf(p.r) && p.r == e->r));
        sqlite3_free(printed);
        resql__buf_free(&none);
        return same;
    }
    case SQLITE_TEXT: {
        const unsigned char *nul = memchr(s->bytes, 0, s->n);   /* expanded SQL stops there */
        size_t n = nul ? (size_t)(nul - s->bytes) : s->n;
        return n == e->n && memcmp(s->bytes, e->bytes, n) == 0;
    }
    default: return s->n == e->n && (s->n == 0 || memcmp(s->bytes, e->bytes, s->n) == 0);
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

    resql_value *expanded = calloc((size_t)n + 1, sizeof *expanded);
    resql_buf bytes;
    resql__buf_init(&bytes);
    char *text = sqlite3_expanded_sql(stmt);
    int have_expanded = expanded && text &&
        params_from_expanded(stmt, sqlite3_sql(stmt), text, expanded, n, &bytes) == 0;

    pthread_mutex_lock(&lock);
    shadow *s = slot_of(stmt);
    if (s->stmt != stmt) s = NULL;
    resql__buf_putc(out, named ? '{' : '[');
    for (int i = 1; i <= n; i++) {
        const resql_value null_value = {SQLITE_NULL, 0, 0, NULL, 0};
        const resql_value *exp = have_expanded ? &expanded[i] : NULL;
        const resql_value *mine = s && i <= s->n && s->values[i].type ? &s->values[i] : NULL;
        const resql_value *v;
        if (mine && (!exp || agrees(mine, exp))) {
            v = mine;
        } else if (exp) {
            v = exp;
            if (exp->type == SQLITE_FLOAT || exp->type == SQLITE_TEXT) *exact = 0;
        } else {
            v = &null_value;
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
    free(expanded);
}
