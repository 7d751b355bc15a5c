-- Reading the logs: resql.changes / resql.queries on a connection or a path,
-- each filter key, order, and the decoded fields.
local H = require "spec.fixtures.helpers"
local resql = H.resql

local T1, T2, T3 = 1700000000000000, 1700000010000000, 1700000020000000
local T1_TEXT = "2023-11-14T22:13:20.000000Z"
local T2_TEXT = "2023-11-14T22:13:30.000000Z"
local T3_TEXT = "2023-11-14T22:13:40.000000Z"

-- Three transactions on person 1 and one on person 2, at T1, T2, T3:
--   T1: insert 1 (Ada, 36), insert 2 (Linus, 21)     txn A
--   T2: update 1 age 36 -> 37                         txn B
--   T3: delete 2                                      txn C
local function history(db, clock)
  clock.now = T1
  db:transaction(function()
    assert(db:exec("INSERT INTO person(id, name, age) VALUES (1, 'Ada', 36)"))
    assert(db:exec("INSERT INTO person(id, name, age) VALUES (2, 'Linus', 21)"))
  end)
  clock.now = T2
  assert(db:exec("UPDATE person SET age = 37 WHERE id = 1"))
  clock.now = T3
  assert(db:exec("DELETE FROM person WHERE id = 2"))
end

local function summary(changes)
  local out = {}
  for _, c in ipairs(changes) do out[#out + 1] = c.type .. " " .. tostring(c.record_id) end
  return out
end

describe("resql.changes", function()
  local s, db, path, clock
  H.each_test(function(new)
    s = new
    path = s:path()
    db = s:person_db(path)
    clock = H.manual_clock()
    s:log_changes{ of = db, clock = clock.fn, extra = { user = "ada" } }
    history(db, clock)
  end)

  it("sanity: the clock texts used below are resql's", function()
    assert.are.same({ T1_TEXT, T2_TEXT, T3_TEXT }, { H.iso(T1), H.iso(T2), H.iso(T3) })
  end)

  it("reads a connection, oldest first", function()
    local changes = H.changes(db)
    assert.are.same({ "insert 1", "insert 2", "update 1", "delete 2" }, summary(changes))
    for i = 2, #changes do assert.is_true(changes[i].id > changes[i - 1].id) end
  end)

  it("reads a path, opened read-only for the iteration", function()
    assert.are.same({ "insert 1", "insert 2", "update 1", "delete 2" }, summary(H.changes(path)))
    -- the file was not changed by reading it, and the connection still writes
    assert(db:exec("INSERT INTO person(id, name) VALUES (3, 'Grace')"))
    assert.are.equal(5, #H.changes(path))
  end)

  it("reads a log kept in another file, from that path and from the logged connection", function()
    local audit = s:path()
    local other = s:person_db()
    s:log_changes{ of = other, to = audit }
    assert(other:exec("INSERT INTO person(name) VALUES ('Grace')"))
    local from_path = H.changes(audit)
    assert.are.same({ "insert 1" }, summary(from_path))
    assert.are.same({ "insert 1" }, summary(H.changes(other)))   -- the attached log
  end)

  it("gives every field of the view resql_change_log, decoded", function()
    local c = H.changes(db, { record_id = 1 })[2]
    assert.are.equal("number", type(c.id))
    assert.are.equal("number", type(c.txn_id))
    assert.are.equal("person", c.table_name)
    assert.are.equal(1, c.record_id)
    assert.is_nil(c.prev_record_id)
    assert.are.equal("update", c.type)
    assert.are.same({ age = { old = 36, new = 37 } }, c.diff)
    assert.are.equal(T2_TEXT, c.executed_at)
    assert.are.same({ user = "ada" }, c.extra)
    if H.has_integers then
      assert.are.equal("integer", math.type(c.id))
      assert.are.equal("integer", math.type(c.txn_id))
      assert.are.equal("integer", math.type(c.diff.age.new))
    end
  end)

  it("agrees with the raw rows of resql_change_log read with db:rows", function()
    local raw = H.raw_changes(db)
    local decoded = H.changes(db)
    assert.are.equal(#raw, #decoded)
    for i, r in ipairs(raw) do
      assert.are.equal(r.id, decoded[i].id)
      assert.are.equal(r.type, decoded[i].type)
      assert.are.equal(r.executed_at, decoded[i].executed_at)
      assert.are.equal(r.record_id, resql.encode(decoded[i].record_id))
      assert.are.same(resql.decode(r.diff), decoded[i].diff)
      assert.are.equal('{"user":"ada"}', r.extra)
    end
  end)

  it("filters by table", function()
    assert(db:exec("CREATE TABLE pet(id INTEGER PRIMARY KEY, name)"))
    assert(db:exec("INSERT INTO pet(name) VALUES ('Rex')"))
    local pets = H.changes(db, { table = "pet" })
    assert.are.same({ "insert 1" }, summary(pets))
    assert.are.equal("pet", pets[1].table_name)
    assert.are.equal(4, #H.changes(db, { table = "person" }))
    assert.are.same({}, H.changes(db, { table = "nothing" }))
  end)

  it("filters by record_id", function()
    assert.are.same({ "insert 1", "update 1" }, summary(H.changes(db, { record_id = 1 })))
    assert.are.same({ "insert 2", "delete 2" }, summary(H.changes(path, { record_id = 2 })))
    assert.are.same({}, H.changes(db, { record_id = 3 }))
  end)

  it("filters by table and record_id together", function()
    assert(db:exec("CREATE TABLE pet(id INTEGER PRIMARY KEY, name)"))
    assert(db:exec("INSERT INTO pet(name) VALUES ('Rex')"))
    local c = H.changes(db, { table = "pet", record_id = 1 })
    assert.are.equal(1, #c)
    assert.are.equal("pet", c[1].table_name)
  end)

  it("filters by a text record_id", function()
    assert(db:exec("CREATE TABLE tag(name TEXT PRIMARY KEY, n)"))
    assert(db:exec("INSERT INTO tag VALUES ('a\"b', 1), ('1', 2)"))
    local c = H.changes(db, { table = "tag", record_id = 'a"b' })
    assert.are.equal(1, #c)
    assert.are.equal('a"b', c[1].record_id)
    -- the text '1' is not the integer 1
    local one = H.changes(db, { table = "tag", record_id = "1" })
    assert.are.equal(1, #one)
    assert.are.equal("1", one[1].record_id)
    assert.are.same({}, H.changes(db, { table = "tag", record_id = 1 }))
  end)

  it("gives a composite key as an array with n, and filters by it", function()
    assert(db:exec("CREATE TABLE grade(student TEXT, course INTEGER, mark, PRIMARY KEY(student, course))"))
    assert(db:exec("INSERT INTO grade VALUES ('ada', 7, 'A'), ('ada', 8, 'B')"))
    local all = H.changes(db, { table = "grade" })
    assert.are.equal(2, #all)
    assert.are.same({ "ada", 7, n = 2 }, all[1].record_id)
    local c = H.changes(db, { table = "grade", record_id = { "ada", 8 } })
    assert.are.equal(1, #c)
    assert.are.same({ "ada", 8, n = 2 }, c[1].record_id)
  end)

  it("filters by txn", function()
    local all = H.changes(db)
    local first_txn = H.changes(db, { txn = all[1].txn_id })
    assert.are.same({ "insert 1", "insert 2" }, summary(first_txn))
    assert.are.same({ "update 1" }, summary(H.changes(db, { txn = all[3].txn_id })))
  end)

  it("filters by since, inclusive", function()
    assert.are.same({ "update 1", "delete 2" }, summary(H.changes(db, { since = T2_TEXT })))
  end)

  it("filters by until, exclusive", function()
    assert.are.same({ "insert 1", "insert 2", "update 1" }, summary(H.changes(db, { ["until"] = T3_TEXT })))
  end)

  it("filters by since and until together, with times between the log's", function()
    local c = H.changes(path, { since = "2023-11-14T22:13:25Z", ["until"] = "2023-11-14T22:13:35Z" })
    assert.are.same({ "update 1" }, summary(c))
  end)

  it("combines filters", function()
    assert.are.same({ "delete 2" }, summary(H.changes(db, { record_id = 2, since = T2_TEXT })))
  end)

  it("gives prev_record_id after a primary-key change", function()
    clock.now = T3
    assert(db:exec("UPDATE person SET id = 10 WHERE id = 1"))
    local moved = H.changes(db, { record_id = 10 })
    assert.are.equal(1, #moved)
    assert.are.equal("update", moved[1].type)
    assert.are.equal(10, moved[1].record_id)
    assert.are.equal(1, moved[1].prev_record_id)
    assert.are.same({ old = 1, new = 10 }, moved[1].diff.id)
    assert.are.equal("1", H.value(db, "SELECT prev_record_id FROM resql_change_log WHERE record_id = '10'"))
  end)

  it("raises 'resql:' for a filter that is not a table or a source that is neither", function()
    H.raises_with_prefix("resql:", function() resql.changes(db, "person") end)
    H.raises_with_prefix("resql:", function() resql.changes(42) end)
  end)
end)

describe("resql.queries", function()
  local s, db, target, clock
  H.each_test(function(new)
    s = new
    db = s:person_db()
    target = s:path()
    clock = H.manual_clock()
    s:log_queries{ of = db, to = target, clock = clock.fn, extra = { user = "ada" } }
    history(db, clock)
  end)

  local function kinds(queries)
    local out = {}
    for _, q in ipairs(queries) do out[#out + 1] = q.kind end
    return out
  end

  it("reads a path, oldest first", function()
    local queries = H.queries(target)
    assert.are.same({ "Begin", "Insert", "Insert", "Commit", "Update", "Delete" }, kinds(queries))
    for i = 2, #queries do assert.is_true(queries[i].id > queries[i - 1].id) end
  end)

  it("reads a connection to the query-log database", function()
    local reader = s:open(target)
    assert.are.same({ "Begin", "Insert", "Insert", "Commit", "Update", "Delete" }, kinds(H.queries(reader)))
  end)

  it("gives every field of the view resql_query_log, decoded", function()
    local q = H.queries(target)[5]
    assert.are.equal("number", type(q.id))
    assert.are.equal("number", type(q.txn_id))
    assert.are.equal("Update", q.kind)
    assert.matches("^sqlite ", q.dialect_description)
    assert.are.equal("UPDATE person SET age = 37 WHERE id = 1", q.statement)
    assert.are.same({ n = 0 }, q.parameters)
    assert.is_true(q.parameters_exact)
    assert.are.equal(T2_TEXT, q.executed_at)
    assert.are.equal("number", type(q.duration_us))
    assert.are.equal(1, q.rows_changed)
    assert.are.equal("commit", q.outcome)
    assert.are.same({ user = "ada" }, q.extra)
  end)

  it("filters by txn", function()
    local first = H.queries(target)[1]
    assert.are.same({ "Begin", "Insert", "Insert", "Commit" }, kinds(H.queries(target, { txn = first.txn_id })))
  end)

  it("filters by since (inclusive) and until (exclusive)", function()
    assert.are.same({ "Update", "Delete" }, kinds(H.queries(target, { since = T2_TEXT })))
    assert.are.same({ "Begin", "Insert", "Insert", "Commit", "Update" },
                    kinds(H.queries(target, { ["until"] = T3_TEXT })))
    assert.are.same({ "Update" }, kinds(H.queries(target, { since = T2_TEXT, ["until"] = T3_TEXT })))
  end)
end)
