#include <pthread.h>
#include <string.h>

#include "preupdate_layout.h"

static resql_layout layout;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The probe tables are (a, g VIRTUAL, k, v) with a = 'A', k = 'K': slot 1
 * holds 'K' when numbered by stored column, nothing when by position. */
static void on_probe(void *arg, sqlite3 *db, int op, const char *db_name, const char *table,
                     sqlite3_int64 key1, sqlite3_int64 key2)
{
    int without_rowid = strcmp(table, "w") == 0;
    if (strcmp(table, "d") == 0) {
        sqlite3_value *v = NULL;
        if (op == SQLITE_UPDATE && sqlite3_preupdate_old(db, 2, &v) == SQLITE_OK &&
            v == *(sqlite3_value **)arg)
            layout.missing = v;
        return;
    }
    for (int image = 0; image < RESQL_IMAGES; image++) {
        int wanted = image == RESQL_IMAGE_OLD ? op != SQLITE_INSERT
                   : image == RESQL_IMAGE_INSERT ? op == SQLITE_INSERT
                   : op == SQLITE_UPDATE;
        if (!wanted) continue;
        sqlite3_value *v = NULL;
        int rc = image == RESQL_IMAGE_OLD ? sqlite3_preupdate_old(db, 1, &v)
                                          : sqlite3_preupdate_new(db, 1, &v);
        const unsigned char *text = rc == SQLITE_OK ? sqlite3_value_text(v) : NULL;
        layout.by_position[without_rowid][image] = !(text && strcmp((const char *)text, "K") == 0);
    }
}

static void probe(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *unstepped = NULL;
    sqlite3_value *shared_null = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) goto done;
    /* sqlite3_column_value() of a statement with no row: SQLite's shared NULL. */
    if (sqlite3_prepare_v2(db, "SELECT 1", -1, &unstepped, NULL) == SQLITE_OK)
        shared_null = sqlite3_column_value(unstepped, 0);
    sqlite3_exec(db,
        "CREATE TABLE r(a, g AS (a) VIRTUAL, k, v);"
        "CREATE TABLE w(a, g AS (a) VIRTUAL, k PRIMARY KEY, v) WITHOUT ROWID;"
        "CREATE TABLE d(id INTEGER PRIMARY KEY, x);"
        "INSERT INTO d VALUES (1, 1);"
        "ALTER TABLE d ADD COLUMN y DEFAULT 7;", NULL, NULL, NULL);
    sqlite3_preupdate_hook(db, on_probe, &shared_null);
    sqlite3_exec(db,
        "INSERT INTO r VALUES ('A', 'K', 'V'); UPDATE r SET v = 'W';"
        "INSERT INTO w VALUES ('A', 'K', 'V'); UPDATE w SET v = 'W';"
        "UPDATE d SET x = 2;", NULL, NULL, NULL);
    sqlite3_preupdate_hook(db, NULL, NULL);
done:
    sqlite3_finalize(unstepped);
    sqlite3_close(db);
}

const resql_layout *resql__preupdate_layout(void)
{
    pthread_once(&once, probe);
    return &layout;
}
