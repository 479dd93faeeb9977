-- The lrp method, composites and canonizers: answers known on paper (LRP-0 = gradient x
-- input on a bias-free ReLU net, conservation layer by layer, z+ non-negative), the map of
-- rules to layers, merge_batchnorm restoring the model exactly, and the error messages.
local relua = require "relua"
local nn = relua.nn
local methods = require "relua.methods"
local rules = require "relua.rules"
local composites = require "relua.composites"
local canonizers = require "relua.canonizers"
local types = require "relua.types"
local T = require "harness"
local check, check_error, close = T.check, T.check_error, T.close

-- A bias-free ReLU network with convolutions, pooling, a residual add and dense layers.
local function relu_net(seed)
  relua.seed(seed)
  local m = nn.Sequential(
    nn.Conv2d(2, 4, 3, {padding = 1, bias = false}):named("conv1"), nn.ReLU(),
    nn.AvgPool2d(2),
    nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, {padding = 1, bias = false}), nn.ReLU()):named("body")):named("res"),
    nn.Conv2d(4, 12, 3, {stride = 2, bias = false}):named("conv3"), nn.ReLU(),
    nn.Flatten(),
    nn.Linear(12, 16, {bias = false}):named("fc1"), nn.ReLU(),
    nn.Linear(16, 3, {bias = false}):named("fc2"))
  return m:evaluate()
end

local lrp0 = composites.layer_map{{types.Linear, rules.epsilon{epsilon = 0}}}

T.test("LRP-0 on a bias-free ReLU network is gradient x input", function()
  local m = relu_net(1)
  local x = relua.randn(2, 2, 8, 8, {seed = 2})
  -- gradient x input sums to the logit f_c(x) (the net is positively homogeneous); LRP
  -- starts from the seed, so LRP-0 from the seed f_c(x) at c is gradient x input.
  local out = m:forward(x)
  local seed = relua.zeros(2, 3)
  for i = 1, 2 do seed[i][2] = out[i][2] end
  local r, info = methods.lrp(m, x, seed, {composite = lrp0})
  local gx = relua.grad(m, x, 2) * x
  close(r, gx, 1e-4, "LRP-0 against gradient x input")
  check(r:dim() == 4 and r:size(3) == 8, "the input's shape")
  check(#info.layers >= 10, "a ledger line per rule call: " .. #info.layers)
  -- and from the one-hot seed, gradient x input divided by f_c(x), sample by sample
  local r1 = methods.lrp(m, x, 2, {composite = lrp0})
  for i = 1, 2 do close(r1[i] * out[i][2], gx[i], 1e-4, "sample " .. i) end
  -- the check can fail: LRP-epsilon with a large epsilon is not gradient x input
  check(not T.approx(methods.lrp(m, x, seed, {composite = "epsilon_plus", epsilon = 0.1}), gx, 1e-4), "epsilon = 0.1 differs")
end)

T.test("relevance is conserved layer by layer (epsilon -> 0, no bias)", function()
  local m = relu_net(3)
  local x = relua.randn(2, 2, 8, 8, {seed = 4})
  local r, info = methods.lrp(m, x, 1, {composite = "epsilon_plus", epsilon = 1e-9, stabilizer = 1e-9})
  local kinds = {}
  for _, e in ipairs(info.layers) do
    kinds[e.kind] = true
    check(math.abs(e.input - e.output) <= 1e-5 * math.abs(e.output), string.format("%s (%s): %.8g in, %.8g out",
      e.layer, e.rule, e.output, e.input))
  end
  for _, k in ipairs {"linear", "conv2d", "relu", "avgpool2d", "add"} do check(kinds[k], k .. " is in the ledger") end
  check(info.layers[1].layer == "fc2" and math.abs(info.layers[1].output - 2) < 1e-6, "starts at the seed: 1 per sample")
  close(r:sum():item(), 2, 1e-5, "the input holds the seed's relevance")
  check(info.layers.res.rule == "rules.norm(stabilizer = 1e-09)" and info.layers.res.kind == "add", "the residual add by norm")
end)

T.test("z+ and alpha1-beta0 give non-negative relevance", function()
  local m = relu_net(5)
  local x = relua.rand(3, 2, 8, 8, {seed = 6})
  for _, rule in ipairs {rules.z_plus(), rules.alpha1_beta0()} do
    local c = composites.layer_map{{types.Linear, rule}}
    for class = 1, 3 do
      local r = methods.lrp(m, x, class, {composite = c})
      check(r:min():item() >= 0, tostring(rule) .. ": min " .. r:min():item())
      check(r:max():item() > 0, tostring(rule) .. ": some relevance for class " .. class)
    end
  end
  -- epsilon on the same model does go negative: the check above can fail
  check(methods.lrp(m, x, 3, {composite = lrp0}):min():item() < 0, "LRP-0 has negative relevance here")
end)

-- Rules per layer from a composite, as "layer=rule" strings in modules() order.
local function mapping(c, model)
  local out = {}
  for _, e in ipairs(c:entries(model)) do
    if e.module then
      out[#out + 1] = (e.module.name or e.module.__name) .. "=" .. tostring(e.rule):match("rules%.([%w_]+)")
    end
  end
  return table.concat(out, " ")
end

T.test("composites map the right rule to each layer", function()
  local m = relu_net(7)
  check(mapping(composites.get("epsilon_gamma_box", {low = -1, high = 1}), m) ==
        "conv1=z_box nn.ReLU=pass nn.AvgPool2d=norm res=norm nn.Conv2d=gamma nn.ReLU=pass conv3=gamma nn.ReLU=pass " ..
        "fc1=epsilon nn.ReLU=pass fc2=epsilon", mapping(composites.get("epsilon_gamma_box", {low = -1, high = 1}), m))
  check(mapping(composites.epsilon_plus(), m):find("^conv1=z_plus .* fc1=epsilon"), mapping(composites.epsilon_plus(), m))
  check(mapping(composites.epsilon_alpha2_beta1(), m):find("^conv1=alpha_beta"), "alpha2-beta1 on convs")
  check(mapping(composites.epsilon_plus_flat(), m):find("^conv1=flat .* conv3=z_plus .* fc1=epsilon"), "flat first")
  -- the first layer with weights may be dense
  local mlp = nn.Sequential(nn.Linear(4, 3):named("a"), nn.ReLU(), nn.Linear(3, 2):named("b"))
  check(mapping(composites.epsilon_plus_flat(), mlp) == "a=flat nn.ReLU=pass b=epsilon", mapping(composites.epsilon_plus_flat(), mlp))
  check(mapping(composites.epsilon_gamma_box{low = 0, high = 1}, mlp) == "a=epsilon nn.ReLU=pass b=epsilon",
        "z_box goes on the first convolution only")
  -- user layer maps: names first, then the first layer, then types in order
  local c = composites.layer_map{
    names = {fc2 = rules.epsilon{epsilon = 0.5}, conv3 = "w_square"},
    first = {{types.Convolution, "flat"}},
    {nn.Linear, "z_plus"}, {"Convolution", rules.gamma{gamma = 1}},
  }
  check(mapping(c, m) == "conv1=flat nn.ReLU=pass nn.AvgPool2d=norm res=norm nn.Conv2d=gamma nn.ReLU=pass conv3=w_square " ..
        "nn.ReLU=pass fc1=z_plus nn.ReLU=pass fc2=epsilon", mapping(c, m))
  check(tostring(c:rules(m).fc2) == "nil" and tostring(c:rules(m)[m:find("fc2")]) == "rules.epsilon(epsilon = 0.5)",
        "rules keyed by module")
  check(tostring(c:rules(m).add) == "rules.norm(stabilizer = 1e-06)", "op kinds too: the base map")
  -- a residual by name: its add
  local byname = composites.layer_map{names = {res = rules.epsilon{epsilon = 0.5}}}
  check(mapping(byname, m):find(" res=epsilon ", 1, true), mapping(byname, m))
  local _, info = methods.lrp(m, relua.randn(1, 2, 8, 8, {seed = 1}), 1, {composite = byname})
  check(info.layers.res.rule == "rules.epsilon(epsilon = 0.5)" and info.layers.res.kind == "add", "the pass ran it")
  check(mapping(composites.layer_map{{types.Linear, "epsilon"}, base = false}, m) ==
        "conv1=epsilon nn.Conv2d=epsilon conv3=epsilon fc1=epsilon fc2=epsilon", "base = false")
  -- an nn.Add of one branch makes no add: its rule is not put on the branch's layer
  local one = nn.Sequential(nn.Add(nn.Linear(2, 2):named("only")):named("sum1"))
  check(mapping(composites.epsilon_plus(), one) == "only=epsilon", mapping(composites.epsilon_plus(), one))
  -- a preset with the user's entries first
  local p = composites.epsilon_plus{layer_map = {{types.Dense, "z_plus"}}, names = {conv1 = "flat"}}
  check(mapping(p, m):find("^conv1=flat .* fc1=z_plus"), mapping(p, m))
end)

T.test("the rules of a composite are the ones the pass runs", function()
  local m = relu_net(8)
  local x = relua.randn(1, 2, 8, 8, {seed = 9})
  local _, info = methods.lrp(m, x, 1, {composite = "epsilon_gamma_box", low = -3, high = 3})
  check(info.layers.conv1.rule == "rules.z_box(high = 3, low = -3, stabilizer = 1e-06)", info.layers.conv1.rule)
  check(info.layers.conv3.rule == "rules.gamma(gamma = 0.25, stabilizer = 1e-06)", info.layers.conv3.rule)
  check(info.layers.fc1.rule == "rules.epsilon(epsilon = 1e-06)", info.layers.fc1.rule)
  check(info.layers.fc2.output == 1, "fc2 receives the seed")
  -- the composite and a hand-made rules table agree
  local c = composites.get("epsilon_gamma_box", {low = -3, high = 3})
  local r1 = methods.lrp(m, x, 1, {composite = c, canonizers = {}})
  local r2 = relua.grad(m, x, 1, {rules = c:rules(m)})
  close(r1, r2, 1e-6, "lrp is relua.grad with the composite's rules")
end)

T.test("functional calls get the rules of their op kind", function()
  -- a custom module adding two linear maps with functional calls, outside nn layers
  local Two = relua.class("test.Two", nn.Module)
  function Two:__init(w1, w2) nn.Module.__init(self) self.w1, self.w2 = w1, w2 end
  function Two:update_output(x) return relua.linear(x, self.w1) + relua.linear(x, self.w2) end
  local w1, w2 = relua.tensor{{1, 0}, {0, 1}}, relua.tensor{{2, 0}, {0, -3}}
  local m = nn.Sequential(Two(w1, w2))
  -- x = [1, 1]: the add sees a = [1, 1], b = [2, -3]; seed on output 1 (z = 3):
  -- norm gives R_a = 1/3, R_b = 2/3, then epsilon back through each linear: [1/3 + 2/3, 0]
  local r, info = methods.lrp(m, relua.tensor{{1, 1}}, 1, {composite = "epsilon_plus"})
  close(r, {{1, 0}}, 1e-5)
  check(info.layers[1].layer == "add#1" and info.layers[2].kind == "linear", "ledger by kind")
end)

T.test("merge_batchnorm: same outputs, and remove() restores bit for bit", function()
  relua.seed(10)
  local m = nn.Sequential(
    nn.Conv2d(3, 4, 3, {bias = false}):named("c1"), nn.BatchNorm2d(4):named("bn1"), nn.ReLU(),
    nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, {padding = 1}), nn.BatchNorm2d(4))),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
  for _, mod in ipairs(m:modules()) do
    if mod.running_mean then
      mod.running_mean = relua.randn(4) * 0.5
      mod.running_var = relua.rand(4, {lo = 0.5, hi = 2})
      mod.weight, mod.bias = relua.randn(4), relua.randn(4)
    end
  end
  m:evaluate()
  local x = relua.randn(2, 3, 6, 6, {seed = 11})
  local before = m:forward(x):clone()
  local keep = {}
  for i, mod in ipairs(m:modules()) do
    keep[i] = {}
    for _, k in ipairs {"weight", "bias", "running_mean", "running_var"} do
      if mod[k] then keep[i][k] = {t = mod[k], v = mod[k]:clone()} end
    end
  end
  local c1 = m:find("c1")
  do
    local h <close> = canonizers.get("merge_batchnorm"):apply(m)
    close(m:forward(x), before, 1e-5, "the merged model computes the same")
    check(c1.bias ~= nil, "a bias was made for the conv without one")
    close(m:find("bn1").running_var, relua.ones(4), 0, "the BatchNorm is the identity now")
    check(m:find("bn1").eps == 0, "eps 0")
  end
  check(c1.bias == nil, "the conv has no bias again")
  for i, mod in ipairs(m:modules()) do
    for k, saved in pairs(keep[i]) do
      check(rawequal(mod[k], saved.t), "the same tensor is back: " .. k)
      check((mod[k] - saved.v):abs():max():item() == 0, "bit for bit: " .. k)
    end
  end
  check(m:find("bn1").eps == 1e-5, "eps restored")
  close(m:forward(x), before, 0, "the model computes exactly what it did")
  -- remove() is idempotent
  local h = canonizers.apply({"merge_batchnorm"}, m)
  h:remove() h:remove()
  check(rawequal(c1.weight, keep[1 + 1].weight.t), "still the original weight")
  -- training mode is refused, and nothing is left changed
  m:training()
  check_error("merge_batchnorm: nn.BatchNorm2d 'bn1' (module 2) is in training mode; call model:evaluate() first",
              canonizers.get("merge_batchnorm").apply, canonizers.get("merge_batchnorm"), m)
  check(c1.bias == nil and rawequal(c1.weight, keep[2].weight.t), "untouched after the error")
  m:evaluate()
  -- lrp applies it by default and undoes it, even when the pass fails
  local r = methods.lrp(m, x, 1)
  check(r:size(2) == 3 and rawequal(c1.weight, keep[2].weight.t) and c1.bias == nil, "restored after lrp")
  check_error("boom", methods.lrp, m, x, function() error("boom") end)
  check(rawequal(c1.weight, keep[2].weight.t) and c1.bias == nil, "restored after a failed lrp")
  check_error("unknown canonizer 'merge_bn' (canonizers: merge_batchnorm)", methods.lrp, m, x, 1, {canonizers = {"merge_bn"}})
end)

T.test("merged BatchNorm changes the relevance as Zennit's canonizer does", function()
  -- conv (w = 2, no bias) then BN (scale 3, shift 1): merged conv w = 6, b = 1; one pixel x = 1,
  -- z = 7; epsilon on the merged layer sends x w / z = 6/7 of R to the input
  local conv = nn.Conv2d(1, 1, 1, {bias = false})
  conv.weight = relua.full({1, 1, 1, 1}, 2)
  local bn = nn.BatchNorm2d(1)
  bn.weight, bn.bias = relua.full({1}, 3), relua.full({1}, 1)
  local m = nn.Sequential(conv, bn, nn.Flatten()):evaluate()
  local c = composites.layer_map{{types.Convolution, rules.epsilon{epsilon = 0}}}
  local x = relua.ones(1, 1, 1, 1)
  close(methods.lrp(m, x, 1, {composite = c}), {{{{6 / 7}}}}, 1e-5, "merged")
  close(methods.lrp(m, x, 1, {composite = c, canonizers = {}}), {{{{1}}}}, 1e-5, "BN passed: the conv alone")
end)

T.test("errors name what is wrong", function()
  local m = relu_net(12)
  local x = relua.randn(1, 2, 8, 8, {seed = 13})
  check_error("unknown composite 'epsilon_plu' (composites: epsilon_alpha2_beta1, epsilon_alpha2_beta1_flat,",
              methods.lrp, m, x, 1, {composite = "epsilon_plu"})
  check_error("epsilon_gamma_box: options 'low' and 'high' are required", methods.lrp, m, x, 1, {composite = "epsilon_gamma_box"})
  check_error("lrp: unknown option 'composit'", methods.lrp, m, x, 1, {composit = "epsilon_plus"})
  check_error("lrp: option 'composite' must be string or table, got integer 3", methods.lrp, m, x, 1, {composite = 3})
  check_error("lrp: option 'composite' must be a composite or a composite name, got table", methods.lrp, m, x, 1, {composite = {}})
  check_error("lrp: option 'epsilon' applies to a composite given by name", methods.lrp, m, x, 1,
              {composite = composites.epsilon_plus(), epsilon = 0.1})
  check_error("epsilon_plus: unknown option 'gamma'", composites.epsilon_plus, {gamma = 1})
  check_error("lrp: option 'gamma' must be number >= 0, got -1", methods.lrp, m, x, 1, {composite = "epsilon_gamma_box", gamma = -1})
  check_error("composite: names: no layer named 'fc9' in the model", methods.lrp, m, x, 1,
              {composite = composites.layer_map{names = {fc9 = "epsilon"}}})
  check_error("composite: names: 'body' is a nn.Sequential; rules apply to leaf layers and adds", methods.lrp, m, x, 1,
              {composite = composites.layer_map{names = {body = "epsilon"}}})
  check_error("unknown rule 'zplus'", composites.layer_map, {{types.Convolution, "zplus"}})
  check_error("layer map entry 1: a layer map key is a type group, an nn class or an op kind, got number",
              composites.layer_map, {{3, "epsilon"}})
  check_error("lrp: the model must be an nn module, got string", methods.lrp, "model", x, 1)
  check(table.concat(composites.list(), " ") ==
        "epsilon_alpha2_beta1 epsilon_alpha2_beta1_flat epsilon_gamma_box epsilon_plus epsilon_plus_flat", "composites.list")
  check(composites.help("epsilon_plus"):find("z_plus on convolutions", 1, true), "composites.help")
end)

T.test("a failing rule leaves nothing behind", function()
  local m = relu_net(14)
  local x = relua.randn(1, 2, 8, 8, {seed = 15})
  methods.lrp(m, x, 1)
  local base = T.live_bytes()
  local bad = composites.layer_map{{types.Dense, function() error("rule failed") end}}
  for _ = 1, 3 do check_error("rule failed", methods.lrp, m, x, 1, {composite = bad}) end
  methods.lrp(m, x, 1)
  check(T.live_bytes() <= base, "memory back to the baseline")
end)

T.test("allocation failures anywhere in lrp: an error, the model restored, nothing leaked", function()
  relua.seed(16)
  local m = nn.Sequential(nn.Conv2d(1, 2, 3, {bias = false}):named("c"), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU())),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2)):evaluate()
  local x = relua.rand(1, 1, 5, 5, {seed = 17})
  local opts = {composite = "epsilon_gamma_box", low = 0, high = 1}
  local want = methods.lrp(m, x, 1, opts)
  local w = m:find("c").weight
  local base = T.live_bytes()
  local before = relua._alloc_fail_after()
  methods.lrp(m, x, 1, opts)
  local count = relua._alloc_fail_after() - before
  check(count > 50, "lrp allocates: " .. count)
  local failures = 0
  for n = 1, count + 5, math.max(1, count // 60) do
    relua._alloc_fail_after(n)
    local ok, r = pcall(methods.lrp, m, x, 1, opts)
    relua._alloc_fail_after(0)
    if ok then close(r, want, 1e-6, "a retried pass is right")
    else
      failures = failures + 1
      check(tostring(r):find("out of memory", 1, true), "fails with 'out of memory': " .. tostring(r))
    end
    check(rawequal(m:find("c").weight, w) and m:find("c").bias == nil, "the canonizer was undone at n = " .. n)
  end
  -- (the binding collects and retries a failed allocation once, so most passes succeed)
  check(T.live_bytes() <= base, "nothing leaked")
  close(methods.lrp(m, x, 1, opts), want, 1e-6, "and lrp works again")
end)

T.done()
