-- Tensors: construction, conversion, printing, indexing, slicing, views, errors, memory.
local relua = require "relua"
local T = require "harness"
local check, check_error, close = T.check, T.check_error, T.close

T.test("constructors and shapes", function()
  local t = relua.tensor{{1, 2, 3}, {4, 5, 6}}
  check(#t == 2 and t:dim() == 2 and t:numel() == 6, "shape queries")
  check(t:size(1) == 2 and t:size(2) == 3 and t:size(-1) == 3, "size(d) with negative dims")
  local s = t:shape()
  check(#s == 2 and s[1] == 2 and s[2] == 3, "shape() is a table")
  check(relua.zeros(2, 3):sum():item() == 0 and relua.ones{2, 3}:sum():item() == 6, "zeros/ones, shape as varargs or table")
  check(relua.full(2, 2, 7.5)[2][1] == 7.5, "full")
  check(relua.tensor(3.5):dim() == 0 and relua.tensor(3.5):item() == 3.5, "0-dim from a number")
  close(relua.arange(4), {0, 1, 2, 3})
  close(relua.arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75})
  close(relua.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1})
  local a, b = relua.rand(3, 4, {seed = 7}), relua.rand(3, 4, {seed = 7})
  close(a, b, 0, "rand with the same seed")
  check(a:min():item() >= 0 and a:max():item() < 1, "rand in [0, 1)")
  local u = relua.rand(1000, {lo = -2, hi = -1, seed = 1})
  check(u:min():item() >= -2 and u:max():item() < -1, "rand lo/hi")
  local n = relua.randn(4000, {seed = 3, mean = 5, std = 2})
  check(math.abs(n:mean():item() - 5) < 0.15, "randn mean")
  relua.seed(42); local g1 = relua.randn(5)
  relua.seed(42); local g2 = relua.randn(5)
  close(g1, g2, 0, "relua.seed makes the global generator repeat")
  local c = relua.tensor(t)
  c[1] = 0
  check(t[1][1] == 1, "tensor(t) copies")
end)

T.test("conversion", function()
  local t = relua.tensor{{1, 2}, {3, 4}}
  local tab = t:totable()
  check(tab[2][1] == 3 and #tab == 2 and #tab[1] == 2, "totable nests")
  check(relua.tensor(2):totable() == 2, "0-dim totable is a number")
  check(t[2][2] == 4, "t[i][j] is a number at the last dim")
  check(t:transpose():totable()[1][2] == 3, "totable follows strides")
  check(t[-1][-1] == 4, "negative indices count from the end")
  check_error("item: tensor [2 x 2] has 4 elements, expected 1", t.item, t)
  check_error("rows must have equal lengths", relua.tensor, {{1, 2}, {3}})
  check_error("element 2 at nesting level 2 is a string", relua.tensor, {{1, 2}, {3, "x"}})
  check_error("empty table", relua.tensor, {})
end)

T.test("printing", function()
  local s = tostring(relua.tensor{{1, 2, 3}, {4, 5, 6}})
  check(s == "relua.Tensor [2 x 3]\n[[ 1,  2,  3],\n [ 4,  5,  6]]", "small integer tensor: " .. s)
  local big = tostring(relua.arange(100):reshape(10, 10))
  check(big:find("relua.Tensor [10 x 10]", 1, true) == 1, "header")
  check(select(2, big:gsub("\n", "")) == 7, "10 rows previewed as 6 and an ellipsis")
  check(big:find("[  0,   1,   2, ...,   7,   8,   9]", 1, true), "rows truncated: " .. big)
  check(tostring(relua.tensor{0.5, 1}):find("0.5000", 1, true), "fractions with 4 decimals")
  check(tostring(relua.tensor(2.5)) == "relua.Tensor []\n2.5000", "0-dim")
end)

T.test("indexing and slicing", function()
  local t = relua.arange(24):reshape(2, 3, 4)
  check(t[2]:dim() == 2 and t[2][3][4] == 23, "t[i] selects along dim 1")
  local n = t:narrow(3, 2, 2)
  check(n:size(3) == 2 and n[1][1][1] == 1, "narrow(dim, start, len) is 1-based")
  check(t:narrow(2, -1, 1)[1][1][1] == 8, "narrow from the end")
  check(t:select(3, 4)[2][3] == 23, "select drops the dim")
  local s = t:slice{2, {2, 3}, {-2}}
  check(s:dim() == 2 and s:size(1) == 2 and s:size(2) == 2, "slice: index, range, open range")
  close(s, {{18, 19}, {22, 23}})
  close(t:slice{{}, 1, 1}, {0, 12}, 0, "slice: {} keeps a dim")
  close(t:slice{nil, nil, {4, 4}}:reshape(6), {3, 7, 11, 15, 19, 23}, 0, "nil keeps a dim")
  check(t:slice{}:numel() == 24, "empty spec list is the whole tensor")
  -- a view shares storage
  local v = t:select(1, 1)
  v[1] = 100
  check(t[1][1][4] == 100, "writing into a view writes the tensor")
  t[2] = relua.ones(3, 4)
  check(t[2]:sum():item() == 12, "t[i] = tensor copies in")
  t[2][1] = 5
  check(t[2][1][3] == 5, "t[i] = number fills")
  check_error("index 3 out of range 1..2", function() return t[3] end)
  check_error("index 0 out of range", function() return t[0] end)
  check_error("dim 4 out of range for a 3-dim tensor", t.narrow, t, 4, 1, 1)
  check_error("length 3 from 3 does not fit dim 2", t.narrow, t, 2, 3, 3)
  check_error("more slice specs than dims", t.slice, t, {1, 1, 1, 1})
  check_error("empty range 3..2", t.slice, t, {{}, {3, 2}})
  check_error("attempt to index a 0-dim tensor", function() return relua.tensor(1)[1] end)
  check_error("attempt to get the length of a 0-dim tensor", function() return #relua.tensor(1) end)
end)

T.test("views", function()
  local t = relua.arange(6):reshape(2, 3)
  close(t:t(), {{0, 3}, {1, 4}, {2, 5}})
  close(t:transpose(1, 2), t:t(), 0)
  check(not t:t():is_contiguous() and t:t():contiguous():is_contiguous(), "contiguous")
  local p = relua.zeros(2, 3, 4):permute(3, 1, 2)
  check(p:size(1) == 4 and p:size(2) == 2 and p:size(3) == 3, "permute")
  check(t:reshape(3, -1):size(2) == 2 and t:view(6):dim() == 1, "reshape with -1, view")
  local e = relua.tensor{{1}, {2}}:expand(2, 3)
  close(e, {{1, 1, 1}, {2, 2, 2}})
  check(relua.tensor{1, 2}:expand(relua.zeros(3, 2)):size(1) == 3, "expand to another's shape")
  check(t:unsqueeze(1):size(1) == 1 and t:unsqueeze(-1):size(3) == 1, "unsqueeze")
  check(relua.zeros(1, 3, 1):squeeze():dim() == 1 and relua.zeros(1, 3, 1):squeeze(3):dim() == 2, "squeeze")
  local c = t:clone()
  c:fill_(1)
  check(t:sum():item() == 15 and c:sum():item() == 6, "clone copies, fill_ in place")
  c:copy_(relua.tensor{7, 8, 9})
  close(c, {{7, 8, 9}, {7, 8, 9}}, 0, "copy_ broadcasts")
  check(not t:detach():requires_grad(), "detach")
  check_error("squeeze: dim 1 of [2 x 3] has size 2, not 1", t.squeeze, t, 1)
  check_error("permute: 1 dims given for a 2-dim tensor", t.permute, t, 1)
  check_error("transpose: tensor [2 x 3 x 1] is not 2-D", function() return relua.zeros(2, 3, 1):t() end)
  check_error("reshape", t.reshape, t, 4, 2)
end)

T.test("type errors name the argument", function()
  check_error("relua.Tensor expected, got number", relua.numel, 3)
  check_error("relua.Tensor expected, got table", relua.narrow, {}, 1, 1, 1)
  -- a method call does not count self, as Lua's own methods
  check_error("bad argument #1 to 'narrow' (number expected, got string)", function() return relua.ones(3):narrow("x", 1, 1) end)
end)

T.test("<close> and free release at once", function()
  local base = T.live_bytes()
  do
    local x <close> = relua.zeros(1000, 1000)
    check(relua.memory() >= base + 4e6, "4 MB live while in scope")
  end
  check(relua.memory() <= base, "released at the end of the block, before any collection")
  local y = relua.zeros(1000)
  y:free()
  check(relua.memory() <= base, "free() releases")
  check_error("attempt to use a released tensor", y.numel, y)
  check(tostring(y) == "relua.Tensor (released)", "a released tensor still prints")
  y:free() -- idempotent
end)

T.test("the GC sees tensor memory", function()
  local base = T.live_bytes()
  local peak = 0
  for _ = 1, 300 do
    local t = relua.zeros(1000, 1000) -- 4 MB each, dropped at once
    t = t + 1
    peak = math.max(peak, (relua.memory()))
  end
  check(peak - base < 64e6, string.format("live bytes stayed bounded: peak %.0f MB over 1.2 GB allocated", (peak - base) / 1e6))
  check(T.live_bytes() <= base, "everything collected at the end")
  local bytes, count = relua.memory()
  check(math.type(bytes) == "integer" and math.type(count) == "integer", "memory() gives bytes and a tensor count")
end)

T.test("out of memory: collect and retry once", function()
  relua._alloc_fail_after(1)
  local t = relua.zeros(10) -- the first try fails; the retry after a full collection succeeds
  check(t:numel() == 10, "retried")
  local a = relua.ones(3)
  relua._alloc_fail_after(1)
  local b = a + 1
  check(b[1] == 2, "ops retry too")
end)

T.test("settings", function()
  check(type(relua.version) == "string" and relua.version:match("^%d+%.%d+%.%d+"), "version")
  local n = relua.threads()
  check(relua.threads(1) == 1, "threads(n) sets")
  relua.threads(n)
  check_error("thread count must be >= 1", relua.threads, 0)
end)

T.done()
