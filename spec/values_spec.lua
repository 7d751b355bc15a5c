-- Lossless values: what Lua binds goes through the change log and comes back
-- from resql.changes with the same value and, on 5.4, the same math.type.
local H = require "spec.fixtures.helpers"
local resql = H.resql

-- Values that every Lua can carry exactly.
local portable = {
  { name = "0.1", value = 0.1, storage = "real" },
  { name = "1e308", value = 1e308, storage = "real" },
  { name = "-0.5", value = -0.5, storage = "real" },
  { name = "a string with NUL bytes", value = "a\0b\0\0c", storage = "text" },
  { name = "an empty string", value = "", storage = "text" },
  { name = "UTF-8 text", value = "h\195\169llo \226\130\172", storage = "text" },
  { name = "text that is not UTF-8", value = "\255\254 latin-1 \233", storage = "text" },
  { name = "an integer", value = 42, storage = "integer" },
  { name = "2^53 (a float: REAL on 5.4 and on LuaJIT)", value = 2 ^ 53, storage = "real" },
}

describe("lossless round trip through the change log", function()
  local s, db
  H.each_test(function(new)
    s = new
    db = s:open()
    -- no declared type: no affinity, the value is stored as bound
    assert(db:exec("CREATE TABLE v(id INTEGER PRIMARY KEY, x)"))
    s:log_changes{ of = db }
  end)

  -- Inserts `value`, updates it to `value`, checks the stored type and what
  -- resql.changes gives back for the new value and, after the update, the old.
  local function round_trip(value, storage)
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?)", value))
    assert.are.equal(storage, H.value(db, "SELECT typeof(x) FROM v"))
    assert(db:exec("UPDATE v SET x = NULL"))
    local changes = H.changes(db, { table = "v" })
    assert.are.equal(2, #changes)
    local new, old = changes[1].diff.x.new, changes[2].diff.x.old
    assert.are.equal(value, new)
    assert.are.equal(value, old)
    assert.is_nil(changes[2].diff.x.new)
    return new, old
  end

  for _, case in ipairs(portable) do
    it("keeps " .. case.name, function()
      local new, old = round_trip(case.value, case.storage)
      assert.are.equal(type(case.value), type(new))
      if H.has_integers and type(new) == "number" then
        assert.are.equal(math.type(case.value), math.type(new))
        assert.are.equal(math.type(case.value), math.type(old))
      end
    end)
  end

  it("keeps a blob made with resql.blob, as a string", function()
    local bytes = "\0\1\2\255 blob"
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?)", resql.blob(bytes)))
    assert.are.equal("blob", H.value(db, "SELECT typeof(x) FROM v"))
    local c = H.changes(db, { table = "v" })[1]
    assert.are.equal("string", type(c.diff.x.new))
    assert.are.equal(bytes, c.diff.x.new)
    -- raw: {"$blob":"<base64>"}
    assert.are.equal('{"$blob":"AAEC/yBibG9i"}',
                     H.value(db, "SELECT json_extract(diff, '$.x.new') FROM resql_changes"))
  end)

  it("keeps an empty blob apart from NULL", function()
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?)", resql.blob("")))
    local c = H.changes(db, { table = "v" })[1]
    assert.are.equal("", c.diff.x.new)
    assert.are.equal('{"$blob":""}', H.value(db, "SELECT json_extract(diff, '$.x.new') FROM resql_changes"))
  end)

  it("keeps math.maxinteger and math.mininteger (Lua 5.4)", function()
    -- LuaJIT / 5.1 have no 64-bit integers: int64 extremes are not representable
    -- as Lua numbers there, so this case only runs on 5.4.
    if not H.has_integers then return end
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?), (2, ?)", math.maxinteger, math.mininteger))
    local changes = H.changes(db, { table = "v" })
    assert.are.equal(math.maxinteger, changes[1].diff.x.new)
    assert.are.equal(math.mininteger, changes[2].diff.x.new)
    assert.are.equal("integer", math.type(changes[1].diff.x.new))
    assert.are.equal("integer", math.type(changes[2].diff.x.new))
    local raw = H.rows(db, "SELECT json_extract(diff, '$.x.new') AS x, typeof(json_extract(diff, '$.x.new')) AS t "
                         .. "FROM resql_changes ORDER BY id")
    assert.are.same({ { x = math.maxinteger, t = "integer" }, { x = math.mininteger, t = "integer" } }, raw)
    assert.are.equal('{"id":{"old":null,"new":1},"x":{"old":null,"new":9223372036854775807}}',
                     H.value(db, "SELECT diff FROM resql_changes WHERE id = 1"))
  end)

  it("keeps 1.0 a float and 1 an integer (Lua 5.4)", function()
    if not H.has_integers then return end    -- LuaJIT: one number type
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?), (2, ?)", 1.0, 1))
    local changes = H.changes(db, { table = "v" })
    assert.are.equal("float", math.type(changes[1].diff.x.new))
    assert.are.equal("integer", math.type(changes[2].diff.x.new))
    assert.are.equal('{"id":{"old":null,"new":1},"x":{"old":null,"new":1.0}}',
                     H.value(db, "SELECT diff FROM resql_changes WHERE id = 1"))
  end)

  it("stores 0.1 as its shortest round-trip text", function()
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?)", 0.1))
    assert.are.equal('{"id":{"old":null,"new":1},"x":{"old":null,"new":0.1}}',
                     H.value(db, "SELECT diff FROM resql_changes"))
  end)

  it("keeps the integral numbers of LuaJIT as INTEGER", function()
    if H.has_integers then return end         -- 5.4: covered by the math.type cases
    assert(db:exec("INSERT INTO v(id, x) VALUES (1, ?)", 2 ^ 52 + 1))
    assert.are.equal("integer", H.value(db, "SELECT typeof(x) FROM v"))
    assert.are.equal(2 ^ 52 + 1, H.changes(db, { table = "v" })[1].diff.x.new)
  end)
end)

describe("resql.encode and resql.decode", function()
  it("decode arrays with a field n that keeps nil entries", function()
    local t = resql.decode('[1,null,"x",null]')
    assert.are.equal(4, t.n)
    assert.are.equal(1, t[1])
    assert.is_nil(t[2])
    assert.are.equal("x", t[3])
  end)

  it("decode null as nil and objects as tables", function()
    assert.is_nil(resql.decode("null"))
    assert.are.same({ a = { old = 1 } }, resql.decode('{"a":{"old":1,"new":null}}'))
  end)

  it("decode blobs as strings", function()
    assert.are.equal("\0\1\2\255 blob", resql.decode('{"$blob":"AAEC/yBibG9i"}'))
  end)

  it("decode REALs as floats and integers as integers", function()
    assert.are.equal(0.30000000000000004, resql.decode("0.30000000000000004"))
    if H.has_integers then
      assert.are.equal("float", math.type(resql.decode("1.0")))
      assert.are.equal("integer", math.type(resql.decode("1")))
      assert.are.equal(math.mininteger, resql.decode("-9223372036854775808"))
    end
  end)

  it("encode floats with the shortest round-trip text", function()
    assert.are.equal("0.30000000000000004", resql.encode(0.1 + 0.2))
    assert.are.equal("0.1", resql.encode(0.1))
    if H.has_integers then
      assert.are.equal("1.0", resql.encode(1.0))
      assert.are.equal("9223372036854775807", resql.encode(math.maxinteger))
    end
  end)

  it("encode and decode give back strings with NUL bytes", function()
    local v = "a\0b"
    assert.are.equal(v, resql.decode(resql.encode(v)))
  end)

  it("encode resql.blob as $blob", function()
    assert.are.equal('{"$blob":"AAE="}', resql.encode(resql.blob("\0\1")))
  end)
end)
