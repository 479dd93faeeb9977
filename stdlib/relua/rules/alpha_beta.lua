-- alpha_beta: LRP-alpha-beta (Bach et al. 2015), alpha - beta = 1, alpha, beta >= 0:
--   R_i = alpha * sum_j (x+_i w+_ij + x-_i w-_ij) R_j / stab(z+_j)
--       - beta  * sum_j (x+_i w-_ij + x-_i w+_ij) R_j / stab(z-_j),
--   z+_j = sum_i (x+_i w+_ij + x-_i w-_ij) + b+_j,  z-_j = sum_i (x+_i w-_ij + x-_i w+_ij) + b-_j.
-- Parameters: alpha = 2, beta = 1 (presets: alpha1_beta0 = z_plus, alpha2_beta1),
-- stabilizer = 1e-6, zero_params. Typical place: lower layers. Zennit: rules.AlphaBeta.
local basic = require "relua.rules.basic"

local function mods(lo, hi, zero) return basic.param_mod(function(w) return w:clamp(lo, hi) end, zero) end
local pos, neg = basic.relu_part, basic.neg_part

return basic.define {
  name = "alpha_beta", paper = "Bach et al. 2015", doc = "LRP-alpha-beta: positive parts weighted alpha, negative beta",
  params = {alpha = {default = 2, type = "number", min = 0, doc = "weight of the positive part"},
            beta = {default = 1, type = "number", min = 0, doc = "weight of the negative part"},
            stabilizer = basic.stabilizer, zero_params = basic.zero_params},
  validate = function(p)
    if p.alpha - p.beta ~= 1 then return string.format("alpha - beta must be 1, got alpha = %g, beta = %g", p.alpha, p.beta) end
  end,
  build = function(p) local zb = basic.zero_bias(p.zero_params) return {
    input_modifiers = {pos, neg, pos, neg},
    param_modifiers = {mods(0, nil, p.zero_params), mods(nil, 0, zb), mods(nil, 0, p.zero_params), mods(0, nil, zb)},
    gradient_mapper = function(r, z)
      local gp, gn = r / basic.stabilize(z[1] + z[2], p.stabilizer), r / basic.stabilize(z[3] + z[4], p.stabilizer)
      return {gp, gp, gn, gn}
    end,
    reducer = function(x, v) return p.alpha * (x[1] * v[1] + x[2] * v[2]) - p.beta * (x[3] * v[3] + x[4] * v[4]) end,
    zero_skip = true, -- the reducer multiplies each v_k by x_k
  } end,
}
