-- relua.composites.layer_map: the composite, mapping each layer of a model to a rule
-- (Zennit's LayerMapComposite, SpecialFirstLayerMapComposite and NameMapComposite in one).
--   local c = composites.layer_map{
--     names = {fc3 = rules.epsilon{epsilon = 0}},          -- by layer name: first priority
--     first = {{types.Convolution, "w_square"}},            -- the first leaf layer matching, in modules() order
--     {types.Convolution, rules.gamma{gamma = 0.5}},        -- then by type, in order: first match wins
--     {nn.Linear, "epsilon"},
--   }
-- A key is a type group (relua.types), an nn class, or an op kind ("add", "conv2d").
-- A rule is a rule object, a function of a rule context, or a rule name (defaults).
-- The base map (Zennit's layer_map_base: Activation -> pass, Sum -> norm, AvgPool -> norm,
-- BatchNorm -> pass, plus MaxPool -> gradient) follows the user's entries unless base = false.
-- c:rules(model) gives the table relua.grad takes as opts.rules: every leaf module of the
-- model with a rule, and nn.Add / nn.Residual (their last call), and every op kind of the
-- type map (calls outside modules, and earlier calls of modules called twice).
local class = require "relua.class"
local types = require "relua.types"
local nn = require "relua.nn"
local rules = require "relua.rules"

local Composite = class("relua.Composite")

-- Errors name the entry at fault; a position inside this file would only distract.
local function fail(fmt, ...) error(string.format("composite: " .. fmt, ...), 0) end

local function is_class(c) return type(c) == "table" and rawget(c, "__index") == c and c.__name ~= nil end

-- A rule from a rule object, function or name.
local function to_rule(v, where)
  if type(v) == "string" then
    local ok, r = pcall(rules.new, v)
    if not ok then fail("%s: %s", where, tostring(r):gsub("^[^\n]-%.lua:%d+: ", "", 1)) end
    return r
  end
  if type(v) == "function" then return v end
  if type(v) == "table" and getmetatable(v) and getmetatable(v).__call then return v end
  fail("%s: a rule is a rule, a function or a rule name, got %s", where, type(v))
end

-- {kind = string} | {group = g} | {class = c} from a layer map key.
local function to_key(k, where)
  if types.is_group(k) then return {group = k} end
  if type(k) == "string" then
    if types[k] and types.is_group(types[k]) then return {group = types[k]} end
    return {kind = k}
  end
  if is_class(k) then return {class = k} end
  fail("%s: a layer map key is a type group, an nn class or an op kind, got %s", where, type(k))
end

local function to_map(list, where)
  local out = {}
  for i, e in ipairs(list or {}) do
    if type(e) ~= "table" or e[1] == nil or e[2] == nil then fail("%s entry %d must be {key, rule}", where, i) end
    local key = to_key(e[1], where .. " entry " .. i)
    key.rule = to_rule(e[2], where .. " entry " .. i)
    out[#out + 1] = key
  end
  return out
end

function Composite.base_map(stabilizer)
  local norm = rules.norm{stabilizer = stabilizer}
  return {{types.Activation, rules.pass()}, {types.Sum, norm}, {types.AvgPool, norm},
          {types.BatchNorm, rules.pass()}, {types.MaxPool, rules.gradient()}}
end

-- spec: {entry, entry...,  first = {...}, names = {name = rule}, base = true, stabilizer, canonizers}
function Composite:__init(spec)
  spec = spec or {}
  self.name = spec.name or "layer_map"
  self.layer_map = to_map(spec, "layer map")
  if spec.base ~= false then
    for _, e in ipairs(to_map(Composite.base_map(spec.stabilizer), "base map")) do self.layer_map[#self.layer_map + 1] = e end
  end
  self.first_map = to_map(spec.first, "first map")
  self.name_map = {}
  for n, r in pairs(spec.names or {}) do
    if type(n) ~= "string" then fail("names: keys are layer names, got %s", type(n)) end
    self.name_map[n] = to_rule(r, "names." .. n)
  end
  self.canonizers = spec.canonizers
end

local function key_matches(e, m)
  if e.group then return e.group:matches(m) end
  if e.class then return class.is_instance(m, e.class) end
  return false
end

-- The rule for module m, and why: "name", "first" or "type"; ctx carries the first-layer state.
function Composite:module_map(ctx, m)
  if m.name and self.name_map[m.name] then return self.name_map[m.name], "name" end
  if not ctx.first_visited then
    for _, e in ipairs(self.first_map) do
      if key_matches(e, m) then ctx.first_visited = true return e.rule, "first" end
    end
  end
  for _, e in ipairs(self.layer_map) do
    if key_matches(e, m) then return e.rule, "type" end
  end
  return nil
end

-- The rule for calls of op kind `kind` outside mapped modules.
function Composite:kind_map(kind)
  for _, e in ipairs(self.layer_map) do
    if e.kind == kind or (e.group and e.group:has_kind(kind)) then return e.rule end
  end
  return nil
end

-- Layers a rule can go on: leaves, and nn.Add / nn.Residual of two branches or more,
-- whose output is an add (a module key reaches its last add; the "add" kind the others).
local function mappable(m)
  local n = #m:children()
  return n == 0 or (n >= 2 and class.is_instance(m, nn.Add))
end

-- Entries {key = module or kind, rule =, module =, why =} for a model; with
-- recorded_only, only modules whose output was recorded by the last forward.
function Composite:entries(model, recorded_only)
  local out, ctx, names = {}, {}, {}
  for _, m in ipairs(model:modules()) do
    if m.name and self.name_map[m.name] then
      names[m.name] = true
      if not mappable(m) then fail("names: '%s' is a %s; rules apply to leaf layers and adds", m.name, m.__name) end
    end
    if mappable(m) then
      local rule, why = self:module_map(ctx, m)
      local rec = m.output and m.output.grad_fn and m.output:grad_fn()
      if rule and (not recorded_only or (rec and rec ~= "leaf")) then
        out[#out + 1] = {key = m, rule = rule, module = m, why = why}
      end
    end
  end
  for n in pairs(self.name_map) do
    if not names[n] then fail("names: no layer named '%s' in the model", n) end
  end
  local seen = {}
  for _, e in ipairs(self.layer_map) do
    local kinds = e.kind and {e.kind} or (e.group and e.group.kinds) or {}
    for _, k in ipairs(kinds) do
      if not seen[k] then seen[k] = true; out[#out + 1] = {key = k, rule = e.rule, kind = k, why = "kind"} end
    end
  end
  return out
end

-- The rules table for relua.grad's opts.rules.
function Composite:rules(model)
  local t = {}
  for _, e in ipairs(self:entries(model)) do t[e.key] = e.rule end
  return t
end

function Composite:__tostring() return "composites." .. self.name end

return Composite
