-- demo.lua: trains a small CNN on Fashion-MNIST for a few seconds, then shows
-- why it decides what it does, with six attribution methods side by side.
--   relua examples/demo.lua [OUT.png]        (default: relua-demo.png)
-- Needs the Debian package dataset-fashion-mnist (tools/setup.sh installs it).
local relua = require "relua"
local nn, viz, methods = relua.nn, relua.viz, relua.methods

local out = arg and arg[1] or "relua-demo.png"
local dir = "/usr/share/datasets/fashion-mnist/"
local classes = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Boot"}
local clock = relua.clock  -- wall time

-- {==================== data
local ntrain, ntest = 6000, 1000
local function load(kind, n)
  local x = relua.idx.load(dir .. kind .. "-images-idx3-ubyte.gz", {limit = n, scale = true})
  local y = relua.idx.load(dir .. kind .. "-labels-idx1-ubyte.gz", {limit = n}) + 1 -- 1-based classes
  return x:unsqueeze(2), y                                                         -- N x 1 x 28 x 28
end
local probe = io.open(dir .. "train-images-idx3-ubyte.gz")
if not probe then
  io.stderr:write("demo: Fashion-MNIST is not under " .. dir .. " (apt-get install dataset-fashion-mnist)\n")
  os.exit(1)
end
probe:close()
local x, y = load("train", ntrain)
local tx, ty = load("t10k", ntest)
-- }====================

-- {==================== a CNN, trained by SGD with momentum
relua.seed(0)
local model = nn.Sequential(
  nn.Conv2d(1, 16, 3, {padding = 1}):named("conv1"), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(16, 32, 3, {padding = 1}):named("conv2"), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Linear(32 * 7 * 7, 10):named("fc"))
local params = model:parameters()
local velocity = {}
for i, p in ipairs(params) do p:requires_grad(true); velocity[i] = relua.zeros(p:shape()) end

local t0, batch, lr = clock(), 64, 0.05
for epoch = 1, 1 do
  local loss_sum, steps = 0, 0
  for first = 1, ntrain - batch + 1, batch do
    local loss = relua.cross_entropy(model:forward(x:narrow(1, first, batch)), y:narrow(1, first, batch))
    local grads = relua.backward(loss, nil, params)
    for i, p in ipairs(params) do
      velocity[i] = velocity[i] * 0.9 + grads[i]
      p:copy_(p - velocity[i] * lr)               -- in place: p stays the model's leaf
    end
    loss_sum, steps = loss_sum + loss:item(), steps + 1
  end
  print(("epoch %d: mean loss %.3f"):format(epoch, loss_sum / steps))
end
model:evaluate()
local predicted = relua.no_grad(function() return model:forward(tx):argmax(2) end)
local hits = 0
for i = 1, ntest do if predicted[i] == ty[i] then hits = hits + 1 end end
print(("trained in %.1f s: test accuracy %.1f%% on %d images"):format(clock() - t0, 100 * hits / ntest, ntest))
-- }====================

-- {==================== explanations: one row per image, one column per method
local pick = {1, 2, 3, 9}                                 -- a boot, a pullover, trousers, a sandal
local input = relua.cat((function()
  local t = {}
  for i, k in ipairs(pick) do t[i] = tx:narrow(1, k, 1) end
  return t
end)(), 1)
local target = relua.tensor((function()
  local t = {}
  for i, k in ipairs(pick) do t[i] = ty[k] end
  return t
end)())

local columns = {
  {"saliency", {}, label = "|gradient|"},
  {"integrated_gradients", {steps = 32}, label = "integrated grad"},
  {"smoothgrad", {n = 16, seed = 1}, label = "smoothgrad"},
  {"gradcam", {layer = "conv2"}, label = "grad-cam"},
  {"lrp", {composite = "epsilon_plus"}, label = "lrp eps+"},
  {"lrp", {composite = "epsilon_gamma_box", low = 0, high = 1}, label = "lrp eps-gamma-box"},
}
local results = {}
for c, col in ipairs(columns) do
  local t = clock()
  results[c] = methods.call(col[1], model, input, target, col[2])
  local name = col[2].composite and ("lrp." .. col[2].composite) or col[1]
  print(("%-24s %6.1f ms for %d images"):format(name, 1000 * (clock() - t), #pick))
end

local items = {}
for i = 1, #pick do
  items[#items + 1] = {image = input[i], label = classes[math.tointeger(target[i])]}
  for c, col in ipairs(columns) do
    local r = results[c][i]
    local opts = col[1] == "gradcam" and {cmap = "inferno", normalize = "minmax"} or {}
    items[#items + 1] = {image = viz.heatmap(r, opts), label = col.label}
  end
end
local grid = viz.save_grid(out, items, {cols = #columns + 1, min_tile = 112})
print(("wrote %s (%d x %d): red is evidence for the class, blue against"):format(out, grid:size(3), grid:size(2)))
-- }====================
