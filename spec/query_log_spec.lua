-- The query log from Lua: the prototype's scenarios (one insert, many inserts
-- with parameters, selects left out) and the record's fields.
local H = require "spec.fixtures.helpers"
local resql = H.resql

describe("query log: the prototype's scenarios", function()
  local s, db, target
  H.each_test(function(new)
    s = new
    db = s:person_db()
    target = s:path()
    s:log_queries{ of = db, to = target, extra = { app = "billing" }, clock = H.frozen_clock }
  end)

  it("logs one insert with its statement, parameters, time and extra", function()
    local sql = "INSERT INTO person(name, age) VALUES (?, ?)"
    assert(db:exec(sql, "Someone", 25))
    local queries = H.queries(target)
    assert.are.equal(1, #queries)
    local q = queries[1]
    assert.are.equal("Insert", q.kind)
    assert.are.equal(sql, q.statement)
    assert.are.same({ "Someone", 25, n = 2 }, q.parameters)
    assert.is_true(q.parameters_exact)
    assert.are.equal(H.FROZEN_TEXT, q.executed_at)
    assert.are.same({ app = "billing" }, q.extra)
    assert.are.equal("commit", q.outcome)
    assert.are.equal(1, q.rows_changed)
    assert.are.equal("number", type(q.duration_us))
    assert.matches("^sqlite 3%.%d+%.%d+", q.dialect_description)
    if H.has_integers then assert.are.equal("integer", math.type(q.parameters[2])) end
  end)

  it("logs many inserts with their exact parameters", function()
    local sql = "INSERT INTO person(name, age) VALUES (?, ?)"
    local ages = { 25, 0.1 + 0.2, 1e308, -0.5 }
    db:transaction(function()
      for i, age in ipairs(ages) do assert(db:exec(sql, "p" .. i, age)) end
    end)
    local kinds = {}
    for _, q in ipairs(H.queries(target)) do kinds[#kinds + 1] = q.kind end
    assert.are.same({ "Begin", "Insert", "Insert", "Insert", "Insert", "Commit" }, kinds)
    local inserts = H.queries_of_kind(target, "Insert")
    for i, q in ipairs(inserts) do
      assert.are.equal(sql, q.statement)
      assert.are.equal("p" .. i, q.parameters[1])
      assert.are.equal(ages[i], q.parameters[2])
      assert.is_true(q.parameters_exact)
      assert.are.equal(inserts[1].txn_id, q.txn_id)
    end
    assert.are.equal("0.30000000000000004", ("%.17g"):format(inserts[2].parameters[2]))
    assert.are.equal(0.30000000000000004, inserts[2].parameters[2])
    if H.has_integers then
      assert.are.equal("float", math.type(inserts[2].parameters[2]))
      assert.are.equal("integer", math.type(inserts[1].parameters[2]))
    end
  end)

  it("stores 0.1 + 0.2 as 0.30000000000000004 in the raw parameters JSON", function()
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", "x", 0.1 + 0.2))
    local reader = s:open(target)
    local row = reader:first("SELECT parameters, parameters_exact FROM resql_query_log WHERE kind = 'Insert'")
    assert.are.equal('["x",0.30000000000000004]', row.parameters)
    assert.are.equal(1, row.parameters_exact)
  end)

  it("does not log selects", function()
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert.are.same({ n = 1 }, db:first("SELECT count(*) AS n FROM person"))
    for _ in db:rows("SELECT * FROM person") do end
    assert(db:exec("SELECT * FROM person"))
    local kinds = {}
    for _, q in ipairs(H.queries(target)) do kinds[#kinds + 1] = q.kind end
    assert.are.same({ "Insert" }, kinds)
  end)
end)

describe("query log options", function()
  local s, db, target
  H.each_test(function(new) s = new; db = s:person_db(); target = s:path() end)

  it("logs selects with include_reads", function()
    s:log_queries{ of = db, to = target, include_reads = true }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    assert.are.same({ n = 1 }, db:first("SELECT count(*) AS n FROM person WHERE name = ?", "a"))
    local queries = H.queries(target)
    assert.are.equal(2, #queries)
    assert.are.equal("Insert", queries[1].kind)
    assert.are.equal("Select", queries[2].kind)
    assert.are.equal("SELECT count(*) AS n FROM person WHERE name = ?", queries[2].statement)
    assert.are.same({ "a", n = 1 }, queries[2].parameters)
  end)

  it("keeps rolled-back transactions, marked as rolled back", function()
    s:log_queries{ of = db, to = target }
    assert(db:exec("BEGIN"))
    assert(db:exec("INSERT INTO person(name) VALUES ('ghost')"))
    assert(db:exec("ROLLBACK"))
    local seen = {}
    for _, q in ipairs(H.queries(target)) do seen[#seen + 1] = q.kind .. ":" .. q.outcome end
    assert.are.same({ "Begin:rollback", "Insert:rollback", "Rollback:rollback" }, seen)
  end)

  it("leaves rolled-back transactions out with drop_rollbacks", function()
    s:log_queries{ of = db, to = target, drop_rollbacks = true }
    local err = H.error_of(db.transaction, db, function()
      assert(db:exec("INSERT INTO person(name) VALUES ('ghost')"))
      error("nope", 0)
    end)
    assert.are.equal("nope", err)
    assert(db:exec("INSERT INTO person(name) VALUES ('real')"))
    local queries = H.queries(target)
    assert.are.equal(1, #queries)
    assert.are.equal("INSERT INTO person(name) VALUES ('real')", queries[1].statement)
    assert.are.equal("commit", queries[1].outcome)
  end)

  it("records named parameters as an object keyed by name with prefix", function()
    s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name, age) VALUES (:name, :age)", { name = "Ada", age = 36 }))
    local q = H.queries_of_kind(target, "Insert")[1]
    assert.are.same({ [":name"] = "Ada", [":age"] = 36 }, q.parameters)
  end)

  it("records NULL parameters in place, with the array's length in n", function()
    s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name, age) VALUES (?, ?)", nil, 25))
    local q = H.queries_of_kind(target, "Insert")[1]
    assert.are.equal(2, q.parameters.n)
    assert.is_nil(q.parameters[1])
    assert.are.equal(25, q.parameters[2])
  end)

  it("records an empty array for a statement without parameters", function()
    s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    local q = H.queries_of_kind(target, "Insert")[1]
    assert.are.same({ n = 0 }, q.parameters)
  end)

  it("records exact parameters of prepared statements run several times", function()
    s:log_queries{ of = db, to = target }
    local stmt = assert(db:prepare("INSERT INTO person(name, age) VALUES (?, ?)"))
    stmt:bind("a\0b", 1.5):step()
    stmt:reset()
    stmt:bind("c", 2):step()
    stmt:finalize()
    local inserts = H.queries_of_kind(target, "Insert")
    assert.are.equal(2, #inserts)
    assert.are.same({ "a\0b", 1.5, n = 2 }, inserts[1].parameters)
    assert.are.same({ "c", 2, n = 2 }, inserts[2].parameters)
    assert.is_true(inserts[1].parameters_exact)
  end)

  it("records each statement of an exec with several statements", function()
    s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name) VALUES ('a'); UPDATE person SET age = 1; DELETE FROM person"))
    local kinds = {}
    for _, q in ipairs(H.queries(target)) do kinds[#kinds + 1] = q.kind end
    assert.are.same({ "Insert", "Update", "Delete" }, kinds)
  end)

  it("stops logging on close, idempotently", function()
    local logger = s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    logger:close()
    assert.is_false(logger:is_open())
    logger:close()
    assert(db:exec("INSERT INTO person(name) VALUES ('b')"))
    assert.are.equal(1, #H.queries(target))
  end)

  it("works next to a change log on the same connection", function()
    local changes = s:log_changes{ of = db }
    local queries = s:log_queries{ of = db, to = target }
    assert(db:exec("INSERT INTO person(name) VALUES ('a')"))
    changes:close()
    assert(db:exec("INSERT INTO person(name) VALUES ('b')"))
    queries:close()
    assert(db:exec("INSERT INTO person(name) VALUES ('c')"))
    assert.are.equal(1, #H.changes(db))
    assert.are.equal(2, #H.queries_of_kind(target, "Insert"))
  end)

  it("raises 'resql:' when 'to' is missing", function()
    H.raises_with_prefix("resql:", function() resql.log_queries{ of = db } end)
  end)
end)
