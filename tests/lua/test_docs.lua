-- The examples of docs/lua-api.md still run: every ```lua block, in order, as one chunk.
local T = require "harness"

local dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
local f = io.open(dir .. "/../../docs/lua-api.md") or io.open("../../docs/lua-api.md")
T.check(f, "docs/lua-api.md is readable")
if f then
  local text = f:read("a")
  f:close()
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end
  T.check(#blocks >= 8, "the page has examples: " .. #blocks)
  -- the memory example loops 10 times over 38 MB batches: twice is enough here
  local chunk = table.concat(blocks, "\n"):gsub("for i = 1, 10 do", "for i = 1, 2 do")
  local fn, err = load(chunk, "=docs/lua-api.md", "t", setmetatable({print = function() end}, {__index = _G}))
  T.check(fn, "the examples compile: " .. tostring(err))
  if fn then
    local ok, e = pcall(fn)
    T.check(ok, "the examples run: " .. tostring(e))
  end
end

T.done()
