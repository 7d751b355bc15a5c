/* Tests of the public change-log API in resql.h: versions, the clock, static
 * and callback `extra`, one logger per connection, log targets, bad input and
 * closing (DESIGN.md guarantees 1, 5, 6 and 7 as seen through the C ABI).
 *
 * Every test opens a fresh database, checks by reading the log tables back
 * with SQL, and ends with resql_logger_close/free and sqlite3_close == OK. */
#include "testutil.h"

#include <unistd.h>

/* ------------------------------------------------------------ helpers */

#define APP_TABLE "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT)"

/* A sentinel to prove that a failing call sets *out to NULL. */
static int sentinel;
#define NOT_NULL_LOGGER ((resql_logger *)&sentinel)

/* "/tmp/resql-test-logger-api-<pid>-<name>", with the files SQLite may leave
 * next to it removed, so that every test starts from nothing. */
static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/resql-test-logger-api-%ld-%s", (long)getpid(), name);
}


static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s: %s\n", path, sqlite3_errmsg(db));
        fail();
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/* A fresh in-memory database with the app table. */
static sqlite3 *fresh_memory_db(void)
{
    sqlite3 *db = open_db(":memory:");
    EXEC(db, APP_TABLE);
    return db;
}

static resql_options *new_options(void)
{
    resql_options *opts = NULL;
    assert_int_equal(resql_options_new(&opts), RESQL_OK);
    assert_non_null(opts);
    return opts;
}

/* Starts a change logger that must succeed. */
static resql_logger *start(sqlite3 *db, const char *to, const resql_options *opts)
{
    resql_logger *log = NULL;
    int rc = resql_log_changes(db, to, opts, &log);
    if (rc != RESQL_OK) fprintf(stderr, "resql_log_changes: %d %s\n", rc, resql_errmsg(NULL));
    assert_int_equal(rc, RESQL_OK);
    assert_non_null(log);
    return log;
}

/* Closes and frees the logger, then the connection, all of which must work. */
static void finish(sqlite3 *db, resql_logger *log)
{
    int rc = resql_logger_close(log);
    if (rc != RESQL_OK) fprintf(stderr, "resql_logger_close: %d %s\n", rc, resql_errmsg(log));
    assert_int_equal(rc, RESQL_OK);
    resql_logger_free(log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

#define assert_contains(hay, needle) assert_contains_at((hay), (needle), __FILE__, __LINE__)
static void assert_contains_at(const char *hay, const char *needle, const char *file, int line)
{
    if (!hay || !strstr(hay, needle)) {
        fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", file, line,
                hay ? hay : "(NULL)", needle);
        fail();
    }
}

/* A real error message: not empty and not resql's "no error" text. */
#define assert_message(msg) assert_message_at((msg), __FILE__, __LINE__)
static void assert_message_at(const char *msg, const char *file, int line)
{
    if (!msg || !*msg || strcmp(msg, "not an error") == 0) {
        fprintf(stderr, "%s:%d: expected an error message, got \"%s\"\n", file, line,
                msg ? msg : "(NULL)");
        fail();
    }
}

static long long resql_log_attached(sqlite3 *db)
{
    return query_int(db, "SELECT count(*) FROM pragma_database_list WHERE name = 'resql_log'");
}

static long long resql_tables_in_main(sqlite3 *db)
{
    return query_int(db, "SELECT count(*) FROM main.sqlite_schema WHERE name LIKE 'resql%'");
}

/* Nothing of resql's on the connection: no TEMP objects, no attached log,
 * no log tables in main, no resql SQL functions, no prepared statements. */
#define assert_connection_untouched(db) assert_connection_untouched_at((db), __FILE__, __LINE__)
static void assert_connection_untouched_at(sqlite3 *db, const char *file, int line)
{
    long long temp = query_int(db, "SELECT count(*) FROM sqlite_temp_schema");
    long long attached = resql_log_attached(db);
    long long tables = resql_tables_in_main(db);
    long long functions = query_int(db, "SELECT (SELECT count(*) FROM pragma_function_list "
                                        "WHERE name LIKE 'resql%') + (SELECT count(*) FROM "
                                        "pragma_module_list WHERE name LIKE 'resql%')");
    sqlite3_stmt *stmt = sqlite3_next_stmt(db, NULL);
    if (temp || attached || tables || functions || stmt) {
        fprintf(stderr, "%s:%d: the connection was changed: %lld TEMP objects, resql_log "
                "attached %lld, %lld resql objects in main (%s), %lld resql functions, "
                "statements left: %s\n", file, line, temp, attached, tables,
                query_text(db, "SELECT group_concat(name) FROM main.sqlite_schema "
                               "WHERE name LIKE 'resql%'"),
                functions, stmt ? "yes" : "no");
        fail();
    }
}

/* The `extra` of every transaction, in order, as "v1,v2,..." where v is the
 * value of `key` in the JSON object, or NULL when extra is NULL. */
static const char *extras(sqlite3 *db, const char *key)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT group_concat(CASE WHEN extra IS NULL THEN 'NULL' "
             "  WHEN json_type(extra) <> 'object' THEN 'not-an-object' "
             "  ELSE coalesce(json_extract(extra, '$.%s'), 'missing') END, ',') "
             "FROM (SELECT extra FROM resql_transactions ORDER BY id)", key);
    return query_text(db, sql);
}

/* --- a counting context for callbacks and destructors --- */

typedef struct {
    int calls;           /* extra callback calls */
    int destroyed;       /* destructor calls */
    const char *json;    /* what the extra callback answers (NULL: nothing) */
    const char *error;   /* if set, the extra callback fails with it */
} extra_ctx;

static void extra_from_ctx(resql_extra_result *result, void *ctx)
{
    extra_ctx *c = ctx;
    c->calls++;
    if (c->error)
        resql_extra_error(result, c->error);
    else if (c->json)
        resql_extra_json(result, c->json);
}

static void extra_ctx_destroy(void *ctx)
{
    ((extra_ctx *)ctx)->destroyed++;
}

/* The logged-in user, as an application would know it. */
static const char *current_user;
static int current_user_calls;

static void extra_current_user(resql_extra_result *result, void *ctx)
{
    char json[128];
    (void)ctx;
    current_user_calls++;
    snprintf(json, sizeof json, "{\"user\": \"%s\"}", current_user);
    resql_extra_json(result, json);
}

typedef struct {
    sqlite3_int64 now;   /* microseconds since 1970 */
    int destroyed;
} clock_ctx;

static sqlite3_int64 frozen_clock(void *ctx)
{
    return ((clock_ctx *)ctx)->now;
}

static void clock_ctx_destroy(void *ctx)
{
    ((clock_ctx *)ctx)->destroyed++;
}

/* ------------------------------------------------------------ 1. versions */

static void test_version_matches_header(void **state)
{
    (void)state;
    assert_non_null(resql_version());
    assert_string_equal(resql_version(), RESQL_VERSION);
    assert_int_equal(resql_version_number(), RESQL_VERSION_NUMBER);
}

/* ------------------------------------------------------------ 2. the clock */

/* Both the change time and the transaction start come from the clock in the
 * options, formatted as UTC ISO-8601 with exactly six fraction digits. */
static void test_frozen_clock_sets_change_and_transaction_times(void **state)
{
    (void)state;
    clock_ctx clk = {1700000000123456LL, 0};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_clock(opts, frozen_clock, &clk, clock_ctx_destroy), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);
    assert_int_equal(clk.destroyed, 0);   /* the logger still uses it */

    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_string_equal(query_text(db, "SELECT changed_at FROM resql_changes"),
                        "2023-11-14T22:13:20.123456Z");
    assert_string_equal(query_text(db, "SELECT started_at FROM resql_transactions"),
                        "2023-11-14T22:13:20.123456Z");

    /* The clock is read for each change, and small fractions are zero-padded. */
    clk.now = 1700000000000001LL;
    EXEC(db, "UPDATE item SET name = 'b'");
    assert_string_equal(query_text(db, "SELECT changed_at FROM resql_changes WHERE kind = 'update'"),
                        "2023-11-14T22:13:20.000001Z");
    assert_string_equal(query_text(db, "SELECT started_at FROM resql_transactions "
                                       "ORDER BY id DESC LIMIT 1"),
                        "2023-11-14T22:13:20.000001Z");
    assert_string_equal(query_text(db, "SELECT group_concat(executed_at || '|' || txn_started_at) "
                                       "FROM (SELECT * FROM resql_change_log ORDER BY id)"),
                        "2023-11-14T22:13:20.123456Z|2023-11-14T22:13:20.123456Z,"
                        "2023-11-14T22:13:20.000001Z|2023-11-14T22:13:20.000001Z");

    finish(db, log);
    assert_int_equal(clk.destroyed, 1);
}

/* The clock context is shared by the options and the logger made from them:
 * its destructor runs once, when the last of the two is freed. */
static void test_clock_destructor_runs_once_after_last_owner(void **state)
{
    (void)state;
    clock_ctx clk = {1700000000123456LL, 0};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_clock(opts, frozen_clock, &clk, clock_ctx_destroy), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");

    /* Logger first, options last. */
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    assert_int_equal(clk.destroyed, 0);
    resql_logger_free(log);
    assert_int_equal(clk.destroyed, 0);   /* the options still hold it */
    resql_options_free(opts);
    assert_int_equal(clk.destroyed, 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_clock_destructor_on_replace_and_failed_setup(void **state)
{
    (void)state;
    clock_ctx first = {1, 0}, second = {2, 0};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();

    /* Replacing the clock releases the old context. */
    assert_int_equal(resql_options_set_clock(opts, frozen_clock, &first, clock_ctx_destroy), RESQL_OK);
    assert_int_equal(resql_options_set_clock(opts, frozen_clock, &second, clock_ctx_destroy), RESQL_OK);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.destroyed, 0);

    /* A failed resql_log_changes leaves the context to the options. */
    assert_int_equal(resql_options_include_table(opts, "no_such_table"), RESQL_OK);
    resql_logger *log = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, NULL, opts, &log), RESQL_MISUSE);
    assert_null(log);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(second.destroyed, 0);
    resql_options_free(opts);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.destroyed, 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* ------------------------------------------------------------ 3. static extra */

static void test_static_extra_on_every_transaction(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_json(opts, "{\"app\":\"billing\"}"), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    /* Two commits on one connection reuse the same static extra. */
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    EXEC(db, "BEGIN; INSERT INTO item(name) VALUES ('b'); UPDATE item SET name = 'c' WHERE name = 'b';"
             "COMMIT");
    assert_string_equal(extras(db, "app"), "billing,billing");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_change_log "
                                   "WHERE json_extract(extra, '$.app') = 'billing'"), 3);

    /* Changed on the logger: from the next transaction on, not the current one. */
    EXEC(db, "BEGIN; INSERT INTO item(name) VALUES ('d')");
    assert_int_equal(resql_logger_set_extra_json(log, "{\"app\":\"shop\"}"), RESQL_OK);
    EXEC(db, "INSERT INTO item(name) VALUES ('e'); COMMIT");
    EXEC(db, "DELETE FROM item WHERE name = 'a'");
    assert_string_equal(extras(db, "app"), "billing,billing,billing,shop");

    /* NULL clears it. */
    assert_int_equal(resql_logger_set_extra_json(log, NULL), RESQL_OK);
    EXEC(db, "DELETE FROM item WHERE name = 'd'");
    assert_string_equal(extras(db, "app"), "billing,billing,billing,shop,NULL");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_change_log WHERE extra IS NULL"), 1);

    finish(db, log);
}

/* ------------------------------------------------------------ 4. non-object extra */

static const char *const not_objects[] = {
    "[1]", "1", "\"x\"", "{bad", "", "null", "{\"a\":1} x",
};
#define N_NOT_OBJECTS (sizeof not_objects / sizeof not_objects[0])

static void test_non_object_extra_refused_by_options(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_json(opts, "{\"app\":\"billing\"}"), RESQL_OK);
    for (size_t i = 0; i < N_NOT_OBJECTS; i++) {
        int rc = resql_options_set_extra_json(opts, not_objects[i]);
        if (rc != RESQL_MISUSE) fprintf(stderr, "extra '%s' gave %d\n", not_objects[i], rc);
        assert_int_equal(rc, RESQL_MISUSE);
        assert_message(resql_errmsg(NULL));
    }
    /* The options still carry the last good extra. */
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_string_equal(extras(db, "app"), "billing");
    finish(db, log);
}

static void test_non_object_extra_refused_by_logger(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_json(opts, "{\"app\":\"billing\"}"), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    for (size_t i = 0; i < N_NOT_OBJECTS; i++) {
        int rc = resql_logger_set_extra_json(log, not_objects[i]);
        if (rc != RESQL_MISUSE) fprintf(stderr, "extra '%s' gave %d\n", not_objects[i], rc);
        assert_int_equal(rc, RESQL_MISUSE);
        assert_message(resql_errmsg(log));
    }
    EXEC(db, "INSERT INTO item(name) VALUES ('b')");
    assert_string_equal(extras(db, "app"), "billing,billing");
    finish(db, log);
}

/* ------------------------------------------------------------ 5. extra callback */

/* One call per transaction however many statements and rows it has, made at
 * its first log row, so each transaction gets the user current at that time. */
static void test_extra_callback_once_per_transaction_with_current_context(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_current_user, NULL, NULL), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);
    current_user_calls = 0;

    current_user = "alice";
    EXEC(db, "BEGIN;"
             "INSERT INTO item(name) VALUES ('a'), ('b');"
             "INSERT INTO item(name) VALUES ('c'), ('d');"
             "UPDATE item SET name = 'A' WHERE name = 'a';"
             "COMMIT");
    assert_int_equal(current_user_calls, 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 5);
    assert_int_equal(query_int(db, "SELECT count(DISTINCT txn_id) FROM resql_changes"), 1);

    current_user = "bob";
    EXEC(db, "DELETE FROM item WHERE name = 'b'");
    current_user = "carol";
    EXEC(db, "UPDATE item SET name = 'C' WHERE name = 'c'");
    assert_int_equal(current_user_calls, 3);
    assert_string_equal(extras(db, "user"), "alice,bob,carol");
    assert_string_equal(query_text(db, "SELECT group_concat(json_extract(extra, '$.user')) FROM "
                                       "(SELECT extra FROM resql_change_log ORDER BY id)"),
                        "alice,alice,alice,alice,alice,bob,carol");

    /* The user changes inside a transaction after its first log row: the
     * transaction keeps the user of its first change. */
    current_user = "dave";
    EXEC(db, "BEGIN; INSERT INTO item(name) VALUES ('e')");
    current_user = "erin";
    EXEC(db, "INSERT INTO item(name) VALUES ('f'); COMMIT");
    assert_int_equal(current_user_calls, 4);
    assert_string_equal(extras(db, "user"), "alice,bob,carol,dave");

    finish(db, log);
}

/* A transaction that changes nothing audited makes no callback call and no
 * transaction row. */
static void test_extra_callback_not_called_without_audited_change(void **state)
{
    (void)state;
    extra_ctx ctx = {0, 0, "{\"user\":\"alice\"}", NULL};
    sqlite3 *db = fresh_memory_db();
    EXEC(db, "CREATE TABLE scratch(x)");
    resql_options *opts = new_options();
    assert_int_equal(resql_options_exclude_table(opts, "scratch"), RESQL_OK);
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &ctx, extra_ctx_destroy),
                     RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    EXEC(db, "BEGIN; SELECT count(*) FROM item; UPDATE item SET name = 'x' WHERE 0; COMMIT");
    EXEC(db, "INSERT INTO scratch VALUES (1)");   /* not audited */
    EXEC(db, "DELETE FROM item");                 /* no rows */
    assert_int_equal(ctx.calls, 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_transactions"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 0);

    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(ctx.calls, 1);
    assert_string_equal(extras(db, "user"), "alice");

    finish(db, log);
    assert_int_equal(ctx.destroyed, 1);
}

static void read_name_from_connection(resql_extra_result *result, void *ctx)
{
    sqlite3 *db = ctx;
    sqlite3_stmt *st = NULL;
    char json[128];
    if (sqlite3_prepare_v2(db, "SELECT name FROM session WHERE id = 1", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        resql_extra_error(result, "cannot read the session");
        return;
    }
    snprintf(json, sizeof json, "{\"user\": \"%s\"}", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    resql_extra_json(result, json);
}

/* The header allows the callback to read from the logged connection. */
static void test_extra_callback_may_read_the_connection(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    EXEC(db, "CREATE TABLE session(id INTEGER PRIMARY KEY, name TEXT)");
    EXEC(db, "INSERT INTO session VALUES (1, 'alice')");
    resql_options *opts = new_options();
    assert_int_equal(resql_options_exclude_table(opts, "session"), RESQL_OK);
    assert_int_equal(resql_options_set_extra_callback(opts, read_name_from_connection, db, NULL),
                     RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    EXEC(db, "BEGIN; UPDATE session SET name = 'bob'; INSERT INTO item(name) VALUES ('b'); COMMIT");
    assert_string_equal(extras(db, "user"), "alice,bob");
    finish(db, log);
}

/* ------------------------------------------------------------ 6. failing callback */

/* A failing callback fails the application's statement, with resql's message,
 * and nothing of it is committed unaudited. */
static void test_extra_callback_error_fails_statement(void **state)
{
    (void)state;
    extra_ctx ctx = {0, 0, NULL, "no user"};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &ctx, extra_ctx_destroy),
                     RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    int rc = sqlite3_exec(db, "INSERT INTO item(name) VALUES ('a')", NULL, NULL, NULL);
    assert_int_not_equal(rc, SQLITE_OK);
    assert_contains(sqlite3_errmsg(db), "resql");
    assert_contains(sqlite3_errmsg(db), "no user");
    assert_contains(resql_errmsg(log), "no user");
    assert_true(ctx.calls >= 1);
    assert_int_equal(sqlite3_get_autocommit(db), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM item"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_transactions"), 0);

    /* Also inside an explicit transaction: the statement fails, and the
     * commit afterwards has nothing of it. */
    EXEC(db, "BEGIN");
    exec_err(db, "INSERT INTO item(name) VALUES ('b')");
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    assert_int_equal(query_int(db, "SELECT count(*) FROM item"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 0);

    /* Once the callback answers again, logging works. */
    ctx.error = NULL;
    ctx.json = "{\"user\":\"alice\"}";
    EXEC(db, "INSERT INTO item(name) VALUES ('c')");
    assert_string_equal(query_text(db, "SELECT group_concat(name) FROM item"), "c");
    assert_string_equal(extras(db, "user"), "alice");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 1);

    finish(db, log);
    assert_int_equal(ctx.destroyed, 1);
}

static void test_extra_callback_non_object_fails_statement(void **state)
{
    (void)state;
    extra_ctx ctx = {0, 0, "[1]", NULL};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &ctx, NULL), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    const char *bad[] = {"[1]", "1", "\"x\"", "{bad", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctx.json = bad[i];
        int rc = sqlite3_exec(db, "INSERT INTO item(name) VALUES ('a')", NULL, NULL, NULL);
        if (rc == SQLITE_OK) fprintf(stderr, "callback extra '%s' was accepted\n", bad[i]);
        assert_int_not_equal(rc, SQLITE_OK);
        assert_contains(sqlite3_errmsg(db), "resql");
    }
    assert_int_equal(query_int(db, "SELECT count(*) FROM item"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_transactions"), 0);
    finish(db, log);
}

static void test_extra_callback_answering_nothing_gives_null(void **state)
{
    (void)state;
    extra_ctx ctx = {0, 0, NULL, NULL};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &ctx, NULL), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(ctx.calls, 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM item"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 1);
    assert_string_equal(extras(db, "user"), "NULL");
    finish(db, log);
}

/* ------------------------------------------------------------ 7. replacing extra */

static void test_logger_set_extra_callback_replaces_static_extra(void **state)
{
    (void)state;
    extra_ctx first = {0, 0, "{\"app\":\"first\"}", NULL};
    extra_ctx second = {0, 0, "{\"app\":\"second\"}", NULL};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_json(opts, "{\"app\":\"billing\"}"), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);

    EXEC(db, "INSERT INTO item(name) VALUES ('a')");

    /* Set inside a transaction: only the next transaction uses it. */
    EXEC(db, "BEGIN; INSERT INTO item(name) VALUES ('b')");
    assert_int_equal(resql_logger_set_extra_callback(log, extra_from_ctx, &first, extra_ctx_destroy),
                     RESQL_OK);
    EXEC(db, "INSERT INTO item(name) VALUES ('c'); COMMIT");
    EXEC(db, "INSERT INTO item(name) VALUES ('d')");
    assert_int_equal(first.calls, 1);
    assert_string_equal(extras(db, "app"), "billing,billing,first");

    /* Replacing the callback releases the old context, once. */
    assert_int_equal(resql_logger_set_extra_callback(log, extra_from_ctx, &second, extra_ctx_destroy),
                     RESQL_OK);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.destroyed, 0);
    EXEC(db, "INSERT INTO item(name) VALUES ('e')");
    assert_string_equal(extras(db, "app"), "billing,billing,first,second");

    /* A static extra replaces the callback, which is then released too. */
    assert_int_equal(resql_logger_set_extra_json(log, "{\"app\":\"static\"}"), RESQL_OK);
    assert_int_equal(second.destroyed, 1);
    EXEC(db, "INSERT INTO item(name) VALUES ('f')");
    assert_int_equal(second.calls, 1);
    assert_string_equal(extras(db, "app"), "billing,billing,first,second,static");

    finish(db, log);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.destroyed, 1);
}

/* The callback context set on options is shared with the logger made from
 * them; its destructor runs once, after the last of the two is freed. */
static void test_extra_callback_ctx_destroyed_once_after_options_and_logger(void **state)
{
    (void)state;
    extra_ctx ctx = {0, 0, "{\"app\":\"x\"}", NULL};
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &ctx, extra_ctx_destroy),
                     RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);
    assert_int_equal(ctx.destroyed, 0);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(ctx.calls, 1);
    finish(db, log);
    assert_int_equal(ctx.destroyed, 1);

    /* Replacing a callback on the options releases the old context. */
    extra_ctx other = {0, 0, NULL, NULL};
    opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &other, extra_ctx_destroy),
                     RESQL_OK);
    assert_int_equal(resql_options_set_extra_json(opts, "{\"a\":1}"), RESQL_OK);
    assert_int_equal(other.destroyed, 1);
    resql_options_free(opts);
    assert_int_equal(other.destroyed, 1);
}

/* ------------------------------------------------------------ 8. two connections */

/* Two connections to one file, each with its own logger and extra, take turns:
 * every log row carries the extra of the connection that made it. */
static void test_two_connections_keep_their_own_extra(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "two-conns.db");
    remove_db(path);
    sqlite3 *a = open_db(path), *b = open_db(path);
    EXEC(a, APP_TABLE);

    resql_options *opts = new_options();
    assert_int_equal(resql_options_set_extra_json(opts, "{\"conn\":\"A\"}"), RESQL_OK);
    resql_logger *log_a = start(a, NULL, opts);
    resql_options_free(opts);

    extra_ctx ctx_b = {0, 0, "{\"conn\":\"B\"}", NULL};
    opts = new_options();
    assert_int_equal(resql_options_set_extra_callback(opts, extra_from_ctx, &ctx_b, extra_ctx_destroy),
                     RESQL_OK);
    resql_logger *log_b = start(b, NULL, opts);
    resql_options_free(opts);

    EXEC(a, "INSERT INTO item(id, name) VALUES (1, 'from A')");
    EXEC(b, "INSERT INTO item(id, name) VALUES (2, 'from B')");
    EXEC(a, "UPDATE item SET name = 'A was here' WHERE id = 2");
    EXEC(b, "DELETE FROM item WHERE id = 1");
    assert_int_equal(ctx_b.calls, 2);

    const char *sql = "SELECT group_concat(c.kind || ':' || c.record_id || ':' || "
                      "json_extract(t.extra, '$.conn'), ' ') "
                      "FROM (SELECT * FROM resql_changes ORDER BY id) c "
                      "JOIN resql_transactions t ON t.id = c.txn_id";
    const char *want = "insert:1:A insert:2:B update:2:A delete:1:B";
    assert_string_equal(query_text(a, sql), want);
    assert_string_equal(query_text(b, sql), want);
    assert_int_equal(query_int(a, "SELECT count(*) FROM resql_transactions"), 4);

    finish(a, log_a);
    finish(b, log_b);
    assert_int_equal(ctx_b.destroyed, 1);
    remove_db(path);
}

/* ------------------------------------------------------------ 9. log targets */

/* Three committed transactions (ids 1, 2, 3 and an update of 1) and one
 * rolled back (id 4). */
static void three_commits_one_rollback(sqlite3 *db)
{
    EXEC(db, "INSERT INTO item(id, name) VALUES (1, 'a')");
    EXEC(db, "BEGIN; INSERT INTO item(id, name) VALUES (2, 'b'), (3, 'c'); COMMIT");
    EXEC(db, "BEGIN; INSERT INTO item(id, name) VALUES (4, 'gone'); ROLLBACK");
    EXEC(db, "UPDATE item SET name = 'A' WHERE id = 1");
}

static void assert_three_commits_logged(sqlite3 *logdb)
{
    assert_int_equal(query_int(logdb, "SELECT count(*) FROM resql_transactions"), 3);
    assert_string_equal(query_text(logdb, "SELECT group_concat(kind || ':' || record_id, ' ') "
                                          "FROM (SELECT * FROM resql_changes ORDER BY id)"),
                        "insert:1 insert:2 insert:3 update:1");
    assert_int_equal(query_int(logdb, "SELECT count(DISTINCT txn_id) FROM resql_changes"), 3);
    assert_int_equal(query_int(logdb, "SELECT count(*) FROM resql_change_log"), 4);
}

static void test_log_into_same_database(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "same.db");
    remove_db(path);
    sqlite3 *db = open_db(path);
    EXEC(db, APP_TABLE);
    resql_logger *log = start(db, NULL, NULL);
    assert_int_equal(resql_log_attached(db), 0);
    three_commits_one_rollback(db);
    finish(db, log);

    /* The log is in the app's file, read with a plain connection. */
    db = open_db(path);
    assert_three_commits_logged(db);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    remove_db(path);
}

static void test_log_into_separate_file(void **state)
{
    (void)state;
    char path[256], audit[256];
    tmp_path(path, sizeof path, "app.db");
    tmp_path(audit, sizeof audit, "app-audit.db");
    remove_db(path);
    remove_db(audit);
    sqlite3 *db = open_db(path);
    EXEC(db, APP_TABLE);
    resql_logger *log = start(db, audit, NULL);
    assert_int_equal(resql_log_attached(db), 1);
    three_commits_one_rollback(db);
    assert_int_equal(resql_tables_in_main(db), 0);
    finish(db, log);

    sqlite3 *logdb = open_db(audit);
    assert_three_commits_logged(logdb);
    assert_int_equal(sqlite3_close(logdb), SQLITE_OK);

    /* The app's database holds only the app's data. */
    db = open_db(path);
    assert_int_equal(resql_tables_in_main(db), 0);
    assert_string_equal(query_text(db, "SELECT group_concat(id || name) FROM item ORDER BY id"),
                        "1A,2b,3c");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    remove_db(path);
    remove_db(audit);
}

/* ------------------------------------------------------------ 10. bad input */

static void test_log_changes_null_connection(void **state)
{
    (void)state;
    resql_logger *log = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(NULL, NULL, NULL, &log), RESQL_MISUSE);
    assert_null(log);
    assert_message(resql_errmsg(NULL));
}

static void test_log_changes_null_out(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    assert_int_equal(resql_log_changes(db, NULL, NULL, NULL), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_connection_untouched(db);
    /* Nothing was left registered: a logger can still be started. */
    resql_logger *log = start(db, NULL, NULL);
    finish(db, log);
}

static void test_log_changes_inside_transaction(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    EXEC(db, "BEGIN; INSERT INTO item(name) VALUES ('a')");
    resql_logger *log = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, NULL, NULL, &log), RESQL_MISUSE);
    assert_null(log);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(sqlite3_get_autocommit(db), 0);   /* the app's transaction is untouched */
    EXEC(db, "COMMIT");
    assert_int_equal(query_int(db, "SELECT count(*) FROM item"), 1);
    assert_connection_untouched(db);

    log = start(db, NULL, NULL);
    EXEC(db, "INSERT INTO item(name) VALUES ('b')");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 1);
    finish(db, log);
}

static void test_second_change_logger_refused(void **state)
{
    (void)state;
    char audit[256];
    tmp_path(audit, sizeof audit, "second-audit.db");
    remove_db(audit);
    sqlite3 *db = fresh_memory_db();
    resql_logger *first = start(db, NULL, NULL);

    resql_logger *second = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, NULL, NULL, &second), RESQL_EXISTS);
    assert_null(second);
    assert_message(resql_errmsg(NULL));
    second = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, audit, NULL, &second), RESQL_EXISTS);
    assert_null(second);
    assert_int_equal(resql_log_attached(db), 0);

    /* The first logger keeps working, and each change is logged once. */
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_transactions"), 1);
    finish(db, first);
    remove_db(audit);
}

/* A target that cannot be opened leaves the connection as it was. */
static void test_unopenable_target(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_logger *log = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, "/nonexistent-dir/x.db", NULL, &log), RESQL_CANTOPEN);
    assert_null(log);
    assert_message(resql_errmsg(NULL));
    assert_connection_untouched(db);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_target_not_a_database(void **state)
{
    (void)state;
    char garbage[256];
    tmp_path(garbage, sizeof garbage, "garbage.db");
    remove_db(garbage);
    char bytes[1024];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (char)("not a database! "[i % 16]);
    FILE *f = fopen(garbage, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, sizeof bytes, f), sizeof bytes);
    fclose(f);

    sqlite3 *db = fresh_memory_db();
    resql_logger *log = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, garbage, NULL, &log), RESQL_CANTOPEN);
    assert_null(log);
    assert_message(resql_errmsg(NULL));
    assert_connection_untouched(db);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* The file is left as it was. */
    char back[2048];
    f = fopen(garbage, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, sizeof back, f), sizeof bytes);
    fclose(f);
    assert_memory_equal(back, bytes, sizeof bytes);
    remove_db(garbage);
}

/* Logging a database into itself through ATTACH is refused (use to = NULL). */
static void test_target_is_the_logged_file(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "self.db");
    remove_db(path);
    sqlite3 *db = open_db(path);
    EXEC(db, APP_TABLE);
    resql_logger *log = NOT_NULL_LOGGER;
    int rc = resql_log_changes(db, path, NULL, &log);
    assert_int_not_equal(rc, RESQL_OK);
    assert_null(log);
    assert_message(resql_errmsg(NULL));
    assert_connection_untouched(db);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    remove_db(path);
}

static void test_calls_on_closed_logger(void **state)
{
    (void)state;
    extra_ctx ctx = {0, 0, NULL, NULL};
    sqlite3 *db = fresh_memory_db();
    resql_logger *log = start(db, NULL, NULL);
    assert_int_equal(resql_logger_close(log), RESQL_OK);

    assert_int_equal(resql_logger_refresh(log), RESQL_MISUSE);
    assert_contains(resql_errmsg(log), "closed");
    assert_int_equal(resql_logger_set_extra_json(log, "{\"a\":1}"), RESQL_MISUSE);
    assert_contains(resql_errmsg(log), "closed");
    /* On failure the destructor is still called, once. */
    assert_int_equal(resql_logger_set_extra_callback(log, extra_from_ctx, &ctx, extra_ctx_destroy),
                     RESQL_MISUSE);
    assert_contains(resql_errmsg(log), "closed");
    assert_int_equal(ctx.destroyed, 1);

    /* Closing again is a no-op. */
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(ctx.calls, 0);
    resql_logger_free(log);
    assert_int_equal(ctx.destroyed, 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_null_handles(void **state)
{
    (void)state;
    assert_int_equal(resql_logger_close(NULL), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(resql_logger_refresh(NULL), RESQL_MISUSE);
    assert_int_equal(resql_logger_set_extra_json(NULL, "{}"), RESQL_MISUSE);
    resql_logger_free(NULL);
    resql_options_free(NULL);
    assert_int_equal(resql_extra_json(NULL, "{}"), RESQL_MISUSE);
    assert_int_equal(resql_extra_error(NULL, "x"), RESQL_MISUSE);

    extra_ctx ctx = {0, 0, NULL, NULL};
    assert_int_equal(resql_logger_set_extra_callback(NULL, extra_from_ctx, &ctx, extra_ctx_destroy),
                     RESQL_MISUSE);
    assert_int_equal(ctx.destroyed, 1);
}

/* Options calls with NULL options fail with a message. Callback contexts
 * handed over are still released (resql.h: "even when setup fails"). */
static void test_options_null(void **state)
{
    (void)state;
    assert_int_equal(resql_options_new(NULL), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(resql_options_include_table(NULL, "item"), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(resql_options_exclude_table(NULL, "item"), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(resql_options_set_extra_json(NULL, "{}"), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));

    clock_ctx clk = {0, 0};
    assert_int_equal(resql_options_set_clock(NULL, frozen_clock, &clk, clock_ctx_destroy), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(clk.destroyed, 1);

    extra_ctx ctx = {0, 0, NULL, NULL};
    assert_int_equal(resql_options_set_extra_callback(NULL, extra_from_ctx, &ctx, extra_ctx_destroy),
                     RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(ctx.destroyed, 1);

    /* NULL table names on real options too. */
    resql_options *opts = new_options();
    assert_int_equal(resql_options_include_table(opts, NULL), RESQL_MISUSE);
    assert_message(resql_errmsg(NULL));
    assert_int_equal(resql_options_exclude_table(opts, NULL), RESQL_MISUSE);
    resql_options_free(opts);
}

/* resql.h: "On failure *out is NULL, the connection is left as it was" -- so
 * with to = NULL no log tables may be left behind in the app's database. */
static void test_include_missing_table_refused(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_options *opts = new_options();
    assert_int_equal(resql_options_include_table(opts, "nope"), RESQL_OK);
    resql_logger *log = NOT_NULL_LOGGER;
    assert_int_equal(resql_log_changes(db, NULL, opts, &log), RESQL_MISUSE);
    assert_null(log);
    assert_contains(resql_errmsg(NULL), "nope");
    resql_options_free(opts);
    assert_connection_untouched(db);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_close_inside_transaction_refused(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    resql_logger *log = start(db, NULL, NULL);
    EXEC(db, "BEGIN; INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(resql_logger_close(log), RESQL_MISUSE);
    assert_message(resql_errmsg(log));
    EXEC(db, "INSERT INTO item(name) VALUES ('b'); COMMIT");
    EXEC(db, "INSERT INTO item(name) VALUES ('c')");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_transactions"), 2);
    finish(db, log);
}

/* Table names with quotes, spaces and SQL in them are logged as they are. */
static void test_odd_table_names(void **state)
{
    (void)state;
    sqlite3 *db = open_db(":memory:");
    EXEC(db, "CREATE TABLE \"it\"\"em's; DROP TABLE x; --\"(id INTEGER PRIMARY KEY, v)");
    EXEC(db, "CREATE TABLE x(id INTEGER PRIMARY KEY)");
    resql_options *opts = new_options();
    assert_int_equal(resql_options_include_table(opts, "it\"em's; DROP TABLE x; --"), RESQL_OK);
    resql_logger *log = start(db, NULL, opts);
    resql_options_free(opts);
    EXEC(db, "INSERT INTO \"it\"\"em's; DROP TABLE x; --\" VALUES (1, 'a')");
    EXEC(db, "INSERT INTO x VALUES (1)");   /* not included */
    assert_string_equal(query_text(db, "SELECT group_concat(table_name) FROM resql_changes"),
                        "it\"em's; DROP TABLE x; --");
    assert_int_equal(query_int(db, "SELECT count(*) FROM x"), 1);
    finish(db, log);
}

/* ------------------------------------------------------------ 11. close */

/* After close the connection is as before: no TEMP objects, no attached log,
 * no resql functions, no statements, no hooks; changes are not logged. */
static void test_close_restores_connection(void **state)
{
    (void)state;
    char audit[256];
    tmp_path(audit, sizeof audit, "close-audit.db");
    remove_db(audit);
    sqlite3 *db = fresh_memory_db();
    resql_logger *log = start(db, audit, NULL);
    EXEC(db, "INSERT INTO item(name) VALUES ('logged')");
    /* The checks below can see resql's objects while it is open. */
    assert_int_equal(resql_log_attached(db), 1);
    assert_true(query_int(db, "SELECT count(*) FROM sqlite_temp_schema") > 0);
    assert_true(query_int(db, "SELECT count(*) FROM pragma_module_list "
                              "WHERE name = 'resql_pending'") > 0);

    assert_int_equal(resql_logger_close(log), RESQL_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    assert_int_equal(resql_log_attached(db), 0);
    assert_contains(exec_err(db, "SELECT * FROM resql_pending"), "no such table");
    assert_connection_untouched(db);
    /* No hooks of resql's are left (each call returns the previous argument). */
    assert_null(sqlite3_preupdate_hook(db, NULL, NULL));
    assert_null(sqlite3_commit_hook(db, NULL, NULL));
    assert_null(sqlite3_rollback_hook(db, NULL, NULL));

    EXEC(db, "INSERT INTO item(name) VALUES ('not logged')");
    assert_int_equal(resql_logger_close(log), RESQL_OK);   /* twice is fine */
    resql_logger_free(log);

    /* A new logger on the same connection works. */
    log = start(db, audit, NULL);
    EXEC(db, "INSERT INTO item(name) VALUES ('logged again')");
    finish(db, log);

    sqlite3 *logdb = open_db(audit);
    assert_string_equal(query_text(logdb, "SELECT group_concat(json_extract(diff, '$.name.new'), ',') "
                                          "FROM (SELECT diff FROM resql_changes ORDER BY id)"),
                        "logged,logged again");
    assert_int_equal(sqlite3_close(logdb), SQLITE_OK);
    remove_db(audit);
}

/* The app's own TEMP objects and attached databases survive the logger. */
static void test_close_keeps_app_temp_objects_and_attachments(void **state)
{
    (void)state;
    sqlite3 *db = fresh_memory_db();
    EXEC(db, "ATTACH ':memory:' AS aux");
    EXEC(db, "CREATE TEMP TABLE app_tmp(x)");
    EXEC(db, "CREATE TEMP TRIGGER app_trg AFTER INSERT ON main.item BEGIN "
             "INSERT INTO app_tmp VALUES (new.id); END");
    const char *temp_sql = "SELECT group_concat(type || ':' || name) FROM "
                           "(SELECT * FROM sqlite_temp_schema ORDER BY name)";
    char before[256];
    snprintf(before, sizeof before, "%s", query_text(db, temp_sql));

    resql_logger *log = start(db, NULL, NULL);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes WHERE table_name = 'item'"), 1);
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);

    assert_string_equal(query_text(db, temp_sql), before);
    assert_int_equal(query_int(db, "SELECT count(*) FROM pragma_database_list WHERE name = 'aux'"), 1);
    EXEC(db, "INSERT INTO item(name) VALUES ('b')");
    assert_int_equal(query_int(db, "SELECT count(*) FROM app_tmp"), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM resql_changes"), 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* resql_logger_free of an open logger closes it. */
static void test_free_without_close(void **state)
{
    (void)state;
    char audit[256];
    tmp_path(audit, sizeof audit, "free-audit.db");
    remove_db(audit);
    sqlite3 *db = fresh_memory_db();
    resql_logger *log = start(db, audit, NULL);
    EXEC(db, "INSERT INTO item(name) VALUES ('a')");
    resql_logger_free(log);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    assert_int_equal(resql_log_attached(db), 0);
    assert_null(sqlite3_next_stmt(db, NULL));
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    remove_db(audit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_frozen_clock_sets_change_and_transaction_times),
        cmocka_unit_test(test_clock_destructor_runs_once_after_last_owner),
        cmocka_unit_test(test_clock_destructor_on_replace_and_failed_setup),
        cmocka_unit_test(test_static_extra_on_every_transaction),
        cmocka_unit_test(test_non_object_extra_refused_by_options),
        cmocka_unit_test(test_non_object_extra_refused_by_logger),
        cmocka_unit_test(test_extra_callback_once_per_transaction_with_current_context),
        cmocka_unit_test(test_extra_callback_not_called_without_audited_change),
        cmocka_unit_test(test_extra_callback_may_read_the_connection),
        cmocka_unit_test(test_extra_callback_error_fails_statement),
        cmocka_unit_test(test_extra_callback_non_object_fails_statement),
        cmocka_unit_test(test_extra_callback_answering_nothing_gives_null),
        cmocka_unit_test(test_logger_set_extra_callback_replaces_static_extra),
        cmocka_unit_test(test_extra_callback_ctx_destroyed_once_after_options_and_logger),
        cmocka_unit_test(test_two_connections_keep_their_own_extra),
        cmocka_unit_test(test_log_into_same_database),
        cmocka_unit_test(test_log_into_separate_file),
        cmocka_unit_test(test_log_changes_null_connection),
        cmocka_unit_test(test_log_changes_null_out),
        cmocka_unit_test(test_log_changes_inside_transaction),
        cmocka_unit_test(test_second_change_logger_refused),
        cmocka_unit_test(test_unopenable_target),
        cmocka_unit_test(test_target_not_a_database),
        cmocka_unit_test(test_target_is_the_logged_file),
        cmocka_unit_test(test_calls_on_closed_logger),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_options_null),
        cmocka_unit_test(test_include_missing_table_refused),
        cmocka_unit_test(test_close_inside_transaction_refused),
        cmocka_unit_test(test_odd_table_names),
        cmocka_unit_test(test_close_restores_connection),
        cmocka_unit_test(test_close_keeps_app_temp_objects_and_attachments),
        cmocka_unit_test(test_free_without_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
