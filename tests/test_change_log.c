/* The change log's core promise: every committed row change of an audited
 * table has exactly one log row with the right kind, key and diff, whatever
 * issued it; nothing rolled back has one. */
#include "testutil.h"
#include "value_json.h"

#include <float.h>
#include <math.h>

typedef struct fixture {
    sqlite3 *db;
    resql_logger *log;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    EXEC(f->db, "PRAGMA foreign_keys = ON;"
                "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, age INT CHECK (age >= 0),"
                "                    email TEXT UNIQUE);");
    assert_int_equal(resql_log_changes(f->db, NULL, NULL, &f->log), RESQL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    assert_int_equal(resql_logger_close(f->log), RESQL_OK);
    resql_logger_free(f->log);
    assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
    free(f);
    return 0;
}

static long long log_count(sqlite3 *db) { return query_int(db, "SELECT count(*) FROM resql_changes"); }

/* "kind record_id diff" of the log row with the given id. */
static const char *log_row(sqlite3 *db, int id)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT kind || ' ' || record_id || ' ' || diff FROM resql_changes WHERE id = %d", id);
    return query_text(db, sql);
}

/* ---- what issued the change ------------------------------------------------ */

static void insert_update_delete_one_row_prepared(void **state)
{
    fixture *f = *state;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO person(name, age) VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, "Ada", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, 36);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    EXEC(f->db, "UPDATE person SET age = 37 WHERE id = 1");
    EXEC(f->db, "DELETE FROM person WHERE id = 1");

    assert_int_equal(log_count(f->db), 3);
    assert_string_equal(log_row(f->db, 1),
        "insert 1 {\"id\":{\"old\":null,\"new\":1},\"name\":{\"old\":null,\"new\":\"Ada\"},"
        "\"age\":{\"old\":null,\"new\":36},\"email\":{\"old\":null,\"new\":null}}");
    assert_string_equal(log_row(f->db, 2), "update 1 {\"age\":{\"old\":36,\"new\":37}}");
    assert_string_equal(log_row(f->db, 3),
        "delete 1 {\"id\":{\"old\":1,\"new\":null},\"name\":{\"old\":\"Ada\",\"new\":null},"
        "\"age\":{\"old\":37,\"new\":null},\"email\":{\"old\":null,\"new\":null}}");
}

static void many_rows_raw_sql(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(name, age) VALUES ('a', 1), ('b', 2), ('c', 3)");
    EXEC(f->db, "UPDATE person SET age = age + 10");              /* no WHERE */
    EXEC(f->db, "DELETE FROM person");                           /* no WHERE: no truncate shortcut */
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE kind = 'insert'"), 3);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE kind = 'update'"), 3);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE kind = 'delete'"), 3);
    assert_string_equal(query_text(f->db, "SELECT group_concat(diff, ';') FROM resql_changes WHERE kind = 'update'"),
        "{\"age\":{\"old\":1,\"new\":11}};{\"age\":{\"old\":2,\"new\":12}};{\"age\":{\"old\":3,\"new\":13}}");
    assert_string_equal(query_text(f->db, "SELECT group_concat(record_id) FROM resql_changes WHERE kind = 'delete'"),
                        "1,2,3");
}

static void insert_select_many_rows(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
                "INSERT INTO person(name, age) SELECT 'p' || i, i FROM n");
    assert_int_equal(log_count(f->db), 500);
    /* One log row per data row, each with that row's values. */
    assert_int_equal(query_int(f->db,
        "SELECT count(*) FROM resql_changes c JOIN person p ON p.id = c.record_id "
        "WHERE json_extract(c.diff, '$.name.new') = p.name AND json_extract(c.diff, '$.age.new') = p.age"), 500);
}

static void update_that_changes_nothing_writes_no_row(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(name, age) VALUES ('a', 1)");
    EXEC(f->db, "UPDATE person SET age = 1, name = 'a'");
    assert_int_equal(log_count(f->db), 1);
    /* Same bytes, other storage class: a change. */
    EXEC(f->db, "UPDATE person SET name = CAST('a' AS BLOB)");
    assert_string_equal(log_row(f->db, 2), "update 1 {\"name\":{\"old\":\"a\",\"new\":{\"$blob\":\"YQ==\"}}}");
}

/* REALs compare bit for bit: 0.0 -> 0.0 is no change, 0.0 -> -0.0 is one. */
static void real_zero_and_negative_zero_differ(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE r(id INTEGER PRIMARY KEY, x)");      /* no affinity: -0.0 is kept */
    EXEC(f->db, "INSERT INTO r VALUES (1, 0.0)");
    EXEC(f->db, "UPDATE r SET x = 0.0");
    EXEC(f->db, "UPDATE r SET x = -0.0");
    assert_int_equal(log_count(f->db), 2);
    assert_string_equal(log_row(f->db, 2), "update 1 {\"x\":{\"old\":0.0,\"new\":-0.0}}");
}

static void app_last_insert_rowid_is_not_disturbed(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, name) VALUES (42, 'x')");
    assert_int_equal(sqlite3_last_insert_rowid(f->db), 42);
    assert_int_equal(sqlite3_changes(f->db), 1);
}

/* ---- what is rolled back has no log row ------------------------------------- */

static void rollback_leaves_no_row(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "BEGIN; INSERT INTO person(name) VALUES ('gone'); UPDATE person SET age = 5; ROLLBACK");
    assert_int_equal(log_count(f->db), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_transactions"), 0);
    EXEC(f->db, "INSERT INTO person(name) VALUES ('kept')");
    assert_int_equal(log_count(f->db), 1);
}

static void rollback_to_savepoint_keeps_the_rest(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "BEGIN;"
                "INSERT INTO person(name) VALUES ('before');"
                "SAVEPOINT s;"
                "INSERT INTO person(name) VALUES ('undone');"
                "ROLLBACK TO s;"
                "INSERT INTO person(name) VALUES ('after');"
                "COMMIT");
    assert_string_equal(query_text(f->db,
        "SELECT group_concat(json_extract(diff, '$.name.new'), ',') FROM resql_changes"), "before,after");
    /* Both rows belong to one transaction, which exists. */
    assert_int_equal(query_int(f->db,
        "SELECT count(DISTINCT txn_id) FROM resql_changes JOIN resql_transactions t ON t.id = txn_id"), 1);
}

/* The transaction's row is written with its first log row; when that first
 * statement is undone, later statements must still reference a real row. */
static void savepoint_undoing_the_first_change_keeps_transaction_row(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "BEGIN; SAVEPOINT s; INSERT INTO person(name) VALUES ('undone'); ROLLBACK TO s;"
                "INSERT INTO person(name) VALUES ('after'); COMMIT");
    assert_int_equal(log_count(f->db), 1);
    assert_int_equal(query_int(f->db,
        "SELECT count(*) FROM resql_changes c JOIN resql_transactions t ON t.id = c.txn_id"), 1);
}

static void failed_statement_leaves_no_row_and_transaction_goes_on(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, name, age, email) VALUES (1, 'a', 1, 'a@x'), (2, 'b', 2, 'b@x'),"
                "(3, 'c', 3, 'c@x')");
    EXEC(f->db, "BEGIN");
    EXEC(f->db, "UPDATE person SET name = 'first' WHERE id = 1");
    /* CHECK fails on the third row of a multi-row UPDATE. */
    const char *err = exec_err(f->db, "UPDATE person SET age = age - 3");
    assert_non_null(strstr(err, "CHECK constraint failed"));
    /* UNIQUE fails half-way too. */
    err = exec_err(f->db, "UPDATE person SET email = 'same@x'");
    assert_non_null(strstr(err, "UNIQUE constraint failed"));
    EXEC(f->db, "UPDATE person SET name = 'last' WHERE id = 3");
    EXEC(f->db, "COMMIT");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_changes WHERE kind = 'update'"), 2);
    assert_string_equal(query_text(f->db,
        "SELECT group_concat(diff, ';') FROM resql_changes WHERE kind = 'update'"),
        "{\"name\":{\"old\":\"a\",\"new\":\"first\"}};{\"name\":{\"old\":\"c\",\"new\":\"last\"}}");
}

/* The transaction's row is written by its first logged statement; when that
 * statement fails, its undo takes the row too, and the next statement's log
 * rows need it written again. */
static void failed_first_statement_takes_the_transaction_row_along(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, age) VALUES (1, 3), (2, 4), (3, 1)");
    EXEC(f->db, "BEGIN");
    /* Rows 1 and 2 are logged (and the transaction row written), row 3 fails. */
    assert_non_null(strstr(exec_err(f->db, "UPDATE person SET age = age - 2"), "CHECK constraint failed"));
    EXEC(f->db, "UPDATE person SET age = 9 WHERE id = 3");
    EXEC(f->db, "UPDATE person SET age = 8 WHERE id = 2");
    EXEC(f->db, "COMMIT");
    assert_int_equal(query_int(f->db,
        "SELECT count(*) FROM resql_changes c JOIN resql_transactions t ON t.id = c.txn_id "
        "WHERE c.kind = 'update'"), 2);
}

/* An application function that writes from inside another statement: when
 * the outer statement fails, the nested write is undone with it, and with it
 * the transaction row the nested write brought. */
static void nested_insert(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3 *db = sqlite3_context_db_handle(ctx);
    int rc = sqlite3_exec(db, "INSERT INTO person(name) VALUES ('nested')", NULL, NULL, NULL);
    sqlite3_result_int(ctx, rc == SQLITE_OK ? 1 : -100);
}

static void failed_outer_statement_takes_a_nested_write_along(void **state)
{
    fixture *f = *state;
    assert_int_equal(sqlite3_create_function(f->db, "nested_insert", 0, SQLITE_UTF8, NULL, nested_insert,
                                             NULL, NULL), SQLITE_OK);
    EXEC(f->db, "INSERT INTO person(id, age) VALUES (1, 1)");
    EXEC(f->db, "BEGIN");
    /* The nested INSERT runs, then the outer UPDATE fails its CHECK. */
    assert_non_null(strstr(exec_err(f->db, "UPDATE person SET age = nested_insert() - 5 WHERE id = 1"),
                           "CHECK constraint failed"));
    EXEC(f->db, "UPDATE person SET age = 7 WHERE id = 1");
    EXEC(f->db, "COMMIT");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM person WHERE name = 'nested'"), 0);
    assert_string_equal(query_text(f->db,
        "SELECT group_concat(c.kind || ':' || c.diff, ';') FROM resql_changes c "
        "JOIN resql_transactions t ON t.id = c.txn_id WHERE c.id > 1"),
        "update:{\"age\":{\"old\":1,\"new\":7}}");
}

/* A ROLLBACK TO run by an application function (a nested statement: SQLite
 * reports its start only as a "-- ..." comment) undoes the transaction row
 * like any other; the next log row must write it again. */
static void rollback_to_savepoint(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, sqlite3_exec(sqlite3_context_db_handle(ctx), "ROLLBACK TO a", NULL, NULL, NULL));
}

static void rollback_to_from_an_application_function_takes_the_transaction_row_along(void **state)
{
    fixture *f = *state;
    assert_int_equal(sqlite3_create_function(f->db, "rollback_to_a", 0, SQLITE_UTF8, NULL,
                                             rollback_to_savepoint, NULL, NULL), SQLITE_OK);
    EXEC(f->db, "BEGIN; SAVEPOINT a; INSERT INTO person(name, age) VALUES ('undone', 1)");
    assert_int_equal(query_int(f->db, "SELECT rollback_to_a()"), SQLITE_OK);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_transactions"), 0);
    /* Foreign keys are on: a log row without its transaction row fails. */
    EXEC(f->db, "INSERT INTO person(name, age) VALUES ('kept', 2)");
    EXEC(f->db, "COMMIT");
    assert_int_equal(query_int(f->db,
        "SELECT count(*) FROM resql_changes c JOIN resql_transactions t ON t.id = c.txn_id"), 1);
}

static void failed_autocommit_statement_leaves_no_row(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, age) VALUES (1, 1), (2, 2)");
    exec_err(f->db, "UPDATE person SET age = age - 2");
    assert_int_equal(log_count(f->db), 2);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_transactions"), 1);
}

/* ---- conflict resolution, triggers, cascades --------------------------------- */

static void insert_or_replace_logs_the_conflict_delete_and_the_insert(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, name, email) VALUES (1, 'old', 'x@x')");
    EXEC(f->db, "INSERT OR REPLACE INTO person(id, name, email) VALUES (2, 'new', 'x@x')");
    assert_int_equal(log_count(f->db), 3);
    assert_string_equal(query_text(f->db, "SELECT kind || ' ' || record_id FROM resql_changes WHERE id = 2"),
                        "delete 1");
    assert_string_equal(query_text(f->db, "SELECT kind || ' ' || record_id FROM resql_changes WHERE id = 3"),
                        "insert 2");
}

static void upsert_do_update_logs_an_update(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, name, age) VALUES (1, 'a', 1)");
    EXEC(f->db, "INSERT INTO person(id, name, age) VALUES (1, 'a', 5) "
                "ON CONFLICT(id) DO UPDATE SET age = excluded.age");
    assert_int_equal(log_count(f->db), 2);
    assert_string_equal(log_row(f->db, 2), "update 1 {\"age\":{\"old\":1,\"new\":5}}");
}

static void changes_made_by_app_triggers_are_logged(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE note(id INTEGER PRIMARY KEY, text TEXT);"
                "CREATE TRIGGER person_note AFTER INSERT ON person BEGIN "
                "  INSERT INTO note(text) VALUES ('welcome ' || new.name); END;");
    EXEC(f->db, "INSERT INTO person(name) VALUES ('Ada')");
    assert_string_equal(query_text(f->db,
        "SELECT group_concat(table_name || ':' || kind, ',') FROM resql_changes"), "person:insert,note:insert");
    assert_string_equal(query_text(f->db,
        "SELECT json_extract(diff, '$.text.new') FROM resql_changes WHERE table_name = 'note'"), "welcome Ada");
}

static void on_delete_cascade_is_logged(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE pet(id INTEGER PRIMARY KEY, owner INT REFERENCES person(id) ON DELETE CASCADE)");
    EXEC(f->db, "INSERT INTO person(id) VALUES (1); INSERT INTO pet(id, owner) VALUES (10, 1), (11, 1)");
    EXEC(f->db, "DELETE FROM person WHERE id = 1");
    assert_string_equal(query_text(f->db,
        "SELECT group_concat(table_name || ':' || record_id, ',') FROM resql_changes WHERE kind = 'delete'"),
        "person:1,pet:10,pet:11");   /* SQLite deletes the parent row, then cascades */
}

/* ---- keys ----------------------------------------------------------------------- */

static void without_rowid_composite_key(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE stock(shop TEXT, item INT, qty INT, PRIMARY KEY (item, shop)) WITHOUT ROWID");
    EXEC(f->db, "INSERT INTO stock VALUES ('north', 7, 1)");
    EXEC(f->db, "UPDATE stock SET qty = 2");
    EXEC(f->db, "DELETE FROM stock");
    /* Key order is the PRIMARY KEY's (item, shop), not the columns'. */
    assert_string_equal(query_text(f->db, "SELECT group_concat(kind || ' ' || record_id, ';') FROM resql_changes"),
                        "insert [7,\"north\"];update [7,\"north\"];delete [7,\"north\"]");
    assert_string_equal(log_row(f->db, 2), "update [7,\"north\"] {\"qty\":{\"old\":1,\"new\":2}}");
}

static void table_without_declared_key_uses_rowid(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE loose(a, b)");
    EXEC(f->db, "INSERT INTO loose VALUES ('x', 1), ('y', 2)");
    EXEC(f->db, "UPDATE loose SET b = 3 WHERE a = 'y'");
    assert_string_equal(query_text(f->db, "SELECT group_concat(record_id, ',') FROM resql_changes"), "1,2,2");
    assert_string_equal(log_row(f->db, 3), "update 2 {\"b\":{\"old\":2,\"new\":3}}");
    /* A rowid change is a change even though no column changed. */
    EXEC(f->db, "UPDATE loose SET rowid = 9 WHERE rowid = 1");
    assert_string_equal(query_text(f->db, "SELECT record_id || ' ' || prev_record_id || ' ' || diff "
                                          "FROM resql_changes WHERE id = 4"), "9 1 {}");
}

static void text_primary_key(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "CREATE TABLE code(k TEXT PRIMARY KEY, v)");
    EXEC(f->db, "INSERT INTO code VALUES ('a\"b', 1)");
    assert_string_equal(query_text(f->db, "SELECT record_id FROM resql_changes"), "\"a\\\"b\"");
}

/* A row's history can be followed across a primary-key change. */
static void primary_key_change_is_followable(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(id, name) VALUES (1, 'a')");
    EXEC(f->db, "UPDATE person SET id = 2 WHERE id = 1");
    EXEC(f->db, "UPDATE person SET name = 'b' WHERE id = 2");
    assert_string_equal(query_text(f->db, "SELECT record_id || ' ' || prev_record_id || ' ' || diff "
                                          "FROM resql_changes WHERE id = 2"),
                        "2 1 {\"id\":{\"old\":1,\"new\":2}}");
    assert_string_equal(query_text(f->db, "SELECT coalesce(prev_record_id, 'none') FROM resql_changes WHERE id = 3"),
                        "none");
    /* Walking back from key 2 finds every change of the row. */
    assert_int_equal(query_int(f->db,
        "WITH RECURSIVE k(id) AS (SELECT '2' UNION SELECT prev_record_id FROM resql_changes c, k "
        "WHERE c.record_id = k.id AND prev_record_id IS NOT NULL) "
        "SELECT count(*) FROM resql_changes WHERE record_id IN (SELECT id FROM k)"), 3);
}

/* ---- values survive the log ----------------------------------------------------- */

typedef struct sample {
    const char *what;
    int type;
    sqlite3_int64 i;
    double r;
    const char *bytes;
    int n;
} sample;

/* Writes the value with the logger on, reads the logged JSON, decodes it,
 * and compares storage class and bytes with what the table holds. */
static void values_round_trip_through_the_log(void **state)
{
    fixture *f = *state;
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 2654435761u >> 13);
    const sample samples[] = {
        {"int64 min", SQLITE_INTEGER, INT64_MIN, 0, NULL, 0},
        {"int64 max", SQLITE_INTEGER, INT64_MAX, 0, NULL, 0},
        {"zero", SQLITE_INTEGER, 0, 0, NULL, 0},
        {"-0.0", SQLITE_FLOAT, 0, -0.0, NULL, 0},
        {"1.0", SQLITE_FLOAT, 0, 1.0, NULL, 0},
        {"0.1+0.2", SQLITE_FLOAT, 0, 0.1 + 0.2, NULL, 0},
        {"1e308", SQLITE_FLOAT, 0, 1e308, NULL, 0},
        {"5e-324", SQLITE_FLOAT, 0, 5e-324, NULL, 0},
        {"+inf", SQLITE_FLOAT, 0, HUGE_VAL, NULL, 0},
        {"-inf", SQLITE_FLOAT, 0, -HUGE_VAL, NULL, 0},
        {"quotes", SQLITE_TEXT, 0, 0, "it's \"quoted\" \\ back", -1},
        {"controls", SQLITE_TEXT, 0, 0, "\x01\x02\n\t\x1f", -1},
        {"NUL bytes", SQLITE_TEXT, 0, 0, "a\0b\0", 4},
        {"emoji", SQLITE_TEXT, 0, 0, "\xf0\x9f\x98\x80 ok", -1},
        {"invalid UTF-8", SQLITE_TEXT, 0, 0, "\xff\xfe ok \xc0\x80", -1},
        {"empty text", SQLITE_TEXT, 0, 0, "", 0},
        {"NULL", SQLITE_NULL, 0, 0, NULL, 0},
        {"empty blob", SQLITE_BLOB, 0, 0, "", 0},
        {"1 MiB blob", SQLITE_BLOB, 0, 0, big, (int)sizeof big},
    };
    EXEC(f->db, "CREATE TABLE v(id INTEGER PRIMARY KEY, x)");
    sqlite3_stmt *ins, *logged, *stored;
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO v(id, x) VALUES (?1, ?2)", -1, &ins, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(f->db,
        "SELECT json_extract(diff, '$.x.new') IS NULL, diff FROM resql_changes WHERE table_name = 'v' AND record_id = ?1",
        -1, &logged, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT x FROM v WHERE id = ?1", -1, &stored, NULL), SQLITE_OK);
    resql_buf scratch;
    resql__buf_init(&scratch);
    for (int k = 0; k < (int)(sizeof samples / sizeof samples[0]); k++) {
        const sample *s = &samples[k];
        sqlite3_bind_int(ins, 1, k);
        int n = s->n < 0 ? (int)strlen(s->bytes) : s->n;
        switch (s->type) {
        case SQLITE_INTEGER: sqlite3_bind_int64(ins, 2, s->i); break;
        case SQLITE_FLOAT: sqlite3_bind_double(ins, 2, s->r); break;
        case SQLITE_TEXT: sqlite3_bind_text(ins, 2, s->bytes, n, SQLITE_STATIC); break;
        case SQLITE_BLOB: sqlite3_bind_blob(ins, 2, s->bytes, n, SQLITE_STATIC); break;
        default: sqlite3_bind_null(ins, 2);
        }
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);

        /* The logged JSON: pull out "new" of column x with our own decoder. */
        sqlite3_bind_int(logged, 1, k);
        assert_int_equal(sqlite3_step(logged), SQLITE_ROW);
        const char *diff = (const char *)sqlite3_column_text(logged, 1);
        const char *marker = "\"x\":{\"old\":null,\"new\":";
        const char *p = strstr(diff, marker);
        assert_non_null(p);
        p += strlen(marker);
        resql_value got;
        const char *why = NULL;
        size_t len = strlen(p) - 2;               /* drop the closing "}}" */
        if (resql__json_decode_value(p, len, &got, &scratch, &why) != 0)
            fail_msg("%s: cannot decode %s: %s", s->what, p, why);
        sqlite3_reset(logged);

        sqlite3_bind_int(stored, 1, k);
        assert_int_equal(sqlite3_step(stored), SQLITE_ROW);
        sqlite3_value *v = sqlite3_column_value(stored, 0);
        resql_value want = {sqlite3_value_type(v), 0, 0, NULL, 0};
        if (want.type == SQLITE_INTEGER) want.i = sqlite3_value_int64(v);
        if (want.type == SQLITE_FLOAT) want.r = sqlite3_value_double(v);
        if (want.type == SQLITE_TEXT) want.bytes = sqlite3_value_text(v);
        if (want.type == SQLITE_BLOB) want.bytes = sqlite3_value_blob(v);
        want.n = (size_t)sqlite3_value_bytes(v);
        if (!resql__value_same(&want, &got)) fail_msg("%s: not the same after the log", s->what);
        assert_int_equal(want.type, s->type == SQLITE_NULL ? SQLITE_NULL : s->type);
        sqlite3_reset(stored);
    }
    resql__buf_free(&scratch);
    sqlite3_finalize(ins);
    sqlite3_finalize(logged);
    sqlite3_finalize(stored);
}

/* resql_pending keeps one cursor for reuse: cursors open at the same time
 * get their own, and the log goes on as before once they are closed. */
static void several_resql_pending_cursors_at_once(void **state)
{
    fixture *f = *state;
    EXEC(f->db, "INSERT INTO person(name, age) VALUES ('a', 1)");
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM resql_pending a, resql_pending b, "
                                      "resql_pending c"), 0);
    EXEC(f->db, "INSERT INTO person(name, age) VALUES ('b', 2)");
    assert_int_equal(log_count(f->db), 2);
    assert_string_equal(log_row(f->db, 2),
        "insert 2 {\"id\":{\"old\":null,\"new\":2},\"name\":{\"old\":null,\"new\":\"b\"},"
        "\"age\":{\"old\":null,\"new\":2},\"email\":{\"old\":null,\"new\":null}}");
}

/* Someone who copies the token out of the TEMP schema can read pending
 * rows. A bare column of a min()/max() aggregate keeps the value of the row
 * that won, past the cursor's later rows, without copying it: it must not
 * point into buffers resql reuses for the next row (valgrind reports the
 * read of the moved buffer; without valgrind the text is wrong). */
static void a_token_read_with_a_bare_column_keeps_its_own_copy(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *log;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    EXEC(db, "CREATE TABLE b(id INTEGER PRIMARY KEY, v BLOB);"
             "INSERT INTO b(id, v) VALUES (9, x'00'), (10, zeroblob(4096));");
    assert_int_equal(resql_log_changes(db, NULL, NULL, &log), RESQL_OK);
    char token_sql[512];
    snprintf(token_sql, sizeof token_sql, "%s",
             query_text(db, "SELECT sql FROM sqlite_temp_schema WHERE type = 'trigger' LIMIT 1"));
    char *token = strstr(token_sql, "resql_pending('");
    assert_non_null(token);
    token += strlen("resql_pending('");
    *strchr(token, '\'') = '\0';

    EXEC(db, "BEGIN");
    for (int id = 9; id <= 10; id++) {      /* two pending rows, no trigger follows */
        sqlite3_blob *blob;
        assert_int_equal(sqlite3_blob_open(db, "main", "b", "v", id, 1, &blob), SQLITE_OK);
        assert_int_equal(sqlite3_blob_write(blob, "\x01", 1, 0), SQLITE_OK);
        sqlite3_blob_close(blob);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT diff FROM (SELECT min(rowid), diff FROM resql_pending('%s'))", token);
    assert_string_equal(query_text(db, sql),
                        "{\"id\":{\"old\":9,\"new\":null},\"v\":{\"old\":{\"$blob\":\"AA==\"},\"new\":null}}");
    EXEC(db, "ROLLBACK");
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* In a UTF-16 database SQLite hands the hook UTF-16 text; the log has it
 * as UTF-8 JSON all the same, and an unchanged text column is still seen
 * as unchanged. */
static void utf16_database_logs_utf8_text(void **state)
{
    (void)state;
    sqlite3 *db;
    resql_logger *log;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    EXEC(db, "PRAGMA encoding = 'UTF-16le';"
             "CREATE TABLE w(k TEXT PRIMARY KEY, v TEXT, n TEXT);");
    assert_int_equal(resql_log_changes(db, NULL, NULL, &log), RESQL_OK);
    EXEC(db, "INSERT INTO w VALUES ('cl\xc3\xa9', 'h\xc3\xa9llo \xe2\x82\xac', 'same');"
             "UPDATE w SET v = 'w\xc3\xb6rld \xf0\x9f\x98\x80';"
             "DELETE FROM w;");
    assert_string_equal(log_row(db, 1),
        "insert \"cl\xc3\xa9\" {\"k\":{\"old\":null,\"new\":\"cl\xc3\xa9\"},"
        "\"v\":{\"old\":null,\"new\":\"h\xc3\xa9llo \xe2\x82\xac\"},\"n\":{\"old\":null,\"new\":\"same\"}}");
    assert_string_equal(log_row(db, 2),
        "update \"cl\xc3\xa9\" {\"v\":{\"old\":\"h\xc3\xa9llo \xe2\x82\xac\",\"new\":\"w\xc3\xb6rld \xf0\x9f\x98\x80\"}}");
    assert_string_equal(log_row(db, 3),
        "delete \"cl\xc3\xa9\" {\"k\":{\"old\":\"cl\xc3\xa9\",\"new\":null},"
        "\"v\":{\"old\":\"w\xc3\xb6rld \xf0\x9f\x98\x80\",\"new\":null},\"n\":{\"old\":\"same\",\"new\":null}}");
    assert_int_equal(resql_logger_close(log), RESQL_OK);
    resql_logger_free(log);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(insert_update_delete_one_row_prepared),
        T(many_rows_raw_sql),
        T(insert_select_many_rows),
        T(update_that_changes_nothing_writes_no_row),
        T(real_zero_and_negative_zero_differ),
        T(app_last_insert_rowid_is_not_disturbed),
        T(rollback_leaves_no_row),
        T(rollback_to_savepoint_keeps_the_rest),
        T(savepoint_undoing_the_first_change_keeps_transaction_row),
        T(failed_statement_leaves_no_row_and_transaction_goes_on),
        T(failed_first_statement_takes_the_transaction_row_along),
        T(failed_outer_statement_takes_a_nested_write_along),
        T(rollback_to_from_an_application_function_takes_the_transaction_row_along),
        T(failed_autocommit_statement_leaves_no_row),
        T(insert_or_replace_logs_the_conflict_delete_and_the_insert),
        T(upsert_do_update_logs_an_update),
        T(changes_made_by_app_triggers_are_logged),
        T(on_delete_cascade_is_logged),
        T(without_rowid_composite_key),
        T(table_without_declared_key_uses_rowid),
        T(text_primary_key),
        T(primary_key_change_is_followable),
        T(values_round_trip_through_the_log),
        T(several_resql_pending_cursors_at_once),
#undef T
        cmocka_unit_test(utf16_database_logs_utf8_text),
        cmocka_unit_test(a_token_read_with_a_bare_column_keeps_its_own_copy),
    };
    return cmocka_run_group_tests_name("change log", tests, NULL, NULL);
}
