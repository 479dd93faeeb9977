/* test_loss.c: cross-entropy: values, stability, gradient to the logits only, target checks. */
#include <math.h>

#include "testutil.h"

typedef struct ce_case { int transpose; } ce_case;

/* in[0] logits (checked), in[1] targets (not). */
static rl_status ce_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const ce_case *c = ud;
  rl_tensor *t = NULL;
  rl_status st;
  if (c->transpose && (st = rl_tensor_view_transpose(in[0], 0, 1, &t))) return st;
  st = rl_cross_entropy(t ? t : in[0], in[1], out);
  rl_tensor_release(t);
  return st;
}

static float loss_of(rl_tensor *logits, rl_tensor *targets) {
  rl_tensor *l = NULL;
  TU_OK(rl_cross_entropy(logits, targets, &l));
  assert_int_equal(l->ndim, 0);
  float v = rl_tensor_data(l)[0];
  rl_tensor_release(l);
  return v;
}

static void test_known_values(void **state) {
  (void)state;
  /* uniform logits: every class has probability 1/C, the loss is log C */
  rl_tensor *z = NULL, *t = tu_tensor(1, TU_SHAPE(4), TU_DATA(0, 6, 9, 3));
  TU_OK(rl_tensor_full(2, TU_SHAPE(4, 10), 2.5f, &z));
  assert_float_equal(loss_of(z, t), logf(10), 1e-6);
  rl_tensor_release(z);
  rl_tensor_release(t);
  /* -log softmax([1, 2, 3])[2] = 0.40760596; [1] of the same row: 1.40760596 */
  rl_tensor *x = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, 1, 2, 3));
  t = tu_tensor(1, TU_SHAPE(2), TU_DATA(2, 1));
  assert_float_equal(loss_of(x, t), (0.40760596f + 1.40760596f) / 2, 1e-6);
  rl_tensor_release(x);
  rl_tensor_release(t);
  /* huge logits: no overflow */
  x = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1000, 0, 1000, 0));
  t = tu_tensor(1, TU_SHAPE(2), TU_DATA(1, 0));
  assert_float_equal(loss_of(x, t), 500.0f, 1e-3);
  rl_tensor_release(x);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

/* d loss / d logits = (softmax - onehot) / N, scaled by the incoming gradient;
** the targets get none. */
static void test_known_gradient(void **state) {
  (void)state;
  rl_tensor *x = NULL, *t = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, 1)), *l = NULL, *seed = NULL;
  rl_tensor *g[2] = {0};
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 2), &x));
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  TU_OK(rl_cross_entropy(x, t, &l));
  TU_OK(rl_tensor_full(0, TU_SHAPE(1), 3, &seed));
  TU_OK(rl_tape_backward(l, seed, 2, (rl_tensor *[]){x, t}, g, NULL));
  rl_tensor *e = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(-0.75f, 0.75f, 0.75f, -0.75f));
  tu_assert_close(g[0], e, 1e-7, 0);
  assert_float_equal(rl_tensor_data(g[1])[0], 0, 0);
  assert_float_equal(rl_tensor_data(g[1])[1], 0, 0);
  rl_tensor *ts[] = {x, t, l, seed, e, g[0], g[1]};
  for (int i = 0; i < 7; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static void test_gradcheck(void **state) {
  (void)state;
  static const int64_t shapes[][2] = {{1, 3}, {4, 5}, {8, 10}};
  for (int s = 0; s < 3; s++)
    for (int tr = 0; tr < 2; tr++) {
      int64_t n = shapes[s][0], c = shapes[s][1];
      /* transposed: the stored tensor is [C x N] and the loss sees its [N x C] view */
      rl_tensor *in[2] = {tu_randn(2, tr ? TU_SHAPE(c, n) : TU_SHAPE(n, c), 40 + s, 0), NULL};
      float tg[8];
      for (int64_t i = 0; i < n; i++) tg[i] = (float)((i * 7 + s) % c);
      in[1] = tu_tensor(1, &n, tg);
      ce_case cc = {tr};
      tu_gradcheck(ce_fn, 2, in, (const int[]){1, 0}, &cc, NULL);
      rl_tensor_release(in[0]);
      rl_tensor_release(in[1]);
    }
  tu_assert_no_leaks();
}

/* Enough rows for the parallel loops; the gradient of each row sums to 0. */
static void test_large(void **state) {
  (void)state;
  int64_t n = 512, c = 100;
  rl_tensor *x = tu_randn(2, TU_SHAPE(512, 100), 9, 0), *t = NULL, *l = NULL, *g = NULL;
  TU_OK(rl_tensor_zeros(1, &n, &t));
  double ref = 0;
  for (int64_t i = 0; i < n; i++) {
    rl_tensor_data(t)[i] = (float)(i % c);
    const float *r = rl_tensor_data(x) + i * c;
    double s = 0;
    for (int64_t j = 0; j < c; j++) s += exp(r[j]);
    ref += log(s) - r[i % c];
  }
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_cross_entropy(x, t, &l));
  assert_float_equal(rl_tensor_data(l)[0], ref / n, 1e-5);
  TU_OK(rl_tape_backward(l, NULL, 1, &x, &g, NULL));
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    for (int64_t j = 0; j < c; j++) s += rl_tensor_data(g)[i * c + j];
    assert_float_equal(s, 0, 1e-7);
    assert_true(rl_tensor_data(g)[i * c + i % c] < 0);
  }
  rl_tensor *ts[] = {x, t, l, g};
  for (int i = 0; i < 4; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *x1 = NULL, *t = NULL, *t3 = NULL, *l = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &x));
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &x1));
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &t3));
  tu_assert_error(rl_cross_entropy(x1, t3, &l), RL_ESHAPE, "cross_entropy: logits [3] must be N x C");
  assert_null(l);
  tu_assert_error(rl_cross_entropy(x, t3, &l), RL_ESHAPE, "cross_entropy: logits [2 x 3] need targets [2], got [3]");
  t = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, 1.5f));
  tu_assert_error(rl_cross_entropy(x, t, &l), RL_EARG,
                  "cross_entropy: target of sample 2 is 1.5, not a class index in 0..2 (logits [2 x 3])");
  rl_tensor_data(t)[1] = 3;
  tu_assert_error(rl_cross_entropy(x, t, &l), RL_EARG, "target of sample 2 is 3, not a class index in 0..2");
  rl_tensor_data(t)[0] = -1;
  tu_assert_error(rl_cross_entropy(x, t, &l), RL_EARG, "target of sample 1 is -1");
  rl_tensor_data(t)[0] = NAN;
  tu_assert_error(rl_cross_entropy(x, t, &l), RL_EARG, "target of sample 1 is nan");
  tu_assert_error(rl_cross_entropy(x, NULL, &l), RL_EARG, "cross_entropy: input 2 (target) is missing");
  rl_tensor *ts[] = {x, x1, t, t3};
  for (int i = 0; i < 4; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static rl_status recorded_ce(void *ud) {
  rl_tensor **g = ud, *x = NULL, *tr = NULL, *t = NULL, *l = NULL;
  rl_status st;
  *g = NULL;
  if ((st = rl_tensor_rand_normal(2, TU_SHAPE(5, 3), 0, 1, NULL, &x))) return st;
  if (!(st = rl_tensor_zeros(1, TU_SHAPE(3), &t)) && !(st = rl_tensor_set_requires_grad(x, 1)) &&
      !(st = rl_tensor_view_transpose(x, 0, 1, &tr)) && !(st = rl_cross_entropy(tr, t, &l)))
    st = rl_tape_backward(l, NULL, 1, &x, g, NULL);
  rl_tensor_release(l);
  rl_tensor_release(t);
  rl_tensor_release(tr);
  rl_tensor_release(x);
  return st;
}

static void release_g(void *ud) { rl_tensor_release(*(rl_tensor **)ud); }

static void test_nomem(void **state) {
  (void)state;
  rl_tensor *g = NULL;
  assert_true(tu_nomem_sweep(recorded_ce, release_g, &g) >= 6);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values), cmocka_unit_test(test_known_gradient),
      cmocka_unit_test(test_gradcheck),    cmocka_unit_test(test_large),
      cmocka_unit_test(test_errors),       cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
