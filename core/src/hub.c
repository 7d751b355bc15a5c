#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "hub.h"

static pthread_mutex_t hubs_lock = PTHREAD_MUTEX_INITIALIZER;
static resql_hub *hubs;

#define EACH_CLIENT(hub, i) for (int i = 0; i < RESQL_HUB_SLOTS; i++) if ((hub)->used[i])

static void on_preupdate(void *arg, sqlite3 *db, int op, const char *db_name, const char *table,
                         sqlite3_int64 key1, sqlite3_int64 key2)
{
    resql_hub *hub = arg;
    if (hub->busy) return;
    EACH_CLIENT(hub, i)
        if (hub->clients[i].preupdate)
            hub->clients[i].preupdate(hub->clients[i].self, op, db_name, table, key1, key2);
}

static int on_commit(void *arg)
{
    resql_hub *hub = arg;
    if (hub->busy) return 0;
    hub->refusal[0] = '\0';
    /* The first refusal ends it: SQLite rolls back, and the loggers not
     * asked yet hear of it through the rollback hook. The query log comes
     * last (slot order), so it never records "commit" for a refused one. */
    EACH_CLIENT(hub, i) {
        const char *why = NULL;
        if (hub->clients[i].commit && hub->clients[i].commit(hub->clients[i].self, &why)) {
            snprintf(hub->refusal, sizeof hub->refusal, "%s", why ? why : "resql: commit refused");
            return 1;
        }
    }
    return 0;
}

static void on_rollback(void *arg)
{
    resql_hub *hub = arg;
    if (hub->busy) return;
    EACH_CLIENT(hub, i)
        if (hub->clients[i].rollback) hub->clients[i].rollback(hub->clients[i].self);
}

static int on_trace(unsigned type, void *arg, void *p, void *x)
{
    resql_hub *hub = arg;
    sqlite3_stmt *stmt = p;
    if (hub->busy) return 0;
    if (type == SQLITE_TRACE_STMT) {
        /* A trigger program reports a "-- TRIGGER" comment as its text; only a
         * statement's own start reports the statement's text itself. */
        if ((const char *)x != sqlite3_sql(stmt)) return 0;
        hub->stmt_serial++;
        EACH_CLIENT(hub, i)
            if (hub->clients[i].stmt_start) hub->clients[i].stmt_start(hub->clients[i].self, stmt);
    } else if (type == SQLITE_TRACE_PROFILE) {
        sqlite3_int64 nanos = *(sqlite3_int64 *)x;
        /* Also a boundary: a statement that ends (even one nested in the
         * app's SQL function) may have rolled back what resql wrote. */
        hub->stmt_serial++;
        EACH_CLIENT(hub, i)
            if (hub->clients[i].stmt_end) hub->clients[i].stmt_end(hub->clients[i].self, stmt, nanos);
    }
    return 0;
}

static void set_hooks(resql_hub *hub, int on)
{
    sqlite3_preupdate_hook(hub->db, on ? on_preupdate : NULL, on ? hub : NULL);
    sqlite3_commit_hook(hub->db, on ? on_commit : NULL, on ? hub : NULL);
    sqlite3_rollback_hook(hub->db, on ? on_rollback : NULL, on ? hub : NULL);
    sqlite3_trace_v2(hub->db, on ? SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE : 0,
                     on ? on_trace : NULL, on ? hub : NULL);
}

int resql__hub_attach(sqlite3 *db, int slot, const resql_hub_client *client, resql_hub **out)
{
    int rc = RESQL_OK;
    pthread_mutex_lock(&hubs_lock);
    resql_hub *hub = hubs;
    while (hub && hub->db != db) hub = hub->next;
    if (!hub) {
        if (!(hub = calloc(1, sizeof *hub))) {
            rc = RESQL_NOMEM;
            goto done;
        }
        hub->db = db;
        hub->next = hubs;
        hubs = hub;
        set_hooks(hub, 1);
    } else if (hub->used[slot]) {
        rc = RESQL_EXISTS;
        goto done;
    }
    hub->clients[slot] = *client;
    hub->used[slot] = 1;
    *out = hub;
done:
    pthread_mutex_unlock(&hubs_lock);
    return rc;
}

void resql__hub_detach(resql_hub *hub, int slot)
{
    pthread_mutex_lock(&hubs_lock);
    hub->used[slot] = 0;
    int any = 0;
    EACH_CLIENT(hub, i) any = 1;
    if (!any) {
        set_hooks(hub, 0);
        resql_hub **link = &hubs;
        while (*link != hub) link = &(*link)->next;
        *link = hub->next;
        free(hub);
    }
    pthread_mutex_unlock(&hubs_lock);
}

int resql__hub_busy(sqlite3 *db)
{
    int busy = 0;
    pthread_mutex_lock(&hubs_lock);
    for (resql_hub *hub = hubs; hub; hub = hub->next)
        if (hub->db == db) busy = hub->busy > 0;
    pthread_mutex_unlock(&hubs_lock);
    return busy;
}

void resql__hub_enter(resql_hub *hub) { hub->busy++; }

void resql__hub_leave(resql_hub *hub) { hub->busy--; }

RESQL_API const char *resql_commit_refusal(sqlite3 *db)
{
    const char *why = NULL;
    pthread_mutex_lock(&hubs_lock);
    for (resql_hub *hub = hubs; hub; hub = hub->next)
        if (hub->db == db && hub->refusal[0]) why = hub->refusal;
    pthread_mutex_unlock(&hubs_lock);
    return why;
}
