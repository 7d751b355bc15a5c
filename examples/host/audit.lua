-- The host's audit configuration. The host gives us `db` (its connection)
-- and `current_user()`; we decide what to audit and with what metadata.
local resql = require "resql"

audit_log = resql.log_changes{
  of = db,
  to = os.getenv("AUDIT_DB") or "audit.db",
  tables = { "sale", "stock" },
  extra = function() return { user = current_user(), host = "pos-1" } end,
}
