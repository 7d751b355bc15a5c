-- resql: database auditing and recovery for SQLite, the Lua module.
-- The C half (resql.core) holds connections, statements and loggers; this
-- half is the friendly API. See lua/API.md.

local core = require "resql.core"

local resql = {
  version = core.version,
  sqlite_version = core.sqlite_version,
  blob = core.blob,
  encode = core.encode,
  decode = core.decode,
}

local db_methods, stmt_methods, logger_methods = core.db_methods, core.stmt_methods, core.logger_methods
local unpack = table.unpack or unpack

-- Misuse raises "resql: ..." (no position in front: messages start with "resql:").
local function misuse(fmt, ...)
  error("resql: " .. string.format(fmt, ...), 0)
end

-- A database failure where there is no way to return nil, message, code
-- (iterators): raised as "resql: message (code)".
local function failure(message, code)
  error("resql: " .. tostring(message) .. " (" .. tostring(code) .. ")", 0)
end

local function check_type(value, expected, what)
  if type(value) ~= expected then misuse("%s must be a %s, got %s", what, expected, type(value)) end
end

-- For the methods written in Lua, as the C ones do: `db.rows(sql)` (a dot
-- for a colon) raises "resql: 'rows' called on a string, not a connection".
local function check_self(self, what, method)
  if core.type(self) ~= what then misuse("'%s' called on a %s, not a %s", method, type(self), what) end
end

-- ---- connections ----------------------------------------------------------

function resql.open(path, options)
  check_type(path, "string", "open: the path")
  if options ~= nil then check_type(options, "table", "open: the options") end
  for key in pairs(options or {}) do
    if key ~= "readonly" then misuse("open: unknown option '%s'", tostring(key)) end
  end
  local readonly = options and options.readonly
  if readonly ~= nil then check_type(readonly, "boolean", "open: readonly") end
  return core.open(path, readonly)
end

resql.wrap = core.wrap

local function pack(...) return { n = select("#", ...), ... } end

-- Rows of a statement as an iterator. At the end, a statement of the
-- caller's is reset (ready to run again), one made for the iteration is
-- finalized. A database failure while iterating raises (an iterator has no
-- other way to report it).
local function iterate(stmt, as_values, ours)
  local done = false
  return function()
    if done then return nil end
    local row, message, code = stmt:step()
    if row then
      if as_values then return stmt:values() end
      return stmt:row()
    end
    done = true
    if ours then stmt:finalize() else stmt:reset() end
    if row == nil then failure(message, code) end
    return nil
  end
end

local function prepared(db, sql, ...)
  local stmt, message, code = db:prepare(sql)
  if not stmt then failure(message, code) end
  if select("#", ...) > 0 then stmt:bind(...) end
  return stmt
end

function stmt_methods:rows()
  check_self(self, "statement", "rows")
  return iterate(self, false, false)
end
function stmt_methods:urows()
  check_self(self, "statement", "urows")
  return iterate(self, true, false)
end

-- The statement is also the loop's closing value (Lua 5.4): leaving the loop
-- early with break finalizes it, rather than leaving it running.
function db_methods:rows(sql, ...)
  check_self(self, "connection", "rows")
  local stmt = prepared(self, sql, ...)
  return iterate(stmt, false, true), nil, nil, stmt
end
function db_methods:urows(sql, ...)
  check_self(self, "connection", "urows")
  local stmt = prepared(self, sql, ...)
  return iterate(stmt, true, true), nil, nil, stmt
end

function db_methods:first(sql, ...)
  check_self(self, "connection", "first")
  local stmt, message, code = self:prepare(sql)
  if not stmt then return nil, message, code end
  if select("#", ...) > 0 then
    local ok, err = pcall(stmt.bind, stmt, ...)
    if not ok then stmt:finalize(); error(err, 0) end
  end
  local row
  row, message, code = stmt:step()
  local result = row and stmt:row() or nil
  stmt:finalize()
  if row == nil then return nil, message, code end
  return result
end

-- BEGIN; fn(db, ...); COMMIT. On an error: ROLLBACK, and the error again.
function db_methods:transaction(fn, ...)
  check_self(self, "connection", "transaction")
  check_type(fn, "function", "transaction: the argument")
  local ok, message, code = self:exec("BEGIN")
  if not ok then return nil, message, code end
  local results = pack(pcall(fn, self, ...))
  if not results[1] then
    if self:is_open() and self:in_transaction() then self:exec("ROLLBACK") end
    error(results[2], 0)
  end
  ok, message, code = self:exec("COMMIT")
  if not ok then
    if self:in_transaction() then self:exec("ROLLBACK") end
    return nil, message, code
  end
  return unpack(results, 2, results.n)
end

-- ---- loggers ----------------------------------------------------------------

-- `extra` as the core takes it: JSON text for a table, or a function that
-- returns JSON text (or nil) for a function. Tables are encoded with resql's
-- own lossless encoder (64-bit integers and REALs exact; lua-cjson would
-- round them to 14 digits), which refuses what JSON cannot hold.
local function encode_object(value)
  local ok, json = pcall(core.encode_object, value)
  if ok then return json end
  return nil, (tostring(json):gsub("^resql: encode: ", ""))
end

local function encode_extra(extra)
  if extra == nil then return nil end
  if type(extra) ~= "table" then misuse("extra must be a table, a function or nil, got %s", type(extra)) end
  local json, why = encode_object(extra)
  if not json then misuse("extra: %s", why) end
  return json
end

local function extra_function(fn)
  return function()
    local value = fn()
    if value == nil then return nil end
    if type(value) ~= "table" then
      error("the extra function must return a table or nil, got " .. type(value), 0)
    end
    local json, why = encode_object(value)
    if not json then error(why, 0) end
    return json
  end
end

-- A list of table names: keys 1..n only (a set such as { person = true }
-- would otherwise read as an empty list, which means every table).
local function check_names(what, list, names)
  check_type(names, "table", list)
  local n = #names
  for key, name in pairs(names) do
    if type(key) ~= "number" or key < 1 or key > n or key % 1 ~= 0
       or type(name) ~= "string" or name:find("\0", 1, true) then
      misuse("%s: %s must be a list of table names", what, list)
    end
  end
end

-- The options of log_changes / log_queries, checked, as the core takes them.
local function core_options(what, args, allowed)
  for key in pairs(args) do
    if not allowed[key] then misuse("%s: unknown option '%s'", what, tostring(key)) end
  end
  local options = {
    tables = args.tables, exclude = args.exclude, include_reads = args.include_reads,
    drop_rollbacks = args.drop_rollbacks, busy_timeout = args.busy_timeout, clock = args.clock,
  }
  if type(args.extra) == "function" then
    options.extra_fn = extra_function(args.extra)
  else
    options.extra_json = encode_extra(args.extra)
  end
  if args.clock ~= nil then check_type(args.clock, "function", "clock") end
  if args.tables ~= nil then check_names(what, "tables", args.tables) end
  if args.exclude ~= nil then check_names(what, "exclude", args.exclude) end
  for _, flag in ipairs { "include_reads", "drop_rollbacks" } do
    if args[flag] ~= nil and type(args[flag]) ~= "boolean" then
      misuse("%s: %s must be a boolean, got %s", what, flag, type(args[flag]))
    end
  end
  local ms = args.busy_timeout
  if ms ~= nil and not (type(ms) == "number" and ms >= 0 and ms <= 2^31 - 1 and ms % 1 == 0) then
    misuse("%s: busy_timeout must be milliseconds (a whole number from 0), got %s", what, tostring(ms))
  end
  return options
end

local change_options = { of = true, to = true, extra = true, tables = true, exclude = true, clock = true }
local query_options = {
  of = true, to = true, extra = true, clock = true, include_reads = true, drop_rollbacks = true,
  busy_timeout = true,
}

-- `to` as the core takes it: nil for the logged connection itself, else a path.
local function target(what, of, to)
  if to == nil or to == of then return nil end
  if type(to) == "string" then
    if to:find("\0", 1, true) then misuse("%s: 'to' holds a NUL byte", what) end
    return to
  end
  if core.type(to) == "connection" then
    local file = to:filename()
    if file == "" then misuse("to: an in-memory connection cannot be shared") end
    return file
  end
  misuse("to must be a connection or a path, got %s", type(to))
end

local function log(kind, what, args, allowed)
  check_type(args, "table", what .. ": the argument")
  if core.type(args.of) ~= "connection" then misuse("%s: 'of' must be a connection", what) end
  if kind == "queries" and (args.to == nil or args.to == args.of) then
    misuse("log_queries: 'to' must be another database (a path or a connection)")
  end
  local options = core_options(what, args, allowed)
  return core.log(kind, args.of, target(what, args.of, args.to), options)
end

function resql.log_changes(args)
  return log("changes", "log_changes", args, change_options)
end

function resql.log_queries(args)
  return log("queries", "log_queries", args, query_options)
end

function logger_methods:set_extra(extra)
  check_self(self, "logger", "set_extra")
  if type(extra) == "function" then return self:set_extra_raw(nil, extra_function(extra)) end
  return self:set_extra_raw(encode_extra(extra))
end

-- ---- reading the logs ---------------------------------------------------------

local function decode_or_nil(json)
  if json == nil then return nil end
  return core.decode(json)
end

-- Runs `sql` with a WHERE built from `filter` on `source` (a connection or
-- a path), turning each row into a Lua table with `shape`.
local function read_log(source, view, filter, shape)
  if type(source) ~= "string" then
    if core.type(source) ~= "connection" then
      misuse("the log source must be a connection or a path, got %s", type(source))
    end
    if not source:is_open() then misuse("the connection is closed") end
  end
  filter = filter or {}
  check_type(filter, "table", "the filter")
  local where, params = {}, {}
  local columns = { table = "table_name", record_id = "record_id", txn = "txn_id",
                    since = "executed_at >=", ["until"] = "executed_at <" }
  for key, value in pairs(filter) do
    local column = columns[key]
    if not column or (view == "resql_query_log" and (key == "table" or key == "record_id")) then
      misuse("unknown filter key '%s'", tostring(key))
    end
    local expected = key == "txn" and "number" or (key ~= "record_id" and "string")
    if expected and type(value) ~= expected then
      misuse("filter: %s must be a %s%s, got %s", key, expected,
             (key == "since" or key == "until") and " (ISO-8601 time)" or "", type(value))
    end
    if key == "record_id" then value = core.encode(value) end
    where[#where + 1] = column:find(" ") and (column .. " ?") or (column .. " = ?")
    params[#params + 1] = value
  end
  local db, owned = source, type(source) == "string"
  if owned then
    local message, code
    db, message, code = core.open(source, true)
    if not db then failure(message, code) end
  end
  -- Read in pages, each statement finished before rows are handed out, so
  -- an iteration left half-way never holds a statement open. A failure
  -- raises (an iterator has no other way to report it); a path's connection
  -- is closed at the end or on a failure.
  local sql = "SELECT * FROM " .. view .. " WHERE id > ?"
  if #where > 0 then sql = sql .. " AND " .. table.concat(where, " AND ") end
  sql = sql .. " ORDER BY id LIMIT 256"
  local page, next_row, last_id, done = {}, 1, -1, false
  local function finish()
    done = true
    if owned then db:close() end
  end
  local function fill()
    local stmt, message, code = db:prepare(sql)
    if not stmt then finish(); failure(message, code) end
    stmt:bind(last_id, unpack(params))
    page, next_row = {}, 1
    local row
    row, message, code = stmt:step()
    while row do
      page[#page + 1] = stmt:row()
      row, message, code = stmt:step()
    end
    stmt:finalize()
    if row == nil then finish(); failure(message, code) end
  end
  return function()
    if next_row > #page then
      if done then return nil end
      fill()
      if #page == 0 then
        finish()
        return nil
      end
    end
    local row = page[next_row]
    next_row = next_row + 1
    last_id = row.id
    return shape(row)
  end
end

function resql.changes(source, filter)
  return read_log(source, "resql_change_log", filter, function(row)
    return {
      id = row.id, txn_id = row.txn_id, table_name = row.table_name,
      record_id = decode_or_nil(row.record_id), prev_record_id = decode_or_nil(row.prev_record_id),
      type = row.type, diff = decode_or_nil(row.diff), executed_at = row.executed_at,
      extra = decode_or_nil(row.extra),
    }
  end)
end

function resql.queries(source, filter)
  return read_log(source, "resql_query_log", filter, function(row)
    return {
      id = row.id, txn_id = row.txn_id, kind = row.kind, dialect_description = row.dialect_description,
      statement = row.statement, parameters = decode_or_nil(row.parameters),
      parameters_exact = row.parameters_exact == 1, executed_at = row.executed_at,
      duration_us = row.duration_us, rows_changed = row.rows_changed, outcome = row.outcome,
      extra = decode_or_nil(row.extra),
    }
  end)
end

return resql
