/* lnn.c: the layer functions of nn.h (relua.conv2d, relua.relu...), recorded on the tape. */
#include "lrelua.h"

/* An optional tensor: nil/none gives NULL. */
static rl_tensor *opttensor(lua_State *L, int arg) {
  return lua_isnoneornil(L, arg) ? NULL : rl_checktensor(L, arg);
}

static int push(lua_State *L, rl_tensor *y) {
  rl_pushtensor(L, y);
  return 1;
}

/* {==================== linear and convolution */

static int nn_linear(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *w = rl_checktensor(L, 2), *b = opttensor(L, 3), *y;
  RL_CALL(L, rl_linear(x, w, b, &y));
  return push(L, y);
}

/* conv2d(x, w, b, {stride = 1, padding = 0, dilation = 1, groups = 1}); each
** of stride/padding/dilation a number or {h, w}. */
static int nn_conv2d(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *w = rl_checktensor(L, 2), *b = opttensor(L, 3), *y;
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  rl_conv2d_params p;
  rl_optpairfield(L, 4, "stride", 1, p.stride);
  rl_optpairfield(L, 4, "padding", 0, p.padding);
  rl_optpairfield(L, 4, "dilation", 1, p.dilation);
  p.groups = (int64_t)rl_optnumfield(L, 4, "groups", 1);
  RL_CALL(L, rl_conv2d(x, w, b, &p, &y));
  return push(L, y);
}
/* }==================== */

/* {==================== pooling */

/* kernel at arg (a number or {kh, kw}), options at arg + 1. */
static rl_pool2d_params poolparams(lua_State *L, int arg) {
  rl_pool2d_params p;
  int64_t k[2];
  if (lua_istable(L, arg)) {
    for (int i = 0; i < 2; i++) {
      lua_geti(L, arg, i + 1);
      k[i] = luaL_checkinteger(L, -1);
      lua_pop(L, 1);
    }
  } else {
    k[0] = k[1] = luaL_checkinteger(L, arg);
  }
  if (!lua_isnoneornil(L, arg + 1)) luaL_checktype(L, arg + 1, LUA_TTABLE);
  p.kernel[0] = k[0];
  p.kernel[1] = k[1];
  rl_optpairfield(L, arg + 1, "stride", 0, p.stride);
  if (p.stride[0] == 0 && p.stride[1] == 0) p.stride[0] = k[0], p.stride[1] = k[1];
  rl_optpairfield(L, arg + 1, "padding", 0, p.padding);
  rl_optpairfield(L, arg + 1, "dilation", 1, p.dilation);
  p.ceil_mode = rl_optboolfield(L, arg + 1, "ceil_mode", 0);
  p.count_include_pad = rl_optboolfield(L, arg + 1, "count_include_pad", 1);
  return p;
}

/* max_pool2d(x, kernel, {stride = kernel, padding = 0, dilation = 1, ceil_mode = false}) */
static int nn_max_pool2d(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  rl_pool2d_params p = poolparams(L, 2);
  RL_CALL(L, rl_maxpool2d(x, &p, &y));
  return push(L, y);
}

/* avg_pool2d(x, kernel, {stride, padding, ceil_mode, count_include_pad = true}) */
static int nn_avg_pool2d(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  rl_pool2d_params p = poolparams(L, 2);
  RL_CALL(L, rl_avgpool2d(x, &p, &y));
  return push(L, y);
}

/* adaptive_avg_pool2d(x, size) or (x, {h, w}) or (x, h, w) */
static int nn_adaptive_avg_pool2d(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  int64_t h, w;
  if (lua_istable(L, 2)) {
    lua_geti(L, 2, 1);
    lua_geti(L, 2, 2);
    h = luaL_checkinteger(L, -2);
    w = luaL_checkinteger(L, -1);
    lua_pop(L, 2);
  } else {
    h = luaL_checkinteger(L, 2);
    w = luaL_optinteger(L, 3, h);
  }
  RL_CALL(L, rl_adaptive_avgpool2d(x, h, w, &y));
  return push(L, y);
}
/* }==================== */

/* {==================== activations */

#define ACTIVATION(name)                                                       \
  static int nn_##name(lua_State *L) {                                         \
    rl_tensor *x = rl_checktensor(L, 1), *y;                                   \
    RL_CALL(L, rl_##name(x, &y));                                              \
    return push(L, y);                                                         \
  }
ACTIVATION(relu)
ACTIVATION(sigmoid)
ACTIVATION(tanh)

static int nn_leaky_relu(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  RL_CALL(L, rl_leaky_relu(x, (float)luaL_optnumber(L, 2, 0.01), &y));
  return push(L, y);
}

/* softmax(x, dim = -1) */
static int nn_softmax(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  RL_CALL(L, rl_softmax(x, rl_optdim(L, 2, x->ndim, x->ndim - 1), &y));
  return push(L, y);
}

static int nn_log_softmax(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  RL_CALL(L, rl_log_softmax(x, rl_optdim(L, 2, x->ndim, x->ndim - 1), &y));
  return push(L, y);
}
/* }==================== */

/* {==================== normalisation, dropout, reshaping, loss */

/* batch_norm(x, weight, bias, running_mean, running_var, {eps = 1e-5, momentum = 0.1, training = false}) */
static int nn_batch_norm(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *g = rl_checktensor(L, 2), *b = rl_checktensor(L, 3);
  rl_tensor *rm = rl_checktensor(L, 4), *rv = rl_checktensor(L, 5), *y;
  rl_batchnorm_params p = {(float)rl_optnumfield(L, 6, "eps", 1e-5), (float)rl_optnumfield(L, 6, "momentum", 0.1),
                           rl_optboolfield(L, 6, "training", 0)};
  RL_CALL(L, rl_batchnorm2d(x, g, b, rm, rv, &p, &y));
  return push(L, y);
}

/* dropout(x, p = 0.5, {training = false, seed = <from the global generator>}) */
static int nn_dropout(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  lua_Number p = luaL_optnumber(L, 2, 0.5);
  luaL_argcheck(L, p >= 0 && p < 1, 2, "probability must be in [0, 1)");
  rl_dropout_params dp = {(float)p, rl_optboolfield(L, 3, "training", 0), 0};
  dp.seed = (uint64_t)rl_optnumfield(L, 3, "seed", 0);
  if (dp.seed == 0) dp.seed = rl_rng_next(rl_rng_global());
  RL_CALL(L, rl_dropout(x, &dp, &y));
  return push(L, y);
}

/* flatten(x, start = 2, stop = -1): 1-based like every dim in Lua, so the
** default keeps the batch dim as nn.Flatten does. */
static int nn_flatten(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *y;
  int s = rl_optdim(L, 2, x->ndim, x->ndim > 1 ? 1 : 0), e = rl_optdim(L, 3, x->ndim, x->ndim - 1);
  RL_CALL(L, rl_flatten(x, s, e, &y));
  return push(L, y);
}

/* cross_entropy(logits [N x C], targets [N] holding classes 1..C) */
static int nn_cross_entropy(lua_State *L) {
  rl_tensor *x = rl_checktensor(L, 1), *t = rl_checktensor(L, 2), *t0, *y;
  RL_CALL(L, rl_add_scalar(t, -1, &t0));
  rl_pushtensor(L, t0);
  RL_CALL(L, rl_cross_entropy(x, t0, &y));
  return push(L, y);
}
/* }==================== */

static const luaL_Reg nn[] = {
    {"linear", nn_linear},         {"conv2d", nn_conv2d},
    {"max_pool2d", nn_max_pool2d}, {"avg_pool2d", nn_avg_pool2d},
    {"adaptive_avg_pool2d", nn_adaptive_avg_pool2d},
    {"relu", nn_relu},             {"leaky_relu", nn_leaky_relu},
    {"sigmoid", nn_sigmoid},       {"tanh", nn_tanh},
    {"softmax", nn_softmax},       {"log_softmax", nn_log_softmax},
    {"batch_norm", nn_batch_norm}, {"dropout", nn_dropout},
    {"flatten", nn_flatten},       {"cross_entropy", nn_cross_entropy},
    {NULL, NULL}};

/* [module, methods] on the stack. */
void rl_open_nn(lua_State *L) { rl_setfuncs2(L, nn); }
