/* elementwise.c: broadcasting binary ops, where and masked_select, and the
** unary and tensor-with-scalar ops, each an rl_opdef with its backward. */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "rowmap.h"

/* Every pointwise function of this file, forward and backward, has a kind;
** a row function switches on it once per row, and the loops inside each
** case are plain enough for the compiler to vectorise. */
typedef enum kind {
  /* binary forward: d = f(a, b) */
  K_ADD, K_SUB, K_MUL, K_DIV, K_POW, K_MINIMUM, K_MAXIMUM,
  /* unary forward: d = f(a; s, lo, hi) */
  K_ADDS, K_MULS, K_POWS, K_RSUBS, K_RDIVS, K_CLAMP, K_NEG, K_ABS, K_SIGN, K_EXP, K_LOG, K_SQRT,
  /* backward: d = f(g, a, b; s, lo, hi) */
  G_NEG, G_SCALE, G_MUL, G_DIV_A, G_DIV_B, G_POW_A, G_POW_B, G_MIN_A, G_MIN_B, G_MAX_A, G_MAX_B,
  G_MASK_T, G_MASK_F, G_POWS, G_RDIVS, G_CLAMP, G_ABS, G_EXP, G_LOG, G_SQRT,
  K_COUNT
} kind;

typedef struct ew_attr {
  kind k;
  float s, lo, hi;
} ew_attr;

/* {==================== row functions */

/* d = expr(a, b) over a row; fast paths for both operands contiguous and
** for one of them broadcast along the row (a scalar, a bias). */
#define BINARY_ROW(expr)                                                       \
  do {                                                                         \
    if (id == 1 && ia == 1 && ib == 1) {                                       \
      for (int64_t i = 0; i < n; i++) {                                        \
        float a = pa[i], b = pb[i];                                            \
        d[i] = (expr);                                                         \
      }                                                                        \
    } else if (id == 1 && ia == 1 && ib == 0) {                                \
      const float b = pb[0];                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        float a = pa[i];                                                       \
        d[i] = (expr);                                                         \
      }                                                                        \
    } else if (id == 1 && ia == 0 && ib == 1) {                                \
      const float a = pa[0];                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        float b = pb[i];                                                       \
        d[i] = (expr);                                                         \
      }                                                                        \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        float a = pa[i * ia], b = pb[i * ib];                                  \
        d[i * id] = (expr);                                                    \
      }                                                                        \
    }                                                                          \
  } while (0)

/* NaN propagates through minimum/maximum, as in torch: a NaN `a` wins the
** comparison, a NaN `b` loses it and is then taken. */
static void binary_row(const void *ctx, int64_t n, float *const *p, const int64_t *inc) {
  const ew_attr *at = ctx;
  float *restrict d = p[0];
  const float *pa = p[1], *pb = p[2];
  int64_t id = inc[0], ia = inc[1], ib = inc[2];
  switch (at->k) {
  case K_ADD: BINARY_ROW(a + b); break;
  case K_SUB: BINARY_ROW(a - b); break;
  case K_MUL: BINARY_ROW(a * b); break;
  case K_DIV: BINARY_ROW(a / b); break;
  case K_POW: BINARY_ROW(powf(a, b)); break;
  case K_MINIMUM: BINARY_ROW((a <= b || a != a) ? a : b); break;
  case K_MAXIMUM: BINARY_ROW((a >= b || a != a) ? a : b); break;
  default: rl_assert(0);
  }
}

#define UNARY_ROW(expr)                                                        \
  do {                                                                         \
    if (id == 1 && ia == 1) {                                                  \
      for (int64_t i = 0; i < n; i++) {                                        \
        float a = pa[i];                                                       \
        d[i] = (expr);                                                         \
      }                                                                        \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        float a = pa[i * ia];                                                  \
        d[i * id] = (expr);                                                    \
      }                                                                        \
    }                                                                          \
  } while (0)

static void unary_row(const void *ctx, int64_t n, float *const *p, const int64_t *inc) {
  const ew_attr *at = ctx;
  float *restrict d = p[0];
  const float *pa = p[1];
  const float s = at->s, lo = at->lo, hi = at->hi;
  int64_t id = inc[0], ia = inc[1];
  switch (at->k) {
  case K_ADDS: UNARY_ROW(a + s); break;
  case K_MULS: UNARY_ROW(a * s); break;
  case K_POWS:
    if (s == 2) UNARY_ROW(a * a);
    else if (s == 0.5f) UNARY_ROW(sqrtf(a));
    else UNARY_ROW(powf(a, s));
    break;
  case K_RSUBS: UNARY_ROW(s - a); break;
  case K_RDIVS: UNARY_ROW(s / a); break;
  case K_CLAMP: UNARY_ROW(a < lo ? lo : a > hi ? hi : a); break; /* NaN stays NaN */
  case K_NEG: UNARY_ROW(-a); break;
  case K_ABS: UNARY_ROW(fabsf(a)); break;
  /* NaN stays NaN, as in numpy and like every other op here; torch's 0
  ** hides a NaN and is an open bug there (pytorch/pytorch#41245). */
  case K_SIGN: UNARY_ROW(a > 0 ? 1.0f : a < 0 ? -1.0f : a); break;
  case K_EXP: UNARY_ROW(expf(a)); break;
  case K_LOG: UNARY_ROW(logf(a)); break;
  case K_SQRT: UNARY_ROW(sqrtf(a)); break;
  default: rl_assert(0);
  }
}

/* d = expr(g, a, b): the gradient g with the operands a and b of the call
** (b unused by unary kinds, which pass a twice). */
#define GRAD_ROW(expr)                                                         \
  do {                                                                         \
    if (id == 1 && ig == 1 && ia == 1 && ib == 1) {                            \
      for (int64_t i = 0; i < n; i++) {                                        \
        float g = pg[i], a = pa[i], b = pb[i];                                 \
        (void)a, (void)b;                                                      \
        d[i] = (expr);                                                         \
      }                                                                        \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        float g = pg[i * ig], a = pa[i * ia], b = pb[i * ib];                  \
        (void)a, (void)b;                                                      \
        d[i * id] = (expr);                                                    \
      }                                                                        \
    }                                                                          \
  } while (0)

static void grad_row(const void *ctx, int64_t n, float *const *p, const int64_t *inc) {
  const ew_attr *at = ctx;
  float *restrict d = p[0];
  const float *pg = p[1], *pa = p[2], *pb = p[3];
  const float s = at->s, lo = at->lo, hi = at->hi;
  int64_t id = inc[0], ig = inc[1], ia = inc[2], ib = inc[3];
  switch (at->k) {
  case G_NEG: GRAD_ROW(-g); break;
  case G_SCALE: GRAD_ROW(g * s); break;
  case G_MUL: GRAD_ROW(g * b); break;
  case G_DIV_A: GRAD_ROW(g / b); break;
  case G_DIV_B: GRAD_ROW(-g * a / (b * b)); break;
  /* torch's pow backward: 0 where the exponent is 0 (so 0^0 has gradient
  ** 0 to the base) and 0 to the exponent where the base is 0 and the
  ** exponent >= 0 (instead of 0 * log 0 = NaN). */
  case G_POW_A: GRAD_ROW(b == 0 ? 0.0f : g * b * powf(a, b - 1)); break;
  case G_POW_B: GRAD_ROW(a == 0 && b >= 0 ? 0.0f : g * powf(a, b) * logf(a)); break;
  case G_MIN_A: GRAD_ROW(a <= b || a != a ? g : 0.0f); break;
  case G_MIN_B: GRAD_ROW(a <= b || a != a ? 0.0f : g); break;
  case G_MAX_A: GRAD_ROW(a >= b || a != a ? g : 0.0f); break;
  case G_MAX_B: GRAD_ROW(a >= b || a != a ? 0.0f : g); break;
  case G_MASK_T: GRAD_ROW(a != 0 ? g : 0.0f); break;
  case G_MASK_F: GRAD_ROW(a != 0 ? 0.0f : g); break;
  case G_POWS: GRAD_ROW(s == 0 ? 0.0f : g * s * powf(a, s - 1)); break;
  case G_RDIVS: GRAD_ROW(-g * s / (a * a)); break;
  case G_CLAMP: GRAD_ROW(a >= lo && a <= hi ? g : 0.0f); break;
  case G_ABS: GRAD_ROW(a > 0 ? g : a < 0 ? -g : 0.0f); break;
  case G_EXP: GRAD_ROW(g * expf(a)); break;
  case G_LOG: GRAD_ROW(g / a); break;
  case G_SQRT: GRAD_ROW(g * 0.5f / sqrtf(a)); break;
  default: rl_assert(0);
  }
}
/* }==================== */

/* {==================== kernels on tensors */

/* A new contiguous tensor of shape whose element is the pointwise `at`
** applied to the operands, each broadcast to shape: 1 operand for unary,
** 2 for binary, 3 (g, a, b) for gradients. */
static rl_status map_new(const char *fn, const ew_attr *at, rl__row_fn row, int ndim,
                         const int64_t *shape, int nops, const rl_tensor *const *ops,
                         rl_tensor **out) {
  int64_t st[RL_ITER_MAX][RL_MAX_DIMS];
  const int64_t *sp[RL_ITER_MAX];
  float *base[RL_ITER_MAX];
  rl_tensor *y;
  rl_status s = rl_tensor_new(ndim, shape, &y);
  if (s) return s == RL_ENOMEM ? rl__nomem(fn) : s;
  base[0] = rl_tensor_data(y);
  sp[0] = y->stride;
  for (int j = 0; j < nops; j++) {
    rl__bstrides(ops[j], ndim, shape, st[j]);
    sp[j + 1] = st[j];
    base[j + 1] = rl_tensor_data(ops[j]);
  }
  rl__map_rows(ndim, shape, nops + 1, base, sp, row, at, 1);
  *out = y;
  return RL_OK;
}

/* The gradient for an input of shape like `in`: `k` applied to (g, a, b)
** on the output's shape, then summed down to in's shape. */
static rl_status grad_to(const char *fn, kind k, float s, const rl_tensor *in, const rl_tensor *g,
                         const rl_tensor *a, const rl_tensor *b, rl_tensor **gin) {
  ew_attr at = {k, s, 0, 0};
  rl_tensor *full = NULL;
  rl_status st = map_new(fn, &at, grad_row, g->ndim, g->shape, 3,
                         (const rl_tensor *[]){g, a, b ? b : a}, &full);
  if (st) return st;
  st = rl_sum_to_shape(full, in->ndim, in->shape, gin);
  rl_tensor_release(full);
  return st;
}
/* }==================== */

/* {==================== binary ops */

static const char *const kind_name[K_COUNT] = {
    [K_ADD] = "add",         [K_SUB] = "sub",         [K_MUL] = "mul",   [K_DIV] = "div",
    [K_POW] = "pow",         [K_MINIMUM] = "minimum", [K_MAXIMUM] = "maximum",
    [K_ADDS] = "add_scalar", [K_MULS] = "mul_scalar", [K_POWS] = "pow_scalar",
    [K_RSUBS] = "rsub_scalar", [K_RDIVS] = "rdiv_scalar", [K_CLAMP] = "clamp",
    [K_NEG] = "neg",         [K_ABS] = "abs",         [K_SIGN] = "sign", [K_EXP] = "exp",
    [K_LOG] = "log",         [K_SQRT] = "sqrt",
};

static rl_status binary_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const ew_attr *at = attr;
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  (void)n;
  *aux = NULL;
  rl_status st = rl_broadcast_shape(kind_name[at->k], in[0], in[1], &ndim, shape);
  if (st) return st;
  return map_new(kind_name[at->k], at, binary_row, ndim, shape, 2,
                 (const rl_tensor *[]){in[0], in[1]}, out);
}

static rl_status binary_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *g, const int *needs,
                            rl_tensor **gin) {
  const ew_attr *at = attr;
  const char *fn = kind_name[at->k];
  rl_tensor *a = in[0], *b = in[1];
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  rl_status st;
  (void)n, (void)out, (void)aux;
  RL_TRY(rl_broadcast_shape(fn, a, b, &ndim, shape));
  RL_TRY(rl__check_grad(fn, g, ndim, shape));
  switch (at->k) {
  case K_ADD:
  case K_SUB:
    if (needs[0]) RL_TRY(rl_sum_to_shape(g, a->ndim, a->shape, &gin[0]));
    if (needs[1]) {
      if (at->k == K_ADD) RL_TRY(rl_sum_to_shape(g, b->ndim, b->shape, &gin[1]));
      else RL_TRY(grad_to(fn, G_NEG, 0, b, g, g, NULL, &gin[1]));
    }
    break;
  case K_MUL:
    if (needs[0]) RL_TRY(grad_to(fn, G_MUL, 0, a, g, a, b, &gin[0]));
    if (needs[1]) RL_TRY(grad_to(fn, G_MUL, 0, b, g, b, a, &gin[1]));
    break;
  case K_DIV:
    if (needs[0]) RL_TRY(grad_to(fn, G_DIV_A, 0, a, g, a, b, &gin[0]));
    if (needs[1]) RL_TRY(grad_to(fn, G_DIV_B, 0, b, g, a, b, &gin[1]));
    break;
  case K_POW:
    if (needs[0]) RL_TRY(grad_to(fn, G_POW_A, 0, a, g, a, b, &gin[0]));
    if (needs[1]) RL_TRY(grad_to(fn, G_POW_B, 0, b, g, a, b, &gin[1]));
    break;
  case K_MINIMUM:
    if (needs[0]) RL_TRY(grad_to(fn, G_MIN_A, 0, a, g, a, b, &gin[0]));
    if (needs[1]) RL_TRY(grad_to(fn, G_MIN_B, 0, b, g, a, b, &gin[1]));
    break;
  case K_MAXIMUM:
    if (needs[0]) RL_TRY(grad_to(fn, G_MAX_A, 0, a, g, a, b, &gin[0]));
    if (needs[1]) RL_TRY(grad_to(fn, G_MAX_B, 0, b, g, a, b, &gin[1]));
    break;
  default: rl_assert(0);
  }
cleanup: /* the tape releases any gin already set when we fail */
  return st;
}

static const char *const ab_names[] = {"a", "b"};
const rl_opdef rl_op_add = {"add", 2, 2, ab_names, binary_fwd, binary_bwd};
const rl_opdef rl_op_sub = {"sub", 2, 2, ab_names, binary_fwd, binary_bwd};
const rl_opdef rl_op_mul = {"mul", 2, 2, ab_names, binary_fwd, binary_bwd};
const rl_opdef rl_op_div = {"div", 2, 2, ab_names, binary_fwd, binary_bwd};
/* The base must be > 0 wherever the exponent tensor varies for the result
** to be real: like torch we do not check, and a negative base with a
** non-integer exponent gives NaN (as does its gradient to the exponent). */
const rl_opdef rl_op_pow = {"pow", 2, 2, ab_names, binary_fwd, binary_bwd};
const rl_opdef rl_op_minimum = {"minimum", 2, 2, ab_names, binary_fwd, binary_bwd};
const rl_opdef rl_op_maximum = {"maximum", 2, 2, ab_names, binary_fwd, binary_bwd};

static rl_status binary(const rl_opdef *op, kind k, rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  ew_attr at = {k, 0, 0, 0};
  return rl_op_apply(op, &at, sizeof at, 2, (rl_tensor *[]){a, b}, out);
}

rl_status rl_add(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_add, K_ADD, a, b, out);
}
rl_status rl_sub(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_sub, K_SUB, a, b, out);
}
rl_status rl_mul(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_mul, K_MUL, a, b, out);
}
rl_status rl_div(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_div, K_DIV, a, b, out);
}
rl_status rl_pow(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_pow, K_POW, a, b, out);
}
rl_status rl_minimum(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_minimum, K_MINIMUM, a, b, out);
}
rl_status rl_maximum(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return binary(&rl_op_maximum, K_MAXIMUM, a, b, out);
}
/* }==================== */

/* {==================== where and masked_select */

static void where_row(const void *ctx, int64_t n, float *const *p, const int64_t *inc) {
  float *restrict d = p[0];
  const float *pm = p[1], *pa = p[2], *pb = p[3];
  int64_t id = inc[0], im = inc[1], ia = inc[2], ib = inc[3];
  (void)ctx;
  if (id == 1 && im == 1 && ia == 1 && ib == 1)
    for (int64_t i = 0; i < n; i++) d[i] = pm[i] != 0 ? pa[i] : pb[i];
  else
    for (int64_t i = 0; i < n; i++) d[i * id] = pm[i * im] != 0 ? pa[i * ia] : pb[i * ib];
}

static rl_status where_shape(rl_tensor *const *in, int *ndim, int64_t *shape) {
  rl_tensor ab = {0};
  rl_status st = rl_broadcast_shape("where", in[1], in[2], &ab.ndim, ab.shape);
  if (st) return st;
  return rl_broadcast_shape("where (mask)", in[0], &ab, ndim, shape);
}

static rl_status where_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                           rl_tensor **aux) {
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  (void)attr, (void)n;
  *aux = NULL;
  rl_status st = where_shape(in, &ndim, shape);
  if (st) return st;
  return map_new("where", NULL, where_row, ndim, shape, 3,
                 (const rl_tensor *[]){in[0], in[1], in[2]}, out);
}

static rl_status where_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                           const rl_tensor *aux, const rl_tensor *g, const int *needs,
                           rl_tensor **gin) {
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  rl_status st;
  (void)attr, (void)n, (void)out, (void)aux;
  RL_TRY(where_shape(in, &ndim, shape));
  RL_TRY(rl__check_grad("where", g, ndim, shape));
  if (needs[1]) RL_TRY(grad_to("where", G_MASK_T, 0, in[1], g, in[0], NULL, &gin[1]));
  if (needs[2]) RL_TRY(grad_to("where", G_MASK_F, 0, in[2], g, in[0], NULL, &gin[2]));
cleanup:
  return st;
}

static const char *const where_names[] = {"mask", "a", "b"};
const rl_opdef rl_op_where = {"where", 3, 3, where_names, where_fwd, where_bwd};

rl_status rl_where(rl_tensor *mask, rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return rl_op_apply(&rl_op_where, NULL, 0, 3, (rl_tensor *[]){mask, a, b}, out);
}

/* Walks t in row-major order with the mask broadcast to it; `fn` sees each
** selected element's offset in t and its rank among the selected. The
** order is the output's, so this stays serial. */
static int64_t select_walk(const rl_tensor *t, const rl_tensor *mask,
                           void (*fn)(void *ud, int64_t off, int64_t rank), void *ud) {
  int64_t mst[RL_MAX_DIMS], count = 0;
  const float *m = rl_tensor_data(mask);
  rl__bstrides(mask, t->ndim, t->shape, mst);
  rl_iter it;
  rl_iter_init(&it, t->ndim, t->shape, 2, (const int64_t *[]){t->stride, mst});
  do {
    const float *pm = m + it.off[1];
    for (int64_t i = 0; i < it.n; i++)
      if (pm[i * it.inner[1]] != 0) {
        if (fn) fn(ud, it.off[0] + i * it.inner[0], count);
        count++;
      }
  } while (rl_iter_next(&it));
  return count;
}

typedef struct gather_ud {
  float *dst;
  const float *src;
  int64_t dstride, sstride;
} gather_ud;

static void gather_one(void *ud, int64_t off, int64_t rank) {
  gather_ud *u = ud;
  u->dst[rank] = u->src[off];
}

static void scatter_one(void *ud, int64_t off, int64_t rank) {
  gather_ud *u = ud;
  u->dst[off] = u->src[rank * u->sstride];
}

/* The number of elements t's mask selects, after checking the shapes. */
static rl_status select_count(const rl_tensor *t, const rl_tensor *mask, int64_t *count) {
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  rl_status st = rl_broadcast_shape("masked_select", t, mask, &ndim, shape);
  if (st) return st;
  if (ndim != t->ndim || memcmp(shape, t->shape, (size_t)ndim * sizeof *shape))
    return rl_error(RL_ESHAPE, "masked_select: mask %s does not broadcast to the tensor's shape %s",
                    rl_shapestr(mask).s, rl_shapestr(t).s);
  *count = select_walk(t, mask, NULL, NULL);
  /* Zero-size tensors do not exist in relua, so an empty selection is an error. */
  if (*count == 0)
    return rl_error(RL_ESHAPE, "masked_select: the mask %s selects no element of %s",
                    rl_shapestr(mask).s, rl_shapestr(t).s);
  return RL_OK;
}

static rl_status masked_select_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                                   rl_tensor **aux) {
  const rl_tensor *t = in[0], *mask = in[1];
  int64_t count;
  (void)attr, (void)n;
  *aux = NULL;
  rl_status st = select_count(t, mask, &count);
  if (st) return st;
  rl_tensor *y;
  if ((st = rl_tensor_new(1, &count, &y))) return st == RL_ENOMEM ? rl__nomem("masked_select") : st;
  gather_ud u = {rl_tensor_data(y), rl_tensor_data(t), 1, 1};
  select_walk(t, mask, gather_one, &u);
  *out = y;
  return RL_OK;
}

static rl_status masked_select_bwd(const void *attr, int n, rl_tensor *const *in,
                                   const rl_tensor *out, const rl_tensor *aux, const rl_tensor *g,
                                   const int *needs, rl_tensor **gin) {
  (void)attr, (void)n, (void)out, (void)aux;
  if (!needs[0]) return RL_OK;
  int64_t count;
  rl_status st = select_count(in[0], in[1], &count);
  if (st || (st = rl__check_grad("masked_select", g, 1, &count))) return st;
  rl_tensor *z;
  st = rl_tensor_zeros_like(in[0], &z);
  if (st) return st == RL_ENOMEM ? rl__nomem("masked_select") : st;
  /* Walking z (in[0]'s shape, contiguous) yields offsets into z. */
  gather_ud u = {rl_tensor_data(z), rl_tensor_data(g), 1, g->ndim ? g->stride[0] : 1};
  select_walk(z, in[1], scatter_one, &u);
  gin[0] = z;
  return RL_OK;
}

static const char *const ms_names[] = {"input", "mask"};
const rl_opdef rl_op_masked_select = {"masked_select", 2, 2, ms_names, masked_select_fwd,
                                      masked_select_bwd};

rl_status rl_masked_select(rl_tensor *t, rl_tensor *mask, rl_tensor **out) {
  return rl_op_apply(&rl_op_masked_select, NULL, 0, 2, (rl_tensor *[]){t, mask}, out);
}
/* }==================== */

/* {==================== unary and with-a-scalar ops */

static rl_status unary_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                           rl_tensor **aux) {
  const ew_attr *at = attr;
  (void)n;
  *aux = NULL;
  if (at->k == K_CLAMP && !(at->lo <= at->hi))
    return rl_error(RL_EARG, "clamp: lower bound %g is not <= upper bound %g", (double)at->lo,
                    (double)at->hi);
  return map_new(kind_name[at->k], at, unary_row, in[0]->ndim, in[0]->shape, 1,
                 (const rl_tensor *[]){in[0]}, out);
}

static rl_status unary_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                           const rl_tensor *aux, const rl_tensor *g, const int *needs,
                           rl_tensor **gin) {
  const ew_attr *at = attr;
  const char *fn = kind_name[at->k];
  rl_tensor *a = in[0];
  (void)n, (void)out, (void)aux;
  if (!needs[0]) return RL_OK;
  rl_status st = rl__check_grad(fn, g, a->ndim, a->shape);
  if (st) return st;
  kind gk;
  switch (at->k) {
  case K_ADDS: return rl__contig(g, &gin[0]);
  case K_SIGN: return RL_OK; /* zero almost everywhere */
  case K_MULS: gk = G_SCALE; break;
  case K_POWS: gk = G_POWS; break;
  case K_RSUBS: case K_NEG: gk = G_NEG; break;
  case K_RDIVS: gk = G_RDIVS; break;
  case K_CLAMP: gk = G_CLAMP; break;
  case K_ABS: gk = G_ABS; break;
  case K_EXP: gk = G_EXP; break;
  case K_LOG: gk = G_LOG; break;
  case K_SQRT: gk = G_SQRT; break;
  default: rl_assert(0); return RL_OK;
  }
  ew_attr ga = *at;
  ga.k = gk;
  return map_new(fn, &ga, grad_row, a->ndim, a->shape, 3, (const rl_tensor *[]){g, a, a}, &gin[0]);
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_add_scalar = {"add_scalar", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_mul_scalar = {"mul_scalar", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_pow_scalar = {"pow_scalar", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_rsub_scalar = {"rsub_scalar", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_rdiv_scalar = {"rdiv_scalar", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_clamp = {"clamp", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_neg = {"neg", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_abs = {"abs", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_sign = {"sign", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_exp = {"exp", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_log = {"log", 1, 1, input_only, unary_fwd, unary_bwd};
const rl_opdef rl_op_sqrt = {"sqrt", 1, 1, input_only, unary_fwd, unary_bwd};

static rl_status unary(const rl_opdef *op, kind k, rl_tensor *a, float s, float lo, float hi,
                       rl_tensor **out) {
  ew_attr at = {k, s, lo, hi};
  return rl_op_apply(op, &at, sizeof at, 1, &a, out);
}

rl_status rl_add_scalar(rl_tensor *a, float s, rl_tensor **out) {
  return unary(&rl_op_add_scalar, K_ADDS, a, s, 0, 0, out);
}
rl_status rl_mul_scalar(rl_tensor *a, float s, rl_tensor **out) {
  return unary(&rl_op_mul_scalar, K_MULS, a, s, 0, 0, out);
}
rl_status rl_pow_scalar(rl_tensor *a, float p, rl_tensor **out) {
  return unary(&rl_op_pow_scalar, K_POWS, a, p, 0, 0, out);
}
rl_status rl_rsub_scalar(rl_tensor *a, float s, rl_tensor **out) {
  return unary(&rl_op_rsub_scalar, K_RSUBS, a, s, 0, 0, out);
}
rl_status rl_rdiv_scalar(rl_tensor *a, float s, rl_tensor **out) {
  return unary(&rl_op_rdiv_scalar, K_RDIVS, a, s, 0, 0, out);
}
rl_status rl_clamp(rl_tensor *a, float lo, float hi, rl_tensor **out) {
  return unary(&rl_op_clamp, K_CLAMP, a, 0, lo, hi, out);
}
rl_status rl_neg(rl_tensor *a, rl_tensor **out) {
  return unary(&rl_op_neg, K_NEG, a, 0, 0, 0, out);
}
rl_status rl_abs(rl_tensor *a, rl_tensor **out) {
  return unary(&rl_op_abs, K_ABS, a, 0, 0, 0, out);
}
rl_status rl_sign(rl_tensor *a, rl_tensor **out) {
  return unary(&rl_op_sign, K_SIGN, a, 0, 0, 0, out);
}
rl_status rl_exp(rl_tensor *a, rl_tensor **out) {
  return unary(&rl_op_exp, K_EXP, a, 0, 0, 0, out);
}
rl_status rl_log(rl_tensor *a, rl_tensor **out) {
  return unary(&rl_op_log, K_LOG, a, 0, 0, 0, out);
}
rl_status rl_sqrt(rl_tensor *a, rl_tensor **out) {
  return unary(&rl_op_sqrt, K_SQRT, a, 0, 0, 0, out);
}
/* }==================== */
