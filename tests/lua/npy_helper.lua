-- npy_helper.lua: .npy files for the ONNX and checkpoint tests: relua.npy.load
-- when the build has it, else a minimal reader of little-endian float32
-- C-order files (the fixtures' inputs and expected outputs).
local relua = require "relua"

if relua.npy and relua.npy.load then return {load = relua.npy.load} end

local M = {}

function M.load(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  assert(s:sub(1, 6) == "\147NUMPY", path .. ": not an .npy file")
  local major = s:byte(7)
  local hlen, start
  if major == 1 then hlen, start = string.unpack("<I2", s, 9), 11 else hlen, start = string.unpack("<I4", s, 9), 13 end
  local header = s:sub(start, start + hlen - 1)
  assert(header:find("'descr': '<f4'", 1, true), path .. ": not little-endian float32")
  assert(header:find("'fortran_order': False", 1, true), path .. ": Fortran order")
  local shape = {}
  for d in header:match("'shape': %(([^)]*)%)"):gmatch("%d+") do shape[#shape + 1] = tonumber(d) end
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  local data, pos = {}, start + hlen
  for i = 1, n do data[i], pos = string.unpack("<f", s, pos) end
  local t = relua.tensor(data)
  return #shape == 0 and t:reshape({}) or t:reshape(shape)
end

return M
