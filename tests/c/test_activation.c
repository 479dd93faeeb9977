/* test_activation.c: ReLU, LeakyReLU, Sigmoid, Tanh: values, gradients, strides, errors. */
#include <math.h>

#include "testutil.h"

typedef enum { F_RELU, F_LEAKY, F_SIGMOID, F_TANH } fkind;

typedef struct act_case {
  fkind k;
  float slope;
  int transpose; /* apply to a transposed (non-contiguous) view of the input */
} act_case;

static rl_status apply(const act_case *c, rl_tensor *x, rl_tensor **y) {
  switch (c->k) {
  case F_RELU: return rl_relu(x, y);
  case F_LEAKY: return rl_leaky_relu(x, c->slope, y);
  case F_SIGMOID: return rl_sigmoid(x, y);
  default: return rl_tanh(x, y);
  }
}

static rl_status act_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const act_case *c = ud;
  rl_tensor *t = NULL;
  rl_status st;
  if (!c->transpose) return apply(c, in[0], out);
  if ((st = rl_tensor_view_transpose(in[0], 0, -1, &t))) return st;
  st = apply(c, t, out);
  rl_tensor_release(t);
  return st;
}

static void test_known_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(1, TU_SHAPE(5), TU_DATA(-2, -0.5f, 0, 1, 100)), *y = NULL, *e = NULL;
  TU_OK(rl_relu(x, &y));
  e = tu_tensor(1, TU_SHAPE(5), TU_DATA(0, 0, 0, 1, 100));
  tu_assert_close(y, e, 0, 0);
  rl_tensor_release(y);
  rl_tensor_release(e);
  TU_OK(rl_leaky_relu(x, 0.1f, &y));
  e = tu_tensor(1, TU_SHAPE(5), TU_DATA(-0.2f, -0.05f, 0, 1, 100));
  tu_assert_close(y, e, 1e-7, 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(e);
  TU_OK(rl_sigmoid(x, &y));
  assert_float_equal(rl_tensor_data(y)[2], 0.5f, 1e-7);
  assert_float_equal(rl_tensor_data(y)[3], 1 / (1 + expf(-1)), 1e-6);
  assert_float_equal(rl_tensor_data(y)[4], 1.0f, 1e-7);
  rl_tensor_release(y);
  TU_OK(rl_tanh(x, &y));
  assert_float_equal(rl_tensor_data(y)[2], 0.0f, 0);
  assert_float_equal(rl_tensor_data(y)[0], tanhf(-2), 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(x);
  /* far tails saturate without NaN */
  x = tu_tensor(1, TU_SHAPE(2), TU_DATA(-1000, 1000));
  TU_OK(rl_sigmoid(x, &y));
  assert_float_equal(rl_tensor_data(y)[0], 0.0f, 0);
  assert_float_equal(rl_tensor_data(y)[1], 1.0f, 0);
  rl_tensor_release(y);
  TU_OK(rl_tanh(x, &y));
  assert_float_equal(rl_tensor_data(y)[0], -1.0f, 0);
  rl_tensor_release(y);
  rl_tensor_release(x);
  /* NaN propagates through ReLU, as in PyTorch */
  x = tu_tensor(1, TU_SHAPE(1), TU_DATA(NAN));
  TU_OK(rl_relu(x, &y));
  assert_true(isnan(rl_tensor_data(y)[0]));
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* PyTorch's conventions at the kink: ReLU passes 0, LeakyReLU passes slope. */
static void test_gradient_at_zero(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(1, TU_SHAPE(3), TU_DATA(-1, 0, 1)), *y = NULL, *g = NULL;
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_relu(x, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &x, &g, NULL));
  rl_tensor *e = tu_tensor(1, TU_SHAPE(3), TU_DATA(0, 0, 1));
  tu_assert_close(g, e, 0, 0);
  rl_tensor_release(e);
  rl_tensor_release(g);
  rl_tensor_release(y);
  TU_OK(rl_leaky_relu(x, 0.25f, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &x, &g, NULL));
  e = tu_tensor(1, TU_SHAPE(3), TU_DATA(0.25f, 0.25f, 1));
  tu_assert_close(g, e, 0, 0);
  rl_tensor_release(e);
  rl_tensor_release(g);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_gradcheck(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{7, 1, 1}, {3, 4, 1}, {2, 3, 5}};
  static const int ndims[] = {1, 2, 3};
  static const act_case cases[] = {
      {F_RELU, 0, 0},    {F_RELU, 0, 1},    {F_LEAKY, 0.2f, 0}, {F_LEAKY, -0.5f, 1},
      {F_SIGMOID, 0, 0}, {F_SIGMOID, 0, 1}, {F_TANH, 0, 0},     {F_TANH, 0, 1},
  };
  for (int s = 0; s < 3; s++)
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      /* margin 0.05 > eps: no finite difference straddles the kink at 0 */
      rl_tensor *x = tu_randn(ndims[s], shapes[s], 10 + s * 10 + c, 0.05f);
      tu_gradcheck(act_fn, 1, &x, NULL, (void *)&cases[c], NULL);
      rl_tensor_release(x);
    }
  tu_assert_no_leaks();
}

/* The strided path gives the same values as the contiguous one, and a large
** tensor (parallel path) matches the formula element by element. */
static void test_strided_and_large(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(5, 7), 3, 0), *t = NULL, *y1 = NULL, *y2 = NULL, *c = NULL;
  TU_OK(rl_tensor_view_transpose(x, 0, 1, &t));
  TU_OK(rl_tanh_forward(t, &y1));
  TU_OK(rl_tensor_clone(t, &c));
  TU_OK(rl_tanh_forward(c, &y2));
  assert_true(rl_tensor_is_contiguous(y1));
  tu_assert_close(y1, y2, 0, 0);
  rl_tensor *gx1 = NULL, *gx2 = NULL;
  TU_OK(rl_tanh_backward_input(y1, t, &gx1)); /* a strided grad_output */
  TU_OK(rl_tanh_backward_input(y2, c, &gx2));
  tu_assert_close(gx1, gx2, 0, 0);
  rl_tensor_release(gx1);
  rl_tensor_release(gx2);
  rl_tensor_release(y1);
  rl_tensor_release(y2);
  rl_tensor_release(c);
  rl_tensor_release(t);
  rl_tensor_release(x);

  x = tu_randn(1, TU_SHAPE(100003), 4, 0);
  TU_OK(rl_leaky_relu_forward(x, 0.01f, &y1));
  TU_OK(rl_leaky_relu_backward_input(x, x, 0.01f, &gx1));
  const float *px = rl_tensor_data(x), *py = rl_tensor_data(y1), *pg = rl_tensor_data(gx1);
  for (int64_t i = 0; i < 100003; i++) {
    float v = px[i] < 0 ? px[i] * 0.01f : px[i];
    if (py[i] != v || pg[i] != (px[i] > 0 ? px[i] : px[i] * 0.01f))
      fail_msg("element %lld: %g, %g", (long long)i, py[i], pg[i]);
  }
  rl_tensor_release(gx1);
  rl_tensor_release(y1);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = NULL, *g = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &x));
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &g));
  tu_assert_error(rl_relu_backward_input(x, g, &y), RL_ESHAPE,
                  "relu_backward_input: grad_output [3] does not match input [2 x 3]");
  assert_null(y);
  tu_assert_error(rl_sigmoid_backward_input(x, g, &y), RL_ESHAPE,
                  "sigmoid_backward_input: grad_output [3] does not match output [2 x 3]");
  tu_assert_error(rl_tanh_backward_input(x, g, &y), RL_ESHAPE, "tanh_backward_input");
  tu_assert_error(rl_leaky_relu_backward_input(x, g, 0.1f, &y), RL_ESHAPE, "leaky_relu_backward_input");
  tu_assert_error(rl_leaky_relu(x, NAN, &y), RL_EARG, "leaky_relu: negative_slope nan is not finite");
  assert_null(y);
  tu_assert_error(rl_relu(NULL, &y), RL_EARG, "relu: input 1 (input) is missing");
  rl_tensor_release(x);
  rl_tensor_release(g);
  tu_assert_no_leaks();
}

/* What an LRP rule does: re-run a recorded call's forward and backward on
** substituted inputs. ReLU's backward takes its mask from the input it is
** given; Sigmoid's uses the recorded output. */
static void test_node_rerun(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(1, TU_SHAPE(3), TU_DATA(-1, 2, 3)), *y = NULL, *z = NULL;
  rl_tensor *sub = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, -2, 3)), *g = NULL, *gy = NULL;
  TU_OK(rl_tensor_ones(1, TU_SHAPE(3), &gy));
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_relu(x, &y));
  assert_ptr_equal(rl_node_op(y->node), &rl_op_relu);
  TU_OK(rl_node_forward(y->node, &sub, &z));
  rl_tensor *e = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 0, 3));
  tu_assert_close(z, e, 0, 0);
  TU_OK(rl_node_backward(y->node, &sub, gy, NULL, &g));
  rl_tensor_release(e);
  e = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 0, 1));
  tu_assert_close(g, e, 0, 0);
  rl_tensor_release(g);
  rl_tensor_release(z);
  rl_tensor_release(y);
  TU_OK(rl_sigmoid(x, &y));
  TU_OK(rl_node_backward(y->node, &sub, gy, NULL, &g));
  for (int i = 0; i < 3; i++) {
    float s = rl_tensor_data(y)[i];
    assert_float_equal(rl_tensor_data(g)[i], s * (1 - s), 1e-7);
  }
  rl_tensor *ts[] = {x, y, sub, g, gy, e};
  for (int i = 0; i < 6; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static rl_status recorded_sigmoid(void *ud) {
  rl_tensor **out = ud, *x = NULL, *y = NULL, *g = NULL;
  rl_status st;
  if ((st = rl_tensor_ones(2, TU_SHAPE(3, 4), &x))) return st;
  if (!(st = rl_tensor_set_requires_grad(x, 1)) && !(st = rl_sigmoid(x, &y)))
    st = rl_tape_backward(y, NULL, 1, &x, &g, NULL);
  rl_tensor_release(y);
  rl_tensor_release(x);
  *out = g;
  return st;
}

static void release_out(void *ud) { rl_tensor_release(*(rl_tensor **)ud); }

static void test_nomem(void **state) {
  (void)state;
  rl_tensor *out = NULL;
  assert_true(tu_nomem_sweep(recorded_sigmoid, release_out, &out) >= 4);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values),      cmocka_unit_test(test_gradient_at_zero),
      cmocka_unit_test(test_gradcheck),         cmocka_unit_test(test_strided_and_large),
      cmocka_unit_test(test_errors),            cmocka_unit_test(test_node_rerun),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
