-- Branching containers, enough for residual and inception-like models:
--   nn.Add(b1, b2, ...)        sum of every branch applied to the same input
--   nn.Residual(body [, shortcut])  body(x) + shortcut(x), shortcut defaulting to identity
--   nn.Concat(dim, b1, b2, ...)     branch outputs joined along dim (1-based)
-- A ResNet basic block:
--   nn.Sequential(
--     nn.Residual(nn.Sequential(conv3x3(c, c), nn.BatchNorm2d(c), nn.ReLU(),
--                               conv3x3(c, c), nn.BatchNorm2d(c))),
--     nn.ReLU())
local F = require "relua.core"
local Container = require "relua.nn.Container"
local Identity = require("relua.nn.shape").Identity
local class = require "relua.class"

local Add = class("nn.Add", Container)
function Add:__init(...) Container.__init(self, ...) end
function Add:update_output(x)
  local y = self:call_child(1, x)
  for i = 2, #self.modules_ do
    local yi = self:call_child(i, x)
    local ok, s = pcall(F.add, y, yi)
    if not ok then
      error(string.format("%s: branch %d: %s", self.__name, i, tostring(s):gsub("^[^\n]-%.lua:%d+: ", "", 1)), 0)
    end
    y = s
  end
  return y
end

local Residual = class("nn.Residual", Add)
function Residual:__init(body, shortcut)
  Container.__init(self, body, shortcut or Identity())
end

local Concat = class("nn.Concat", Container)
function Concat:__init(dim, ...)
  assert(math.type(dim) == "integer", "nn.Concat: the first argument is the dim to join along")
  Container.__init(self, ...)
  self.dim = dim
end
function Concat:update_output(x)
  local ys = {}
  for i = 1, #self.modules_ do ys[i] = self:call_child(i, x) end
  return F.cat(ys, self.dim)
end
function Concat:config() return {self.dim} end
function Concat:extra_repr() return "(dim " .. self.dim .. ")" end

return {Add = Add, Residual = Residual, Concat = Concat}
