-- resql.wrap: a sqlite3* opened outside resql (here by the C test helper
-- resql_test_helper) is logged through resql and never closed by it.
local H = require "spec.fixtures.helpers"
local resql = H.resql

local helper, why = H.test_helper()

describe("resql.wrap", function()
  local s, path, ptr
  before_each(function()
    assert(helper, "resql_test_helper is not built: " .. tostring(why))
    s = H.scratch()
    path = s:path()
    ptr = helper.open(path)
    assert.are.equal("userdata", type(ptr))
    assert(helper.exec(ptr, H.PERSON))
  end)
  after_each(function()
    s:cleanup()
    if ptr then helper.close(ptr) end   -- after a failed test; 0 or not, the file goes
    ptr = nil
    H.remove_db(path)
  end)

  it("runs statements on the borrowed connection", function()
    local db = resql.wrap(ptr)
    assert.is_true(db:is_open())
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Ada", 36))
    assert(helper.exec(ptr, "INSERT INTO person(name, age) VALUES ('Linus', 21)"))
    assert.are.same({ "Ada", "Linus" }, H.collect(db:urows("SELECT name FROM person ORDER BY id")))
    assert.are.equal(path, db:filename())
    db:close()
  end)

  it("logs changes made through the wrapper and directly on the pointer", function()
    local db = resql.wrap(ptr)
    local logger = resql.log_changes{ of = db, clock = H.frozen_clock }
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Ada", 36))
    assert(helper.exec(ptr, "UPDATE person SET age = 37 WHERE name = 'Ada'"))
    logger:close()
    local changes = H.changes(db)
    assert.are.equal(2, #changes)
    assert.are.same({ id = { new = 1 }, name = { new = "Ada" }, age = { new = 36 } }, changes[1].diff)
    assert.are.same({ age = { old = 36, new = 37 } }, changes[2].diff)
    assert.are.equal(H.FROZEN_TEXT, changes[2].executed_at)
    db:close()
  end)

  it("does not close the connection on db:close()", function()
    local db = resql.wrap(ptr)
    local logger = resql.log_changes{ of = db }
    assert(db:exec("INSERT INTO person(name) VALUES ('Ada')"))
    local stmt = assert(db:prepare("SELECT * FROM person"))
    assert(stmt:step())
    assert.is_true(db:close())         -- closes the logger and the statement first
    assert.is_false(db:is_open())
    assert.is_false(logger:is_open())
    -- the borrowed connection is still open and usable
    assert(helper.exec(ptr, "INSERT INTO person(name) VALUES ('Bob')"))
    -- and carries nothing of resql's any more: sqlite3_close() succeeds
    assert.are.equal(0, helper.close(ptr))
    ptr = nil
  end)

  it("leaves no hook behind: later changes on the pointer are not logged", function()
    local db = resql.wrap(ptr)
    resql.log_changes{ of = db }
    db:close()
    assert(helper.exec(ptr, "INSERT INTO person(name) VALUES ('after')"))
    local reader = s:open(path)
    assert.are.equal(0, H.count(reader, "resql_changes"))
    reader:close()
    assert.are.equal(0, helper.close(ptr))
    ptr = nil
  end)

  it("does not close the connection when the wrapper is garbage-collected", function()
    do
      local db = resql.wrap(ptr)
      resql.log_changes{ of = db }
      assert(db:exec("INSERT INTO person(name) VALUES ('Ada')"))
    end
    collectgarbage("collect")
    collectgarbage("collect")
    assert(helper.exec(ptr, "INSERT INTO person(name) VALUES ('Bob')"))
    assert.are.equal(0, helper.close(ptr))
    ptr = nil
    local reader = s:open(path)
    assert.are.equal(2, H.count(reader, "person"))
    assert.are.equal(1, H.count(reader, "resql_changes"))
  end)

  it("gives back the same pointer from get_ptr", function()
    local db = resql.wrap(ptr)
    assert.are.equal(ptr, db:get_ptr())
    db:close()
  end)

  it("raises 'resql:' for an argument that is not a light userdata", function()
    H.raises_with_prefix("resql:", function() resql.wrap("not a pointer") end)
    H.raises_with_prefix("resql:", function() resql.wrap(nil) end)
  end)
end)
