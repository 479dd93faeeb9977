/* test_pad.c: constant, reflect and replicate padding: values, gradients, errors. */
#include "testutil.h"

static void release_all(int n, rl_tensor **ts) {
  for (int i = 0; i < n; i++) rl_tensor_release(ts[i]);
}

/* pad t and compare with want (ndim/shape of want given) exactly */
static void check_pad(rl_tensor *t, int npairs, const int64_t *pads, rl_pad_mode mode, float value,
                      int nd, const int64_t *shape, const float *want) {
  rl_tensor *y = NULL, *w = tu_tensor(nd, shape, want);
  TU_OK(rl_pad(t, npairs, pads, mode, value, &y));
  tu_assert_close(y, w, 0, 0);
  rl_tensor_release(y);
  rl_tensor_release(w);
}

static void test_values(void **state) {
  (void)state;
  rl_tensor *v = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 3));
  check_pad(v, 1, TU_SHAPE(2, 2), RL_PAD_REFLECT, 0, 1, TU_SHAPE(7), TU_DATA(3, 2, 1, 2, 3, 2, 1));
  check_pad(v, 1, TU_SHAPE(2, 1), RL_PAD_REPLICATE, 0, 1, TU_SHAPE(6), TU_DATA(1, 1, 1, 2, 3, 3));
  check_pad(v, 1, TU_SHAPE(1, 0), RL_PAD_CONSTANT, 9, 1, TU_SHAPE(4), TU_DATA(9, 1, 2, 3));
  check_pad(v, 1, TU_SHAPE(-1, 2), RL_PAD_CONSTANT, 0, 1, TU_SHAPE(4), TU_DATA(2, 3, 0, 0)); /* crop */
  check_pad(v, 0, NULL, RL_PAD_REFLECT, 0, 1, TU_SHAPE(3), TU_DATA(1, 2, 3));
  rl_tensor *m = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 2, 3, 4)), *mt = NULL;
  check_pad(m, 2, TU_SHAPE(1, 1, 1, 0), RL_PAD_REFLECT, 0, 2, TU_SHAPE(3, 4),
            TU_DATA(4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3));
  check_pad(m, 2, TU_SHAPE(0, 1, 1, 1), RL_PAD_CONSTANT, -1, 2, TU_SHAPE(4, 3),
            TU_DATA(-1, -1, -1, 1, 2, -1, 3, 4, -1, -1, -1, -1));
  /* a transposed input: [[1, 3], [2, 4]] */
  TU_OK(rl_tensor_view_transpose(m, 0, 1, &mt));
  check_pad(mt, 2, TU_SHAPE(1, 0, 0, 1), RL_PAD_REPLICATE, 0, 2, TU_SHAPE(3, 3),
            TU_DATA(1, 1, 3, 2, 2, 4, 2, 2, 4));
  /* padding only a leading dim */
  check_pad(m, 2, TU_SHAPE(0, 0, 1, 0), RL_PAD_REPLICATE, 0, 2, TU_SHAPE(3, 2), TU_DATA(1, 2, 1, 2, 3, 4));
  release_all(3, (rl_tensor *[]){v, m, mt});
  tu_assert_no_leaks();
}

typedef struct pad_ud {
  int npairs;
  int64_t pads[8];
  rl_pad_mode mode;
} pad_ud;

static rl_status f_pad(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const pad_ud *u = ud;
  return rl_pad(in[0], u->npairs, u->pads, u->mode, 0.5f, out);
}

static void pad_check(int nd, const int64_t *shape, pad_ud u, uint64_t seed) {
  rl_tensor *x = tu_randn(nd, shape, seed, 0);
  for (rl_pad_mode m = RL_PAD_CONSTANT; m <= RL_PAD_REPLICATE; m++) {
    u.mode = m;
    tu_gradcheck(f_pad, 1, &x, NULL, &u, NULL);
  }
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_grad(void **state) {
  (void)state;
  pad_check(1, TU_SHAPE(5), (pad_ud){.npairs = 1, .pads = {2, 4}}, 1); /* reflect up to size - 1 */
  pad_check(3, TU_SHAPE(2, 3, 4), (pad_ud){.npairs = 2, .pads = {1, 2, 2, 1}}, 2);
  pad_check(3, TU_SHAPE(2, 3, 4), (pad_ud){.npairs = 3, .pads = {0, 1, 1, 0, 1, 1}}, 3); /* first dim padded */
  pad_check(4, TU_SHAPE(2, 2, 3, 4), (pad_ud){.npairs = 1, .pads = {3, 0}}, 4);
  pad_check(2, TU_SHAPE(3, 4), (pad_ud){.npairs = 2, .pads = {-1, 2, 1, -1}}, 5); /* crop and pad */
}

/* Big enough for the threaded path; the sampled elements are spread over planes. */
static void test_grad_large(void **state) {
  (void)state;
  pad_check(4, TU_SHAPE(2, 8, 40, 40), (pad_ud){.npairs = 2, .pads = {2, 1, 1, 3}}, 6);
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *v = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 3)), *y = (rl_tensor *)1, *s = NULL;
  tu_assert_error(rl_pad(v, 1, TU_SHAPE(3, 0), RL_PAD_REFLECT, 0, &y), RL_EARG,
                  "pad: reflect padding (3, 0) of dim 1 of [3] must be less than its size 3");
  assert_null(y);
  tu_assert_error(rl_pad(v, 1, TU_SHAPE(1, 5), RL_PAD_REFLECT, 0, &y), RL_EARG, "must be less than its size 3");
  tu_assert_error(rl_pad(v, 2, TU_SHAPE(1, 1, 1, 1), RL_PAD_CONSTANT, 0, &y), RL_EARG,
                  "pad: 2 pairs of padding for [3] (at most one per dim)");
  tu_assert_error(rl_pad(v, 1, TU_SHAPE(-2, -1), RL_PAD_CONSTANT, 0, &y), RL_ESHAPE,
                  "pad: padding (-2, -1) leaves dim 1 of [3] with size 0");
  tu_assert_error(rl_pad(v, 1, TU_SHAPE(1, 1), (rl_pad_mode)7, 0, &y), RL_EARG, "pad: unknown mode 7");
  TU_OK(rl_tensor_full(0, TU_SHAPE(1), 1, &s)); /* rl_tensor_scalar passes memcpy a NULL shape (UBSan) */
  tu_assert_error(rl_pad(s, 0, NULL, RL_PAD_CONSTANT, 0, &y), RL_ESHAPE, "pad: cannot pad a 0-dim tensor");
  rl_tensor_release(v);
  rl_tensor_release(s);
  tu_assert_no_leaks();
}

static void test_node_backward(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(3, 4), 1, 0), *x2 = tu_randn(2, TU_SHAPE(3, 5), 2, 0);
  rl_tensor *y = NULL, *g = NULL, *gin = NULL;
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  TU_OK(rl_pad(x, 1, TU_SHAPE(1, 1), RL_PAD_REPLICATE, 0, &y));
  TU_OK(rl_tensor_ones(2, TU_SHAPE(3, 6), &g));
  tu_assert_error(rl_node_backward(y->node, &x2, g, NULL, &gin), RL_ESHAPE,
                  "pad: grad_output [3 x 6] does not match the output [3 x 7] of input [3 x 5]");
  TU_OK(rl_node_backward(y->node, &x, g, NULL, &gin)); /* ones: the edges collect 2 */
  assert_float_equal(rl_tensor_data(gin)[0], 2, 0);
  assert_float_equal(rl_tensor_data(gin)[1], 1, 0);
  assert_float_equal(rl_tensor_data(gin)[3], 2, 0);
  release_all(5, (rl_tensor *[]){x, x2, y, g, gin});
  tu_assert_no_leaks();
}

static void test_interrupt(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 1, 0), *y = (rl_tensor *)1;
  rl_interrupt();
  tu_assert_error(rl_pad(x, 1, TU_SHAPE(1, 1), RL_PAD_REPLICATE, 0, &y), RL_EINTR, "pad: interrupted");
  assert_null(y);
  assert_false(rl_interrupted());
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

typedef struct sweep {
  rl_tensor *x, *g;
} sweep;

static rl_status forward_backward(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL;
  rl_status st = rl_pad(s->x, 2, TU_SHAPE(1, 2, 2, 1), RL_PAD_REFLECT, 0, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 1, &s->x, &s->g, NULL);
  rl_tensor_release(y);
  return st;
}

static void release_grad(void *ud) { rl_tensor_release(((sweep *)ud)->g); }

static void test_nomem(void **state) {
  (void)state;
  sweep s = {tu_randn(3, TU_SHAPE(2, 3, 4), 7, 0), NULL};
  TU_OK(rl_tensor_set_requires_grad(s.x, 1));
  assert_true(tu_nomem_sweep(forward_backward, release_grad, &s) >= 5);
  rl_tensor_release(s.x);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),     cmocka_unit_test(test_grad),
      cmocka_unit_test(test_grad_large), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_node_backward), cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_interrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
