-- relua.onnx.load: every fixture of tests/data/onnx reproduces PyTorch's
-- output, names are kept, gradients and rules reach ONNX layers, and bad
-- files give errors naming the file.
local relua = require "relua"
local npy = require "npy_helper"
local T = require "harness"
local check, check_error = T.check, T.check_error

local D = "../data/onnx/"

local fixtures = {"small_cnn", "small_cnn_typed", "small_cnn_constants", "resblock_bn", "resblock_bn_typed",
                  "resblock_bn_fused", "all_ops_op11", "all_ops_op13", "all_ops_op17", "external_data", "upsample_op9"}

local function maxdiff(a, b) return (a - b):abs():max():item() end

T.test("every fixture reproduces its expected output to 1e-5", function()
  for _, name in ipairs(fixtures) do
    local m = relua.onnx.load(D .. name .. ".onnx")
    local x, want = npy.load(D .. name .. ".input.npy"), npy.load(D .. name .. ".output.npy")
    local y = m:forward(x)
    check(table.concat(y:shape(), "x") == table.concat(want:shape(), "x"), name .. ": output shape")
    local d = maxdiff(y, want)
    check(d <= 1e-5, string.format("%s: max difference %g", name, d))
  end
end)

T.test("an unedited user export: F.pad chains, interpolate by size, view(N, -1)", function()
  local U = "../data/onnx_user/"
  local x, want = npy.load(U .. "user_net.input.npy"), npy.load(U .. "user_net.output.npy")
  for _, op in ipairs {11, 13, 17} do
    local m = relua.onnx.load(U .. "user_net_op" .. op .. ".onnx")
    local d = maxdiff(m:forward(x), want)
    check(d <= 1e-5, string.format("opset %d: max difference %g", op, d))
    check(maxdiff(m:forward(x:narrow(1, 2, 1)), want:narrow(1, 2, 1)) <= 1e-5, "opset " .. op .. ": batch of one")
    check(m:find("/ConstantOfShape") == nil and m:find("/Slice") == nil, "the pad chains were folded away")
    check(m:find("/Slice_2") and m:find("/Slice_2").op == "Slice", "the Slice of a run-time shape stays")
    check(m:find("/c1/Conv").__name == "nn.Conv2d", "convs are nn.Conv2d")
  end
  local unfolded = relua.onnx.load(U .. "user_net_op13.onnx", {fold = false})
  check(#unfolded:children() == 35 and unfolded:find("/ConstantOfShape"), "fold = false keeps the chains as nodes")
  check(maxdiff(unfolded:forward(x), want) <= 1e-5, "and computes them in the forward")
end)

T.test("a symbolic batch takes any batch size", function()
  for _, name in ipairs {"small_cnn", "resblock_bn", "resblock_bn_fused"} do
    local m = relua.onnx.load(D .. name .. ".onnx")
    local x, want = npy.load(D .. name .. ".input.npy"), npy.load(D .. name .. ".output.npy")
    check(x:size(1) > 1, name .. ": the fixture has a batch")
    local y1 = m:forward(x:narrow(1, 2, 1))
    check(y1:size(1) == 1 and maxdiff(y1, want:narrow(1, 2, 1)) <= 1e-5, name .. ": batch of one")
    local y3 = m:forward(relua.cat({x, x:narrow(1, 1, 1)}, 1))
    check(y3:size(1) == x:size(1) + 1 and maxdiff(y3:narrow(1, 1, x:size(1)), want) <= 1e-5, name .. ": a larger batch")
  end
end)

T.test("relua.onnx_read gives the graph as tables", function()
  local g = relua.onnx_read(D .. "resblock_bn.onnx")
  check(g.opset == 11 and g.opsets[""] == 11 and g.ir_version == 6, "opset and IR version")
  check(#g.nodes == 18 and g.nodes[1].op_type == "Conv" and g.nodes[1].name == "/layer1/layer1.0/downsample/downsample.0/Conv",
        "nodes in file order")
  local a = g.nodes[1].attributes
  check(table.concat(a.strides, ",") == "2,2" and a.group == 1 and math.type(a.group) == "integer", "INTS and INT attributes")
  check(math.abs(g.nodes[2].attributes.epsilon - 1e-5) < 1e-9, "FLOAT attribute")
  check(#g.initializers == 17 and relua.is_tensor(g.initializers[1].value), "initializers as tensors")
  local c = g.constants[2]
  check(c.dtype == "INT64" and c.ints[1] == -1 and table.concat(c.dims, ",") == "1", "Constant values keep exact ints")
  local inp = g.inputs[1]
  check(inp.name == "input" and table.concat(inp.dims, ",") == "-1,3,8,8" and inp.dim_names[1] == "batch", "symbolic input dims")
  check(relua.onnx_op_supported("Conv") and not relua.onnx_op_supported("Erf"), "the operator list")
  local m = relua.onnx.load(D .. "all_ops_op13.onnx")
  check(m:find("/Dropout").p == 0.25, "Dropout keeps its ratio (an input at opset 13)")
  check(relua.onnx.load(D .. "all_ops_op11.onnx"):find("/Dropout").p == 0.25, "or attribute at opset 11")
end)

T.test("unsupported operators name operator, node and opset", function()
  check_error("node '/Erf' uses operator 'Erf' (opset 13), which relua does not support",
              relua.onnx.load, D .. "unsupported_erf.onnx")
  check_error("unsupported_erf.onnx", relua.onnx.load, D .. "unsupported_erf.onnx")
end)

T.test("nodes are modules named as in the source framework", function()
  local m = relua.onnx.load(D .. "small_cnn.onnx")
  local conv = m:find("/conv1/Conv")
  check(conv and conv.__name == "nn.Conv2d", "a Conv node is an nn.Conv2d")
  check(m:find("conv1.weight") == conv, "found by the name of its initializer")
  check(conv.onnx_params.weight == "conv1.weight", "initializer names are kept")
  local fc = m:find("/fc/Gemm")
  check(fc and fc.__name == "nn.Linear", "Gemm with transB is an nn.Linear")
  local out_name = m.spec.outputs[1]
  check(m:find(out_name) == fc, "found by its output's name")
  check(m.train == false and conv.train == false, "loaded in evaluate() mode")
  local bn = relua.onnx.load(D .. "resblock_bn.onnx"):find("/layer1/layer1.0/bn1/BatchNormalization")
  check(bn and bn.__name == "nn.BatchNorm2d" and bn.running_var:size(1) == 8, "BatchNormalization is an nn.BatchNorm2d")
  check(math.abs(bn.eps - 1e-5) < 1e-9, "with its epsilon")
  local x = npy.load(D .. "small_cnn.input.npy")
  m:forward(x)
  local s = tostring(m)
  check(s:find("onnx.Graph(small_cnn.onnx, opset 13)", 1, true), "print names the file and opset")
  check(s:find("(1) /conv1/Conv: nn.Conv2d(1 -> 4, 3x3, padding 1) <- input  -> [2 x 4 x 12 x 12]", 1, true),
        "print lists the nodes with their modules:\n" .. s)
  check(s:find("<- input", 1, true) and s:find("-> [2 x 10]", 1, true), "and their inputs and output shapes")
end)

T.test("gradients at the input and at a named layer", function()
  local m = relua.onnx.load(D .. "resblock_bn.onnx")
  local x = npy.load(D .. "resblock_bn.input.npy")
  local layer = "/layer1/layer1.0/conv2/Conv"
  local g, at, out = relua.grad(m, x, 2, {at = {layer}})
  check(table.concat(g:shape(), "x") == table.concat(x:shape(), "x"), "gradient has the input's shape")
  check(at[layer] and table.concat(at[layer]:shape(), "x") == table.concat(m:find(layer).output:shape(), "x"),
        "gradient at the layer has its output's shape")
  -- A directional finite difference of logit 2 (central, float32).
  local d = relua.randn(x:shape(), {seed = 3})
  local h = 1e-2
  local fp = m:forward(x + d * h):select(2, 2):sum():item()
  local fm = m:forward(x - d * h):select(2, 2):sum():item()
  local fd, an = (fp - fm) / (2 * h), (g * d):sum():item()
  check(math.abs(fd - an) <= 2e-2 * math.max(1, math.abs(an)), string.format("finite difference %g vs gradient %g", fd, an))
  check(out:size(2) == 5, "the output comes back")
end)

T.test("gradients through every operator (directional finite differences)", function()
  -- Clip, ReLU, max-pool and nearest resizing have kinks a step may cross: a loose tolerance.
  for _, c in ipairs {{D .. "all_ops_op13", D .. "all_ops_op13"}, {D .. "all_ops_op11", D .. "all_ops_op11"},
                      {"../data/onnx_user/user_net_op13", "../data/onnx_user/user_net"}} do
    local m = relua.onnx.load(c[1] .. ".onnx")
    local x = npy.load(c[2] .. ".input.npy")
    local g = relua.grad(m, x, 2)
    local d = relua.randn(x:shape(), {seed = 3})
    local h = 1e-2
    local fd = (m:forward(x + d * h):select(2, 2):sum():item() - m:forward(x - d * h):select(2, 2):sum():item()) / (2 * h)
    local an = (g * d):sum():item()
    check(math.abs(fd - an) <= 0.1 * math.abs(an) + 1e-3, string.format("%s: finite difference %g vs gradient %g", c[1], fd, an))
  end
end)

T.test("rules keyed by op name and by node name apply to ONNX layers", function()
  local m = relua.onnx.load(D .. "resblock_bn.onnx")
  local x = npy.load(D .. "resblock_bn.input.npy")
  local calls = 0
  local function pass(ctx)
    calls = calls + 1
    check(ctx.kind == "conv2d", "kind is conv2d")
    return ctx:backward_input(ctx.grad_output)
  end
  local g0 = relua.grad(m, x, 1)
  local g1 = relua.grad(m, x, 1, {rules = {conv2d = pass}})
  check(calls == 3, "the rule ran for each of the 3 convolutions, ran " .. calls)
  check(maxdiff(g0, g1) <= 1e-6, "a pass-through rule keeps the gradient")
  local g2 = relua.grad(m, x, 1, {rules = {conv2d = function() return nil end}})
  check(g2:abs():max():item() == 0, "a rule cutting every conv stops the gradient")
  local g3 = relua.grad(m, x, 1, {rules = {["/layer1/layer1.0/downsample/downsample.0/Conv"] = function() return nil end}})
  check(maxdiff(g3, g0) > 1e-6 and g3:abs():max():item() > 0, "a rule keyed by one node changes only that path")
  local linear = 0
  relua.grad(m, x, 1, {rules = {linear = function(ctx) linear = linear + 1; return ctx:backward_input(ctx.grad_output) end}})
  check(linear == 1, "Gemm is a linear call")
end)

-- {==================== bad files

local function tmpfile(bytes)
  local p = os.tmpname()
  local f = assert(io.open(p, "wb"))
  f:write(bytes)
  f:close()
  return p
end

T.test("truncated and garbage files are errors naming the file", function()
  local f = assert(io.open(D .. "small_cnn.onnx", "rb"))
  local bytes = f:read("a")
  f:close()
  local n, errors = #bytes, 0
  for cut = 0, n - 1, 7 do
    local p = tmpfile(bytes:sub(1, cut))
    local ok, err = pcall(relua.onnx.load, p)
    os.remove(p)
    if not ok then
      errors = errors + 1
      check(tostring(err):find(p, 1, true), "the error names the file: " .. tostring(err))
    end
  end
  check(errors >= (n // 7) * 0.9, "nearly every truncation is an error (" .. errors .. ")")
  local p = tmpfile("this is not an ONNX model at all\n")
  check_error(p, relua.onnx.load, p)
  os.remove(p)
  local p2 = tmpfile(bytes:sub(1, 1000))
  local ok, err = pcall(relua.onnx.load, p2)
  os.remove(p2)
  check(not ok and tostring(err):find("offset", 1, true), "a truncation names the offset: " .. tostring(err))
  check_error("onnx.load: /nonexistent/model.onnx: No such file", relua.onnx.load, "/nonexistent/model.onnx")
  -- Flipped bytes: an error or a model, never a crash.
  for i = 1, 200 do
    local pos = (i * 7919) % n + 1
    local mutated = bytes:sub(1, pos - 1) .. string.char((bytes:byte(pos) + 1 + i) % 256) .. bytes:sub(pos + 1)
    local q = tmpfile(mutated)
    local ok2, m = pcall(relua.onnx.load, q)
    if ok2 then pcall(m.forward, m, relua.randn(1, 1, 12, 12)) end
    os.remove(q)
  end
end)
-- }====================

-- {==================== operators on constants and shapes (the folding machinery)

local ops, ivec = relua.onnx.ops, function(dims, v) return {dims = dims, v = v, ivec = true} end
local function node(op, attrs, opset) return {op = op, attrs = attrs or {}, opset = opset or 13} end

T.test("the F.pad chain of torch 1.13 folds to ONNX pads", function()
  -- pads (1, 2, 3, 4) of F.pad on a 4-D tensor: last dim (1, 2), then (3, 4).
  local p = ivec({4}, {1, 2, 3, 4})
  local zeros = ops.ConstantOfShape(node("ConstantOfShape", {value = {ints = {0}, dims = {1}}}), {ivec({1}, {4})})
  local cat = ops.Concat(node("Concat", {axis = 0}), {p, zeros})
  local pairs2 = ops.Reshape(node("Reshape"), {cat, ivec({2}, {-1, 2})})
  local rev = ops.Slice(node("Slice"), {pairs2, ivec({1}, {-1}), ivec({1}, {-9223372036854775807}), ivec({1}, {0}), ivec({1}, {-1})})
  local tr = ops.Transpose(node("Transpose", {perm = {1, 0}}), {rev})
  local flat = ops.Reshape(node("Reshape"), {tr, ivec({1}, {-1})})
  local pads = ops.Cast(node("Cast", {to = 7}), {flat})
  check(table.concat(pads.v, ",") == "0,0,3,1,0,0,4,2", "ONNX pads: " .. table.concat(pads.v, ","))
  local x = relua.randn(1, 2, 3, 3)
  local y = ops.Pad(node("Pad", {mode = "constant"}), {x, pads, relua.tensor(0.5)})
  check(table.concat(y:shape(), "x") == "1x2x10x6", "padded shape " .. table.concat(y:shape(), "x"))
  check(maxdiff(y, x:pad({1, 2, 3, 4}, {value = 0.5})) == 0, "as relua's pad")
end)

T.test("Shape -> Gather -> Unsqueeze -> Concat -> Reshape", function()
  local x = relua.randn(3, 4, 1, 1)
  local s = ops.Shape(node("Shape"), {x})
  check(table.concat(s.v, ",") == "3,4,1,1", "Shape")
  local n = ops.Gather(node("Gather", {axis = 0}), {s, ivec({}, {0})})
  check(#n.dims == 0 and n.v[1] == 3, "Gather of a scalar index")
  local u = ops.Unsqueeze(node("Unsqueeze", {axes = {0}}, 11), {n})
  local u13 = ops.Unsqueeze(node("Unsqueeze"), {n, ivec({1}, {0})})
  check(table.concat(u.dims, ",") == "1" and table.concat(u13.dims, ",") == "1", "Unsqueeze by attribute and input")
  local c = ops.Concat(node("Concat", {axis = 0}), {u, ivec({1}, {-1})})
  local y = ops.Reshape(node("Reshape"), {x, c})
  check(table.concat(y:shape(), "x") == "3x4", "Reshape to [N, -1]")
  local z = ops.Reshape(node("Reshape"), {relua.randn(2, 3, 4), ivec({3}, {0, -1, 2})})
  check(table.concat(z:shape(), "x") == "2x6x2", "0 copies a dim, -1 is inferred")
  check_error("copies dim", ops.Reshape, node("Reshape"), {relua.randn(6), ivec({2}, {0, 0})})
end)

T.test("Resize modes map to interpolate or fail naming the mode", function()
  local x = relua.randn(1, 2, 3, 4)
  local scales = relua.tensor{1, 1, 2, 2}
  local y = ops.Resize(node("Resize", {mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor"}),
                       {x, ivec({0}, {}), scales})
  check(maxdiff(y, x:interpolate(6, 8, {mode = "nearest"})) == 0, "nearest, asymmetric, floor")
  local l = ops.Resize(node("Resize", {mode = "linear", coordinate_transformation_mode = "align_corners"}),
                       {x, ivec({0}, {}), ivec({0}, {}), ivec({4}, {1, 2, 5, 7})})
  check(maxdiff(l, x:interpolate(5, 7, {mode = "bilinear", align_corners = true})) == 0, "linear by sizes, align_corners")
  check_error("coordinate_transformation_mode 'tf_crop_and_resize'", ops.Resize,
              node("Resize", {mode = "linear", coordinate_transformation_mode = "tf_crop_and_resize"}), {x, nil, scales})
  check_error("nearest_mode 'round_prefer_floor'", ops.Resize,
              node("Resize", {mode = "nearest", coordinate_transformation_mode = "asymmetric"}), {x, nil, scales})
  check_error("mode 'cubic'", ops.Resize, node("Resize", {mode = "cubic"}), {x, nil, scales})
end)

T.test("Gemm in general, Clip, softmax axes", function()
  local a, b, c = relua.randn(2, 3), relua.randn(4, 3), relua.randn(2, 4)
  local y = ops.Gemm(node("Gemm", {transB = 1, alpha = 0.5, beta = 2}), {a, b, c})
  check(maxdiff(y, a:matmul(b:t()) * 0.5 + c * 2) <= 1e-6, "alpha A B' + beta C")
  local yt = ops.Gemm(node("Gemm", {transA = 1}), {a:t(), b:t()})
  check(maxdiff(yt, a:matmul(b:t())) <= 1e-6, "transA")
  local x = relua.randn(2, 3, 4)
  check(maxdiff(ops.Clip(node("Clip", {}, 13), {x, relua.tensor(-0.5), relua.tensor(0.5)}), x:clamp(-0.5, 0.5)) == 0,
        "Clip bounds as inputs")
  check(maxdiff(ops.Clip(node("Clip", {min = -0.1, max = 0.2}, 6), {x}), x:clamp(-0.1, 0.2)) == 0, "Clip bounds as attributes")
  local s11 = ops.Softmax(node("Softmax", {axis = 1}, 11), {x})
  check(maxdiff(s11, x:reshape(2, 12):softmax(2):reshape(2, 3, 4)) <= 1e-7, "opset 11 softmax flattens at axis")
  local s13 = ops.Softmax(node("Softmax", {axis = 1}, 13), {x})
  check(maxdiff(s13, x:softmax(2)) <= 1e-7, "opset 13 softmax is along one axis")
end)
-- }====================

T.done()
