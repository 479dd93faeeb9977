/* test_flatten.c: Flatten: shapes, views, negative dims, gradients, errors. */
#include "testutil.h"

typedef struct fl_case { int start, end, transpose; } fl_case;

static rl_status fl_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const fl_case *c = ud;
  rl_tensor *t = NULL, *f = NULL;
  rl_status st;
  if (c->transpose && (st = rl_tensor_view_transpose(in[0], 0, -1, &t))) return st;
  if ((st = rl_flatten(t ? t : in[0], c->start, c->end, &f)) == RL_OK) {
    st = rl_tanh(f, out); /* something non-linear after it, so routing errors show */
    rl_tensor_release(f);
  }
  rl_tensor_release(t);
  return st;
}

static void expect_shape(rl_tensor *x, int start, int end, int ndim, const int64_t *shape) {
  rl_tensor *y = NULL;
  TU_OK(rl_flatten(x, start, end, &y));
  assert_int_equal(y->ndim, ndim);
  for (int i = 0; i < ndim; i++) assert_int_equal(y->shape[i], shape[i]);
  rl_tensor_release(y);
}

static void test_shapes(void **state) {
  (void)state;
  rl_tensor *x = NULL, *y = NULL;
  TU_OK(rl_tensor_arange(0, 120, 1, &y));
  TU_OK(rl_tensor_view_reshape(y, 4, TU_SHAPE(2, 3, 4, 5), &x));
  rl_tensor_release(y);
  expect_shape(x, 1, -1, 2, TU_SHAPE(2, 60));
  expect_shape(x, 0, 1, 3, TU_SHAPE(6, 4, 5));
  expect_shape(x, -2, -1, 3, TU_SHAPE(2, 3, 20));
  expect_shape(x, 2, 2, 4, TU_SHAPE(2, 3, 4, 5));
  expect_shape(x, 0, -1, 1, TU_SHAPE(120));
  /* contiguous: a view of the same storage, values in order */
  TU_OK(rl_flatten(x, 1, 3, &y));
  assert_ptr_equal(y->storage, x->storage);
  assert_float_equal(rl_tensor_get(y, TU_SHAPE(1, 7)), 67.0f, 0);
  rl_tensor_release(y);
  /* non-contiguous: copied, values in the view's order */
  rl_tensor *t = NULL;
  TU_OK(rl_tensor_view_transpose(x, 2, 3, &t));
  TU_OK(rl_flatten(t, 2, 3, &y));
  assert_int_equal(y->shape[2], 20);
  assert_float_equal(rl_tensor_get(y, TU_SHAPE(0, 0, 1)), 5.0f, 0); /* t[0][0][0][1] = x[0][0][1][0] */
  rl_tensor_release(y);
  rl_tensor_release(t);
  rl_tensor_release(x);
  /* a 0-dim tensor becomes [1], as in PyTorch */
  TU_OK(rl_tensor_full(0, TU_SHAPE(1), 4, &x));
  expect_shape(x, 0, -1, 1, TU_SHAPE(1));
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_gradcheck(void **state) {
  (void)state;
  static const fl_case cases[] = {{1, -1, 0}, {0, 1, 1}, {-2, -1, 1}, {0, -1, 0}};
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 3, 0);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) tu_gradcheck(fl_fn, 1, &x, NULL, (void *)&cases[c], NULL);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(2, 3, 4, 5), &x));
  tu_assert_error(rl_flatten(x, 2, 1, &y), RL_EARG, "flatten: start_dim 2 comes after end_dim 1 for [2 x 3 x 4 x 5]");
  assert_null(y);
  tu_assert_error(rl_flatten(x, 1, 4, &y), RL_EARG, "flatten: end_dim 4 is out of range for [2 x 3 x 4 x 5]");
  tu_assert_error(rl_flatten(x, -5, 3, &y), RL_EARG, "flatten: start_dim -5 is out of range");
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static rl_status recorded_flatten(void *ud) {
  rl_tensor **g = ud, *x = NULL, *t = NULL, *y = NULL;
  rl_status st;
  *g = NULL;
  if ((st = rl_tensor_ones(3, TU_SHAPE(2, 3, 4), &x))) return st;
  if (!(st = rl_tensor_set_requires_grad(x, 1)) && !(st = rl_tensor_view_transpose(x, 0, 2, &t)) &&
      !(st = rl_flatten(t, 0, 1, &y)))
    st = rl_tape_backward(y, NULL, 1, &x, g, NULL);
  rl_tensor_release(y);
  rl_tensor_release(t);
  rl_tensor_release(x);
  return st;
}

static void release_g(void *ud) { rl_tensor_release(*(rl_tensor **)ud); }

static void test_nomem(void **state) {
  (void)state;
  rl_tensor *g = NULL;
  assert_true(tu_nomem_sweep(recorded_flatten, release_g, &g) >= 5);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes), cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_errors), cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
