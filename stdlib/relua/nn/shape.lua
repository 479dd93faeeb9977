-- Modules that only reshape or pass through:
-- nn.Flatten(start = 2, stop = -1) joins dims start..stop (the batch dim stays);
-- nn.Reshape(size...) reshapes each sample: N x ... to N x size...;
-- nn.Identity() returns its input; nn.Dropout(p = 0.5) zeroes with
-- probability p and scales by 1/(1-p) in training() mode, else passes through.
local F = require "relua.core"
local Module = require "relua.nn.Module"
local class = require "relua.class"

local Flatten = class("nn.Flatten", Module)
function Flatten:__init(start, stop)
  Module.__init(self)
  self.start, self.stop = start or 2, stop or -1
end
function Flatten:update_output(x) return F.flatten(x, self.start, self.stop) end
function Flatten:config() return {self.start, self.stop} end

local Reshape = class("nn.Reshape", Module)
function Reshape:__init(...)
  Module.__init(self)
  self.size = type(...) == "table" and ... or {...}
end
function Reshape:update_output(x) return x:reshape(x:size(1), table.unpack(self.size)) end
function Reshape:config() return {self.size} end
function Reshape:extra_repr() return "(" .. table.concat(self.size, " x ") .. ")" end

local Identity = class("nn.Identity", Module)
function Identity:__init() Module.__init(self) end
function Identity:update_output(x) return x end
function Identity:config() return {} end

local Dropout = class("nn.Dropout", Module)
function Dropout:__init(p)
  Module.__init(self)
  self.p = p or 0.5
end
function Dropout:update_output(x) return F.dropout(x, self.p, {training = self.train}) end
function Dropout:config() return {self.p} end
function Dropout:extra_repr() return "(" .. self.p .. ")" end

return {Flatten = Flatten, Reshape = Reshape, Identity = Identity, Dropout = Dropout}
