-- relua.save / relua.load: models come back bit-exact (Sequential, residual
-- blocks with BatchNorm, ONNX graphs); bad files and descriptions are errors.
local relua = require "relua"
local nn = relua.nn
local npy = require "npy_helper"
local T = require "harness"
local check, check_error = T.check, T.check_error

local function maxdiff(a, b) return (a - b):abs():max():item() end
local function tmp() return os.tmpname() end

local function roundtrip(m, x)
  local y = m:forward(x)
  local p = tmp()
  relua.save(m, p)
  local m2 = relua.load(p)
  os.remove(p)
  return m2, y, m2:forward(x)
end

T.test("Sequential: same printout, bit-exact outputs, names and modes", function()
  relua.seed(0)
  local m = nn.Sequential(nn.Conv2d(3, 8, 3, {padding = 1, stride = {1, 2}}):named("conv1"), nn.LeakyReLU(0.2),
                          nn.MaxPool2d(2, {ceil_mode = true}), nn.AvgPool2d({2, 1}), nn.Flatten(), nn.Dropout(0.3),
                          nn.Linear(32, 5, {bias = false}):named("fc"), nn.Tanh(), nn.Softmax(2))
  m:evaluate()
  local m2, y, y2 = roundtrip(m, relua.randn(2, 3, 8, 8))
  check(maxdiff(y, y2) == 0, "bit-exact")
  check(tostring(m2) == tostring(m), "the same printout:\n" .. tostring(m2) .. "\nvs\n" .. tostring(m))
  check(m2:find("fc") and m2:find("fc").bias == nil, "names and bias = false survive")
  check(m2.train == false and m2:get(6).train == false, "evaluate() mode survives")
  m:training()
  local p = tmp()
  relua.save(m, p)
  check(relua.load(p):get(6).train == true, "training() mode survives")
  os.remove(p)
end)

T.test("residual blocks with BatchNorm running statistics", function()
  relua.seed(1)
  local function block(c)
    return nn.Sequential(nn.Residual(nn.Sequential(
      nn.Conv2d(c, c, 3, {padding = 1, bias = false}), nn.BatchNorm2d(c, {eps = 1e-3}), nn.ReLU(),
      nn.Conv2d(c, c, 3, {padding = 1, bias = false}), nn.BatchNorm2d(c))), nn.ReLU())
  end
  local m = nn.Sequential(nn.Conv2d(3, 4, 3), block(4),
                          nn.Concat(2, nn.Identity(), nn.Sequential(nn.Conv2d(4, 2, 1), nn.Sigmoid())),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3), nn.LogSoftmax())
  for _, bn in ipairs(m:modules()) do
    if bn.running_mean then
      bn.running_mean:copy_(relua.randn(4))
      bn.running_var:copy_(relua.rand(4) + 0.5)
      bn.weight:copy_(relua.randn(4))
    end
  end
  m:evaluate()
  local m2, y, y2 = roundtrip(m, relua.randn(2, 3, 9, 9))
  check(maxdiff(y, y2) == 0, "bit-exact")
  local bn = m2:get(2):get(1):get(1):get(2)
  check(bn.__name == "nn.BatchNorm2d" and bn.eps == 1e-3, "BatchNorm eps kept")
  check(tostring(m2) == tostring(m), "the same tree")
end)

T.test("an ONNX-loaded model saves and loads", function()
  for _, name in ipairs {"resblock_bn", "all_ops_op11", "all_ops_op17"} do
    local g = relua.onnx.load("../data/onnx/" .. name .. ".onnx")
    local x = npy.load("../data/onnx/" .. name .. ".input.npy")
    local g2, y, y2 = roundtrip(g, x)
    check(maxdiff(y, y2) == 0, name .. ": bit-exact")
    check(tostring(g2) == tostring(g), name .. ": the same nodes")
    local conv = g2:find("/layer1/layer1.0/conv1/Conv")
    if name == "resblock_bn" then
      check(conv and conv.__name == "nn.Conv2d" and g2:find("layer1.0.conv1.weight") == conv, "names survive")
      local gx = relua.grad(g2, x, 1, {at = {"/layer1/layer1.0/conv2/Conv"}})
      check(maxdiff(gx, relua.grad(g, x, 1)) == 0, "gradients too")
    end
  end
end)

T.test("errors: not a module, unknown class, missing config", function()
  check_error("relua.save: argument 1 is a number", relua.save, 3, "x")
  local Scale = relua.class("nn.TestScale", nn.Module)
  function Scale:__init(s) nn.Module.__init(self); self.s = s end
  function Scale:update_output(x) return x * self.s end
  check_error("nn.TestScale: no :config() method", relua.save, nn.Sequential(Scale(2)), tmp())
  function Scale:config() return {self.s} end
  local p = tmp()
  relua.save(nn.Sequential(Scale(2)), p)
  check_error("class nn.TestScale, which is not known", relua.load, p)
  relua.checkpoint.register(Scale)
  check(relua.load(p):forward(relua.ones(1))[1] == 2, "a registered class loads")
  os.remove(p)
  check_error("No such file", relua.load, "/nonexistent/m.ckpt")
end)

-- Writes a checkpoint with the given description text, through the C writer.
local function with_text(text)
  local p = tmp()
  relua.checkpoint_write(p, text, {}, {})
  return p
end

T.test("descriptions run no code", function()
  _G.pwned = nil
  local evil = {
    '{format = "relua.checkpoint", version = 1, model = (function() pwned = true end)()}',
    '{format = ("x"):rep(10)}',
    '{format = "a" .. "b"}',
    '{x = pwned}',
    '{x = print"hi"}',
    '{x = print{1}}',
    '{[[long]]}',
    '{x = 1} -- comment',
    '{x = #"abc"}',
    '{x = 1 == 1}',
    '{x = os.exit()}',
  }
  for _, text in ipairs(evil) do
    local p = with_text(text)
    check_error("not a plain table literal", relua.load, p)
    os.remove(p)
  end
  check(_G.pwned == nil, "nothing ran")
  local p = with_text('{format = "relua.checkpoint", version = 2, model = {}}')
  check_error("description version 2", relua.load, p)
  os.remove(p)
  p = with_text('{format = "relua.checkpoint", version = 1, model = {class = "nn.ReLU", args = {}, children = {}}, nan = 0/0, inf = -1e999, s = "a\\"b\\n"}')
  check(relua.load(p).__name == "nn.ReLU", "a literal with NaN, inf and escapes loads")
  os.remove(p)
end)

T.test("mutated descriptions: an error or a model, never a crash or code", function()
  local p = tmp()
  relua.save(nn.Sequential(nn.Conv2d(1, 2, 3):named("c"), nn.ReLU(), nn.Flatten(), nn.Linear(2, 2)), p)
  local text, names, tensors = relua.checkpoint_read(p)
  local chars = "{}[]=,;\"'-/.:()#~ 0123456789eaxz\n\\"
  local seed = 12345
  local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
  _G.pwned = nil
  local loaded = 0
  for _ = 1, 400 do
    local t = text
    for _ = 1, rnd(3) do
      local i, c = rnd(#t), rnd(#chars)
      t = t:sub(1, i - 1) .. chars:sub(c, c) .. t:sub(i + 1)
    end
    relua.checkpoint_write(p, t, names, tensors)
    local ok = pcall(relua.load, p)
    if ok then loaded = loaded + 1 end
  end
  check(_G.pwned == nil, "nothing ran")
  check(loaded < 400, "mutations are caught (" .. loaded .. " of 400 still loaded)")
  os.remove(p)
end)

T.test("bad files: truncated, corrupted, foreign", function()
  relua.seed(2)
  local m = nn.Sequential(nn.Linear(4, 3):named("fc"), nn.ReLU())
  local p = tmp()
  relua.save(m, p)
  local f = assert(io.open(p, "rb"))
  local bytes = f:read("a")
  f:close()
  local q = tmp()
  for cut = 0, #bytes - 1 do
    local g = assert(io.open(q, "wb"))
    g:write(bytes:sub(1, cut))
    g:close()
    local ok, err = pcall(relua.load, q)
    if ok or not tostring(err):find(q, 1, true) then
      check(false, "truncation at " .. cut .. ": " .. tostring(err))
      break
    end
  end
  local g = assert(io.open(q, "wb"))
  g:write(bytes:sub(1, #bytes - 10) .. string.char((bytes:byte(#bytes - 9) + 1) % 256) .. bytes:sub(#bytes - 8))
  g:close()
  check_error("CRC mismatch", relua.load, q)
  g = assert(io.open(q, "wb"))
  g:write("RELUACKQ" .. bytes:sub(9))
  g:close()
  check_error("not a relua checkpoint", relua.load, q)
  os.remove(q)
  os.remove(p)
end)

T.done()
