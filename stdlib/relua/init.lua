-- relua: explains neural networks.
--   local relua = require "relua"
--   local nn = relua.nn
-- The module table is the C core (relua.core: tensors, ops, layer
-- functions, backward; see docs/lua-api.md) plus the Lua parts:
-- relua.class, relua.nn, relua.grad, and the attribution library:
-- relua.methods, relua.rules, relua.composites, relua.canonizers,
-- relua.types (LRP), relua.viz (heatmaps), relua.onnx (models from ONNX
-- files), relua.save / relua.load (checkpoints).
local relua = require "relua.core"

relua.class = require "relua.class"
relua.nn = require "relua.nn"
relua.grad = require "relua.grad"
relua.methods = require "relua.methods"
relua.doc = require("relua.help").doc
relua.viz = require "relua.viz"
relua.rules = require "relua.rules"
relua.composites = require "relua.composites"
relua.canonizers = require "relua.canonizers"
relua.types = require "relua.types"
relua.onnx = require "relua.onnx"
relua.checkpoint = require "relua.checkpoint"
relua.save, relua.load = relua.checkpoint.save, relua.checkpoint.load

return relua
