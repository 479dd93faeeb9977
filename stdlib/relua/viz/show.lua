-- relua.viz.show: a tensor drawn in the terminal with 24-bit colour.
--
--   show(t [, opts])      prints; show.render(t [, opts]) returns the text
--
-- Each character cell is the half block "▀" whose foreground colour is the
-- upper pixel and background the lower one, so a cell holds two square-ish
-- pixels. The picture is shrunk (antialiased) to fit the width: opts.width,
-- else the COLUMNS environment variable, else 80 columns; never enlarged
-- beyond opts.max_scale (default 1) times its size... except tiny inputs
-- (an 8 x 8 map would be 4 lines), which are enlarged to opts.min_width = 32.
--
-- What is drawn:
--   [H x W], [1 x H x W], [1 x 1 x H x W]  a heatmap: signed values with
--        the symmetric abs-max map (bwr), non-negative ones min-max (inferno)
--   [3 x H x W], [4 x H x W] (and [1 x C x H x W])  an RGB image; values
--        outside [0, 1] are min-max scaled
--   [C x H x W] with other C  the sum over channels, as a heatmap
-- opts.cmap, opts.normalize, opts.percentile, opts.reduce pass to
-- viz.heatmap. A line under the picture gives the shape and value range.
local relua = require "relua.core"

local M = {}

local function viz() return require "relua.viz" end

local function columns(opts)
  if opts.width then return opts.width end
  local c = tonumber(os.getenv("COLUMNS") or "")
  if c and c >= 8 then return math.floor(c) end
  return 80
end

-- The tensor as [3 x h x w] RGB in [0, 1], at the size it is drawn.
local function picture(t, opts)
  local v = viz()
  local x = t:detach()
  if x:dim() == 4 and x:size(1) == 1 then x = x[1] end
  if x:dim() == 3 and x:size(1) == 1 then x = x[1] end
  local image = x:dim() == 3 and (x:size(1) == 3 or x:size(1) == 4) and not opts.cmap and not opts.normalize
  if x:dim() ~= 2 and x:dim() ~= 3 then
    error(string.format("show: %s is not [H x W], [C x H x W] or [1 x C x H x W]",
      "[" .. table.concat(t:shape(), " x ") .. "]"), 3)
  end
  local H, W = x:size(x:dim() - 1), x:size(x:dim())
  local cols = columns(opts)
  local w = math.min(W * (opts.max_scale or 1), cols)
  if w < math.min(opts.min_width or 32, cols) then w = math.min(opts.min_width or 32, cols) end
  w = math.max(1, math.floor(w))
  local h = math.max(1, math.floor(H * w / W + 0.5))
  if image then
    local rgb = v.to_display(x)
    if h ~= H or w ~= W then rgb = relua.image.resize(rgb, h, w):clamp(0, 1) end
    return rgb, "image"
  end
  local m = x:dim() == 3 and v.reduce(x, opts.reduce) or x
  if h ~= H or w ~= W then m = relua.image.resize(m, h, w) end
  local hopts = {}
  for k, val in pairs(opts) do hopts[k] = val end
  if not hopts.normalize then hopts.normalize = m:min():item() < 0 and "symmetric" or "minmax" end
  return v.heatmap(m, hopts), "heatmap"
end

local function rgb_of(plane, i, j)
  return math.floor(plane[1][i][j] * 255 + 0.5), math.floor(plane[2][i][j] * 255 + 0.5),
    math.floor(plane[3][i][j] * 255 + 0.5)
end

-- The escape-coded text of t (one string, lines ending in "\n").
function M.render(t, opts)
  opts = opts or {}
  if not relua.is_tensor(t) then error("show: expected a tensor, got " .. type(t), 2) end
  local rgb, kind = picture(t, opts)
  local p = rgb:totable() -- the small, drawn-size picture: one Lua pass per cell is fine
  local h, w = #p[1], #p[1][1]
  local out = {}
  for i = 1, h, 2 do
    local line = {}
    for j = 1, w do
      local r, g, b = rgb_of(p, i, j)
      if i + 1 <= h then
        local r2, g2, b2 = rgb_of(p, i + 1, j)
        line[j] = string.format("\27[38;2;%d;%d;%dm\27[48;2;%d;%d;%dm\u{2580}", r, g, b, r2, g2, b2)
      else
        line[j] = string.format("\27[38;2;%d;%d;%dm\27[49m\u{2580}", r, g, b)
      end
    end
    out[#out + 1] = table.concat(line) .. "\27[0m\n"
  end
  if opts.legend ~= false then
    local x = t:detach()
    out[#out + 1] = string.format("%s [%s] min %.4g max %.4g\n", kind,
      table.concat(t:shape(), " x "), x:min():item(), x:max():item())
  end
  return table.concat(out)
end

-- Prints the picture to io.stdout (or opts.out, a file).
function M.show(t, opts)
  opts = opts or {}
  local s = M.render(t, opts)
  local f = opts.out or io.stdout
  f:write(s)
  f:flush()
end

return setmetatable(M, {__call = function(_, t, opts) return M.show(t, opts) end})
