-- relua.nn: layers as modules (Torch's protocol, see Module.lua) and, in
-- nn.functional, the same layers as plain functions of tensors:
--   conv2d(x, w, b, {stride, padding, dilation, groups}), linear(x, w, b),
--   max_pool2d(x, k, opts), avg_pool2d(x, k, opts), adaptive_avg_pool2d(x, size),
--   relu, leaky_relu(x, slope), sigmoid, tanh, softmax(x, dim), log_softmax(x, dim),
--   batch_norm(x, w, b, rmean, rvar, {eps, momentum, training}),
--   dropout(x, p, {training, seed}), flatten(x, start, stop), cross_entropy(logits, classes)
local core = require "relua.core"

local nn = {
  Module = require "relua.nn.Module",
  Container = require "relua.nn.Container",
  Sequential = require "relua.nn.Sequential",
  Linear = require "relua.nn.Linear",
  Conv2d = require "relua.nn.Conv2d",
  BatchNorm2d = require "relua.nn.BatchNorm2d",
  functional = {},
}
for _, group in ipairs {"pooling", "activation", "shape", "branches"} do
  for k, v in pairs(require("relua.nn." .. group)) do nn[k] = v end
end
for _, f in ipairs {"conv2d", "linear", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "relu",
                    "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "batch_norm", "dropout",
                    "flatten", "cross_entropy"} do
  nn.functional[f] = core[f]
end

return nn
