/* Edge cases found by review: a ROLLBACK TO the quick check must not miss,
 * a commit one logger refuses while the other would accept, a commit that
 * fails after the hook, identifiers SQLite reads differently from a quick
 * tokenizer, and a read-only transaction that ends while a SELECT steps. */
#include "testutil.h"

#include <unistd.h>

#define APP_DB "/tmp/resql-test-edge-app.db"
#define LOG_DB "/tmp/resql-test-edge-log.db"


static int setup(void **state)
{
    (void)state;
    remove_db(APP_DB);
    remove_db(LOG_DB);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_db(APP_DB);
    remove_db(LOG_DB);
    return 0;
}

/* SQLite takes \f and \v for whitespace, so "\fROLLBACK TO a" is a ROLLBACK
 * TO like any other: it undoes the transaction row written inside the
 * savepoint, and the next log row must write it again. */
static void rollback_to_after_a_form_feed_unsettles_the_transaction_row(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *log;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    EXEC(db, "PRAGMA foreign_keys = ON; CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT)");
    assert_int_equal(resql_log_changes(db, NULL, NULL, &log), RESQL_OK);
    EXEC(db, "BEGIN; SAVEPOINT a; INSERT INTO person(name) VALUES ('undone')");
    EXEC(db, "\fROLLBACK TO a");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_transactions"), 0);
    /* Foreign keys are on: a log row without its transaction row fails. */
    EXEC(db, "INSERT INTO person(name) VALUES ('kept')");
    EXEC(db, "COMMIT");
    assert_int_equal(query_int(db,
        "SELECT count(*) FROM resql_changes c JOIN resql_transactions t ON t.id = c.txn_id"), 1);
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static const char *outcomes(void)
{
    sqlite3 *r;
    assert_int_equal(sqlite3_open(LOG_DB, &r), SQLITE_OK);
    static char out[512];
    snprintf(out, sizeof out, "%s", query_text(r,
        "SELECT group_concat(kind || ':' || outcome, ' | ') FROM (SELECT * FROM resql_query_log ORDER BY id)"));
    sqlite3_close(r);
    return out;
}

/* The change log refuses the commit (CREATE TABLE ... AS SELECT outside a
 * transaction): the application's transaction is rolled back, so the query
 * log must not say "commit". The hub calls the query log's commit hook even
 * after the change log has refused. */
static void commit_refused_by_the_change_log_is_not_logged_as_committed(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *changes, *queries;
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(x)");
    assert_int_equal(resql_log_changes(db, NULL, NULL, &changes), RESQL_OK);
    assert_int_equal(resql_log_queries(db, LOG_DB, NULL, &queries), RESQL_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE c AS SELECT 1 AS x", NULL, NULL, NULL), SQLITE_CONSTRAINT);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'c'"), 0);
    assert_string_equal(outcomes(), "Create:rollback");
    assert_int_equal(resql_logger_close(queries), RESQL_OK);
    assert_int_equal(resql_logger_close(changes), RESQL_OK);
    resql_logger_free(queries);
    resql_logger_free(changes);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The commit hook runs before SQLite writes the commit, which can still fail
 * (SQLITE_BUSY: a reader holds a SHARED lock in rollback-journal mode); the
 * transaction stays open, and the application rolls it back. */
static void commit_that_fails_after_the_hook_is_not_logged_as_committed(void **state)
{
    (void)state;
    sqlite3 *db, *other;
    resql_logger *queries;
    sqlite3_stmt *read;
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
    assert_int_equal(resql_log_queries(db, LOG_DB, NULL, &queries), RESQL_OK);
    assert_int_equal(sqlite3_open(APP_DB, &other), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(other, "SELECT x FROM t", -1, &read, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(read), SQLITE_ROW);          /* holds SHARED */

    EXEC(db, "BEGIN; INSERT INTO t VALUES (3)");
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_BUSY);
    assert_int_equal(sqlite3_get_autocommit(db), 0);             /* still open */
    EXEC(db, "ROLLBACK");
    sqlite3_finalize(read);
    sqlite3_close(other);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 2);
    /* Nothing of this transaction was committed. */
    const char *got = outcomes();
    assert_null(strstr(got, "Insert:commit"));
    assert_int_equal(resql_logger_close(queries), RESQL_OK);
    resql_logger_free(queries);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* SQLite reads "é$x" as one identifier (a byte >= 0x80 starts one, '$'
 * continues it); resql's tokenizer starts an identifier only at [A-Za-z0-9_],
 * so it reads "$x" as a parameter, the SQL no longer lines up, and the
 * directly bound value is logged as null. */
static void identifier_starting_with_utf8_and_holding_a_dollar(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *queries;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(\"\xc3\xa9$x\" INT)");
    assert_int_equal(resql_log_queries(db, LOG_DB, NULL, &queries), RESQL_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(\xc3\xa9$x) VALUES (?)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int(st, 1, 42);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3 *r;
    assert_int_equal(sqlite3_open(LOG_DB, &r), SQLITE_OK);
    assert_string_equal(query_text(r, "SELECT parameters FROM resql_query_log"), "[42]");
    sqlite3_close(r);
    assert_int_equal(resql_logger_close(queries), RESQL_OK);
    resql_logger_free(queries);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A read-only transaction ends without a commit hook; the query log closes
 * it when its last statement ends. A SELECT still stepping past its COMMIT
 * keeps it open, and the next autocommit statement joins that transaction
 * (its txn_id and extra) instead of being one of its own. */
static void statement_after_a_read_only_commit_gets_its_own_transaction(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *queries;
    resql_options *opts;
    sqlite3_stmt *sel;
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
    resql_options_new(&opts);
    resql_options_include_reads(opts, 1);
    assert_int_equal(resql_log_queries(db, LOG_DB, opts, &queries), RESQL_OK);
    resql_options_free(opts);
    EXEC(db, "BEGIN");
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT x FROM t", -1, &sel, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(sel), SQLITE_ROW);
    EXEC(db, "COMMIT");
    EXEC(db, "INSERT INTO t VALUES (3)");
    sqlite3_finalize(sel);
    sqlite3 *r;
    assert_int_equal(sqlite3_open(LOG_DB, &r), SQLITE_OK);
    assert_int_equal(query_int(r, "SELECT count(DISTINCT txn_id) FROM resql_queries"), 2);
    assert_int_equal(query_int(r, "SELECT (SELECT txn_id FROM resql_queries WHERE kind = 'Insert') <> "
                                  "(SELECT txn_id FROM resql_queries WHERE kind = 'Begin')"), 1);
    sqlite3_close(r);
    assert_int_equal(resql_logger_close(queries), RESQL_OK);
    resql_logger_free(queries);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(rollback_to_after_a_form_feed_unsettles_the_transaction_row),
        T(commit_refused_by_the_change_log_is_not_logged_as_committed),
        T(commit_that_fails_after_the_hook_is_not_logged_as_committed),
        T(identifier_starting_with_utf8_and_holding_a_dollar),
        T(statement_after_a_read_only_commit_gets_its_own_transaction),
#undef T
    };
    return cmocka_run_group_tests_name("edge cases", tests, NULL, NULL);
}
