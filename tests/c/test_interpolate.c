/* test_interpolate.c: nearest and bilinear resampling against PyTorch's rules. */
#include "testutil.h"

static rl_tensor *resample(rl_tensor *x, int64_t oh, int64_t ow, rl_interp_mode mode, int ac) {
  rl_tensor *y = NULL;
  TU_OK(rl_interpolate(x, oh, ow, mode, ac, &y));
  assert_int_equal(y->ndim, 4);
  assert_int_equal(y->shape[2], oh);
  assert_int_equal(y->shape[3], ow);
  return y;
}

static void expect(rl_tensor *x, int64_t oh, int64_t ow, rl_interp_mode mode, int ac, const float *want) {
  rl_tensor *y = resample(x, oh, ow, mode, ac);
  rl_tensor *w = tu_tensor(4, TU_SHAPE(x->shape[0], x->shape[1], oh, ow), want);
  tu_assert_close(y, w, 1e-6, 0);
  rl_tensor_release(y);
  rl_tensor_release(w);
}

/* {==================== values */

static void test_bilinear_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(1, 2, 3, 4));
  /* align_corners: corners stay, the inside is a linear ramp 1 + j/3 + 2i/3 */
  float ramp[16];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) ramp[4 * i + j] = 1.0f + j / 3.0f + 2.0f * i / 3.0f;
  expect(x, 4, 4, RL_INTERP_BILINEAR, 1, ramp);
  /* PyTorch, align_corners=False: source -0.25 clamps to 0 */
  expect(x, 4, 4, RL_INTERP_BILINEAR, 0,
         TU_DATA(1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4));
  expect(x, 1, 1, RL_INTERP_BILINEAR, 1, TU_DATA(1));     /* scale 0: the first pixel */
  expect(x, 1, 1, RL_INTERP_BILINEAR, 0, TU_DATA(2.5f));  /* the centre */
  rl_tensor *row = tu_tensor(4, TU_SHAPE(1, 1, 1, 4), TU_DATA(1, 2, 3, 4));
  expect(row, 1, 2, RL_INTERP_BILINEAR, 0, TU_DATA(1.5f, 3.5f)); /* sources 0.5 and 2.5 */
  expect(row, 1, 3, RL_INTERP_BILINEAR, 1, TU_DATA(1, 2.5f, 4));
  rl_tensor_release(x);
  rl_tensor_release(row);
  tu_assert_no_leaks();
}

static void test_nearest_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(1, 2, 3, 4));
  expect(x, 4, 4, RL_INTERP_NEAREST, 0,
         TU_DATA(1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4));
  expect(x, 3, 1, RL_INTERP_NEAREST, 1, TU_DATA(1, 1, 3)); /* floor(0, 2/3, 4/3) */
  rl_tensor *row = tu_tensor(4, TU_SHAPE(1, 1, 1, 5), TU_DATA(1, 2, 3, 4, 5));
  expect(row, 1, 3, RL_INTERP_NEAREST, 0, TU_DATA(1, 2, 4));       /* floor(d * 5/3) */
  expect(row, 1, 2, RL_INTERP_NEAREST, 0, TU_DATA(1, 3));          /* floor(d * 2.5) */
  expect(row, 1, 7, RL_INTERP_NEAREST, 0, TU_DATA(1, 1, 2, 3, 3, 4, 5)); /* floor(d * 5/7) */
  rl_tensor_release(x);
  rl_tensor_release(row);
  tu_assert_no_leaks();
}

/* A permuted (non-contiguous) input gives what its contiguous copy gives. */
static void test_strided_input(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(2, 3, 5, 4), 1, 0), *xt = NULL, *xc = NULL;
  TU_OK(rl_tensor_view_transpose(x, 2, 3, &xt));
  TU_OK(rl_tensor_clone(xt, &xc));
  for (int mode = 0; mode < 2; mode++) {
    rl_tensor *a = resample(xt, 7, 3, (rl_interp_mode)mode, 0), *b = resample(xc, 7, 3, (rl_interp_mode)mode, 0);
    tu_assert_close(a, b, 0, 0);
    rl_tensor_release(a);
    rl_tensor_release(b);
  }
  rl_tensor_release(x), rl_tensor_release(xt), rl_tensor_release(xc);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== gradients */

typedef struct interp_ud {
  int64_t oh, ow;
  rl_interp_mode mode;
  int ac;
} interp_ud;

static rl_status f_interp(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const interp_ud *u = ud;
  return rl_interpolate(in[0], u->oh, u->ow, u->mode, u->ac, out);
}

static void grad_case(const int64_t *shape, int64_t oh, int64_t ow, uint64_t seed) {
  rl_tensor *x = tu_randn(4, shape, seed, 0);
  interp_ud cases[] = {{oh, ow, RL_INTERP_NEAREST, 0}, {oh, ow, RL_INTERP_BILINEAR, 0},
                       {oh, ow, RL_INTERP_BILINEAR, 1}};
  for (int i = 0; i < 3; i++) tu_gradcheck(f_interp, 1, &x, NULL, &cases[i], NULL);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_grad(void **state) {
  (void)state;
  grad_case(TU_SHAPE(1, 1, 2, 2), 4, 4, 1);  /* upsampling x2 */
  grad_case(TU_SHAPE(2, 3, 3, 4), 5, 7, 2);  /* upsampling, uneven */
  grad_case(TU_SHAPE(1, 2, 6, 7), 3, 2, 3);  /* downsampling */
  grad_case(TU_SHAPE(2, 1, 4, 3), 2, 6, 4);  /* down in H, up in W */
  grad_case(TU_SHAPE(1, 1, 3, 3), 1, 1, 5);  /* to one pixel */
}

/* Enough planes and pixels for the threaded path. */
static void test_grad_large(void **state) {
  (void)state;
  grad_case(TU_SHAPE(2, 4, 32, 32), 80, 60, 6);
}
/* }==================== */

/* {==================== errors and allocation failures */

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(3, 4, 4), &x));
  tu_assert_error(rl_interpolate(x, 8, 8, RL_INTERP_BILINEAR, 0, &y), RL_ESHAPE,
                  "interpolate: input [3 x 4 x 4] must be N x C x H x W");
  assert_null(y);
  rl_tensor_release(x);
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(1, 3, 4, 4), &x));
  tu_assert_error(rl_interpolate(x, 0, 8, RL_INTERP_NEAREST, 0, &y), RL_ESHAPE,
                  "interpolate: output size 0 x 8 for [1 x 3 x 4 x 4] must be positive");
  tu_assert_error(rl_interpolate(x, 8, 8, (rl_interp_mode)5, 0, &y), RL_EARG, "interpolate: unknown mode 5");
  tu_assert_error(rl_interpolate(x, (int64_t)1 << 30, (int64_t)1 << 30, RL_INTERP_NEAREST, 0, &y),
                  RL_ESHAPE, "too large");
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_node_backward(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(1, 2, 3, 3), 1, 0), *x2 = tu_randn(4, TU_SHAPE(2, 2, 3, 3), 2, 0);
  rl_tensor *y = NULL, *g = NULL, *gin = NULL;
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_interpolate(x, 6, 6, RL_INTERP_BILINEAR, 1, &y));
  TU_OK(rl_tensor_ones(4, TU_SHAPE(1, 2, 6, 6), &g));
  tu_assert_error(rl_node_backward(y->node, &x2, g, NULL, &gin), RL_ESHAPE,
                  "interpolate: grad_output [1 x 2 x 6 x 6] does not match the output [2 x 2 x 6 x 6]");
  TU_OK(rl_node_backward(y->node, &x, g, NULL, &gin)); /* the weights of each output sum to 1 */
  double total = 0;
  for (int i = 0; i < 18; i++) total += rl_tensor_data(gin)[i];
  assert_float_equal(total, 72, 1e-4);
  rl_tensor_release(x), rl_tensor_release(x2), rl_tensor_release(y);
  rl_tensor_release(g), rl_tensor_release(gin);
  tu_assert_no_leaks();
}

static void test_interrupt(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(1, 2, 3, 4), 1, 0), *y = (rl_tensor *)1;
  rl_interrupt();
  tu_assert_error(rl_interpolate(x, 6, 8, RL_INTERP_BILINEAR, 0, &y), RL_EINTR,
                  "interpolate: interrupted");
  assert_null(y);
  assert_false(rl_interrupted());
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

typedef struct sweep {
  rl_tensor *x, *g;
  rl_interp_mode mode;
} sweep;

static rl_status forward_backward(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL;
  rl_status st = rl_interpolate(s->x, 5, 3, s->mode, 0, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 1, &s->x, &s->g, NULL);
  rl_tensor_release(y);
  return st;
}

static void release_grad(void *ud) { rl_tensor_release(((sweep *)ud)->g); }

static void test_nomem(void **state) {
  (void)state;
  sweep s = {tu_randn(4, TU_SHAPE(1, 2, 3, 4), 7, 0), NULL, RL_INTERP_BILINEAR};
  TU_OK(rl_tensor_set_requires_grad(s.x, 1));
  assert_true(tu_nomem_sweep(forward_backward, release_grad, &s) >= 5);
  s.mode = RL_INTERP_NEAREST;
  assert_true(tu_nomem_sweep(forward_backward, release_grad, &s) >= 5);
  rl_tensor_release(s.x);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bilinear_values), cmocka_unit_test(test_nearest_values),
      cmocka_unit_test(test_strided_input),   cmocka_unit_test(test_grad),
      cmocka_unit_test(test_grad_large),      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_node_backward),   cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_interrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
