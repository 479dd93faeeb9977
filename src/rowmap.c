/* rowmap.c: the row engine (see rowmap.h): coalescing dims, serial and
** OpenMP walks over rows; the gradient-shape check of backwards. */
#include <string.h>

#include "rowmap.h"

rl_status rl__check_grad(const char *fn, const rl_tensor *g, int ndim, const int64_t *shape) {
  if (g->ndim == ndim && !memcmp(g->shape, shape, (size_t)ndim * sizeof *shape)) return RL_OK;
  return rl_error(RL_ESHAPE,
                  "backward of %s: gradient %s does not fit the output %s of these inputs", fn,
                  rl_shapestr(g).s, rl_shapestr_dims(ndim, shape).s);
}

void rl__bstrides(const rl_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
  for (int i = 0; i < ndim; i++) {
    int dt = t->ndim - ndim + i;
    stride[i] = (dt < 0 || t->shape[dt] != shape[i]) ? 0 : t->stride[dt];
  }
}

typedef struct walk {
  int nd, k;
  int64_t shape[RL_MAX_DIMS];
  int64_t st[RL_ITER_MAX][RL_MAX_DIMS];
  float *base[RL_ITER_MAX];
} walk;

/* Size-1 dims carry no iteration; a dim whose stride is the next dim's
** stride times its size, for every operand, folds into that next dim. */
static void coalesce(walk *w, int ndim, const int64_t *shape, const int64_t *const *strides) {
  int nd = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    int merge = nd > 0;
    for (int j = 0; j < w->k && merge; j++)
      merge = w->st[j][nd - 1] == strides[j][d] * shape[d];
    if (merge) {
      w->shape[nd - 1] *= shape[d];
      for (int j = 0; j < w->k; j++) w->st[j][nd - 1] = strides[j][d];
    } else {
      w->shape[nd] = shape[d];
      for (int j = 0; j < w->k; j++) w->st[j][nd] = strides[j][d];
      nd++;
    }
  }
  if (nd == 0) {
    w->shape[0] = 1;
    for (int j = 0; j < w->k; j++) w->st[j][0] = 0;
    nd = 1;
  }
  w->nd = nd;
}

/* Rows r0 .. r1-1 (row-major order over all but the last dim), columns
** c0 .. c1-1 of each. */
static void run_rows(const walk *w, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                     rl__row_fn row, const void *ctx) {
  rl_iter it;
  const int64_t *st[RL_ITER_MAX];
  float *p[RL_ITER_MAX];
  for (int j = 0; j < w->k; j++) st[j] = w->st[j];
  rl_iter_init(&it, w->nd, w->shape, w->k, st);
  int64_t r = r0;
  for (int d = w->nd - 2; d >= 0; d--) {
    it.idx[d] = r % w->shape[d];
    r /= w->shape[d];
    for (int j = 0; j < w->k; j++) it.off[j] += it.idx[d] * w->st[j][d];
  }
  for (int64_t i = r0; i < r1; i++) {
    for (int j = 0; j < w->k; j++) p[j] = w->base[j] + it.off[j] + c0 * it.inner[j];
    row(ctx, c1 - c0, p, it.inner);
    rl_iter_next(&it);
  }
}

void rl__map_rows(int ndim, const int64_t *shape, int k, float *const *base,
                  const int64_t *const *strides, rl__row_fn row, const void *ctx, int64_t cost) {
  walk w;
  w.k = k;
  for (int j = 0; j < k; j++) w.base[j] = base[j];
  coalesce(&w, ndim, shape, strides);
  int64_t n = w.shape[w.nd - 1], rows = 1;
  for (int d = 0; d < w.nd - 1; d++) rows *= w.shape[d];
  if (cost < 1) cost = 1;
  if (rows * n <= RL_PAR_MIN / cost) {
    run_rows(&w, 0, rows, 0, n, row, ctx);
    return;
  }
  int rows_apart = 1; /* no two rows share a destination element */
  for (int d = 0; d < w.nd - 1; d++) rows_apart &= w.st[0][d] != 0;
  if (rows > 1 && rows_apart) {
    int64_t nb = rows < 1024 ? rows : 1024;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++)
      run_rows(&w, rows * b / nb, rows * (b + 1) / nb, 0, n, row, ctx);
  } else if (w.st[0][w.nd - 1] != 0 && n >= 2048) {
    /* One long row, or rows adding into the same destination (a sum over
    ** an outer dim): each thread takes its own columns of every row. The
    ** destination's nonzero strides are those of a contiguous layout, so
    ** distinct columns never meet. Chunks of at least 1024 keep threads on
    ** whole cache lines. */
    int64_t chunk = RL_PAR_MIN / 4 / (cost * rows);
    if (chunk < 1024) chunk = 1024;
    int64_t nc = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++)
      run_rows(&w, 0, rows, c * chunk, n - c * chunk < chunk ? n : (c + 1) * chunk, row, ctx);
  } else {
    run_rows(&w, 0, rows, 0, n, row, ctx);
  }
}
