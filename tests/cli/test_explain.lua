-- relua explain and relua methods, run in-process (main(args, io) with the
-- output captured): outputs checked against relua.grad, every error path
-- with its exit status and message.
local T = require "harness"
local relua = require "relua"
local methods = require "relua.methods"
local explain = require "relua.cli.explain"
local viz = require "relua.viz"

local data = "../data/"
local model_file = "small_cnn.lua"

-- A gradient method registered for these tests, so they do not depend on
-- which builtin methods exist yet.
methods.register{
  name = "test_gradient", doc = "the gradient of the target (test stand-in)", paper = "none",
  options = {
    scale = {default = 1, type = "number", doc = "multiplies the gradient"},
    label = {default = "x", type = "string"},
    layer = {type = "string", doc = "ignored: makes --layer legal"},
  },
  fn = function(model, x, target, opts) return relua.grad(model, x, target) * opts.scale end,
}
methods.register{name = "test_nolayer", doc = "the input itself", fn = function(_, x) return x:clone() end}
methods.register{name = "test_failing", doc = "raises", options = {why = {type = "string"}},
  fn = function(_, _, _, opts) if opts.why then error("test_failing: " .. opts.why) end error("no reason") end}

-- Runs main with args; returns status, stdout text, stderr text.
local function run(cmd, args)
  local o, e = io.tmpfile(), io.tmpfile()
  local st = cmd.main(args, {out = o, err = e})
  o:seek("set")
  e:seek("set")
  local out, err = o:read("a"), e:read("a")
  o:close()
  e:close()
  return st, out, err
end

local function tmp(ext) local p = os.tmpname() os.remove(p) return p .. ext end
local model = dofile(model_file)
model:evaluate()

-- The 0-based class of each "  class  probability  logit" table's first row.
local function printed_tops(out)
  local tops = {}
  for cls in out:gmatch("class  probability     logit\n%s+(%d+)") do tops[#tops + 1] = tonumber(cls) end
  return tops
end

T.test("an .npy input: top-5, raw attribution for the top classes", function()
  local x = relua.npy.load(data .. "onnx/small_cnn.input.npy")
  local out_path = tmp(".npy")
  local st, out, err = run(explain, {"--model", model_file, "--input", data .. "onnx/small_cnn.input.npy",
    "--method", "test_gradient", "--out", out_path, "-o", "scale=2"})
  T.check(st == 0, "status 0: " .. err)
  local y = model:forward(x)
  local _, idx = y:max(2)
  idx = {math.tointeger(idx[1]), math.tointeger(idx[2])}
  local tops = printed_tops(out)
  T.check(#tops == 2, "one table per sample")
  T.check(tops[1] == idx[1] - 1 and tops[2] == idx[2] - 1, "top classes printed 0-based")
  local _, rows = out:gsub("\n%s+%d+%s+%d%.%d+%s+%-?%d+%.%d+", "")
  T.check(rows == 10, "five rows per sample: " .. rows)
  local p = y:softmax(2)
  T.check(out:find(string.format("%11.4f  %8.4f", p[1][idx[1]], y[1][idx[1]]), 1, true), "probability and logit")
  local a = relua.npy.load(out_path)
  T.check(table.concat(a:shape(), "x") == "2x1x12x12", "the input's shape")
  T.close(a, relua.grad(model, x, relua.tensor(idx)) * 2, 1e-6, "the method's output, options applied")
  T.check(out:find("wrote " .. out_path, 1, true), "says where it wrote")
  T.check(out:find(string.format("test_gradient for classes %d, %d: [2 x 1 x 12 x 12]", idx[1] - 1, idx[2] - 1), 1, true),
    "names the classes explained")
  os.remove(out_path)
end)

T.test("builtin methods by name, with options; lrp.<composite>", function()
  local x = relua.npy.load(data .. "onnx/small_cnn.input.npy")
  local out_path = tmp(".npy")
  local cases = {
    {{"--method", "saliency", "-o", "abs=false"}, "saliency", {abs = false}, "top"},
    {{"--method", "integrated_gradients", "-o", "steps=8", "-o", "baseline=zero", "--target", "1"},
      "integrated_gradients", {steps = 8, baseline = "zero"}, 2},
    {{"--method", "gradcam", "--layer", "conv2", "--target", "0"}, "gradcam", {layer = "conv2"}, 1},
    {{"--method", "lrp.epsilon_plus", "--target", "5"}, "lrp", {composite = "epsilon_plus"}, 6},
  }
  local ran = 0
  for _, c in ipairs(cases) do
    if pcall(methods.get, c[2]) then
      ran = ran + 1
      local args = {"--model", model_file, "--input", data .. "onnx/small_cnn.input.npy", "--out", out_path}
      for _, v in ipairs(c[1]) do args[#args + 1] = v end
      local st, _, err = run(explain, args)
      T.check(st == 0, c[2] .. ": status 0: " .. err)
      local target = c[4]
      if target == "top" then target = select(2, model:forward(x):max(2)) end
      local want = methods.call(c[2], model, x, target, c[3])
      T.close(relua.npy.load(out_path), want, 1e-6, c[2] .. ": the registry's result")
    end
  end
  T.check(ran >= 1 or not pcall(methods.get, "saliency"), "the builtin methods present were run")
  os.remove(out_path)
end)

T.test("--target is 0-based", function()
  local x = relua.npy.load(data .. "onnx/small_cnn.input.npy")
  local out_path = tmp(".npy")
  local st, out = run(explain, {"--model", model_file, "--input", data .. "onnx/small_cnn.input.npy",
    "--method", "test_gradient", "--target", "3", "--out", out_path})
  T.check(st == 0, "status 0")
  T.close(relua.npy.load(out_path), relua.grad(model, x, 4), 1e-6, "class 3 is the fourth output")
  T.check(out:find("test_gradient for class 3", 1, true), "names the class")
  os.remove(out_path)
end)

T.test("a .png input: preprocessed, overlay written", function()
  local src = relua.npy.load(data .. "onnx/small_cnn.input.npy")[1]           -- 1 x 12 x 12
  local img = (src - src:min()) / (src:max() - src:min())
  local png = tmp(".png")
  relua.image.save(png, img)
  local npy, outpng = tmp(".npy"), tmp(".png")
  local args = {"--model", model_file, "--input", png, "--method", "test_gradient", "--size", "12", "--normalize", "none"}
  local function with(...) local a = {table.unpack(args)} for _, v in ipairs{...} do a[#a + 1] = v end return a end
  local st, _, err = run(explain, with("--out", npy))
  T.check(st == 0, "status 0: " .. err)
  local x = relua.image.preprocess(png, {size = 12, normalize = "none", mode = "gray"})
  local y = model:forward(x)
  local _, idx = y:max(2)
  local a = relua.npy.load(npy)
  T.close(a, relua.grad(model, x, idx), 1e-6, "attribution of the preprocessed image")
  st = run(explain, with("--out", outpng, "--cmap", "coldnhot"))
  T.check(st == 0, "png status 0")
  local pic = relua.image.load(outpng)
  T.check(table.concat(pic:shape(), "x") == "3x12x12", "overlay at the input's size")
  T.close(pic, viz.overlay(x[1], a, {cmap = "coldnhot"}), 0.5 / 255 + 1e-6, "the heatmap over the grey input")
  local norm = tmp(".npy")
  st = run(explain, {"--model", model_file, "--input", png, "--method", "test_nolayer", "--size", "12",
    "--normalize", "mean=0.5,std=0.25", "--out", norm})
  T.check(st == 0, "mean/std normalisation")
  T.close(relua.npy.load(norm), (x - 0.5) / 0.25, 1e-6, "(x - mean) / std")
  local big = tmp(".npy")
  st = run(explain, {"--model", model_file, "--input", png, "--method", "test_nolayer", "--size", "8", "--out", big})
  T.check(st == 0 and relua.npy.load(big):size(4) == 8, "--size 8 crops 8 x 8 from a 9 x 9 resize")
  for _, f in ipairs{png, npy, outpng, norm, big} do os.remove(f) end
end)

T.test("a batch written as a PNG is a grid; --show draws the map", function()
  local outpng = tmp(".png")
  local st, out = run(explain, {"--model", model_file, "--input", data .. "onnx/small_cnn.input.npy",
    "--method", "test_gradient", "--out", outpng, "--show"})
  T.check(st == 0, "status 0")
  local g = relua.image.load(outpng)
  T.check(g:size(3) > 2 * 12, "two tiles side by side: " .. table.concat(g:shape(), "x"))
  T.check(out:find("\u{2580}", 1, true), "half blocks printed")
  os.remove(outpng)
end)

T.test("ONNX models", function()
  local onnx = data .. "onnx/small_cnn.onnx"
  local st, out, err = run(explain, {"--model", onnx, "--input", data .. "onnx/small_cnn.input.npy",
    "--method", "test_gradient"})
  if relua.onnx and relua.onnx.load then
    T.check(st == 0, "status 0: " .. err)
    local want = relua.npy.load(data .. "onnx/small_cnn.output.npy")
    local _, idx = want:max(2)
    local tops = printed_tops(out)
    T.check(tops[1] == idx[1] - 1 and tops[2] == idx[2] - 1, "PyTorch's top classes")
    T.check(out:find(string.format("%8.4f", want[1][math.tointeger(idx[1])]), 1, true), "PyTorch's logit")
  else
    T.check(st == 1 and err:find("cannot read ONNX", 1, true), "without relua.onnx: a clear error: " .. err)
  end
end)

T.test("a model that ends in softmax prints its own probabilities", function()
  local path = tmp(".lua")
  local f = io.open(path, "w")
  f:write('local m = dofile("small_cnn.lua") m:add(require("relua").nn.Softmax(2)) return m\n')
  f:close()
  local st, out = run(explain, {"--model", path, "--input", data .. "onnx/small_cnn.input.npy", "--method", "test_nolayer"})
  os.remove(path)
  T.check(st == 0, "status 0")
  T.check(out:find("shown as the probabilities", 1, true), "says so")
  local x = relua.npy.load(data .. "onnx/small_cnn.input.npy")
  local p = model:forward(x):softmax(2)
  local v = p:max(2)
  T.check(out:find(string.format("%11.4f  %8.4f", v[1], v[1]), 1, true), "probability = output")
end)

T.test("option values are Lua literals, parsed safely", function()
  local pv = explain.parse_value
  T.check(pv("32", "k") == 32 and math.type(pv("32", "k")) == "integer", "integer")
  T.check(pv("0.5", "k") == 0.5, "float")
  T.check(pv("-1e-3", "k") == -1e-3, "negative exponent")
  T.check(pv("true", "k") == true and pv("false", "k") == false, "booleans")
  T.check(pv('"blur"', "k") == "blur" and pv("'a b'", "k") == "a b", "quoted strings")
  T.check(pv("blur", "k") == "blur", "a bare word is a string")
  local t = pv("{1, 2, x = 'y'}", "k")
  T.check(type(t) == "table" and t[2] == 2 and t.x == "y", "tables")
  T.check(pv('"(a):rep(9)"', "k") == "(a):rep(9)", "parentheses inside strings are text")
  for _, bad in ipairs{'("a"):rep(1e9)', "(function() while true do end end)()", "os.exit(3)", "#{}",
                       "{1,", "1 +", "[[x]]", "x.y", "2^1000"} do
    T.check_error("not a Lua literal", pv, bad, "k")
  end
end)

T.test("command-line errors: status 2 and one clear message", function()
  local base = {"--model", model_file, "--input", data .. "onnx/small_cnn.input.npy"}
  local function args(...) local a = {table.unpack(base)} for _, v in ipairs{...} do a[#a + 1] = v end return a end
  local cases = {
    {{"--input", "x.npy", "--method", "m"}, "--model is missing"},
    {args(), "--method is missing"},
    {args("--method", "test_gradient", "--frobnicate"), "unknown argument '--frobnicate'"},
    {args("--method", "nope"), "unknown method 'nope' (methods: "},
    {args("--method", "test_gradient", "-o", "steps=3"), "method 'test_gradient' has no option 'steps' (options: label, layer, scale)"},
    {args("--method", "test_gradient", "-o", "scale=yes"), "option 'scale' must be number"},
    {args("--method", "test_gradient", "-o", "scale"), "-o 'scale': expected key=value"},
    {args("--method", "test_gradient", "--size", "0"), "--size: '0' is not a positive integer"},
    {args("--method", "test_gradient", "--size", "2.5"), "--size: '2.5' is not a positive integer"},
    {args("--method", "test_gradient", "--target", "-1"), "--target: '-1' is not a class index"},
    {args("--method", "test_gradient", "--out", "x.jpg"), "--out: 'x.jpg' must end in .npy"},
    {args("--method", "test_gradient", "--normalize", "zscore"), "--normalize: 'zscore' is not imagenet"},
    {args("--method", "test_gradient", "--normalize", "mean=1,2,std=1"), "2 means but 1 stds"},
    {args("--method", "test_nolayer", "--layer", "conv2"), "--layer: method 'test_nolayer' takes no layer"},
    {args("--method", "test_gradient", "--cmap", "parula"), "--cmap: unknown colour map 'parula'"},
    {args("--method", "test_gradient", "--size"), "--size needs a value"},
    {args("--method", "test_gradient", "--method", "x"), "--method given twice"},
    {{"--model", model_file, "--input", data .. "gray16.png", "--method", "test_gradient", "--normalize", "imagenet"},
      "--normalize imagenet needs an RGB model; this one takes 1 channel"},
    {{"--model", "m.pt", "--input", data .. "gray16.png", "--method", "test_gradient"}, "cannot open m.pt"},
  }
  if not pcall(methods.get, "lrp") then
    cases[#cases + 1] = {args("--method", "lrp.epsilon_plus"), "unknown method 'lrp'"}
  end
  for _, c in ipairs(cases) do
    local st, out, err = run(explain, c[1])
    local want = c[2] == "cannot open m.pt" and 1 or 2
    T.check(st == want, c[2] .. ": status " .. tostring(st))
    T.check(err:find(c[2], 1, true), "message '" .. c[2] .. "' in: " .. err)
    T.check(err:find("^relua explain: "), "prefixed: " .. err)
    T.check(not err:find("%.lua:%d+:"), "no Lua positions: " .. err)
    T.check(out == "", "nothing on stdout")
  end
end)

T.test("failures of the work: status 1", function()
  local npy = data .. "onnx/small_cnn.input.npy"
  local cases = {
    {{"--model", model_file, "--input", "missing.npy", "--method", "test_gradient"}, "--input: cannot open missing.npy"},
    {{"--model", model_file, "--input", npy, "--method", "test_gradient", "--target", "10"},
      "--target: class 10 is out of range: the model has 10 classes (0 to 9)"},
    {{"--model", model_file, "--input", data .. "resblock_bad.npy", "--method", "test_gradient"}, "cannot open"},
    {{"--model", model_file, "--input", data .. "onnx/resblock_bn.input.npy", "--method", "test_gradient"},
      "conv2d: input [2 x 3 x 8 x 8] has 3 channels"},
    {{"--model", model_file, "--input", npy, "--method", "test_gradient", "--out", "/nonexistent-dir/a.npy"},
      "npy.save"},
  }
  for _, c in ipairs(cases) do
    local st, _, err = run(explain, c[1])
    T.check(st == 1, c[2] .. ": status " .. tostring(st))
    T.check(err:find(c[2], 1, true), "message '" .. c[2] .. "' in: " .. err)
  end
  for _, c in ipairs{{"why=oops", "relua explain: test_failing: oops\n"}, {nil, "relua explain: test_failing: no reason\n"}} do
    local args = {"--model", model_file, "--input", npy, "--method", "test_failing"}
    if c[1] then args[#args + 1] = "-o" args[#args + 1] = c[1] end
    local st, _, err = run(explain, args)
    T.check(st == 1 and err == c[2], "a method's error, named once and without positions: " .. err)
  end
  local st, out = run(explain, {"--help"})
  T.check(st == 0 and out:find("usage: relua explain", 1, true), "--help")
end)

T.test("relua methods", function()
  local cmd = require "relua.cli.methods"
  local st, out = run(cmd, {})
  T.check(st == 0, "status 0")
  T.check(out:find("test_gradient  the gradient of the target (test stand-in)", 1, true), "name and doc")
  T.check(out:find("-o scale = 1  (number)  multiplies the gradient", 1, true), "option, default, type, doc")
  T.check(out:find('-o label = "x"  (string)', 1, true), "string defaults quoted")
  T.check(out:find("paper: none", 1, true), "paper")
  T.check(out:find("composites", 1, true), "composites section")
  local n = #methods.list()
  T.check(out:find(n .. " methods", 1, true), "counts every registered method")
  st, out = run(cmd, {"test_nolayer"})
  T.check(st == 0 and out:find("(no options)", 1, true), "one method")
  local err
  st, _, err = run(cmd, {"nope"})
  T.check(st == 2 and err:find("unknown method 'nope'", 1, true), "unknown name: " .. err)
end)

T.done()
