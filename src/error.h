/* error.h: statuses and the thread-local error message.
**
** Every fallible function of librelua returns an rl_status. On anything but
** RL_OK it has left one message in a thread-local buffer that names the
** function and the shapes involved; rl_errmsg() reads it back. The core
** never aborts, exits or longjmps on anything a caller can pass.
**
**   if (rl_conv2d(x, w, b, &p, &y) != RL_OK) fprintf(stderr, "%s\n", rl_errmsg());
*/
#ifndef RELUA_ERROR_H
#define RELUA_ERROR_H

#include "conf.h"

typedef enum rl_status {
  RL_OK = 0,
  RL_ESHAPE,  /* shapes do not fit together */
  RL_EARG,    /* a bad argument value (negative size, unknown option...) */
  RL_ENOMEM,  /* an allocation failed; nothing leaked */
  RL_EIO,     /* a file could not be opened, read or written */
  RL_EFORMAT, /* a file's contents are malformed */
  RL_EINTR,   /* interrupted by rl_interrupt() (Ctrl-C) */
  RL_STATUS_COUNT
} rl_status;

struct rl_tensor;

/* Formats the message (printf-style) and returns st, so a failing path reads
** `return rl_error(RL_ESHAPE, "add: ...", ...);`. */
RL_API rl_status rl_error(rl_status st, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
RL_API const char *rl_errmsg(void);        /* last message of this thread */
RL_API const char *rl_status_name(rl_status st); /* "RL_ESHAPE" */
RL_API void rl_error_clear(void);

/* Shapes in messages without heap allocation: "[1 x 3 x 28 x 28]". */
typedef struct rl_shapebuf { char s[160]; } rl_shapebuf;
RL_API rl_shapebuf rl_shapestr(const struct rl_tensor *t);
RL_API rl_shapebuf rl_shapestr_dims(int ndim, const int64_t *shape);

/* Ctrl-C: a flag long kernels poll between rows or batches; they then
** return RL_EINTR. Async-signal-safe to set. rl_interrupted() does not clear. */
RL_API void rl_interrupt(void);
RL_API void rl_interrupt_clear(void);
RL_API int rl_interrupted(void);
/* Returns RL_EINTR with the message "<where>: interrupted" when the flag is
** set (and clears it), RL_OK otherwise. */
RL_API rl_status rl_check_interrupt(const char *where);

#endif
