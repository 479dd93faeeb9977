-- harness.lua: the few checks the REPL tests share; each run ends with "N passed, N failed".
local H = { passed = 0, failed = 0 }

function H.check(ok, what, detail)
  if ok then
    H.passed = H.passed + 1
    print("ok   " .. what)
  else
    H.failed = H.failed + 1
    print("FAIL " .. what)
    if detail then print("     " .. tostring(detail):gsub("\n", "\n     ")) end
  end
  return ok
end

function H.eq(got, want, what)
  return H.check(got == want, what,
    "want: " .. string.format("%q", tostring(want)) .. "\n got: " .. string.format("%q", tostring(got)))
end

-- Plain substring test (no patterns), reporting the text on failure.
function H.has(text, part, what)
  return H.check(type(text) == "string" and text:find(part, 1, true) ~= nil, what,
    "wanted to find: " .. part .. "\nin: " .. tostring(text))
end

function H.hasnt(text, part, what)
  return H.check(type(text) == "string" and text:find(part, 1, true) == nil, what,
    "did not want: " .. part .. "\nin: " .. tostring(text))
end

-- checkerr(part, f, ...): f(...) raises an error whose message contains part.
function H.checkerr(part, f, ...)
  local ok, msg = pcall(f, ...)
  return H.check(not ok and tostring(msg):find(part, 1, true) ~= nil,
    "error mentions '" .. part .. "'", ok and "no error" or msg)
end

function H.finish()
  print(string.format("%d passed, %d failed", H.passed, H.failed))
  os.exit(H.failed == 0 and 0 or 1)
end

return H
