/* internal.h: helpers shared by the core's own files, not part of the API. */
#ifndef RELUA_INTERNAL_H
#define RELUA_INTERNAL_H

#include "alloc.h"
#include "iter.h"
#include "tape.h"

/* A new tensor struct viewing src's storage with the given geometry; no node. */
rl_status rl__view(const rl_tensor *src, int ndim, const int64_t *shape, const int64_t *stride,
                   int64_t offset, rl_tensor **out);
/* dst[...] = src[...], same shapes, any strides. */
void rl__copy(rl_tensor *dst, const rl_tensor *src);
/* Contiguous strides for shape. */
void rl__contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Checks ndim/shape for creating a tensor: 0 <= ndim <= 8, every dim >= 1,
** the element count fits; messages name fn. */
rl_status rl__check_shape(const char *fn, int ndim, const int64_t *shape);
/* Broadcast view of t to shape (no node, no checks beyond compatibility). */
rl_status rl__expand(const rl_tensor *t, int ndim, const int64_t *shape, rl_tensor **out);
/* t itself (+1) if contiguous, else a contiguous copy; never recorded. */
rl_status rl__contig(const rl_tensor *t, rl_tensor **out);

#define RL_TRY(expr)                                                           \
  do {                                                                         \
    if ((st = (expr)) != RL_OK) goto cleanup;                                  \
  } while (0)

static inline rl_status rl__nomem(const char *fn) {
  return rl_error(RL_ENOMEM, "%s: out of memory", fn);
}

#endif
