/* iter.h: the one strided-iteration helper (internal).
**
** Walks the index space of a shape in row-major order, one row (the last
** dim) at a time, keeping the element offset of up to RL_ITER_MAX operands
** that each have their own strides (stride 0 broadcasts). A kernel writes
** its inner loop over the row itself, so the compiler can vectorise it:
**
**   rl_iter it;
**   rl_iter_init(&it, out->ndim, out->shape, 2, (const int64_t *[]){sa, sb});
**   do {
**     const float *pa = a0 + it.off[0], *pb = b0 + it.off[1];
**     for (int64_t i = 0; i < it.n; i++) ... pa[i * it.inner[0]] ...
**   } while (rl_iter_next(&it));
*/
#ifndef RELUA_ITER_H
#define RELUA_ITER_H

#include "conf.h"

#define RL_ITER_MAX 4

typedef struct rl_iter {
  int ndim, k;
  int64_t n;                    /* length of a row (last dim; 1 for 0-dim) */
  int64_t inner[RL_ITER_MAX];   /* each operand's stride along the row */
  int64_t off[RL_ITER_MAX];     /* each operand's offset of the current row */
  int64_t shape[RL_MAX_DIMS], idx[RL_MAX_DIMS];
  int64_t st[RL_ITER_MAX][RL_MAX_DIMS];
} rl_iter;

static inline void rl_iter_init(rl_iter *it, int ndim, const int64_t *shape, int k,
                                const int64_t *const *strides) {
  it->ndim = ndim;
  it->k = k;
  it->n = ndim ? shape[ndim - 1] : 1;
  for (int d = 0; d < ndim; d++) {
    it->shape[d] = shape[d];
    it->idx[d] = 0;
  }
  for (int j = 0; j < k; j++) {
    it->off[j] = 0;
    it->inner[j] = ndim ? strides[j][ndim - 1] : 0;
    for (int d = 0; d < ndim; d++) it->st[j][d] = strides[j][d];
  }
}

/* Moves to the next row; returns 0 after the last one. */
static inline int rl_iter_next(rl_iter *it) {
  for (int d = it->ndim - 2; d >= 0; d--) {
    if (++it->idx[d] < it->shape[d]) {
      for (int j = 0; j < it->k; j++) it->off[j] += it->st[j][d];
      return 1;
    }
    it->idx[d] = 0;
    for (int j = 0; j < it->k; j++) it->off[j] -= it->st[j][d] * (it->shape[d] - 1);
  }
  return 0;
}

#endif
