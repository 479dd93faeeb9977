-- flat: LRP-flat (Lapuschkin et al. 2019, "Unmasking Clever Hans predictors and assessing
-- what machines really learn"): relevance spread evenly over each output's receptive field,
--   R_i = sum_{j : i in RF(j)} R_j / stab(|RF(j)|)
-- (input and weights set to one, bias to zero; conv padding makes border fields smaller).
-- Parameters: stabilizer = 1e-6, zero_params. Zennit: rules.Flat.
local basic = require "relua.rules.basic"

return basic.define {
  name = "flat", paper = "Lapuschkin et al. 2019", doc = "LRP-flat: uniform over the receptive field",
  params = {stabilizer = basic.stabilizer, zero_params = basic.zero_params},
  build = function(p) return {
    input_modifiers = {basic.ones_like},
    param_modifiers = {basic.param_mod(basic.ones_like, basic.zero_bias(p.zero_params))},
    gradient_mapper = function(r, z) return {r / basic.stabilize(z[1], p.stabilizer)} end,
    reducer = function(x, v) return v[1] end,
  } end,
}
