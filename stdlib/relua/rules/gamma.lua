-- gamma: generalised LRP-gamma (Montavon et al. 2019, "Layer-wise relevance propagation:
-- an overview"; Andeol et al. 2021). With w^up = w + gamma w+, w^dn = w + gamma w-:
--   z^up_j = sum_i (x+_i w^up_ij + x-_i w^dn_ij) + b_j + gamma b+_j   (used where z_j > 0)
--   z^dn_j = sum_i (x+_i w^dn_ij + x-_i w^up_ij) + b_j + gamma b-_j   (used where z_j < 0)
--   R_i = sum_j [the same terms of x_i] R_j / stab(z^up_j or z^dn_j);  z_j = 0 sends nothing.
-- With x >= 0 this is Montavon's gamma rule. Parameters: gamma = 0.25, stabilizer = 1e-6,
-- zero_params. Zennit: rules.Gamma.
local basic = require "relua.rules.basic"

local function gmod(g, lo, hi, zero) return basic.param_mod(function(w) return w + g * w:clamp(lo, hi) end, zero) end

return basic.define {
  name = "gamma", paper = "Montavon et al. 2019", doc = "LRP-gamma: positive contributions boosted by gamma",
  params = {gamma = {default = 0.25, type = "number", min = 0, doc = "weight of the added positive parts"},
            stabilizer = basic.stabilizer, zero_params = basic.zero_params},
  build = function(p) local zb, g = basic.zero_bias(p.zero_params), p.gamma return {
    input_modifiers = {basic.relu_part, basic.neg_part, basic.relu_part, basic.neg_part, basic.identity},
    param_modifiers = {gmod(g, 0, nil, p.zero_params), gmod(g, nil, 0, zb), gmod(g, nil, 0, p.zero_params),
                       gmod(g, 0, nil, zb), basic.keep},
    gradient_mapper = function(r, z)
      local up = basic.positive(z[5]) * r / basic.stabilize(z[1] + z[2], p.stabilizer)
      local dn = basic.negative(z[5]) * r / basic.stabilize(z[3] + z[4], p.stabilizer)
      return {up, up, dn, dn} -- z_5 only selects: no backward
    end,
    reducer = function(x, v) return x[1] * v[1] + x[2] * v[2] + x[3] * v[3] + x[4] * v[4] end,
    zero_skip = true, -- the reducer multiplies each v_k by x_k
  } end,
}
