/* The query log: every top-level statement of a connection, written through
 * resql's own connection to the query-log database. Records go to SQLite in
 * batches of up to BATCH as statements end (so memory stays flat however long
 * the transaction), inside a transaction on the log database that is
 * committed, with the outcome, from the application's commit or rollback
 * hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_tables.h"
#include "logger.h"
#include "params.h"

#define MAX_IN_FLIGHT 16        /* statements running at once (nested or interleaved) */
#define BATCH 16                /* records per INSERT: a multi-row INSERT costs less per row */
#define KEEP_BYTES 65536        /* a record's buffers larger than this are not kept for reuse */

/* resql's statements on the log connection. */
enum { INSERT_TXN, INSERT_QUERY, INSERT_BATCH, SET_OUTCOME, BEGIN_TXN, COMMIT_TXN, ROLLBACK_TXN, NSTMTS };
#define RECORD_PARAMS 8         /* ?s per record in INSERT_QUERY and INSERT_BATCH */

/* A statement that started and has not been written yet. */
typedef struct in_flight {
    sqlite3_stmt *stmt;
    sqlite3_int64 started;      /* microseconds */
    const char *kind;
    int rows;                   /* rows it changed itself, as the preupdate hook saw them */
    int exact;                  /* parameters are exact */
    resql_buf params;
} in_flight;

/* A statement that ended, waiting for its batch to be written. */
typedef struct record {
    char when[48];
    const char *kind;
    int exact, rows;            /* rows < 0: unknown */
    sqlite3_int64 duration_us;
    resql_buf sql, params;      /* the SQL is copied: the statement may be finalized first */
} record;

typedef struct query_log {
    resql_logger *logger;
    sqlite3 *log;               /* resql's connection to the query-log database */
    int include_reads, drop_rollbacks;

    in_flight flights[MAX_IN_FLIGHT];
    int nflights;
    record batch[BATCH];
    int nbatch;

    int txn_open;               /* a transaction is open on `log` for the app's */
    sqlite3_int64 txn_id;
    int failed;                 /* something of this transaction was not written */

    sqlite3_stmt *stmts[NSTMTS];        /* prepared once: see open_target */
    sqlite3_stmt *guard;                /* on the app's connection, never run: see log_queries */
    resql_buf scratch;
} query_log;

/* ---- writing to the query-log database ------------------------------------- */

static int log_fail(query_log *q, const char *what)
{
    resql__format(q->logger->errmsg, "resql: cannot write the query log (%s): %s", what,
                  sqlite3_errmsg(q->log));
    q->failed = 1;
    return SQLITE_ERROR;
}

static int step_once(query_log *q, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : log_fail(q, what);
}

/* Opens the log transaction and writes the transaction's row, with `extra`
 * evaluated now: at the transaction's first logged statement. */
static int begin_txn(query_log *q, sqlite3_int64 now)
{
    resql_logger *lg = q->logger;
    const char *extra = NULL;
    char when[48];
    if (step_once(q, q->stmts[BEGIN_TXN], "begin")) return SQLITE_ERROR;
    q->txn_open = 1;
    resql__hub_enter(lg->hub);          /* the callback may read the logged connection */
    int bad = resql__extra_eval(&lg->extra, &q->scratch, &extra, lg->errmsg);
    resql__hub_leave(lg->hub);
    if (bad) {
        q->failed = 1;                  /* keep the message of the callback */
        return SQLITE_ERROR;
    }
    resql__format_time(now, when);
    sqlite3_stmt *s = q->stmts[INSERT_TXN];
    sqlite3_bind_text(s, 1, when, -1, SQLITE_STATIC);    /* step_once unbinds */
    if (extra) sqlite3_bind_text(s, 2, extra, -1, SQLITE_TRANSIENT);
    if (step_once(q, s, "transaction")) return SQLITE_ERROR;
    q->txn_id = sqlite3_last_insert_rowid(q->log);
    return SQLITE_OK;
}

static int is_dml(const char *kind)
{
    return !strcmp(kind, "Insert") || !strcmp(kind, "Update") || !strcmp(kind, "Delete");
}

/* Binds record r as the `first`-th.. parameters of s. Static: the records
 * outlive step_once, which unbinds. */
static void bind_record(query_log *q, sqlite3_stmt *s, int first, const record *r)
{
    sqlite3_bind_int64(s, first, q->txn_id);
    sqlite3_bind_text(s, first + 1, r->when, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, first + 2, r->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, first + 3, r->sql.data ? r->sql.data : "", (int)r->sql.len, SQLITE_STATIC);
    sqlite3_bind_text(s, first + 4, r->params.data, (int)r->params.len, SQLITE_STATIC);
    sqlite3_bind_int(s, first + 5, r->exact);
    sqlite3_bind_int64(s, first + 6, r->duration_us);
    if (r->rows >= 0) sqlite3_bind_int(s, first + 7, r->rows);
    else sqlite3_bind_null(s, first + 7);
}

/* Writes the waiting records: a full batch in one INSERT, else one each. */
static int write_batch(query_log *q)
{
    int rc = SQLITE_OK;
    if (q->nbatch == BATCH) {
        sqlite3_stmt *s = q->stmts[INSERT_BATCH];
        for (int i = 0; i < BATCH; i++) bind_record(q, s, 1 + i * RECORD_PARAMS, &q->batch[i]);
        rc = step_once(q, s, "statements");
    } else {
        for (int i = 0; i < q->nbatch && rc == SQLITE_OK; i++) {
            bind_record(q, q->stmts[INSERT_QUERY], 1, &q->batch[i]);
            rc = step_once(q, q->stmts[INSERT_QUERY], "statement");
        }
    }
    /* Buffers are kept for reuse, except what one huge statement grew. */
    for (int i = 0; i < q->nbatch; i++) {
        if (q->batch[i].sql.cap > KEEP_BYTES) resql__buf_free(&q->batch[i].sql);
        if (q->batch[i].params.cap > KEEP_BYTES) resql__buf_free(&q->batch[i].params);
    }
    q->nbatch = 0;
    return rc;
}

/* Queues one statement's record; rows < 0 means unknown. */
static int write_flight(query_log *q, in_flight *f, sqlite3_int64 duration_us, int rows)
{
    if (!q->txn_open || q->failed) return SQLITE_ERROR;
    if (f->params.oom) return log_fail(q, "out of memory");
    record *r = &q->batch[q->nbatch];
    const char *sql = sqlite3_sql(f->stmt);
    resql__format_time(f->started, r->when);
    r->kind = f->kind;
    r->exact = f->exact;
    r->rows = rows;
    r->duration_us = duration_us;
    resql__buf_reset(&r->sql);
    if (sql) resql__buf_puts(&r->sql, sql);
    if (r->sql.oom) return log_fail(q, "out of memory");
    resql_buf params = r->params;               /* take the flight's, leave it ours to reuse */
    r->params = f->params;
    f->params = params;
    return ++q->nbatch == BATCH ? write_batch(q) : SQLITE_OK;
}

/* Ends the log transaction with the app's outcome. Fails when anything of
 * the transaction could not be written (then nothing of it is kept). */
static int end_txn(query_log *q, const char *outcome)
{
    int rc = q->failed ? SQLITE_ERROR : SQLITE_OK;
    int keep = rc == SQLITE_OK && q->txn_open && !(q->drop_rollbacks && !strcmp(outcome, "rollback"));
    if (keep) rc = write_batch(q);
    q->nbatch = 0;
    if (keep && rc == SQLITE_OK) {
        sqlite3_bind_text(q->stmts[SET_OUTCOME], 1, outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q->stmts[SET_OUTCOME], 2, q->txn_id);
        rc = step_once(q, q->stmts[SET_OUTCOME], "outcome");
        if (rc == SQLITE_OK) rc = step_once(q, q->stmts[COMMIT_TXN], "commit");
    }
    if (q->txn_open && (!keep || rc != SQLITE_OK)) {
        sqlite3_step(q->stmts[ROLLBACK_TXN]);
        sqlite3_reset(q->stmts[ROLLBACK_TXN]);
    }
    q->txn_open = 0;
    q->failed = 0;
    return rc;
}

/* ---- what the hub reports --------------------------------------------------- */

/* The application's clock, called as any resql callback: with the hub busy,
 * so a clock that calls into resql is refused rather than pulling the
 * logger from under this call. */
static sqlite3_int64 now_us(query_log *q)
{
    resql__hub_enter(q->logger->hub);
    sqlite3_int64 now = resql__clock_now(q->logger->clock);
    resql__hub_leave(q->logger->hub);
    return now;
}

static int is_read(const char *kind, sqlite3_stmt *stmt)
{
    return !strcmp(kind, "Select") || !strcmp(kind, "Explain") ||
           (!strcmp(kind, "Pragma") && sqlite3_stmt_readonly(stmt));
}

static void on_stmt_start(void *self, sqlite3_stmt *stmt)
{
    query_log *q = self;
    const char *kind = resql__sql_kind(sqlite3_sql(stmt));
    if (!q->include_reads && is_read(kind, stmt)) return;
    if (q->nflights == MAX_IN_FLIGHT) {
        /* Deeper than any real nesting: record it without an end. */
        q->failed = 1;
        resql__format(q->logger->errmsg, "resql: more than %d statements running at once", MAX_IN_FLIGHT);
        return;
    }
    sqlite3_int64 now = now_us(q);
    if (!q->txn_open) begin_txn(q, now);
    in_flight *f = &q->flights[q->nflights++];
    f->stmt = stmt;
    f->started = now;
    f->kind = kind;
    f->rows = 0;
    resql__buf_reset(&f->params);
    resql__params_json(stmt, &f->params, &f->exact);
}

static void on_preupdate(void *self, int op, const char *db_name, const char *table,
                         sqlite3_int64 key1, sqlite3_int64 key2)
{
    query_log *q = self;
    if (q->nflights && sqlite3_preupdate_depth(q->logger->db) == 0)
        q->flights[q->nflights - 1].rows++;
}

static void pop_flight(query_log *q, int i)
{
    resql_buf params = q->flights[i].params;          /* keep its memory for reuse */
    memmove(&q->flights[i], &q->flights[i + 1], (size_t)(q->nflights - i - 1) * sizeof q->flights[0]);
    q->flights[--q->nflights].params = params;
}

/* The transaction ends: statements still running (the COMMIT itself, or an
 * autocommit statement) are written with the time so far. */
static void write_all_flights(query_log *q)
{
    sqlite3_int64 now = now_us(q);
    while (q->nflights) {
        in_flight *f = &q->flights[0];
        write_flight(q, f, now - f->started, is_dml(f->kind) ? f->rows : -1);
        pop_flight(q, 0);
    }
}

static int on_commit(void *self, const char **why)
{
    query_log *q = self;
    *why = q->logger->errmsg;
    if (!q->txn_open && !q->failed) return 0;
    write_all_flights(q);
    return end_txn(q, "commit") != SQLITE_OK;
}

static void on_rollback(void *self)
{
    query_log *q = self;
    if (!q->txn_open && !q->failed) return;
    write_all_flights(q);
    end_txn(q, "rollback");
}

static void on_stmt_end(void *self, sqlite3_stmt *stmt, sqlite3_int64 nanos)
{
    query_log *q = self;
    for (int i = q->nflights - 1; i >= 0; i--) {
        in_flight *f = &q->flights[i];
        if (f->stmt != stmt) continue;
        /* Our clock, not SQLite's (which counts whole milliseconds). */
        sqlite3_int64 duration = now_us(q) - f->started;
        write_flight(q, f, duration, is_dml(f->kind) ? sqlite3_changes(q->logger->db) : -1);
        pop_flight(q, i);
        break;
    }
    /* A read-only transaction ends without a commit or rollback hook: when
     * its last statement ends, or when a COMMIT, ROLLBACK or RELEASE ends it
     * while a SELECT still steps (that one is written with its time so far). */
    if ((q->txn_open || q->failed) && sqlite3_get_autocommit(q->logger->db)) {
        const char *kind = resql__sql_kind(sqlite3_sql(stmt));
        int ends_txn = !strcmp(kind, "Commit") || !strcmp(kind, "Rollback") || !strcmp(kind, "Release");
        if (q->nflights && ends_txn) write_all_flights(q);
        if (!q->nflights) end_txn(q, strcmp(kind, "Rollback") ? "commit" : "rollback");
    }
}

/* ---- setup and teardown ----------------------------------------------------- */

/* Finalizes resql's statements and closes its connection to the log. */
static int close_target(query_log *q)
{
    for (int i = 0; i < NSTMTS; i++) {
        sqlite3_finalize(q->stmts[i]);
        q->stmts[i] = NULL;
    }
    int rc = sqlite3_close(q->log);
    q->log = NULL;
    return rc;
}

static int kind_close(resql_logger *lg, int idle)
{
    (void)idle;                 /* the query log changed nothing on the app's connection */
    query_log *q = lg->impl;
    resql__params_watch(lg->db, 0);
    if (q->txn_open) end_txn(q, "rollback");
    sqlite3_finalize(q->guard);
    q->guard = NULL;
    if (close_target(q) != SQLITE_OK) {
        resql__format(lg->errmsg, "resql: cannot close the query-log database");
        return RESQL_ERROR;
    }
    return RESQL_OK;
}

static void kind_free(resql_logger *lg)
{
    query_log *q = lg->impl;
    close_target(q);
    for (int i = 0; i < MAX_IN_FLIGHT; i++) resql__buf_free(&q->flights[i].params);
    for (int i = 0; i < BATCH; i++) {
        resql__buf_free(&q->batch[i].sql);
        resql__buf_free(&q->batch[i].params);
    }
    resql__buf_free(&q->scratch);
    free(q);
    lg->impl = NULL;
}

static const resql_logger_kind query_log_kind = {
    "query log", RESQL_HUB_QUERIES, NULL, kind_close, kind_free,
};

static int open_target(query_log *q, const char *to, int busy_ms)
{
    resql_logger *lg = q->logger;
    /* No mutex of its own: resql uses this connection only from the logged
     * connection's hooks and calls, which that connection serializes. */
    int rc = sqlite3_open_v2(to, &q->log, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
                             SQLITE_OPEN_NOMUTEX, NULL);
    /* Checked before anything writes to it: WAL mode would stay on the
     * application's own file. */
    if (rc == SQLITE_OK && resql__same_file(lg->db, q->log, "main")) {
        resql__format(lg->errmsg,
                      "resql: the query-log database \"%s\" is the logged database itself; "
                      "a recovery log must live in another database", to);
        return RESQL_MISUSE;
    }
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(q->log, busy_ms);
        /* WAL: people reading the log never block the writes. */
        rc = sqlite3_exec(q->log, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) rc = resql__copy_synchronous(lg->db, q->log, "main");
    if (rc != SQLITE_OK) {
        resql__format(lg->errmsg, "resql: cannot open the query-log database \"%s\": %s", to,
                      q->log ? sqlite3_errmsg(q->log) : "out of memory");
        return RESQL_CANTOPEN;
    }
    if (resql__log_tables_create(q->log, "main", lg->errmsg) != SQLITE_OK) return RESQL_CANTOPEN;
    /* One record, and a batch of them. The dialect never changes: a literal,
     * not a parameter to bind per record. */
    char *insert[2];
    for (int k = 0; k < 2; k++) {
        sqlite3_str *sql = sqlite3_str_new(NULL);
        sqlite3_str_appendall(sql, "INSERT INTO resql_queries(txn_id, executed_at, kind, dialect, "
                                   "statement, parameters, parameters_exact, duration_us, rows_changed) VALUES ");
        for (int i = 0, n = k ? BATCH : 1; i < n; i++) {
            int p = 1 + i * RECORD_PARAMS;
            sqlite3_str_appendf(sql, "%s(?%d, ?%d, ?%d, 'sqlite %q', ?%d, ?%d, ?%d, ?%d, ?%d)", i ? ", " : "",
                                p, p + 1, p + 2, sqlite3_libversion(), p + 3, p + 4, p + 5, p + 6, p + 7);
        }
        insert[k] = sqlite3_str_finish(sql);
    }
    const char *const sql[] = {
        "INSERT INTO resql_transactions(started_at, extra) VALUES (?1, ?2)",
        insert[0] ? insert[0] : "out of memory",
        insert[1] ? insert[1] : "out of memory",
        "UPDATE resql_transactions SET outcome = ?1 WHERE id = ?2",
        "BEGIN", "COMMIT", "ROLLBACK",
    };
    rc = RESQL_OK;
    for (int i = 0; i < NSTMTS && rc == RESQL_OK; i++)
        if (sqlite3_prepare_v3(q->log, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->stmts[i], NULL)) {
            resql__format(lg->errmsg, "resql: cannot prepare the query log: %s", sqlite3_errmsg(q->log));
            rc = RESQL_ERROR;
        }
    sqlite3_free(insert[0]);
    sqlite3_free(insert[1]);
    return rc;
}

/* Called by resql__logger_open, which has checked of, out and the state
 * of the connection. */
static int log_queries(sqlite3 *of, const char *to, const resql_options *opts, resql_logger **out)
{
    if (!to || !*to)
        return resql__fail(RESQL_MISUSE,
                           "resql: resql_log_queries: the query log needs a database of its own (to)");

    resql_logger *lg = NULL;
    int rc = resql__logger_new(&query_log_kind, of, opts, &lg);
    if (rc != RESQL_OK) return rc;
    query_log *q = calloc(1, sizeof *q);
    if (!q) {
        resql_logger_free(lg);
        return resql__fail(RESQL_NOMEM, "resql: out of memory");
    }
    lg->impl = q;
    q->logger = lg;
    q->include_reads = opts && opts->include_reads;
    q->drop_rollbacks = opts && opts->drop_rollbacks;

    if ((rc = open_target(q, to, opts ? opts->busy_timeout_ms : RESQL_DEFAULT_BUSY_MS)) != RESQL_OK) {
        resql__fail(rc, "%s", lg->errmsg);
        resql_logger_free(lg);
        return rc;
    }
    resql_hub_client client = {q, on_preupdate, on_commit, on_rollback, on_stmt_start, on_stmt_end};
    rc = resql__hub_attach(of, RESQL_HUB_QUERIES, &client, &lg->hub);
    if (rc != RESQL_OK) {
        resql_logger_free(lg);
        if (rc == RESQL_EXISTS)
            return resql__fail(rc, "resql: resql_log_queries: the connection already has a query log");
        return resql__fail(rc, "resql: out of memory");
    }
    /* Like the change log's statements, this one makes sqlite3_close() of
     * the connection fail (SQLITE_BUSY) while the logger is open, instead of
     * leaving the logger pointing at a connection that is gone. */
    if (sqlite3_prepare_v3(of, "SELECT 'resql query log'", -1, SQLITE_PREPARE_PERSISTENT, &q->guard,
                           NULL) != SQLITE_OK) {
        resql_logger_free(lg);
        return resql__fail(RESQL_NOMEM, "resql: out of memory");
    }
    resql__params_watch(of, 1);
    *out = lg;
    return RESQL_OK;
}

RESQL_API int resql_log_queries(sqlite3 *of, const char *to, const resql_options *opts,
                                resql_logger **out)
{
    return resql__logger_open(log_queries, "resql_log_queries", of, to, opts, out);
}
