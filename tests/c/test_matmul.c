/* test_matmul.c: matrix products, batched and broadcast, strided operands, gradients. */
#include <string.h>

#include "testutil.h"

/* {==================== a slow reference */

/* out = a @ b by the definition, batch dims broadcasting, read through
** rl_tensor_get so that any strides are followed. */
static rl_tensor *naive_matmul(const rl_tensor *a, const rl_tensor *b) {
  int nd = a->ndim > b->ndim ? a->ndim : b->ndim, nb = nd - 2;
  int64_t shape[RL_MAX_DIMS], idx[RL_MAX_DIMS] = {0};
  for (int i = 0; i < nb; i++) {
    int da = a->ndim - nd + i, db = b->ndim - nd + i;
    int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    shape[i] = sa > sb ? sa : sb;
  }
  int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], n = b->shape[b->ndim - 1];
  shape[nb] = m;
  shape[nb + 1] = n;
  rl_tensor *c = NULL;
  TU_OK(rl_tensor_zeros(nd, shape, &c));
  float *cd = rl_tensor_data(c);
  for (int64_t e = 0, total = rl_tensor_numel(c); e < total; e++) {
    int64_t r = e, ia[RL_MAX_DIMS], ib[RL_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r /= shape[d];
    }
    for (int d = 0; d < nb; d++) {
      int da = a->ndim - nd + d, db = b->ndim - nd + d;
      if (da >= 0) ia[da] = a->shape[da] == 1 ? 0 : idx[d];
      if (db >= 0) ib[db] = b->shape[db] == 1 ? 0 : idx[d];
    }
    double acc = 0;
    for (int64_t q = 0; q < k; q++) {
      ia[a->ndim - 2] = idx[nb], ia[a->ndim - 1] = q;
      ib[b->ndim - 2] = q, ib[b->ndim - 1] = idx[nb + 1];
      acc += (double)rl_tensor_get(a, ia) * rl_tensor_get(b, ib);
    }
    cd[e] = (float)acc;
  }
  return c;
}

static void check_against_naive(rl_tensor *a, rl_tensor *b) {
  rl_tensor *y = NULL, *ref = naive_matmul(a, b);
  TU_OK(rl_matmul(a, b, &y));
  assert_true(rl_tensor_is_contiguous(y));
  tu_assert_close(y, ref, 1e-5, 1e-5);
  rl_tensor_release(y);
  rl_tensor_release(ref);
}
/* }==================== */

/* {==================== values */

static void test_literal(void **state) {
  (void)state;
  rl_tensor *a = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, 2, 3, 4, 5, 6));
  rl_tensor *b = tu_tensor(2, TU_SHAPE(3, 2), TU_DATA(7, 8, 9, 10, 11, 12));
  rl_tensor *y = NULL, *bt = NULL, *yt = NULL;
  TU_OK(rl_matmul(a, b, &y));
  rl_tensor *want = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(58, 64, 139, 154));
  tu_assert_close(y, want, 0, 0);
  /* b^T @ a^T = (a b)^T, both operands transposed views */
  rl_tensor *at = NULL;
  TU_OK(rl_tensor_view_transpose(a, 0, 1, &at));
  TU_OK(rl_tensor_view_transpose(b, 0, 1, &bt));
  TU_OK(rl_matmul(bt, at, &yt));
  rl_tensor *wt = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(58, 139, 64, 154));
  tu_assert_close(yt, wt, 0, 0);
  rl_tensor_release(a), rl_tensor_release(b), rl_tensor_release(at), rl_tensor_release(bt);
  rl_tensor_release(y), rl_tensor_release(yt), rl_tensor_release(want), rl_tensor_release(wt);
  tu_assert_no_leaks();
}

/* Every layout the kernel meets: plain, transposed, rows at a wider
** stride, rows at stride 0 (an expanded operand, copied), permuted batch. */
static void test_layouts(void **state) {
  (void)state;
  rl_tensor *a = tu_randn(2, TU_SHAPE(4, 6), 1, 0), *b = tu_randn(2, TU_SHAPE(5, 3), 2, 0);
  rl_tensor *c = tu_randn(2, TU_SHAPE(6, 2), 3, 0);
  rl_tensor *an = NULL, *bt = NULL, *al = NULL, *brow = NULL, *ex = NULL;
  check_against_naive(a, c);
  TU_OK(rl_tensor_view_narrow(a, 1, 1, 5, &an)); /* [4 x 5], row stride 6 */
  check_against_naive(an, b);
  TU_OK(rl_tensor_view_transpose(b, 0, 1, &bt)); /* [3 x 5], transposed */
  TU_OK(rl_tensor_view_narrow(a, 1, 0, 3, &al));
  check_against_naive(al, bt);
  TU_OK(rl_tensor_view_narrow(b, 0, 2, 1, &brow));
  TU_OK(rl_tensor_view_expand(brow, 2, TU_SHAPE(6, 3), &ex)); /* rows at stride 0 */
  check_against_naive(a, ex);
  rl_tensor *c3 = tu_randn(3, TU_SHAPE(4, 2, 3), 4, 0), *p = NULL;
  TU_OK(rl_tensor_view_permute(c3, (int[]){1, 0, 2}, &p)); /* [2 x 4 x 3], batch stride 3 */
  rl_tensor *d3 = tu_randn(3, TU_SHAPE(2, 4, 3), 5, 0), *q = NULL;
  TU_OK(rl_tensor_view_permute(d3, (int[]){0, 2, 1}, &q)); /* [2 x 3 x 4], transposed */
  check_against_naive(p, q);
  check_against_naive(q, p);
  rl_tensor_release(a), rl_tensor_release(b), rl_tensor_release(c), rl_tensor_release(an);
  rl_tensor_release(bt), rl_tensor_release(al), rl_tensor_release(brow), rl_tensor_release(ex);
  rl_tensor_release(c3), rl_tensor_release(p), rl_tensor_release(d3), rl_tensor_release(q);
  tu_assert_no_leaks();
}

static void test_batched_values(void **state) {
  (void)state;
  struct { int na, nb; int64_t sa[4], sb[4]; } cases[] = {
      {3, 3, {2, 3, 4}, {2, 4, 5}},       /* plain batch */
      {3, 2, {3, 2, 4}, {4, 5}},          /* shared b: one tall product */
      {2, 3, {2, 4}, {3, 4, 5}},          /* shared a */
      {4, 3, {2, 1, 3, 4}, {3, 4, 2}},    /* broadcast both ways */
      {3, 3, {1, 2, 3}, {4, 3, 1}},       /* size-1 batch and n = 1 */
      {3, 2, {3, 1, 4}, {4, 2}},          /* m = 1 */
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    rl_tensor *a = tu_randn(cases[c].na, cases[c].sa, 10 + c, 0);
    rl_tensor *b = tu_randn(cases[c].nb, cases[c].sb, 20 + c, 0);
    check_against_naive(a, b);
    rl_tensor_release(a);
    rl_tensor_release(b);
  }
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== gradients */

static rl_status f_matmul(rl_tensor *const *in, rl_tensor **out, void *ud) {
  (void)ud;
  return rl_matmul(in[0], in[1], out);
}

/* b enters transposed: a @ b^T, through the view. */
static rl_status f_matmul_bt(rl_tensor *const *in, rl_tensor **out, void *ud) {
  rl_tensor *t = NULL;
  rl_status st = rl_tensor_view_transpose(in[1], -2, -1, &t);
  (void)ud;
  if (st == RL_OK) st = rl_matmul(in[0], t, out);
  rl_tensor_release(t);
  return st;
}

static void gradcheck_shapes(tu_fn f, int na, const int64_t *sa, int nb, const int64_t *sb,
                             uint64_t seed) {
  rl_tensor *in[2] = {tu_randn(na, sa, seed, 0), tu_randn(nb, sb, seed + 1, 0)};
  tu_gradcheck(f, 2, in, NULL, NULL, NULL);
  rl_tensor_release(in[0]);
  rl_tensor_release(in[1]);
  tu_assert_no_leaks();
}

static void test_grad_2d(void **state) {
  (void)state;
  gradcheck_shapes(f_matmul, 2, TU_SHAPE(3, 4), 2, TU_SHAPE(4, 5), 30);
  gradcheck_shapes(f_matmul, 2, TU_SHAPE(1, 3), 2, TU_SHAPE(3, 1), 31);
}

static void test_grad_batched(void **state) {
  (void)state;
  gradcheck_shapes(f_matmul, 3, TU_SHAPE(2, 3, 4), 3, TU_SHAPE(2, 4, 2), 40);
  gradcheck_shapes(f_matmul, 3, TU_SHAPE(2, 3, 4), 2, TU_SHAPE(4, 5), 41);
  gradcheck_shapes(f_matmul, 2, TU_SHAPE(3, 4), 3, TU_SHAPE(2, 4, 5), 42);
}

static void test_grad_broadcast(void **state) {
  (void)state;
  gradcheck_shapes(f_matmul, 4, TU_SHAPE(2, 1, 3, 4), 3, TU_SHAPE(3, 4, 2), 50);
  gradcheck_shapes(f_matmul, 3, TU_SHAPE(1, 2, 3), 4, TU_SHAPE(2, 2, 3, 2), 51);
}

static void test_grad_transposed(void **state) {
  (void)state;
  gradcheck_shapes(f_matmul_bt, 2, TU_SHAPE(3, 4), 2, TU_SHAPE(5, 4), 60);
  gradcheck_shapes(f_matmul_bt, 3, TU_SHAPE(2, 3, 4), 3, TU_SHAPE(2, 5, 4), 61);
  gradcheck_shapes(f_matmul_bt, 3, TU_SHAPE(2, 3, 4), 2, TU_SHAPE(5, 4), 62);
}
/* }==================== */

/* {==================== errors and allocation failures */

static void test_errors(void **state) {
  (void)state;
  rl_tensor *a = NULL, *b = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &a));
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(4, 5), &b));
  tu_assert_error(rl_matmul(a, b, &y), RL_ESHAPE, "matmul: [2 x 3] @ [4 x 5]: inner dims 3 and 4 differ");
  assert_null(y);
  rl_tensor_release(b);
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &b));
  tu_assert_error(rl_matmul(a, b, &y), RL_ESHAPE, "matmul: [2 x 3] @ [3]: operands need at least 2 dims");
  rl_tensor_release(a), rl_tensor_release(b);
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(2, 2, 3), &a));
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(3, 3, 5), &b));
  tu_assert_error(rl_matmul(a, b, &y), RL_ESHAPE,
                  "matmul: [2 x 2 x 3] @ [3 x 3 x 5]: batch dims 2 and 3 do not broadcast");
  tu_assert_error(rl_matmul(a, NULL, &y), RL_EARG, "matmul: input 2 (b) is missing");
  rl_tensor_release(a), rl_tensor_release(b);
  tu_assert_no_leaks();
}

/* Rules rerun a node's backward on other inputs: ones that fit work, ones
** that do not fit grad_output are refused. */
static void test_node_backward(void **state) {
  (void)state;
  rl_tensor *a = tu_randn(2, TU_SHAPE(2, 3), 80, 0), *b = tu_randn(2, TU_SHAPE(3, 4), 81, 0);
  rl_tensor *g = tu_randn(2, TU_SHAPE(2, 4), 82, 0), *a2 = NULL, *a3 = NULL, *y = NULL, *at = NULL;
  rl_tensor *gin[2] = {0};
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_matmul(a, b, &y));
  TU_OK(rl_tensor_clone(a, &a2));
  for (int i = 0; i < 6; i++) rl_tensor_data(a2)[i] *= 2;
  TU_OK(rl_node_backward(y->node, (rl_tensor *[]){a2, b}, g, NULL, gin));
  TU_OK(rl_tensor_view_transpose(a2, 0, 1, &at));
  rl_tensor *want = naive_matmul(at, g); /* grad_b = (2a)^T g */
  tu_assert_close(gin[1], want, 1e-5, 1e-5);
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(3, 3), &a3));
  rl_tensor_release(gin[0]), rl_tensor_release(gin[1]);
  tu_assert_error(rl_node_backward(y->node, (rl_tensor *[]){a3, b}, g, NULL, gin), RL_ESHAPE,
                  "matmul: grad_output [2 x 4] does not match the output [3 x 4] of [3 x 3] @ [3 x 4]");
  assert_null(gin[0]);
  rl_tensor_release(a), rl_tensor_release(b), rl_tensor_release(g), rl_tensor_release(a2);
  rl_tensor_release(a3), rl_tensor_release(y), rl_tensor_release(at), rl_tensor_release(want);
  tu_assert_no_leaks();
}

/* Ctrl-C between batches: RL_EINTR, nothing leaked, the flag cleared. */
static void test_interrupt(void **state) {
  (void)state;
  rl_tensor *a = tu_randn(3, TU_SHAPE(4, 2, 3), 1, 0), *b = tu_randn(3, TU_SHAPE(4, 3, 2), 2, 0);
  rl_tensor *y = (rl_tensor *)1;
  rl_interrupt();
  tu_assert_error(rl_matmul(a, b, &y), RL_EINTR, "matmul: interrupted");
  assert_null(y);
  assert_false(rl_interrupted());
  TU_OK(rl_matmul(a, b, &y));
  rl_tensor_release(a), rl_tensor_release(b), rl_tensor_release(y);
  tu_assert_no_leaks();
}

typedef struct sweep {
  rl_tensor *a, *b, *grads[2];
} sweep;

static rl_status forward_backward(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL, *bt = NULL;
  rl_status st = rl_tensor_view_transpose(s->b, 1, 2, &bt);
  if (st == RL_OK) st = rl_matmul(s->a, bt, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 2, (rl_tensor *[]){s->a, s->b}, s->grads, NULL);
  rl_tensor_release(y);
  rl_tensor_release(bt);
  return st;
}

static void release_grads(void *ud) {
  sweep *s = ud;
  rl_tensor_release(s->grads[0]);
  rl_tensor_release(s->grads[1]);
}

static void test_nomem(void **state) {
  (void)state;
  sweep s = {tu_randn(4, TU_SHAPE(2, 1, 3, 4), 70, 0), tu_randn(3, TU_SHAPE(3, 5, 4), 71, 0), {0}};
  TU_OK(rl_tensor_set_requires_grad(s.a, 1));
  TU_OK(rl_tensor_set_requires_grad(s.b, 1));
  assert_true(tu_nomem_sweep(forward_backward, release_grads, &s) >= 8);
  rl_tensor_release(s.a);
  rl_tensor_release(s.b);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_literal),         cmocka_unit_test(test_layouts),
      cmocka_unit_test(test_batched_values),  cmocka_unit_test(test_grad_2d),
      cmocka_unit_test(test_grad_batched),    cmocka_unit_test(test_grad_broadcast),
      cmocka_unit_test(test_grad_transposed), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_node_backward),   cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_interrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
