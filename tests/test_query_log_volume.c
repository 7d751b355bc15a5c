/* A transaction of 1,000,000 statements: every one is in the query log, and
 * resql's memory does not grow with the transaction (records go to SQLite as
 * each statement ends, not to a buffer). Stated bound: the process's peak
 * resident memory grows by less than 32 MiB from the 10,000th statement to
 * the 1,000,000th (the page caches of both databases are 2 MiB each). */
#include "testutil.h"

#include <sys/resource.h>
#include <unistd.h>

#define APP_DB "/tmp/resql-test-volume-app.db"
#define LOG_DB "/tmp/resql-test-volume-log.db"
#define STATEMENTS 1000000
#define BOUND_KIB (32 * 1024)

static long peak_kib(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

static void cleanup(void)
{
    const char *files[] = {APP_DB, APP_DB "-journal", APP_DB "-wal", APP_DB "-shm",
                           LOG_DB, LOG_DB "-journal", LOG_DB "-wal", LOG_DB "-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(files[i]);
}

static void million_inserts_in_one_transaction(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *log;
    sqlite3_stmt *st;
    cleanup();
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL)");
    assert_int_equal(resql_log_queries(db, LOG_DB, NULL, &log), RESQL_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(name, score) VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);

    long warm = 0;
    EXEC(db, "BEGIN");
    for (int i = 0; i < STATEMENTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "row %d", i);
        resql_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        resql_bind_double(st, 2, i / 3.0);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
        if (i == 10000) warm = peak_kib();
    }
    EXEC(db, "COMMIT");
    long grown = peak_kib() - warm;
    sqlite3_finalize(st);
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    printf("peak memory grew %ld KiB over %d statements (bound %d KiB)\n", grown, STATEMENTS, BOUND_KIB);
    assert_true(grown < BOUND_KIB);

    sqlite3 *reader;
    assert_int_equal(sqlite3_open(LOG_DB, &reader), SQLITE_OK);
    assert_int_equal(query_int(reader, "SELECT count(*) FROM resql_queries WHERE kind = 'Insert'"), STATEMENTS);
    assert_int_equal(query_int(reader, "SELECT count(DISTINCT txn_id) FROM resql_queries"), 1);
    assert_string_equal(query_text(reader, "SELECT outcome FROM resql_transactions"), "commit");
    assert_string_equal(query_text(reader, "SELECT parameters FROM resql_queries WHERE kind = 'Insert' "
                                           "ORDER BY id DESC LIMIT 1"), "[\"row 999999\",333333.0]");
    sqlite3_close(reader);
    cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(million_inserts_in_one_transaction),
    };
    return cmocka_run_group_tests_name("query log volume", tests, NULL, NULL);
}
