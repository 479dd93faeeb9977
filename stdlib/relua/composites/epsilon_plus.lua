-- epsilon_plus: z_plus on every convolution, epsilon on every dense layer (Zennit's
-- EpsilonPlus; Montavon et al. 2019's recommendation without the first-layer rule),
-- on top of the base map (activations pass, sums and average pools norm, BatchNorm pass).
-- Options: epsilon = 1e-6, stabilizer = 1e-6, zero_params, layer_map, names, canonizers.
local composites = require "relua.composites"
local types = require "relua.types"

return composites.preset("epsilon_plus", "z_plus on convolutions, epsilon on dense layers", nil, function(o, rules)
  return {{types.Convolution, rules.z_plus{stabilizer = o.stabilizer, zero_params = o.zero_params}},
          {types.Dense, rules.epsilon{epsilon = o.epsilon, zero_params = o.zero_params}}}
end)
