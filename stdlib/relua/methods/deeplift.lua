-- deeplift: (x - x') * the multipliers of the rescale rule: every
-- nonlinearity (relu, leaky_relu, sigmoid, tanh ops) passes
-- g_out * (y - y') / (x - x') instead of its gradient, and its plain
-- gradient where |x - x'| < 1e-10. Linear layers pass the gradient, so the
-- attribution sums to f(x) - f(x') through any composition of them
-- (info.delta is the error of that sum, per sample).
--   Shrikumar, Greenside, Kundaje 2017, "Learning Important Features Through
--   Propagating Activation Differences".
--   baseline = "zero" | a number | "blur" | "uniform" | a tensor (as integrated_gradients)
-- The input and the baseline run as one batch of 2N samples, as in Captum,
-- so the model must be in evaluation mode (BatchNorm with running stats).
-- Max pooling keeps its gradient (Captum has a special multiplier for it).
local core = require "relua.core"
local grad = require "relua.grad"
local methods = require "relua.methods"
local U = require "relua.methods._util"

local EPS = 1e-10

-- The rescale rule, for an op that saw [x; x'] stacked along dim 1.
local function rescale(ctx)
  local n = ctx.input:size(1) // 2
  local dx = ctx.input:narrow(1, 1, n) - ctx.input:narrow(1, n + 1, n)
  local dy = ctx.output:narrow(1, 1, n) - ctx.output:narrow(1, n + 1, n)
  local far = (dx:abs() - EPS):sign():clamp(0)           -- 1 where |dx| > eps
  local m = dy / core.where(far, dx, 1)
  local g = ctx:backward_input(ctx.grad_output)
  far, m = core.cat({far, far}, 1), core.cat({m, m}, 1)
  return core.where(far, ctx.grad_output * m, g)
end

local options = {
  baseline = U.baseline_option,
  seed = U.seed_option,
}
for k, v in pairs(U.baseline_options) do options[k] = v end

return methods.register{
  name = "deeplift",
  doc = "(x - baseline) * multipliers of the rescale rule (DeepLIFT)",
  paper = "Shrikumar et al. 2017, Learning Important Features Through Propagating Activation Differences",
  options = options,
  rule = rescale,
  fn = function(model, input, target, opts)
    U.check_input("deeplift", input)
    local n = input:size(1)
    U.check_target("deeplift", target, n)
    local x = input:detach()
    local base = U.baseline("deeplift", x, opts)
    local both = U.target_rows(target, {{1, 1, n}, {2, 1, n}})
    local fx, fb
    local score = function(out)
      local s = U.score(out, both)
      fx, fb = s:narrow(1, 1, n):detach():contiguous(), s:narrow(1, n + 1, n):detach():contiguous()
      return s:narrow(1, 1, n)
    end
    local rule = {relu = rescale, leaky_relu = rescale, sigmoid = rescale, tanh = rescale}
    local g = grad(model, core.cat({x, base}, 1), score, {rules = rule})
    local attribution = (x - base) * g:narrow(1, 1, n)
    local delta = attribution:reshape(n, -1):sum(2) - (fx - fb)
    return attribution, {delta = delta, f_x = fx, f_baseline = fb, baseline = base}
  end,
}
