-- pass: relevance passes through unchanged (Zennit's rules.Pass): for elementwise layers
-- whose output relevance should reach the input as it is, i.e. activations (ReLU, tanh...)
-- and, after merge_batchnorm, BatchNorm.
--   R_i = R_i
-- No parameters.
local basic = require "relua.rules.basic"

return basic.define {
  name = "pass", doc = "identity: relevance passes through (activations, merged BatchNorm)",
  build = function() return {backward = function(_, ctx) return ctx.grad_output end} end,
}
