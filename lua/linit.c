/* linit.c: opens the `relua.core` module and preloads it into a Lua state. */
#include "lrelua.h"

void rl_open_onnx(lua_State *L);       /* lonnx.c */
void rl_open_checkpoint(lua_State *L); /* lcheckpoint.c */

int luaopen_relua_core(lua_State *L) {
  lua_newtable(L); /* module */
  lua_newtable(L); /* tensor methods */
  rl_open_tensor(L);
  rl_open_ops(L);
  rl_open_nn(L);
  rl_open_autograd(L);
  rl_open_io(L);
  rl_open_onnx(L);
  rl_open_checkpoint(L);
  lua_setfield(L, -2, "Tensor"); /* the method table, for adding methods from Lua */
  lua_pushliteral(L, RELUA_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

/* [-0, +1, m] "dir/?.lua;dir/?/init.lua;" or "" for an empty dir. */
static void pushdir(lua_State *L, const char *dir) {
  if (*dir)
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  else
    lua_pushliteral(L, "");
}

void relua_openlibs(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_relua_core);
  lua_setfield(L, -2, "relua.core");
  lua_pop(L, 1);
  if (lua_getglobal(L, "package") != LUA_TTABLE) {
    lua_pop(L, 1);
    return; /* no package library: nothing to extend */
  }
  pushdir(L, RELUA_STDLIB_BUILD);
  pushdir(L, RELUA_STDLIB_INSTALL);
  lua_getfield(L, -3, "path");
  lua_concat(L, 3);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}
