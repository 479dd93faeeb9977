-- relua.viz: heatmaps from attributions, overlays on the input, labelled
-- grids written as one PNG, and show(t) in the terminal.
--
--   local viz = require "relua.viz"
--   local rgb = viz.heatmap(attribution)                 -- 3 x H x W in [0, 1]
--   local ov  = viz.overlay(image, attribution, {alpha = 0.5})
--   viz.save_grid("out.png", {{image = image, label = "input"}, {image = ov, label = "saliency"}})
--
-- The pipeline of viz.heatmap, each step also a function of its own:
--   reduce     channels to one value per pixel: "sum" (default: signed
--              relevance, as Zennit's examples and Captum), "abs" (sum of
--              |R|), "l2" (the L2 norm over channels, the LRP Toolbox's
--              sensitivity), "max_abs" (max |R| over channels, Simonyan's
--              saliency map)
--   normalize  "symmetric" (default): R / max|R| in [-1, 1], zero stays at
--              the centre of a diverging map (Zennit's symmetric=True,
--              Captum's sign="all"); "minmax": (R - min) / (max - min) in
--              [0, 1]; "positive": max(R, 0) / max R in [0, 1] (CAMs);
--              "none": the values as they are, with opts.vmin / opts.vmax.
--              opts.percentile = 99.5 scales by the 99.5th percentile of
--              |R| (symmetric), of R (positive), or clips to the
--              [100 - p, p] percentiles (minmax) instead of the extremes, so
--              a few outliers do not wash the map out.
--   colour     a map of relua.colormaps(): "bwr" for symmetric maps (Zennit's
--              default), "inferno" for the one-sided ones.
-- No Lua runs per pixel except in labels (a few hundred pixels each).
local relua = require "relua.core"
local font = require "relua.viz.font"

local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end
local function shapestr(t) return "[" .. table.concat(t:shape(), " x ") .. "]" end

-- {==================== reduction and statistics

local reducers = {
  sum = function(r) return r:sum(1) end,
  abs = function(r) return r:abs():sum(1) end,
  l2 = function(r) return r:norm(2, 1) end,
  max_abs = function(r) return (r:abs():max(1)) end,
}

-- [C x H x W], [1 x C x H x W] or [H x W] -> [H x W].
function M.reduce(r, how)
  how = how or "sum"
  local f = reducers[how]
  if not f then fail("viz.reduce: unknown reduction '%s' (sum, abs, l2, max_abs)", tostring(how)) end
  if not relua.is_tensor(r) then fail("viz.reduce: expected a tensor, got %s", type(r)) end
  local d = r:dim()
  if d == 4 then
    if r:size(1) ~= 1 then fail("viz.reduce: %s holds %d samples: pass one (t[i])", shapestr(r), r:size(1)) end
    r = r[1]
    d = 3
  end
  if d == 2 then
    if how == "abs" or how == "max_abs" or how == "l2" then return r:abs() end
    return r
  end
  if d ~= 3 then fail("viz.reduce: %s is not [H x W], [C x H x W] or [1 x C x H x W]", shapestr(r)) end
  return f(r:detach())
end

-- The k-th smallest element (1-based) of the 1-D tensor a: quickselect
-- with whole-tensor passes. The pivot is an element of a (an order
-- statistic of an evenly spaced sample), so every round either answers or
-- drops the pivot and everything on one side of it; the last few thousand
-- candidates are sorted in Lua.
local function kth(a, k)
  while a:numel() > 4096 do
    local n, sample = a:numel(), {}
    for j = 1, 255 do sample[j] = a[(j - 1) * n // 255 + 1] end
    table.sort(sample)
    local pivot = sample[math.min(255, math.max(1, math.ceil(k / n * 255)))]
    local d = (a:neg() + pivot):sign()            -- 1 where a < pivot, 0 where equal, -1 above
    local lt, le = d:clamp(0, 1), (d + 1):clamp(0, 1)
    local c_lt, c_le = lt:sum():item(), le:sum():item()
    if k <= c_lt then
      a = a:masked_select(lt)
    elseif k <= c_le then
      return pivot
    else
      a = a:masked_select(le:neg() + 1)
      k = k - c_le
    end
  end
  local t = a:totable()
  table.sort(t)
  return t[k]
end

-- numpy.percentile(t, q) (linear interpolation between order statistics).
function M.percentile(t, q)
  if type(q) ~= "number" or q < 0 or q > 100 then fail("viz.percentile: q must be in [0, 100], got %s", tostring(q)) end
  local a = t:detach():reshape(-1)
  local n = a:numel()
  local pos = q / 100 * (n - 1)
  local i = math.floor(pos)
  local v = kth(a, i + 1)
  local frac = pos - i
  if frac == 0 or i + 1 >= n then return v end
  return v + (kth(a, i + 2) - v) * frac
end
-- }====================

-- {==================== normalisation and colour

local modes = {symmetric = true, minmax = true, positive = true, none = true}

-- h [H x W] (or any shape) -> normalised values, vmin, vmax for the colour map.
function M.normalize(h, opts)
  opts = opts or {}
  local mode = opts.normalize or opts.mode or "symmetric"
  if not modes[mode] then fail("viz.normalize: unknown mode '%s' (symmetric, minmax, positive, none)", tostring(mode)) end
  local p = opts.percentile
  if p ~= nil and (type(p) ~= "number" or p <= 0 or p > 100) then
    fail("viz.normalize: percentile must be in (0, 100], got %s", tostring(p))
  end
  h = h:detach()
  if mode == "none" then
    local vmin, vmax = opts.vmin or h:min():item(), opts.vmax or h:max():item()
    if not (vmax > vmin) then vmax = vmin + 1 end
    return h, vmin, vmax
  elseif mode == "symmetric" then
    local a = h:abs()
    local s = p and M.percentile(a, p) or a:max():item()
    if not (s > 0) then return relua.zeros(h:shape()), -1, 1 end
    return (h / s):clamp(-1, 1), -1, 1
  elseif mode == "positive" then
    local pos = h:clamp(0)
    local s = p and M.percentile(pos, p) or pos:max():item()
    if not (s > 0) then return relua.zeros(h:shape()), 0, 1 end
    return (pos / s):clamp(0, 1), 0, 1
  end
  local lo = p and M.percentile(h, 100 - p) or h:min():item()
  local hi = p and M.percentile(h, p) or h:max():item()
  if not (hi > lo) then return relua.zeros(h:shape()), 0, 1 end
  return ((h - lo) / (hi - lo)):clamp(0, 1), 0, 1
end

-- attribution -> [3 x H x W] RGB in [0, 1].
-- opts: reduce, normalize, percentile, cmap, vmin/vmax (normalize = "none"),
-- size = {h, w} (the reduced map is resized, bilinear, before colouring:
-- a Grad-CAM map at the input's size).
function M.heatmap(r, opts)
  opts = opts or {}
  local h = M.reduce(r, opts.reduce)
  if opts.size then
    local sh, sw = opts.size[1], opts.size[2]
    if h:size(1) ~= sh or h:size(2) ~= sw then h = relua.image.resize(h, sh, sw) end
  end
  local n, vmin, vmax = M.normalize(h, opts)
  local mode = opts.normalize or "symmetric"
  local cmap = opts.cmap or ((mode == "symmetric") and "bwr" or "inferno")
  return relua.colormap(cmap, n, {vmin = vmin, vmax = vmax})
end

-- An image for display: [3 x H x W] in [0, 1] from [C x H x W] (C = 1, 3
-- or 4: gray replicated, alpha dropped), [1 x C x H x W] or [H x W]. Values
-- outside [0, 1] (a normalised network input) are min-max scaled.
function M.to_display(x)
  if not relua.is_tensor(x) then fail("viz.to_display: expected a tensor, got %s", type(x)) end
  x = x:detach()
  if x:dim() == 4 and x:size(1) == 1 then x = x[1] end
  if x:dim() == 2 then x = x:unsqueeze(1) end
  if x:dim() ~= 3 then fail("viz.to_display: %s is not an image ([C x H x W], [1 x C x H x W] or [H x W])", shapestr(x)) end
  local c = x:size(1)
  if c == 4 then x = x:narrow(1, 1, 3)
  elseif c == 2 then x = x:narrow(1, 1, 1) end
  if c ~= 1 and c ~= 2 and c ~= 3 and c ~= 4 then
    fail("viz.to_display: %s has %d channels (1, 3 or 4 for an image)", shapestr(x), c)
  end
  local lo, hi = x:min():item(), x:max():item()
  if lo < 0 or hi > 1 then x = hi > lo and (x - lo) / (hi - lo) or x * 0 end
  if x:size(1) == 1 then x = x:expand(3, x:size(2), x:size(3)) end
  return x:contiguous()
end

-- The heatmap of attribution r blended over a grey version of img
-- (Captum's blended_heat_map): alpha * heat + (1 - alpha) * grey.
-- opts: alpha = 0.5, gray = true (false keeps the image's colours), and
-- every option of viz.heatmap.
function M.overlay(img, r, opts)
  opts = opts or {}
  local alpha = opts.alpha or 0.5
  if type(alpha) ~= "number" or alpha < 0 or alpha > 1 then fail("viz.overlay: alpha must be in [0, 1], got %s", tostring(alpha)) end
  local base = M.to_display(img)
  local H, W = base:size(2), base:size(3)
  if opts.gray ~= false then base = base:mean(1, {keepdim = true}):expand(3, H, W) end
  local hopts = {}
  for k, v in pairs(opts) do hopts[k] = v end
  hopts.size = {H, W}
  local heat = M.heatmap(r, hopts)
  return heat * alpha + base * (1 - alpha)
end
-- }====================

-- {==================== text and grids

-- [H x W] mask (1 = ink) of the string s in the 5 x 7 font, scaled by an integer.
function M.text(s, scale)
  scale = scale or 1
  local rows, w, h = font.bitmap(tostring(s))
  local t = relua.tensor(rows)
  if scale > 1 then t = t:reshape(1, 1, h, w):interpolate(h * scale, w * scale, {mode = "nearest"}):reshape(h * scale, w * scale) end
  return t
end

-- Writes s into canvas [3 x H x W] with its top-left pixel at (x, y), 1-based,
-- clipped to the canvas. opts: scale = 1, color = {0, 0, 0}.
function M.draw_text(canvas, s, x, y, opts)
  opts = opts or {}
  local mask = M.text(s, opts.scale)
  local H, W = canvas:size(2), canvas:size(3)
  local h, w = math.min(mask:size(1), H - y + 1), math.min(mask:size(2), W - x + 1)
  if h < 1 or w < 1 or x < 1 or y < 1 then return canvas end
  mask = mask:narrow(1, 1, h):narrow(2, 1, w)
  local color = relua.tensor(opts.color or {0, 0, 0}):reshape(3, 1, 1)
  local region = canvas:narrow(2, y, h):narrow(3, x, w)
  region:copy_(region * (1 - mask) + color * mask)
  return canvas
end

local function item_of(v, i)
  if relua.is_tensor(v) then return v, nil end
  if type(v) == "table" then
    local img = v.image or v[1]
    if relua.is_tensor(img) then return img, v.label or v[2] end
  end
  fail("viz.grid: item %d is a %s, not a tensor or {image = tensor, label = string}", i, type(v))
end

-- One image [3 x H x W] of the items in a grid, each under its label:
--   items  a list of tensors or {image = t, label = "..."} ({t, "..."} too);
--          images go through viz.to_display
--   opts   cols = #items, pad = 4, tile = {h, w} (default: the first item's
--          size, enlarged by an integer factor to at least min_tile = 128
--          pixels on its longer side: small inputs stay crisp),
--          background = 1 (white), color = {0, 0, 0} (labels)
function M.grid(items, opts)
  opts = opts or {}
  if type(items) ~= "table" or #items == 0 then fail("viz.grid: expected a non-empty list of images") end
  local imgs, labels, any_label = {}, {}, false
  for i, v in ipairs(items) do
    local img, label = item_of(v, i)
    imgs[i] = M.to_display(img)
    labels[i] = label and tostring(label) or nil
    any_label = any_label or label ~= nil
  end
  local th, tw
  if opts.tile then
    th, tw = opts.tile[1], opts.tile[2]
  else
    th, tw = imgs[1]:size(2), imgs[1]:size(3)
    local f = math.max(1, math.ceil((opts.min_tile or 128) / math.max(th, tw)))
    th, tw = th * f, tw * f
  end
  local n = #imgs
  local cols = math.min(opts.cols or n, n)
  local rows = (n + cols - 1) // cols
  local pad = opts.pad or 4
  local ls = tw >= 160 and 2 or 1 -- label scale
  local lh = any_label and font.line * ls + pad or 0
  local H, W = rows * (th + lh + pad) + pad, cols * (tw + pad) + pad
  local canvas = relua.full(3, H, W, opts.background or 1)
  for i, img in ipairs(imgs) do
    local r, c = (i - 1) // cols, (i - 1) % cols
    local x, y = pad + c * (tw + pad) + 1, pad + r * (th + lh + pad) + 1
    local h, w = img:size(2), img:size(3)
    if h ~= th or w ~= tw then
      if th % h == 0 and tw % w == 0 and th // h == tw // w then -- an integer enlargement: keep the pixels square
        img = img:unsqueeze(1):interpolate(th, tw, {mode = "nearest"})[1]
      else
        img = relua.image.resize(img, th, tw)
      end
    end
    canvas:narrow(2, y + lh, th):narrow(3, x, tw):copy_(img)
    local label = labels[i]
    if label then
      local fits = math.max(1, (tw + 1) // (font.advance * ls))
      if #label > fits then label = fits > 1 and label:sub(1, fits - 1) .. "~" or label:sub(1, fits) end
      local lw = (#label * font.advance - 1) * ls
      M.draw_text(canvas, label, x + math.max(0, (tw - lw) // 2), y, {scale = ls, color = opts.color})
    end
  end
  return canvas
end

-- viz.grid written to a PNG file.
function M.save_grid(path, items, opts)
  local g = M.grid(items, opts)
  relua.image.save(path, g)
  return g
end

-- viz.save(path, t): an image ([C x H x W] in [0, 1]) or, for any other
-- tensor, its heatmap (opts as viz.heatmap) to a PNG file.
function M.save(path, t, opts)
  local d = t:dim()
  local c = d == 3 and t:size(1) or (d == 4 and t:size(1) == 1 and t:size(2)) or nil
  if opts == nil and (c == 3 or c == 1) and t:min():item() >= 0 and t:max():item() <= 1 then
    relua.image.save(path, t)
  else
    relua.image.save(path, M.heatmap(t, opts))
  end
end
-- }====================

M.font = font
pcall(require, "relua.viz.docs") -- help() texts of relua.image & co. (needs relua.help)
setmetatable(M, {__index = function(_, k)
  if k == "show" then
    local show = require "relua.viz.show"
    rawset(M, "show", show)
    return show
  end
end})

return M
