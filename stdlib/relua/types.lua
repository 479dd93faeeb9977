-- relua.types: groups of layer types, the keys of composites' layer maps
-- (Zennit's zennit.types). A group matches modules by class and op calls by kind:
--   types.Convolution   nn.Conv2d                         conv2d
--   types.Dense         nn.Linear                         linear
--   types.Linear        Convolution and Dense (Zennit's Linear: every layer with weights)
--   types.Activation    nn.ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax
--   types.AvgPool       nn.AvgPool2d, nn.AdaptiveAvgPool2d    avgpool2d, adaptive_avgpool2d
--   types.MaxPool       nn.MaxPool2d                      maxpool2d
--   types.BatchNorm     nn.BatchNorm2d                    batchnorm2d
--   types.Sum           nn.Add, nn.Residual (their last add)  add
-- types.group(name, classes, kinds) makes a new group; group:matches(module)
-- and group:has_kind(kind) test membership.
local nn = require "relua.nn"
local class = require "relua.class"

local Group = class("relua.TypeGroup")
function Group:__init(name, classes, kinds) self.name, self.classes, self.kinds = name, classes or {}, kinds or {} end
function Group:matches(m)
  for _, c in ipairs(self.classes) do if class.is_instance(m, c) then return true end end
  return false
end
function Group:has_kind(kind)
  for _, k in ipairs(self.kinds) do if k == kind then return true end end
  return false
end
function Group:__tostring() return "types." .. self.name end

local M = {Group = Group}
function M.group(name, classes, kinds) return Group(name, classes, kinds) end
function M.is_group(v) return getmetatable(v) == Group end

M.Convolution = Group("Convolution", {nn.Conv2d}, {"conv2d"})
M.Dense = Group("Dense", {nn.Linear}, {"linear"})
M.Linear = Group("Linear", {nn.Conv2d, nn.Linear}, {"conv2d", "linear"})
M.Activation = Group("Activation", {nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softmax, nn.LogSoftmax},
                     {"relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"})
M.AvgPool = Group("AvgPool", {nn.AvgPool2d, nn.AdaptiveAvgPool2d}, {"avgpool2d", "adaptive_avgpool2d"})
M.MaxPool = Group("MaxPool", {nn.MaxPool2d}, {"maxpool2d"})
M.BatchNorm = Group("BatchNorm", {nn.BatchNorm2d}, {"batchnorm2d"})
M.Sum = Group("Sum", {nn.Add}, {"add"})

M.names = {"Convolution", "Dense", "Linear", "Activation", "AvgPool", "MaxPool", "BatchNorm", "Sum"}

return M
