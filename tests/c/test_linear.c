/* test_linear.c: Linear (y = x W^T + b): values on paper, gradients, errors,
** allocation failures. */
#include "testutil.h"

static void test_known_values(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, -1, 0, 2));
  rl_tensor *w = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 0, -1, 0.5f, 2, 1));
  rl_tensor *b = tu_tensor(1, TU_SHAPE(2), TU_DATA(10, -10));
  rl_tensor *y = NULL, *want = NULL, *gx = NULL, *gw = NULL, *gb = NULL;
  /* rows: [1-3, 0.5+4+3] = [-2, 7.5]; [-1-2, -0.5+0+2] = [-3, 1.5] */
  TU_OK(rl_linear_forward(x, w, b, &y));
  want = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(8, -2.5f, 7, -8.5f));
  tu_assert_close(y, want, 0, 0);
  rl_tensor_release(y);
  TU_OK(rl_linear_forward(x, w, NULL, &y));
  rl_tensor *want0 = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(-2, 7.5f, -3, 1.5f));
  tu_assert_close(y, want0, 0, 0);
  /* gy = [[1, 0], [0, 2]]: gx = gy W, gw = gy^T x, gb = column sums */
  rl_tensor *gy = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 0, 0, 2));
  TU_OK(rl_linear_backward_input(gy, w, &gx));
  rl_tensor *wgx = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 0, -1, 1, 4, 2));
  tu_assert_close(gx, wgx, 0, 0);
  TU_OK(rl_linear_backward_params(x, gy, &gw, &gb));
  rl_tensor *wgw = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, -2, 0, 4));
  rl_tensor *wgb = tu_tensor(1, TU_SHAPE(2), TU_DATA(1, 2));
  tu_assert_close(gw, wgw, 0, 0);
  tu_assert_close(gb, wgb, 0, 0);
  rl_tensor *ts[] = {x, w, b, y, want, want0, gy, gx, wgx, gw, gb, wgw, wgb};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

/* Leading dims are rows: [2 x 3 x 4] acts like [6 x 4]; 1-D is one row. */
static void test_leading_dims(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 1, 0), *w = tu_randn(2, TU_SHAPE(5, 4), 2, 0);
  rl_tensor *x2 = NULL, *y = NULL, *y2 = NULL, *y2v = NULL, *row = NULL, *yr = NULL, *ysel = NULL;
  TU_OK(rl_linear_forward(x, w, NULL, &y));
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[2], 5);
  TU_OK(rl_tensor_view_reshape(x, 2, TU_SHAPE(6, 4), &x2));
  TU_OK(rl_linear_forward(x2, w, NULL, &y2));
  TU_OK(rl_tensor_view_reshape(y2, 3, TU_SHAPE(2, 3, 5), &y2v));
  tu_assert_close(y, y2v, 0, 0);
  TU_OK(rl_tensor_view_select(x2, 0, 4, &row));
  TU_OK(rl_linear_forward(row, w, NULL, &yr));
  assert_int_equal(yr->ndim, 1);
  TU_OK(rl_tensor_view_select(y2, 0, 4, &ysel));
  tu_assert_close(yr, ysel, 0, 0);
  rl_tensor *ts[] = {x, w, x2, y, y2, y2v, row, yr, ysel};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static rl_status linear_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  return rl_linear(in[0], in[1], ud ? in[2] : NULL, out);
}

static void test_gradcheck(void **state) {
  (void)state;
  static const int64_t shapes[][4] = {{2, 1, 3, 4}, {2, 5, 7, 3}, {3, 2, 3, 4}, {1, 9, 1, 1}};
  tu_gradcheck_opts o = {.eps = 0.05, .atol = 2e-3};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    /* x [.. x in], w [out x in], b [out]; shapes[i] = {ndim, a, in, out} */
    const int64_t *s = shapes[i];
    rl_tensor *x = s[0] == 2 ? tu_randn(2, TU_SHAPE(s[1], s[2]), 10 + i, 0)
                             : tu_randn(3, TU_SHAPE(2, s[1], s[2]), 10 + i, 0);
    rl_tensor *w = tu_randn(2, TU_SHAPE(s[3], s[2]), 20 + i, 0), *b = tu_randn(1, TU_SHAPE(s[3]), 30 + i, 0);
    rl_tensor *in[3] = {x, w, b};
    tu_gradcheck(linear_fn, 3, in, NULL, (void *)1, &o);
    tu_gradcheck(linear_fn, 2, in, NULL, NULL, &o);
    rl_tensor_release(x);
    rl_tensor_release(w);
    rl_tensor_release(b);
  }
  tu_assert_no_leaks();
}

static void test_backward_needs(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(3, 4), 1, 0), *w = tu_randn(2, TU_SHAPE(2, 4), 2, 0);
  rl_tensor *b = tu_randn(1, TU_SHAPE(2), 3, 0), *y = NULL, *gin[3] = {0};
  rl_tensor *in[3] = {x, w, b};
  TU_OK(rl_linear_forward(x, w, b, &y));
  TU_OK(rl_op_linear.backward(NULL, 3, in, y, NULL, y, (const int[]){1, 0, 0}, gin));
  assert_non_null(gin[0]);
  assert_null(gin[1]);
  assert_null(gin[2]);
  rl_tensor_release(gin[0]);
  gin[0] = NULL;
  TU_OK(rl_op_linear.backward(NULL, 3, in, y, NULL, y, (const int[]){0, 1, 0}, gin));
  assert_null(gin[0]);
  assert_non_null(gin[1]);
  assert_null(gin[2]);
  rl_tensor_release(gin[1]);
  rl_tensor_release(y);
  rl_tensor_release(x);
  rl_tensor_release(w);
  rl_tensor_release(b);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(2, 5), 1, 0), *w = tu_randn(2, TU_SHAPE(3, 4), 2, 0);
  rl_tensor *w5 = tu_randn(2, TU_SHAPE(3, 5), 3, 0), *b = tu_randn(1, TU_SHAPE(4), 4, 0);
  rl_tensor *w3d = tu_randn(3, TU_SHAPE(3, 5, 1), 5, 0), *s = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_from_data(0, TU_SHAPE(1), TU_DATA(1), &s)); /* a 0-dim tensor */
  tu_assert_error(rl_linear(x, w, NULL, &y), RL_ESHAPE,
                  "linear: input [2 x 5] has 5 features, weight [3 x 4] expects 4");
  assert_null(y);
  tu_assert_error(rl_linear(x, w3d, NULL, &y), RL_ESHAPE, "linear: weight [3 x 5 x 1] must be 2-D");
  tu_assert_error(rl_linear(s, w5, NULL, &y), RL_ESHAPE, "must have at least 1 dim");
  tu_assert_error(rl_linear(x, w5, b, &y), RL_ESHAPE, "linear: bias [4] must be [3] to match weight [3 x 5]");
  tu_assert_error(rl_linear_backward_input(x, w, &y), RL_ESHAPE,
                  "linear_backward_input: output gradient [2 x 5] does not end in the 3 outputs");
  rl_tensor *gw = (rl_tensor *)1;
  tu_assert_error(rl_linear_backward_params(x, w, &gw, NULL), RL_ESHAPE,
                  "linear_backward_params: output gradient [3 x 4] does not match input [2 x 5]");
  assert_null(gw);
  tu_assert_error(rl_linear(x, NULL, NULL, &y), RL_EARG, "linear: weight is missing");
  rl_tensor *ts[] = {x, w, w5, b, w3d, s};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

typedef struct sweep { rl_tensor *x, *w, *b; } sweep;

static rl_status linear_pass(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL, *g[3] = {0};
  rl_status st = rl_linear(s->x, s->w, s->b, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 3, (rl_tensor *[]){s->x, s->w, s->b}, g, NULL);
  rl_tensor_release(y);
  for (int i = 0; i < 3; i++) rl_tensor_release(g[i]);
  return st;
}

static void test_nomem(void **state) {
  (void)state;
  sweep s = {tu_randn(2, TU_SHAPE(3, 4), 1, 0), tu_randn(2, TU_SHAPE(2, 4), 2, 0),
             tu_randn(1, TU_SHAPE(2), 3, 0)};
  rl_tensor *xt = NULL;
  TU_OK(rl_tensor_set_requires_grad(s.x, 1));
  TU_OK(rl_tensor_set_requires_grad(s.w, 1));
  TU_OK(rl_tensor_set_requires_grad(s.b, 1));
  assert_true(tu_nomem_sweep(linear_pass, NULL, &s) >= 8);
  /* a non-contiguous weight takes the copying path */
  TU_OK(rl_tensor_view_transpose(s.w, 0, 1, &xt));
  rl_tensor *w2 = tu_randn(2, TU_SHAPE(4, 2), 4, 0), *wt = NULL;
  TU_OK(rl_tensor_set_requires_grad(w2, 1));
  TU_OK(rl_tensor_view_transpose(w2, 0, 1, &wt));
  rl_tensor *keep = s.w;
  s.w = wt;
  assert_true(tu_nomem_sweep(linear_pass, NULL, &s) >= 8);
  rl_tensor *ts[] = {s.x, keep, s.b, xt, w2, wt};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values),   cmocka_unit_test(test_leading_dims),
      cmocka_unit_test(test_gradcheck),      cmocka_unit_test(test_backward_needs),
      cmocka_unit_test(test_errors),         cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
