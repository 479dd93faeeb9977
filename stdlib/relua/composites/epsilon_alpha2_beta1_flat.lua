-- epsilon_alpha2_beta1_flat: flat on the first layer with weights, then alpha_beta
-- (2, 1) on convolutions and epsilon on dense layers (Zennit's EpsilonAlpha2Beta1Flat).
-- Options: epsilon = 1e-6, stabilizer = 1e-6, zero_params, layer_map, first_map, names, canonizers.
local composites = require "relua.composites"
local types = require "relua.types"

return composites.preset("epsilon_alpha2_beta1_flat", "flat on the first layer, alpha2-beta1 on convolutions, epsilon on dense layers",
  nil, function(o, rules)
  return {{types.Convolution, rules.alpha_beta{alpha = 2, beta = 1, stabilizer = o.stabilizer, zero_params = o.zero_params}},
          {types.Dense, rules.epsilon{epsilon = o.epsilon, zero_params = o.zero_params}}},
         {{types.Linear, rules.flat{stabilizer = o.stabilizer, zero_params = o.zero_params}}}
end)
