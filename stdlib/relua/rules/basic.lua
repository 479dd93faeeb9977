-- relua.rules.basic: the engine every LRP rule is a configuration of (Zennit's BasicHook).
--
-- A rule recomputes its layer K times on modified inputs and parameters and
-- combines the K vector-Jacobian products. With R the relevance arriving at
-- the layer's output and x a data input of the call:
--   for k = 1..K:  x_k = input_modifiers[k](x)
--                  p_k = param_modifiers[k](p, name)       for p = weight, bias (those the call has)
--                  z_k = output_modifiers[k](layer(x_k; p_k))
--   g_1..g_K = gradient_mapper(R, {z_1..z_K})
--   v_k      = (dz_k/dx_k)^T g_k                           (ctx:backward_input, same substitutions)
--   R_x      = reducer({x_1..x_K}, {v_1..v_K})
-- An op with several data inputs (add: a + b) has each of them modified and
-- reduced in turn; the rule returns one relevance per data input.
--
--   local rule = basic.rule{name = "lrp0", input_modifiers = {basic.identity},
--     param_modifiers = {basic.keep}, gradient_mapper = function(r, z) return {r / z[1]} end,
--     reducer = function(x, v) return x[1] * v[1] end}
--   relua.grad(model, x, 3, {rules = {linear = rule}})
--
-- A spec may instead give backward = function(self, ctx) (a raw rule, Zennit's Hook:
-- pass, gradient), and zero_skip = true when its reducer multiplies every v_k by x_k.
-- basic.define wraps a configuration into a rule constructor with checked,
-- documented parameters (see the files beside this one).
local core = require "relua.core"
local class = require "relua.class"

local M = {}

-- Inputs of an op that are parameters, not data: modifiers leave these to param_modifiers.
local PARAMS = {weight = true, bias = true}
local STATS = {running_mean = true, running_var = true}

function M.identity(x) return x end
function M.ones_like(x) return core.ones(x:shape()) end
function M.zeros_like(x) return core.zeros(x:shape()) end
function M.keep(p) return p end
function M.relu_part(x) return x:clamp(0) end      -- x+
function M.neg_part(x) return x:clamp(nil, 0) end  -- x-

-- z + eps * sign(z) with sign(0) = +1 (Zennit's stabilize); eps may be a
-- function z -> stabilised z.
function M.stabilize(z, eps)
  if type(eps) == "function" then return eps(z) end
  eps = eps or 1e-6
  local negative = (-z):sign():clamp(0)       -- 1 where z < 0, else 0
  return z + (1 - 2 * negative) * eps
end

-- 1 where z > 0 (resp. z < 0), else 0.
function M.positive(z) return z:sign():clamp(0) end
function M.negative(z) return (-z):sign():clamp(0) end

-- v (a number or a tensor broadcasting to x's shape) as a tensor of x's shape.
function M.expand_like(v, x)
  if type(v) == "number" then return core.full(x:shape(), v) end
  return core.zeros(x:shape()) + v
end

-- A parameter modifier fn(param, name) that gives zeros for the names in
-- zero_params (a list of names, or one name) instead of calling fn.
function M.param_mod(fn, zero_params)
  if type(zero_params) == "string" then zero_params = {zero_params} end
  if not zero_params or #zero_params == 0 then return fn end
  local zero = {}
  for _, n in ipairs(zero_params) do zero[n] = true end
  return function(p, name)
    if zero[name] then return M.zeros_like(p) end
    return fn(p, name)
  end
end

-- zero_params plus "bias" (Zennit's zero_bias).
function M.zero_bias(zero_params)
  local out = {"bias"}
  if type(zero_params) == "string" then zero_params = {zero_params} end
  for _, n in ipairs(zero_params or {}) do if n ~= "bias" then out[#out + 1] = n end end
  return out
end

-- {====================================================================
-- Rule objects: callable with a rule context, as relua.grad expects.

local Rule = class("relua.Rule")

function Rule:__init(spec)
  self.name = spec.name or "rule"
  self.params = spec.params or {}
  if spec.backward then -- a raw rule (Zennit's Hook): backward(self, ctx) does it all
    self.backward = spec.backward
    return
  end
  for _, f in ipairs {"input_modifiers", "gradient_mapper", "reducer"} do
    if spec[f] == nil then error("rules.basic: '" .. f .. "' is missing", 3) end
  end
  local k = #spec.input_modifiers
  self.input_modifiers = spec.input_modifiers
  self.param_modifiers = spec.param_modifiers or {}
  self.output_modifiers = spec.output_modifiers or {}
  for i = 1, k do
    self.param_modifiers[i] = self.param_modifiers[i] or M.keep
    self.output_modifiers[i] = self.output_modifiers[i] or M.identity
  end
  self.gradient_mapper, self.reducer = spec.gradient_mapper, spec.reducer
  self.zero_skip = spec.zero_skip
end

-- Where the parameters sit among the call's inputs, and the positions of
-- its data inputs (every input that is not a parameter or a running statistic).
-- ctx.weight and ctx.inputs[i] are the same box, so identity finds them.
local function layout(ctx)
  local params, data = {}, {}
  for i, u in ipairs(ctx.inputs) do
    local role
    for n in pairs(PARAMS) do if rawequal(ctx[n], u) then role = n end end
    for n in pairs(STATS) do if rawequal(ctx[n], u) then role = n end end
    if not role then data[#data + 1] = i elseif PARAMS[role] then params[role] = i end
  end
  return params, data
end

-- A pass whose input part is all zero (x- after a ReLU) and whose bias is zero or absent
-- adds nothing on a conv or linear layer: z_k = 0, and x_k * v_k = 0. Rules whose reducer
-- multiplies every v_k by x_k declare zero_skip, and such passes are skipped (half the work
-- of z_plus, alpha_beta and gamma on ReLU networks). M.stats counts them, for tests.
local LINEAR = {conv2d = true, linear = true}
M.stats = {skipped = 0}

local function vanishes(self, ctx, k, imod, x, s, params)
  if not (self.zero_skip and LINEAR[ctx.kind]) then return false end
  if imod == M.neg_part then
    if x:min():item() < 0 then return false end
  elseif imod == M.relu_part then
    if x:max():item() > 0 then return false end
  else
    return false
  end
  return not params.bias or s[params.bias]:abs():max():item() == 0
end

-- Relevance for the data input at position pos: the K passes and the reduction.
function Rule:relevance(ctx, pos, params, data)
  local xs, zs, subs, skip = {}, {}, {}, {}
  for k, imod in ipairs(self.input_modifiers) do
    local s = {}
    -- every data input sees the same modifier: z_k is the layer on modified data
    for _, j in ipairs(data) do s[j] = imod(ctx.inputs[j]) end
    for name, j in pairs(params) do s[j] = self.param_modifiers[k](ctx.inputs[j], name) end
    xs[k], subs[k] = s[pos], s
    if #data == 1 and vanishes(self, ctx, k, imod, ctx.inputs[pos], s, params) then
      skip[k], zs[k] = true, M.zeros_like(ctx.output)
      M.stats.skipped = M.stats.skipped + 1
    else
      zs[k] = self.output_modifiers[k](ctx:forward(s))
    end
  end
  local gs = self.gradient_mapper(ctx.grad_output, zs)
  local vs = {}
  for k = 1, #xs do
    if not gs[k] then -- the mapper gave no gradient for this pass: skip its backward
    elseif skip[k] then vs[k] = M.zeros_like(xs[k])
    elseif pos == 1 then vs[k] = ctx:backward_input(gs[k], subs[k])
    else vs[k] = select(pos, ctx:backward(gs[k], subs[k])) end
  end
  return self.reducer(xs, vs)
end

-- The rule itself: relevance for the first input, and the other data inputs' in a table.
function Rule:backward(ctx)
  local params, data = layout(ctx)
  local first, rest = nil, nil
  for _, pos in ipairs(data) do
    if ctx.needs[pos] then
      local r = self:relevance(ctx, pos, params, data)
      if pos == 1 then first = r else rest = rest or {}; rest[pos] = r end
    end
  end
  return first, rest
end

function Rule:__call(ctx) return self:backward(ctx) end

local function show(v)
  if type(v) == "number" then return string.format("%g", v) end
  if core.is_tensor(v) then return "tensor[" .. table.concat(v:shape(), "x") .. "]" end
  if type(v) == "table" then
    local parts = {}
    for _, e in ipairs(v) do parts[#parts + 1] = show(e) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

function Rule:__tostring()
  local keys = {}
  for k in pairs(self.params) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. " = " .. show(self.params[k]) end
  return "rules." .. self.name .. "(" .. table.concat(keys, ", ") .. ")"
end

M.Rule = Rule
function M.rule(spec) return Rule(spec) end
-- }====================================================================

-- {====================================================================
-- Rule constructors with checked parameters.
--   basic.define{name =, doc =, paper =, formula =, params = {name = {default =, type =, doc =, check =}},
--                build = function(p) return spec end}
-- returns a constructor: ctor(params) -> rule; ctor.name, ctor.params... describe it.

-- Parameter specs shared by the rules.
M.stabilizer = {default = 1e-6, type = {"number", "function"},
                doc = "eps in z + eps * sign(z) (sign(0) = +1), or a function z -> stabilised z"}
local function check_names(v)
  if type(v) == "string" then return nil end
  for i, n in ipairs(v) do
    if type(n) ~= "string" then return "must list parameter names, entry " .. i .. " is a " .. type(n) end
  end
  return nil
end
M.zero_params = {type = {"table", "string"}, check = check_names,
                 doc = "parameters to set to zero, e.g. {\"bias\"}"}
M.bound = {type = {"number", "tensor"}, doc = "a number or a tensor broadcasting to the input (per channel: C x 1 x 1)"}

local Ctor = class("relua.RuleConstructor")
function Ctor:__call(params)
  local methods = require "relua.methods"
  local ok, p = pcall(methods.check_options, self.name, self.params, params)
  if not ok then error(tostring(p):gsub("^[^\n]-%.lua:%d+: ", "", 1), 2) end
  for k, spec in pairs(self.params) do
    if spec.required and p[k] == nil then
      error(string.format("%s: parameter '%s' is required (%s)", self.name, k, spec.doc or ""), 2)
    end
  end
  if self.validate then
    local msg = self.validate(p)
    if msg then error(self.name .. ": " .. msg, 2) end
  end
  local r = self.build(p)
  if type(r) == "table" and getmetatable(r) == nil then
    r.name, r.params = r.name or self.name, p
    r = Rule(r)
  end
  return r
end
function Ctor:__tostring() return "rules." .. self.name end

function M.define(def)
  for _, f in ipairs {"name", "build", "doc"} do
    if def[f] == nil then error("rules.define: field '" .. f .. "' is missing", 2) end
  end
  def.params = def.params or {}
  setmetatable(def, Ctor)
  local ok, help = pcall(require, "relua.help")
  if ok then help.doc(def, M.describe(def)) end
  return def
end

-- A few lines on a rule constructor: what it does, the paper, every parameter with its default.
function M.describe(c)
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
M.Constructor = Ctor
-- }====================================================================

return M
