/* The change log: capture row images in the preupdate hook; the TEMP
 * triggers write them as log rows by reading the resql_pending virtual table
 * (pending.h), inside the application's own statement (DESIGN.md, "How data
 * flows"). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_tables.h"
#include "logger.h"
#include "pending.h"
#include "preupdate_layout.h"
#include "schema.h"
#include "value_json.h"

#define LOG_ALIAS "resql_log"

/* What each trigger runs (and, qualified with the log's schema, what writes
 * the rows of a CREATE TABLE ... AS SELECT): the captured rows into the log,
 * in the application's statement. SQLite allows no schema name in a
 * trigger's INSERT; a TEMP trigger's unqualified name is looked up in temp,
 * main, then attached databases, which is why setup makes sure that only the
 * log's schema has a resql_changes table. */
#define DRAIN_SQL(schema) "INSERT INTO " schema "resql_changes(txn_id, changed_at, table_name, " \
                  "record_id, prev_record_id, kind, diff) SELECT txn_id, changed_at, table_name, " \
                  "record_id, prev_record_id, kind, diff FROM " RESQL_PENDING_VTAB "('%s')"

/* A captured value; TEXT/BLOB bytes live in change_log.bytes at `off`
 * (an offset, because the buffer moves as it grows). Besides SQLite's types,
 * `type` can be NO_VALUE (SQLite gave none for that slot), FROM_DEFAULT
 * (the row predates ALTER TABLE ADD COLUMN: see preupdate_layout.h) or
 * UNCHANGED. */
#define NO_VALUE 0
#define FROM_DEFAULT (-1)
#define UNCHANGED (-2)      /* an update left this column as it was: not captured */
typedef struct cap_value {
    int type;
    sqlite3_int64 i;
    double r;
    size_t off, n;
} cap_value;

/* One row change waiting for its trigger. Its values are values[first..]:
 * the old image (UPDATE, DELETE), then the new image (INSERT, UPDATE), each
 * `width` slots as sqlite3_preupdate_old/new number them (see slot_of). */
typedef struct pending_row {
    int op;
    resql_table *table;
    sqlite3_int64 key1, key2;   /* rowid before and after */
    int width;                  /* slots per image: sqlite3_preupdate_count() */
    size_t first;
} pending_row;

typedef struct change_log {
    resql_logger *logger;
    resql_pending_source *source;       /* what resql_pending reads; owned by SQLite */
    int draining;                       /* a resql_pending cursor is handing rows out */
    size_t drained;                     /* rows of this drain handed out so far */
    char now[48];                       /* the time of the row handed out last */
    char trigger_body[512];             /* DRAIN_SQL with this logger's token */
    const char *log_db;                 /* "main" or LOG_ALIAS */
    const resql_layout *layout;         /* resql__preupdate_layout(), looked up once */
    resql_names include, exclude;
    resql_table_filter filter;
    char unwanted[64];                  /* the last table the filter left out (often a log table) */
    resql_schema schema;
    int schema_version;                 /* of "main", when the schema was read */
    int needs_refresh;                  /* DDL or a rollback may have changed tables or triggers */
    int schema_touched_in_txn;

    /* captured, not yet written */
    pending_row *rows;
    size_t nrows, cap_rows;
    cap_value *values;
    size_t nvalues, cap_values;
    resql_buf bytes;
    int capture_failed;                 /* out of memory in the hook */
    char unlogged_table[256];           /* a change no trigger will log */

    /* the current transaction */
    int in_txn;
    sqlite3_int64 txn_id;
    unsigned long txn_serial;           /* hub->stmt_serial when its row was last ensured */
    int txn_row_settled;                /* its row outlived the top-level statement that wrote it */
    char txn_time[48];
    resql_buf txn_extra;                /* its extra: a JSON object, or empty for none */

    char ctas_table[256];               /* CREATE TABLE ... AS SELECT running: its table */
    sqlite3 *scratch_db;                /* private, for evaluating column defaults */

    sqlite3_stmt *write_txn, *has_txn, *drain, *read_schema_version;
    resql_buf record_id, prev_record_id, diff, scratch;
} change_log;

/* ---- capture (preupdate hook: copies only, never runs SQL) ------------------ */

static void clear_pending(change_log *cl)
{
    cl->nrows = 0;
    cl->nvalues = 0;
    resql__buf_reset(&cl->bytes);
    cl->capture_failed = 0;
}

static int grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) n *= 2;
    void *p = realloc(*items, n * size);
    if (!p) return 0;
    *items = p;
    *cap = n;
    return 1;
}

static int set_value(change_log *cl, cap_value *c, sqlite3_value *v)
{
    c->n = 0;
    if (!v) {
        c->type = NO_VALUE;
        return 1;
    }
    if (v == cl->layout->missing) {
        c->type = FROM_DEFAULT;
        return 1;
    }
    resql_value value;
    resql__value_of(v, &value);
    c->type = value.type;
    c->i = value.i;
    c->r = value.r;
    if (value.n) {
        c->n = value.n;
        c->off = cl->bytes.len;
        resql__buf_append(&cl->bytes, value.bytes, value.n);
        if (cl->bytes.oom) return 0;
    }
    return 1;
}

static int add_value(change_log *cl, sqlite3_value *v)
{
    if (!grow((void **)&cl->values, &cl->cap_values, cl->nvalues + 1, sizeof *cl->values))
        return 0;
    return set_value(cl, &cl->values[cl->nvalues++], v);
}

/* Same storage class and bytes (REALs bit for bit). */
static int same_value(sqlite3_value *a, sqlite3_value *b)
{
    resql_value x, y;
    resql__value_of(a, &x);
    resql__value_of(b, &y);
    return resql__value_same(&x, &y);
}

static int is_key_column(const resql_table *t, int j)
{
    for (int k = 0; k < t->npk; k++)
        if (t->pk[k] == j) return 1;
    return 0;
}

/* An update of a table without VIRTUAL columns (so slot j is column j in
 * both images, however this SQLite numbers them) whose width is as known:
 * only the columns it changed, and the key, are copied; a wide table's
 * untouched columns are just marked UNCHANGED in both images. */
static int capture_update(change_log *cl, sqlite3 *db, const resql_table *t, int width)
{
    const resql_layout *layout = cl->layout;
    size_t base = cl->nvalues;
    if (!grow((void **)&cl->values, &cl->cap_values, base + 2 * (size_t)width, sizeof *cl->values))
        return 0;
    for (size_t i = base; i < base + 2 * (size_t)width; i++) {
        cl->values[i].type = NO_VALUE;
        cl->values[i].n = 0;
    }
    cl->nvalues = base + 2 * (size_t)width;
    cap_value *old_image = &cl->values[base], *new_image = &cl->values[base + (size_t)width];
    for (int j = 0; j < t->ncols; j++) {
        sqlite3_value *ov = NULL, *nv = NULL;
        if (sqlite3_preupdate_old(db, j, &ov) != SQLITE_OK) ov = NULL;
        if (sqlite3_preupdate_new(db, j, &nv) != SQLITE_OK) nv = NULL;
        if (ov && nv && ov != layout->missing && !is_key_column(t, j) && same_value(ov, nv)) {
            old_image[j].type = new_image[j].type = UNCHANGED;
            continue;
        }
        if (!set_value(cl, &old_image[j], ov) || !set_value(cl, &new_image[j], nv)) return 0;
    }
    return 1;
}

/* Copies every slot of one image; which slot is which column is decided at
 * write time, when the table's columns can be re-read if they changed. */
static int capture_image(change_log *cl, sqlite3 *db, int new_image, int width)
{
    for (int i = 0; i < width; i++) {
        sqlite3_value *v = NULL;
        int rc = new_image ? sqlite3_preupdate_new(db, i, &v) : sqlite3_preupdate_old(db, i, &v);
        if (!add_value(cl, rc == SQLITE_OK ? v : NULL)) return 0;
    }
    return 1;
}

static void on_preupdate(void *self, int op, const char *db_name, const char *table,
                         sqlite3_int64 key1, sqlite3_int64 key2)
{
    change_log *cl = self;
    if (strcmp(db_name, "main") != 0 || (cl->unwanted[0] && strcmp(table, cl->unwanted) == 0)) return;
    resql_table *t = resql__schema_find(&cl->schema, table);
    if (!t) {
        if (!resql__table_wanted(&cl->filter, table)) {
            /* The filter never changes: remember the name (the log tables
             * of a log kept in "main" come here for every log row). */
            if (strlen(table) < sizeof cl->unwanted) strcpy(cl->unwanted, table);
            return;
        }
        /* Audited, but resql has no trigger on it yet: it cannot be logged in
         * this transaction. Remember it, so the commit is refused. */
        if (!cl->unlogged_table[0]) snprintf(cl->unlogged_table, sizeof cl->unlogged_table, "%s", table);
        cl->needs_refresh = 1;
        return;
    }
    sqlite3 *db = cl->logger->db;
    int width = sqlite3_preupdate_count(db);
    pending_row row = {op, t, key1, key2, width, cl->nvalues};
    int captured = op == SQLITE_UPDATE && width == t->width && t->ncols == width
                 ? capture_update(cl, db, t, width)
                 : (op == SQLITE_INSERT || capture_image(cl, db, 0, width)) &&
                   (op == SQLITE_DELETE || capture_image(cl, db, 1, width));
    if (!captured ||
        !grow((void **)&cl->rows, &cl->cap_rows, cl->nrows + 1, sizeof *cl->rows)) {
        cl->capture_failed = 1;
        return;
    }
    cl->rows[cl->nrows++] = row;
}

/* ---- writing (inside the triggers' statement, where SQL may run) ------------ */

static int sql_fail(change_log *cl, int rc, const char *what)
{
    resql__format(cl->logger->errmsg, "resql: %s: %s", what, sqlite3_errmsg(cl->logger->db));
    return rc ? rc : SQLITE_ERROR;
}

static int step_once(change_log *cl, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : sql_fail(cl, rc, what);
}

static int read_schema_version(change_log *cl, int *version)
{
    int rc = sqlite3_step(cl->read_schema_version);
    *version = sqlite3_column_int(cl->read_schema_version, 0);
    sqlite3_reset(cl->read_schema_version);
    return rc == SQLITE_ROW ? SQLITE_OK : sql_fail(cl, rc, "reading the schema version");
}

/* Another connection may have altered tables since the schema was read;
 * nothing can change it during our write transaction, so checking before
 * the transaction's first log row is enough. */
static int check_schema_version(change_log *cl)
{
    int version, rc = read_schema_version(cl, &version);
    if (rc || version == cl->schema_version) return rc;
    for (int i = 0; i < cl->schema.count; i++)
        if ((rc = resql__table_reload(cl->logger->db, cl->schema.tables[i], cl->logger->errmsg)))
            return rc;
    cl->schema_version = version;
    return SQLITE_OK;
}

/* Makes sure the transaction row exists: written at the transaction's first
 * log row (`extra` evaluated then). Until it is settled (see settle_txn_row),
 * it is written again with the same id at the first log row after any
 * statement boundary, since a failed statement may have removed it. */
static int ensure_txn(change_log *cl, const char *now)
{
    resql_logger *lg = cl->logger;
    if (cl->in_txn && (cl->txn_row_settled || cl->txn_serial == lg->hub->stmt_serial)) return SQLITE_OK;
    if (!cl->in_txn) {
        const char *json = NULL;
        if (resql__extra_eval(&lg->extra, &cl->scratch, &json, lg->errmsg)) return SQLITE_ERROR;
        resql__buf_reset(&cl->txn_extra);
        if (json) resql__buf_puts(&cl->txn_extra, json);
        if (cl->txn_extra.oom) return sql_fail(cl, SQLITE_NOMEM, "copying extra");
        size_t n = strlen(now);                 /* a resql__format_time() text: it fits */
        memcpy(cl->txn_time, now, n < sizeof cl->txn_time ? n + 1 : sizeof cl->txn_time);
        cl->txn_time[sizeof cl->txn_time - 1] = '\0';
    }
    sqlite3_stmt *s = cl->write_txn;
    if (cl->in_txn) sqlite3_bind_int64(s, 1, cl->txn_id);    /* else NULL: a new id */
    sqlite3_bind_text(s, 2, cl->txn_time, -1, SQLITE_STATIC);
    if (cl->txn_extra.len)
        sqlite3_bind_text(s, 3, cl->txn_extra.data, (int)cl->txn_extra.len, SQLITE_STATIC);
    int rc = step_once(cl, s, "writing the transaction");
    if (rc) return rc;
    if (!cl->in_txn) cl->txn_id = sqlite3_last_insert_rowid(lg->db);
    cl->in_txn = 1;
    cl->txn_serial = lg->hub->stmt_serial;
    return SQLITE_OK;
}

/* Column j's slot among the row's values: in the old or the new image, by
 * stored-column number or by table position, as this SQLite numbers them. */
static size_t slot_of(const change_log *cl, const pending_row *row, int new_image, int j)
{
    const resql_table *t = row->table;
    int image = !new_image ? RESQL_IMAGE_OLD
              : row->op == SQLITE_INSERT ? RESQL_IMAGE_INSERT : RESQL_IMAGE_UPDATE_NEW;
    size_t base = row->first + (row->op == SQLITE_UPDATE && new_image ? (size_t)row->width : 0);
    int by_position = cl->layout->by_position[t->without_rowid][image];
    return base + (size_t)(by_position ? t->cols[j].position : j);
}

static resql_value value_at(const change_log *cl, size_t index)
{
    const cap_value *c = &cl->values[index];
    resql_value v = {c->type, c->i, c->r, NULL, c->n};
    if (c->type == SQLITE_TEXT || c->type == SQLITE_BLOB)
        v.bytes = (const unsigned char *)cl->bytes.data + c->off;
    return v;
}

/* The value SQLite gives a column of a row written before the column was
 * added: its DEFAULT with the column's affinity. A private database computes
 * it exactly as SQLite stores it; it is computed once per column. */
static int column_default(change_log *cl, resql_column *col)
{
    if (col->default_known) return SQLITE_OK;
    col->default_value.type = SQLITE_NULL;
    if (!col->default_sql) {
        col->default_known = 1;
        return SQLITE_OK;
    }
    sqlite3_stmt *q = NULL;
    char *sql = sqlite3_mprintf("DROP TABLE IF EXISTS d; CREATE TABLE d(x %s); INSERT INTO d VALUES (%s);",
                                col->type, col->default_sql);
    int rc = sql ? SQLITE_OK : SQLITE_NOMEM;
    if (rc == SQLITE_OK && !cl->scratch_db) rc = sqlite3_open(":memory:", &cl->scratch_db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(cl->scratch_db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(cl->scratch_db, "SELECT x FROM d", -1, &q, NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        rc = resql__column_set_default(col, sqlite3_column_value(q, 0));
    } else if (rc == SQLITE_OK) {
        rc = SQLITE_ERROR;
    }
    sqlite3_finalize(q);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        resql__format(cl->logger->errmsg, "resql: cannot evaluate the default of column \"%s\": %s",
                      col->name, cl->scratch_db ? sqlite3_errmsg(cl->scratch_db) : "out of memory");
    return rc;
}

/* Checks that every column of the row has its value, filling in defaults,
 * re-reading the table if another connection altered it since. */
static int resolve_row(change_log *cl, const pending_row *row)
{
    resql_logger *lg = cl->logger;
    resql_table *t = row->table;
    int rc;
    if (row->width != t->width) {
        if ((rc = resql__table_reload(lg->db, t, lg->errmsg))) return rc;
        if (row->width != t->width) {
            resql__format(lg->errmsg, "resql: table \"%s\" has %d columns but the change has %d",
                          t->name, t->width, row->width);
            return SQLITE_ERROR;
        }
    }
    for (int new_image = 0; new_image < 2; new_image++) {
        if ((new_image && row->op == SQLITE_DELETE) || (!new_image && row->op == SQLITE_INSERT)) continue;
        for (int j = 0; j < t->ncols; j++) {
            size_t k = slot_of(cl, row, new_image, j);
            cap_value *c = &cl->values[k];
            if (c->type == FROM_DEFAULT) {
                if ((rc = column_default(cl, &t->cols[j]))) return rc;
                const resql_value *d = &t->cols[j].default_value;
                c->type = d->type;
                c->i = d->i;
                c->r = d->r;
                c->n = d->n;
                c->off = cl->bytes.len;
                resql__buf_append(&cl->bytes, d->bytes, d->n);
                if (cl->bytes.oom) return sql_fail(cl, SQLITE_NOMEM, "capturing");
            } else if (c->type == NO_VALUE) {
                resql__format(lg->errmsg, "resql: SQLite gave no value for column \"%s\" of table \"%s\"",
                              t->cols[j].name, t->name);
                return SQLITE_ERROR;
            }
        }
    }
    return SQLITE_OK;
}

/* The key of the row in one image: the declared primary key (a scalar, or
 * an array in key order), else the rowid. */
static void encode_key(const change_log *cl, const pending_row *row, int new_image,
                       resql_buf *out)
{
    const resql_table *t = row->table;
    resql__buf_reset(out);
    if (t->npk == 0) {
        resql_value v = {SQLITE_INTEGER, new_image ? row->key2 : row->key1, 0, NULL, 0};
        resql__json_value(out, &v);
        return;
    }
    if (t->npk > 1) resql__buf_putc(out, '[');
    for (int k = 0; k < t->npk; k++) {
        if (k) resql__buf_putc(out, ',');
        resql_value v = value_at(cl, slot_of(cl, row, new_image, t->pk[k]));
        resql__json_value(out, &v);
    }
    if (t->npk > 1) resql__buf_putc(out, ']');
}

/* {"col": {"old": v, "new": v}, ...}: every stored column for an insert or a
 * delete, the changed ones for an update; never a generated column.
 * Returns the number of columns in the diff. */
static int encode_diff(const change_log *cl, const pending_row *row, resql_buf *out)
{
    const resql_table *t = row->table;
    int n = 0;
    resql__buf_reset(out);
    resql__buf_putc(out, '{');
    for (int j = 0; j < t->ncols; j++) {
        if (t->cols[j].generated) continue;
        if (row->op == SQLITE_UPDATE && cl->values[slot_of(cl, row, 0, j)].type == UNCHANGED) continue;
        resql_value old_v = {SQLITE_NULL, 0, 0, NULL, 0}, new_v = old_v;
        if (row->op != SQLITE_INSERT) old_v = value_at(cl, slot_of(cl, row, 0, j));
        if (row->op != SQLITE_DELETE) new_v = value_at(cl, slot_of(cl, row, 1, j));
        if (row->op == SQLITE_UPDATE && resql__value_same(&old_v, &new_v)) continue;
        if (n++) resql__buf_putc(out, ',');
        resql__buf_append(out, t->cols[j].diff_key, t->cols[j].diff_key_len);
        resql__json_value(out, &old_v);
        resql__buf_puts(out, ",\"new\":");
        resql__json_value(out, &new_v);
        resql__buf_putc(out, '}');
    }
    resql__buf_putc(out, '}');
    return n;
}

static const char *kind_name(int op)
{
    return op == SQLITE_INSERT ? "insert" : op == SQLITE_UPDATE ? "update" : "delete";
}

/* Encodes the row's diff and keys. Returns 1 to log it, 0 for an update
 * that changed nothing, or -1 on an error. */
static int encode_row(change_log *cl, const pending_row *row, int *key_changed)
{
    if (resolve_row(cl, row)) return -1;
    int ncols = encode_diff(cl, row, &cl->diff);
    *key_changed = 0;
    encode_key(cl, row, row->op != SQLITE_DELETE, &cl->record_id);
    if (row->op == SQLITE_UPDATE) {
        encode_key(cl, row, 0, &cl->prev_record_id);
        *key_changed = cl->prev_record_id.len != cl->record_id.len ||
                       memcmp(cl->prev_record_id.data, cl->record_id.data, cl->record_id.len) != 0;
    }
    if (cl->diff.oom || cl->record_id.oom || cl->prev_record_id.oom) {
        sql_fail(cl, SQLITE_NOMEM, "encoding");
        return -1;
    }
    return !(row->op == SQLITE_UPDATE && ncols == 0 && !*key_changed);
}

/* ---- draining, for the triggers' INSERT ... SELECT FROM resql_pending ----- */

/* A drain runs resql's own SQL (the schema version, the columns, the
 * transaction's row): inside the hub's busy window, so that no hook takes it
 * for the application's. */
int resql__pending_begin(change_log *cl, const char **errmsg)
{
    *errmsg = cl->logger->errmsg;
    if (cl->draining) return SQLITE_DONE;           /* one drain at a time; the others read nothing */
    cl->drained = 0;
    if (cl->capture_failed) {
        resql__format(cl->logger->errmsg, "resql: out of memory while capturing a change");
        return SQLITE_NOMEM;
    }
    int rc = SQLITE_OK;
    if (!cl->in_txn && cl->nrows) {
        resql__hub_enter(cl->logger->hub);
        rc = check_schema_version(cl);
        resql__hub_leave(cl->logger->hub);
    }
    if (rc == SQLITE_OK) cl->draining = 1;
    return rc;
}

int resql__pending_next(change_log *cl, resql_log_row *out, const char **errmsg)
{
    resql_logger *lg = cl->logger;
    *errmsg = lg->errmsg;
    while (cl->drained < cl->nrows) {
        const pending_row *row = &cl->rows[cl->drained++];
        resql__hub_enter(lg->hub);
        int key_changed, wanted = encode_row(cl, row, &key_changed), rc = SQLITE_OK;
        if (wanted > 0) {
            resql__format_time(resql__clock_now(lg->clock), cl->now);
            /* The transaction's row must not change the app's last_insert_rowid. */
            sqlite3_int64 rowid = sqlite3_last_insert_rowid(lg->db);
            rc = ensure_txn(cl, cl->now);
            sqlite3_set_last_insert_rowid(lg->db, rowid);
        }
        resql__hub_leave(lg->hub);
        if (wanted < 0) return SQLITE_ERROR;
        if (rc) return rc;
        if (!wanted) continue;
        out->txn_id = cl->txn_id;
        out->changed_at = cl->now;
        out->table_name = row->table->name;
        out->kind = kind_name(row->op);
        out->record_id = cl->record_id.data;
        out->record_id_len = cl->record_id.len;
        out->prev_record_id = key_changed ? cl->prev_record_id.data : NULL;
        out->prev_record_id_len = cl->prev_record_id.len;
        out->diff = cl->diff.data;
        out->diff_len = cl->diff.len;
        return SQLITE_ROW;
    }
    return SQLITE_DONE;
}

void resql__pending_end(change_log *cl)
{
    if (!cl->draining) return;
    cl->draining = 0;
    clear_pending(cl);
}

/* ---- transactions, statements and the schema ------------------------------- */

static void end_txn(change_log *cl)
{
    clear_pending(cl);
    cl->ctas_table[0] = '\0';
    cl->unlogged_table[0] = '\0';
    cl->in_txn = 0;
    cl->txn_row_settled = 0;
    cl->schema_touched_in_txn = 0;
}

static int on_commit(void *self, const char **why)
{
    change_log *cl = self;
    *why = cl->logger->errmsg;
    int refuse = 1;
    if (cl->ctas_table[0])
        resql__format(cl->logger->errmsg,
                      "resql: commit refused: CREATE TABLE \"%s\" ... AS SELECT cannot be logged "
                      "outside a transaction (SQLite reports no row changes for it); run it between "
                      "BEGIN and COMMIT, or create the table first and INSERT ... SELECT",
                      cl->ctas_table);
    else if (cl->unlogged_table[0])
        resql__format(cl->logger->errmsg,
                      "resql: commit refused: a change to table \"%s\" could not be logged "
                      "(resql had no trigger on it yet: the table was made by another connection "
                      "or by CREATE TABLE ... AS SELECT); call resql_logger_refresh() and retry",
                      cl->unlogged_table);
    else if (cl->nrows || cl->capture_failed)
        resql__format(cl->logger->errmsg,
                      "resql: commit refused: %zu captured row change(s) were never written to the "
                      "change log", cl->nrows);
    else
        refuse = 0;
    end_txn(cl);
    return refuse;
}

static void on_rollback(void *self)
{
    change_log *cl = self;
    /* Triggers made or tables changed inside the transaction are gone again. */
    if (cl->schema_touched_in_txn) cl->needs_refresh = 1;
    end_txn(cl);
}

static void on_stmt_start(void *self, sqlite3_stmt *stmt)
{
    change_log *cl = self;
    const char *kind = resql__sql_kind(sqlite3_sql(stmt));
    int in_txn = !sqlite3_get_autocommit(cl->logger->db);
    if (!strcmp(kind, "Create") || !strcmp(kind, "Drop") || !strcmp(kind, "Alter")) {
        char table[sizeof cl->ctas_table];
        if (resql__sql_create_table_as(sqlite3_sql(stmt), table, sizeof table) &&
            resql__table_wanted(&cl->filter, table) && !resql__schema_find(&cl->schema, table))
            memcpy(cl->ctas_table, table, sizeof table);
        cl->needs_refresh = 1;
        cl->schema_touched_in_txn |= in_txn || !strcmp(kind, "Create");
    } else if (!strcmp(kind, "Rollback") && cl->schema_touched_in_txn) {
        cl->needs_refresh = 1;      /* ROLLBACK TO may undo triggers made since the savepoint */
    }
}

/* A ROLLBACK (TO): the hub reports its end even when an application's SQL
 * function ran it inside another statement, unlike its start. */
static int is_rollback(sqlite3_stmt *stmt)
{
    const char *sql = sqlite3_sql(stmt);
    while (sql && isspace((unsigned char)*sql)) sql++;
    if (!sql || !(*sql == 'r' || *sql == 'R' || *sql == '-' || *sql == '/')) return 0;  /* the usual case, cheaply */
    return !strcmp(resql__sql_kind(sql), "Rollback");
}

/* Another statement that may write is running: `stmt` runs inside it (an
 * application's SQL function), and its failure would undo `stmt`'s writes. */
static int inside_another_write(sqlite3 *db, sqlite3_stmt *stmt)
{
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s))
        if (s != stmt && sqlite3_stmt_busy(s) && !sqlite3_stmt_readonly(s)) return 1;
    return 0;
}

/* After a top-level statement of the transaction ends, a transaction row
 * that is still there stays until the transaction ends or a ROLLBACK TO:
 * no later statement's failure can undo it. Then it need not be written
 * again after every statement (one nested INSERT saved per statement). */
static void settle_txn_row(change_log *cl, sqlite3_stmt *ended)
{
    sqlite3 *db = cl->logger->db;
    if (!cl->in_txn || cl->txn_row_settled || sqlite3_get_autocommit(db) ||
        inside_another_write(db, ended))
        return;
    resql__hub_enter(cl->logger->hub);     /* resql's own statement: not reported */
    sqlite3_bind_int64(cl->has_txn, 1, cl->txn_id);
    cl->txn_row_settled = sqlite3_step(cl->has_txn) == SQLITE_ROW;
    sqlite3_reset(cl->has_txn);
    resql__hub_leave(cl->logger->hub);
    /* Not there (the statement failed): the next log row writes it again. */
}

static int refresh(change_log *cl)
{
    resql_logger *lg = cl->logger;
    sqlite3 *db = lg->db;
    resql_schema fresh;
    resql__hub_enter(lg->hub);
    int rc = resql__schema_load(db, &cl->filter, &fresh, lg->errmsg);
    if (rc == SQLITE_OK) {
        rc = resql__triggers_install(db, &fresh, cl->trigger_body, lg->errmsg);
        if (rc == SQLITE_OK) {
            read_schema_version(cl, &cl->schema_version);
            /* Rows still pending belong to a statement that is over: they will
             * never be written, so the commit must be refused; they point
             * into the old schema, so keep only their table's name. */
            if (cl->nrows && !cl->unlogged_table[0])
                snprintf(cl->unlogged_table, sizeof cl->unlogged_table, "%s", cl->rows[0].table->name);
            clear_pending(cl);
            resql__schema_free(&cl->schema);
            cl->schema = fresh;
            cl->needs_refresh = 0;
            if (!sqlite3_get_autocommit(db)) cl->schema_touched_in_txn = 1;
        } else {
            resql__schema_free(&fresh);
        }
    }
    resql__hub_leave(lg->hub);
    return rc;
}

/* CREATE TABLE ... AS SELECT writes its rows without telling the preupdate
 * hook. Inside a transaction, log them as inserts now, before the commit;
 * in autocommit mode on_commit has refused it. */
static int log_created_rows(change_log *cl, const char *table)
{
    resql_logger *lg = cl->logger;
    if (cl->needs_refresh) return SQLITE_ERROR;     /* the refresh failed: the table is unknown */
    resql_table *t = resql__schema_find(&cl->schema, table);
    if (!t) return SQLITE_OK;                       /* the statement failed */
    const char *rowid_name = NULL;                  /* a name for the rowid no column took */
    static const char *const aliases[] = {"rowid", "_rowid_", "oid"};
    for (int a = 0; a < 3 && !rowid_name; a++) {
        rowid_name = aliases[a];
        for (int j = 0; j < t->ncols; j++)
            if (sqlite3_stricmp(t->cols[j].name, aliases[a]) == 0) rowid_name = NULL;
    }
    if (!rowid_name) {
        resql__format(lg->errmsg, "resql: table \"%s\" has columns named rowid, _rowid_ and oid", t->name);
        return SQLITE_ERROR;
    }
    resql_buf sql;
    resql__buf_init(&sql);
    resql__buf_puts(&sql, "SELECT ");
    resql__buf_puts(&sql, rowid_name);
    resql__buf_puts(&sql, ", * FROM main.");
    resql__quote_ident(&sql, t->name);
    sqlite3_stmt *q = NULL;
    const char *text = resql__buf_cstr(&sql);
    int rc = text ? sqlite3_prepare_v2(lg->db, text, -1, &q, NULL) : SQLITE_NOMEM;
    resql__buf_free(&sql);
    if (rc != SQLITE_OK) return sql_fail(cl, rc, "reading the new table");

    resql__hub_enter(lg->hub);
    sqlite3_int64 rowid = sqlite3_last_insert_rowid(lg->db);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        pending_row row = {SQLITE_INSERT, t, 0, sqlite3_column_int64(q, 0), t->width, cl->nvalues};
        for (int i = 1; i <= t->width && rc == SQLITE_OK; i++)
            if (!add_value(cl, sqlite3_column_value(q, i))) rc = SQLITE_NOMEM;
        if (rc == SQLITE_OK && !grow((void **)&cl->rows, &cl->cap_rows, cl->nrows + 1, sizeof *cl->rows))
            rc = SQLITE_NOMEM;
        if (rc == SQLITE_OK) cl->rows[cl->nrows++] = row;
        if (rc == SQLITE_OK && cl->nrows >= 1000)            /* bounded memory */
            rc = step_once(cl, cl->drain, "writing the change log");
    }
    if (rc == SQLITE_DONE) rc = step_once(cl, cl->drain, "writing the change log");
    else if (rc == SQLITE_NOMEM) sql_fail(cl, rc, "capturing the new table");
    clear_pending(cl);
    sqlite3_finalize(q);
    sqlite3_set_last_insert_rowid(lg->db, rowid);
    resql__hub_leave(lg->hub);
    return rc;
}

static void on_stmt_end(void *self, sqlite3_stmt *stmt, sqlite3_int64 nanos)
{
    change_log *cl = self;
    if (cl->needs_refresh) refresh(cl);   /* a failure leaves needs_refresh set and the message */
    if (cl->txn_row_settled && is_rollback(stmt)) cl->txn_row_settled = 0;   /* may have undone it */
    settle_txn_row(cl, stmt);
    if (cl->ctas_table[0]) {
        if (!sqlite3_get_autocommit(cl->logger->db) && log_created_rows(cl, cl->ctas_table) != SQLITE_OK &&
            !cl->unlogged_table[0])
            /* Not logged: the commit must not go through. */
            snprintf(cl->unlogged_table, sizeof cl->unlogged_table, "%s", cl->ctas_table);
        cl->ctas_table[0] = '\0';
    }
}

/* ---- setup and teardown ---------------------------------------------------- */

static int kind_refresh(resql_logger *lg)
{
    return refresh(lg->impl) == SQLITE_OK ? RESQL_OK : RESQL_ERROR;
}

static void finalize_all(change_log *cl)
{
    sqlite3_finalize(cl->write_txn);
    sqlite3_finalize(cl->has_txn);
    sqlite3_finalize(cl->drain);
    sqlite3_finalize(cl->read_schema_version);
    cl->write_txn = cl->has_txn = cl->drain = cl->read_schema_version = NULL;
}

/* Undoes whatever setup did: triggers, function, statements, attachment. */
static int kind_close(resql_logger *lg, int idle)
{
    change_log *cl = lg->impl;
    char msg[RESQL_ERRMSG_MAX] = "";
    resql__hub_enter(lg->hub);
    int rc = resql__triggers_drop(lg->db, msg);
    if (cl->source) {
        cl->source->log = NULL;             /* from now on resql_pending is empty */
        if (idle && resql__pending_unregister(lg->db) != SQLITE_OK && rc == SQLITE_OK) {
            rc = SQLITE_ERROR;
            resql__format(msg, "resql: cannot remove the resql_pending table: %s", sqlite3_errmsg(lg->db));
        }
        cl->source = NULL;
    }
    finalize_all(cl);
    if (idle && strcmp(cl->log_db, LOG_ALIAS) == 0 &&
        sqlite3_exec(lg->db, "DETACH DATABASE " LOG_ALIAS, NULL, NULL, NULL) != SQLITE_OK &&
        rc == SQLITE_OK) {
        rc = SQLITE_ERROR;
        resql__format(msg, "resql: cannot detach the log database: %s", sqlite3_errmsg(lg->db));
    }
    resql__hub_leave(lg->hub);
    resql__schema_free(&cl->schema);
    clear_pending(cl);
    sqlite3_close(cl->scratch_db);
    cl->scratch_db = NULL;
    if (rc != SQLITE_OK) {
        resql__format(lg->errmsg, "%s", msg);
        return RESQL_ERROR;
    }
    return RESQL_OK;
}

static void kind_free(resql_logger *lg)
{
    change_log *cl = lg->impl;
    resql__names_free(&cl->include);
    resql__names_free(&cl->exclude);
    free(cl->rows);
    free(cl->values);
    resql__buf_free(&cl->bytes);
    resql__buf_free(&cl->txn_extra);
    resql__buf_free(&cl->record_id);
    resql__buf_free(&cl->prev_record_id);
    resql__buf_free(&cl->diff);
    resql__buf_free(&cl->scratch);
    free(cl);
    lg->impl = NULL;
}

static const resql_logger_kind change_log_kind = {
    "change log", RESQL_HUB_CHANGES, kind_refresh, kind_close, kind_free,
};

/* Prepares resql's own SQL on the logged connection; on failure the
 * logger's message says what it was for. */
static int prepare(change_log *cl, sqlite3_stmt **stmt, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int prepare(change_log *cl, sqlite3_stmt **stmt, const char *what, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    int rc = sqlite3_prepare_v3(cl->logger->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    return rc == SQLITE_OK ? rc : sql_fail(cl, rc, what);
}

/* Attaches `to` as LOG_ALIAS, refusing the logged database itself. */
static int attach_target(change_log *cl, const char *to)
{
    resql_logger *lg = cl->logger;
    sqlite3_stmt *q = NULL;
    /* A log database still attached by a change log freed inside a
     * transaction (resql_logger_free) is ours to let go of now. */
    if (sqlite3_prepare_v2(lg->db, "SELECT 1 FROM pragma_table_list WHERE schema = '" LOG_ALIAS
                           "' AND name = 'resql_meta'", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        sqlite3_finalize(q);
        q = NULL;
        sqlite3_exec(lg->db, "DETACH DATABASE " LOG_ALIAS, NULL, NULL, NULL);
    }
    sqlite3_finalize(q);
    q = NULL;
    int rc = sqlite3_prepare_v2(lg->db, "ATTACH DATABASE ?1 AS " LOG_ALIAS, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, to, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK) {
        resql__format(lg->errmsg, "resql: cannot open the log database \"%s\": %s", to,
                      sqlite3_errmsg(lg->db));
        return RESQL_CANTOPEN;
    }
    cl->log_db = LOG_ALIAS;                 /* attached: closing detaches it */
    if (resql__same_file(lg->db, lg->db, LOG_ALIAS)) {
        resql__format(lg->errmsg,
                      "resql: the log database \"%s\" is the logged database itself; "
                      "pass NULL as `to` to keep the log tables in it", to);
        return RESQL_MISUSE;
    }
    resql__copy_synchronous(lg->db, lg->db, LOG_ALIAS);    /* an attached database starts at FULL */
    return RESQL_OK;
}

/* The triggers name resql_changes and resql_pending without a schema
 * (SQLite allows none in a trigger's INSERT), so no schema searched before
 * the log's may have a resql_changes table, and none may have a table or
 * view called resql_pending, which would hide resql's virtual table. */
static int check_trigger_names_free(change_log *cl)
{
    resql_logger *lg = cl->logger;
    sqlite3_stmt *q = NULL;
    /* Unqualified names are looked up in temp, then main, then the attached
     * databases in the order they were attached (pragma_database_list's seq). */
    if (prepare(cl, &q, "checking the log tables",
        "SELECT t.schema, t.name FROM pragma_table_list t JOIN pragma_database_list d "
        "ON d.name = t.schema WHERE t.name = '" RESQL_PENDING_VTAB "' OR (t.name = 'resql_changes' "
        "AND t.schema <> ?1 AND (t.schema = 'temp' OR "
        "d.seq < (SELECT seq FROM pragma_database_list WHERE name = ?1)))"))
        return RESQL_ERROR;
    int rc = RESQL_OK;
    sqlite3_bind_text(q, 1, cl->log_db, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        resql__format(lg->errmsg, "resql: the \"%s\" database has a %s table of its own, which would "
                      "take resql's place in its triggers; log into it (to = NULL) or rename that table",
                      (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1));
        rc = RESQL_MISUSE;
    }
    sqlite3_finalize(q);
    return rc;
}

/* Every included table must exist: a typo would silently audit nothing. */
static int check_includes(change_log *cl)
{
    resql_logger *lg = cl->logger;
    sqlite3_stmt *q = NULL;
    if (prepare(cl, &q, "checking the included tables",
                "SELECT 1 FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
                "AND name = ?1 COLLATE NOCASE"))
        return RESQL_ERROR;
    int rc = RESQL_OK;
    for (int i = 0; rc == SQLITE_OK && i < cl->include.count; i++) {
        sqlite3_bind_text(q, 1, cl->include.items[i], -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_ROW) {
            resql__format(lg->errmsg, "resql: cannot audit table \"%s\": no such table in \"main\"",
                          cl->include.items[i]);
            rc = RESQL_MISUSE;
        }
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    return rc;
}

/* Everything that writes to a database: the log tables, the triggers. */
static int install(change_log *cl)
{
    resql_logger *lg = cl->logger;
    if (resql__log_tables_create(lg->db, cl->log_db, lg->errmsg) != SQLITE_OK)
        return strcmp(cl->log_db, LOG_ALIAS) == 0 ? RESQL_CANTOPEN : RESQL_ERROR;
    if (!(cl->source = malloc(sizeof *cl->source))) {
        sql_fail(cl, SQLITE_NOMEM, "setup");
        return RESQL_NOMEM;
    }
    cl->source->log = cl;
    unsigned char random[16];
    sqlite3_randomness(sizeof random, random);
    for (size_t i = 0; i < sizeof random; i++)
        snprintf(cl->source->token + 2 * i, 3, "%02x", random[i]);
    snprintf(cl->trigger_body, sizeof cl->trigger_body, DRAIN_SQL(""), cl->source->token);
    if (resql__pending_register(lg->db, cl->source) != SQLITE_OK) {
        cl->source = NULL;                  /* SQLite has freed it */
        sql_fail(cl, SQLITE_ERROR, "registering the resql_pending table");
        return RESQL_ERROR;
    }
    const char *what = "preparing the log statements";
    if (prepare(cl, &cl->write_txn, what,
                "INSERT OR IGNORE INTO \"%s\".resql_transactions(id, started_at, extra, outcome) "
                "VALUES (?1, ?2, ?3, 'commit')", cl->log_db) ||
        prepare(cl, &cl->has_txn, what, "SELECT 1 FROM \"%s\".resql_transactions WHERE id = ?1",
                cl->log_db) ||
        prepare(cl, &cl->drain, what, DRAIN_SQL("\"%s\"."), cl->log_db, cl->source->token) ||
        prepare(cl, &cl->read_schema_version, what, "PRAGMA main.schema_version")) {
        return RESQL_ERROR;
    }
    return refresh(cl) == SQLITE_OK ? RESQL_OK : RESQL_ERROR;
}

/* Attaches the target, then installs inside a transaction, so that a
 * failure leaves no log table or trigger behind. */
static int setup(change_log *cl, const char *to)
{
    resql_logger *lg = cl->logger;
    int rc;
    cl->log_db = "main";
    resql__hub_enter(lg->hub);                   /* none of this is the app's SQL */
    if ((to && (rc = attach_target(cl, to)) != RESQL_OK) || (rc = check_includes(cl)) != RESQL_OK ||
        (rc = check_trigger_names_free(cl)) != RESQL_OK) {
        resql__hub_leave(lg->hub);
        return rc;
    }
    /* IMMEDIATE: take the write lock first (waiting per the connection's busy
     * timeout), rather than fail to upgrade a read lock half-way through. */
    if (sqlite3_exec(lg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(cl, SQLITE_ERROR, "starting the setup");
        rc = RESQL_ERROR;
    } else {
        rc = install(cl);
        if (rc == RESQL_OK && sqlite3_exec(lg->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            sql_fail(cl, SQLITE_ERROR, "finishing the setup");
            rc = RESQL_ERROR;
        }
        if (rc != RESQL_OK) sqlite3_exec(lg->db, "ROLLBACK", NULL, NULL, NULL);
    }
    resql__hub_leave(lg->hub);
    cl->schema_touched_in_txn = 0;
    return rc;
}

/* Called by resql__logger_open, which has checked of, out and the state
 * of the connection. */
static int log_changes(sqlite3 *of, const char *to, const resql_options *opts, resql_logger **out)
{
    if (to && !*to)
        return resql__fail(RESQL_MISUSE, "resql: resql_log_changes: the target is an empty name "
                                         "(NULL keeps the log in the logged database)");
    resql_logger *lg = NULL;
    int rc = resql__logger_new(&change_log_kind, of, opts, &lg);
    if (rc != RESQL_OK) return rc;
    change_log *cl = calloc(1, sizeof *cl);
    if (!cl || (opts && (resql__names_copy(&cl->include, &opts->include) ||
                         resql__names_copy(&cl->exclude, &opts->exclude)))) {
        lg->impl = cl;
        resql_logger_free(lg);
        return resql__fail(RESQL_NOMEM, "resql: out of memory");
    }
    lg->impl = cl;
    cl->logger = lg;
    cl->filter.include = &cl->include;
    cl->filter.exclude = &cl->exclude;
    cl->filter.skip_log_tables = to == NULL;
    cl->layout = resql__preupdate_layout();

    resql_hub_client client = {cl, on_preupdate, on_commit, on_rollback, on_stmt_start, on_stmt_end};
    rc = resql__hub_attach(of, RESQL_HUB_CHANGES, &client, &lg->hub);
    if (rc != RESQL_OK) {
        resql_logger_free(lg);
        if (rc == RESQL_EXISTS)
            return resql__fail(rc, "resql: resql_log_changes: the connection already has a change log");
        return resql__fail(rc, "resql: out of memory");
    }
    if ((rc = setup(cl, to)) != RESQL_OK) {
        resql__fail(rc, "%s", lg->errmsg);
        resql_logger_free(lg);      /* undoes the attachment, triggers and hooks */
        return rc;
    }
    *out = lg;
    return RESQL_OK;
}

RESQL_API int resql_log_changes(sqlite3 *of, const char *to, const resql_options *opts,
                                resql_logger **out)
{
    return resql__logger_open(log_changes, "resql_log_changes", of, to, opts, out);
}
