-- gradcam_pp: Grad-CAM++, channel weights sum_hw a_ij relu(g_ij) with
-- a_ij = g^2 / (2 g^2 + sum_hw(A) g^3 + 1e-6), the closed form for an
-- exponential output (eq. 19), as pytorch-grad-cam computes it.
--   Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-based
--   Visual Explanations for Deep Convolutional Networks".
--   layer (required), relu = true, normalize = false, interpolation = "bilinear"
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "gradcam_pp",
  doc = "Grad-CAM with second-order channel weights (Grad-CAM++)",
  paper = "Chattopadhay et al. 2018, Grad-CAM++",
  options = U.cam_options(),
  fn = function(model, input, target, opts)
    local a, g, out = U.cam_grads("gradcam_pp", model, input, target, opts)
    local g2 = g * g
    local g3 = g2 * g
    local alpha = g2 / (g2 * 2 + a:sum({3, 4}, {keepdim = true}) * g3 + 1e-6)
    local w = (alpha * g:clamp(0)):sum({3, 4}, {keepdim = true})
    local map = (w * a):sum(2, {keepdim = true})
    return U.cam_finish(map, input, opts, {weights = w:reshape(w:size(1), w:size(2)), output = out})
  end,
}
