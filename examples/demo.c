/* resql demo: a small shop database, a few changes (one of them rolled
 * back), and the change log they leave, printed as a table. */
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
    resql_logger *log;

    if (sqlite3_open("demo.db", &db) != SQLITE_OK) return 1;
    run(db, "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INT)");

    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, who, NULL, NULL);
    if (resql_log_changes(db, "demo-audit.db", opts, &log) != RESQL_OK) {
        fprintf(stderr, "resql: %s\n", resql_errmsg(NULL));
        return 1;
    }
    resql_options_free(opts);
    printf("resql %s: logging changes of demo.db into demo-audit.db\n\n", resql_version());

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
    return 0;
}
