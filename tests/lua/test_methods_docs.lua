-- docs/writing-methods.md: its example method is at most 25 lines, registers, and runs as shown;
-- docs/methods.md names every option of every method it documents.
local T = require "harness"
local relua = require "relua"

local dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
local function read(name)
  local f = io.open(dir .. "/../../docs/" .. name) or io.open("../../docs/" .. name)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

T.test("writing-methods.md: the example runs as shown", function()
  local text = read("writing-methods.md")
  T.check(text, "docs/writing-methods.md is readable")
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end
  T.check(#blocks == 2, "two examples: " .. #blocks)
  local method = blocks[1]:match("(relua%.methods%.register{.-\n})")
  local lines = select(2, method:gsub("\n", "\n")) + 1
  T.check(lines <= 25, "the method is " .. lines .. " lines")
  -- print is captured: each printed line is checked against the --> line after it
  local printed = {}
  local env = setmetatable({print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    printed[#printed + 1] = table.concat(parts, "  ")
  end}, {__index = _G})
  local fn, err = load(blocks[1] .. "\n" .. blocks[2], "=writing-methods.md", "t", env)
  T.check(fn, "compiles: " .. tostring(err))
  local ok, e = pcall(fn)
  T.check(ok, "runs: " .. tostring(e))
  local expected = {}
  for want in blocks[2]:gmatch("%-%->%s*([^\n]+)") do expected[#expected + 1] = want end
  T.check(#printed == #expected, "printed " .. #printed .. " lines for " .. #expected)
  for i, want in ipairs(expected) do
    -- the message may carry the caller's position first
    local got = (printed[i] or ""):gsub("  [^ ]+:%d+: ", "  ")
    T.check(got == want, "line " .. i .. ": '" .. tostring(printed[i]) .. "' vs '" .. want .. "'")
  end
  -- registered: listed and callable by name
  T.check(table.concat(relua.methods.list(), " "):find("expected_gradients", 1, true), "listed")
  local x = relua.randn(1, 4, {seed = 1})
  local m = relua.nn.Linear(4, 2)
  local a = relua.methods.call("expected_gradients", m, x, 1, {references = relua.zeros(3, 4)})
  T.close(a, x * m.weight[1], 1e-5, "zero references: gradient x input")
  T.close(relua.methods.call("expected_gradients", m, x, 1, {references = relua.zeros(3, 4), batch_size = 3}), a, 1e-6)
end)

T.test("writing-methods.md: the blur variation is one line that works", function()
  local text = read("writing-methods.md")
  local line = text:match("`(fn = function%(m, x, t, o%).-end)`")
  T.check(line, "the one-liner is there")
  local U = require "relua.methods._util"
  local env = setmetatable({relua = relua, U = U}, {__index = _G})
  local chunk = load("return {" .. line .. "}", "=blur", "t", env)
  local fn = chunk().fn
  relua.methods.register{name = "blur_gxi", doc = "x - blur(x) times the gradient", fn = fn,
    options = {sigma = {default = 1.0, type = "number", min = 0.01}}}
  relua.seed(2)
  local model = relua.nn.Sequential(relua.nn.Flatten(), relua.nn.Linear(2 * 5 * 5, 3))
  local x = relua.randn(1, 2, 5, 5, {seed = 3})
  local a = relua.methods.blur_gxi(model, x, 3)
  T.close(a, (x - U.blur(x, 1.0)) * model:get(2).weight[3]:reshape(1, 2, 5, 5), 1e-5)
end)

T.test("a method file on the Lua path is found by name", function()
  local d = os.tmpname()
  os.remove(d)
  T.check(os.execute("mkdir -p " .. d .. "/relua/methods"), "made a directory")
  local f = assert(io.open(d .. "/relua/methods/doubled_saliency.lua", "w"))
  f:write([[
local relua = require "relua"
return relua.methods.register{name = "doubled_saliency", doc = "2 |gradient|",
  fn = function(m, x, t) return relua.methods.saliency(m, x, t) * 2 end}
]])
  f:close()
  local saved = package.path
  package.path = d .. "/?.lua;" .. package.path
  local m = relua.nn.Linear(3, 2)
  local x = relua.randn(2, 3)
  local ok, a = pcall(relua.methods.call, "doubled_saliency", m, x, 1)
  package.path = saved
  os.remove(d .. "/relua/methods/doubled_saliency.lua")
  os.execute("rm -r " .. d)
  T.check(ok, "called: " .. tostring(a))
  if ok then T.close(a, m.weight[1]:abs():reshape(1, 3):expand(2, 3) * 2, 1e-6) end
  T.check_error("unknown method 'no_such_method' (methods: ", relua.methods.call, "no_such_method", m, x, 1)
end)

T.test("methods.md documents every option of every method", function()
  local text = read("methods.md")
  T.check(text, "docs/methods.md is readable")
  for _, name in ipairs(relua.methods.builtin) do
    if name ~= "lrp" then   -- documented with the rules
      local e = relua.methods.get(name)
      local section = text:match("\n### " .. name .. "\n(.-)\n##") or text:match("\n### " .. name .. "\n(.*)$")
      T.check(section, name .. " has a section")
      for opt in pairs(e.options) do
        local where = section and section:find("`" .. opt .. "`", 1, true)
        -- the CAM options are documented once for the family
        if not where and section then where = text:match("## Class activation maps(.-)###"):find("`" .. opt .. "`", 1, true) end
        T.check(where, name .. ": option " .. opt .. " is documented")
      end
    end
  end
end)

T.done()
