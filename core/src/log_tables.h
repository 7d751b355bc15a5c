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

/* 1 if `name` is one of resql's log tables. */
int resql__is_log_table(const char *name);

#endif
