-- nn modules: forward shapes, kept outputs, names, printing, parameters,
-- modes, seeded initialisation, branches, and errors naming the layer.
local relua = require "relua"
local nn = relua.nn
local T = require "harness"
local check, check_error, close = T.check, T.check_error, T.close

local function shape(t) return table.concat(t:shape(), "x") end

T.test("class helper", function()
  local Base = relua.class("Base")
  function Base:__init(v) self.v = v end
  function Base:get() return self.v end
  Base.__tostring = function(s) return "Base " .. s.v end
  local Derived, parent = relua.class("Derived", Base)
  check(parent == Base, "returns the parent")
  function Derived:__init(v) parent.__init(self, v * 2) end
  local d = Derived(3)
  check(d:get() == 6 and d.__name == "Derived", "inherits methods, has __name")
  check(tostring(d) == "Base 6", "metamethods are inherited")
  check(relua.class.is_instance(d, Base) and not relua.class.is_instance(Base(1), Derived), "is_instance")
end)

T.test("an MLP", function()
  relua.seed(1)
  local m = nn.Sequential(nn.Linear(4, 8):named("fc1"), nn.ReLU(), nn.Linear(8, 3):named("fc2"), nn.LogSoftmax())
  local y = m:forward(relua.randn(5, 4))
  check(shape(y) == "5x3", "output shape")
  check(m:get(1).output and shape(m:get(1).output) == "5x8", "each layer keeps its output")
  check(m:find("fc2") == m:get(3) and m:get(-1) == m:get(4), "find by name, get by index")
  check(m:find("nope") == nil, "find misses")
  close(y:exp():sum(2), relua.ones(5), 1e-5, "log-softmax rows")
  check(#m:parameters() == 4, "parameters: two weights and two biases")
  local w = m:get(1).weight
  check(shape(w) == "8x4" and w:abs():max():item() <= 0.5, "Kaiming-uniform bound 1/sqrt(4)")
  relua.seed(1)
  local m2 = nn.Sequential(nn.Linear(4, 8))
  close(m2:get(1).weight, w, 0, "initialisation follows relua.seed")
  local s = tostring(m)
  check(s:find("(1) fc1: nn.Linear(4 -> 8)  -> [5 x 8]", 1, true), "print shows names and output shapes:\n" .. s)
  check(s:find("(4) nn.LogSoftmax(dim -1)  -> [5 x 3]", 1, true), "print shows every layer")
end)

T.test("container errors name the layer", function()
  local m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(7, 3))
  check_error("in module 3 (nn.Linear) of nn.Sequential: linear:", m.forward, m, relua.randn(2, 4))
  local outer = nn.Sequential(nn.Identity(), m:named("body"))
  check_error("in module 2 (nn.Sequential 'body') of nn.Sequential: in module 3 (nn.Linear) of nn.Sequential:",
              outer.forward, outer, relua.randn(2, 4))
  local ok, err = pcall(m.forward, m, relua.randn(2, 4))
  check(not err:find("Linear.lua", 1, true), "no position inside relua's own files: " .. err)
  check_error("nn.Sequential:add: module 1 is a number", nn.Sequential, 42)
  check_error("nn.Sequential:get: no module 9 (it has 3)", m.get, m, 9)
end)

T.test("modes", function()
  local m = nn.Sequential(nn.Dropout(0.5), nn.Linear(10, 2))
  check(m:get(1).train, "modules start in training mode (Torch)")
  m:evaluate()
  check(not m:get(1).train and not m:get(2).train, "evaluate() reaches every module")
  local x = relua.ones(4, 10)
  close(m:get(1):forward(x), x, 0, "dropout is the identity in evaluate mode")
  m:training()
  local d = m:get(1):forward(relua.ones(1000, 10))
  local zeros = (d:abs():sign() - 1):abs():sum():item()
  check(zeros > 4000 and zeros < 6000, "dropout drops about half in training mode")
  check(math.abs(d:sum():item() - 10000) < 600, "and scales the rest by 2")
end)

T.test("shapes modules", function()
  local x = relua.randn(2, 3, 4, 5)
  check(shape(nn.Flatten():forward(x)) == "2x60", "Flatten keeps the batch dim")
  check(shape(nn.Flatten(3):forward(x)) == "2x3x20", "Flatten(start)")
  check(shape(nn.Reshape(12, 5):forward(x)) == "2x12x5", "Reshape per sample")
  check(nn.Identity():forward(x) == x, "Identity")
  close(nn.Tanh():forward(relua.tensor{0}), {0})
  close(nn.Sigmoid():forward(relua.tensor{0}), {0.5})
  close(nn.LeakyReLU(0.1):forward(relua.tensor{-1, 2}), {-0.1, 2})
  close(nn.Softmax(1):forward(relua.tensor{{1, 1}, {1, 1}}), {{0.5, 0.5}, {0.5, 0.5}})
end)

T.test("branches", function()
  local add = nn.Add(nn.Identity(), nn.Identity())
  close(add:forward(relua.tensor{1, 2}), {2, 4})
  local res = nn.Residual(nn.ReLU())
  close(res:forward(relua.tensor{-1, 2}), {-1, 4}, 0, "body(x) + x")
  local cat = nn.Concat(2, nn.Identity(), nn.Tanh())
  check(shape(cat:forward(relua.zeros(3, 2))) == "3x4", "Concat along dim 2")
  local bad = nn.Add(nn.Identity(), nn.Flatten())
  check_error("nn.Add: branch 2: add: shapes", bad.forward, bad, relua.zeros(2, 3, 4))
  check(#nn.Sequential(nn.Residual(nn.Linear(2, 2)), nn.ReLU()):parameters() == 2, "parameters inside branches")
end)

T.test("a small CNN", function()
  relua.seed(2)
  local m = nn.Sequential(
    nn.Conv2d(3, 8, 3, {padding = 1}):named("conv1"), nn.BatchNorm2d(8), nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3):named("conv2"), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10):named("fc"))
  m:evaluate()
  local y = m:forward(relua.randn(2, 3, 16, 16))
  check(shape(y) == "2x10", "logits")
  check(shape(m:find("conv1").output) == "2x8x16x16" and shape(m:get(4).output) == "2x8x8x8", "conv and pool outputs")
  check(shape(m:find("conv2").output) == "2x16x6x6", "conv2 output")
  check(tostring(m):find("conv1: nn.Conv2d(3 -> 8, 3x3, padding 1)  -> [2 x 8 x 16 x 16]", 1, true), tostring(m))
  check(shape(nn.AvgPool2d(2):forward(relua.zeros(1, 1, 4, 4))) == "1x1x2x2", "AvgPool2d")
  check_error("in module 1 (nn.Conv2d 'conv1') of nn.Sequential: conv2d:", m.forward, m, relua.randn(2, 1, 16, 16))
  -- a ResNet basic block
  local function block(c)
    return nn.Sequential(
      nn.Residual(nn.Sequential(nn.Conv2d(c, c, 3, {padding = 1, bias = false}), nn.BatchNorm2d(c), nn.ReLU(),
                                nn.Conv2d(c, c, 3, {padding = 1, bias = false}), nn.BatchNorm2d(c))),
      nn.ReLU())
  end
  local r = block(4):evaluate()
  check(shape(r:forward(relua.randn(1, 4, 5, 5))) == "1x4x5x5", "a residual block keeps the shape")
end)

T.done()
