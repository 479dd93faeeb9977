/* test_reduce.c: sum, mean, norm, var over dims; max, min, argmax, argmin:
** values, gradients, errors, allocation failures, the threaded paths. */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* {==================== helpers */

static float at(const rl_tensor *t, int64_t i) { return rl_tensor_data(t)[i]; }

static void assert_shape(const rl_tensor *t, int ndim, const int64_t *shape) {
  if (t->ndim != ndim || memcmp(t->shape, shape, (size_t)ndim * sizeof *shape))
    fail_msg("shape %s, expected %s", rl_shapestr(t).s, rl_shapestr_dims(ndim, shape).s);
}

enum { F_SUM, F_MEAN, F_NORM, F_VAR, F_MAX, F_MIN, F_ARGMAX, F_ARGMIN };

typedef struct red_case {
  int f, ndims, dims[3], keepdim, correction, transpose;
  float p;
} red_case;

static rl_status red_apply(const red_case *c, rl_tensor *t, rl_tensor **out) {
  switch (c->f) {
  case F_SUM: return rl_sum(t, c->ndims, c->dims, c->keepdim, out);
  case F_MEAN: return rl_mean(t, c->ndims, c->dims, c->keepdim, out);
  case F_NORM: return rl_norm(t, c->p, c->ndims, c->dims, c->keepdim, out);
  case F_VAR: return rl_var(t, c->ndims, c->dims, c->correction, c->keepdim, out);
  case F_MAX: return rl_max(t, c->ndims ? c->dims[0] : RL_ALL_DIMS, c->keepdim, out);
  case F_MIN: return rl_min(t, c->ndims ? c->dims[0] : RL_ALL_DIMS, c->keepdim, out);
  case F_ARGMAX: return rl_argmax(t, c->ndims ? c->dims[0] : RL_ALL_DIMS, c->keepdim, out);
  default: return rl_argmin(t, c->ndims ? c->dims[0] : RL_ALL_DIMS, c->keepdim, out);
  }
}

/* The input is used transposed (dims 0 and 1) when the case says so. */
static rl_status f_red(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const red_case *c = ud;
  rl_tensor *t = NULL;
  rl_status st;
  if (!c->transpose) return red_apply(c, in[0], out);
  if ((st = rl_tensor_view_transpose(in[0], 0, 1, &t))) return st;
  st = red_apply(c, t, out);
  rl_tensor_release(t);
  return st;
}

/* Every dims list over [2 x 3 x 4] (and [4 x 3 x 2] transposed), with and
** without keepdim. */
static void gradcheck_all_dims(red_case base) {
  static const struct {
    int ndims, dims[3];
  } lists[] = {{0, {0}},    {1, {0}},     {1, {1}},    {1, {-1}},
               {2, {0, 2}}, {2, {-1, 1}}, {2, {0, 1}}, {3, {2, 0, 1}}};
  for (size_t l = 0; l < sizeof lists / sizeof *lists; l++)
    for (int keep = 0; keep < 2; keep++)
      for (int tr = 0; tr < 2; tr++) {
        red_case c = base;
        c.ndims = lists[l].ndims;
        memcpy(c.dims, lists[l].dims, sizeof c.dims);
        c.keepdim = keep;
        c.transpose = tr;
        rl_tensor *in = tu_randn(3, tr ? TU_SHAPE(3, 2, 4) : TU_SHAPE(2, 3, 4), 30 + l, 0.1f);
        tu_gradcheck(f_red, 1, &in, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
        rl_tensor_release(in);
      }
  /* a vector and a 0-dim tensor */
  red_case c = base;
  c.ndims = 0;
  rl_tensor *v = tu_randn(1, TU_SHAPE(7), 40, 0.1f), *s = tu_randn(0, NULL, 41, 0.1f);
  tu_gradcheck(f_red, 1, &v, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
  if (c.f != F_VAR) tu_gradcheck(f_red, 1, &s, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
  rl_tensor_release(v);
  rl_tensor_release(s);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== sum, mean, norm, var */

static void test_sum_values(void **state) {
  (void)state;
  rl_tensor *t = NULL, *r = NULL, *y = NULL;
  TU_OK(rl_tensor_arange(0, 24, 1, &r));
  TU_OK(rl_tensor_view_reshape(r, 3, TU_SHAPE(2, 3, 4), &t));
  TU_OK(rl_sum(t, 0, NULL, 0, &y));
  assert_int_equal(y->ndim, 0);
  tu_assert_values(y, 1, TU_DATA(276));
  rl_tensor_release(y);
  TU_OK(rl_sum(t, 0, NULL, 1, &y));
  assert_shape(y, 3, TU_SHAPE(1, 1, 1));
  rl_tensor_release(y);
  TU_OK(rl_sum(t, 1, (int[]){-1}, 0, &y));
  assert_shape(y, 2, TU_SHAPE(2, 3));
  tu_assert_values(y, 6, TU_DATA(6, 22, 38, 54, 70, 86));
  rl_tensor_release(y);
  TU_OK(rl_sum(t, 1, (int[]){1}, 1, &y));
  assert_shape(y, 3, TU_SHAPE(2, 1, 4));
  tu_assert_values(y, 8, TU_DATA(12, 15, 18, 21, 48, 51, 54, 57));
  rl_tensor_release(y);
  TU_OK(rl_sum(t, 2, (int[]){2, 0}, 0, &y));
  assert_shape(y, 1, TU_SHAPE(3));
  tu_assert_values(y, 3, TU_DATA(60, 92, 124));
  rl_tensor_release(y);
  TU_OK(rl_mean(t, 2, (int[]){0, 1}, 0, &y));
  tu_assert_values(y, 4, TU_DATA(10, 11, 12, 13));
  rl_tensor_release(y);
  /* a transposed view: [4 x 3 x 2] */
  rl_tensor *tr = NULL;
  TU_OK(rl_tensor_view_transpose(t, 0, 2, &tr));
  TU_OK(rl_sum(tr, 1, (int[]){2}, 0, &y));
  assert_shape(y, 2, TU_SHAPE(4, 3));
  tu_assert_values(y, 12, TU_DATA(12, 20, 28, 14, 22, 30, 16, 24, 32, 18, 26, 34));
  rl_tensor_release(y);
  rl_tensor_release(tr);
  rl_tensor_release(t);
  rl_tensor_release(r);
  tu_assert_no_leaks();
}

static void test_norm_var_values(void **state) {
  (void)state;
  rl_tensor *t = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(3, -4, 0, 1, 2, 2)), *y = NULL, *g = NULL;
  TU_OK(rl_norm(t, 2, 1, (int[]){1}, 0, &y));
  tu_assert_values(y, 2, TU_DATA(5, 3));
  rl_tensor_release(y);
  TU_OK(rl_norm(t, 1, 0, NULL, 0, &y));
  tu_assert_values(y, 1, TU_DATA(12));
  rl_tensor_release(y);
  TU_OK(rl_norm(t, 3, 1, (int[]){0}, 1, &y));
  assert_shape(y, 2, TU_SHAPE(1, 3));
  tu_assert_values(y, 3, TU_DATA(cbrtf(28), cbrtf(72), 2));
  rl_tensor_release(y);
  /* var of [3 -4 0] is 37/3 (mean -1/3); of [1 2 2], 1/3 unbiased, 2/9 biased */
  TU_OK(rl_var(t, 1, (int[]){1}, 1, 0, &y));
  tu_assert_values(y, 2, TU_DATA(37.0f / 3, 1.0f / 3));
  rl_tensor_release(y);
  TU_OK(rl_var(t, 1, (int[]){-1}, 0, 1, &y));
  assert_shape(y, 2, TU_SHAPE(2, 1));
  tu_assert_values(y, 2, TU_DATA(74.0f / 9, 2.0f / 9));
  rl_tensor_release(y);
  /* the norm's gradient is 0 where the norm is 0 (a whole zero row) */
  rl_tensor *z = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(0, 0, 3, 4));
  TU_OK(rl_tensor_set_requires_grad(z, 1));
  for (int p = 1; p <= 3; p++) {
    TU_OK(rl_norm(z, (float)p, 1, (int[]){1}, 0, &y));
    TU_OK(rl_tape_backward(y, NULL, 1, &z, &g, NULL));
    if (p == 2) tu_assert_values(g, 4, TU_DATA(0, 0, 0.6f, 0.8f));
    if (p == 1) tu_assert_values(g, 4, TU_DATA(0, 0, 1, 1));
    if (p == 3) tu_assert_values(g, 4, TU_DATA(0, 0, 9 / powf(91, 2.0f / 3), 16 / powf(91, 2.0f / 3)));
    rl_tensor_release(g);
    rl_tensor_release(y);
  }
  /* mean: 1/n each; var: 2 (x - mean) / (n - 1) */
  TU_OK(rl_mean(z, 0, NULL, 0, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &z, &g, NULL));
  tu_assert_values(g, 4, TU_DATA(0.25f, 0.25f, 0.25f, 0.25f));
  rl_tensor_release(g);
  rl_tensor_release(y);
  TU_OK(rl_var(z, 0, NULL, 1, 0, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &z, &g, NULL));
  tu_assert_values(g, 4, TU_DATA(-7.0f / 6, -7.0f / 6, 5.0f / 6, 9.0f / 6));
  rl_tensor_release(g);
  rl_tensor_release(y);
  rl_tensor_release(z);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_sum_grad(void **state) {
  (void)state;
  gradcheck_all_dims((red_case){.f = F_SUM});
}
static void test_mean_grad(void **state) {
  (void)state;
  gradcheck_all_dims((red_case){.f = F_MEAN});
}

static void test_norm_grad(void **state) {
  (void)state;
  const float ps[] = {2, 1, 3, 0.5f, 1.5f};
  for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
    gradcheck_all_dims((red_case){.f = F_NORM, .p = ps[i]});
}

static void test_var_grad(void **state) {
  (void)state;
  gradcheck_all_dims((red_case){.f = F_VAR, .correction = 1});
  gradcheck_all_dims((red_case){.f = F_VAR, .correction = 0});
}

static void test_sum_errors(void **state) {
  (void)state;
  rl_tensor *t = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &t));
  tu_assert_error(rl_sum(t, 1, (int[]){2}, 0, &y), RL_EARG,
                  "sum: dim 2 is out of range for a 2-dim tensor");
  assert_null(y);
  tu_assert_error(rl_mean(t, 1, (int[]){-3}, 0, &y), RL_EARG, "mean: dim -3 is out of range");
  tu_assert_error(rl_sum(t, 2, (int[]){1, -1}, 0, &y), RL_EARG,
                  "sum: dim -1 is given twice for [2 x 3]");
  tu_assert_error(rl_sum(t, -1, NULL, 0, &y), RL_EARG, "sum: -1 dims to reduce");
  tu_assert_error(rl_sum(t, 9, (int[]){0, 1, 0, 1, 0, 1, 0, 1, 0}, 0, &y), RL_EARG,
                  "sum: 9 dims to reduce");
  tu_assert_error(rl_norm(t, 0, 0, NULL, 0, &y), RL_EARG,
                  "norm: p must be a positive finite number, got 0");
  tu_assert_error(rl_norm(t, INFINITY, 0, NULL, 0, &y), RL_EARG,
                  "norm: p must be a positive finite number, got inf");
  tu_assert_error(rl_norm(t, -2, 1, (int[]){5}, 0, &y), RL_EARG, "norm: dim 5 is out of range");
  tu_assert_error(
      rl_var(t, 1, (int[]){0}, 2, 0, &y), RL_EARG,
      "var: 2 elements per reduction of [2 x 3] leave no degrees of freedom with correction 2");
  tu_assert_error(rl_var(NULL, 0, NULL, 1, 0, &y), RL_EARG, "var: input 1 (input) is missing");
  assert_null(y);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

/* The threaded and blocked paths against sums in double. */
static void test_sum_large(void **state) {
  (void)state;
  rl_tensor *t = tu_randn(2, TU_SHAPE(600, 500), 9, 0), *y = NULL, *tr = NULL;
  double all = 0, sq = 0;
  for (int64_t i = 0; i < 600 * 500; i++) all += at(t, i);
  TU_OK(rl_sum(t, 0, NULL, 0, &y));
  assert_float_equal(at(y, 0), all, 1e-3);
  rl_tensor_release(y);
  TU_OK(rl_mean(t, 1, (int[]){1}, 0, &y)); /* rows in parallel */
  for (int64_t r = 0; r < 600; r += 37) {
    double s = 0;
    for (int64_t j = 0; j < 500; j++) s += at(t, r * 500 + j);
    assert_float_equal(at(y, r), s / 500, 1e-5);
  }
  rl_tensor_release(y);
  TU_OK(rl_tensor_view_transpose(t, 0, 1, &tr)); /* [500 x 600], strided */
  TU_OK(rl_sum(tr, 1, (int[]){1}, 0, &y));
  for (int64_t c = 0; c < 500; c += 23) {
    double s = 0;
    for (int64_t r = 0; r < 600; r++) s += at(t, r * 500 + c);
    assert_float_equal(at(y, c), s, 5e-3);
  }
  rl_tensor_release(y);
  TU_OK(rl_var(tr, 0, NULL, 1, 0, &y));
  for (int64_t i = 0; i < 600 * 500; i++)
    sq += (at(t, i) - all / 300000) * (at(t, i) - all / 300000);
  assert_float_equal(at(y, 0), sq / 299999, 1e-4);
  rl_tensor_release(y);
  TU_OK(rl_norm(t, 2, 0, NULL, 0, &y));
  assert_float_equal(at(y, 0), sqrt(sq + all * all / 300000), 1e-2);
  rl_tensor_release(y);
  rl_tensor_release(tr);
  rl_tensor_release(t);
  /* a sum over the outer dim of a wide tensor: threads split the columns */
  t = tu_randn(2, TU_SHAPE(40, 4096), 10, 0);
  TU_OK(rl_sum(t, 1, (int[]){0}, 1, &y));
  for (int64_t c = 0; c < 4096; c++) {
    double s = 0;
    for (int64_t r = 0; r < 40; r++) s += at(t, r * 4096 + c);
    assert_float_equal(at(y, c), s, 1e-4);
  }
  rl_tensor_release(y);
  TU_OK(rl_argmin(t, 0, 0, &y));
  for (int64_t c = 0; c < 4096; c++) {
    int64_t best = 0;
    for (int64_t r = 1; r < 40; r++)
      if (at(t, r * 4096 + c) < at(t, best * 4096 + c)) best = r;
    assert_float_equal(at(y, c), (float)best, 0);
  }
  rl_tensor_release(y);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== max, min, argmax, argmin */

static void test_max_values(void **state) {
  (void)state;
  /* ties: 5 at columns 1 and 3 of row 0; -1 twice in row 1 */
  rl_tensor *t = tu_tensor(2, TU_SHAPE(2, 4), TU_DATA(1, 5, 2, 5, -1, -3, -1, -3)), *y = NULL,
            *g = NULL;
  TU_OK(rl_max(t, 1, 0, &y));
  assert_shape(y, 1, TU_SHAPE(2));
  tu_assert_values(y, 2, TU_DATA(5, -1));
  rl_tensor_release(y);
  TU_OK(rl_argmax(t, -1, 1, &y));
  assert_shape(y, 2, TU_SHAPE(2, 1));
  tu_assert_values(y, 2, TU_DATA(1, 0));
  rl_tensor_release(y);
  TU_OK(rl_argmin(t, 1, 0, &y));
  tu_assert_values(y, 2, TU_DATA(0, 1));
  rl_tensor_release(y);
  TU_OK(rl_min(t, 0, 0, &y));
  tu_assert_values(y, 4, TU_DATA(-1, -3, -1, -3));
  rl_tensor_release(y);
  TU_OK(rl_argmax(t, 0, 0, &y));
  tu_assert_values(y, 4, TU_DATA(0, 0, 0, 0));
  rl_tensor_release(y);
  TU_OK(rl_argmax(t, RL_ALL_DIMS, 0, &y)); /* flat index, first on ties */
  assert_int_equal(y->ndim, 0);
  tu_assert_values(y, 1, TU_DATA(1));
  rl_tensor_release(y);
  TU_OK(rl_argmin(t, RL_ALL_DIMS, 1, &y));
  assert_shape(y, 2, TU_SHAPE(1, 1));
  tu_assert_values(y, 1, TU_DATA(5));
  rl_tensor_release(y);
  /* the gradient goes to the first extremum only */
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  TU_OK(rl_max(t, 1, 0, &y));
  rl_tensor *seed = tu_tensor(1, TU_SHAPE(2), TU_DATA(2, 3));
  TU_OK(rl_tape_backward(y, seed, 1, &t, &g, NULL));
  tu_assert_values(g, 8, TU_DATA(0, 2, 0, 0, 3, 0, 0, 0));
  rl_tensor_release(g);
  rl_tensor_release(y);
  TU_OK(rl_min(t, RL_ALL_DIMS, 0, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &t, &g, NULL));
  tu_assert_values(g, 8, TU_DATA(0, 0, 0, 0, 0, 1, 0, 0));
  rl_tensor_release(g);
  rl_tensor_release(y);
  TU_OK(rl_max(t, 0, 1, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &t, &g, NULL));
  tu_assert_values(g, 8, TU_DATA(1, 1, 1, 1, 0, 0, 0, 0));
  rl_tensor_release(g);
  rl_tensor_release(y);
  /* a rule may run the recorded backward on other inputs: the extremum is
  ** found again in them */
  rl_tensor *other = tu_tensor(2, TU_SHAPE(2, 4), TU_DATA(9, 0, 0, 0, 0, 0, 0, 8)), *gin = NULL;
  TU_OK(rl_max(t, 1, 0, &y));
  TU_OK(rl_node_backward(y->node, &other, seed, NULL, &gin));
  tu_assert_values(gin, 8, TU_DATA(2, 0, 0, 0, 0, 0, 0, 3));
  rl_tensor_release(gin);
  rl_tensor_release(other);
  rl_tensor_release(y);
  /* argmax records but passes no gradient */
  TU_OK(rl_argmax(t, 1, 0, &y));
  TU_OK(rl_tape_backward(y, NULL, 1, &t, &g, NULL));
  tu_assert_values(g, 8, TU_DATA(0, 0, 0, 0, 0, 0, 0, 0));
  rl_tensor_release(g);
  rl_tensor_release(y);
  /* NaN wins, at its first place */
  rl_tensor *n = tu_tensor(1, TU_SHAPE(4), TU_DATA(1, NAN, 7, NAN));
  TU_OK(rl_max(n, 0, 0, &y));
  assert_true(isnan(at(y, 0)));
  rl_tensor_release(y);
  TU_OK(rl_argmin(n, 0, 0, &y));
  tu_assert_values(y, 1, TU_DATA(1));
  rl_tensor_release(y);
  /* long rows (the lane scan): ties and NaN, rows of 100 */
  rl_tensor *w = NULL;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(3, 100), &w));
  float *pw = rl_tensor_data(w);
  for (int i = 0; i < 300; i++) pw[i] = (float)((i * 7) % 13);
  pw[70] = pw[90] = 20;            /* row 0: max twice */
  pw[100 + 3] = pw[100 + 99] = -5; /* row 1: min twice, at the edges of lanes */
  pw[200 + 80] = NAN;              /* row 2: NaN wins both */
  TU_OK(rl_argmax(w, 1, 0, &y));
  tu_assert_values(y, 3, TU_DATA(70, 2, 80));
  rl_tensor_release(y);
  TU_OK(rl_argmin(w, 1, 0, &y));
  assert_int_equal((int)at(y, 1), 3);
  assert_int_equal((int)at(y, 2), 80);
  rl_tensor_release(y);
  TU_OK(rl_max(w, -1, 0, &y));
  tu_assert_values(y, 3, TU_DATA(20, 12, NAN));
  rl_tensor_release(y);
  rl_tensor_release(w);
  /* a transposed view: [[1, -1], [5, -3], [2, -1], [5, -3]] */
  rl_tensor *tr = NULL;
  TU_OK(rl_tensor_view_transpose(t, 0, 1, &tr));
  TU_OK(rl_argmax(tr, 0, 0, &y));
  tu_assert_values(y, 2, TU_DATA(1, 0));
  rl_tensor_release(y);
  TU_OK(rl_max(tr, 1, 0, &y));
  tu_assert_values(y, 4, TU_DATA(1, 5, 2, 5));
  rl_tensor_release(y);
  rl_tensor_release(tr);
  rl_tensor_release(n);
  rl_tensor_release(seed);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void gradcheck_ext(int f) {
  /* values kept apart, so a finite-difference step never swaps the extremum */
  for (int s = 0; s < 3; s++)
    for (int tr = 0; tr < 2; tr++) {
      static const int64_t shapes[][3] = {{6, 5, 1}, {3, 4, 5}, {2, 3, 4}};
      for (int dim = -1; dim < 3; dim++) {
        red_case c = {
            .f = f, .ndims = dim >= 0, .dims = {dim}, .keepdim = dim == 1, .transpose = tr};
        rl_tensor *r = NULL;
        TU_OK(rl_tensor_new(3, shapes[s], &r));
        float *p = rl_tensor_data(r);
        for (int64_t i = 0, n = rl_tensor_numel(r); i < n; i++)
          p[i] = (float)((i * 37) % 61) * 0.1f;
        tu_gradcheck(f_red, 1, &r, NULL, &c, &(tu_gradcheck_opts){.eps = 1e-3});
        rl_tensor_release(r);
      }
    }
  tu_assert_no_leaks();
}

static void test_max_grad(void **state) {
  (void)state;
  gradcheck_ext(F_MAX);
}
static void test_min_grad(void **state) {
  (void)state;
  gradcheck_ext(F_MIN);
}

static void test_max_errors(void **state) {
  (void)state;
  rl_tensor *t = NULL, *y = (rl_tensor *)1;
  TU_OK(rl_tensor_zeros(2, TU_SHAPE(2, 3), &t));
  tu_assert_error(rl_max(t, 2, 0, &y), RL_EARG, "max: dim 2 is out of range for a 2-dim tensor");
  assert_null(y);
  tu_assert_error(rl_argmin(t, -3, 0, &y), RL_EARG, "argmin: dim -3 is out of range");
  tu_assert_error(rl_min(t, 7, 1, &y), RL_EARG, "min: dim 7");
  tu_assert_error(rl_argmax(NULL, 0, 0, &y), RL_EARG, "argmax: input 1 (input) is missing");
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_max_large(void **state) {
  (void)state;
  rl_tensor *t = tu_randn(2, TU_SHAPE(700, 200), 11, 0), *v = NULL, *ix = NULL, *tr = NULL;
  TU_OK(rl_max(t, 1, 0, &v));
  TU_OK(rl_argmax(t, 1, 0, &ix));
  for (int64_t r = 0; r < 700; r++) {
    int64_t best = 0;
    for (int64_t j = 1; j < 200; j++)
      if (at(t, r * 200 + j) > at(t, r * 200 + best)) best = j;
    assert_float_equal(at(ix, r), (float)best, 0);
    assert_float_equal(at(v, r), at(t, r * 200 + best), 0);
  }
  rl_tensor_release(v);
  rl_tensor_release(ix);
  TU_OK(rl_tensor_view_transpose(t, 0, 1, &tr));
  TU_OK(rl_argmin(tr, 0, 0, &ix)); /* [700], scanning strided columns */
  for (int64_t r = 0; r < 700; r += 13) {
    int64_t best = 0;
    for (int64_t j = 1; j < 200; j++)
      if (at(t, r * 200 + j) < at(t, r * 200 + best)) best = j;
    assert_float_equal(at(ix, r), (float)best, 0);
  }
  rl_tensor_release(ix);
  TU_OK(rl_argmax(t, RL_ALL_DIMS, 0, &ix));
  int64_t best = 0;
  for (int64_t i = 1; i < 700 * 200; i++)
    if (at(t, i) > at(t, best)) best = i;
  assert_float_equal(at(ix, 0), (float)best, 0);
  rl_tensor_release(ix);
  rl_tensor_release(tr);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}
/* Expanded views (stride 0) as inputs: every element counts as often as it appears. */
static void test_expanded_inputs(void **state) {
  (void)state;
  rl_tensor *a = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, -2, 3)), *e = NULL, *y = NULL, *g = NULL;
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_tensor_view_expand(a, 2, TU_SHAPE(4, 3), &e));
  TU_OK(rl_sum(e, 1, (int[]){0}, 0, &y));
  tu_assert_values(y, 3, TU_DATA(4, -8, 12));
  TU_OK(rl_tape_backward(y, NULL, 1, &a, &g, NULL));
  tu_assert_values(g, 3, TU_DATA(4, 4, 4));
  rl_tensor_release(g);
  rl_tensor_release(y);
  TU_OK(rl_var(e, 1, (int[]){1}, 0, 0, &y)); /* each row is [1 -2 3]: var 38/9 */
  tu_assert_values(y, 4, TU_DATA(38.0f / 9, 38.0f / 9, 38.0f / 9, 38.0f / 9));
  rl_tensor_release(y);
  TU_OK(rl_max(e, 0, 0, &y)); /* all rows tie: the gradient goes to row 0, then sums to a */
  TU_OK(rl_tape_backward(y, NULL, 1, &a, &g, NULL));
  tu_assert_values(g, 3, TU_DATA(1, 1, 1));
  rl_tensor_release(g);
  rl_tensor_release(y);
  TU_OK(rl_argmax(e, 1, 0, &y));
  tu_assert_values(y, 4, TU_DATA(2, 2, 2, 2));
  rl_tensor_release(y);
  rl_tensor_release(e);
  rl_tensor_release(a);
  tu_assert_no_leaks();
}

static void test_backward_on_other_inputs(void **state) {
  (void)state;
  rl_tensor *t = tu_randn(2, TU_SHAPE(2, 3), 1, 0), *other = tu_randn(2, TU_SHAPE(3, 3), 2, 0);
  rl_tensor *s = NULL, *m = NULL, *gin = NULL;
  TU_OK(rl_tensor_set_requires_grad(t, 1));
  TU_OK(rl_sum(t, 1, (int[]){1}, 0, &s));
  tu_assert_error(rl_node_backward(s->node, &other, s, NULL, &gin), RL_ESHAPE,
                  "backward of sum: gradient [2] does not fit the output [3] of these inputs");
  assert_null(gin);
  TU_OK(rl_max(t, 0, 1, &m));
  TU_OK(rl_node_backward(m->node, &other, m, NULL, &gin)); /* [1 x 3] fits */
  rl_tensor_release(gin);
  rl_tensor *v = tu_randn(1, TU_SHAPE(3), 3, 0);
  tu_assert_error(rl_node_backward(m->node, &v, m, NULL, &gin), RL_ESHAPE,
                  "does not fit the output [1] of");
  rl_tensor_release(v);
  v = tu_randn(2, TU_SHAPE(2, 4), 3, 0);
  tu_assert_error(rl_node_backward(m->node, &v, m, NULL, &gin), RL_ESHAPE,
                  "backward of max: gradient [1 x 3] does not fit the output [1 x 4]");
  rl_tensor_release(v);
  rl_tensor *all[] = {t, other, s, m};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== the tape, allocation failures */

static void test_tape(void **state) {
  (void)state;
  /* (sum over dim 1 of a) * max(a): both paths reach a */
  rl_tensor *a = tu_tensor(2, TU_SHAPE(2, 2), TU_DATA(1, 2, 3, 4)), *s = NULL, *m = NULL, *y = NULL,
            *g = NULL, *total = NULL;
  TU_OK(rl_tensor_set_requires_grad(a, 1));
  TU_OK(rl_sum(a, 1, (int[]){1}, 0, &s)); /* [3, 7] */
  TU_OK(rl_max(a, RL_ALL_DIMS, 0, &m));   /* 4 */
  TU_OK(rl_mul(s, m, &y));                /* [12, 28] */
  TU_OK(rl_sum(y, 0, NULL, 0, &total));   /* 40 = 4 * sum(a) */
  tu_assert_values(total, 1, TU_DATA(40));
  TU_OK(rl_tape_backward(total, NULL, 1, &a, &g, NULL));
  tu_assert_values(g, 4, TU_DATA(4, 4, 4, 4 + 10));
  rl_tensor_release(g);
  rl_tensor *all[] = {a, s, m, y, total};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rl_tensor_release(all[i]);
  tu_assert_no_leaks();
}

typedef struct nomem_ud {
  rl_tensor *t, *grad;
  int f;
} nomem_ud;

static rl_status call_reduce(void *p) {
  nomem_ud *u = p;
  rl_tensor *y = NULL, *tr = NULL;
  rl_status st = rl_tensor_view_transpose(u->t, 0, 2, &tr);
  if (st) return st;
  switch (u->f) {
  case F_SUM: st = rl_sum(tr, 2, (int[]){0, 2}, 1, &y); break;
  case F_VAR: st = rl_var(tr, 1, (int[]){1}, 1, 0, &y); break;
  case F_NORM: st = rl_norm(tr, 3, 2, (int[]){0, 1}, 0, &y); break;
  case F_MAX: st = rl_max(tr, 1, 0, &y); break;
  default: st = rl_max(tr, RL_ALL_DIMS, 0, &y); break;
  }
  rl_tensor_release(tr);
  if (st) return st;
  st = rl_tape_backward(y, NULL, 1, &u->t, &u->grad, NULL);
  rl_tensor_release(y);
  return st;
}

static void release_grad(void *p) {
  nomem_ud *u = p;
  rl_tensor_release(u->grad);
  u->grad = NULL;
}

static void test_nomem(void **state) {
  (void)state;
  nomem_ud u = {tu_randn(3, TU_SHAPE(2, 3, 4), 12, 0), NULL, 0};
  TU_OK(rl_tensor_set_requires_grad(u.t, 1));
  const int fs[] = {F_SUM, F_VAR, F_NORM, F_MAX, -1};
  for (int i = 0; i < 5; i++) {
    u.f = fs[i];
    assert_true(tu_nomem_sweep(call_reduce, release_grad, &u) >= 5);
  }
  rl_tensor_release(u.t);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sum_values),      cmocka_unit_test(test_norm_var_values),
      cmocka_unit_test(test_sum_grad),        cmocka_unit_test(test_mean_grad),
      cmocka_unit_test(test_norm_grad),       cmocka_unit_test(test_var_grad),
      cmocka_unit_test(test_sum_errors),      cmocka_unit_test(test_sum_large),
      cmocka_unit_test(test_max_values),      cmocka_unit_test(test_max_grad),
      cmocka_unit_test(test_min_grad),        cmocka_unit_test(test_max_errors),
      cmocka_unit_test(test_max_large),       cmocka_unit_test(test_tape),
      cmocka_unit_test(test_expanded_inputs), cmocka_unit_test(test_backward_on_other_inputs),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
