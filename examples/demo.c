/* resql demo: a small database, a few changes (one of them rolled back),
 * and the change log and query log they leave, printed as tables. */
#include <stdio.h>

#include <sqlite3.h>

#include "resql.h"

static void run(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    printf("  %s\n", sql);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        printf("    -> error: %s\n", err);
        sqlite3_free(err);
    }
}

/* The logged-in user, as an application would know it. */
static const char *current_user = "alice";

static void who(resql_extra_result *result, void *ctx)
{
    char json[128];
    (void)ctx;
    snprintf(json, sizeof json, "{\"user\": \"%s\", \"app\": \"demo\"}", current_user);
    resql_extra_json(result, json);
}

int main(void)
{
    sqlite3 *db;
    resql_options *opts;
    resql_logger *log, *queries;

    if (sqlite3_open("demo.db", &db) != SQLITE_OK) return 1;
    run(db, "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INT)");

    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, who, NULL, NULL);
    if (resql_log_changes(db, "demo-audit.db", opts, &log) != RESQL_OK) {
        fprintf(stderr, "resql: %s\n", resql_errmsg(NULL));
        return 1;
    }
    if (resql_log_queries(db, "demo-queries.db", opts, &queries) != RESQL_OK) {
        fprintf(stderr, "resql: %s\n", resql_errmsg(NULL));
        return 1;
    }
    resql_options_free(opts);
    printf("resql %s: logging the changes of demo.db into demo-audit.db\n", resql_version());
    printf("           and its statements into demo-queries.db\n\n");

    run(db, "INSERT INTO person(name, age) VALUES ('Ada', 36), ('Linus', 21)");
    current_user = "bob";
    run(db, "UPDATE person SET age = age + 1 WHERE name = 'Ada'");
    run(db, "BEGIN");
    run(db, "DELETE FROM person");
    run(db, "ROLLBACK");
    run(db, "ALTER TABLE person ADD COLUMN email TEXT");
    current_user = "carol";
    run(db, "UPDATE person SET email = 'linus@example.org' WHERE name = 'Linus'");
    run(db, "DELETE FROM person WHERE name = 'Ada'");

    /* Bound through resql, the query log keeps the parameters exactly. */
    sqlite3_stmt *insert;
    sqlite3_prepare_v2(db, "INSERT INTO person(name, age, email) VALUES (?, ?, :email)", -1, &insert, NULL);
    resql_bind_text(insert, 1, "Grace", -1, SQLITE_STATIC);
    resql_bind_int64(insert, 2, 85);
    resql_bind_text(insert, 3, "grace@example.org", -1, SQLITE_STATIC);
    printf("  INSERT INTO person(name, age, email) VALUES (?, ?, :email)  -- prepared\n");
    sqlite3_step(insert);
    sqlite3_finalize(insert);

    resql_logger_close(queries);
    resql_logger_free(queries);
    resql_logger_close(log);
    resql_logger_free(log);
    sqlite3_close(db);

    printf("\nThe change log (the rolled-back DELETE is not in it):\n\n");
    sqlite3 *audit;
    sqlite3_stmt *q;
    sqlite3_open("demo-audit.db", &audit);
    sqlite3_prepare_v2(audit,
        "SELECT id, type, table_name, record_id, json_extract(extra, '$.user'), diff "
        "FROM resql_change_log ORDER BY id", -1, &q, NULL);
    printf("%-3s %-7s %-7s %-4s %-6s %s\n", "id", "type", "table", "key", "user", "diff");
    while (sqlite3_step(q) == SQLITE_ROW)
        printf("%-3s %-7s %-7s %-4s %-6s %s\n", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1),
               sqlite3_column_text(q, 2), sqlite3_column_text(q, 3), sqlite3_column_text(q, 4),
               sqlite3_column_text(q, 5));
    sqlite3_finalize(q);
    sqlite3_close(audit);

    printf("\nThe query log (reads are left out; the rolled-back transaction is marked):\n\n");
    sqlite3 *log_db;
    sqlite3_open("demo-queries.db", &log_db);
    sqlite3_prepare_v2(log_db,
        "SELECT id, txn_id, kind, outcome, json_extract(extra, '$.user'), parameters, statement "
        "FROM resql_query_log ORDER BY id", -1, &q, NULL);
    printf("%-3s %-3s %-8s %-8s %-6s %-32s %s\n", "id", "txn", "kind", "outcome", "user", "parameters",
           "statement");
    while (sqlite3_step(q) == SQLITE_ROW)
        printf("%-3s %-3s %-8s %-8s %-6s %-32s %s\n", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1),
               sqlite3_column_text(q, 2), sqlite3_column_text(q, 3), sqlite3_column_text(q, 4),
               sqlite3_column_text(q, 5), sqlite3_column_text(q, 6));
    sqlite3_finalize(q);
    sqlite3_close(log_db);
    return 0;
}
