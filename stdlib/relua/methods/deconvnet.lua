-- deconvnet: the gradient with every ReLU's backward replaced by
-- max(g_out, 0), whatever the unit's input was.
--   Zeiler, Fergus 2014, "Visualizing and Understanding Convolutional Networks".
-- A rule on the op "relu" (Captum's Deconvolution, Zennit's ReLUDeconvNet).
local grad = require "relua.grad"
local methods = require "relua.methods"
local U = require "relua.methods._util"

local function deconv_relu(ctx) return ctx.grad_output:clamp(0) end

return methods.register{
  name = "deconvnet",
  doc = "the gradient with each ReLU passing only positive gradient, regardless of its input",
  paper = "Zeiler and Fergus 2014, Visualizing and Understanding Convolutional Networks",
  options = {},
  rule = deconv_relu,
  fn = function(model, input, target, opts)
    U.check_input("deconvnet", input)
    U.check_target("deconvnet", target, input:size(1))
    local g, _, out = grad(model, input, target, {rules = {relu = deconv_relu}})
    return g, {output = out:detach()}
  end,
}
