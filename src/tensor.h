/* tensor.h: float32 tensors with refcounted storage and cheap views.
**
** Ownership: a function whose name contains new/view/clone (or that returns a
** tensor through an `rl_tensor **out`) hands the caller one reference; release
** it with rl_tensor_release() (NULL-safe). Everything else borrows.
** Views (narrow, select, transpose, permute, reshape of contiguous data,
** expand) share the storage and never copy.
**
** Layout: row-major, up to RL_MAX_DIMS dims, strides in elements, an offset
** into the storage. A 0-dim tensor is a scalar with one element. Dimensions
** are >= 1: zero-size tensors are rejected with RL_ESHAPE.
**
**   rl_tensor *x;
**   if (rl_tensor_zeros(2, (int64_t[]){2, 3}, &x) != RL_OK) return rl_errmsg();
**   rl_tensor_data(x)[0] = 1.0f;
**   rl_tensor_release(x);
*/
#ifndef RELUA_TENSOR_H
#define RELUA_TENSOR_H

#include "error.h"

typedef struct rl_storage {
  float *data;
  int64_t size; /* in floats */
  int refcount;
} rl_storage;

struct rl_node;

typedef struct rl_tensor {
  int refcount;
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  int64_t stride[RL_MAX_DIMS];
  int64_t offset;          /* in floats, into storage->data */
  rl_storage *storage;
  struct rl_node *node;    /* tape node that produced it (+1), or NULL: see tape.h */
} rl_tensor;

/* {==================== creation (each returns a new reference) */
RL_API rl_status rl_tensor_new(int ndim, const int64_t *shape, rl_tensor **out); /* uninitialised */
RL_API rl_status rl_tensor_zeros(int ndim, const int64_t *shape, rl_tensor **out);
RL_API rl_status rl_tensor_ones(int ndim, const int64_t *shape, rl_tensor **out);
RL_API rl_status rl_tensor_full(int ndim, const int64_t *shape, float v, rl_tensor **out);
RL_API rl_status rl_tensor_new_like(const rl_tensor *t, rl_tensor **out); /* same shape, uninitialised */
RL_API rl_status rl_tensor_zeros_like(const rl_tensor *t, rl_tensor **out);
RL_API rl_status rl_tensor_from_data(int ndim, const int64_t *shape, const float *data, rl_tensor **out); /* copies */
RL_API rl_status rl_tensor_scalar(float v, rl_tensor **out); /* 0-dim */
RL_API rl_status rl_tensor_arange(double start, double stop, double step, rl_tensor **out);
RL_API rl_status rl_tensor_linspace(double a, double b, int64_t n, rl_tensor **out);
/* }==================== */

/* {==================== random numbers
** One generator everywhere: xoshiro256** seeded through splitmix64; normal
** draws by Box-Muller from two uniforms. Draws are sequential and
** single-threaded, so a seed gives the same bytes on every machine and at
** every thread count. NULL means the global generator (rl_seed). */
typedef struct rl_rng { uint64_t s[4]; } rl_rng;
RL_API void rl_rng_seed(rl_rng *r, uint64_t seed);
RL_API void rl_seed(uint64_t seed);            /* the global generator */
RL_API rl_rng *rl_rng_global(void);
RL_API uint64_t rl_rng_next(rl_rng *r);        /* 64 random bits */
RL_API double rl_rng_uniform(rl_rng *r);       /* [0, 1), 53 bits */
RL_API double rl_rng_normal(rl_rng *r);        /* N(0, 1) */
RL_API rl_status rl_tensor_rand_uniform(int ndim, const int64_t *shape, float lo, float hi,
                                        rl_rng *r, rl_tensor **out);
RL_API rl_status rl_tensor_rand_normal(int ndim, const int64_t *shape, float mean, float std,
                                       rl_rng *r, rl_tensor **out);
/* }==================== */

RL_API void rl_tensor_retain(rl_tensor *t);
RL_API void rl_tensor_release(rl_tensor *t); /* NULL-safe */

RL_API int64_t rl_tensor_numel(const rl_tensor *t);
RL_API int rl_tensor_is_contiguous(const rl_tensor *t);
RL_API int rl_tensor_same_shape(const rl_tensor *a, const rl_tensor *b);
/* Pointer to element 0 (storage data + offset). Writable: tensors are
** values by convention, so write only into tensors you just created. */
RL_API float *rl_tensor_data(const rl_tensor *t);
/* Element at a multi-index (0-based, bounds not checked: internal use/tests). */
RL_API float rl_tensor_get(const rl_tensor *t, const int64_t *idx);

/* {==================== views (new references sharing storage)
** Views of a tensor that needs gradients are recorded on the tape, so
** gradients flow through them. dim < 0 counts from the end (-1 = last). */
RL_API rl_status rl_tensor_view_narrow(rl_tensor *t, int dim, int64_t start, int64_t len, rl_tensor **out);
RL_API rl_status rl_tensor_view_select(rl_tensor *t, int dim, int64_t index, rl_tensor **out); /* drops dim */
RL_API rl_status rl_tensor_view_transpose(rl_tensor *t, int d0, int d1, rl_tensor **out);
RL_API rl_status rl_tensor_view_permute(rl_tensor *t, const int *perm, rl_tensor **out);
/* One entry of shape may be -1 (inferred). A non-contiguous input is copied
** first (the result is then not a view). */
RL_API rl_status rl_tensor_view_reshape(rl_tensor *t, int ndim, const int64_t *shape, rl_tensor **out);
/* Broadcast to shape (numpy rules: size-1 dims get stride 0, new leading dims). */
RL_API rl_status rl_tensor_view_expand(rl_tensor *t, int ndim, const int64_t *shape, rl_tensor **out);
RL_API rl_status rl_tensor_view_unsqueeze(rl_tensor *t, int dim, rl_tensor **out);
RL_API rl_status rl_tensor_view_squeeze(rl_tensor *t, int dim, rl_tensor **out); /* dim must have size 1 */
/* A view with no tape node: same data, no gradient. */
RL_API rl_status rl_tensor_view_detach(rl_tensor *t, rl_tensor **out);
/* }==================== */

/* {==================== copies */
RL_API rl_status rl_tensor_clone(const rl_tensor *t, rl_tensor **out);      /* contiguous copy, no gradient */
/* t itself (+1) if already contiguous, else a contiguous copy; recorded on the tape. */
RL_API rl_status rl_tensor_contiguous(rl_tensor *t, rl_tensor **out);
/* In-place writes into an existing tensor (never recorded on the tape). */
RL_API rl_status rl_tensor_copy_(rl_tensor *dst, const rl_tensor *src); /* src broadcast to dst */
RL_API void rl_tensor_fill_(rl_tensor *t, float v);
/* }==================== */

/* Broadcast shape of a and b (numpy rules) into shape/ndim, or RL_ESHAPE
** naming `fn` and both shapes. */
RL_API rl_status rl_broadcast_shape(const char *fn, const rl_tensor *a, const rl_tensor *b,
                                    int *ndim, int64_t *shape);
/* Normalises a possibly negative dim against ndim, or RL_EARG naming fn. */
RL_API rl_status rl_check_dim(const char *fn, int dim, int ndim, int *out);

#endif
