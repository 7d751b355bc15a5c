-- The connection and statement API of resql (lua/API.md, "Connections",
-- "Statements", "Values" binding, "Errors").
local H = require "spec.fixtures.helpers"
local resql = H.resql

describe("resql.open", function()
  local s
  H.each_test(function(new) s = new end)

  it("opens an in-memory database whose filename is empty", function()
    local db = s:open(":memory:")
    assert.is_true(db:is_open())
    assert.are.equal("", db:filename())
  end)

  it("creates a database file and reports its file name", function()
    local path = s:path()
    local db = s:open(path)
    assert(db:exec("CREATE TABLE t(x)"))
    assert.are.equal(path, db:filename())
    local f = io.open(path, "rb")
    assert.is_not_nil(f)
    f:close()
  end)

  it("opens a file read-only, where writes fail with nil, message, code", function()
    local path = s:path()
    local rw = s:open(path)
    assert(rw:exec("CREATE TABLE t(x)"))
    rw:close()
    local ro = s:open(path, { readonly = true })
    local msg, code = H.failure_of(ro.exec, ro, "INSERT INTO t VALUES (1)")
    assert.matches("readonly", msg)
    assert.are.equal(8, code % 256)                  -- SQLITE_READONLY
  end)

  it("gives the sqlite3* as light userdata", function()
    local db = s:open()
    local ptr = db:get_ptr()
    assert.are.equal("userdata", type(ptr))
    assert.are.equal(db, resql.wrap(ptr))            -- wrap takes light userdata only
  end)
end)

describe("db:exec", function()
  local s, db
  H.each_test(function(new) s = new; db = s:person_db() end)

  it("returns true", function()
    assert.is_true(db:exec("INSERT INTO person(name, age) VALUES ('Ada', 36)"))
  end)

  it("runs several statements when given no parameters", function()
    assert.is_true(db:exec([[
      INSERT INTO person(name, age) VALUES ('Ada', 36);
      INSERT INTO person(name, age) VALUES ('Linus', 21);
      UPDATE person SET age = age + 1;
    ]]))
    assert.are.same({ { name = "Ada", age = 37 }, { name = "Linus", age = 22 } },
                    H.rows(db, "SELECT name, age FROM person ORDER BY id"))
  end)

  it("binds positional parameters", function()
    assert.is_true(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Someone", 25))
    assert.are.same({ id = 1, name = "Someone", age = 25 }, db:first("SELECT * FROM person"))
  end)

  it("binds numbered parameters", function()
    assert.is_true(db:exec("INSERT INTO person(age, name) VALUES (?2, ?1)", "Someone", 25))
    assert.are.same({ name = "Someone", age = 25 }, db:first("SELECT name, age FROM person"))
  end)

  it("binds named parameters from a table with keys without prefix", function()
    assert.is_true(db:exec("INSERT INTO person(name, age) VALUES (:name, $age)",
                           { name = "Ada", age = 36 }))
    assert.are.same({ name = "Ada", age = 36 }, db:first("SELECT name, age FROM person"))
  end)

  it("binds named parameters from a table with keys with their prefix", function()
    assert.is_true(db:exec("INSERT INTO person(name, age) VALUES (:name, @age)",
                           { [":name"] = "Ada", ["@age"] = 36 }))
    assert.are.same({ name = "Ada", age = 36 }, db:first("SELECT name, age FROM person"))
  end)

  it("binds nil as NULL and booleans as 1 / 0", function()
    assert(db:exec("CREATE TABLE v(a, b, c)"))
    assert(db:exec("INSERT INTO v VALUES (?, ?, ?)", nil, true, false))
    local row = db:first("SELECT a, b, c, typeof(a) AS ta, typeof(b) AS tb FROM v")
    assert.is_nil(row.a)
    assert.are.equal(1, row.b)
    assert.are.equal(0, row.c)
    assert.are.equal("null", row.ta)
    assert.are.equal("integer", row.tb)
  end)

  it("binds integers as INTEGER and floats as REAL", function()
    assert(db:exec("CREATE TABLE v(a, b)"))
    assert(db:exec("INSERT INTO v VALUES (?, ?)", 3, 2.5))
    local row = db:first("SELECT typeof(a) AS ta, typeof(b) AS tb FROM v")
    assert.are.same({ ta = "integer", tb = "real" }, row)
    if H.has_integers then
      assert(db:exec("DELETE FROM v"))
      assert(db:exec("INSERT INTO v VALUES (?, ?)", 3.0, 3))
      -- 5.4: a float is REAL even when it is integral
      assert.are.same({ ta = "real", tb = "integer" },
                      db:first("SELECT typeof(a) AS ta, typeof(b) AS tb FROM v"))
    end
  end)

  it("binds resql.blob() as a BLOB and plain strings as TEXT", function()
    assert(db:exec("CREATE TABLE v(a, b)"))
    assert(db:exec("INSERT INTO v VALUES (?, ?)", resql.blob("\0\1\2"), "text"))
    local row = db:first("SELECT a, b, typeof(a) AS ta, typeof(b) AS tb FROM v")
    assert.are.same({ a = "\0\1\2", b = "text", ta = "blob", tb = "text" }, row)
  end)

  it("returns nil, message, code for bad SQL, so that assert() works", function()
    local res, msg, code = db:exec("SELEC nonsense")
    assert.is_nil(res)
    assert.are.equal("string", type(msg))
    assert.matches("syntax error", msg)
    assert.are.equal(1, code)                          -- SQLITE_ERROR
    local ok, err = pcall(assert, db:exec("SELEC nonsense"))
    assert.is_false(ok)
    assert.matches("syntax error", err)
  end)

  it("returns nil, message and the extended code for a UNIQUE violation", function()
    assert(db:exec("CREATE TABLE u(x UNIQUE)"))
    assert(db:exec("INSERT INTO u VALUES (1)"))
    local msg, code = H.failure_of(db.exec, db, "INSERT INTO u VALUES (?)", 1)
    assert.matches("UNIQUE constraint failed: u.x", msg, 1, true)
    assert.are.equal(2067, code)                       -- SQLITE_CONSTRAINT_UNIQUE
  end)

  it("returns SQLITE_CONSTRAINT_PRIMARYKEY for a duplicate INTEGER PRIMARY KEY", function()
    assert(db:exec("INSERT INTO person(id, name) VALUES (1, 'Ada')"))
    local msg, code = H.failure_of(db.exec, db, "INSERT INTO person(id, name) VALUES (1, 'Bob')")
    assert.matches("UNIQUE constraint failed: person.id", msg, 1, true)
    assert.are.equal(1555, code)                       -- SQLITE_CONSTRAINT_PRIMARYKEY
    assert.are.equal(1, H.count(db, "person"))
  end)
end)

describe("db:prepare and statements", function()
  local s, db
  H.each_test(function(new)
    s = new
    db = s:person_db()
    assert(db:exec([[
      INSERT INTO person(name, age) VALUES ('Ada', 36);
      INSERT INTO person(name, age) VALUES ('Linus', 21);
    ]]))
  end)

  it("binds, steps and reads a row as a table and as values", function()
    local stmt = assert(db:prepare("SELECT id, name, age FROM person WHERE name = ?"))
    assert.are.equal(stmt, stmt:bind("Linus"))
    assert.is_true(stmt:step())
    assert.are.same({ id = 2, name = "Linus", age = 21 }, stmt:row())
    local id, name, age = stmt:values()
    assert.are.same({ 2, "Linus", 21 }, { id, name, age })
    assert.is_false(stmt:step())
    assert.is_true(stmt:finalize())
  end)

  it("lists its column names", function()
    local stmt = assert(db:prepare("SELECT id, name AS who FROM person"))
    assert.are.same({ "id", "who" }, stmt:columns())
    stmt:finalize()
  end)

  it("binds one table with positions and names", function()
    local stmt = assert(db:prepare("SELECT ?1 AS a, :b AS b, $c AS c"))
    stmt:bind({ 10, b = "x", ["$c"] = "y" })
    assert.is_true(stmt:step())
    assert.are.same({ a = 10, b = "x", c = "y" }, stmt:row())
    stmt:finalize()
  end)

  it("resets to run again with new bindings", function()
    local stmt = assert(db:prepare("INSERT INTO person(name, age) VALUES (?, ?)"))
    assert.is_false(stmt:bind("Grace", 45):step())
    assert.are.equal(stmt, stmt:reset())
    assert.is_false(stmt:bind("Alan", 41):step())
    stmt:finalize()
    assert.are.same({ "Ada", "Linus", "Grace", "Alan" },
                    H.collect(db:urows("SELECT name FROM person ORDER BY id")))
  end)

  it("clears every parameter to NULL", function()
    local stmt = assert(db:prepare("SELECT ? AS a, ? AS b"))
    stmt:bind(1, 2)
    assert.are.equal(stmt, stmt:clear())
    stmt:reset()
    assert.is_true(stmt:step())
    assert.are.same({}, stmt:row())
    stmt:finalize()
  end)

  it("iterates its rows as tables and as values", function()
    local stmt = assert(db:prepare("SELECT name, age FROM person ORDER BY id"))
    assert.are.same({ { name = "Ada", age = 36 }, { name = "Linus", age = 21 } },
                    H.collect(stmt:rows()))
    stmt:reset()
    local seen = {}
    for name, age in stmt:urows() do seen[#seen + 1] = name .. "=" .. age end
    assert.are.same({ "Ada=36", "Linus=21" }, seen)
    stmt:finalize()
  end)

  it("finalizes idempotently", function()
    local stmt = assert(db:prepare("SELECT 1"))
    assert.is_true(stmt:finalize())
    assert.is_true(stmt:finalize())
  end)

  it("raises 'resql:' when a finalized statement is used", function()
    local stmt = assert(db:prepare("SELECT 1"))
    stmt:finalize()
    H.raises_with_prefix("resql:", function() stmt:step() end)
  end)

  it("returns nil, message, code when the SQL does not compile", function()
    local msg, code = H.failure_of(db.prepare, db, "SELECT FROM WHERE")
    assert.matches("syntax error", msg)
    assert.are.equal(1, code)
  end)
end)

describe("db:rows, db:urows, db:first", function()
  local s, db
  H.each_test(function(new)
    s = new
    db = s:person_db()
    assert(db:exec([[
      INSERT INTO person(name, age) VALUES ('Ada', 36);
      INSERT INTO person(name, age) VALUES ('Linus', 21);
      INSERT INTO person(name, age) VALUES ('Grace', NULL);
    ]]))
  end)

  it("iterates rows as tables keyed by column name", function()
    assert.are.same({ { id = 1, name = "Ada" }, { id = 2, name = "Linus" } },
                    H.collect(db:rows("SELECT id, name FROM person WHERE id < ? ORDER BY id", 3)))
  end)

  it("leaves NULL columns out of row tables", function()
    local rows = H.collect(db:rows("SELECT name, age FROM person WHERE name = :n", { n = "Grace" }))
    assert.are.same({ { name = "Grace" } }, rows)
  end)

  it("iterates rows as multiple values", function()
    local seen = {}
    for id, name, age in db:urows("SELECT id, name, age FROM person ORDER BY id") do
      seen[#seen + 1] = { id, name, age }
    end
    assert.are.same({ { 1, "Ada", 36 }, { 2, "Linus", 21 }, { 3, "Grace", nil } }, seen)
  end)

  it("stops iterating early without leaving a statement running", function()
    for _ in db:rows("SELECT * FROM person") do break end
    collectgarbage("collect")                          -- LuaJIT / 5.1: finalized by the collector
    collectgarbage("collect")
    -- a statement still running would make this "database table is locked"
    assert.is_true(db:exec("DROP TABLE person"))
  end)

  it("gives the first row or nil", function()
    assert.are.same({ n = 3 }, db:first("SELECT count(*) AS n FROM person"))
    assert.are.same({ name = "Linus" }, db:first("SELECT name FROM person WHERE age < ?", 30))
    assert.is_nil(db:first("SELECT * FROM person WHERE id = 42"))
  end)

  it("gives integers as integers and REALs as floats", function()
    local row = db:first("SELECT 42 AS i, 1.0 AS r, 9223372036854775807 AS big")
    if H.has_integers then
      assert.are.equal("integer", math.type(row.i))
      assert.are.equal("float", math.type(row.r))
      assert.are.equal(math.maxinteger, row.big)
    else
      assert.are.equal(42, row.i)
      assert.are.equal(1, row.r)
    end
  end)
end)

describe("db:last_insert_rowid, db:changes, db:total_changes", function()
  local s, db
  H.each_test(function(new) s = new; db = s:person_db() end)

  it("reports the rowid of the last insert", function()
    assert(db:exec("INSERT INTO person(id, name) VALUES (41, 'x')"))
    assert(db:exec("INSERT INTO person(name) VALUES ('y')"))
    assert.are.equal(42, db:last_insert_rowid())
  end)

  it("reports the rows changed by the last statement and in total", function()
    assert(db:exec("INSERT INTO person(name) VALUES ('a'), ('b'), ('c')"))
    assert.are.equal(3, db:changes())
    assert(db:exec("UPDATE person SET age = 1 WHERE name <> 'a'"))
    assert.are.equal(2, db:changes())
    assert.are.equal(5, db:total_changes())
  end)

  it("is not disturbed by the change log's own rows", function()
    s:log_changes{ of = db }
    assert(db:exec("INSERT INTO person(id, name) VALUES (7, 'x')"))
    assert.are.equal(7, db:last_insert_rowid())
    assert.are.equal(1, db:changes())
  end)
end)

describe("db:transaction", function()
  local s, db
  H.each_test(function(new) s = new; db = s:person_db() end)

  it("commits when fn returns, and returns what fn returned", function()
    local a, b, c = db:transaction(function(d, x, y)
      assert.are.equal(db, d)
      assert(d:exec("INSERT INTO person(name) VALUES (?)", x))
      return "done", y, nil
    end, "Ada", 7)
    assert.are.same({ "done", 7 }, { a, b })
    assert.is_nil(c)
    assert.are.equal(1, H.count(db, "person"))
    -- no transaction is left open: an explicit BEGIN works
    assert.is_true(db:exec("BEGIN; COMMIT"))
  end)

  it("rolls back and raises the same error again when fn errors", function()
    local err = H.error_of(db.transaction, db, function(d)
      assert(d:exec("INSERT INTO person(name) VALUES ('Ada')"))
      error("boom", 0)
    end)
    assert.are.equal("boom", err)
    assert.are.equal(0, H.count(db, "person"))
    assert.is_true(db:exec("BEGIN; COMMIT"))
  end)

  it("raises a non-string error value unchanged", function()
    local value = { code = 42 }
    local err = H.error_of(db.transaction, db, function(d)
      assert(d:exec("INSERT INTO person(name) VALUES ('Ada')"))
      error(value)
    end)
    assert.are.equal(value, err)
    assert.are.equal(0, H.count(db, "person"))
  end)
end)

describe("db:close", function()
  local s
  H.each_test(function(new) s = new end)

  it("returns true and is idempotent", function()
    local db = s:open()
    assert.is_true(db:close())
    assert.is_false(db:is_open())
    assert.is_true(db:close())
  end)

  it("makes every later use raise 'resql: the connection is closed'", function()
    local db = s:person_db()
    db:close()
    local prefix = "resql: the connection is closed"
    H.raises_with_prefix(prefix, function() db:exec("SELECT 1") end)
    H.raises_with_prefix(prefix, function() db:prepare("SELECT 1") end)
    H.raises_with_prefix(prefix, function() db:first("SELECT 1") end)
    H.raises_with_prefix(prefix, function() db:rows("SELECT 1") end)
    H.raises_with_prefix(prefix, function() db:last_insert_rowid() end)
    H.raises_with_prefix(prefix, function() db:transaction(function() end) end)
  end)

  it("gives exactly 'resql: the connection is closed' for exec", function()
    local db = s:open()
    db:close()
    assert.has_error(function() db:exec("SELECT 1") end, "resql: the connection is closed")
  end)

  it("raises 'resql: the connection is closed' when a logger is opened on it", function()
    local db = s:person_db()
    db:close()
    H.raises_with_prefix("resql: the connection is closed",
                         function() resql.log_changes{ of = db } end)
  end)

  it("finalizes its statements and closes its loggers first", function()
    local path = s:path()
    local db = s:person_db(path)
    local stmt = assert(db:prepare("SELECT * FROM person"))
    local logger = s:log_changes{ of = db }
    assert.is_true(db:close())
    assert.is_false(logger:is_open())
    H.raises_with_prefix("resql:", function() stmt:step() end)
  end)

  it("closes the connection on __close (Lua 5.4 to-be-closed variables)", function()
    if _VERSION ~= "Lua 5.4" then return end   -- '<close>' is 5.4 syntax
    local chunk = assert(load([[
      local resql, keep = ...
      do
        local db <close> = assert(resql.open(":memory:"))
        keep.db = db
      end
    ]]))
    local keep = {}
    chunk(resql, keep)
    assert.is_false(keep.db:is_open())
  end)
end)
