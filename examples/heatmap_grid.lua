-- heatmap_grid.lua: a labelled grid of heatmaps for a small classifier of
-- Fashion-MNIST, trained here in a second: input | gradient | gradient x
-- input | the same over the input | coldnhot with 99th-percentile clipping.
--   relua examples/heatmap_grid.lua [OUT.png]     (docs/img/heatmap_grid.png is its output)
-- Without the dataset (apt install dataset-fashion-mnist) it uses random
-- images, so it still runs everywhere.
local relua = require "relua"
local nn = relua.nn
local viz = require "relua.viz"

local keep = arg and arg[1]
local out = keep
if not out then
  out = os.tmpname()
  os.remove(out)
  out = out .. ".png"
end
local dir = "/usr/share/datasets/fashion-mnist/"
local names = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"}

-- {==================== data and a two-layer network, trained by gradient descent
local have = io.open(dir .. "train-images-idx3-ubyte.gz")
if have then have:close() end
local n = 2000
local x, y, tx, ty
if have then
  x = relua.idx.load(dir .. "train-images-idx3-ubyte.gz", {limit = n, scale = true})
  y = relua.idx.load(dir .. "train-labels-idx1-ubyte.gz", {limit = n}) + 1
  tx = relua.idx.load(dir .. "t10k-images-idx3-ubyte.gz", {limit = 3, scale = true})
  ty = relua.idx.load(dir .. "t10k-labels-idx1-ubyte.gz", {limit = 3}) + 1
else
  print("no Fashion-MNIST under " .. dir .. ": random images")
  x, tx = relua.rand(n, 28, 28, {seed = 1}), relua.rand(3, 28, 28, {seed = 2})
  y, ty = relua.ones(n), relua.ones(3)
end

local X = x:reshape(n, 784)
local W1, b1 = relua.randn(64, 784, {seed = 4, std = 0.05}), relua.zeros(64)
local W2, b2 = relua.randn(10, 64, {seed = 5, std = 0.1}), relua.zeros(10)
for _ = 1, 150 do
  local params = {W1, b1, W2, b2}
  for _, p in ipairs(params) do p:requires_grad(true) end
  local logits = relua.linear(relua.linear(X, W1, b1):relu(), W2, b2)
  local g = relua.backward(relua.cross_entropy(logits, y), nil, params)
  for i, p in ipairs(params) do params[i] = (p - g[i] * 0.5):detach() end
  W1, b1, W2, b2 = table.unpack(params)
end

local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
local l1, l2 = model:get(2), model:get(4)
l1.weight:copy_(W1) l1.bias:copy_(b1) l2.weight:copy_(W2) l2.bias:copy_(b2)
model:evaluate()
-- }====================

-- {==================== explanations and the grid
local input = tx:unsqueeze(2)                                -- 3 x 1 x 28 x 28
local grad = relua.grad(model, input, ty)                    -- the gradient of each true class
local gxi = grad * input
local items = {}
for i = 1, 3 do
  local img, label = input[i], names[math.tointeger(ty[i])]
  items[#items + 1] = {image = img, label = label}
  items[#items + 1] = {image = viz.heatmap(grad[i], {reduce = "abs", normalize = "minmax"}), label = "|gradient|"}
  items[#items + 1] = {image = viz.heatmap(gxi[i]), label = "grad x input"}
  items[#items + 1] = {image = viz.overlay(img, gxi[i], {alpha = 0.6}), label = "overlay"}
  items[#items + 1] = {image = viz.heatmap(gxi[i], {cmap = "coldnhot", percentile = 99}), label = "coldnhot p99"}
end
local grid = viz.save_grid(out, items, {cols = 5, min_tile = 112})
assert(relua.image.load(out):size(3) == grid:size(3), "the PNG reads back")
print(("wrote %s: %d x %d pixels"):format(keep or "a temporary PNG", grid:size(3), grid:size(2)))
if not keep then os.remove(out) end
-- }====================
