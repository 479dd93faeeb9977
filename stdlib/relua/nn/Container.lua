-- nn.Container: the base of modules holding others (Sequential, Add,
-- Residual, Concat). A child's error is rethrown naming it, as Torch's
-- Container:rethrowErrors does:
--   in module 3 (nn.Conv2d) of nn.Sequential: conv2d: input [1 x 3 x 28 x 28] ...
-- and print(model) shows the tree with each output's shape after a forward.
local Module = require "relua.nn.Module"
local class = require "relua.class"

local Container, parent = class("nn.Container", Module)

function Container:__init(...)
  parent.__init(self)
  self.modules_ = {}
  for _, m in ipairs {...} do self:add(m) end
end

function Container:add(m, name)
  if type(m) ~= "table" or type(m.forward) ~= "function" then
    error(string.format("%s:add: module %d is a %s, not an nn module", self.__name, #self.modules_ + 1, type(m)), 2)
  end
  if name then m.name = name end
  self.modules_[#self.modules_ + 1] = m
  return self
end

function Container:children() return self.modules_ end
function Container:config() return {} end -- the children follow the arguments
function Container:size() return #self.modules_ end

function Container:get(i)
  local m = self.modules_[i < 0 and #self.modules_ + 1 + i or i]
  if not m then error(string.format("%s:get: no module %d (it has %d)", self.__name, i, #self.modules_), 2) end
  return m
end

-- Calls child i on input; its error comes back prefixed with where it
-- happened. Positions inside relua's own nn files are noise there: dropped.
function Container:call_child(i, input)
  local m = self.modules_[i]
  local ok, out = pcall(m.forward, m, input)
  if ok then return out end
  if type(out) ~= "string" then error(out, 0) end
  out = out:gsub("^[^\n]-relua[/\\]nn[/\\][%w_]+%.lua:%d+: ", "", 1)
  local who = m.name and string.format("%s '%s'", m.__name, m.name) or m.__name
  error(string.format("in module %d (%s) of %s: %s", i, who, self.__name, out), 0)
end

function Container:__tostring()
  local head = (self.name and self.name .. ": " or "") .. self.__name .. self:extra_repr()
  local lines = {head .. " {"}
  for i, m in ipairs(self.modules_) do
    local s = tostring(m):gsub("\n", "\n  ")
    lines[#lines + 1] = string.format("  (%d) %s", i, s)
  end
  local shape = Module.shape_of(self.output)
  lines[#lines + 1] = "}" .. (shape and "  -> " .. shape or "")
  return table.concat(lines, "\n")
end

return Container
