/* lonnx.c: relua.onnx_read(path) -- the C ONNX reader's graph as plain Lua tables. */
#include <string.h>

#include "lrelua.h"
#include "onnx.h"

void rl_open_onnx(lua_State *L);

/* {==================== conversion of the reader's structs */

/* [-0, +1, m] a list of n strings. */
static void pushstrings(lua_State *L, int n, const char *const *s) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, s[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void pushints(lua_State *L, int64_t n, const int64_t *v) {
  lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* [-0, +1, m] {name, dtype = "FLOAT", dims = {...}, value = tensor | nil,
** ints = {...} | nil, why = message when value is nil}. The ints of a big
** integer tensor (a weight) are not listed: shapes and indices are small. */
static void pushtensor(lua_State *L, const rl_onnx_tensor *t) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, t->name ? t->name : "");
  lua_setfield(L, -2, "name");
  lua_pushstring(L, rl_onnx_dtype_name(t->dtype));
  lua_setfield(L, -2, "dtype");
  pushints(L, t->ndim, t->dims);
  lua_setfield(L, -2, "dims");
  if (t->ints && t->numel <= (1 << 20)) {
    pushints(L, t->numel, t->ints);
    lua_setfield(L, -2, "ints");
  }
  if (t->value) {
    rl_pushborrowed(L, t->value);
    lua_setfield(L, -2, "value");
  } else {
    rl_tensor *v = NULL;
    rl_status st = rl_onnx_tensor_value(t, &v);
    rl_tensor_release(v); /* value was NULL, so this fails: keep its reason */
    lua_pushstring(L, st == RL_OK ? "no value" : rl_errmsg());
    lua_setfield(L, -2, "why");
  }
}

static void pushattr(lua_State *L, const rl_onnx_attr *a) {
  switch (a->type) {
    case RL_ONNX_ATTR_FLOAT: lua_pushnumber(L, a->f); break;
    case RL_ONNX_ATTR_INT: lua_pushinteger(L, (lua_Integer)a->i); break;
    case RL_ONNX_ATTR_STRING: lua_pushlstring(L, a->s, a->slen); break;
    case RL_ONNX_ATTR_TENSOR: pushtensor(L, a->t); break;
    case RL_ONNX_ATTR_INTS: pushints(L, a->n, a->ints); break;
    case RL_ONNX_ATTR_STRINGS: pushstrings(L, a->n, a->strings); break;
    case RL_ONNX_ATTR_FLOATS:
      lua_createtable(L, a->n, 0);
      for (int i = 0; i < a->n; i++) {
        lua_pushnumber(L, a->floats[i]);
        lua_rawseti(L, -2, i + 1);
      }
      break;
    default: /* graphs, sparse tensors, type protos: recorded, not decoded */
      lua_createtable(L, 0, 1);
      lua_pushinteger(L, a->type);
      lua_setfield(L, -2, "unsupported_type");
  }
}

static void pushnode(lua_State *L, const rl_onnx_node *n) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, n->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, n->op_type);
  lua_setfield(L, -2, "op_type");
  lua_pushstring(L, n->domain);
  lua_setfield(L, -2, "domain");
  pushstrings(L, n->ninputs, n->inputs);
  lua_setfield(L, -2, "inputs");
  pushstrings(L, n->noutputs, n->outputs);
  lua_setfield(L, -2, "outputs");
  lua_createtable(L, 0, n->nattrs);
  for (int i = 0; i < n->nattrs; i++) {
    pushattr(L, &n->attrs[i]);
    lua_setfield(L, -2, n->attrs[i].name);
  }
  lua_setfield(L, -2, "attributes");
}

static void pushvalueinfo(lua_State *L, const rl_onnx_value_info *v) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, v->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, rl_onnx_dtype_name(v->dtype));
  lua_setfield(L, -2, "dtype");
  if (v->ndim >= 0) {
    pushints(L, v->ndim, v->dims);
    lua_setfield(L, -2, "dims");
    lua_createtable(L, 0, 0); /* symbolic dims by position: {[1] = "batch"} */
    for (int k = 0; k < v->ndim; k++) {
      if (v->dim_names && v->dim_names[k]) {
        lua_pushstring(L, v->dim_names[k]);
        lua_rawseti(L, -2, k + 1);
      }
    }
    lua_setfield(L, -2, "dim_names");
  }
}

#define LIST(field, n, push, key)                                              \
  do {                                                                         \
    lua_createtable(L, (n), 0);                                                \
    for (int i_ = 0; i_ < (n); i_++) {                                         \
      push(L, &m->field[i_]);                                                  \
      lua_rawseti(L, -2, i_ + 1);                                              \
    }                                                                          \
    lua_setfield(L, -2, key);                                                  \
  } while (0)

/* [-0, +1, m] the whole model; m stays owned by the caller. */
static void pushmodel(lua_State *L, const rl_onnx_model *m) {
  lua_createtable(L, 0, 12);
  lua_pushstring(L, m->file);
  lua_setfield(L, -2, "file");
  lua_pushinteger(L, (lua_Integer)m->ir_version);
  lua_setfield(L, -2, "ir_version");
  lua_pushstring(L, m->producer_name ? m->producer_name : "");
  lua_setfield(L, -2, "producer_name");
  lua_pushstring(L, m->graph_name ? m->graph_name : "");
  lua_setfield(L, -2, "graph_name");
  lua_createtable(L, 0, m->nopsets); /* opsets[domain] = version, "" the default */
  for (int i = 0; i < m->nopsets; i++) {
    const char *d = m->opsets[i].domain;
    lua_pushinteger(L, (lua_Integer)m->opsets[i].version);
    lua_setfield(L, -2, strcmp(d, "ai.onnx") == 0 ? "" : d);
  }
  lua_setfield(L, -2, "opsets");
  lua_pushinteger(L, (lua_Integer)rl_onnx_opset(m, ""));
  lua_setfield(L, -2, "opset");
  LIST(nodes, m->nnodes, pushnode, "nodes");
  LIST(inits, m->ninits, pushtensor, "initializers");
  LIST(consts, m->nconsts, pushtensor, "constants");
  LIST(inputs, m->ninputs, pushvalueinfo, "inputs");
  LIST(outputs, m->noutputs, pushvalueinfo, "outputs");
  LIST(value_info, m->nvalue_info, pushvalueinfo, "value_info");
}
/* }==================== */

/* {==================== the functions */

/* The model is parsed into a box-owned pointer first, so a Lua memory error
** while building the tables leaves it to __gc instead of leaking it. */
#define ONNX_BOX_MT "relua.onnx_model"

static int box_gc(lua_State *L) {
  rl_onnx_model **box = luaL_checkudata(L, 1, ONNX_BOX_MT);
  rl_onnx_free(*box);
  *box = NULL;
  return 0;
}

static rl_onnx_model **newbox(lua_State *L) {
  rl_onnx_model **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  if (luaL_newmetatable(L, ONNX_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  return box;
}

/* onnx_read(path) -> the graph as tables (see docs/onnx-models.md):
** {file, ir_version, producer_name, graph_name, opset, opsets = {[domain] = v},
**  nodes = {{name, op_type, domain, inputs, outputs, attributes = {k = v}}},
**  initializers, constants = {{name, dtype, dims, value = tensor, ints, why}},
**  inputs, outputs, value_info = {{name, dtype, dims, dim_names}}}. */
static int onnx_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  rl_onnx_model **box = newbox(L);
  RL_CALL(L, rl_onnx_load(path, box));
  pushmodel(L, *box);
  rl_onnx_free(*box); /* tensors pushed were retained: they outlive the model */
  *box = NULL;
  return 1;
}

/* onnx_op_supported(op_type) -> boolean: the reader's list of buildable operators. */
static int onnx_op_supported(lua_State *L) {
  lua_pushboolean(L, rl_onnx_op_supported(luaL_checkstring(L, 1)));
  return 1;
}
/* }==================== */

void rl_open_onnx(lua_State *L) {
  static const luaL_Reg fns[] = {{"onnx_read", onnx_read}, {"onnx_op_supported", onnx_op_supported}, {NULL, NULL}};
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}
