-- relua.canonizers: reversible rewrites of a model so that LRP rules apply (Zennit's canonizers).
--   local canonizers = require "relua.canonizers"
--   do
--     local h <close> = canonizers.get("merge_batchnorm"):apply(model)   -- or canonizers.apply({...}, model)
--     ... explain model ...
--   end                                    -- h:remove() ran: the model is as it was, bit for bit
-- A canonizer is a table with apply(self, model) -> handle; a handle has remove() (idempotent)
-- and __close. canonizers.register(name, canonizer, doc) adds one.
-- Residual adds need no canonizer here: an add of branches is an op of kind "add" that
-- composites map to the norm rule (Zennit's ResNetCanonizer exists to make it one).
local class = require "relua.class"

local M = {}
local registry = {}
M.builtin = {"merge_batchnorm"}

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

-- A handle: remove() calls undo once; <close> removes too.
local Handle = class("relua.CanonizerHandle")
function Handle:__init(undo) self._undo = undo end
function Handle:remove()
  local undo = self._undo
  self._undo = nil
  if undo then undo() end
end
function Handle:__close() self:remove() end
M.Handle = Handle
function M.handle(undo) return Handle(undo) end

function M.register(name, canonizer, doc)
  if type(canonizer) ~= "table" or type(canonizer.apply) ~= "function" then
    fail("canonizers.register: '%s' needs an apply(self, model) function", tostring(name))
  end
  canonizer.name, canonizer.doc = name, doc or canonizer.doc or ""
  registry[name] = canonizer
  return canonizer
end

function M.get(name)
  if type(name) == "table" and type(name.apply) == "function" then return name end
  if type(name) ~= "string" then fail("canonizers.get: a canonizer is a name or a table with apply, got %s", type(name)) end
  if not registry[name] then
    for _, b in ipairs(M.builtin) do if b == name then require("relua.canonizers." .. name) end end
  end
  if not registry[name] then fail("unknown canonizer '%s' (canonizers: %s)", name, table.concat(M.list(), ", ")) end
  return registry[name]
end

function M.list()
  for _, b in ipairs(M.builtin) do if not registry[b] then require("relua.canonizers." .. b) end end
  local names = {}
  for n in pairs(registry) do names[#names + 1] = n end
  table.sort(names)
  return names
end

-- Applies a list of canonizers (names or tables) in order; the handle removes them in reverse.
function M.apply(list, model)
  local handles = {}
  local function undo() for i = #handles, 1, -1 do handles[i]:remove() end end
  for _, c in ipairs(list or {}) do
    local ok, h = pcall(function() return M.get(c):apply(model) end)
    if not ok then undo() error(h, 2) end
    handles[#handles + 1] = h
  end
  return Handle(undo)
end

return M
