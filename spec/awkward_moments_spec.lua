-- Loggers, connections and statements used at awkward moments: from inside
-- resql's own callbacks, under the garbage collector, from coroutines.
-- Each of these was a crash or a silent loss found in review.
local resql = require "resql"

local is54 = math.type ~= nil

local function fresh()
  local db = assert(resql.open(":memory:"))
  assert(db:exec("CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT)"))
  return db
end

local function extras(db)
  local out = {}
  for change in resql.changes(db) do out[#out + 1] = change.extra end
  return out
end

describe("callbacks", function()
  it("keep a logger nobody holds alive while its callback runs (and collects garbage)", function()
    local db = fresh()
    resql.log_changes{ of = db, extra = function()
      for i = 1, 2000 do local _ = { ("x"):rep(100) .. i } end
      collectgarbage("collect")
      return { ok = true }
    end }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert.are.same({ { ok = true } }, extras(db))
    db:close()
  end)

  it("cannot close the connection they log", function()
    local db = fresh()
    local log = resql.log_changes{ of = db, extra = function() db:close(); return {} end }
    local ok, message = db:exec("INSERT INTO person(name) VALUES ('a')")
    assert.is_nil(ok)
    assert.matches("cannot close the connection from inside a resql callback", message, 1, true)
    assert.is_true(db:is_open())
    log:close()
    db:close()
  end)

  it("still run after the coroutine that loaded the module and made the logger is gone", function()
    local db = fresh()
    local log
    local co = coroutine.create(function()
      -- Load the module afresh in here, as a program whose first require
      -- runs in a coroutine would (on Lua 5.1 resql once used that thread).
      package.loaded["resql.core"], package.loaded.resql = nil, nil
      local fresh_resql = require "resql"
      log = fresh_resql.log_changes{ of = db, extra = function() return { from = "coroutine" } end }
    end)
    assert(coroutine.resume(co))
    co = nil
    collectgarbage("collect")
    collectgarbage("collect")
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert.are.equal("coroutine", extras(db)[1].from)
    log:close()
    db:close()
  end)

  it("a clock that fails gives way to the system clock", function()
    local db = fresh()
    local log = resql.log_changes{ of = db, clock = function() error("no time") end }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    local change = resql.changes(db)()
    assert.is_true(change.executed_at > "2020", change.executed_at)
    log:close()
    db:close()
  end)
end)

describe("extra tables", function()
  it("are encoded without losing 64-bit integers or REAL digits", function()
    local db = fresh()
    local big = is54 and math.maxinteger or 2 ^ 53
    local log = resql.log_changes{ of = db, extra = { id = big, score = 0.1 + 0.2, admin = true } }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    local extra = extras(db)[1]
    assert.are.equal(big, extra.id)
    assert.are.equal(0.1 + 0.2, extra.score)
    assert.are.equal(true, extra.admin)
    log:close()
    db:close()
  end)
end)

describe("connections", function()
  it("wrap(get_ptr()) gives back the connection itself", function()
    local db = fresh()
    assert.are.equal(db, resql.wrap(db:get_ptr()))
    db:close()
  end)

  it("first returns nil, message, code for bad SQL", function()
    local db = fresh()
    local row, message, code = db:first("SELECT * FROM nosuch")
    assert.is_nil(row)
    assert.matches("no such table", message, 1, true)
    assert.are.equal(1, code)
    db:close()
  end)

  it("exec with parameters refuses text after the statement that is not SQL", function()
    local db = fresh()
    local ok, message = db:exec("INSERT INTO person(name) VALUES (?); garbage garbage", "a")
    assert.is_nil(ok)
    assert.matches("syntax error", message, 1, true)
    assert.are.equal(0, db:first("SELECT count(*) AS n FROM person").n)
    db:close()
  end)

  it("refuses SQL with a NUL byte in it", function()
    local db = fresh()
    assert.has_error(function() db:exec("DELETE FROM person\0 WHERE 1") end,
                     "resql: bad argument #1 to 'exec' (a NUL byte in the text)")
    db:close()
  end)

  if is54 then
    it("leaving a rows loop with break finalizes its statement (Lua 5.4)", function()
      local db = fresh()
      assert(db:exec("INSERT INTO person(name) VALUES ('a'), ('b')"))
      local log = resql.log_changes{ of = db }
      for _ in db:rows("SELECT * FROM person") do break end
      -- no garbage collection here: a statement still running would make
      -- this "database table is locked"
      assert.is_true(db:exec("DROP TABLE person"))
      assert.is_true(log:close())
      db:close()
    end)
  end
end)

describe("bad input", function()
  it("log filters are checked", function()
    local db = fresh()
    local log = resql.log_changes{ of = db }
    assert.has_error(function() resql.changes(db, { since = 5 }) end,
                     "resql: filter: since must be a string (ISO-8601 time), got number")
    assert.has_error(function() resql.changes(db, { txn = "1" }) end,
                     "resql: filter: txn must be a number, got string")
    assert.has_error(function() resql.changes(db, { table = true }) end,
                     "resql: filter: table must be a string, got boolean")
    log:close()
    db:close()
  end)

  it("encode refuses a table of keys as a value", function()
    assert.has_error(function() resql.encode{ a = 1 } end, "resql: encode: a table of keys is not a value")
  end)

  it("log options are checked", function()
    local db = fresh()
    assert.has_error(function() resql.log_queries{ of = db, to = "/tmp/resql-never-opened.db", busy_timeout = "x" } end,
                     "resql: log_queries: busy_timeout must be milliseconds (a whole number from 0), got x")
    assert.has_error(function() resql.log_queries{ of = db, to = "/tmp/resql-never-opened.db", include_reads = "no" } end,
                     "resql: log_queries: include_reads must be a boolean, got string")
    assert.has_error(function() resql.log_changes{ of = db, tables = { 1 } } end,
                     "resql: log_changes: tables must be a list of table names")
    db:close()
  end)
end)
