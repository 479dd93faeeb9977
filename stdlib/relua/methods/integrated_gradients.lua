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

local function make_baseline(input, opts)
  local b = opts.baseline
  if b == "zero" then return core.zeros(input:shape()) end
  if type(b) == "number" then return core.full(input:shape(), b) end
  if b == "blur" then return U.blur(input, opts.sigma) end
  if b == "uniform" then
    local n = input:size(1)
    local flat = input:reshape(n, -1)
    local lo = opts.low and core.full(n, opts.low) or flat:min(2)
    local hi = opts.high and core.full(n, opts.high) or flat:max(2)
    local u = core.rand(input:shape(), {seed = U.seed_for(opts.seed, 0)})
    return U.per_sample(lo, input) + u * U.per_sample(hi - lo, input)
  end
  -- a tensor: the input's shape, or broadcastable to it
  local ok, full = pcall(function() return (b + core.zeros(input:shape())):contiguous() end)
  if not ok or table.concat(full:shape(), ",") ~= table.concat(input:shape(), ",") then
    error(string.format("integrated_gradients: baseline [%s] does not broadcast to the input [%s]",
      table.concat(b:shape(), " x "), table.concat(input:shape(), " x ")), 0)
  end
  return full
end

return methods.register{
  name = "integrated_gradients",
  doc = "(x - baseline) * the integral of the gradient along the straight path from the baseline",
  paper = "Sundararajan et al. 2017, Axiomatic Attribution for Deep Networks",
  options = {
    steps = {default = 50, type = "integer", min = 1, doc = "quadrature points"},
    method = {default = "gausslegendre",
      values = {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "trapezoid"},
      doc = "quadrature rule"},
    baseline = {default = "zero", type = {"string", "number", "tensor"},
      check = function(v)
        if type(v) == "string" and v ~= "zero" and v ~= "blur" and v ~= "uniform" then
          return "must be zero, blur, uniform, a number or a tensor, got " .. v
        end
      end,
      doc = "zero, a constant, blur, uniform or a tensor"},
    sigma = {default = 5.0, type = "number", min = 1e-3, doc = "std of the blur baseline, in pixels"},
    low = {type = "number", doc = "lower bound of the uniform baseline (default: each sample's minimum)"},
    high = {type = "number", doc = "upper bound of the uniform baseline (default: each sample's maximum)"},
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
    local base = make_baseline(x, opts)
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
      local both = model.forward and model:forward(core.cat({x, base}, 1)) or model(core.cat({x, base}, 1))
      local t2 = U.target_rows(target, {{1, 1, n}, {2, 1, n}})
      local s = U.score(both, t2)
      return s:narrow(1, 1, n):contiguous(), s:narrow(1, n + 1, n):contiguous()
    end)
    local delta = attribution:reshape(n, -1):sum(2) - (fx - fb)
    return attribution, {delta = delta, f_x = fx, f_baseline = fb, baseline = base}
  end,
}

