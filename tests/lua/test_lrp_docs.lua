-- The examples of docs/writing-rules.md and docs/lrp.md run, and print what the pages say:
-- every ```lua block of a page, in order, as one chunk; each "--> " line in them is the
-- next line the examples print (print's arguments joined by tabs).
local T = require "harness"

local dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."

local function page(name)
  local f = io.open(dir .. "/../../docs/" .. name) or io.open("../../docs/" .. name)
  T.check(f, "docs/" .. name .. " is readable")
  if not f then return end
  local text = f:read("a")
  f:close()
  local blocks, expected = {}, {}
  for code in text:gmatch("```lua\n(.-)```") do
    blocks[#blocks + 1] = code
    for line in code:gmatch("[^\n]*") do
      local want = line:match("^%s*%-%-> (.*)$")
      if want then expected[#expected + 1] = want end
    end
  end
  T.check(#blocks >= 2 and #expected >= 2, name .. " has examples with outputs")
  local printed = {}
  local env = setmetatable({print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    for line in (table.concat(parts, "\t", 1, parts.n) .. "\n"):gmatch("([^\n]*)\n") do printed[#printed + 1] = line end
  end}, {__index = _G})
  local fn, err = load(table.concat(blocks, "\n"), "=docs/" .. name, "t", env)
  T.check(fn, name .. ": the examples compile: " .. tostring(err))
  if not fn then return end
  local ok, e = pcall(fn)
  T.check(ok, name .. ": the examples run: " .. tostring(e))
  for i, want in ipairs(expected) do
    local got = (printed[i] or "(nothing)"):gsub("%s+$", "")
    T.check(got == want:gsub("%s+$", ""), string.format("%s: output line %d is\n  %s\nthe page says\n  %s", name, i, got, want))
  end
  T.check(#printed == #expected, string.format("%s: %d lines printed, %d on the page", name, #printed, #expected))
end

page("lrp.md")            -- first: it lists the rules, and the other page registers one
page("writing-rules.md")

T.done()
