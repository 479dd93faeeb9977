-- nn.Linear(in_features, out_features, {bias = true}): y = x W^T + b.
-- x is [N x in]; weight [out x in], bias [out] (PyTorch's layout), both
-- Kaiming-uniform initialised from relua.seed.
local F = require "relua.core"
local Module = require "relua.nn.Module"
local class = require "relua.class"

local Linear, parent = class("nn.Linear", Module)

function Linear:__init(nin, nout, opts)
  parent.__init(self)
  assert(math.type(nin) == "integer" and math.type(nout) == "integer", "nn.Linear: sizes must be integers")
  self.in_features, self.out_features = nin, nout
  self.weight = Module.uniform_init(nin, {nout, nin})
  if not opts or opts.bias ~= false then self.bias = Module.uniform_init(nin, {nout}) end
  self._params = {"weight", "bias"}
end

function Linear:update_output(x) return F.linear(x, self.weight, self.bias) end

function Linear:config() return {self.in_features, self.out_features, {bias = self.bias ~= nil}} end

function Linear:extra_repr()
  return string.format("(%d -> %d%s)", self.in_features, self.out_features, self.bias and "" or ", no bias")
end

return Linear
