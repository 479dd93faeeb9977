/* error.c: statuses, the thread-local message, shapes as text, interrupts. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "tensor.h"

static _Thread_local char errbuf[512];

rl_status rl_error(rl_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return st;
}

const char *rl_errmsg(void) { return errbuf; }
void rl_error_clear(void) { errbuf[0] = '\0'; }

const char *rl_status_name(rl_status st) {
  static const char *const names[] = {"RL_OK",  "RL_ESHAPE",  "RL_EARG", "RL_ENOMEM",
                                      "RL_EIO", "RL_EFORMAT", "RL_EINTR"};
  _Static_assert(sizeof names / sizeof names[0] == RL_STATUS_COUNT, "one name per status");
  return (unsigned)st < RL_STATUS_COUNT ? names[st] : "RL_E?";
}

rl_shapebuf rl_shapestr_dims(int ndim, const int64_t *shape) {
  rl_shapebuf b;
  size_t k = 0;
  b.s[k++] = '[';
  for (int i = 0; i < ndim && k < sizeof b.s - 24; i++)
    k += (size_t)snprintf(b.s + k, sizeof b.s - k, i ? " x %lld" : "%lld", (long long)shape[i]);
  snprintf(b.s + k, sizeof b.s - k, "]");
  return b;
}

rl_shapebuf rl_shapestr(const rl_tensor *t) {
  if (!t) {
    rl_shapebuf b = {"(null)"};
    return b;
  }
  return rl_shapestr_dims(t->ndim, t->shape);
}

static volatile sig_atomic_t interrupt_flag;

void rl_interrupt(void) { interrupt_flag = 1; }
void rl_interrupt_clear(void) { interrupt_flag = 0; }
int rl_interrupted(void) { return interrupt_flag != 0; }

rl_status rl_check_interrupt(const char *where) {
  if (!interrupt_flag) return RL_OK;
  interrupt_flag = 0;
  return rl_error(RL_EINTR, "%s: interrupted", where);
}
