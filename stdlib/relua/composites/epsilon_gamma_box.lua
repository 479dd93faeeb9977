-- epsilon_gamma_box: z_box on the first convolution (inputs bounded by low and high), gamma
-- on the other convolutions, epsilon on dense layers (Zennit's EpsilonGammaBox; Montavon
-- et al. 2019's recommended composite).
-- Options: low, high (required: numbers, or tensors broadcasting to the input such as
-- per-channel C x 1 x 1), gamma = 0.25, epsilon = 1e-6, stabilizer = 1e-6, zero_params,
-- layer_map, first_map, names, canonizers.
local composites = require "relua.composites"
local types = require "relua.types"

local extra = {low = {type = {"number", "tensor"}, doc = "lowest input value (required)"},
               high = {type = {"number", "tensor"}, doc = "highest input value (required)"},
               gamma = {default = 0.25, type = "number", min = 0, doc = "gamma of the gamma rule"}}

return composites.preset("epsilon_gamma_box", "z_box on the first convolution, gamma on convolutions, epsilon on dense layers",
  extra, function(o, rules)
  if o.low == nil or o.high == nil then
    error("epsilon_gamma_box: options 'low' and 'high' are required (the lowest and highest input values, e.g. low = 0, high = 1 for pixels in [0, 1])", 4)
  end
  return {{types.Convolution, rules.gamma{gamma = o.gamma, stabilizer = o.stabilizer, zero_params = o.zero_params}},
          {types.Dense, rules.epsilon{epsilon = o.epsilon, zero_params = o.zero_params}}},
         {{types.Convolution, rules.z_box{low = o.low, high = o.high, stabilizer = o.stabilizer, zero_params = o.zero_params}}}
end)
