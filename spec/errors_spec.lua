-- The error convention (lua/API.md, "Errors"): misuse raises a message that
-- starts with "resql:"; database failures return nil, message, code.
local H = require "spec.fixtures.helpers"
local resql = H.resql

describe("misuse raises with the 'resql:' prefix", function()
  local s, db
  before_each(function()
    s = H.scratch()
    db = s:person_db()
  end)
  after_each(function() s:cleanup() end)

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
    s:log_changes{ of = db }
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
    local ok, res, msg = pcall(resql.log_changes, { of = db })
    -- a second logger is refused: raised (misuse) or nil, message (failure)
    if ok then
      assert.is_nil(res)
      assert.matches("resql", msg, 1, true)
    else
      assert.is_true(H.starts_with(res, "resql:"), res)
    end
  end)
end)

describe("database failures return nil, message, code", function()
  local s, db
  before_each(function()
    s = H.scratch()
    db = s:person_db()
  end)
  after_each(function() s:cleanup() end)

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
