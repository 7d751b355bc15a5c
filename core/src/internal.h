/* Declarations shared by resql's source files. Nothing here is public. */
#ifndef RESQL_INTERNAL_H
#define RESQL_INTERNAL_H

#include <stddef.h>

#include "resql.h"
#include "buf.h"

#define RESQL_ERRMSG_MAX 1024

/* ---- errors (error.c) ---------------------------------------------------- */

/* Sets the calling thread's last error (what resql_errmsg(NULL) shows) and
 * returns `code`, so callers can `return resql__fail(RESQL_MISUSE, ...)`. */
int resql__fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The calling thread's last error, "not an error" when there is none. */
const char *resql__thread_error(void);

/* Formats into a caller-owned message slot of RESQL_ERRMSG_MAX bytes. */
void resql__format(char *slot, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- callbacks with a context and its destructor (callback.c) ------------ */

/* A caller's function pointer with its context, shared by reference count
 * between an options builder and the loggers made from it, so the context's
 * destructor runs exactly once, when the last holder lets go. */
typedef struct resql_callback {
    int refs;
    void (*fn)(void);
    void *ctx;
    void (*destroy)(void *);
} resql_callback;

/* Makes a callback holding one reference. On allocation failure calls
 * destroy(ctx) and returns NULL. */
resql_callback *resql__callback_new(void (*fn)(void), void *ctx, void (*destroy)(void *));
resql_callback *resql__callback_ref(resql_callback *cb);   /* NULL-safe */
void resql__callback_unref(resql_callback *cb);            /* NULL-safe */

/* ---- options (options.c) ------------------------------------------------- */

typedef struct resql_names {
    char **items;
    int count;
} resql_names;

/* 1 if `name` is in the list (SQLite's case-insensitive identifier match). */
int resql__names_has(const resql_names *names, const char *name);
/* Appends a copy of `name`. Returns RESQL_OK or RESQL_NOMEM. */
int resql__names_add(resql_names *names, const char *name);
int resql__names_copy(resql_names *dst, const resql_names *src);
void resql__names_free(resql_names *names);

/* `extra`: at most one of a static JSON object and a callback. */
typedef struct resql_extra {
    char *json;                 /* a JSON object, or NULL */
    resql_callback *callback;   /* fn is a resql_extra_fn, or NULL */
} resql_extra;

/* Makes `extra` hold `json` (checked to be an object), or the callback when
 * fn is not NULL, or nothing when both are NULL. On failure changes nothing
 * and sets the thread's error. */
int resql__extra_set(resql_extra *extra, const char *json, resql_extra_fn fn, void *ctx,
                     void (*destroy)(void *));
int resql__extra_copy(resql_extra *dst, const resql_extra *src);
void resql__extra_free(resql_extra *extra);
/* Checks that `json` is NULL or a JSON object; fills *msg otherwise. */
int resql__extra_json_ok(const char *json, const char **msg);

#define RESQL_DEFAULT_BUSY_MS 5000

struct resql_options {
    resql_names include;
    resql_names exclude;
    resql_callback *clock;      /* fn is a resql_clock_fn, or NULL for the system clock */
    resql_extra extra;
    int include_reads;          /* query log */
    int drop_rollbacks;         /* query log */
    int busy_timeout_ms;        /* query log: 0 does not wait */
};

/* What an extra callback answered (options.c). */
struct resql_extra_result {
    int answered;               /* 0 none, 1 json, 2 error */
    resql_buf text;             /* the JSON or the error message */
};

/* Runs `extra` for a new transaction. On success returns 0 and sets *json to
 * a JSON object text (owned by `scratch` or by `extra`) or NULL; on failure
 * returns -1 and writes "resql: ..." into errmsg. */
int resql__extra_eval(const resql_extra *extra, resql_buf *scratch, const char **json,
                      char *errmsg);

/* ---- time (clock.c) ------------------------------------------------------ */

/* Microseconds since the Unix epoch from `clock` or the system clock. */
sqlite3_int64 resql__clock_now(const resql_callback *clock);

/* Writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 chars + NUL for years 0-9999) into out. */
void resql__format_time(sqlite3_int64 micros, char out[48]);

/* ---- SQL text (sql_text.c) ---------------------------------------------- */

/* The kind of a statement from its text: "Insert", "Update", "Delete",
 * "Select", "Create", "Drop", "Alter", "Begin", "Commit", "Rollback",
 * "Savepoint", "Release", "Pragma", "Attach", "Detach", "Vacuum", "Analyze",
 * "Reindex", "Explain" or "Other". Comments and whitespace in front are
 * skipped; WITH ... is classified by the statement after its CTEs. */
const char *resql__sql_kind(const char *sql);

/* 1 if `sql` is CREATE TABLE ... AS SELECT into "main", with the table's
 * name (unquoted) copied into name. */
int resql__sql_create_table_as(const char *sql, char *name, size_t size);

/* The end of the SQL token at p: a comment, a quoted string or identifier,
 * a word, or else one character. */
const char *resql__sql_token_end(const char *p);

/* Appends `name` as a double-quoted SQL identifier. */
void resql__quote_ident(resql_buf *out, const char *name);

#endif
