-- test_help.lua: help() and the relua.doc registry, run by relua (relua and help are preloaded).
-- usage: relua test_help.lua TMPDIR
package.path = arg[0]:gsub("[^/]*$", "") .. "?.lua;" .. package.path
local H = require "harness"
local tmp = assert(arg[1], "TMPDIR missing")
os.execute("mkdir -p '" .. tmp .. "'")
local help_mod = require "relua.help"

-- what help(...) prints
local function shown(...)
  local out = {}
  local saved = print
  print = function(...)
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    out[#out + 1] = table.concat(t, "\t")
  end
  local ok, err = pcall(help, ...)
  print = saved
  if not ok then error(err, 0) end
  return table.concat(out, "\n")
end

H.eq(type(help), "function", "help is a global")
H.eq(relua.doc, help_mod.doc, "relua.doc is the registry's doc")

-- {==== registration by value and by name ====}
local function area(w, h) return w * h end
H.eq(relua.doc(area, "area(w, h): the area of a w x h rectangle."), area, "doc returns its target")
local t = shown(area)
H.has(t, "area(w, h)", "help shows the signature with parameter names")
H.has(t, "the area of a w x h rectangle", "help shows text registered by value")

relua.doc("geometry.perimeter", "perimeter(w, h): twice the sum of the sides.")
H.has(shown("geometry.perimeter"), "twice the sum of the sides", "help \"name\" finds text registered by name")
geometry = { perimeter = function(w, h) return 2 * (w + h) end }
H.has(shown(geometry.perimeter), "twice the sum of the sides", "help(value) finds text registered under its name")
H.has(shown(geometry.perimeter), "geometry.perimeter(w, h)", "the value is named by where it is reachable")
table.insert(help_mod.roots, "geometry")
H.has(shown(geometry.perimeter), "geometry.perimeter(w, h)", "roots can be extended")

H.checkerr("doc: target is nil", relua.doc, nil, "text")
H.checkerr("doc: text must be a string, got number", relua.doc, area, 5)

-- {==== documentation read from the sources ====}
local f = assert(io.open(tmp .. "/shapes.lua", "w"))
f:write([[
-- shapes: a made-up module for the help test.
-- Second header line.
local M = {}

-- Scales a shape by k.
-- Returns a new shape.
function M.scale(shape, k, ...)
  return shape
end

function M:area()
  return 0
end

return M
]])
f:close()
shapes = dofile(tmp .. "/shapes.lua")
table.insert(help_mod.roots, "shapes")
local s = shown(shapes.scale)
H.has(s, "shapes.scale(shape, k, ...)", "a Lua function's signature includes varargs")
H.has(s, "Scales a shape by k.\n  Returns a new shape.", "the comment above a function is its help")
H.has(s, "shapes.lua:7", "help says where the function is defined")
H.has(shown(shapes.area), "shapes:area()", "a method with self is shown with ':'")
H.has(shown(shapes.area), "no documentation", "an undocumented function says so")
local m = shown(shapes)
H.has(m, "a made-up module for the help test.\n  Second header line.", "a module's help is its file header")
H.has(m, "scale", "a module's help lists its fields")
H.has(m, "Scales a shape by k.", "the field list carries each field's first doc line")
H.has(shown("shapes.scale"), "Scales a shape by k.", "help \"a.b\" resolves the path")

-- {==== topics and search ====}
local topics = shown()
H.has(topics, "help(x)", "help() explains how to ask")
H.has(topics, "relua.*", "help() lists the relua module")
H.has(topics, "perimeter", "help() lists names registered by name")
H.has(shown("perim"), "geometry.perimeter", "help \"word\" lists the names that contain it")
H.has(shown("zzznothing"), "no documentation for 'zzznothing'", "an unknown word says so")
H.has(shown(help), "help(x) prints the documentation", "help documents itself")
H.has(shown(io.stdout), "FILE*", "help on userdata shows its type")
H.has(shown(string.format), "string.format", "C functions are named")
H.has(shown(string.rep), "manual.html#pdf-string.rep", "Lua's own functions point to the manual")
H.has(shown(nil), "the value is nil", "help(nil) hints at a misspelt name")

-- {==== the stdlib, when the binding is there ====}
if rawget(_G, "nn") and nn.Conv2d then
  local c = shown(nn.Conv2d)
  H.has(c, "nn.Conv2d", "help(nn.Conv2d) names the class")
  H.check(#c > #"nn.Conv2d" + 20, "help(nn.Conv2d) has a text", c)
  H.has(shown("nn.Conv2d"), "nn.Conv2d", "help \"nn.Conv2d\" works by name")
end
if relua.grad then
  H.has(shown(relua.grad), "relua.grad", "help(relua.grad) shows its documentation")
end
local api = help_mod.docs_dir and io.open(help_mod.docs_dir .. "/lua-api.md")
if api and relua.is_tensor then
  api:close()
  local n = shown("Tensor:narrow")
  H.has(n, "from docs/lua-api.md", "an undocumented C method is looked up in docs/lua-api.md")
  H.has(n, "`t:narrow(dim, start, len)`  --  ", "the reference table row comes first")
  H.check(select(2, shown(relua.sum):gsub("\n", "")) <= 12, "excerpts are kept short", shown(relua.sum))
end
if relua.is_tensor then
  local x = relua.randn(2, 3)
  H.has(shown(x), "relua.Tensor", "help on a tensor shows its type")
  H.has(shown(x), "Fields:", "help on a tensor lists its methods")
  H.has(shown(), "Tensor:*", "help() lists the Tensor methods")
end

H.finish()
