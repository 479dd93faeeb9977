-- relua.npy and relua.idx: reading, writing, errors.
local T = require "harness"
local relua = require "relua"

local data = "../data/"

T.test("npy: numpy's files read", function()
  local t = relua.npy.load(data .. "f4_1d.npy")
  T.check(t:dim() == 1 and t:size(1) == 4, "1-D of 4")
  T.close(t[1], 1.5, 0, "first value")
  local f = relua.npy.load(data .. "f8_big_fortran.npy")
  T.check(f:dim() >= 2, "Fortran order read in C order")
  local s = relua.npy.load(data .. "u1_scalar.npy")
  T.check(s:dim() == 0, "0-d array")
  local b = relua.npy.load(data .. "bool.npy")
  T.check(b:max():item() <= 1 and b:min():item() >= 0, "bools are 0 and 1")
end)

T.test("npy: save and load round-trip", function()
  local path = (function() local p = os.tmpname() os.remove(p) return p .. ".npy" end)()
  local x = relua.randn(2, 3, 4, 5, {seed = 4})
  relua.npy.save(path, x)
  T.close(relua.npy.load(path), x, 0, "f4 exact")
  relua.npy.save(path, x:transpose(1, 4))                -- strided
  T.close(relua.npy.load(path), x:transpose(1, 4), 0, "non-contiguous")
  relua.npy.save(path, relua.tensor{-3, 0.4, 0.6, 254.5, 300}, {dtype = "u1"})
  T.close(relua.npy.load(path), relua.tensor{0, 0, 1, 255, 255}, 0, "u1 rounds and clamps")
  local f = io.open(path, "rb")
  local head = f:read(128)
  f:close()
  T.check(head:find("'descr': '|u1'", 1, true), "u1 header")
  T.check_error("option 'dtype' is 'f8'", relua.npy.save, path, x, {dtype = "f8"})
  os.remove(path)
end)

T.test("npy: errors", function()
  T.check_error("npy.load: ../data/nope.npy", relua.npy.load, data .. "nope.npy")
  T.check_error("not a .npy file", relua.npy.load, data .. "pal8.png")
  T.check_error("npy.save", relua.npy.save, "/nonexistent-dir/x.npy", relua.ones(2))
end)

T.test("idx: images and labels, limit and scale", function()
  local all = relua.idx.load(data .. "images-idx3-ubyte.gz")
  local plain = relua.idx.load(data .. "images-idx3-ubyte")
  T.close(all, plain, 0, "gzip and plain agree")
  local two = relua.idx.load(data .. "images-idx3-ubyte.gz", {limit = 2, scale = true})
  T.check(two:size(1) == math.min(2, all:size(1)), "limit")
  T.close(two, all:narrow(1, 1, two:size(1)) / 255, 1e-7, "scale divides by 255")
  T.check(all:max():item() > 1, "raw values unscaled")
  local labels = relua.idx.load(data .. "labels-idx1-ubyte.gz")
  T.check(labels:dim() == 1, "labels are 1-D")
  T.check_error("option 'limit' must be a positive integer", relua.idx.load, data .. "images-idx3-ubyte", {limit = -1})
  T.check_error("not an IDX file", relua.idx.load, data .. "pal8.png")
  T.check_error("idx.load", relua.idx.load, data .. "s16-idx2", {scale = true})
end)

T.done()
