-- relua.composites: which LRP rule goes on which layer, by name (Zennit's composites).
--   local composites = require "relua.composites"
--   local c = composites.get("epsilon_gamma_box", {low = -1, high = 1})  -- or composites.epsilon_gamma_box{...}
--   relua.grad(model, x, 3, {rules = c:rules(model)})    -- or methods.lrp(model, x, 3, {composite = c})
--   composites.layer_map{{types.Convolution, "z_plus"}, {types.Dense, "epsilon"}, first = {...}, names = {...}}
--   composites.list()  --> {"epsilon_alpha2_beta1", "epsilon_gamma_box", ...}
-- composites.register(name, ctor, doc) adds ctor(opts) -> composite; every builtin preset
-- takes epsilon = 1e-6 (dense layers), stabilizer = 1e-6 (every other rule), zero_params,
-- layer_map and first_map (entries placed before the preset's), names and canonizers.
local Composite = require "relua.composites.layer_map"

local M = {Composite = Composite}
local registry = {}

M.builtin = {"epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "epsilon_alpha2_beta1",
             "epsilon_alpha2_beta1_flat"}

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

function M.register(name, ctor, doc, options)
  if type(name) ~= "string" then fail("composites.register: the name must be a string, got %s", type(name)) end
  if type(ctor) ~= "function" then fail("composites.register: the constructor must be a function, got %s", type(ctor)) end
  registry[name] = {name = name, ctor = ctor, doc = doc or "", options = options}
  return ctor
end

-- name: doc, then the options with their defaults.
local function describe(e)
  local lines = {e.name .. "{opts}: " .. e.doc}
  local keys = {}
  for k in pairs(e.options or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local o = e.options[k]
    lines[#lines + 1] = string.format("  %s%s: %s", k, o.default ~= nil and " = " .. tostring(o.default) or "", o.doc or "")
  end
  return table.concat(lines, "\n")
end

local function entry(name)
  if type(name) ~= "string" then fail("composites.get: a composite name is a string, got %s", type(name)) end
  if not registry[name] then
    for _, b in ipairs(M.builtin) do
      if b == name then require("relua.composites." .. name) end
    end
  end
  return registry[name]
end

-- A composite: composites.get("epsilon_plus", {epsilon = 0.01}).
function M.get(name, opts)
  local e = entry(name)
  if not e then fail("unknown composite '%s' (composites: %s)", tostring(name), table.concat(M.list(), ", ")) end
  return e.ctor(opts or {})
end

function M.list()
  for _, b in ipairs(M.builtin) do entry(b) end
  local names = {}
  for n in pairs(registry) do names[#names + 1] = n end
  table.sort(names)
  return names
end

function M.help(name)
  local e = entry(name)
  if not e then fail("unknown composite '%s' (composites: %s)", tostring(name), table.concat(M.list(), ", ")) end
  return describe(e)
end

-- A user composite from a layer map (see layer_map.lua).
function M.layer_map(spec) return Composite(spec) end

function M.is_composite(v) return getmetatable(v) == Composite end

-- Options every builtin preset takes, checked like a method's.
M.options = {
  epsilon = {default = 1e-6, type = {"number", "function"}, doc = "epsilon of the epsilon rule on dense layers"},
  stabilizer = {default = 1e-6, type = {"number", "function"}, doc = "stabilizer of every other rule"},
  zero_params = {type = {"table", "string"}, doc = "parameters every rule sets to zero, e.g. {\"bias\"}"},
  layer_map = {type = "table", doc = "{key, rule} entries placed before the preset's"},
  first_map = {type = "table", doc = "{key, rule} entries for the first layer, before the preset's"},
  names = {type = "table", doc = "layer name -> rule, first priority"},
  canonizers = {type = "table", doc = "canonizers applied before the rules (lrp's default: merge_batchnorm)"},
}

-- Builds a preset: opts checked against M.options (+ extra), then the map from
-- build(rule_params, opts) -> layer entries, first entries.
function M.preset(name, doc, extra, build)
  local options = {}
  for k, v in pairs(M.options) do options[k] = v end
  for k, v in pairs(extra or {}) do options[k] = v end
  local rules = require "relua.rules"
  return M.register(name, function(opts)
    local methods = require "relua.methods"
    local ok, o = pcall(methods.check_options, name, options, opts)
    if not ok then error(tostring(o):gsub("^[^\n]-%.lua:%d+: ", "", 1), 3) end
    local layer, first = build(o, rules)
    local spec = {name = name, first = {}, names = o.names, stabilizer = o.stabilizer, canonizers = o.canonizers}
    for _, e in ipairs(o.layer_map or {}) do spec[#spec + 1] = e end
    for _, e in ipairs(Composite.base_map(o.stabilizer)) do spec[#spec + 1] = e end
    for _, e in ipairs(layer) do spec[#spec + 1] = e end
    spec.base = false
    for _, e in ipairs(o.first_map or {}) do spec.first[#spec.first + 1] = e end
    for _, e in ipairs(first or {}) do spec.first[#spec.first + 1] = e end
    return Composite(spec)
  end, doc, options)
end

-- composites.epsilon_plus{...} is composites.get("epsilon_plus", {...}): every builtin
-- preset is a field (the preset files require this module: it is registered first).
package.loaded["relua.composites"] = M
for _, b in ipairs(M.builtin) do
  entry(b)
  M[b] = function(opts) return M.get(b, opts) end
  local ok, help = pcall(require, "relua.help")
  if ok then help.doc(M[b], describe(registry[b])) end
end

-- Composites registered later are reachable as fields too.
return setmetatable(M, {__index = function(_, name)
  if type(name) == "string" and registry[name] then return function(opts) return M.get(name, opts) end end
  return nil
end})
