/* resql benchmark: the cost of auditing SQLite, side by side in one run.
 *
 * Runs each workload (W1..W4) under each configuration (bare, triggers,
 * session, changes-same, changes-attached, queries, both) in one process,
 * round-robin, several rounds, and prints the median time of each, its ratio
 * to "bare", and memory. Every run uses fresh database files in a temporary
 * directory (WAL, synchronous=NORMAL) and checks afterwards that the
 * configuration logged exactly what the workload did, so a configuration
 * that silently logs nothing cannot look fast. See bench/REPORT.md, section
 * "Method", for what is measured and why.
 *
 *   bench [--scale S] [--rounds N] [--only W1,W2] [--configs bare,triggers]
 *         [--dir DIR] [--markdown FILE] [--plot-data FILE] [--quiet]
 *   bench --callgrind-one W1 changes-same [--scale S]   (under valgrind --tool=callgrind)
 *   bench --memcheck [--scale S]                        (resql's heap at two sizes)
 *
 * Exit status: 0 when every run worked and logged what it should, 1 otherwise.
 */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "resql.h"

#if defined(__has_include)
#  if __has_include(<valgrind/callgrind.h>)
#    include <valgrind/callgrind.h>
#    define HAVE_CALLGRIND 1
#  endif
#endif
#ifndef HAVE_CALLGRIND
#  define HAVE_CALLGRIND 0
#  define CALLGRIND_START_INSTRUMENTATION
#  define CALLGRIND_STOP_INSTRUMENTATION
#  define CALLGRIND_TOGGLE_COLLECT
#endif

/* ---- resql's own heap: a counting wrapper (linked with -Wl,--wrap=...) ------
 *
 * bench.mk links with --wrap=malloc,calloc,realloc,free,strdup,strndup, which
 * redirects those calls made by the objects of this link (bench.o and
 * libresql.a) to the __wrap_ functions below. libsqlite3 is a shared library,
 * so SQLite's own allocations are not counted here (they are in
 * sqlite3_memory_used). The bench itself allocates with __real_malloc, so
 * what is counted is resql's heap: live bytes (malloc_usable_size), their
 * peak, and the number of allocation calls. */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static struct {
    long long live, peak, calls;
} heap;

static void heap_grew(long long by)
{
    heap.live += by;
    if (heap.live > heap.peak) heap.peak = heap.live;
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    heap.calls++;
    if (p) heap_grew((long long)malloc_usable_size(p));
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = __real_calloc(n, size);
    heap.calls++;
    if (p) heap_grew((long long)malloc_usable_size(p));
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    long long old = p ? (long long)malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, n);
    heap.calls++;
    if (q) heap_grew((long long)malloc_usable_size(q) - old);
    else if (p && n == 0) heap.live -= old;        /* glibc: realloc(p, 0) frees p */
    return q;
}

void __wrap_free(void *p)
{
    if (p) heap.live -= (long long)malloc_usable_size(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = __wrap_malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* ---- small helpers ----------------------------------------------------------- */

static char tmp_dir[512];
static int keep_dir;                        /* --dir given: leave it in place */

static void remove_files(void);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "bench: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = __real_malloc(n ? n : 1);
    if (!p) fail("out of memory");
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes the decimal digits of v at p, returns the end. No printf in the
 * driver's loops: its cost would dilute every ratio. */
static char *put_uint(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static long gcd(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A fixed pseudo-random permutation of 0..n-1: i -> (i * m + 17) mod n. */
static long perm_mult(long n, long m)
{
    m %= n;
    if (m == 0) m = 1;
    while (gcd(m, n) != 1) m = m + 1 < n ? m + 1 : 1;
    return m;
}

/* ---- workloads and configurations -------------------------------------------- */

enum { W1, W2, W3, W4, NWORK };
enum { C_BARE, C_TRIGGERS, C_SESSION, C_CHANGES_SAME, C_CHANGES_ATTACHED, C_QUERIES, C_BOTH, NCONF };
#define MAX_PHASES 3

static const char *const work_name[NWORK] = {"W1", "W2", "W3", "W4"};
static const char *const conf_name[NCONF] = {
    "bare", "triggers", "session", "changes-same", "changes-attached", "queries", "both",
};
static const int nphases[NWORK] = {2, 3, 1, 1};
static const char *const phase_name[NWORK][MAX_PHASES] = {
    {"insert", "update", NULL}, {"insert", "update", "delete"}, {"insert", NULL, NULL}, {"update", NULL, NULL},
};

#define W4_COLUMNS 100          /* id + c1..c99 */
#define W4_UPDATED "c49"        /* an INT column: c<i> is INT when i % 3 == 1 */

static struct {
    double scale;
    int rounds;
    unsigned work_mask, conf_mask;
    const char *markdown, *plot_data;
    int quiet;
} opt = {1.0, 3, (1u << NWORK) - 1, (1u << NCONF) - 1, NULL, NULL, 0};

static long n1, n2, n3, n4;      /* W1 rows, W2 rows, W3 statements, W4 rows */

static long scaled(long base, double scale, long min)
{
    long n = (long)(base * scale + 0.5);
    return n < min ? min : n;
}

static void set_sizes(double scale)
{
    n1 = scaled(300000, scale, 1);
    n2 = scaled(100000, scale, 2);
    n3 = scaled(5000, scale, 1);
    n4 = scaled(100000, scale, 1);
}

/* What a workload does, so each run can be checked. */
typedef struct expect {
    long long changes;          /* row changes, one log row each */
    long long txns;             /* transactions that change something */
    long long statements;       /* top-level statements (BEGIN and COMMIT too) */
} expect;

static expect expected(int w)
{
    expect e = {0, 0, 0};
    switch (w) {
    case W1: e.changes = 2LL * n1; e.txns = 2; e.statements = 6; break;
    case W2: e.changes = 2LL * n2 + n2 / 2; e.txns = 3; e.statements = 2LL * n2 + n2 / 2 + 6; break;
    case W3: e.changes = n3; e.txns = n3; e.statements = n3; break;
    case W4: e.changes = n4; e.txns = 1; e.statements = 3; break;
    }
    return e;
}

/* One workload under one configuration. */
typedef struct run {
    int w, c;
    sqlite3 *db;
    sqlite3_session *session;
    resql_logger *changes, *queries;
    long long session_changes, session_txns;
    int (*bind_int64)(sqlite3_stmt *, int, sqlite3_int64);
    int (*bind_double)(sqlite3_stmt *, int, double);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    double t0, paused, pause_t0;
    double phase_s[MAX_PHASES];
    long long heap_peak, heap_calls, sqlite_peak;
    long long log_rows;
} run;

static char path_app[600], path_audit[600], path_queries[600], path_w4[600];

static void check(run *r, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return;
    const char *why = r->db ? resql_commit_refusal(r->db) : NULL;
    fail("%s %s: %s: %s%s%s", work_name[r->w], conf_name[r->c], what,
         r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc), why ? " / " : "", why ? why : "");
}

static void exec(run *r, const char *sql)
{
    check(r, sqlite3_exec(r->db, sql, NULL, NULL, NULL), sql);
}

static void prepare(run *r, const char *sql, sqlite3_stmt **st)
{
    check(r, sqlite3_prepare_v2(r->db, sql, -1, st, NULL), sql);
}

static void step(run *r, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) check(r, rc == SQLITE_ROW ? SQLITE_ERROR : rc, sqlite3_sql(st));
    sqlite3_reset(st);
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    else fail("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

/* ---- timing (with pauses for the bench's own checking) ----------------------- */

static void phase_start(run *r)
{
    r->paused = 0;
    r->t0 = now_s();
}

static void phase_end(run *r, int i)
{
    r->phase_s[i] = now_s() - r->t0 - r->paused;
}

static void pause_timer(run *r)
{
    CALLGRIND_TOGGLE_COLLECT;
    r->pause_t0 = now_s();
}

static void resume_timer(run *r)
{
    r->paused += now_s() - r->pause_t0;
    CALLGRIND_TOGGLE_COLLECT;
}

/* ---- session: one session per transaction, its changeset taken after it ------
 *
 * A session accumulates every change since it was attached and has no reset,
 * so capturing per transaction means a new session for each; the changeset
 * is taken right after COMMIT (a commit hook must not call into the session),
 * then freed: capture only, nothing persisted. Counting its changes, to check
 * the run, is not timed. */

static void session_open(run *r)
{
    if (r->c != C_SESSION) return;
    check(r, sqlite3session_create(r->db, "main", &r->session), "sqlite3session_create");
    check(r, sqlite3session_attach(r->session, NULL), "sqlite3session_attach");
}

static void session_take(run *r)
{
    if (r->c != C_SESSION) return;
    int n = 0;
    void *p = NULL;
    check(r, sqlite3session_changeset(r->session, &n, &p), "sqlite3session_changeset");
    pause_timer(r);
    sqlite3_changeset_iter *it = NULL;
    if (n > 0) {
        check(r, sqlite3changeset_start(&it, n, p), "sqlite3changeset_start");
        while (sqlite3changeset_next(it) == SQLITE_ROW) r->session_changes++;
        sqlite3changeset_finalize(it);
        r->session_txns++;
    }
    resume_timer(r);
    sqlite3_free(p);
    sqlite3session_delete(r->session);
    r->session = NULL;
}

static void txn_begin(run *r)
{
    session_open(r);
    exec(r, "BEGIN");
}

static void txn_commit(run *r)
{
    exec(r, "COMMIT");
    session_take(r);
}

/* ---- the triggers configuration: generated audit triggers ---------------------
 *
 * The usual way to audit SQLite today: per table, AFTER INSERT/UPDATE/DELETE
 * triggers insert into a log table a JSON diff built in SQL with
 * json_object(): {"col": {"old": v, "new": v}, ...}, every column for an
 * insert or a delete, the changed ones (OLD.c IS NOT NEW.c) for an update,
 * where json_patch() drops the members whose value is NULL. This SQLite
 * allows 127 function arguments, so wide tables are built in chunks of 60
 * columns merged with json_patch(). */

#define TRIGGER_CHUNK 60

static void add_diff_expr(sqlite3_str *s, char **cols, int ncols, int op)
{
    int nchunks = (ncols + TRIGGER_CHUNK - 1) / TRIGGER_CHUNK;
    int opened = op == SQLITE_UPDATE ? nchunks : nchunks - 1;
    for (int i = 0; i < opened; i++) sqlite3_str_appendall(s, "json_patch(");
    if (op == SQLITE_UPDATE) sqlite3_str_appendall(s, "'{}', ");
    for (int k = 0; k < nchunks; k++) {
        if (k > 0) sqlite3_str_appendall(s, ", ");
        sqlite3_str_appendall(s, "json_object(");
        for (int j = k * TRIGGER_CHUNK; j < ncols && j < (k + 1) * TRIGGER_CHUNK; j++) {
            const char *c = cols[j];
            if (j > k * TRIGGER_CHUNK) sqlite3_str_appendall(s, ", ");
            if (op == SQLITE_INSERT)
                sqlite3_str_appendf(s, "%Q, json_object('old', NULL, 'new', NEW.\"%w\")", c, c);
            else if (op == SQLITE_DELETE)
                sqlite3_str_appendf(s, "%Q, json_object('old', OLD.\"%w\", 'new', NULL)", c, c);
            else
                sqlite3_str_appendf(s, "%Q, CASE WHEN OLD.\"%w\" IS NOT NEW.\"%w\" THEN "
                                       "json_object('old', OLD.\"%w\", 'new', NEW.\"%w\") END",
                                    c, c, c, c, c);
        }
        sqlite3_str_appendall(s, ")");
        if (k > 0 || op == SQLITE_UPDATE) sqlite3_str_appendall(s, ")");
    }
}

static void add_key_expr(sqlite3_str *s, const char *image, char **pk, int npk)
{
    if (npk == 0) {
        sqlite3_str_appendf(s, "%s.rowid", image);
    } else if (npk == 1) {
        sqlite3_str_appendf(s, "json_quote(%s.\"%w\")", image, pk[0]);
    } else {
        sqlite3_str_appendall(s, "json_array(");
        for (int k = 0; k < npk; k++) sqlite3_str_appendf(s, "%s%s.\"%w\"", k ? ", " : "", image, pk[k]);
        sqlite3_str_appendall(s, ")");
    }
}

static void install_triggers(run *r, const char *table)
{
    char *cols[2000], *pk[2000];
    int ncols = 0, npk = 0, pk_rank[2000];
    sqlite3_stmt *st = NULL;
    char *sql = sqlite3_mprintf("SELECT name, pk FROM pragma_table_info(%Q)", table);
    prepare(r, sql, &st);
    sqlite3_free(sql);
    while (sqlite3_step(st) == SQLITE_ROW && ncols < 2000) {
        cols[ncols] = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
        pk_rank[ncols] = sqlite3_column_int(st, 1);
        ncols++;
    }
    sqlite3_finalize(st);
    for (int rank = 1; rank <= ncols; rank++)
        for (int j = 0; j < ncols; j++)
            if (pk_rank[j] == rank) pk[npk++] = cols[j];

    exec(r, "CREATE TABLE IF NOT EXISTS audit_log(id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, "
            "record_id TEXT NOT NULL, kind TEXT NOT NULL, changed_at TEXT NOT NULL, diff TEXT NOT NULL)");
    static const struct { int op; const char *event, *image; } kinds[] = {
        {SQLITE_INSERT, "INSERT", "NEW"}, {SQLITE_UPDATE, "UPDATE", "NEW"}, {SQLITE_DELETE, "DELETE", "OLD"},
    };
    for (int k = 0; k < 3; k++) {
        sqlite3_str *s = sqlite3_str_new(r->db);
        sqlite3_str_appendf(s, "CREATE TRIGGER \"audit_%w_%s\" AFTER %s ON \"%w\" BEGIN "
                               "INSERT INTO audit_log(table_name, record_id, kind, changed_at, diff) VALUES (%Q, ",
                            table, kinds[k].event, kinds[k].event, table, table);
        add_key_expr(s, kinds[k].image, pk, npk);
        sqlite3_str_appendf(s, ", '%s', strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'), ",
                            kinds[k].op == SQLITE_INSERT ? "insert" : kinds[k].op == SQLITE_UPDATE ? "update" : "delete");
        add_diff_expr(s, cols, ncols, kinds[k].op);
        sqlite3_str_appendall(s, "); END");
        sql = sqlite3_str_finish(s);
        if (!sql) fail("out of memory");
        exec(r, sql);
        sqlite3_free(sql);
    }
    for (int j = 0; j < ncols; j++) sqlite3_free(cols[j]);
}

/* ---- database files ----------------------------------------------------------- */

static void unlink_db(const char *path)
{
    char p[700];
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static void remove_files(void)
{
    if (!tmp_dir[0]) return;
    unlink_db(path_app);
    unlink_db(path_audit);
    unlink_db(path_queries);
    unlink_db(path_w4);
    if (!keep_dir) rmdir(tmp_dir);
}

static void copy_file(const char *from, const char *to)
{
    static char buf[1 << 20];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) fail("cannot copy %s to %s: %s", from, to, strerror(errno));
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) fail("cannot write %s: %s", to, strerror(errno));
    close(in);
    close(out);
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) fail("cannot open %s", path);
    if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        fail("%s: %s", path, sqlite3_errmsg(db));
    return db;
}

static const char person_schema[] =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, age INT, score REAL, note TEXT)";

/* W4's table, filled once per process and copied for each run: the filling
 * is setup, not part of what is timed. */
static void make_w4_template(void)
{
    sqlite3 *db = open_db(path_w4);
    sqlite3_str *create = sqlite3_str_new(db), *fill = sqlite3_str_new(db);
    sqlite3_str_appendall(create, "CREATE TABLE w(id INTEGER PRIMARY KEY");
    sqlite3_str_appendf(fill, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %ld) "
                              "INSERT INTO w SELECT x", n4);
    for (int i = 1; i < W4_COLUMNS; i++) {
        if (i % 3 == 1) {
            sqlite3_str_appendf(create, ", c%d INT", i);
            sqlite3_str_appendf(fill, ", x * %d", i);
        } else if (i % 3 == 2) {
            sqlite3_str_appendf(create, ", c%d REAL", i);
            sqlite3_str_appendf(fill, ", x * 0.5 + %d", i);
        } else {
            sqlite3_str_appendf(create, ", c%d TEXT", i);
            sqlite3_str_appendf(fill, ", 'value %d of row ' || x", i);
        }
    }
    sqlite3_str_appendall(create, ")");
    sqlite3_str_appendall(fill, " FROM c");
    char *c = sqlite3_str_finish(create), *f = sqlite3_str_finish(fill);
    if (!c || !f) fail("out of memory");
    if (sqlite3_exec(db, c, NULL, NULL, NULL) || sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) ||
        sqlite3_exec(db, f, NULL, NULL, NULL) || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) ||
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL))
        fail("making W4's table: %s", sqlite3_errmsg(db));
    sqlite3_free(c);
    sqlite3_free(f);
    sqlite3_close(db);
}

/* ---- setting up a run ------------------------------------------------------------ */

static void setup(run *r)
{
    unlink_db(path_app);
    unlink_db(path_audit);
    unlink_db(path_queries);
    if (r->w == W4) copy_file(path_w4, path_app);
    r->db = open_db(path_app);
    if (r->w != W4) exec(r, person_schema);
    const char *table = r->w == W4 ? "w" : "t";

    r->bind_int64 = sqlite3_bind_int64;
    r->bind_double = sqlite3_bind_double;
    r->bind_text = sqlite3_bind_text;
    int changes_to = -1;            /* -1: none, 0: same database, 1: attached file */
    int queries = 0;
    switch (r->c) {
    case C_BARE: case C_SESSION: break;
    case C_TRIGGERS: install_triggers(r, table); break;
    case C_CHANGES_SAME: changes_to = 0; break;
    case C_CHANGES_ATTACHED: changes_to = 1; break;
    case C_QUERIES: queries = 1; break;
    case C_BOTH: changes_to = 0; queries = 1; break;
    }
    if (changes_to == 1) {
        /* Fresh, WAL like the others (WAL is kept in the file). */
        sqlite3 *a = open_db(path_audit);
        sqlite3_close(a);
    }
    if (changes_to >= 0 &&
        resql_log_changes(r->db, changes_to ? path_audit : NULL, NULL, &r->changes) != RESQL_OK)
        fail("%s %s: resql_log_changes: %s", work_name[r->w], conf_name[r->c], resql_errmsg(NULL));
    if (queries) {
        if (resql_log_queries(r->db, path_queries, NULL, &r->queries) != RESQL_OK)
            fail("%s %s: resql_log_queries: %s", work_name[r->w], conf_name[r->c], resql_errmsg(NULL));
        r->bind_int64 = resql_bind_int64;
        r->bind_double = resql_bind_double;
        r->bind_text = resql_bind_text;
    }
}

/* ---- the workloads (everything between phase_start and phase_end is timed) ------ */

static void workload_w1(run *r)
{
    sqlite3_stmt *ins = NULL, *upd = NULL;
    prepare(r, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) "
               "INSERT INTO t(id, name, age, score, note) "
               "SELECT x, 'user-' || x, x % 90, x * 0.37, 'a note about row ' || x FROM c", &ins);
    prepare(r, "UPDATE t SET age = age + 1, score = score * 1.01", &upd);

    phase_start(r);
    txn_begin(r);
    r->bind_int64(ins, 1, n1);
    step(r, ins);
    txn_commit(r);
    phase_end(r, 0);

    phase_start(r);
    txn_begin(r);
    step(r, upd);
    txn_commit(r);
    phase_end(r, 1);

    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
}

static void bind_person(run *r, sqlite3_stmt *st, int first, long i, char *name, char *note)
{
    char *e = put_uint(put_str(name, "user-"), (unsigned long)i);
    r->bind_text(st, first, name, (int)(e - name), SQLITE_STATIC);
    r->bind_int64(st, first + 1, i % 90);
    r->bind_double(st, first + 2, (double)i * 0.37);
    e = put_uint(put_str(note, "a note about row "), (unsigned long)i);
    r->bind_text(st, first + 3, note, (int)(e - note), SQLITE_STATIC);
}

static void workload_w2(run *r)
{
    sqlite3_stmt *ins = NULL, *upd = NULL, *del = NULL;
    char name[64], note[64];
    prepare(r, "INSERT INTO t(id, name, age, score, note) VALUES (?1, ?2, ?3, ?4, ?5)", &ins);
    prepare(r, "UPDATE t SET age = ?1, score = ?2 WHERE id = ?3", &upd);
    prepare(r, "DELETE FROM t WHERE id = ?1", &del);
    long mu = perm_mult(n2, 7919), md = perm_mult(n2, 104729);

    phase_start(r);
    txn_begin(r);
    for (long i = 1; i <= n2; i++) {
        r->bind_int64(ins, 1, i);
        bind_person(r, ins, 2, i, name, note);
        step(r, ins);
    }
    txn_commit(r);
    phase_end(r, 0);

    phase_start(r);
    txn_begin(r);
    for (long i = 0; i < n2; i++) {
        long id = (long)(((long long)i * mu + 17) % n2) + 1;
        r->bind_int64(upd, 1, (id * 7) % 90 + 1);
        r->bind_double(upd, 2, (double)id * 0.3737);
        r->bind_int64(upd, 3, id);
        step(r, upd);
    }
    txn_commit(r);
    phase_end(r, 1);

    phase_start(r);
    txn_begin(r);
    for (long i = 0; i < n2 / 2; i++) {
        r->bind_int64(del, 1, (long)(((long long)i * md + 17) % n2) + 1);
        step(r, del);
    }
    txn_commit(r);
    phase_end(r, 2);

    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(del);
}

static void workload_w3(run *r)
{
    sqlite3_stmt *ins = NULL;
    char name[64], note[64];
    prepare(r, "INSERT INTO t(name, age, score, note) VALUES (?1, ?2, ?3, ?4)", &ins);
    phase_start(r);
    for (long i = 1; i <= n3; i++) {
        session_open(r);
        bind_person(r, ins, 1, i, name, note);
        step(r, ins);                    /* autocommit: its own transaction */
        session_take(r);
    }
    phase_end(r, 0);
    sqlite3_finalize(ins);
}

static void workload_w4(run *r)
{
    sqlite3_stmt *upd = NULL;
    prepare(r, "UPDATE w SET " W4_UPDATED " = " W4_UPDATED " + 1", &upd);
    phase_start(r);
    txn_begin(r);
    step(r, upd);
    txn_commit(r);
    phase_end(r, 0);
    sqlite3_finalize(upd);
}

/* ---- checking what was logged ----------------------------------------------------- */

static void expect_eq(run *r, const char *what, long long got, long long want)
{
    if (got != want)
        fail("%s %s: %s: %lld, expected %lld", work_name[r->w], conf_name[r->c], what, got, want);
}

/* The change log (resql's or the triggers') in `db`, `table` holding its rows. */
static void check_change_log(run *r, sqlite3 *db, const char *table, const expect *e)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    r->log_rows = query_int(db, sql);
    expect_eq(r, "change-log rows", r->log_rows, e->changes);
    if (r->w == W4) {   /* only the changed column is in an update's diff */
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE diff NOT LIKE '{\"" W4_UPDATED "\":%%' "
                                  "OR length(diff) > 80", table);
        expect_eq(r, "W4 diffs naming more than the changed column", query_int(db, sql), 0);
    }
    if (r->w == W2) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE kind = 'delete'", table);
        expect_eq(r, "logged deletes", query_int(db, sql), n2 / 2);
    }
}

static void check_resql_changes(run *r, sqlite3 *db, const expect *e)
{
    check_change_log(r, db, "resql_changes", e);
    expect_eq(r, "change-log transactions", query_int(db, "SELECT count(*) FROM resql_transactions"), e->txns);
}

static sqlite3 *open_readonly(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail("cannot open %s", path);
    return db;
}

static void verify(run *r)
{
    expect e = expected(r->w);
    switch (r->w) {     /* the workload itself did its work */
    case W1:
        expect_eq(r, "rows", query_int(r->db, "SELECT count(*) FROM t WHERE age = id % 90 + 1"), n1);
        break;
    case W2: expect_eq(r, "rows", query_int(r->db, "SELECT count(*) FROM t"), n2 - n2 / 2); break;
    case W3: expect_eq(r, "rows", query_int(r->db, "SELECT count(*) FROM t"), n3); break;
    case W4:
        expect_eq(r, "rows", query_int(r->db, "SELECT count(*) FROM w WHERE " W4_UPDATED " = id * 49 + 1"), n4);
        break;
    }
    r->log_rows = 0;
    switch (r->c) {
    case C_BARE:
        expect_eq(r, "log tables", query_int(r->db, "SELECT count(*) FROM sqlite_schema "
                                                    "WHERE name LIKE 'resql%' OR name = 'audit_log'"), 0);
        break;
    case C_TRIGGERS: check_change_log(r, r->db, "audit_log", &e); break;
    case C_SESSION:
        r->log_rows = r->session_changes;
        expect_eq(r, "changes in the changesets", r->session_changes, e.changes);
        expect_eq(r, "changesets", r->session_txns, e.txns);
        break;
    case C_CHANGES_SAME: case C_BOTH: check_resql_changes(r, r->db, &e); break;
    case C_CHANGES_ATTACHED: {
        sqlite3 *a = open_readonly(path_audit);
        check_resql_changes(r, a, &e);
        sqlite3_close(a);
        expect_eq(r, "log tables in the app's database",
                  query_int(r->db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'resql%'"), 0);
        break;
    }
    default: break;
    }
    if (r->c == C_QUERIES || r->c == C_BOTH) {
        sqlite3 *q = open_readonly(path_queries);
        long long rows = query_int(q, "SELECT count(*) FROM resql_queries");
        expect_eq(r, "query-log statements", rows, e.statements);
        expect_eq(r, "query-log transactions", query_int(q, "SELECT count(*) FROM resql_transactions "
                                                           "WHERE outcome = 'commit'"),
                  e.txns);
        expect_eq(r, "query-log records with inexact parameters",
                  query_int(q, "SELECT count(*) FROM resql_queries WHERE parameters_exact = 0"), 0);
        if (r->w == W2)
            expect_eq(r, "query-log parameters of the first insert",
                      query_int(q, "SELECT count(*) FROM resql_queries WHERE kind = 'Insert' AND "
                                   "parameters = '[1,\"user-1\",1,0.37,\"a note about row 1\"]'"), 1);
        sqlite3_close(q);
        r->log_rows += rows;
    }
}

/* ---- one run --------------------------------------------------------------------- */

static void close_loggers(run *r)
{
    resql_logger *lg[2] = {r->queries, r->changes};
    for (int i = 0; i < 2; i++) {
        if (!lg[i]) continue;
        if (resql_logger_close(lg[i]) != RESQL_OK)
            fail("%s %s: resql_logger_close: %s", work_name[r->w], conf_name[r->c], resql_errmsg(lg[i]));
        resql_logger_free(lg[i]);
    }
    r->changes = r->queries = NULL;
}

static void do_run(run *r, int under_callgrind)
{
    setup(r);
    long long calls0 = heap.calls;
    heap.peak = heap.live;
    sqlite3_memory_highwater(1);
    if (under_callgrind) CALLGRIND_START_INSTRUMENTATION;
    switch (r->w) {
    case W1: workload_w1(r); break;
    case W2: workload_w2(r); break;
    case W3: workload_w3(r); break;
    case W4: workload_w4(r); break;
    }
    if (under_callgrind) CALLGRIND_STOP_INSTRUMENTATION;
    r->heap_peak = heap.peak;
    r->heap_calls = heap.calls - calls0;
    r->sqlite_peak = sqlite3_memory_highwater(0);
    close_loggers(r);
    verify(r);
    if (sqlite3_close(r->db) != SQLITE_OK) fail("%s %s: sqlite3_close: busy", work_name[r->w], conf_name[r->c]);
    r->db = NULL;
}

/* ---- results --------------------------------------------------------------------- */

typedef struct result {
    int have;
    double *t[MAX_PHASES + 1];          /* [0]: the whole workload, [1..]: phases; one per round */
    int n;
    long long heap_peak, heap_calls, sqlite_peak, log_rows;
} result;

static result results[NWORK][NCONF];

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double *s = xmalloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    __real_free(s);
    return m;
}

static double vmin(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++) if (v[i] < m) m = v[i];
    return m;
}

static double vmax(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++) if (v[i] > m) m = v[i];
    return m;
}

/* Median of phase p (0: total) of w under c, in seconds; NAN if not run. */
static double med(int w, int c, int p)
{
    const result *res = &results[w][c];
    return res->have ? median(res->t[p], res->n) : NAN;
}

static double ratio(int w, int c, int vs, int p)
{
    double a = med(w, c, p), b = med(w, vs, p);
    return isnan(a) || isnan(b) || b <= 0 ? NAN : a / b;
}

static void record(const run *r)
{
    result *res = &results[r->w][r->c];
    if (!res->have) {
        for (int p = 0; p <= MAX_PHASES; p++) res->t[p] = xmalloc((size_t)opt.rounds * sizeof(double));
        res->have = 1;
    }
    double total = 0;
    for (int p = 0; p < nphases[r->w]; p++) {
        res->t[p + 1][res->n] = r->phase_s[p];
        total += r->phase_s[p];
    }
    res->t[0][res->n] = total;
    res->n++;
    if (r->heap_peak > res->heap_peak) res->heap_peak = r->heap_peak;
    if (r->sqlite_peak > res->sqlite_peak) res->sqlite_peak = r->sqlite_peak;
    res->heap_calls = r->heap_calls;
    res->log_rows = r->log_rows;
}

typedef struct target {
    const char *what;
    int w, c, vs;
    double limit;
} target;

static const target targets[] = {
    {"change log (same db), W1", W1, C_CHANGES_SAME, C_BARE, 4.0},
    {"change log (same db), W1 vs triggers", W1, C_CHANGES_SAME, C_TRIGGERS, 0.45},
    {"change log (same db), W2", W2, C_CHANGES_SAME, C_BARE, 3.0},
    {"change log (same db), W4", W4, C_CHANGES_SAME, C_BARE, 1.5},
    {"change log (attached), W1", W1, C_CHANGES_ATTACHED, C_BARE, 4.0},
    {"change log (attached), W1 vs triggers", W1, C_CHANGES_ATTACHED, C_TRIGGERS, 0.45},
    {"change log (attached), W2", W2, C_CHANGES_ATTACHED, C_BARE, 3.0},
    {"change log (attached), W4", W4, C_CHANGES_ATTACHED, C_BARE, 1.5},
    {"query log, W2", W2, C_QUERIES, C_BARE, 1.5},
    {"query log, W3", W3, C_QUERIES, C_BARE, 1.5},
};
#define NTARGETS ((int)(sizeof targets / sizeof targets[0]))

/* The "no heap allocation per value on the hot path": resql's
 * allocation calls per log row, worst resql configuration and workload.
 * Only runs with enough rows count: a logger's buffers grow a few times on
 * first use, which says nothing per value when a run logs 3 or 6 records
 * (W1 and W4 under the query log); the results table shows those calls. */
#define ALLOCS_MIN_ROWS 1000
static double allocs_per_row(int *worst_w, int *worst_c)
{
    static const int resql_confs[] = {C_CHANGES_SAME, C_CHANGES_ATTACHED, C_QUERIES, C_BOTH};
    double worst = NAN;
    for (int w = 0; w < NWORK; w++)
        for (int i = 0; i < 4; i++) {
            const result *res = &results[w][resql_confs[i]];
            if (!res->have || res->log_rows < ALLOCS_MIN_ROWS) continue;
            double x = (double)res->heap_calls / (double)res->log_rows;
            if (isnan(worst) || x > worst) {
                worst = x;
                *worst_w = w;
                *worst_c = resql_confs[i];
            }
        }
    return worst;
}

#define ALLOCS_PER_ROW_LIMIT 0.01

/* "PASS", "FAIL", or "not measured" for a measured x against its limit. */
static const char *verdict(double x, double limit)
{
    return isnan(x) ? "not measured" : x <= limit ? "PASS" : "FAIL";
}

static void fmt_ratio(char *out, size_t n, double x)
{
    if (isnan(x)) snprintf(out, n, "-");
    else snprintf(out, n, "%.2f", x);
}

static void print_text(FILE *f)
{
    char rb[32];
    fprintf(f, "\n%-8s %-17s %10s %7s %21s %14s %13s %15s %10s\n", "workload", "config", "median ms",
            "x bare", "min..max ms", "resql peak KiB", "resql allocs", "SQLite peak MiB", "log rows");
    for (int w = 0; w < NWORK; w++) {
        for (int c = 0; c < NCONF; c++) {
            const result *res = &results[w][c];
            if (!res->have) continue;
            char range[48];
            fmt_ratio(rb, sizeof rb, ratio(w, c, C_BARE, 0));
            snprintf(range, sizeof range, "%.1f..%.1f", vmin(res->t[0], res->n) * 1e3, vmax(res->t[0], res->n) * 1e3);
            fprintf(f, "%-8s %-17s %10.1f %7s %21s %14.1f %13lld %15.1f %10lld\n", work_name[w], conf_name[c],
                    med(w, c, 0) * 1e3, rb, range, res->heap_peak / 1024.0, res->heap_calls,
                    res->sqlite_peak / 1048576.0, res->log_rows);
        }
    }
    fprintf(f, "\nphases (median ms of bare, then x bare):\n%-10s %10s", "phase", "bare ms");
    for (int c = 1; c < NCONF; c++) if (opt.conf_mask & (1u << c)) fprintf(f, " %16s", conf_name[c]);
    fputc('\n', f);
    for (int w = 0; w < NWORK; w++) {
        if (!(opt.work_mask & (1u << w)) || nphases[w] < 2) continue;
        for (int p = 1; p <= nphases[w]; p++) {
            char label[32];
            snprintf(label, sizeof label, "%s.%s", work_name[w], phase_name[w][p - 1]);
            fprintf(f, "%-10s %10.1f", label, med(w, C_BARE, p) * 1e3);
            for (int c = 1; c < NCONF; c++) {
                if (!(opt.conf_mask & (1u << c))) continue;
                fmt_ratio(rb, sizeof rb, ratio(w, c, C_BARE, p));
                fprintf(f, " %16s", rb);
            }
            fputc('\n', f);
        }
    }
    fprintf(f, "\ntargets (issue 5):\n");
    for (int i = 0; i < NTARGETS; i++) {
        const target *t = &targets[i];
        double x = ratio(t->w, t->c, t->vs, 0);
        fmt_ratio(rb, sizeof rb, x);
        fprintf(f, "  %-40s %6sx %-8s (limit %.2fx) %s\n", t->what, rb, conf_name[t->vs], t->limit,
                verdict(x, t->limit));
    }
    int aw = 0, ac = 0;
    double a = allocs_per_row(&aw, &ac);
    if (!isnan(a))
        fprintf(f, "  %-40s %7.3f (%s %s; limit %.2f) %s\n", "resql allocations per log row, worst", a,
                work_name[aw], conf_name[ac], ALLOCS_PER_ROW_LIMIT, verdict(a, ALLOCS_PER_ROW_LIMIT));
}

static void print_markdown(FILE *f)
{
    char rb[32];
    fprintf(f, "## Targets (issue 5)\n\n| target | measured | limit | result |\n| --- | ---: | ---: | --- |\n");
    for (int i = 0; i < NTARGETS; i++) {
        const target *t = &targets[i];
        double x = ratio(t->w, t->c, t->vs, 0);
        fmt_ratio(rb, sizeof rb, x);
        fprintf(f, "| %s | %s× %s | ≤ %.2f× | **%s** |\n", t->what, rb, conf_name[t->vs], t->limit,
                verdict(x, t->limit));
    }
    int aw = 0, ac = 0;
    double a = allocs_per_row(&aw, &ac);
    if (!isnan(a))
        fprintf(f, "| no heap allocation per value: resql's allocation calls per log row "
                   "(worst run of at least %d log rows: %s %s) | %.3f | ≤ %.2f | **%s** |\n",
                ALLOCS_MIN_ROWS, work_name[aw], conf_name[ac], a, ALLOCS_PER_ROW_LIMIT,
                verdict(a, ALLOCS_PER_ROW_LIMIT));
    fprintf(f, "\n## Results\n\nMedian of %d round%s; × bare is the ratio of medians. Memory: resql's "
               "heap at its peak during the workload (counted by a malloc wrapper), the number of "
               "resql's allocation calls during the workload, and SQLite's peak "
               "(`sqlite3_memory_highwater`, process-wide: page caches, session buffers, the query "
               "log's connection). Log rows: change-log rows, changes in the changesets, plus "
               "query-log records, each checked against what the workload did.\n\n", opt.rounds,
               opt.rounds == 1 ? "" : "s");
    fprintf(f, "| workload | config | median ms | × bare | min–max ms | resql peak KiB | resql allocs | "
               "SQLite peak MiB | log rows |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int w = 0; w < NWORK; w++) {
        for (int c = 0; c < NCONF; c++) {
            const result *res = &results[w][c];
            if (!res->have) continue;
            fmt_ratio(rb, sizeof rb, ratio(w, c, C_BARE, 0));
            fprintf(f, "| %s | %s | %.1f | %s | %.1f–%.1f | %.1f | %lld | %.1f | %lld |\n", work_name[w],
                    conf_name[c], med(w, c, 0) * 1e3, c == C_BARE ? "1.00" : rb,
                    vmin(res->t[0], res->n) * 1e3, vmax(res->t[0], res->n) * 1e3, res->heap_peak / 1024.0,
                    res->heap_calls, res->sqlite_peak / 1048576.0, res->log_rows);
        }
    }
    fprintf(f, "\n### Phases (median ms of bare, and × bare)\n\n| phase | bare ms |");
    for (int c = 1; c < NCONF; c++) if (opt.conf_mask & (1u << c)) fprintf(f, " %s |", conf_name[c]);
    fprintf(f, "\n| --- | ---: |");
    for (int c = 1; c < NCONF; c++) if (opt.conf_mask & (1u << c)) fprintf(f, " ---: |");
    fputc('\n', f);
    for (int w = 0; w < NWORK; w++) {
        if (!(opt.work_mask & (1u << w)) || nphases[w] < 2) continue;
        for (int p = 1; p <= nphases[w]; p++) {
            fprintf(f, "| %s.%s | %.1f |", work_name[w], phase_name[w][p - 1], med(w, C_BARE, p) * 1e3);
            for (int c = 1; c < NCONF; c++) {
                if (!(opt.conf_mask & (1u << c))) continue;
                fmt_ratio(rb, sizeof rb, ratio(w, c, C_BARE, p));
                fprintf(f, " %s |", rb);
            }
            fputc('\n', f);
        }
    }
}

/* Rows: workloads; columns: the configurations other than bare (× bare).
 * `marks` gets, per target against bare, its bar: cluster, bar, limit. */
static void write_plot_data(FILE *f, FILE *marks)
{
    fprintf(marks, "cluster\tbar\tlimit\n");
    for (int i = 0; i < NTARGETS; i++) {
        const target *t = &targets[i];
        if (t->vs != C_BARE || !(opt.work_mask & (1u << t->w)) || !(opt.conf_mask & (1u << t->c))) continue;
        int cluster = 0, bar = 0;
        for (int w = 0; w < t->w; w++) cluster += (opt.work_mask >> w) & 1;
        for (int c = 1; c < t->c; c++) bar += (opt.conf_mask >> c) & 1;
        fprintf(marks, "%d\t%d\t%.2f\n", cluster, bar, t->limit);
    }
    fprintf(f, "workload");
    for (int c = 1; c < NCONF; c++) if (opt.conf_mask & (1u << c)) fprintf(f, "\t%s", conf_name[c]);
    fputc('\n', f);
    for (int w = 0; w < NWORK; w++) {
        if (!(opt.work_mask & (1u << w))) continue;
        fprintf(f, "%s", work_name[w]);
        for (int c = 1; c < NCONF; c++) {
            if (!(opt.conf_mask & (1u << c))) continue;
            double x = ratio(w, c, C_BARE, 0);
            if (isnan(x)) fprintf(f, "\t?");
            else fprintf(f, "\t%.3f", x);
        }
        fputc('\n', f);
    }
}

/* ---- command line -------------------------------------------------------------- */

static int find_name(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0) return i;
    return -1;
}

static unsigned parse_list(const char *arg, const char *const *names, int n, const char *what)
{
    unsigned mask = 0;
    const char *p = arg;
    while (*p) {
        size_t len = strcspn(p, ",");
        int i = find_name(names, n, p, len);
        if (i < 0) fail("unknown %s \"%.*s\"", what, (int)len, p);
        mask |= 1u << i;
        p += len;
        if (*p == ',') p++;
    }
    if (!mask) fail("no %s given", what);
    return mask;
}

static void usage(void)
{
    printf("usage: bench [--scale S] [--rounds N] [--only W1,W2,W3,W4] [--configs bare,triggers,...]\n"
           "             [--dir DIR] [--markdown FILE] [--plot-data FILE] [--quiet]\n"
           "       bench --callgrind-one WORKLOAD CONFIG [--scale S] [--dir DIR]\n"
           "       bench --memcheck [--scale S] [--dir DIR]\n"
           "configs: bare triggers session changes-same changes-attached queries both\n");
}

static void make_dir(const char *dir)
{
    if (dir) {
        snprintf(tmp_dir, sizeof tmp_dir, "%s", dir);
        mkdir(tmp_dir, 0755);
        keep_dir = 1;
    } else {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/resql-bench-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) fail("cannot make a temporary directory: %s", strerror(errno));
    }
    snprintf(path_app, sizeof path_app, "%s/app.db", tmp_dir);
    snprintf(path_audit, sizeof path_audit, "%s/audit.db", tmp_dir);
    snprintf(path_queries, sizeof path_queries, "%s/queries.db", tmp_dir);
    snprintf(path_w4, sizeof path_w4, "%s/w4-template.db", tmp_dir);
    atexit(remove_files);
}

/* Runs W1 under the resql configurations at scale/10 and at scale: resql's
 * peak heap must not grow with the number of rows in the transaction. */
static int memcheck(void)
{
    static const int confs[] = {C_CHANGES_SAME, C_CHANGES_ATTACHED, C_QUERIES, C_BOTH};
    long long peak[2][4];
    long rows[2];
    for (int s = 0; s < 2; s++) {
        set_sizes(s == 0 ? opt.scale / 10 : opt.scale);
        rows[s] = n1;
        for (int i = 0; i < 4; i++) {
            run r;
            memset(&r, 0, sizeof r);
            r.w = W1;
            r.c = confs[i];
            do_run(&r, 0);
            peak[s][i] = r.heap_peak;
        }
    }
    int ok = 1;
    printf("| config | resql peak, W1 with %ld rows | with %ld rows | bounded (≤ +16 KiB) |\n"
           "| --- | ---: | ---: | --- |\n", rows[0], rows[1]);
    for (int i = 0; i < 4; i++) {
        int bounded = peak[1][i] <= peak[0][i] + 16 * 1024;
        ok &= bounded;
        printf("| %s | %.1f KiB | %.1f KiB | %s |\n", conf_name[confs[i]], peak[0][i] / 1024.0,
               peak[1][i] / 1024.0, bounded ? "**PASS**" : "**FAIL**");
    }
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int cg_work = -1, cg_conf = -1, do_memcheck = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) fail("%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "--scale")) { NEED_VALUE(); opt.scale = atof(v); }
        else if (!strcmp(a, "--rounds")) { NEED_VALUE(); opt.rounds = atoi(v); }
        else if (!strcmp(a, "--only")) { NEED_VALUE(); opt.work_mask = parse_list(v, work_name, NWORK, "workload"); }
        else if (!strcmp(a, "--configs")) { NEED_VALUE(); opt.conf_mask = parse_list(v, conf_name, NCONF, "config"); }
        else if (!strcmp(a, "--dir")) { NEED_VALUE(); dir = v; }
        else if (!strcmp(a, "--markdown")) { NEED_VALUE(); opt.markdown = v; }
        else if (!strcmp(a, "--plot-data")) { NEED_VALUE(); opt.plot_data = v; }
        else if (!strcmp(a, "--quiet")) opt.quiet = 1;
        else if (!strcmp(a, "--memcheck")) do_memcheck = 1;
        else if (!strcmp(a, "--callgrind-one")) {
            if (i + 2 >= argc) fail("--callgrind-one needs a workload and a config");
            cg_work = find_name(work_name, NWORK, argv[i + 1], strlen(argv[i + 1]));
            cg_conf = find_name(conf_name, NCONF, argv[i + 2], strlen(argv[i + 2]));
            if (cg_work < 0 || cg_conf < 0) fail("unknown workload or config: %s %s", argv[i + 1], argv[i + 2]);
            i += 2;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); return 0; }
        else { usage(); fail("unknown argument %s", a); }
#undef NEED_VALUE
    }
    /* Above 1000 the row counts (300,000 x scale) no longer fit an int. */
    if (!(opt.scale > 0 && opt.scale <= 1000) || opt.rounds < 1)
        fail("--scale must be > 0 and <= 1000, and --rounds >= 1");
    if (sqlite3_libversion_number() != SQLITE_VERSION_NUMBER)
        fprintf(stderr, "bench: note: built with SQLite %s, running %s\n", SQLITE_VERSION, sqlite3_libversion());
    make_dir(dir);

    if (do_memcheck) return memcheck();

    set_sizes(opt.scale);
    if (cg_work >= 0) {
        if (!HAVE_CALLGRIND) fprintf(stderr, "bench: note: built without valgrind/callgrind.h\n");
        if (cg_work == W4) make_w4_template();
        run r;
        memset(&r, 0, sizeof r);
        r.w = cg_work;
        r.c = cg_conf;
        do_run(&r, 1);
        printf("ok %s %s: %lld log rows\n", work_name[cg_work], conf_name[cg_conf], r.log_rows);
        return 0;
    }

    int confs[NCONF], nconfs = 0;
    for (int c = 0; c < NCONF; c++) if (opt.conf_mask & (1u << c)) confs[nconfs++] = c;
    printf("resql %s bench: SQLite %s, scale %g (W1 %ld rows; W2 %ld inserts, %ld updates, %ld deletes; "
           "W3 %ld autocommit inserts; W4 %ld rows x %d columns), %d round%s, WAL + synchronous=NORMAL, "
           "files in %s\n", resql_version(), sqlite3_libversion(), opt.scale, n1, n2, n2, n2 / 2, n3, n4,
           W4_COLUMNS, opt.rounds, opt.rounds == 1 ? "" : "s", tmp_dir);
    fflush(stdout);
    if (opt.work_mask & (1u << W4)) make_w4_template();

    double start = now_s();
    for (int round = 0; round < opt.rounds; round++) {
        for (int w = 0; w < NWORK; w++) {
            if (!(opt.work_mask & (1u << w))) continue;
            for (int k = 0; k < nconfs; k++) {
                run r;
                memset(&r, 0, sizeof r);
                r.w = w;
                r.c = confs[(k + round) % nconfs];      /* rotate the order each round */
                do_run(&r, 0);
                record(&r);
                if (!opt.quiet) {
                    double total = 0;
                    for (int p = 0; p < nphases[w]; p++) total += r.phase_s[p];
                    fprintf(stderr, "  round %d/%d  %s %-17s %9.1f ms  (%lld log rows, checked)\n", round + 1,
                            opt.rounds, work_name[w], conf_name[r.c], total * 1e3, r.log_rows);
                }
            }
        }
    }
    double elapsed = now_s() - start;

    print_text(stdout);
    printf("\nall %d runs checked: every configuration logged what its workload did (%.0f s)\n",
           opt.rounds * nconfs * __builtin_popcount(opt.work_mask), elapsed);
    if (opt.markdown) {
        FILE *f = fopen(opt.markdown, "w");
        if (!f) fail("cannot write %s", opt.markdown);
        print_markdown(f);
        fclose(f);
    }
    if (opt.plot_data) {
        char path[1024];
        snprintf(path, sizeof path, "%s.targets", opt.plot_data);
        FILE *f = fopen(opt.plot_data, "w"), *t = fopen(path, "w");
        if (!f || !t) fail("cannot write %s", f ? path : opt.plot_data);
        write_plot_data(f, t);
        fclose(f);
        fclose(t);
    }
    return 0;
}
