/* relua.c: the relua interpreter: lua.c's options and script runner, with the relua stdlib preloaded.
**
** `relua` behaves like `lua` (same options, same `arg` table, same exit
** statuses), reads RELUA_INIT / RELUA_PATH / RELUA_CPATH instead of the LUA_
** variables' relua-specific overrides, and starts every chunk with the
** globals `relua`, `nn` and `help` (and the other aliases in `preloads`).
** Everything, option parsing included, runs under lua_pcall in pmain, so
** even an out-of-memory at startup is a clean message. The REPL is lrepl.c.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "lrelua.h"
#include "lrepl.h"
#include "relua.h"

const char *relua_progname = RELUA_PROGNAME;
char *(*relua_getenv)(const char *name) = getenv;

static lua_State *globalL = NULL; /* the state Ctrl-C stops */

/*
** {==================================================================
** Running chunks: traceback handler, Ctrl-C, error reports
** ===================================================================
*/

static void setsignal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* A signal handler cannot touch a Lua state, so (as lua.c) it only arms a
** hook that raises at the next Lua instruction. A count hook, not a call
** hook: a call hook would fire inside the message handler when a kernel has
** already raised its own "interrupted" error, and replace that message.
** C kernels never reach a hook, so the core's flag stops them (they return
** RL_EINTR, which the binding raises). A second Ctrl-C kills, as in lua. */
static void laction(int sig) {
  setsignal(sig, SIG_DFL);
  rl_interrupt();
  lua_sethook(globalL, lstop, LUA_MASKCOUNT, 1);
}

void relua_message(const char *pname, const char *msg) {
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

int relua_report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    relua_message(relua_progname, msg);
    lua_pop(L, 1);
  }
  return status;
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1; /* an error object that knows how to print itself */
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int relua_docall(lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  rl_interrupt_clear(); /* a Ctrl-C from before this chunk is not for it */
  setsignal(SIGINT, laction);
  status = lua_pcall(L, narg, nres, base);
  setsignal(SIGINT, SIG_DFL);
  /* When a kernel answered the Ctrl-C, the hook is still armed and would
  ** stop the next command before it starts. */
  if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0);
  rl_interrupt_clear();
  lua_remove(L, base);
  return status;
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = relua_docall(L, 0, 0);
  return relua_report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfilex(L, name, "bt"));
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbufferx(L, s, strlen(s), name, "t"));
}

/* }================================================================== */

/*
** {==================================================================
** Options
** ===================================================================
*/

static void print_usage(const char *badoption) {
  fprintf(stderr, "%s: ", relua_progname);
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "'%s' needs argument\n", badoption);
  else
    fprintf(stderr, "unrecognized option '%s'\n", badoption);
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "       %s explain|methods [args]   (attribution from the command line: --help)\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n"
          "Environment: RELUA_INIT, RELUA_PATH, RELUA_CPATH, RELUA_HISTORY, RELUA_THREADS\n",
          relua_progname, relua_progname);
  fflush(stderr);
}

/* relua.version comes from the module, so -v tells what is really loaded. */
static void print_version(lua_State *L) {
  const char *v = RELUA_VERSION;
  if (lua_getglobal(L, "relua") == LUA_TTABLE && lua_getfield(L, -1, "version") == LUA_TSTRING)
    v = lua_tostring(L, -1);
  printf("relua %s, %s\n", v, LUA_COPYRIGHT);
  fflush(stdout);
  lua_settop(L, 0);
}

enum { has_error = 1, has_i = 2, has_v = 4, has_e = 8, has_E = 16 };

/* Scans argv for the options needed before any Lua code runs. On return
** *first is the index of the bad option (has_error), of the script, or 0
** when there is no script; -1 when argv is empty. */
static int collectargs(char **argv, int *first) {
  int args = 0, i;
  if (argv[0] == NULL) {
    *first = -1;
    return 0;
  }
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args; /* the script */
    switch (argv[i][1]) {
    case '-':
      if (argv[i][2] != '\0') return has_error;
      *first = argv[i + 1] != NULL ? i + 1 : 0;
      return args;
    case '\0': return args; /* '-': the script is stdin */
    case 'E':
      if (argv[i][2] != '\0') return has_error;
      args |= has_E;
      break;
    case 'W':
      if (argv[i][2] != '\0') return has_error;
      break;
    case 'i': /* implies -v */
      args |= has_i;
      /* FALLTHROUGH */
    case 'v':
      if (argv[i][2] != '\0') return has_error;
      args |= has_v;
      break;
    case 'e': /* like -l, takes an argument */
      args |= has_e;
      /* FALLTHROUGH */
    case 'l':
      if (argv[i][2] == '\0') {
        i++;
        if (argv[i] == NULL || argv[i][0] == '-') return has_error;
      }
      break;
    default: return has_error;
    }
  }
  *first = 0;
  return args;
}

/* -l g=mod: g = require "mod"; -l mod: mod = require "mod", where a module
** named "a-b" goes to global "a" (lua's version-suffix rule). */
static int dolibrary(lua_State *L, char *globname) {
  int status;
  char *suffix = NULL;
  char *modname = strchr(globname, '=');
  if (modname == NULL) {
    modname = globname;
    suffix = strchr(modname, '-');
  } else {
    *modname++ = '\0';
  }
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  status = relua_docall(L, 1, 1);
  if (status == LUA_OK) {
    if (suffix != NULL) *suffix = '\0';
    lua_setglobal(L, globname);
  }
  return relua_report(L, status);
}

/* Runs -e, -l and -W in command-line order; 0 when one of them fails. */
static int runargs(lua_State *L, char **argv, int n) {
  int i;
  lua_warning(L, "@off", 0);
  for (i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      if ((option == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra)) != LUA_OK)
        return 0;
    } else if (option == 'W') {
      lua_warning(L, "@on", 0);
    }
  }
  return 1;
}

/* arg[0] is the script, arguments after it positive, the interpreter and
** its options negative; without a script the interpreter is arg[0]. */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
  int i, narg = argc - (script + 1);
  lua_createtable(L, narg > 0 ? narg : 0, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int pushargs(lua_State *L) {
  int i, n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -i);
  return n;
}

static int handle_script(lua_State *L, char **argv) {
  int status;
  const char *fname = argv[0];
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL; /* stdin */
  status = luaL_loadfilex(L, fname, "bt");
  if (status == LUA_OK) {
    int n = pushargs(L);
    status = relua_docall(L, n, LUA_MULTRET);
  }
  return relua_report(L, status);
}

static char *no_getenv(const char *name) {
  (void)name;
  return NULL;
}

/* }================================================================== */

/*
** {==================================================================
** Environment: RELUA_INIT, RELUA_PATH, RELUA_CPATH
** ===================================================================
*/

static int handle_init(lua_State *L) {
  const char *name = "=RELUA_INIT_5_4";
  const char *init = relua_getenv(name + 1);
  if (init == NULL) {
    name = "=RELUA_INIT";
    init = relua_getenv(name + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, name);
}

/* package[field] = $envname with ";;" replaced by the current path, or
** $envname in front of the current path when it has no ";;". Unlike
** LUA_PATH the stdlib thus stays reachable unless ";;" is placed last. */
static void setpath(lua_State *L, const char *field, const char *envname) {
  const char *v = relua_getenv(envname);
  const char *dflt, *dd;
  luaL_Buffer b;
  if (v == NULL) return;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  dflt = lua_tostring(L, -1);
  if (dflt == NULL) dflt = "";
  luaL_buffinit(L, &b);
  dd = strstr(v, LUA_PATH_SEP LUA_PATH_SEP);
  if (dd == NULL) {
    luaL_addstring(&b, v);
    luaL_addstring(&b, LUA_PATH_SEP);
    luaL_addstring(&b, dflt);
  } else {
    luaL_addlstring(&b, v, (size_t)(dd - v));
    if (dd > v) luaL_addstring(&b, LUA_PATH_SEP);
    luaL_addstring(&b, dflt);
    if (dd[2] != '\0') {
      luaL_addstring(&b, LUA_PATH_SEP);
      luaL_addstring(&b, dd + 2);
    }
  }
  luaL_pushresult(&b);
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

/* }================================================================== */

/*
** {==================================================================
** Preloaded globals
** ===================================================================
*/

/* Short names every chunk starts with. `field` is tried on the relua table
** first, so the binding may expose a submodule either way. */
static const struct preload {
  const char *global, *field, *module;
} preloads[] = {
    {"nn", "nn", "relua.nn"},
    {"rules", "rules", "relua.rules"},
    {"methods", "methods", "relua.methods"},
    {"show", "show", "relua.viz.show"},
    {NULL, NULL, NULL},
};

static int isnotfound(lua_State *L, const char *module) {
  const char *msg = lua_tostring(L, -1);
  const char *q = lua_pushfstring(L, "module '%s' not found", module);
  int r = msg != NULL && strstr(msg, q) != NULL;
  lua_pop(L, 1);
  return r;
}

/* Leaves require(module) on the stack, or nothing: a module that does not
** exist is skipped quietly (the stdlib may be partial), one that fails to
** load is reported and skipped. */
static int tryrequire(lua_State *L, const char *module) {
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) return 1;
  if (!isnotfound(L, module))
    relua_message(relua_progname, lua_pushfstring(L, "warning: cannot preload '%s': %s", module,
                                                   lua_tostring(L, -1)));
  lua_settop(L, 0);
  return 0;
}

static void preload_globals(lua_State *L) {
  const struct preload *p;
  int hashelp;
  lua_settop(L, 0);
  if (!tryrequire(L, "relua")) return;
  lua_setglobal(L, "relua"); /* stack empty */
  hashelp = tryrequire(L, "relua.help");
  if (hashelp) {
    lua_getfield(L, 1, "help");
    lua_setglobal(L, "help");
    /* relua.doc is how stdlib files register documentation */
    lua_getglobal(L, "relua");
    if (lua_istable(L, -1)) {
      if (lua_getfield(L, -1, "doc") == LUA_TNIL) {
        lua_getfield(L, 1, "doc");
        lua_setfield(L, 2, "doc");
      }
      lua_pop(L, 1);
      if (lua_getfield(L, -1, "help") == LUA_TNIL) {
        lua_getfield(L, 1, "help");
        lua_setfield(L, 2, "help");
      }
    }
    lua_settop(L, 0);
  }
  for (p = preloads; p->global; p++) {
    lua_getglobal(L, "relua");
    if (lua_istable(L, -1) && lua_getfield(L, -1, p->field) != LUA_TNIL) {
      lua_setglobal(L, p->global);
    } else {
      lua_settop(L, 0);
      if (tryrequire(L, p->module)) lua_setglobal(L, p->global);
    }
    lua_settop(L, 0);
  }
}

/* }================================================================== */

/*
** {==================================================================
** Subcommands: `relua explain ...` runs require("relua.cli.explain").main(args)
** ===================================================================
*/

static const char *const subcommands[] = {"explain", "methods", NULL};
static int subcommand_status = -1; /* main's exit status once a subcommand ran */

static int is_subcommand(const char *a) {
  for (int i = 0; a && subcommands[i]; i++)
    if (strcmp(a, subcommands[i]) == 0) return 1;
  return 0;
}

/* main(args) returns the exit status (0 done, 1 failed, 2 bad arguments). */
static void run_subcommand(lua_State *L, int argc, char **argv) {
  int st;
  lua_getglobal(L, "require");
  lua_pushfstring(L, "relua.cli.%s", argv[1]);
  st = relua_docall(L, 1, 1);
  if (st == LUA_OK) {
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc - 2, 0);
    for (int i = 2; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i - 1);
    }
    st = relua_docall(L, 1, 1);
  }
  subcommand_status = st == LUA_OK && lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : EXIT_FAILURE;
  relua_report(L, st);
  lua_settop(L, 0);
}

/* }================================================================== */

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script;
  int args = collectargs(argv, &script);
  int optlim = script > 0 ? script : argc;
  luaL_checkversion(L);
  if (args == has_error) {
    print_usage(argv[script]);
    return 0;
  }
  if (args & has_E) {
    relua_getenv = no_getenv;
    lua_pushboolean(L, 1); /* tells the package library to ignore LUA_PATH too */
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  lua_settop(L, 0);
  luaL_openlibs(L);
  relua_openlibs(L); /* preloads relua.core, puts the stdlib on package.path */
  setpath(L, "path", "RELUA_PATH");
  setpath(L, "cpath", "RELUA_CPATH");
  preload_globals(L);
  if (argc > 1 && is_subcommand(argv[1])) {
    run_subcommand(L, argc, argv);
    lua_pushboolean(L, 1);
    return 1;
  }
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (args & has_v) print_version(L);
  if (handle_init(L) != LUA_OK) return 0;
  if (!runargs(L, argv, optlim)) return 0;
  if (script > 0 && handle_script(L, argv + script) != LUA_OK) return 0;
  if (args & has_i) {
    relua_repl(L);
  } else if (script < 1 && !(args & (has_e | has_v))) {
    if (isatty(0)) {
      print_version(L);
      puts("help() lists the topics, Tab completes, Ctrl-C stops a command, Ctrl-D leaves.");
      relua_repl(L);
    } else if (dofile(L, NULL) != LUA_OK) {
      return 0;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  int status, result;
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    relua_message(RELUA_PROGNAME, "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP); /* no collections while the state is built */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  result = lua_toboolean(L, -1);
  relua_report(L, status);
  lua_close(L);
  if (subcommand_status >= 0 && status == LUA_OK) return subcommand_status;
  return result && status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
