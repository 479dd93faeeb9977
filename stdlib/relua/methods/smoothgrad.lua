-- smoothgrad: any method averaged over noisy copies of the input.
--   Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise";
--   vargrad: Adebayo et al. 2018, "Local Explanation Methods for Deep Neural Networks Lack Sensitivity".
--   method = "saliency", method_opts = {} (the base method and its options;
--            the base saliency is signed here unless method_opts.abs = true)
--   n = 20 noisy samples; noise N(0, sigma^2) with
--   sigma = noise_level * (max - min) of each sample (noise_level = 0.1, Zennit's
--            convention), or stdev = an absolute sigma (Captum's NoiseTunnel)
--   mode = "plain" E[a] | "squared" E[a^2] | "vargrad" E[a^2] - E[a]^2
-- Unlike Zennit, no sample is left noise-free: noise_level = 0 with n = 1
-- gives the base method. The noisy copies are batched, batch_size rows per
-- call of the base method; copy j draws its noise from seed_for(seed, j).
local core = require "relua.core"
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "smoothgrad",
  doc = "a method averaged over noisy copies of the input (plain, squared or vargrad)",
  paper = "Smilkov et al. 2017, SmoothGrad: removing noise by adding noise",
  options = {
    method = {default = "saliency", type = "string", doc = "the base method, any registered name"},
    method_opts = {type = "table", doc = "options of the base method"},
    n = {default = 20, type = "integer", min = 1, doc = "noisy samples"},
    noise_level = {default = 0.1, type = "number", min = 0, doc = "sigma as a fraction of each sample's max - min"},
    stdev = {type = "number", min = 0, doc = "an absolute sigma instead of noise_level"},
    mode = {default = "plain", values = {"plain", "squared", "vargrad"}, doc = "mean, mean of squares, or variance"},
    seed = U.seed_option,
    batch_size = U.batch_option,
    progress = U.progress_option,
  },
  fn = function(model, input, target, opts)
    U.check_input("smoothgrad", input)
    local n = input:size(1)
    U.check_target("smoothgrad", target, n)
    if opts.method == "smoothgrad" then error("smoothgrad: option 'method' cannot be smoothgrad itself", 0) end
    local base = methods.get(opts.method)
    local bopts = {}
    for k, v in pairs(opts.method_opts or {}) do bopts[k] = v end
    if opts.method == "saliency" and bopts.abs == nil then bopts.abs = false end
    -- check the base options now, before any work
    methods.check_options(opts.method, base.options, bopts)
    local x = input:detach()
    local sigma = opts.stdev and U.per_sample(core.full(n, opts.stdev), x) or U.range(x) * opts.noise_level
    local sum, sumsq = core.zeros(x:shape()), core.zeros(x:shape())
    U.batched{
      copies = opts.n, n = n, batch_size = opts.batch_size, target = target, progress = opts.progress,
      make = function(j, first, count)
        local noise = core.randn(U.rows_shape(x, n), {seed = U.seed_for(opts.seed, j)})
        return (x + noise * sigma):narrow(1, first, count)
      end,
      run = function(batch, t) return (base.call(model, batch, t, bopts)) end,
      emit = function(_, first, count, a)
        local s, q = sum:narrow(1, first, count), sumsq:narrow(1, first, count)
        s:copy_(s + a)
        q:copy_(q + a * a)
      end,
    }
    local mean, meansq = sum / opts.n, sumsq / opts.n
    local attribution
    if opts.mode == "plain" then attribution = mean
    elseif opts.mode == "squared" then attribution = meansq
    else attribution = meansq - mean * mean end
    return attribution, {sigma = sigma:reshape(n)}
  end,
}
