-- nn.Module: the base of every layer and container (Torch's protocol).
--
-- forward(input) computes and keeps self.output (through update_output,
-- which layers define), so any layer can be inspected after a pass:
-- model:get(3).output, model:find("conv2").output. Gradients come from the
-- tape (relua.grad, relua.backward), so parameters() returns the parameter
-- tensors only. training()/evaluate() switch Dropout and BatchNorm2d.
-- Modules can be named: nn.Conv2d(3, 8, 3):named("conv1").
local relua = require "relua.core"
local class = require "relua.class"

local Module = class("nn.Module")

function Module:__init()
  self.output = nil
  self.train = true
end

function Module:update_output(input)
  error(self.__name .. ": update_output is not implemented", 2)
end

function Module:forward(input)
  self.output = self:update_output(input)
  return self.output
end

-- Gradient of <grad_output, forward(input)> at the input, through the tape:
-- runs forward again on a leaf copy of input.
function Module:backward(input, grad_output)
  local x = input:detach():requires_grad(true)
  local y = self:forward(x)
  self.grad_input = relua.backward(y, grad_output, {x})[1]
  return self.grad_input
end

function Module:named(name)
  self.name = name
  return self
end

function Module:children() return {} end

-- Every module in the tree, depth first, self included.
function Module:modules(acc)
  acc = acc or {}
  acc[#acc + 1] = self
  for _, m in ipairs(self:children()) do m:modules(acc) end
  return acc
end

-- The first module named `name` (self included), or nil.
function Module:find(name)
  for _, m in ipairs(self:modules()) do
    if m.name == name then return m end
  end
end

function Module:parameters()
  local ps = {}
  for _, m in ipairs(self:modules()) do
    for _, k in ipairs(m._params or {}) do
      if m[k] then ps[#ps + 1] = m[k] end
    end
  end
  return ps
end

function Module:training()
  for _, m in ipairs(self:modules()) do m.train = true end
  return self
end

function Module:evaluate()
  for _, m in ipairs(self:modules()) do m.train = false end
  return self
end

-- The constructor arguments that rebuild this module (plain data: numbers,
-- strings, booleans, tables), for checkpoints (relua.save); children and
-- tensor fields are saved apart. Classes with constructor arguments define it.
function Module:config()
  error(self.__name .. ": no :config() method, so it cannot be saved (define one returning its constructor arguments)", 2)
end

-- Constructor arguments shown by tostring, e.g. "(3 -> 8, 3x3)".
function Module:extra_repr() return "" end

local function shape_of(t)
  if not relua.is_tensor(t) then return nil end
  local ok, s = pcall(function() return "[" .. table.concat(t:shape(), " x ") .. "]" end)
  return ok and s or nil
end
Module.shape_of = shape_of

-- One line: "conv1: nn.Conv2d(3 -> 8, 3x3) -> [1 x 8 x 26 x 26]".
function Module:describe()
  local s = (self.name and self.name .. ": " or "") .. self.__name .. self:extra_repr()
  local shape = shape_of(self.output)
  if shape then s = s .. "  -> " .. shape end
  return s
end

function Module:__tostring() return self:describe() end

-- Kaiming-uniform as PyTorch initialises Linear and Conv2d: U(-b, b) with
-- b = 1/sqrt(fan_in), for weights and biases alike; draws from relua.seed.
function Module.uniform_init(fan_in, shape)
  local b = 1 / math.sqrt(fan_in)
  return relua.rand(shape, {lo = -b, hi = b})
end

return Module
