/* resql_pending: an eponymous virtual table over a change log's captured
 * rows (see pending.h). Reading it drains them. */
#include <stdlib.h>
#include <string.h>

#include "pending.h"

typedef struct pending_cursor {
    sqlite3_vtab_cursor base;
    struct change_log *log;     /* while draining */
    int eof;
    sqlite3_int64 rowid;
    resql_log_row row;
} pending_cursor;

/* Each trigger opens and closes a cursor per row change: one is kept for
 * reuse, so that costs no malloc. */
typedef struct pending_vtab {
    sqlite3_vtab base;
    resql_pending_source *source;
    pending_cursor spare;
    int spare_in_use;
} pending_vtab;

enum { COL_TXN, COL_TIME, COL_TABLE, COL_RECORD, COL_PREV, COL_KIND, COL_DIFF, COL_TOKEN };

static int pending_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **out, char **err)
{
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(txn_id, changed_at, table_name, record_id, "
                                      "prev_record_id, kind, diff, token HIDDEN)");
    if (rc != SQLITE_OK) return rc;
    pending_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->source = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int pending_disconnect(sqlite3_vtab *vtab)
{
    sqlite3_free(vtab);
    return SQLITE_OK;
}

/* The token, resql_pending('<token>'), is an equality on the hidden column. */
static int pending_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn == COL_TOKEN && c->op == SQLITE_INDEX_CONSTRAINT_EQ && c->usable) {
            info->aConstraintUsage[i].argvIndex = 1;
            info->aConstraintUsage[i].omit = 1;
            info->idxNum = 1;
        }
    }
    info->estimatedCost = 1;
    info->estimatedRows = 1;
    return SQLITE_OK;
}

static int pending_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out)
{
    pending_vtab *v = (pending_vtab *)vtab;
    pending_cursor *c = v->spare_in_use ? sqlite3_malloc(sizeof *c) : &v->spare;
    if (!c) return SQLITE_NOMEM;
    if (c == &v->spare) v->spare_in_use = 1;
    memset(c, 0, sizeof *c);
    c->eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

static void end_drain(pending_cursor *c)
{
    if (c->log) resql__pending_end(c->log);
    c->log = NULL;
    c->eof = 1;
}

static int pending_close(sqlite3_vtab_cursor *cursor)
{
    pending_vtab *v = (pending_vtab *)cursor->pVtab;
    end_drain((pending_cursor *)cursor);
    if (cursor == &v->spare.base) v->spare_in_use = 0;
    else sqlite3_free(cursor);
    return SQLITE_OK;
}

static int fail(pending_cursor *c, int rc, const char *errmsg)
{
    sqlite3_vtab *vtab = c->base.pVtab;
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = sqlite3_mprintf("%s", errmsg ? errmsg : "resql: cannot write the change log");
    end_drain(c);
    return rc;
}

static int advance(pending_cursor *c)
{
    const char *errmsg = NULL;
    int rc = resql__pending_next(c->log, &c->row, &errmsg);
    if (rc == SQLITE_ROW) {
        c->rowid++;
        return SQLITE_OK;
    }
    if (rc == SQLITE_DONE) {
        end_drain(c);
        return SQLITE_OK;
    }
    return fail(c, rc, errmsg);
}

static int pending_filter(sqlite3_vtab_cursor *cursor, int idx, const char *idx_str, int argc,
                          sqlite3_value **argv)
{
    pending_cursor *c = (pending_cursor *)cursor;
    end_drain(c);
    const resql_pending_source *source = ((pending_vtab *)cursor->pVtab)->source;
    const unsigned char *token = idx == 1 && argc == 1 ? sqlite3_value_text(argv[0]) : NULL;
    if (!source->log || !token || strcmp((const char *)token, source->token) != 0)
        return SQLITE_OK;                           /* not resql's read, or the log is gone: no rows */
    const char *errmsg = NULL;
    int rc = resql__pending_begin(source->log, &errmsg);
    if (rc == SQLITE_DONE) return SQLITE_OK;        /* another cursor is draining */
    if (rc != SQLITE_OK) return fail(c, rc, errmsg);
    struct change_log *log = source->log;
    c->log = log;
    c->eof = 0;
    c->rowid = 0;
    return advance(c);
}

static int pending_next(sqlite3_vtab_cursor *cursor)
{
    return advance((pending_cursor *)cursor);
}

static int pending_eof(sqlite3_vtab_cursor *cursor)
{
    return ((pending_cursor *)cursor)->eof;
}

static int pending_column(sqlite3_vtab_cursor *cursor, sqlite3_context *ctx, int col)
{
    const resql_log_row *r = &((pending_cursor *)cursor)->row;
    switch (col) {
    case COL_TXN: sqlite3_result_int64(ctx, r->txn_id); break;
    case COL_TIME: sqlite3_result_text(ctx, r->changed_at, -1, SQLITE_TRANSIENT); break;
    case COL_TABLE: sqlite3_result_text(ctx, r->table_name, -1, SQLITE_TRANSIENT); break;
    case COL_RECORD: sqlite3_result_text(ctx, r->record_id, (int)r->record_id_len, SQLITE_TRANSIENT); break;
    case COL_PREV:
        if (r->prev_record_id)
            sqlite3_result_text(ctx, r->prev_record_id, (int)r->prev_record_id_len, SQLITE_TRANSIENT);
        break;
    case COL_KIND: sqlite3_result_text(ctx, r->kind, -1, SQLITE_STATIC); break;
    case COL_DIFF: sqlite3_result_text(ctx, r->diff, (int)r->diff_len, SQLITE_TRANSIENT); break;
    default: break;                                 /* the token: not given back */
    }
    return SQLITE_OK;
}

static int pending_rowid(sqlite3_vtab_cursor *cursor, sqlite3_int64 *rowid)
{
    *rowid = ((pending_cursor *)cursor)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module pending_module = {
    0,                      /* iVersion */
    NULL,                   /* xCreate: NULL makes it eponymous-only */
    pending_connect,
    pending_best_index,
    pending_disconnect,
    NULL,                   /* xDestroy */
    pending_open,
    pending_close,
    pending_filter,
    pending_next,
    pending_eof,
    pending_column,
    pending_rowid,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

int resql__pending_register(sqlite3 *db, resql_pending_source *source)
{
    return sqlite3_create_module_v2(db, RESQL_PENDING_VTAB, &pending_module, source, free);
}

int resql__pending_unregister(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, RESQL_PENDING_VTAB, NULL, NULL, NULL);
}
