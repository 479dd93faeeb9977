-- relua.viz.docs: help() texts of the C functions of lua/lio.c (relua.image,
-- relua.npy, relua.idx, relua.colormap), which have no comments to read.
-- docs/heatmaps.md is the long form.
local doc = require("relua.help").doc

doc("relua.image.load", [[
relua.image.load(path, {mode = "asis"}) -> C x H x W float32 in [0, 1]
PNG of any colour type and bit depth (libpng); mode "gray", "ga", "rgb",
"rgba" converts the channels, "asis" keeps what the file stores.]])
doc("relua.image.save", [[
relua.image.save(path, t): an 8-bit PNG from C x H x W (C = 1 to 4), H x W
or 1 x C x H x W; values clamped to [0, 1].]])
doc("relua.image.resize", [[
relua.image.resize(t, h, w, {antialias = true}) -> .. x h x w
Bilinear on pixel centres, antialiased when shrinking (PIL's filter,
torchvision's Resize(antialias=True)).]])
doc("relua.image.resize_short", [[
relua.image.resize_short(t, size, {antialias = true}): the shorter side becomes size
(torchvision's Resize(size) with an int).]])
doc("relua.image.center_crop", [[
relua.image.center_crop(t, h [, w]): the central window, torchvision's CenterCrop offsets.]])
doc("relua.image.normalize", [[
relua.image.normalize(t, "imagenet" | {mean = {...}, std = {...}}):
(x - mean[c]) / std[c] over the channel dim of C x H x W or N x C x H x W.]])
doc("relua.image.stack", [[
relua.image.stack{t1, t2, ...} -> n x ...: images of one shape in a batch.]])
doc("relua.image.preprocess", [[
relua.image.preprocess(path_or_image, {size = 224, resize = size * 256 // 224, crop = true,
                       normalize = "imagenet", mode = "rgb", antialias = true}) -> 1 x C x size x size
torchvision's Resize(resize), CenterCrop(size), ToTensor(), Normalize; crop = false
resizes the whole image to size x size. normalize: "imagenet", "none", {mean =, std =}.]])
doc("relua.npy.load", [[
relua.npy.load(path) -> tensor: a numpy .npy file (any numeric dtype, either
byte order, C or Fortran order) as float32.]])
doc("relua.npy.save", [[
relua.npy.save(path, t, {dtype = "f4"}): as numpy.save writes it; dtype "u1"
rounds and clamps to 0..255.]])
doc("relua.idx.load", [[
relua.idx.load(path, {limit = n, scale = false}) -> tensor: an IDX file (MNIST,
Fashion-MNIST), plain or gzip; limit reads the first n items, scale divides bytes by 255.]])
doc("relua.colormap", [[
relua.colormap(name, t, {vmin = 0, vmax = 1}) -> 3 x H x W RGB in [0, 1]
t is H x W, 1 x H x W (or N x 1 x H x W -> N x 3 x H x W); entry floor(256 u)
of a 256-entry table, u = (v - vmin) / (vmax - vmin), as matplotlib.
Names: relua.colormaps().]])
doc("relua.colormaps", [[
relua.colormaps() -> {"bwr", "seismic", "coolwarm", "jet", "viridis", "inferno", "gray", "coldnhot"}]])

return true
