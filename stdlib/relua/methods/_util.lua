-- relua.methods._util: what the attribution methods share.
--
--   score(out, target)          the explained scalar per sample (N values)
--   target_rows(target, pieces) a row-wise target rebuilt for a batch of pieces
--   batched{...}                runs k copies of an N-sample batch in chunks
--   cat(list)                   tensors joined along dim 1, any number of them
--   forward(model, x)           a module's forward, or the function applied
--   per_sample(v, t)            N values v shaped N x 1 x ... to scale the samples of t
--   range(x)                    max - min of every sample, N x 1 x ... x 1
--   seed_for(seed, j)           the seed of the j-th random draw of a method
--   check_input, check_target   argument errors that name the method
--   layer_of(model, layer, name)  the module behind opts.layer
--   upsample(map, h, w, mode)   a CAM map resized to the input
--   cam_options, cam_grads, cam_finish  the CAM methods' common steps
--   legendre(n), quadrature(method, n)  integration points and weights
--   blur(x, sigma)              a Gaussian blur of N x C x H x W images
--   baseline(name, x, opts)     the baselines of path and reference methods
--   seed_option, batch_option, progress_option  shared option specs
local core = require "relua.core"

local U = {}

-- Messages name the method; no position (the call comes through the registry).
local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- Shape of t with the batch dim replaced by n.
local function rows_shape(t, n)
  local s = t:shape()
  s[1] = n
  return s
end
U.rows_shape = rows_shape

-- A view of the N values v as N x 1 x ... x 1, to scale the samples of t.
function U.per_sample(v, t)
  local s = {v:numel()}
  for _ = 2, t:dim() do s[#s + 1] = 1 end
  return v:reshape(s)
end

-- The scalar a method explains, per sample, as relua.grad defines the
-- target: nil the sum of the output, c the logit c, N classes one logit
-- per sample, a seed tensor <seed, output>, a function the sum of its
-- result over every dim but the first.
function U.score(out, target)
  local n = out:size(1)
  if target == nil then return out:reshape(n, -1):sum(2) end
  if math.type(target) == "integer" then return out:select(2, target) end
  if type(target) == "function" then
    local r = target(out)
    if not core.is_tensor(r) then fail("target function returned a %s, not a tensor", type(r)) end
    if r:dim() == 0 then
      if n ~= 1 then fail("target function must return one value per sample, got a 0-dim tensor for %d samples", n) end
      return r:reshape(1)
    end
    if r:size(1) ~= n then fail("target function must return one value per sample (%d), got %d rows", n, r:size(1)) end
    return r:reshape(n, -1):sum(2)
  end
  if target:dim() == 1 and out:dim() == 2 and target:size(1) == n and out:size(2) ~= 1 then
    return out:gather(2, target:reshape(n, 1)):reshape(n)
  end
  return (out * target):reshape(n, -1):sum(2)
end

-- A row-wise target (a class tensor or a seed tensor, whose dim 1 runs over
-- the samples) rebuilt for a batch made of pieces {copy, first, count};
-- integers, nil and functions apply to any batch as they are.
function U.target_rows(target, pieces)
  if not core.is_tensor(target) then return target end
  if target:dim() == 0 then return target end
  local parts = {}
  for k, p in ipairs(pieces) do parts[k] = target:narrow(1, p[2], p[3]) end
  return U.cat(parts)
end

-- model(x): a module's forward, or a function of the input.
function U.forward(model, x)
  if type(model) == "function" then return model(x) end
  return model:forward(x)
end

-- Checks target against N samples early, with a message that names the method.
function U.check_target(name, target, n)
  local t = type(target)
  if target == nil or math.type(target) == "integer" or t == "function" then return end
  if not core.is_tensor(target) then
    fail("%s: target must be nil, a class index, a tensor or a function, got %s", name, math.type(target) or t)
  end
  if target:dim() == 0 or target:size(1) ~= n then
    fail("%s: a target tensor needs one row per sample (%d), got [%s]", name, n, table.concat(target:shape(), " x "))
  end
end

-- The tensors of a list joined along dim 1, 64 at a time (cat's limit).
function U.cat(list)
  while #list > 1 do
    local joined = {}
    for i = 1, #list, 64 do
      local group = table.move(list, i, math.min(i + 63, #list), 1, {})
      joined[#joined + 1] = #group == 1 and group[1] or core.cat(group, 1)
    end
    list = joined
  end
  return list[1]
end

-- Runs k copies of an N-sample batch as batches of at most batch_size rows
-- (row r is sample (r-1) % N + 1 of copy (r-1) // N + 1): one call of
-- run(input, target, pieces) per chunk, with input the pieces made by
-- make(copy, first, count) joined along dim 1; then emit(copy, first,
-- count, rows) once per piece with its rows of what run returned (a
-- tensor, or a list of tensors sliced alike). progress(done, total) after
-- each chunk.
function U.batched(o)
  local k, n = o.copies, o.n
  local total = k * n
  local size = o.batch_size or total
  local done = 0
  local row = 0
  while row < total do
    local count = math.min(size, total - row)
    local pieces, inputs = {}, {}
    local r, left = row, count
    while left > 0 do
      local copy, first = r // n + 1, r % n + 1
      local c = math.min(left, n - first + 1)
      pieces[#pieces + 1] = {copy, first, c}
      inputs[#inputs + 1] = o.make(copy, first, c)
      r, left = r + c, left - c
    end
    local input = U.cat(inputs)
    local result = o.run(input, U.target_rows(o.target, pieces), pieces)
    local at = 1
    for _, p in ipairs(pieces) do
      local rows
      if core.is_tensor(result) then rows = result:narrow(1, at, p[3])
      else
        rows = {}
        for j, t in ipairs(result) do rows[j] = t:narrow(1, at, p[3]) end
      end
      o.emit(p[1], p[2], p[3], rows)
      at = at + p[3]
    end
    row = row + count
    done = done + count
    if o.progress then o.progress(done, total) end
  end
end

-- max - min of each sample of x, shaped N x 1 x ... x 1.
function U.range(x)
  local n = x:size(1)
  local flat = x:reshape(n, -1)
  return U.per_sample(flat:max(2) - flat:min(2), x)
end

-- The seed of draw j of a method called with seed s: draws are independent
-- of how the samples are chunked, and the same s gives the same bytes.
function U.seed_for(s, j)
  return (s * 1000003 + j * 7919) % 2147483647
end

-- The module opts.layer names (a name given with :named, or a module).
function U.layer_of(model, layer, name)
  if type(model) ~= "table" or type(model.find) ~= "function" then
    fail("%s: the model must be a module (a layer is chosen by name)", name)
  end
  if type(layer) == "table" then return layer end
  local m = model:find(layer)
  if not m then fail("%s: no layer '%s' in the model", name, tostring(layer)) end
  return m
end

-- A CAM map N x 1 x h x w resized to H x W.
function U.upsample(map, h, w, mode)
  if map:size(3) == h and map:size(4) == w then return map end
  if mode == "bilinear" then return map:interpolate(h, w, {mode = "bilinear", align_corners = false}) end
  return map:interpolate(h, w, {mode = "nearest"})
end

-- Options every batching method shares.
U.batch_option = {type = "integer", min = 1, doc = "rows per forward/backward pass (default: all at once)"}
U.progress_option = {type = "function", doc = "called as progress(done, total) after each batch"}
U.seed_option = {default = 0, type = "integer", doc = "seed of every random draw"}

-- Registers a method that is the gradient with every ReLU's backward
-- replaced by `rule` (guided backprop, deconvnet): spec has name, doc, paper.
function U.relu_rule_method(spec, rule)
  local grad = require "relua.grad"
  local methods = require "relua.methods"
  return methods.register{
    name = spec.name, doc = spec.doc, paper = spec.paper, options = {}, rule = rule,
    fn = function(model, input, target, opts)
      U.check_input(spec.name, input)
      U.check_target(spec.name, target, input:size(1))
      local g, _, out = grad(model, input, target, {rules = {relu = rule}})
      return g, {output = out:detach()}
    end,
  }
end

function U.check_input(name, input, min_dim)
  if not core.is_tensor(input) then fail("%s: input must be a tensor, got %s", name, type(input)) end
  if input:dim() < (min_dim or 2) then
    fail("%s: input must be a batch (N x ...), got [%s]", name, table.concat(input:shape(), " x "))
  end
end

-- Nodes and weights of n-point Gauss-Legendre quadrature on [-1, 1]: the
-- roots of the Legendre polynomial P_n by Newton's method from Tricomi's
-- guess, weights 2 / ((1 - t^2) P_n'(t)^2); ascending.
function U.legendre(n)
  local t, w = {}, {}
  for i = 1, n do
    local x = math.cos(math.pi * (i - 0.25) / (n + 0.5))
    local dp
    for _ = 1, 100 do
      local p0, p1 = 1.0, x                 -- P_0, P_1; then the three-term recurrence
      for k = 2, n do p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k end
      dp = n * (x * p1 - p0) / (x * x - 1)
      local dx = p1 / dp
      x = x - dx
      if math.abs(dx) < 1e-15 then break end
    end
    t[n + 1 - i], w[n + 1 - i] = x, 2 / ((1 - x * x) * dp * dp)
  end
  return t, w
end

-- Points a_k in [0, 1] and weights s_k (summing to 1) of each quadrature.
function U.quadrature(method, n)
  local a, s = {}, {}
  if method == "gausslegendre" then
    local t, w = U.legendre(n)
    for k = 1, n do a[k], s[k] = 0.5 * (1 + t[k]), 0.5 * w[k] end
    return a, s
  end
  for k = 1, n do
    s[k] = 1 / n
    if method == "riemann_left" then a[k] = (k - 1) / n
    elseif method == "riemann_right" then a[k] = k / n
    elseif method == "riemann_middle" then a[k] = (k - 0.5) / n
    else  -- trapezoid: linspace(0, 1, n), ends weighted half
      a[k] = n == 1 and 0.5 or (k - 1) / (n - 1)
      s[k] = n == 1 and 1 or ((k == 1 or k == n) and 0.5 or 1) / (n - 1)
    end
  end
  return a, s
end

-- The input blurred by a Gaussian of std sigma per channel: a depthwise
-- conv2d (groups = C), normalised by the blurred ones so that the zero
-- padding does not darken the border.
function U.blur(x, sigma)
  if x:dim() ~= 4 then error("blur: the input needs N x C x H x W input, got [" .. table.concat(x:shape(), " x ") .. "]", 0) end
  local c, h, w = x:size(2), x:size(3), x:size(4)
  local r = math.max(1, math.min(math.ceil(3 * sigma), math.max(h, w) - 1))
  local g = {}
  for i = -r, r do g[#g + 1] = math.exp(-i * i / (2 * sigma * sigma)) end
  local k1 = core.tensor(g)
  local k2 = k1:reshape(-1, 1) * k1:reshape(1, -1)
  local kernel = (k2 / k2:sum()):reshape(1, 1, 2 * r + 1, 2 * r + 1):expand(c, 1, 2 * r + 1, 2 * r + 1):contiguous()
  return core.no_grad(function()
    local num = core.conv2d(x:detach(), kernel, nil, {padding = r, groups = c})
    local den = core.conv2d(core.ones(1, c, h, w), kernel, nil, {padding = r, groups = c})
    return num / den
  end)
end

-- {====================================================================
-- CAM methods: a layer's activations A and gradients G, a map at the
-- layer's resolution, then ReLU, normalisation and upsampling.
-- =====================================================================

U.cam_options = function(extra)
  local o = {
    layer = {type = {"string", "table"}, doc = "the layer (its name, or the module): required"},
    relu = {default = true, type = "boolean", doc = "ReLU on the map"},
    normalize = {default = false, type = "boolean", doc = "rescale each map to [0, 1] (pytorch-grad-cam)"},
    interpolation = {default = "bilinear", values = {"bilinear", "nearest"}, doc = "upsampling to the input size"},
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- The layer's module, checked: opts.layer given, input N x C x H x W.
function U.cam_layer(name, model, input, target, opts)
  if core.is_tensor(input) and input:dim() ~= 4 then
    fail("%s: input must be N x C x H x W, got [%s]", name, table.concat(input:shape(), " x "))
  end
  U.check_input(name, input)
  U.check_target(name, target, input:size(1))
  if opts.layer == nil then fail("%s: option 'layer' is required (a layer name or module)", name) end
  return U.layer_of(model, opts.layer, name)
end

-- The activations (output) of the layer in a forward pass, N x K x h x w.
function U.cam_activation(name, m)
  local a = m.output
  if not core.is_tensor(a) or a:dim() ~= 4 then
    fail("%s: layer %s must give N x K x h x w activations, got %s", name, tostring(m.name or m.__name),
      core.is_tensor(a) and "[" .. table.concat(a:shape(), " x ") .. "]" or "none")
  end
  return a:detach()
end

-- Activations and their gradients at the layer, from one backward pass.
function U.cam_grads(name, model, input, target, opts)
  local grad = require "relua.grad"
  local m = U.cam_layer(name, model, input, target, opts)
  local _, at, out = grad(model, input, target, {at = {m}})
  return U.cam_activation(name, m), at[1], out:detach()
end

-- attribution (the map upsampled and repeated over the input's channels)
-- and info {map = N x 1 x h x w, upsampled = N x 1 x H x W}.
function U.cam_finish(map, input, opts, info)
  if opts.relu then map = map:clamp(0) end
  if opts.normalize then
    local n = map:size(1)
    local flat = map:reshape(n, -1)
    local lo = U.per_sample(flat:min(2), map)
    local hi = U.per_sample(flat:max(2), map)
    map = (map - lo) / (hi - lo + 1e-7)
  end
  local up = U.upsample(map, input:size(3), input:size(4), opts.interpolation)
  info = info or {}
  info.map, info.upsampled = map, up
  return up:expand(input:shape()):contiguous(), info
end

-- }====================================================================

-- {====================================================================
-- Baselines (integrated gradients, deeplift, occlusion)
-- =====================================================================

U.baseline_option = {default = "zero", type = {"string", "number", "tensor"},
  check = function(v)
    if type(v) == "string" and v ~= "zero" and v ~= "blur" and v ~= "uniform" then
      return "must be zero, blur, uniform, a number or a tensor, got " .. v
    end
  end,
  doc = "zero, a constant, blur, uniform or a tensor"}
U.baseline_options = {
  sigma = {default = 5.0, type = "number", min = 1e-3, doc = "std of the blur baseline, in pixels"},
  low = {type = "number", doc = "lower bound of the uniform baseline (default: each sample's minimum)"},
  high = {type = "number", doc = "upper bound of the uniform baseline (default: each sample's maximum)"},
}

-- The baseline opts.baseline describes, as a tensor of the input's shape:
-- "zero", a number, "blur" (opts.sigma), "uniform" (opts.low, opts.high,
-- opts.seed) or a tensor broadcastable to the input.
function U.baseline(name, input, opts)
  local b = opts.baseline
  if b == "zero" then return core.zeros(input:shape()) end
  if type(b) == "number" then return core.full(input:shape(), b) end
  if b == "blur" then return U.blur(input, opts.sigma) end
  if b == "uniform" then
    local n = input:size(1)
    local flat = input:reshape(n, -1)
    local lo = opts.low and core.full(n, opts.low) or flat:min(2)
    local hi = opts.high and core.full(n, opts.high) or flat:max(2)
    local u = core.rand(input:shape(), {seed = U.seed_for(opts.seed, 0)})
    return U.per_sample(lo, input) + u * U.per_sample(hi - lo, input)
  end
  -- a tensor: the input's shape, or broadcastable to it
  local ok, full = pcall(function() return (b + core.zeros(input:shape())):contiguous() end)
  if not ok or table.concat(full:shape(), ",") ~= table.concat(input:shape(), ",") then
    error(string.format("%s: baseline [%s] does not broadcast to the input [%s]", name,
      table.concat(b:shape(), " x "), table.concat(input:shape(), " x ")), 0)
  end
  return full
end

-- }====================================================================

return U
