/* The hook hub: SQLite gives a connection one preupdate hook, one commit
 * hook, one rollback hook and one trace callback. The hub owns them and
 * dispatches to the loggers registered on the connection, so a change logger
 * and a query logger can share a connection, and closing one leaves the
 * other undisturbed. Loggers never call sqlite3_*_hook themselves. */
#ifndef RESQL_HUB_H
#define RESQL_HUB_H

#include <sqlite3.h>

/* Slot order is call order: the query log, which records the outcome, last. */
enum { RESQL_HUB_CHANGES, RESQL_HUB_QUERIES, RESQL_HUB_SLOTS };

/* What a logger wants to hear. Any member may be NULL. */
typedef struct resql_hub_client {
    void *self;
    void (*preupdate)(void *self, int op, const char *db_name, const char *table,
                      sqlite3_int64 key1, sqlite3_int64 key2);
    int (*commit)(void *self, const char **why);   /* non-zero refuses the commit, saying why */
    void (*rollback)(void *self);
    /* A top-level statement starts or ends (not trigger programs, not resql's
     * own SQL). stmt_end may run SQL on the connection. */
    void (*stmt_start)(void *self, sqlite3_stmt *stmt);
    void (*stmt_end)(void *self, sqlite3_stmt *stmt, sqlite3_int64 nanos);
} resql_hub_client;

typedef struct resql_hub {
    sqlite3 *db;
    struct resql_hub *next;            /* the process-wide list of hubs */
    resql_hub_client clients[RESQL_HUB_SLOTS];
    int used[RESQL_HUB_SLOTS];
    int busy;                          /* > 0 while resql runs its own SQL */
    unsigned long stmt_serial;         /* statement starts and ends seen so far */
    char refusal[1024];                /* why the last commit was refused, or "" */
} resql_hub;

/* Registers `client` in `slot` of db's hub, making the hub (and taking the
 * hooks) if db has none. Returns RESQL_OK, RESQL_EXISTS (slot taken) or
 * RESQL_NOMEM. */
int resql__hub_attach(sqlite3 *db, int slot, const resql_hub_client *client, resql_hub **out);

/* Unregisters `slot`; the last one out clears the hooks and frees the hub. */
void resql__hub_detach(resql_hub *hub, int slot);

/* 1 while resql runs a callback or its own SQL on db's hub: a call that
 * would start a logger there must wait until it is over. */
int resql__hub_busy(sqlite3 *db);

/* Brackets resql's own SQL on the hub's connection: hooks ignore it. */
void resql__hub_enter(resql_hub *hub);
void resql__hub_leave(resql_hub *hub);

#endif
