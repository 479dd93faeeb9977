-- Elementwise activations and (log-)softmax as modules:
-- nn.ReLU(), nn.LeakyReLU(slope = 0.01), nn.Sigmoid(), nn.Tanh(),
-- nn.Softmax(dim = -1), nn.LogSoftmax(dim = -1) (dims 1-based, -1 the last).
local F = require "relua.core"
local Module = require "relua.nn.Module"
local class = require "relua.class"

local M = {}

local function simple(name, fn)
  local cls = class("nn." .. name, Module)
  function cls:__init() Module.__init(self) end
  function cls:update_output(x) return fn(x) end
  function cls:config() return {} end
  M[name] = cls
end
simple("ReLU", F.relu)
simple("Sigmoid", F.sigmoid)
simple("Tanh", F.tanh)

local LeakyReLU = class("nn.LeakyReLU", Module)
function LeakyReLU:__init(slope)
  Module.__init(self)
  self.slope = slope or 0.01
end
function LeakyReLU:update_output(x) return F.leaky_relu(x, self.slope) end
function LeakyReLU:config() return {self.slope} end
function LeakyReLU:extra_repr() return "(" .. self.slope .. ")" end
M.LeakyReLU = LeakyReLU

for name, fn in pairs {Softmax = F.softmax, LogSoftmax = F.log_softmax} do
  local cls = class("nn." .. name, Module)
  function cls:__init(dim)
    Module.__init(self)
    self.dim = dim or -1
  end
  function cls:update_output(x) return fn(x, self.dim) end
  function cls:extra_repr() return "(dim " .. self.dim .. ")" end
  function cls:config() return {self.dim} end
  M[name] = cls
end

return M
