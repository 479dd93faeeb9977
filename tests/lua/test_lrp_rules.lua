-- LRP rules against a slow reference written from the formulas: explicit loops over
-- every contribution z_ij = x_i w_ij of a random linear layer and a random convolution
-- (stride 2, padding 1, connections enumerated directly), in double precision.
local relua = require "relua"
local rules = require "relua.rules"
local T = require "harness"
local check, check_error, close = T.check, T.check_error, T.close

local function flat(t) return t:contiguous():reshape(-1):totable() end

-- {out = {{i, w}, ...} per output j, bias = {b_j}} for a linear layer: x [N x I], w [O x I].
local function linear_conns(xs, w, b)
  local n, ni, no = xs[1], xs[2], w:size(1)
  local W, B = flat(w), b and flat(b)
  local outs, bias = {}, {}
  for s = 0, n - 1 do
    for o = 0, no - 1 do
      local c = {}
      for i = 0, ni - 1 do c[#c + 1] = {s * ni + i + 1, W[o * ni + i + 1]} end
      outs[#outs + 1], bias[#bias + 1] = c, B and B[o + 1] or 0
    end
  end
  return outs, bias
end

-- The same for conv2d with stride st and padding p: every (input, weight) pair feeding an output.
local function conv_conns(xs, w, b, st, p)
  local n, ch, h, wd = xs[1], xs[2], xs[3], xs[4]
  local no, kh, kw = w:size(1), w:size(3), w:size(4)
  local ho, wo = (h + 2 * p - kh) // st + 1, (wd + 2 * p - kw) // st + 1
  local W, B = flat(w), b and flat(b)
  local outs, bias = {}, {}
  for s = 0, n - 1 do
    for o = 0, no - 1 do
      for oy = 0, ho - 1 do
        for ox = 0, wo - 1 do
          local c = {}
          for ci = 0, ch - 1 do
            for ky = 0, kh - 1 do
              for kx = 0, kw - 1 do
                local iy, ix = oy * st - p + ky, ox * st - p + kx
                if iy >= 0 and iy < h and ix >= 0 and ix < wd then
                  c[#c + 1] = {((s * ch + ci) * h + iy) * wd + ix + 1, W[((o * ch + ci) * kh + ky) * kw + kx + 1]}
                end
              end
            end
          end
          outs[#outs + 1], bias[#bias + 1] = c, B and B[o + 1] or 0
        end
      end
    end
  end
  return outs, bias
end

local function stab(z, eps) return z + eps * (z >= 0 and 1 or -1) end
local function pos(v) return v > 0 and v or 0 end
local function neg(v) return v < 0 and v or 0 end

-- Reference rules: ref(x, conns, bias, R, params) -> relevance per input (a flat table).
-- Each loops over the contributions of every output j, as the formulas read.
local ref = {}

function ref.epsilon(x, outs, bias, R, p)
  local r = {}
  for i = 1, #x do r[i] = 0 end
  for j, c in ipairs(outs) do
    local z = bias[j]
    for _, e in ipairs(c) do z = z + x[e[1]] * e[2] end
    for _, e in ipairs(c) do r[e[1]] = r[e[1]] + x[e[1]] * e[2] * R[j] / stab(z, p.epsilon) end
  end
  return r
end

function ref.alpha_beta(x, outs, bias, R, p)
  local r = {}
  for i = 1, #x do r[i] = 0 end
  for j, c in ipairs(outs) do
    local zp, zn = pos(bias[j]), neg(bias[j])
    for _, e in ipairs(c) do
      local xi, w = x[e[1]], e[2]
      zp = zp + pos(xi) * pos(w) + neg(xi) * neg(w)
      zn = zn + pos(xi) * neg(w) + neg(xi) * pos(w)
    end
    for _, e in ipairs(c) do
      local xi, w = x[e[1]], e[2]
      r[e[1]] = r[e[1]] + p.alpha * (pos(xi) * pos(w) + neg(xi) * neg(w)) * R[j] / stab(zp, p.stabilizer)
                        - p.beta * (pos(xi) * neg(w) + neg(xi) * pos(w)) * R[j] / stab(zn, p.stabilizer)
    end
  end
  return r
end

function ref.z_plus(x, outs, bias, R, p)
  return ref.alpha_beta(x, outs, bias, R, {alpha = 1, beta = 0, stabilizer = p.stabilizer})
end

function ref.gamma(x, outs, bias, R, p)
  local g, r = p.gamma, {}
  for i = 1, #x do r[i] = 0 end
  for j, c in ipairs(outs) do
    local b = bias[j]
    local z, zu, zd = b, b + g * pos(b), b + g * neg(b)
    for _, e in ipairs(c) do
      local xi, w = x[e[1]], e[2]
      local wu, wd = w + g * pos(w), w + g * neg(w)
      z = z + xi * w
      zu = zu + pos(xi) * wu + neg(xi) * wd
      zd = zd + pos(xi) * wd + neg(xi) * wu
    end
    for _, e in ipairs(c) do
      local xi, w = x[e[1]], e[2]
      local wu, wd = w + g * pos(w), w + g * neg(w)
      if z > 0 then r[e[1]] = r[e[1]] + (pos(xi) * wu + neg(xi) * wd) * R[j] / stab(zu, p.stabilizer)
      elseif z < 0 then r[e[1]] = r[e[1]] + (pos(xi) * wd + neg(xi) * wu) * R[j] / stab(zd, p.stabilizer) end
    end
  end
  return r
end

function ref.z_box(x, outs, bias, R, p)
  local r = {}
  for i = 1, #x do r[i] = 0 end
  for j, c in ipairs(outs) do
    local z = 0 -- the bias cancels
    for _, e in ipairs(c) do z = z + x[e[1]] * e[2] - p.low * pos(e[2]) - p.high * neg(e[2]) end
    for _, e in ipairs(c) do
      r[e[1]] = r[e[1]] + (x[e[1]] * e[2] - p.low * pos(e[2]) - p.high * neg(e[2])) * R[j] / stab(z, p.stabilizer)
    end
  end
  return r
end

function ref.flat(x, outs, bias, R, p)
  local r = {}
  for i = 1, #x do r[i] = 0 end
  for j, c in ipairs(outs) do
    for _, e in ipairs(c) do r[e[1]] = r[e[1]] + R[j] / stab(#c, p.stabilizer) end
  end
  return r
end

function ref.w_square(x, outs, bias, R, p)
  local r = {}
  for i = 1, #x do r[i] = 0 end
  for j, c in ipairs(outs) do
    local z = bias[j] * bias[j]
    for _, e in ipairs(c) do z = z + e[2] * e[2] end
    for _, e in ipairs(c) do r[e[1]] = r[e[1]] + e[2] * e[2] * R[j] / stab(z, p.stabilizer) end
  end
  return r
end

-- The rule applied to one layer call: relevance at x for the seed R on the output.
local function run(rule, f, x, R)
  return relua.grad(f, x, R, {rules = {conv2d = rule, linear = rule}})
end

local cases = {
  {"epsilon", {epsilon = 1e-6}}, {"epsilon", {epsilon = 0.3}},
  {"z_plus", {stabilizer = 1e-6}},
  {"alpha_beta", {alpha = 2, beta = 1, stabilizer = 1e-6}}, {"alpha_beta", {alpha = 1, beta = 0, stabilizer = 1e-6}},
  {"gamma", {gamma = 0.25, stabilizer = 1e-6}}, {"gamma", {gamma = 1.5, stabilizer = 1e-6}},
  {"z_box", {low = -1.5, high = 2, stabilizer = 1e-6}},
  {"flat", {stabilizer = 1e-6}},
  {"w_square", {stabilizer = 1e-6}},
}

local function compare(layer, f, x, R, conns, bias)
  local X, Rs = flat(x), flat(R)
  for _, case in ipairs(cases) do
    local name, p = case[1], case[2]
    local got = run(rules.new(name, p), f, x, R)
    local want = ref[name](X, conns, bias, Rs, p)
    close(got:reshape(-1), want, 2e-4, string.format("%s %s against the reference", layer, tostring(rules.new(name, p))))
  end
end

T.test("every rule on a random linear layer, with bias", function()
  local x = relua.randn(3, 7, {seed = 11})
  local w, b = relua.randn(5, 7, {seed = 12}), relua.randn(5, {seed = 13}) * 0.5
  local R = relua.randn(3, 5, {seed = 14})
  local conns, bias = linear_conns(x:shape(), w, b)
  compare("linear", function(v) return relua.linear(v, w, b) end, x, R, conns, bias)
end)

T.test("every rule on a random convolution, stride 2 and padding 1", function()
  local x = relua.randn(2, 2, 5, 6, {seed = 21})
  local w, b = relua.randn(3, 2, 3, 3, {seed = 22}), relua.randn(3, {seed = 23}) * 0.5
  local f = function(v) return relua.conv2d(v, w, b, {stride = 2, padding = 1}) end
  local R = relua.randn(f(x):shape(), {seed = 24})
  local conns, bias = conv_conns(x:shape(), w, b, 2, 1)
  check(#conns == 2 * 3 * 3 * 3, "outputs enumerated: " .. #conns)
  compare("conv2d", f, x, R, conns, bias)
  -- without a bias too
  local g = function(v) return relua.conv2d(v, w, nil, {stride = 2, padding = 1}) end
  local zero = {}
  for j = 1, #bias do zero[j] = 0 end
  compare("conv2d (no bias)", g, x, R, conns, zero)
end)

T.test("non-negative inputs (after a ReLU): the x- passes are skipped, the answer is the same", function()
  local x = relua.randn(2, 2, 5, 6, {seed = 41}):clamp(0)
  local w, b = relua.randn(3, 2, 3, 3, {seed = 42}), relua.randn(3, {seed = 43}) * 0.5
  local f = function(v) return relua.conv2d(v, w, b, {stride = 2, padding = 1}) end
  local R = relua.randn(f(x):shape(), {seed = 44})
  local conns, bias = conv_conns(x:shape(), w, b, 2, 1)
  local before = rules.basic.stats.skipped
  compare("conv2d on x >= 0", f, x, R, conns, bias)
  -- z_plus 1, alpha_beta 2 (twice), gamma 2 (twice): 9 passes on x- = 0 skipped
  check(rules.basic.stats.skipped - before == 9, "passes skipped: " .. rules.basic.stats.skipped - before)
  -- all-negative inputs skip the x+ passes instead, where no bias enters them: without a bias,
  -- z_plus 1, alpha_beta 2 (twice), gamma 2 (twice)
  local xn = -x - 0.1
  local g = function(v) return relua.conv2d(v, w, nil, {stride = 2, padding = 1}) end
  local zero = {}
  for j = 1, #bias do zero[j] = 0 end
  before = rules.basic.stats.skipped
  compare("conv2d on x < 0", g, xn, R, conns, zero)
  check(rules.basic.stats.skipped - before == 9, "x+ passes skipped: " .. rules.basic.stats.skipped - before)
end)

T.test("epsilon: sign(0) = +1 in the stabiliser", function()
  -- z = 1 - 1 + 0 = 0 exactly: stab(0) = +eps, so R = x_i w_i R / eps
  local w = relua.tensor{{1, 1}}
  local f = function(v) return relua.linear(v, w, nil) end
  local r = run(rules.epsilon{epsilon = 0.5}, f, relua.tensor{{1, -1}}, relua.tensor{{1}})
  close(r, {{2, -2}}, 0, "1 / 0.5 and -1 / 0.5")
  -- gamma: an output with z = 0 exactly sends nothing, whatever its z^up and z^dn
  close(run(rules.gamma(), f, relua.tensor{{1, -1}}, relua.tensor{{1}}), {{0, 0}}, 0, "gamma at z = 0")
  -- and where z > 0 only the up terms count: x = [2, -1], w = [1, 1]: z = 1,
  -- z^up = 2 (1 + 0.25) + (-1) (1 + 0) = 1.5, R = [2.5 / 1.5, -1 / 1.5]
  close(run(rules.gamma{stabilizer = 0}, f, relua.tensor{{2, -1}}, relua.tensor{{1}}), {{2.5 / 1.5, -1 / 1.5}}, 1e-6, "gamma up")
  -- a callable stabiliser replaces stab altogether
  r = run(rules.epsilon{epsilon = function(z) return z + 4 end}, f, relua.tensor{{1, -1}}, relua.tensor{{1}})
  close(r, {{0.25, -0.25}}, 0, "z + 4")
end)

T.test("flat and w_square by hand", function()
  -- linear 2 -> 2, w = [[1, 2], [3, -1]], b = [1, 2], R = [2, 4]
  local w, b = relua.tensor{{1, 2}, {3, -1}}, relua.tensor{1, 2}
  local f = function(v) return relua.linear(v, w, b) end
  local x, R = relua.tensor{{5, -7}}, relua.tensor{{2, 4}}
  -- flat: each output spreads evenly over its 2 inputs: R_i = 2/2 + 4/2 = 3
  close(run(rules.flat(), f, x, R), {{3, 3}}, 1e-5)
  -- w^2 (bias squared too): z = [1 + 4 + 1, 9 + 1 + 4] = [6, 14]
  -- R_1 = 1 * 2/6 + 9 * 4/14, R_2 = 4 * 2/6 + 1 * 4/14
  close(run(rules.w_square(), f, x, R), {{2 / 6 + 36 / 14, 8 / 6 + 4 / 14}}, 1e-5)
  -- without the bias: z = [5, 10]
  close(run(rules.w_square{zero_params = {"bias"}}, f, x, R), {{2 / 5 + 36 / 10, 8 / 5 + 4 / 10}}, 1e-5)
  -- flat on a 3x3 conv with padding 1 over a 3x3 image: the corner output sees 4 pixels,
  -- the centre 9; with R = 1 at the centre only, every pixel gets 1/9
  local k = relua.randn(1, 1, 3, 3, {seed = 5})
  local g = function(v) return relua.conv2d(v, k, nil, {padding = 1}) end
  local seed = relua.zeros(1, 1, 3, 3)
  seed[1][1][2][2] = 1
  close(run(rules.flat(), g, relua.randn(1, 1, 3, 3, {seed = 6}), seed), relua.full({1, 1, 3, 3}, 1 / 9), 1e-5)
  seed = relua.zeros(1, 1, 3, 3)
  seed[1][1][1][1] = 1
  close(run(rules.flat(), g, relua.randn(1, 1, 3, 3, {seed = 6}), seed),
        {{{{0.25, 0.25, 0}, {0.25, 0.25, 0}, {0, 0, 0}}}}, 1e-5, "the corner's field is 2 x 2")
end)

T.test("z_box: bounds per channel, and the bias does not matter", function()
  local x = relua.rand(1, 2, 4, 4, {seed = 31})
  local w = relua.randn(3, 2, 3, 3, {seed = 32})
  local low, high = relua.tensor{-1, 0}:reshape(2, 1, 1), relua.tensor{1, 2}:reshape(2, 1, 1)
  local R = relua.rand(1, 3, 2, 2, {seed = 33})
  local rule = rules.z_box{low = low, high = high}
  local a = run(rule, function(v) return relua.conv2d(v, w, nil) end, x, R)
  local b = run(rule, function(v) return relua.conv2d(v, w, relua.randn(3, {seed = 34})) end, x, R)
  close(a, b, 1e-5, "the bias cancels in z^B")
  -- per-channel bounds: the reference with l_i, h_i taken from each input's channel
  local lo, hi = {-1, 0}, {1, 2}
  local conns = conv_conns(x:shape(), w, nil, 1, 0)
  local X, Rs = flat(x), flat(R)
  local want = {}
  for i = 1, #X do want[i] = 0 end
  local HW = 16
  for j, c in ipairs(conns) do
    local z, terms = 0, {}
    for k, e in ipairs(c) do
      local ch = ((e[1] - 1) // HW) % 2 + 1
      terms[k] = X[e[1]] * e[2] - lo[ch] * pos(e[2]) - hi[ch] * neg(e[2])
      z = z + terms[k]
    end
    for k, e in ipairs(c) do want[e[1]] = want[e[1]] + terms[k] * Rs[j] / stab(z, 1e-6) end
  end
  close(a:reshape(-1), want, 2e-4, "per-channel low and high")
end)

T.test("norm on average pooling and on an add of two branches", function()
  -- avg pool 2x2 over [1, 2; 3, 6] (mean 3), R = 6: each pixel gets x_i / 4 * 6 / 3 = x_i / 2
  local x = relua.tensor{{{{1, 2}, {3, 6}}}}
  close(relua.grad(function(v) return relua.avg_pool2d(v, 2) end, x, relua.tensor{{{{6}}}},
        {rules = {avgpool2d = rules.norm()}}), {{{{0.5, 1}, {1.5, 3}}}}, 1e-5)
  -- a + b with a = [1, 3], b = [3, -1]: z = [4, 2], R = [8, 2]: R_a = [2, 3], R_b = [6, -1]
  local a, b = relua.tensor{1, 3}:requires_grad(true), relua.tensor{3, -1}:requires_grad(true)
  local g = relua.backward(a + b, relua.tensor{8, 2}, {a, b}, {{kind = "add", fn = rules.norm()}})
  local ga, gb = g[1], g[2]
  close(ga, {2, 3}, 1e-5, "relevance to a by its share")
  close(gb, {6, -1}, 1e-5, "relevance to b by its share")
end)

T.test("pass and gradient", function()
  local x = relua.tensor{{-1, 2}}
  close(relua.grad(function(v) return v:relu() end, x, relua.tensor{{3, 4}}, {rules = {relu = rules.pass()}}),
        {{3, 4}}, 0, "pass: R unchanged, even where relu is closed")
  close(relua.grad(function(v) return v:relu() end, x, relua.tensor{{3, 4}}, {rules = {relu = rules.gradient()}}),
        {{0, 4}}, 0, "gradient")
end)

T.test("the registry: names, help, parameters and their errors", function()
  local names = table.concat(rules.list(), " ")
  for _, n in ipairs {"epsilon", "z_plus", "alpha_beta", "gamma", "z_box", "flat", "w_square", "norm", "pass"} do
    check(names:find(n, 1, true), n .. " is listed")
  end
  check(rules.help("gamma"):find("gamma (default 0.25)", 1, true), rules.help("gamma"))
  check(rules.help("z_box"):find("low (required)", 1, true), rules.help("z_box"))
  check(tostring(rules.epsilon()) == "rules.epsilon(epsilon = 1e-06)", tostring(rules.epsilon()))
  check(tostring(rules.alpha1_beta0()) == "rules.alpha_beta(alpha = 1, beta = 0, stabilizer = 1e-06)", "presets")
  check_error("unknown rule 'epsilonn' (rules: alpha_beta, epsilon,", rules.new, "epsilonn")
  check_error("epsilon: unknown option 'eps' (options: epsilon, zero_params)", rules.epsilon, {eps = 1})
  check_error("alpha_beta: alpha - beta must be 1, got alpha = 3, beta = 1", rules.alpha_beta, {alpha = 3, beta = 1})
  check_error("alpha_beta: option 'beta' must be number >= 0, got -1", rules.alpha_beta, {alpha = 0, beta = -1})
  check_error("z_box: parameter 'low' is required", rules.z_box, {high = 1})
  check_error("gamma: option 'gamma' must be number >= 0", rules.gamma, {gamma = "big"})
  check_error("epsilon: option 'zero_params' must list parameter names", rules.epsilon, {zero_params = {1}})
  check_error("rules.basic: 'reducer' is missing", rules.basic.rule, {input_modifiers = {}, gradient_mapper = print})
end)

T.done()
