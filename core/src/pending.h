/* The rows a change log has captured but not yet written, as its TEMP
 * triggers read them: each trigger's body is
 *   INSERT INTO <log>.resql_changes(...) SELECT ... FROM resql_pending
 * so a log row is written by the trigger program itself, inside the
 * application's statement, with no nested statement of resql's. Reading the
 * table drains the rows, so only resql's own reads may: they pass the
 * logger's random token (a hidden column); any other read sees no rows. */
#ifndef RESQL_PENDING_H
#define RESQL_PENDING_H

#include <stddef.h>
#include <sqlite3.h>

#define RESQL_PENDING_VTAB "resql_pending"

/* One log row, borrowed from the change log until the next call. */
typedef struct resql_log_row {
    sqlite3_int64 txn_id;
    const char *changed_at, *table_name, *kind;
    const char *record_id, *prev_record_id, *diff;   /* prev_record_id NULL: the key did not change */
    size_t record_id_len, prev_record_id_len, diff_len;
} resql_log_row;

/* The virtual table's client data. SQLite owns it (and frees it when the
 * module goes); it outlives a change log freed inside a transaction, whose
 * TEMP triggers a ROLLBACK can bring back: then `log` is NULL and the table
 * is empty. */
typedef struct resql_pending_source {
    struct change_log *log;
    char token[33];         /* resql's reads pass it: resql_pending('<token>'); others read nothing */
} resql_pending_source;

/* change_log.c: start a drain; give the next row to log (SQLITE_ROW), or
 * SQLITE_DONE, or an error code with *errmsg set to the logger's message;
 * end it (the drained rows are gone). */
int resql__pending_begin(struct change_log *log, const char **errmsg);
int resql__pending_next(struct change_log *log, resql_log_row *row, const char **errmsg);
void resql__pending_end(struct change_log *log);

/* pending_vtab.c: registers the eponymous table on db, reading `source`
 * (which SQLite frees with the module). Returns an SQLite code. */
int resql__pending_register(sqlite3 *db, resql_pending_source *source);

/* Drops the module (only when no statement runs). */
int resql__pending_unregister(sqlite3 *db);

#endif
