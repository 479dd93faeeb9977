-- relua.cli.methods: `relua methods [NAME...]`: every registered attribution
-- method with its options (type, default, meaning) and paper, then the LRP
-- composites (usable as `relua explain --method lrp.<composite>`).
--
-- main(args [, io]) returns the exit status: 0, or 2 for an unknown name.
local M = {}

local function fmt_value(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = fmt_value(x) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

local function fmt_type(spec)
  if spec.values then
    local vs = {}
    for i, v in ipairs(spec.values) do vs[i] = fmt_value(v) end
    return table.concat(vs, "|")
  end
  local t = spec.type
  if type(t) == "table" then t = table.concat(t, "|") end
  local s = t or "any"
  if spec.min and spec.max then s = s .. string.format(" in [%s, %s]", spec.min, spec.max)
  elseif spec.min then s = s .. " >= " .. spec.min
  elseif spec.max then s = s .. " <= " .. spec.max end
  return s
end

-- The text describing one method entry.
function M.describe(entry)
  local lines = {}
  local head = entry.name
  if entry.doc then head = head .. "  " .. entry.doc end
  lines[1] = head
  if entry.paper then lines[#lines + 1] = "    paper: " .. entry.paper end
  local names = {}
  for k in pairs(entry.options or {}) do names[#names + 1] = k end
  table.sort(names)
  if #names == 0 then lines[#lines + 1] = "    (no options)" end
  for _, k in ipairs(names) do
    local spec = entry.options[k]
    local d = spec.default ~= nil and (" = " .. fmt_value(spec.default)) or ""
    lines[#lines + 1] = string.format("    -o %s%s  (%s)%s", k, d, fmt_type(spec), spec.doc and ("  " .. spec.doc) or "")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The LRP composites, or nil when relua.composites is not in this build.
local function composites()
  local ok, c = pcall(require, "relua.composites")
  if not ok or type(c) ~= "table" or type(c.list) ~= "function" then return nil end
  local ok2, names = pcall(c.list)
  if not ok2 then return nil end
  local out = {}
  for i, n in ipairs(names) do
    local entry = type(c.get) == "function" and select(2, pcall(c.get, n)) or nil
    local doc = type(entry) == "table" and entry.doc or nil
    out[i] = {name = type(n) == "table" and n.name or tostring(n), doc = doc}
  end
  return out
end

function M.main(args, io_)
  io_ = io_ or {}
  local out, err = io_.out or io.stdout, io_.err or io.stderr
  local methods = require "relua.methods"
  args = args or {}
  if args[1] == "-h" or args[1] == "--help" then
    out:write("usage: relua methods [NAME...]\n  lists the attribution methods, their options and defaults, and the LRP composites\n")
    return 0
  end
  local ok, names = pcall(methods.list)
  if not ok then
    err:write("relua methods: ", tostring(names), "\n")
    return 1
  end
  if #args > 0 then
    for _, n in ipairs(args) do
      local name = n:match("^lrp%.") and "lrp" or n
      local ok2, entry = pcall(methods.get, name)
      if not ok2 or not entry then
        local msg = tostring(entry):gsub("^[^:]*%.lua:%d+: ", "")
        if not msg:find("^unknown method") then msg = string.format("unknown method '%s' (methods: %s)", name, table.concat(names, ", ")) end
        err:write("relua methods: ", msg, "\n")
        return 2
      end
      out:write(M.describe(entry))
    end
    return 0
  end
  out:write(string.format("%d methods (relua explain --method NAME -o key=value):\n\n", #names))
  for _, n in ipairs(names) do out:write(M.describe(methods.get(n)), "\n") end
  local comps = composites()
  if comps then
    out:write(string.format("%d LRP composites (--method lrp.NAME):\n", #comps))
    for _, c in ipairs(comps) do out:write("  lrp.", c.name, c.doc and ("  " .. c.doc) or "", "\n") end
  else
    out:write("LRP composites: none in this build\n")
  end
  return 0
end

return M
