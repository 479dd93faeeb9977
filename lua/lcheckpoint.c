/* lcheckpoint.c: relua.checkpoint_write / checkpoint_read, the binding of checkpoint.h. */
#include "checkpoint.h"
#include "lrelua.h"

void rl_open_checkpoint(lua_State *L);

/* checkpoint_write(path, text, names, tensors): names and tensors are lists of equal length. */
static int checkpoint_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t tlen;
  const char *text = luaL_checklstring(L, 2, &tlen);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 3);
  luaL_argcheck(L, luaL_len(L, 4) == n, 4, "as many tensors as names expected");
  luaL_argcheck(L, n < INT32_MAX / 16, 3, "too many tensors");
  /* Arrays as userdata: freed by the GC if an argument error is raised below. */
  const char **names = lua_newuserdatauv(L, sizeof *names * (size_t)(n ? n : 1), 0);
  rl_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)(n ? n : 1), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, 3, i) != LUA_TSTRING) luaL_error(L, "checkpoint_write: name %d is not a string", (int)i);
    names[i - 1] = lua_tostring(L, -1); /* kept alive by the table */
    lua_pop(L, 1);
    lua_geti(L, 4, i);
    ts[i - 1] = rl_totensor(L, -1);
    if (!ts[i - 1]) luaL_error(L, "checkpoint_write: entry %d ('%s') is not a live tensor", (int)i, names[i - 1]);
    lua_pop(L, 1);
  }
  RL_CALL(L, rl_checkpoint_save(path, text, tlen, (int)n, names, ts));
  return 0;
}

#define CKPT_BOX_MT "relua.checkpoint"

static int box_gc(lua_State *L) {
  rl_checkpoint **box = luaL_checkudata(L, 1, CKPT_BOX_MT);
  rl_checkpoint_free(*box);
  *box = NULL;
  return 0;
}

/* checkpoint_read(path) -> text, names, tensors (lists in file order). */
static int checkpoint_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  rl_checkpoint **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  if (luaL_newmetatable(L, CKPT_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  RL_CALL(L, rl_checkpoint_load(path, box));
  rl_checkpoint *c = *box;
  lua_pushlstring(L, c->text, c->text_len);
  lua_createtable(L, c->ntensors, 0);
  lua_createtable(L, c->ntensors, 0);
  for (int i = 0; i < c->ntensors; i++) {
    lua_pushstring(L, c->names[i]);
    lua_rawseti(L, -3, i + 1);
    rl_pushborrowed(L, c->tensors[i]);
    lua_rawseti(L, -2, i + 1);
  }
  rl_checkpoint_free(c);
  *box = NULL;
  return 3;
}

void rl_open_checkpoint(lua_State *L) {
  static const luaL_Reg fns[] = {{"checkpoint_write", checkpoint_write}, {"checkpoint_read", checkpoint_read}, {NULL, NULL}};
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}
