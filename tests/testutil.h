/* Helpers shared by the C tests: SQL one-liners that fail the test loudly. */
#ifndef RESQL_TESTUTIL_H
#define RESQL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "resql.h"

/* Runs SQL that must succeed. */
#define EXEC(db, sql) exec_ok((db), (sql), __FILE__, __LINE__)
static inline void exec_ok(sqlite3 *db, const char *sql, const char *file, int line)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s:%d: SQL failed: %s\n  in: %s\n", file, line, err, sql);
        sqlite3_free(err);
        fail();
    }
}

/* Runs SQL that must fail; returns SQLite's message (static copy). */
static inline const char *exec_err(sqlite3 *db, const char *sql)
{
    static char msg[1024];
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK) {
        fprintf(stderr, "SQL unexpectedly succeeded: %s\n", sql);
        fail();
    }
    snprintf(msg, sizeof msg, "%s", err ? err : "");
    sqlite3_free(err);
    return msg;
}

/* The first column of the first row as text ("(null)" for NULL, "(none)"
 * for no row), in a rotating static buffer so two can be compared. */
static inline const char *query_text(sqlite3 *db, const char *sql)
{
    static char bufs[4][65536];
    static int next;
    char *out = bufs[next++ % 4];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare failed: %s\n  in: %s\n", sqlite3_errmsg(db), sql);
        fail();
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, 65536, "%s", t ? (const char *)t : "(null)");
    } else if (rc == SQLITE_DONE) {
        snprintf(out, 65536, "(none)");
    } else {
        fprintf(stderr, "step failed: %s\n  in: %s\n", sqlite3_errmsg(db), sql);
        fail();
    }
    sqlite3_finalize(st);
    return out;
}

/* Deletes a database file and its journal, WAL and shared-memory files. */
static inline void remove_db(const char *path)
{
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
    char f[600];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
        unlink(f);
    }
}

static inline long long query_int(sqlite3 *db, const char *sql)
{
    return atoll(query_text(db, sql));
}

#endif
