/* lops.c: the ops of ops.h as tensor methods and relua functions, and the arithmetic metamethods. */
#include <math.h>
#include <string.h>

#include "lrelua.h"

/* [-0, +1, e] a 0-dim tensor holding v, owned by a box on the stack. */
static rl_tensor *pushscalar(lua_State *L, lua_Number v) {
  rl_tensor *t;
  RL_CALL(L, rl_tensor_scalar((float)v, &t));
  rl_pushtensor(L, t);
  return t;
}

/* The tensor at arg, or a number made a 0-dim tensor (pushed on the stack). */
static rl_tensor *checkoperand(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNUMBER) return pushscalar(L, lua_tonumber(L, arg));
  rl_tensor *t = rl_totensor(L, arg);
  if (!t) {
    if (luaL_testudata(L, arg, RL_TENSOR_MT)) luaL_error(L, "attempt to use a released tensor");
    luaL_typeerror(L, arg, "relua.Tensor or number");
  }
  return t;
}

/* {==================== binary elementwise, with numbers on either side */

typedef enum binop { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MIN, B_MAX } binop;

static rl_status (*const binfn[])(rl_tensor *, rl_tensor *, rl_tensor **) = {
    rl_add, rl_sub, rl_mul, rl_div, rl_pow, rl_minimum, rl_maximum};

static int arith(lua_State *L, binop op) {
  rl_tensor *a = rl_totensor(L, 1), *b = rl_totensor(L, 2), *y = NULL;
  int anum = lua_type(L, 1) == LUA_TNUMBER, bnum = lua_type(L, 2) == LUA_TNUMBER;
  if (a && bnum) {
    float s = (float)lua_tonumber(L, 2);
    switch (op) {
    case B_ADD: RL_CALL(L, rl_add_scalar(a, s, &y)); break;
    case B_SUB: RL_CALL(L, rl_add_scalar(a, -s, &y)); break;
    case B_MUL: RL_CALL(L, rl_mul_scalar(a, s, &y)); break;
    case B_POW: RL_CALL(L, rl_pow_scalar(a, s, &y)); break;
    default: b = pushscalar(L, s); RL_CALL(L, binfn[op](a, b, &y)); /* exact a / s */
    }
  } else if (anum && b) {
    float s = (float)lua_tonumber(L, 1);
    switch (op) {
    case B_ADD: RL_CALL(L, rl_add_scalar(b, s, &y)); break;
    case B_SUB: RL_CALL(L, rl_rsub_scalar(b, s, &y)); break;
    case B_MUL: RL_CALL(L, rl_mul_scalar(b, s, &y)); break;
    case B_DIV: RL_CALL(L, rl_rdiv_scalar(b, s, &y)); break;
    default: a = pushscalar(L, s); RL_CALL(L, binfn[op](a, b, &y));
    }
  } else {
    a = checkoperand(L, 1);
    b = checkoperand(L, 2);
    RL_CALL(L, binfn[op](a, b, &y));
  }
  rl_pushtensor(L, y);
  return 1;
}

static int op_add(lua_State *L) { return arith(L, B_ADD); }
static int op_sub(lua_State *L) { return arith(L, B_SUB); }
static int op_mul(lua_State *L) { return arith(L, B_MUL); }
static int op_div(lua_State *L) { return arith(L, B_DIV); }
static int op_pow(lua_State *L) { return arith(L, B_POW); }
static int op_minimum(lua_State *L) { return arith(L, B_MIN); }
static int op_maximum(lua_State *L) { return arith(L, B_MAX); }

/* where(mask, a, b): a and b may be numbers. */
static int op_where(lua_State *L) {
  rl_tensor *m = rl_checktensor(L, 1), *a = checkoperand(L, 2), *b = checkoperand(L, 3), *y;
  RL_CALL(L, rl_where(m, a, b, &y));
  rl_pushtensor(L, y);
  return 1;
}

static int op_masked_select(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *m = rl_checktensor(L, 2), *y;
  RL_CALL(L, rl_masked_select(t, m, &y));
  rl_pushtensor(L, y);
  return 1;
}
/* }==================== */

/* {==================== unary */

#define UNARY(name)                                                            \
  static int op_##name(lua_State *L) {                                         \
    rl_tensor *t = rl_checktensor(L, 1), *y;                                   \
    RL_CALL(L, rl_##name(t, &y));                                              \
    rl_pushtensor(L, y);                                                       \
    return 1;                                                                  \
  }
UNARY(neg)
UNARY(abs)
UNARY(sign)
UNARY(exp)
UNARY(log)
UNARY(sqrt)

static int op_unm(lua_State *L) { /* __unm gets the operand twice */
  lua_settop(L, 1);
  return op_neg(L);
}

/* clamp(t, lo, hi): nil leaves that side open. */
static int op_clamp(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *y;
  float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)luaL_checknumber(L, 2);
  float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)luaL_checknumber(L, 3);
  RL_CALL(L, rl_clamp(t, lo, hi, &y));
  rl_pushtensor(L, y);
  return 1;
}
/* }==================== */

/* {==================== reductions */

/* Dims from arg on, as integers or one table, then an optional options
** table; returns the count and sets *opt to the options' index (or 0). */
static int checkdims(lua_State *L, int arg, const rl_tensor *t, int *dims, int *opt) {
  int n = 0, top = lua_gettop(L);
  *opt = 0;
  if (arg <= top && lua_istable(L, arg) && !rl_totensor(L, arg)) {
    lua_geti(L, arg, 1);
    int islist = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (islist) {
      int len = (int)luaL_len(L, arg);
      if (len > RL_MAX_DIMS) luaL_argerror(L, arg, "too many dims");
      for (int i = 1; i <= len; i++) {
        lua_geti(L, arg, i);
        if (!lua_isinteger(L, -1)) luaL_argerror(L, arg, "dims must be integers");
        dims[n++] = rl_todim(L, arg, lua_tointeger(L, -1), t->ndim);
        lua_pop(L, 1);
      }
      arg++;
    }
  } else {
    while (arg <= top && lua_type(L, arg) == LUA_TNUMBER) {
      if (n == RL_MAX_DIMS) luaL_argerror(L, arg, "too many dims");
      dims[n++] = rl_checkdim(L, arg++, t->ndim);
    }
  }
  if (arg <= top && !lua_isnil(L, arg)) {
    luaL_checktype(L, arg, LUA_TTABLE);
    *opt = arg;
  }
  return n;
}

static int reduce(lua_State *L, rl_status (*fn)(rl_tensor *, int, const int *, int, rl_tensor **)) {
  rl_tensor *t = rl_checktensor(L, 1), *y;
  int dims[RL_MAX_DIMS], opt, n = checkdims(L, 2, t, dims, &opt);
  RL_CALL(L, fn(t, n, dims, rl_optboolfield(L, opt, "keepdim", 0), &y));
  rl_pushtensor(L, y);
  return 1;
}
static int op_sum(lua_State *L) { return reduce(L, rl_sum); }
static int op_mean(lua_State *L) { return reduce(L, rl_mean); }

/* norm(t, p = 2, dims..., {keepdim}) */
static int op_norm(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *y;
  float p = (float)luaL_optnumber(L, 2, 2);
  int dims[RL_MAX_DIMS], opt, n = checkdims(L, 3, t, dims, &opt);
  RL_CALL(L, rl_norm(t, p, n, dims, rl_optboolfield(L, opt, "keepdim", 0), &y));
  rl_pushtensor(L, y);
  return 1;
}

/* var(t, dims..., {correction = 1, keepdim}) */
static int op_var(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *y;
  int dims[RL_MAX_DIMS], opt, n = checkdims(L, 2, t, dims, &opt);
  int corr = (int)rl_optnumfield(L, opt, "correction", 1);
  RL_CALL(L, rl_var(t, n, dims, corr, rl_optboolfield(L, opt, "keepdim", 0), &y));
  rl_pushtensor(L, y);
  return 1;
}

/* Float indices from C (0-based) made 1-based, replacing the box at -1. */
static void onebased(lua_State *L) {
  rl_tensor *i = rl_checktensor(L, -1), *j;
  RL_CALL(L, rl_add_scalar(i, 1, &j));
  lua_pop(L, 1);
  rl_pushtensor(L, j);
}

/* Indices given in Lua (1-based) as a 0-based tensor, pushed. */
static rl_tensor *zerobased(lua_State *L, int arg) {
  rl_tensor *i = rl_checktensor(L, arg), *j;
  RL_CALL(L, rl_add_scalar(i, -1, &j));
  rl_pushtensor(L, j);
  return j;
}

/* max(t) -> 0-dim; max(t, dim, {keepdim}) -> values, indices (1-based). */
static int extremum(lua_State *L, int ismax) {
  rl_tensor *t = rl_checktensor(L, 1), *y, *idx;
  int dim = rl_optdim(L, 2, t->ndim, RL_ALL_DIMS), keep = rl_optboolfield(L, 3, "keepdim", 0);
  RL_CALL(L, (ismax ? rl_max : rl_min)(t, dim, keep, &y));
  rl_pushtensor(L, y);
  if (dim == RL_ALL_DIMS) return 1;
  RL_CALL(L, (ismax ? rl_argmax : rl_argmin)(t, dim, keep, &idx));
  rl_pushtensor(L, idx);
  onebased(L);
  return 2;
}
static int op_max(lua_State *L) { return extremum(L, 1); }
static int op_min(lua_State *L) { return extremum(L, 0); }

/* argmax(t [, dim], {keepdim}): 1-based indices (over all dims: a flat index). */
static int argext(lua_State *L, int ismax) {
  rl_tensor *t = rl_checktensor(L, 1), *idx;
  int dim = rl_optdim(L, 2, t->ndim, RL_ALL_DIMS), keep = rl_optboolfield(L, 3, "keepdim", 0);
  RL_CALL(L, (ismax ? rl_argmax : rl_argmin)(t, dim, keep, &idx));
  rl_pushtensor(L, idx);
  onebased(L);
  return 1;
}
static int op_argmax(lua_State *L) { return argext(L, 1); }
static int op_argmin(lua_State *L) { return argext(L, 0); }
/* }==================== */

/* {==================== matrix products, indexing, joining, padding, resampling */

static int op_matmul(lua_State *L) {
  rl_tensor *a = rl_checktensor(L, 1), *b = rl_checktensor(L, 2), *y;
  RL_CALL(L, rl_matmul(a, b, &y));
  rl_pushtensor(L, y);
  return 1;
}

/* gather(t, dim, index): index holds 1-based positions along dim. */
static int op_gather(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *y;
  int dim = rl_checkdim(L, 2, t->ndim);
  rl_tensor *idx = zerobased(L, 3);
  RL_CALL(L, rl_gather(t, dim, idx, &y));
  rl_pushtensor(L, y);
  return 1;
}

/* scatter(t, dim, index, src, {accumulate = false}) */
static int op_scatter(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *src = rl_checktensor(L, 4), *y;
  int dim = rl_checkdim(L, 2, t->ndim), acc = rl_optboolfield(L, 5, "accumulate", 0);
  rl_tensor *idx = zerobased(L, 3);
  RL_CALL(L, rl_scatter(t, dim, idx, src, acc, &y));
  rl_pushtensor(L, y);
  return 1;
}

/* cat({a, b, ...}, dim = 1) or a:cat(b, ..., dim) */
static int op_cat(lua_State *L) {
  rl_tensor *ts[64], *y;
  int n = 0, darg;
  if (lua_istable(L, 1) && !rl_totensor(L, 1)) {
    n = (int)luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 64, 1, "expected 1 to 64 tensors");
    for (int i = 0; i < n; i++) {
      lua_geti(L, 1, i + 1);
      if (!rl_totensor(L, -1)) luaL_argerror(L, 1, lua_pushfstring(L, "element %d is not a tensor", i + 1));
      ts[i] = rl_totensor(L, -1);
      lua_pop(L, 1); /* still anchored by the table */
    }
    darg = 2;
  } else {
    while (n < 64 && rl_totensor(L, n + 1)) ts[n] = rl_totensor(L, n + 1), n++;
    if (n == 0) rl_checktensor(L, 1);
    darg = n + 1;
  }
  lua_Integer d = luaL_optinteger(L, darg, 1);
  int nd = ts[0]->ndim;
  if (d == 0 || d > nd || d < -nd)
    return luaL_argerror(L, darg, lua_pushfstring(L, "dim %d out of range for a %d-dim tensor", (int)d, nd));
  RL_CALL(L, rl_cat(n, ts, d > 0 ? (int)d - 1 : (int)(d + nd), &y));
  rl_pushtensor(L, y);
  return 1;
}

/* pad(t, {left, right, top, bottom, ...}, {mode = "constant", value = 0}) */
static int op_pad(lua_State *L) {
  static const char *const modes[] = {"constant", "reflect", "replicate", NULL};
  rl_tensor *t = rl_checktensor(L, 1), *y;
  int64_t pads[2 * RL_MAX_DIMS];
  luaL_checktype(L, 2, LUA_TTABLE);
  int n = (int)luaL_len(L, 2);
  luaL_argcheck(L, n % 2 == 0 && n >= 2 && n <= 2 * RL_MAX_DIMS, 2, "expected pairs of paddings {before, after, ...}");
  for (int i = 0; i < n; i++) {
    lua_geti(L, 2, i + 1);
    if (!lua_isinteger(L, -1)) luaL_argerror(L, 2, "paddings must be integers");
    pads[i] = lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  int mode = rl_optenumfield(L, 3, "mode", modes);
  float value = (float)rl_optnumfield(L, 3, "value", 0);
  RL_CALL(L, rl_pad(t, n / 2, pads, (rl_pad_mode)mode, value, &y));
  rl_pushtensor(L, y);
  return 1;
}

/* interpolate(t, h, w, {mode = "nearest" | "bilinear", align_corners = false}) or (t, {h, w}, opts) */
static int op_interpolate(lua_State *L) {
  static const char *const modes[] = {"nearest", "bilinear", NULL};
  rl_tensor *t = rl_checktensor(L, 1), *y;
  int64_t h, w;
  int opt;
  if (lua_istable(L, 2)) {
    lua_geti(L, 2, 1);
    lua_geti(L, 2, 2);
    h = luaL_checkinteger(L, -2);
    w = luaL_checkinteger(L, -1);
    lua_pop(L, 2);
    opt = 3;
  } else {
    h = luaL_checkinteger(L, 2);
    w = luaL_checkinteger(L, 3);
    opt = 4;
  }
  int mode = rl_optenumfield(L, opt, "mode", modes);
  RL_CALL(L, rl_interpolate(t, h, w, (rl_interp_mode)mode, rl_optboolfield(L, opt, "align_corners", 0), &y));
  rl_pushtensor(L, y);
  return 1;
}
/* }==================== */

static const luaL_Reg ops[] = {
    {"add", op_add},       {"sub", op_sub},         {"mul", op_mul},
    {"div", op_div},       {"pow", op_pow},         {"minimum", op_minimum},
    {"maximum", op_maximum}, {"where", op_where},   {"masked_select", op_masked_select},
    {"neg", op_neg},       {"abs", op_abs},         {"sign", op_sign},
    {"exp", op_exp},       {"log", op_log},         {"sqrt", op_sqrt},
    {"clamp", op_clamp},   {"sum", op_sum},         {"mean", op_mean},
    {"norm", op_norm},     {"var", op_var},         {"max", op_max},
    {"min", op_min},       {"argmax", op_argmax},   {"argmin", op_argmin},
    {"matmul", op_matmul}, {"gather", op_gather},   {"scatter", op_scatter},
    {"cat", op_cat},       {"pad", op_pad},         {"interpolate", op_interpolate},
    {NULL, NULL}};

static const luaL_Reg metameth[] = {
    {"__add", op_add}, {"__sub", op_sub}, {"__mul", op_mul}, {"__div", op_div},
    {"__pow", op_pow}, {"__unm", op_unm}, {NULL, NULL}};

/* [module, methods] on the stack; the metatable exists already. */
void rl_open_ops(lua_State *L) {
  rl_setfuncs2(L, ops);
  luaL_getmetatable(L, RL_TENSOR_MT);
  luaL_setfuncs(L, metameth, 0);
  lua_pop(L, 1);
}
