-- merge_batchnorm: folds every BatchNorm2d into the Conv2d or Linear right before it in the
-- same Sequential (Zennit's SequentialMergeBatchNorm), so the weight rules see the layer the
-- model really computes. With s = gamma / sqrt(running_var + eps):
--   W <- W * s (per output channel),  b <- (b - running_mean) * s + beta  (b = 0 if missing),
-- and the BatchNorm becomes the identity (mean 0, var 1, weight 1, bias 0, eps 0).
-- apply(model) returns a handle whose remove() (or <close>) puts the original tensors
-- back: the model is restored bit for bit. The model must be in evaluate() mode.
local core = require "relua.core"
local canonizers = require "relua.canonizers"
local nn = require "relua.nn"
local class = require "relua.class"

local C = {doc = "fold BatchNorm2d into the preceding Conv2d or Linear"}

local function label(m, i) return string.format("%s%s (module %d)", m.__name, m.name and " '" .. m.name .. "'" or "", i) end

function C:apply(model)
  local saved = {}
  for _, seq in ipairs(model:modules()) do
    if class.is_instance(seq, nn.Sequential) then
      for i = 1, seq:size() - 1 do
        local lin, bn = seq:get(i), seq:get(i + 1)
        if (class.is_instance(lin, nn.Conv2d) or class.is_instance(lin, nn.Linear)) and class.is_instance(bn, nn.BatchNorm2d) then
          if bn.train then
            for j = #saved, 1, -1 do saved[j]() end
            error("merge_batchnorm: " .. label(bn, i + 1) .. " is in training mode; call model:evaluate() first", 2)
          end
          local lw, lb = lin.weight, lin.bias
          local bw, bb, rm, rv, eps = bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps
          local s = bw / (rv + eps):sqrt()
          local shape = {s:size(1)}
          for _ = 2, lw:dim() do shape[#shape + 1] = 1 end
          lin.weight = lw * s:reshape(shape)
          lin.bias = ((lb or core.zeros(s:size(1))) - rm) * s + bb
          bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps =
            core.ones(s:size(1)), core.zeros(s:size(1)), core.zeros(s:size(1)), core.ones(s:size(1)), 0
          saved[#saved + 1] = function()
            lin.weight, lin.bias = lw, lb
            bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps = bw, bb, rm, rv, eps
          end
        end
      end
    end
  end
  return canonizers.handle(function() for j = #saved, 1, -1 do saved[j]() end end)
end

return canonizers.register("merge_batchnorm", C)
