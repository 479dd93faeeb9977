/* lautograd.c: requires_grad, relua.backward, and rules: Lua functions replacing a node's backward for one pass.
**
** A rule runs inside rl_tape_backward, which is C that must never be longjmp'd
** through: the override callback (trampoline) calls the Lua function under
** lua_pcall and turns an error into a status, keeping the error value so
** relua.backward can raise it unchanged once rl_tape_backward has cleaned up.
** Nothing is put in the registry: the rule functions stay anchored by the
** rules table on relua.backward's stack, and every context handed to a rule
** is anchored in a table there too, to be invalidated (its node pointer
** cleared) when the pass ends, whichever way it ends.
*/
#include <string.h>

#include "lrelua.h"

#define RL_CTX_MT "relua.RuleContext"

int rl_in_backward;

/* {==================== requires_grad and friends */

/* t:requires_grad(on) sets and returns t; t:requires_grad() tells. */
static int ag_requires_grad(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  if (lua_isnone(L, 2)) {
    lua_pushboolean(L, rl_tensor_requires_grad(t));
    return 1;
  }
  int on = lua_toboolean(L, 2);
  if (!on && rl_in_backward) return luaL_error(L, "requires_grad: cannot drop a node during a backward pass");
  RL_CALL(L, rl_tensor_set_requires_grad(t, on));
  lua_settop(L, 1);
  return 1;
}

/* t:grad_fn() -> the name of the op that made t ("conv2d", "leaf"), or nil. */
static int ag_grad_fn(lua_State *L) {
  rl_tensor *t = rl_checktensor(L, 1);
  if (!t->node) return 0;
  lua_pushstring(L, rl_node_op(t->node)->name);
  return 1;
}

static int ag_grad_enabled(lua_State *L) {
  lua_pushboolean(L, rl_grad_enabled());
  return 1;
}

/* no_grad(f, ...) calls f with recording off, restored even on error. */
static int ag_no_grad(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int prev = rl_grad_set_enabled(0);
  int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  rl_grad_set_enabled(prev);
  if (st != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}
/* }==================== */

/* {==================== rule contexts */

typedef struct ctxbox {
  rl_node *nd; /* NULL once the pass is over */
} ctxbox;

static rl_node *checkctx(lua_State *L) {
  ctxbox *c = luaL_checkudata(L, 1, RL_CTX_MT);
  if (!c->nd) luaL_error(L, "rule context used after its backward pass ended");
  return c->nd;
}

static const char *inputname(const rl_node *nd, int i) {
  const rl_opdef *op = rl_node_op(nd);
  return op->input_names ? op->input_names[i] : NULL;
}

/* The node's inputs with substitutions from the table at arg ({weight = w},
** {input = x} or {[2] = w}) into in[]; names unknown to the op raise. */
static void substitute(lua_State *L, rl_node *nd, int arg, rl_tensor **in, const char *fn) {
  int n = rl_node_ninputs(nd);
  for (int i = 0; i < n; i++) in[i] = rl_node_input(nd, i);
  if (lua_isnoneornil(L, arg)) return;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    int i = -1;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      for (int j = 0; j < n; j++)
        if (inputname(nd, j) && strcmp(inputname(nd, j), k) == 0) i = j;
      if (i < 0) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int j = 0; j < n; j++) {
          luaL_addstring(&b, j ? ", " : "");
          luaL_addstring(&b, inputname(nd, j) ? inputname(nd, j) : "?");
        }
        luaL_pushresult(&b);
        luaL_error(L, "%s: %s has no input '%s' (its inputs here: %s)", fn, rl_node_op(nd)->name, k, lua_tostring(L, -1));
      }
    } else if (lua_isinteger(L, -2)) {
      lua_Integer k = lua_tointeger(L, -2);
      if (k < 1 || k > n) luaL_error(L, "%s: %s has no input %d in this call (it has %d)", fn, rl_node_op(nd)->name, (int)k, n);
      i = (int)k - 1;
    } else {
      luaL_error(L, "%s: substitution keys are input names or positions", fn);
    }
    in[i] = rl_totensor(L, -1);
    if (!in[i]) luaL_error(L, "%s: substitute for input %d (%s) is not a tensor", fn, i + 1, inputname(nd, i) ? inputname(nd, i) : "?");
    lua_pop(L, 1); /* the value; still anchored by the table */
  }
}

/* ctx:forward{input =, weight =, bias =} -> the recorded op on substituted inputs */
static int ctx_forward(lua_State *L) {
  rl_node *nd = checkctx(L);
  rl_tensor *in[64], *y;
  luaL_argcheck(L, rl_node_ninputs(nd) <= 64, 1, "too many inputs");
  substitute(L, nd, 2, in, "forward");
  RL_CALL(L, rl_node_forward(nd, in, &y));
  rl_pushtensor(L, y);
  return 1;
}

/* ctx:backward(grad_output, subs) -> one gradient per input of the call;
** ctx:backward_input(grad_output, subs) -> the gradient for the input only.
** Zeros where the op gives none. Nothing is recorded. */
static int ctx_backward_impl(lua_State *L, int only_input) {
  rl_node *nd = checkctx(L);
  rl_tensor *gy = rl_checktensor(L, 2), *in[64], *g[64];
  int n = rl_node_ninputs(nd), needs[64];
  luaL_argcheck(L, n <= 64, 1, "too many inputs");
  substitute(L, nd, 3, in, only_input ? "backward_input" : "backward");
  int nres = only_input ? 1 : n, base = lua_gettop(L);
  luaL_checkstack(L, nres, "backward");
  rl_tensor **box[64];
  for (int i = 0; i < nres; i++) box[i] = rl_newbox(L); /* closed first: filling cannot fail */
  for (int i = 0; i < n; i++) needs[i] = i < nres;
  RL_CALL(L, rl_node_backward(nd, in, gy, needs, g));
  for (int i = 0; i < nres; i++) rl_fillbox(box[i], g[i]);
  for (int i = 0; i < nres; i++)
    if (!g[i]) { /* no gradient means zero: make it explicit */
      rl_tensor *z;
      RL_CALL(L, rl_tensor_zeros_like(in[i], &z));
      rl_pushtensor(L, z);
      lua_replace(L, base + 1 + i);
    }
  return nres;
}
static int ctx_backward(lua_State *L) { return ctx_backward_impl(L, 0); }
static int ctx_backward_input(lua_State *L) { return ctx_backward_impl(L, 1); }

/* Fields (kind, module, input, weight, ...) live in the user value. */
static int ctx_index(lua_State *L) {
  luaL_checkudata(L, 1, RL_CTX_MT);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int ctx_tostring(lua_State *L) {
  ctxbox *c = luaL_checkudata(L, 1, RL_CTX_MT);
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "kind");
  lua_pushfstring(L, "relua.RuleContext (%s%s)", lua_tostring(L, -1), c->nd ? "" : ", pass ended");
  return 1;
}
/* }==================== */

/* {==================== backward with rules */

typedef struct rulepass rulepass;
typedef struct ruleud {
  rulepass *pass;
  int entry; /* 1-based, in the rules list */
} ruleud;

struct rulepass {
  lua_State *L;
  int rules, ctxs, err; /* stack slots of relua.backward: rules list, contexts, first error */
  int nkinds;
  const char **kinds;   /* op names matched lazily; anchored by the rules list */
  ruleud *kindud;
};

typedef struct callargs {
  rl_node *nd;
  rl_tensor *const *in;
  const rl_tensor *out, *gout;
  const int *needs;
  rl_tensor **gin;
  ruleud *r;
} callargs;

/* Under lua_pcall: args (callargs, rules, ctxs). Builds the context, calls
** the rule, checks what it returned, and only then stores the gradients. */
static int call_rule(lua_State *L) {
  callargs *a = lua_touserdata(L, 1);
  rl_node *nd = a->nd;
  int n = rl_node_ninputs(nd);
  const char *kind = rl_node_op(nd)->name;
  lua_geti(L, 2, a->r->entry); /* 4: entry */
  lua_getfield(L, 4, "fn");    /* 5 */
  ctxbox *c = lua_newuserdatauv(L, sizeof *c, 1); /* 6 */
  c->nd = NULL;
  luaL_setmetatable(L, RL_CTX_MT);
  lua_pushvalue(L, 6);
  lua_seti(L, 3, luaL_len(L, 3) + 1); /* anchored until the pass ends */
  c->nd = nd;
  lua_createtable(L, 0, 12); /* 7: fields */
  lua_pushstring(L, kind);
  lua_setfield(L, 7, "kind");
  lua_getfield(L, 4, "module");
  lua_setfield(L, 7, "module");
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    rl_pushborrowed(L, a->in[i]);
    if (inputname(nd, i)) {
      lua_pushvalue(L, -1);
      lua_setfield(L, 7, inputname(nd, i));
    }
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, 7, "inputs");
  rl_pushborrowed(L, a->in[0]);
  lua_setfield(L, 7, "input"); /* whatever the op calls its first input */
  rl_pushborrowed(L, (rl_tensor *)a->out);
  lua_setfield(L, 7, "output");
  rl_pushborrowed(L, (rl_tensor *)a->gout);
  lua_setfield(L, 7, "grad_output");
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushboolean(L, a->needs[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, 7, "needs");
  lua_pushvalue(L, 7);
  lua_setiuservalue(L, 6, 1);
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 6);
  lua_call(L, 1, 2); /* 8: gradient for the input, 9: table for the others */
  rl_tensor *g[64] = {0};
  if (!lua_isnil(L, 8)) {
    if (!(g[0] = rl_totensor(L, 8)))
      luaL_error(L, "rule for %s returned a %s, expected a tensor or nil", kind, luaL_typename(L, 8));
  }
  if (!lua_isnil(L, 9)) {
    if (!lua_istable(L, 9) || rl_totensor(L, 9))
      luaL_error(L, "rule for %s: second result must be a table of gradients by input name", kind);
    for (int i = 1; i < n && i < 64; i++) {
      if (inputname(nd, i)) lua_getfield(L, 9, inputname(nd, i));
      else lua_pushnil(L);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_geti(L, 9, i + 1);
      }
      if (!lua_isnil(L, -1) && !(g[i] = rl_totensor(L, -1)))
        luaL_error(L, "rule for %s: gradient for input %d is a %s, expected a tensor", kind, i + 1, luaL_typename(L, -1));
      lua_pop(L, 1); /* anchored by the table */
    }
  }
  for (int i = 0; i < n && i < 64; i++) /* no error past this point */
    if (g[i] && a->needs[i]) {
      rl_tensor_retain(g[i]);
      a->gin[i] = g[i];
    }
  return 0;
}

static rl_status trampoline(rl_node *nd, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *gout, const int *needs, rl_tensor **gin, void *ud) {
  ruleud *r = ud;
  rulepass *p = r->pass;
  lua_State *L = p->L;
  int top = lua_gettop(L);
  if (rl_node_ninputs(nd) > 64) return rl_error(RL_EARG, "rule for %s: too many inputs", rl_node_op(nd)->name);
  if (!lua_checkstack(L, 8)) return rl_error(RL_ENOMEM, "rule for %s: Lua stack overflow", rl_node_op(nd)->name);
  callargs a = {nd, in, out, gout, needs, gin, r};
  lua_pushcfunction(L, call_rule);
  lua_pushlightuserdata(L, &a);
  lua_pushvalue(L, p->rules);
  lua_pushvalue(L, p->ctxs);
  if (lua_pcall(L, 3, 0, 0) == LUA_OK) {
    lua_settop(L, top);
    return RL_OK;
  }
  const char *msg = lua_tostring(L, -1);
  rl_status st = rl_error(RL_EARG, "%s", msg ? msg : "a rule raised an error");
  if (lua_isnil(L, p->err)) lua_replace(L, p->err); /* the value itself is raised later */
  lua_settop(L, top);
  return st;
}

static rl_override_fn lookup(const rl_node *nd, void *lud, void **ud) {
  rulepass *p = lud;
  const char *name = rl_node_op(nd)->name;
  for (int k = 0; k < p->nkinds; k++)
    if (strcmp(p->kinds[k], name) == 0) {
      *ud = &p->kindud[k];
      return trampoline;
    }
  return NULL;
}

/* relua.backward(root, seed, {wrt...}, rules) -> {grad...}
** seed: a tensor of root's shape, or nil for ones. rules (optional): a list
** of {fn = function(ctx), output = tensor | kind = "op name", module = m}:
** an output entry replaces the backward of the node that made that tensor, a
** kind entry that of every node of that op; the first match wins. */
static int ag_backward(lua_State *L) {
  rl_tensor *root = rl_checktensor(L, 1);
  rl_tensor *seed = lua_isnoneornil(L, 2) ? NULL : rl_checktensor(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  if (rl_in_backward) return luaL_error(L, "backward: passes do not nest (called from inside a rule)");
  lua_settop(L, 4);
  int nwrt = (int)luaL_len(L, 3), nrules = lua_istable(L, 4) ? (int)luaL_len(L, 4) : 0;
  luaL_argcheck(L, nwrt >= 1, 3, "no tensor to differentiate for");
  rl_tensor **wrt = lua_newuserdatauv(L, (size_t)nwrt * sizeof *wrt, 0); /* 5 */
  for (int i = 0; i < nwrt; i++) {
    lua_geti(L, 3, i + 1);
    if (!(wrt[i] = rl_totensor(L, -1))) luaL_argerror(L, 3, lua_pushfstring(L, "element %d is not a tensor", i + 1));
    lua_pop(L, 1);
  }
  rulepass p = {L, 10, 0, 0, 0, NULL, NULL};
  rl_override *ov = lua_newuserdatauv(L, (size_t)(nrules + 1) * sizeof *ov, 0); /* 6 */
  ruleud *rud = lua_newuserdatauv(L, (size_t)(nrules + 1) * sizeof *rud, 0);    /* 7 */
  p.kinds = lua_newuserdatauv(L, (size_t)(nrules + 1) * sizeof *p.kinds, 0);     /* 8 */
  p.kindud = lua_newuserdatauv(L, (size_t)(nrules + 1) * sizeof *p.kindud, 0);   /* 9 */
  /* 10: a private copy of the rules, so that a rule changing the caller's
  ** tables cannot free what the pass points to (kind strings, nodes). */
  lua_createtable(L, nrules, 0);
  int nov = 0;
  for (int i = 1; i <= nrules; i++) {
    lua_geti(L, 4, i); /* 11 */
    if (!lua_istable(L, 11)) luaL_argerror(L, 4, lua_pushfstring(L, "rule %d is not a table", i));
    lua_createtable(L, 0, 4); /* 12: the copy */
    lua_getfield(L, 11, "fn");
    if (!lua_isfunction(L, -1) && !luaL_getmetafield(L, -1, "__call"))
      luaL_argerror(L, 4, lua_pushfstring(L, "rule %d has no function 'fn'", i));
    lua_settop(L, 13);
    lua_setfield(L, 12, "fn");
    lua_getfield(L, 11, "module");
    lua_setfield(L, 12, "module");
    lua_getfield(L, 11, "output"); /* 13 */
    lua_getfield(L, 11, "kind");   /* 14 */
    rl_tensor *o = rl_totensor(L, 13);
    if (o) {
      if (!o->node)
        luaL_argerror(L, 4, lua_pushfstring(L, "rule %d: its output tensor %s was not recorded (no input requires grad)", i, rl_shapestr(o).s));
      rud[nov] = (ruleud){&p, i};
      ov[nov] = (rl_override){o->node, trampoline, &rud[nov]};
      nov++;
    } else if (lua_type(L, 14) == LUA_TSTRING) {
      p.kindud[p.nkinds] = (ruleud){&p, i};
      p.kinds[p.nkinds++] = lua_tostring(L, 14); /* anchored by the copy */
    } else {
      luaL_argerror(L, 4, lua_pushfstring(L, "rule %d needs 'output' (a tensor) or 'kind' (an op name)", i));
    }
    lua_setfield(L, 12, "kind");
    lua_setfield(L, 12, "output");
    lua_rawseti(L, 10, i);
    lua_settop(L, 10);
  }
  lua_newtable(L); /* 11: contexts handed out */
  lua_pushnil(L);  /* 12: the first error a rule raised */
  p.ctxs = 11;
  p.err = 12;
  lua_createtable(L, nwrt, 0); /* 13: results, boxes made before the pass */
  rl_tensor ***res = lua_newuserdatauv(L, (size_t)nwrt * sizeof *res, 0); /* 14 */
  for (int i = 0; i < nwrt; i++) {
    res[i] = rl_newbox(L);
    lua_rawseti(L, 13, i + 1);
  }
  rl_tensor **grads = lua_newuserdatauv(L, (size_t)nwrt * sizeof *grads, 0); /* 15 */
  rl_backward_opts opts = {ov, nov, p.nkinds ? lookup : NULL, &p};
  /* Hold the graph: a rule could free the box of root or of a wrt. */
  rl_tensor_retain(root);
  for (int i = 0; i < nwrt; i++) rl_tensor_retain(wrt[i]);
  rl_in_backward = 1;
  rl_status st = rl_tape_backward(root, seed, nwrt, wrt, grads, &opts);
  if (st == RL_ENOMEM && lua_isnil(L, 12)) {
    lua_gc(L, LUA_GCCOLLECT);
    st = rl_tape_backward(root, seed, nwrt, wrt, grads, &opts);
  }
  rl_in_backward = 0;
  for (int i = 0; i < nwrt; i++) rl_tensor_release(wrt[i]);
  rl_tensor_release(root);
  int nctx = (int)lua_rawlen(L, 11);
  for (int i = 1; i <= nctx; i++) {
    lua_rawgeti(L, 11, i);
    ((ctxbox *)lua_touserdata(L, -1))->nd = NULL;
    lua_pop(L, 1);
  }
  if (st != RL_OK) {
    if (!lua_isnil(L, 12)) {
      lua_pushvalue(L, 12);
      return lua_error(L);
    }
    return rl_pusherror(L);
  }
  for (int i = 0; i < nwrt; i++) rl_fillbox(res[i], grads[i]);
  rl_gcnudge(L);
  lua_settop(L, 13);
  return 1;
}
/* }==================== */

static const luaL_Reg meth[] = {
    {"requires_grad", ag_requires_grad}, {"grad_fn", ag_grad_fn}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"backward", ag_backward}, {"no_grad", ag_no_grad}, {"grad_enabled", ag_grad_enabled}, {NULL, NULL}};

static const luaL_Reg ctxmeth[] = {
    {"forward", ctx_forward}, {"backward", ctx_backward}, {"backward_input", ctx_backward_input}, {NULL, NULL}};

/* [module, methods] on the stack. */
void rl_open_autograd(lua_State *L) {
  rl_setfuncs2(L, meth);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
  luaL_newmetatable(L, RL_CTX_MT);
  luaL_newlib(L, ctxmeth);
  lua_pushcclosure(L, ctx_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ctx_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
