-- The error convention (lua/API.md, "Errors"): misuse raises a message that
-- starts with "resql:"; database failures return nil, message, code.
local H = require "spec.fixtures.helpers"
local resql = H.resql

describe("misuse raises with the 'resql:' prefix", function()
  local s, db
  H.each_test(function(new) s = new; db = s:person_db() end)

  it("for exec without SQL, with the exact message of API.md", function()
    assert.has_error(function() db:exec(nil) end,
                     "resql: bad argument #1 to 'exec' (string expected, got nil)")
  end)

  it("for exec with a table as SQL", function()
    local err = H.raises_with_prefix("resql: bad argument #1 to 'exec'", function() db:exec({}) end)
    assert.matches("string expected, got table", err, 1, true)
  end)

  it("for a parameter that cannot be bound", function()
    H.raises_with_prefix("resql:", function()
      db:exec("INSERT INTO person(name) VALUES (?)", function() end)
    end)
    H.raises_with_prefix("resql:", function()
      db:exec("INSERT INTO person(name) VALUES (?)", coroutine.create(print))
    end)
  end)

  it("for open with a path that is not a string", function()
    -- API.md fixes the prefix; the wording after it is the module's
    local err = H.raises_with_prefix("resql:", function() resql.open({}) end)
    assert.matches("string", err, 1, true)
    assert.matches("table", err, 1, true)
    H.raises_with_prefix("resql:", function() resql.open(nil) end)
  end)

  it("for open with options that are not a table", function()
    H.raises_with_prefix("resql:", function() resql.open(":memory:", "ro") end)
  end)

  it("for log_changes without a table of options", function()
    H.raises_with_prefix("resql:", function() resql.log_changes(db) end)
    H.raises_with_prefix("resql:", function() resql.log_changes() end)
  end)

  it("for log_changes without 'of'", function()
    H.raises_with_prefix("resql:", function() resql.log_changes{} end)
  end)

  it("for log_changes with an 'of' that is not a connection", function()
    H.raises_with_prefix("resql:", function() resql.log_changes{ of = "app.db" } end)
    H.raises_with_prefix("resql:", function() resql.log_changes{ of = {} } end)
  end)

  it("for log_changes with a 'to' of the wrong type", function()
    H.raises_with_prefix("resql:", function() resql.log_changes{ of = db, to = 42 } end)
  end)

  it("for log_changes with wrong types of tables, exclude and clock", function()
    H.raises_with_prefix("resql:", function() resql.log_changes{ of = db, tables = "person" } end)
    H.raises_with_prefix("resql:", function() resql.log_changes{ of = db, exclude = 1 } end)
    H.raises_with_prefix("resql:", function() resql.log_changes{ of = db, clock = 1700000000000000 } end)
  end)

  it("for an unknown option key in log_changes, naming it", function()
    local err = H.raises_with_prefix("resql:", function() resql.log_changes{ of = db, extar = {} } end)
    assert.matches("extar", err, 1, true)
  end)

  it("for an unknown option key in log_queries, naming it", function()
    local err = H.raises_with_prefix("resql:", function()
      resql.log_queries{ of = db, to = s:path(), include_read = true }
    end)
    assert.matches("include_read", err, 1, true)
  end)

  it("and a refused log_changes leaves the connection without a logger", function()
    pcall(resql.log_changes, { of = db, extar = {} })
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert.are.equal(0, H.value(db, "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'resql%'"))
    s:log_changes{ of = db }                 -- fails the test if a logger were left behind
  end)

  it("for set_extra on a closed logger", function()
    local logger = s:log_changes{ of = db }
    logger:close()
    H.raises_with_prefix("resql:", function() logger:set_extra({ user = "x" }) end)
    H.raises_with_prefix("resql:", function() logger:set_extra(nil) end)
  end)

  it("for set_extra with a value that is not a table, a function or nil", function()
    local logger = s:log_changes{ of = db }
    H.raises_with_prefix("resql:", function() logger:set_extra("alice") end)
  end)

  it("for a method called on the wrong object", function()
    local logger = s:log_changes{ of = db }
    H.raises_with_prefix("resql:", function() db.exec(logger, "SELECT 1") end)
    H.raises_with_prefix("resql:", function() logger.set_extra(db, {}) end)
  end)

  it("for resql.blob of something else than a string", function()
    H.raises_with_prefix("resql:", function() resql.blob({}) end)
  end)

  it("for a second change log on the same connection", function()
    s:log_changes{ of = db }
    local msg = H.failure_of(resql.log_changes, { of = db })
    assert.matches("already has a change log", msg, 1, true)
  end)
end)

describe("bad input from Lua gets a clear 'resql:' error", function()
  local s, db
  H.each_test(function(new) s = new; db = s:person_db() end)

  it("for a Lua-written method called with a dot instead of a colon", function()
    local prefix = "resql: 'rows' called on a string, not a connection"
    H.raises_with_prefix(prefix, function() db.rows("SELECT 1") end)
    H.raises_with_prefix("resql: 'urows' called on a string", function() db.urows("SELECT 1") end)
    H.raises_with_prefix("resql: 'first' called on a string", function() db.first("SELECT 1") end)
    H.raises_with_prefix("resql: 'transaction' called on a function",
                         function() db.transaction(function() end) end)
    local stmt = assert(db:prepare("SELECT 1"))
    H.raises_with_prefix("resql: 'rows' called on a nil, not a statement", function() stmt.rows() end)
    stmt:finalize()
  end)

  it("for an 'of' that is another object of resql's", function()
    local logger = s:log_changes{ of = db }
    local stmt = assert(db:prepare("SELECT 1"))
    assert.has_error(function() resql.log_queries{ of = logger, to = s:path() } end,
                     "resql: log_queries: 'of' must be a connection")
    assert.has_error(function() resql.log_changes{ of = stmt } end, "resql: log_changes: 'of' must be a connection")
    stmt:finalize()
  end)

  it("for a 'to' path with a NUL byte", function()
    assert.has_error(function() resql.log_changes{ of = db, to = "audit\0.db" } end,
                     "resql: log_changes: 'to' holds a NUL byte")
  end)

  it("for tables / exclude given as a set or with holes, which would log every table", function()
    assert(db:exec("CREATE TABLE sessions(id INTEGER PRIMARY KEY)"))
    assert.has_error(function() resql.log_changes{ of = db, tables = { person = true } } end,
                     "resql: log_changes: tables must be a list of table names")
    assert.has_error(function() resql.log_changes{ of = db, exclude = { "sessions", [3] = "person" } } end,
                     "resql: log_changes: exclude must be a list of table names")
    assert.are.equal(0, H.value(db, "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'resql%'"))
  end)

  it("for a busy_timeout that is not a whole number of milliseconds", function()
    for _, ms in ipairs { 1.5, 0 / 0, -1, 2 ^ 31 } do
      H.raises_with_prefix("resql: log_queries: busy_timeout must be milliseconds", function()
        resql.log_queries{ of = db, to = s:path(), busy_timeout = ms }
      end)
    end
  end)

  it("for open with a readonly option that is not a boolean", function()
    assert.has_error(function() resql.open(":memory:", { readonly = "no" }) end,
                     "resql: open: readonly must be a boolean, got string")
  end)

  it("for parameter positions that are not positions of the statement", function()
    local stmt = assert(db:prepare("SELECT ? AS a"))
    -- 2^32 + 1 once wrapped to 1 and bound the first parameter
    assert.has_error(function() stmt:bind({ [4294967297] = "x" }) end,
                     "resql: no parameter 4294967297 (the statement has 1)")
    assert.has_error(function() stmt:bind({ [1.5] = "x" }) end, "resql: no parameter 1.5 (the statement has 1)")
    assert.has_error(function() stmt:bind({ [true] = "x" }) end,
                     "resql: a parameter key must be a position or a name, got boolean")
    stmt:finalize()
  end)

  it("for reading the log of a closed connection or of something else", function()
    s:log_changes{ of = db }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    local logger = s:log_changes{ of = s:person_db() }
    assert.has_error(function() resql.changes(logger) end,
                     "resql: the log source must be a connection or a path, got userdata")
    db:close()
    -- it once gave an empty iteration, as if nothing had been logged
    assert.has_error(function() resql.changes(db) end, "resql: the connection is closed")
  end)
end)

describe("reading a log raises on a database failure instead of ending early", function()
  local s
  H.each_test(function(new) s = new end)

  it("when the log is locked by another connection", function()
    local path = s:path()
    local db = s:person_db(path)
    s:log_changes{ of = db }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert.are.equal(1, #H.changes(db))      -- the schema is read; the next read needs a lock
    local other = s:open(path)
    assert(other:exec("BEGIN EXCLUSIVE"))
    local err = H.error_of(H.changes, db)
    assert.matches("^resql: database is locked", err)
    assert(other:exec("ROLLBACK"))
    assert.are.equal(1, #H.changes(db))
  end)
end)

describe("database failures return nil, message, code", function()
  local s, db
  H.each_test(function(new) s = new; db = s:person_db() end)

  it("for a missing table", function()
    local msg, code = H.failure_of(db.exec, db, "INSERT INTO missing VALUES (1)")
    assert.matches("no such table: missing", msg, 1, true)
    assert.are.equal(1, code)
  end)

  it("for a NOT NULL constraint, with the extended code", function()
    assert(db:exec("CREATE TABLE strict_t(x NOT NULL)"))
    local msg, code = H.failure_of(db.exec, db, "INSERT INTO strict_t VALUES (?)", nil)
    assert.matches("NOT NULL constraint failed", msg, 1, true)
    assert.are.equal(1299, code)                         -- SQLITE_CONSTRAINT_NOTNULL
  end)

  it("for a file that cannot be opened", function()
    local res, msg, code = resql.open("/nonexistent-dir/for/resql/app.db")
    assert.is_nil(res)
    assert.are.equal("string", type(msg))
    assert.are.equal(14, code % 256)                     -- SQLITE_CANTOPEN
  end)

  it("for a log target that cannot be opened", function()
    local ok, res, msg = pcall(resql.log_changes, { of = db, to = "/nonexistent-dir/for/resql/audit.db" })
    assert.is_true(ok, "a target that cannot be opened is a failure, not misuse: " .. tostring(res))
    assert.is_nil(res)
    assert.matches("resql", msg, 1, true)
  end)

  it("for a failed statement inside db:transaction, where assert raises and rolls back", function()
    local err = H.error_of(db.transaction, db, function(d)
      assert(d:exec("INSERT INTO person(id, name) VALUES (1, 'a')"))
      assert(d:exec("INSERT INTO person(id, name) VALUES (1, 'b')"))
    end)
    assert.matches("UNIQUE constraint failed", tostring(err), 1, true)
    assert.are.equal(0, H.count(db, "person"))
  end)
end)
