/* Build-time probe: the system SQLite must have the preupdate hook. */
#define SQLITE_ENABLE_PREUPDATE_HOOK
#include <sqlite3.h>

static void hook(void *a, sqlite3 *db, int op, const char *d, const char *t,
                 sqlite3_int64 k1, sqlite3_int64 k2)
{
    (void)a; (void)db; (void)op; (void)d; (void)t; (void)k1; (void)k2;
}

int main(void)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
    sqlite3_preupdate_hook(db, hook, 0);
    sqlite3_close(db);
    return sqlite3_libversion_number() >= 3035000 ? 0 : 2;
}
