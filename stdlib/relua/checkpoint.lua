-- relua.checkpoint: saving and loading whole models (architecture + tensors).
--   relua.save(model, "m.ckpt")
--   local model = relua.load("m.ckpt")
--
-- The file (docs/checkpoints.md; written and checked by src/checkpoint.c)
-- holds a description of the module tree as a Lua table literal and the
-- tensors by name. Each module is described by its class name, the
-- arguments of its constructor (m:config(), plain data), its name, its mode
-- and its children; every tensor field of a module (weight, bias,
-- running_mean, an ONNX node's constants...) is stored as
-- "<path>:<field>", path being child positions joined by dots ("" for the
-- root, "2.1" for the first child of the second child).
--
-- Loading never runs code from the file: the description is first checked
-- token by token to be nothing but a table literal (braces, brackets, keys,
-- strings, numbers, true/false/nil, unary minus), then loaded in text mode
-- into an empty environment. Classes are found by name among relua.nn and
-- relua.onnx, or those given to checkpoint.register(cls).
local core = require "relua.core"

local checkpoint = {}
local FORMAT = "relua.checkpoint"
local VERSION = 1

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- {==================== classes by name

local classes = {}

function checkpoint.register(cls)
  assert(type(cls) == "table" and type(cls.__name) == "string", "checkpoint.register: a class expected")
  classes[cls.__name] = cls
  return cls
end

local function find_class(name)
  if classes[name] then return classes[name] end
  local nn = require "relua.nn"
  local onnx = require "relua.onnx"
  for _, lib in ipairs {nn, onnx} do
    for _, v in pairs(lib) do
      if type(v) == "table" and rawget(v, "__name") == name then return v end
    end
  end
end
-- }====================

-- {==================== writing the description

local function ser_number(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x then return "0/0" end
  if x == math.huge then return "1e999" end
  if x == -math.huge then return "-1e999" end
  local s = string.format("%.17g", x)
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local function is_ident(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") and k ~= "true" and k ~= "false" and k ~= "nil"
end

local serialize
-- Plain data only; keys sorted so a model always gives the same bytes.
function serialize(v, out, seen, where)
  local t = type(v)
  if t == "number" then out[#out + 1] = ser_number(v)
  elseif t == "string" then out[#out + 1] = string.format("%q", v):gsub("\\\n", "\\n")
  elseif t == "boolean" or t == "nil" then out[#out + 1] = tostring(v)
  elseif t == "table" and not core.is_tensor(v) then
    if seen[v] then fail("save: %s: a table appears twice (cycles cannot be saved)", where) end
    seen[v] = true
    out[#out + 1] = "{"
    local n = 0
    for i = 1, math.maxinteger do if rawget(v, i) == nil then break end; n = i end
    for i = 1, n do serialize(v[i], out, seen, where); out[#out + 1] = "," end
    local keys = {}
    for k in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then
        if type(k) ~= "string" and math.type(k) ~= "integer" then
          fail("save: %s: key of type %s cannot be saved", where, type(k))
        end
        keys[#keys + 1] = k
      end
    end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    for _, k in ipairs(keys) do
      if is_ident(k) then out[#out + 1] = k .. "="
      else out[#out + 1] = "["; serialize(k, out, seen, where); out[#out + 1] = "]=" end
      serialize(v[k], out, seen, where)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
    seen[v] = nil
  else
    fail("save: %s: a %s cannot be saved in a description (only plain data)", where, core.is_tensor(v) and "tensor" or t)
  end
end

local skip_fields = {output = true, grad_input = true}

-- The description of m; tensors are appended to names/tensors.
local function describe(m, path, names, tensors)
  local where = string.format("module %s (%s)", path == "" and "root" or path, m.__name)
  if type(m.config) ~= "function" then fail("save: %s has no :config() method", where) end
  local ok, args = pcall(m.config, m)
  if not ok then fail("save: %s: %s", where, tostring(args):gsub("^[^\n]-%.lua:%d+: ", "", 1)) end
  local n = 0
  for k in pairs(args) do if math.type(k) == "integer" and k > n then n = k end end
  local d = {class = m.__name, name = m.name, train = m.train, args = args, n = n,
             onnx_params = m.onnx_params, children = {}}
  local fields = {}
  for k, v in pairs(m) do
    if type(k) == "string" and core.is_tensor(v) and not skip_fields[k] then fields[#fields + 1] = k end
  end
  table.sort(fields)
  for _, k in ipairs(fields) do
    names[#names + 1] = path .. ":" .. k
    tensors[#tensors + 1] = m[k]
  end
  for i, c in ipairs(m:children()) do
    d.children[i] = describe(c, path == "" and tostring(i) or path .. "." .. i, names, tensors)
  end
  return d
end

function checkpoint.save(model, path)
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    fail("relua.save: argument 1 is a %s, not a module", type(model))
  end
  if type(path) ~= "string" then fail("relua.save: argument 2 (path) must be a string") end
  local names, tensors = {}, {}
  local desc = describe(model, "", names, tensors)
  local out = {}
  serialize({format = FORMAT, version = VERSION, model = desc}, out, {}, "model")
  core.checkpoint_write(path, table.concat(out), names, tensors)
end
-- }====================

-- {==================== reading the description

-- Fails unless text is a single table literal: no calls, no indexing, no
-- operators but unary minus and the 0/0 of NaN, no long strings or comments.
local function check_literal(text, file)
  local i, n, prev = 1, #text, nil
  local function bad(what)
    fail("relua.load: %s: the architecture description is not a plain table literal (%s at byte %d)", file, what, i)
  end
  while i <= n do
    local c = text:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while true do
        local d = text:sub(j, j)
        if d == "" or d == "\n" then bad("an unfinished string") end
        if d == "\\" then j = j + 2
        elseif d == c then break
        else j = j + 1 end
      end
      i, prev = j + 1, "string"
    elseif c:match("%d") or (c == "." and text:sub(i + 1, i + 1):match("%d")) then
      local s, e = text:find("^%d*%.?%d*[eE][%+%-]?%d+", i)
      if not s then s, e = text:find("^%d*%.?%d*", i) end
      if text:sub(e + 1, e + 1):match("[%w_%.]") then bad("a malformed number") end
      i, prev = e + 1, "number"
    elseif c:match("[%a_]") then
      local s, e = text:find("^[%a_][%w_]*", i)
      local word = text:sub(s, e)
      if word ~= "true" and word ~= "false" and word ~= "nil" then
        local after = text:match("^%s*(.?.?)", e + 1)
        if after:sub(1, 1) ~= "=" or after == "==" then bad("the name '" .. word .. "' outside a key") end
      end
      i, prev = e + 1, "word"
    elseif c == "[" then
      local nx = text:sub(i + 1, i + 1)
      if nx == "[" or nx == "=" then bad("a long string") end
      i, prev = i + 1, c
    elseif c == "-" then
      if text:sub(i + 1, i + 1) == "-" then bad("a comment") end
      i, prev = i + 1, c
    elseif c == "/" then
      if prev ~= "number" then bad("'/'") end
      i, prev = i + 1, c
    elseif c == "{" or c == "}" or c == "]" or c == "=" or c == "," or c == ";" then
      if c == "=" and text:sub(i + 1, i + 1) == "=" then bad("'=='") end
      i, prev = i + 1, c
    else
      bad("'" .. c .. "'")
    end
  end
end

local function parse_description(text, file)
  if text:sub(1, 1) ~= "{" then fail("relua.load: %s: the architecture description does not start with '{'", file) end
  check_literal(text, file)
  local chunk, err = load("return " .. text, "=" .. file, "t", {})
  if not chunk then fail("relua.load: %s: bad architecture description: %s", file, err) end
  local ok, d = pcall(chunk)
  if not ok or type(d) ~= "table" then fail("relua.load: %s: bad architecture description: %s", file, tostring(d)) end
  if d.format ~= FORMAT then fail("relua.load: %s: the description is not a %s", file, FORMAT) end
  if d.version ~= VERSION then
    fail("relua.load: %s: description version %s; this relua reads version %d", file, tostring(d.version), VERSION)
  end
  return d.model
end

local function build(d, path, file, index)
  local where = path == "" and "root" or path
  if type(d) ~= "table" or type(d.class) ~= "string" or type(d.args) ~= "table" or type(d.children) ~= "table" then
    fail("relua.load: %s: module %s is malformed in the description", file, where)
  end
  local cls = find_class(d.class)
  if not cls then
    fail("relua.load: %s: module %s has class %s, which is not known (relua.checkpoint.register it)", file, where, d.class)
  end
  local args, n = {}, math.tointeger(d.n) or #d.args
  for i = 1, n do args[i] = d.args[i] end
  for i, c in ipairs(d.children) do
    args[n + i] = build(c, path == "" and tostring(i) or path .. "." .. i, file, index)
  end
  -- Weights come from the file: no random initialisation of the rebuilt layers.
  local ok, m = pcall(require("relua.onnx").without_init, cls, table.unpack(args, 1, n + #d.children))
  if not ok then fail("relua.load: %s: module %s (%s) cannot be rebuilt: %s", file, where, d.class, tostring(m)) end
  if type(d.name) == "string" then m.name = d.name end
  m.onnx_params = d.onnx_params
  m.train = d.train ~= false
  index[path] = m
  return m
end

function checkpoint.load(path)
  if type(path) ~= "string" then fail("relua.load: argument 1 (path) must be a string") end
  local text, names, tensors = core.checkpoint_read(path)
  local desc = parse_description(text, path)
  local index = {}
  local model = build(desc, "", path, index)
  -- Every tensor field of the rebuilt modules must come from the file, with its shape.
  local given = {}
  for i, name in ipairs(names) do
    local p, field = name:match("^([%d%.]*):([%a_][%w_]*)$")
    local m = p and index[p]
    if not m then fail("relua.load: %s: tensor '%s' belongs to no module", path, name) end
    local old = m[field]
    if core.is_tensor(old) and table.concat(old:shape(), "x") ~= table.concat(tensors[i]:shape(), "x") then
      fail("relua.load: %s: tensor '%s' is [%s], the module expects [%s]", path, name,
           table.concat(tensors[i]:shape(), " x "), table.concat(old:shape(), " x "))
    end
    m[field] = tensors[i]
    given[name] = true
  end
  for p, m in pairs(index) do
    for k, v in pairs(m) do
      if type(k) == "string" and core.is_tensor(v) and not skip_fields[k] and not given[p .. ":" .. k] then
        fail("relua.load: %s: module %s (%s) has no tensor '%s' in the file", path, p == "" and "root" or p, m.__name, k)
      end
    end
  end
  return model
end
-- }====================

local has_help, help = pcall(require, "relua.help")
if has_help then
  help.doc(checkpoint.save, [[
relua.save(model, path) writes the model (architecture and every tensor:
weights, BatchNorm statistics) to a checkpoint file, atomically. Each
module class needs :config() (its constructor arguments). docs/checkpoints.md]])
  help.doc(checkpoint.load, [[
relua.load(path) rebuilds a model saved by relua.save, bit-exact, with its
names and training/evaluate modes. Truncated or corrupted files are errors
naming the file and offset; the description is data only, never run.]])
  help.doc(checkpoint.register, [[
relua.checkpoint.register(cls) lets relua.load rebuild instances of a class
defined outside relua.nn and relua.onnx. Returns cls.]])
end

return checkpoint
