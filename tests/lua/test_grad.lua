-- Gradients through the Lua API, against central finite differences.
local relua = require "relua"
local nn = relua.nn
local T = require "harness"
local check, check_error, close = T.check, T.check_error, T.close

-- d f / d x by central differences; f returns a number. x is 2-D.
local function numgrad(f, x, eps)
  eps = eps or 1e-2
  local g = relua.zeros(x:shape())
  local flat, gflat = x:clone():reshape(x:numel()), g:reshape(x:numel())
  local shape = x:shape()
  for i = 1, flat:numel() do
    local v = flat[i]
    flat[i] = v + eps
    local fp = f(flat:reshape(shape))
    flat[i] = v - eps
    local fm = f(flat:reshape(shape))
    flat[i] = v
    gflat[i] = (fp - fm) / (2 * eps)
  end
  return g
end

local function mlp()
  relua.seed(11)
  return nn.Sequential(nn.Linear(3, 5):named("fc1"), nn.Tanh():named("act"), nn.Linear(5, 4):named("fc2"))
end

T.test("relua.backward on the tape", function()
  local x = relua.tensor{{1, 2}, {3, 4}}:requires_grad(true)
  check(x:requires_grad() and x:grad_fn() == "leaf", "a leaf")
  local y = (x * x + x * 3):sum()
  check(y:grad_fn() == "sum", "the op that made y")
  local g = relua.backward(y, nil, {x})
  close(g[1], x * 2 + 3, 1e-6, "d sum(x^2 + 3x) = 2x + 3")
  local seed = relua.tensor{{1, 0}, {0, 2}}
  local z = x:exp()
  close(relua.backward(z, seed, {x})[1], seed * x:exp(), 1e-5, "with a seed")
  local z2 = relua.no_grad(function() return x:exp() end)
  check(z2:grad_fn() == nil, "no_grad records nothing")
  check(relua.grad_enabled(), "recording back on after no_grad")
  check_error("does not require gradients", relua.backward, y, nil, {relua.ones(2)})
  check_error("backward: seed [3] does not match output [2 x 2]", relua.backward, z, relua.ones(3), {x})
  check_error("no tensor to differentiate for", relua.backward, y, nil, {})
  check(x:requires_grad(false) == x and not x:requires_grad(), "requires_grad(false) drops the node")
end)

T.test("relua.grad of a function equals finite differences", function()
  local x = relua.randn(2, 3, {seed = 5})
  local f = function(t) return (t:tanh() * t + t:sigmoid()):sum() end
  local g = relua.grad(f, x)
  close(g, numgrad(function(t) return f(t):item() end, x), 2e-3)
  check(not x:requires_grad(), "the caller's input is left untouched")
end)

T.test("relua.grad of a model: class targets, seeds and functions", function()
  local m = mlp()
  local x = relua.randn(2, 3, {seed = 6})
  local g, _, out = relua.grad(m, x, 2)
  check(out and out:size(2) == 4, "returns the output")
  local fd = numgrad(function(t) return m:forward(t):select(2, 2):sum():item() end, x)
  close(g, fd, 3e-3, "class 2 of every sample")
  local g2 = relua.grad(m, x, relua.tensor{2, 2})
  close(g2, g, 1e-6, "per-sample classes")
  local seed = relua.zeros(2, 4)
  seed[1][2], seed[2][2] = 1, 1
  close(relua.grad(m, x, seed), g, 1e-6, "an explicit seed")
  close(relua.grad(m, x, function(y) return y:select(2, 2):sum() end), g, 1e-6, "a function of the output")
  local per = relua.grad(m, x, relua.tensor{1, 3})
  local fd1 = numgrad(function(t) local y = m:forward(t) return y[1][1] + y[2][3] end, x)
  close(per, fd1, 3e-3, "different classes per sample")
  check_error("grad: class 5 out of range 1..4", relua.grad, m, x, 5)
  check_error("grad: input must be a tensor", relua.grad, m, {1, 2})
  check_error("grad: target must be nil, a class, a tensor or a function", relua.grad, m, x, "cat")
end)

T.test("gradients at layers", function()
  local m = mlp()
  local x = relua.randn(3, 3, {seed = 7})
  local gx, at = relua.grad(m, x, 1, {at = {"act", m:get(1)}})
  local h = m:find("act").output:detach()
  local rest = function(t) return m:get(3):forward(t):select(2, 1):sum() end
  close(at.act, numgrad(function(t) return rest(t):item() end, h), 3e-3, "at a named layer's output")
  close(at[1], at.act, 0, "also by position")
  local pre = m:get(1).output:detach()
  local g1 = at[m:get(1)]
  close(g1, relua.grad(function(t) return rest(t:tanh()) end, pre), 1e-5, "at a module given as itself")
  check_error("grad: no layer conv9 in the model", relua.grad, m, x, 1, {at = {"conv9"}})
end)

T.test("Module:backward through the tape", function()
  local m = mlp()
  local x = relua.randn(2, 3, {seed = 8})
  local go = relua.randn(2, 4, {seed = 9})
  local gi = m:backward(x, go)
  close(gi, numgrad(function(t) return (m:forward(t) * go):sum():item() end, x), 3e-3)
end)

T.test("no leaks", function()
  local base = T.live_bytes()
  local m = mlp()
  for _ = 1, 20 do relua.grad(m, relua.randn(4, 3), 1, {at = {"act"}}) end
  m = nil
  check(T.live_bytes() <= base, "every tensor and node released after collection")
end)

T.done()
