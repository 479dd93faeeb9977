-- Rules: Lua functions replacing the backward of chosen layer calls for one pass.
local relua = require "relua"
local nn = relua.nn
local T = require "harness"
local check, check_error, close = T.check, T.check_error, T.close

-- Guided backprop (Springenberg et al. 2015): through a ReLU, pass only
-- positive gradient, and only where the input was positive.
local function guided_relu(ctx)
  local open = ctx.input:sign():clamp(0)   -- 1 where x > 0, else 0
  return ctx.grad_output:clamp(0) * open
end

-- x = [1, 2]; h = W1 x = [3, 4] (both open); y = W2 relu(h) with W2 = [-3, 2].
-- Plain gradient:  W1^T [-3, 2]          = [1, -1]
-- Guided backprop: W1^T [max(-3,0), 2]  = W1^T [0, 2] = [4, 2]
local function net()
  local m = nn.Sequential(nn.Linear(2, 2, {bias = false}):named("fc1"), nn.ReLU():named("act"),
                          nn.Linear(2, 1, {bias = false}):named("fc2"))
  m:get(1).weight = relua.tensor{{1, 1}, {2, 1}}
  m:get(3).weight = relua.tensor{{-3, 2}}
  return m
end
local x = relua.tensor{{1, 2}}

T.test("guided backprop against a hand computation", function()
  local m = net()
  close(relua.grad(m, x), {{1, -1}}, 1e-6, "plain gradient")
  close(relua.grad(m, x, nil, {rules = {relu = guided_relu}}), {{4, 2}}, 1e-6, "rule by op kind")
  close(relua.grad(m, x, nil, {rules = {act = guided_relu}}), {{4, 2}}, 1e-6, "rule by layer name")
  close(relua.grad(m, x, nil, {rules = {[m:get(2)] = guided_relu}}), {{4, 2}}, 1e-6, "rule by module")
  close(relua.grad(m, x, nil, {rules = {[nn.ReLU] = guided_relu}}), {{4, 2}}, 1e-6, "rule by module class")
  close(relua.grad(m, x), {{1, -1}}, 1e-6, "the model is not changed: the next pass is plain again")
  local seen
  local chosen = function(out) seen = out; return {act = guided_relu} end
  close(relua.grad(m, x, nil, {rules = chosen}), {{4, 2}}, 1e-6, "rules chosen by a function after the forward")
  check(relua.is_tensor(seen) and seen:size(2) == 1, "the function receives the output")
end)

T.test("the context", function()
  local m = net()
  local seen
  relua.grad(m, x, nil, {rules = {relu = function(ctx)
    seen = {kind = ctx.kind, module = ctx.module, input = ctx.input:clone(), output = ctx.output:clone(),
            gout = ctx.grad_output:clone(), n = #ctx.inputs, needs = ctx.needs[1], str = tostring(ctx)}
    return ctx.grad_output
  end}})
  check(seen.kind == "relu" and seen.module == nil and seen.n == 1 and seen.needs, "kind, no module for a kind rule")
  close(seen.input, {{3, 4}}); close(seen.output, {{3, 4}}); close(seen.gout, {{-3, 2}})
  check(seen.str == "relua.RuleContext (relu)", seen.str)
  relua.grad(m, x, nil, {rules = {relu = function(ctx) seen = ctx.module return nil end}, at = {}})
  relua.grad(m, x, nil, {rules = {[m:get(2)] = function(ctx) seen = ctx.module end}})
  check(seen == m:get(2), "ctx.module for a module rule")
  -- nil means a zero gradient
  close(relua.grad(m, x, nil, {rules = {relu = function() return nil end}}), {{0, 0}}, 0)
end)

T.test("forward and backward_input with substituted parameters", function()
  local m = net()
  local w1 = m:get(1).weight
  -- z+ on fc2: gradient through the positive part of the weight only
  local function zplus(ctx)
    check(ctx.kind == "linear" and ctx.weight and ctx.bias == nil, "named inputs of linear")
    local z = ctx:forward{weight = ctx.weight:clamp(0)}
    close(z, {{8}}, 1e-6, "forward with W2+ = [0, 2] on relu(h) = [3, 4]")
    local g = ctx:backward_input(ctx.grad_output, {weight = ctx.weight:clamp(0)})
    local gx, gw = ctx:backward(ctx.grad_output)
    close(gw, {{3, 4}}, 1e-6, "backward gives every input's gradient")
    close(gx, {{-3, 2}}, 1e-6)
    return g
  end
  local g = relua.grad(m, x, nil, {rules = {fc2 = zplus}})
  close(g, w1:t():matmul(relua.tensor{{0}, {2}}):t(), 1e-6, "W1^T [0, 2]")
  -- other inputs' gradients by name
  local gw
  relua.grad(m, x, nil, {rules = {fc1 = function(ctx)
    gw = ctx.weight
    return ctx:backward_input(ctx.grad_output), {weight = relua.zeros(2, 2)}
  end}})
  check(gw and gw:size(1) == 2, "ctx.weight")
end)

T.test("a conv2d call seen from a rule", function()
  relua.seed(3)
  local m = nn.Sequential(nn.Conv2d(2, 3, 3, {padding = 1}):named("conv"), nn.ReLU(), nn.MaxPool2d(2))
  local xi = relua.randn(1, 2, 4, 4)
  local plain = relua.grad(m, xi)
  local calls = 0
  local g = relua.grad(m, xi, nil, {rules = {conv = function(ctx)
    calls = calls + 1
    check(ctx.kind == "conv2d" and ctx.module == m:get(1), "kind and module")
    check(ctx.weight:size(1) == 3 and ctx.weight:dim() == 4, "weight by name")
    check(#ctx.inputs == 3 and ctx.bias:numel() == 3, "input, weight, bias")
    close(ctx:forward{}, ctx.output, 1e-6, "forward with nothing substituted repeats the call")
    close(ctx:forward{bias = ctx.bias * 0} + ctx.bias:reshape(1, 3, 1, 1), ctx.output, 1e-5, "substituted bias")
    return ctx:backward_input(ctx.grad_output)
  end, maxpool2d = function(ctx)
    calls = calls + 1
    return ctx:backward_input(ctx.grad_output)
  end}})
  check(calls == 2, "both rules ran once")
  close(g, plain, 1e-6, "rules that run the op's own backward give the plain gradient")
end)

T.test("errors in rules, and cleanup", function()
  local m = net()
  relua.grad(m, x) -- the model keeps its layers' last outputs: count them in
  local base = T.live_bytes()
  for _ = 1, 3 do
    check_error("boom", relua.grad, m, x, nil, {rules = {relu = function() error("boom") end}})
  end
  local ok, e = pcall(relua.grad, m, x, nil, {rules = {relu = function() error({code = 7}) end}})
  check(not ok and type(e) == "table" and e.code == 7, "a non-string error value comes through unchanged")
  check_error("rule for relu returned a string, expected a tensor or nil", relua.grad, m, x, nil,
              {rules = {relu = function() return "x" end}})
  check_error("backward of relu: gradient for input has shape [3], input is [1 x 2]", relua.grad, m, x, nil,
              {rules = {relu = function() return relua.ones(3) end}})
  check_error("passes do not nest", relua.grad, m, x, nil,
              {rules = {relu = function(ctx) return relua.backward(ctx.output, nil, {ctx.input})[1] end}})
  check_error("cannot drop a node during a backward pass", relua.grad, m, x, nil,
              {rules = {relu = function(ctx) ctx.input:requires_grad(false) end}})
  local kept
  relua.grad(m, x, nil, {rules = {relu = function(ctx) kept = ctx return ctx.grad_output end}})
  check_error("rule context used after its backward pass ended", kept.forward, kept, {})
  check(tostring(kept) == "relua.RuleContext (relu, pass ended)", tostring(kept))
  kept = nil
  check_error("forward: linear has no input 'gamma' (its inputs here: input, weight)", relua.grad, m, x, nil,
              {rules = {fc2 = function(ctx) return ctx:forward{gamma = ctx.weight} end}})
  check_error("rule 1 needs 'output' (a tensor) or 'kind'", relua.backward, relua.ones(1):requires_grad(true), nil,
              {relua.ones(1)}, {{fn = print}})
  -- relua.backward keeps its own copy of the rules: emptying the caller's table mid-pass is harmless
  do
    local xr = relua.tensor{1, -2}:requires_grad(true)
    local yr = xr:relu()
    local list = {}
    list[1] = {kind = "relu", fn = function(ctx) list[1] = nil collectgarbage() return ctx.grad_output * 5 end}
    close(relua.backward(yr, nil, {xr}, list)[1], {5, 5}, 0, "the rule ran on the private copy")
  end
  close(relua.grad(m, x, nil, {rules = {relu = guided_relu}}), {{4, 2}}, 1e-6, "passes work after errors")
  check(T.live_bytes() <= base, "memory back to the baseline")
end)

T.test("allocation failures anywhere in a pass with rules leak nothing", function()
  local m = net()
  local function run()
    return relua.grad(m, x, 1, {at = {"act"}, rules = {relu = guided_relu, fc2 = function(ctx)
      return ctx:backward_input(ctx.grad_output, {weight = ctx.weight:clamp(0)})
    end}})
  end
  close(run(), {{4, 2}}, 1e-6)
  local base = T.live_bytes()
  local before = relua._alloc_fail_after()
  run()
  local count = relua._alloc_fail_after() - before
  check(count > 20, "a pass allocates: " .. count)
  local failures = 0
  for n = 1, count + 5 do
    relua._alloc_fail_after(n)
    local ok, err = pcall(run)
    relua._alloc_fail_after(0)
    if ok then
      close(err, {{4, 2}}, 1e-6, "a retried pass is right")
    else
      failures = failures + 1
      check(tostring(err):find("out of memory", 1, true), "fails with 'out of memory': " .. tostring(err))
    end
  end
  check(T.live_bytes() <= base, "nothing leaked")
  close(run(), {{4, 2}}, 1e-6, "and passes work again")
end)

T.done()
