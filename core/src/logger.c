/* The calls common to every kind of logger. */
#include <stdlib.h>
#include <string.h>

#include "logger.h"

static const resql_options no_options;

int resql__logger_new(const resql_logger_kind *kind, sqlite3 *db, const resql_options *opts,
                      resql_logger **out)
{
    if (!opts) opts = &no_options;
    resql_logger *logger = calloc(1, sizeof *logger);
    if (!logger || resql__extra_copy(&logger->extra, &opts->extra) != RESQL_OK) {
        free(logger);
        return resql__fail(RESQL_NOMEM, "resql: out of memory");
    }
    logger->kind = kind;
    logger->db = db;
    logger->clock = resql__callback_ref(opts->clock);
    *out = logger;
    return RESQL_OK;
}

/* The connection's mutex, entered: its hooks run under it, so a logger may
 * be called from another thread than the one using its connection. NULL
 * (and entering it a no-op) for a closed logger, or without SQLite mutexes. */
static sqlite3_mutex *lock_connection(resql_logger *logger)
{
    sqlite3_mutex *m = logger && logger->hub ? sqlite3_db_mutex(logger->db) : NULL;
    sqlite3_mutex_enter(m);
    return m;
}

int resql__logger_open(resql_logger_open_fn open_logger, const char *fn, sqlite3 *of,
                       const char *to, const resql_options *opts, resql_logger **out)
{
    if (!out) return resql__fail(RESQL_MISUSE, "resql: %s: out is NULL", fn);
    *out = NULL;
    if (!of) return resql__fail(RESQL_MISUSE, "resql: %s: the connection is NULL", fn);
    sqlite3_mutex *m = sqlite3_db_mutex(of);
    sqlite3_mutex_enter(m);
    int rc;
    /* From a clock or extra callback the connection is inside a statement
     * that resql is logging: a logger started there would be torn down
     * under it. */
    if (resql__hub_busy(of))
        rc = resql__fail(RESQL_MISUSE, "resql: %s: cannot be called from inside a resql callback", fn);
    else if (!sqlite3_get_autocommit(of))
        rc = resql__fail(RESQL_MISUSE, "resql: %s: a transaction is open; start logging outside it", fn);
    else
        rc = open_logger(of, to, opts, out);
    sqlite3_mutex_leave(m);
    return rc;
}

int resql__logger_check(resql_logger *logger, const char *fn)
{
    if (!logger) return resql__fail(RESQL_MISUSE, "resql: %s: logger is NULL", fn);
    if (!logger->hub) {
        resql__format(logger->errmsg, "resql: %s: the %s is closed", fn, logger->kind->name);
        return RESQL_MISUSE;
    }
    if (logger->hub->busy) {
        resql__format(logger->errmsg, "resql: %s: cannot be called from inside a resql callback", fn);
        return RESQL_MISUSE;
    }
    return RESQL_OK;
}

/* No transaction and no statement running: only then can everything resql
 * did to the connection be undone (a function in use cannot be dropped, an
 * attached database cannot be detached inside a transaction). */
static int connection_idle(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db)) return 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s))
        if (sqlite3_stmt_busy(s)) return 0;
    return 1;
}

static int close_now(resql_logger *logger, int idle)
{
    int rc = logger->kind->close(logger, idle);
    resql__hub_detach(logger->hub, logger->kind->slot);
    logger->hub = NULL;
    return rc;
}

RESQL_API const char *resql_errmsg(const resql_logger *logger)
{
    if (!logger) return resql__thread_error();
    return logger->errmsg[0] ? logger->errmsg : "not an error";
}

RESQL_API int resql_logger_refresh(resql_logger *logger)
{
    sqlite3_mutex *m = lock_connection(logger);
    int rc = resql__logger_check(logger, "resql_logger_refresh");
    if (rc == RESQL_OK && logger->kind->refresh) rc = logger->kind->refresh(logger);
    sqlite3_mutex_leave(m);
    return rc;
}

RESQL_API int resql_logger_set_extra_json(resql_logger *logger, const char *json)
{
    sqlite3_mutex *m = lock_connection(logger);
    int rc = resql__logger_check(logger, "resql_logger_set_extra_json");
    if (rc == RESQL_OK && (rc = resql__extra_set(&logger->extra, json, NULL, NULL, NULL)) != RESQL_OK)
        resql__format(logger->errmsg, "%s", resql__thread_error());
    sqlite3_mutex_leave(m);
    return rc;
}

RESQL_API int resql_logger_set_extra_callback(resql_logger *logger, resql_extra_fn fn, void *ctx,
                                              void (*destroy)(void *))
{
    sqlite3_mutex *m = lock_connection(logger);
    int rc = resql__logger_check(logger, "resql_logger_set_extra_callback");
    if (rc == RESQL_OK && !fn) {
        resql__format(logger->errmsg, "resql: resql_logger_set_extra_callback: fn is NULL");
        rc = RESQL_MISUSE;
    }
    if (rc != RESQL_OK) {
        sqlite3_mutex_leave(m);
        if (destroy) destroy(ctx);
        return rc;
    }
    if ((rc = resql__extra_set(&logger->extra, NULL, fn, ctx, destroy)) != RESQL_OK)
        resql__format(logger->errmsg, "%s", resql__thread_error());
    sqlite3_mutex_leave(m);
    return rc;
}

RESQL_API int resql_logger_close(resql_logger *logger)
{
    if (!logger) return resql__fail(RESQL_MISUSE, "resql: resql_logger_close: logger is NULL");
    if (!logger->hub) return RESQL_OK;
    sqlite3_mutex *m = lock_connection(logger);
    int rc = resql__logger_check(logger, "resql_logger_close");
    if (rc == RESQL_OK && !connection_idle(logger->db)) {
        resql__format(logger->errmsg, "resql: resql_logger_close: a transaction is open or a "
                                      "statement is running; finish it first");
        rc = RESQL_MISUSE;
    }
    if (rc == RESQL_OK) rc = close_now(logger, 1);
    sqlite3_mutex_leave(m);
    return rc;
}

RESQL_API void resql_logger_free(resql_logger *logger)
{
    if (!logger) return;
    if (logger->hub) {
        sqlite3_mutex *m = lock_connection(logger);
        /* From inside resql's own callback the logger is in use: freeing it
         * would pull it from under the running flush. Misuse; leak rather
         * than crash. */
        int in_use = logger->hub && logger->hub->busy;      /* closed meanwhile? */
        if (!in_use && logger->hub) close_now(logger, connection_idle(logger->db));
        sqlite3_mutex_leave(m);
        if (in_use) return;
    }
    if (logger->impl) logger->kind->free(logger);
    resql__extra_free(&logger->extra);
    resql__callback_unref(logger->clock);
    free(logger);
}
