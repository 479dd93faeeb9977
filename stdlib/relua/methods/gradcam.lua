-- gradcam: the layer's activations weighted by the spatial mean of their
-- gradients, summed over channels: ReLU(sum_k mean_hw(dy/dA_k) A_k).
--   Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks
--   via Gradient-based Localization".
--   layer (required), relu = true, normalize = false, interpolation = "bilinear"
-- The attribution is the map upsampled to H x W (align_corners false) and
-- repeated over the input's channels; info.map is N x 1 x h x w at the
-- layer's resolution. pytorch-grad-cam also normalises to [0, 1]
-- (normalize = true); Captum's LayerGradCam applies no ReLU by default
-- and upsamples nearest.
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "gradcam",
  doc = "layer activations weighted by their mean gradient (class activation map)",
  paper = "Selvaraju et al. 2017, Grad-CAM",
  options = U.cam_options(),
  fn = function(model, input, target, opts)
    local a, g, out = U.cam_grads("gradcam", model, input, target, opts)
    local w = g:mean({3, 4}, {keepdim = true})
    local map = (w * a):sum(2, {keepdim = true})
    return U.cam_finish(map, input, opts, {weights = w:reshape(w:size(1), w:size(2)), output = out})
  end,
}
