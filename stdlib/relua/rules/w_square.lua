-- w_square: LRP-w^2 (Montavon et al. 2017, "Explaining nonlinear classification decisions
-- with deep Taylor decomposition"), for a first layer on unbounded inputs:
--   R_i = sum_j w_ij^2 R_j / stab(sum_i' w_i'j^2 + b_j^2)
-- (input set to one, parameters squared: the bias too, as Zennit; zero_params = {"bias"} drops it).
-- Parameters: stabilizer = 1e-6, zero_params. Zennit: rules.WSquare.
local basic = require "relua.rules.basic"

return basic.define {
  name = "w_square", paper = "Montavon et al. 2017", doc = "LRP-w^2: in proportion to the squared weights",
  params = {stabilizer = basic.stabilizer, zero_params = basic.zero_params},
  build = function(p) return {
    input_modifiers = {basic.ones_like},
    param_modifiers = {basic.param_mod(function(w) return w * w end, p.zero_params)},
    gradient_mapper = function(r, z) return {r / basic.stabilize(z[1], p.stabilizer)} end,
    reducer = function(x, v) return v[1] end,
  } end,
}
