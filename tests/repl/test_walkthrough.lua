-- test_walkthrough.lua: docs/repl.md's sessions, typed into `relua -i`, must run without an
-- error and print what the page shows (lines with decimals or "..." are not compared).
-- usage: relua test_walkthrough.lua RELUA DOCS/REPL.MD TMPDIR
package.path = arg[0]:gsub("[^/]*$", "") .. "?.lua;" .. package.path
local H = require "harness"
local exe, page, tmp = assert(arg[1]), assert(arg[2]), assert(arg[3])
os.execute("mkdir -p '" .. tmp .. "'")

if not (rawget(_G, "nn") and nn.Sequential and relua.grad) then
  print("skipped: this build has no relua.nn / relua.grad")
  H.finish()
end

local input, expected = {}, {}
local block, in_block = {}, false
for line in io.lines(page) do
  if line:match("^```") then
    if in_block then
      local session = false
      for _, l in ipairs(block) do if l:match("^> ") then session = true end end
      for _, l in ipairs(session and block or {}) do
        local code = l:match("^>>? (.*)$")
        if code then
          input[#input + 1] = code
        elseif not l:find("...", 1, true) and not l:find("%d%.%d") and l:match("%S") then
          expected[#expected + 1] = l
        end
      end
    end
    block, in_block = {}, not in_block
  elseif in_block then
    block[#block + 1] = line
  end
end
H.check(#input > 20 and #expected > 10, "the page has sessions to replay", #input .. " inputs")

local function write(path, text)
  local f = assert(io.open(path, "w")); f:write(text); f:close()
end
local function read(path)
  local f = io.open(path); if not f then return "" end
  local s = f:read("a"); f:close(); return s
end
write(tmp .. "/walk.in", table.concat(input, "\n") .. "\n")
local q = function(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local ok = os.execute(q(exe) .. " -e \"_PROMPT='' _PROMPT2=''\" -i < " .. q(tmp .. "/walk.in") ..
                      " > " .. q(tmp .. "/walk.out") .. " 2> " .. q(tmp .. "/walk.err"))
local out, err = read(tmp .. "/walk.out"), read(tmp .. "/walk.err")
H.check(ok, "the session exits 0")
H.eq(err, "", "the session prints no error")
local pos = 1
for _, l in ipairs(expected) do
  local s, e = out:find(l, pos, true)
  if H.check(s ~= nil, "prints: " .. l, "not found (in order) in:\n" .. out:sub(pos, pos + 2000)) then
    pos = e + 1
  end
end
H.finish()
