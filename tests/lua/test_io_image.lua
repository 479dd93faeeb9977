-- relua.image: PNG load/save, preprocessing; relua.colormap. (The C kernels are tested in tests/c/test_image.c.)
local T = require "harness"
local relua = require "relua"
local image = relua.image

local data = "../data/"
local function tmp(ext) local p = os.tmpname() os.remove(p) return p .. ext end

T.test("load: every fixture matches its expected tensor", function()
  for _, name in ipairs{"gray16", "ga8", "pal8", "gray1", "pal4trns", "rgb8key", "rgba16i"} do
    local img = image.load(data .. name .. ".png", {mode = "asis"})
    local want = relua.npy.load(data .. name .. ".expected.npy")
    T.check(table.concat(img:shape(), "x") == table.concat(want:shape(), "x"), name .. " shape")
    T.close(img, want, 1e-7, name)
  end
end)

T.test("load: modes convert channels", function()
  local rgb = image.load(data .. "pal8.png")             -- default: as stored (3 channels)
  T.check(rgb:size(1) == 3, "default keeps RGB")
  local g = image.load(data .. "pal8.png", {mode = "gray"})
  T.check(g:size(1) == 1, "gray has one channel")
  local luma = rgb[1] * 0.299 + rgb[2] * 0.587 + rgb[3] * 0.114
  T.close(g[1], luma, 3e-3, "gray is ITU-R 601 luma")
  local rgba = image.load(data .. "gray16.png", {mode = "rgba"})
  T.check(rgba:size(1) == 4, "rgba has 4 channels")
  T.close(rgba[4], relua.ones(5, 7), 0, "alpha 1 where the file has none")
  T.close(rgba[1], rgba[3], 0, "gray replicated")
end)

T.test("save and load round-trip 8-bit values exactly", function()
  for _, c in ipairs{1, 2, 3, 4} do
    local t = (relua.rand(c, 6, 9, {seed = c}) * 255):clamp(0, 255)
    local k = relua.tensor(t)          -- round to integers k / 255
    local tt = k:totable()
    for a = 1, c do for b = 1, 6 do for d = 1, 9 do tt[a][b][d] = math.floor(tt[a][b][d] + 0.5) / 255 end end end
    local img = relua.tensor(tt)
    local path = tmp(".png")
    image.save(path, img)
    local back = image.load(path, {mode = "asis"})
    os.remove(path)
    T.check(back:size(1) == c, "channels " .. c)
    T.close(back, img, 1e-7, "round trip " .. c)
  end
  local path = tmp(".png")
  image.save(path, relua.rand(1, 3, 4, 5, {seed = 9}))   -- 1 x C x H x W is accepted
  T.check(image.load(path):size(1) == 3, "batch of one saved as RGB")
  os.remove(path)
end)

T.test("resize, center_crop, normalize, stack", function()
  local x = relua.tensor{{{0, 1, 2, 3}}}                 -- 1 x 1 x 4
  T.close(image.resize(x, 1, 2), relua.tensor{{{5 / 7, 16 / 7}}}, 1e-6, "antialiased shrink (PIL)")
  T.close(image.resize(x, 1, 2, {antialias = false}), relua.tensor{{{0.5, 2.5}}}, 1e-6, "plain bilinear")
  local y = relua.arange(30):reshape(1, 5, 6)
  local c = image.center_crop(y, 3, 2)
  T.close(c, relua.tensor{{{8, 9}, {14, 15}, {20, 21}}}, 0, "center crop rows 2-4, cols 3-4")
  T.check(image.center_crop(y, 3):size(3) == 3, "w defaults to h")
  T.check(image.resize_short(relua.zeros(3, 300, 451), 256):size(3) == 384, "shorter side 256")
  local ones = relua.ones(3, 2, 2)
  local n = image.normalize(ones, "imagenet")
  T.close(n[1][1][1], (1 - 0.485) / 0.229, 1e-6, "imagenet red")
  T.close(n[3][2][2], (1 - 0.406) / 0.225, 1e-6, "imagenet blue")
  local m = image.normalize(ones, {mean = 0.5, std = 0.25})
  T.close(m, relua.full(3, 2, 2, 2), 1e-6, "one mean and std for every channel")
  local m2 = image.normalize(ones, {mean = {0, 0.5, 1}, std = 0.5})
  T.close(m2:select(2, 1):select(2, 1), relua.tensor{2, 1, 0}, 1e-6, "per-channel mean, shared std")
  local s = image.stack{ones, ones * 2}
  T.check(s:dim() == 4 and s:size(1) == 2, "stacked")
  T.close(s[2], ones * 2, 0, "second image")
end)

T.test("preprocess: torchvision's Resize(256), CenterCrop(224), Normalize", function()
  local src = relua.rand(3, 40, 60, {seed = 3})
  local path = tmp(".png")
  image.save(path, src)
  local img = image.load(path)
  local want = image.normalize(image.center_crop(image.resize_short(img, 36), 32), "imagenet"):unsqueeze(1)
  local x = image.preprocess(path, {size = 32, resize = 36})
  T.check(table.concat(x:shape(), "x") == "1x3x32x32", "1 x 3 x 32 x 32")
  T.close(x, want, 1e-6, "the chain")
  local d = image.preprocess(path, {size = 32})         -- resize defaults to size * 256 / 224 = 36
  T.close(d, want, 1e-6, "default resize")
  local raw = image.preprocess(path, {size = 16, crop = false, normalize = "none"})
  T.close(raw[1], image.resize(img, 16, 16), 1e-6, "crop = false squashes, normalize none")
  local g = image.preprocess(path, {size = 8, mode = "gray", normalize = {mean = {0.5}, std = {0.5}}})
  T.check(g:size(2) == 1, "gray input")
  local t = image.preprocess(img, {size = 32, resize = 36})
  T.close(t, want, 1e-6, "a tensor instead of a path")
  os.remove(path)
end)

T.test("errors name the function and the file", function()
  T.check_error("image.load: ../data/nope.png", image.load, data .. "nope.png")
  T.check_error("not a PNG file", image.load, data .. "bool.npy")
  T.check_error("option 'mode' is 'cmyk'", image.load, data .. "pal8.png", {mode = "cmyk"})
  T.check_error("image.normalize: normalize has 2 channel statistics, the image has 3 channels",
    image.normalize, relua.ones(3, 2, 2), {mean = {0, 0}, std = {1, 1}})
  T.check_error("normalize 'imagenette'", image.normalize, relua.ones(3, 2, 2), "imagenette")
  T.check_error("option 'size' must be a positive integer", image.preprocess, data .. "pal8.png", {size = 0})
  T.check_error("option 'size' must be a positive integer", image.preprocess, data .. "pal8.png", {size = 2^62})
  T.check_error("image.resize: size 1142857 is out of range", image.preprocess, data .. "pal8.png", {size = 1000000})
  T.check_error("image.resize: size 0 x 5 is out of range", image.resize, relua.ones(1, 2, 2), 0, 5)
  T.check_error("image.stack: entry 2 is a number", image.stack, {relua.ones(2), 3})
  T.check_error("image.save", image.save, "/nonexistent-dir/x.png", relua.ones(3, 2, 2))
  T.check_error("image.center_crop: a 3 x 3 crop does not fit in [1 x 2 x 2]", image.center_crop, relua.ones(1, 2, 2), 3)
end)

T.test("colormap: names, centre of bwr, errors", function()
  local names = relua.colormaps()
  T.check(#names == 8 and names[1] == "bwr", "eight maps, bwr first")
  local c = relua.colormap("bwr", relua.tensor{{-1, 0, 1}}, {vmin = -1, vmax = 1})
  T.check(c:size(1) == 3 and c:size(3) == 3, "3 x 1 x 3")
  T.close(c:select(3, 1), relua.tensor{{0}, {0}, {1}}, 1e-6, "-1 is blue")
  T.close(c:select(3, 3), relua.tensor{{1}, {0}, {0}}, 1e-6, "+1 is red")
  T.check(c[1][1][2] > 0.99 and c[3][1][2] > 0.99, "0 is (near) white")
  T.check_error("unknown colour map 'rainbow'", relua.colormap, "rainbow", relua.zeros(2, 2))
  T.check_error("vmin < vmax", relua.colormap, "jet", relua.zeros(2, 2), {vmin = 1, vmax = 1})
  T.check_error("is not [H x W]", relua.colormap, "jet", relua.zeros(2, 2, 2))
end)

T.test("no tensor memory left behind", function()
  T.check(T.live_bytes() < 1e6, "live bytes bounded")
end)

T.done()
