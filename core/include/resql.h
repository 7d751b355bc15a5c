/*
 * resql (said "rescue"): database auditing and recovery for SQLite.
 *
 * This is resql's only public header. It is C89-clean and its ABI is stable
 * within one RESQL_ABI_VERSION: handles are opaque, options go through an
 * opaque builder, and every function returns a result code.
 *
 * Conventions
 * -----------
 * - Fallible functions return an int result code, RESQL_OK (0) on success.
 *   Objects come back through an out-parameter, always the last argument.
 * - resql_errmsg() explains the last failure; callers decide on the code.
 * - Whatever comes out through `**out` belongs to the caller and has exactly
 *   one matching free function, named next to the function that made it.
 * - Callbacks take a `void *ctx` and an optional destructor for it, called
 *   once when resql no longer needs the context (even when setup fails).
 *
 * Hooks
 * -----
 * While a logger is open on a connection, resql owns that connection's
 * preupdate hook, commit hook, rollback hook and trace callback
 * (sqlite3_preupdate_hook, sqlite3_commit_hook, sqlite3_rollback_hook,
 * sqlite3_trace_v2). The application must not set them itself; closing the
 * last logger of a connection clears them again. resql also creates TEMP
 * triggers named "resql_*" and an eponymous virtual table "resql_pending"
 * on the connection, and removes them on close. Because SQLite allows no
 * schema name in a trigger's INSERT, the change log needs that no table or
 * view of the application is called resql_pending, and, when it logs into
 * another database, that neither temp nor main has a resql_changes table.
 *
 * Threads
 * -------
 * A logger may be used from any thread that may use its connection, under
 * the same rules as the connection (SQLite's serialized or multi-thread
 * mode). In serialized mode resql's calls take the connection's mutex, so
 * they wait for a statement running on another thread. The thread-local
 * error of resql_errmsg(NULL) is per thread.
 */
#ifndef RESQL_H
#define RESQL_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RESQL_BUILDING) && defined(__GNUC__)
#  define RESQL_API __attribute__((visibility("default")))
#else
#  define RESQL_API
#endif

/* ---- versions ----------------------------------------------------------- */

#define RESQL_VERSION        "0.1.0"
#define RESQL_VERSION_NUMBER 1000      /* major*1000000 + minor*1000 + patch */
#define RESQL_ABI_VERSION    1         /* the soname is libresql.so.<this> */

/* The version of the library that is running, e.g. "0.1.0". Compare with
 * RESQL_VERSION to detect a header/library mismatch. Never NULL, static. */
RESQL_API const char *resql_version(void);

/* RESQL_VERSION_NUMBER of the running library. */
RESQL_API int resql_version_number(void);

/* RESQL_ABI_VERSION of the running library: what a binding that loads the
 * library at run time (without the header) checks. */
RESQL_API int resql_abi_version(void);

/* ---- result codes ------------------------------------------------------- */

#define RESQL_OK        0   /* success */
#define RESQL_ERROR     1   /* generic failure, often an SQLite error; see resql_errmsg() */
#define RESQL_MISUSE    2   /* a bad argument: NULL pointer, closed handle, bad JSON, unknown name */
#define RESQL_NOMEM     3   /* out of memory */
#define RESQL_CANTOPEN  4   /* the log target cannot be opened or written */
#define RESQL_EXISTS    6   /* the connection already has a logger of that kind */

/* A logger: the change log (or, later, the query log) of one connection. */
typedef struct resql_logger resql_logger;

/* The message of the last failure.
 *
 * With a logger: the last failure of a call on that logger, or of the logging
 * it does inside the application's statements (a commit that resql refused,
 * a failing extra callback). With NULL: the last failure on the calling
 * thread of a call that has no logger to report to (resql_log_changes,
 * resql_log_queries, the options functions). Returns "not an error" when
 * there has been none. The string is owned by resql and valid until the next
 * failure reported to the same place. Never NULL. */
RESQL_API const char *resql_errmsg(const resql_logger *logger);

/* Why resql refused the last COMMIT of connection `db`: when a commit fails
 * with SQLITE_CONSTRAINT_COMMITHOOK, SQLite's own message is only
 * "constraint failed"; this gives resql's ("resql: commit refused: ...",
 * "resql: cannot write the query log ..."). NULL when resql did not refuse
 * the connection's last commit, or no logger is open on it. The string is
 * owned by resql and valid until the next commit on `db` or the close of
 * its last logger. */
RESQL_API const char *resql_commit_refusal(sqlite3 *db);

/* ---- options ------------------------------------------------------------ */

/* An opaque builder of logger options. Create with resql_options_new(),
 * configure, pass to resql_log_changes() (which copies what it needs, so the
 * options may be freed or reused right after), free with resql_options_free(). */
typedef struct resql_options resql_options;

/* Makes an empty options builder in *out (defaults: every table of "main",
 * no extra, the system clock). Free it with resql_options_free().
 * Returns RESQL_OK, RESQL_MISUSE (out is NULL) or RESQL_NOMEM. */
RESQL_API int resql_options_new(resql_options **out);

/* Frees an options builder and calls the destructors of the contexts it still
 * holds. NULL is a no-op. */
RESQL_API void resql_options_free(resql_options *opts);

/* Audits only the named table of "main" (call once per table). A name that
 * does not exist makes resql_log_changes() fail with RESQL_MISUSE. Without
 * any include, every table is audited. Names are copied.
 * Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_options_include_table(resql_options *opts, const char *table);

/* Never audits the named table (call once per table; names that do not exist
 * are allowed, so a table can be excluded before it is created).
 * Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_options_exclude_table(resql_options *opts, const char *table);

/* The clock: returns microseconds since 1970-01-01T00:00:00Z. It is called
 * inside the application's statements and must not call into resql (such a
 * call is refused with RESQL_MISUSE). */
typedef sqlite3_int64 (*resql_clock_fn)(void *ctx);

/* Replaces the system clock (for tests and for hosts with their own time).
 * `destroy`, if not NULL, is called with ctx when resql is done with it
 * (also when this call fails). Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_options_set_clock(resql_options *opts, resql_clock_fn clock,
                                      void *ctx, void (*destroy)(void *));

/* Static `extra`: a JSON object stored with every transaction, or NULL for
 * none. Anything but a JSON object (or NULL) is refused with RESQL_MISUSE and
 * changes nothing. The text is copied. Replaces an extra callback.
 * Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_options_set_extra_json(resql_options *opts, const char *json);

/* What an extra callback gives back (opaque, valid only during the call). */
typedef struct resql_extra_result resql_extra_result;

/* Called once per transaction, when it writes its first log row, to give that
 * transaction's `extra`. It runs inside the application's statement, so it
 * sees the caller's current context (the logged-in user, the request id). It
 * must answer with exactly one of resql_extra_json() or resql_extra_error(),
 * or neither for "no extra" (NULL). It must not close the connection or the
 * logger. It may read from the connection, but not write to it or end a
 * transaction or savepoint there, and not call into loggers of other
 * connections (it runs holding this connection's mutex). */
typedef void (*resql_extra_fn)(resql_extra_result *result, void *ctx);

/* Answers an extra callback with a JSON object (copied). Anything but a JSON
 * object makes the application's statement fail, as resql_extra_error does.
 * Returns RESQL_OK, or RESQL_MISUSE (a NULL argument; resql_errmsg(NULL)
 * says which, and the answer is unchanged). */
RESQL_API int resql_extra_json(resql_extra_result *result, const char *json);

/* Answers an extra callback with a failure: the application's statement
 * fails with "resql: extra callback failed: <message>" and nothing of it is
 * committed. Returns RESQL_OK, or RESQL_MISUSE (a NULL argument; see
 * resql_extra_json). */
RESQL_API int resql_extra_error(resql_extra_result *result, const char *message);

/* Dynamic `extra`: `fn` is called once per transaction (see resql_extra_fn).
 * `destroy`, if not NULL, is called with ctx when resql is done with it
 * (also when this call fails). Replaces a static extra.
 * Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_options_set_extra_callback(resql_options *opts, resql_extra_fn fn,
                                               void *ctx, void (*destroy)(void *));

/* Query log: also record read-only statements (SELECT, read-only PRAGMA,
 * EXPLAIN), which are left out by default. Returns RESQL_OK or RESQL_MISUSE. */
RESQL_API int resql_options_include_reads(resql_options *opts, int yes);

/* Query log: leave out rolled-back transactions (by default they are written
 * with outcome 'rollback'). Returns RESQL_OK or RESQL_MISUSE. */
RESQL_API int resql_options_drop_rollbacks(resql_options *opts, int yes);

/* Query log: how long to wait, in milliseconds, when another connection
 * holds the query-log database's write lock, before the application's
 * commit fails; 0 means do not wait (without this call: 5000).
 * Returns RESQL_OK or RESQL_MISUSE (negative). */
RESQL_API int resql_options_set_busy_timeout(resql_options *opts, int milliseconds);

/* ---- the change log ----------------------------------------------------- */

/* Starts the change log of connection `of`.
 *
 * `to` is NULL to keep the log tables in `of`'s own "main" database, or the
 * path or "file:" URI of another SQLite database, which resql creates if
 * needed and ATTACHes to `of` as "resql_log" so that log rows are written
 * inside the application's own transactions. The log tables and views are
 * created if missing (see README.md, "Log tables").
 *
 * From then on, every committed row change of an audited table has exactly
 * one log row, written by the same statement as the change: a rolled-back
 * transaction, a ROLLBACK TO, or a statement that fails half-way leaves no
 * log row. Tables created while logging are audited from their creation.
 * A change that resql cannot log makes the COMMIT fail (the transaction is
 * rolled back) and resql_errmsg(logger) says why.
 *
 * Must be called outside a transaction. `opts` may be NULL for defaults.
 * On success *out is a logger to close with resql_logger_close() and free
 * with resql_logger_free(). On failure *out is NULL, the connection is left
 * as it was, and resql_errmsg(NULL) says why.
 *
 * Returns RESQL_OK; RESQL_MISUSE (NULL of or out, an empty `to`, `to` being
 * the logged database itself, an open transaction, a call from a resql
 * callback, an included table that
 * does not exist, a table name resql's triggers need taken, see above);
 * RESQL_EXISTS (`of` already has a change logger);
 * RESQL_CANTOPEN (`to` cannot be opened or is not a database); RESQL_ERROR
 * or RESQL_NOMEM. */
RESQL_API int resql_log_changes(sqlite3 *of, const char *to, const resql_options *opts,
                                resql_logger **out);

/* Re-reads the schema of the logged connection: installs the triggers of
 * tables that were created by other connections and refreshes the column
 * lists. resql does this by itself after DDL run on the logged connection,
 * after a rollback, and at the start of each transaction that follows a
 * schema change; an application only needs it after another connection
 * created a table it is about to write. Must be called between statements,
 * not from an extra callback.
 * Returns RESQL_OK, RESQL_MISUSE (NULL, closed, from a callback) or RESQL_ERROR. */
RESQL_API int resql_logger_refresh(resql_logger *logger);

/* Changes the static extra, from the next transaction on (see
 * resql_options_set_extra_json). Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_logger_set_extra_json(resql_logger *logger, const char *json);

/* Changes the extra callback, from the next transaction on (see
 * resql_options_set_extra_callback). The old context's destructor is called.
 * On failure `destroy` is still called with ctx.
 * Returns RESQL_OK, RESQL_MISUSE or RESQL_NOMEM. */
RESQL_API int resql_logger_set_extra_callback(resql_logger *logger, resql_extra_fn fn,
                                              void *ctx, void (*destroy)(void *));

/* Stops logging and restores the connection exactly as it was: no hooks of
 * resql (when it was the connection's last logger), no TEMP triggers, SQL
 * functions, prepared statements or attached databases of resql's, so that
 * sqlite3_close() of the connection succeeds. Must be called with no
 * transaction open and no statement of the connection running (and not from
 * an extra callback), or RESQL_MISUSE is returned and nothing changes.
 * Closing a closed logger is a no-op that returns RESQL_OK. The logger stays
 * allocated (other calls on it then return RESQL_MISUSE) until
 * resql_logger_free(). Returns RESQL_OK, RESQL_MISUSE or RESQL_ERROR. */
RESQL_API int resql_logger_close(resql_logger *logger);

/* Closes the logger if it is open (ignoring failure; call resql_logger_close
 * first to see it) and frees it. NULL is a no-op. Inside a transaction, or
 * while a statement runs, what cannot be undone yet is made inert instead:
 * the change log's TEMP triggers are dropped, but a ROLLBACK brings them
 * back, so its resql_pending table stays registered and empty, and an
 * attached log database stays attached (until the connection closes, or
 * the next resql_log_changes into a file, which takes it over).
 * Must not be called from an extra callback: there it does nothing (the
 * logger is in use), and the logger stays allocated. Free (or close) every
 * logger of a connection before closing it: while one is open, resql keeps a
 * prepared statement there, so sqlite3_close() fails with SQLITE_BUSY (and
 * sqlite3_close_v2() would leave a logger whose connection is going away). */
RESQL_API void resql_logger_free(resql_logger *logger);

/* ---- the query log ------------------------------------------------------ */

/* Starts the query log of connection `of`: every top-level statement it runs
 * (not the statements of triggers), with its kind ("Insert", "Update",
 * "Create", "Begin", ...), dialect ("sqlite 3.40.1"), text with placeholders,
 * parameters as lossless JSON, start time, duration, rows changed, and its
 * transaction with that transaction's outcome ('commit' or 'rollback').
 *
 * `to` is the path or "file:" URI of the query-log database, created if
 * missing; it must not be the logged database itself (a recovery log kept
 * inside the database it is meant to recover is of no use). resql writes it
 * through a connection of its own: each statement's record as the statement
 * ends, and the transaction's outcome before the application's COMMIT
 * returns. If the query-log database cannot be written, the application's
 * COMMIT fails (SQLITE_CONSTRAINT_COMMITHOOK; resql_errmsg(logger) says why)
 * and nothing is committed unlogged. An autocommit statement is its own
 * transaction. Memory use does not grow with the size of a transaction.
 *
 * Parameters are exact for values bound with resql_bind_*(); values bound
 * with sqlite3_bind_*() are read back from sqlite3_expanded_sql(), where a
 * REAL has only 15 significant digits and a TEXT ends at its first NUL byte:
 * such records have parameters_exact = 0.
 *
 * Must be called outside a transaction; `opts` may be NULL (the table lists
 * are ignored). A connection has at most one query log. On success *out is
 * a logger for resql_logger_close() / resql_logger_free(); on failure *out is
 * NULL, nothing changed, and resql_errmsg(NULL) says why.
 * Returns RESQL_OK; RESQL_MISUSE (NULL of, to or out, an open transaction, a
 * call from a resql callback, a target that is the logged database); RESQL_EXISTS (`of` already has a query
 * log); RESQL_CANTOPEN (`to` cannot be opened or is not a database);
 * RESQL_ERROR or RESQL_NOMEM. */
RESQL_API int resql_log_queries(sqlite3 *of, const char *to, const resql_options *opts,
                                resql_logger **out);

/* Bind a parameter like sqlite3_bind_null/int64/double/text/blob (same
 * arguments, same result codes), and let the query log record the exact
 * value. Bindings made through them are remembered for the most recently
 * used statements of connections that have a query log. resql_bind_blob
 * refuses a negative size for a non-NULL blob with SQLITE_MISUSE (SQLite
 * leaves it undefined); resql_errmsg(NULL) says so. */
RESQL_API int resql_bind_null(sqlite3_stmt *stmt, int index);
RESQL_API int resql_bind_int64(sqlite3_stmt *stmt, int index, sqlite3_int64 value);
RESQL_API int resql_bind_double(sqlite3_stmt *stmt, int index, double value);
RESQL_API int resql_bind_text(sqlite3_stmt *stmt, int index, const char *text, int bytes,
                              void (*destroy)(void *));
RESQL_API int resql_bind_blob(sqlite3_stmt *stmt, int index, const void *blob, int bytes,
                              void (*destroy)(void *));

#ifdef __cplusplus
}
#endif

#endif /* RESQL_H */
