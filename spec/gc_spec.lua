-- Garbage collection: loggers, statements and connections dropped without
-- close() are closed cleanly, in any order, and what is still in use stays.
local H = require "spec.fixtures.helpers"
local resql = H.resql

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

describe("garbage collection", function()
  local s
  H.each_test(function(new) s = new end)
  after_each(full_gc)

  it("collects connections, loggers and statements dropped without close", function()
    local path, target = s:path(), s:path()
    for i = 1, 20 do
      local db = assert(resql.open(i % 2 == 0 and path or ":memory:"))
      assert(db:exec("CREATE TABLE IF NOT EXISTS person(id INTEGER PRIMARY KEY, name, age)"))
      local changes = resql.log_changes{ of = db, extra = function() return { i = i } end }
      local queries = i % 2 == 0 and resql.log_queries{ of = db, to = target } or nil
      local stmt = db:prepare("INSERT INTO person(name, age) VALUES (?, ?)")
      stmt:bind("p" .. i, i):step()
      if i % 3 == 0 then full_gc() end
      changes, queries, stmt, db = nil, nil, nil, nil   -- luacheck: ignore
    end
    full_gc()
    -- the files are consistent and closed: a new connection reads them
    local reader = s:open(path)
    assert.are.equal(10, H.count(reader, "person"))
    assert.are.equal(10, #H.changes(reader))
    assert.are.equal(10, #H.queries_of_kind(target, "Insert"))
  end)

  it("leaves the connection usable and unhooked when a logger is collected", function()
    local db = s:person_db()
    do
      resql.log_changes{ of = db }   -- dropped at once
    end
    full_gc()
    assert.is_true(db:exec("INSERT INTO person(name) VALUES ('after')"))
    assert.are.equal(0, H.count(db, "resql_changes"))
    assert.are.equal(0, H.value(db, "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'resql%'"))
    -- a new logger can be opened: the collected one was closed
    s:log_changes{ of = db }
    assert(db:exec("INSERT INTO person(name) VALUES ('logged')"))
    assert.are.equal(1, #H.changes(db))
  end)

  it("leaves the connection usable when a query logger is collected", function()
    local db = s:person_db()
    local target = s:path()
    do
      resql.log_queries{ of = db, to = target }
    end
    full_gc()
    assert.is_true(db:exec("INSERT INTO person(name) VALUES ('after')"))
    assert.are.equal(0, #H.queries(target))
    s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name) VALUES ('logged')"))
    assert.are.equal(1, #H.queries(target))
  end)

  it("keeps a connection alive while its logger is", function()
    local path = s:path()
    local weak = setmetatable({}, { __mode = "v" })
    local logger
    do
      local db = assert(resql.open(path))
      assert(db:exec(H.PERSON))
      logger = resql.log_changes{ of = db, extra = { who = "gc" } }
      weak.db = db
    end
    full_gc()
    local db = weak.db
    assert.is_not_nil(db, "the connection was collected while its logger was alive")
    assert.is_true(db:is_open())
    assert.is_true(logger:is_open())
    assert(db:exec("INSERT INTO person(name) VALUES ('still logged')"))
    local changes = H.changes(db)
    assert.are.equal(1, #changes)
    assert.are.same({ who = "gc" }, changes[1].extra)
    logger:close()
    db:close()
  end)

  it("keeps a connection alive while one of its statements is", function()
    local weak = setmetatable({}, { __mode = "v" })
    local stmt
    do
      local db = assert(resql.open(":memory:"))
      assert(db:exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)"))
      stmt = db:prepare("SELECT x FROM t ORDER BY x")
      weak.db = db
    end
    full_gc()
    assert.is_not_nil(weak.db)
    assert.are.same({ 1, 2 }, H.collect(stmt:urows()))
    stmt:finalize()
    weak.db:close()
  end)

  it("collects a logger whose connection was closed first", function()
    local db = s:person_db()
    local weak = setmetatable({}, { __mode = "v" })
    do
      weak.changes = resql.log_changes{ of = db }
      weak.queries = resql.log_queries{ of = db, to = s:path() }
    end
    assert.is_true(db:close())
    full_gc()
    assert.is_nil(weak.changes)
    assert.is_nil(weak.queries)
  end)

  it("collects a connection and its logger after an extra callback failed", function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local db = assert(resql.open(":memory:"))
      assert(db:exec(H.PERSON))
      weak.db = db
      weak.logger = resql.log_changes{ of = db, extra = function() error("nope") end }
      local msg = H.failure_of(db.exec, db, "INSERT INTO person(name) VALUES ('x')")
      assert.matches("nope", msg, 1, true)
    end
    full_gc()
    assert.is_nil(weak.logger)
    assert.is_nil(weak.db)
  end)

  it("collects a closed logger and a closed connection", function()
    -- (under valgrind-lua: without a double free)
    local weak = setmetatable({}, { __mode = "v" })
    do
      local db = assert(resql.open(":memory:"))
      local logger = resql.log_changes{ of = db }
      logger:close()
      db:close()
      weak.db, weak.logger = db, logger
    end
    full_gc()
    assert.is_nil(weak.logger)
    assert.is_nil(weak.db)      -- close() let go of the logger's reference to it
  end)
end)
