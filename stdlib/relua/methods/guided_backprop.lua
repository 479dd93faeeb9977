-- guided_backprop: the gradient with every ReLU's backward replaced by
-- g_out * 1[x > 0] * 1[g_out > 0]: only positive gradient through open units.
--   Springenberg et al. 2015, "Striving for Simplicity: The All Convolutional Net".
-- A rule on the op "relu", so it reaches every ReLU call, in modules or not
-- (Captum hooks nn.ReLU modules only).
local grad = require "relua.grad"
local methods = require "relua.methods"
local U = require "relua.methods._util"

local function guided_relu(ctx)
  local open = ctx.input:sign():clamp(0)   -- 1 where the unit was active
  return ctx.grad_output:clamp(0) * open
end

return methods.register{
  name = "guided_backprop",
  doc = "the gradient with only positive gradients passed through active ReLUs",
  paper = "Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net",
  options = {},
  rule = guided_relu,
  fn = function(model, input, target, opts)
    U.check_input("guided_backprop", input)
    U.check_target("guided_backprop", target, input:size(1))
    local g, _, out = grad(model, input, target, {rules = {relu = guided_relu}})
    return g, {output = out:detach()}
  end,
}
