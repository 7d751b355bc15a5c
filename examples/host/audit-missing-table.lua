-- A configuration that asks for a table that does not exist: the host stops.
local resql = require "resql"
audit_log = resql.log_changes{ of = db, to = os.getenv("AUDIT_DB") or "audit.db", tables = { "refunds" } }
