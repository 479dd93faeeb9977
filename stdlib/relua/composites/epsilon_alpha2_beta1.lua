-- epsilon_alpha2_beta1: alpha_beta (alpha = 2, beta = 1) on every convolution, epsilon on
-- every dense layer (Zennit's EpsilonAlpha2Beta1).
-- Options: epsilon = 1e-6, stabilizer = 1e-6, zero_params, layer_map, names, canonizers.
local composites = require "relua.composites"
local types = require "relua.types"

return composites.preset("epsilon_alpha2_beta1", "alpha2-beta1 on convolutions, epsilon on dense layers", nil,
  function(o, rules)
  return {{types.Convolution, rules.alpha_beta{alpha = 2, beta = 1, stabilizer = o.stabilizer, zero_params = o.zero_params}},
          {types.Dense, rules.epsilon{epsilon = o.epsilon, zero_params = o.zero_params}}}
end)
