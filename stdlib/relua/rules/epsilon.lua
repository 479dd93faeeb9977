-- epsilon: LRP-epsilon (Bach et al. 2015, "On pixel-wise explanations for non-linear
-- classifier decisions by layer-wise relevance propagation"); epsilon = 0 is LRP-0.
--   R_i = x_i * sum_j w_ij R_j / stab(z_j),   z_j = sum_i x_i w_ij + b_j,
--   stab(z) = z + epsilon * sign(z) with sign(0) = +1.
-- Parameters: epsilon = 1e-6 (or a function z -> stabilised z), zero_params (e.g. {"bias"}).
-- Typical place: upper and middle layers (Montavon et al. 2019). Zennit: rules.Epsilon.
local basic = require "relua.rules.basic"

return basic.define {
  name = "epsilon", paper = "Bach et al. 2015", doc = "LRP-epsilon: relevance in proportion to x_i w_ij, stabilised",
  params = {epsilon = basic.stabilizer, zero_params = basic.zero_params},
  build = function(p) return {
    input_modifiers = {basic.identity},
    param_modifiers = {basic.param_mod(basic.keep, p.zero_params)},
    gradient_mapper = function(r, z) return {r / basic.stabilize(z[1], p.epsilon)} end,
    reducer = function(x, v) return x[1] * v[1] end,
  } end,
}
