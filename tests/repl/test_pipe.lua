-- test_pipe.lua: the relua executable through pipes: the REPL, options, arg, errors, RELUA_INIT/PATH.
-- usage: relua test_pipe.lua RELUA TMPDIR
package.path = arg[0]:gsub("[^/]*$", "") .. "?.lua;" .. package.path
local H = require "harness"
local exe, tmp = assert(arg[1], "RELUA missing"), assert(arg[2], "TMPDIR missing")
os.execute("mkdir -p '" .. tmp .. "'")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- run(args, stdin, env) -> stdout, stderr, exit status. args is shell text.
local function run(args, input, env)
  local inf, outf, errf = tmp .. "/in.txt", tmp .. "/out.txt", tmp .. "/err.txt"
  write(inf, input or "")
  local cmd = "env -u RELUA_INIT -u RELUA_INIT_5_4 -u RELUA_PATH -u RELUA_CPATH -u LUA_INIT "
  for k, v in pairs(env or {}) do cmd = cmd .. k .. "=" .. q(v) .. " " end
  cmd = cmd .. q(exe) .. " " .. args .. " < " .. q(inf) .. " > " .. q(outf) .. " 2> " .. q(errf)
  local _, how, code = os.execute(cmd)
  return read(outf), read(errf), how == "exit" and code or -1
end

local repl = "-e \"_PROMPT='' _PROMPT2=''\" -i"

-- {==================================================================
-- The REPL through a pipe
-- ===================================================================
do
  local out, err, code = run(repl, [[
1 + 1
=2*3
x = 10
x
error('boom')
x + 1
for i = 1, 2 do
  print('loop', i)
end
function twice(a)
  return a * 2
end
twice(21)
'a', 'b'
nosuch.field
x
setmetatable({}, {__tostring = function() return 'shown by tostring' end})
print = function(...) io.write('P:', select('#', ...), '\n') end
1, 2, nil
]])
  local body = out:gsub("^relua [^\n]*\n", "", 1)
  H.check(out:match("^relua ") ~= nil, "-i prints the version banner first", out)
  H.eq(body, "2\n6\n10\n11\nloop\t1\nloop\t2\n42\na\tb\n10\nshown by tostring\nP:3\n\n",
       "expressions, =expr, multi-line statements and results print in order")
  H.has(err, "boom", "an error prints its message")
  H.hasnt(err, "relua: ", "interactive errors carry no program name")
  H.has(err, "attempt to index a nil value (global 'nosuch')", "a runtime error is reported")
  H.eq(code, 0, "the REPL exits 0 at end of input")
end

do
  local out, err = run(repl, "y = 5\nif y then\n  y = y +\n  1 end\ny\n")
  H.has(out, "6\n", "a statement split inside an expression is continued")
  local out2, err2 = run(repl, "z = 1\nz = = 2\nz\nif z then\n")
  H.eq(out2:gsub("^relua [^\n]*\n", "", 1), "1\n\n", "a syntax error does not continue and keeps state")
  H.has(err2, "unexpected symbol near '='", "a syntax error is reported")
  H.has(err2, "'end' expected near <eof>", "a statement cut by end of input is reported")
  local _, err3 = run(repl, "local v = 1\n")
  H.has(err3, "locals do not survive", "a warning for 'local' at the prompt")
end

do -- errors inside functions keep globals; the message has the traceback
  local out, err = run(repl, [[
count = 0
function bump()
  count = count + 1; error('bump failed')
end
bump()
bump()
count
]])
  H.has(out, "\n2\n", "globals changed before an error are kept")
  H.has(err, "stdin:2: bump failed", "the error names stdin:line")
  H.has(err, "stack traceback", "a traceback follows the message")
end

do -- preloaded globals and help
  local out = run(repl, "type(relua), type(help), type(relua.doc)\nrelua.version == (relua.version or 1)\n")
  H.has(out, "table\tfunction\tfunction", "relua, help and relua.doc are preloaded")
  local out2 = run(repl, "help(relua.doc)\n")
  H.has(out2, "registers documentation", "help(x) at the prompt prints the documentation")
  local out3 = run("-e " .. q("print(type(relua), type(help))"))
  H.eq(out3, "table\tfunction\n", "scripts get the same preloaded globals")
end

-- }==================================================================

-- {==================================================================
-- Scripts, errors and exit statuses
-- ===================================================================
do
  local script = write(tmp .. "/bad.lua", "local x = 1\nlocal function inner()\n  error('bad thing')\nend\ninner()\n")
  local out, err, code = run(q(script))
  H.eq(code, 1, "a script error exits 1")
  H.has(err, "relua: " .. script .. ":3: bad thing", "the error reads relua: file:line: message")
  H.has(err, "stack traceback:", "a script error prints a traceback")
  H.has(err, script .. ":5: in main chunk", "the traceback names the caller's line")

  local syn = write(tmp .. "/syntax.lua", "x = = 1\n")
  local _, err2, code2 = run(q(syn))
  H.eq(code2, 1, "a syntax error in a script exits 1")
  H.has(err2, "relua: " .. syn .. ":1:", "the syntax error names file:line")

  local _, err3, code3 = run(q(tmp .. "/missing.lua"))
  H.eq(code3, 1, "a missing script exits 1")
  H.has(err3, "cannot open", "a missing script is reported")

  local obj = write(tmp .. "/obj.lua", "error(setmetatable({}, {__tostring = function() return 'custom error' end}))\n")
  local _, err4, code4 = run(q(obj))
  H.eq(code4, 1, "an error object exits 1")
  H.has(err4, "relua: custom error", "an error object prints through __tostring")
  local _, err5 = run("-e " .. q("error({})"))
  H.has(err5, "(error object is a table value)", "a table error object is named")

  local _, _, code6 = run("-e " .. q("os.exit(3)"))
  H.eq(code6, 3, "os.exit sets the exit status")
  local _, err7, code7 = run("", "print('from stdin')\nerror('stdin broke')\n")
  H.eq(code7, 1, "a failing script on stdin exits 1")
  H.has(err7, "relua: stdin:2: stdin broke", "stdin errors read stdin:line")
  local out8, _, code8 = run("", "print('piped ' .. 'script')\n")
  H.eq(out8, "piped script\n", "without a terminal, stdin runs as a script")
  H.eq(code8, 0, "a good stdin script exits 0")
end

-- }==================================================================

-- {==================================================================
-- Options: -e -l -v -i -E -- - and arg
-- ===================================================================
do
  local out, _, code = run("-e " .. q("print(1 + 1)") .. " -e " .. q("print('second')"))
  H.eq(out, "2\nsecond\n", "-e runs in order")
  H.eq(code, 0, "-e exits 0")
  local _, err, code2 = run("-e " .. q("error('in e')"))
  H.eq(code2, 1, "an -e error exits 1")
  H.has(err, "relua: (command line):1: in e", "an -e error names (command line)")
  local out3 = run("-e'print(7)'")
  H.eq(out3, "7\n", "-e with the code attached")

  write(tmp .. "/mymod.lua", "return {v = 5}\n")
  write(tmp .. "/vmod-2.lua", "return {v = 'two'}\n")
  local env = { RELUA_PATH = tmp .. "/?.lua" }
  H.eq((run("-l mymod -e " .. q("print(mymod.v)"), nil, env)), "5\n", "-l mod sets global mod")
  H.eq((run("-l m=mymod -e " .. q("print(m.v, mymod)"), nil, env)), "5\tnil\n", "-l g=mod sets global g")
  H.eq((run("-l vmod-2 -e " .. q("print(vmod.v)"), nil, env)), "two\n", "-l mod-suffix sets global mod")
  local _, err4, code4 = run("-l nosuchmodule")
  H.eq(code4, 1, "-l of a missing module exits 1")
  H.has(err4, "module 'nosuchmodule' not found", "-l reports the missing module")

  local out5, _, code5 = run("-v")
  H.check(out5:match("^relua %S+, Lua 5%.4") ~= nil, "-v prints relua's and Lua's versions", out5)
  H.eq(code5, 0, "-v exits 0")
  local ver = run("-e " .. q("io.write(relua.version)"))
  H.has(out5, "relua " .. ver .. ",", "-v shows relua.version")

  local _, err6, code6 = run("-x")
  H.eq(code6, 1, "an unknown option exits 1")
  H.has(err6, "unrecognized option '-x'", "an unknown option is named")
  H.has(err6, "usage:", "an unknown option prints the usage")
  local _, err7, code7 = run("-e")
  H.eq(code7, 1, "-e without code exits 1")
  H.has(err7, "'-e' needs argument", "-e without code is reported")

  local show = write(tmp .. "/show.lua", [[
io.write(arg[0], "|", #arg, "|", tostring(arg[1]), "|", tostring(arg[2]), "|", tostring(arg[-1]), "|")
io.write(select("#", ...), "|", tostring((...)), "\n")
]])
  local out8 = run(q(show) .. " a b")
  H.eq(out8, show .. "|2|a|b|" .. exe .. "|2|a\n", "arg[0] is the script, args positive, ... too")
  local out9 = run("-e " .. q("x=1") .. " " .. q(show) .. " z")
  H.eq(out9, show .. "|1|z|nil|x=1|1|z\n", "interpreter options get negative indices")
  local out10 = run("-- " .. q(show) .. " -e")
  H.eq(out10, show .. "|1|-e|nil|--|1|-e\n", "-- stops options; what follows goes to the script")
  local out11 = run("- p q", "io.write(arg[0], ' ', table.concat({...}, ' '), '\\n')\n")
  H.eq(out11, "- p q\n", "'-' runs stdin with arguments")
  local out12 = run("-e " .. q("print(arg[0] == arg[-0], arg[1], #arg)"))
  H.eq(out12, "true\t-e\t2\n", "without a script arg[0] is the interpreter")

  local setg = write(tmp .. "/setg.lua", "from_script = 'set by script'\n")
  local out13 = run("-e \"_PROMPT=''\" -i " .. q(setg), "from_script\n")
  H.has(out13, "set by script\n", "-i enters the REPL after the script, with its globals")
end

-- }==================================================================

-- {==================================================================
-- Environment: RELUA_INIT, RELUA_PATH, -E
-- ===================================================================
do
  local out = run("-e " .. q("print('then e')"), nil, { RELUA_INIT = "print('init ran')" })
  H.eq(out, "init ran\nthen e\n", "RELUA_INIT runs before -e")
  local initf = write(tmp .. "/init.lua", "print('init file')\n")
  H.eq((run("-e ''", nil, { RELUA_INIT = "@" .. initf })), "init file\n", "RELUA_INIT=@file runs the file")
  H.eq((run("-e ''", nil, { RELUA_INIT = "print('plain')", RELUA_INIT_5_4 = "print('versioned')" })),
       "versioned\n", "RELUA_INIT_5_4 wins over RELUA_INIT")
  local _, err, code = run("-e ''", nil, { RELUA_INIT = "error('init broke')" })
  H.eq(code, 1, "a failing RELUA_INIT exits 1")
  H.has(err, "relua: RELUA_INIT:1: init broke", "a RELUA_INIT error names RELUA_INIT")
  H.eq((run("-E -e " .. q("print('no init')"), nil, { RELUA_INIT = "print('init ran')" })),
       "no init\n", "-E ignores RELUA_INIT")

  local default = run("-e " .. q("io.write(package.path)"))
  local with = run("-e " .. q("io.write(package.path)"), nil, { RELUA_PATH = "/x/?.lua;;/y/?.lua" })
  H.eq(with, "/x/?.lua;" .. default .. ";/y/?.lua", "';;' in RELUA_PATH splices in the default")
  local pre = run("-e " .. q("io.write(package.path)"), nil, { RELUA_PATH = "/x/?.lua" })
  H.eq(pre, "/x/?.lua;" .. default, "RELUA_PATH without ';;' goes in front of the default")
  local cdefault = run("-e " .. q("io.write(package.cpath)"))
  local cpath = run("-e " .. q("io.write(package.cpath)"), nil, { RELUA_CPATH = "/c/?.so;;" })
  H.eq(cpath, "/c/?.so;" .. cdefault, "RELUA_CPATH works like RELUA_PATH")
  H.eq((run("-E -e " .. q("io.write(package.path)"), nil, { RELUA_PATH = "/x/?.lua" })):find("/x/", 1, true),
       nil, "-E ignores RELUA_PATH")
  write(tmp .. "/shadow.lua", "return 'from RELUA_PATH'\n")
  H.eq((run("-e " .. q("print((require 'shadow'))"), nil, { RELUA_PATH = tmp .. "/?.lua" })),
       "from RELUA_PATH\n", "modules are found through RELUA_PATH")
end

-- }==================================================================

H.finish()
