-- smoothgrad: determinism, the noise scale, the modes, any base method.
local T = require "harness"
local relua = require "relua"
local nn = relua.nn
local methods = relua.methods

local function net()
  relua.seed(5)
  return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))
end
local x = relua.randn(3, 6, {seed = 1})

local function same_bytes(a, b)
  local ta, tb = a:reshape(-1):totable(), b:reshape(-1):totable()
  if #ta ~= #tb then return false end
  for i = 1, #ta do
    if string.pack("f", ta[i]) ~= string.pack("f", tb[i]) then return false end
  end
  return true
end

T.test("same seed, same bytes; another seed, other values", function()
  local m = net()
  local a1 = methods.smoothgrad(m, x, 2, {seed = 7, n = 10})
  local a2 = methods.smoothgrad(m, x, 2, {seed = 7, n = 10})
  local a3 = methods.smoothgrad(m, x, 2, {seed = 8, n = 10})
  T.check(same_bytes(a1, a2), "same seed: identical")
  T.check(not same_bytes(a1, a3), "another seed: different")
  -- the default seed is fixed too
  T.check(same_bytes(methods.smoothgrad(m, x, 2), methods.smoothgrad(m, x, 2)), "default seed")
end)

T.test("batching does not change the draws", function()
  local m = net()
  local a1 = methods.smoothgrad(m, x, 2, {seed = 3, n = 7, batch_size = 1})
  local a2 = methods.smoothgrad(m, x, 2, {seed = 3, n = 7})
  local a3 = methods.smoothgrad(m, x, 2, {seed = 3, n = 7, batch_size = 4})
  T.close(a1, a2, 1e-6)
  T.close(a3, a2, 1e-6)
end)

T.test("zero noise and n = 1 is the base method", function()
  local m = net()
  local a = methods.smoothgrad(m, x, 2, {n = 1, noise_level = 0})
  T.close(a, methods.saliency(m, x, 2, {abs = false}), 1e-6, "signed saliency by default")
  a = methods.smoothgrad(m, x, 2, {n = 1, stdev = 0, method = "gradient_x_input"})
  T.close(a, methods.gradient_x_input(m, x, 2), 1e-6)
  a = methods.smoothgrad(m, x, 2, {n = 3, noise_level = 0, method_opts = {abs = true}})
  T.close(a, methods.saliency(m, x, 2), 1e-6, "abs through method_opts")
end)

T.test("on a linear model: plain = W, squared = W^2, vargrad = 0", function()
  relua.seed(1)
  local lin = nn.Linear(6, 3)
  local w = lin.weight[3]:reshape(1, 6)
  T.close(methods.smoothgrad(lin, x, 3, {n = 5}), w:expand(3, 6), 1e-5)
  T.close(methods.smoothgrad(lin, x, 3, {n = 5, mode = "squared"}), (w * w):expand(3, 6), 1e-5)
  T.close(methods.smoothgrad(lin, x, 3, {n = 5, mode = "vargrad"}), relua.zeros(3, 6), 1e-5)
end)

T.test("sigma is noise_level * (max - min) per sample, or stdev", function()
  local _, info = methods.smoothgrad(net(), x, 1, {n = 1, noise_level = 0.2})
  for i = 1, 3 do
    T.close(info.sigma[i], 0.2 * (x[i]:max():item() - x[i]:min():item()), 1e-6)
  end
  _, info = methods.smoothgrad(net(), x, 1, {n = 1, stdev = 0.5})
  T.close(info.sigma, relua.full(3, 0.5), 0)
  -- the gradient of sum(x^2) is 2x: vargrad is the variance of 2 * noise, 4 sigma^2
  local sq = function(v) return (v * v):sum(2, {keepdim = true}) end
  local ones = relua.tensor{{0, 1, 2, 3, 4, 5, 6, 7, 8, 10}}   -- range 10
  local v = methods.smoothgrad(sq, ones, nil, {n = 400, noise_level = 0.05, mode = "vargrad"})
  T.close(v:mean():item(), 4 * 0.5 ^ 2, 0.1, "vargrad = 4 sigma^2 with sigma = 0.05 * 10")
  local p = methods.smoothgrad(sq, ones, nil, {n = 400, noise_level = 0.05})
  T.close(p, ones * 2, 0.15, "plain: 2x on average")
  local s = methods.smoothgrad(sq, ones, nil, {n = 400, noise_level = 0.05, mode = "squared"})
  T.close(s - p * p, v, 1e-3, "vargrad = squared - plain^2")
end)

T.test("a wrapper over other methods, with their options", function()
  local m = net()
  local a = methods.smoothgrad(m, x, 1, {method = "integrated_gradients", method_opts = {steps = 4}, n = 3, batch_size = 2})
  local b = methods.smoothgrad(m, x, 1, {method = "integrated_gradients", method_opts = {steps = 4}, n = 3})
  T.check(a:size(1) == 3 and a:size(2) == 6, "input's shape")
  T.close(a, b, 1e-6)
  local relu = nn.Sequential(nn.Conv2d(2, 3, 3, {padding = 1}):named("c"), nn.ReLU():named("act"),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
  local img = relua.randn(2, 2, 5, 5, {seed = 2})
  local g = methods.smoothgrad(relu, img, 1, {method = "gradcam", method_opts = {layer = "act"}, n = 1, noise_level = 0})
  T.close(g, methods.gradcam(relu, img, 1, {layer = "act"}), 1e-6, "gradcam under no noise")
end)

T.test("option errors", function()
  local m = net()
  local sg = methods.smoothgrad
  T.check_error("smoothgrad: option 'mode' must be one of plain, squared, vargrad, got smoothgrad_sq", sg, m, x, 1, {mode = "smoothgrad_sq"})
  T.check_error("smoothgrad: option 'n' must be integer >= 1, got 0", sg, m, x, 1, {n = 0})
  T.check_error("smoothgrad: option 'noise_level' must be number >= 0, got -0.1", sg, m, x, 1, {noise_level = -0.1})
  T.check_error("unknown method 'gradient' (methods: ", sg, m, x, 1, {method = "gradient"})
  T.check_error("saliency: unknown option 'steps' (options: abs, squared)", sg, m, x, 1, {method_opts = {steps = 3}})
  T.check_error("smoothgrad: option 'method' cannot be smoothgrad itself", sg, m, x, 1, {method = "smoothgrad"})
  T.check_error("smoothgrad: option 'seed' must be integer, got number 1.5", sg, m, x, 1, {seed = 1.5})
  T.check_error("smoothgrad: unknown option 'stdevs'", sg, m, x, 1, {stdevs = 1})
end)

T.done()
