/* softmax.c: softmax and log-softmax along any dim, stable, and their opdefs. */
#include <math.h>

#include "internal.h"
#include "nn.h"

enum { PAR_MIN = 1 << 15 };

/* A contiguous tensor seen as [outer x len x inner] around dim. A 0-dim
** tensor accepts dim 0 or -1 (as PyTorch does) and is one slice of one. */
static rl_status split(const char *fn, const rl_tensor *t, int dim, int64_t *outer, int64_t *len,
                       int64_t *inner) {
  int nd = t->ndim ? t->ndim : 1, d = dim < 0 ? dim + nd : dim;
  *outer = *len = *inner = 1;
  if (d < 0 || d >= nd)
    return rl_error(RL_EARG, "%s: dim %d is out of range for %s", fn, dim, rl_shapestr(t).s);
  if (t->ndim == 0) return RL_OK;
  for (int i = 0; i < d; i++) *outer *= t->shape[i];
  *len = t->shape[d];
  for (int i = d + 1; i < t->ndim; i++) *inner *= t->shape[i];
  return RL_OK;
}

/* {==================== forward */

/* One contiguous row: the common case of the last dim. */
static void row_fwd(int is_log, const float *x, float *restrict y, int64_t n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  double s = 0;
  if (is_log) {
    for (int64_t i = 0; i < n; i++) s += expf(x[i] - m);
    float ls = (float)log(s);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
  } else {
    for (int64_t i = 0; i < n; i++) {
      y[i] = expf(x[i] - m);
      s += y[i];
    }
    float r = (float)(1.0 / s);
    for (int64_t i = 0; i < n; i++) y[i] *= r;
  }
}

/* One [len x inner] slice reduced along len; acc holds inner floats of
** scratch. The inner loops run along contiguous memory. */
static void slice_fwd(int is_log, const float *x, float *restrict y, float *restrict acc,
                      int64_t len, int64_t inner) {
  for (int64_t j = 0; j < inner; j++) acc[j] = x[j];
  for (int64_t d = 1; d < len; d++) {
    const float *xd = x + d * inner;
    for (int64_t j = 0; j < inner; j++) acc[j] = xd[j] > acc[j] ? xd[j] : acc[j];
  }
  if (is_log) {
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) y[d * inner + j] = x[d * inner + j] - acc[j];
    for (int64_t j = 0; j < inner; j++) acc[j] = 0;
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) acc[j] += expf(y[d * inner + j]);
    for (int64_t j = 0; j < inner; j++) acc[j] = logf(acc[j]);
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) y[d * inner + j] -= acc[j];
  } else {
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) y[d * inner + j] = expf(x[d * inner + j] - acc[j]);
    for (int64_t j = 0; j < inner; j++) acc[j] = 0;
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) acc[j] += y[d * inner + j];
    for (int64_t j = 0; j < inner; j++) acc[j] = 1.0f / acc[j];
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) y[d * inner + j] *= acc[j];
  }
}

static rl_status softmax_impl(const char *fn, int is_log, const rl_tensor *x, int dim,
                              rl_tensor **y) {
  rl_tensor *xc = NULL, *o = NULL;
  float *acc = NULL;
  int64_t outer, len, inner;
  rl_status st;
  *y = NULL;
  RL_TRY(split(fn, x, dim, &outer, &len, &inner));
  RL_TRY(rl__contig(x, &xc));
  RL_TRY(rl_tensor_new(x->ndim, x->shape, &o));
  const float *px = rl_tensor_data(xc);
  float *po = rl_tensor_data(o);
  int64_t n = outer * len * inner;
  if (inner == 1) {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t r = 0; r < outer; r++) row_fwd(is_log, px + r * len, po + r * len, len);
  } else {
    if (!(acc = rl_mem_alloc((size_t)(outer * inner) * sizeof *acc))) {
      st = rl__nomem(fn);
      goto cleanup;
    }
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t r = 0; r < outer; r++)
      slice_fwd(is_log, px + r * len * inner, po + r * len * inner, acc + r * inner, len, inner);
  }
  *y = o;
  o = NULL;
cleanup:
  rl_mem_free(acc);
  rl_tensor_release(o);
  rl_tensor_release(xc);
  return st;
}

rl_status rl_softmax_forward(const rl_tensor *x, int dim, rl_tensor **y) {
  return softmax_impl("softmax", 0, x, dim, y);
}

rl_status rl_log_softmax_forward(const rl_tensor *x, int dim, rl_tensor **y) {
  return softmax_impl("log_softmax", 1, x, dim, y);
}
/* }==================== */

/* {==================== backward, from the output y
** softmax:     gx = y * (gy - sum_dim(gy * y))
** log_softmax: gx = gy - exp(y) * sum_dim(gy) */

static void row_bwd(int is_log, const float *y, const float *g, float *restrict gx, int64_t n) {
  double s = 0;
  if (is_log) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += g[i];
    float sf = (float)s;
    for (int64_t i = 0; i < n; i++) gx[i] = g[i] - expf(y[i]) * sf;
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * y[i];
    float sf = (float)s;
    for (int64_t i = 0; i < n; i++) gx[i] = y[i] * (g[i] - sf);
  }
}

static void slice_bwd(int is_log, const float *y, const float *g, float *restrict gx,
                      float *restrict acc, int64_t len, int64_t inner) {
  for (int64_t j = 0; j < inner; j++) acc[j] = 0;
  if (is_log) {
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) acc[j] += g[d * inner + j];
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++)
        gx[d * inner + j] = g[d * inner + j] - expf(y[d * inner + j]) * acc[j];
  } else {
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++) acc[j] += g[d * inner + j] * y[d * inner + j];
    for (int64_t d = 0; d < len; d++)
      for (int64_t j = 0; j < inner; j++)
        gx[d * inner + j] = y[d * inner + j] * (g[d * inner + j] - acc[j]);
  }
}

static rl_status softmax_bwd_impl(const char *fn, int is_log, const rl_tensor *y,
                                  const rl_tensor *gy, int dim, rl_tensor **gx) {
  rl_tensor *yc = NULL, *gc = NULL, *o = NULL;
  float *acc = NULL;
  int64_t outer, len, inner;
  rl_status st;
  *gx = NULL;
  if (!rl_tensor_same_shape(y, gy))
    return rl_error(RL_ESHAPE, "%s: grad_output %s does not match output %s", fn, rl_shapestr(gy).s,
                    rl_shapestr(y).s);
  RL_TRY(split(fn, y, dim, &outer, &len, &inner));
  RL_TRY(rl__contig(y, &yc));
  RL_TRY(rl__contig(gy, &gc));
  RL_TRY(rl_tensor_new(y->ndim, y->shape, &o));
  const float *py = rl_tensor_data(yc), *pg = rl_tensor_data(gc);
  float *po = rl_tensor_data(o);
  int64_t n = outer * len * inner;
  if (inner == 1) {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t r = 0; r < outer; r++)
      row_bwd(is_log, py + r * len, pg + r * len, po + r * len, len);
  } else {
    if (!(acc = rl_mem_alloc((size_t)(outer * inner) * sizeof *acc))) {
      st = rl__nomem(fn);
      goto cleanup;
    }
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t r = 0; r < outer; r++) {
      int64_t off = r * len * inner;
      slice_bwd(is_log, py + off, pg + off, po + off, acc + r * inner, len, inner);
    }
  }
  *gx = o;
  o = NULL;
cleanup:
  rl_mem_free(acc);
  rl_tensor_release(o);
  rl_tensor_release(gc);
  rl_tensor_release(yc);
  return st;
}

rl_status rl_softmax_backward_input(const rl_tensor *y, const rl_tensor *gy, int dim,
                                    rl_tensor **gx) {
  return softmax_bwd_impl("softmax_backward_input", 0, y, gy, dim, gx);
}

rl_status rl_log_softmax_backward_input(const rl_tensor *y, const rl_tensor *gy, int dim,
                                        rl_tensor **gx) {
  return softmax_bwd_impl("log_softmax_backward_input", 1, y, gy, dim, gx);
}
/* }==================== */

/* {==================== opdefs and differentiable calls */

typedef struct softmax_attr { int dim; } softmax_attr;

static rl_status softmax_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  (void)n;
  *aux = NULL;
  return rl_softmax_forward(in[0], ((const softmax_attr *)attr)->dim, out);
}

static rl_status softmax_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  (void)n, (void)in, (void)aux;
  if (!needs[0]) return RL_OK;
  return rl_softmax_backward_input(out, gout, ((const softmax_attr *)attr)->dim, &gin[0]);
}

static rl_status log_softmax_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                                 rl_tensor **aux) {
  (void)n;
  *aux = NULL;
  return rl_log_softmax_forward(in[0], ((const softmax_attr *)attr)->dim, out);
}

static rl_status log_softmax_bwd(const void *attr, int n, rl_tensor *const *in,
                                 const rl_tensor *out, const rl_tensor *aux,
                                 const rl_tensor *gout, const int *needs, rl_tensor **gin) {
  (void)n, (void)in, (void)aux;
  if (!needs[0]) return RL_OK;
  return rl_log_softmax_backward_input(out, gout, ((const softmax_attr *)attr)->dim, &gin[0]);
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_softmax = {"softmax", 1, 1, input_only, softmax_fwd, softmax_bwd};
const rl_opdef rl_op_log_softmax = {"log_softmax", 1, 1, input_only, log_softmax_fwd,
                                   log_softmax_bwd};

rl_status rl_softmax(rl_tensor *x, int dim, rl_tensor **y) {
  softmax_attr a = {dim};
  return rl_op_apply(&rl_op_softmax, &a, sizeof a, 1, &x, y);
}

rl_status rl_log_softmax(rl_tensor *x, int dim, rl_tensor **y) {
  softmax_attr a = {dim};
  return rl_op_apply(&rl_op_log_softmax, &a, sizeof a, 1, &x, y);
}
/* }==================== */
