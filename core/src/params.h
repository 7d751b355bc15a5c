/* A statement's bound parameters, for the query log.
 *
 * SQLite has no call that reads a bound value back. resql sees values two
 * ways: exactly, when they were bound through resql_bind_* (kept here in a
 * small cache keyed by statement); and from sqlite3_expanded_sql(), which is
 * exact for NULL, INTEGER and BLOB, cuts TEXT at its first NUL byte and
 * rounds REAL to 15 significant digits. A cached value is used only when it
 * prints as the expanded SQL does, so a value later re-bound directly with
 * sqlite3_bind_* is not reported from a stale cache (unless the two print
 * alike: REALs equal in 15 digits, TEXTs equal up to a NUL); one that cannot
 * be checked is not reported as exact. */
#ifndef RESQL_PARAMS_H
#define RESQL_PARAMS_H

#include <sqlite3.h>

#include "buf.h"
#include "value_json.h"

/* Turns recording of resql_bind_* values on for statements of db (a query
 * logger opened on it) or off again (it closed; its cached values go). */
void resql__params_watch(sqlite3 *db, int on);

/* Appends the parameters of `stmt` as JSON: `[]` or an array in index order
 * when no parameter is named, else an object keyed by parameter name (":a",
 * "@b", "$c", "?3" for unnamed ones). Sets *exact to 0 when some value may
 * not be exact (a REAL or TEXT seen only through the expanded SQL). */
void resql__params_json(sqlite3_stmt *stmt, resql_buf *out, int *exact);

#endif
