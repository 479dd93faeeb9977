-- norm: proportional redistribution for parameter-free layers: sum-pooling, average
-- pooling and the add of residual branches (Bach et al. 2015; Zennit's rules.Norm on Sum/AvgPool):
--   R_i = x_i * sum_j (df_j/dx_i) R_j / stab(f_j(x)).
-- On add (a + b): R_a = a R / stab(a + b), R_b = b R / stab(a + b), each branch by its share.
-- Parameters: stabilizer = 1e-6.
local basic = require "relua.rules.basic"

return basic.define {
  name = "norm", paper = "Bach et al. 2015", doc = "proportional: sums, average pools and residual adds",
  params = {stabilizer = basic.stabilizer},
  build = function(p) return {
    input_modifiers = {basic.identity},
    param_modifiers = {basic.keep},
    gradient_mapper = function(r, z) return {r / basic.stabilize(z[1], p.stabilizer)} end,
    reducer = function(x, v) return x[1] * v[1] end,
  } end,
}
