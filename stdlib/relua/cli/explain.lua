-- relua.cli.explain: `relua explain`, attribution without writing Lua.
--
--   relua explain --model M.onnx --input IMG.png|X.npy --method NAME [-o key=value]...
--                 [--target K] [--layer NODE] [--size 224] [--normalize imagenet|none|mean=..,std=..]
--                 [--out OUT.png|OUT.npy] [--cmap NAME] [--show]
--
-- Loads the model, prints the top-5 classes (softmax probability and logit,
-- class indices 0-based as in PyTorch and ONNX), runs a registered method
-- (LRP composites as lrp.<composite>) for --target (0-based; default the
-- top class) and writes the attribution: OUT.npy the raw float32 values
-- with the input's shape (N x C x H x W), OUT.png the heatmap over a grey
-- copy of the input. docs/cli.md has the details.
--
-- main(args [, io]) takes the arguments after "explain" and returns the
-- exit status: 0 done, 1 the work failed (a file, the model, the method),
-- 2 the command line is wrong. io = {out = file, err = file} redirects
-- what it prints (tests).
local M = {}

local usage = [[
usage: relua explain --model M.onnx|M.lua --input IMG.png|X.npy --method NAME [options]
  --model FILE        an ONNX model, or a Lua file returning a relua model
  --input FILE        a PNG image (preprocessed as below) or a .npy array used as
                      the network input as it is (C x H x W or N x C x H x W)
  --method NAME       any method of `relua methods`; lrp.<composite> for LRP
  -o KEY=VALUE        a method option; VALUE is a Lua literal (32, 0.5, true,
                      "blur", {1, 2}); a bare word is a string: -o baseline=blur
  --target K          the class to explain, 0-based (default: the top class)
  --layer NODE        the layer of CAM methods (opts.layer)
  --size N            PNG inputs: resize the shorter side to N*256/224, crop
                      the centre N x N (default 224)
  --normalize SPEC    PNG inputs: imagenet (the default for RGB models), none
                      (the default otherwise), or mean=0.5,0.5,0.5,std=0.2,0.2,0.2
  --out FILE          FILE.npy: the raw attribution; FILE.png: a heatmap overlay
  --cmap NAME         colour map of the PNG (default bwr)
  --show              draw the heatmap in the terminal
]]
M.usage = usage

-- An error of the command line (exit 2) or of the work (exit 1).
local failure = {__tostring = function(e) return e.msg end}
local function usage_error(fmt, ...) error(setmetatable({usage = true, msg = string.format(fmt, ...)}, failure), 0) end
local function work_error(fmt, ...) error(setmetatable({usage = false, msg = string.format(fmt, ...)}, failure), 0) end

-- {==================== arguments

-- v with the contents of its quoted strings removed ('..' and "..", with
-- backslash escapes), so what is left is the code around them.
local function strip_strings(v)
  local out, i, n = {}, 1, #v
  while i <= n do
    local c = v:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n and v:sub(j, j) ~= c do j = j + (v:sub(j, j) == "\\" and 2 or 1) end
      out[#out + 1] = c .. c
      i = j + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

-- Parses a Lua literal safely: numbers, strings, booleans, nil, tables of
-- them. A bare word is a string. Parentheses, ':' and `function` are
-- refused before the text is compiled, so a value cannot call anything
-- (string methods included) or loop; it runs in an empty environment.
function M.parse_value(v, key)
  if v:match("^[%a_][%w_]*$") and v ~= "true" and v ~= "false" and v ~= "nil" then return v end
  local stripped = strip_strings(v)
  if stripped:find("[():#%%^~]") or stripped:find("%f[%w_]function%f[^%w_]") or stripped:find("%[%[") then
    usage_error("-o %s=%s: not a Lua literal (numbers, strings, true/false, {tables})", key, v)
  end
  local chunk = load("return " .. v, "=option", "t", {})
  local ok, val = false, nil
  if chunk then ok, val = pcall(chunk) end
  if not ok then usage_error("-o %s=%s: not a Lua literal (numbers, strings, true/false, {tables})", key, v) end
  return val
end

local function positive_int(flag, v)
  local n = tonumber(v)
  if not n or n ~= math.floor(n) or n < 1 or n > 16384 then
    usage_error("%s: '%s' is not a positive integer (1 to 16384)", flag, tostring(v))
  end
  return math.tointeger(n)
end

-- "imagenet" | "none" | "mean=a,b,c,std=d,e,f" -> a value for image.preprocess
local function parse_normalize(s)
  if s == "imagenet" or s == "none" then return s end
  local mean, std = s:match("^mean=([%d%.eE,+-]+),std=([%d%.eE,+-]+)$")
  if not mean then
    usage_error("--normalize: '%s' is not imagenet, none or mean=M1,M2,..,std=S1,S2,..", s)
  end
  local function list(text, what)
    local t = {}
    for x in text:gmatch("[^,]+") do
      local n = tonumber(x)
      if not n then usage_error("--normalize: %s value '%s' is not a number", what, x) end
      t[#t + 1] = n
    end
    return t
  end
  local m, d = list(mean, "mean"), list(std, "std")
  if #m ~= #d then usage_error("--normalize: %d means but %d stds", #m, #d) end
  for _, x in ipairs(d) do if x <= 0 then usage_error("--normalize: std %g is not positive", x) end end
  return {mean = m, std = d}
end

local flags = {
  ["--model"] = "model", ["--input"] = "input", ["--method"] = "method", ["--target"] = "target",
  ["--layer"] = "layer", ["--size"] = "size", ["--normalize"] = "normalize", ["--out"] = "out",
  ["--cmap"] = "cmap",
}

function M.parse(args)
  local a = {options = {}, order = {}}
  local i = 1
  while i <= #args do
    local s = args[i]
    local flag, inline = s:match("^(%-%-[%w-]+)=(.*)$")
    flag = flag or s
    if flag == "-h" or flag == "--help" then
      a.help = true
    elseif flag == "--show" then
      a.show = true
    elseif flag == "-o" or flags[flag] then
      local v = inline
      if v == nil then
        i = i + 1
        v = args[i]
        if v == nil then usage_error("%s needs a value", flag) end
      end
      if flag == "-o" then
        local k, val = v:match("^([%a_][%w_]*)=(.*)$")
        if not k then usage_error("-o '%s': expected key=value", v) end
        if a.options[k] == nil then a.order[#a.order + 1] = k end
        a.options[k] = M.parse_value(val, k)
      else
        local key = flags[flag]
        if a[key] ~= nil then usage_error("%s given twice", flag) end
        a[key] = v
      end
    else
      usage_error("unknown argument '%s'", s)
    end
    i = i + 1
  end
  if a.help then return a end
  for _, need in ipairs{"model", "input", "method"} do
    if not a[need] then usage_error("--%s is missing", need) end
  end
  a.size = a.size and positive_int("--size", a.size) or 224
  if a.target then
    local t = tonumber(a.target)
    if not t or t ~= math.floor(t) or t < 0 then
      usage_error("--target: '%s' is not a class index (0, 1, 2, ...: 0-based)", a.target)
    end
    a.target = math.tointeger(t)
  end
  if a.normalize then a.normalize = parse_normalize(a.normalize) end
  if a.out then
    a.format = a.out:match("%.(%w+)$")
    a.format = a.format and a.format:lower()
    if a.format ~= "npy" and a.format ~= "png" then
      usage_error("--out: '%s' must end in .npy (raw attribution) or .png (heatmap)", a.out)
    end
  end
  return a
end
-- }====================

-- {==================== the work

local function readable(flag, path)
  local f, err = io.open(path, "rb")
  if not f then work_error("%s: cannot open %s", flag, err) end
  f:close()
end

-- The method entry and the options it is called with.
local function resolve_method(methods, a)
  local name, opts = a.method, {}
  for k, v in pairs(a.options) do opts[k] = v end
  local composite = name:match("^lrp%.(.+)$")
  if composite then
    name = "lrp"
    opts.composite = composite
  end
  local ok, entry = pcall(methods.get, name)
  if ok and not entry then ok, entry = false, "" end
  if not ok then
    local msg = tostring(entry):gsub("^[^:]*%.lua:%d+: ", "")
    if not msg:find("^unknown method") then -- a builtin name whose file is not there yet
      local okl, names = pcall(methods.list)
      msg = string.format("unknown method '%s' (methods: %s)", name, okl and table.concat(names, ", ") or "?")
    end
    usage_error("%s", msg)
  end
  if a.layer then
    if not entry.options.layer then usage_error("--layer: method '%s' takes no layer", name) end
    opts.layer = a.layer
  end
  local known = {}
  for k in pairs(entry.options) do known[#known + 1] = k end
  table.sort(known)
  for _, k in ipairs(a.order) do
    if not entry.options[k] then
      usage_error("-o %s: method '%s' has no option '%s' (options: %s)", k, name, k,
        #known > 0 and table.concat(known, ", ") or "none")
    end
  end
  if composite and not entry.options.composite then usage_error("method 'lrp' takes no composite") end
  local okc, msg = pcall(methods.check_options, name, entry.options, opts)
  if not okc then usage_error("%s", (tostring(msg):gsub("^[^:]*%.lua:%d+: ", ""))) end
  return entry, opts
end

local function load_model(relua, path)
  readable("--model", path)
  local model
  if path:match("%.lua$") then
    local chunk, err = loadfile(path)
    if not chunk then work_error("--model: %s", err) end
    model = chunk()
  elseif path:lower():match("%.onnx$") then
    if not (relua.onnx and relua.onnx.load) then work_error("--model: this build cannot read ONNX (relua.onnx is missing)") end
    model = relua.onnx.load(path)
  else
    usage_error("--model: '%s' is neither .onnx nor .lua", path)
  end
  if type(model) == "table" and type(model.evaluate) == "function" then model:evaluate() end
  if type(model) ~= "function" and not (type(model) == "table" and type(model.forward) == "function") then
    work_error("--model: %s gives a %s, not a model", path, type(model))
  end
  return model
end

-- Input channels the model expects: those of its first 4-D weight.
local function model_channels(model)
  if type(model) == "table" then
    if model.input_channels then return model.input_channels end
    if type(model.modules) == "function" then
      for _, m in ipairs(model:modules()) do
        local w = rawget(m, "weight")
        if w and w.dim and w:dim() == 4 then return w:size(2) * (m.groups or 1) end
      end
    end
  end
  return 3
end

local modes = {[1] = "gray", [3] = "rgb", [4] = "rgba"}

-- The network input and a [0, 1] picture of it (PNG inputs: the same
-- geometry, not normalised).
local function load_input(relua, model, a)
  readable("--input", a.input)
  local ext = a.input:lower():match("%.(%w+)$")
  if ext == "npy" then
    local x = relua.npy.load(a.input)
    if x:dim() == 3 then x = x:unsqueeze(1) end
    return x, nil
  elseif ext == "png" then
    local c = model_channels(model)
    local mode = modes[c]
    if not mode then work_error("--input: the model takes %d channels; a PNG gives 1, 3 or 4", c) end
    local norm = a.normalize
    if norm == nil then norm = c == 3 and "imagenet" or "none" end
    if norm == "imagenet" and c ~= 3 then
      usage_error("--normalize imagenet needs an RGB model; this one takes %d channel%s: use none or mean=..,std=..",
        c, c == 1 and "" or "s")
    end
    if type(norm) == "table" and #norm.mean ~= c and #norm.mean ~= 1 then
      usage_error("--normalize: %d means and stds for a model of %d channels", #norm.mean, c)
    end
    local x = relua.image.preprocess(a.input, {size = a.size, normalize = norm, mode = mode})
    local shown = relua.image.preprocess(a.input, {size = a.size, normalize = "none", mode = mode})
    return x, shown
  end
  usage_error("--input: '%s' is neither .png nor .npy", a.input)
end

local function forward(relua, model, x)
  return relua.no_grad(function()
    if type(model) == "function" then return model(x) end
    return model:forward(x)
  end)
end

-- Whether every row of y is already a probability distribution (a model
-- ending in Softmax): then y is printed as the probabilities, not its softmax.
local function is_distribution(y)
  if y:min():item() < 0 then return false end
  return (y:sum(2) - 1):abs():max():item() < 1e-4
end

local function print_top(out, logits, k)
  local n = logits:size(1)
  local probs = logits:softmax(2)
  if is_distribution(logits) then
    out:write("(the output sums to 1 per sample: shown as the probabilities; \"logit\" is the same output)\n")
    probs = logits
  end
  local lt, pt = logits:totable(), probs:totable()
  local tops = {}
  for s = 1, n do
    local order = {}
    for c = 1, #lt[s] do order[c] = c end
    table.sort(order, function(p, q) return lt[s][p] > lt[s][q] end)
    if n > 1 then out:write(string.format("sample %d\n", s)) end
    out:write("  class  probability     logit\n")
    for r = 1, math.min(k, #order) do
      local c = order[r]
      out:write(string.format("  %5d  %11.4f  %8.4f\n", c - 1, pt[s][c], lt[s][c]))
    end
    tops[s] = order[1]
  end
  return tops
end

-- Writes with a temporary name, then renames: a reader never sees half a file.
local function write_atomic(path, save)
  local tmp = path .. ".tmp"
  save(tmp)
  local ok, err = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    work_error("--out: %s", err)
  end
end

local function run(a, out)
  local relua = require "relua"
  local methods = require "relua.methods"
  local entry, opts = resolve_method(methods, a)
  if a.cmap then
    local ok = false
    for _, c in ipairs(relua.colormaps()) do ok = ok or c == a.cmap end
    if not ok then usage_error("--cmap: unknown colour map '%s' (%s)", a.cmap, table.concat(relua.colormaps(), ", ")) end
  end
  local model = load_model(relua, a.model)
  local x, shown = load_input(relua, model, a)
  local y = forward(relua, model, x)
  if not relua.is_tensor(y) then work_error("the model returned a %s, not a tensor", type(y)) end
  if y:dim() ~= 2 then y = y:reshape(y:size(1), -1) end
  out:write(string.format("%s: input [%s], output [%s]\n", a.model, table.concat(x:shape(), " x "),
    table.concat(y:shape(), " x ")))
  local tops = print_top(out, y, 5)
  local target
  if a.target then
    if a.target >= y:size(2) then
      work_error("--target: class %d is out of range: the model has %d classes (0 to %d)", a.target, y:size(2), y:size(2) - 1)
    end
    target = a.target + 1
  elseif #tops == 1 then
    target = tops[1]
  else
    target = relua.tensor(tops)
  end
  local ok, attr = pcall(entry.call, model, x, target, opts)
  if not ok then
    local msg = tostring(attr):gsub("^[^:]*%.lua:%d+: ", "")
    local name = a.method:match("^[^.]+")
    if msg:sub(1, #name + 1) ~= name .. ":" then msg = a.method .. ": " .. msg end
    work_error("%s", msg)
  end
  if not relua.is_tensor(attr) then work_error("%s returned a %s, not a tensor", a.method, type(attr)) end
  local tdesc = a.target and "class " .. a.target
  if not tdesc then
    local cs = {}
    for s, c in ipairs(tops) do cs[s] = tostring(c - 1) end
    tdesc = (#cs == 1 and "class " or "classes ") .. table.concat(cs, ", ")
  end
  out:write(string.format("%s for %s: [%s], sum %.6g, min %.6g, max %.6g\n", a.method, tdesc,
    table.concat(attr:shape(), " x "), attr:sum():item(), attr:min():item(), attr:max():item()))
  local viz = require "relua.viz"
  if a.out then
    if a.format == "npy" then
      write_atomic(a.out, function(p) relua.npy.save(p, attr:detach():contiguous()) end)
    else
      local n = attr:dim() == 4 and attr:size(1) or 1
      local picture = shown or x
      local hopts = {cmap = a.cmap}
      if n == 1 then
        local ov = viz.overlay(picture, attr, hopts)
        write_atomic(a.out, function(p) relua.image.save(p, ov) end)
      else
        local items = {}
        for s = 1, n do
          items[s] = {image = viz.overlay(picture[s], attr[s], hopts), label = "class " .. (tops[s] - 1)}
          if a.target then items[s].label = "class " .. a.target end
        end
        write_atomic(a.out, function(p) viz.save_grid(p, items) end)
      end
    end
    out:write(string.format("wrote %s\n", a.out))
  end
  if a.show then
    local show = require "relua.viz.show"
    out:write(show.render(attr:dim() == 4 and attr[1] or attr, {cmap = a.cmap}))
  end
end
-- }====================

function M.main(args, io_)
  io_ = io_ or {}
  local out, err = io_.out or io.stdout, io_.err or io.stderr
  local ok, e = pcall(function()
    local a = M.parse(args or {})
    if a.help then
      out:write(usage)
      return
    end
    run(a, out)
  end)
  if ok then return 0 end
  if type(e) == "table" and e.msg then
    err:write("relua explain: ", e.msg, "\n")
    if e.usage then err:write("(relua explain --help shows the options)\n") end
    return e.usage and 2 or 1
  end
  err:write("relua explain: ", (tostring(e):gsub("^[^:]*%.lua:%d+: ", "")), "\n")
  return 1
end

return M
