/* lio.c: relua.image, relua.npy, relua.idx and relua.colormap: the file readers, preprocessing and colour maps of image.h, npy.h, idx.h and colormap.h. */
#include <string.h>

#include "lrelua.h"

/* Every result box is made before the C call, so a raise between the call
** and the push can never strand a tensor held only by C. */
#define PUSHCALL(L, call_with_out)                                             \
  do {                                                                         \
    rl_tensor **box_ = rl_newbox(L), *out_ = NULL;                             \
    RL_CALL(L, call_with_out);                                                 \
    rl_fillbox(box_, out_);                                                    \
  } while (0)

static const char *const modes[] = {"asis", "gray", "ga", "rgb", "rgba", NULL};

/* A positive integer field of the options table at idx, or def; at most
** 2^40, so sizes derived from it cannot overflow. */
static int64_t optposfield(lua_State *L, int idx, const char *fn, const char *k, int64_t def) {
  if (idx == 0 || !lua_istable(L, idx)) return def;
  lua_getfield(L, idx, k);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  int isint;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < 1 || v > ((lua_Integer)1 << 40))
    return luaL_error(L, "%s: option '%s' must be a positive integer, got %s", fn, k, luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  return (int64_t)v;
}

static void checkopts(lua_State *L, int arg) {
  if (!lua_isnoneornil(L, arg)) luaL_checktype(L, arg, LUA_TTABLE);
}

/* {==================== relua.image */

/* image.load(path, {mode = "rgb"|"gray"|"ga"|"rgba"|"asis"}) -> C x H x W in [0, 1] */
static int image_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  checkopts(L, 2);
  int mode = rl_optenumfield(L, 2, "mode", modes);
  PUSHCALL(L, rl_image_load(path, mode, &out_));
  return 1;
}

/* image.save(path, t): t is C x H x W (C = 1..4), H x W or 1 x C x H x W in [0, 1]. */
static int image_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  rl_tensor *t = rl_checktensor(L, 2);
  RL_CALL(L, rl_image_save(path, t));
  return 0;
}

/* image.resize(t, h, w, {antialias = true}) */
static int image_resize(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  lua_Integer h = luaL_checkinteger(L, 2), w = luaL_checkinteger(L, 3);
  checkopts(L, 4);
  int aa = rl_optboolfield(L, 4, "antialias", 1);
  PUSHCALL(L, rl_image_resize(t, h, w, aa, &out_));
  return 1;
}

/* image.resize_short(t, size, {antialias = true}): the shorter side becomes size. */
static int image_resize_short(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  lua_Integer s = luaL_checkinteger(L, 2);
  checkopts(L, 3);
  int aa = rl_optboolfield(L, 3, "antialias", 1);
  PUSHCALL(L, rl_image_resize_short(t, s, aa, &out_));
  return 1;
}

/* image.center_crop(t, h [, w]) (w defaults to h) */
static int image_center_crop(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  lua_Integer h = luaL_checkinteger(L, 2), w = luaL_optinteger(L, 3, h);
  PUSHCALL(L, rl_image_center_crop(t, h, w, &out_));
  return 1;
}

/* Reads mean/std from the table at idx ({mean = {...}, std = {...}}) or the
** string "imagenet" into mean, std; returns the channel count (0: "none"). */
static int checkstats(lua_State *L, int idx, const char *fn, float *mean, float *std) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    if (strcmp(s, "imagenet") == 0) {
      memcpy(mean, rl_imagenet_mean, sizeof rl_imagenet_mean);
      memcpy(std, rl_imagenet_std, sizeof rl_imagenet_std);
      return 3;
    }
    if (strcmp(s, "none") == 0) return 0;
    return luaL_error(L, "%s: normalize '%s' is not \"imagenet\", \"none\" or {mean = {...}, std = {...}}", fn, s);
  }
  if (!lua_istable(L, idx))
    return luaL_error(L, "%s: normalize must be \"imagenet\", \"none\" or {mean = {...}, std = {...}}, got %s", fn,
                      luaL_typename(L, idx));
  int cnt[2];
  const char *keys[2] = {"mean", "std"};
  float *dst[2] = {mean, std};
  for (int k = 0; k < 2; k++) {
    lua_getfield(L, idx, keys[k]);
    if (lua_isnumber(L, -1)) { /* one number for every channel */
      dst[k][0] = (float)lua_tonumber(L, -1);
      cnt[k] = 0;
    } else if (lua_istable(L, -1)) {
      int len = (int)luaL_len(L, -1);
      if (len < 1 || len > 64) return luaL_error(L, "%s: normalize.%s has %d entries (1 to 64)", fn, keys[k], len);
      cnt[k] = len;
      for (int i = 0; i < len; i++) {
        lua_geti(L, -1, i + 1);
        int isnum;
        lua_Number v = lua_tonumberx(L, -1, &isnum);
        if (!isnum) return luaL_error(L, "%s: normalize.%s[%d] is not a number", fn, keys[k], i + 1);
        dst[k][i] = (float)v;
        lua_pop(L, 1);
      }
    } else {
      return luaL_error(L, "%s: normalize.%s must be a number or a list of numbers", fn, keys[k]);
    }
    lua_pop(L, 1);
  }
  if (cnt[0] && cnt[1] && cnt[0] != cnt[1])
    return luaL_error(L, "%s: normalize.mean has %d entries, std %d", fn, cnt[0], cnt[1]);
  int n = cnt[0] > cnt[1] ? cnt[0] : cnt[1];
  for (int k = 0; k < 2; k++)
    if (cnt[k] == 0)
      for (int i = 1; i < n; i++) dst[k][i] = dst[k][0];
  return n; /* 0 here means "one value for every channel" */
}

/* Fills mean/std for nc channels from checkstats' result r. */
static void broadcast_stats(lua_State *L, const char *fn, int r, int nc, float *mean, float *std) {
  if (r == 0) {
    for (int i = 1; i < nc; i++) mean[i] = mean[0], std[i] = std[0];
  } else if (r != nc) {
    luaL_error(L, "%s: normalize has %d channel statistics, the image has %d channels", fn, r, nc);
  }
}

/* image.normalize(t, "imagenet" | {mean = {...}, std = {...}}): over the dim before H. */
static int image_normalize(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  float mean[64], std[64];
  if (lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "normalize needs \"imagenet\" or {mean = ..., std = ...}");
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "none") == 0) {
    lua_settop(L, 1); /* a copy, as the other cases give */
    PUSHCALL(L, rl_tensor_clone(t, &out_));
    return 1;
  }
  int r = checkstats(L, 2, "image.normalize", mean, std);
  if (t->ndim < 3) return luaL_error(L, "image.normalize: %s has no channel dim (C x H x W or N x C x H x W)", rl_shapestr(t).s);
  int64_t nc = t->shape[t->ndim - 3];
  if (nc > 64) return luaL_error(L, "image.normalize: %s has %d channels (at most 64)", rl_shapestr(t).s, (int)nc);
  broadcast_stats(L, "image.normalize", r, (int)nc, mean, std);
  PUSHCALL(L, rl_image_normalize(t, (int)nc, mean, std, &out_));
  return 1;
}

/* image.stack{t1, t2, ...} -> n x ... */
static int image_stack(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 1);
  if (n < 1 || n > (1 << 20)) return luaL_error(L, "image.stack: %d tensors (1 or more)", (int)n);
  rl_tensor **v = lua_newuserdatauv(L, (size_t)n * sizeof *v, 0); /* collected with the call */
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    v[i - 1] = rl_totensor(L, -1);
    if (!v[i - 1]) return luaL_error(L, "image.stack: entry %d is a %s, not a tensor", (int)i, luaL_typename(L, -1));
    lua_pop(L, 1); /* the table keeps it alive */
  }
  PUSHCALL(L, rl_image_stack((int)n, v, &out_));
  return 1;
}

/* image.preprocess(path_or_tensor, {size = 224, resize = size * 256 / 224, crop = true,
**   normalize = "imagenet", mode = "rgb", antialias = true}) -> 1 x C x size x size
** torchvision's Resize(resize) + CenterCrop(size) + Normalize; crop = false
** resizes the whole image to size x size instead. */
static int image_preprocess(lua_State *L) {
  const char *fn = "image.preprocess";
  checkopts(L, 2);
  lua_settop(L, 2);
  int64_t size = optposfield(L, 2, fn, "size", 224);
  int64_t resize = optposfield(L, 2, fn, "resize", size * 256 / 224);
  int crop = rl_optboolfield(L, 2, "crop", 1), aa = rl_optboolfield(L, 2, "antialias", 1);
  int mode = rl_optenumfield(L, 2, "mode", modes);
  if (mode == 0) mode = RL_IMAGE_RGB;
  float mean[64], std[64];
  int r = 3;
  if (lua_istable(L, 2)) lua_getfield(L, 2, "normalize");
  else lua_pushnil(L);
  if (lua_isnil(L, 3)) {
    memcpy(mean, rl_imagenet_mean, sizeof rl_imagenet_mean);
    memcpy(std, rl_imagenet_std, sizeof rl_imagenet_std);
  } else if (lua_isboolean(L, 3)) {
    r = lua_toboolean(L, 3) ? 3 : -1;
    memcpy(mean, rl_imagenet_mean, sizeof rl_imagenet_mean);
    memcpy(std, rl_imagenet_std, sizeof rl_imagenet_std);
  } else {
    r = checkstats(L, 3, fn, mean, std);
    if (lua_type(L, 3) == LUA_TSTRING && r == 0) r = -1; /* "none" */
  }
  /* the chain: each stage's box is made first and released as soon as the next exists */
  rl_tensor **img = rl_newbox(L), **a = rl_newbox(L), **b = rl_newbox(L), **x = rl_newbox(L), **y = rl_newbox(L);
  rl_tensor *t = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) {
    RL_CALL(L, rl_image_load(lua_tostring(L, 1), mode, &t));
    rl_fillbox(img, t);
  } else {
    rl_tensor *src = rl_checktensor(L, 1);
    if (src->ndim != 3) return luaL_error(L, "%s: %s is not an image (C x H x W)", fn, rl_shapestr(src).s);
    rl_tensor_retain(src);
    rl_fillbox(img, src);
  }
  int64_t nc = (*img)->shape[0];
  if (r > 0 || r == 0) {
    if (nc > 64) return luaL_error(L, "%s: %d channels (at most 64)", fn, (int)nc);
    broadcast_stats(L, fn, r, (int)nc, mean, std);
  }
  if (crop) {
    RL_CALL(L, rl_image_resize_short(*img, resize, aa, &t));
    rl_fillbox(a, t);
    RL_CALL(L, rl_image_center_crop(*a, size, size, &t));
  } else {
    RL_CALL(L, rl_image_resize(*img, size, size, aa, &t));
    rl_fillbox(a, t);
    rl_tensor_retain(t);
  }
  rl_fillbox(b, t);
  if (r >= 0) {
    RL_CALL(L, rl_image_normalize(*b, (int)nc, mean, std, &t));
  } else {
    t = *b;
    rl_tensor_retain(t);
  }
  rl_fillbox(x, t);
  RL_CALL(L, rl_image_stack(1, x, &t));
  rl_fillbox(y, t);
  return 1;
}

static const luaL_Reg image_funcs[] = {
    {"load", image_load},
    {"save", image_save},
    {"resize", image_resize},
    {"resize_short", image_resize_short},
    {"center_crop", image_center_crop},
    {"normalize", image_normalize},
    {"stack", image_stack},
    {"preprocess", image_preprocess},
    {NULL, NULL},
};
/* }==================== */

/* {==================== relua.npy, relua.idx */

static int npy_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  PUSHCALL(L, rl_npy_load(path, &out_));
  return 1;
}

/* npy.save(path, t, {dtype = "f4"|"u1"}) */
static int npy_save(lua_State *L) {
  static const char *const dtypes[] = {"f4", "u1", NULL};
  const char *path = luaL_checkstring(L, 1);
  rl_tensor *t = rl_checktensor(L, 2);
  checkopts(L, 3);
  int dt = rl_optenumfield(L, 3, "dtype", dtypes);
  RL_CALL(L, rl_npy_save(path, t, dt == 1 ? RL_NPY_U8 : RL_NPY_F32));
  return 0;
}

static const luaL_Reg npy_funcs[] = {{"load", npy_load}, {"save", npy_save}, {NULL, NULL}};

/* idx.load(path, {limit = 0 (all), scale = false}) */
static int idx_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  checkopts(L, 2);
  int64_t limit = 0;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "limit");
    if (!lua_isnil(L, -1)) limit = optposfield(L, 2, "idx.load", "limit", 0);
    lua_pop(L, 1);
  }
  int flags = rl_optboolfield(L, 2, "scale", 0) ? RL_IDX_SCALE : 0;
  PUSHCALL(L, rl_idx_load(path, limit, flags, &out_));
  return 1;
}

static const luaL_Reg idx_funcs[] = {{"load", idx_load}, {NULL, NULL}};
/* }==================== */

/* {==================== relua.colormap */

/* colormap(name, t, {vmin = 0, vmax = 1}): H x W, 1 x H x W -> 3 x H x W; N x 1 x H x W -> N x 3 x H x W */
static int colormap_apply(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  rl_tensor *t = rl_checktensor(L, 2);
  checkopts(L, 3);
  float vmin = (float)rl_optnumfield(L, 3, "vmin", 0), vmax = (float)rl_optnumfield(L, 3, "vmax", 1);
  rl_cmap c;
  RL_CALL(L, rl_colormap_find(name, &c));
  PUSHCALL(L, rl_colormap_apply(t, c, vmin, vmax, &out_));
  return 1;
}

/* colormaps() -> {"bwr", "seismic", ...} */
static int colormap_names(lua_State *L) {
  lua_createtable(L, RL_CMAP_COUNT, 0);
  for (int i = 0; i < RL_CMAP_COUNT; i++) {
    lua_pushstring(L, rl_colormap_name((rl_cmap)i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}
/* }==================== */

/* [-0, +0, m] module.name = a table of the functions of l; [module, methods] on the stack. */
static void subtable(lua_State *L, const char *name, const luaL_Reg *l) {
  lua_newtable(L);
  luaL_setfuncs(L, l, 0);
  lua_setfield(L, -3, name);
}

void rl_open_io(lua_State *L) {
  subtable(L, "image", image_funcs);
  subtable(L, "npy", npy_funcs);
  subtable(L, "idx", idx_funcs);
  lua_pushcfunction(L, colormap_apply);
  lua_setfield(L, -3, "colormap");
  lua_pushcfunction(L, colormap_names);
  lua_setfield(L, -3, "colormaps");
}
