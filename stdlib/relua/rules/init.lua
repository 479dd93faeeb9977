-- relua.rules: the LRP rules, by name. A rule is a function of a rule context
-- (docs/lua-api.md, "Rules") returning the relevance at the layer's input; the
-- builtin ones are configurations of rules.basic (Zennit's BasicHook), one per file.
--   local rules = require "relua.rules"
--   local r = rules.epsilon{epsilon = 0.25}          -- or rules.new("epsilon", {epsilon = 0.25})
--   relua.grad(model, x, 3, {rules = {linear = r}})
--   rules.list()            --> {"alpha_beta", "epsilon", ...}
--   print(rules.help("gamma"))
-- rules.register(ctor) adds a constructor made with rules.basic.define.
local basic = require "relua.rules.basic"

local M = {basic = basic}
local registry = {}

M.builtin = {"epsilon", "z_plus", "alpha_beta", "gamma", "z_box", "flat", "w_square", "norm", "pass", "gradient"}

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

function M.register(ctor)
  if getmetatable(ctor) ~= basic.Constructor then
    fail("rules.register: expected a constructor made by rules.basic.define, got %s", type(ctor))
  end
  registry[ctor.name] = ctor
  return ctor
end

-- The constructor of rule `name`.
function M.get(name)
  if type(name) ~= "string" then fail("rules.get: a rule name is a string, got %s", type(name)) end
  if registry[name] then return registry[name] end
  for _, b in ipairs(M.builtin) do
    if b == name then return M.register(require("relua.rules." .. name)) end
  end
  fail("unknown rule '%s' (rules: %s)", name, table.concat(M.list(), ", "))
end

-- A rule: rules.new("alpha_beta", {alpha = 1, beta = 0}).
function M.new(name, params) return M.get(name)(params) end

function M.list()
  for _, b in ipairs(M.builtin) do if not registry[b] then M.get(b) end end
  local names = {}
  for n in pairs(registry) do names[#names + 1] = n end
  table.sort(names)
  return names
end

-- A few lines on rule `name`: what it does, the paper, every parameter with its default.
function M.help(name)
  local c = M.get(name)
  local lines = {string.format("%s: %s%s", c.name, c.doc, c.paper and " (" .. c.paper .. ")" or "")}
  local keys = {}
  for k in pairs(c.params) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local s = c.params[k]
    local d = s.required and "required" or s.default ~= nil and "default " .. tostring(s.default) or "optional"
    lines[#lines + 1] = string.format("  %s (%s): %s", k, d, s.doc or "")
  end
  return table.concat(lines, "\n")
end

-- rules.epsilon{...} is rules.new("epsilon", {...}); the presets of alpha_beta too.
local presets = {alpha1_beta0 = {"alpha_beta", {alpha = 1, beta = 0}}, alpha2_beta1 = {"alpha_beta", {alpha = 2, beta = 1}}}
return setmetatable(M, {__index = function(_, name)
  if presets[name] then
    local base, p = presets[name][1], presets[name][2]
    return function(extra)
      local all = {}
      for k, v in pairs(p) do all[k] = v end
      for k, v in pairs(extra or {}) do all[k] = v end
      return M.new(base, all)
    end
  end
  for _, b in ipairs(M.builtin) do if b == name then return M.get(name) end end
  for n, c in pairs(registry) do if n == name then return c end end
  return nil
end})
