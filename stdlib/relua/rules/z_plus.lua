-- z_plus: LRP-z+ (Montavon et al. 2017, "Explaining nonlinear classification decisions
-- with deep Taylor decomposition"), alpha_beta with alpha = 1, beta = 0:
--   R_i = sum_j (x+_i w+_ij + x-_i w-_ij) R_j / stab(z+_j),
--   z+_j = sum_i (x+_i w+_ij + x-_i w-_ij) + b+_j          (x+ = max(x, 0), x- = min(x, 0)).
-- Parameters: stabilizer = 1e-6, zero_params. Zennit: rules.ZPlus.
local basic = require "relua.rules.basic"

local function clamp_mod(lo, hi) return function(w) return w:clamp(lo, hi) end end

return basic.define {
  name = "z_plus", paper = "Montavon et al. 2017", doc = "LRP-z+: only positive contributions x_i w_ij",
  params = {stabilizer = basic.stabilizer, zero_params = basic.zero_params},
  build = function(p) return {
    input_modifiers = {basic.relu_part, basic.neg_part},
    param_modifiers = {basic.param_mod(clamp_mod(0, nil), p.zero_params),
                       basic.param_mod(clamp_mod(nil, 0), basic.zero_bias(p.zero_params))},
    gradient_mapper = function(r, z) local g = r / basic.stabilize(z[1] + z[2], p.stabilizer) return {g, g} end,
    reducer = function(x, v) return x[1] * v[1] + x[2] * v[2] end,
    zero_skip = true, -- the reducer multiplies each v_k by x_k
  } end,
}
