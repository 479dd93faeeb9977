/* lrepl.h: the seam between the relua interpreter (relua.c) and its REPL (lrepl.c).
**
** relua.c owns running code: relua_docall runs the function below `narg`
** arguments under a traceback handler with Ctrl-C armed, relua_report prints
** an error as "relua: msg" (or just "msg" while relua_progname is NULL, as in
** the REPL). lrepl.c owns reading code: relua_repl loops until end of input.
*/
#ifndef LREPL_H
#define LREPL_H

#include "lua.h"

#define RELUA_PROGNAME "relua"

extern const char *relua_progname;

int relua_docall(lua_State *L, int narg, int nres);
int relua_report(lua_State *L, int status);
void relua_message(const char *pname, const char *msg); /* to stderr */

/* getenv, or a function that always says NULL under -E */
extern char *(*relua_getenv)(const char *name);

/* Reads, evaluates and prints until end of input. Uses readline (editing,
** history in ~/.relua_history or $RELUA_HISTORY, completion) when stdin is a
** terminal and the build has it; plain lines otherwise. */
void relua_repl(lua_State *L);

#endif
