/* What every logger has: its connection, hub slot, `extra`, clock, and the
 * message of its last failure. The kinds (change log, query log) keep their
 * own state behind `impl`. */
#ifndef RESQL_LOGGER_H
#define RESQL_LOGGER_H

#include "hub.h"
#include "internal.h"

typedef struct resql_logger_kind {
    const char *name;                          /* "change log" */
    int slot;                                  /* RESQL_HUB_* */
    int (*refresh)(resql_logger *logger);      /* may be NULL */
    /* Undoes everything but the hub slot. `idle`: the connection runs no
     * statement and no transaction, so everything can be undone; otherwise
     * make what must stay (a TEMP trigger a rollback may bring back) inert. */
    int (*close)(resql_logger *logger, int idle);
    void (*free)(resql_logger *logger);        /* free impl */
} resql_logger_kind;

struct resql_logger {
    const resql_logger_kind *kind;
    sqlite3 *db;
    resql_hub *hub;            /* NULL once closed */
    resql_extra extra;
    resql_callback *clock;
    void *impl;
    char errmsg[RESQL_ERRMSG_MAX];
};

/* Makes a logger of `kind` on db with the options' extra and clock (impl
 * still NULL, not yet in the hub). Sets the thread error on failure. */
int resql__logger_new(const resql_logger_kind *kind, sqlite3 *db, const resql_options *opts,
                      resql_logger **out);

/* Opens a logger (resql_log_changes, resql_log_queries, named `fn`) under
 * the connection's mutex, like every call on a logger. Checks what both
 * share (out and of not NULL, no transaction, not from a resql callback)
 * first; open_logger checks `to` and does the rest. */
typedef int (*resql_logger_open_fn)(sqlite3 *of, const char *to, const resql_options *opts,
                                    resql_logger **out);
int resql__logger_open(resql_logger_open_fn open_logger, const char *fn, sqlite3 *of,
                       const char *to, const resql_options *opts, resql_logger **out);

/* Checks a logger argument: returns RESQL_OK, or RESQL_MISUSE with the
 * message set (on the logger when there is one) for NULL or closed. */
int resql__logger_check(resql_logger *logger, const char *fn);

#endif
