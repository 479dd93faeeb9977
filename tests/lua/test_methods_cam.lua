-- gradcam, gradcam_pp, layercam, scorecam, guided_gradcam: against CAM and
-- formulas evaluated with plain Lua loops.
local T = require "harness"
local relua = require "relua"
local nn = relua.nn
local methods = relua.methods

-- conv -> ReLU -> conv -> ReLU ("act") -> global average pooling -> linear ("fc"): Zhou et al.'s CAM net.
local function cam_net()
  relua.seed(21)
  local m = nn.Sequential(
    nn.Conv2d(3, 4, 3, {padding = 1}), nn.ReLU(),
    nn.Conv2d(4, 5, 3, {padding = 1}):named("conv"), nn.ReLU():named("act"),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3):named("fc"))
  m:evaluate()
  return m
end
local x = relua.randn(2, 3, 6, 6, {seed = 4})

-- CAM_c = sum_k W[c][k] A_k, from the weights, with loops.
local function cam(net, input, c)
  net:forward(input)
  local a = net:find("act").output:totable()
  local w = net:find("fc").weight:totable()
  local out = {}
  for n = 1, #a do
    out[n] = {{}}
    for i = 1, #a[n][1] do
      out[n][1][i] = {}
      for j = 1, #a[n][1][1] do
        local s = 0
        for k = 1, #a[n] do s = s + w[c][k] * a[n][k][i][j] end
        out[n][1][i][j] = s
      end
    end
  end
  return relua.tensor(out)
end

T.test("Grad-CAM on a GAP + linear head is CAM / (h w)", function()
  local net = cam_net()
  local ref = cam(net, x, 2)
  local a, info = methods.gradcam(net, x, 2, {layer = "act", relu = false})
  T.close(info.map * 36, ref, 1e-5, "no ReLU")
  T.check(a:size(1) == 2 and a:size(2) == 3 and a:size(3) == 6 and a:size(4) == 6, "the input's shape")
  T.close(a[1][1], a[1][3], 0, "the same map on every channel")
  T.close(a:narrow(2, 1, 1), info.map, 1e-6, "same size: no resampling")
  local _, info2 = methods.gradcam(net, x, 2, {layer = "act"})
  T.close(info2.map * 36, ref:clamp(0), 1e-5, "with ReLU")
  local _, info3 = methods.gradcam(net, x, 2, {layer = net:find("act"), normalize = true})
  local r = ref:clamp(0)
  for n = 1, 2 do
    local lo, hi = r[n]:min():item(), r[n]:max():item()
    T.close(info3.map[n], (r[n] - lo) / (hi - lo), 1e-4, "normalised")
  end
  T.close(info.weights, net:find("fc").weight[2]:reshape(1, 5):expand(2, 5) / 36, 1e-6, "weights: mean gradients")
end)

-- A net whose target layer ("act", 4 x 4) is followed by pooling to 2 x 2, so the map is upsampled.
local function pooled_net()
  relua.seed(22)
  local m = nn.Sequential(nn.Conv2d(3, 4, 3, {padding = 1}), nn.ReLU():named("act"),
    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
  m:evaluate()
  return m
end

T.test("upsampling: bilinear (align_corners false) or nearest", function()
  local net = pooled_net()
  local img = relua.randn(1, 3, 8, 8, {seed = 5})
  local a, info = methods.gradcam(net, img, 1, {layer = "act", interpolation = "nearest"})
  T.check(info.map:size(3) == 8, "act is 8 x 8")
  local m = nn.Sequential(nn.Conv2d(3, 2, 2, {stride = 2}):named("down"), nn.ReLU():named("act"),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
  a, info = methods.gradcam(m, img, 2, {layer = "act", interpolation = "nearest"})
  T.check(info.map:size(3) == 4 and a:size(3) == 8, "4 x 4 map, 8 x 8 attribution")
  T.close(a[1][1][1][1], info.map[1][1][1][1], 1e-6)
  T.close(a[1][1][2][2], info.map[1][1][1][1], 1e-6, "nearest: 2 x 2 blocks")
  T.close(a[1][2][8][7], info.map[1][1][4][4], 1e-6)
  local b, binfo = methods.gradcam(m, img, 2, {layer = "act"})
  -- bilinear, half-pixel centres: output (2, 2) is 0.75 * 0.75 of map (1, 1) + ... of its neighbours
  local mp = binfo.map[1][1]
  local want = 0.5625 * mp[1][1] + 0.1875 * mp[1][2] + 0.1875 * mp[2][1] + 0.0625 * mp[2][2]
  T.close(b[1][1][2][2], want, 1e-5, "bilinear interior")
  T.close(b[1][1][1][1], mp[1][1], 1e-6, "bilinear corner clamps")
end)

T.test("Grad-CAM++ against eq. 19 with loops", function()
  local net = cam_net()
  local a, info = methods.gradcam_pp(net, x, 3, {layer = "act", relu = false})
  -- with a GAP + linear head the gradient is constant per channel: g_k = W[3][k] / 36
  net:forward(x)
  local A = net:find("act").output:totable()
  local W = net:find("fc").weight:totable()
  for n = 1, 2 do
    local ref = {}
    for k = 1, 5 do
      local g = W[3][k] / 36
      local s = 0
      for i = 1, 6 do for j = 1, 6 do s = s + A[n][k][i][j] end end
      local alpha = g * g / (2 * g * g + s * g ^ 3 + 1e-6)
      ref[k] = 36 * alpha * math.max(g, 0)
    end
    T.close(info.weights[n], relua.tensor(ref), 1e-5, "weights of sample " .. n)
    for i = 1, 6, 5 do
      for j = 1, 6, 2 do
        local v = 0
        for k = 1, 5 do v = v + ref[k] * A[n][k][i][j] end
        T.close(info.map[n][1][i][j], v, 1e-5, "map")
      end
    end
  end
  T.check(a:size(2) == 3 and a:size(3) == 6, "shape")
end)

T.test("LayerCAM: sum_k relu(g) A_k, then ReLU", function()
  local net = cam_net()
  local a, info = methods.layercam(net, x, 1, {layer = "act"})
  net:forward(x)
  local A = net:find("act").output:totable()
  local W = net:find("fc").weight:totable()
  for n = 1, 2 do
    for i = 1, 6 do
      for j = 1, 6, 3 do
        local v = 0
        for k = 1, 5 do v = v + math.max(W[1][k] / 36, 0) * A[n][k][i][j] end
        T.close(info.map[n][1][i][j], math.max(v, 0), 1e-6)
      end
    end
  end
  T.check(a:size(2) == 3, "shape")
  -- position by position: a gradient that differs across positions (a max-pooled head)
  local p = pooled_net()
  local img = relua.randn(1, 3, 8, 8, {seed = 6})
  local _, at = relua.grad(p, img, 2, {at = {"act"}})
  local act = p:find("act").output
  local want = (at.act:clamp(0) * act):sum(2, {keepdim = true}):clamp(0)
  local _, li = methods.layercam(p, img, 2, {layer = "act"})
  T.close(li.map, want, 1e-6)
end)

-- Score-CAM on a net whose layer is the input itself (a 1x1 identity conv),
-- followed by global average pooling and a linear layer: every number by loops.
T.test("Score-CAM against a loop computation", function()
  local conv = nn.Conv2d(2, 2, 1, {bias = false}):named("id")
  conv.weight:copy_(relua.tensor{{{{1}}, {{0}}}, {{{0}}, {{1}}}})
  local fc = nn.Linear(2, 2)
  fc.weight:copy_(relua.tensor{{1, -2}, {0.5, 3}})
  fc.bias:copy_(relua.tensor{0.25, -1})
  local net = nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc)
  local img = relua.tensor{{{{1, 2, 0}, {3, -1, 2}}, {{0.5, 0, 1}, {-2, 1, 4}}}}   -- 1 x 2 x 2 x 3
  local t = img:totable()[1]
  local scores = {}
  for k = 1, 2 do
    local lo, hi = math.huge, -math.huge
    for i = 1, 2 do for j = 1, 3 do lo, hi = math.min(lo, t[k][i][j]), math.max(hi, t[k][i][j]) end end
    local mean = {0, 0}
    for c = 1, 2 do
      for i = 1, 2 do for j = 1, 3 do
        mean[c] = mean[c] + t[c][i][j] * (t[k][i][j] - lo) / (hi - lo + 1e-8) / 6
      end end
    end
    scores[k] = 0.5 * mean[1] + 3 * mean[2] - 1   -- class 2
  end
  local e1, e2 = math.exp(scores[1]), math.exp(scores[2])
  local w = {e1 / (e1 + e2), e2 / (e1 + e2)}
  local a, info = methods.scorecam(net, img, 2, {layer = "id", batch_size = 1})
  T.close(info.scores[1], relua.tensor(scores), 1e-5, "scores")
  T.close(info.weights[1], relua.tensor(w), 1e-5, "softmax weights")
  for i = 1, 2 do for j = 1, 3 do
    T.close(info.map[1][1][i][j], math.max(0, w[1] * t[1][i][j] + w[2] * t[2][i][j]), 1e-5)
  end end
  T.check(a:size(2) == 2 and a:size(3) == 2 and a:size(4) == 3, "shape")
end)

T.test("Score-CAM batches: batch_size 1 and 64 agree; progress", function()
  local net = cam_net()
  local seen = 0
  local a1, i1 = methods.scorecam(net, x, 1, {layer = "act", batch_size = 1, progress = function(d) seen = d end})
  local a2, i2 = methods.scorecam(net, x, 1, {layer = "act", batch_size = 64})
  T.close(a1, a2, 1e-6)
  T.close(i1.scores, i2.scores, 1e-6)
  T.check(seen == 10, "progress reached 5 channels x 2 samples: " .. seen)
  T.check(i1.map:size(2) == 1 and i1.map:size(3) == 6, "map at layer resolution")
end)

T.test("Guided Grad-CAM is guided backprop times the upsampled Grad-CAM", function()
  local net = cam_net()
  local a, info = methods.guided_gradcam(net, x, 2, {layer = "act"})
  local gb = methods.guided_backprop(net, x, 2)
  local _, gi = methods.gradcam(net, x, 2, {layer = "act"})
  T.close(a, gb * gi.upsampled, 1e-6)
  T.close(info.map, gi.map, 1e-6)
  T.check(a:size(2) == 3, "shape")
end)

T.test("errors name the method and the option", function()
  local net = cam_net()
  for _, name in ipairs{"gradcam", "gradcam_pp", "layercam", "scorecam", "guided_gradcam"} do
    local f = methods[name]
    T.check_error(name .. ": option 'layer' is required", f, net, x, 1)
    T.check_error(name .. ": no layer 'conv9' in the model", f, net, x, 1, {layer = "conv9"})
    T.check_error(name .. ": option 'interpolation' must be one of bilinear, nearest, got bicubic", f, net, x, 1,
      {layer = "act", interpolation = "bicubic"})
    T.check_error(name .. ": input must be N x C x H x W, got [2 x 3]", f, net, relua.randn(2, 3), 1, {layer = "act"})
    T.check_error(name .. ": layer fc must give N x K x h x w activations, got [2 x 3]", f, net, x, 1, {layer = "fc"})
    T.check_error(name .. ": unknown option 'target_layer'", f, net, x, 1, {target_layer = "act"})
  end
  T.check_error("guided_gradcam: unknown option 'relu'", methods.guided_gradcam, net, x, 1, {layer = "act", relu = false})
  T.check_error("scorecam: option 'batch_size' must be integer >= 1, got 0", methods.scorecam, net, x, 1, {layer = "act", batch_size = 0})
  T.check_error("gradcam: the model must be a module", methods.gradcam, function(v) return v end, x, 1, {layer = "act"})
end)

T.done()
