-- nn.BatchNorm2d(channels, {eps = 1e-5, momentum = 0.1}): per-channel
-- normalisation of N x C x H x W. In evaluate() mode it uses running_mean
-- and running_var; in training() mode batch statistics, updating the
-- running ones in place (PyTorch's semantics). weight = 1, bias = 0,
-- running_mean = 0, running_var = 1 initially.
local F = require "relua.core"
local Module = require "relua.nn.Module"
local class = require "relua.class"

local BatchNorm2d, parent = class("nn.BatchNorm2d", Module)

function BatchNorm2d:__init(c, opts)
  parent.__init(self)
  opts = opts or {}
  self.channels = c
  self.eps, self.momentum = opts.eps or 1e-5, opts.momentum or 0.1
  self.weight, self.bias = F.ones(c), F.zeros(c)
  self.running_mean, self.running_var = F.zeros(c), F.ones(c)
  self._params = {"weight", "bias"}
end

function BatchNorm2d:update_output(x)
  return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                      {eps = self.eps, momentum = self.momentum, training = self.train})
end

function BatchNorm2d:config() return {self.channels, {eps = self.eps, momentum = self.momentum}} end

function BatchNorm2d:extra_repr() return "(" .. self.channels .. ")" end

return BatchNorm2d
