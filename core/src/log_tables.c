#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log_tables.h"

static const char *const log_tables[] = {
    "resql_meta", "resql_transactions", "resql_changes", "resql_queries",
};

int resql__is_log_table(const char *name)
{
    for (size_t i = 0; i < sizeof log_tables / sizeof log_tables[0]; i++)
        if (sqlite3_stricmp(name, log_tables[i]) == 0) return 1;
    return 0;
}

/* "%1$s" is the schema name. Times are UTC ISO-8601 with microseconds; JSON
 * columns hold resql's lossless value JSON (README.md, "Values"). */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS \"%1$s\".resql_meta(\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value ANY\n"
    ") WITHOUT ROWID;\n"
    "INSERT OR IGNORE INTO \"%1$s\".resql_meta VALUES ('schema_version', %2$d);\n"
    "CREATE TABLE IF NOT EXISTS \"%1$s\".resql_transactions(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  started_at TEXT NOT NULL,\n"       /* the time of its first log row */
    "  extra TEXT,\n"                     /* a JSON object, or NULL */
    "  outcome TEXT\n"                    /* 'commit' or 'rollback' */
    ");\n"
    "CREATE TABLE IF NOT EXISTS \"%1$s\".resql_changes(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  txn_id INTEGER NOT NULL REFERENCES resql_transactions(id),\n"
    "  changed_at TEXT NOT NULL,\n"
    "  table_name TEXT NOT NULL,\n"
    "  record_id TEXT NOT NULL,\n"        /* JSON: scalar, array for a composite key, or the rowid */
    "  prev_record_id TEXT,\n"            /* JSON: the key before an update that changed it */
    "  kind TEXT NOT NULL,\n"             /* 'insert', 'update', 'delete' */
    "  diff TEXT NOT NULL\n"              /* JSON: {\"col\": {\"old\": v, \"new\": v}, ...} */
    ");\n"
    "CREATE INDEX IF NOT EXISTS \"%1$s\".resql_changes_by_record\n"
    "  ON resql_changes(table_name, record_id);\n"
    "CREATE TABLE IF NOT EXISTS \"%1$s\".resql_queries(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  txn_id INTEGER NOT NULL REFERENCES resql_transactions(id),\n"
    "  executed_at TEXT NOT NULL,\n"
    "  kind TEXT NOT NULL,\n"
    "  dialect TEXT NOT NULL,\n"
    "  statement TEXT NOT NULL,\n"
    "  parameters TEXT NOT NULL,\n"       /* JSON array (positional) or object (named) */
    "  parameters_exact INTEGER NOT NULL,\n"  /* 0 when REALs may be rounded */
    "  duration_us INTEGER,\n"
    "  rows_changed INTEGER\n"
    ");\n"
    "CREATE VIEW IF NOT EXISTS \"%1$s\".resql_change_log AS\n"
    "  SELECT c.id, c.table_name, c.record_id, c.prev_record_id, c.diff, c.kind AS type,\n"
    "         c.changed_at AS executed_at, t.extra, c.txn_id, t.started_at AS txn_started_at\n"
    "  FROM resql_changes c JOIN resql_transactions t ON t.id = c.txn_id;\n"
    "CREATE VIEW IF NOT EXISTS \"%1$s\".resql_query_log AS\n"
    "  SELECT q.id, q.kind, q.dialect AS dialect_description, q.statement, q.parameters,\n"
    "         q.parameters_exact, q.executed_at, q.duration_us, q.rows_changed, t.extra,\n"
    "         t.outcome, q.txn_id\n"
    "  FROM resql_queries q JOIN resql_transactions t ON t.id = q.txn_id;\n";

int resql__log_tables_create(sqlite3 *db, const char *db_name, char *errmsg)
{
    char sql[sizeof schema_sql + 512];
    snprintf(sql, sizeof sql, schema_sql, db_name, RESQL_LOG_SCHEMA_VERSION);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        resql__format(errmsg, "resql: cannot create the log tables: %s", sqlite3_errmsg(db));
        return rc;
    }

    snprintf(sql, sizeof sql,
             "SELECT value FROM \"%s\".resql_meta WHERE key = 'schema_version'", db_name);
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    int version = rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    if (version != RESQL_LOG_SCHEMA_VERSION) {
        resql__format(errmsg,
                      "resql: the log tables have schema version %d; this resql (%s) writes "
                      "version %d", version, RESQL_VERSION, RESQL_LOG_SCHEMA_VERSION);
        return SQLITE_MISMATCH;
    }
    return SQLITE_OK;
}

int resql__same_file(sqlite3 *app, sqlite3 *log, const char *log_schema)
{
    const char *app_file = sqlite3_db_filename(app, "main");
    const char *log_file = sqlite3_db_filename(log, log_schema);
    return app_file && log_file && *app_file && strcmp(app_file, log_file) == 0;
}

int resql__copy_synchronous(sqlite3 *app, sqlite3 *log, const char *log_schema)
{
    sqlite3_stmt *q = NULL;
    int level = 2;                                      /* FULL, SQLite's default */
    if (sqlite3_prepare_v2(app, "PRAGMA main.synchronous", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        level = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA \"%s\".synchronous = %d", log_schema, level);
    return sqlite3_exec(log, sql, NULL, NULL, NULL);
}
