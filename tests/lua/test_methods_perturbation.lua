-- occlusion and deeplift: answers known on paper, batching, completeness.
local T = require "harness"
local relua = require "relua"
local nn = relua.nn
local methods = relua.methods

local function linear_model()
  relua.seed(31)
  return nn.Linear(5, 3)
end
local x = relua.randn(2, 5, {seed = 1})

T.test("occlusion, window 1, on a linear model is (x - baseline) * W", function()
  local m = linear_model()
  local w = m.weight[3]
  T.close(methods.occlusion(m, x, 3, {window = 1}), x * w, 1e-5)
  T.close(methods.occlusion(m, x, 3, {window = 1, baseline = 0.5}), (x - 0.5) * w, 1e-5)
  local b = relua.randn(2, 5, {seed = 2})
  T.close(methods.occlusion(m, x, 3, {window = 1, baseline = b}), (x - b) * w, 1e-5)
  T.close(methods.occlusion(m, x, 3, {window = 1, baseline = b[1]}), (x - b[1]) * w, 1e-5, "broadcast baseline")
end)

-- f(x) = sum_ij w_ij x_ij on one 3 x 3 image: each window's drop is the sum over it.
local wimg = relua.tensor{{1, -2, 0.5}, {3, 1, -1}, {2, 0, 4}}
local img = relua.tensor{{{{1, 2, 3}, {-1, 0.5, 2}, {0, 1, -2}}}}
local function f(v) return (v * wimg):sum({2, 3, 4}):reshape(v:size(1), 1) end
local function by_loops(win, stride)
  local xs, ws = img:totable()[1][1], wimg:totable()
  local sum, cnt = {}, {}
  for i = 1, 3 do sum[i], cnt[i] = {0, 0, 0}, {0, 0, 0} end
  local o = 0
  while o < 3 do
    local p = 0
    while p < 3 do
      local drop = 0
      for i = o + 1, math.min(o + win, 3) do for j = p + 1, math.min(p + win, 3) do drop = drop + xs[i][j] * ws[i][j] end end
      for i = o + 1, math.min(o + win, 3) do for j = p + 1, math.min(p + win, 3) do
        sum[i][j], cnt[i][j] = sum[i][j] + drop, cnt[i][j] + 1
      end end
      if p + win >= 3 then break end
      p = p + stride
    end
    if o + win >= 3 then break end
    o = o + stride
  end
  for i = 1, 3 do for j = 1, 3 do sum[i][j] = sum[i][j] / cnt[i][j] end end
  return relua.tensor{{sum}}
end

T.test("occlusion averages the drop over the windows covering each pixel", function()
  local a, info = methods.occlusion(f, img, nil, {window = 2, stride = 1})
  T.close(a, by_loops(2, 1), 1e-5, "window 2, stride 1: four windows")
  T.check(info.windows == 4, "windows " .. info.windows)
  a, info = methods.occlusion(f, img, nil, {window = 2})
  T.close(a, by_loops(2, 2), 1e-5, "window 2, stride 2: the last windows cut at the border")
  T.check(info.windows == 4, "ceil((3 - 2) / 2) + 1 = 2 per dim")
  a = methods.occlusion(f, img, nil, {window = {3, 1}, stride = {1, 1}})
  T.check(a:size(4) == 3, "shape")
end)

T.test("occlusion covers every channel by default, or a window over channels", function()
  relua.seed(3)
  local m = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
  local im = relua.randn(1, 2, 4, 4, {seed = 4})
  local w = m:get(2).weight[1]:reshape(1, 2, 4, 4)
  local a = methods.occlusion(m, im, 1, {window = 1})
  -- window 1 x 1 over both channels: every pixel gets the drop of its two channels together
  local both = (im * w):sum(2, {keepdim = true})
  T.close(a, both:expand(1, 2, 4, 4), 1e-5)
  a = methods.occlusion(m, im, 1, {window = {1, 1, 1}})
  T.close(a, im * w, 1e-5, "a window per channel")
end)

T.test("occlusion batches: batch_size 1 and all at once agree; progress", function()
  relua.seed(5)
  local m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3))
  local im = relua.randn(2, 3, 5, 5, {seed = 6})
  local last
  local a1 = methods.occlusion(m, im, relua.tensor{1, 3}, {window = 2, stride = 1, batch_size = 1,
    progress = function(d, n) last = {d, n} end})
  local a2 = methods.occlusion(m, im, relua.tensor{1, 3}, {window = 2, stride = 1, batch_size = 1000})
  local a3 = methods.occlusion(m, im, relua.tensor{1, 3}, {window = 2, stride = 1, batch_size = 7})
  T.close(a1, a2, 1e-6)
  T.close(a3, a2, 1e-6)
  T.check(last[1] == 32 and last[2] == 32, "16 windows x 2 samples")
end)

T.test("occlusion option errors", function()
  local m = linear_model()
  local oc = methods.occlusion
  T.check_error("occlusion: stride 3 is larger than the window 2 in dim 2: elements would be skipped", oc, m, x, 1, {window = 2, stride = 3})
  T.check_error("occlusion: option 'window' must be integer or table >= 1, got 0", oc, m, x, 1, {window = 0})
  T.check_error("occlusion: option 'window' must hold integers >= 1, got 0", oc, m, x, 1, {window = {0}})
  T.check_error("occlusion: option 'window' has 2 sizes for 1 dims per sample", oc, m, x, 1, {window = {1, 1}})
  T.check_error("occlusion: option 'baseline' must be number or tensor, got string zero", oc, m, x, 1, {baseline = "zero"})
  T.check_error("occlusion: unknown option 'sliding_window_shapes'", oc, m, x, 1, {sliding_window_shapes = 1})
end)

-- {====================================================================
-- deeplift

T.test("deeplift on a linear model is (x - baseline) * W", function()
  local m = linear_model()
  local w = m.weight[2]
  local a, info = methods.deeplift(m, x, 2)
  T.close(a, x * w, 1e-5)
  T.check(info.delta:abs():max():item() < 1e-5, "complete")
  T.close(methods.deeplift(m, x, 2, {baseline = -1.0}), (x + 1) * w, 1e-5)
end)

T.test("deeplift's rescale multipliers by hand", function()
  -- y = 2 relu(x - 1): x = 3, baseline 0: pre-activations 2 and -1, m = 2 / 3, attribution 3 * 2 * 2/3 = 4
  local l1, l2 = nn.Linear(1, 1), nn.Linear(1, 1, {bias = false})
  l1.weight:fill_(1); l1.bias:fill_(-1); l2.weight:fill_(2)
  local net = nn.Sequential(l1, nn.ReLU(), l2)
  local a, info = methods.deeplift(net, relua.tensor{{3}}, 1)
  T.close(a, relua.tensor{{4}}, 1e-6)
  T.close(info.f_x, relua.tensor{4}, 1e-6)
  T.close(info.f_baseline, relua.tensor{0}, 1e-6)
  -- the gradient would give 3 * 2 = 6; at x = baseline the attribution is 0
  T.close(methods.deeplift(net, relua.tensor{{0.5}}, 1, {baseline = 0.5}), relua.tensor{{0}}, 0)
  -- sigmoid: the attribution is sigmoid(2) - sigmoid(0) exactly
  local s = nn.Sequential(nn.Sigmoid())
  T.close(methods.deeplift(s, relua.tensor{{2}}, 1), relua.tensor{{1 / (1 + math.exp(-2)) - 0.5}}, 1e-6)
end)

T.test("deeplift is complete on ReLU, tanh and sigmoid nets", function()
  relua.seed(7)
  local net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
    nn.Linear(16, 8), nn.Sigmoid(), nn.Linear(8, 3))
  local xs = relua.randn(4, 5, {seed = 8}) * 2
  local a, info = methods.deeplift(net, xs, 2)
  T.check(info.delta:abs():max():item() < 1e-5, "delta " .. info.delta:abs():max():item())
  local sums = a:sum(2)
  T.close(sums, info.f_x - info.f_baseline, 1e-5)
  local conv = nn.Sequential(nn.Conv2d(2, 4, 3, {padding = 1}), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
    nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
  local im = relua.randn(2, 2, 6, 6, {seed = 9})
  local _, ci = methods.deeplift(conv, im, relua.tensor{3, 1}, {baseline = "blur", sigma = 1})
  T.check(ci.delta:abs():max():item() < 1e-4, "conv delta " .. ci.delta:abs():max():item())
  -- the gradient x (x - baseline) is not complete here: deeplift is not the gradient
  local g = methods.saliency(net, xs, 2, {abs = false}) * xs
  T.check((g:sum(2) - sums):abs():max():item() > 1e-3, "differs from gradient x input")
end)

T.test("deeplift option errors", function()
  local m = linear_model()
  T.check_error("deeplift: option 'baseline' must be zero, blur, uniform, a number or a tensor, got mean", methods.deeplift, m, x, 1, {baseline = "mean"})
  T.check_error("deeplift: baseline [4] does not broadcast to the input [2 x 5]", methods.deeplift, m, x, 1, {baseline = relua.zeros(4)})
  T.check_error("deeplift: unknown option 'eps'", methods.deeplift, m, x, 1, {eps = 1e-10})
end)

-- }====================================================================

T.done()
