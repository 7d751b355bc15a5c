-- The change log from Lua: every scenario of the original Python/SQLAlchemy
-- prototype's test suite, then what the prototype could not do (raw SQL,
-- multi-row statements, the application's own triggers).
local H = require "spec.fixtures.helpers"
local resql = H.resql

describe("change log: the prototype's scenarios", function()
  local s, db
  H.each_test(function(new)
    s = new
    db = s:person_db()
    s:log_changes{ of = db, extra = { app = "billing" }, clock = H.frozen_clock }
  end)

  it("audits an insert with its diff, type, time, record id and extra", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Someone", 25))
    local changes = H.changes(db)
    assert.are.equal(1, #changes)
    local c = changes[1]
    assert.are.equal("person", c.table_name)
    assert.are.equal("insert", c.type)
    assert.are.equal(1, c.record_id)
    assert.is_nil(c.prev_record_id)
    assert.are.equal(H.FROZEN_TEXT, c.executed_at)
    assert.are.same({ id = { new = 1 }, name = { new = "Someone" }, age = { new = 25 } }, c.diff)
    assert.are.same({ app = "billing" }, c.extra)
    if H.has_integers then
      assert.are.equal("integer", math.type(c.record_id))
      assert.are.equal("integer", math.type(c.diff.age.new))
    end
  end)

  it("audits an update with only the changed columns", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Someone", 25))
    assert(db:exec("UPDATE person SET age = ? WHERE id = ?", 26, 1))
    local changes = H.changes(db)
    assert.are.equal(2, #changes)
    local c = changes[2]
    assert.are.equal("update", c.type)
    assert.are.equal(1, c.record_id)
    assert.are.same({ age = { old = 25, new = 26 } }, c.diff)
    assert.are.equal(H.FROZEN_TEXT, c.executed_at)
  end)

  it("audits a delete with every old value", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Someone", 25))
    assert(db:exec("DELETE FROM person WHERE id = ?", 1))
    local c = H.changes(db)[2]
    assert.are.equal("delete", c.type)
    assert.are.equal(1, c.record_id)
    assert.are.same({ id = { old = 1 }, name = { old = "Someone" }, age = { old = 25 } }, c.diff)
  end)

  it("writes the same rows in the view resql_change_log (raw SQL)", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "Someone", 25))
    assert(db:exec("UPDATE person SET name = 'Someone Else' WHERE id = 1"))
    local rows = H.rows(db, [[
      SELECT table_name, record_id, type, executed_at, extra,
             json_extract(diff, '$.name.old') AS name_old,
             json_extract(diff, '$.name.new') AS name_new,
             json_type(diff, '$.age') AS age_in_diff
      FROM resql_change_log ORDER BY id]])
    assert.are.same({
      { table_name = "person", record_id = "1", type = "insert", executed_at = H.FROZEN_TEXT,
        extra = '{"app":"billing"}', name_new = "Someone", age_in_diff = "object" },
      { table_name = "person", record_id = "1", type = "update", executed_at = H.FROZEN_TEXT,
        extra = '{"app":"billing"}', name_old = "Someone", name_new = "Someone Else" },
    }, rows)
  end)

  it("writes the clock's microseconds into executed_at", function()
    local other = s:person_db()
    s:log_changes{ of = other, clock = function() return 1700000000123456 end }
    assert(other:exec("INSERT INTO person(name) VALUES ('x')"))
    assert.are.equal("2023-11-14T22:13:20.123456Z", H.changes(other)[1].executed_at)
  end)

  it("audits many inserts, one row each, in order", function()
    db:transaction(function()
      for i = 1, 20 do
        assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "p" .. i, i))
      end
    end)
    local changes = H.changes(db)
    assert.are.equal(20, #changes)
    for i, c in ipairs(changes) do
      assert.are.equal("insert", c.type)
      assert.are.equal(i, c.record_id)
      assert.are.same({ id = { new = i }, name = { new = "p" .. i }, age = { new = i } }, c.diff)
      assert.are.equal(changes[1].txn_id, c.txn_id)
      if i > 1 then assert.is_true(c.id > changes[i - 1].id) end
    end
  end)

  it("does not audit a rolled-back insert", function()
    assert(db:exec("BEGIN"))
    assert(db:exec("INSERT INTO person(name, age) VALUES ('Ghost', 1)"))
    assert(db:exec("ROLLBACK"))
    assert.are.same({}, H.changes(db))
    assert.are.equal(0, H.count(db, "resql_changes"))
    assert.are.equal(0, H.count(db, "resql_transactions"))
  end)

  it("does not audit an insert rolled back by an error inside db:transaction", function()
    local err = H.error_of(db.transaction, db, function(d)
      assert(d:exec("INSERT INTO person(name, age) VALUES ('Ghost', 1)"))
      error("the request failed", 0)
    end)
    assert.are.equal("the request failed", err)
    assert.are.equal(0, H.count(db, "person"))
    assert.are.same({}, H.changes(db))
  end)

  it("does not audit computed (generated) columns", function()
    assert(db:exec([[
      CREATE TABLE item(id INTEGER PRIMARY KEY, price REAL, qty INTEGER,
                        total REAL GENERATED ALWAYS AS (price * qty) VIRTUAL,
                        label TEXT GENERATED ALWAYS AS ('x' || qty) STORED)]]))
    assert(db:exec("INSERT INTO item(price, qty) VALUES (2.5, 4)"))
    assert(db:exec("UPDATE item SET qty = 5"))
    local changes = H.changes(db, { table = "item" })
    assert.are.equal(2, #changes)
    assert.are.same({ id = { new = 1 }, price = { new = 2.5 }, qty = { new = 4 } }, changes[1].diff)
    assert.are.same({ qty = { old = 4, new = 5 } }, changes[2].diff)
  end)

  it("reuses a table extra across commits", function()
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert(db:exec("INSERT INTO person(name) VALUES ('b')"))
    db:transaction(function() assert(db:exec("UPDATE person SET age = 1")) end)
    local changes = H.changes(db)
    assert.are.equal(4, #changes)
    for _, c in ipairs(changes) do assert.are.same({ app = "billing" }, c.extra) end
    -- three transactions
    assert.are_not.equal(changes[1].txn_id, changes[2].txn_id)
    assert.are_not.equal(changes[2].txn_id, changes[3].txn_id)
    assert.are.equal(changes[3].txn_id, changes[4].txn_id)
  end)
end)

describe("change log: extra per connection", function()
  local s
  H.each_test(function(new) s = new end)

  it("keeps each logger's own extra with two connections interleaved", function()
    local path, audit = s:path(), s:path()
    local db1 = s:person_db(path)
    local db2 = s:open(path)
    s:log_changes{ of = db1, to = audit, extra = { user = "alice" } }
    s:log_changes{ of = db2, to = audit, extra = { user = "bob" } }

    assert(db1:exec("INSERT INTO person(id, name) VALUES (1, 'by alice')"))
    assert(db2:exec("INSERT INTO person(id, name) VALUES (2, 'by bob')"))
    assert(db1:exec("UPDATE person SET age = 30 WHERE id = 1"))
    assert(db2:exec("DELETE FROM person WHERE id = 2"))
    assert(db1:exec("UPDATE person SET age = 31 WHERE id = 1"))

    local seen = {}
    for _, c in ipairs(H.changes(audit)) do
      seen[#seen + 1] = c.extra.user .. ":" .. c.type .. ":" .. tostring(c.record_id)
    end
    assert.are.same({ "alice:insert:1", "bob:insert:2", "alice:update:1", "bob:delete:2",
                      "alice:update:1" }, seen)
  end)

  it("keeps each logger's own extra with the log in the database itself", function()
    local path = s:path()
    local db1 = s:person_db(path)
    local db2 = s:open(path)
    s:log_changes{ of = db1, extra = { user = "alice" } }
    s:log_changes{ of = db2, extra = { user = "bob" } }
    assert(db2:exec("INSERT INTO person(id, name) VALUES (2, 'by bob')"))
    assert(db1:exec("INSERT INTO person(id, name) VALUES (1, 'by alice')"))
    local users = {}
    for _, c in ipairs(H.changes(path)) do users[#users + 1] = c.extra.user end
    assert.are.same({ "bob", "alice" }, users)
  end)
end)

describe("change log: what the prototype could not do", function()
  local s, db
  H.each_test(function(new)
    s = new
    db = s:person_db()
    s:log_changes{ of = db, clock = H.frozen_clock }
  end)

  it("audits raw SQL with several statements", function()
    assert(db:exec([[
      INSERT INTO person(name, age) VALUES ('Ada', 36);
      UPDATE person SET age = 37 WHERE name = 'Ada';
      DELETE FROM person WHERE name = 'Ada';
    ]]))
    local types = {}
    for _, c in ipairs(H.changes(db)) do types[#types + 1] = c.type end
    assert.are.same({ "insert", "update", "delete" }, types)
  end)

  it("audits every row of multi-row statements", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES ('a', 1), ('b', 2), ('c', 3)"))
    assert(db:exec("UPDATE person SET age = age * 10"))
    assert(db:exec("DELETE FROM person"))
    local changes = H.changes(db)
    assert.are.equal(9, #changes)
    local updates = H.changes(db, { txn = changes[4].txn_id })
    assert.are.equal(3, #updates)
    for i, c in ipairs(updates) do
      assert.are.equal("update", c.type)
      assert.are.same({ age = { old = i, new = i * 10 } }, c.diff)
    end
    assert.are.equal(3, H.value(db, "SELECT count(*) FROM resql_change_log WHERE type = 'delete'"))
  end)

  it("audits the changes made by the application's own triggers", function()
    assert(db:exec([[
      CREATE TABLE person_history(id INTEGER PRIMARY KEY, person_id, old_age);
      CREATE TRIGGER person_aging AFTER UPDATE OF age ON person BEGIN
        INSERT INTO person_history(person_id, old_age) VALUES (old.id, old.age);
      END;
    ]]))
    assert(db:exec("INSERT INTO person(name, age) VALUES ('Ada', 36)"))
    assert(db:exec("UPDATE person SET age = 37"))
    local history = H.changes(db, { table = "person_history" })
    assert.are.equal(1, #history)
    assert.are.equal("insert", history[1].type)
    assert.are.same({ id = { new = 1 }, person_id = { new = 1 }, old_age = { new = 36 } },
                    history[1].diff)
    local person = H.changes(db, { table = "person" })
    assert.are.equal(2, #person)
    assert.are.equal(person[2].txn_id, history[1].txn_id)
  end)

  it("audits UPSERT and REPLACE", function()
    assert(db:exec("INSERT INTO person(id, name, age) VALUES (1, 'Ada', 36)"))
    assert(db:exec([[INSERT INTO person(id, name, age) VALUES (1, 'Ada', 40)
                     ON CONFLICT(id) DO UPDATE SET age = excluded.age]]))
    assert(db:exec("REPLACE INTO person(id, name, age) VALUES (1, 'Ada L.', 41)"))
    local kinds = {}
    for _, c in ipairs(H.changes(db)) do kinds[#kinds + 1] = c.type end
    assert.are.same({ "insert", "update", "delete", "insert" }, kinds)
  end)

  it("logs no row for an update that changes nothing", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES ('Ada', 36)"))
    assert(db:exec("UPDATE person SET age = 36"))
    assert.are.equal(1, #H.changes(db))
  end)

  it("leaves no row for a statement that fails half-way", function()
    assert(db:exec("CREATE TABLE u(id INTEGER PRIMARY KEY, x UNIQUE)"))
    assert(db:exec("INSERT INTO u(x) VALUES (1), (2), (3)"))
    local before = #H.changes(db)
    local msg = H.failure_of(db.exec, db, "UPDATE u SET x = 3 WHERE x < 3")
    assert.matches("UNIQUE", msg)
    assert.are.equal(before, #H.changes(db))
  end)

  it("audits a table created while logging is on", function()
    assert(db:exec("CREATE TABLE pet(id INTEGER PRIMARY KEY, name)"))
    assert(db:exec("INSERT INTO pet(name) VALUES ('Rex')"))
    local c = H.changes(db, { table = "pet" })
    assert.are.equal(1, #c)
    assert.are.same({ id = { new = 1 }, name = { new = "Rex" } }, c[1].diff)
  end)

  it("keeps working across ALTER TABLE ADD / DROP COLUMN", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES ('Ada', 36)"))
    assert(db:exec("ALTER TABLE person ADD COLUMN email TEXT"))
    assert(db:exec("UPDATE person SET email = 'ada@example.org'"))
    assert(db:exec("ALTER TABLE person DROP COLUMN age"))
    assert(db:exec("UPDATE person SET name = 'Ada L.'"))
    local changes = H.changes(db)
    assert.are.equal(3, #changes)
    assert.are.same({ email = { new = "ada@example.org" } }, changes[2].diff)
    assert.are.same({ name = { old = "Ada", new = "Ada L." } }, changes[3].diff)
  end)
end)

describe("change log options", function()
  local s, db
  H.each_test(function(new)
    s = new
    db = s:person_db()
    assert(db:exec("CREATE TABLE sessions(id INTEGER PRIMARY KEY, token)"))
  end)

  it("audits only the tables listed in 'tables'", function()
    s:log_changes{ of = db, tables = { "sessions" } }
    assert(db:exec("INSERT INTO person(name) VALUES ('Ada')"))
    assert(db:exec("INSERT INTO sessions(token) VALUES ('t')"))
    local changes = H.changes(db)
    assert.are.equal(1, #changes)
    assert.are.equal("sessions", changes[1].table_name)
  end)

  it("never audits the tables listed in 'exclude'", function()
    s:log_changes{ of = db, exclude = { "sessions" } }
    assert(db:exec("INSERT INTO person(name) VALUES ('Ada')"))
    assert(db:exec("INSERT INTO sessions(token) VALUES ('t')"))
    local changes = H.changes(db)
    assert.are.equal(1, #changes)
    assert.are.equal("person", changes[1].table_name)
  end)

  it("writes the log into another database given by path", function()
    local audit = s:path()
    s:log_changes{ of = db, to = audit }
    assert(db:exec("INSERT INTO person(name) VALUES ('Ada')"))
    assert.is_nil(db:first("SELECT name FROM sqlite_master WHERE name = 'resql_changes'"))
    local changes = H.changes(audit)
    assert.are.equal(1, #changes)
    assert.are.same({ new = "Ada" }, changes[1].diff.name)
  end)

  it("writes the log into another connection's file", function()
    local audit_path = s:path()
    local audit = s:open(audit_path)
    s:log_changes{ of = db, to = audit }
    assert(db:exec("INSERT INTO person(name) VALUES ('Ada')"))
    local changes = H.changes(audit)
    assert.are.equal(1, #changes)
    assert.are.equal("person", changes[1].table_name)
    assert.are.equal(1, H.count(audit, "resql_changes"))
  end)

  it("stops logging on close and can be opened again", function()
    local logger = s:log_changes{ of = db }
    assert.is_true(logger:is_open())
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    logger:close()
    assert.is_false(logger:is_open())
    logger:close()                                     -- idempotent
    assert(db:exec("INSERT INTO person(name) VALUES ('b')"))
    assert.are.equal(1, #H.changes(db))
    s:log_changes{ of = db }
    assert(db:exec("INSERT INTO person(name) VALUES ('c')"))
    assert.are.equal(2, #H.changes(db))
  end)

  it("leaves no TEMP trigger of resql's after close", function()
    local logger = s:log_changes{ of = db }
    assert.is_true(H.value(db, "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'resql%'") > 0)
    logger:close()
    assert.are.equal(0, H.value(db, "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'resql%'"))
  end)

  it("closes on __close (Lua 5.4 to-be-closed variables)", function()
    if _VERSION ~= "Lua 5.4" then return end   -- '<close>' is 5.4 syntax
    local chunk = assert(load([[
      local resql, db, keep = ...
      do
        local logger <close> = resql.log_changes{ of = db }
        keep.logger = logger
      end
    ]]))
    local keep = {}
    chunk(resql, db, keep)
    assert.is_false(keep.logger:is_open())
  end)
end)
