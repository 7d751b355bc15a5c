-- The Lua quick start in README.md is run as it stands, and must print what
-- the README says it prints.
describe("README quick start (Lua)", function()
  local function read(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("*a")
    file:close()
    return text
  end

  local function section(text, heading)
    local start = assert(text:find("## " .. heading, 1, true), "no section " .. heading)
    local code = text:match("```lua\n(.-)```", start)
    local printed = text:match("It prints\n\n```\n(.-)```", start)
    return assert(code, "no Lua block"), assert(printed, "no printed block")
  end

  it("runs and prints what the README shows", function()
    local code, expected = section(read("README.md"), "Quick start (Lua)")
    local dir = os.tmpname()
    os.remove(dir)
    code = code:gsub('"shop', '"' .. dir .. '-shop')
    local lines = {}
    local env = setmetatable({
      print = function(...)
        local parts = {}
        for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
        lines[#lines + 1] = table.concat(parts, "\t")
      end,
    }, { __index = _G })
    local chunk = assert((loadstring or load)(code, "=README", "t", env))
    if setfenv then setfenv(chunk, env) end
    chunk()
    for _, suffix in ipairs { "-shop.db", "-shop-audit.db", "-shop-queries.db" } do
      os.remove(dir .. suffix); os.remove(dir .. suffix .. "-wal"); os.remove(dir .. suffix .. "-shm")
    end
    assert.are.equal(expected, table.concat(lines, "\n") .. "\n")
  end)
end)
