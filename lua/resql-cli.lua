-- resql: the command-line tool. Reads the logs that resql writes.
--
--   resql changes LOG.db [table=NAME] [record_id=JSON] [txn=N] [since=TIME] [until=TIME]
--   resql queries LOG.db [txn=N] [since=TIME] [until=TIME]
--   resql version
--
-- Each record is printed as one line of JSON (resql's lossless value JSON
-- for diffs, keys and parameters).
local resql = require "resql"

local function usage(message)
  io.stderr:write("resql: ", message, "\n",
    "usage: resql changes LOG.db [table=NAME] [record_id=JSON] [txn=N] [since=TIME] [until=TIME]\n",
    "       resql queries LOG.db [txn=N] [since=TIME] [until=TIME]\n",
    "       resql version\n")
  os.exit(2)
end

local command, path = arg[1], arg[2]
if command == "version" then
  print(("resql %s (SQLite %s)"):format(resql.version, resql.sqlite_version))
  os.exit(0)
end
if command ~= "changes" and command ~= "queries" then usage("unknown command " .. tostring(command)) end
if not path then usage("no log database given") end

local filter = {}
for i = 3, #arg do
  local key, value = arg[i]:match("^([%w_]+)=(.*)$")
  if not key then usage("not a filter: " .. arg[i]) end
  if key == "record_id" then
    local ok, decoded = pcall(resql.decode, value)
    if not ok then usage("record_id must be JSON: " .. value) end
    value = decoded
  elseif key == "txn" then value = tonumber(value) or usage("txn must be a number: " .. value) end
  filter[key] = value
end

-- Logged JSON columns are printed as logged; the others are encoded with
-- resql's own lossless encoder.
local db, message = resql.open(path, { readonly = true })
if not db then
  io.stderr:write("resql: ", path, ": ", message, "\n")
  os.exit(1)
end
local view = command == "changes" and "resql_change_log" or "resql_query_log"
local json_columns = { diff = true, record_id = true, prev_record_id = true, extra = true, parameters = true }
local ok, err = pcall(function()
  local probe = assert(db:prepare("SELECT * FROM " .. view .. " LIMIT 0"))
  local columns = probe:columns()
  probe:finalize()
  for record in (command == "changes" and resql.changes or resql.queries)(db, filter) do
    local row = db:first("SELECT * FROM " .. view .. " WHERE id = ?", record.id)
    local parts = {}
    for _, name in ipairs(columns) do
      local value = row[name]
      if value == nil then value = "null"
      elseif json_columns[name] then value = tostring(value)
      else value = resql.encode(value) end
      parts[#parts + 1] = resql.encode(name) .. ":" .. value
    end
    print("{" .. table.concat(parts, ",") .. "}")
  end
end)
db:close()
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
