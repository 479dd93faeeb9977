/* runlua.c: runs a Lua test script in a state with relua preloaded (a host for sanitizer builds). */
#include <stdio.h>
#include <stdlib.h>

#include <lualib.h>

#include "lrelua.h"

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
    return EXIT_FAILURE;
  }
  lua_State *L = luaL_newstate();
  if (!L) return EXIT_FAILURE;
  luaL_openlibs(L);
  relua_openlibs(L);
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, traceback);
  int st = luaL_loadfile(L, argv[1]);
  if (st == LUA_OK) st = lua_pcall(L, 0, 0, 1);
  if (st != LUA_OK) fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_close(L); /* collects every tensor: the sanitizer sees real leaks only */
  return st == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
