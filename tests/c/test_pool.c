/* test_pool.c: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d: PyTorch's output
** sizes and divisors, indices, gradients, errors, allocation failures. */
#include "testutil.h"

static rl_pool2d_params pool(int64_t k, int64_t s, int64_t p, int ceil_mode) {
  rl_pool2d_params q = rl_pool2d_default_params(k, k);
  q.stride[0] = q.stride[1] = s;
  q.padding[0] = q.padding[1] = p;
  q.ceil_mode = ceil_mode;
  return q;
}

static void release_all(rl_tensor **ts, size_t n) {
  for (size_t i = 0; i < n; i++) rl_tensor_release(ts[i]);
}
#define RELEASE(...)                                                           \
  release_all((rl_tensor *[]){__VA_ARGS__}, sizeof((rl_tensor *[]){__VA_ARGS__}) / sizeof(rl_tensor *))

/* Distinct values 0.1 apart in a scrambled order: no ties, and a
** finite-difference step never changes a window's winner. */
static rl_tensor *spaced(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  rl_tensor *t = NULL;
  TU_OK(rl_tensor_new(4, TU_SHAPE(n, c, h, w), &t));
  float *p = rl_tensor_data(t);
  int64_t m = rl_tensor_numel(t);
  for (int64_t i = 0; i < m; i++) p[i] = (float)i * 0.1f - (float)m * 0.05f;
  rl_rng r;
  rl_rng_seed(&r, seed);
  for (int64_t i = m - 1; i > 0; i--) {
    int64_t j = (int64_t)(rl_rng_next(&r) % (uint64_t)(i + 1));
    float v = p[i];
    p[i] = p[j], p[j] = v;
  }
  return t;
}

/* {==================== MaxPool2d */

static void test_maxpool_known(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 1, 4, 4),
                           TU_DATA(1, 5, 2, 0, 3, 4, 8, 7, 9, -1, 6, 6.5f, 2, 10, 3, 11));
  rl_tensor *y = NULL, *idx = NULL, *gx = NULL;
  rl_pool2d_params p = rl_pool2d_default_params(2, 2);
  TU_OK(rl_maxpool2d_forward(x, &p, &y, &idx));
  rl_tensor *wy = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(5, 8, 10, 11));
  rl_tensor *wi = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(1, 6, 13, 15));
  tu_assert_close(y, wy, 0, 0);
  tu_assert_close(idx, wi, 0, 0);
  rl_tensor *gy = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(1, 2, 3, 4));
  TU_OK(rl_maxpool2d_backward_input(x, gy, idx, &gx));
  rl_tensor *wgx = tu_tensor(4, TU_SHAPE(1, 1, 4, 4), TU_DATA(0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 3, 0, 4));
  tu_assert_close(gx, wgx, 0, 0);
  RELEASE(y, idx, gx);
  /* kernel 3, stride 2, padding 1: the padding never wins, even over negatives */
  rl_tensor *neg = tu_tensor(4, TU_SHAPE(1, 1, 3, 3), TU_DATA(-9, -8, -7, -6, -5, -4, -3, -2, -1));
  p = pool(3, 2, 1, 0);
  TU_OK(rl_maxpool2d_forward(neg, &p, &y, &idx));
  rl_tensor *wy2 = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(-5, -4, -2, -1));
  rl_tensor *wi2 = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(4, 5, 7, 8));
  tu_assert_close(y, wy2, 0, 0);
  tu_assert_close(idx, wi2, 0, 0);
  RELEASE(y, idx);
  /* ties: the first maximum in the window wins, as in PyTorch */
  rl_tensor *ones = NULL;
  TU_OK(rl_tensor_ones(4, TU_SHAPE(1, 1, 4, 4), &ones));
  p = rl_pool2d_default_params(2, 2);
  TU_OK(rl_maxpool2d_forward(ones, &p, &y, &idx));
  rl_tensor *wi3 = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(0, 2, 8, 10));
  tu_assert_close(idx, wi3, 0, 0);
  RELEASE(x, wy, wi, gy, wgx, neg, wy2, wi2, ones, y, idx, wi3);
  tu_assert_no_leaks();
}

static void expect_size(int64_t h, int64_t k, int64_t s, int64_t pad, int ceil_mode, int64_t want) {
  rl_tensor *x = NULL, *y = NULL;
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(1, 1, h, h), &x));
  rl_pool2d_params p = pool(k, s, pad, ceil_mode);
  TU_OK(rl_maxpool2d_forward(x, &p, &y, NULL));
  if (y->shape[2] != want || y->shape[3] != want)
    fail_msg("maxpool %lld, kernel %lld stride %lld pad %lld ceil %d: %lld, PyTorch gives %lld",
             (long long)h, (long long)k, (long long)s, (long long)pad, ceil_mode,
             (long long)y->shape[2], (long long)want);
  RELEASE(y);
  p.count_include_pad = 1;
  TU_OK(rl_avgpool2d_forward(x, &p, &y));
  assert_int_equal(y->shape[2], want);
  RELEASE(x, y);
}

/* Sizes as PyTorch computes them (pooling_output_shape). */
static void test_output_sizes(void **state) {
  (void)state;
  expect_size(5, 2, 2, 0, 0, 2);
  expect_size(5, 2, 2, 0, 1, 3);
  expect_size(8, 3, 2, 0, 0, 3);
  expect_size(8, 3, 2, 0, 1, 4);
  expect_size(112, 3, 2, 1, 0, 56); /* ResNet's stem */
  expect_size(6, 3, 2, 1, 1, 4);
  expect_size(5, 2, 3, 1, 0, 2);
  expect_size(5, 2, 3, 1, 1, 2); /* a third window would start in the right padding */
  expect_size(4, 3, 2, 1, 1, 3);
  tu_assert_no_leaks();
}

static rl_status maxpool_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  return rl_maxpool2d(in[0], ud, out);
}

static void test_maxpool_gradcheck(void **state) {
  (void)state;
  rl_pool2d_params ps[6];
  ps[0] = rl_pool2d_default_params(2, 2);
  ps[1] = pool(3, 2, 1, 1);
  ps[2] = pool(3, 1, 1, 0);
  ps[2].dilation[0] = ps[2].dilation[1] = 2;
  ps[3] = pool(2, 3, 1, 1);
  ps[4] = rl_pool2d_default_params(2, 3);
  ps[4].stride[1] = 2;
  ps[4].padding[1] = 1;
  ps[5] = pool(3, 2, 0, 1);
  for (int i = 0; i < 6; i++) {
    rl_tensor *x = spaced(2, 2, 7, 6, 50 + (uint64_t)i);
    tu_gradcheck(maxpool_fn, 1, &x, NULL, &ps[i], &(tu_gradcheck_opts){.max_checks = 84});
    RELEASE(x);
  }
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== AvgPool2d */

static void test_avgpool_known(void **state) {
  (void)state;
  float v[9];
  for (int i = 0; i < 9; i++) v[i] = (float)(i + 1);
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 1, 3, 3), v), *y = NULL, *ones = NULL;
  rl_pool2d_params p = pool(2, 2, 0, 1);
  /* ceil mode: the windows past the edge average what they cover */
  TU_OK(rl_avgpool2d_forward(x, &p, &y));
  rl_tensor *w1 = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(3, 4.5f, 7.5f, 9));
  tu_assert_close(y, w1, 1e-6, 0);
  RELEASE(y);
  /* padding 1: with count_include_pad the padding is in the divisor */
  p = pool(2, 2, 1, 1);
  TU_OK(rl_avgpool2d_forward(x, &p, &y));
  rl_tensor *w2 = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(0.25f, 1.25f, 2.75f, 7));
  tu_assert_close(y, w2, 1e-6, 0);
  RELEASE(y);
  p.count_include_pad = 0;
  TU_OK(rl_avgpool2d_forward(x, &p, &y));
  rl_tensor *w3 = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(1, 2.5f, 5.5f, 7));
  tu_assert_close(y, w3, 1e-6, 0);
  RELEASE(y);
  /* a ceil-mode window that runs past the right padding counts only the
  ** padded input: 2 x 2 at the far corner, not 3 x 3 */
  TU_OK(rl_tensor_ones(4, TU_SHAPE(1, 1, 4, 4), &ones));
  p = pool(3, 2, 1, 1);
  TU_OK(rl_avgpool2d_forward(ones, &p, &y));
  const float a = 4.0f / 9, b = 2.0f / 6, c = 0.25f;
  rl_tensor *w4 = tu_tensor(4, TU_SHAPE(1, 1, 3, 3), TU_DATA(a, 6.0f / 9, b, 6.0f / 9, 1, 0.5f, b, 0.5f, c));
  tu_assert_close(y, w4, 1e-6, 0);
  RELEASE(y);
  p.count_include_pad = 0;
  TU_OK(rl_avgpool2d_forward(ones, &p, &y));
  rl_tensor *w5 = NULL;
  TU_OK(rl_tensor_ones(4, TU_SHAPE(1, 1, 3, 3), &w5));
  tu_assert_close(y, w5, 1e-6, 0);
  RELEASE(x, ones, y, w1, w2, w3, w4, w5);
  tu_assert_no_leaks();
}

static rl_status avgpool_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  return rl_avgpool2d(in[0], ud, out);
}

static void test_avgpool_gradcheck(void **state) {
  (void)state;
  rl_pool2d_params ps[6];
  ps[0] = rl_pool2d_default_params(2, 2);
  ps[1] = pool(3, 2, 1, 1);
  ps[2] = pool(3, 2, 1, 1);
  ps[2].count_include_pad = 0;
  ps[3] = rl_pool2d_default_params(2, 3);
  ps[3].stride[1] = 2;
  ps[3].padding[0] = ps[3].padding[1] = 1;
  ps[3].count_include_pad = 0;
  ps[4] = pool(2, 3, 1, 1);
  ps[5] = pool(3, 1, 1, 0);
  for (int i = 0; i < 6; i++) {
    rl_tensor *x = tu_randn(4, TU_SHAPE(2, 2, 7, 6), 70 + (uint64_t)i, 0);
    tu_gradcheck(avgpool_fn, 1, &x, NULL, &ps[i], &(tu_gradcheck_opts){.max_checks = 84});
    RELEASE(x);
  }
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== AdaptiveAvgPool2d */

static void test_adaptive_known(void **state) {
  (void)state;
  float v[49];
  for (int i = 0; i < 49; i++) v[i] = (float)(i % 7); /* x[r][c] = c */
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 1, 7, 7), v), *y = NULL, *y1 = NULL, *y5 = NULL;
  /* 7 -> 3: bins [0, 3), [2, 5), [4, 7) overlap by one */
  TU_OK(rl_adaptive_avgpool2d_forward(x, 3, 3, &y));
  rl_tensor *w = tu_tensor(4, TU_SHAPE(1, 1, 3, 3), TU_DATA(1, 3, 5, 1, 3, 5, 1, 3, 5));
  tu_assert_close(y, w, 1e-6, 0);
  TU_OK(rl_adaptive_avgpool2d_forward(x, 1, 1, &y1));
  assert_float_equal(rl_tensor_data(y1)[0], 3.0f, 1e-6);
  rl_tensor *x5 = tu_randn(4, TU_SHAPE(2, 3, 5, 5), 3, 0);
  TU_OK(rl_adaptive_avgpool2d_forward(x5, 5, 5, &y5));
  tu_assert_close(y5, x5, 0, 0);
  RELEASE(x, y, y1, w, x5, y5);
  tu_assert_no_leaks();
}

typedef struct osize { int64_t oh, ow; } osize;

static rl_status adaptive_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const osize *o = ud;
  return rl_adaptive_avgpool2d(in[0], o->oh, o->ow, out);
}

static void test_adaptive_gradcheck(void **state) {
  (void)state;
  static const struct { int64_t h, w; osize o; } cases[] = {
      {7, 7, {3, 3}}, {5, 5, {5, 5}}, {6, 5, {1, 1}}, {6, 5, {4, 2}}, {3, 4, {5, 7}}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    rl_tensor *x = tu_randn(4, TU_SHAPE(2, 2, cases[i].h, cases[i].w), 90 + i, 0);
    tu_gradcheck(adaptive_fn, 1, &x, NULL, (void *)&cases[i].o, NULL);
    RELEASE(x);
  }
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== errors */

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(1, 2, 4, 4), 1, 0), *x3 = tu_randn(3, TU_SHAPE(2, 4, 4), 2, 0);
  rl_tensor *y = (rl_tensor *)1, *idx = NULL;
  rl_pool2d_params p = pool(2, 2, 2, 0);
  tu_assert_error(rl_maxpool2d(x, &p, &y), RL_EARG,
                  "maxpool2d: padding 2 x 2 must be between 0 and half the kernel 2 x 2");
  assert_null(y);
  tu_assert_error(rl_avgpool2d(x, &p, &y), RL_EARG, "avgpool2d: padding 2 x 2");
  p = rl_pool2d_default_params(2, 2);
  tu_assert_error(rl_maxpool2d(x3, &p, &y), RL_ESHAPE, "maxpool2d: input [2 x 4 x 4] must be 4-D (N x C x H x W)");
  tu_assert_error(rl_avgpool2d(x3, &p, &y), RL_ESHAPE, "avgpool2d: input [2 x 4 x 4] must be 4-D");
  tu_assert_error(rl_adaptive_avgpool2d(x3, 1, 1, &y), RL_ESHAPE, "adaptive_avgpool2d: input [2 x 4 x 4] must be 4-D");
  p = rl_pool2d_default_params(5, 5);
  tu_assert_error(rl_maxpool2d(x, &p, &y), RL_ESHAPE,
                  "maxpool2d: input [1 x 2 x 4 x 4] is too small for kernel 5 x 5");
  p = rl_pool2d_default_params(0, 2);
  tu_assert_error(rl_maxpool2d(x, &p, &y), RL_EARG, "maxpool2d: kernel 0 x 2 must be >= 1");
  p = rl_pool2d_default_params(2, 2);
  p.stride[1] = 0;
  tu_assert_error(rl_maxpool2d(x, &p, &y), RL_EARG, "stride 2 x 0 must be >= 1");
  p = rl_pool2d_default_params(2, 2);
  p.dilation[0] = 2;
  tu_assert_error(rl_avgpool2d(x, &p, &y), RL_EARG, "avgpool2d: dilation 2 x 1 is not supported");
  tu_assert_error(rl_maxpool2d(x, NULL, &y), RL_EARG, "maxpool2d: params are missing");
  tu_assert_error(rl_adaptive_avgpool2d(x, 0, 2, &y), RL_EARG, "adaptive_avgpool2d: output size 0 x 2 must be >= 1");
  /* backward with mismatched shapes or indices that are not pixels */
  p = rl_pool2d_default_params(2, 2);
  rl_tensor *gy = tu_randn(4, TU_SHAPE(1, 2, 3, 2), 3, 0), *gx = (rl_tensor *)1;
  tu_assert_error(rl_avgpool2d_backward_input(x, gy, &p, &gx), RL_ESHAPE,
                  "avgpool2d_backward_input: output gradient [1 x 2 x 3 x 2] should be [1 x 2 x 2 x 2]");
  assert_null(gx);
  TU_OK(rl_maxpool2d_forward(x, &p, &y, &idx));
  tu_assert_error(rl_maxpool2d_backward_input(x, gy, idx, &gx), RL_ESHAPE, "maxpool2d_backward_input:");
  rl_tensor_data(idx)[3] = 16;
  tu_assert_error(rl_maxpool2d_backward_input(x, y, idx, &gx), RL_EARG,
                  "maxpool2d_backward_input: 1 indices are not pixels of a 4 x 4 plane");
  tu_assert_error(rl_adaptive_avgpool2d_backward_input(x, x3, &gx), RL_ESHAPE,
                  "adaptive_avgpool2d_backward_input: output gradient [2 x 4 x 4]");
  RELEASE(x, x3, y, idx, gy);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== allocation failures */

typedef struct sweep {
  rl_tensor *x;
  int which;
  rl_pool2d_params p;
} sweep;

static rl_status pool_pass(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL, *g = NULL;
  rl_status st = s->which == 0   ? rl_maxpool2d(s->x, &s->p, &y)
                 : s->which == 1 ? rl_avgpool2d(s->x, &s->p, &y)
                                 : rl_adaptive_avgpool2d(s->x, 3, 2, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 1, &s->x, &g, NULL);
  rl_tensor_release(y);
  rl_tensor_release(g);
  return st;
}

static void test_nomem(void **state) {
  (void)state;
  sweep s = {spaced(2, 2, 6, 6, 1), 0, pool(3, 2, 1, 1)};
  TU_OK(rl_tensor_set_requires_grad(s.x, 1));
  for (s.which = 0; s.which < 3; s.which++) assert_true(tu_nomem_sweep(pool_pass, NULL, &s) >= 4);
  RELEASE(s.x);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_maxpool_known),     cmocka_unit_test(test_output_sizes),
      cmocka_unit_test(test_maxpool_gradcheck), cmocka_unit_test(test_avgpool_known),
      cmocka_unit_test(test_avgpool_gradcheck), cmocka_unit_test(test_adaptive_known),
      cmocka_unit_test(test_adaptive_gradcheck), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
