/* test_indexing.c: gather, scatter (and scatter_add), cat: values, gradients, errors. */
#include "testutil.h"

/* A float index tensor of whole numbers in [0, size), seeded. */
static rl_tensor *rand_index(int ndim, const int64_t *shape, int64_t size, uint64_t seed) {
  rl_rng r;
  rl_tensor *t = NULL;
  rl_rng_seed(&r, seed);
  TU_OK(rl_tensor_zeros(ndim, shape, &t));
  float *p = rl_tensor_data(t);
  for (int64_t i = 0, n = rl_tensor_numel(t); i < n; i++) p[i] = (float)(rl_rng_next(&r) % (uint64_t)size);
  return t;
}

static void release_all(int n, rl_tensor **ts) {
  for (int i = 0; i < n; i++) rl_tensor_release(ts[i]);
}

/* {==================== gather */

static void test_gather_values(void **state) {
  (void)state;
  rl_tensor *t = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 2, 3, 4));
  rl_tensor *i1 = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(0, 0, 1, 0));
  rl_tensor *i0 = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 0, 0, 0));
  rl_tensor *y1 = NULL, *y0 = NULL, *ys = NULL;
  TU_OK(rl_gather(t, 1, i1, &y1));
  rl_tensor *w1 = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 1, 4, 3));
  tu_assert_close(y1, w1, 0, 0);
  TU_OK(rl_gather(t, 0, i0, &y0));
  rl_tensor *w0 = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(3, 2, 1, 2));
  tu_assert_close(y0, w0, 0, 0);
  /* an index smaller than the input in the other dim, from a transposed input */
  rl_tensor *big = tu_tensor(2, TU_SHAPE(3, 4), TU_DATA(0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23));
  rl_tensor *bt = NULL, *is = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(2, 0));
  TU_OK(rl_tensor_view_transpose(big, 0, 1, &bt)); /* [4 x 3]: bt[i][j] = 10 j + i */
  TU_OK(rl_gather(bt, -1, is, &ys));
  rl_tensor *ws = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(20, 1));
  tu_assert_close(ys, ws, 0, 0);
  release_all(13, (rl_tensor *[]){t, i1, i0, y1, y0, w1, w0, big, bt, is, ys, ws, NULL});
  tu_assert_no_leaks();
}

typedef struct idx_ud {
  int dim, accumulate;
} idx_ud;

static rl_status f_gather(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const idx_ud *u = ud;
  return rl_gather(in[0], u->dim, in[1], out);
}

static void gather_check(int nd, const int64_t *ts, const int64_t *is, int dim, uint64_t seed) {
  int d = dim < 0 ? dim + nd : dim;
  rl_tensor *in[2] = {tu_randn(nd, ts, seed, 0), rand_index(nd, is, ts[d], seed + 1)};
  idx_ud u = {dim, 0};
  tu_gradcheck(f_gather, 2, in, (int[]){1, 0}, &u, NULL);
  release_all(2, in);
  tu_assert_no_leaks();
}

static void test_gather_grad(void **state) {
  (void)state;
  gather_check(2, TU_SHAPE(3, 4), TU_SHAPE(5, 4), 0, 1); /* repeats: gradients add */
  gather_check(2, TU_SHAPE(3, 4), TU_SHAPE(2, 6), 1, 2);
  gather_check(3, TU_SHAPE(2, 3, 4), TU_SHAPE(2, 2, 3), -1, 3);
  gather_check(3, TU_SHAPE(2, 3, 4), TU_SHAPE(1, 5, 4), 1, 4);
}
/* }==================== */

/* {==================== scatter */

static void test_scatter_values(void **state) {
  (void)state;
  rl_tensor *z = NULL, *src = NULL, *y = NULL, *ya = NULL, *ones = NULL;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(3, 5), &z));
  TU_OK(rl_tensor_arange(1, 11, 1, &src));
  rl_tensor *s2 = NULL;
  TU_OK(rl_tensor_view_reshape(src, 2, TU_SHAPE(2, 5), &s2));
  rl_tensor *ix = tu_tensor(2, TU_SHAPE(1, 4), TU_DATA(0, 1, 2, 0));
  TU_OK(rl_scatter(z, 0, ix, s2, 0, &y));
  rl_tensor *w = tu_tensor(2, TU_SHAPE(3, 5), TU_DATA(1, 0, 0, 4, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0));
  tu_assert_close(y, w, 0, 0);
  assert_float_equal(rl_tensor_data(z)[0], 0, 0); /* the input is not written */
  TU_OK(rl_tensor_ones(2, TU_SHAPE(2, 5), &ones));
  rl_tensor *ia = tu_tensor(2, TU_SHAPE(2, 5), TU_DATA(0, 1, 2, 0, 0, 0, 1, 2, 2, 2));
  TU_OK(rl_scatter(z, 0, ia, ones, 1, &ya));
  rl_tensor *wa = tu_tensor(2, TU_SHAPE(3, 5), TU_DATA(2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1));
  tu_assert_close(ya, wa, 0, 0);
  release_all(11, (rl_tensor *[]){z, src, s2, ix, y, w, ones, ia, ya, wa, NULL});
  tu_assert_no_leaks();
}

static rl_status f_scatter(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const idx_ud *u = ud;
  return rl_scatter(in[0], u->dim, in[1], in[2], u->accumulate, out);
}

static void scatter_check(int nd, const int64_t *ts, const int64_t *is, const int64_t *ss, int dim,
                          int accumulate, uint64_t seed) {
  int d = dim < 0 ? dim + nd : dim;
  rl_tensor *in[3] = {tu_randn(nd, ts, seed, 0), rand_index(nd, is, ts[d], seed + 1),
                      tu_randn(nd, ss, seed + 2, 0)};
  idx_ud u = {dim, accumulate};
  tu_gradcheck(f_scatter, 3, in, (int[]){1, 0, 1}, &u, NULL);
  release_all(3, in);
  tu_assert_no_leaks();
}

static void test_scatter_grad(void **state) {
  (void)state;
  /* with repeated indices: the last write wins, earlier sources get 0 */
  scatter_check(2, TU_SHAPE(3, 4), TU_SHAPE(4, 4), TU_SHAPE(4, 5), 0, 0, 10);
  scatter_check(2, TU_SHAPE(3, 4), TU_SHAPE(3, 2), TU_SHAPE(3, 3), 1, 0, 11);
  scatter_check(3, TU_SHAPE(2, 3, 4), TU_SHAPE(2, 2, 3), TU_SHAPE(2, 2, 3), -1, 0, 12);
  scatter_check(2, TU_SHAPE(3, 4), TU_SHAPE(4, 4), TU_SHAPE(4, 5), 0, 1, 13);
  scatter_check(3, TU_SHAPE(2, 3, 4), TU_SHAPE(2, 5, 4), TU_SHAPE(2, 5, 4), 1, 1, 14);
}

/* The source gradient picks exactly the winning writes. */
static void test_scatter_winner(void **state) {
  (void)state;
  rl_tensor *t = NULL, *src = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 3));
  rl_tensor *ix = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 1, 0)), *y = NULL, *g[2] = {0};
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(2), &t));
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  TU_OK(rl_tensor_set_requires_grad(src, 1));
  TU_OK(rl_scatter(t, 0, ix, src, 0, &y));
  assert_float_equal(rl_tensor_data(y)[0], 3, 0);
  assert_float_equal(rl_tensor_data(y)[1], 2, 0);
  rl_tensor *seed = tu_tensor(1, TU_SHAPE(2), TU_DATA(10, 20));
  TU_OK(rl_tape_backward(y, seed, 2, (rl_tensor *[]){t, src}, g, NULL));
  rl_tensor *wt = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, 0)), *ws = tu_tensor(1, TU_SHAPE(3), TU_DATA(0, 20, 10));
  tu_assert_close(g[0], wt, 0, 0);
  tu_assert_close(g[1], ws, 0, 0);
  release_all(9, (rl_tensor *[]){t, src, ix, y, seed, wt, ws, g[0], g[1]});
  tu_assert_no_leaks();
}

static void test_index_errors(void **state) {
  (void)state;
  rl_tensor *t = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(3, 2), &t));
  rl_tensor *frac = tu_tensor(2, TU_SHAPE(1, 2), TU_DATA(0, 1.5f));
  rl_tensor *high = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(0, 3));
  rl_tensor *neg = tu_tensor(2, TU_SHAPE(1, 1), TU_DATA(-1));
  rl_tensor *wide = tu_tensor(2, TU_SHAPE(1, 3), TU_DATA(0, 0, 0));
  rl_tensor *flat = tu_tensor(1, TU_SHAPE(2), TU_DATA(0, 0));
  tu_assert_error(rl_gather(t, 0, frac, &y), RL_EARG, "gather: index 1.5 at [0, 1] is not a whole number");
  assert_null(y);
  tu_assert_error(rl_gather(t, 0, high, &y), RL_EARG,
                  "gather: index 3 at [1, 0] is out of range for dim 1 (size 3) of [3 x 2]");
  tu_assert_error(rl_gather(t, 1, neg, &y), RL_EARG, "gather: index -1 at [0, 0] is out of range for dim 2 (size 2)");
  tu_assert_error(rl_gather(t, 0, wide, &y), RL_ESHAPE, "gather: index [1 x 3] is larger than input [3 x 2] in dim 2");
  tu_assert_error(rl_gather(t, 0, flat, &y), RL_ESHAPE, "gather: input [3 x 2], index [2]");
  tu_assert_error(rl_gather(t, 2, high, &y), RL_EARG, "gather: dim 2 is out of range");
  tu_assert_error(rl_scatter(t, 0, high, frac, 0, &y), RL_ESHAPE,
                  "scatter: index [2 x 1] is larger than source [1 x 2] in dim 1");
  tu_assert_error(rl_scatter(t, 0, high, t, 1, &y), RL_EARG, "scatter_add: index 3 at [1, 0] is out of range");
  tu_assert_error(rl_scatter(t, 0, frac, t, 0, &y), RL_EARG, "scatter: index 1.5 at [0, 1]");
  release_all(6, (rl_tensor *[]){t, frac, high, neg, wide, flat});
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== cat */

static void test_cat_values(void **state) {
  (void)state;
  rl_tensor *a = tu_tensor(2, TU_SHAPE(1, 2), TU_DATA(1, 2)), *b = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(3, 4, 5, 6));
  rl_tensor *y = NULL, *y1 = NULL, *bt = NULL;
  TU_OK(rl_cat(2, (rl_tensor *[]){a, b}, 0, &y));
  rl_tensor *w = tu_tensor(2, TU_SHAPE(3, 2), TU_DATA(1, 2, 3, 4, 5, 6));
  tu_assert_close(y, w, 0, 0);
  TU_OK(rl_tensor_view_transpose(b, 0, 1, &bt)); /* [[3, 5], [4, 6]] */
  rl_tensor *c = tu_tensor(2, TU_SHAPE(2, 1), TU_DATA(7, 8));
  TU_OK(rl_cat(3, (rl_tensor *[]){bt, c, b}, -1, &y1));
  rl_tensor *w1 = tu_tensor(2, TU_SHAPE(2, 5), TU_DATA(3, 5, 7, 3, 4, 4, 6, 8, 5, 6));
  tu_assert_close(y1, w1, 0, 0);
  release_all(8, (rl_tensor *[]){a, b, y, y1, bt, w, c, w1});
  tu_assert_no_leaks();
}

static rl_status f_cat(rl_tensor *const *in, rl_tensor **out, void *ud) {
  return rl_cat(3, in, *(int *)ud, out);
}

static void test_cat_grad(void **state) {
  (void)state;
  int dim = 0;
  rl_tensor *in[3] = {tu_randn(2, TU_SHAPE(2, 3), 1, 0), tu_randn(2, TU_SHAPE(1, 3), 2, 0),
                      tu_randn(2, TU_SHAPE(4, 3), 3, 0)};
  tu_gradcheck(f_cat, 3, in, NULL, &dim, NULL);
  release_all(3, in);
  dim = 1;
  rl_tensor *in1[3] = {tu_randn(3, TU_SHAPE(2, 3, 2), 4, 0), tu_randn(3, TU_SHAPE(2, 1, 2), 5, 0),
                       tu_randn(3, TU_SHAPE(2, 2, 2), 6, 0)};
  tu_gradcheck(f_cat, 3, in1, (int[]){1, 0, 1}, &dim, NULL);
  release_all(3, in1);
  dim = -1;
  rl_tensor *in2[3] = {tu_randn(2, TU_SHAPE(3, 1), 7, 0), tu_randn(2, TU_SHAPE(3, 2), 8, 0),
                       tu_randn(2, TU_SHAPE(3, 3), 9, 0)};
  tu_gradcheck(f_cat, 3, in2, NULL, &dim, NULL);
  release_all(3, in2);
  tu_assert_no_leaks();
}

/* cat hands each producer a strided slab of its gradient: matmul, pad and
** gather must read grad_output through its strides. */
static rl_status f_composite(rl_tensor *const *in, rl_tensor **out, void *ud) {
  rl_tensor *parts[3] = {0};
  rl_status st;
  (void)ud;
  if ((st = rl_matmul(in[0], in[1], &parts[0])) == RL_OK &&
      (st = rl_pad(in[2], 1, TU_SHAPE(1, 1), RL_PAD_REFLECT, 0, &parts[1])) == RL_OK &&
      (st = rl_gather(in[3], 1, in[4], &parts[2])) == RL_OK)
    st = rl_cat(3, parts, 1, out);
  release_all(3, parts);
  return st;
}

static void test_strided_grad_output(void **state) {
  (void)state;
  rl_tensor *in[5] = {tu_randn(2, TU_SHAPE(2, 4), 1, 0), tu_randn(2, TU_SHAPE(4, 3), 2, 0),
                      tu_randn(2, TU_SHAPE(2, 2), 3, 0), tu_randn(2, TU_SHAPE(2, 3), 4, 0),
                      tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(2, 2, 0, 1))};
  tu_gradcheck(f_composite, 5, in, (int[]){1, 1, 1, 1, 0}, NULL, NULL);
  release_all(5, in);
  tu_assert_no_leaks();
}

static void test_cat_errors(void **state) {
  (void)state;
  rl_tensor *a = NULL, *b = NULL, *c = NULL, *s = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &a));
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 4), &b));
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(2, 3, 1), &c));
  TU_OK(rl_tensor_full(0, TU_SHAPE(1), 1, &s)); /* rl_tensor_scalar passes memcpy a NULL shape (UBSan) */
  tu_assert_error(rl_cat(2, (rl_tensor *[]){a, b}, 0, &y), RL_ESHAPE,
                  "cat: tensor 2 [2 x 4] does not match tensor 1 [2 x 3] except along dim 1");
  assert_null(y);
  tu_assert_error(rl_cat(2, (rl_tensor *[]){a, c}, 1, &y), RL_ESHAPE, "cat: tensor 2 [2 x 3 x 1] does not match");
  tu_assert_error(rl_cat(2, (rl_tensor *[]){s, s}, 0, &y), RL_ESHAPE, "cat: tensor 1 is 0-dim");
  tu_assert_error(rl_cat(2, (rl_tensor *[]){a, b}, 2, &y), RL_EARG, "cat: dim 2 is out of range");
  tu_assert_error(rl_cat(0, (rl_tensor *[]){a}, 0, &y), RL_EARG, "cat: 0 inputs");
  release_all(4, (rl_tensor *[]){a, b, c, s});
  tu_assert_no_leaks();
}

/* A node's backward rerun on other inputs checks them as the forward did. */
static void test_node_backward(void **state) {
  (void)state;
  rl_tensor *t = tu_randn(2, TU_SHAPE(3, 2), 1, 0), *ix = tu_tensor(2, TU_SHAPE(1, 2), TU_DATA(2, 0));
  rl_tensor *bad = tu_tensor(2, TU_SHAPE(1, 2), TU_DATA(3, 0)), *g = tu_randn(2, TU_SHAPE(1, 2), 2, 0);
  rl_tensor *y = NULL, *gin[3] = {0}, *parts[2] = {0};
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  TU_OK(rl_gather(t, 0, ix, &y));
  tu_assert_error(rl_node_backward(y->node, (rl_tensor *[]){t, bad}, g, NULL, gin), RL_EARG,
                  "gather: index 3 at [0, 0] is out of range");
  rl_tensor_release(y);
  TU_OK(rl_scatter(t, 0, ix, g, 0, &y));
  rl_tensor *gs = tu_randn(2, TU_SHAPE(3, 2), 4, 0), *t2 = tu_randn(2, TU_SHAPE(4, 2), 5, 0);
  tu_assert_error(rl_node_backward(y->node, (rl_tensor *[]){t2, ix, g}, gs, NULL, gin), RL_ESHAPE,
                  "scatter: grad_output [3 x 2] does not match the output [4 x 2]");
  rl_tensor_release(y);
  TU_OK(rl_cat(2, (rl_tensor *[]){t, g}, 0, &y)); /* [4 x 2] */
  rl_tensor *gy = tu_randn(2, TU_SHAPE(4, 2), 3, 0);
  tu_assert_error(rl_node_backward(y->node, (rl_tensor *[]){t, t}, gy, NULL, parts), RL_ESHAPE,
                  "cat: the inputs make 6 along dim 1, grad_output [4 x 2] has 4");
  TU_OK(rl_node_backward(y->node, (rl_tensor *[]){g, t}, gy, NULL, parts)); /* 1 + 3 rows fit too */
  assert_float_equal(rl_tensor_get(parts[1], TU_SHAPE(0, 1)), rl_tensor_get(gy, TU_SHAPE(1, 1)), 0);
  release_all(11, (rl_tensor *[]){t, ix, bad, g, y, gy, gs, t2, parts[0], parts[1], NULL});
  tu_assert_no_leaks();
}

typedef struct sweep {
  rl_tensor *in[3], *grads[3];
} sweep;

static rl_status cat_forward_backward(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL;
  rl_status st = rl_cat(3, s->in, 1, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 3, s->in, s->grads, NULL);
  rl_tensor_release(y);
  return st;
}

static rl_status scatter_forward_backward(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL;
  rl_status st = rl_scatter(s->in[0], 1, s->in[1], s->in[2], 0, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 2, (rl_tensor *[]){s->in[0], s->in[2]}, s->grads, NULL);
  rl_tensor_release(y);
  return st;
}

static void release_grads(void *ud) {
  sweep *s = ud;
  for (int i = 0; i < 3; i++) {
    rl_tensor_release(s->grads[i]);
    s->grads[i] = NULL;
  }
}

static void test_nomem(void **state) {
  (void)state;
  sweep s = {{tu_randn(2, TU_SHAPE(2, 3), 1, 0), tu_randn(2, TU_SHAPE(2, 1), 2, 0),
              tu_randn(2, TU_SHAPE(2, 2), 3, 0)}, {0}};
  for (int i = 0; i < 3; i++) TU_OK(rl_tensor_set_requires_grad(s.in[i], 1));
  assert_true(tu_nomem_sweep(cat_forward_backward, release_grads, &s) >= 5);
  release_all(3, s.in);
  sweep t = {{tu_randn(2, TU_SHAPE(2, 3), 4, 0), rand_index(2, TU_SHAPE(2, 2), 3, 5),
              tu_randn(2, TU_SHAPE(2, 2), 6, 0)}, {0}};
  TU_OK(rl_tensor_set_requires_grad(t.in[0], 1));
  TU_OK(rl_tensor_set_requires_grad(t.in[2], 1));
  assert_true(tu_nomem_sweep(scatter_forward_backward, release_grads, &t) >= 5);
  release_all(3, t.in);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gather_values),  cmocka_unit_test(test_gather_grad),
      cmocka_unit_test(test_scatter_values), cmocka_unit_test(test_scatter_grad),
      cmocka_unit_test(test_scatter_winner), cmocka_unit_test(test_index_errors),
      cmocka_unit_test(test_cat_values),     cmocka_unit_test(test_cat_grad),
      cmocka_unit_test(test_strided_grad_output),
      cmocka_unit_test(test_cat_errors),     cmocka_unit_test(test_node_backward),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
