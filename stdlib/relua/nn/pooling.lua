-- nn.MaxPool2d(kernel, {stride = kernel, padding = 0, dilation = 1, ceil_mode = false}),
-- nn.AvgPool2d(kernel, {stride = kernel, padding = 0, ceil_mode = false, count_include_pad = true}),
-- nn.AdaptiveAvgPool2d(size | {h, w}): pooling over N x C x H x W, as in PyTorch.
local F = require "relua.core"
local Module = require "relua.nn.Module"
local class = require "relua.class"

local function pair(v) return type(v) == "table" and v or {v, v} end
local function size_repr(v) v = pair(v) return v[1] == v[2] and tostring(v[1]) or v[1] .. "x" .. v[2] end

local MaxPool2d, parent = class("nn.MaxPool2d", Module)
function MaxPool2d:__init(kernel, opts)
  parent.__init(self)
  self.kernel, self.opts = kernel, opts or {}
end
function MaxPool2d:update_output(x) return F.max_pool2d(x, self.kernel, self.opts) end
function MaxPool2d:config() return {self.kernel, self.opts} end
function MaxPool2d:extra_repr() return "(" .. size_repr(self.kernel) .. ")" end

local AvgPool2d = class("nn.AvgPool2d", Module)
function AvgPool2d:__init(kernel, opts)
  parent.__init(self)
  self.kernel, self.opts = kernel, opts or {}
end
function AvgPool2d:update_output(x) return F.avg_pool2d(x, self.kernel, self.opts) end
AvgPool2d.extra_repr = MaxPool2d.extra_repr
AvgPool2d.config = MaxPool2d.config

local AdaptiveAvgPool2d = class("nn.AdaptiveAvgPool2d", Module)
function AdaptiveAvgPool2d:__init(size)
  parent.__init(self)
  self.size = size
end
function AdaptiveAvgPool2d:update_output(x) return F.adaptive_avg_pool2d(x, self.size) end
function AdaptiveAvgPool2d:config() return {self.size} end
function AdaptiveAvgPool2d:extra_repr() return "(" .. size_repr(self.size) .. ")" end

return {MaxPool2d = MaxPool2d, AvgPool2d = AvgPool2d, AdaptiveAvgPool2d = AdaptiveAvgPool2d}
