/* lrelua.h: the Lua binding of librelua (the `relua.core` module) and its helpers.
**
** A Lua tensor is a full userdata "relua.Tensor" holding exactly one
** reference to an rl_tensor (a box, as liolib boxes a FILE*). The box is
** created empty and given its metatable before the C tensor exists, so a
** memory error in between leaves a box the GC can collect; __gc and __close
** share one idempotent release, so `local t <close> = f()` frees at once.
**
** Errors: a C status becomes `luaL_error(L, "%s", rl_errmsg())`; every
** message names the function, the argument and the shapes. Dims and indices
** are 1-based in Lua (negative ones count from the end) and 0-based in C;
** the conversion happens here and nowhere else.
**
** Embedding (the `relua` executable does this):
**   lua_State *L = luaL_newstate();
**   luaL_openlibs(L);
**   relua_openlibs(L);         // require "relua" now works
**
** Stack effects of the helpers are given as in the Lua manual: [-o, +p, x]
** pops o values, pushes p, and x says whether it can raise an error
** ('-' never, 'm' only memory errors, 'e' any error).
*/
#ifndef LRELUA_H
#define LRELUA_H

#include <lauxlib.h>
#include <lua.h>

#include "relua.h"

#define RL_TENSOR_MT "relua.Tensor"

/* Build tree and install locations of the stdlib; compile definitions from CMake. */
#ifndef RELUA_STDLIB_BUILD
#define RELUA_STDLIB_BUILD ""
#endif
#ifndef RELUA_STDLIB_INSTALL
#define RELUA_STDLIB_INSTALL ""
#endif

/* {==================== embedding */
/* [-0, +1, e] the module table of `relua.core`. */
int luaopen_relua_core(lua_State *L);
/* [-0, +0, e] preloads `relua.core` and prepends the stdlib directories (build
** tree, then install prefix) to package.path, so `require "relua"` works.
** Call after luaL_openlibs. */
void relua_openlibs(lua_State *L);
/* }==================== */

/* {==================== tensors */
/* [-0, +0, v] the tensor at arg; raises a type error, or "attempt to use a
** released tensor" after __close. Borrowed: valid while the box is alive. */
rl_tensor *rl_checktensor(lua_State *L, int arg);
/* [-0, +0, -] the tensor at idx, or NULL if it is no live tensor. */
rl_tensor *rl_totensor(lua_State *L, int idx);
/* [-0, +1, m] a new box holding t; takes over the caller's reference
** (t is released if the box cannot be made). */
void rl_pushtensor(lua_State *L, rl_tensor *t);
/* [-0, +1, m] pushes t after retaining it (t is borrowed). */
void rl_pushborrowed(lua_State *L, rl_tensor *t);
/* [-0, +1, m] an empty (released) box, to be filled later with rl_fillbox,
** which cannot fail: make the boxes first, then the tensors, so that no
** result is ever held only by C while Lua can raise. */
rl_tensor **rl_newbox(lua_State *L);
void rl_fillbox(rl_tensor **box, rl_tensor *t); /* takes t's reference; t may be NULL */
/* }==================== */

/* {==================== errors and memory */
/* [-0, +0, v] raises the core's last message. Never returns. */
int rl_pusherror(lua_State *L);
/* [-0, +0, e] after a core call: raises on a non-OK status, else tells the
** GC about bytes allocated since the last call (rl_gcnudge). */
void rl_checkstatus(lua_State *L, rl_status st);
/* [-0, +0, -] steps the Lua collector in proportion to the growth of the
** core's live bytes, so tensors Lua holds by tiny boxes get collected. */
void rl_gcnudge(lua_State *L);
/* Runs a core call; on RL_ENOMEM collects garbage fully and retries once;
** then raises on failure. The call must be repeatable (ops are: on failure
** they leave *out NULL and nothing changed). */
#define RL_CALL(L, call)                                                       \
  do {                                                                         \
    rl_status rl_st_ = (call);                                                 \
    if (rl_st_ == RL_ENOMEM) {                                                 \
      lua_gc((L), LUA_GCCOLLECT);                                              \
      rl_st_ = (call);                                                         \
    }                                                                          \
    rl_checkstatus((L), rl_st_);                                               \
  } while (0)
/* }==================== */

/* {==================== arguments */
/* [-0, +0, v] a 1-based (or negative) dim at arg for a tensor with ndim
** dims, as a 0-based C dim. */
int rl_checkdim(lua_State *L, int arg, int ndim);
/* [-0, +0, v] the same for a value d already read (arg names it in errors). */
int rl_todim(lua_State *L, int arg, lua_Integer d, int ndim);
/* [-0, +0, v] like rl_checkdim, or def (a 0-based C dim) when absent. */
int rl_optdim(lua_State *L, int arg, int ndim, int def);
/* [-0, +0, v] a shape given as integers from arg on, or as one table; returns ndim.
** *next gets the first argument after the shape. */
int rl_checkshape(lua_State *L, int arg, int64_t *shape, int *next);
/* [-0, +0, e] field k of the options table at idx (idx 0 or no table: def). */
lua_Number rl_optnumfield(lua_State *L, int idx, const char *k, lua_Number def);
int rl_optboolfield(lua_State *L, int idx, const char *k, int def);
/* [-0, +0, v] field k as the index of its value in names (NULL-terminated); 0 when absent. */
int rl_optenumfield(lua_State *L, int idx, const char *k, const char *const *names);
/* [-0, +0, v] field k as a pair of integers: a number n gives (n, n), a table {a, b}. */
void rl_optpairfield(lua_State *L, int idx, const char *k, int64_t def, int64_t *pair);
/* }==================== */

/* {==================== module parts: each is called with [module, methods] on the stack */
/* Tensor methods are also module functions: relua.sum(t) is t:sum(). */
void rl_open_tensor(lua_State *L); /* ltensor.c: metatable, constructors, views */
void rl_open_ops(lua_State *L);    /* lops.c: arithmetic, reductions, indexing */
void rl_open_nn(lua_State *L);     /* lnn.c: layer functions */
void rl_open_autograd(lua_State *L); /* lautograd.c: requires_grad, backward, rules */
void rl_open_io(lua_State *L);   /* lio.c: relua.image, relua.npy, relua.idx, relua.colormap */
/* [-0, +0, m] adds the functions of l to the module table at -2 and the
** method table at -1. */
void rl_setfuncs2(lua_State *L, const luaL_Reg *l);
/* Nonzero while rl_tape_backward runs: starting a pass or dropping a node then
** would pull the graph from under it. */
extern int rl_in_backward;
/* }==================== */

#endif
