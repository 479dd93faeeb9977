-- layercam: ReLU(sum_k relu(dy/dA_k) * A_k), the activations weighted by
-- their positive gradients position by position.
--   Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation
--   Maps for Localization".
--   layer (required), relu = true, normalize = false, interpolation = "bilinear"
local methods = require "relua.methods"
local U = require "relua.methods._util"

return methods.register{
  name = "layercam",
  doc = "activations weighted by their positive gradients, per position",
  paper = "Jiang et al. 2021, LayerCAM",
  options = U.cam_options(),
  fn = function(model, input, target, opts)
    local a, g, out = U.cam_grads("layercam", model, input, target, opts)
    local map = (g:clamp(0) * a):sum(2, {keepdim = true})
    return U.cam_finish(map, input, opts, {output = out})
  end,
}
