-- integrated_gradients: (x - x') * the path integral of the gradient from
-- the baseline x' to x, by quadrature: sum_k s_k grad f(x' + a_k (x - x')).
--   Sundararajan, Taly, Yan 2017, "Axiomatic Attribution for Deep Networks".
--   steps = 50, method = "gausslegendre" (Captum's defaults; Zennit uses
--   riemann_right with 20 steps, iNNvestigate riemann_left with 64);
--   baseline = "zero" | a number (constant) | "blur" (Gaussian, sigma) |
--   "uniform" (noise in [low, high], default the sample's range, seeded) | a tensor.
-- All steps of all samples form one batch, chunked by batch_size rows.
-- info.delta = sum(attribution) - (f(x) - f(x')) per sample, the
-- completeness error; info.f_x and info.f_baseline its two terms.
local core = require "relua.core"
local grad = require "relua.grad"
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "integrated_gradients",
  doc = "(x - baseline) * the integral of the gradient along the straight path from the baseline",
  paper = "Sundararajan et al. 2017, Axiomatic Attribution for Deep Networks",
  options = {
    steps = {default = 50, type = "integer", min = 1, doc = "quadrature points"},
    method = {default = "gausslegendre",
      values = {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "trapezoid"},
      doc = "quadrature rule"},
    baseline = U.baseline_option,
    sigma = U.baseline_options.sigma,
    low = U.baseline_options.low,
    high = U.baseline_options.high,
    seed = U.seed_option,
    batch_size = U.batch_option,
    progress = U.progress_option,
  },
  fn = function(model, input, target, opts)
    U.check_input("integrated_gradients", input)
    local n = input:size(1)
    U.check_target("integrated_gradients", target, n)
    local method = opts.method == "riemann_trapezoid" and "trapezoid" or opts.method
    local alpha, weight = U.quadrature(method, opts.steps)
    local x = input:detach()
    local base = U.baseline("integrated_gradients", x, opts)
    local diff = x - base
    local total = core.zeros(x:shape())
    U.batched{
      copies = opts.steps, n = n, batch_size = opts.batch_size, target = target, progress = opts.progress,
      make = function(k, first, count)
        return base:narrow(1, first, count) + diff:narrow(1, first, count) * alpha[k]
      end,
      run = function(batch, t) return (grad(model, batch, t)) end,
      emit = function(k, first, count, g)
        local acc = total:narrow(1, first, count)
        acc:copy_(acc + g * weight[k])
      end,
    }
    local attribution = diff * total
    local fx, fb = core.no_grad(function()
      local both = U.forward(model, core.cat({x, base}, 1))
      local t2 = U.target_rows(target, {{1, 1, n}, {2, 1, n}})
      local s = U.score(both, t2)
      return s:narrow(1, 1, n):contiguous(), s:narrow(1, n + 1, n):contiguous()
    end)
    local delta = attribution:reshape(n, -1):sum(2) - (fx - fb)
    return attribution, {delta = delta, f_x = fx, f_baseline = fb, baseline = base}
  end,
}

