-- integrated_gradients: quadrature, baselines, completeness, batching.
local T = require "harness"
local relua = require "relua"
local U = require "relua.methods._util"
local nn = relua.nn
local methods = relua.methods

local QUADS = {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"}

T.test("Gauss-Legendre nodes and weights for n = 2, 3, 5", function()
  local known = {
    [2] = {{-1 / math.sqrt(3), 1 / math.sqrt(3)}, {1, 1}},
    [3] = {{-math.sqrt(0.6), 0, math.sqrt(0.6)}, {5 / 9, 8 / 9, 5 / 9}},
    [5] = {{-0.9061798459386640, -0.5384693101056831, 0, 0.5384693101056831, 0.9061798459386640},
           {0.2369268850561891, 0.4786286704993665, 0.5688888888888889, 0.4786286704993665, 0.2369268850561891}},
  }
  for n, tw in pairs(known) do
    local t, w = U.legendre(n)
    for i = 1, n do
      T.check(math.abs(t[i] - tw[1][i]) < 1e-12, string.format("n=%d node %d: %.15g vs %.15g", n, i, t[i], tw[1][i]))
      T.check(math.abs(w[i] - tw[2][i]) < 1e-12, string.format("n=%d weight %d: %.15g vs %.15g", n, i, w[i], tw[2][i]))
    end
  end
  -- 50 nodes integrate x^98 exactly on [-1, 1]: 2/99
  local t, w = U.legendre(50)
  local s = 0
  for i = 1, 50 do s = s + w[i] * t[i] ^ 98 end
  T.check(math.abs(s - 2 / 99) < 1e-12, "x^98 integrated: " .. s)
end)

T.test("the quadratures: Captum's points, weights summing to 1", function()
  local a, s = U.quadrature("riemann_left", 4)
  T.check(a[1] == 0 and a[4] == 0.75 and s[2] == 0.25, "left")
  a = U.quadrature("riemann_right", 4)
  T.check(a[1] == 0.25 and a[4] == 1, "right")
  a = U.quadrature("riemann_middle", 4)
  T.check(a[1] == 0.125 and a[4] == 0.875, "middle")
  a, s = U.quadrature("trapezoid", 5)
  T.check(a[1] == 0 and a[5] == 1 and s[1] == 0.125 and s[3] == 0.25, "trapezoid")
  a, s = U.quadrature("gausslegendre", 2)
  T.check(math.abs(a[1] - (1 - 1 / math.sqrt(3)) / 2) < 1e-12 and math.abs(s[1] - 0.5) < 1e-12, "gausslegendre on [0, 1]")
  for _, q in ipairs{"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "trapezoid"} do
    for _, n in ipairs{1, 2, 7, 50} do
      local _, w = U.quadrature(q, n)
      local sum = 0
      for i = 1, n do sum = sum + w[i] end
      T.check(math.abs(sum - 1) < 1e-12, q .. " " .. n .. " weights sum to " .. sum)
    end
  end
end)

local function linear_model()
  relua.seed(3)
  local m = nn.Linear(6, 3)
  return m
end

T.test("on a linear model every quadrature and baseline gives (x - baseline) * W[target]", function()
  local m = linear_model()
  local x = relua.randn(2, 6, {seed = 1})
  local w = m.weight[2]
  local given = relua.randn(2, 6, {seed = 2})
  for _, q in ipairs(QUADS) do
    for _, n in ipairs{1, 2, 7, 50} do
      local a, info = methods.integrated_gradients(m, x, 2, {method = q, steps = n})
      T.close(a, x * w, 1e-5, q .. " " .. n)
      T.check(info.delta:abs():max():item() < 1e-5, q .. " " .. n .. " completeness")
    end
    T.close(methods.integrated_gradients(m, x, 2, {method = q, steps = 3, baseline = 0.5}), (x - 0.5) * w, 1e-5)
    T.close(methods.integrated_gradients(m, x, 2, {method = q, steps = 3, baseline = given}), (x - given) * w, 1e-5)
  end
  local a, info = methods.integrated_gradients(m, x, 2, {baseline = "uniform", seed = 4})
  T.close(a, (x - info.baseline) * w, 1e-5, "uniform")
end)

T.test("f(x), f(baseline) and the delta in info", function()
  local m = linear_model()
  local x = relua.randn(3, 6, {seed = 5})
  local _, info = methods.integrated_gradients(m, x, relua.tensor{1, 2, 3}, {baseline = 1.0, steps = 4})
  local out = m:forward(x)
  local outb = m:forward(relua.ones(3, 6))
  for i = 1, 3 do
    T.close(info.f_x[i], out[i][i], 1e-5)
    T.close(info.f_baseline[i], outb[i][i], 1e-5)
  end
  T.check(info.delta:dim() == 1 and info.delta:size(1) == 3, "one delta per sample")
end)

local function smooth_net()
  relua.seed(11)
  return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
end
local function relu_net()
  relua.seed(12)
  return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
end

local function err(net, x, q, n)
  local _, info = methods.integrated_gradients(net, x, 1, {method = q, steps = n})
  return info.delta:abs():max():item()
end

T.test("the completeness error falls as steps grow", function()
  local x = relua.randn(4, 5, {seed = 6}) * 2
  for _, q in ipairs{"riemann_right", "riemann_left", "trapezoid", "gausslegendre"} do
    local e4, e16, e128 = err(relu_net(), x, q, 4), err(relu_net(), x, q, 16), err(relu_net(), x, q, 128)
    T.check(e16 < e4 and e128 < e16, string.format("%s on a ReLU/tanh net: %.3g %.3g %.3g", q, e4, e16, e128))
  end
end)

T.test("Gauss-Legendre beats Riemann at equal steps on a smooth net", function()
  local x = relua.randn(4, 5, {seed = 7}) * 2
  for _, n in ipairs{4, 8, 16} do
    local gl = err(smooth_net(), x, "gausslegendre", n)
    for _, q in ipairs{"riemann_left", "riemann_right", "riemann_middle", "trapezoid"} do
      local r = err(smooth_net(), x, q, n)
      T.check(gl < r, string.format("%d steps: gausslegendre %.3g vs %s %.3g", n, gl, q, r))
    end
  end
end)

T.test("batching: batch_size 1 and all at once agree, progress counts rows", function()
  local net = relu_net()
  local x = relua.randn(3, 5, {seed = 8})
  local calls, last, total = 0, 0, 0
  local a1 = methods.integrated_gradients(net, x, 2, {steps = 7, batch_size = 1,
    progress = function(done, n) calls, last, total = calls + 1, done, n end})
  local a2 = methods.integrated_gradients(net, x, 2, {steps = 7})
  local a3 = methods.integrated_gradients(net, x, 2, {steps = 7, batch_size = 5})
  T.close(a1, a2, 1e-6)
  T.close(a3, a2, 1e-6)
  T.check(calls == 21 and last == 21 and total == 21, "progress " .. calls .. " " .. last .. " " .. total)
end)

T.test("the blur baseline: a depthwise Gaussian", function()
  -- a constant image stays constant (normalised at the border)
  local c = relua.full(1, 2, 7, 7, 3)
  T.close(U.blur(c, 1.5), c, 1e-5)
  -- an impulse: the neighbour over the centre is exp(-1 / (2 sigma^2)), per channel alone
  local imp = relua.zeros(1, 2, 9, 9)
  imp[1][1][5][5] = 1
  local b = U.blur(imp, 1.0)
  T.close(b[1][1][5][6] / b[1][1][5][5], math.exp(-0.5), 1e-5)
  T.close(b[1][1][6][6] / b[1][1][5][5], math.exp(-1), 1e-5)
  T.check(b[1][2]:abs():max():item() == 0, "channels do not mix")
  -- IG with it is still (x - blur(x)) * W on a linear model
  relua.seed(2)
  local m = nn.Sequential(nn.Flatten(), nn.Linear(2 * 81, 2))
  local x = relua.randn(1, 2, 9, 9, {seed = 3})
  local a, info = methods.integrated_gradients(m, x, 1, {baseline = "blur", sigma = 2, steps = 3})
  T.close(info.baseline, U.blur(x, 2), 1e-6)
  T.close(a, (x - U.blur(x, 2)) * m:get(2).weight[1]:reshape(1, 2, 9, 9), 1e-5)
end)

T.test("the uniform baseline is seeded and within bounds", function()
  local m = linear_model()
  local x = relua.randn(2, 6, {seed = 9})
  local _, i1 = methods.integrated_gradients(m, x, 1, {baseline = "uniform", steps = 2, seed = 1})
  local _, i2 = methods.integrated_gradients(m, x, 1, {baseline = "uniform", steps = 2, seed = 1})
  local _, i3 = methods.integrated_gradients(m, x, 1, {baseline = "uniform", steps = 2, seed = 2})
  T.check((i1.baseline - i2.baseline):abs():max():item() == 0, "same seed, same baseline")
  T.check((i1.baseline - i3.baseline):abs():max():item() > 0, "another seed, another baseline")
  local _, i4 = methods.integrated_gradients(m, x, 1, {baseline = "uniform", low = -0.5, high = 0.25, steps = 2})
  T.check(i4.baseline:min():item() >= -0.5 and i4.baseline:max():item() <= 0.25, "in [low, high]")
  T.check(i1.baseline[1]:min():item() >= x[1]:min():item() and i1.baseline[1]:max():item() <= x[1]:max():item(),
    "in the sample's range by default")
end)

T.test("option errors", function()
  local m = linear_model()
  local x = relua.randn(2, 6)
  local ig = methods.integrated_gradients
  T.check_error("integrated_gradients: option 'steps' must be integer >= 1, got 0", ig, m, x, 1, {steps = 0})
  T.check_error("integrated_gradients: option 'steps' must be integer >= 1, got number 2.5", ig, m, x, 1, {steps = 2.5})
  T.check_error("integrated_gradients: option 'method' must be one of gausslegendre", ig, m, x, 1, {method = "simpson"})
  T.check_error("integrated_gradients: option 'baseline' must be zero, blur, uniform, a number or a tensor, got black",
    ig, m, x, 1, {baseline = "black"})
  T.check_error("integrated_gradients: baseline [3] does not broadcast to the input [2 x 6]",
    ig, m, x, 1, {baseline = relua.zeros(3)})
  T.check_error("blur: the input", ig, m, x, 1, {baseline = "blur"})
  T.check_error("integrated_gradients: option 'batch_size' must be integer >= 1, got 0", ig, m, x, 1, {batch_size = 0})
  T.check_error("integrated_gradients: option 'progress' must be function", ig, m, x, 1, {progress = 1})
  T.check_error("integrated_gradients: unknown option 'n_steps'", ig, m, x, 1, {n_steps = 10})
end)

T.done()
