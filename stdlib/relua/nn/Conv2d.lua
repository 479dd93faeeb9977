-- nn.Conv2d(in, out, kernel, {stride = 1, padding = 0, dilation = 1, groups = 1, bias = true})
-- Input N x in x H x W; weight [out x in/groups x kh x kw], bias [out];
-- kernel, stride, padding and dilation are a number or {h, w}.
-- Kaiming-uniform initialised (fan_in = in/groups * kh * kw) from relua.seed.
local F = require "relua.core"
local Module = require "relua.nn.Module"
local class = require "relua.class"

local Conv2d, parent = class("nn.Conv2d", Module)

local function pair(v) return type(v) == "table" and v or {v, v} end

function Conv2d:__init(nin, nout, kernel, opts)
  parent.__init(self)
  opts = opts or {}
  local k = pair(kernel)
  local groups = opts.groups or 1
  assert(nin % groups == 0 and nout % groups == 0, "nn.Conv2d: channels must be divisible by groups")
  self.in_channels, self.out_channels, self.kernel = nin, nout, k
  self.opts = {stride = opts.stride or 1, padding = opts.padding or 0, dilation = opts.dilation or 1, groups = groups}
  local fan_in = nin // groups * k[1] * k[2]
  self.weight = Module.uniform_init(fan_in, {nout, nin // groups, k[1], k[2]})
  if opts.bias ~= false then self.bias = Module.uniform_init(fan_in, {nout}) end
  self._params = {"weight", "bias"}
end

function Conv2d:update_output(x) return F.conv2d(x, self.weight, self.bias, self.opts) end

function Conv2d:config()
  local o = self.opts
  return {self.in_channels, self.out_channels, self.kernel,
          {stride = o.stride, padding = o.padding, dilation = o.dilation, groups = o.groups, bias = self.bias ~= nil}}
end

function Conv2d:extra_repr()
  local o, s = self.opts, string.format("(%d -> %d, %dx%d", self.in_channels, self.out_channels, self.kernel[1], self.kernel[2])
  local function show(name, v, def)
    v = pair(v)
    if v[1] ~= def or v[2] ~= def then
      s = s .. (v[1] == v[2] and string.format(", %s %d", name, v[1]) or string.format(", %s %dx%d", name, v[1], v[2]))
    end
  end
  show("stride", o.stride, 1); show("padding", o.padding, 0); show("dilation", o.dilation, 1)
  if o.groups ~= 1 then s = s .. ", groups " .. o.groups end
  return s .. (self.bias and "" or ", no bias") .. ")"
end

return Conv2d
