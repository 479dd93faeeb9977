-- relua.methods: the registry of attribution methods.
--
-- Every method has one signature,
--   attribution, info = method(model, input, target, opts)
-- where input is a batch (N x C x H x W or N x features), target is what
-- relua.grad accepts (a class index, N classes, a seed tensor of the
-- output's shape, or a function of the output), and attribution has the
-- input's shape. A method file registers itself:
--
--   local methods = require "relua.methods"
--   return methods.register{
--     name = "saliency", doc = "the gradient of the target", paper = "Simonyan et al. 2014",
--     options = {abs = {default = true, type = "boolean", doc = "take |gradient|"}},
--     fn = function(model, input, target, opts) ... return attribution, info end,
--   }
--
-- register returns the checked method: unknown options and bad values are
-- errors that name them, defaults are filled in, then fn runs.
local M = {}
local registry = {}

-- Builtin methods, loaded on first use (one file each in this directory).
M.builtin = {
  "saliency", "gradient_x_input", "integrated_gradients", "smoothgrad",
  "guided_backprop", "deconvnet", "gradcam", "gradcam_pp", "guided_gradcam",
  "scorecam", "layercam", "occlusion", "deeplift", "lrp",
}

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

local function typename(v)
  local core = require "relua.core"
  if core.is_tensor(v) then return "tensor" end
  if math.type(v) == "integer" then return "integer" end
  return type(v)
end

local function describe(spec)
  local parts = {}
  if spec.values then parts[#parts + 1] = "one of " .. table.concat(spec.values, ", ")
  elseif spec.type then parts[#parts + 1] = (type(spec.type) == "table" and table.concat(spec.type, " or ") or spec.type) end
  if spec.min then parts[#parts + 1] = ">= " .. spec.min end
  if spec.max then parts[#parts + 1] = "<= " .. spec.max end
  return table.concat(parts, " ")
end

-- Checks one value against its option spec; returns nil or a message.
local function check_value(spec, v)
  if spec.values then
    for _, ok in ipairs(spec.values) do if v == ok then return nil end end
    return "must be " .. describe(spec) .. ", got " .. tostring(v)
  end
  local t = typename(v)
  if spec.type and spec.type ~= "any" then
    local types = type(spec.type) == "table" and spec.type or {spec.type}
    local ok = false
    for _, want in ipairs(types) do
      if t == want or (want == "number" and t == "integer") then ok = true end
    end
    if not ok then return "must be " .. describe(spec) .. ", got " .. t .. " " .. tostring(v) end
  end
  if (spec.min or spec.max) and (t == "integer" or t == "number") then
    if (spec.min and v < spec.min) or (spec.max and v > spec.max) then
      return "must be " .. describe(spec) .. ", got " .. tostring(v)
    end
  end
  if spec.check then return spec.check(v) end
  return nil
end

-- opts merged over the defaults of `options`, or an error naming the bad
-- one, positioned at the caller of the method (check_options <- call <- caller).
function M.check_options(name, options, opts)
  local function fail(fmt, ...) error(string.format(fmt, ...), 4) end
  if opts ~= nil and type(opts) ~= "table" then fail("%s: options must be a table, got %s", name, type(opts)) end
  local out = {}
  for k, v in pairs(opts or {}) do
    local spec = options[k]
    if not spec then
      local known = {}
      for o in pairs(options) do known[#known + 1] = o end
      table.sort(known)
      fail("%s: unknown option '%s' (options: %s)", name, tostring(k), #known > 0 and table.concat(known, ", ") or "none")
    end
    local msg = check_value(spec, v)
    if msg then fail("%s: option '%s' %s", name, k, msg) end
    out[k] = v
  end
  for k, spec in pairs(options) do
    if out[k] == nil and spec.default ~= nil then out[k] = spec.default end
  end
  return out
end

function M.register(entry)
  for _, field in ipairs{"name", "fn", "doc"} do
    if entry[field] == nil then fail("methods.register: field '%s' is missing", field) end
  end
  entry.options = entry.options or {}
  local fn = entry.fn
  entry.call = function(model, input, target, opts)
    local o = M.check_options(entry.name, entry.options, opts)
    return fn(model, input, target, o)
  end
  registry[entry.name] = entry
  require("relua.help").doc(entry.call, M.describe(entry))
  return entry.call
end

-- The help text of a method: signature, doc, paper, options with defaults.
function M.describe(entry)
  local lines = {("%s(model, input, target, opts) -> attribution, info"):format(entry.name), entry.doc}
  if entry.paper then lines[#lines + 1] = "Paper: " .. entry.paper end
  local names = {}
  for k in pairs(entry.options) do names[#names + 1] = k end
  table.sort(names)
  if #names > 0 then lines[#lines + 1] = "Options:" end
  for _, k in ipairs(names) do
    local o = entry.options[k]
    local default = o.default == nil and "" or (" = " .. tostring(o.default))
    lines[#lines + 1] = ("  %s%s  (%s)  %s"):format(k, default, describe(o), o.doc or "")
  end
  return table.concat(lines, "\n")
end

function M.get(name)
  if registry[name] then return registry[name] end
  for _, b in ipairs(M.builtin) do
    if b == name then
      require("relua.methods." .. name)
      return registry[name]
    end
  end
  -- a user's method file on package.path (relua/methods/<name>.lua) registers on first use too
  if type(name) == "string" and name:match("^[%a_][%w_]*$") then
    local ok, err = pcall(require, "relua.methods." .. name)
    if ok and registry[name] then return registry[name] end
    if not ok and not tostring(err):find("module 'relua.methods." .. name .. "' not found", 1, true) then
      error(err, 0)
    end
  end
  local known = M.list()
  fail("unknown method '%s' (methods: %s)", tostring(name), table.concat(known, ", "))
end

-- Names of every method, builtin and registered, sorted.
function M.list()
  for _, b in ipairs(M.builtin) do
    if not registry[b] then
      -- a builtin not written yet is skipped; a broken one is an error
      local ok, err = pcall(require, "relua.methods." .. b)
      if not ok and not tostring(err):find("module 'relua.methods." .. b .. "' not found", 1, true) then
        error(err, 0)
      end
    end
  end
  local names = {}
  for n in pairs(registry) do names[#names + 1] = n end
  table.sort(names)
  return names
end

function M.call(name, model, input, target, opts)
  return M.get(name).call(model, input, target, opts)
end

-- methods.saliency(...) is methods.get("saliency").call(...)
return setmetatable(M, {__index = function(_, name)
  if type(name) == "string" then
    local ok, entry = pcall(M.get, name)
    if ok and entry then return entry.call end
  end
  return nil
end})
