-- deconvnet: the gradient with every ReLU's backward replaced by
-- max(g_out, 0), whatever the unit's input was.
--   Zeiler, Fergus 2014, "Visualizing and Understanding Convolutional Networks".
-- A rule on the op "relu" (Captum's Deconvolution, Zennit's ReLUDeconvNet).
local U = require "relua.methods._util"

local function deconv_relu(ctx) return ctx.grad_output:clamp(0) end

return U.relu_rule_method({
  name = "deconvnet",
  doc = "the gradient with each ReLU passing only positive gradient, regardless of its input",
  paper = "Zeiler and Fergus 2014, Visualizing and Understanding Convolutional Networks",
}, deconv_relu)
