#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_tables.h"
#include "schema.h"

/* resql's triggers are "resql_trigger_<n>_<i|u|d>" so they can be found again. */
#define TRIGGER_PREFIX "resql_trigger_"

int resql__table_wanted(const resql_table_filter *filter, const char *name)
{
    if (sqlite3_strnicmp(name, "sqlite_", 7) == 0) return 0;
    if (filter->skip_log_tables && resql__is_log_table(name)) return 0;
    if (filter->include->count && !resql__names_has(filter->include, name)) return 0;
    return !resql__names_has(filter->exclude, name);
}

static int fail(sqlite3 *db, int rc, char *errmsg, const char *what)
{
    resql__format(errmsg, "resql: %s: %s", what, sqlite3_errmsg(db));
    return rc;
}

int resql__column_set_default(resql_column *col, sqlite3_value *v)
{
    resql_value *d = &col->default_value;
    free((void *)d->bytes);
    memset(d, 0, sizeof *d);
    resql_value value;
    resql__value_of(v, &value);
    *d = value;
    d->bytes = NULL;
    if (value.type == SQLITE_TEXT || value.type == SQLITE_BLOB) {
        unsigned char *copy = malloc(value.n ? value.n : 1);
        if (!copy) {
            d->type = SQLITE_NULL;
            d->n = 0;
            return SQLITE_NOMEM;
        }
        memcpy(copy, value.bytes, value.n);
        d->bytes = copy;
    }
    col->default_known = 1;
    return SQLITE_OK;
}

static void columns_free(resql_column *cols, int n)
{
    for (int i = 0; i < n; i++) {
        free((void *)cols[i].default_value.bytes);
        free(cols[i].name);
        free(cols[i].diff_key);
        free(cols[i].type);
        free(cols[i].default_sql);
    }
    free(cols);
}

static void table_free(resql_table *t)
{
    if (!t) return;
    columns_free(t->cols, t->ncols);
    free(t->pk);
    free(t->name);
    free(t);
}

static char *column_dup(sqlite3_stmt *q, int i)
{
    const char *text = (const char *)sqlite3_column_text(q, i);
    return text ? strdup(text) : NULL;
}

/* Encoded once per column rather than for every log row. */
static int set_diff_key(resql_column *c)
{
    resql_buf key;
    resql__buf_init(&key);
    resql__json_string(&key, c->name, strlen(c->name));
    resql__buf_puts(&key, ":{\"old\":");
    if (!resql__buf_cstr(&key)) {
        resql__buf_free(&key);
        return 0;
    }
    c->diff_key = key.data;
    c->diff_key_len = key.len;
    return 1;
}

/* Reads the columns of `t` with pragma table_xinfo: `hidden` is 2 for a
 * VIRTUAL generated column (not stored, so never captured) and 3 for a
 * STORED one (stored, but derived, so never diffed). */
int resql__table_reload(sqlite3 *db, resql_table *t, char *errmsg)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
        "SELECT x.cid, x.name, x.pk, x.hidden, x.type, x.dflt_value, "
        "       (SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1) "
        "FROM pragma_table_xinfo(?1, 'main') x ORDER BY x.cid",
        -1, &q, NULL);
    if (rc != SQLITE_OK) return fail(db, rc, errmsg, "reading the columns");
    sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);

    int ncols = 0, cap = 0, npk = 0, width = 0, without_rowid = 0;
    resql_column *cols = NULL;
    int *pk_of = NULL;       /* pk position (1-based) of each stored column */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        width++;
        without_rowid = sqlite3_column_int(q, 6);
        int hidden = sqlite3_column_int(q, 3);
        if (hidden == 2) continue;
        if (ncols == cap) {
            cap = cap ? cap * 2 : 16;
            resql_column *c = realloc(cols, (size_t)cap * sizeof *c);
            int *p = realloc(pk_of, (size_t)cap * sizeof *p);
            if (c) cols = c;
            if (p) pk_of = p;
            if (!c || !p) { rc = SQLITE_NOMEM; break; }
        }
        resql_column *c = &cols[ncols++];
        memset(c, 0, sizeof *c);
        c->position = sqlite3_column_int(q, 0);
        c->name = column_dup(q, 1);
        c->generated = hidden == 3;
        c->type = column_dup(q, 4);
        c->default_sql = column_dup(q, 5);
        pk_of[ncols - 1] = sqlite3_column_int(q, 2);
        if (pk_of[ncols - 1] > 0) npk++;
        if (!c->name || !c->type || !set_diff_key(c)) { rc = SQLITE_NOMEM; break; }
    }
    sqlite3_finalize(q);
    int *pk = npk ? malloc((size_t)npk * sizeof *pk) : NULL;
    if (rc != SQLITE_DONE || (npk && !pk)) {
        columns_free(cols, ncols);
        free(pk_of);
        free(pk);
        if (rc != SQLITE_NOMEM && rc != SQLITE_DONE) return fail(db, rc, errmsg, "reading the columns");
        resql__format(errmsg, "resql: out of memory");
        return SQLITE_NOMEM;
    }
    for (int i = 0; i < ncols; i++)
        if (pk_of[i] > 0 && pk_of[i] <= npk) pk[pk_of[i] - 1] = i;
    free(pk_of);

    columns_free(t->cols, t->ncols);
    free(t->pk);
    t->cols = cols;
    t->ncols = ncols;
    t->width = width;
    t->without_rowid = without_rowid;
    t->pk = pk;
    t->npk = npk;
    return SQLITE_OK;
}

int resql__schema_load(sqlite3 *db, const resql_table_filter *filter, resql_schema *out,
                       char *errmsg)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' ORDER BY name",
        -1, &q, NULL);
    if (rc != SQLITE_OK) return fail(db, rc, errmsg, "listing the tables");

    memset(out, 0, sizeof *out);
    int cap = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (!resql__table_wanted(filter, name)) continue;
        if (out->count == cap) {
            cap = cap ? cap * 2 : 16;
            resql_table **t = realloc(out->tables, (size_t)cap * sizeof *t);
            if (!t) { rc = SQLITE_NOMEM; break; }
            out->tables = t;
        }
        resql_table *t = calloc(1, sizeof *t);
        if (!t || !(t->name = strdup(name))) {
            free(t);
            rc = SQLITE_NOMEM;
            break;
        }
        out->tables[out->count++] = t;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        resql__schema_free(out);
        if (rc == SQLITE_NOMEM) {
            resql__format(errmsg, "resql: out of memory");
            return rc;
        }
        return fail(db, rc, errmsg, "listing the tables");
    }
    for (int i = 0; i < out->count; i++)
        if ((rc = resql__table_reload(db, out->tables[i], errmsg)) != SQLITE_OK) {
            resql__schema_free(out);
            return rc;
        }
    return SQLITE_OK;
}

resql_table *resql__schema_find(resql_schema *schema, const char *name)
{
    if (schema->last && strcmp(schema->last->name, name) == 0) return schema->last;
    for (int i = 0; i < schema->count; i++)
        if (sqlite3_stricmp(schema->tables[i]->name, name) == 0)
            return schema->last = schema->tables[i];
    return NULL;
}

void resql__schema_free(resql_schema *schema)
{
    for (int i = 0; i < schema->count; i++) table_free(schema->tables[i]);
    free(schema->tables);
    memset(schema, 0, sizeof *schema);
}

/* ---- triggers ----------------------------------------------------------------- */

static int run(sqlite3 *db, const char *sql, char *errmsg, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? rc : fail(db, rc, errmsg, what);
}

/* The table names that have resql triggers now, and the highest trigger number. */
static int existing_triggers(sqlite3 *db, resql_names *tables, long *max_seq, char *errmsg)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
        "SELECT tbl_name, CAST(substr(name, 15) AS INTEGER) FROM sqlite_temp_schema "
        "WHERE type = 'trigger' AND name GLOB '" TRIGGER_PREFIX "[0-9]*'", -1, &q, NULL);
    if (rc != SQLITE_OK) return fail(db, rc, errmsg, "listing the triggers");
    *max_seq = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        long seq = (long)sqlite3_column_int64(q, 1);
        if (seq > *max_seq) *max_seq = seq;
        if (!resql__names_has(tables, name) && resql__names_add(tables, name) != RESQL_OK) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE) return SQLITE_OK;
    return rc == SQLITE_NOMEM ? (resql__format(errmsg, "resql: out of memory"), rc)
                              : fail(db, rc, errmsg, "listing the triggers");
}

int resql__triggers_install(sqlite3 *db, const resql_schema *schema, const char *body,
                            char *errmsg)
{
    resql_names have = {NULL, 0};
    long seq = 0;
    int rc = existing_triggers(db, &have, &seq, errmsg);
    static const char *const events[][2] = {{"i", "INSERT"}, {"u", "UPDATE"}, {"d", "DELETE"}};
    resql_buf sql;
    resql__buf_init(&sql);
    for (int i = 0; rc == SQLITE_OK && i < schema->count; i++) {
        const char *table = schema->tables[i]->name;
        if (resql__names_has(&have, table)) continue;
        seq++;
        resql__buf_reset(&sql);
        for (int e = 0; e < 3; e++) {
            char name[64];
            snprintf(name, sizeof name, TRIGGER_PREFIX "%ld_%s", seq, events[e][0]);
            resql__buf_puts(&sql, "CREATE TEMP TRIGGER ");
            resql__buf_puts(&sql, name);
            resql__buf_puts(&sql, " AFTER ");
            resql__buf_puts(&sql, events[e][1]);
            resql__buf_puts(&sql, " ON main.");
            resql__quote_ident(&sql, table);
            resql__buf_puts(&sql, " BEGIN ");
            resql__buf_puts(&sql, body);
            resql__buf_puts(&sql, "; END;\n");
        }
        const char *text = resql__buf_cstr(&sql);
        if (!text) {
            resql__format(errmsg, "resql: out of memory");
            rc = SQLITE_NOMEM;
        } else {
            rc = run(db, text, errmsg, "creating the triggers");
        }
    }
    resql__buf_free(&sql);
    resql__names_free(&have);
    return rc;
}

int resql__triggers_drop(sqlite3 *db, char *errmsg)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
        "SELECT group_concat('DROP TRIGGER temp.\"' || replace(name, '\"', '\"\"') || '\"', ';') "
        "FROM sqlite_temp_schema "
        "WHERE type = 'trigger' AND name GLOB '" TRIGGER_PREFIX "[0-9]*'", -1, &q, NULL);
    if (rc != SQLITE_OK) return fail(db, rc, errmsg, "listing the triggers");
    char *drops = NULL;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        drops = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (drops) rc = run(db, drops, errmsg, "dropping the triggers");
    free(drops);
    return rc;
}
