/* test_elementwise.c: binary ops with broadcasting, where, masked_select,
** unary and with-a-scalar ops: values, gradients, errors, allocation failures. */
#include <math.h>
#include <string.h>

#include "testutil.h"

typedef rl_status (*binop)(rl_tensor *, rl_tensor *, rl_tensor **);

/* {==================== helpers */

/* in[0] is used transposed (dims 0 and 1) when the case says so, to drive
** the strided paths; gradcheck itself needs contiguous inputs. */
typedef struct bin_case {
  binop op;
  int transpose_a, transpose_b;
} bin_case;

static rl_status f_binary(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const bin_case *c = ud;
  rl_tensor *a = in[0], *b = in[1], *ta = NULL, *tb = NULL;
  rl_status st = RL_OK;
  if (c->transpose_a && (st = rl_tensor_view_transpose(a, 0, 1, &ta))) return st;
  if (c->transpose_b && (st = rl_tensor_view_transpose(b, 0, 1, &tb))) goto done;
  st = c->op(ta ? ta : a, tb ? tb : b, out);
done:
  rl_tensor_release(ta);
  rl_tensor_release(tb);
  return st;
}

/* Positive values in [0.5, 2.5): bases for pow, arguments for log and sqrt. */
static rl_tensor *positive(int ndim, const int64_t *shape, uint64_t seed) {
  rl_tensor *t = tu_randn(ndim, shape, seed, 0);
  float *p = rl_tensor_data(t);
  for (int64_t i = 0, n = rl_tensor_numel(t); i < n; i++) p[i] = 0.5f + fmodf(fabsf(p[i]), 2.0f);
  return t;
}

static float at(const rl_tensor *t, int64_t i) { return rl_tensor_data(t)[i]; }

/* }==================== */

/* {==================== binary ops */

static const struct {
  int na, nb;
  int64_t sa[3], sb[3];
  int ta, tb;
} shapes[] = {
    {2, 2, {2, 3}, {2, 3}, 0, 0},    /* same shape: one flat row */
    {2, 1, {2, 3}, {3}, 0, 0},       /* a bias */
    {1, 2, {3}, {2, 3}, 0, 0},       /* a broadcast instead of b */
    {3, 2, {2, 1, 4}, {3, 1}, 0, 0}, /* both broadcast: [2 x 3 x 4] */
    {2, 0, {2, 3}, {0}, 0, 0},       /* b a 0-dim scalar */
    {1, 2, {1}, {2, 3}, 0, 0},       /* a a 1-element tensor */
    {2, 2, {3, 2}, {2, 3}, 1, 0},    /* a transposed */
    {2, 1, {3, 2}, {3}, 1, 0},       /* transposed and broadcast */
    {2, 2, {3, 2}, {3, 2}, 1, 1},    /* both transposed */
};

static void gradcheck_binary(binop op, int positive_a, float margin_b) {
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    rl_tensor *in[2];
    in[0] = positive_a ? positive(shapes[s].na, shapes[s].sa, 10 + s)
                       : tu_randn(shapes[s].na, shapes[s].sa, 10 + s, 0.1f);
    in[1] = tu_randn(shapes[s].nb, shapes[s].sb, 100 + s, margin_b);
    bin_case c = {op, shapes[s].ta, shapes[s].tb};
    tu_gradcheck(f_binary, 2, in, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
    rl_tensor_release(in[0]);
    rl_tensor_release(in[1]);
  }
  tu_assert_no_leaks();
}

static void test_add_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_add, 0, 0);
}
static void test_sub_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_sub, 0, 0);
}
static void test_mul_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_mul, 0, 0);
}
static void test_div_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_div, 0, 0.5f);
}
static void test_pow_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_pow, 1, 0);
}
static void test_minimum_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_minimum, 0, 0);
}
static void test_maximum_grad(void **state) {
  (void)state;
  gradcheck_binary(rl_maximum, 0, 0);
}

static void test_binary_values(void **state) {
  (void)state;
  rl_tensor *a = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, 4, 5, 6));
  rl_tensor *b = tu_tensor(1, TU_SHAPE(3), TU_DATA(10, 20, 30));
  rl_tensor *c = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(2, -1));
  rl_tensor *y = NULL;
  TU_OK(rl_add(a, b, &y));
  assert_int_equal(y->ndim, 2);
  tu_assert_values(y, 6, TU_DATA(11, 22, 33, 14, 25, 36));
  rl_tensor_release(y);
  TU_OK(rl_sub(b, a, &y));
  tu_assert_values(y, 6, TU_DATA(9, 18, 27, 6, 15, 24));
  rl_tensor_release(y);
  TU_OK(rl_mul(a, c, &y));
  tu_assert_values(y, 6, TU_DATA(2, 4, 6, -4, -5, -6));
  rl_tensor_release(y);
  TU_OK(rl_div(c, a, &y));
  tu_assert_values(y, 6, TU_DATA(2, 1, 2.0f / 3, -0.25f, -0.2f, -1.0f / 6));
  rl_tensor_release(y);
  TU_OK(rl_pow(a, c, &y));
  tu_assert_values(y, 6, TU_DATA(1, 4, 9, 0.25f, 0.2f, 1.0f / 6));
  rl_tensor_release(y);
  TU_OK(rl_minimum(a, b, &y)); /* a < b everywhere */
  tu_assert_values(y, 6, TU_DATA(1, 2, 3, 4, 5, 6));
  rl_tensor_release(y);
  TU_OK(rl_maximum(c, a, &y));
  tu_assert_values(y, 6, TU_DATA(2, 2, 3, 4, 5, 6));
  rl_tensor_release(y);
  /* a transposed view: [[1, 4], [2, 5], [3, 6]] + [10, 20] */
  rl_tensor *t = NULL, *r = tu_tensor(1, TU_SHAPE(2), TU_DATA(10, 20));
  TU_OK(rl_tensor_view_transpose(a, 0, 1, &t));
  TU_OK(rl_add(t, r, &y));
  tu_assert_values(y, 6, TU_DATA(11, 24, 12, 25, 13, 26));
  rl_tensor_release(y);
  /* expanded views (stride 0) on both sides: [2 x 1] and [1 x 3] to [2 x 3] */
  rl_tensor *ec = NULL, *er = NULL, *row = tu_tensor(2, TU_SHAPE(1, 3), TU_DATA(1, 2, 3));
  TU_OK(rl_tensor_view_expand(c, 2, TU_SHAPE(2, 3), &ec));
  TU_OK(rl_tensor_view_expand(row, 2, TU_SHAPE(2, 3), &er));
  TU_OK(rl_mul(ec, er, &y));
  tu_assert_values(y, 6, TU_DATA(2, 4, 6, -1, -2, -3));
  rl_tensor_release(y);
  rl_tensor_release(ec);
  rl_tensor_release(er);
  rl_tensor_release(row);
  /* NaN propagates through maximum and minimum on either side */
  rl_tensor *n1 = tu_tensor(1, TU_SHAPE(2), TU_DATA(NAN, 1)),
            *n2 = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, NAN));
  TU_OK(rl_maximum(n1, n2, &y));
  tu_assert_values(y, 2, TU_DATA(NAN, NAN));
  rl_tensor_release(y);
  TU_OK(rl_minimum(n1, n2, &y));
  tu_assert_values(y, 2, TU_DATA(NAN, NAN));
  rl_tensor_release(y);
  /* pow with a negative base: NaN for a fractional exponent, real for an integer one */
  rl_tensor *nb = tu_tensor(1, TU_SHAPE(2), TU_DATA(-2, -2)),
            *ex = tu_tensor(1, TU_SHAPE(2), TU_DATA(0.5f, 3));
  TU_OK(rl_pow(nb, ex, &y));
  tu_assert_values(y, 2, TU_DATA(NAN, -8));
  rl_tensor_release(y);
  rl_tensor *all[] = {a, b, c, t, r, n1, n2, nb, ex};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}

/* Gradients of sum(op(a, b)) at points chosen on paper. */
static void grads_of(binop op, rl_tensor *a, rl_tensor *b, rl_tensor **ga, rl_tensor **gb) {
  rl_tensor *y = NULL, *g[2] = {0};
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_tensor_set_requires_grad(b, 1));
  TU_OK(op(a, b, &y));
  TU_OK(rl_tape_backward(y, NULL, 2, (rl_tensor *[]){a, b}, g, NULL));
  rl_tensor_release(y);
  *ga = g[0];
  *gb = g[1];
}

static void test_binary_grad_values(void **state) {
  (void)state;
  rl_tensor *a = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 0));
  rl_tensor *b = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 3, 2));
  rl_tensor *ga, *gb;
  /* ties: the gradient goes to a */
  grads_of(rl_minimum, a, b, &ga, &gb);
  tu_assert_values(ga, 3, TU_DATA(1, 1, 1));
  tu_assert_values(gb, 3, TU_DATA(0, 0, 0));
  rl_tensor_release(ga), rl_tensor_release(gb);
  grads_of(rl_maximum, a, b, &ga, &gb);
  tu_assert_values(ga, 3, TU_DATA(1, 0, 0));
  tu_assert_values(gb, 3, TU_DATA(0, 1, 1));
  rl_tensor_release(ga), rl_tensor_release(gb);
  /* pow: d/da = b a^(b-1); d/db = a^b log a, 0 at a = 0 with b >= 0 */
  grads_of(rl_pow, a, b, &ga, &gb);
  tu_assert_values(ga, 3, TU_DATA(1, 12, 0));
  tu_assert_values(gb, 3, TU_DATA(0, 8 * logf(2), 0));
  rl_tensor_release(ga), rl_tensor_release(gb);
  /* div: 1/b and -a/b^2 */
  grads_of(rl_div, a, b, &ga, &gb);
  tu_assert_values(ga, 3, TU_DATA(1, 1.0f / 3, 0.5f));
  tu_assert_values(gb, 3, TU_DATA(-1, -2.0f / 9, 0));
  rl_tensor_release(ga), rl_tensor_release(gb);
  /* broadcasting: the gradient of a [3] bias added to [2 x 3] is 2 */
  rl_tensor *m = NULL;
  TU_OK(rl_tensor_ones(2, TU_SHAPE(2, 3), &m));
  grads_of(rl_sub, m, b, &ga, &gb);
  assert_int_equal(gb->ndim, 1);
  tu_assert_values(gb, 3, TU_DATA(-2, -2, -2));
  tu_assert_values(ga, 6, TU_DATA(1, 1, 1, 1, 1, 1));
  rl_tensor_release(ga), rl_tensor_release(gb);
  rl_tensor_release(m);
  rl_tensor_release(a);
  rl_tensor_release(b);
  tu_assert_no_leaks();
}

static void test_binary_errors(void **state) {
  (void)state;
  rl_tensor *a = NULL, *b = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &a));
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(4, 3), &b));
  tu_assert_error(rl_add(a, b, &y), RL_ESHAPE,
                  "add: shapes [2 x 3] and [4 x 3] do not broadcast (dim 1: 2 vs 4)");
  assert_null(y);
  tu_assert_error(rl_mul(b, a, &y), RL_ESHAPE, "mul: shapes [4 x 3] and [2 x 3]");
  tu_assert_error(rl_pow(a, b, &y), RL_ESHAPE, "pow: shapes");
  tu_assert_error(rl_maximum(a, b, &y), RL_ESHAPE, "maximum: shapes");
  tu_assert_error(rl_sub(a, NULL, &y), RL_EARG, "sub: input 2 (b) is missing");
  assert_null(y);
  rl_tensor_release(a);
  rl_tensor_release(b);
  tu_assert_no_leaks();
}

/* Big enough for the threaded paths: checked against a plain loop. */
static void test_binary_large(void **state) {
  (void)state;
  rl_tensor *a = tu_randn(2, TU_SHAPE(400, 300), 1, 0), *b = tu_randn(1, TU_SHAPE(300), 2, 0);
  rl_tensor *at_ = NULL, *y = NULL, *y2 = NULL, *s = tu_randn(0, NULL, 3, 0);
  TU_OK(rl_mul(a, b, &y));
  for (int64_t i = 0; i < 400 * 300; i++)
    assert_float_equal(at(y, i), at(a, i) * at(b, i % 300), 0);
  rl_tensor_release(y);
  TU_OK(rl_sub(a, s, &y)); /* one row cut into chunks */
  for (int64_t i = 0; i < 400 * 300; i++) assert_float_equal(at(y, i), at(a, i) - at(s, 0), 0);
  rl_tensor_release(y);
  TU_OK(rl_tensor_view_transpose(a, 0, 1, &at_)); /* [300 x 400], strided rows */
  rl_tensor *c = tu_randn(2, TU_SHAPE(300, 1), 4, 0);
  TU_OK(rl_add(at_, c, &y));
  for (int64_t i = 0; i < 300; i++)
    for (int64_t j = 0; j < 400; j++)
      assert_float_equal(at(y, i * 400 + j), at(a, j * 300 + i) + at(c, i), 0);
  TU_OK(rl_exp(at_, &y2));
  for (int64_t i = 0; i < 300; i++)
    for (int64_t j = 0; j < 400; j += 7)
      assert_float_equal(at(y2, i * 400 + j), expf(at(a, j * 300 + i)), 1e-6);
  rl_tensor *all[] = {a, b, at_, y, y2, s, c};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== where and masked_select */

static rl_status f_where(rl_tensor *const *in, rl_tensor **out, void *ud) {
  (void)ud;
  return rl_where(in[0], in[1], in[2], out);
}

static rl_status f_masked_select(rl_tensor *const *in, rl_tensor **out, void *ud) {
  rl_tensor *t = NULL;
  rl_status st;
  if (!ud) return rl_masked_select(in[0], in[1], out);
  if ((st = rl_tensor_view_transpose(in[0], 0, 1, &t))) return st;
  st = rl_masked_select(t, in[1], out);
  rl_tensor_release(t);
  return st;
}

static void test_where(void **state) {
  (void)state;
  rl_tensor *m = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(1, 0));
  rl_tensor *a = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, 4, 5, 6));
  rl_tensor *b = tu_tensor(1, TU_SHAPE(3), TU_DATA(-1, -2, -3));
  rl_tensor *y = NULL, *g[3] = {0};
  TU_OK(rl_where(m, a, b, &y));
  tu_assert_values(y, 6, TU_DATA(1, 2, 3, -1, -2, -3));
  rl_tensor_release(y);
  /* the mask broadcasts too, and gets no gradient */
  TU_OK(rl_tensor_set_requires_grad(m, 1));
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_tensor_set_requires_grad(b, 1));
  TU_OK(rl_where(m, a, b, &y));
  TU_OK(rl_tape_backward(y, NULL, 3, (rl_tensor *[]){m, a, b}, g, NULL));
  tu_assert_values(g[0], 2, TU_DATA(0, 0));
  tu_assert_values(g[1], 6, TU_DATA(1, 1, 1, 0, 0, 0));
  tu_assert_values(g[2], 3, TU_DATA(1, 1, 1));
  for (int i = 0; i < 3; i++) rl_tensor_release(g[i]);
  rl_tensor_release(y);
  TU_OK(rl_tensor_set_requires_grad(m, 0));
  TU_OK(rl_tensor_set_requires_grad(a, 0));
  TU_OK(rl_tensor_set_requires_grad(b, 0));
  /* finite differences on a and b, mask [2 x 1 x 4] with a [3 x 1] and b [4] */
  rl_tensor *in[3] = {tu_tensor(3, TU_SHAPE(2, 1, 4), TU_DATA(1, 0, 0, 1, 0, 1, 1, 0)),
                      tu_randn(2, TU_SHAPE(3, 1), 5, 0), tu_randn(1, TU_SHAPE(4), 6, 0)};
  tu_gradcheck(f_where, 3, in, (int[]){0, 1, 1}, NULL, NULL);
  for (int i = 0; i < 3; i++) rl_tensor_release(in[i]);
  rl_tensor *big = NULL;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(3, 3), &big));
  tu_assert_error(rl_where(m, a, big, &y), RL_ESHAPE,
                  "where: shapes [2 x 3] and [3 x 3] do not broadcast");
  tu_assert_error(rl_where(big, a, b, &y), RL_ESHAPE, "where (mask): shapes [3 x 3] and [2 x 3]");
  assert_null(y);
  rl_tensor_release(big);
  rl_tensor_release(m);
  rl_tensor_release(a);
  rl_tensor_release(b);
  tu_assert_no_leaks();
}

static void test_masked_select(void **state) {
  (void)state;
  rl_tensor *t = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, 4, 5, 6));
  rl_tensor *m = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 0, 2));
  rl_tensor *y = NULL, *g = NULL, *seed = tu_tensor(1, TU_SHAPE(4), TU_DATA(10, 20, 30, 40));
  TU_OK(rl_masked_select(t, m, &y));
  assert_int_equal(y->ndim, 1);
  tu_assert_values(y, 4, TU_DATA(1, 3, 4, 6));
  rl_tensor_release(y);
  /* the gradient scatters back to the selected places */
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  TU_OK(rl_masked_select(t, m, &y));
  TU_OK(rl_tape_backward(y, seed, 1, &t, &g, NULL));
  tu_assert_values(g, 6, TU_DATA(10, 0, 20, 30, 0, 40));
  rl_tensor_release(g);
  /* a strided incoming gradient (a column of [4 x 2]) through the node's own backward */
  rl_tensor *g2 = tu_tensor(2, TU_SHAPE(4, 2), TU_DATA(1, -1, 2, -1, 3, -1, 4, -1)), *col = NULL,
            *gin[2] = {0};
  TU_OK(rl_tensor_view_select(g2, 1, 0, &col));
  TU_OK(rl_node_backward(y->node, (rl_tensor *[]){t, m}, col, NULL, gin));
  tu_assert_values(gin[0], 6, TU_DATA(1, 0, 2, 3, 0, 4));
  assert_null(gin[1]);
  rl_tensor_release(gin[0]);
  rl_tensor_release(col);
  rl_tensor_release(g2);
  rl_tensor_release(y);
  TU_OK(rl_tensor_set_requires_grad(t, 0));
  /* a transposed input keeps row-major order of the view: [[1,4],[2,5],[3,6]] */
  rl_tensor *tr = NULL, *m2 = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, 1));
  TU_OK(rl_tensor_view_transpose(t, 0, 1, &tr));
  TU_OK(rl_masked_select(tr, m2, &y));
  tu_assert_values(y, 3, TU_DATA(4, 5, 6));
  rl_tensor_release(y);
  rl_tensor *in[2] = {tu_randn(2, TU_SHAPE(3, 2), 7, 0), m};
  tu_gradcheck(f_masked_select, 2, in, (int[]){1, 0}, (void *)1, NULL);
  rl_tensor_release(in[0]);
  in[0] = tu_randn(3, TU_SHAPE(2, 3, 2), 8, 0);
  in[1] = m2;
  tu_gradcheck(f_masked_select, 2, in, (int[]){1, 0}, NULL, NULL);
  rl_tensor_release(in[0]);
  /* errors */
  rl_tensor *zero = NULL, *wide = NULL, *bad = NULL;
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &zero));
  TU_OK(rl_tensor_ones(3, TU_SHAPE(2, 2, 3), &wide));
  TU_OK(rl_tensor_ones(1, TU_SHAPE(4), &bad));
  tu_assert_error(rl_masked_select(t, zero, &y), RL_ESHAPE,
                  "masked_select: the mask [3] selects no element of [2 x 3]");
  tu_assert_error(
      rl_masked_select(t, wide, &y), RL_ESHAPE,
      "masked_select: mask [2 x 2 x 3] does not broadcast to the tensor's shape [2 x 3]");
  tu_assert_error(rl_masked_select(t, bad, &y), RL_ESHAPE,
                  "masked_select: shapes [2 x 3] and [4] do not broadcast");
  assert_null(y);
  rl_tensor *all[] = {t, m, seed, tr, m2, zero, wide, bad};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== unary and with-a-scalar ops */

typedef struct un_case {
  int op; /* index into un_ops */
  float s, lo, hi;
  int transpose;
} un_case;

enum {
  U_ADDS,
  U_MULS,
  U_POWS,
  U_RSUBS,
  U_RDIVS,
  U_CLAMP,
  U_NEG,
  U_ABS,
  U_SIGN,
  U_EXP,
  U_LOG,
  U_SQRT
};

static rl_status un_apply(const un_case *c, rl_tensor *a, rl_tensor **out) {
  switch (c->op) {
  case U_ADDS: return rl_add_scalar(a, c->s, out);
  case U_MULS: return rl_mul_scalar(a, c->s, out);
  case U_POWS: return rl_pow_scalar(a, c->s, out);
  case U_RSUBS: return rl_rsub_scalar(a, c->s, out);
  case U_RDIVS: return rl_rdiv_scalar(a, c->s, out);
  case U_CLAMP: return rl_clamp(a, c->lo, c->hi, out);
  case U_NEG: return rl_neg(a, out);
  case U_ABS: return rl_abs(a, out);
  case U_SIGN: return rl_sign(a, out);
  case U_EXP: return rl_exp(a, out);
  case U_LOG: return rl_log(a, out);
  default: return rl_sqrt(a, out);
  }
}

static rl_status f_unary(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const un_case *c = ud;
  rl_tensor *t = NULL;
  rl_status st;
  if (!c->transpose) return un_apply(c, in[0], out);
  if ((st = rl_tensor_view_transpose(in[0], 0, 1, &t))) return st;
  st = un_apply(c, t, out);
  rl_tensor_release(t);
  return st;
}

static void test_unary_grad(void **state) {
  (void)state;
  const un_case cases[] = {
      {.op = U_ADDS, .s = 1.5f},
      {.op = U_MULS, .s = -2.5f},
      {.op = U_POWS, .s = 2},
      {.op = U_POWS, .s = 3},
      {.op = U_POWS, .s = 0.5f},
      {.op = U_POWS, .s = -1.5f},
      {.op = U_POWS, .s = 0},
      {.op = U_RSUBS, .s = 4},
      {.op = U_RDIVS, .s = 3},
      {.op = U_NEG},
      {.op = U_ABS},
      {.op = U_SIGN},
      {.op = U_EXP},
      {.op = U_LOG},
      {.op = U_SQRT},
  };
  static const int64_t sh[][3] = {{5}, {2, 3}, {2, 3, 4}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (int s = 0; s < 3; s++)
      for (int tr = 0; tr < (s ? 2 : 1); tr++) {
        un_case c = cases[i];
        c.transpose = tr;
        int pos =
            c.op == U_LOG || c.op == U_SQRT || (c.op == U_POWS && c.s != 2 && c.s != 3 && c.s != 0);
        rl_tensor *in = pos ? positive(s + 1, sh[s], 20 + i) : tu_randn(s + 1, sh[s], 20 + i, 0.2f);
        tu_gradcheck(f_unary, 1, &in, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
        rl_tensor_release(in);
      }
  /* clamp: points kept away from the bounds */
  rl_tensor *in = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(-2, -0.8f, -0.3f, 0.2f, 0.7f, 1.5f));
  for (int tr = 0; tr < 2; tr++) {
    un_case c = {.op = U_CLAMP, .lo = -0.5f, .hi = 0.5f, .transpose = tr};
    tu_gradcheck(f_unary, 1, &in, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
  }
  rl_tensor_release(in);
  tu_assert_no_leaks();
}

static void test_unary_values(void **state) {
  (void)state;
  rl_tensor *a = tu_tensor(1, TU_SHAPE(5), TU_DATA(-2, -0.5f, 0, 1, 4)), *y = NULL, *g = NULL;
  struct {
    un_case c;
    float want[5], grad[5];
  } v[] = {
      {{.op = U_ADDS, .s = 1}, {-1, 0.5f, 1, 2, 5}, {1, 1, 1, 1, 1}},
      {{.op = U_MULS, .s = 3}, {-6, -1.5f, 0, 3, 12}, {3, 3, 3, 3, 3}},
      {{.op = U_POWS, .s = 2}, {4, 0.25f, 0, 1, 16}, {-4, -1, 0, 2, 8}},
      {{.op = U_POWS, .s = 0}, {1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}},
      {{.op = U_RSUBS, .s = 1}, {3, 1.5f, 1, 0, -3}, {-1, -1, -1, -1, -1}},
      {{.op = U_CLAMP, .s = 0, .lo = -1, .hi = 1}, {-1, -0.5f, 0, 1, 1}, {0, 1, 1, 1, 0}},
      {{.op = U_CLAMP, .s = 0, .lo = -INFINITY, .hi = 0.5f},
       {-2, -0.5f, 0, 0.5f, 0.5f},
       {1, 1, 1, 0, 0}},
      {{.op = U_NEG}, {2, 0.5f, 0, -1, -4}, {-1, -1, -1, -1, -1}},
      {{.op = U_ABS}, {2, 0.5f, 0, 1, 4}, {-1, -1, 0, 1, 1}},
      {{.op = U_SIGN}, {-1, -1, 0, 1, 1}, {0, 0, 0, 0, 0}},
      {{.op = U_EXP},
       {expf(-2), expf(-0.5f), 1, expf(1), expf(4)},
       {expf(-2), expf(-0.5f), 1, expf(1), expf(4)}},
      {{.op = U_RDIVS, .s = 2}, {-1, -4, INFINITY, 2, 0.5f}, {-0.5f, -8, -INFINITY, -2, -0.125f}},
      {{.op = U_SQRT}, {NAN, NAN, 0, 1, 2}, {NAN, NAN, INFINITY, 0.5f, 0.25f}},
      {{.op = U_LOG}, {NAN, NAN, -INFINITY, 0, logf(4)}, {-0.5f, -2, INFINITY, 1, 0.25f}},
  };
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    TU_OK(un_apply(&v[i].c, a, &y));
    tu_assert_values(y, 5, v[i].want);
    TU_OK(rl_tape_backward(y, NULL, 1, &a, &g, NULL));
    tu_assert_values(g, 5, v[i].grad);
    rl_tensor_release(g);
    rl_tensor_release(y);
  }
  rl_tensor_release(a);
  /* NaN stays NaN through sign (unlike torch, like numpy), clamp and abs */
  rl_tensor *n = tu_tensor(1, TU_SHAPE(1), TU_DATA(NAN));
  TU_OK(rl_sign(n, &y));
  tu_assert_values(y, 1, TU_DATA(NAN));
  rl_tensor_release(y);
  TU_OK(rl_clamp(n, -1, 1, &y));
  tu_assert_values(y, 1, TU_DATA(NAN));
  rl_tensor_release(y);
  TU_OK(rl_abs(n, &y));
  tu_assert_values(y, 1, TU_DATA(NAN));
  rl_tensor_release(y);
  rl_tensor_release(n);
  tu_assert_no_leaks();
}

static void test_unary_errors(void **state) {
  (void)state;
  rl_tensor *a = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &a));
  tu_assert_error(rl_clamp(a, 1, -1, &y), RL_EARG, "clamp: lower bound 1 is not <= upper bound -1");
  assert_null(y);
  tu_assert_error(rl_clamp(a, NAN, 1, &y), RL_EARG, "clamp: lower bound nan");
  tu_assert_error(rl_exp(NULL, &y), RL_EARG, "exp: input 1 (input) is missing");
  rl_tensor_release(a);
  tu_assert_no_leaks();
}
/* A rule may rerun a backward on other inputs: ones that do not fit the
** gradient are an error, not a wrong answer. */
static void test_backward_on_other_inputs(void **state) {
  (void)state;
  rl_tensor *a = tu_randn(2, TU_SHAPE(2, 3), 1, 0), *b = tu_randn(1, TU_SHAPE(3), 2, 0);
  rl_tensor *y = NULL, *e = NULL, *ms = NULL, *gin[2] = {0};
  rl_tensor *wide = tu_randn(2, TU_SHAPE(4, 3), 3, 0),
            *mask = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 0, 1));
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_mul(a, b, &y));
  /* fitting substitutes give the gradient at them: d(a' * b')/da' = b' */
  TU_OK(rl_node_backward(y->node, (rl_tensor *[]){a, a}, y, NULL, gin));
  rl_tensor *want = NULL;
  TU_OK(rl_mul(y, a, &want));
  tu_assert_close(gin[0], want, 1e-6, 1e-6);
  rl_tensor_release(want);
  rl_tensor_release(gin[0]);
  rl_tensor_release(gin[1]);
  tu_assert_error(
      rl_node_backward(y->node, (rl_tensor *[]){wide, b}, y, NULL, gin), RL_ESHAPE,
      "backward of mul: gradient [2 x 3] does not fit the output [4 x 3] of these inputs");
  assert_null(gin[0]);
  TU_OK(rl_exp(a, &e));
  tu_assert_error(rl_node_backward(e->node, &wide, e, NULL, gin), RL_ESHAPE, "backward of exp");
  TU_OK(rl_masked_select(a, mask, &ms)); /* 4 elements */
  tu_assert_error(rl_node_backward(ms->node, (rl_tensor *[]){wide, mask}, ms, NULL, gin), RL_ESHAPE,
                  "backward of masked_select: gradient [4] does not fit the output [8]");
  rl_tensor *all[] = {a, b, y, e, ms, wide, mask};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== the tape, allocation failures */

static void test_diamond(void **state) {
  (void)state;
  /* y = a*a + a reaches a three ways; dy/da = 2a + 1 */
  rl_tensor *a = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(-1, 0, 0.5f, 3)), *sq = NULL, *y = NULL,
            *g = NULL;
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_mul(a, a, &sq));
  TU_OK(rl_add(sq, a, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &a, &g, NULL));
  tu_assert_values(g, 4, TU_DATA(-1, 1, 2, 7));
  rl_tensor_release(g);
  /* an intermediate as well as the leaf, with a seed */
  rl_tensor *seed = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 2, 3, 4)), *gs[2] = {0};
  TU_OK(rl_tape_backward(y, seed, 2, (rl_tensor *[]){a, sq}, gs, NULL));
  tu_assert_values(gs[0], 4, TU_DATA(-1, 2, 6, 28));
  tu_assert_values(gs[1], 4, TU_DATA(1, 2, 3, 4));
  rl_tensor_release(gs[0]);
  rl_tensor_release(gs[1]);
  /* a longer chain through unary ops: d/da exp(-a) * 3 = -3 exp(-a) */
  rl_tensor *n = NULL, *e = NULL, *z = NULL;
  TU_OK(rl_neg(a, &n));
  TU_OK(rl_exp(n, &e));
  TU_OK(rl_mul_scalar(e, 3, &z));
  TU_OK(rl_tape_backward(z, NULL, 1, &a, &g, NULL));
  tu_assert_values(g, 4, TU_DATA(-3 * expf(1), -3, -3 * expf(-0.5f), -3 * expf(-3)));
  rl_tensor_release(g);
  rl_tensor *all[] = {a, sq, y, seed, n, e, z};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  assert_int_equal(rl_node_live_count(), 0);
  tu_assert_no_leaks();
}

typedef struct nomem_ud {
  rl_tensor *a, *b, *out, *grads[2];
  int backward;
} nomem_ud;

static rl_status call_add(void *p) {
  nomem_ud *u = p;
  rl_tensor *y = NULL;
  rl_status st = rl_add(u->a, u->b, &y);
  if (st || !u->backward) {
    u->out = y;
    return st;
  }
  st = rl_tape_backward(y, NULL, 2, (rl_tensor *[]){u->a, u->b}, u->grads, NULL);
  rl_tensor_release(y);
  return st;
}

static rl_status call_unary(void *p) {
  nomem_ud *u = p;
  rl_tensor *y = NULL, *t = NULL;
  rl_status st = rl_tensor_view_transpose(u->a, 0, 1, &t);
  if (st) return st;
  st = rl_rdiv_scalar(t, 2, &y);
  rl_tensor_release(t);
  if (st) return st;
  st = rl_tape_backward(y, NULL, 1, &u->a, u->grads, NULL);
  rl_tensor_release(y);
  return st;
}

static rl_status call_masked_select(void *p) {
  nomem_ud *u = p;
  rl_tensor *y = NULL;
  rl_status st = rl_masked_select(u->a, u->b, &y);
  if (st) return st;
  st = rl_tape_backward(y, NULL, 1, &u->a, u->grads, NULL);
  rl_tensor_release(y);
  return st;
}

static void release_ud(void *p) {
  nomem_ud *u = p;
  rl_tensor_release(u->out);
  rl_tensor_release(u->grads[0]);
  rl_tensor_release(u->grads[1]);
  u->out = u->grads[0] = u->grads[1] = NULL;
}

static void test_nomem(void **state) {
  (void)state;
  nomem_ud u = {
      tu_randn(3, TU_SHAPE(2, 1, 4), 1, 0), tu_randn(2, TU_SHAPE(3, 1), 2, 0), NULL, {0}, 0};
  assert_true(tu_nomem_sweep(call_add, release_ud, &u) >= 1);
  TU_OK(rl_tensor_set_requires_grad(u.a, 1));
  TU_OK(rl_tensor_set_requires_grad(u.b, 1));
  assert_true(tu_nomem_sweep(call_add, release_ud, &u) >= 3);
  u.backward = 1;
  assert_true(tu_nomem_sweep(call_add, release_ud, &u) >= 6);
  rl_tensor_release(u.a);
  rl_tensor_release(u.b);
  u.a = tu_randn(2, TU_SHAPE(3, 2), 3, 0.5f);
  TU_OK(rl_tensor_set_requires_grad(u.a, 1));
  assert_true(tu_nomem_sweep(call_unary, release_ud, &u) >= 4);
  u.b = tu_tensor(1, TU_SHAPE(2), TU_DATA(1, 0));
  assert_true(tu_nomem_sweep(call_masked_select, release_ud, &u) >= 4);
  rl_tensor_release(u.a);
  rl_tensor_release(u.b);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_grad),
      cmocka_unit_test(test_sub_grad),
      cmocka_unit_test(test_mul_grad),
      cmocka_unit_test(test_div_grad),
      cmocka_unit_test(test_pow_grad),
      cmocka_unit_test(test_minimum_grad),
      cmocka_unit_test(test_maximum_grad),
      cmocka_unit_test(test_binary_values),
      cmocka_unit_test(test_binary_grad_values),
      cmocka_unit_test(test_binary_errors),
      cmocka_unit_test(test_binary_large),
      cmocka_unit_test(test_where),
      cmocka_unit_test(test_masked_select),
      cmocka_unit_test(test_unary_grad),
      cmocka_unit_test(test_unary_values),
      cmocka_unit_test(test_unary_errors),
      cmocka_unit_test(test_backward_on_other_inputs),
      cmocka_unit_test(test_diamond),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
