/* lrepl.c: the relua REPL: lines in, values out, with editing, history, completion and Ctrl-C.
**
** The read-eval-print loop is lua.c's: a line is first compiled as
** "return <line>;" so expressions print their values, then as a statement,
** and while the parser complains about "<eof>" more lines are read under
** _PROMPT2. Results print through the global print, so a tensor shows its
** own preview. Errors print their message and the session goes on.
**
** With readline (and a terminal on stdin) the REPL uses readline's callback
** interface around select(): a Ctrl-C at the prompt then only wakes the loop
** through a pipe, and the loop drops the line being typed (readline() itself
** cannot be left without a longjmp). Without a terminal it reads plain lines,
** so piped sessions print exactly what the chunks print.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "lrepl.h"

#define PROMPT1 "> "
#define PROMPT2 ">> "
#define EOFMARK "<eof>"

enum { LINE_EOF = 0, LINE_OK = 1, LINE_CANCELLED = -1 };

static void setsignal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/*
** {==================================================================
** Plain lines (no terminal, or no readline)
** ===================================================================
*/

static volatile sig_atomic_t plain_sigint;

static void plain_action(int sig) {
  (void)sig;
  plain_sigint = 1;
}

static int plain_getline(const char *prompt, char **line) {
  size_t cap = 0;
  ssize_t n;
  fputs(prompt, stdout);
  fflush(stdout);
  *line = NULL;
  plain_sigint = 0;
  setsignal(SIGINT, plain_action);
  n = getline(line, &cap, stdin);
  setsignal(SIGINT, SIG_DFL);
  if (n >= 0) {
    if (n > 0 && (*line)[n - 1] == '\n') (*line)[n - 1] = '\0';
    return LINE_OK;
  }
  free(*line);
  *line = NULL;
  if (plain_sigint && ferror(stdin)) {
    clearerr(stdin);
    fputs("\n", stdout);
    return LINE_CANCELLED;
  }
  return LINE_EOF;
}

/* }================================================================== */

#ifdef RELUA_USE_READLINE
#include <fcntl.h>
#include <sys/select.h>

#include <readline/history.h>
#include <readline/readline.h>

/*
** {==================================================================
** Readline: Ctrl-C at the prompt, history
** ===================================================================
*/

static int wakefd[2] = {-1, -1}; /* the SIGINT handler writes, the loop selects */
static char *cb_line;
static int cb_done;

/* The handler may run on any thread (OpenMP and OpenBLAS workers do not
** block SIGINT), which is why it writes to a pipe instead of relying on
** select() returning EINTR in this thread. */
static void prompt_action(int sig) {
  int saved = errno;
  char c = (char)sig;
  ssize_t r = write(wakefd[1], &c, 1);
  (void)r;
  errno = saved;
}

static void on_line(char *line) {
  cb_line = line;
  cb_done = 1;
  rl_callback_handler_remove();
}

static int rl_getline(const char *prompt, char **line) {
  int fd = fileno(rl_instream ? rl_instream : stdin);
  int st = LINE_EOF, maxfd = fd > wakefd[0] ? fd : wakefd[0];
  char drain[64];
  while (read(wakefd[0], drain, sizeof drain) > 0) {} /* a Ctrl-C from before this prompt */
  cb_done = 0;
  cb_line = NULL;
  setsignal(SIGINT, prompt_action);
  rl_callback_handler_install(prompt, on_line);
  while (!cb_done) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    FD_SET(wakefd[0], &fds);
    if (select(maxfd + 1, &fds, NULL, NULL, NULL) < 0) {
      if (errno == EINTR) continue;
      rl_callback_handler_remove();
      break;
    }
    if (FD_ISSET(wakefd[0], &fds)) { /* Ctrl-C: drop what was typed */
      while (read(wakefd[0], drain, sizeof drain) > 0) {}
      rl_free_line_state();
      rl_callback_sigcleanup();
      rl_echo_signal_char(SIGINT);
      rl_callback_handler_remove();
      fputs("\n", rl_outstream ? rl_outstream : stdout);
      st = LINE_CANCELLED;
      break;
    }
    if (FD_ISSET(fd, &fds)) rl_callback_read_char();
  }
  setsignal(SIGINT, SIG_DFL);
  *line = NULL;
  if (!cb_done) return st;
  if (cb_line == NULL) return LINE_EOF;
  *line = cb_line; /* malloc'd by readline, freed by the caller */
  return LINE_OK;
}

static char *histfile;

/* ~/.relua_history, or $RELUA_HISTORY (empty: no history file). */
static void history_open(void) {
  const char *f = relua_getenv("RELUA_HISTORY");
  const char *home = getenv("HOME");
  using_history();
  if (f == NULL && home != NULL && *home) {
    size_t n = strlen(home) + sizeof "/.relua_history";
    histfile = malloc(n);
    if (histfile) snprintf(histfile, n, "%s/.relua_history", home);
  } else if (f != NULL && *f) {
    histfile = strdup(f);
  }
  if (histfile == NULL) return;
  if (read_history(histfile) != 0) { /* absent: create it, so appends work */
    FILE *fp = fopen(histfile, "a");
    if (fp) fclose(fp);
  }
}

/* Appended line by line, so a killed session keeps what it typed. */
static void history_add(const char *line) {
  add_history(line);
  if (histfile) append_history(1, histfile);
}

static void history_close(void) {
  if (histfile) history_truncate_file(histfile, 1000);
  free(histfile);
  histfile = NULL;
  clear_history();
}

/* }================================================================== */

/*
** {==================================================================
** Tab completion: globals, and fields or methods after '.' and ':'
** ===================================================================
*/

static lua_State *complL;
static char **cands;
static size_t ncands, icand;
static char cand_append; /* what follows a unique match: '.', '(' or nothing */

static const char *const keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    NULL};

static int isident(const char *s, size_t n) {
  size_t i;
  if (n == 0 || !(s[0] == '_' || ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z'))) return 0;
  for (i = 1; i < n; i++)
    if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z')))
      return 0;
  return 1;
}

/* Replaces the value on top by the next table in its __index chain (the
** table itself first when it is one); 0, with nothing pushed, at the end. A
** __index function is never called: completion must not run user code. A
** C __index whose first upvalue is a table (the binding's tensors: methods
** looked up after numeric indices) is taken to look names up there. */
static int indexchain_next(lua_State *L, int first) {
  if (first && lua_istable(L, -1)) return 1;
  if (!lua_getmetatable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_getfield(L, -1, "__index");
  lua_remove(L, -2); /* metatable */
  lua_remove(L, -2); /* the value */
  if (lua_iscfunction(L, -1) && lua_getupvalue(L, -1, 1) != NULL) lua_remove(L, -2);
  if (lua_istable(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* Replaces the value on top by its field `key`, looked up raw along the
** __index chain. 0 (nothing pushed) when absent. */
static int lookup(lua_State *L, const char *key, size_t klen) {
  int depth;
  for (depth = 0; depth < 16 && indexchain_next(L, depth == 0); depth++) {
    lua_pushlstring(L, key, klen);
    if (lua_rawget(L, -2) != LUA_TNIL) {
      lua_remove(L, -2);
      return 1;
    }
    lua_pop(L, 1);
  }
  if (depth == 16) lua_pop(L, 1);
  return 0;
}

static int iscallable(lua_State *L, int idx) {
  int r;
  if (lua_isfunction(L, idx)) return 1;
  r = luaL_getmetafield(L, idx, "__call") != LUA_TNIL;
  if (r) lua_pop(L, 1);
  return r;
}

/* collect(text) -> set {candidate = type name}. Runs protected. */
static int collect(lua_State *L) {
  size_t len, baselen, plen;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *partial = text, *p;
  int set, depth, methods = 0;
  char sep = 0;
  lua_newtable(L);
  set = lua_gettop(L);
  for (p = text + len; p > text; p--)
    if (p[-1] == '.' || p[-1] == ':') {
      partial = p;
      sep = p[-1];
      break;
    }
  plen = len - (size_t)(partial - text);
  baselen = sep ? (size_t)(partial - text) - 1 : 0;
  lua_pushglobaltable(L);
  if (sep) { /* walk "a.b.c" from _G */
    const char *k = text, *end = text + baselen;
    methods = sep == ':';
    while (k <= end) {
      const char *dot = memchr(k, '.', (size_t)(end - k));
      size_t klen = dot ? (size_t)(dot - k) : (size_t)(end - k);
      if (!isident(k, klen) || !lookup(L, k, klen)) return 1;
      k += klen + 1;
    }
  } else {
    const char *const *kw;
    for (kw = keywords; *kw; kw++)
      if (strncmp(*kw, partial, plen) == 0) {
        lua_pushstring(L, "keyword");
        lua_setfield(L, set, *kw);
      }
  }
  for (depth = 0; depth < 16 && indexchain_next(L, depth == 0); depth++) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      size_t klen;
      const char *key;
      if (lua_type(L, -2) == LUA_TSTRING && (key = lua_tolstring(L, -2, &klen), isident(key, klen)) &&
          klen >= plen && memcmp(key, partial, plen) == 0 && (key[0] != '_' || plen > 0) &&
          (!methods || iscallable(L, -1))) {
        /* a callable table (a class) gets "(": constructing is the common case */
        const char *tname = iscallable(L, -1) ? "function" : lua_istable(L, -1) ? "table" : "value";
        lua_pushlstring(L, text, (size_t)(partial - text));
        lua_pushvalue(L, -3);
        lua_concat(L, 2);
        if (lua_rawget(L, set) == LUA_TNIL) {
          lua_pop(L, 1);
          lua_pushlstring(L, text, (size_t)(partial - text));
          lua_pushvalue(L, -3);
          lua_concat(L, 2);
          lua_pushstring(L, tname);
          lua_rawset(L, set);
        } else {
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
  }
  if (depth == 16) lua_pop(L, 1);
  lua_settop(L, set);
  return 1;
}

static void cands_free(void) {
  size_t i;
  for (i = 0; i < ncands; i++) free(cands[i]);
  free(cands);
  cands = NULL;
  ncands = icand = 0;
}

static int cmpstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *generator(const char *text, int state) {
  (void)text;
  if (state == 0) icand = 0;
  return icand < ncands ? strdup(cands[icand++]) : NULL;
}

static char **complete(const char *text, int start, int end) {
  lua_State *L = complL;
  int top = lua_gettop(L);
  (void)start, (void)end;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  cands_free();
  cand_append = 0;
  lua_pushcfunction(L, collect);
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) n++, lua_pop(L, 1);
    cands = n ? calloc(n, sizeof *cands) : NULL;
    lua_pushnil(L);
    while (cands && lua_next(L, -2)) {
      const char *tname = lua_tostring(L, -1);
      if ((cands[ncands] = strdup(lua_tostring(L, -2))) != NULL) ncands++;
      cand_append = tname[0] == 't' ? '.' : tname[0] == 'f' ? '(' : 0;
      lua_pop(L, 1);
    }
    if (ncands) qsort(cands, ncands, sizeof *cands, cmpstr);
  }
  lua_settop(L, top);
  if (ncands != 1) cand_append = 0;
  rl_completion_append_character = cand_append ? cand_append : ' ';
  rl_completion_suppress_append = cand_append == 0;
  return ncands ? rl_completion_matches(text, generator) : NULL;
}

/* }================================================================== */

static int use_readline;

static void input_open(lua_State *L) {
  use_readline = isatty(0);
  if (!use_readline) return;
  if (pipe(wakefd) != 0) {
    use_readline = 0;
    return;
  }
  {
    int i;
    for (i = 0; i < 2; i++) { /* the loop drains the pipe; never block on it */
      int fl = fcntl(wakefd[i], F_GETFL);
      fcntl(wakefd[i], F_SETFL, fl | O_NONBLOCK);
    }
  }
  complL = L;
  rl_readline_name = "relua";
  rl_catch_signals = 0; /* SIGINT is ours (prompt_action); readline must not re-raise it */
  rl_basic_word_break_characters = " \t\n\"\\'`><=;+-*/%^~#&|!@$,()[]{}";
  rl_attempted_completion_function = complete;
  history_open();
}

static void input_close(void) {
  if (!use_readline) return;
  history_close();
  cands_free();
  close(wakefd[0]);
  close(wakefd[1]);
  wakefd[0] = wakefd[1] = -1;
}

static int input_line(const char *prompt, char **line) {
  return use_readline ? rl_getline(prompt, line) : plain_getline(prompt, line);
}

static void input_save(const char *line) {
  if (use_readline) history_add(line);
}

#else /* no readline */

static void input_open(lua_State *L) { (void)L; }
static void input_close(void) {}
static int input_line(const char *prompt, char **line) { return plain_getline(prompt, line); }
static void input_save(const char *line) { (void)line; }

#endif

/*
** {==================================================================
** Read, evaluate, print
** ===================================================================
*/

/* Leaves the prompt (or nil for the default) on the stack to anchor it. */
static const char *get_prompt(lua_State *L, int firstline) {
  if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL)
    return firstline ? PROMPT1 : PROMPT2;
  {
    const char *p = luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return p;
  }
}

/* Reads a line and pushes it; returns LINE_OK, LINE_EOF or LINE_CANCELLED. */
static int pushline(lua_State *L, int firstline) {
  char *b = NULL;
  int st;
  char prompt[256];
  snprintf(prompt, sizeof prompt, "%s", get_prompt(L, firstline));
  lua_pop(L, 1);
  st = input_line(prompt, &b);
  if (st == LINE_OK) {
    lua_pushstring(L, b);
    free(b);
  }
  return st;
}

static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= sizeof EOFMARK - 1 && strcmp(msg + lmsg - (sizeof EOFMARK - 1), EOFMARK) == 0)
      return 1;
  }
  return 0;
}

/* Compiles the line at the top as "return <line>;". On success leaves the
** chunk in place of the line, otherwise leaves the line. */
static int addreturn(lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbufferx(L, retline, strlen(retline), "=stdin", "t");
  if (status == LUA_OK)
    lua_remove(L, -2);
  else
    lua_pop(L, 2);
  return status;
}

static void checklocal(const char *line) {
  line += strspn(line, " \t");
  if (strncmp(line, "local", 5) == 0 && strchr(" \t", line[5]) != NULL && line[5] != '\0')
    relua_message(NULL, "warning: locals do not survive across lines in interactive mode");
}

/* With the first line at index 1, compiles it as a statement, reading more
** lines while the statement is incomplete. Returns the load status (chunk or
** message on top) or LINE_CANCELLED when Ctrl-C dropped the statement. */
static int multiline(lua_State *L) {
  size_t len;
  const char *line = lua_tolstring(L, 1, &len);
  checklocal(line);
  for (;;) {
    int st, status = luaL_loadbufferx(L, line, len, "=stdin", "t");
    if (!incomplete(L, status)) return status;
    st = pushline(L, 0);
    if (st == LINE_EOF) return status;
    if (st == LINE_CANCELLED) return LINE_CANCELLED;
    lua_remove(L, -2); /* the "<eof>" message */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
    line = lua_tolstring(L, 1, &len);
  }
}

enum { NO_INPUT = -1, NOTHING = -2 };

/* Reads and compiles one command: NO_INPUT at end of input, NOTHING after a
** Ctrl-C, else the load status with the chunk (or the message) on top. */
static int loadline(lua_State *L) {
  int status, st;
  const char *line;
  lua_settop(L, 0);
  st = pushline(L, 1);
  if (st == LINE_EOF) return NO_INPUT;
  if (st == LINE_CANCELLED) return NOTHING;
  line = lua_tostring(L, 1);
  if (line[0] == '=') { /* Lua 5.1's "=expr" */
    lua_pushfstring(L, "return %s", line + 1);
    lua_replace(L, 1);
  }
  if ((status = addreturn(L)) != LUA_OK) status = multiline(L);
  line = lua_tostring(L, 1);
  if (line[0] != '\0') input_save(line);
  lua_remove(L, 1);
  if (status == LINE_CANCELLED) {
    lua_settop(L, 0);
    return NOTHING;
  }
  return status;
}

static void l_print(lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (relua_docall(L, n, 0) != LUA_OK)
      relua_message(NULL, lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
  }
  fflush(stdout);
}

void relua_repl(lua_State *L) {
  int status;
  const char *oldprogname = relua_progname;
  relua_progname = NULL; /* interactive errors carry no "relua:" prefix */
  input_open(L);
  while ((status = loadline(L)) != NO_INPUT) {
    if (status == NOTHING) continue;
    if (status == LUA_OK) status = relua_docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      l_print(L);
    else
      relua_report(L, status);
  }
  input_close();
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
  relua_progname = oldprogname;
}

/* }================================================================== */
