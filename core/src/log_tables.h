/* The log tables, their views and the schema-version row (README.md,
 * "Log tables"), created in the target database. */
#ifndef RESQL_LOG_TABLES_H
#define RESQL_LOG_TABLES_H

#include <sqlite3.h>

#define RESQL_LOG_SCHEMA_VERSION 1

/* Creates whatever is missing in schema `db_name` of db ("main" or an
 * attached name) and checks the version. Returns SQLITE_OK or an error
 * code with the message in errmsg. */
int resql__log_tables_create(sqlite3 *db, const char *db_name, char *errmsg);

/* Gives the log database (schema `log_schema` of connection `log`) the
 * synchronous level of the application's main database: the log is exactly
 * as durable as the data it logs. (FULL on the log of an application that
 * runs NORMAL would cost an fsync per transaction and buy nothing: the
 * application's own commit may be lost the same way.) */
int resql__copy_synchronous(sqlite3 *app, sqlite3 *log, const char *log_schema);

/* 1 if schema `log_schema` of connection `log` is the file of app's "main"
 * (a log kept inside the database it logs; in-memory databases have no file). */
int resql__same_file(sqlite3 *app, sqlite3 *log, const char *log_schema);

/* 1 if `name` is one of resql's log tables. */
int resql__is_log_table(const char *name);

#endif
