-- resql demo (Lua): a small shop database, a few changes made by different
-- users (one transaction rolled back), then the change log and the query
-- log they leave. Run with `make demo`.
local resql = require "resql"

local function run(db, sql, ...)
  print("  " .. sql)
  local ok, message = db:exec(sql, ...)
  if not ok then print("    -> error: " .. message) end
end

os.remove("demo.db"); os.remove("demo-audit.db"); os.remove("demo-queries.db")
local db = assert(resql.open("demo.db"))
run(db, "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INT)")

-- Who is logged in, as the application knows it.
local current_user = "alice"
local function who() return { user = current_user, app = "demo" } end

local changes = resql.log_changes{ of = db, to = "demo-audit.db", extra = who }
local queries = resql.log_queries{ of = db, to = "demo-queries.db", extra = who }
print(("resql %s on SQLite %s: changes into demo-audit.db, statements into demo-queries.db\n")
      :format(resql.version, resql.sqlite_version))

run(db, "INSERT INTO person(name, age) VALUES (?, ?), (?, ?)", "Ada", 36, "Linus", 21)
current_user = "bob"
run(db, "UPDATE person SET age = age + 1 WHERE name = :name", { name = "Ada" })
local ok, err = pcall(db.transaction, db, function()
  run(db, "DELETE FROM person")
  error("changed my mind")
end)
print("  -- transaction rolled back: " .. tostring(err))
run(db, "ALTER TABLE person ADD COLUMN score REAL")
current_user = "carol"
run(db, "UPDATE person SET score = ? WHERE name = ?", 0.1 + 0.2, "Linus")
run(db, "DELETE FROM person WHERE name = ?", "Ada")

changes:close(); queries:close(); db:close()

local function show(value)
  if math.type and math.type(value) == "float" then return ("%.17g"):format(value) end
  if type(value) ~= "table" then return tostring(value) end
  local parts = {}
  for k, v in pairs(value) do
    if k ~= "n" then parts[#parts + 1] = tostring(k) .. "=" .. show(v) end
  end
  table.sort(parts)
  return "{" .. table.concat(parts, " ") .. "}"
end

print("\nThe change log (the rolled-back DELETE is not in it):\n")
print(("%-3s %-7s %-7s %-4s %-6s %s"):format("id", "type", "table", "key", "user", "diff"))
for c in resql.changes("demo-audit.db") do
  print(("%-3d %-7s %-7s %-4s %-6s %s"):format(c.id, c.type, c.table_name, show(c.record_id),
                                             c.extra.user, show(c.diff)))
end

print("\nThe query log (reads are left out; the rolled-back transaction is marked):\n")
print(("%-3s %-3s %-8s %-8s %-6s %-26s %s"):format("id", "txn", "kind", "outcome", "user", "parameters",
                                                 "statement"))
for q in resql.queries("demo-queries.db") do
  print(("%-3d %-3d %-8s %-8s %-6s %-26s %s"):format(q.id, q.txn_id, q.kind, q.outcome, q.extra.user,
                                                   show(q.parameters), q.statement))
end
