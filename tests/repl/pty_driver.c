/* pty_driver.c: drives the relua REPL through a pseudo-terminal (completion, Ctrl-C, history).
**
** usage: pty_driver RELUA TMPDIR [KERNEL_SETUP KERNEL_EXPR KERNEL_MESSAGE]
**
** Starts relua on a pty (so it uses readline), types keys and waits for
** expected output with a timeout; every wait is bounded and an alarm kills
** the whole run, so a broken REPL fails instead of hanging. KERNEL_EXPR is a
** Lua statement that spends seconds inside one C kernel that polls the
** interrupt flag (KERNEL_SETUP, run before, makes its inputs); Ctrl-C must
** stop it with KERNEL_MESSAGE (the kernel's own error, not the Lua hook's
** "interrupted!"). Ends with "N passed, N failed".
*/
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000 /* generous: sanitizer builds start slowly */

typedef struct session {
  pid_t pid;
  int fd;
  char buf[1 << 16];
  size_t len, mark; /* bytes read; start of what expect() has not consumed */
  int prompt;       /* number of the last prompt seen */
} session;

static int npass, nfail;
static const char *relua_exe, *tmpdir;
static pid_t current_child = -1;

static void check(int ok, const char *what) {
  if (ok)
    npass++;
  else
    nfail++;
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  fflush(stdout);
}

static void on_alarm(int sig) {
  (void)sig;
  if (current_child > 0) kill(current_child, SIGKILL);
  static const char msg[] = "FAIL pty_driver: overall timeout\n";
  ssize_t r = write(1, msg, sizeof msg - 1);
  (void)r;
  _exit(1);
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static int start(session *s, const char *histfile, char *const extra_args[]) {
  struct winsize ws = {24, 100, 0, 0};
  char *argv[8];
  int n = 0;
  argv[n++] = (char *)relua_exe;
  while (extra_args && *extra_args && n < 7) argv[n++] = *extra_args++;
  argv[n] = NULL;
  memset(s, 0, sizeof *s);
  s->pid = forkpty(&s->fd, NULL, NULL, &ws);
  if (s->pid < 0) return 0;
  if (s->pid == 0) {
    setenv("TERM", "dumb", 1);
    setenv("HOME", tmpdir, 1);
    if (histfile)
      setenv("RELUA_HISTORY", histfile, 1);
    else
      unsetenv("RELUA_HISTORY");
    unsetenv("RELUA_INIT");
    unsetenv("RELUA_INIT_5_4");
    unsetenv("INPUTRC");
    execv(relua_exe, argv);
    _exit(127);
  }
  current_child = s->pid;
  return 1;
}

/* Reads until `needle` shows up after the mark; moves the mark past it. */
static int expect(session *s, const char *needle) {
  long deadline = now_ms() + WAIT_MS;
  for (;;) {
    char *hit;
    s->buf[s->len] = '\0';
    hit = strstr(s->buf + s->mark, needle);
    if (hit) {
      s->mark = (size_t)(hit - s->buf) + strlen(needle);
      return 1;
    }
    long left = deadline - now_ms();
    if (left <= 0 || s->len + 1 >= sizeof s->buf) break;
    struct pollfd p = {s->fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t got = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
    if (got <= 0) break; /* EIO: the child closed the pty */
    s->len += (size_t)got;
  }
  fprintf(stderr, "  (waited for \"%s\"; output since the last match:)\n  ---\n%s\n  ---\n", needle,
          s->buf + s->mark);
  return 0;
}

/* Reads whatever arrives for `ms` milliseconds (to look for absent text). */
static void drain(session *s, long ms) {
  long deadline = now_ms() + ms;
  for (;;) {
    long left = deadline - now_ms();
    if (left <= 0 || s->len + 1 >= sizeof s->buf) break;
    struct pollfd p = {s->fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t got = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
    if (got <= 0) break;
    s->len += (size_t)got;
  }
  s->buf[s->len] = '\0';
}

static void send_keys(session *s, const char *keys) {
  size_t n = strlen(keys);
  while (n > 0) {
    ssize_t w = write(s->fd, keys, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    keys += w;
    n -= (size_t)w;
  }
}

/* The sessions number their prompts ("[7]> ", "[8]>> "), so waiting for
** the next number is waiting for the REPL to be ready for the next line,
** never matching an old prompt that readline redraws. */
static char *const numbered_prompts[] = {
    "-e",
    "n_ = 0 "
    "_PROMPT = setmetatable({}, {__tostring = function() n_ = n_ + 1 return '[' .. n_ .. ']> ' end}) "
    "_PROMPT2 = setmetatable({}, {__tostring = function() n_ = n_ + 1 return '[' .. n_ .. ']>> ' end})",
    "-i", NULL};

static int expect_prompt(session *s) {
  char p[32];
  s->prompt++;
  snprintf(p, sizeof p, "[%d]>", s->prompt);
  return expect(s, p);
}

/* Types a line, waits for `expected` (if any) and then the next prompt. */
static int run_line(session *s, const char *line, const char *expected) {
  int ok = 1;
  send_keys(s, line);
  send_keys(s, "\n");
  if (expected) ok = expect(s, expected);
  return expect_prompt(s) && ok;
}

/* Ends the session with Ctrl-D; returns the exit status (-1 if killed). */
static int finish(session *s) {
  int status = 0;
  long start = now_ms(), deadline = start + WAIT_MS, resend = start + 2000;
  send_keys(s, "\x04");
  while (waitpid(s->pid, &status, WNOHANG) == 0) {
    if (now_ms() > deadline) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &status, 0);
      break;
    }
    /* a Ctrl-D typed while the terminal is between readline's modes can be
    ** lost: say it again (at an empty prompt it can only mean "leave") */
    if (now_ms() > resend) {
      send_keys(s, "\x04");
      resend += 2000;
    }
    drain(s, 50);
  }
  close(s->fd);
  current_child = -1;
  if (getenv("PTY_DRIVER_VERBOSE")) fprintf(stderr, "---- transcript ----\n%s\n----\n", s->buf);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int file_contains(const char *path, const char *needle) {
  char buf[1 << 14];
  size_t n;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, needle) != NULL;
}

int main(int argc, char **argv) {
  session s;
  char histfile[4096];
  if (argc != 3 && argc != 6) {
    fprintf(stderr, "usage: pty_driver RELUA TMPDIR [KERNEL_SETUP KERNEL_EXPR KERNEL_MESSAGE]\n");
    return 2;
  }
  relua_exe = argv[1];
  tmpdir = argv[2];
  mkdir(tmpdir, 0777); /* may exist */
  snprintf(histfile, sizeof histfile, "%s/pty_history", tmpdir);
  remove(histfile);
  signal(SIGALRM, on_alarm);
  alarm(300);

  if (!start(&s, histfile, numbered_prompts)) {
    check(0, "forkpty");
    printf("%d passed, %d failed\n", npass, nfail);
    return 1;
  }
  check(expect_prompt(&s), "the REPL shows its prompt on a terminal");

  /* {==== completion ====} */
  run_line(&s, "xyzzy_long_name = 42", NULL);
  check(run_line(&s, "xyzzy_lo\t", "\n42"), "TAB completes a global");
  check(run_line(&s, "string.upp\t'ab')", "AB"), "TAB completes a field after '.' (and opens the call)");
  run_line(&s, "s = 'hello'", NULL);
  check(run_line(&s, "s:rev\t)", "olleh"), "TAB completes a method after ':' through __index");
  run_line(&s, "t1 = {alpha = {beta = 7}}", NULL);
  check(run_line(&s, "t1.al\tbe\t * 6", "42"), "TAB walks a dotted path");
  check(run_line(&s, "relua.vers\t == relua.version", "true"), "TAB completes a field of the preloaded relua");
  run_line(&s, "Klass = setmetatable({}, {__call = function() return 'con' .. 'structed' end})", NULL);
  check(run_line(&s, "Klas\t)", "constructed"), "TAB opens the call of a callable table (a class)");
  {
    size_t from = s.len;
    run_line(&s, "print(relua.is_tensor and 'has' .. 'tensors' or 'no' .. 'tensors')", NULL);
    if (strstr(s.buf + from, "hastensors")) {
      run_line(&s, "x = relua.randn(2, 3)", NULL);
      check(run_line(&s, "#x:nar\t2, 2, 2)", "\n2"), "TAB completes a tensor method (C __index)");
    }
  }
  {
    size_t from = s.len;
    int ok;
    send_keys(&s, "string.\t\t");
    ok = expect(&s, "string.unpack");
    drain(&s, 300);
    check(ok && strstr(s.buf + from, "string.gsub") && strstr(s.buf + from, "string.upper"),
          "TAB TAB lists the fields of a table");
    send_keys(&s, "\x15"); /* Ctrl-U: kill the typed line */
    run_line(&s, "", NULL);
  }

  /* {==== Ctrl-C ====} */
  send_keys(&s, "print('junk'");
  expect(&s, "junk'");
  send_keys(&s, "\x03");
  check(expect_prompt(&s), "Ctrl-C at the prompt gives a fresh prompt");
  check(run_line(&s, "print('after' .. 'ctrlc')", "afterctrlc"), "Ctrl-C at the prompt drops the typed line");
  run_line(&s, "for i = 1, 3 do", NULL);
  send_keys(&s, "\x03");
  check(expect_prompt(&s), "Ctrl-C at the continuation prompt gives a fresh prompt");
  check(run_line(&s, "print('fresh' .. 'start')", "freshstart"), "Ctrl-C at '>>' drops the whole statement");
  check(strstr(s.buf, "stdin:") == NULL, "no error from the dropped lines");

  run_line(&s, "kept = 123", NULL);
  send_keys(&s, "while true do end\n");
  sleep_ms(500);
  send_keys(&s, "\x03");
  check(expect(&s, "interrupted!") && expect_prompt(&s), "Ctrl-C stops a long Lua loop");
  check(run_line(&s, "kept * 2", "246"), "variables survive the interrupted command");
  check(run_line(&s, "print('still' .. 'alive')", "stillalive"), "the REPL keeps running after Ctrl-C");

  if (argc == 6) {
    char line[1024];
    run_line(&s, argv[3], NULL);
    snprintf(line, sizeof line, "%s\n", argv[4]);
    send_keys(&s, line);
    sleep_ms(700);
    send_keys(&s, "\x03");
    check(expect(&s, argv[5]) && expect_prompt(&s), "Ctrl-C stops a long C kernel through the interrupt flag");
    check(run_line(&s, "kept + 1", "124"), "the session goes on after the kernel stopped");
    check(run_line(&s, "print('no' .. 'stale')", "nostale"), "a stale Ctrl-C does not hit the next command");
  }
  run_line(&s, "print('hist' .. 'ory')", "history");
  check(finish(&s) == 0, "Ctrl-D at the prompt exits with status 0");
  check(file_contains(histfile, "kept = 123"), "history is written to RELUA_HISTORY");

  /* {==== history is read back ====} */
  if (start(&s, histfile, numbered_prompts)) {
    expect_prompt(&s);
    send_keys(&s, "\x10\n"); /* Ctrl-P: previous history line */
    check(expect(&s, "history") && expect_prompt(&s), "a new session recalls the previous one's history");
    finish(&s);
  } else {
    check(0, "second session starts");
  }

  /* {==== plain `relua` on a terminal, history in $HOME/.relua_history ====} */
  char homehist[4096];
  snprintf(homehist, sizeof homehist, "%s/.relua_history", tmpdir);
  remove(homehist);
  if (start(&s, NULL, NULL)) {
    check(expect(&s, "relua ") && expect(&s, "help() lists the topics") && expect(&s, "\n> "),
          "relua alone greets with the version, a hint and the default prompt");
    send_keys(&s, "print('home' .. 'hist')\n");
    expect(&s, "homehist");
    expect(&s, "\n> ");
    check(finish(&s) == 0, "and leaves on Ctrl-D");
    check(file_contains(homehist, "print('home' .. 'hist')"), "without RELUA_HISTORY, history goes to ~/.relua_history");
  } else {
    check(0, "third session starts");
  }
  remove(homehist);
  if (start(&s, "", NULL)) {
    expect(&s, "> ");
    send_keys(&s, "print('no' .. 'hist')\n");
    expect(&s, "nohist");
    expect(&s, "\n> ");
    finish(&s);
    check(access(homehist, F_OK) != 0, "RELUA_HISTORY='' keeps no history");
  } else {
    check(0, "fourth session starts");
  }

  printf("%d passed, %d failed\n", npass, nfail);
  return nfail == 0 ? 0 : 1;
}
