-- scorecam: forward only. Each activation channel A_k, upsampled to the
-- input (bilinear, align_corners true as torch's UpsamplingBilinear2d)
-- and rescaled to [0, 1], masks the input; the target's score of each
-- masked input, softmaxed over the channels, weights the channels:
-- ReLU(sum_k softmax_k(score) A_k). pytorch-grad-cam's convention (the
-- score is the target's raw output, e.g. the logit, not a probability).
--   Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for
--   Convolutional Neural Networks".
--   layer (required), relu = true, normalize = false, interpolation = "bilinear",
--   batch_size = 16 masked inputs per forward (pytorch-grad-cam's)
local core = require "relua.core"
local methods = require "relua.methods"
local U = require "relua.methods._util"

local options = U.cam_options{
  batch_size = {default = 16, type = "integer", min = 1, doc = "masked inputs per forward pass"},
  progress = U.progress_option,
}

return methods.register{
  name = "scorecam",
  doc = "channels weighted by the softmax of the target's score on the input masked by each",
  paper = "Wang et al. 2020, Score-CAM",
  options = options,
  fn = function(model, input, target, opts)
    local m = U.cam_layer("scorecam", model, input, target, opts)
    local n, h, w = input:size(1), input:size(3), input:size(4)
    local x = input:detach()
    local a = core.no_grad(function()
      U.forward(model, x)
      return U.cam_activation("scorecam", m)
    end)
    local k = a:size(2)
    local scores = core.zeros(n, k)
    core.no_grad(U.batched, {
      copies = k, n = n, batch_size = opts.batch_size, target = target, progress = opts.progress,
      make = function(c, first, count)
        local up = a:narrow(1, first, count):narrow(2, c, 1):interpolate(h, w, {mode = "bilinear", align_corners = true})
        local flat = up:reshape(count, -1)
        local lo = U.per_sample(flat:min(2), up)
        local hi = U.per_sample(flat:max(2), up)
        return x:narrow(1, first, count) * ((up - lo) / (hi - lo + 1e-8))
      end,
      run = function(batch, t) return U.score(U.forward(model, batch), t) end,
      emit = function(c, first, count, s)
        scores:narrow(1, first, count):narrow(2, c, 1):copy_(s:reshape(count, 1))
      end,
    })
    local wk = scores:softmax(2)
    local map = (wk:reshape(n, k, 1, 1) * a):sum(2, {keepdim = true})
    return U.cam_finish(map, input, opts, {weights = wk, scores = scores})
  end,
}
