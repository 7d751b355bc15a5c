/* Schema changes while the change log is on (DESIGN.md, guarantee 3, and the
 * table filters): the app's DDL keeps working, later log rows follow the new
 * columns and names, and a change resql cannot log is never committed
 * silently. Every test reads the log rows back with SQL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    sqlite3 *db;              /* the logged connection */
    sqlite3 *other;           /* a second connection to the same file, if any */
    resql_logger *log;
    char path[64];            /* a /tmp database file, if the test needs one */
} fixture;

static int setup_memory(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || sqlite3_open(":memory:", &f->db) != SQLITE_OK) return -1;
    *state = f;
    return 0;
}

static int setup_file(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->path, sizeof f->path, "/tmp/resql_schema_XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0) return -1;
    close(fd);
    if (sqlite3_open(f->path, &f->db) != SQLITE_OK) return -1;
    *state = f;
    return 0;
}

/* Only cleans up after a test that stopped half-way; a test that runs to its
 * end has already closed everything through finish(). */
static int teardown(void **state)
{
    fixture *f = *state;
    if (!f) return 0;
    resql_logger_free(f->log);
    sqlite3_close_v2(f->other);
    sqlite3_close_v2(f->db);
    if (f->path[0]) {
        char side[80];
        unlink(f->path);
        snprintf(side, sizeof side, "%s-journal", f->path);
        unlink(side);
        snprintf(side, sizeof side, "%s-wal", f->path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", f->path);
        unlink(side);
    }
    free(f);
    return 0;
}

/* ------------------------------------------------------------ helpers */

/* query_text / query_int / EXEC with a printf format (sqlite3_mprintf: %Q
 * quotes a string literal, %w doubles the quotes of an identifier). */
static const char *qtext(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    assert_non_null(sql);
    const char *out = query_text(db, sql);
    sqlite3_free(sql);
    return out;
}

static long long qint(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    assert_non_null(sql);
    long long out = query_int(db, sql);
    sqlite3_free(sql);
    return out;
}

static void execf(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    assert_non_null(sql);
    EXEC(db, sql);
    sqlite3_free(sql);
}

/* Starts the change log of f->db (to: NULL = the same database). */
static void start_logging(fixture *f, const char *to, const resql_options *opts)
{
    int rc = resql_log_changes(f->db, to, opts, &f->log);
    if (rc != RESQL_OK) fprintf(stderr, "resql_log_changes: %s\n", resql_errmsg(NULL));
    assert_int_equal(rc, RESQL_OK);
    assert_non_null(f->log);
}

/* Stops logging and proves that nothing of resql is left on the connection:
 * no TEMP trigger, no attached log database, and sqlite3_close succeeds. */
static void finish(fixture *f)
{
    int rc = resql_logger_close(f->log);
    if (rc != RESQL_OK) fprintf(stderr, "resql_logger_close: %s\n", resql_errmsg(f->log));
    assert_int_equal(rc, RESQL_OK);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_database_list "
                                      "WHERE name = 'resql_log'"), 0);
    resql_logger_free(f->log);
    f->log = NULL;
    if (f->other) {
        assert_int_equal(sqlite3_close(f->other), SQLITE_OK);
        f->other = NULL;
    }
    assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
    f->db = NULL;
}

static long long count_changes(sqlite3 *db)
{
    return query_int(db, "SELECT count(*) FROM resql_changes");
}

/* The id of the latest change of `kind` to `table` (0 if none). */
static long long change_id(sqlite3 *db, const char *table, const char *kind)
{
    return qint(db, "SELECT coalesce(max(id), 0) FROM resql_changes "
                    "WHERE table_name = %Q AND kind = %Q", table, kind);
}

/* The column names in the diff of change `id`, sorted, joined with '|'. */
static const char *diff_keys(sqlite3 *db, long long id)
{
    return qtext(db, "SELECT group_concat(key, '|') FROM (SELECT j.key FROM resql_changes c, "
                     "json_each(c.diff) j WHERE c.id = %lld ORDER BY j.key)", id);
}

/* diff[col].old or diff[col].new of change `id` as JSON text ("10", "\"x\"",
 * "null"), or "(none)" when `col` is not in the diff. */
static const char *diff_old(sqlite3 *db, long long id, const char *col)
{
    return qtext(db, "SELECT j.value -> '$.old' FROM resql_changes c, json_each(c.diff) j "
                     "WHERE c.id = %lld AND j.key = %Q", id, col);
}

static const char *diff_new(sqlite3 *db, long long id, const char *col)
{
    return qtext(db, "SELECT j.value -> '$.new' FROM resql_changes c, json_each(c.diff) j "
                     "WHERE c.id = %lld AND j.key = %Q", id, col);
}

static const char *record_id(sqlite3 *db, long long id)
{
    return qtext(db, "SELECT record_id FROM resql_changes WHERE id = %lld", id);
}

/* Runs `sql` on the logged connection (it may be several statements, with
 * BEGIN/COMMIT). Returns 1 when it succeeded; when it failed, checks that
 * resql said why, naming `table`, that no transaction is left open, and
 * returns 0. */
static int exec_logged_or_refused(fixture *f, const char *sql, const char *table)
{
    char *err = NULL;
    int rc = sqlite3_exec(f->db, sql, NULL, NULL, &err);
    if (rc == SQLITE_OK) return 1;
    const char *why = resql_errmsg(f->log);
    if (!strstr(why, table)) {
        fprintf(stderr, "refused, but resql_errmsg does not name \"%s\": %s (SQLite: %s)\n",
                table, why, err ? err : "");
        fail();
    }
    sqlite3_free(err);
    if (!sqlite3_get_autocommit(f->db)) EXEC(f->db, "ROLLBACK");
    return 0;
}

/* ------------------------------------------------------------ 1. ADD COLUMN */

static void test_add_column_then_update_and_insert(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT);"
                "INSERT INTO t VALUES (1, 'ann')");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "ALTER TABLE t ADD COLUMN email TEXT");
    EXEC(f->db, "UPDATE t SET email = 'ann@example.org' WHERE id = 1");
    long long up = change_id(f->db, "t", "update");
    assert_true(up > 0);
    assert_string_equal(record_id(f->db, up), "1");
    assert_string_equal(diff_keys(f->db, up), "email");
    assert_string_equal(diff_old(f->db, up, "email"), "null");
    assert_string_equal(diff_new(f->db, up, "email"), "\"ann@example.org\"");

    EXEC(f->db, "INSERT INTO t VALUES (2, 'bob', 'bob@example.org')");
    long long ins = change_id(f->db, "t", "insert");
    assert_true(ins > up);
    assert_string_equal(diff_keys(f->db, ins), "email|id|name");
    assert_string_equal(diff_new(f->db, ins, "email"), "\"bob@example.org\"");
    assert_string_equal(diff_new(f->db, ins, "name"), "\"bob\"");
    assert_int_equal(count_changes(f->db), 2);
    finish(f);
}

/* A row written before ADD COLUMN ... DEFAULT has no value for the new column
 * in its record; SQLite reads it as the default, so the log must too: the old
 * value is the default, and an untouched added column is no change. */
static void test_add_column_default_is_the_old_value_of_existing_rows(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT);"
                "INSERT INTO t VALUES (1, 'ann'), (2, 'bob')");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "ALTER TABLE t ADD COLUMN status TEXT NOT NULL DEFAULT 'new'");
    EXEC(f->db, "ALTER TABLE t ADD COLUMN score INTEGER DEFAULT 7");
    EXEC(f->db, "UPDATE t SET status = 'done' WHERE id = 1");
    long long up = change_id(f->db, "t", "update");
    assert_true(up > 0);
    assert_string_equal(diff_keys(f->db, up), "status");     /* not score: it stays 7 */
    assert_string_equal(diff_old(f->db, up, "status"), "\"new\"");
    assert_string_equal(diff_new(f->db, up, "status"), "\"done\"");

    EXEC(f->db, "DELETE FROM t WHERE id = 2");
    long long del = change_id(f->db, "t", "delete");
    assert_true(del > 0);
    assert_string_equal(diff_keys(f->db, del), "id|name|score|status");
    assert_string_equal(diff_old(f->db, del, "status"), "\"new\"");
    assert_string_equal(diff_old(f->db, del, "score"), "7");
    finish(f);
}

/* ------------------------------------------------------------ 2. DROP COLUMN */

static void test_drop_column_then_insert_and_update(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b, c);"
                "INSERT INTO t VALUES (1, 'a1', 'b1', 'c1')");
    start_logging(f, NULL, NULL);

    /* Would fail with "error in trigger" if resql's triggers named a column. */
    EXEC(f->db, "ALTER TABLE t DROP COLUMN b");
    EXEC(f->db, "INSERT INTO t VALUES (2, 'a2', 'c2')");
    long long ins = change_id(f->db, "t", "insert");
    assert_true(ins > 0);
    assert_string_equal(diff_keys(f->db, ins), "a|c|id");
    assert_string_equal(diff_new(f->db, ins, "a"), "\"a2\"");
    assert_string_equal(diff_new(f->db, ins, "c"), "\"c2\"");

    /* The columns after the dropped one moved down by one. */
    EXEC(f->db, "UPDATE t SET c = 'c1x' WHERE id = 1");
    long long up = change_id(f->db, "t", "update");
    assert_string_equal(diff_keys(f->db, up), "c");
    assert_string_equal(diff_old(f->db, up, "c"), "\"c1\"");
    assert_string_equal(diff_new(f->db, up, "c"), "\"c1x\"");
    assert_int_equal(count_changes(f->db), 2);
    finish(f);
}

/* ------------------------------------------------------------ 3. RENAME COLUMN */

static void test_rename_column_later_diffs_use_new_name(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT);"
                "INSERT INTO t VALUES (1, 'x')");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "ALTER TABLE t RENAME COLUMN a TO alpha");
    EXEC(f->db, "UPDATE t SET alpha = 'y' WHERE id = 1");
    long long up = change_id(f->db, "t", "update");
    assert_string_equal(diff_keys(f->db, up), "alpha");
    assert_string_equal(diff_old(f->db, up, "alpha"), "\"x\"");
    assert_string_equal(diff_new(f->db, up, "alpha"), "\"y\"");

    /* Renaming the key column keeps the record ids right. */
    EXEC(f->db, "ALTER TABLE t RENAME COLUMN id TO key");
    EXEC(f->db, "INSERT INTO t(key, alpha) VALUES (5, 'z')");
    long long ins = change_id(f->db, "t", "insert");
    assert_string_equal(diff_keys(f->db, ins), "alpha|key");
    assert_string_equal(record_id(f->db, ins), "5");
    assert_int_equal(qint(f->db, "SELECT count(*) FROM resql_changes c, json_each(c.diff) j "
                                 "WHERE c.id > %lld AND j.key IN ('a', 'id')", up), 0);
    finish(f);
}

/* ------------------------------------------------------------ 4. RENAME TO */

static void test_rename_table_later_changes_use_new_name(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
                "INSERT INTO t VALUES (1, 'one')");
    start_logging(f, ":memory:", NULL);     /* log in an attached database */

    EXEC(f->db, "ALTER TABLE t RENAME TO t2");
    EXEC(f->db, "INSERT INTO t2 VALUES (2, 'two');"
                "UPDATE t2 SET v = 'uno' WHERE id = 1;"
                "DELETE FROM t2 WHERE id = 2");
    assert_int_equal(count_changes(f->db), 3);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE table_name = 't2'"), 3);
    assert_string_equal(diff_new(f->db, change_id(f->db, "t2", "update"), "v"), "\"uno\"");

    /* A new table under the old name is a table of its own. */
    EXEC(f->db, "CREATE TABLE t(k TEXT PRIMARY KEY, w); INSERT INTO t VALUES ('a', 1)");
    long long ins = change_id(f->db, "t", "insert");
    assert_true(ins > 0);
    assert_string_equal(diff_keys(f->db, ins), "k|w");
    assert_string_equal(record_id(f->db, ins), "\"a\"");
    assert_int_equal(count_changes(f->db), 4);
    finish(f);
}

/* ------------------------------------------------------------ 5. DROP TABLE */

static void test_drop_table_and_recreate_with_other_columns(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, old_col);"
                "INSERT INTO t VALUES (1, 'x')");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "DROP TABLE t");
    EXEC(f->db, "CREATE TABLE t(code TEXT PRIMARY KEY, label, qty INTEGER)");
    EXEC(f->db, "INSERT INTO t VALUES ('k1', 'first', 3)");
    assert_int_equal(count_changes(f->db), 1);
    long long ins = change_id(f->db, "t", "insert");
    assert_string_equal(diff_keys(f->db, ins), "code|label|qty");
    assert_string_equal(record_id(f->db, ins), "\"k1\"");
    assert_string_equal(diff_new(f->db, ins, "qty"), "3");
    finish(f);
}

/* DROP TABLE rolled back: the table, and its logging, are back. */
static void test_drop_table_rolled_back_is_still_logged(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "BEGIN; DROP TABLE t; ROLLBACK");
    EXEC(f->db, "INSERT INTO t VALUES (1, 'still here')");
    long long ins = change_id(f->db, "t", "insert");
    assert_true(ins > 0);
    assert_string_equal(diff_new(f->db, ins, "v"), "\"still here\"");
    assert_int_equal(count_changes(f->db), 1);
    finish(f);
}

/* ------------------------------------------------------------ 6. CREATE TABLE */

static void test_create_table_and_insert_in_one_exec(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);

    EXEC(f->db, "CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO n VALUES (1, 'a')");
    assert_int_equal(count_changes(f->db), 1);
    long long ins = change_id(f->db, "n", "insert");
    assert_true(ins > 0);
    assert_string_equal(diff_keys(f->db, ins), "id|v");
    assert_string_equal(diff_new(f->db, ins, "v"), "\"a\"");
    finish(f);
}

static void test_create_table_inside_transaction(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);

    EXEC(f->db, "BEGIN");
    EXEC(f->db, "CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT)");
    EXEC(f->db, "INSERT INTO n VALUES (1, 'a'), (2, 'b')");
    EXEC(f->db, "UPDATE n SET v = 'bb' WHERE id = 2");
    EXEC(f->db, "COMMIT");
    assert_int_equal(count_changes(f->db), 3);
    assert_int_equal(query_int(f->db, "SELECT count(DISTINCT txn_id) FROM resql_changes"), 1);
    assert_string_equal(diff_new(f->db, change_id(f->db, "n", "update"), "v"), "\"bb\"");

    EXEC(f->db, "BEGIN; CREATE TABLE m(k TEXT PRIMARY KEY); INSERT INTO m VALUES ('x'); COMMIT");
    long long ins = change_id(f->db, "m", "insert");
    assert_true(ins > 0);
    assert_string_equal(record_id(f->db, ins), "\"x\"");
    assert_int_equal(count_changes(f->db), 4);
    finish(f);
}

/* Data and DDL mixed in one transaction: each change is logged with the
 * columns the table had when it was made. */
static void test_alter_between_changes_in_one_transaction(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a)");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "BEGIN;"
                "INSERT INTO t VALUES (1, 'a1');"
                "ALTER TABLE t ADD COLUMN z;"
                "UPDATE t SET z = 9 WHERE id = 1;"
                "ALTER TABLE t DROP COLUMN a;"
                "INSERT INTO t VALUES (2, 10);"
                "COMMIT");
    assert_int_equal(count_changes(f->db), 3);
    long long first = query_int(f->db, "SELECT min(id) FROM resql_changes");
    assert_string_equal(diff_keys(f->db, first), "a|id");
    assert_string_equal(diff_keys(f->db, change_id(f->db, "t", "update")), "z");
    assert_string_equal(diff_new(f->db, change_id(f->db, "t", "update"), "z"), "9");
    long long last = change_id(f->db, "t", "insert");
    assert_string_equal(diff_keys(f->db, last), "id|z");
    assert_string_equal(diff_new(f->db, last, "z"), "10");
    finish(f);
}

/* CREATE TABLE ... AS SELECT fills the new table in the same statement. Its
 * rows must be logged, or the statement refused naming the table; never
 * committed without log rows. */
static void test_create_table_as_select_is_logged_or_refused(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE src(id INTEGER PRIMARY KEY, v); INSERT INTO src VALUES (1, 'a'), (2, 'b')");
    start_logging(f, NULL, NULL);

    int ok = exec_logged_or_refused(f, "CREATE TABLE copy AS SELECT id, v FROM src", "copy");
    if (ok) {
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM copy"), 2);
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes "
                                          "WHERE table_name = 'copy' AND kind = 'insert'"), 2);
    } else {
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'copy'"), 0);
        assert_int_equal(count_changes(f->db), 0);
    }
    finish(f);
}

/* Inside a transaction, the rows a CREATE TABLE ... AS SELECT writes are
 * logged as inserts; outside one it is refused (see the test above). */
static void test_create_table_as_select_in_transaction_is_logged(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE src(id INTEGER PRIMARY KEY, v); INSERT INTO src VALUES (1, 'a'), (2, 'b')");
    start_logging(f, NULL, NULL);
    EXEC(f->db, "BEGIN; CREATE TABLE copy AS SELECT id, v FROM src; UPDATE copy SET v = 'c' WHERE id = 2; COMMIT");
    assert_string_equal(query_text(f->db,
        "SELECT group_concat(kind || ' ' || record_id || ' ' || diff, ';') FROM resql_changes "
        "WHERE table_name = 'copy'"),
        "insert 1 {\"id\":{\"old\":null,\"new\":1},\"v\":{\"old\":null,\"new\":\"a\"}};"
        "insert 2 {\"id\":{\"old\":null,\"new\":2},\"v\":{\"old\":null,\"new\":\"b\"}};"
        "update 2 {\"v\":{\"old\":\"b\",\"new\":\"c\"}}");
    /* CREATE TABLE IF NOT EXISTS ... AS on an existing table writes nothing. */
    EXEC(f->db, "BEGIN; CREATE TABLE IF NOT EXISTS copy AS SELECT id, v FROM src; COMMIT");
    assert_int_equal(count_changes(f->db), 3);
    finish(f);
}

/* ------------------------------------------------------------ 7. DDL rolled back */

static void test_created_table_rolled_back_then_recreated(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);

    EXEC(f->db, "BEGIN");
    EXEC(f->db, "CREATE TABLE x(a INTEGER PRIMARY KEY, b)");
    EXEC(f->db, "INSERT INTO x VALUES (1, 'gone')");
    EXEC(f->db, "ROLLBACK");
    assert_int_equal(count_changes(f->db), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_transactions"), 0);

    EXEC(f->db, "CREATE TABLE x(k TEXT PRIMARY KEY, v, w)");
    EXEC(f->db, "INSERT INTO x VALUES ('key', 'vee', 'dub')");
    assert_int_equal(count_changes(f->db), 1);
    long long ins = change_id(f->db, "x", "insert");
    assert_string_equal(diff_keys(f->db, ins), "k|v|w");
    assert_string_equal(record_id(f->db, ins), "\"key\"");
    assert_string_equal(diff_new(f->db, ins, "w"), "\"dub\"");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE diff LIKE '%gone%'"), 0);
    finish(f);
}

/* The same with a savepoint: ROLLBACK TO undoes the table and its trigger. */
static void test_created_table_rolled_back_to_savepoint(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE keep(id INTEGER PRIMARY KEY, v)");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "BEGIN");
    EXEC(f->db, "INSERT INTO keep VALUES (1, 'kept')");
    EXEC(f->db, "SAVEPOINT s");
    EXEC(f->db, "CREATE TABLE x(a INTEGER PRIMARY KEY, b)");
    EXEC(f->db, "INSERT INTO x VALUES (1, 'gone')");
    EXEC(f->db, "ROLLBACK TO s");
    EXEC(f->db, "RELEASE s");
    EXEC(f->db, "CREATE TABLE x(c TEXT PRIMARY KEY, d)");
    EXEC(f->db, "INSERT INTO x VALUES ('c1', 'd1')");
    EXEC(f->db, "COMMIT");

    assert_int_equal(count_changes(f->db), 2);
    assert_true(change_id(f->db, "keep", "insert") > 0);
    long long ins = change_id(f->db, "x", "insert");
    assert_string_equal(diff_keys(f->db, ins), "c|d");
    assert_string_equal(diff_new(f->db, ins, "d"), "\"d1\"");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE diff LIKE '%gone%'"), 0);
    finish(f);
}

/* ADD COLUMN rolled back: later diffs do not have the column. */
static void test_added_column_rolled_back(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a); INSERT INTO t VALUES (1, 'x')");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "BEGIN; ALTER TABLE t ADD COLUMN z; UPDATE t SET z = 1; ROLLBACK");
    assert_int_equal(count_changes(f->db), 0);
    EXEC(f->db, "INSERT INTO t VALUES (2, 'y')");
    long long ins = change_id(f->db, "t", "insert");
    assert_string_equal(diff_keys(f->db, ins), "a|id");
    assert_string_equal(diff_new(f->db, ins, "a"), "\"y\"");
    assert_int_equal(count_changes(f->db), 1);
    finish(f);
}

/* ------------------------------------------------------------ 8. another connection */

static void open_other(fixture *f)
{
    assert_int_equal(sqlite3_open(f->path, &f->other), SQLITE_OK);
    sqlite3_busy_timeout(f->other, 2000);
}

/* The data table and the log agree on `table` (one insert log row per row). */
static void assert_data_matches_log(sqlite3 *db, const char *table)
{
    assert_int_equal(qint(db, "SELECT count(*) FROM \"%w\"", table),
                     qint(db, "SELECT count(*) FROM resql_changes "
                              "WHERE table_name = %Q AND kind = 'insert'", table));
}

static void test_table_created_by_other_connection_autocommit(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);
    open_other(f);
    EXEC(f->other, "CREATE TABLE made_elsewhere(id INTEGER PRIMARY KEY, v TEXT)");

    int logged = exec_logged_or_refused(f, "INSERT INTO made_elsewhere VALUES (1, 'a')",
                                        "made_elsewhere");
    assert_data_matches_log(f->db, "made_elsewhere");
    if (logged)
        assert_string_equal(diff_new(f->db, change_id(f->db, "made_elsewhere", "insert"), "v"), "\"a\"");

    assert_int_equal(resql_logger_refresh(f->log), RESQL_OK);
    EXEC(f->db, "INSERT INTO made_elsewhere VALUES (2, 'b')");
    long long ins = change_id(f->db, "made_elsewhere", "insert");
    assert_string_equal(record_id(f->db, ins), "2");
    assert_string_equal(diff_keys(f->db, ins), "id|v");
    assert_string_equal(diff_new(f->db, ins, "v"), "\"b\"");
    assert_data_matches_log(f->db, "made_elsewhere");
    finish(f);
}

static void test_table_created_by_other_connection_in_transaction(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE mine(id INTEGER PRIMARY KEY)");
    start_logging(f, NULL, NULL);
    open_other(f);
    EXEC(f->other, "CREATE TABLE made_elsewhere(id INTEGER PRIMARY KEY, v TEXT)");

    /* A refused commit takes the whole transaction with it, "mine" too. */
    int logged = exec_logged_or_refused(f, "BEGIN; INSERT INTO mine VALUES (1);"
                                           "INSERT INTO made_elsewhere VALUES (1, 'a'); COMMIT",
                                        "made_elsewhere");
    assert_data_matches_log(f->db, "made_elsewhere");
    assert_data_matches_log(f->db, "mine");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM mine"), logged ? 1 : 0);

    assert_int_equal(resql_logger_refresh(f->log), RESQL_OK);
    EXEC(f->db, "BEGIN; INSERT INTO made_elsewhere VALUES (2, 'b'); COMMIT");
    long long ins = change_id(f->db, "made_elsewhere", "insert");
    assert_true(ins > 0);
    assert_string_equal(diff_new(f->db, ins, "v"), "\"b\"");
    assert_data_matches_log(f->db, "made_elsewhere");
    finish(f);
}

/* Another connection adds a column to an audited table: the logged
 * connection's next changes carry it (or are refused, never logged wrong). */
static void test_column_added_by_other_connection(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a)");
    start_logging(f, NULL, NULL);
    EXEC(f->db, "INSERT INTO t VALUES (1, 'a1')");
    open_other(f);
    EXEC(f->other, "ALTER TABLE t ADD COLUMN extra_col");

    int logged = exec_logged_or_refused(f, "INSERT INTO t VALUES (2, 'a2', 'e2')", "t");
    assert_data_matches_log(f->db, "t");
    if (!logged) {
        assert_int_equal(resql_logger_refresh(f->log), RESQL_OK);
        EXEC(f->db, "INSERT INTO t VALUES (2, 'a2', 'e2')");
    }
    long long ins = change_id(f->db, "t", "insert");
    assert_string_equal(diff_keys(f->db, ins), "a|extra_col|id");
    assert_string_equal(diff_new(f->db, ins, "extra_col"), "\"e2\"");
    assert_data_matches_log(f->db, "t");
    finish(f);
}

/* Another connection drops an audited table and makes a new one of the same
 * name with other columns. */
static void test_table_recreated_by_other_connection(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b, c)");
    start_logging(f, NULL, NULL);
    EXEC(f->db, "INSERT INTO t VALUES (1, 'a', 'b', 'c')");
    open_other(f);
    EXEC(f->other, "DROP TABLE t; CREATE TABLE t(name TEXT PRIMARY KEY, size INTEGER)");

    int logged = exec_logged_or_refused(f, "INSERT INTO t VALUES ('n1', 5)", "t");
    if (!logged) {
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM t"), 0);
        assert_int_equal(resql_logger_refresh(f->log), RESQL_OK);
        EXEC(f->db, "INSERT INTO t VALUES ('n1', 5)");
    }
    long long ins = change_id(f->db, "t", "insert");
    assert_string_equal(diff_keys(f->db, ins), "name|size");
    assert_string_equal(record_id(f->db, ins), "\"n1\"");
    assert_string_equal(diff_new(f->db, ins, "size"), "5");
    finish(f);
}

/* ------------------------------------------------------------ 9. generated columns */

static void test_generated_columns_never_in_diffs(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE g(a INTEGER PRIMARY KEY, b, c AS (b * 2) VIRTUAL, d,"
                "               e AS (d + 1) STORED, f)");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "INSERT INTO g(a, b, d, f) VALUES (1, 10, 20, 30)");
    long long ins = change_id(f->db, "g", "insert");
    assert_string_equal(diff_keys(f->db, ins), "a|b|d|f");
    assert_string_equal(diff_new(f->db, ins, "a"), "1");
    assert_string_equal(diff_new(f->db, ins, "b"), "10");
    assert_string_equal(diff_new(f->db, ins, "d"), "20");
    assert_string_equal(diff_new(f->db, ins, "f"), "30");

    /* c and e change too, but they are derived: only b and d are in the diff. */
    EXEC(f->db, "UPDATE g SET b = 11, d = 21 WHERE a = 1");
    long long up = change_id(f->db, "g", "update");
    assert_string_equal(diff_keys(f->db, up), "b|d");
    assert_string_equal(diff_old(f->db, up, "b"), "10");
    assert_string_equal(diff_new(f->db, up, "b"), "11");
    assert_string_equal(diff_old(f->db, up, "d"), "20");
    assert_string_equal(diff_new(f->db, up, "d"), "21");

    EXEC(f->db, "UPDATE g SET f = 31 WHERE a = 1");
    up = change_id(f->db, "g", "update");
    assert_string_equal(diff_keys(f->db, up), "f");
    assert_string_equal(diff_old(f->db, up, "f"), "30");
    assert_string_equal(diff_new(f->db, up, "f"), "31");

    EXEC(f->db, "DELETE FROM g WHERE a = 1");
    long long del = change_id(f->db, "g", "delete");
    assert_string_equal(record_id(f->db, del), "1");
    assert_string_equal(diff_keys(f->db, del), "a|b|d|f");
    assert_string_equal(diff_old(f->db, del, "b"), "11");
    assert_string_equal(diff_old(f->db, del, "d"), "21");
    assert_string_equal(diff_old(f->db, del, "f"), "31");
    assert_string_equal(diff_new(f->db, del, "f"), "null");
    assert_int_equal(count_changes(f->db), 4);
    finish(f);
}

/* Generated columns before the key, and a key that is not a rowid alias. */
static void test_generated_columns_before_the_key(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);
    EXEC(f->db, "CREATE TABLE h(g1 AS (k || '!') VIRTUAL, k TEXT PRIMARY KEY,"
                "               g2 AS (length(v)) STORED, v)");

    EXEC(f->db, "INSERT INTO h(k, v) VALUES ('key', 'value')");
    long long ins = change_id(f->db, "h", "insert");
    assert_string_equal(record_id(f->db, ins), "\"key\"");
    assert_string_equal(diff_keys(f->db, ins), "k|v");
    assert_string_equal(diff_new(f->db, ins, "v"), "\"value\"");

    EXEC(f->db, "UPDATE h SET v = 'other' WHERE k = 'key'");
    long long up = change_id(f->db, "h", "update");
    assert_string_equal(diff_keys(f->db, up), "v");
    assert_string_equal(diff_old(f->db, up, "v"), "\"value\"");
    assert_string_equal(diff_new(f->db, up, "v"), "\"other\"");
    finish(f);
}

/* WITHOUT ROWID stores the key columns first; the log must still pair each
 * value with its column, skip the generated ones and give the key in order. */
static void test_generated_columns_without_rowid(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);
    EXEC(f->db, "CREATE TABLE w(k TEXT, g AS (k || v) VIRTUAL, v, s AS (v * 2) STORED, z INTEGER,"
                "               PRIMARY KEY (z, k)) WITHOUT ROWID");

    EXEC(f->db, "INSERT INTO w(k, v, z) VALUES ('kk', 4, 9)");
    long long ins = change_id(f->db, "w", "insert");
    assert_string_equal(record_id(f->db, ins), "[9,\"kk\"]");
    assert_string_equal(diff_keys(f->db, ins), "k|v|z");
    assert_string_equal(diff_new(f->db, ins, "k"), "\"kk\"");
    assert_string_equal(diff_new(f->db, ins, "v"), "4");
    assert_string_equal(diff_new(f->db, ins, "z"), "9");

    EXEC(f->db, "UPDATE w SET v = 5 WHERE k = 'kk'");
    long long up = change_id(f->db, "w", "update");
    assert_string_equal(diff_keys(f->db, up), "v");
    assert_string_equal(diff_old(f->db, up, "v"), "4");
    assert_string_equal(diff_new(f->db, up, "v"), "5");

    EXEC(f->db, "DELETE FROM w");
    long long del = change_id(f->db, "w", "delete");
    assert_string_equal(record_id(f->db, del), "[9,\"kk\"]");
    assert_string_equal(diff_old(f->db, del, "v"), "5");
    assert_string_equal(diff_old(f->db, del, "k"), "\"kk\"");
    finish(f);
}

/* ALTER TABLE ADD COLUMN of a VIRTUAL generated column while logging. */
static void test_add_generated_column_while_logging(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b); INSERT INTO t VALUES (1, 2, 3)");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "ALTER TABLE t ADD COLUMN total AS (a + b) VIRTUAL");
    EXEC(f->db, "UPDATE t SET b = 4 WHERE id = 1");
    long long up = change_id(f->db, "t", "update");
    assert_string_equal(diff_keys(f->db, up), "b");
    assert_string_equal(diff_new(f->db, up, "b"), "4");
    EXEC(f->db, "INSERT INTO t(id, a, b) VALUES (2, 5, 6)");
    assert_string_equal(diff_keys(f->db, change_id(f->db, "t", "insert")), "a|b|id");
    finish(f);
}

/* ------------------------------------------------------------ 10. odd names */

#define ODD_TABLE "na\xc3\xafve \xe8\xa1\xa8 \"q\" 'x'; y"   /* naïve 表 "q" 'x'; y */
#define COL_QUOTED "col \"quoted\""
#define COL_APOS "it's"
#define COL_SEMI "semi;colon -- not a comment"
#define COL_UNICODE "na\xc3\xafve \xe5\x88\x97"               /* naïve 列 */
#define COL_RENAMED "it's \"new\""

static void test_odd_table_and_column_names(void **state)
{
    fixture *f = *state;
    execf(f->db, "CREATE TABLE \"%w\"(id INTEGER PRIMARY KEY, \"%w\", \"%w\", \"%w\", \"%w\")",
          ODD_TABLE, COL_QUOTED, COL_APOS, COL_SEMI, COL_UNICODE);
    start_logging(f, NULL, NULL);

    execf(f->db, "INSERT INTO \"%w\" VALUES (1, 'q1', 'a1', 's1', 'u1')", ODD_TABLE);
    execf(f->db, "UPDATE \"%w\" SET \"%w\" = 'q2', \"%w\" = 'u2' WHERE id = 1",
          ODD_TABLE, COL_QUOTED, COL_UNICODE);
    execf(f->db, "DELETE FROM \"%w\" WHERE \"%w\" = 'a1'", ODD_TABLE, COL_APOS);
    assert_int_equal(qint(f->db, "SELECT count(*) FROM resql_changes WHERE table_name = %Q",
                          ODD_TABLE), 3);
    assert_int_equal(count_changes(f->db), 3);

    long long ins = change_id(f->db, ODD_TABLE, "insert");
    assert_true(ins > 0);
    assert_int_equal(qint(f->db, "SELECT count(*) FROM resql_changes c, json_each(c.diff) j "
                                 "WHERE c.id = %lld AND j.key IN (%Q, %Q, %Q, %Q, 'id')",
                          ins, COL_QUOTED, COL_APOS, COL_SEMI, COL_UNICODE), 5);
    assert_string_equal(diff_new(f->db, ins, COL_QUOTED), "\"q1\"");
    assert_string_equal(diff_new(f->db, ins, COL_APOS), "\"a1\"");
    assert_string_equal(diff_new(f->db, ins, COL_SEMI), "\"s1\"");
    assert_string_equal(diff_new(f->db, ins, COL_UNICODE), "\"u1\"");
    /* The diff is valid JSON with the names escaped, not cut at a quote. */
    assert_int_equal(qint(f->db, "SELECT json_valid(diff) FROM resql_changes WHERE id = %lld", ins), 1);

    long long up = change_id(f->db, ODD_TABLE, "update");
    assert_string_equal(diff_keys(f->db, up), COL_QUOTED "|" COL_UNICODE);
    assert_string_equal(diff_old(f->db, up, COL_UNICODE), "\"u1\"");
    assert_string_equal(diff_new(f->db, up, COL_UNICODE), "\"u2\"");

    long long del = change_id(f->db, ODD_TABLE, "delete");
    assert_string_equal(diff_old(f->db, del, COL_SEMI), "\"s1\"");

    /* The app's own DDL on the odd table still works while logging. */
    execf(f->db, "ALTER TABLE \"%w\" RENAME COLUMN \"%w\" TO \"%w\"", ODD_TABLE, COL_APOS, COL_RENAMED);
    execf(f->db, "ALTER TABLE \"%w\" DROP COLUMN \"%w\"", ODD_TABLE, COL_SEMI);
    execf(f->db, "INSERT INTO \"%w\" VALUES (2, 'q', 'a', 'u')", ODD_TABLE);
    ins = change_id(f->db, ODD_TABLE, "insert");
    assert_string_equal(diff_new(f->db, ins, COL_RENAMED), "\"a\"");
    assert_string_equal(diff_new(f->db, ins, COL_SEMI), "(none)");
    execf(f->db, "DROP TABLE \"%w\"", ODD_TABLE);
    finish(f);
}

/* SQL keywords as names, for a table created while logging. */
static void test_keyword_table_and_column_names(void **state)
{
    fixture *f = *state;
    start_logging(f, NULL, NULL);
    EXEC(f->db, "CREATE TABLE \"select\"(\"order\" INTEGER PRIMARY KEY, \"from\" TEXT)");

    EXEC(f->db, "INSERT INTO \"select\" VALUES (7, 'here')");
    EXEC(f->db, "UPDATE \"select\" SET \"from\" = 'there'");
    long long ins = change_id(f->db, "select", "insert");
    assert_true(ins > 0);
    assert_string_equal(record_id(f->db, ins), "7");
    assert_string_equal(diff_keys(f->db, ins), "from|order");
    assert_string_equal(query_text(f->db, "SELECT json_extract(diff, '$.from.new') FROM resql_changes "
                                          "WHERE table_name = 'select' AND kind = 'insert'"), "here");
    long long up = change_id(f->db, "select", "update");
    assert_string_equal(diff_keys(f->db, up), "from");
    assert_string_equal(diff_new(f->db, up, "from"), "\"there\"");

    EXEC(f->db, "ALTER TABLE \"select\" RENAME COLUMN \"from\" TO \"where\"");
    EXEC(f->db, "ALTER TABLE \"select\" RENAME TO \"group\"");
    EXEC(f->db, "DELETE FROM \"group\"");
    long long del = change_id(f->db, "group", "delete");
    assert_true(del > 0);
    assert_string_equal(diff_keys(f->db, del), "order|where");
    assert_string_equal(diff_old(f->db, del, "where"), "\"there\"");
    assert_int_equal(count_changes(f->db), 3);
    finish(f);
}

/* ------------------------------------------------------------ 11. include / exclude */

static void test_include_table_limits_logging(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(id INTEGER PRIMARY KEY)");
    resql_options *opts = NULL;
    assert_int_equal(resql_options_new(&opts), RESQL_OK);
    assert_int_equal(resql_options_include_table(opts, "a"), RESQL_OK);
    start_logging(f, NULL, opts);
    resql_options_free(opts);

    EXEC(f->db, "INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)");
    EXEC(f->db, "CREATE TABLE c(id INTEGER PRIMARY KEY); INSERT INTO c VALUES (1)");   /* not included */
    EXEC(f->db, "UPDATE b SET id = 2; DELETE FROM a");
    assert_int_equal(count_changes(f->db), 2);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE table_name = 'a'"), 2);
    finish(f);
}

static void test_exclude_table_leaves_it_out(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(id INTEGER PRIMARY KEY)");
    resql_options *opts = NULL;
    assert_int_equal(resql_options_new(&opts), RESQL_OK);
    assert_int_equal(resql_options_exclude_table(opts, "b"), RESQL_OK);
    assert_int_equal(resql_options_exclude_table(opts, "later"), RESQL_OK);   /* not made yet */
    start_logging(f, NULL, opts);
    resql_options_free(opts);

    EXEC(f->db, "INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)");
    EXEC(f->db, "CREATE TABLE later(id INTEGER PRIMARY KEY); INSERT INTO later VALUES (1)");
    EXEC(f->db, "CREATE TABLE other(id INTEGER PRIMARY KEY); INSERT INTO other VALUES (1)");
    EXEC(f->db, "DELETE FROM b; DELETE FROM later");
    assert_int_equal(count_changes(f->db), 2);
    assert_true(change_id(f->db, "a", "insert") > 0);
    assert_true(change_id(f->db, "other", "insert") > 0);
    finish(f);
}

static void test_include_missing_table_is_misuse(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE a(id INTEGER PRIMARY KEY)");
    resql_options *opts = NULL;
    assert_int_equal(resql_options_new(&opts), RESQL_OK);
    assert_int_equal(resql_options_include_table(opts, "a"), RESQL_OK);
    assert_int_equal(resql_options_include_table(opts, "no_such_table"), RESQL_OK);

    static char sentinel;
    resql_logger *lg = (resql_logger *)&sentinel;    /* must be set to NULL */
    assert_int_equal(resql_log_changes(f->db, NULL, opts, &lg), RESQL_MISUSE);
    assert_null(lg);
    assert_non_null(strstr(resql_errmsg(NULL), "no_such_table"));

    /* The connection is as it was: no triggers, no function, no hooks, no
     * attached log database. */
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_database_list "
                                      "WHERE name = 'resql_log'"), 0);
    assert_string_equal(query_text(f->db, "SELECT count(*) FROM pragma_module_list "
                                          "WHERE name LIKE 'resql%'"), "0");
    assert_null(sqlite3_commit_hook(f->db, NULL, NULL));
    assert_null(sqlite3_rollback_hook(f->db, NULL, NULL));

    /* Same with an attached target: nothing stays attached. */
    assert_int_equal(resql_log_changes(f->db, ":memory:", opts, &lg), RESQL_MISUSE);
    assert_null(lg);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_database_list "
                                      "WHERE name = 'resql_log'"), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_temp_schema"), 0);
    resql_options_free(opts);

    /* And the connection can still be logged normally afterwards. */
    start_logging(f, NULL, NULL);
    EXEC(f->db, "INSERT INTO a VALUES (1)");
    assert_int_equal(count_changes(f->db), 1);
    finish(f);
}

/* Guarantee 7, "changes nothing": a refused resql_log_changes(to = NULL)
 * does not leave resql's log tables in the app's database either. */
static void test_include_missing_table_creates_no_log_tables(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE a(id INTEGER PRIMARY KEY)");
    resql_options *opts = NULL;
    assert_int_equal(resql_options_new(&opts), RESQL_OK);
    assert_int_equal(resql_options_include_table(opts, "no_such_table"), RESQL_OK);
    resql_logger *lg = NULL;
    assert_int_equal(resql_log_changes(f->db, NULL, opts, &lg), RESQL_MISUSE);
    resql_options_free(opts);
    assert_null(lg);
    assert_string_equal(query_text(f->db, "SELECT group_concat(name) FROM sqlite_schema"), "a");
    assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
    f->db = NULL;
}

/* ------------------------------------------------------------ 12. internal tables */

static void test_sqlite_internal_tables_not_logged(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE before_log(id INTEGER PRIMARY KEY AUTOINCREMENT, v)");
    start_logging(f, NULL, NULL);
    EXEC(f->db, "CREATE TABLE during_log(id INTEGER PRIMARY KEY AUTOINCREMENT, v)");

    EXEC(f->db, "INSERT INTO before_log(v) VALUES ('a'), ('b');"
                "INSERT INTO during_log(v) VALUES ('c');"
                "DELETE FROM before_log WHERE v = 'a'");
    EXEC(f->db, "CREATE INDEX during_v ON during_log(v); ANALYZE");    /* writes sqlite_stat1 */
    EXEC(f->db, "CREATE TEMP TABLE scratch(x); INSERT INTO scratch VALUES (1)");  /* not in main */

    assert_int_equal(query_int(f->db, "SELECT seq FROM sqlite_sequence WHERE name = 'before_log'"), 2);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'during_log'"), 1);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes "
                                      "WHERE table_name LIKE 'sqlite%' OR table_name = 'scratch'"), 0);
    assert_int_equal(count_changes(f->db), 4);
    EXEC(f->db, "DROP TABLE scratch");
    finish(f);
}

/* With to = NULL the log tables live in "main" next to the app's tables;
 * writing a log row must not itself be logged. */
static void test_log_tables_not_logged_in_same_database(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
    start_logging(f, NULL, NULL);

    EXEC(f->db, "INSERT INTO t VALUES (1, 'a'), (2, 'b'); UPDATE t SET v = 'c' WHERE id = 1");
    EXEC(f->db, "CREATE TABLE u(id INTEGER PRIMARY KEY); INSERT INTO u VALUES (1)");
    assert_int_equal(count_changes(f->db), 4);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE table_name LIKE 'resql%'"), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_transactions"), 3);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_temp_schema "
                                      "WHERE type = 'trigger' AND tbl_name LIKE 'resql%'"), 0);
    finish(f);
}

/* ------------------------------------------------------------ main */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)
#define T_FILE(fn) cmocka_unit_test_setup_teardown(fn, setup_file, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_add_column_then_update_and_insert),
        T(test_add_column_default_is_the_old_value_of_existing_rows),
        T(test_drop_column_then_insert_and_update),
        T(test_rename_column_later_diffs_use_new_name),
        T(test_rename_table_later_changes_use_new_name),
        T(test_drop_table_and_recreate_with_other_columns),
        T(test_drop_table_rolled_back_is_still_logged),
        T(test_create_table_and_insert_in_one_exec),
        T(test_create_table_inside_transaction),
        T(test_alter_between_changes_in_one_transaction),
        T(test_create_table_as_select_is_logged_or_refused),
        T(test_create_table_as_select_in_transaction_is_logged),
        T(test_created_table_rolled_back_then_recreated),
        T(test_created_table_rolled_back_to_savepoint),
        T(test_added_column_rolled_back),
        T_FILE(test_table_created_by_other_connection_autocommit),
        T_FILE(test_table_created_by_other_connection_in_transaction),
        T_FILE(test_column_added_by_other_connection),
        T_FILE(test_table_recreated_by_other_connection),
        T(test_generated_columns_never_in_diffs),
        T(test_generated_columns_before_the_key),
        T(test_generated_columns_without_rowid),
        T(test_add_generated_column_while_logging),
        T(test_odd_table_and_column_names),
        T(test_keyword_table_and_column_names),
        T(test_include_table_limits_logging),
        T(test_exclude_table_leaves_it_out),
        T(test_include_missing_table_is_misuse),
        T(test_include_missing_table_creates_no_log_tables),
        T(test_sqlite_internal_tables_not_logged),
        T(test_log_tables_not_logged_in_same_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
