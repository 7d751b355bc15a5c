/* The schema cache: which tables of "main" are audited, their stored
 * columns in preupdate-hook numbering, their primary keys; and the TEMP
 * triggers that call resql's flush function after each row change. */
#ifndef RESQL_SCHEMA_H
#define RESQL_SCHEMA_H

#include <sqlite3.h>

#include "internal.h"
#include "value_json.h"

typedef struct resql_column {
    char *name;
    char *diff_key;         /* "<name as JSON>":{"old": , what each diff entry starts with */
    size_t diff_key_len;
    int position;           /* in the table, counting VIRTUAL columns (pragma table_xinfo's cid) */
    int generated;          /* a STORED generated column: in the record, never in a diff */
    char *type;             /* declared type, for the default's affinity */
    char *default_sql;      /* DEFAULT expression, or NULL */
    int default_known;      /* default_value has been computed (see change_log.c) */
    resql_value default_value;   /* bytes owned */
} resql_column;

typedef struct resql_table {
    char *name;
    int without_rowid;
    int width;              /* all columns, VIRTUAL ones too: sqlite3_preupdate_count() */
    int ncols;              /* stored columns, in table order */
    resql_column *cols;
    int npk;                /* declared primary-key columns; 0 when the rowid is the key */
    int *pk;                /* indexes into cols, in key order */
} resql_table;

/* Which tables to audit. */
typedef struct resql_table_filter {
    const resql_names *include;   /* empty: every table */
    const resql_names *exclude;
    int skip_log_tables;          /* the log tables live in "main" too */
} resql_table_filter;

typedef struct resql_schema {
    resql_table **tables;
    int count;
    resql_table *last;      /* the last table found: rows usually come in runs */
} resql_schema;

/* 1 if a table of that name would be audited under `filter`. */
int resql__table_wanted(const resql_table_filter *filter, const char *name);

/* Loads every audited table of "main" into *out (which must be empty).
 * Returns SQLITE_OK or an SQLite error code with a message in errmsg. */
int resql__schema_load(sqlite3 *db, const resql_table_filter *filter, resql_schema *out,
                       char *errmsg);

/* Sets col->default_value to a copy of v. Returns SQLITE_OK or SQLITE_NOMEM. */
int resql__column_set_default(resql_column *col, sqlite3_value *v);

/* Re-reads one table's columns (after another connection altered it). */
int resql__table_reload(sqlite3 *db, resql_table *table, char *errmsg);

resql_table *resql__schema_find(resql_schema *schema, const char *name);
void resql__schema_free(resql_schema *schema);

/* Creates the AFTER INSERT/UPDATE/DELETE TEMP triggers, whose body is the
 * statement `body`, on every table of `schema` that has none yet. Triggers
 * name no column of the application's, so its ALTER TABLE keeps working. */
int resql__triggers_install(sqlite3 *db, const resql_schema *schema, const char *body,
                            char *errmsg);

/* Drops every TEMP trigger resql made on db. */
int resql__triggers_drop(sqlite3 *db, char *errmsg);

#endif
