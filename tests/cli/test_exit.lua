-- The subcommands as processes: exit statuses and where messages go.
--   relua test_exit.lua CMD...   CMD... runs a subcommand: `relua` or `runlua cli.lua`
local T = require "harness"
local prefix = {}
for i = 1, #arg do prefix[i] = string.format("%q", arg[i]) end
prefix = table.concat(prefix, " ")

local function run(args)
  local out, err = os.tmpname(), os.tmpname()
  local ok, how, code = os.execute(prefix .. " " .. args .. " >" .. out .. " 2>" .. err)
  local function slurp(p) local f = io.open(p) local s = f:read("a") f:close() os.remove(p) return s end
  return (how == "exit" and code or -1), slurp(out), slurp(err)
end

T.check(#arg >= 1, "a command to run")
local code, out, err = run("explain --bogus")
T.check(code == 2, "usage error: 2, got " .. code)
T.check(err:find("relua explain: unknown argument '--bogus'", 1, true), "on stderr: " .. err)
T.check(out == "", "nothing on stdout")
code, _, err = run("explain --model missing.onnx --input x.npy --method saliency")
T.check(code == 1 or code == 2, "a failure is non-zero: " .. code)
T.check(err:find("relua explain:", 1, true), "says so: " .. err)
local npy = os.tmpname()
os.remove(npy)
npy = npy .. ".npy"
code, out, err = run("explain --model small_cnn.lua --input ../data/onnx/small_cnn.input.npy --method saliency --out " .. npy)
if err:find("unknown method 'saliency'", 1, true) then
  T.check(code == 2, "no saliency in this build: a usage error")
else
  T.check(code == 0, "saliency runs: " .. err)
  T.check(out:find("wrote " .. npy, 1, true), "and writes: " .. out)
  local f = io.open(npy, "rb")
  T.check(f and f:read(6) == "\x93NUMPY", "a .npy file")
  if f then f:close() end
  os.remove(npy)
end
code, out = run("explain --help")
T.check(code == 0 and out:find("usage: relua explain", 1, true), "--help")
code, out = run("methods")
T.check(code == 0 and out:find("methods (relua explain --method NAME", 1, true), "methods lists")
for _, want in ipairs{"integrated_gradients", "Sundararajan", "lrp.epsilon_gamma_box", "LRP rules",
                      "z_box: LRP-z^B", "gamma (default 0.25)", "epsilon (default 1e-06)"} do
  T.check(out:find(want, 1, true), "relua methods lists " .. want)
end
code, _, err = run("methods nope")
T.check(code == 2 and err:find("unknown method 'nope'", 1, true), "methods nope: " .. err)
T.done()
