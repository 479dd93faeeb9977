-- guided_gradcam: guided backpropagation times the upsampled Grad-CAM map.
--   Selvaraju et al. 2017, "Grad-CAM" (section 3.1).
--   layer (required), interpolation = "bilinear" (the paper's; Captum's
--   GuidedGradCam upsamples nearest), normalize = false; the map is ReLU'd.
local methods = require "relua.methods"
local U = require "relua.methods._util"

local options = U.cam_options()
options.relu = nil

return methods.register{
  name = "guided_gradcam",
  doc = "guided backprop * the upsampled Grad-CAM map",
  paper = "Selvaraju et al. 2017, Grad-CAM",
  options = options,
  fn = function(model, input, target, opts)
    local a, g = U.cam_grads("guided_gradcam", model, input, target, opts)
    local map = (g:mean({3, 4}, {keepdim = true}) * a):sum(2, {keepdim = true})
    local _, info = U.cam_finish(map, input, {relu = true, normalize = opts.normalize, interpolation = opts.interpolation})
    local gb = methods.get("guided_backprop").call(model, input, target)
    info.guided_backprop = gb
    return gb * info.upsampled, info
  end,
}
