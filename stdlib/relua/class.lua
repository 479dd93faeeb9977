-- relua.class(name [, parent]) -> class, parent: Torch-style classes.
--
--   local Linear, parent = relua.class("nn.Linear", nn.Module)
--   function Linear:__init(a, b) parent.__init(self) ... end
--   local m = Linear(3, 4)          -- calls __init on a new instance
--
-- A class is the metatable of its instances: __index is the class itself,
-- __name its name (so tostring and error messages show it). Metamethods
-- (__tostring...) are copied from the parent, since Lua does not look them
-- up through __index. help() finds a class's file through its functions,
-- so each class defines its own __init, even a trivial one.
local function is_instance(obj, cls)
  local mt = getmetatable(obj)
  while mt do
    if mt == cls then return true end
    mt = getmetatable(mt)
    mt = mt and mt.__index
  end
  return false
end

local function class(name, parent)
  assert(type(name) == "string", "class: name must be a string")
  local cls = {__name = name}
  cls.__index = cls
  if parent then
    for k, v in pairs(parent) do
      if type(k) == "string" and k:sub(1, 2) == "__" and k ~= "__index" and k ~= "__name" then
        cls[k] = v
      end
    end
  end
  setmetatable(cls, {
    __index = parent,
    __call = function(c, ...)
      local self = setmetatable({}, c)
      if c.__init then c.__init(self, ...) end
      return self
    end,
    __tostring = function() return "class " .. name end,
  })
  return cls, parent
end

return setmetatable({is_instance = is_instance}, {__call = function(_, ...) return class(...) end})
