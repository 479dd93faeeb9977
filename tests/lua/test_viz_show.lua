-- relua.viz.show: half-block rendering in 24-bit colour.
local T = require "harness"
local relua = require "relua"
local show = require "relua.viz.show"

local ESC = "\27"
local function cell(fg, bg)
  return string.format("%s[38;2;%d;%d;%dm%s[48;2;%d;%d;%dm\u{2580}", ESC, fg[1], fg[2], fg[3], ESC, bg[1], bg[2], bg[3])
end
local function bytes(rgb) -- a 3-vector in [0, 1] to rounded 0..255
  local t = rgb:totable()
  return {math.floor(t[1] * 255 + 0.5), math.floor(t[2] * 255 + 0.5), math.floor(t[3] * 255 + 0.5)}
end
local function lines(s)
  local out = {}
  for l in s:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

T.test("an image: one cell per column, upper pixel in front", function()
  local img = relua.tensor{{{1, 0}, {0, 1}}, {{0, 0.5}, {1, 0}}, {{0, 0}, {0, 1}}}  -- 3 x 2 x 2
  local s = show.render(img, {width = 2, min_width = 1})
  local l = lines(s)
  T.check(#l == 2, "one row of cells and the legend: " .. #l)
  local want = cell({255, 0, 0}, {0, 255, 0}) .. cell({0, 128, 0}, {255, 0, 255}) .. ESC .. "[0m"
  T.check(l[1] == want, "colours of the four pixels: " .. l[1]:gsub(ESC, "\\27"))
  T.check(l[2]:find("image [3 x 2 x 2] min 0 max 1", 1, true), "legend: " .. l[2])
end)

T.test("a signed map: bwr with zero at the centre", function()
  local m = relua.tensor{{2, -2}, {0, 1}}
  local c = relua.colormap("bwr", relua.tensor{{1, -1}, {0, 0.5}}, {vmin = -1, vmax = 1})
  local s = show.render(m, {width = 2, min_width = 1, legend = false})
  local want = cell(bytes(c:select(2, 1):select(2, 1)), bytes(c:select(2, 2):select(2, 1)))
    .. cell(bytes(c:select(2, 1):select(2, 2)), bytes(c:select(2, 2):select(2, 2))) .. ESC .. "[0m\n"
  T.check(s == want, "exact escape codes")
  local pos = show.render(relua.tensor{{0, 1}, {0.5, 0.25}}, {width = 2, min_width = 1, legend = false})
  local inf = relua.colormap("inferno", relua.tensor{{0, 1}, {0.5, 0.25}})
  T.check(pos:find(cell(bytes(inf:select(2, 1):select(2, 1)), bytes(inf:select(2, 2):select(2, 1))), 1, true),
    "non-negative maps: min-max on inferno")
end)

T.test("odd heights, fitting the width, batches and channels", function()
  local s = show.render(relua.rand(3, 2, {seed = 1}), {width = 2, min_width = 1, legend = false})
  local l = lines(s)
  T.check(#l == 2, "3 rows of pixels make 2 lines")
  T.check(l[2]:find(ESC .. "[49m", 1, true), "the last lower half is the terminal's background")
  local wide = show.render(relua.rand(20, 100, {seed = 2}), {width = 25, legend = false})
  l = lines(wide)
  T.check(#l == 3, "100 wide shrunk to 25 columns: 5 pixel rows, 3 lines: " .. #l)
  local _, cells = l[1]:gsub("\u{2580}", "")
  T.check(cells == 25, "25 cells per line: " .. cells)
  local small = show.render(relua.rand(4, 4, {seed = 3}), {width = 80, legend = false})
  _, cells = lines(small)[1]:gsub("\u{2580}", "")
  T.check(cells == 32, "tiny maps enlarged to min_width 32: " .. cells)
  local b = show.render(relua.rand(1, 3, 6, 6, {seed = 4}), {width = 6, legend = false})
  T.check(#lines(b) == 3, "a batch of one image")
  local many = show.render(relua.randn(8, 6, 6, {seed = 5}), {width = 6})
  T.check(many:find("heatmap [8 x 6 x 6]", 1, true), "8 channels: summed to a heatmap")
end)

T.test("show prints; errors", function()
  local path = os.tmpname()
  local f = io.open(path, "w")
  show(relua.ones(2, 2), {out = f, width = 2, min_width = 1})
  f:close()
  f = io.open(path)
  local text = f:read("a")
  f:close()
  os.remove(path)
  T.check(text == show.render(relua.ones(2, 2), {width = 2, min_width = 1}), "show writes what render returns")
  T.check_error("show: expected a tensor", show.render, 3)
  T.check_error("is not [H x W], [C x H x W]", show.render, relua.zeros(2, 2, 2, 2, 2))
  local viz = require "relua.viz"
  T.check(viz.show == show, "viz.show is the same function")
  if rawget(_G, "help") then -- run by the relua executable: its preloaded globals
    T.check(rawget(_G, "show") == show, "show is a global of relua")
  end
end)

T.done()
