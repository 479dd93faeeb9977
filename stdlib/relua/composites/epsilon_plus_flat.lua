-- epsilon_plus_flat: flat on the first layer with weights (convolution or dense), then
-- z_plus on convolutions and epsilon on dense layers (Zennit's EpsilonPlusFlat).
-- Options: epsilon = 1e-6, stabilizer = 1e-6, zero_params, layer_map, first_map, names, canonizers.
local composites = require "relua.composites"
local types = require "relua.types"

return composites.preset("epsilon_plus_flat", "flat on the first layer, z_plus on convolutions, epsilon on dense layers",
  nil, function(o, rules)
  return {{types.Convolution, rules.z_plus{stabilizer = o.stabilizer, zero_params = o.zero_params}},
          {types.Dense, rules.epsilon{epsilon = o.epsilon, zero_params = o.zero_params}}},
         {{types.Linear, rules.flat{stabilizer = o.stabilizer, zero_params = o.zero_params}}}
end)
