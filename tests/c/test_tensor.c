/* test_tensor.c: creation, views, copies, broadcasting shapes, random numbers, errors. */
#include <string.h>

#include "testutil.h"

static void test_create_and_release(void **state) {
  (void)state;
  rl_tensor *t = NULL;
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(2, 3, 4), &t));
  assert_int_equal(rl_tensor_numel(t), 24);
  assert_true(rl_tensor_is_contiguous(t));
  assert_int_equal(t->stride[0], 12);
  assert_int_equal(t->stride[2], 1);
  rl_tensor_fill_(t, 2.5f);
  assert_float_equal(rl_tensor_data(t)[23], 2.5f, 0);
  rl_tensor_release(t);
  rl_tensor_release(NULL);
  TU_OK(rl_tensor_scalar(3, &t));
  assert_int_equal(t->ndim, 0);
  assert_int_equal(rl_tensor_numel(t), 1);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_bad_shapes(void **state) {
  (void)state;
  rl_tensor *t = (rl_tensor *)1;
  tu_assert_error(rl_tensor_zeros(2, TU_SHAPE(2, -1), &t), RL_ESHAPE, "dim 2 of [2 x -1] is negative");
  assert_null(t);
  tu_assert_error(rl_tensor_zeros(2, TU_SHAPE(0, 3), &t), RL_ESHAPE, "is zero");
  tu_assert_error(rl_tensor_zeros(9, TU_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1), &t), RL_ESHAPE, "9 dims");
  tu_assert_error(rl_tensor_zeros(-1, NULL, &t), RL_ESHAPE, "-1 dims");
  tu_assert_error(rl_tensor_zeros(2, TU_SHAPE(1 << 30, 1 << 30), &t), RL_ESHAPE, "too large");
  tu_assert_error(rl_tensor_arange(0, 1, 0, &t), RL_EARG, "step must be non-zero");
  tu_assert_error(rl_tensor_arange(1, 0, 1, &t), RL_ESHAPE, "empty");
  tu_assert_error(rl_tensor_linspace(0, 1, 0, &t), RL_ESHAPE, "0 points");
  tu_assert_error(rl_tensor_rand_normal(1, TU_SHAPE(3), 0, -1, NULL, &t), RL_EARG, "std");
  tu_assert_no_leaks();
}

static void test_arange_linspace(void **state) {
  (void)state;
  rl_tensor *a, *l;
  TU_OK(rl_tensor_arange(1, 2, 0.25, &a));
  assert_int_equal(a->shape[0], 4);
  assert_float_equal(rl_tensor_data(a)[3], 1.75f, 0);
  TU_OK(rl_tensor_linspace(0, 1, 5, &l));
  assert_float_equal(rl_tensor_data(l)[1], 0.25f, 0);
  assert_float_equal(rl_tensor_data(l)[4], 1.0f, 0);
  rl_tensor_release(a);
  rl_tensor_release(l);
  tu_assert_no_leaks();
}

static void test_views_share_storage(void **state) {
  (void)state;
  rl_tensor *t = NULL, *n = NULL, *s = NULL, *tr = NULL, *c = NULL, *r = NULL;
  TU_OK(rl_tensor_arange(0, 24, 1, &t));
  TU_OK(rl_tensor_view_reshape(t, 3, TU_SHAPE(2, 3, -1), &r));
  assert_int_equal(r->shape[2], 4);
  assert_ptr_equal(r->storage, t->storage);
  TU_OK(rl_tensor_view_narrow(r, 1, 1, 2, &n)); /* [2 x 2 x 4] starting at row 1 */
  assert_float_equal(rl_tensor_get(n, TU_SHAPE(1, 0, 0)), 16.0f, 0);
  TU_OK(rl_tensor_view_select(n, -1, 3, &s)); /* [2 x 2] */
  assert_int_equal(s->ndim, 2);
  assert_float_equal(rl_tensor_get(s, TU_SHAPE(0, 1)), 11.0f, 0);
  TU_OK(rl_tensor_view_transpose(s, 0, 1, &tr));
  assert_float_equal(rl_tensor_get(tr, TU_SHAPE(1, 0)), 11.0f, 0);
  assert_false(rl_tensor_is_contiguous(tr));
  TU_OK(rl_tensor_contiguous(tr, &c));
  assert_true(rl_tensor_is_contiguous(c));
  assert_float_equal(rl_tensor_data(c)[2], 11.0f, 0); /* [[7, 19], [11, 23]] */
  rl_tensor_data(t)[7] = -1; /* a write through the base shows in the view */
  assert_float_equal(rl_tensor_get(tr, TU_SHAPE(0, 0)), -1.0f, 0);
  rl_tensor_release(t); /* views keep the storage alive */
  assert_float_equal(rl_tensor_get(s, TU_SHAPE(1, 1)), 23.0f, 0);
  rl_tensor_release(r);
  rl_tensor_release(n);
  rl_tensor_release(s);
  rl_tensor_release(tr);
  rl_tensor_release(c);
  tu_assert_no_leaks();
}

static void test_view_errors(void **state) {
  (void)state;
  rl_tensor *t = NULL, *v = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &t));
  tu_assert_error(rl_tensor_view_narrow(t, 1, 2, 2, &v), RL_EARG, "narrow: start 2, length 2 out of range for dim 2 of [2 x 3]");
  assert_null(v);
  tu_assert_error(rl_tensor_view_narrow(t, 2, 0, 1, &v), RL_EARG, "dim 2 is out of range");
  tu_assert_error(rl_tensor_view_select(t, 0, 2, &v), RL_EARG, "index 2 out of range");
  tu_assert_error(rl_tensor_view_reshape(t, 2, TU_SHAPE(4, -1), &v), RL_ESHAPE, "[2 x 3] (6 elements) cannot be viewed as [4 x -1]");
  tu_assert_error(rl_tensor_view_reshape(t, 2, TU_SHAPE(-1, -1), &v), RL_ESHAPE, "bad size");
  tu_assert_error(rl_tensor_view_expand(t, 2, TU_SHAPE(4, 3), &v), RL_ESHAPE, "cannot expand [2 x 3] to [4 x 3]");
  tu_assert_error(rl_tensor_view_permute(t, (int[]){0, 0}, &v), RL_EARG, "not a permutation");
  tu_assert_error(rl_tensor_view_squeeze(t, 0, &v), RL_ESHAPE, "not 1");
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_expand_and_copy(void **state) {
  (void)state;
  rl_tensor *row = tu_tensor(2, TU_SHAPE(1, 3), TU_DATA(1, 2, 3)), *e = NULL, *d = NULL, *u = NULL;
  TU_OK(rl_tensor_view_expand(row, 3, TU_SHAPE(2, 2, 3), &e));
  assert_int_equal(e->stride[0], 0);
  assert_int_equal(e->stride[1], 0);
  assert_float_equal(rl_tensor_get(e, TU_SHAPE(1, 1, 2)), 3.0f, 0);
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(4, 3), &d));
  TU_OK(rl_tensor_copy_(d, row));
  assert_float_equal(rl_tensor_data(d)[10], 2.0f, 0);
  tu_assert_error(rl_tensor_copy_(row, d), RL_ESHAPE, "does not broadcast");
  TU_OK(rl_tensor_view_unsqueeze(row, 0, &u));
  assert_int_equal(u->ndim, 3);
  assert_ptr_equal(u->storage, row->storage);
  rl_tensor_release(u);
  /* unsqueeze of a non-contiguous view stays a view */
  rl_tensor *tr = NULL;
  TU_OK(rl_tensor_view_transpose(d, 0, 1, &tr));
  TU_OK(rl_tensor_view_unsqueeze(tr, 1, &u));
  assert_ptr_equal(u->storage, d->storage);
  assert_float_equal(rl_tensor_get(u, TU_SHAPE(1, 0, 3)), 2.0f, 0);
  rl_tensor_release(u);
  rl_tensor_release(tr);
  rl_tensor_release(row);
  rl_tensor_release(e);
  rl_tensor_release(d);
  tu_assert_no_leaks();
}

static void test_sum_to_shape(void **state) {
  (void)state;
  rl_tensor *g = NULL, *s = NULL;
  TU_OK(rl_tensor_ones(3, TU_SHAPE(2, 3, 4), &g));
  TU_OK(rl_sum_to_shape(g, 2, TU_SHAPE(3, 1), &s));
  assert_int_equal(s->ndim, 2);
  assert_float_equal(rl_tensor_data(s)[2], 8.0f, 0);
  rl_tensor_release(s);
  tu_assert_error(rl_sum_to_shape(g, 1, TU_SHAPE(5), &s), RL_ESHAPE, "cannot be summed");
  rl_tensor_release(g);
  tu_assert_no_leaks();
}

static void test_random_is_reproducible(void **state) {
  (void)state;
  rl_rng r1, r2;
  rl_tensor *a, *b, *u;
  rl_rng_seed(&r1, 42);
  rl_rng_seed(&r2, 42);
  TU_OK(rl_tensor_rand_normal(1, TU_SHAPE(1000), 0, 1, &r1, &a));
  TU_OK(rl_tensor_rand_normal(1, TU_SHAPE(1000), 0, 1, &r2, &b));
  assert_memory_equal(rl_tensor_data(a), rl_tensor_data(b), 1000 * sizeof(float));
  double mean = 0, var = 0;
  for (int i = 0; i < 1000; i++) mean += rl_tensor_data(a)[i] / 1000.0;
  for (int i = 0; i < 1000; i++) var += (rl_tensor_data(a)[i] - mean) * (rl_tensor_data(a)[i] - mean) / 999.0;
  assert_true(mean > -0.15 && mean < 0.15);
  assert_true(var > 0.85 && var < 1.15);
  TU_OK(rl_tensor_rand_uniform(1, TU_SHAPE(1000), -2, 3, &r1, &u));
  for (int i = 0; i < 1000; i++) assert_true(rl_tensor_data(u)[i] >= -2 && rl_tensor_data(u)[i] < 3);
  /* pinned bytes: the generator must not change between versions */
  rl_rng_seed(&r1, 42);
  assert_true(rl_rng_next(&r1) == 1546998764402558742ULL);
  rl_rng_seed(&r1, 42);
  float f = (float)rl_rng_normal(&r1);
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  assert_int_equal(bits, 0xbe9b454c);
  rl_seed(7);
  uint64_t first = rl_rng_next(rl_rng_global());
  rl_seed(7);
  assert_true(first == rl_rng_next(rl_rng_global()));
  rl_tensor_release(a);
  rl_tensor_release(b);
  rl_tensor_release(u);
  tu_assert_no_leaks();
}

static rl_status make_views(void *ud) {
  rl_tensor **out = ud, *t = NULL, *v = NULL;
  rl_status st;
  if ((st = rl_tensor_rand_normal(3, TU_SHAPE(2, 3, 4), 0, 1, NULL, &t))) return st;
  if ((st = rl_tensor_set_requires_grad(t, 1)) || (st = rl_tensor_view_transpose(t, 0, 2, &v))) {
    rl_tensor_release(t);
    return st;
  }
  st = rl_tensor_view_reshape(v, 1, TU_SHAPE(-1), out); /* copies: v is not contiguous */
  rl_tensor_release(v);
  rl_tensor_release(t);
  return st;
}

static void release_out(void *ud) { rl_tensor_release(*(rl_tensor **)ud); }

static void test_nomem(void **state) {
  (void)state;
  rl_tensor *out = NULL;
  assert_true(tu_nomem_sweep(make_views, release_out, &out) >= 5);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_and_release), cmocka_unit_test(test_bad_shapes),
      cmocka_unit_test(test_arange_linspace),    cmocka_unit_test(test_views_share_storage),
      cmocka_unit_test(test_view_errors),        cmocka_unit_test(test_expand_and_copy),
      cmocka_unit_test(test_sum_to_shape),       cmocka_unit_test(test_random_is_reproducible),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
