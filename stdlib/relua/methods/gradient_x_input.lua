-- gradient_x_input: the input times the gradient of the target, elementwise.
--   Shrikumar et al. 2016, "Not Just a Black Box"; equal to epsilon-LRP with
--   epsilon -> 0 on a bias-free ReLU network.
local grad = require "relua.grad"
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "gradient_x_input",
  doc = "input * gradient of the target",
  paper = "Shrikumar et al. 2016, Not Just a Black Box",
  options = {},
  fn = function(model, input, target, opts)
    U.check_input("gradient_x_input", input)
    U.check_target("gradient_x_input", target, input:size(1))
    local g, _, out = grad(model, input, target)
    return input * g, {output = out:detach()}
  end,
}
