-- gradient: the layer's own backward, unchanged. What Zennit does for layers without a rule
-- (max pooling: the winner takes all); mapped explicitly so the layer shows in lrp's ledger.
--   R_i = sum_j (df_j/dx_i) R_j
-- No parameters.
local basic = require "relua.rules.basic"

return basic.define {
  name = "gradient", doc = "the plain gradient (max pooling: winner takes all)",
  build = function() return {backward = function(_, ctx) return ctx:backward_input(ctx.grad_output) end} end,
}
