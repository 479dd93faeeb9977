/* test_tape.c: recording, the reverse walk, pruning, intermediate gradients,
** per-pass overrides, error paths and allocation failures.
**
** The ops here are defined in the test itself so the tape is checked apart
** from the op library: square (x^2), add2 (a + b, same shapes), counted by a
** call counter so pruning and overrides can be observed. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

static int square_bwd_calls, add_bwd_calls;

static rl_status square_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  rl_status st = rl_tensor_clone(in[0], out);
  *aux = NULL;
  if (st) return st;
  float *p = rl_tensor_data(*out);
  for (int64_t i = 0, m = rl_tensor_numel(*out); i < m; i++) p[i] *= p[i];
  return RL_OK;
}

static rl_status square_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *g, const int *needs,
                            rl_tensor **gin) {
  rl_tensor *x = NULL, *gc = NULL;
  rl_status st;
  square_bwd_calls++;
  RL_TRY(rl_tensor_clone(in[0], &x));
  RL_TRY(rl_tensor_clone(g, &gc));
  float *px = rl_tensor_data(x), *pg = rl_tensor_data(gc);
  for (int64_t i = 0, m = rl_tensor_numel(x); i < m; i++) px[i] = 2 * px[i] * pg[i];
  gin[0] = x;
  x = NULL;
cleanup:
  rl_tensor_release(x);
  rl_tensor_release(gc);
  return st;
}

static rl_status add2_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                          rl_tensor **aux) {
  *aux = NULL;
  if (!rl_tensor_same_shape(in[0], in[1]))
    return rl_error(RL_ESHAPE, "add2: %s vs %s", rl_shapestr(in[0]).s, rl_shapestr(in[1]).s);
  rl_status st = rl_tensor_clone(in[0], out);
  if (st) return st;
  rl_tensor *b = NULL;
  if ((st = rl_tensor_clone(in[1], &b))) {
    rl_tensor_release(*out);
    *out = NULL;
    return st;
  }
  float *p = rl_tensor_data(*out), *q = rl_tensor_data(b);
  for (int64_t i = 0, m = rl_tensor_numel(b); i < m; i++) p[i] += q[i];
  rl_tensor_release(b);
  return RL_OK;
}

static rl_status add2_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                          const rl_tensor *aux, const rl_tensor *g, const int *needs,
                          rl_tensor **gin) {
  rl_status st = RL_OK;
  add_bwd_calls++;
  for (int i = 0; i < 2 && st == RL_OK; i++)
    if (needs[i]) st = rl_tensor_clone(g, &gin[i]);
  return st;
}

static const rl_opdef op_square = {"square", 1, 1, (const char *const[]){"input"}, square_fwd, square_bwd};
static const rl_opdef op_add2 = {"add2", 2, 2, (const char *const[]){"a", "b"}, add2_fwd, add2_bwd};

static rl_status square(rl_tensor *x, rl_tensor **y) { return rl_op_apply(&op_square, NULL, 0, 1, &x, y); }
static rl_status add2(rl_tensor *a, rl_tensor *b, rl_tensor **y) {
  return rl_op_apply(&op_add2, NULL, 0, 2, (rl_tensor *[]){a, b}, y);
}

static rl_tensor *leaf(float a, float b, float c) {
  rl_tensor *t = tu_tensor(1, TU_SHAPE(3), TU_DATA(a, b, c));
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  return t;
}

static void test_no_recording_without_grad(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 3)), *y = NULL;
  TU_OK(square(x, &y));
  assert_null(y->node);
  assert_int_equal(rl_node_live_count(), 0);
  rl_tensor_release(y);
  TU_OK(rl_tensor_set_requires_grad(x, 1));
  int prev = rl_grad_set_enabled(0);
  TU_OK(square(x, &y));
  rl_grad_set_enabled(prev);
  assert_null(y->node);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* c = a^2 + a: a feeds two consumers, so the gradients must be summed. */
static void test_diamond(void **state) {
  (void)state;
  rl_tensor *a = leaf(1, -2, 0.5f), *b = NULL, *c = NULL, *g = NULL;
  TU_OK(square(a, &b));
  TU_OK(add2(b, a, &c));
  TU_OK(rl_tape_backward(c, NULL, 1, &a, &g, NULL));
  rl_tensor *want = tu_tensor(1, TU_SHAPE(3), TU_DATA(3, -3, 2));
  tu_assert_close(g, want, 0, 1e-6);
  rl_tensor_release(g);
  /* the graph is kept: a second pass with a seed */
  rl_tensor *seed = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 0, -1));
  TU_OK(rl_tape_backward(c, seed, 1, &a, &g, NULL));
  rl_tensor *want2 = tu_tensor(1, TU_SHAPE(3), TU_DATA(3, 0, -2));
  tu_assert_close(g, want2, 0, 1e-6);
  rl_tensor *all[] = {a, b, c, g, want, seed, want2};
  for (int i = 0; i < 7; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}

/* r = x^2 + x (residual), y = r^2; gradient at x and at the intermediate h = x^2
** in the same pass: dy/dh = 2r, dy/dx = 2r (2x + 1). */
static void test_residual_and_intermediate(void **state) {
  (void)state;
  rl_tensor *x = leaf(1, 2, -0.5f), *h = NULL, *r = NULL, *y = NULL, *g[2] = {0};
  TU_OK(square(x, &h));
  TU_OK(add2(h, x, &r));
  TU_OK(square(r, &y));
  TU_OK(rl_tape_backward(y, NULL, 2, (rl_tensor *[]){x, h}, g, NULL));
  /* x = 1: r = 2; x = 2: r = 6; x = -0.5: r = -0.25 */
  rl_tensor *gx = tu_tensor(1, TU_SHAPE(3), TU_DATA(12, 60, 0));
  rl_tensor *gh = tu_tensor(1, TU_SHAPE(3), TU_DATA(4, 12, -0.5f));
  tu_assert_close(g[0], gx, 1e-6, 1e-6);
  tu_assert_close(g[1], gh, 1e-6, 1e-6);
  rl_tensor *all[] = {x, h, r, y, g[0], g[1], gx, gh};
  for (int i = 0; i < 8; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}

/* A branch that leads to nothing requested is never walked. */
static void test_pruning(void **state) {
  (void)state;
  rl_tensor *x = leaf(1, 2, 3), *w = leaf(4, 5, 6), *ww = NULL, *y = NULL, *g = NULL;
  TU_OK(square(w, &ww)); /* only w's branch has this square */
  TU_OK(add2(x, ww, &y));
  square_bwd_calls = add_bwd_calls = 0;
  TU_OK(rl_tape_backward(y, NULL, 1, &x, &g, NULL));
  assert_int_equal(add_bwd_calls, 1);
  assert_int_equal(square_bwd_calls, 0);
  rl_tensor *ones = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 1, 1));
  tu_assert_close(g, ones, 0, 0);
  rl_tensor_release(g);
  /* a tensor the root does not depend on gets zeros */
  rl_tensor *other = leaf(7, 7, 7);
  TU_OK(rl_tape_backward(y, NULL, 1, &other, &g, NULL));
  assert_float_equal(rl_tensor_data(g)[1], 0, 0);
  rl_tensor *all[] = {x, w, ww, y, g, ones, other};
  for (int i = 0; i < 7; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}

static int override_calls;

/* Replaces square's backward: forward again with the input doubled, then the
** op's own backward on the doubled input (gradient 4x g instead of 2x g). */
static rl_status doubled_rule(rl_node *nd, rl_tensor *const *in, const rl_tensor *out,
                              const rl_tensor *g, const int *needs, rl_tensor **gin, void *ud) {
  rl_tensor *x2 = NULL, *z = NULL;
  rl_status st;
  override_calls++;
  assert_ptr_equal(ud, &override_calls);
  assert_string_equal(rl_node_op(nd)->name, "square");
  assert_ptr_equal(rl_node_output(nd), out);
  RL_TRY(rl_tensor_clone(in[0], &x2));
  for (int64_t i = 0; i < 3; i++) rl_tensor_data(x2)[i] *= 2;
  RL_TRY(rl_node_forward(nd, &x2, &z)); /* (2x)^2, recorded nowhere */
  assert_null(z->node);
  assert_float_equal(rl_tensor_data(z)[0], 4 * rl_tensor_data(in[0])[0] * rl_tensor_data(in[0])[0], 1e-5);
  RL_TRY(rl_node_backward(nd, &x2, g, needs, gin));
cleanup:
  rl_tensor_release(x2);
  rl_tensor_release(z);
  return st;
}

static void test_override_is_used_for_one_pass(void **state) {
  (void)state;
  rl_tensor *x = leaf(1, 2, 3), *y = NULL, *z = NULL, *g = NULL;
  TU_OK(square(x, &y));
  TU_OK(add2(y, y, &z)); /* z = 2 x^2, dz/dx = 4x; with the rule 8x */
  rl_override ov = {y->node, doubled_rule, &override_calls};
  rl_backward_opts opts = {&ov, 1, NULL, NULL};
  override_calls = 0;
  square_bwd_calls = 0;
  TU_OK(rl_tape_backward(z, NULL, 1, &x, &g, &opts));
  assert_int_equal(override_calls, 1);
  assert_int_equal(square_bwd_calls, 1); /* the rule called the op's backward once */
  rl_tensor *want = tu_tensor(1, TU_SHAPE(3), TU_DATA(8, 16, 24));
  tu_assert_close(g, want, 0, 1e-6);
  rl_tensor_release(g);
  rl_tensor_release(want);
  /* the model is untouched: the next pass without overrides is the plain gradient */
  TU_OK(rl_tape_backward(z, NULL, 1, &x, &g, NULL));
  want = tu_tensor(1, TU_SHAPE(3), TU_DATA(4, 8, 12));
  tu_assert_close(g, want, 0, 1e-6);
  assert_int_equal(override_calls, 1);
  rl_tensor *all[] = {x, y, z, g, want};
  for (int i = 0; i < 5; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}

static rl_override_fn lookup_square(const rl_node *nd, void *lud, void **ud) {
  *ud = &override_calls;
  return strcmp(rl_node_op(nd)->name, "square") == 0 ? doubled_rule : NULL;
}

static void test_override_by_lookup(void **state) {
  (void)state;
  rl_tensor *x = leaf(1, 2, 3), *y = NULL, *g = NULL;
  TU_OK(square(x, &y));
  rl_backward_opts opts = {NULL, 0, lookup_square, NULL};
  override_calls = 0;
  TU_OK(rl_tape_backward(y, NULL, 1, &x, &g, &opts));
  assert_int_equal(override_calls, 1);
  assert_float_equal(rl_tensor_data(g)[2], 12, 1e-6);
  rl_tensor_release(x);
  rl_tensor_release(y);
  rl_tensor_release(g);
  tu_assert_no_leaks();
}

static rl_status wrong_shape_rule(rl_node *nd, rl_tensor *const *in, const rl_tensor *out,
                                  const rl_tensor *g, const int *needs, rl_tensor **gin, void *ud) {
  return rl_tensor_zeros(1, TU_SHAPE(4), &gin[0]);
}

static rl_status failing_rule(rl_node *nd, rl_tensor *const *in, const rl_tensor *out,
                              const rl_tensor *g, const int *needs, rl_tensor **gin, void *ud) {
  return rl_error(RL_EARG, "my rule: refused");
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = leaf(1, 2, 3), *y = NULL, *z = NULL, *g = (rl_tensor *)1, *plain = NULL;
  TU_OK(square(x, &y));
  TU_OK(add2(y, x, &z));
  rl_override ov = {y->node, wrong_shape_rule, NULL};
  rl_backward_opts opts = {&ov, 1, NULL, NULL};
  tu_assert_error(rl_tape_backward(z, NULL, 1, &x, &g, &opts), RL_ESHAPE,
                  "backward of square: gradient for input has shape [4], input is [3]");
  assert_null(g);
  ov.fn = failing_rule;
  tu_assert_error(rl_tape_backward(z, NULL, 1, &x, &g, &opts), RL_EARG, "my rule: refused");
  rl_tensor *seed = tu_tensor(1, TU_SHAPE(2), TU_DATA(1, 1));
  tu_assert_error(rl_tape_backward(z, seed, 1, &x, &g, NULL), RL_ESHAPE,
                  "backward: seed [2] does not match output [3]");
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(3), &plain));
  tu_assert_error(rl_tape_backward(z, NULL, 1, &plain, &g, NULL), RL_EARG, "does not require gradients");
  tu_assert_error(add2(x, seed, &g), RL_ESHAPE, "add2: [3] vs [2]");
  tu_assert_error(rl_op_apply(&op_add2, NULL, 0, 1, &x, &g), RL_EARG, "add2: 1 inputs (takes 2 to 2)");
  rl_tensor *all[] = {x, y, z, seed, plain};
  for (int i = 0; i < 5; i++) rl_tensor_release(all[i]);
  assert_true(rl_grad_enabled()); /* restored after failing passes */
  tu_assert_no_leaks();
}

/* A long chain: the walk is iterative, and freeing it must not leak. */
static void test_long_chain(void **state) {
  (void)state;
  rl_tensor *x = leaf(1, 1, 1), *t = x, *g = NULL;
  rl_tensor_retain(t);
  for (int i = 0; i < 2000; i++) {
    rl_tensor *u = NULL;
    TU_OK(add2(t, x, &u)); /* t_i = t_{i-1} + x */
    rl_tensor_release(t);
    t = u;
  }
  TU_OK(rl_tape_backward(t, NULL, 1, &x, &g, NULL));
  assert_float_equal(rl_tensor_data(g)[0], 2001, 0);
  rl_tensor_release(g);
  rl_tensor_release(t);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

typedef struct pass_state { rl_tensor *x, *g; } pass_state;

static rl_status forward_backward(void *ud) {
  pass_state *s = ud;
  rl_tensor *h = NULL, *r = NULL, *y = NULL, *v = NULL;
  rl_status st;
  RL_TRY(square(s->x, &h));
  RL_TRY(rl_tensor_view_reshape(h, 2, TU_SHAPE(3, 1), &v));
  RL_TRY(rl_tensor_view_reshape(v, 1, TU_SHAPE(3), &r));
  RL_TRY(add2(r, s->x, &y));
  RL_TRY(rl_tape_backward(y, NULL, 1, &s->x, &s->g, NULL));
cleanup:
  rl_tensor_release(h);
  rl_tensor_release(v);
  rl_tensor_release(r);
  rl_tensor_release(y);
  return st;
}

static void release_g(void *ud) { rl_tensor_release(((pass_state *)ud)->g); }

static void test_nomem(void **state) {
  (void)state;
  pass_state s = {leaf(1, 2, 3), NULL};
  assert_true(tu_nomem_sweep(forward_backward, release_g, &s) > 10);
  rl_tensor_release(s.x);
  tu_assert_no_leaks();
}

static rl_status view_chain(rl_tensor *const *in, rl_tensor **out, void *ud) {
  rl_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;
  rl_status st;
  RL_TRY(rl_tensor_view_transpose(in[0], 0, 2, &a));       /* [4 x 3 x 2] */
  RL_TRY(rl_tensor_view_narrow(a, 0, 1, 2, &b));           /* [2 x 3 x 2] */
  RL_TRY(rl_tensor_view_select(b, 1, 2, &c));              /* [2 x 2] */
  RL_TRY(rl_tensor_view_expand(c, 3, TU_SHAPE(3, 2, 2), &d));
  RL_TRY(rl_tensor_view_reshape(d, 1, TU_SHAPE(-1), &e));  /* copies */
  RL_TRY(square(e, &f));
  RL_TRY(rl_tensor_view_unsqueeze(f, 0, out));
cleanup:
  rl_tensor_release(a);
  rl_tensor_release(b);
  rl_tensor_release(c);
  rl_tensor_release(d);
  rl_tensor_release(e);
  rl_tensor_release(f);
  return st;
}

static void test_views_gradcheck(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 5, 0);
  tu_gradcheck(view_chain, 1, &x, NULL, NULL, NULL);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_recording_without_grad),
      cmocka_unit_test(test_diamond),
      cmocka_unit_test(test_residual_and_intermediate),
      cmocka_unit_test(test_pruning),
      cmocka_unit_test(test_override_is_used_for_one_pass),
      cmocka_unit_test(test_override_by_lookup),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_long_chain),
      cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_views_gradcheck),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
