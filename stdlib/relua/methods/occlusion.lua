-- occlusion: slide a window over each sample, replace what it covers by
-- the baseline, and give every element the mean, over the windows that
-- cover it, of the drop in the target's score f(x) - f(x occluded).
--   Zeiler, Fergus 2014, "Visualizing and Understanding Convolutional Networks".
--   window = 8: a number k occludes k x k over the last two dims (the last
--            dim for N x features) and every channel; a table {kh, kw} or
--            {kc, kh, kw} gives the trailing dims, earlier dims are covered whole
--   stride = the window (non-overlapping); a number or a table as window,
--            never larger than the window
--   baseline = 0, a number or a tensor broadcastable to the input
--   batch_size = 64 occluded inputs per forward
-- Window origins are 0, s, 2s, ... and the last window is cut at the border,
-- ceil((D - k) / s) + 1 of them per dim, as Captum's Occlusion; Captum's
-- defaults differ (stride 1, a window you must give). Zennit instead sums the
-- occluded score itself, without the difference or the mean.
local core = require "relua.core"
local methods = require "relua.methods"
local U = require "relua.methods._util"

local function size_list(what, v, shape, default)
  local d = #shape
  local out = {}
  if v == nil then
    for i = 1, d do out[i] = default[i] end
    return out
  end
  local given
  if type(v) == "number" then
    given = {}
    for i = 1, math.min(2, d) do given[i] = v end
  else given = v end
  if #given > d then
    error(string.format("occlusion: option '%s' has %d sizes for %d dims per sample", what, #given, d), 0)
  end
  for i = 1, d do
    local j = i - (d - #given)
    local k = j >= 1 and given[j] or shape[i]
    if math.type(k) ~= "integer" or k < 1 then
      error(string.format("occlusion: option '%s' must hold integers >= 1, got %s", what, tostring(k)), 0)
    end
    out[i] = math.min(k, shape[i])
  end
  return out
end

local function sizes_check(v)
  if type(v) == "table" then
    for _, k in ipairs(v) do
      if math.type(k) ~= "integer" or k < 1 then return "must hold integers >= 1, got " .. tostring(k) end
    end
    if #v == 0 then return "must not be empty" end
  end
end

return methods.register{
  name = "occlusion",
  doc = "mean drop of the target's score when windows covering each element are replaced by a baseline",
  paper = "Zeiler and Fergus 2014, Visualizing and Understanding Convolutional Networks",
  options = {
    window = {default = 8, type = {"integer", "table"}, min = 1, check = sizes_check, doc = "window size"},
    stride = {type = {"integer", "table"}, min = 1, check = sizes_check, doc = "window step (default: the window)"},
    baseline = {default = 0, type = {"number", "tensor"}, doc = "the value occluded elements take"},
    batch_size = {default = 64, type = "integer", min = 1, doc = "occluded inputs per forward pass"},
    progress = U.progress_option,
  },
  fn = function(model, input, target, opts)
    U.check_input("occlusion", input)
    local n = input:size(1)
    U.check_target("occlusion", target, n)
    local x = input:detach()
    local shape = x:shape()
    table.remove(shape, 1)
    local win = size_list("window", opts.window, shape)
    local stride = size_list("stride", opts.stride, shape, win)
    local counts = {}
    local windows = 1
    for i = 1, #shape do
      if stride[i] > win[i] then
        error(string.format("occlusion: stride %d is larger than the window %d in dim %d: elements would be skipped",
          stride[i], win[i], i + 1), 0)
      end
      counts[i] = math.ceil((shape[i] - win[i]) / stride[i]) + 1
      windows = windows * counts[i]
    end
    local base = core.is_tensor(opts.baseline) and U.baseline("occlusion", x, opts) or core.full(x:shape(), opts.baseline)

    -- The mask of window j (1-based, the last dim fastest): 1 inside.
    local function mask(j)
      local m = core.zeros(shape)
      local v = m
      j = j - 1
      for i = #shape, 1, -1 do
        local pos = j % counts[i]
        j = j // counts[i]
        local first = pos * stride[i]
        local len = math.min(win[i], shape[i] - first)
        v = v:narrow(i, first + 1, len)
      end
      v:fill_(1)
      return m
    end

    local fx = core.no_grad(function() return U.score(U.forward(model, x), target):contiguous() end)
    local total = core.zeros(x:shape())
    local cover = core.zeros(shape)
    local masks = {}
    core.no_grad(U.batched, {
      copies = windows, n = n, batch_size = opts.batch_size, target = target, progress = opts.progress,
      make = function(j, first, count)
        local m = masks[j] or mask(j)
        masks[j] = m
        local xs, bs = x:narrow(1, first, count), base:narrow(1, first, count)
        return xs + (bs - xs) * m
      end,
      run = function(batch, t) return U.score(U.forward(model, batch), t) end,
      emit = function(j, first, count, s)
        local m = masks[j]
        local drop = fx:narrow(1, first, count) - s
        local acc = total:narrow(1, first, count)
        acc:copy_(acc + U.per_sample(drop, acc) * m)
        if first == 1 then cover:copy_(cover + m) end
        if first + count - 1 == n then masks[j] = nil end
      end,
    })
    return total / cover, {f_x = fx, windows = windows, window = win, stride = stride}
  end,
}
