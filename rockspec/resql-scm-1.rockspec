-- Built from a checkout: luarocks make --deps-mode=none rockspec/resql-scm-1.rockspec
rockspec_format = "3.0"
package = "resql"
version = "scm-1"
source = {
  url = "git+file:///resql",     -- not fetched by `luarocks make`
}
description = {
  summary = "Database auditing and recovery for SQLite: change log, query log, recovery",
  detailed = [[
resql hooks a SQLite connection and logs every row change (with a JSON diff and
caller-supplied metadata) and every statement (with exact parameters), inside the
application's own transactions.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
external_dependencies = {
  SQLITE = { header = "sqlite3.h", library = "sqlite3" },
}
build = {
  type = "builtin",
  modules = {
    resql = "lua/resql.lua",
    ["resql.core"] = {
      sources = {
        "lua/core/callback.c",
        "lua/core/codec.c",
        "lua/core/connection.c",
        "lua/core/errors.c",
        "lua/core/logger.c",
        "lua/core/module.c",
        "lua/core/statement.c",
        "lua/core/values.c",
        "core/src/buf.c",
        "core/src/callback.c",
        "core/src/change_log.c",
        "core/src/clock.c",
        "core/src/error.c",
        "core/src/hub.c",
        "core/src/log_tables.c",
        "core/src/logger.c",
        "core/src/options.c",
        "core/src/params.c",
        "core/src/pending_vtab.c",
        "core/src/preupdate_layout.c",
        "core/src/query_log.c",
        "core/src/schema.c",
        "core/src/sql_text.c",
        "core/src/value_json.c",
        "core/src/version.c",
      },
      defines = { "SQLITE_ENABLE_PREUPDATE_HOOK", "_POSIX_C_SOURCE=200809L" },
      incdirs = { "core/include", "core/src", "lua", "lua/core", "$(SQLITE_INCDIR)" },
      libdirs = { "$(SQLITE_LIBDIR)" },
      libraries = { "sqlite3", "pthread", "m" },
    },
  },
}
test = {
  type = "busted",
}
