-- relua.onnx: ONNX files as relua models.
--   local model = relua.onnx.load("resnet18.onnx")   -- an onnx.Graph, in evaluate() mode
--   local y = model:forward(x)
--   model:find("/layer4/layer4.1/conv2/Conv")         -- a node by name (or by output name)
--
-- The C reader (relua.onnx_read, src/onnx.c) decodes the file; this file
-- builds the model. Each ONNX node becomes one module named after the node,
-- run in file order (ONNX's topological order) by an onnx.Graph, so every
-- node output is recorded on the tape and kept in the module's .output.
-- Conv, Gemm (as x W^T + b), BatchNormalization, the activations and the
-- pools become the nn modules (nn.Conv2d, nn.Linear, nn.BatchNorm2d...), so
-- rules keyed by "conv2d", "linear" or nn.ReLU reach them; the other
-- operators are onnx.Node modules computed with relua's ops.
--
-- Values are tensors, or small integer arrays ("ivecs": {dims = {...}, v = {...}})
-- for shapes and indices, so Shape -> Gather -> Unsqueeze -> Concat -> Reshape
-- works for any batch size. A node whose inputs are all constants is
-- evaluated once at load time (constant folding: Identity of a weight, the
-- Cast/ConstantOfShape/Slice/Transpose chains of F.pad), which is also how
-- operators outside relua's list (rl_onnx_op_supported) are allowed on
-- constants. Docs: docs/onnx-models.md.
local core = require "relua.core"
local class = require "relua.class"
local nn = require "relua.nn"
local Module = nn.Module

local onnx = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end
-- An error without the position inside relua's own files.
local function strip(msg)
  return (tostring(msg):gsub("^[^\n]-relua[/\\][%w_/\\]+%.lua:%d+: ", "", 1))
end

-- {==================== ivecs: integer arrays for shapes and indices

local function numel(dims)
  local n = 1
  for _, d in ipairs(dims) do n = n * d end
  return n
end

local function ivec(dims, v) return {dims = dims, v = v, ivec = true} end
local function is_ivec(x) return type(x) == "table" and x.ivec == true end

local function to_tensor(x)
  if core.is_tensor(x) then return x end
  local t = core.tensor(#x.v == 0 and {0} or x.v)
  if #x.dims == 0 then return t:reshape({}) end
  return t:reshape(x.dims)
end

-- An ivec from a small integral tensor (Cast to INT64 of a float, sizes).
local function to_ivec(x, what)
  if is_ivec(x) then return x end
  if x:numel() > 65536 then fail("%s: a %d-element tensor used as integers", what, x:numel()) end
  local flat, v = x:reshape(-1):totable(), {}
  for i, f in ipairs(flat) do
    v[i] = math.tointeger(f >= 0 and math.floor(f) or math.ceil(f)) or fail("%s: %s is not an integer", what, tostring(f))
  end
  return ivec(x:shape(), v)
end

local function flat_numbers(x)
  if is_ivec(x) then return x.v end
  return x:reshape(-1):totable()
end

local function strides(dims)
  local s, acc = {}, 1
  for i = #dims, 1, -1 do s[i] = acc; acc = acc * dims[i] end
  return s
end

-- Element of x (ivec) at 0-based multi-index idx.
local function iv_get(x, idx)
  local s, off = strides(x.dims), 0
  for i = 1, #idx do off = off + idx[i] * s[i] end
  return x.v[off + 1]
end

-- Calls f(idx) for every 0-based multi-index of dims, in row-major order.
local function each_index(dims, f)
  local n = numel(dims)
  local idx = {}
  for i = 1, #dims do idx[i] = 0 end
  for _ = 1, n do
    f(idx)
    for d = #dims, 1, -1 do
      idx[d] = idx[d] + 1
      if idx[d] < dims[d] then break end
      idx[d] = 0
    end
  end
end

local function axis_of(a, rank, what)
  local r = a < 0 and a + rank or a
  if r < 0 or r >= rank then fail("%s: axis %d out of range for rank %d", what, a, rank) end
  return r
end

local function broadcast_dims(a, b, what)
  local n, out = math.max(#a, #b), {}
  for i = 1, n do
    local da, db = a[#a - n + i] or 1, b[#b - n + i] or 1
    if da ~= db and da ~= 1 and db ~= 1 then fail("%s: shapes do not broadcast", what) end
    out[i] = math.max(da, db)
  end
  return out
end

local function iv_binary(a, b, f, what)
  local dims = broadcast_dims(a.dims, b.dims, what)
  local v = {}
  each_index(dims, function(idx)
    local ia, ib = {}, {}
    for i = 1, #a.dims do local d = idx[#dims - #a.dims + i]; ia[i] = a.dims[i] == 1 and 0 or d end
    for i = 1, #b.dims do local d = idx[#dims - #b.dims + i]; ib[i] = b.dims[i] == 1 and 0 or d end
    v[#v + 1] = f(iv_get(a, ia), iv_get(b, ib))
  end)
  return ivec(dims, v)
end

local function idiv(x, y)
  if y == 0 then fail("Div: integer division by zero") end
  local q = x // y
  if q < 0 and q * y ~= x then q = q + 1 end -- truncate toward zero, as C and ONNX
  return q
end
-- }====================

-- {==================== operators on values (run at load time on constants, or in a forward)

local ops = {}

local function binary(name, tf, iff)
  ops[name] = function(node, ins)
    local a, b = ins[1], ins[2]
    if is_ivec(a) and is_ivec(b) then return iv_binary(a, b, iff, name) end
    return tf(to_tensor(a), to_tensor(b))
  end
end
binary("Add", core.add, function(x, y) return x + y end)
binary("Sub", core.sub, function(x, y) return x - y end)
binary("Mul", core.mul, function(x, y) return x * y end)
binary("Div", core.div, idiv)

local function attr(node, k, def)
  local v = node.attrs[k]
  if v == nil then return def end
  return v
end

function ops.Identity(node, ins) return ins[1] end
function ops.Dropout(node, ins) return ins[1] end
function ops.Relu(node, ins) return core.relu(to_tensor(ins[1])) end
function ops.Sigmoid(node, ins) return core.sigmoid(to_tensor(ins[1])) end
function ops.Tanh(node, ins) return core.tanh(to_tensor(ins[1])) end
function ops.LeakyRelu(node, ins) return core.leaky_relu(to_tensor(ins[1]), attr(node, "alpha", 0.01)) end

function ops.Clip(node, ins)
  local lo, hi = attr(node, "min"), attr(node, "max")
  if ins[2] then lo = flat_numbers(ins[2])[1] end
  if ins[3] then hi = flat_numbers(ins[3])[1] end
  return core.clamp(to_tensor(ins[1]), lo, hi)
end

-- Before opset 13, (Log)Softmax flattens the input to 2-D at axis (default 1).
local function softmax_op(fn)
  return function(node, ins)
    local x = to_tensor(ins[1])
    local rank = x:dim()
    if node.opset >= 13 then
      return fn(x, axis_of(attr(node, "axis", -1), rank, node.op) + 1)
    end
    local a = axis_of(attr(node, "axis", 1), rank, node.op)
    if a == rank - 1 then return fn(x, rank) end
    local shape = x:shape()
    local lead = 1
    for i = 1, a do lead = lead * shape[i] end
    return fn(x:reshape(lead, -1), 2):reshape(shape)
  end
end
ops.Softmax = softmax_op(core.softmax)
ops.LogSoftmax = softmax_op(core.log_softmax)

function ops.Flatten(node, ins)
  local x = ins[1]
  local dims = is_ivec(x) and x.dims or x:shape()
  local a = attr(node, "axis", 1)
  a = a < 0 and a + #dims or a
  local lead = 1
  for i = 1, a do lead = lead * dims[i] end
  if is_ivec(x) then return ivec({lead, numel(dims) // lead}, x.v) end
  return x:reshape(lead, -1)
end

-- Reshape's shape: 0 copies the input's dim (unless allowzero), -1 is inferred.
function ops.Reshape(node, ins)
  local x, spec = ins[1], to_ivec(ins[2], "Reshape")
  local dims = is_ivec(x) and x.dims or x:shape()
  local shape = {}
  for i, d in ipairs(spec.v) do
    if d == 0 and attr(node, "allowzero", 0) == 0 then
      shape[i] = dims[i] or fail("Reshape: shape %s copies dim %d of a rank-%d input", table.concat(spec.v, ","), i, #dims)
    else
      shape[i] = d
    end
  end
  if is_ivec(x) then
    local known, free = 1, nil
    for i, d in ipairs(shape) do if d == -1 then free = i else known = known * d end end
    if free then shape[free] = #x.v // known end
    return ivec(shape, x.v)
  end
  if #shape == 0 then return x:reshape({}) end
  return x:reshape(shape)
end

function ops.Shape(node, ins)
  local x = ins[1]
  local dims = is_ivec(x) and x.dims or x:shape()
  local r = #dims
  local s, e = attr(node, "start", 0), attr(node, "end", r)
  s, e = s < 0 and s + r or s, e < 0 and e + r or e
  local v = {}
  for i = math.max(s, 0) + 1, math.min(e, r) do v[#v + 1] = dims[i] end
  return ivec({#v}, v)
end

function ops.Gather(node, ins)
  local data, idx = ins[1], to_ivec(ins[2], "Gather")
  local a = attr(node, "axis", 0)
  if core.is_tensor(data) then
    if #idx.dims ~= 0 then fail("Gather: only a scalar index into a tensor is supported") end
    local ax = axis_of(a, data:dim(), "Gather") + 1
    local i = idx.v[1] < 0 and idx.v[1] + data:size(ax) or idx.v[1]
    return data:select(ax, i + 1)
  end
  local ax = axis_of(a, #data.dims, "Gather") + 1
  local dims = {}
  for i = 1, ax - 1 do dims[#dims + 1] = data.dims[i] end
  for _, d in ipairs(idx.dims) do dims[#dims + 1] = d end
  for i = ax + 1, #data.dims do dims[#dims + 1] = data.dims[i] end
  local v = {}
  each_index(dims, function(o)
    local src = {}
    for i = 1, ax - 1 do src[i] = o[i] end
    local ii = {}
    for k = 1, #idx.dims do ii[k] = o[ax - 1 + k] end
    local j = iv_get(idx, ii)
    if j < 0 then j = j + data.dims[ax] end
    if j < 0 or j >= data.dims[ax] then fail("Gather: index %d out of range", j) end
    src[ax] = j
    for i = ax + 1, #data.dims do src[i] = o[i - 1 + #idx.dims] end
    v[#v + 1] = iv_get(data, src)
  end)
  return ivec(dims, v)
end

local function axes_of(node, ins, k)
  if ins[k] then return to_ivec(ins[k], node.op).v end
  return attr(node, "axes")
end

function ops.Unsqueeze(node, ins)
  local x, axes = ins[1], axes_of(node, ins, 2)
  local dims = is_ivec(x) and {table.unpack(x.dims)} or x:shape()
  local r = #dims + #axes
  local norm = {}
  for i, a in ipairs(axes) do norm[i] = axis_of(a, r, "Unsqueeze") end
  table.sort(norm)
  for _, a in ipairs(norm) do table.insert(dims, a + 1, 1) end
  if is_ivec(x) then return ivec(dims, x.v) end
  return x:reshape(dims)
end

function ops.Squeeze(node, ins)
  local x, axes = ins[1], axes_of(node, ins, 2)
  local dims = is_ivec(x) and x.dims or x:shape()
  local drop = {}
  if axes then
    for _, a in ipairs(axes) do drop[axis_of(a, #dims, "Squeeze") + 1] = true end
  else
    for i, d in ipairs(dims) do if d == 1 then drop[i] = true end end
  end
  local out = {}
  for i, d in ipairs(dims) do if not drop[i] then out[#out + 1] = d end end
  if is_ivec(x) then return ivec(out, x.v) end
  return #out == 0 and x:reshape({}) or x:reshape(out)
end

function ops.Concat(node, ins)
  local all_iv = true
  for _, x in ipairs(ins) do if not is_ivec(x) then all_iv = false end end
  if not all_iv then
    local ts = {}
    for i, x in ipairs(ins) do ts[i] = to_tensor(x) end
    return core.cat(ts, axis_of(attr(node, "axis"), ts[1]:dim(), "Concat") + 1)
  end
  local rank = #ins[1].dims
  local ax = axis_of(attr(node, "axis"), rank, "Concat") + 1
  local dims = {table.unpack(ins[1].dims)}
  dims[ax] = 0
  for _, x in ipairs(ins) do dims[ax] = dims[ax] + x.dims[ax] end
  local v = {}
  each_index(dims, function(o)
    local j = o[ax]
    for _, x in ipairs(ins) do
      if j < x.dims[ax] then
        local src = {table.unpack(o)}
        src[ax] = j
        v[#v + 1] = iv_get(x, src)
        return
      end
      j = j - x.dims[ax]
    end
  end)
  return ivec(dims, v)
end

-- Integer operators that may run on shapes at run time, beyond the C list.
local shape_ops = {Slice = true, Cast = true, Squeeze = true, Unsqueeze = true, Gather = true, Concat = true,
                   Reshape = true, Add = true, Sub = true, Mul = true, Div = true, Identity = true,
                   ConstantOfShape = true, Transpose = true}

local int_types = {[2] = true, [3] = true, [4] = true, [5] = true, [6] = true, [7] = true,
                   [9] = true, [12] = true, [13] = true}
function ops.Cast(node, ins)
  if int_types[attr(node, "to", 1)] then return to_ivec(ins[1], "Cast") end
  return to_tensor(ins[1])
end

function ops.ConstantOfShape(node, ins)
  local shape = to_ivec(ins[1], "ConstantOfShape").v
  local val = node.attrs.value
  local x = val and (val.ints and val.ints[1] or (val.value and val.value:reshape(-1)[1])) or 0
  if val and val.ints or not val then
    local v = {}
    for i = 1, numel(shape) do v[i] = math.tointeger(x) or 0 end
    return ivec(shape, v)
  end
  return core.full(shape, x)
end

function ops.Transpose(node, ins)
  local x = ins[1]
  local rank = is_ivec(x) and #x.dims or x:dim()
  local perm = attr(node, "perm")
  if not perm then perm = {}; for i = 1, rank do perm[i] = rank - i end end
  if core.is_tensor(x) then
    local p = {}
    for i, d in ipairs(perm) do p[i] = d + 1 end
    return x:permute(table.unpack(p)):contiguous()
  end
  local dims = {}
  for i, d in ipairs(perm) do dims[i] = x.dims[d + 1] end
  local v = {}
  each_index(dims, function(o)
    local src = {}
    for i, d in ipairs(perm) do src[d + 1] = o[i] end
    v[#v + 1] = iv_get(x, src)
  end)
  return ivec(dims, v)
end

-- Slice on ivecs (the F.pad chain reverses pairs with step -1).
function ops.Slice(node, ins)
  local x = to_ivec(ins[1], "Slice")
  local rank = #x.dims
  local starts, ends, axes, steps
  if node.opset >= 10 then
    starts, ends = to_ivec(ins[2], "Slice").v, to_ivec(ins[3], "Slice").v
    axes = ins[4] and to_ivec(ins[4], "Slice").v
    steps = ins[5] and to_ivec(ins[5], "Slice").v
  else
    starts, ends, axes = attr(node, "starts"), attr(node, "ends"), attr(node, "axes")
  end
  local lo, step, cnt = {}, {}, {}
  for d = 1, rank do lo[d], step[d], cnt[d] = 0, 1, x.dims[d] end
  for i = 1, #starts do
    local d = (axes and axis_of(axes[i], rank, "Slice") or i - 1) + 1
    local n, s = x.dims[d], steps and steps[i] or 1
    if s == 0 then fail("Slice: step 0") end
    local b, e = starts[i], ends[i]
    b = b < 0 and b + n or b
    e = e < 0 and e + n or e
    if s > 0 then
      b, e = math.max(0, math.min(b, n)), math.max(0, math.min(e, n))
      cnt[d] = math.max(0, (e - b + s - 1) // s)
    else
      b, e = math.max(-1, math.min(b, n - 1)), math.max(-1, math.min(e, n - 1))
      cnt[d] = math.max(0, (b - e - s - 1) // -s)
    end
    lo[d], step[d] = b, s
  end
  local v = {}
  each_index(cnt, function(o)
    local src = {}
    for d = 1, rank do src[d] = lo[d] + o[d] * step[d] end
    v[#v + 1] = iv_get(x, src)
  end)
  return ivec(cnt, v)
end

-- ONNX pads [b1, b2, ..., e1, e2, ...] to relua's {last_b, last_e, prev_b, prev_e, ...}.
local function relua_pads(p)
  local r, out = #p // 2, {}
  local first = 1
  while first < r and p[first] == 0 and p[first + r] == 0 do first = first + 1 end
  for d = r, first, -1 do out[#out + 1] = p[d]; out[#out + 1] = p[d + r] end
  return out
end

local pad_modes = {constant = "constant", reflect = "reflect", edge = "replicate"}
function ops.Pad(node, ins)
  local x = to_tensor(ins[1])
  local pads = ins[2] and to_ivec(ins[2], "Pad").v or attr(node, "pads") or attr(node, "paddings")
  local value = ins[3] and flat_numbers(ins[3])[1] or attr(node, "value", 0)
  local m = attr(node, "mode", "constant")
  local mode = pad_modes[m] or fail("Pad: mode '%s' is not supported (constant, reflect, edge)", m)
  if #pads ~= 2 * x:dim() then fail("Pad: %d pads for a rank-%d input", #pads, x:dim()) end
  local rp = relua_pads(pads)
  local any = false
  for _, v in ipairs(rp) do if v ~= 0 then any = true end end
  if not any then return x end
  return core.pad(x, rp, {mode = mode, value = value})
end

-- Resize / Upsample: nearest with asymmetric coordinates and floor rounding,
-- or linear with half_pixel / align_corners, over the last two dims.
function ops.Resize(node, ins)
  local x = to_tensor(ins[1])
  local mode = attr(node, "mode", "nearest")
  local ctm = attr(node, "coordinate_transformation_mode", node.op == "Upsample" and "asymmetric" or "half_pixel")
  if node.opset < 11 then ctm = "asymmetric" end
  local opts
  if mode == "nearest" then
    local nm = attr(node, "nearest_mode", "round_prefer_floor")
    if node.op == "Upsample" or node.opset < 11 then nm = "floor" end
    if ctm ~= "asymmetric" or nm ~= "floor" then
      fail("%s: nearest with coordinate_transformation_mode '%s' and nearest_mode '%s' is not supported (asymmetric + floor is)", node.op, ctm, nm)
    end
    opts = {mode = "nearest"}
  elseif mode == "linear" or mode == "bilinear" then
    if ctm == "half_pixel" or ctm == "pytorch_half_pixel" then
      opts = {mode = "bilinear", align_corners = false}
    elseif ctm == "align_corners" then
      opts = {mode = "bilinear", align_corners = true}
    else
      fail("%s: linear with coordinate_transformation_mode '%s' is not supported (half_pixel, align_corners are)", node.op, ctm)
    end
  else
    fail("%s: mode '%s' is not supported (nearest, linear)", node.op, mode)
  end
  if x:dim() ~= 4 then fail("%s: input %s is not N x C x H x W", node.op, Module.shape_of(x)) end
  local shape = x:shape()
  local h, w
  local sizes = node.op == "Resize" and (node.opset >= 11 and ins[4])
  local scales = node.op == "Resize" and (node.opset >= 11 and ins[3] or ins[2]) or ins[2] or attr(node, "scales")
  if sizes and (is_ivec(sizes) and #sizes.v > 0 or core.is_tensor(sizes)) then
    local s = to_ivec(sizes, node.op).v
    h, w = s[#s - 1], s[#s]
  else
    local s = scales and (type(scales) == "table" and not is_ivec(scales) and scales or flat_numbers(scales))
    if not s or #s ~= 4 then fail("%s: needs 4 scales or sizes", node.op) end
    if s[1] ~= 1 or s[2] ~= 1 then fail("%s: scales on the batch or channel dim are not supported", node.op) end
    h, w = math.floor(shape[3] * s[3] + 1e-6), math.floor(shape[4] * s[4] + 1e-6)
  end
  return core.interpolate(x, h, w, opts)
end
ops.Upsample = ops.Resize

-- Gemm in general: alpha * A' B' + beta * C (Linear covers the usual case).
function ops.Gemm(node, ins)
  local a, b = to_tensor(ins[1]), to_tensor(ins[2])
  if attr(node, "transA", 0) ~= 0 then a = a:t() end
  if attr(node, "transB", 0) ~= 0 then b = b:t() end
  local y = core.matmul(a, b)
  local alpha, beta = attr(node, "alpha", 1.0), attr(node, "beta", 1.0)
  if alpha ~= 1 then y = y * alpha end
  if ins[3] then y = y + (beta ~= 1 and to_tensor(ins[3]) * beta or to_tensor(ins[3])) end
  return y
end

function ops.MatMul(node, ins)
  local a, b = to_tensor(ins[1]), to_tensor(ins[2])
  if a:dim() > 2 and b:dim() == 2 then
    local shape = a:shape()
    local lead = {table.unpack(shape, 1, #shape - 1)}
    local y = core.matmul(a:reshape(-1, shape[#shape]), b)
    lead[#lead + 1] = b:size(2)
    return y:reshape(lead)
  end
  return core.matmul(a, b)
end

local function pool_opts(node, what)
  local k = attr(node, "kernel_shape") or fail("%s: no kernel_shape", what)
  if #k ~= 2 then fail("%s: %d-D pooling is not supported (2-D is)", what, #k) end
  local s = attr(node, "strides", {1, 1})
  local p = attr(node, "pads", {0, 0, 0, 0})
  local d = attr(node, "dilations", {1, 1})
  local ap = attr(node, "auto_pad", "NOTSET")
  if ap ~= "NOTSET" and ap ~= "VALID" then fail("%s: auto_pad '%s' is not supported", what, ap) end
  return k, {stride = {s[1], s[2]}, padding = {p[1], p[2]}, dilation = {d[1], d[2]},
             ceil_mode = attr(node, "ceil_mode", 0) ~= 0}, (p[1] ~= p[3] or p[2] ~= p[4]) and p
end

function ops.MaxPool(node, ins)
  local k, o, asym = pool_opts(node, "MaxPool")
  local x = to_tensor(ins[1])
  if asym then
    x = core.pad(x, {asym[2], asym[4], asym[1], asym[3]}, {value = -math.huge})
    o.padding = {0, 0}
  end
  return core.max_pool2d(x, k, o)
end

function ops.AveragePool(node, ins)
  local k, o, asym = pool_opts(node, "AveragePool")
  if asym then fail("AveragePool: asymmetric pads %s are not supported", table.concat(asym, ",")) end
  o.count_include_pad = attr(node, "count_include_pad", 0) ~= 0
  return core.avg_pool2d(to_tensor(ins[1]), k, o)
end

function ops.GlobalAveragePool(node, ins) return core.adaptive_avg_pool2d(to_tensor(ins[1]), 1) end
-- }====================

-- {==================== modules

-- onnx.Node(op, attrs, opset, slots): an operator without weights; slots
-- lists, per ONNX input, "x" (a value from the graph), "" (omitted), an
-- ivec (a constant) or "t" (a constant tensor kept in the field const<i>).
local Node = class("onnx.Node", Module)
onnx.Node = Node

function Node:__init(op, attrs, opset, slots)
  Module.__init(self)
  self.op, self.attrs, self.opset, self.slots = op, attrs or {}, opset or 13, slots or {"x"}
  if not ops[op] then fail("onnx.Node: no operator %s", tostring(op)) end
end

function Node:update_output(args)
  local ins, j = {}, 0
  for i, s in ipairs(self.slots) do
    if s == "x" then j = j + 1; ins[i] = args[j]
    elseif s == "t" then ins[i] = self["const" .. i]
    elseif s ~= "" then ins[i] = s end
  end
  return ops[self.op](self, ins)
end

function Node:extra_repr() return "(" .. self.op .. ")" end
function Node:config() return {self.op, self.attrs, self.opset, self.slots} end
Node.takes_list = true

-- onnx.Graph: runs its steps in order. steps[i] = {inputs = {names},
-- outputs = {names}, pad = {l, r, t, b} (optional, applied first)};
-- module i computes step i. consts holds the constant ivecs by name.
local Graph = class("onnx.Graph", Module)
onnx.Graph = Graph

function Graph:__init(spec, ...)
  Module.__init(self)
  self.spec = spec
  self.file = spec.file
  self.modules_ = {...}
  self.by_output = {}
  for i, s in ipairs(spec.steps) do
    for _, o in ipairs(s.outputs) do self.by_output[o] = i end
  end
end

function Graph:children() return self.modules_ end
function Graph:config() return {self.spec} end

function Graph:add(m) self.modules_[#self.modules_ + 1] = m; return self end

-- A node by its module name (the ONNX node name), an output name, or the
-- name of an initializer it holds ("conv1.weight").
function Graph:find(name)
  if self.name == name then return self end
  for _, m in ipairs(self.modules_) do if m.name == name then return m end end
  local i = self.by_output[name]
  if i then return self.modules_[i] end
  for _, m in ipairs(self.modules_) do
    for _, n in pairs(m.onnx_params or {}) do if n == name then return m end end
  end
  return Module.find(self, name)
end


function Graph:update_output(x)
  local spec, env = self.spec, {}
  local inputs = type(x) == "table" and not core.is_tensor(x) and x or {x}
  for i, name in ipairs(spec.inputs) do
    env[name] = inputs[i] or fail("%s: input %d ('%s') missing", self.__name, i, name)
  end
  local consts = spec.consts
  for i, s in ipairs(spec.steps) do
    local m = self.modules_[i]
    local args = {}
    for k, name in ipairs(s.inputs) do
      local v = env[name]
      if v == nil then v = consts[name] end
      if v == nil then
        fail("in node '%s' (%s): input '%s' is not computed (an unused optional output?)", m.name, s.op, name)
      end
      args[k] = v
    end
    local arg = args
    if not m.takes_list then
      arg = args[1]
      if is_ivec(arg) then arg = to_tensor(arg) end
      if s.pad then arg = core.pad(arg, s.pad, {value = s.pad_value or 0}) end
    end
    local ok, y = pcall(m.forward, m, arg)
    if not ok then
      error(string.format("in node '%s' (%s) of %s: %s", m.name, s.op, self.file or self.__name, strip(y)), 0)
    end
    env[s.outputs[1]] = y
  end
  local outs = {}
  for i, name in ipairs(spec.outputs) do outs[i] = env[name] or consts[name] end
  return table.unpack(outs)
end

function Graph:__tostring()
  local lines = {(self.name and self.name .. ": " or "") .. self.__name .. "(" .. (self.spec.file or "") .. ", opset " ..
                 tostring(self.spec.opset) .. ") {"}
  for i, s in ipairs(self.spec.steps) do
    local m = self.modules_[i]
    local what = m.__name == "onnx.Node" and m.op or m.__name .. m:extra_repr()
    local shape = Module.shape_of(m.output)
    if is_ivec(m.output) then shape = "{" .. table.concat(m.output.v, ", ") .. "}" end
    lines[#lines + 1] = string.format("  (%d) %s: %s <- %s%s", i, m.name, what,
                                      table.concat(s.inputs, ", "), shape and "  -> " .. shape or "")
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end
-- }====================

-- {==================== building a graph from the reader's tables

local function const_of(t)
  if numel(t.dims) == 0 then return ivec(t.dims, {}) end -- an empty roi or sizes
  if t.ints and t.dtype ~= "FLOAT" and t.dtype ~= "DOUBLE" then return ivec(t.dims, t.ints) end
  if t.value then return t.value end
  return {missing = t.why or "no value"}
end

-- Weights as tensors (Conv, Gemm, BatchNormalization).
local function weight(node, name, consts, what)
  local v = consts[name]
  if v == nil then fail("onnx.load: node '%s' (%s): %s '%s' is not a constant", node.name, node.op, what, name) end
  if type(v) == "table" and v.missing then fail("onnx.load: node '%s' (%s): %s", node.name, node.op, v.missing) end
  return to_tensor(v):contiguous()
end

-- Builds a layer whose weights are replaced right after: no random
-- initialisation (1.7 s for VGG-16's first Linear, and it would move the
-- generator relua.seed sets), a stride-0 placeholder instead.
local function without_init(f, ...)
  local saved = Module.uniform_init
  Module.uniform_init = function(_, shape) return core.zeros(1):expand(shape) end
  local ok, m = pcall(f, ...)
  Module.uniform_init = saved
  if not ok then error(m, 0) end
  return m
end
onnx.without_init = without_init

local builders = {}

function builders.Conv(node, consts)
  local a = node.attrs
  local w = weight(node, node.inputs[2], consts, "weight")
  if w:dim() ~= 4 then return nil, "only 2-D convolutions are supported" end
  local b = node.inputs[3] and node.inputs[3] ~= "" and weight(node, node.inputs[3], consts, "bias")
  local ap = a.auto_pad or "NOTSET"
  if ap ~= "NOTSET" and ap ~= "VALID" then return nil, "auto_pad '" .. ap .. "' is not supported" end
  local g = a.group or 1
  local k = a.kernel_shape or {w:size(3), w:size(4)}
  local p = a.pads or {0, 0, 0, 0}
  local s, d = a.strides or {1, 1}, a.dilations or {1, 1}
  local sym = p[1] == p[3] and p[2] == p[4]
  local m = without_init(nn.Conv2d, w:size(2) * g, w:size(1), {k[1], k[2]},
                      {stride = {s[1], s[2]}, padding = sym and {p[1], p[2]} or {0, 0},
                       dilation = {d[1], d[2]}, groups = g, bias = b and true or false})
  m.weight, m.bias = w, b or nil
  m.onnx_params = {weight = node.inputs[2], bias = b and node.inputs[3] or nil}
  return m, nil, (not sym) and {p[2], p[4], p[1], p[3]} or nil
end

function builders.Gemm(node, consts)
  local a = node.attrs
  local B, C = consts[node.inputs[2]], node.inputs[3] and node.inputs[3] ~= "" and consts[node.inputs[3]]
  if (a.transA or 0) ~= 0 or not core.is_tensor(B) or B:dim() ~= 2 then return nil end
  if node.inputs[3] and node.inputs[3] ~= "" and not core.is_tensor(C) then return nil end
  local alpha, beta = a.alpha or 1.0, a.beta or 1.0
  local w = (a.transB or 0) ~= 0 and B or B:t()
  local nout = w:size(1)
  local bias
  if C then
    if C:numel() ~= nout and C:numel() ~= 1 then return nil end
    bias = C:reshape(-1):expand(nout):contiguous()
    if beta ~= 1 then bias = bias * beta end
  end
  if alpha ~= 1 then w = w * alpha end
  local m = without_init(nn.Linear, w:size(2), nout, {bias = bias ~= nil})
  m.weight, m.bias = w:contiguous(), bias
  m.onnx_params = {weight = node.inputs[2], bias = bias and node.inputs[3] or nil}
  return m
end

function builders.BatchNormalization(node, consts)
  local t = {}
  for i, k in ipairs {"weight", "bias", "running_mean", "running_var"} do
    t[k] = weight(node, node.inputs[i + 1], consts, k)
  end
  local m = nn.BatchNorm2d(t.weight:numel(), {eps = node.attrs.epsilon or 1e-5})
  m.onnx_params = {}
  for i, k in ipairs {"weight", "bias", "running_mean", "running_var"} do
    m[k] = t[k]:reshape(-1)
    m.onnx_params[k] = node.inputs[i + 1]
  end
  return m
end

local function simple(cls) return function() return cls() end end
builders.Relu = simple(nn.ReLU)
builders.Sigmoid = simple(nn.Sigmoid)
builders.Tanh = simple(nn.Tanh)
builders.Identity = simple(nn.Identity)
function builders.LeakyRelu(node) return nn.LeakyReLU(node.attrs.alpha or 0.01) end
function builders.GlobalAveragePool() return nn.AdaptiveAvgPool2d(1) end
function builders.Dropout(node, consts)
  local r = node.attrs.ratio or 0.5
  local c = node.inputs[2] and consts[node.inputs[2]]
  if c ~= nil and c ~= "" and (core.is_tensor(c) or is_ivec(c)) and #flat_numbers(c) == 1 then r = flat_numbers(c)[1] end
  return nn.Dropout(r) -- identity in evaluate()
end
function builders.Flatten(node)
  if (node.attrs.axis or 1) == 1 then return nn.Flatten(2, -1) end
end
function builders.Softmax(node)
  if node.opset >= 13 then return nn.Softmax((node.attrs.axis or -1) >= 0 and node.attrs.axis + 1 or node.attrs.axis or -1) end
end
function builders.LogSoftmax(node)
  if node.opset >= 13 then return nn.LogSoftmax((node.attrs.axis or -1) >= 0 and node.attrs.axis + 1 or node.attrs.axis or -1) end
end
local function pool_builder(cls, count_pad)
  return function(node)
    local ok, k, o, asym = pcall(pool_opts, node, node.op)
    if not ok or asym then return nil end
    if count_pad then o.count_include_pad = (node.attrs.count_include_pad or 0) ~= 0 end
    if cls == nn.MaxPool2d and #node.outputs > 1 and node.outputs[2] ~= "" then return nil end
    return cls({k[1], k[2]}, o)
  end
end
builders.MaxPool = pool_builder(nn.MaxPool2d, false)
builders.AveragePool = pool_builder(nn.AvgPool2d, true)

local function node_label(n, i)
  if n.name ~= "" then return n.name end
  return string.format("node %d (output '%s')", i - 1, n.outputs[1] or "?")
end

-- relua.onnx.load(path [, opts]) -> an onnx.Graph in evaluate() mode.
-- opts.fold = false keeps constant subgraphs as nodes (for inspection).
function onnx.load(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then fail("onnx.load: argument 1 (path) must be a string, got %s", type(path)) end
  local okr, g = pcall(core.onnx_read, path)
  if not okr then error(strip(g), 0) end
  local file = g.file
  local opset = g.opset
  if opset == 0 then fail("onnx.load: %s: the model imports no default-domain opset", file) end

  local consts = {}
  for _, t in ipairs(g.initializers) do consts[t.name] = const_of(t) end
  for _, t in ipairs(g.constants) do consts[t.name] = const_of(t) end

  local real_inputs = {}
  for _, v in ipairs(g.inputs) do
    if consts[v.name] == nil then real_inputs[#real_inputs + 1] = v.name end
  end

  -- Constant folding, in file order: a node whose inputs are all constants
  -- is computed now. Its outputs become constants; the node disappears.
  local kept = {}
  for i, n in ipairs(g.nodes) do
    local node = {op = n.op_type, name = node_label(n, i), attrs = n.attributes, opset = opset,
                  inputs = n.inputs, outputs = n.outputs, domain = n.domain}
    local foldable = n.domain == "" and (n.op_type == "Constant" or ops[n.op_type] ~= nil)
    local ins = {}
    if foldable and n.op_type ~= "Constant" then
      for k, name in ipairs(n.inputs) do
        if name ~= "" then
          local c = consts[name]
          if c == nil or (type(c) == "table" and c.missing) then foldable = false; break end
          ins[k] = c
        end
      end
    end
    if n.op_type == "Constant" then
      -- the reader has its value in consts already
    elseif foldable and opts.fold ~= false then
      local ok, y = pcall(ops[n.op_type], node, ins)
      if not ok then fail("onnx.load: %s: folding node '%s' (%s): %s", file, node.name, n.op_type, strip(y)) end
      consts[n.outputs[1]] = y
    else
      kept[#kept + 1] = node
    end
  end

  -- Shapes computed at run time (Shape of a tensor, then integer ops on it,
  -- as F.interpolate(size=...) exports Shape -> Slice -> Concat) are small
  -- integer arrays: the integer operators are allowed on them.
  local shape_valued = {}
  for name, c in pairs(consts) do if is_ivec(c) then shape_valued[name] = true end end
  for _, node in ipairs(kept) do
    local all = node.op == "Shape"
    if not all and shape_ops[node.op] and not (node.op == "Cast" and not int_types[node.attrs.to or 1]) then
      all = true
      for _, name in ipairs(node.inputs) do
        if name ~= "" and not shape_valued[name] then all = false end
      end
    end
    node.on_shapes = all
    if all then for _, o in ipairs(node.outputs) do shape_valued[o] = true end end
  end

  for _, node in ipairs(kept) do
    if node.domain ~= "" or not (core.onnx_op_supported(node.op) or node.on_shapes) then
      local op = node.domain ~= "" and node.domain .. ":" .. node.op or node.op
      fail("onnx: %s: node '%s' uses operator '%s' (opset %d), which relua does not support", file, node.name, op,
           node.domain ~= "" and (g.opsets[node.domain] or 0) or opset)
    end
  end

  -- Modules: nn layers where the operator is one, onnx.Node otherwise.
  local steps, mods, used_consts = {}, {}, {}
  for _, node in ipairs(kept) do
    local b = builders[node.op]
    local m, pad
    if b then
      local why
      m, why, pad = b(node, consts)
      if not m and why then fail("onnx.load: %s: node '%s' (%s): %s", file, node.name, node.op, why) end
    end
    local inputs = {}
    if m then
      inputs[1] = node.inputs[1]
    else
      local slots = {}
      for k, name in ipairs(node.inputs) do
        local c = name ~= "" and consts[name]
        if name == "" then slots[k] = ""
        elseif c == nil then slots[k] = "x"; inputs[#inputs + 1] = name
        elseif type(c) == "table" and c.missing then
          fail("onnx.load: %s: node '%s' (%s): input %d: %s", file, node.name, node.op, k, c.missing)
        elseif is_ivec(c) then slots[k] = c
        else slots[k] = "t" end
      end
      m = Node(node.op, node.attrs, opset, slots)
      for k, s in ipairs(slots) do
        if s == "t" then m["const" .. k] = consts[node.inputs[k]] end
      end
      m.onnx_params = {}
      for k, s in ipairs(slots) do if s == "t" then m.onnx_params["const" .. k] = node.inputs[k] end end
    end
    m:named(node.name)
    mods[#mods + 1] = m
    steps[#steps + 1] = {op = node.op, inputs = inputs, outputs = node.outputs, pad = pad}
  end

  -- Graph outputs that are constants, or ivec constants feeding shape ops,
  -- stay in the spec (plain data, saved with a checkpoint).
  local spec_consts = {}
  for _, s in ipairs(steps) do
    for _, name in ipairs(s.inputs) do
      if consts[name] ~= nil and is_ivec(consts[name]) then spec_consts[name] = consts[name] end
    end
  end
  local outputs = {}
  for i, v in ipairs(g.outputs) do
    outputs[i] = v.name
    local c = consts[v.name]
    if c ~= nil then
      spec_consts[v.name] = is_ivec(c) and c or to_ivec(c, "output")
    end
  end
  local spec = {file = file:match("[^/]*$"), opset = opset, inputs = real_inputs, outputs = outputs,
                steps = steps, consts = spec_consts}
  local model = Graph(spec, table.unpack(mods))
  model.file = file
  model.onnx = {inputs = g.inputs, outputs = g.outputs, producer = g.producer_name, ir_version = g.ir_version}
  return model:evaluate()
end

onnx.ops = ops
onnx.is_ivec = is_ivec

local has_help, help = pcall(require, "relua.help")
if has_help then
  help.doc(onnx.load, [[
relua.onnx.load(path [, {fold = true}]) builds a model from an ONNX file
(opsets 11-17, and Upsample of opset 9). Nodes become modules named as
in the file (model:find("/layer4/layer4.1/conv2/Conv"), or by an output or
initializer name); Conv/Gemm/BatchNormalization are nn.Conv2d/nn.Linear/
nn.BatchNorm2d. Returns an onnx.Graph in evaluate() mode. docs/onnx-models.md]])
end
-- }====================

return onnx
