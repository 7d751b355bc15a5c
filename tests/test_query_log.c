/* The query log: every top-level statement with its kind, text, exact
 * parameters and its transaction's outcome, written before COMMIT returns. */
#include "testutil.h"
#include "value_json.h"

#include <math.h>
#include <unistd.h>

#define APP_DB "/tmp/resql-test-ql-app.db"
#define LOG_DB "/tmp/resql-test-ql-log.db"

typedef struct fixture {
    sqlite3 *db;
    resql_logger *log;
    sqlite3 *reader;          /* a plain connection to the query-log database */
} fixture;


static sqlite3_int64 frozen_clock(void *ctx) { (void)ctx; return 1700000000000000; }

static void start(fixture *f, resql_options *opts)
{
    resql_options *mine = NULL;
    if (!opts) {
        resql_options_new(&mine);
        opts = mine;
    }
    resql_options_set_clock(opts, frozen_clock, NULL, NULL);
    int rc = resql_log_queries(f->db, LOG_DB, opts, &f->log);
    if (rc != RESQL_OK) fail_msg("resql_log_queries: %s", resql_errmsg(NULL));
    resql_options_free(mine);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    remove_db(APP_DB);
    remove_db(LOG_DB);
    assert_int_equal(sqlite3_open(APP_DB, &f->db), SQLITE_OK);
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b UNIQUE)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->log) {
        assert_int_equal(resql_logger_close(f->log), RESQL_OK);
        resql_logger_free(f->log);
    }
    if (f->reader) sqlite3_close(f->reader);
    assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
    remove_db(APP_DB);
    remove_db(LOG_DB);
    free(f);
    return 0;
}

/* The query-log database as an auditor reads it. */
static sqlite3 *reader(fixture *f)
{
    if (!f->reader) assert_int_equal(sqlite3_open(LOG_DB, &f->reader), SQLITE_OK);
    return f->reader;
}

static const char *records(fixture *f, const char *column)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT group_concat(%s, ' | ') FROM (SELECT * FROM resql_query_log ORDER BY id)",
             column);
    return query_text(reader(f), sql);
}

/* ---- kinds ------------------------------------------------------------------- */

static void each_kind_is_classified(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE u(x)");
    start(f, NULL);
    EXEC(f->db,
         "INSERT INTO t(a) VALUES (1);"
         "REPLACE INTO t(id, a) VALUES (1, 2);"
         "INSERT INTO t(a) VALUES (3) RETURNING id;"
         "  /* a comment */ -- and another\n\t UPDATE t SET a = 4;"
         "WITH old(id) AS (SELECT id FROM t WHERE a = 4) DELETE FROM t WHERE id IN old;"
         "WITH n(v) AS (VALUES (1)) INSERT INTO u SELECT v FROM n;"
         "CREATE TABLE v(y);"
         "ALTER TABLE v ADD COLUMN z;"
         "DROP TABLE v;"
         "BEGIN; SAVEPOINT s; RELEASE s; COMMIT;"
         "BEGIN; END;"
         "BEGIN; ROLLBACK;"
         "PRAGMA user_version = 7;"
         "ATTACH ':memory:' AS other; DETACH other;"
         "ANALYZE; REINDEX; VACUUM;");
    assert_string_equal(records(f, "kind"),
        "Insert | Insert | Insert | Update | Delete | Insert | Create | Alter | Drop | "
        "Begin | Savepoint | Release | Commit | Begin | Commit | Begin | Rollback | "
        "Pragma | Attach | Detach | Analyze | Reindex | Vacuum");
    assert_string_equal(query_text(reader(f), "SELECT DISTINCT dialect FROM resql_queries"),
                        "sqlite " SQLITE_VERSION);
}

static void reads_are_left_out_unless_asked(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    EXEC(f->db, "SELECT * FROM t; PRAGMA user_version; EXPLAIN SELECT 1; INSERT INTO t(a) VALUES (1)");
    assert_string_equal(records(f, "kind"), "Insert");
    resql_logger_close(f->log);
    resql_logger_free(f->log);

    resql_options *opts;
    resql_options_new(&opts);
    resql_options_include_reads(opts, 1);
    start(f, opts);
    resql_options_free(opts);
    EXEC(f->db, "SELECT * FROM t; PRAGMA user_version");
    assert_string_equal(records(f, "kind"), "Insert | Select | Pragma");
}

/* ---- parameters -------------------------------------------------------------- */

/* One prepared INSERT, run three times with different bindings. */
static void run_three_times(sqlite3 *db, int through_resql)
{
    static const char text[] = "it's \"quoted\"\0after NUL";
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(id, a, b) VALUES (?, ?, ?)", -1, &st, NULL), SQLITE_OK);
    for (int run = 0; run < 3; run++) {
        int rc = 0;
        if (through_resql) {
            rc |= resql_bind_int64(st, 1, run == 0 ? INT64_MAX : run == 1 ? INT64_MIN : 0);
            if (run == 0) rc |= resql_bind_double(st, 2, 0.1 + 0.2);
            if (run == 1) rc |= resql_bind_text(st, 2, text, (int)sizeof text - 1, SQLITE_STATIC);
            if (run == 2) rc |= resql_bind_null(st, 2);
            if (run == 0) rc |= resql_bind_double(st, 3, 1.0000000000000002);
            if (run == 1) rc |= resql_bind_blob(st, 3, "\x00\xff", 2, SQLITE_STATIC);
            if (run == 2) rc |= resql_bind_double(st, 3, -HUGE_VAL);
        } else {
            rc |= sqlite3_bind_int64(st, 1, run == 0 ? INT64_MAX : run == 1 ? INT64_MIN : 0);
            if (run == 0) rc |= sqlite3_bind_double(st, 2, 0.1 + 0.2);
            if (run == 1) rc |= sqlite3_bind_text(st, 2, text, (int)sizeof text - 1, SQLITE_STATIC);
            if (run == 2) rc |= sqlite3_bind_null(st, 2);
            if (run == 0) rc |= sqlite3_bind_double(st, 3, 1.0000000000000002);
            if (run == 1) rc |= sqlite3_bind_blob(st, 3, "\x00\xff", 2, SQLITE_STATIC);
            if (run == 2) rc |= sqlite3_bind_double(st, 3, -HUGE_VAL);
        }
        assert_int_equal(rc, SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static void exact_parameters_through_resql_bind(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    run_three_times(f->db, 1);
    assert_string_equal(records(f, "parameters"),
        "[9223372036854775807,0.30000000000000004,1.0000000000000002] | "
        "[-9223372036854775808,\"it's \\\"quoted\\\"\\u0000after NUL\",{\"$blob\":\"AP8=\"}] | "
        "[0,null,-1e999]");
    assert_string_equal(records(f, "parameters_exact"), "1 | 1 | 1");
    assert_string_equal(records(f, "statement"),
        "INSERT INTO t(id, a, b) VALUES (?, ?, ?) | INSERT INTO t(id, a, b) VALUES (?, ?, ?) | "
        "INSERT INTO t(id, a, b) VALUES (?, ?, ?)");
}

/* Bound with sqlite3_bind_*: values come from the expanded SQL, the same
 * except REALs (15 digits) and text after a NUL, and the record says so. */
static void expanded_sql_fallback_says_it_may_round(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    run_three_times(f->db, 0);
    assert_string_equal(records(f, "parameters"),
        "[9223372036854775807,0.3,1.0] | "
        "[-9223372036854775808,\"it's \\\"quoted\\\"\",{\"$blob\":\"AP8=\"}] | "
        "[0,null,-1e999]");
    assert_string_equal(records(f, "parameters_exact"), "0 | 0 | 0");
}

/* A value bound through resql and later re-bound directly is not reported
 * from resql's memory of the first binding. */
static void rebinding_directly_is_noticed(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO t(a) VALUES (?)", -1, &st, NULL), SQLITE_OK);
    resql_bind_int64(st, 1, 1);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, 2);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_string_equal(records(f, "parameters"), "[1] | [2]");
}

/* The same for every storage class: each value first bound through resql,
 * then re-bound directly to something that differs only a little. */
static void rebinding_any_type_directly_is_noticed(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE u(x, y, z)");
    start(f, NULL);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO u VALUES (?, ?, ?)", -1, &st, NULL), SQLITE_OK);
    resql_bind_text(st, 1, "it's", -1, SQLITE_STATIC);
    resql_bind_double(st, 2, 0.5);
    resql_bind_blob(st, 3, "\x01\x02", 2, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, "it''s", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, 0.25);
    sqlite3_bind_blob(st, 3, "\x01\x03", 2, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    resql_bind_null(st, 1);
    resql_bind_int64(st, 2, -7);
    resql_bind_blob(st, 3, "", 0, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, 4);
    sqlite3_bind_int64(st, 2, -71);
    sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_string_equal(records(f, "parameters"),
        "[\"it's\",0.5,{\"$blob\":\"AQI=\"}] | [\"it''s\",0.25,{\"$blob\":\"AQM=\"}] | "
        "[null,-7,{\"$blob\":\"\"}] | [4,-71,\"\"]");
    assert_string_equal(records(f, "parameters_exact"), "1 | 0 | 1 | 0");
}

/* ?NNN leaves a gap: parameter 1 of "VALUES (?2)" is in no literal of the
 * expanded SQL. The others are still lined up and checked: an INTEGER bound
 * directly is exact there, and a value re-bound directly after resql_bind_*
 * is not reported from resql's memory. */
static void numbered_parameters_with_a_gap(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO t(a) VALUES (?2)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 2, 5);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    resql_bind_int64(st, 2, 6);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 2, 7);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_string_equal(records(f, "parameters"), "[null,5] | [null,6] | [null,7]");
    assert_string_equal(records(f, "parameters_exact"), "1 | 1 | 1");
}

/* SQLite also takes #name and Tcl-style $a::b / $a(x) parameters. A value
 * re-bound directly is noticed for them too. */
static void every_parameter_syntax_is_lined_up(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    const char *sqls[] = {"INSERT INTO t(a) VALUES (#x)", "INSERT INTO t(a) VALUES ($x::y)",
                          "INSERT INTO t(a) VALUES ($x(1))"};
    for (int k = 0; k < 3; k++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(f->db, sqls[k], -1, &st, NULL), SQLITE_OK);
        resql_bind_int64(st, 1, 1);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, 2);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
    }
    assert_string_equal(records(f, "parameters"),
        "{\"#x\":1} | {\"#x\":2} | {\"$x::y\":1} | {\"$x::y\":2} | {\"$x(1)\":1} | {\"$x(1)\":2}");
}

/* When there is no expanded SQL to check against (it would be longer than
 * SQLITE_LIMIT_LENGTH), resql's memory of a value cannot be checked: a value
 * re-bound directly since must not be reported as exact. */
static void unchecked_values_are_not_exact(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE u(x, y)");
    start(f, NULL);
    static const char big[700];
    sqlite3_limit(f->db, SQLITE_LIMIT_LENGTH, 1000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO u(x, y) VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);
    resql_bind_int64(st, 1, 1);
    resql_bind_blob(st, 2, big, (int)sizeof big, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, 2);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_limit(f->db, SQLITE_LIMIT_LENGTH, 1000000000);
    assert_string_equal(query_text(reader(f),
        "SELECT json_extract(parameters, '$[0]') = 2 OR NOT parameters_exact FROM resql_queries "
        "ORDER BY id DESC LIMIT 1"), "1");
}

static void named_and_positional_parameters(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO t(id, a, b) VALUES (:id, @a, $b)", -1, &st, NULL), SQLITE_OK);
    resql_bind_int64(st, 1, 5);
    resql_bind_text(st, 2, "x", -1, SQLITE_STATIC);
    resql_bind_double(st, 3, 2.5);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(f->db, "UPDATE t SET a = ?2 WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
    resql_bind_int64(st, 1, 5);
    resql_bind_text(st, 2, "y", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    EXEC(f->db, "DELETE FROM t");
    assert_string_equal(records(f, "parameters"),
                        "{\":id\":5,\"@a\":\"x\",\"$b\":2.5} | [5,\"y\"] | []");
    assert_string_equal(records(f, "coalesce(rows_changed, 'null')"), "1 | 1 | 1");
}

/* ---- transactions -------------------------------------------------------------- */

static void outcomes_commit_and_rollback(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    EXEC(f->db, "BEGIN; INSERT INTO t(a) VALUES (1); SAVEPOINT s; INSERT INTO t(a) VALUES (2);"
                "ROLLBACK TO s; RELEASE s; COMMIT");
    EXEC(f->db, "BEGIN; INSERT INTO t(a) VALUES (3); ROLLBACK");
    assert_string_equal(records(f, "kind || ':' || outcome"),
        "Begin:commit | Insert:commit | Savepoint:commit | Insert:commit | Rollback:commit | "
        "Release:commit | Commit:commit | Begin:rollback | Insert:rollback | Rollback:rollback");
    assert_int_equal(query_int(reader(f), "SELECT count(DISTINCT txn_id) FROM resql_queries"), 2);
}

/* Records are written 16 to an INSERT: two full batches and a rest keep
 * their order and their own values, also when each statement is finalized
 * before its batch is written; a rolled-back transaction's batch is kept
 * with its outcome. */
static void batched_records_keep_order_and_values(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    EXEC(f->db, "BEGIN");
    char expected[4096] = "";
    for (int i = 0; i < 40; i++) {
        sqlite3_stmt *st;
        const char *sql = i % 2 ? "INSERT INTO t(a) VALUES (?)" : "UPDATE t SET a = ? WHERE id = -1";
        assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
        resql_bind_int64(st, 1, i);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        char one[128];
        snprintf(one, sizeof one, "%s%s:[%d]:%d", i ? " | " : "", sql, i, i % 2);
        strcat(expected, one);
    }
    EXEC(f->db, "COMMIT");
    EXEC(f->db, "BEGIN");
    for (int i = 0; i < 20; i++) EXEC(f->db, "INSERT INTO t(a) VALUES (0)");
    EXEC(f->db, "ROLLBACK");
    assert_string_equal(query_text(reader(f),
        "SELECT group_concat(statement || ':' || parameters || ':' || rows_changed, ' | ') "
        "FROM (SELECT * FROM resql_queries WHERE kind IN ('Insert', 'Update') AND txn_id = 1 ORDER BY id)"),
        expected);
    assert_string_equal(query_text(reader(f),
        "SELECT count(*) || ' ' || min(outcome) || ' ' || max(outcome) FROM resql_query_log WHERE txn_id = 2"),
        "22 rollback rollback");
    assert_int_equal(query_int(reader(f), "SELECT count(*) FROM resql_queries"), 42 + 22);
}

/* A huge statement's buffers are let go after its batch, not kept; the
 * records before and after it are whole. */
static void a_huge_parameter_then_small_ones(void **state)
{
    fixture *f = *state;
    start(f, NULL);
    static char big[200000];
    memset(big, 'x', sizeof big - 1);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO t(a) VALUES (?)", -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < 3; i++) {
        resql_bind_text(st, 1, i == 1 ? big : "small", -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    assert_string_equal(records(f, "length(parameters)"), "9 | 200003 | 9");
    assert_string_equal(query_text(reader(f), "SELECT parameters = '[\"' || replace(hex(zeroblob(199999)), "
                                              "'00', 'x') || '\"]' FROM resql_queries WHERE id = 2"), "1");
}

static void rollbacks_can_be_dropped(void **state)
{
    fixture *f = *state;
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_drop_rollbacks(opts, 1);
    start(f, opts);
    resql_options_free(opts);
    EXEC(f->db, "BEGIN; INSERT INTO t(a) VALUES (3); ROLLBACK");
    EXEC(f->db, "INSERT INTO t(a) VALUES (4)");
    assert_string_equal(records(f, "kind || ':' || outcome"), "Insert:commit");
    assert_int_equal(query_int(reader(f), "SELECT count(*) FROM resql_transactions"), 1);
}

static void failing_autocommit_statement_is_a_rolled_back_transaction(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO t(b) VALUES ('taken')");
    start(f, NULL);
    exec_err(f->db, "INSERT INTO t(b) VALUES ('taken')");
    EXEC(f->db, "INSERT INTO t(b) VALUES ('free')");
    assert_string_equal(records(f, "outcome || ':' || statement"),
        "rollback:INSERT INTO t(b) VALUES ('taken') | commit:INSERT INTO t(b) VALUES ('free')");
}

/* ---- extra ------------------------------------------------------------------ */

static void extra_reused_across_commits(void **state)
{
    fixture *f = *state;
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_extra_json(opts, "{\"user\":\"ada\"}");
    start(f, opts);
    resql_options_free(opts);
    EXEC(f->db, "INSERT INTO t(a) VALUES (1)");
    EXEC(f->db, "INSERT INTO t(a) VALUES (2)");
    assert_string_equal(records(f, "extra"), "{\"user\":\"ada\"} | {\"user\":\"ada\"}");
}

static void user_of(resql_extra_result *result, void *ctx)
{
    char json[64];
    snprintf(json, sizeof json, "{\"user\":\"%s\"}", *(const char **)ctx);
    resql_extra_json(result, json);
}

static void two_connections_keep_their_own_extra(void **state)
{
    fixture *f = *state;
    static const char *user_a = "ann", *user_b = "bob";
    sqlite3 *other;
    resql_logger *other_log;
    resql_options *opts;
    assert_int_equal(sqlite3_open(APP_DB, &other), SQLITE_OK);
    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, user_of, &user_a, NULL);
    start(f, opts);
    resql_options_set_extra_callback(opts, user_of, &user_b, NULL);
    assert_int_equal(resql_log_queries(other, LOG_DB, opts, &other_log), RESQL_OK);
    resql_options_free(opts);

    EXEC(f->db, "INSERT INTO t(a) VALUES ('by ann')");
    EXEC(other, "INSERT INTO t(a) VALUES ('by bob')");
    EXEC(f->db, "UPDATE t SET a = 'ann again' WHERE a = 'by ann'");
    EXEC(other, "DELETE FROM t WHERE a = 'by bob'");
    assert_string_equal(records(f, "json_extract(extra, '$.user') || ':' || kind"),
                        "ann:Insert | bob:Insert | ann:Update | bob:Delete");
    resql_logger_close(other_log);
    resql_logger_free(other_log);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
}

/* The callback runs as the transaction's first statement starts; it may
 * read the connection it logs (and its reads are not logged). */
static void count_rows(resql_extra_result *result, void *ctx)
{
    char json[64];
    snprintf(json, sizeof json, "{\"rows_before\":%lld}", query_int(ctx, "SELECT count(*) FROM t"));
    resql_extra_json(result, json);
}

static void extra_callback_may_read_the_connection(void **state)
{
    fixture *f = *state;
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, count_rows, f->db, NULL);
    start(f, opts);
    resql_options_free(opts);
    EXEC(f->db, "INSERT INTO t(a) VALUES (1)");
    EXEC(f->db, "BEGIN; INSERT INTO t(a) VALUES (2); INSERT INTO t(a) VALUES (3); COMMIT");
    assert_string_equal(records(f, "kind || ':' || json_extract(extra, '$.rows_before')"),
                        "Insert:0 | Begin:1 | Insert:1 | Insert:1 | Commit:1");
}

/* ---- replay ---------------------------------------------------------------- */

/* Binds one parameter from its logged JSON. */
static void bind_logged(sqlite3_stmt *st, int index, const char *json, resql_buf *scratch)
{
    resql_value v;
    const char *why = NULL;
    if (resql__json_decode_value(json, strlen(json), &v, scratch, &why) != 0)
        fail_msg("cannot decode parameter %s: %s", json, why);
    switch (v.type) {
    case SQLITE_INTEGER: sqlite3_bind_int64(st, index, v.i); break;
    case SQLITE_FLOAT: sqlite3_bind_double(st, index, v.r); break;
    case SQLITE_TEXT: sqlite3_bind_text(st, index, (const char *)v.bytes, (int)v.n, SQLITE_TRANSIENT); break;
    case SQLITE_BLOB: sqlite3_bind_blob(st, index, v.bytes, (int)v.n, SQLITE_TRANSIENT); break;
    default: sqlite3_bind_null(st, index);
    }
}

/* Replays the committed statements of the log into an empty database. */
static void replay(sqlite3 *log, sqlite3 *into)
{
    sqlite3_stmt *q, *params;
    resql_buf scratch;
    resql__buf_init(&scratch);
    assert_int_equal(sqlite3_prepare_v2(log,
        "SELECT statement, parameters FROM resql_query_log WHERE outcome = 'commit' "
        "AND kind NOT IN ('Begin', 'Commit', 'Savepoint', 'Release', 'Rollback') ORDER BY id", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(log,
        "SELECT j.key, ?1 -> j.fullkey FROM json_each(?1) j", -1, &params, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(into, (const char *)sqlite3_column_text(q, 0), -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(params, 1, (const char *)sqlite3_column_text(q, 1), -1, SQLITE_TRANSIENT);
        while (sqlite3_step(params) == SQLITE_ROW) {
            int index = sqlite3_column_type(params, 0) == SQLITE_INTEGER
                ? sqlite3_column_int(params, 0) + 1
                : sqlite3_bind_parameter_index(st, (const char *)sqlite3_column_text(params, 0));
            bind_logged(st, index, (const char *)sqlite3_column_text(params, 1), &scratch);
        }
        sqlite3_reset(params);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail_msg("replay failed: %s", sqlite3_errmsg(into));
        sqlite3_finalize(st);
    }
    sqlite3_finalize(q);
    sqlite3_finalize(params);
    resql__buf_free(&scratch);
}

static void replay_rebuilds_schema_and_data(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "DROP TABLE t");
    start(f, NULL);
    EXEC(f->db, "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT)");
    EXEC(f->db, "ALTER TABLE person ADD COLUMN score REAL");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO person(name, score) VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        resql_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        resql_bind_double(st, 2, 0.1 * i + 1e-17);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    EXEC(f->db, "BEGIN; UPDATE person SET name = 'gone'; ROLLBACK");
    EXEC(f->db, "DELETE FROM person WHERE id = 2");

    sqlite3 *copy;
    assert_int_equal(sqlite3_open(":memory:", &copy), SQLITE_OK);
    replay(reader(f), copy);
    const char *dump = "SELECT group_concat(id || ',' || name || ',' || printf('%!.17g', score), ';') FROM person";
    assert_string_equal(query_text(copy, dump), query_text(f->db, dump));
    assert_string_equal(query_text(copy, "SELECT sql FROM sqlite_schema WHERE name = 'person'"),
                        query_text(f->db, "SELECT sql FROM sqlite_schema WHERE name = 'person'"));
    sqlite3_close(copy);
}

/* ---- refusals and failures --------------------------------------------------------- */

static void bad_targets_are_refused(void **state)
{
    fixture *f = *state;
    resql_logger *log = (resql_logger *)1;
    assert_int_equal(resql_log_queries(f->db, NULL, NULL, &log), RESQL_MISUSE);
    assert_null(log);
    assert_non_null(strstr(resql_errmsg(NULL), "database of its own"));
    assert_int_equal(resql_log_queries(f->db, APP_DB, NULL, &log), RESQL_MISUSE);
    assert_non_null(strstr(resql_errmsg(NULL), "logged database itself"));
    assert_int_equal(resql_log_queries(f->db, "/nonexistent-dir/log.db", NULL, &log), RESQL_CANTOPEN);
    assert_int_equal(resql_log_queries(NULL, LOG_DB, NULL, &log), RESQL_MISUSE);
    assert_int_equal(resql_log_queries(f->db, LOG_DB, NULL, NULL), RESQL_MISUSE);
    EXEC(f->db, "BEGIN");
    assert_int_equal(resql_log_queries(f->db, LOG_DB, NULL, &log), RESQL_MISUSE);
    EXEC(f->db, "COMMIT");
    /* Nothing of resql is left on the connection. */
    assert_null(sqlite3_commit_hook(f->db, NULL, NULL));
    assert_null(sqlite3_next_stmt(f->db, NULL));

    start(f, NULL);
    assert_int_equal(resql_log_queries(f->db, LOG_DB, NULL, &log), RESQL_EXISTS);
    EXEC(f->db, "INSERT INTO t(a) VALUES (1)");
    assert_string_equal(records(f, "kind"), "Insert");
}

/* When the query-log database cannot be written, the app's commit fails and
 * its data is not committed. */
static void unwritable_log_fails_the_commit(void **state)
{
    fixture *f = *state;
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_busy_timeout(opts, 10);
    start(f, opts);
    resql_options_free(opts);
    EXEC(f->db, "INSERT INTO t(a) VALUES ('logged')");

    sqlite3 *blocker;                       /* another writer holds the log's lock */
    assert_int_equal(sqlite3_open(LOG_DB, &blocker), SQLITE_OK);
    EXEC(blocker, "BEGIN IMMEDIATE");
    int rc = sqlite3_exec(f->db, "INSERT INTO t(a) VALUES ('not logged')", NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_extended_errcode(f->db), SQLITE_CONSTRAINT_COMMITHOOK);
    assert_non_null(strstr(resql_errmsg(f->log), "cannot write the query log"));
    /* SQLite only says "constraint failed"; resql says why. */
    assert_non_null(strstr(resql_commit_refusal(f->db), "cannot write the query log"));
    EXEC(f->db, "BEGIN; INSERT INTO t(a) VALUES ('not logged either')");
    assert_int_equal(sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL), SQLITE_CONSTRAINT);
    if (!sqlite3_get_autocommit(f->db)) EXEC(f->db, "ROLLBACK");
    EXEC(blocker, "COMMIT");
    sqlite3_close(blocker);

    assert_int_equal(query_int(f->db, "SELECT count(*) FROM t"), 1);
    EXEC(f->db, "INSERT INTO t(a) VALUES ('logged again')");
    assert_null(resql_commit_refusal(f->db));
    assert_string_equal(records(f, "statement"),
                        "INSERT INTO t(a) VALUES ('logged') | INSERT INTO t(a) VALUES ('logged again')");
}

static void no_user(resql_extra_result *result, void *ctx)
{
    (void)ctx;
    resql_extra_error(result, "no user is logged in");
}

/* The query log cannot fail a statement from SQLite's trace callback, so a
 * failing callback makes the transaction's commit fail instead. */
static void extra_callback_error_fails_the_commit(void **state)
{
    fixture *f = *state;
    resql_options *opts;
    resql_options_new(&opts);
    resql_options_set_extra_callback(opts, no_user, NULL, NULL);
    start(f, opts);
    resql_options_free(opts);
    assert_int_equal(sqlite3_exec(f->db, "INSERT INTO t(a) VALUES (1)", NULL, NULL, NULL), SQLITE_CONSTRAINT);
    assert_non_null(strstr(resql_errmsg(f->log), "resql: extra callback failed: no user is logged in"));
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM t"), 0);

    assert_int_equal(resql_logger_set_extra_json(f->log, "{\"ok\":true}"), RESQL_OK);
    EXEC(f->db, "INSERT INTO t(a) VALUES (1)");
    assert_string_equal(records(f, "extra"), "{\"ok\":true}");
}

/* ---- living with the change log ------------------------------------------------------ */

static void change_log_and_query_log_share_the_connection(void **state)
{
    fixture *f = *state;
    resql_logger *changes;
    start(f, NULL);
    assert_int_equal(resql_log_changes(f->db, NULL, NULL, &changes), RESQL_OK);
    EXEC(f->db, "INSERT INTO t(a) VALUES (1)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes"), 1);
    /* resql's own change-log rows are not statements of the app. */
    assert_string_equal(records(f, "statement"), "INSERT INTO t(a) VALUES (1)");

    /* Closing the change log leaves the query log working, and back. */
    assert_int_equal(resql_logger_close(changes), RESQL_OK);
    EXEC(f->db, "INSERT INTO t(a) VALUES (2)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes"), 1);
    assert_int_equal(query_int(reader(f), "SELECT count(*) FROM resql_queries"), 2);
    resql_logger_free(changes);

    assert_int_equal(resql_logger_close(f->log), RESQL_OK);
    assert_null(sqlite3_next_stmt(f->db, NULL));       /* closed, not yet freed: nothing left */
    resql_logger_free(f->log);
    f->log = NULL;
    EXEC(f->db, "INSERT INTO t(a) VALUES (3)");
    assert_int_equal(query_int(reader(f), "SELECT count(*) FROM resql_queries"), 2);
    /* No hook of resql's remains. */
    assert_null(sqlite3_commit_hook(f->db, NULL, NULL));
    assert_null(sqlite3_rollback_hook(f->db, NULL, NULL));
    assert_null(sqlite3_preupdate_hook(f->db, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(each_kind_is_classified),
        T(reads_are_left_out_unless_asked),
        T(exact_parameters_through_resql_bind),
        T(expanded_sql_fallback_says_it_may_round),
        T(rebinding_directly_is_noticed),
        T(rebinding_any_type_directly_is_noticed),
        T(numbered_parameters_with_a_gap),
        T(every_parameter_syntax_is_lined_up),
        T(unchecked_values_are_not_exact),
        T(named_and_positional_parameters),
        T(outcomes_commit_and_rollback),
        T(batched_records_keep_order_and_values),
        T(a_huge_parameter_then_small_ones),
        T(rollbacks_can_be_dropped),
        T(failing_autocommit_statement_is_a_rolled_back_transaction),
        T(extra_reused_across_commits),
        T(two_connections_keep_their_own_extra),
        T(extra_callback_may_read_the_connection),
        T(replay_rebuilds_schema_and_data),
        T(bad_targets_are_refused),
        T(unwritable_log_fails_the_commit),
        T(extra_callback_error_fails_the_commit),
        T(change_log_and_query_log_share_the_connection),
#undef T
    };
    return cmocka_run_group_tests_name("query log", tests, NULL, NULL);
}
