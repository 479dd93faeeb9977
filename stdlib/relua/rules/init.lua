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
function M.help(name) return basic.describe(M.get(name)) end

-- rules.epsilon{...} is rules.new("epsilon", {...}): every builtin constructor is a field,
-- so help() and tab completion see them; alpha1_beta0 and alpha2_beta1 are presets.
for _, b in ipairs(M.builtin) do M[b] = M.get(b) end
local function preset(alpha, beta)
  return function(extra)
    local p = {alpha = alpha, beta = beta}
    for k, v in pairs(extra or {}) do p[k] = v end
    return M.new("alpha_beta", p)
  end
end
M.alpha1_beta0, M.alpha2_beta1 = preset(1, 0), preset(2, 1)

-- Rules registered later are reachable as fields too.
return setmetatable(M, {__index = function(_, name) return registry[name] end})
