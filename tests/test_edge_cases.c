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

/* Logging queries into the logged file itself is refused, and before the
 * query log's connection has switched that file to WAL mode, which would
 * outlive the refusal. */
static void query_log_into_the_logged_file_leaves_it_as_it_was(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *queries = NULL;
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(x)");
    assert_int_equal(resql_log_queries(db, APP_DB, NULL, &queries), RESQL_MISUSE);
    assert_null(queries);
    assert_non_null(strstr(resql_errmsg(NULL), "logged database itself"));
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
    assert_string_equal(query_text(db, "PRAGMA journal_mode"), "delete");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

typedef struct answer_ctx {
    int rc;
    char msg[256];
} answer_ctx;

static void answer_null_json(resql_extra_result *result, void *ctx)
{
    answer_ctx *a = ctx;
    a->rc = resql_extra_json(result, NULL);
    snprintf(a->msg, sizeof a->msg, "%s", resql_errmsg(NULL));
}

/* The answers of an extra callback refuse NULL with a message, and a refused
 * answer is no answer: the transaction has no extra. */
static void extra_answers_refuse_null_with_a_message(void **state)
{
    (void)state;
    resql_options_set_extra_json(NULL, "{}");     /* leaves an unrelated message */
    assert_int_equal(resql_extra_json(NULL, "{}"), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "resql_extra_json"));
    resql_options_set_extra_json(NULL, "{}");
    assert_int_equal(resql_extra_error(NULL, "why"), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "resql_extra_error"));

    sqlite3 *db;
    resql_logger *log;
    resql_options *opts;
    answer_ctx a = {-1, ""};
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE t(x)");
    assert_int_equal(resql_options_new(&opts), RESQL_OK);
    assert_int_equal(resql_options_set_extra_callback(opts, answer_null_json, &a, NULL), RESQL_OK);
    assert_int_equal(resql_log_changes(db, NULL, opts, &log), RESQL_OK);
    resql_options_free(opts);
    EXEC(db, "INSERT INTO t VALUES (1)");
    assert_int_equal(a.rc, RESQL_MISUSE);
    assert_non_null(strstr(a.msg, "json is NULL"));
    assert_string_equal(query_text(db, "SELECT extra FROM resql_transactions"), "(null)");
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

typedef struct opener_ctx {
    sqlite3 *db;
    int calls, rc;
    char msg[256];
    int (*open)(sqlite3 *, const char *, const resql_options *, resql_logger **);
    const char *to;
} opener_ctx;

/* A clock that tries to start another logger on its own connection. */
static sqlite3_int64 opening_clock(void *ctx)
{
    opener_ctx *o = ctx;
    if (o->calls++ == 0) {
        resql_logger *other = NULL;
        o->rc = o->open(o->db, o->to, NULL, &other);
        snprintf(o->msg, sizeof o->msg, "%s", resql_errmsg(NULL));
        resql_logger_free(other);
    }
    return 1000000;
}

/* resql.h: the clock "must not call into resql (such a call is refused with
 * RESQL_MISUSE)". Starting a logger from there would install it in the
 * middle of the statement resql is logging; and a logger freed there stays
 * allocated, keeping the connection from closing. */
static void starting_a_logger_from_a_resql_callback_is_refused(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        sqlite3 *db;
        resql_logger *log;
        resql_options *opts;
        opener_ctx o = {NULL, 0, -1, "", k ? resql_log_changes : resql_log_queries, k ? NULL : LOG_DB};
        assert_int_equal(sqlite3_open(APP_DB, &db), SQLITE_OK);
        o.db = db;
        EXEC(db, "CREATE TABLE t(x)");
        assert_int_equal(resql_options_new(&opts), RESQL_OK);
        assert_int_equal(resql_options_set_clock(opts, opening_clock, &o, NULL), RESQL_OK);
        /* The change log's clock tries the query log, and the other way round. */
        int rc = k ? resql_log_queries(db, LOG_DB, opts, &log) : resql_log_changes(db, NULL, opts, &log);
        assert_int_equal(rc, RESQL_OK);
        resql_options_free(opts);
        EXEC(db, "INSERT INTO t VALUES (1)");
        assert_int_equal(o.rc, RESQL_MISUSE);
        assert_non_null(strstr(o.msg, "inside a resql callback"));
        assert_int_equal(resql_logger_close(log), RESQL_OK);
        resql_logger_free(log);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        remove_db(APP_DB);
        remove_db(LOG_DB);
    }
}

static int blob_destroyed;
static void count_blob_destroy(void *p)
{
    (void)p;
    blob_destroyed++;
}

/* SQLite leaves a negative blob size undefined (it reads on to two NUL
 * bytes); resql_bind_blob refuses it, binds nothing, and disposes of the
 * blob as a failed bind does. */
static void bind_blob_with_a_negative_size_is_refused(void **state)
{
    (void)state;
    sqlite3 *db;
    sqlite3_stmt *st;
    static const char bytes[] = {'a', 'b', 0, 0};
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT typeof(?1)", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(resql_bind_blob(st, 1, bytes, -1, SQLITE_STATIC), SQLITE_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "negative"));
    blob_destroyed = 0;
    assert_int_equal(resql_bind_blob(st, 1, bytes, -2, count_blob_destroy), SQLITE_MISUSE);
    assert_int_equal(blob_destroyed, 1);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "null");
    sqlite3_finalize(st);
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
        T(query_log_into_the_logged_file_leaves_it_as_it_was),
        T(extra_answers_refuse_null_with_a_message),
        T(starting_a_logger_from_a_resql_callback_is_refused),
        T(bind_blob_with_a_negative_size_is_refused),
#undef T
    };
    return cmocka_run_group_tests_name("edge cases", tests, NULL, NULL);
}
