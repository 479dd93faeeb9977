-- z_box: LRP-z^B for the first layer on bounded inputs (Montavon et al. 2017, "Explaining
-- nonlinear classification decisions with deep Taylor decomposition"):
--   R_i = sum_j (x_i w_ij - l_i w+_ij - h_i w-_ij) R_j / stab(z^B_j),
--   z^B_j = sum_i (x_i w_ij - l_i w+_ij - h_i w-_ij)   (the bias cancels: b - b+ - b- = 0).
-- Parameters: low, high (required: the lowest and highest input values, numbers or tensors
-- broadcasting to the input, e.g. per channel C x 1 x 1), stabilizer = 1e-6, zero_params.
-- Zennit: rules.ZBox.
local basic = require "relua.rules.basic"

local function clamp_mod(lo, hi, zero) return basic.param_mod(function(w) return w:clamp(lo, hi) end, zero) end

return basic.define {
  name = "z_box", paper = "Montavon et al. 2017", doc = "LRP-z^B: first layer, inputs bounded by low and high",
  params = {low = {type = {"number", "tensor"}, required = true, doc = "lowest input value (number or broadcasting tensor)"},
            high = {type = {"number", "tensor"}, required = true, doc = "highest input value (number or broadcasting tensor)"},
            stabilizer = basic.stabilizer, zero_params = basic.zero_params},
  build = function(p) return {
    input_modifiers = {basic.identity, function(x) return basic.expand_like(p.low, x) end,
                       function(x) return basic.expand_like(p.high, x) end},
    param_modifiers = {basic.param_mod(basic.keep, p.zero_params), clamp_mod(0, nil, p.zero_params), clamp_mod(nil, 0, p.zero_params)},
    gradient_mapper = function(r, z) local g = r / basic.stabilize(z[1] - z[2] - z[3], p.stabilizer) return {g, g, g} end,
    reducer = function(x, v) return x[1] * v[1] - x[2] * v[2] - x[3] * v[3] end,
  } end,
}
