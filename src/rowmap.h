/* rowmap.h: the row engine under the elementwise and reduction kernels (internal).
**
** rl__map_rows walks a shape for up to RL_ITER_MAX operands with their own
** strides (operand 0 is the destination; stride 0 broadcasts or, for the
** destination, accumulates). It first drops size-1 dims and merges dims
** that are contiguous for every operand, so two contiguous operands of the
** same shape become a single row, then calls `row` once per row with the
** row's base pointers and each operand's stride along it. The row function
** holds the inner loop (and its fast paths for strides 0 and 1).
**
** Large jobs run on OpenMP threads: rows are split among threads when no
** two rows write the same destination element; otherwise, when the
** destination moves along the row, the columns are (each thread walks every
** row over its own columns). A reduction of everything into one element
** stays serial here (reduce.c splits that one itself).
*/
#ifndef RELUA_ROWMAP_H
#define RELUA_ROWMAP_H

#include "internal.h"

/* Below this many elements a job stays on one thread. */
#define RL_PAR_MIN ((int64_t)1 << 16)

typedef void (*rl__row_fn)(const void *ctx, int64_t n, float *const *p, const int64_t *inc);

/* cost: the work per element of shape, in elementwise operations (a
** reduction that scans R inputs per output passes R); it only decides
** whether threads pay. */
void rl__map_rows(int ndim, const int64_t *shape, int k, float *const *base,
                  const int64_t *const *strides, rl__row_fn row, const void *ctx, int64_t cost);

/* Strides that view t as the broadcast shape (ndim, shape): 0 where t has a
** size-1 or missing dim. The shapes must already be known to broadcast. */
void rl__bstrides(const rl_tensor *t, int ndim, const int64_t *shape, int64_t *stride);

/* A backward may run on inputs other than the recorded ones (a rule
** substituting them): RL_ESHAPE naming fn unless the incoming gradient g
** has the shape of the output those inputs give. */
rl_status rl__check_grad(const char *fn, const rl_tensor *g, int ndim, const int64_t *shape);

#endif
