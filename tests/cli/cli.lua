-- cli.lua: runs a relua subcommand as the relua executable would:
--   runlua cli.lua explain --model ... (the tests' stand-in for `relua explain ...`)
local name = arg[1]
if not name then io.stderr:write("usage: cli.lua SUBCOMMAND [args...]\n") os.exit(2) end
local ok, cmd = pcall(require, "relua.cli." .. name)
if not ok then io.stderr:write("relua: unknown command '", name, "'\n") os.exit(2) end
os.exit(cmd.main({table.unpack(arg, 2)}))
