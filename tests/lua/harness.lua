-- harness.lua: the Lua tests' tiny harness.
--   local T = require "harness"
--   T.check(cond, msg)                 -- a failing check is reported with its line
--   T.check_error("part of message", f, ...)  -- f(...) must raise a message containing it
--   T.approx(a, b, tol)                -- numbers or tensors, max |a - b| <= tol (+ rel.)
--   T.test("name", function() ... end) -- a test; an error inside counts as a failure
--   T.done()                           -- prints "N passed, N failed", exits non-zero on failures
local relua = require "relua"

local T = {passed = 0, failed = 0}
local current = "(top level)"

-- The innermost line of a test script on the stack (not of this file, not C).
local function where()
  for level = 2, 50 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.currentline > 0 and not info.short_src:find("harness.lua", 1, true) then
      return info.short_src .. ":" .. info.currentline
    end
  end
  return "?"
end

local function record(ok, msg, level)
  if ok then
    T.passed = T.passed + 1
  else
    T.failed = T.failed + 1
    io.stderr:write(string.format("FAIL %s [%s]: %s\n", where(), current, msg or "check failed"))
  end
  return ok
end

function T.check(cond, msg) return record(not not cond, msg, 2) end

function T.check_error(part, f, ...)
  local ok, err = pcall(f, ...)
  if ok then return record(false, "expected an error containing '" .. part .. "', got none", 2) end
  err = tostring(err)
  return record(err:find(part, 1, true) ~= nil, "error '" .. err .. "' does not contain '" .. part .. "'", 2)
end

-- Largest absolute difference, for numbers, tensors or a mix.
local function maxdiff(a, b)
  if type(a) == "number" and type(b) == "number" then return math.abs(a - b), math.abs(b) end
  local ta = relua.is_tensor(a) and a or relua.tensor(a)
  local tb = relua.is_tensor(b) and b or relua.tensor(b)
  return (ta - tb):abs():max():item(), tb:abs():max():item()
end

function T.approx(a, b, tol)
  tol = tol or 1e-5
  local ok, d, scale = pcall(maxdiff, a, b)
  return ok and d <= tol * (1 + scale), ok and d or scale
end

function T.close(a, b, tol, msg)
  local ok, d = T.approx(a, b, tol)
  return record(ok, (msg or "values differ") .. ": max difference " .. tostring(d), 2)
end

function T.test(name, fn)
  current = name
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then record(false, "raised: " .. tostring(err), 2) end
  current = "(top level)"
end

-- Live tensor bytes after a full collection.
function T.live_bytes()
  collectgarbage() collectgarbage()
  return (relua.memory())
end

function T.done()
  print(string.format("%d passed, %d failed", T.passed, T.failed))
  os.exit(T.failed == 0 and 0 or 1)
end

return T
