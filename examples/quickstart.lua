-- quickstart.lua: a small CNN, its gradient at the input and at a layer,
-- and a layer's backward replaced by a rule for one pass.
--   relua examples/quickstart.lua
local relua = require "relua"
local nn = relua.nn

relua.seed(0)
local model = nn.Sequential(
  nn.Conv2d(1, 8, 3, {padding = 1}):named("conv1"), nn.ReLU(),
  nn.MaxPool2d(2),
  nn.Conv2d(8, 16, 3, {padding = 1}):named("conv2"), nn.ReLU(),
  nn.AdaptiveAvgPool2d(1), nn.Flatten(),
  nn.Linear(16, 10):named("fc"))
model:evaluate()

local x = relua.rand(4, 1, 28, 28, {seed = 1})   -- a batch of four 28 x 28 images
local out = model:forward(x)
print(model)

-- Saliency for class 3 of every sample, and the gradient at conv2's output
-- (Grad-CAM's ingredient) in the same backward pass.
local gx, at = relua.grad(model, x, 3, {at = {"conv2"}})
print(("gradient at the input %s, at conv2 %s"):format(
  table.concat(gx:shape(), " x "), table.concat(at.conv2:shape(), " x ")))

-- Guided backprop: ReLU's backward replaced, for this pass only.
local function guided_relu(ctx)
  return ctx.grad_output:clamp(0) * ctx.input:sign():clamp(0)
end
local guided = relua.grad(model, x, 3, {rules = {relu = guided_relu}})
print(("|saliency| sum %.4g, guided backprop sum %.4g, the model is unchanged: %s"):format(
  gx:abs():sum():item(), guided:sum():item(),
  tostring((model:forward(x) - out):abs():max():item() == 0)))
