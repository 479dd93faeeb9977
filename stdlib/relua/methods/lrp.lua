-- lrp: layer-wise relevance propagation (Bach et al. 2015, "On pixel-wise explanations for
-- non-linear classifier decisions by layer-wise relevance propagation"; Montavon et al. 2019).
-- The relevance starts as the seed that target gives (one at the class: the sum of the
-- relevance is about 1, as in Zennit) and flows back through the rules of a composite.
-- Options:
--   composite   a composite or its name (default "epsilon_plus"); see relua.composites
--   canonizers  list of canonizers (names or tables) applied for the pass and removed after
--               (default: the composite's, else {"merge_batchnorm"})
--   epsilon, stabilizer, gamma, low, high: passed to a composite given by name
-- info.output is the model's output; info.layers lists, from the output down, every layer
-- call a rule handled: {layer = name, kind = op, rule = "rules.epsilon(...)", output = sum of
-- the relevance arriving at its output, input = sum of the relevance it sent to its inputs};
-- info.layers[name] finds one by name. Conservation holds where output == input.
local relua = require "relua.core"
local methods = require "relua.methods"
local composites = require "relua.composites"
local canonizers = require "relua.canonizers"
local grad = require "relua.grad"

local function sum(t) return relua.is_tensor(t) and t:sum():item() or 0 end

local function label(m, index)
  return m.name or string.format("%s#%d", m.__name, index[m] or 0)
end

local function resolve(o)
  local c = o.composite
  local named = {}
  for _, k in ipairs {"epsilon", "stabilizer", "gamma", "low", "high"} do
    if o[k] ~= nil then named[k] = o[k] end
  end
  if type(c) == "string" then return composites.get(c, named) end
  if not composites.is_composite(c) then
    error("lrp: option 'composite' must be a composite or a composite name, got " .. type(c), 4)
  end
  local k = next(named)
  if k then error("lrp: option '" .. k .. "' applies to a composite given by name; set it on the composite", 4) end
  return c
end

local function lrp(model, input, target, o)
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    error("lrp: the model must be an nn module, got " .. type(model), 3)
  end
  local comp = resolve(o)
  local canon <close> = canonizers.apply(o.canonizers or comp.canonizers or {"merge_batchnorm"}, model)
  local layers, rules, counts = {}, {}, {}

  -- Wraps a rule so every call it handles leaves a line in the ledger.
  local function recorded(rule, name)
    return function(ctx)
      local r, more = rule(ctx)
      local total = sum(r)
      for _, g in pairs(more or {}) do total = total + sum(g) end
      local who = name
      if not who then
        counts[ctx.kind] = (counts[ctx.kind] or 0) + 1
        who = ctx.kind .. "#" .. counts[ctx.kind]
      end
      local e = {layer = who, kind = ctx.kind, rule = tostring(rule), output = sum(ctx.grad_output), input = total}
      layers[#layers + 1] = e
      if layers[who] == nil then layers[who] = e end
      return r, more
    end
  end

  local function forward(x)
    for _, m in ipairs(model:modules()) do m.output = nil end
    return model:forward(x)
  end
  -- The rules can only be chosen after the forward: only modules that ran get one.
  local function choose_rules()
    local index = {}
    for i, m in ipairs(model:modules()) do index[m] = i end
    for _, e in ipairs(comp:entries(model, true)) do
      rules[e.key] = recorded(e.rule, e.module and label(e.module, index))
    end
    return rules
  end

  local r, _, out = grad(forward, input, target, {rules = choose_rules})
  return r, {output = out, layers = layers}
end

return methods.register {
  name = "lrp", fn = lrp,
  doc = "layer-wise relevance propagation with a composite of rules",
  paper = "Bach et al. 2015; Montavon et al. 2019",
  options = {
    composite = {default = "epsilon_plus", type = {"string", "table"}, doc = "a composite or its name (relua.composites)"},
    canonizers = {type = "table", doc = "canonizers applied for the pass (default: the composite's, else {\"merge_batchnorm\"})"},
    epsilon = {type = {"number", "function"}, doc = "epsilon of a composite given by name (its default: 1e-6)"},
    stabilizer = {type = {"number", "function"}, doc = "stabilizer of a composite given by name (its default: 1e-6)"},
    gamma = {type = "number", min = 0, doc = "gamma of a composite given by name (epsilon_gamma_box: 0.25)"},
    low = {type = {"number", "tensor"}, doc = "lowest input value, for z_box (epsilon_gamma_box)"},
    high = {type = {"number", "tensor"}, doc = "highest input value, for z_box (epsilon_gamma_box)"},
  },
}
