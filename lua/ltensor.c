/* ltensor.c: the relua.Tensor userdata: boxes, constructors, conversion, printing, views. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lrelua.h"

/* {==================== boxes */

static long live_boxes; /* Lua-visible tensors not yet released */

rl_tensor *rl_totensor(lua_State *L, int idx) {
  rl_tensor **box = luaL_testudata(L, idx, RL_TENSOR_MT);
  return box ? *box : NULL;
}

rl_tensor *rl_checktensor(lua_State *L, int arg) {
  rl_tensor **box = luaL_checkudata(L, arg, RL_TENSOR_MT);
  if (!*box) luaL_error(L, "attempt to use a released tensor");
  return *box;
}

/* The box is made closed (NULL) first, as liolib's newprefile: a memory
** error while making it leaks nothing but t, which we release ourselves. */
static int newbox(lua_State *L) {
  rl_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, RL_TENSOR_MT);
  return 1;
}

void rl_pushtensor(lua_State *L, rl_tensor *t) {
  /* Protected, so a memory error cannot leak t. */
  lua_pushcfunction(L, newbox);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    rl_tensor_release(t);
    lua_error(L);
  }
  *(rl_tensor **)lua_touserdata(L, -1) = t;
  live_boxes++;
}

rl_tensor **rl_newbox(lua_State *L) {
  newbox(L);
  return lua_touserdata(L, -1);
}

void rl_fillbox(rl_tensor **box, rl_tensor *t) {
  *box = t;
  if (t) live_boxes++;
}

void rl_pushborrowed(lua_State *L, rl_tensor *t) {
  rl_tensor_retain(t);
  rl_pushtensor(L, t);
}

static int tensor_gc(lua_State *L) {
  rl_tensor **box = luaL_checkudata(L, 1, RL_TENSOR_MT);
  if (*box) {
    rl_tensor_release(*box);
    *box = NULL;
    live_boxes--;
  }
  return 0;
}
/* }==================== */

/* {==================== errors and memory */

int rl_pusherror(lua_State *L) { return luaL_error(L, "%s", rl_errmsg()); }

/* Live bytes we last saw, and growth since the last GC step. */
static size_t gc_seen, gc_debt;
#define RL_GC_STEP_BYTES ((size_t)4 << 20)

void rl_gcnudge(lua_State *L) {
  size_t live = rl_alloc_live_bytes();
  if (live > gc_seen) gc_debt += live - gc_seen;
  gc_seen = live;
  if (gc_debt >= RL_GC_STEP_BYTES) {
    size_t kb = gc_debt >> 10;
    gc_debt = 0;
    lua_gc(L, LUA_GCSTEP, kb > 1 << 30 ? 1 << 30 : (int)kb);
    gc_seen = rl_alloc_live_bytes();
  }
}

void rl_checkstatus(lua_State *L, rl_status st) {
  if (st != RL_OK) rl_pusherror(L);
  rl_gcnudge(L);
}
/* }==================== */

/* {==================== arguments */

int rl_checkdim(lua_State *L, int arg, int ndim) { return rl_todim(L, arg, luaL_checkinteger(L, arg), ndim); }

int rl_todim(lua_State *L, int arg, lua_Integer d, int ndim) {
  if (d == 0 || d > ndim || d < -ndim)
    return luaL_argerror(L, arg, lua_pushfstring(L, "dim %d out of range for a %d-dim tensor (dims are 1-based; -1 is the last)", (int)d, ndim));
  return d > 0 ? (int)d - 1 : (int)(d + ndim);
}

int rl_optdim(lua_State *L, int arg, int ndim, int def) {
  return lua_isnoneornil(L, arg) ? def : rl_checkdim(L, arg, ndim);
}

int rl_checkshape(lua_State *L, int arg, int64_t *shape, int *next) {
  int n = 0;
  if (lua_istable(L, arg) && !rl_totensor(L, arg)) {
    int len = (int)luaL_len(L, arg);
    if (len > RL_MAX_DIMS) luaL_argerror(L, arg, "more than 8 dims");
    for (int i = 1; i <= len; i++) {
      lua_geti(L, arg, i);
      if (!lua_isinteger(L, -1)) luaL_argerror(L, arg, lua_pushfstring(L, "size %d is not an integer", i));
      shape[n++] = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    *next = arg + 1;
    return n;
  }
  while (lua_type(L, arg + n) == LUA_TNUMBER) {
    if (n == RL_MAX_DIMS) luaL_argerror(L, arg + n, "more than 8 dims");
    shape[n] = luaL_checkinteger(L, arg + n);
    n++;
  }
  *next = arg + n;
  return n;
}

lua_Number rl_optnumfield(lua_State *L, int idx, const char *k, lua_Number def) {
  if (idx == 0 || !lua_istable(L, idx)) return def;
  lua_getfield(L, idx, k);
  lua_Number v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v;
}

int rl_optboolfield(lua_State *L, int idx, const char *k, int def) {
  if (idx == 0 || !lua_istable(L, idx)) return def;
  lua_getfield(L, idx, k);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int rl_optenumfield(lua_State *L, int idx, const char *k, const char *const *names) {
  if (idx == 0 || !lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, k);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  const char *v = lua_tostring(L, -1);
  for (int i = 0; v && names[i]; i++)
    if (strcmp(v, names[i]) == 0) {
      lua_pop(L, 1);
      return i;
    }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; names[i]; i++) {
    luaL_addstring(&b, i ? ", " : "");
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
  return luaL_error(L, "option '%s' is %s%s%s, expected one of %s", k, v ? "'" : "a ", v ? v : luaL_typename(L, -2),
                    v ? "'" : "", lua_tostring(L, -1));
}

void rl_optpairfield(lua_State *L, int idx, const char *k, int64_t def, int64_t *pair) {
  pair[0] = pair[1] = def;
  if (idx == 0 || !lua_istable(L, idx)) return;
  lua_getfield(L, idx, k);
  if (lua_isinteger(L, -1)) {
    pair[0] = pair[1] = lua_tointeger(L, -1);
  } else if (lua_istable(L, -1)) {
    for (int i = 0; i < 2; i++) {
      lua_geti(L, -1, i + 1);
      if (!lua_isinteger(L, -1)) luaL_error(L, "option '%s' must be an integer or a pair {h, w}", k);
      pair[i] = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "option '%s' must be an integer or a pair {h, w}", k);
  }
  lua_pop(L, 1);
}

void rl_setfuncs2(lua_State *L, const luaL_Reg *l) {
  for (; l->name; l++) {
    lua_pushcfunction(L, l->func);
    lua_setfield(L, -3, l->name);
    lua_pushcfunction(L, l->func);
    lua_setfield(L, -2, l->name);
  }
}

/* A 1-based index (negative: from the end) into a dim of size n, as 0-based. */
static int64_t checkindex(lua_State *L, int arg, lua_Integer i, int64_t n, const char *what) {
  int64_t j = i < 0 ? i + n : i - 1;
  if (i == 0 || j < 0 || j >= n)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s %I out of range 1..%I (or -%I..-1)", what, i, (lua_Integer)n, (lua_Integer)n));
  return j;
}
/* }==================== */

/* {==================== constructors */

/* Shape of a nested table, from its first elements. */
static int table_shape(lua_State *L, int idx, int64_t *shape) {
  int n = 0;
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (n == RL_MAX_DIMS) luaL_error(L, "tensor: more than 8 levels of nesting");
    shape[n] = (int64_t)luaL_len(L, -1);
    if (shape[n] == 0) luaL_error(L, "tensor: empty table at nesting level %d (sizes must be >= 1)", n + 1);
    n++;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  return n;
}

static void table_fill(lua_State *L, int d, int ndim, const int64_t *shape, float **p) {
  /* the table for level d is on top */
  if ((int64_t)luaL_len(L, -1) != shape[d])
    luaL_error(L, "tensor: a table at nesting level %d has %d elements, expected %d (rows must have equal lengths)",
               d + 1, (int)luaL_len(L, -1), (int)shape[d]);
  for (int64_t i = 1; i <= shape[d]; i++) {
    lua_geti(L, -1, i);
    if (d + 1 < ndim) {
      if (!lua_istable(L, -1))
        luaL_error(L, "tensor: element %d at nesting level %d is a %s, expected a table", (int)i, d + 1, luaL_typename(L, -1));
      table_fill(L, d + 1, ndim, shape, p);
    } else {
      int ok;
      lua_Number v = lua_tonumberx(L, -1, &ok);
      if (!ok)
        luaL_error(L, "tensor: element %d at nesting level %d is a %s, expected a number", (int)i, d + 1, luaL_typename(L, -1));
      *(*p)++ = (float)v;
    }
    lua_pop(L, 1);
  }
}

static int tensor_new(lua_State *L) {
  rl_tensor *t = NULL;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    RL_CALL(L, rl_tensor_scalar((float)lua_tonumber(L, 1), &t));
  } else if (rl_totensor(L, 1)) {
    RL_CALL(L, rl_tensor_clone(rl_totensor(L, 1), &t));
  } else {
    int64_t shape[RL_MAX_DIMS];
    luaL_checktype(L, 1, LUA_TTABLE);
    int ndim = table_shape(L, 1, shape);
    RL_CALL(L, rl_tensor_new(ndim, shape, &t));
    rl_pushtensor(L, t); /* owned by Lua before filling can raise */
    float *p = rl_tensor_data(t);
    lua_pushvalue(L, 1);
    table_fill(L, 0, ndim, shape, &p);
    lua_pop(L, 1);
    return 1;
  }
  rl_pushtensor(L, t);
  return 1;
}

static int tensor_zeros(lua_State *L) {
  int64_t shape[RL_MAX_DIMS];
  int next, ndim = rl_checkshape(L, 1, shape, &next);
  rl_tensor *t;
  RL_CALL(L, rl_tensor_zeros(ndim, shape, &t));
  rl_pushtensor(L, t);
  return 1;
}

static int tensor_ones(lua_State *L) {
  int64_t shape[RL_MAX_DIMS];
  int next, ndim = rl_checkshape(L, 1, shape, &next);
  rl_tensor *t;
  RL_CALL(L, rl_tensor_ones(ndim, shape, &t));
  rl_pushtensor(L, t);
  return 1;
}

/* full(shape..., value) */
static int tensor_full(lua_State *L) {
  int64_t shape[RL_MAX_DIMS];
  int top = lua_gettop(L), next;
  float v = (float)luaL_checknumber(L, top);
  lua_settop(L, top - 1);
  int ndim = rl_checkshape(L, 1, shape, &next);
  rl_tensor *t;
  RL_CALL(L, rl_tensor_full(ndim, shape, v, &t));
  rl_pushtensor(L, t);
  return 1;
}

/* rand(shape..., {lo=0, hi=1, seed=}) and randn(shape..., {mean=0, std=1, seed=}):
** with a seed, a private generator; else the global one (relua.seed). */
static int random_tensor(lua_State *L, int normal) {
  int64_t shape[RL_MAX_DIMS];
  int next, ndim = rl_checkshape(L, 1, shape, &next);
  rl_rng rng, *r = NULL;
  if (!lua_isnoneornil(L, next)) luaL_checktype(L, next, LUA_TTABLE);
  if (lua_istable(L, next)) {
    lua_getfield(L, next, "seed");
    if (!lua_isnil(L, -1)) {
      rl_rng_seed(&rng, (uint64_t)luaL_checkinteger(L, -1));
      r = &rng;
    }
    lua_pop(L, 1);
  }
  rl_tensor *t;
  if (normal) {
    float mean = (float)rl_optnumfield(L, next, "mean", 0), sd = (float)rl_optnumfield(L, next, "std", 1);
    RL_CALL(L, rl_tensor_rand_normal(ndim, shape, mean, sd, r, &t));
  } else {
    float lo = (float)rl_optnumfield(L, next, "lo", 0), hi = (float)rl_optnumfield(L, next, "hi", 1);
    RL_CALL(L, rl_tensor_rand_uniform(ndim, shape, lo, hi, r, &t));
  }
  rl_pushtensor(L, t);
  return 1;
}
static int tensor_rand(lua_State *L) { return random_tensor(L, 0); }
static int tensor_randn(lua_State *L) { return random_tensor(L, 1); }

/* arange(stop) | arange(start, stop[, step]): stop excluded, like numpy. */
static int tensor_arange(lua_State *L) {
  double a = 0, b, s = 1;
  if (lua_isnoneornil(L, 2)) {
    b = luaL_checknumber(L, 1);
  } else {
    a = luaL_checknumber(L, 1);
    b = luaL_checknumber(L, 2);
    s = luaL_optnumber(L, 3, 1);
  }
  rl_tensor *t;
  RL_CALL(L, rl_tensor_arange(a, b, s, &t));
  rl_pushtensor(L, t);
  return 1;
}

static int tensor_linspace(lua_State *L) {
  rl_tensor *t;
  RL_CALL(L, rl_tensor_linspace(luaL_checknumber(L, 1), luaL_checknumber(L, 2), luaL_checkinteger(L, 3), &t));
  rl_pushtensor(L, t);
  return 1;
}
/* }==================== */

/* {==================== queries and conversion */

static int tensor_shape(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) {
    lua_pushinteger(L, t->shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int tensor_size(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  if (lua_isnoneornil(L, 2)) return tensor_shape(L);
  lua_pushinteger(L, t->shape[rl_checkdim(L, 2, t->ndim)]);
  return 1;
}

static int tensor_dim(lua_State *L) {
  lua_pushinteger(L, rl_checktensor(L, 1)->ndim);
  return 1;
}

static int tensor_numel(lua_State *L) {
  lua_pushinteger(L, rl_tensor_numel(rl_checktensor(L, 1)));
  return 1;
}

static int tensor_len(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  if (t->ndim == 0) return luaL_error(L, "attempt to get the length of a 0-dim tensor (use t:item())");
  lua_pushinteger(L, t->shape[0]);
  return 1;
}

static int tensor_is_contiguous(lua_State *L) {
  lua_pushboolean(L, rl_tensor_is_contiguous(rl_checktensor(L, 1)));
  return 1;
}

static int tensor_item(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  if (rl_tensor_numel(t) != 1)
    return luaL_error(L, "item: tensor %s has %I elements, expected 1", rl_shapestr(t).s, (lua_Integer)rl_tensor_numel(t));
  lua_pushnumber(L, rl_tensor_data(t)[0]);
  return 1;
}

static void totable(lua_State *L, const rl_tensor *t, int d, const float *p) {
  lua_createtable(L, (int)t->shape[d], 0);
  for (int64_t i = 0; i < t->shape[d]; i++) {
    if (d + 1 == t->ndim)
      lua_pushnumber(L, p[i * t->stride[d]]);
    else
      totable(L, t, d + 1, p + i * t->stride[d]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int tensor_totable(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  luaL_checkstack(L, t->ndim + 2, "totable");
  if (t->ndim == 0)
    lua_pushnumber(L, rl_tensor_data(t)[0]);
  else
    totable(L, t, 0, rl_tensor_data(t));
  return 1;
}
/* }==================== */

/* {==================== printing: a header and a numpy-like truncated preview */

#define PREVIEW_EDGE 3    /* elements kept at each end of a long dim */
#define PREVIEW_LONG 8    /* dims longer than this are truncated */

typedef struct fmt {
  int integral, width, sci;
} fmt;

static int shown(int64_t i, int64_t n) { return n <= PREVIEW_LONG || i < PREVIEW_EDGE || i >= n - PREVIEW_EDGE; }

/* Chooses one format for every printed element, from the shown ones. */
static void scan(const rl_tensor *t, int d, const float *p, fmt *f, double *amax, double *amin) {
  if (d == t->ndim) {
    double v = *p;
    if (!isfinite(v)) return;
    if (v != floor(v)) f->integral = 0;
    if (fabs(v) > *amax) *amax = fabs(v);
    if (v != 0 && fabs(v) < *amin) *amin = fabs(v);
    return;
  }
  for (int64_t i = 0; i < t->shape[d]; i++)
    if (shown(i, t->shape[d])) scan(t, d + 1, p + i * t->stride[d], f, amax, amin);
}

static void putnum(luaL_Buffer *b, const fmt *f, float v) {
  char s[64];
  if (!isfinite(v))
    snprintf(s, sizeof s, "%*s", f->width, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
  else if (f->integral)
    snprintf(s, sizeof s, "%*.0f", f->width, v);
  else if (f->sci)
    snprintf(s, sizeof s, "%*.4e", f->width, v);
  else
    snprintf(s, sizeof s, "%*.4f", f->width, v);
  luaL_addstring(b, s);
}

/* Between items of dim d: ", " in a row, else ",", blank lines, indent. */
static void separator(luaL_Buffer *b, const rl_tensor *t, int d) {
  luaL_addchar(b, ',');
  if (d + 1 == t->ndim) {
    luaL_addchar(b, ' ');
    return;
  }
  for (int k = d + 1; k < t->ndim; k++) luaL_addchar(b, '\n');
  for (int k = 0; k <= d; k++) luaL_addchar(b, ' ');
}

static void preview(luaL_Buffer *b, const rl_tensor *t, int d, const float *p, const fmt *f) {
  if (d == t->ndim) {
    putnum(b, f, *p);
    return;
  }
  int64_t n = t->shape[d];
  luaL_addchar(b, '[');
  for (int64_t i = 0; i < n; i++) {
    if (!shown(i, n)) {
      if (i == PREVIEW_EDGE) {
        luaL_addstring(b, "...");
        separator(b, t, d);
      }
      continue;
    }
    preview(b, t, d + 1, p + i * t->stride[d], f);
    if (i + 1 < n) separator(b, t, d);
  }
  luaL_addchar(b, ']');
}

static int tensor_tostring(lua_State *L) {
  rl_tensor **box = luaL_checkudata(L, 1, RL_TENSOR_MT);
  if (!*box) {
    lua_pushliteral(L, "relua.Tensor (released)");
    return 1;
  }
  rl_tensor *t = *box;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "relua.Tensor ");
  luaL_addstring(&b, rl_shapestr(t).s);
  if (rl_tensor_requires_grad(t)) luaL_addstring(&b, " (requires grad)");
  luaL_addchar(&b, '\n');
  fmt f = {1, 1, 0};
  double amax = 0, amin = HUGE_VAL;
  scan(t, 0, rl_tensor_data(t), &f, &amax, &amin);
  if (f.integral && amax < 1e9) {
    f.width = amax >= 1 ? (int)floor(log10(amax)) + 2 : 2;
  } else {
    f.integral = 0;
    f.sci = amax >= 1e5 || (amin < 1e-4 && amax > 0);
    f.width = f.sci ? 11 : (amax >= 1 ? (int)floor(log10(amax)) + 7 : 7);
  }
  if (t->ndim == 0) f.width = 0;
  preview(&b, t, 0, rl_tensor_data(t), &f);
  luaL_pushresult(&b);
  return 1;
}
/* }==================== */

/* {==================== indexing and views */

/* t[i]: select along dim 1; a number for a 1-D tensor. Strings: methods. */
static int tensor_index(lua_State *L) {
  if (lua_type(L, 2) != LUA_TNUMBER) {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
  }
  rl_tensor *t = rl_checktensor(L, 1);
  if (!lua_isinteger(L, 2)) return luaL_argerror(L, 2, "index must be an integer");
  if (t->ndim == 0) return luaL_error(L, "attempt to index a 0-dim tensor (use t:item())");
  int64_t i = checkindex(L, 2, lua_tointeger(L, 2), t->shape[0], "index");
  if (t->ndim == 1) {
    lua_pushnumber(L, rl_tensor_data(t)[i * t->stride[0]]);
    return 1;
  }
  rl_tensor *v;
  RL_CALL(L, rl_tensor_view_select(t, 0, i, &v));
  rl_pushtensor(L, v);
  return 1;
}

/* t[i] = number | tensor: writes into row i in place (not recorded). */
static int tensor_newindex(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  if (!lua_isinteger(L, 2)) return luaL_argerror(L, 2, "index must be an integer");
  if (t->ndim == 0) return luaL_error(L, "attempt to index a 0-dim tensor");
  int64_t i = checkindex(L, 2, lua_tointeger(L, 2), t->shape[0], "index");
  rl_tensor *v, *dv;
  RL_CALL(L, rl_tensor_view_detach(t, &dv));
  rl_pushtensor(L, dv);
  RL_CALL(L, rl_tensor_view_select(dv, 0, i, &v));
  rl_pushtensor(L, v);
  if (lua_type(L, 3) == LUA_TNUMBER)
    rl_tensor_fill_(v, (float)lua_tonumber(L, 3));
  else
    RL_CALL(L, rl_tensor_copy_(v, rl_checktensor(L, 3)));
  return 0;
}

static int tensor_narrow(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  int d = rl_checkdim(L, 2, t->ndim);
  int64_t s = checkindex(L, 3, luaL_checkinteger(L, 3), t->shape[d], "start");
  lua_Integer len = luaL_checkinteger(L, 4);
  if (len < 1 || s + len > t->shape[d])
    return luaL_argerror(L, 4, lua_pushfstring(L, "length %I from %I does not fit dim %d of %s", len, (lua_Integer)s + 1, d + 1, rl_shapestr(t).s));
  RL_CALL(L, rl_tensor_view_narrow(t, d, s, len, &v));
  rl_pushtensor(L, v);
  return 1;
}

static int tensor_select(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  int d = rl_checkdim(L, 2, t->ndim);
  int64_t i = checkindex(L, 3, luaL_checkinteger(L, 3), t->shape[d], "index");
  RL_CALL(L, rl_tensor_view_select(t, d, i, &v));
  rl_pushtensor(L, v);
  return 1;
}

/* Applies one dim's slice spec (the value on top) to the tensor in the box
** at `cur`; returns the next dim to slice. Specs: nil/true/{} = all,
** i = select (drops the dim), {a} = a..end, {a, b} = a..b inclusive. */
static int slice_dim(lua_State *L, int cur, int d, int arg, int k) {
  rl_tensor *t = rl_checktensor(L, cur), *v = NULL;
  int spec = lua_gettop(L);
  if (lua_isnil(L, spec) || lua_isboolean(L, spec)) return d + 1;
  if (d >= t->ndim) luaL_argerror(L, arg, lua_pushfstring(L, "spec %d: more slice specs than dims of %s", k, rl_shapestr(t).s));
  if (lua_isinteger(L, spec)) {
    int64_t i = checkindex(L, arg, lua_tointeger(L, spec), t->shape[d], "index");
    RL_CALL(L, rl_tensor_view_select(t, d, i, &v));
    rl_pushtensor(L, v);
    lua_replace(L, cur);
    return d;
  }
  if (!lua_istable(L, spec)) luaL_argerror(L, arg, lua_pushfstring(L, "spec %d: expected an index, {from, to} or {}", k));
  lua_geti(L, spec, 1);
  lua_geti(L, spec, 2);
  if (lua_isnil(L, -2)) {
    lua_pop(L, 2);
    return d + 1;
  }
  if (!lua_isinteger(L, -2) || !(lua_isnil(L, -1) || lua_isinteger(L, -1)))
    luaL_argerror(L, arg, lua_pushfstring(L, "spec %d: range bounds must be integers", k));
  int64_t a = checkindex(L, arg, lua_tointeger(L, -2), t->shape[d], "range start");
  int64_t b = lua_isnil(L, -1) ? t->shape[d] - 1 : checkindex(L, arg, lua_tointeger(L, -1), t->shape[d], "range end");
  lua_pop(L, 2);
  if (b < a)
    luaL_argerror(L, arg, lua_pushfstring(L, "spec %d: empty range %I..%I of dim %d of %s", k, (lua_Integer)a + 1, (lua_Integer)b + 1, d + 1, rl_shapestr(t).s));
  RL_CALL(L, rl_tensor_view_narrow(t, d, a, b - a + 1, &v));
  rl_pushtensor(L, v);
  lua_replace(L, cur);
  return d + 1;
}

/* t:slice{{1, 3}, {}, 2}: one spec per dim, from dim 1. */
static int tensor_slice(lua_State *L) {
  rl_checktensor(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushvalue(L, 1); /* 3: current view */
  int n = (int)luaL_len(L, 2), d = 0;
  for (int k = 1; k <= n; k++) {
    lua_geti(L, 2, k);
    d = slice_dim(L, 3, d, 2, k);
    lua_settop(L, 3);
  }
  return 1;
}

static int tensor_transpose(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  if (lua_isnoneornil(L, 2) && t->ndim != 2)
    return luaL_error(L, "transpose: tensor %s is not 2-D; give the two dims", rl_shapestr(t).s);
  int a = rl_optdim(L, 2, t->ndim, 0), b = rl_optdim(L, 3, t->ndim, 1);
  RL_CALL(L, rl_tensor_view_transpose(t, a, b, &v));
  rl_pushtensor(L, v);
  return 1;
}

static int tensor_permute(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  int perm[RL_MAX_DIMS];
  int istab = lua_istable(L, 2), n = istab ? (int)luaL_len(L, 2) : lua_gettop(L) - 1;
  if (n != t->ndim)
    return luaL_error(L, "permute: %d dims given for a %d-dim tensor %s", n, t->ndim, rl_shapestr(t).s);
  for (int i = 0; i < n; i++) {
    if (!istab) {
      perm[i] = rl_checkdim(L, 2 + i, t->ndim);
      continue;
    }
    lua_geti(L, 2, i + 1);
    if (!lua_isinteger(L, -1)) luaL_argerror(L, 2, "dims must be integers");
    perm[i] = rl_todim(L, 2, lua_tointeger(L, -1), t->ndim);
    lua_pop(L, 1);
  }
  RL_CALL(L, rl_tensor_view_permute(t, perm, &v));
  rl_pushtensor(L, v);
  return 1;
}

static int tensor_reshape(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  int64_t shape[RL_MAX_DIMS];
  int next, ndim = rl_checkshape(L, 2, shape, &next);
  RL_CALL(L, rl_tensor_view_reshape(t, ndim, shape, &v));
  rl_pushtensor(L, v);
  return 1;
}

static int tensor_expand(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v, *o = rl_totensor(L, 2);
  int64_t shape[RL_MAX_DIMS];
  int next, ndim = o ? o->ndim : rl_checkshape(L, 2, shape, &next);
  RL_CALL(L, rl_tensor_view_expand(t, ndim, o ? o->shape : shape, &v));
  rl_pushtensor(L, v);
  return 1;
}

static int tensor_unsqueeze(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  lua_Integer d = luaL_checkinteger(L, 2);
  if (d == 0 || d > t->ndim + 1 || d < -(t->ndim + 1))
    return luaL_argerror(L, 2, lua_pushfstring(L, "dim %d out of range 1..%d for %s", (int)d, t->ndim + 1, rl_shapestr(t).s));
  RL_CALL(L, rl_tensor_view_unsqueeze(t, d > 0 ? (int)d - 1 : (int)d, &v));
  rl_pushtensor(L, v);
  return 1;
}

/* squeeze(d) drops dim d (size 1); squeeze() drops every size-1 dim. */
static int tensor_squeeze(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1), *v;
  if (!lua_isnoneornil(L, 2)) {
    RL_CALL(L, rl_tensor_view_squeeze(t, rl_checkdim(L, 2, t->ndim), &v));
  } else {
    int64_t shape[RL_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++)
      if (t->shape[i] != 1) shape[n++] = t->shape[i];
    RL_CALL(L, rl_tensor_view_reshape(t, n, shape, &v));
  }
  rl_pushtensor(L, v);
  return 1;
}

#define UNARY_VIEW(name, call)                                                 \
  static int tensor_##name(lua_State *L) {                                     \
    rl_tensor *t = rl_checktensor(L, 1), *v;                                   \
    RL_CALL(L, call(t, &v));                                                   \
    rl_pushtensor(L, v);                                                       \
    return 1;                                                                  \
  }
UNARY_VIEW(contiguous, rl_tensor_contiguous)
UNARY_VIEW(clone, rl_tensor_clone)
UNARY_VIEW(detach, rl_tensor_view_detach)

static int tensor_copy_(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  RL_CALL(L, rl_tensor_copy_(t, rl_checktensor(L, 2)));
  lua_settop(L, 1);
  return 1;
}

static int tensor_fill_(lua_State *L) {
  rl_tensor_fill_(rl_checktensor(L, 1), (float)luaL_checknumber(L, 2));
  lua_settop(L, 1);
  return 1;
}

static int tensor_free(lua_State *L) {
  tensor_gc(L);
  return 0;
}
/* }==================== */

/* {==================== process-wide settings */

static int relua_memory(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rl_alloc_live_bytes());
  lua_pushinteger(L, live_boxes);
  lua_pushinteger(L, (lua_Integer)rl_alloc_live_blocks());
  return 3;
}

/* relua.clock() -> seconds on a monotonic clock (wall time, unlike
** os.clock's CPU time, which counts every thread). */
static int relua_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int relua_threads(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1, 1, "thread count must be >= 1");
    rl_set_threads((int)n);
  }
  lua_pushinteger(L, rl_threads());
  return 1;
}

static int relua_seed(lua_State *L) {
  rl_seed((uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

/* Testing hook: the n-th core allocation from now fails (0: off); returns
** the number of core allocations made so far, to size a sweep. */
static int relua_alloc_fail_after(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) rl_alloc_fail_after((long)luaL_checkinteger(L, 1));
  lua_pushinteger(L, rl_alloc_count());
  return 1;
}

static int relua_istensor(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, RL_TENSOR_MT) != NULL);
  return 1;
}
/* }==================== */

static const luaL_Reg constructors[] = {
    {"tensor", tensor_new},     {"zeros", tensor_zeros},       {"ones", tensor_ones},
    {"full", tensor_full},      {"rand", tensor_rand},         {"randn", tensor_randn},
    {"arange", tensor_arange},  {"linspace", tensor_linspace}, {"memory", relua_memory},
    {"threads", relua_threads}, {"seed", relua_seed}, {"clock", relua_clock},          {"is_tensor", relua_istensor},
    {"_alloc_fail_after", relua_alloc_fail_after},
    {NULL, NULL}};

static const luaL_Reg meth[] = {
    {"shape", tensor_shape},       {"size", tensor_size},         {"dim", tensor_dim},
    {"numel", tensor_numel},       {"item", tensor_item},         {"totable", tensor_totable},
    {"is_contiguous", tensor_is_contiguous},
    {"narrow", tensor_narrow},     {"select", tensor_select},     {"slice", tensor_slice},
    {"transpose", tensor_transpose}, {"t", tensor_transpose},
    {"permute", tensor_permute},   {"reshape", tensor_reshape},   {"view", tensor_reshape},
    {"expand", tensor_expand},     {"unsqueeze", tensor_unsqueeze}, {"squeeze", tensor_squeeze},
    {"contiguous", tensor_contiguous}, {"clone", tensor_clone},   {"detach", tensor_detach},
    {"copy_", tensor_copy_},       {"fill_", tensor_fill_},       {"free", tensor_free},
    {NULL, NULL}};

static const luaL_Reg metameth[] = {
    {"__index", NULL}, /* placeholder: tensor_index with the method table */
    {"__newindex", tensor_newindex}, {"__gc", tensor_gc}, {"__close", tensor_gc},
    {"__tostring", tensor_tostring}, {"__len", tensor_len}, {NULL, NULL}};

/* [module, methods] on the stack: adds constructors to the module, methods
** to both, and creates the metatable whose __index consults the methods. */
void rl_open_tensor(lua_State *L) {
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, constructors, 0);
  lua_pop(L, 1);
  rl_setfuncs2(L, meth);
  luaL_newmetatable(L, RL_TENSOR_MT);
  luaL_setfuncs(L, metameth, 0);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, tensor_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
