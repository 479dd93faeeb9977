/* reduce.c: reductions (sum, mean, norm, var over a list of dims; max, min,
** argmax, argmin along one dim or all), each an rl_opdef with its backward. */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "rowmap.h"

typedef enum rkind {
  R_SUM, R_MEAN, R_NORM, R_VAR, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_COUNT
} rkind;

static const char *const rname[R_COUNT] = {"sum", "mean", "norm", "var",
                                           "max", "min", "argmax", "argmin"};

typedef struct red_attr {
  rkind k;
  int ndims, dims[RL_MAX_DIMS]; /* ndims 0: all dims */
  int keepdim, correction;
  float p;
} red_attr;

/* Which dims a call reduces and the shapes that follow. The output is laid
** out like the keepdim shape (size-1 dims do not change contiguous
** strides), so `kstride` addresses it from the input's index space. */
typedef struct plan {
  int all;                          /* every dim is reduced */
  int red[RL_MAX_DIMS];
  int64_t count;                    /* input elements per output element */
  int ondim;
  int64_t oshape[RL_MAX_DIMS];
  int64_t kshape[RL_MAX_DIMS], kstride[RL_MAX_DIMS]; /* kstride 0 on reduced dims */
} plan;

static rl_status make_plan(const red_attr *a, const rl_tensor *t, plan *pl) {
  const char *fn = rname[a->k];
  memset(pl, 0, sizeof *pl);
  if (a->ndims < 0 || a->ndims > RL_MAX_DIMS)
    return rl_error(RL_EARG, "%s: %d dims to reduce (0 to %d; 0 means all)", fn, a->ndims,
                    RL_MAX_DIMS);
  for (int i = 0; i < a->ndims; i++) {
    int d;
    rl_status st = rl_check_dim(fn, a->dims[i], t->ndim, &d);
    if (st) return st;
    if (pl->red[d])
      return rl_error(RL_EARG, "%s: dim %d is given twice for %s", fn, a->dims[i],
                      rl_shapestr(t).s);
    pl->red[d] = 1;
  }
  pl->all = 1;
  for (int d = 0; d < t->ndim; d++) {
    if (a->ndims == 0) pl->red[d] = 1;
    pl->all &= pl->red[d];
  }
  pl->count = 1;
  for (int d = 0; d < t->ndim; d++) {
    pl->kshape[d] = pl->red[d] ? 1 : t->shape[d];
    if (pl->red[d]) pl->count *= t->shape[d];
    if (a->keepdim || !pl->red[d]) pl->oshape[pl->ondim++] = pl->kshape[d];
  }
  rl__contiguous_strides(t->ndim, pl->kshape, pl->kstride);
  for (int d = 0; d < t->ndim; d++)
    if (pl->red[d]) pl->kstride[d] = 0;
  return RL_OK;
}

/* Strides that read the incoming gradient g (output shape, any strides) at
** every index of the input: 0 along reduced dims. */
static void grad_strides(const plan *pl, int ndim, int keepdim, const rl_tensor *g, int64_t *st) {
  for (int d = 0, j = 0; d < ndim; d++) {
    if (keepdim || !pl->red[d]) {
      st[d] = pl->red[d] ? 0 : g->stride[j];
      j++;
    } else {
      st[d] = 0;
    }
  }
}

/* {==================== accumulating rows: d += f(x, m) */

typedef enum akind { A_SUM, A_SQ, A_ABS, A_POWABS, A_SQDEV } akind;

typedef struct acc_ctx {
  akind k;
  float p;
} acc_ctx;

/* A row that folds into one element (the reduced dim is last) is summed in
** 16 lanes over blocks of 1024, the blocks in double: vectorised and
** accurate to about 1e-7 relative even over millions of elements. A row
** along which the destination moves (a reduced dim is further out) adds
** into it elementwise. m is the mean for A_SQDEV, else a stride-0 dummy. */
#define ACC_ROW(expr)                                                          \
  do {                                                                         \
    if (id == 0 && ix == 1 && im == 0) {                                       \
      const float m = pm[0];                                                   \
      double acc = 0;                                                          \
      (void)m;                                                                 \
      for (int64_t i0 = 0; i0 < n; i0 += 1024) {                               \
        int64_t i1 = n - i0 < 1024 ? n : i0 + 1024, i = i0;                    \
        float lane[16] = {0};                                                  \
        for (; i + 16 <= i1; i += 16)                                          \
          for (int l = 0; l < 16; l++) {                                       \
            float x = px[i + l];                                               \
            lane[l] += (expr);                                                 \
          }                                                                    \
        for (; i < i1; i++) {                                                  \
          float x = px[i];                                                     \
          lane[0] += (expr);                                                   \
        }                                                                      \
        for (int l = 0; l < 16; l++) acc += lane[l];                           \
      }                                                                        \
      d[0] += (float)acc;                                                      \
    } else if (id == 0) {                                                      \
      double acc = 0;                                                          \
      for (int64_t i = 0; i < n; i++) {                                        \
        float x = px[i * ix], m = pm[i * im];                                  \
        (void)m;                                                               \
        acc += (expr);                                                         \
      }                                                                        \
      d[0] += (float)acc;                                                      \
    } else if (id == 1 && ix == 1) {                                           \
      for (int64_t i = 0; i < n; i++) {                                        \
        float x = px[i], m = pm[i * im];                                       \
        (void)m;                                                               \
        d[i] += (expr);                                                        \
      }                                                                        \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        float x = px[i * ix], m = pm[i * im];                                  \
        (void)m;                                                               \
        d[i * id] += (expr);                                                   \
      }                                                                        \
    }                                                                          \
  } while (0)

static void acc_row(const void *ctx, int64_t n, float *const *ptr, const int64_t *inc) {
  const acc_ctx *c = ctx;
  float *restrict d = ptr[0];
  const float *px = ptr[1], *pm = ptr[2];
  const float p = c->p;
  int64_t id = inc[0], ix = inc[1], im = inc[2];
  switch (c->k) {
  case A_SUM: ACC_ROW(x); break;
  case A_SQ: ACC_ROW(x * x); break;
  case A_ABS: ACC_ROW(fabsf(x)); break;
  case A_POWABS: ACC_ROW(powf(fabsf(x), p)); break;
  case A_SQDEV: ACC_ROW((x - m) * (x - m)); break;
  }
}

/* dst (zeroed, the output's layout) += f(t, m) reduced as planned; m is
** NULL or laid out like the output. */
static void accumulate(const plan *pl, akind k, float p, const rl_tensor *t, const float *m,
                       float *dst) {
  static const int64_t zero[RL_MAX_DIMS];
  acc_ctx c = {k, p};
  float *x = rl_tensor_data(t), *mm = m ? (float *)m : x;
  int64_t numel = rl_tensor_numel(t);
  if (pl->all && rl_tensor_is_contiguous(t) && numel > RL_PAR_MIN) {
    /* The row engine keeps a reduction to one element serial; split it here. */
    int64_t chunk = RL_PAR_MIN / 4, nc = (numel + chunk - 1) / chunk;
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (int64_t b = 0; b < nc; b++) {
      float part = 0;
      int64_t i0 = b * chunk, len = numel - i0 < chunk ? numel - i0 : chunk;
      acc_row(&c, len, (float *[]){&part, x + i0, mm}, (const int64_t[]){0, 1, 0});
      acc += part;
    }
    dst[0] += (float)acc;
    return;
  }
  rl__map_rows(t->ndim, t->shape, 3, (float *[]){dst, x, mm},
               (const int64_t *[]){pl->kstride, t->stride, m ? pl->kstride : zero}, acc_row, &c, 1);
}

static void scale(rl_tensor *t, float s) {
  float *d = rl_tensor_data(t);
  for (int64_t i = 0, n = rl_tensor_numel(t); i < n; i++) d[i] *= s;
}
/* }==================== */

/* {==================== sum, mean, norm, var */

static rl_status new_out(const char *fn, int ndim, const int64_t *shape, rl_tensor **out) {
  rl_status st = rl_tensor_zeros(ndim, shape, out);
  return st == RL_ENOMEM ? rl__nomem(fn) : st;
}

static rl_status check_p(float p) {
  if (!(p > 0) || isinf(p))
    return rl_error(RL_EARG,
                    "norm: p must be a positive finite number, got %g (for p = inf use max of abs)",
                    (double)p);
  return RL_OK;
}

/* The norm laid out like the output (shared by forward and backward). */
static rl_status norm_value(const plan *pl, float p, const rl_tensor *t, rl_tensor **out) {
  rl_status st = new_out("norm", pl->ondim, pl->oshape, out);
  if (st) return st;
  float *d = rl_tensor_data(*out);
  int64_t n = rl_tensor_numel(*out);
  if (p == 2) {
    accumulate(pl, A_SQ, p, t, NULL, d);
    for (int64_t i = 0; i < n; i++) d[i] = sqrtf(d[i]);
  } else if (p == 1) {
    accumulate(pl, A_ABS, p, t, NULL, d);
  } else {
    accumulate(pl, A_POWABS, p, t, NULL, d);
    for (int64_t i = 0; i < n; i++) d[i] = powf(d[i], 1 / p);
  }
  return RL_OK;
}

static rl_status mean_value(const plan *pl, const char *fn, const rl_tensor *t, rl_tensor **out) {
  rl_status st = new_out(fn, pl->ondim, pl->oshape, out);
  if (st) return st;
  accumulate(pl, A_SUM, 0, t, NULL, rl_tensor_data(*out));
  scale(*out, (float)(1.0 / (double)pl->count));
  return RL_OK;
}

static rl_status sum_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                         rl_tensor **aux) {
  const red_attr *a = attr;
  const rl_tensor *t = in[0];
  rl_tensor *m = NULL, *y = NULL;
  plan pl;
  rl_status st;
  (void)n;
  *aux = NULL;
  RL_TRY(make_plan(a, t, &pl));
  switch (a->k) {
  case R_SUM:
    RL_TRY(new_out("sum", pl.ondim, pl.oshape, &y));
    accumulate(&pl, A_SUM, 0, t, NULL, rl_tensor_data(y));
    break;
  case R_MEAN: RL_TRY(mean_value(&pl, "mean", t, &y)); break;
  case R_NORM:
    RL_TRY(check_p(a->p));
    RL_TRY(norm_value(&pl, a->p, t, &y));
    break;
  case R_VAR:
    /* Two passes (mean, then squared deviations): no cancellation. */
    if (pl.count - a->correction <= 0) {
      st = rl_error(RL_EARG,
                    "var: %lld elements per reduction of %s leave no degrees of freedom with "
                    "correction %d",
                    (long long)pl.count, rl_shapestr(t).s, a->correction);
      goto cleanup;
    }
    RL_TRY(mean_value(&pl, "var", t, &m));
    RL_TRY(new_out("var", pl.ondim, pl.oshape, &y));
    accumulate(&pl, A_SQDEV, 0, t, rl_tensor_data(m), rl_tensor_data(y));
    scale(y, (float)(1.0 / (double)(pl.count - a->correction)));
    break;
  default: rl_assert(0);
  }
  *out = y;
  y = NULL;
cleanup:
  rl_tensor_release(m);
  rl_tensor_release(y);
  return st;
}

typedef enum bkind { B_SCALE, B_VAR, B_NORM2, B_NORM1, B_NORMP } bkind;

typedef struct bwd_ctx {
  bkind k;
  float s, p;
} bwd_ctx;

/* d = f(g, x, v): g the incoming gradient and v the statistic (mean, norm),
** both broadcast along the reduced dims. */
#define BWD_ROW(expr)                                                          \
  do {                                                                         \
    for (int64_t i = 0; i < n; i++) {                                          \
      float g = pg[i * ig], x = px[i * ix], v = pv[i * iv];                    \
      (void)x, (void)v;                                                        \
      d[i * id] = (expr);                                                      \
    }                                                                          \
  } while (0)

static void bwd_row(const void *ctx, int64_t n, float *const *ptr, const int64_t *inc) {
  const bwd_ctx *c = ctx;
  float *restrict d = ptr[0];
  const float *pg = ptr[1], *px = ptr[2], *pv = ptr[3];
  const float s = c->s, p = c->p;
  int64_t id = inc[0], ig = inc[1], ix = inc[2], iv = inc[3];
  switch (c->k) {
  case B_SCALE: BWD_ROW(g * s); break;
  case B_VAR: BWD_ROW(g * (x - v) * s); break;
  case B_NORM2: BWD_ROW(v == 0 ? 0.0f : g * x / v); break;
  case B_NORM1: BWD_ROW(x > 0 ? g : x < 0 ? -g : 0.0f); break;
  case B_NORMP:
    BWD_ROW(v == 0 || x == 0 ? 0.0f
                             : g * (x > 0 ? 1.0f : -1.0f) * powf(fabsf(x) / v, p - 1));
    break;
  }
}

static rl_status sum_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                         const rl_tensor *aux, const rl_tensor *g, const int *needs,
                         rl_tensor **gin) {
  const red_attr *a = attr;
  const char *fn = rname[a->k];
  const rl_tensor *t = in[0];
  rl_tensor *v = NULL, *y = NULL;
  int64_t gst[RL_MAX_DIMS];
  static const int64_t zero[RL_MAX_DIMS];
  plan pl;
  rl_status st;
  bwd_ctx c = {B_SCALE, 1, a->p};
  (void)n, (void)out, (void)aux;
  if (!needs[0]) return RL_OK;
  RL_TRY(make_plan(a, t, &pl));
  RL_TRY(rl__check_grad(fn, g, pl.ondim, pl.oshape));
  /* Statistics are recomputed from the inputs given, so that a rule may
  ** run this backward on inputs other than the recorded ones. */
  switch (a->k) {
  case R_SUM: break;
  case R_MEAN: c.s = (float)(1.0 / (double)pl.count); break;
  case R_VAR:
    if (pl.count - a->correction <= 0) {
      st = rl_error(RL_EARG, "var: no degrees of freedom with correction %d", a->correction);
      goto cleanup;
    }
    RL_TRY(mean_value(&pl, fn, t, &v));
    c.k = B_VAR;
    c.s = (float)(2.0 / (double)(pl.count - a->correction));
    break;
  case R_NORM:
    RL_TRY(check_p(a->p));
    RL_TRY(norm_value(&pl, a->p, t, &v));
    c.k = a->p == 2 ? B_NORM2 : a->p == 1 ? B_NORM1 : B_NORMP;
    break;
  default: rl_assert(0);
  }
  if ((st = rl_tensor_new(t->ndim, t->shape, &y))) {
    st = rl__nomem(fn);
    goto cleanup;
  }
  grad_strides(&pl, t->ndim, a->keepdim, g, gst);
  float *vd = v ? rl_tensor_data(v) : rl_tensor_data(g);
  rl__map_rows(t->ndim, t->shape, 4,
               (float *[]){rl_tensor_data(y), rl_tensor_data(g), rl_tensor_data(t), vd},
               (const int64_t *[]){y->stride, gst, t->stride, v ? pl.kstride : zero}, bwd_row, &c,
               1);
  gin[0] = y;
  y = NULL;
cleanup:
  rl_tensor_release(v);
  rl_tensor_release(y);
  return st;
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_sum = {"sum", 1, 1, input_only, sum_fwd, sum_bwd};
const rl_opdef rl_op_mean = {"mean", 1, 1, input_only, sum_fwd, sum_bwd};
const rl_opdef rl_op_norm = {"norm", 1, 1, input_only, sum_fwd, sum_bwd};
const rl_opdef rl_op_var = {"var", 1, 1, input_only, sum_fwd, sum_bwd};

static rl_status reduce(const rl_opdef *op, red_attr *a, rl_tensor *t, int ndims, const int *dims,
                        rl_tensor **out) {
  *out = NULL;
  if (ndims < 0 || ndims > RL_MAX_DIMS)
    return rl_error(RL_EARG, "%s: %d dims to reduce (0 to %d; 0 means all)", op->name, ndims,
                    RL_MAX_DIMS);
  if (ndims > 0 && !dims)
    return rl_error(RL_EARG, "%s: %d dims to reduce but no list", op->name, ndims);
  a->ndims = ndims;
  for (int i = 0; i < ndims; i++) a->dims[i] = dims[i];
  return rl_op_apply(op, a, sizeof *a, 1, &t, out);
}

rl_status rl_sum(rl_tensor *t, int ndims, const int *dims, int keepdim, rl_tensor **out) {
  red_attr a = {.k = R_SUM, .keepdim = keepdim};
  return reduce(&rl_op_sum, &a, t, ndims, dims, out);
}

rl_status rl_mean(rl_tensor *t, int ndims, const int *dims, int keepdim, rl_tensor **out) {
  red_attr a = {.k = R_MEAN, .keepdim = keepdim};
  return reduce(&rl_op_mean, &a, t, ndims, dims, out);
}

rl_status rl_norm(rl_tensor *t, float p, int ndims, const int *dims, int keepdim, rl_tensor **out) {
  red_attr a = {.k = R_NORM, .keepdim = keepdim, .p = p};
  return reduce(&rl_op_norm, &a, t, ndims, dims, out);
}

rl_status rl_var(rl_tensor *t, int ndims, const int *dims, int correction, int keepdim,
                 rl_tensor **out) {
  red_attr a = {.k = R_VAR, .keepdim = keepdim, .correction = correction};
  return reduce(&rl_op_var, &a, t, ndims, dims, out);
}
/* }==================== */

/* {==================== max, min, argmax, argmin */

typedef struct ext_ctx {
  int is_min;
  int64_t len, stride; /* of the reduced dim */
} ext_ctx;

/* The first extremum wins; a NaN beats every number (torch propagates NaN). */
static inline int better(int is_min, float x, float best) {
  return (is_min ? x < best : x > best) || (x != x && best == best);
}

/* Index of the first extremum of x[0..R-1], contiguous. The extremum is
** found in 16 lanes (vectorised: no branch, no index), then its first
** place; a NaN anywhere sends the row to the plain scan, where it wins. */
static int64_t first_extremum(int is_min, const float *x, int64_t R) {
  int64_t k = 0;
  if (R >= 64) {
    float lane[16], best;
    int nan = 0;
    for (int l = 0; l < 16; l++) lane[l] = x[l];
    if (is_min) {
      for (k = 16; k + 16 <= R; k += 16)
        for (int l = 0; l < 16; l++) lane[l] = x[k + l] < lane[l] ? x[k + l] : lane[l];
    } else {
      for (k = 16; k + 16 <= R; k += 16)
        for (int l = 0; l < 16; l++) lane[l] = x[k + l] > lane[l] ? x[k + l] : lane[l];
    }
    for (; k < R; k++) lane[0] = better(is_min, x[k], lane[0]) ? x[k] : lane[0];
    best = lane[0];
    for (int l = 1; l < 16; l++) best = better(is_min, lane[l], best) ? lane[l] : best;
    /* A NaN never enters a lane through the comparisons above, so look. */
    for (int64_t i = 0; i < R; i++) nan |= x[i] != x[i];
    if (!nan)
      for (int64_t i = 0;; i++)
        if (x[i] == best) return i;
  }
  int64_t at = 0;
  for (k = 1; k < R; k++)
    if (better(is_min, x[k], x[at])) at = k;
  return at;
}

/* Per output element: value and index of the extremum along the reduced
** dim. When the outputs and the input move along the row together, scan
** the reduced dim in the outer loop so the inner loop runs over memory
** (and, with no branch in it, vectorises). */
static void ext_row(const void *ctx, int64_t n, float *const *ptr, const int64_t *inc) {
  const ext_ctx *c = ctx;
  float *restrict v = ptr[0], *restrict ix = ptr[1];
  const float *x = ptr[2];
  int64_t iv = inc[0], ii = inc[1], inx = inc[2], R = c->len, sd = c->stride;
  if (n > 1 && iv == 1 && ii == 1 && inx == 1) {
    for (int64_t i = 0; i < n; i++) {
      v[i] = x[i];
      ix[i] = 0;
    }
    for (int64_t k = 1; k < R; k++) {
      const float *xk = x + k * sd;
      const float fk = (float)k;
      for (int64_t i = 0; i < n; i++) {
        int b = better(c->is_min, xk[i], v[i]);
        v[i] = b ? xk[i] : v[i];
        ix[i] = b ? fk : ix[i];
      }
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    const float *xi = x + i * inx;
    int64_t at = 0;
    if (sd == 1) {
      at = first_extremum(c->is_min, xi, R);
    } else {
      for (int64_t k = 1; k < R; k++)
        if (better(c->is_min, xi[k * sd], xi[at * sd])) at = k;
    }
    v[i * iv] = xi[at * sd];
    ix[i * ii] = (float)at;
  }
}

/* Values and indices (each laid out like the keepdim shape) of t's extrema
** along dim d (d < 0: over all elements, indices into the flattened t). */
static rl_status extrema(const char *fn, int is_min, const rl_tensor *t, int d, int keepdim,
                         rl_tensor **val, rl_tensor **idx) {
  int64_t shape[RL_MAX_DIMS], kshape[RL_MAX_DIMS], kst[RL_MAX_DIMS];
  static const int64_t zero[RL_MAX_DIMS];
  rl_tensor *c = NULL;
  int ndim = 0;
  rl_status st;
  *val = *idx = NULL;
  for (int i = 0; i < t->ndim; i++) {
    kshape[i] = (d < 0 || i == d) ? 1 : t->shape[i];
    if (keepdim || !(d < 0 || i == d)) shape[ndim++] = kshape[i];
  }
  if ((st = rl_tensor_new(ndim, shape, val)) || (st = rl_tensor_new(ndim, shape, idx))) {
    st = rl__nomem(fn);
    goto cleanup;
  }
  float *base[3] = {rl_tensor_data(*val), rl_tensor_data(*idx), NULL};
  if (d < 0) {
    RL_TRY(rl__contig(t, &c));
    ext_ctx ctx = {is_min, rl_tensor_numel(c), 1};
    base[2] = rl_tensor_data(c);
    rl__map_rows(1, (const int64_t[]){1}, 3, base, (const int64_t *[]){zero, zero, zero}, ext_row,
                 &ctx, ctx.len);
  } else {
    ext_ctx ctx = {is_min, t->shape[d], t->stride[d]};
    rl__contiguous_strides(t->ndim, kshape, kst);
    base[2] = rl_tensor_data(t);
    rl__map_rows(t->ndim, kshape, 3, base, (const int64_t *[]){kst, kst, t->stride}, ext_row, &ctx,
                 ctx.len);
  }
cleanup:
  rl_tensor_release(c);
  if (st) {
    rl_tensor_release(*val);
    rl_tensor_release(*idx);
    *val = *idx = NULL;
  }
  return st;
}

typedef struct ext_attr {
  rkind k;
  int dim, keepdim;
} ext_attr;

static rl_status ext_dim(const ext_attr *a, const rl_tensor *t, int *d) {
  if (a->dim == RL_ALL_DIMS) {
    *d = -1;
    return RL_OK;
  }
  return rl_check_dim(rname[a->k], a->dim, t->ndim, d);
}

static rl_status ext_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                         rl_tensor **aux) {
  const ext_attr *a = attr;
  rl_tensor *val, *idx;
  int d;
  (void)n;
  *aux = NULL;
  rl_status st = ext_dim(a, in[0], &d);
  if (st) return st;
  int is_min = a->k == R_MIN || a->k == R_ARGMIN;
  if ((st = extrema(rname[a->k], is_min, in[0], d, a->keepdim, &val, &idx))) return st;
  int want_idx = a->k == R_ARGMAX || a->k == R_ARGMIN;
  *out = want_idx ? idx : val;
  rl_tensor_release(want_idx ? val : idx);
  return RL_OK;
}

/* g goes to the element each output was taken from. */
static void scatter_row(const void *ctx, int64_t n, float *const *ptr, const int64_t *inc) {
  const ext_ctx *c = ctx;
  float *d = ptr[0];
  const float *g = ptr[1], *ix = ptr[2];
  for (int64_t i = 0; i < n; i++)
    d[i * inc[0] + (int64_t)ix[i * inc[2]] * c->stride] = g[i * inc[1]];
}

static rl_status ext_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                         const rl_tensor *aux, const rl_tensor *g, const int *needs,
                         rl_tensor **gin) {
  const ext_attr *a = attr;
  const rl_tensor *t = in[0];
  const char *fn = rname[a->k];
  rl_tensor *val = NULL, *idx = NULL, *z = NULL;
  int64_t kshape[RL_MAX_DIMS], kst[RL_MAX_DIMS], gst[RL_MAX_DIMS];
  static const int64_t zero[RL_MAX_DIMS];
  int d;
  rl_status st;
  (void)n, (void)out, (void)aux;
  if (!needs[0] || a->k == R_ARGMAX || a->k == R_ARGMIN) return RL_OK;
  RL_TRY(ext_dim(a, t, &d));
  /* Recomputed rather than kept from the forward: a rule may run this
  ** backward on other inputs. */
  RL_TRY(extrema(fn, a->k == R_MIN, t, d, a->keepdim, &val, &idx));
  RL_TRY(rl__check_grad(fn, g, val->ndim, val->shape));
  if ((st = rl_tensor_zeros(t->ndim, t->shape, &z))) {
    st = rl__nomem(fn);
    goto cleanup;
  }
  float *base[3] = {rl_tensor_data(z), rl_tensor_data(g), rl_tensor_data(idx)};
  if (d < 0) {
    ext_ctx ctx = {0, 0, 1}; /* z is contiguous: the flat index is the offset */
    rl__map_rows(1, (const int64_t[]){1}, 3, base, (const int64_t *[]){zero, zero, zero},
                 scatter_row, &ctx, 1);
  } else {
    ext_ctx ctx = {0, 0, z->stride[d]};
    for (int i = 0, j = 0; i < t->ndim; i++) {
      kshape[i] = i == d ? 1 : t->shape[i];
      gst[i] = (i == d && !a->keepdim) ? 0 : g->stride[j++];
    }
    rl__contiguous_strides(t->ndim, kshape, kst);
    rl__map_rows(t->ndim, kshape, 3, base, (const int64_t *[]){z->stride, gst, kst}, scatter_row,
                 &ctx, 1);
  }
  gin[0] = z;
  z = NULL;
cleanup:
  rl_tensor_release(val);
  rl_tensor_release(idx);
  rl_tensor_release(z);
  return st;
}

const rl_opdef rl_op_max = {"max", 1, 1, input_only, ext_fwd, ext_bwd};
const rl_opdef rl_op_min = {"min", 1, 1, input_only, ext_fwd, ext_bwd};
const rl_opdef rl_op_argmax = {"argmax", 1, 1, input_only, ext_fwd, ext_bwd};
const rl_opdef rl_op_argmin = {"argmin", 1, 1, input_only, ext_fwd, ext_bwd};

static rl_status ext(const rl_opdef *op, rkind k, rl_tensor *t, int dim, int keepdim,
                     rl_tensor **out) {
  ext_attr a = {k, dim, keepdim};
  return rl_op_apply(op, &a, sizeof a, 1, &t, out);
}

rl_status rl_max(rl_tensor *t, int dim, int keepdim, rl_tensor **out) {
  return ext(&rl_op_max, R_MAX, t, dim, keepdim, out);
}
rl_status rl_min(rl_tensor *t, int dim, int keepdim, rl_tensor **out) {
  return ext(&rl_op_min, R_MIN, t, dim, keepdim, out);
}
rl_status rl_argmax(rl_tensor *t, int dim, int keepdim, rl_tensor **out) {
  return ext(&rl_op_argmax, R_ARGMAX, t, dim, keepdim, out);
}
rl_status rl_argmin(rl_tensor *t, int dim, int keepdim, rl_tensor **out) {
  return ext(&rl_op_argmin, R_ARGMIN, t, dim, keepdim, out);
}
/* }==================== */
