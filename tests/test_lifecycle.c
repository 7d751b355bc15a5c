/* Loggers closed or freed at awkward moments, called from their own
 * callbacks, or sharing a connection: the connection must stay usable and
 * the log consistent. Each test is a bug once found by review. */
#define _POSIX_C_SOURCE 200809L       /* nanosleep */
#include "testutil.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
    sqlite3 *db;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
    free(f);
    return 0;
}

static resql_logger *start(sqlite3 *db)
{
    resql_logger *log = NULL;
    if (resql_log_changes(db, NULL, NULL, &log) != RESQL_OK) fail_msg("%s", resql_errmsg(NULL));
    return log;
}

/* Freed inside a transaction that is then rolled back: the rollback brings
 * the TEMP triggers back, and the app's writes must still work. */
static void free_inside_transaction_then_rollback(void **state)
{
    fixture *f = *state;
    resql_logger *log = start(f->db);
    EXEC(f->db, "BEGIN; INSERT INTO t(v) VALUES (1)");
    resql_logger_free(log);
    EXEC(f->db, "ROLLBACK");
    EXEC(f->db, "INSERT INTO t(v) VALUES (2)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM t"), 1);
}

/* Close refuses while a statement of the app is still running, and keeps
 * logging; once the statement is done, close removes everything. */
static void close_refused_while_a_statement_runs(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO t(v) VALUES (1), (2)");
    resql_logger *log = start(f->db);
    sqlite3_stmt *select;
    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT v FROM t", -1, &select, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(select), SQLITE_ROW);
    assert_int_equal(resql_logger_close(log), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(log), "statement is running"));
    sqlite3_finalize(select);
    EXEC(f->db, "INSERT INTO t(v) VALUES (3)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes"), 1);
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_module_list WHERE name LIKE 'resql%'"), 0);
    resql_logger_free(log);
}

/* Freed while a statement runs: resql_pending stays registered but empty. */
static void free_while_a_statement_runs(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO t(v) VALUES (1)");
    resql_logger *log = start(f->db);
    sqlite3_stmt *select;
    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT v FROM t", -1, &select, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(select), SQLITE_ROW);
    resql_logger_free(log);
    sqlite3_finalize(select);
    EXEC(f->db, "INSERT INTO t(v) VALUES (2)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes"), 0);
    /* The module left registered is taken over by the next change log. */
    log = start(f->db);
    EXEC(f->db, "INSERT INTO t(v) VALUES (3)");
    assert_string_equal(query_text(f->db, "SELECT json_extract(diff, '$.v.new') FROM resql_changes"), "3");
    resql_logger_free(log);
}

/* A logger's own callback must not close or refresh it mid-flush. */
static resql_logger *callback_target;
static int callback_rc[2];

static void meddling_callback(resql_extra_result *result, void *ctx)
{
    (void)ctx;
    callback_rc[0] = resql_logger_refresh(callback_target);
    callback_rc[1] = resql_logger_close(callback_target);
    resql_extra_json(result, "{}");
}

static void logger_calls_from_its_own_callback_are_refused(void **state)
{
    fixture *f = *state;
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, meddling_callback, NULL, NULL);
    assert_int_equal(resql_log_changes(f->db, NULL, opts, &callback_target), RESQL_OK);
    resql_options_free(opts);
    EXEC(f->db, "INSERT INTO t(v) VALUES (1), (2)");
    assert_int_equal(callback_rc[0], RESQL_MISUSE);
    assert_int_equal(callback_rc[1], RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(callback_target), "inside a resql callback"));
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes"), 2);
    assert_int_equal(resql_logger_close(callback_target), RESQL_OK);
    resql_logger_free(callback_target);
}

/* Another connection drops and adds a column: the very first log row after
 * it already uses the new columns. */
static void first_row_after_another_connections_alter(void **state)
{
    (void)state;
    const char *path = "/tmp/resql-test-lifecycle.db";
    unlink(path);
    sqlite3 *a, *b;
    assert_int_equal(sqlite3_open(path, &a), SQLITE_OK);
    assert_int_equal(sqlite3_open(path, &b), SQLITE_OK);
    EXEC(a, "CREATE TABLE w(id INTEGER PRIMARY KEY, a, b); INSERT INTO w VALUES (1, 'a', 'b')");
    resql_logger *log = start(a);
    EXEC(b, "ALTER TABLE w DROP COLUMN a; ALTER TABLE w ADD COLUMN c");
    EXEC(a, "UPDATE w SET c = 'new'");
    assert_string_equal(query_text(a, "SELECT diff FROM resql_changes"), "{\"c\":{\"old\":null,\"new\":\"new\"}}");
    resql_logger_free(log);
    sqlite3_close(a);
    sqlite3_close(b);
    unlink(path);
}

/* An app SQL function that runs SQL on the same connection. */
static void run_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_int(ctx, sqlite3_exec(sqlite3_context_db_handle(ctx),
                                         (const char *)sqlite3_value_text(argv[0]), NULL, NULL, NULL));
}

/* A nested statement writes the transaction's row and then fails, which
 * takes the row away: the outer statement's log row must still have one. */
static void nested_failed_statement_keeps_the_transaction_row(void **state)
{
    fixture *f = *state;
    sqlite3_create_function(f->db, "run_sql", 1, SQLITE_UTF8, NULL, run_sql, NULL, NULL);
    EXEC(f->db, "CREATE TABLE u(x UNIQUE)");
    resql_logger *log = start(f->db);
    EXEC(f->db, "BEGIN; INSERT INTO t VALUES (1, run_sql('INSERT INTO u VALUES (1), (1)')); COMMIT");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_change_log WHERE table_name = 't'"), 1);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE table_name = 'u'"), 0);
    resql_logger_free(log);
}

/* Opening a change log must not show up as statements in the query log. */
static void change_log_setup_is_not_in_the_query_log(void **state)
{
    fixture *f = *state;
    const char *qlog = "/tmp/resql-test-lifecycle-queries.db";
    const char *audit = "/tmp/resql-test-lifecycle-audit.db";
    unlink(qlog);
    unlink(audit);
    resql_logger *queries, *changes;
    assert_int_equal(resql_log_queries(f->db, qlog, NULL, &queries), RESQL_OK);
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_include_table(opts, "t");
    assert_int_equal(resql_log_changes(f->db, audit, opts, &changes), RESQL_OK);
    resql_options_free(opts);
    EXEC(f->db, "INSERT INTO t(v) VALUES (1)");
    resql_logger_free(changes);
    resql_logger_free(queries);
    sqlite3 *reader;
    sqlite3_open(qlog, &reader);
    assert_string_equal(query_text(reader, "SELECT group_concat(statement, ' | ') FROM resql_queries"),
                        "INSERT INTO t(v) VALUES (1)");
    sqlite3_close(reader);
    unlink(qlog);
    unlink(audit);
}

static void empty_target_name_is_refused(void **state)
{
    fixture *f = *state;
    resql_logger *log;
    assert_int_equal(resql_log_changes(f->db, "", NULL, &log), RESQL_MISUSE);
    assert_null(log);
    assert_non_null(strstr(resql_errmsg(NULL), "empty"));
}

/* CREATE TABLE ... AS SELECT of a column named rowid: the key is the rowid. */
static void create_table_as_select_with_a_rowid_column(void **state)
{
    fixture *f = *state;
    resql_logger *log = start(f->db);
    EXEC(f->db, "BEGIN; CREATE TABLE c AS SELECT 'x' AS rowid, 'y' AS v; COMMIT");
    assert_string_equal(query_text(f->db, "SELECT record_id || ' ' || diff FROM resql_changes"),
                        "1 {\"rowid\":{\"old\":null,\"new\":\"x\"},\"v\":{\"old\":null,\"new\":\"y\"}}");
    resql_logger_free(log);
}

/* The triggers name resql_changes without a schema (SQLite allows none in a
 * trigger's INSERT): a main database that has its own resql_changes would
 * take the rows meant for an attached log, so that setup is refused. */
static void attached_log_refused_when_main_has_a_log_table(void **state)
{
    fixture *f = *state;
    const char *audit = "/tmp/resql-test-lifecycle-shadow.db";
    unlink(audit);
    resql_logger *log = start(f->db);                  /* leaves the log tables in main */
    resql_logger_free(log);
    assert_int_equal(resql_log_changes(f->db, audit, NULL, &log), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "has a resql_changes table of its own"));
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_database_list WHERE name = 'resql_log'"), 0);
    unlink(audit);
}

/* An application table called resql_pending would hide resql's virtual
 * table from its triggers: refused, with nothing left behind. */
static void an_app_table_named_resql_pending_is_refused(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE resql_pending(x)");
    resql_logger *log;
    assert_int_equal(resql_log_changes(f->db, NULL, NULL, &log), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "resql_pending table of its own"));
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'resql%' "
                                      "AND name <> 'resql_pending'"), 0);
}

/* An earlier attached database with a resql_changes table of its own would
 * take the rows (the triggers cannot name a schema): refused. */
static void attached_earlier_database_with_a_log_table_is_refused(void **state)
{
    fixture *f = *state;
    const char *old = "/tmp/resql-test-lifecycle-old.db", *audit = "/tmp/resql-test-lifecycle-audit2.db";
    unlink(old);
    unlink(audit);
    sqlite3 *o;
    sqlite3_open(old, &o);
    EXEC(o, "CREATE TABLE resql_changes(x)");
    sqlite3_close(o);
    char sql[256];
    snprintf(sql, sizeof sql, "ATTACH '%s' AS archive", old);
    EXEC(f->db, sql);
    resql_logger *log;
    assert_int_equal(resql_log_changes(f->db, audit, NULL, &log), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "\"archive\" database has a resql_changes table"));
    EXEC(f->db, "DETACH archive");
    unlink(old);
    unlink(audit);
}

/* Reading resql_pending drains it, so only resql's own reads may: an
 * application's SELECT sees nothing, and a change that is still pending (a
 * blob write, which no trigger follows) keeps the commit from going through
 * unlogged. */
static void an_application_read_of_resql_pending_drains_nothing(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO t(id, v) VALUES (1, x'00')");
    resql_logger *log = start(f->db);
    EXEC(f->db, "BEGIN");
    sqlite3_blob *blob;
    assert_int_equal(sqlite3_blob_open(f->db, "main", "t", "v", 1, 1, &blob), SQLITE_OK);
    assert_int_equal(sqlite3_blob_write(blob, "\x01", 1, 0), SQLITE_OK);
    sqlite3_blob_close(blob);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_pending"), 0);
    assert_int_equal(sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL), SQLITE_CONSTRAINT);
    if (!sqlite3_get_autocommit(f->db)) EXEC(f->db, "ROLLBACK");
    assert_non_null(strstr(resql_commit_refusal(f->db), "never written"));
    resql_logger_free(log);
}

/* Someone who copies the token out of the TEMP schema can read (and so
 * steal) pending rows. What an aggregate keeps of them must be its own copy:
 * resql reuses, and may move, a row's buffers when the cursor moves on
 * (valgrind reports the read of a moved buffer). */
static void a_token_read_keeps_copies_of_the_rows(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO t(id, v) VALUES (9, x'00'), (10, zeroblob(4096))");
    resql_logger *log = start(f->db);
    char token_sql[512];
    snprintf(token_sql, sizeof token_sql, "%s",
             query_text(f->db, "SELECT sql FROM sqlite_temp_schema WHERE type = 'trigger' LIMIT 1"));
    char *token = strstr(token_sql, "resql_pending('");
    assert_non_null(token);
    token += strlen("resql_pending('");
    *strchr(token, '\'') = '\0';

    EXEC(f->db, "BEGIN");
    sqlite3_blob *blob;
    for (int id = 9; id <= 10; id++) {      /* two pending rows, no trigger follows */
        assert_int_equal(sqlite3_blob_open(f->db, "main", "t", "v", id, 1, &blob), SQLITE_OK);
        assert_int_equal(sqlite3_blob_write(blob, "\x01", 1, 0), SQLITE_OK);
        sqlite3_blob_close(blob);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT max(diff) FROM resql_pending('%s')", token);
    assert_string_equal(query_text(f->db, sql),
                        "{\"id\":{\"old\":9,\"new\":null},\"v\":{\"old\":{\"$blob\":\"AA==\"},\"new\":null}}");
    EXEC(f->db, "ROLLBACK");
    resql_logger_free(log);
}

/* A logger called from another thread waits for the connection: here a
 * second thread tries to change `extra` and to close the logger while the
 * first is inside the logger's own extra callback, in the middle of a
 * statement. Neither call may run until that statement is done. */
typedef struct other_thread {
    resql_logger *log;
    int started, finished;          /* __atomic */
    int extra_rc, close_rc;
} other_thread;

static void *meddle(void *arg)
{
    other_thread *t = arg;
    __atomic_store_n(&t->started, 1, __ATOMIC_SEQ_CST);
    t->extra_rc = resql_logger_set_extra_json(t->log, "{\"by\":\"other thread\"}");
    t->close_rc = resql_logger_close(t->log);
    __atomic_store_n(&t->finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pthread_t meddler;
static int finished_during_callback;

static void extra_while_another_thread_meddles(resql_extra_result *result, void *ctx)
{
    other_thread *t = ctx;
    pthread_create(&meddler, NULL, meddle, t);
    while (!__atomic_load_n(&t->started, __ATOMIC_SEQ_CST)) sleep_ms(1);
    sleep_ms(100);                  /* time enough for an unserialized call to finish */
    finished_during_callback = __atomic_load_n(&t->finished, __ATOMIC_SEQ_CST);
    resql_extra_json(result, "{\"by\":\"callback\"}");
}

static void another_thread_waits_for_the_connection(void **state)
{
    fixture *f = *state;
    sqlite3 *db;                    /* serialized: any thread may use it */
    assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL),
                     SQLITE_OK);
    EXEC(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
    other_thread t = {0};
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, extra_while_another_thread_meddles, &t, NULL);
    assert_int_equal(resql_log_changes(db, NULL, opts, &t.log), RESQL_OK);
    resql_options_free(opts);

    EXEC(db, "INSERT INTO t(v) VALUES (1)");
    pthread_join(meddler, NULL);
    assert_int_equal(finished_during_callback, 0);
    assert_int_equal(t.extra_rc, RESQL_OK);
    assert_int_equal(t.close_rc, RESQL_OK);
    assert_string_equal(query_text(db, "SELECT extra FROM resql_transactions"), "{\"by\":\"callback\"}");
    resql_logger_free(t.log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    (void)f;
}

/* A clock runs inside the application's statements like any resql
 * callback: freeing the logger from it does nothing (the logger is in use),
 * where it used to pull the query log from under the statement. */
static resql_logger *clock_victim;
static int clock_calls;

static sqlite3_int64 clock_that_frees_its_logger(void *ctx)
{
    (void)ctx;
    clock_calls++;
    resql_logger_free(clock_victim);
    return 1700000000000000;
}

static void a_clock_cannot_free_its_logger(void **state)
{
    fixture *f = *state;
    const char *path = "/tmp/resql-test-lifecycle-clock.db";
    unlink(path);
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_clock(opts, clock_that_frees_its_logger, NULL, NULL);
    assert_int_equal(resql_log_queries(f->db, path, opts, &clock_victim), RESQL_OK);
    resql_options_free(opts);
    EXEC(f->db, "INSERT INTO t(v) VALUES (1)");
    assert_true(clock_calls > 0);
    assert_int_equal(resql_logger_close(clock_victim), RESQL_OK);   /* still there, and works */
    resql_logger_free(clock_victim);
    sqlite3 *log;
    assert_int_equal(sqlite3_open(path, &log), SQLITE_OK);
    assert_int_equal(query_int(log, "SELECT count(*) FROM resql_queries"), 1);
    sqlite3_close(log);
    unlink(path);
}

/* sqlite3_close() of a connection that still has a logger fails with
 * SQLITE_BUSY, as with any statement left unfinalized, instead of leaving
 * the logger to a connection that is gone; after the logger, it succeeds. */
static void a_connection_with_a_logger_does_not_close(void **state)
{
    (void)state;
    const char *path = "/tmp/resql-test-lifecycle-guard.db";
    for (int kind = 0; kind < 2; kind++) {
        sqlite3 *db;
        resql_logger *log;
        unlink(path);
        assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
        EXEC(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
        assert_int_equal(kind ? resql_log_queries(db, path, NULL, &log) : resql_log_changes(db, NULL, NULL, &log),
                         RESQL_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_BUSY);
        EXEC(db, "INSERT INTO t(v) VALUES (1)");            /* still open, still logged */
        resql_logger_free(log);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
    }
    unlink(path);
}

/* A change log into another file, freed inside a transaction, leaves its
 * database attached (a ROLLBACK could still need it); the next change log on
 * the connection takes that leftover over instead of failing to attach. */
static void a_leftover_log_database_does_not_block_the_next_change_log(void **state)
{
    fixture *f = *state;
    const char *first = "/tmp/resql-test-lifecycle-first.db", *second = "/tmp/resql-test-lifecycle-second.db";
    unlink(first);
    unlink(second);
    resql_logger *log;
    assert_int_equal(resql_log_changes(f->db, first, NULL, &log), RESQL_OK);
    EXEC(f->db, "BEGIN; INSERT INTO t(v) VALUES (1)");
    resql_logger_free(log);
    EXEC(f->db, "COMMIT");
    assert_int_equal(resql_log_changes(f->db, second, NULL, &log), RESQL_OK);
    EXEC(f->db, "INSERT INTO t(v) VALUES (2)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_log.resql_changes"), 1);
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);
    unlink(first);
    unlink(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(free_inside_transaction_then_rollback),
        T(close_refused_while_a_statement_runs),
        T(free_while_a_statement_runs),
        T(logger_calls_from_its_own_callback_are_refused),
        T(first_row_after_another_connections_alter),
        T(nested_failed_statement_keeps_the_transaction_row),
        T(change_log_setup_is_not_in_the_query_log),
        T(empty_target_name_is_refused),
        T(create_table_as_select_with_a_rowid_column),
        T(attached_log_refused_when_main_has_a_log_table),
        T(an_app_table_named_resql_pending_is_refused),
        T(attached_earlier_database_with_a_log_table_is_refused),
        T(an_application_read_of_resql_pending_drains_nothing),
        T(a_token_read_keeps_copies_of_the_rows),
        T(another_thread_waits_for_the_connection),
        T(a_clock_cannot_free_its_logger),
        T(a_connection_with_a_logger_does_not_close),
        T(a_leftover_log_database_does_not_block_the_next_change_log),
#undef T
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
