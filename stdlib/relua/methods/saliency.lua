-- saliency: the gradient of the target score with respect to the input.
--   Simonyan, Vedaldi, Zisserman 2014, "Deep Inside Convolutional Networks".
--   abs = true      |gradient| elementwise, no reduction over channels (Captum's Saliency)
--   squared = false gradient^2, the sensitivity analysis of Samek et al. 2017
--                   (wins over abs; sum it over channels for the Toolbox's squared L2 norm)
local grad = require "relua.grad"
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "saliency",
  doc = "the gradient of the target with respect to the input (|.| by default)",
  paper = "Simonyan et al. 2014, Deep Inside Convolutional Networks",
  options = {
    abs = {default = true, type = "boolean", doc = "take the absolute value of the gradient"},
    squared = {default = false, type = "boolean", doc = "square the gradient (Samek et al.'s sensitivity)"},
  },
  fn = function(model, input, target, opts)
    U.check_input("saliency", input)
    U.check_target("saliency", target, input:size(1))
    local g, _, out = grad(model, input, target)
    if opts.squared then g = g * g elseif opts.abs then g = g:abs() end
    return g, {output = out:detach()}
  end,
}
