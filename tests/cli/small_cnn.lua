-- A relua model in the shape of tests/data/onnx/small_cnn.onnx (1 x 12 x 12 -> 10
-- classes), built in Lua with fixed seed: `relua explain --model small_cnn.lua`.
local relua = require "relua"
local nn = relua.nn
relua.seed(7)
return nn.Sequential(
  nn.Conv2d(1, 4, 3, {padding = 1}):named("conv1"), nn.ReLU(),
  nn.MaxPool2d(2),
  nn.Conv2d(4, 8, 3, {padding = 1}):named("conv2"), nn.ReLU(),
  nn.AdaptiveAvgPool2d(1), nn.Flatten(),
  nn.Linear(8, 10):named("fc"))
