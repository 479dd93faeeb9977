-- relua.help: the documentation registry behind help() and relua.doc().
--
-- Stdlib authors document a value where they define it, by value or by name:
--
--   relua.doc(M.saliency, [[
--   saliency(model, input, target, opts) -> attribution, info
--   The gradient of the target score with respect to the input.]])
--   relua.doc("Tensor:narrow", "t:narrow(dim, start, len): a view ...")
--
-- A name is a dotted path as the user would type it ("nn.Conv2d",
-- "rules.Epsilon", "Tensor:narrow"; "Tensor" means the relua.Tensor
-- metatable). help(x) finds the text by value, then under the name the value
-- is reachable as from the preloaded globals; failing both, a Lua function
-- is described by its signature and the comment block just above its
-- definition, and a module or class by the opening comment of its file, so
-- the conventional file header comment of a rule or method is its help.

local M = {}

local by_value = setmetatable({}, { __mode = "k" })
local by_name = {}

-- Roots walked to name values, in order of preference for the name shown.
M.roots = { "relua", "nn", "rules", "composites", "methods", "eval", "viz",
            "string", "table", "math", "io", "os", "coroutine", "utf8", "debug" }

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- Registers documentation for a value or a name. Returns the value (or name),
-- so a definition can be wrapped: `M.f = relua.doc(function ... end, "...")`.
function M.doc(target, text)
  if type(text) ~= "string" then
    error("doc: text must be a string, got " .. type(text), 2)
  end
  if type(target) == "string" then
    by_name[target] = text
  elseif target == nil then
    error("doc: target is nil (document a value or a name)", 2)
  else
    by_value[target] = text
  end
  return target
end

-- {==================================================================
-- Naming values: the index from values to the paths that reach them
-- ===================================================================

-- The metatable registered as "relua.<Name>" (luaL_newmetatable), seen
-- under <Name>: its __index table when it has one, as methods live there.
local function methods_of(mt)
  local ix = rawget(mt, "__index")
  if type(ix) == "table" then return ix end
  -- a C __index closing over its method table (tensors: numbers index, names look up methods)
  if type(ix) == "function" and debug.getinfo(ix, "S").what == "C" then
    local _, up = debug.getupvalue(ix, 1)
    if type(up) == "table" then return up end
  end
  return mt
end

local function registry_class(name)
  local mt = debug.getregistry()["relua." .. name]
  if type(mt) ~= "table" then return nil end
  return methods_of(mt)
end

local function class_names()
  local out = {}
  for k, v in pairs(debug.getregistry()) do
    if type(k) == "string" and type(v) == "table" then
      local n = k:match("^relua%.(%u[%w_]*)$")
      if n then out[#out + 1] = n end
    end
  end
  table.sort(out)
  return out
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") then ks[#ks + 1] = k end
  end
  table.sort(ks)
  return ks
end

-- value -> name, first name found wins (roots in M.roots order, breadth first)
local function build_index()
  local names, seen = {}, {}
  local queue = {}
  for _, r in ipairs(M.roots) do
    local v = rawget(_G, r)
    if v ~= nil then queue[#queue + 1] = { v, r, 0 } end
  end
  for _, c in ipairs(class_names()) do
    queue[#queue + 1] = { registry_class(c), c, 0, true }
  end
  for _, k in ipairs(sorted_keys(_G)) do -- the user's own tables, last
    local v = rawget(_G, k)
    if (type(v) == "table" or type(v) == "function") and k ~= "_G" and k ~= "package" then
      queue[#queue + 1] = { v, k, 0 }
    end
  end
  local i = 1
  while i <= #queue do
    local v, name, depth, methods = table.unpack(queue[i])
    i = i + 1
    if names[v] == nil then names[v] = name end
    if type(v) == "table" and not seen[v] and depth < 3 then
      seen[v] = true
      for _, k in ipairs(sorted_keys(v)) do
        local f = rawget(v, k)
        if (type(f) == "table" or type(f) == "function") and k:sub(1, 2) ~= "__" then
          queue[#queue + 1] = { f, name .. (methods and ":" or ".") .. k, depth + 1,
                                type(f) == "table" and rawget(f, "__index") == f }
        end
      end
    end
  end
  return names
end

-- Resolves "a.b.c" / "a.b:c" from _G (or from a relua class); nil if absent.
local function resolve(name)
  local root, rest = name:match("^([%a_][%w_]*)(.*)$")
  if not root then return nil end
  local v = rawget(_G, root)
  if v == nil then v = registry_class(root) end
  for sep, key in rest:gmatch("([%.:])([%a_][%w_]*)") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    local ok, r = pcall(function() return v[key] end)
    if not ok then return nil end
    v = r
  end
  if rest:gsub("[%.:][%a_][%w_]*", "") ~= "" then return nil end
  return v
end

-- }==================================================================

-- {==================================================================
-- Reading documentation from the sources
-- ===================================================================

local file_lines = setmetatable({}, { __mode = "v" })

local function lines_of(path)
  local lines = file_lines[path]
  if lines then return lines end
  local f = io.open(path, "r")
  if not f then return nil end
  lines = {}
  for l in f:lines() do lines[#lines + 1] = l end
  f:close()
  file_lines[path] = lines
  return lines
end

-- The run of "--" lines ending just above line n, without the dashes.
local function comment_above(lines, n)
  local out = {}
  local i = n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") and not lines[i]:match("^%s*%-%-%s*[{}]====") do
    table.insert(out, 1, (lines[i]:gsub("^%s*%-%-+ ?", "")))
    i = i - 1
  end
  if #out == 0 then return nil end
  return table.concat(out, "\n")
end

-- The comment lines a file opens with.
local function header_comment(lines)
  local out = {}
  for _, l in ipairs(lines) do
    if not l:match("^%s*%-%-") then break end
    out[#out + 1] = (l:gsub("^%s*%-%-+ ?", ""))
  end
  return #out > 0 and table.concat(out, "\n") or nil
end

local function source_of(f)
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" or info.source:sub(1, 1) ~= "@" then return nil end
  return info.source:sub(2), info.linedefined
end

local function signature(f, name)
  local info = debug.getinfo(f, "u")
  if debug.getinfo(f, "S").what ~= "Lua" then return name .. "(...)" end
  local params = {}
  for i = 1, info.nparams do params[i] = debug.getlocal(f, i) end
  if info.isvararg then params[#params + 1] = "..." end
  if params[1] == "self" and not name:find(":") then
    table.remove(params, 1)
    name = name:gsub("%.([%a_][%w_]*)$", ":%1")
  end
  return name .. "(" .. table.concat(params, ", ") .. ")"
end

-- Any Lua function defined in t (or its class chain), to find t's file.
local function some_function(t)
  for _ = 1, 8 do
    if type(t) ~= "table" then return nil end
    local fs = {}
    for _, k in ipairs(sorted_keys(t)) do
      local v = rawget(t, k)
      if type(v) == "function" and source_of(v) then fs[#fs + 1] = v end
    end
    if #fs > 0 then return fs[1] end
    local mt = getmetatable(t)
    t = mt and type(mt.__index) == "table" and mt.__index or nil
  end
end

local std_libs = { string = true, table = true, math = true, io = true, os = true,
                   coroutine = true, utf8 = true, debug = true, package = true }
local std_base = {}
for w in ([[assert collectgarbage dofile error getmetatable ipairs load loadfile next
  pairs pcall print rawequal rawget rawlen rawset require select setmetatable
  tonumber tostring type warn xpcall]]):gmatch("%S+") do std_base[w] = true end

local function is_standard(name)
  local root = name:match("^([%a_][%w_]*)%.[%a_][%w_]*$")
  return std_base[name] or (root and std_libs[root]) or false
end

local function first_line(text)
  return (text:match("^[^\n]*"))
end

-- Markdown pages searched for functions nobody documented otherwise (the
-- binding's C functions): the lines or paragraphs that show `name(`.
M.doc_files = { "lua-api.md", "repl.md", "methods.md", "rules.md" }
M.docs_dir = (function()
  local src = debug.getinfo(1, "S").source
  local root = src:match("^@(.*)/stdlib/relua/help%.lua$")
  return root and root .. "/docs" or nil
end)()

local function doc_blocks(path)
  local lines = lines_of(path)
  if not lines then return {} end
  local blocks, para, fenced = {}, {}, false
  local function flush()
    if #para > 0 then blocks[#blocks + 1] = table.concat(para, "\n"); para = {} end
  end
  for _, l in ipairs(lines) do
    if l:match("^```") then
      flush(); fenced = not fenced
    elseif fenced or l:match("^|") or l:match("^#") then
      flush(); blocks[#blocks + 1] = l -- code lines, table rows and headings stand alone
    elseif l:match("^%s*$") then
      flush()
    else
      para[#para + 1] = l
    end
  end
  flush()
  return blocks
end

-- Up to `max` excerpts mentioning short as a call: "x:short(", "relua.short(", "`short(".
function M.excerpts(short, max)
  if not M.docs_dir or not short then return nil end
  local call = "[:%.]" .. short .. "[%({]"
  -- in order of preference: a reference table row naming it in its first cell, any call of it
  local pats = { "^|[^|]*" .. call, call, "`" .. short .. "%(" }
  for _, file in ipairs(M.doc_files) do
    local blocks, found, taken = doc_blocks(M.docs_dir .. "/" .. file), {}, {}
    for _, p in ipairs(pats) do
      for i, b in ipairs(blocks) do
        if #found < (max or 3) and not taken[i] and not b:match("^#") and b:find(p) then
          taken[i] = true
          local text = b:gsub("^|%s*", ""):gsub("%s*|%s*$", ""):gsub("%s*|%s*", "  --  ")
          local n, cut = 0, nil
          for nl in text:gmatch("()\n") do n = n + 1; if n == 4 then cut = nl end end
          found[#found + 1] = cut and text:sub(1, cut - 1) .. " ..." or text
        end
      end
    end
    if #found > 0 then
      return "from docs/" .. file .. ":\n" .. table.concat(found, "\n")
    end
  end
  return nil
end

-- }==================================================================

local function indent(text)
  return "  " .. trim(text):gsub("\n", "\n  ")
end

local function members(t, name, out)
  local fs = {}
  local tt = t
  for _ = 1, 8 do
    if type(tt) ~= "table" then break end
    for _, k in ipairs(sorted_keys(tt)) do
      if k:sub(1, 1) ~= "_" and not fs[k] then fs[#fs + 1] = k; fs[k] = rawget(tt, k) end
    end
    local mt = getmetatable(tt)
    tt = mt and type(mt.__index) == "table" and mt.__index or nil
  end
  table.sort(fs)
  if #fs == 0 then return end
  out[#out + 1] = "Fields:"
  local plain = {}
  for _, k in ipairs(fs) do
    local v = fs[k]
    local doc = by_value[v] or by_name[name .. "." .. k] or by_name[name .. ":" .. k]
    if type(v) == "function" and not doc and source_of(v) then
      local path, ld = source_of(v)
      local lines = lines_of(path)
      doc = lines and comment_above(lines, ld)
    end
    if doc then
      out[#out + 1] = "  " .. k .. string.rep(" ", math.max(1, 20 - #k)) .. first_line(trim(doc))
    else
      plain[#plain + 1] = k
    end
  end
  if #plain > 0 then out[#out + 1] = M.wrap(plain, "  ") end
end

-- The documentation of x as a string (what help(x) prints).
function M.text(x, name)
  local out = {}
  local names = build_index()
  if type(x) == "string" and name == nil then
    if by_name[x] then
      local v = resolve(x)
      if v ~= nil and type(v) == "function" then
        out[#out + 1] = signature(v, x)
      else
        out[#out + 1] = x
      end
      out[#out + 1] = indent(by_name[x])
      return table.concat(out, "\n")
    end
    local v = resolve(x)
    if v ~= nil then return M.text(v, x) end
    return M.search(x)
  end
  name = name or names[x] or type(x)
  local doc = by_value[x] or by_name[name]
  if type(x) == "function" then
    out[#out + 1] = signature(x, name)
    local path, ld = source_of(x)
    if not doc and path then
      local lines = lines_of(path)
      doc = lines and comment_above(lines, ld)
      -- a file that exists for one function documents it in its header
      local header = not doc and lines and header_comment(lines)
      local short = name:match("([%a_][%w_]*)$")
      if header and short and first_line(header):find(short, 1, true) then doc = header end
    end
    if not doc and is_standard(name) then
      doc = "Lua standard library: https://www.lua.org/manual/5.4/manual.html#pdf-" .. name
    end
    if not doc and not path then doc = M.excerpts(name:match("([%a_][%w_]*)$")) end
    out[#out + 1] = doc and indent(doc) or "  (no documentation registered)"
    if path then out[#out + 1] = "  defined at " .. path .. ":" .. ld end
  elseif type(x) == "table" then
    out[#out + 1] = name
    if not doc then
      local f = some_function(x)
      local path = f and source_of(f)
      local lines = path and lines_of(path)
      doc = lines and header_comment(lines)
    end
    if doc then out[#out + 1] = indent(doc) end
    members(x, name, out)
  else
    local mt = getmetatable(x)
    local tname = type(mt) == "table" and rawget(mt, "__name") or type(x)
    local shown = tostring(x):match("^[^\n]*") -- a tensor's first line: type and shape
    out[#out + 1] = shown:find(tostring(tname), 1, true) == 1 and shown or tostring(tname) .. ": " .. shown
    local cls = type(tname) == "string" and tname:match("^relua%.(%u[%w_]*)$")
    if doc then out[#out + 1] = indent(doc) end
    if cls then
      local d = by_name[cls]
      if d then out[#out + 1] = indent(d) end
      local methods = registry_class(cls)
      if methods then members(methods, cls, out) end
    end
  end
  return table.concat(out, "\n")
end

-- Names (documented or reachable from the roots) containing word.
function M.search(word)
  local hits, seen = {}, {}
  local lw = word:lower()
  for n in pairs(by_name) do
    if n:lower():find(lw, 1, true) and not seen[n] then seen[n] = true; hits[#hits + 1] = n end
  end
  for _, n in pairs(build_index()) do
    if n:lower():find(lw, 1, true) and not seen[n] then seen[n] = true; hits[#hits + 1] = n end
  end
  table.sort(hits)
  if #hits == 0 then
    return "no documentation for '" .. word .. "'; help() lists the topics"
  end
  return "no entry '" .. word .. "'; names containing it:\n" .. M.wrap(hits, "  ")
end

function M.wrap(words, prefix)
  local lines, line = {}, prefix
  for _, w in ipairs(words) do
    if #line + #w + 1 > 78 and line ~= prefix then
      lines[#lines + 1] = line
      line = prefix
    end
    line = line .. (line == prefix and "" or " ") .. w
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

-- help() with no argument: how to ask, and what there is to ask about.
function M.topics()
  local out = {
    "help(x)          documentation of a function, module, class, rule, method or tensor",
    "help \"name\"      the same by name: help \"nn.Conv2d\", help \"Tensor:narrow\"",
    "help \"word\"      names containing a word",
    "relua.doc(x, s)  document your own functions (by value or by name)",
    "",
  }
  local groups, order = {}, {}
  local function add(group, member)
    if not groups[group] then groups[group] = {}; order[#order + 1] = group end
    groups[group][member] = true
  end
  for _, r in ipairs(M.roots) do
    local v = rawget(_G, r)
    if type(v) == "table" and (r == "relua" or r == "nn" or r == "rules" or r == "composites"
                               or r == "methods" or r == "eval" or r == "viz") then
      for _, k in ipairs(sorted_keys(v)) do
        if k:sub(1, 1) ~= "_" then add(r, k) end
      end
    end
  end
  for _, c in ipairs(class_names()) do
    local m = registry_class(c)
    for _, k in ipairs(sorted_keys(m)) do
      if k:sub(1, 1) ~= "_" then add(c, k) end
    end
  end
  for n in pairs(by_name) do
    local g, m = n:match("^([%a_][%w_]*)[%.:](.+)$")
    if g then add(g, m) else add("topics", n) end
  end
  for _, g in ipairs(order) do
    local ms = {}
    for m in pairs(groups[g]) do ms[#ms + 1] = m end
    table.sort(ms)
    local sep = g:match("^%u") and ":" or "."
    out[#out + 1] = g .. (g == "topics" and "" or sep .. "*") .. "  (" .. #ms .. ")"
    out[#out + 1] = M.wrap(ms, "    ")
  end
  return table.concat(out, "\n")
end

-- Prints the documentation of x, or the topics when called without one.
function M.help(...)
  if select("#", ...) == 0 then
    print(M.topics())
  elseif (...) == nil then
    print("help: the value is nil (a misspelt name?); help() lists the topics")
  else
    print(M.text((...)))
  end
end

M.doc(M.help, [[
help(x) prints the documentation of x: a function, module, class, rule,
method or tensor. help "name" looks a dotted name up ("nn.Conv2d",
"Tensor:narrow"), help "word" lists names containing word, help() lists
the topics.]])
M.doc(M.doc, [[
relua.doc(x, text) registers documentation for a value x, or for a name
("nn.Conv2d", "Tensor:narrow") when x is a string. Returns x.]])

return M
