/* A point-of-sale host application that keeps its data in SQLite and lets a
 * Lua configuration script decide what to audit.
 *
 *   host CONFIG.lua DATABASE
 *
 * The host owns its connection. It hands it to the script as `db` (the same
 * object resql.wrap makes, see resql_lua.h), with a `current_user()` function
 * that tells who is serving the current request. Then it serves a few
 * requests as different users. If the script fails, the host stops, unless
 * the script set `audit_optional = true` before failing: then it runs on
 * without auditing, and says so. */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>
#include <sqlite3.h>

#include "resql_lua.h"

static const char *serving = "nobody";

static int current_user(lua_State *L)
{
    lua_pushstring(L, serving);
    return 1;
}

/* Runs the configuration script; returns 1 if auditing is on. */
static int configure(lua_State *L, sqlite3 *db, const char *script)
{
    if (!resql_lua_push_connection(L, db)) {
        fprintf(stderr, "host: cannot load resql: %s\n", lua_tostring(L, -1));
        return -1;
    }
    lua_setglobal(L, "db");
    lua_pushcfunction(L, current_user);
    lua_setglobal(L, "current_user");
    if (luaL_dofile(L, script) == 0) return 1;
    fprintf(stderr, "host: audit configuration %s failed: %s\n", script, lua_tostring(L, -1));
    lua_getglobal(L, "audit_optional");
    int optional = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (!optional) return -1;
    fprintf(stderr, "host: the configuration allows running without auditing; continuing\n");
    return 0;
}

static void sell(sqlite3 *db, const char *user, const char *item, int qty)
{
    serving = user;
    char *sql = sqlite3_mprintf("BEGIN;"
                                "INSERT INTO sale(item, qty, clerk) VALUES (%Q, %d, %Q);"
                                "UPDATE stock SET qty = qty - %d WHERE item = %Q;"
                                "COMMIT;", item, qty, user, qty, item);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "host: sale failed: %s\n", err);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_free(err);
    }
    sqlite3_free(sql);
    printf("host: %s sold %d %s\n", user, qty, item);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: host CONFIG.lua DATABASE\n");
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open(argv[2], &db) != SQLITE_OK) return 1;
    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS stock(item TEXT PRIMARY KEY, qty INT);"
                     "CREATE TABLE IF NOT EXISTS sale(id INTEGER PRIMARY KEY, item, qty, clerk);"
                     "INSERT OR IGNORE INTO stock VALUES ('apple', 100), ('pear', 50);",
                 NULL, NULL, NULL);

    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    int audited = configure(L, db, argv[1]);
    if (audited < 0) {
        lua_close(L);
        sqlite3_close(db);
        return 1;
    }
    printf("host: auditing is %s\n", audited ? "on" : "off");

    sell(db, "ann", "apple", 3);
    sell(db, "bob", "pear", 2);
    sell(db, "ann", "pear", 1);

    lua_close(L);                       /* closes the script's loggers */
    int rc = sqlite3_close(db);         /* nothing of resql is left on the connection */
    printf("host: connection closed (%s)\n", rc == SQLITE_OK ? "clean" : sqlite3_errstr(rc));
    return rc == SQLITE_OK ? 0 : 1;
}
