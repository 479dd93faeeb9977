/* test_batchnorm.c: BatchNorm2d in inference and training mode: values, running stats, gradients. */
#include <math.h>

#include "testutil.h"

typedef struct bn_case {
  rl_tensor *rm, *rv;
  rl_batchnorm_params p;
  int transpose; /* normalise a view with H and W swapped (non-contiguous) */
} bn_case;

static rl_status bn_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  bn_case *c = ud;
  rl_tensor *x = in[0], *t = NULL;
  rl_status st;
  if (c->transpose && (st = rl_tensor_view_transpose(x, 2, 3, &t))) return st;
  st = rl_batchnorm2d(t ? t : x, in[1], in[2], c->rm, c->rv, &c->p, out);
  rl_tensor_release(t);
  return st;
}

static void test_inference_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 2, 1, 1), TU_DATA(3, 0));
  rl_tensor *g = tu_tensor(1, TU_SHAPE(2), TU_DATA(2, 1)), *b = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, 1));
  rl_tensor *rm = tu_tensor(1, TU_SHAPE(2), TU_DATA(1, -1)), *rv = tu_tensor(1, TU_SHAPE(2), TU_DATA(4, 0.25f));
  rl_tensor *y = NULL;
  rl_batchnorm_params p = {0, 0.1f, 0};
  TU_OK(rl_batchnorm2d(x, g, b, rm, rv, &p, &y));
  /* (3 - 1) / 2 * 2 + 0 = 2;  (0 + 1) / 0.5 * 1 + 1 = 3 */
  rl_tensor *e = tu_tensor(4, TU_SHAPE(1, 2, 1, 1), TU_DATA(2, 3));
  tu_assert_close(y, e, 1e-6, 0);
  /* inference leaves the running statistics alone */
  assert_float_equal(rl_tensor_data(rm)[0], 1, 0);
  assert_float_equal(rl_tensor_data(rv)[1], 0.25f, 0);
  rl_tensor_release(e);
  rl_tensor_release(y);
  rl_tensor *ts[] = {x, g, b, rm, rv};
  for (int i = 0; i < 5; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

/* A small example computed by hand. x is [2 x 2 x 1 x 2]:
**   channel 0 holds 1 2 | 3 6: mean 3, squares of deviations 4+1+0+9 = 14,
**     biased var 3.5, unbiased 14/3;
**   channel 1 holds 0 0 | 4 4: mean 2, squares 16, biased var 4, unbiased 16/3.
** With running stats (0, 1) and (1, 2) and momentum 0.1 PyTorch leaves
**   running_mean = 0.9 * (0, 1) + 0.1 * (3, 2)          = (0.3, 1.1)
**   running_var  = 0.9 * (1, 2) + 0.1 * (14/3, 16/3)    = (1.3666667, 2.3333333). */
static void test_training_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(4, TU_SHAPE(2, 2, 1, 2), TU_DATA(1, 2, 0, 0, 3, 6, 4, 4));
  rl_tensor *g = tu_tensor(1, TU_SHAPE(2), TU_DATA(1, 3)), *b = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, -1));
  /* running stats as strided views (columns of a [2 x 2] buffer): updated in place through strides */
  rl_tensor *buf = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(0, 1, 1, 2)), *rm = NULL, *rv = NULL, *y = NULL;
  TU_OK(rl_tensor_view_select(buf, 1, 0, &rm));
  TU_OK(rl_tensor_view_select(buf, 1, 1, &rv));
  assert_int_equal(rm->stride[0], 2);
  rl_batchnorm_params p = {1e-5f, 0.1f, 1};
  TU_OK(rl_batchnorm2d(x, g, b, rm, rv, &p, &y));
  rl_tensor *e = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(0.3f, 1.3666667f, 1.1f, 2.3333333f));
  tu_assert_close(buf, e, 1e-6, 1e-6);
  rl_tensor_release(e);
  /* channel 0 (gamma 1, beta 0): (x - 3) / sqrt(3.5 + 1e-5); channel 1: 3 * (+-2 / sqrt(4 + 1e-5)) - 1 */
  double s0 = sqrt(3.5 + 1e-5), s1 = 2 / sqrt(4 + 1e-5);
  e = tu_tensor(4, TU_SHAPE(2, 2, 1, 2),
                TU_DATA((float)(-2 / s0), (float)(-1 / s0), (float)(-3 * s1 - 1), (float)(-3 * s1 - 1),
                        0, (float)(3 / s0), (float)(3 * s1 - 1), (float)(3 * s1 - 1)));
  tu_assert_close(y, e, 1e-6, 1e-6);
  rl_tensor_release(e);
  rl_tensor_release(y);
  /* a second call moves the running stats again from where they are */
  TU_OK(rl_batchnorm2d(x, g, b, rm, rv, &p, &y));
  assert_float_equal(rl_tensor_data(buf)[0], 0.9f * 0.3f + 0.3f, 1e-6);
  rl_tensor_release(y);
  rl_tensor *ts[] = {x, g, b, rm, rv, buf};
  for (int i = 0; i < 6; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

/* Unit gamma, zero beta: every channel comes out with mean 0 and biased
** variance 1, whatever the input's scale and shift; large enough for the
** parallel loops. */
static void test_training_normalises(void **state) {
  (void)state;
  int64_t n = 8, c = 4, h = 33, w = 32;
  rl_tensor *x = tu_randn(4, TU_SHAPE(n, c, h, w), 7, 0), *g = NULL, *b = NULL, *rm = NULL, *rv = NULL, *y = NULL;
  float *px = rl_tensor_data(x);
  for (int64_t i = 0; i < n * c * h * w; i++) px[i] = px[i] * (float)(1 + i / (h * w) % c) + 5; /* scale by channel */
  TU_OK(rl_tensor_ones(1, &c, &g));
  TU_OK(rl_tensor_zeros(1, &c, &b));
  TU_OK(rl_tensor_zeros(1, &c, &rm));
  TU_OK(rl_tensor_ones(1, &c, &rv));
  rl_batchnorm_params p = {1e-5f, 0.1f, 1};
  TU_OK(rl_batchnorm2d(x, g, b, rm, rv, &p, &y));
  const float *py = rl_tensor_data(y);
  for (int64_t ch = 0; ch < c; ch++) {
    double s = 0, sq = 0, sx = 0;
    for (int64_t k = 0; k < n; k++)
      for (int64_t i = 0; i < h * w; i++) {
        s += py[(k * c + ch) * h * w + i];
        sq += (double)py[(k * c + ch) * h * w + i] * py[(k * c + ch) * h * w + i];
        sx += px[(k * c + ch) * h * w + i];
      }
    double m = n * h * w;
    assert_float_equal(s / m, 0.0, 1e-5);
    assert_float_equal(sq / m, 1.0, 1e-4);
    assert_float_equal(rl_tensor_data(rm)[ch], 0.1 * sx / m, 1e-4);
  }
  /* running_var moved towards the channel's variance (about (ch+1)^2) */
  assert_true(rl_tensor_data(rv)[3] > 0.9f + 0.1f * 15.0f && rl_tensor_data(rv)[3] < 0.9f + 0.1f * 17.0f);
  rl_tensor *ts[] = {x, g, b, rm, rv, y};
  for (int i = 0; i < 6; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static void gradcheck_shape(int ndim, const int64_t *shape, int training, int transpose, uint64_t seed) {
  int64_t c = shape[1];
  rl_tensor *in[3] = {tu_randn(ndim, shape, seed, 0), tu_randn(1, &c, seed + 1, 0.2f),
                      tu_randn(1, &c, seed + 2, 0)};
  bn_case bc = {tu_randn(1, &c, seed + 3, 0), NULL, {1e-5f, 0.1f, training}, transpose};
  TU_OK(rl_tensor_rand_uniform(1, &c, 0.5f, 2, NULL, &bc.rv));
  tu_gradcheck(bn_fn, 3, in, NULL, &bc, NULL);
  for (int i = 0; i < 3; i++) rl_tensor_release(in[i]);
  rl_tensor_release(bc.rm);
  rl_tensor_release(bc.rv);
}

static void test_gradcheck_inference(void **state) {
  (void)state;
  gradcheck_shape(4, TU_SHAPE(2, 3, 4, 4), 0, 0, 100);
  gradcheck_shape(4, TU_SHAPE(1, 2, 3, 5), 0, 1, 200);
  gradcheck_shape(2, TU_SHAPE(5, 3), 0, 0, 300);
  tu_assert_no_leaks();
}

static void test_gradcheck_training(void **state) {
  (void)state;
  gradcheck_shape(4, TU_SHAPE(2, 3, 4, 4), 1, 0, 400);
  gradcheck_shape(4, TU_SHAPE(3, 2, 2, 3), 1, 1, 500);
  gradcheck_shape(4, TU_SHAPE(1, 4, 3, 3), 1, 0, 600);
  gradcheck_shape(2, TU_SHAPE(6, 3), 1, 0, 700);
  tu_assert_no_leaks();
}

/* Buffers get no gradient, even when they are marked as needing one. */
static void test_no_gradient_to_running_stats(void **state) {
  (void)state;
  int64_t c = 3;
  rl_tensor *x = tu_randn(4, TU_SHAPE(2, 3, 2, 2), 1, 0), *g = tu_randn(1, &c, 2, 0), *b = tu_randn(1, &c, 3, 0);
  rl_tensor *rm = tu_randn(1, &c, 4, 0), *rv = NULL, *y = NULL, *grads[2] = {0};
  TU_OK(rl_tensor_ones(1, &c, &rv));
  TU_OK(rl_tensor_set_requires_grad(rm, 1));
  TU_OK(rl_tensor_set_requires_grad(rv, 1));
  for (int training = 0; training < 2; training++) {
    rl_batchnorm_params p = {1e-5f, 0.1f, training};
    TU_OK(rl_batchnorm2d(x, g, b, rm, rv, &p, &y));
    TU_OK(rl_tape_backward(y, NULL, 2, (rl_tensor *[]){rm, rv}, grads, NULL));
    for (int k = 0; k < 2; k++) {
      for (int i = 0; i < 3; i++) assert_float_equal(rl_tensor_data(grads[k])[i], 0, 0);
      rl_tensor_release(grads[k]);
    }
    rl_tensor_release(y);
  }
  rl_tensor *ts[] = {x, g, b, rm, rv};
  for (int i = 0; i < 5; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *c3 = NULL, *c4 = NULL, *m2 = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(2, 3, 4, 4), &x));
  TU_OK(rl_tensor_ones(1, TU_SHAPE(3), &c3));
  TU_OK(rl_tensor_ones(1, TU_SHAPE(4), &c4));
  TU_OK(rl_tensor_ones(2, TU_SHAPE(3, 1), &m2));
  rl_batchnorm_params p = {1e-5f, 0.1f, 0};
  tu_assert_error(rl_batchnorm2d(x, c3, c3, c4, c3, &p, &y), RL_ESHAPE,
                  "batchnorm2d: input [2 x 3 x 4 x 4] has 3 channels, running_mean [4] has 4");
  assert_null(y);
  tu_assert_error(rl_batchnorm2d(x, c4, c3, c3, c3, &p, &y), RL_ESHAPE,
                  "batchnorm2d: input [2 x 3 x 4 x 4] has 3 channels, weight [4] has 4");
  tu_assert_error(rl_batchnorm2d(x, c3, m2, c3, c3, &p, &y), RL_ESHAPE, "bias [3 x 1] has 3 (must be 1-D)");
  tu_assert_error(rl_batchnorm2d(x, c3, c3, c3, c4, &p, &y), RL_ESHAPE, "running_var [4] has 4");
  tu_assert_error(rl_batchnorm2d(x, NULL, c3, c3, c3, &p, &y), RL_EARG, "batchnorm2d: input 2 (weight) is missing");
  tu_assert_error(rl_batchnorm2d(c3, c3, c3, c3, c3, &p, &y), RL_ESHAPE,
                  "batchnorm2d: input [3] has no channel dim");
  p.eps = -1;
  tu_assert_error(rl_batchnorm2d(x, c3, c3, c3, c3, &p, &y), RL_EARG, "batchnorm2d: eps -1 must be finite and >= 0");
  p.eps = 1e-5f;
  p.momentum = 1.5f;
  tu_assert_error(rl_batchnorm2d(x, c3, c3, c3, c3, &p, &y), RL_EARG, "momentum 1.5 must be in [0, 1]");
  rl_tensor_release(x);
  /* training needs two values per channel to estimate a variance */
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(1, 3, 1, 1), &x));
  p = (rl_batchnorm_params){1e-5f, 0.1f, 1};
  tu_assert_error(rl_batchnorm2d(x, c3, c3, c3, c3, &p, &y), RL_ESHAPE,
                  "batchnorm2d: training needs more than 1 value per channel, input [1 x 3 x 1 x 1] has 1");
  assert_float_equal(rl_tensor_data(c3)[0], 1, 0); /* running stats untouched */
  p.training = 0;
  TU_OK(rl_batchnorm2d(x, c3, c3, c3, c3, &p, &y)); /* fine in inference */
  rl_tensor_release(y);
  rl_tensor *ts[] = {x, c3, c4, m2};
  for (int i = 0; i < 4; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

typedef struct sweep { int training; rl_tensor *g[3]; } sweep;

static rl_status recorded_bn(void *ud) {
  sweep *s = ud;
  int64_t c = 3;
  rl_tensor *in[5] = {0}, *t = NULL, *y = NULL;
  rl_status st;
  s->g[0] = s->g[1] = s->g[2] = NULL;
  rl_batchnorm_params p = {1e-5f, 0.1f, s->training};
  if ((st = rl_tensor_rand_normal(4, TU_SHAPE(2, 3, 2, 3), 0, 1, NULL, &in[0])) ||
      (st = rl_tensor_ones(1, &c, &in[1])) || (st = rl_tensor_zeros(1, &c, &in[2])) ||
      (st = rl_tensor_zeros(1, &c, &in[3])) || (st = rl_tensor_ones(1, &c, &in[4])))
    goto done;
  for (int i = 0; i < 3; i++)
    if ((st = rl_tensor_set_requires_grad(in[i], 1))) goto done;
  if ((st = rl_tensor_view_transpose(in[0], 2, 3, &t)) ||
      (st = rl_batchnorm2d(t, in[1], in[2], in[3], in[4], &p, &y)))
    goto done;
  st = rl_tape_backward(y, t, 3, in, s->g, NULL);
done:
  rl_tensor_release(y);
  rl_tensor_release(t);
  for (int i = 0; i < 5; i++) rl_tensor_release(in[i]);
  return st;
}

static void release_g(void *ud) {
  for (int i = 0; i < 3; i++) rl_tensor_release(((sweep *)ud)->g[i]);
}

static void test_nomem(void **state) {
  (void)state;
  for (int training = 0; training < 2; training++) {
    sweep s = {training, {0}};
    assert_true(tu_nomem_sweep(recorded_bn, release_g, &s) >= 10);
  }
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inference_values),    cmocka_unit_test(test_training_values),
      cmocka_unit_test(test_training_normalises), cmocka_unit_test(test_gradcheck_inference),
      cmocka_unit_test(test_gradcheck_training),  cmocka_unit_test(test_no_gradient_to_running_stats),
      cmocka_unit_test(test_errors),              cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
