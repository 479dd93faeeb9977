/* test_dropout.c: Dropout: identity at inference, a seeded scaled mask in training, gradients. */
#include <math.h>

#include "testutil.h"

typedef struct do_case {
  rl_dropout_params p;
  int transpose;
} do_case;

static rl_status do_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const do_case *c = ud;
  rl_tensor *t = NULL;
  rl_status st;
  if (c->transpose && (st = rl_tensor_view_transpose(in[0], 0, -1, &t))) return st;
  st = rl_dropout(t ? t : in[0], &c->p, out);
  rl_tensor_release(t);
  return st;
}

static void test_eval_is_identity(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(3, 4), 1, 0), *y = NULL, *g = NULL;
  rl_dropout_params p = {0.5f, 0, 9};
  TU_OK(rl_dropout(x, &p, &y));
  tu_assert_close(y, x, 0, 0);
  assert_ptr_equal(y->storage, x->storage); /* a view, no copy */
  rl_tensor_release(y);
  /* still recorded: the gradient passes through unchanged */
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_dropout(x, &p, &y));
  assert_non_null(y->node);
  TU_OK(rl_tape_backward(y, x, 1, &x, &g, NULL));
  tu_assert_close(g, x, 0, 0);
  rl_tensor_release(g);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_training_mask(void **state) {
  (void)state;
  int64_t n = 10000;
  rl_tensor *x = NULL, *y1 = NULL, *y2 = NULL, *y3 = NULL;
  TU_OK(rl_tensor_ones(1, &n, &x));
  rl_dropout_params p = {0.3f, 1, 42};
  TU_OK(rl_dropout(x, &p, &y1));
  TU_OK(rl_dropout(x, &p, &y2));
  p.seed = 43;
  TU_OK(rl_dropout(x, &p, &y3));
  /* same seed, same mask; another seed, another mask */
  assert_memory_equal(rl_tensor_data(y1), rl_tensor_data(y2), (size_t)n * sizeof(float));
  assert_memory_not_equal(rl_tensor_data(y1), rl_tensor_data(y3), (size_t)n * sizeof(float));
  /* each value dropped or scaled by 1/(1 - p); about p of them dropped (sd 46 here) */
  const float *py = rl_tensor_data(y1);
  int64_t zeros = 0;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    if (py[i] == 0) zeros++;
    else assert_float_equal(py[i], 1 / 0.7f, 1e-6);
    sum += py[i];
  }
  assert_true(zeros > 2800 && zeros < 3200);
  assert_float_equal(sum / (double)n, 1.0, 0.04); /* the mean is kept */
  rl_tensor_release(y1);
  rl_tensor_release(y2);
  rl_tensor_release(y3);
  /* p = 0 keeps everything */
  p.p = 0;
  TU_OK(rl_dropout(x, &p, &y1));
  tu_assert_close(y1, x, 0, 0);
  rl_tensor_release(y1);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* The gradient is the mask that the forward applied. */
static void test_backward_uses_mask(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(5, 6), 3, 0.1f), *y = NULL, *g = NULL;
  rl_dropout_params p = {0.5f, 1, 7};
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_dropout(x, &p, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &x, &g, NULL));
  const float *px = rl_tensor_data(x), *py = rl_tensor_data(y), *pg = rl_tensor_data(g);
  int dropped = 0;
  for (int i = 0; i < 30; i++) {
    assert_float_equal(pg[i], py[i] == 0 ? 0.0f : 2.0f, 0);
    assert_float_equal(py[i], px[i] * pg[i], 1e-6);
    dropped += py[i] == 0;
  }
  assert_true(dropped > 0 && dropped < 30);
  rl_tensor_release(g);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_gradcheck(void **state) {
  (void)state;
  static const do_case cases[] = {
      {{0.5f, 1, 11}, 0}, {{0.2f, 1, 12}, 1}, {{0.5f, 0, 13}, 0}, {{0.9f, 1, 14}, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 20 + c, 0);
    tu_gradcheck(do_fn, 1, &x, NULL, (void *)&cases[c], NULL);
    rl_tensor_release(x);
  }
  tu_assert_no_leaks();
}

/* The strided path draws the mask in the output's order, like the contiguous one. */
static void test_strided_input(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(40, 30), 5, 0), *t = NULL, *c = NULL, *y1 = NULL, *y2 = NULL;
  rl_dropout_params p = {0.4f, 1, 99};
  TU_OK(rl_tensor_view_transpose(x, 0, 1, &t));
  TU_OK(rl_tensor_clone(t, &c));
  TU_OK(rl_dropout(t, &p, &y1));
  TU_OK(rl_dropout(c, &p, &y2));
  tu_assert_close(y1, y2, 0, 0);
  rl_tensor *ts[] = {x, t, c, y1, y2};
  for (int i = 0; i < 5; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &x));
  rl_dropout_params p = {1, 1, 0};
  tu_assert_error(rl_dropout(x, &p, &y), RL_EARG, "dropout: p = 1 must be in [0, 1)");
  assert_null(y);
  p = (rl_dropout_params){-0.1f, 0, 0}; /* checked at inference too */
  tu_assert_error(rl_dropout(x, &p, &y), RL_EARG, "dropout: p = -0.1 must be in [0, 1)");
  p.p = NAN;
  tu_assert_error(rl_dropout(x, &p, &y), RL_EARG, "dropout: p = nan");
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

typedef struct sweep { rl_tensor *g; } sweep;

static rl_status recorded_dropout(void *ud) {
  sweep *s = ud;
  rl_tensor *x = NULL, *y = NULL;
  rl_dropout_params p = {0.5f, 1, 3};
  rl_status st;
  s->g = NULL;
  if ((st = rl_tensor_ones(2, TU_SHAPE(4, 5), &x))) return st;
  if (!(st = rl_tensor_set_requires_grad(x, 1)) && !(st = rl_dropout(x, &p, &y)))
    st = rl_tape_backward(y, x, 1, &x, &s->g, NULL);
  rl_tensor_release(y);
  rl_tensor_release(x);
  return st;
}

static void release_g(void *ud) { rl_tensor_release(((sweep *)ud)->g); }

static void test_nomem(void **state) {
  (void)state;
  sweep s = {NULL};
  assert_true(tu_nomem_sweep(recorded_dropout, release_g, &s) >= 5);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_eval_is_identity), cmocka_unit_test(test_training_mask),
      cmocka_unit_test(test_backward_uses_mask), cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_strided_input),    cmocka_unit_test(test_errors),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
