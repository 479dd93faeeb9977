-- nn.Sequential(m1, m2, ...): applies its modules in order; model:get(i)
-- and model:find(name) reach any layer, whose .output the last forward kept.
local Container = require "relua.nn.Container"
local class = require "relua.class"

local Sequential = class("nn.Sequential", Container)

function Sequential:__init(...) Container.__init(self, ...) end

function Sequential:update_output(x)
  for i = 1, #self.modules_ do x = self:call_child(i, x) end
  return x
end

return Sequential
