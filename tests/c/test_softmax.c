/* test_softmax.c: softmax and log-softmax along every dim: values, stability, gradients, errors. */
#include <math.h>

#include "testutil.h"

typedef struct sm_case {
  int log, dim, transpose;
} sm_case;

static rl_status sm_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const sm_case *c = ud;
  rl_tensor *x = in[0], *t = NULL;
  rl_status st;
  if (c->transpose && (st = rl_tensor_view_transpose(x, 0, -1, &t))) return st;
  if (t) x = t;
  st = c->log ? rl_log_softmax(x, c->dim, out) : rl_softmax(x, c->dim, out);
  rl_tensor_release(t);
  return st;
}

static void test_known_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 3)), *y = NULL, *e = NULL;
  TU_OK(rl_softmax(x, 0, &y));
  /* e^k / (e + e^2 + e^3) */
  e = tu_tensor(1, TU_SHAPE(3), TU_DATA(0.09003057f, 0.24472847f, 0.66524096f));
  tu_assert_close(y, e, 1e-7, 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(e);
  TU_OK(rl_log_softmax(x, -1, &y));
  e = tu_tensor(1, TU_SHAPE(3), TU_DATA(-2.40760596f, -1.40760596f, -0.40760596f));
  tu_assert_close(y, e, 1e-6, 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(e);
  rl_tensor_release(x);
  /* subtracting the max: huge logits neither overflow nor lose the answer */
  x = tu_tensor(1, TU_SHAPE(3), TU_DATA(1001, 1002, 1003));
  TU_OK(rl_softmax(x, 0, &y));
  e = tu_tensor(1, TU_SHAPE(3), TU_DATA(0.09003057f, 0.24472847f, 0.66524096f));
  tu_assert_close(y, e, 1e-7, 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(e);
  rl_tensor_release(x);
  x = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(-1000, 0));
  TU_OK(rl_log_softmax(x, 0, &y));
  e = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(-1000, 0));
  tu_assert_close(y, e, 1e-6, 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(e);
  rl_tensor_release(x);
  /* a 0-dim tensor is a distribution over one value */
  TU_OK(rl_tensor_full(0, TU_SHAPE(1), 5, &x));
  TU_OK(rl_softmax(x, -1, &y));
  assert_int_equal(y->ndim, 0);
  assert_float_equal(rl_tensor_data(y)[0], 1.0f, 0);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* Along each dim of a 3-D tensor (strided inner slices, not just rows):
** softmax sums to 1 and log_softmax is its log. */
static void test_every_dim(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 5, 0);
  for (int dim = -3; dim < 3; dim++) {
    rl_tensor *s = NULL, *l = NULL;
    TU_OK(rl_softmax(x, dim, &s));
    TU_OK(rl_log_softmax(x, dim, &l));
    int d = dim < 0 ? dim + 3 : dim;
    const float *ps = rl_tensor_data(s), *pl = rl_tensor_data(l);
    for (int64_t i = 0; i < 24; i++) {
      assert_float_equal(pl[i], logf(ps[i]), 1e-5);
      int64_t idx[3] = {i / 12, i / 4 % 3, i % 4};
      if (idx[d] != 0) continue;
      double sum = 0;
      for (int64_t k = 0; k < s->shape[d]; k++) {
        idx[d] = k;
        sum += rl_tensor_get(s, idx);
      }
      assert_float_equal(sum, 1.0, 1e-6);
    }
    rl_tensor_release(s);
    rl_tensor_release(l);
  }
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_gradcheck(void **state) {
  (void)state;
  rl_tensor *x3 = tu_randn(3, TU_SHAPE(3, 4, 5), 11, 0);
  rl_tensor *x2 = tu_randn(2, TU_SHAPE(2, 6), 12, 0);
  rl_tensor *x1 = tu_randn(1, TU_SHAPE(7), 13, 0);
  for (int log = 0; log < 2; log++) {
    for (int dim = -1; dim < 2; dim++)
      for (int tr = 0; tr < 2; tr++) {
        sm_case c = {log, dim, tr};
        tu_gradcheck(sm_fn, 1, &x3, NULL, &c, NULL);
      }
    sm_case c0 = {log, 0, 0}, c1 = {log, 1, 1}, cl = {log, -1, 0};
    tu_gradcheck(sm_fn, 1, &x3, NULL, &c0, NULL);
    tu_gradcheck(sm_fn, 1, &x2, NULL, &c0, NULL);
    tu_gradcheck(sm_fn, 1, &x2, NULL, &c1, NULL);
    tu_gradcheck(sm_fn, 1, &x1, NULL, &cl, NULL);
  }
  rl_tensor_release(x1);
  rl_tensor_release(x2);
  rl_tensor_release(x3);
  tu_assert_no_leaks();
}

/* Large enough for the parallel loops: both the row and the slice kernels
** agree with a plain double-precision reference. */
static void test_large(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(300, 200), 21, 0);
  for (int dim = 0; dim < 2; dim++) {
    rl_tensor *y = NULL, *g = NULL;
    TU_OK(rl_softmax_forward(x, dim, &y));
    TU_OK(rl_softmax_backward_input(y, x, dim, &g)); /* x doubles as grad_output */
    const float *px = rl_tensor_data(x), *py = rl_tensor_data(y), *pg = rl_tensor_data(g);
    for (int64_t o = 0; o < (dim ? 300 : 200); o += 37) {
      int64_t step = dim ? 1 : 200, base = dim ? o * 200 : o, len = dim ? 200 : 300;
      double m = -INFINITY, s = 0, dot = 0;
      for (int64_t k = 0; k < len; k++) m = fmax(m, px[base + k * step]);
      for (int64_t k = 0; k < len; k++) s += exp(px[base + k * step] - m);
      for (int64_t k = 0; k < len; k++) dot += px[base + k * step] * exp(px[base + k * step] - m) / s;
      for (int64_t k = 0; k < len; k++) {
        double p = exp(px[base + k * step] - m) / s;
        assert_float_equal(py[base + k * step], p, 1e-6);
        assert_float_equal(pg[base + k * step], p * (px[base + k * step] - dot), 1e-5);
      }
    }
    rl_tensor_release(y);
    rl_tensor_release(g);
  }
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *g = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(2, 3, 4), &x));
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &g));
  tu_assert_error(rl_softmax(x, 3, &y), RL_EARG, "softmax: dim 3 is out of range for [2 x 3 x 4]");
  assert_null(y);
  tu_assert_error(rl_log_softmax(x, -4, &y), RL_EARG, "log_softmax: dim -4 is out of range for [2 x 3 x 4]");
  tu_assert_error(rl_softmax_backward_input(x, g, 0, &y), RL_ESHAPE,
                  "softmax_backward_input: grad_output [2 x 3] does not match output [2 x 3 x 4]");
  tu_assert_error(rl_log_softmax_backward_input(x, g, 0, &y), RL_ESHAPE, "log_softmax_backward_input");
  rl_tensor_release(x);
  rl_tensor_release(g);
  TU_OK(rl_tensor_full(0, TU_SHAPE(1), 1, &x));
  tu_assert_error(rl_softmax(x, 1, &y), RL_EARG, "softmax: dim 1 is out of range for []");
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

typedef struct sweep { int log, dim; rl_tensor *g; } sweep;

static rl_status recorded_softmax(void *ud) {
  sweep *s = ud;
  rl_tensor *x = NULL, *t = NULL, *y = NULL;
  rl_status st;
  s->g = NULL;
  if ((st = rl_tensor_rand_normal(3, TU_SHAPE(2, 3, 4), 0, 1, NULL, &x))) return st;
  if (!(st = rl_tensor_set_requires_grad(x, 1)) && !(st = rl_tensor_view_transpose(x, 0, 2, &t)) &&
      !(st = s->log ? rl_log_softmax(t, s->dim, &y) : rl_softmax(t, s->dim, &y)))
    st = rl_tape_backward(y, t, 1, &x, &s->g, NULL);
  rl_tensor_release(y);
  rl_tensor_release(t);
  rl_tensor_release(x);
  return st;
}

static void release_g(void *ud) { rl_tensor_release(((sweep *)ud)->g); }

static void test_nomem(void **state) {
  (void)state;
  for (int log = 0; log < 2; log++)
    for (int dim = 0; dim < 3; dim++) {
      sweep s = {log, dim, NULL};
      assert_true(tu_nomem_sweep(recorded_softmax, release_g, &s) >= 6);
    }
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values), cmocka_unit_test(test_every_dim),
      cmocka_unit_test(test_gradcheck),    cmocka_unit_test(test_large),
      cmocka_unit_test(test_errors),       cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
