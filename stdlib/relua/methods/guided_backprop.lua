-- guided_backprop: the gradient with every ReLU's backward replaced by
-- g_out * 1[x > 0] * 1[g_out > 0]: only positive gradient through open units.
--   Springenberg et al. 2015, "Striving for Simplicity: The All Convolutional Net".
-- A rule on the op "relu", so it reaches every ReLU call, in modules or not
-- (Captum hooks nn.ReLU modules only).
local U = require "relua.methods._util"

local function guided_relu(ctx)
  local open = ctx.input:sign():clamp(0)   -- 1 where the unit was active
  return ctx.grad_output:clamp(0) * open
end

return U.relu_rule_method({
  name = "guided_backprop",
  doc = "the gradient with only positive gradients passed through active ReLUs",
  paper = "Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net",
}, guided_relu)
