-- The same mistake, but this configuration lets the host run without auditing.
audit_optional = true
local resql = require "resql"
audit_log = resql.log_changes{ of = db, to = os.getenv("AUDIT_DB") or "audit.db", tables = { "refunds" } }
