-- saliency, gradient_x_input, guided_backprop, deconvnet: answers known on paper.
local T = require "harness"
local relua = require "relua"
local nn = relua.nn
local methods = relua.methods

-- y = W x + b with a chosen W.
local function linear_model()
  local m = nn.Linear(4, 3)
  m.weight:copy_(relua.tensor{{1, -2, 3, -4}, {0.5, 0.25, -1, 2}, {-3, 1, 0, 1}})
  m.bias:copy_(relua.tensor{0.1, -0.2, 0.3})
  return m
end
local x = relua.tensor{{1, 2, -1, 0.5}, {-2, 0.5, 3, 1}}

T.test("saliency of a linear model is |W[target]|, signed with abs = false", function()
  local m = linear_model()
  local a = methods.saliency(m, x, 2)
  T.close(a, relua.tensor{{0.5, 0.25, 1, 2}, {0.5, 0.25, 1, 2}}, 1e-6)
  a = methods.saliency(m, x, 2, {abs = false})
  T.close(a, relua.tensor{{0.5, 0.25, -1, 2}, {0.5, 0.25, -1, 2}}, 1e-6)
  a = methods.saliency(m, x, relua.tensor{1, 3}, {abs = false})   -- a class per sample
  T.close(a, relua.tensor{{1, -2, 3, -4}, {-3, 1, 0, 1}}, 1e-6)
  a = methods.saliency(m, x, 1, {squared = true})
  T.close(a, relua.tensor{{1, 4, 9, 16}, {1, 4, 9, 16}}, 1e-6)
  T.check(a:dim() == 2 and a:size(1) == 2 and a:size(2) == 4, "the input's shape")
end)

T.test("gradient x input of a linear model is W[target] * x", function()
  local m = linear_model()
  local a = methods.gradient_x_input(m, x, 3)
  T.close(a, relua.tensor{{-3, 2, 0, 0.5}, {6, 0.5, 0, 1}}, 1e-6)
  -- a seed tensor on the output and a function of the output pick the same thing
  local seed = relua.zeros(2, 3); seed[1][3] = 1; seed[2][3] = 1
  T.close(methods.gradient_x_input(m, x, seed), a, 1e-6)
  T.close(methods.gradient_x_input(m, x, function(out) return out:select(2, 3) end), a, 1e-6)
end)

-- y = w2 . relu(W1 x), no biases: every number below is worked out by hand.
local function tiny()
  local l1, l2 = nn.Linear(2, 3, {bias = false}), nn.Linear(3, 1, {bias = false})
  l1.weight:copy_(relua.tensor{{1, -1}, {2, 1}, {-1, 0.5}})
  l2.weight:copy_(relua.tensor{{-1, 2, 3}})
  return nn.Sequential(l1, nn.ReLU(), l2)
end
local xt = relua.tensor{{1, 0.5}}   -- pre-activations 0.5, 2.5, -0.75: units 1, 2 open

T.test("guided backprop and deconvnet against a hand computation", function()
  local net = tiny()
  -- gradient: w2 * open = (-1, 2, 0), through W1^T: (3, 3)
  T.close(methods.saliency(net, xt, 1, {abs = false}), relua.tensor{{3, 3}}, 1e-6)
  -- guided: relu(w2) * open = (0, 2, 0) -> (4, 2)
  T.close(methods.guided_backprop(net, xt, 1), relua.tensor{{4, 2}}, 1e-6)
  -- deconvnet: relu(w2) = (0, 2, 3), whatever the input -> (2*2 - 3, 2 + 1.5) = (1, 3.5)
  T.close(methods.deconvnet(net, xt, 1), relua.tensor{{1, 3.5}}, 1e-6)
end)

T.test("guided backprop reaches every ReLU, also two deep", function()
  local l1, l2, l3 = nn.Linear(2, 2, {bias = false}), nn.Linear(2, 2, {bias = false}), nn.Linear(2, 1, {bias = false})
  l1.weight:copy_(relua.tensor{{1, 0}, {0, 1}})
  l2.weight:copy_(relua.tensor{{1, -1}, {-1, 1}})
  l3.weight:copy_(relua.tensor{{1, -1}})
  local net = nn.Sequential(l1, nn.ReLU(), l2, nn.ReLU(), l3)
  -- x = (2, 1): h1 = (2, 1) open; h2 pre = (1, -1): unit 1 open. g at relu2 = (1, -1) -> guided (1, 0);
  -- through l2^T: (1, -1), at relu1 guided -> (1, 0), through l1^T: (1, 0)
  T.close(methods.guided_backprop(net, relua.tensor{{2, 1}}, 1), relua.tensor{{1, 0}}, 1e-6)
  -- the plain gradient: (1, 0) through l2^T = (1, -1), relu1 open both: (1, -1)
  T.close(methods.saliency(net, relua.tensor{{2, 1}}, 1, {abs = false}), relua.tensor{{1, -1}}, 1e-6)
end)

T.test("a model given as a function", function()
  local f = function(v) return (v * v):sum(2, {keepdim = true}) end
  T.close(methods.saliency(f, x, nil, {abs = false}), x * 2, 1e-6)
  T.close(methods.gradient_x_input(f, x), x * x * 2, 1e-6)
end)

T.test("option errors name the option", function()
  local m = linear_model()
  T.check_error("saliency: unknown option 'absolute' (options: abs, squared)", methods.saliency, m, x, 1, {absolute = true})
  T.check_error("saliency: option 'abs' must be boolean, got integer 1", methods.saliency, m, x, 1, {abs = 1})
  T.check_error("gradient_x_input: unknown option 'abs' (options: none)", methods.gradient_x_input, m, x, 1, {abs = true})
  T.check_error("guided_backprop: unknown option 'layer'", methods.guided_backprop, m, x, 1, {layer = "fc"})
  T.check_error("saliency: options must be a table, got string", methods.saliency, m, x, 1, "abs")
  T.check_error("saliency: a target tensor needs one row per sample (2), got [3]", methods.saliency, m, x, relua.tensor{1, 2, 3})
  T.check_error("saliency: target must be nil, a class index, a tensor or a function, got string",
    methods.saliency, m, x, "cat")
  T.check_error("saliency: input must be a tensor, got nil", methods.saliency, m, nil, 1)
  T.check_error("grad: class 4 out of range 1..3", methods.saliency, m, x, 4)
end)

T.test("the registry lists and calls them", function()
  local names = table.concat(methods.list(), " ")
  for _, n in ipairs{"saliency", "gradient_x_input", "guided_backprop", "deconvnet", "integrated_gradients",
      "smoothgrad", "gradcam", "gradcam_pp", "guided_gradcam", "scorecam", "layercam", "occlusion", "deeplift"} do
    T.check(names:find(n, 1, true), n .. " is listed")
    local e = methods.get(n)
    T.check(e.doc and e.paper, n .. " has a doc line and a paper")
  end
  T.close(methods.call("saliency", linear_model(), x, 1), methods.saliency(linear_model(), x, 1), 0)
end)

T.test("no method keeps tensor memory after its results are dropped", function()
  local function run_all()
    relua.seed(9)
    local net = nn.Sequential(nn.Conv2d(2, 3, 3, {padding = 1}), nn.ReLU():named("act"),
      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    net:evaluate()
    local img = relua.randn(2, 2, 5, 5, {seed = 1})
    for _, name in ipairs(methods.builtin) do
      if name ~= "lrp" then
        local opts = ({gradcam = 1, gradcam_pp = 1, layercam = 1, scorecam = 1, guided_gradcam = 1})[name]
          and {layer = "act"} or nil
        if name == "integrated_gradients" then opts = {steps = 3, batch_size = 4, baseline = "blur", sigma = 1} end
        if name == "smoothgrad" then opts = {n = 3, batch_size = 2} end
        if name == "occlusion" then opts = {window = 2, batch_size = 5} end
        local a = methods[name](net, img, 1, opts)
        T.check(a:size(4) == 5, name .. " ran")
      end
    end
  end
  run_all()   -- once to grow the core's reusable workspaces
  local before = T.live_bytes()
  run_all()
  T.check(T.live_bytes() == before, "live bytes back to " .. before .. ", got " .. T.live_bytes())
end)

T.done()
