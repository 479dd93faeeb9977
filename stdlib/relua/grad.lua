-- relua.grad(f, input, target, opts) -> grad_input, layer_grads, output
--
-- Runs f forward on a leaf copy of input (input itself is left untouched)
-- and backward from a seed, in one call.
--   f       a module (its forward is called) or a function of the input
--   target  nil: d sum(output) / d input;
--           an integer c: the seed is one at class c of every sample (output N x C);
--           a tensor of N classes (1-based): one per sample;
--           a tensor of output's shape: the seed itself;
--           a function(output) -> tensor: differentiate its sum instead
--   opts.at     list of layers (modules, or names given with :named) whose
--               output gradient is wanted: layer_grads[key] for each key
--   opts.rules  {[key] = function(ctx) ... end} replacing the backward of
--               chosen layer calls for this pass only; key is a module, a
--               module name, a module class (nn.Conv2d: every instance) or
--               an op name ("relu", "conv2d", "linear": every call of it).
--               See docs/lua-api.md for the context a rule receives.
--               May also be a function(output) -> that table, called after
--               the forward (a composite can only key modules that ran).
local core = require "relua.core"
local class = require "relua.class"

local function fail(fmt, ...) error(string.format("grad: " .. fmt, ...), 3) end

local function is_module(m) return type(m) == "table" and type(m.forward) == "function" end
local function is_class(c) return type(c) == "table" and rawget(c, "__index") == c end

local function make_seed(out, target)
  if target == nil or type(target) == "function" then return nil end
  if math.type(target) == "integer" then
    if out:dim() ~= 2 then fail("a class index needs an N x C output, got %s", "[" .. table.concat(out:shape(), " x ") .. "]") end
    local n, c = out:size(1), out:size(2)
    if target < 1 or target > c then fail("class %d out of range 1..%d", target, c) end
    local seed = core.zeros(n, c)
    for i = 1, n do seed[i][target] = 1 end
    return seed
  end
  if not core.is_tensor(target) then fail("target must be nil, a class, a tensor or a function, got %s", type(target)) end
  if target:dim() == 1 and out:dim() == 2 and target:size(1) == out:size(1) and out:size(2) ~= 1 then
    local n, c = out:size(1), out:size(2)
    local seed = core.zeros(n, c)
    for i = 1, n do
      local k = math.tointeger(target[i])
      if not k or k < 1 or k > c then fail("target %d is %s, not a class in 1..%d", i, tostring(target[i]), c) end
      seed[i][k] = 1
    end
    return seed
  end
  return target
end

-- The layer behind a key: a module, or a name found in the model.
local function resolve(f, key, what)
  if is_module(key) then return key end
  if type(key) == "string" and is_module(f) then return f:find(key) end
  return nil
end

local function output_of(m, key)
  local out = m.output
  if not core.is_tensor(out) or not out:grad_fn() then
    fail("layer %s (%s) has no recorded output in this pass", tostring(key), m.__name)
  end
  return out
end

local function grad(f, input, target, opts)
  opts = opts or {}
  if not core.is_tensor(input) then fail("input must be a tensor, got %s", type(input)) end
  if not is_module(f) and type(f) ~= "function" then fail("f must be a module or a function, got %s", type(f)) end
  local x = input:detach():requires_grad(true)
  local out = is_module(f) and f:forward(x) or f(x)
  if not core.is_tensor(out) then fail("the model returned a %s, not a tensor", type(out)) end
  local root = type(target) == "function" and target(out) or out
  local seed = make_seed(out, target)
  local wrt, keys = {x}, {}
  for i, key in ipairs(opts.at or {}) do
    local m = resolve(f, key)
    if not m then fail("no layer %s in the model", tostring(key)) end
    wrt[#wrt + 1], keys[i] = output_of(m, key), key
  end
  local rule_map = opts.rules
  if type(rule_map) == "function" then rule_map = rule_map(out) end -- chosen after the forward
  local rules = {}
  for key, fn in pairs(rule_map or {}) do
    if is_class(key) and is_module(f) then
      for _, m in ipairs(f:modules()) do
        if getmetatable(m) == key and core.is_tensor(m.output) and m.output:grad_fn() then
          rules[#rules + 1] = {output = m.output, fn = fn, module = m}
        end
      end
    else
      local m = resolve(f, key)
      if m then
        rules[#rules + 1] = {output = output_of(m, key), fn = fn, module = m}
      elseif type(key) == "string" then
        rules[#rules + 1] = {kind = key, fn = fn}
      else
        fail("rule key %s is not a module, a layer name, a module class or an op name", tostring(key))
      end
    end
  end
  -- Entries for single calls first: the tape checks them before kinds.
  table.sort(rules, function(a, b) return a.output ~= nil and b.output == nil end)
  local g = core.backward(root, seed, wrt, rules)
  local layer_grads = {}
  for i, key in ipairs(keys) do layer_grads[key], layer_grads[i] = g[i + 1], g[i + 1] end
  return g[1], layer_grads, out
end

return grad
