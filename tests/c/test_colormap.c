/* test_colormap.c: the tables against values printed by matplotlib 3.6.3 and
** worked out from Zennit's coldnhot definition; the value-to-index rule;
** errors; allocation failures. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static void expect_entry(rl_cmap c, int k, float r, float g, float b) {
  const float(*t)[3] = rl_colormap_table(c);
  assert_non_null(t);
  if (fabsf(t[k][0] - r) > 1e-7f || fabsf(t[k][1] - g) > 1e-7f || fabsf(t[k][2] - b) > 1e-7f)
    fail_msg("%s[%d] = (%.9g, %.9g, %.9g), expected (%.9g, %.9g, %.9g)", rl_colormap_name(c), k, t[k][0], t[k][1],
             t[k][2], r, g, b);
}

static void test_tables(void **state) {
  (void)state;
  /* python3 -c "import matplotlib; print(matplotlib.colormaps['viridis'](0))" and so on */
  expect_entry(RL_CMAP_VIRIDIS, 0, 0.267004013f, 0.00487399986f, 0.329414994f);
  expect_entry(RL_CMAP_VIRIDIS, 100, 0.166617006f, 0.463708013f, 0.558118999f);
  expect_entry(RL_CMAP_VIRIDIS, 255, 0.993247986f, 0.906157017f, 0.143935993f);
  expect_entry(RL_CMAP_INFERNO, 0, 0.00146199996f, 0.000465999998f, 0.0138659999f);
  expect_entry(RL_CMAP_INFERNO, 37, 0.162689f, 0.0435540006f, 0.333276987f);
  expect_entry(RL_CMAP_INFERNO, 255, 0.988362014f, 0.998363972f, 0.644923985f);
  expect_entry(RL_CMAP_JET, 0, 0, 0, 0.5f);
  expect_entry(RL_CMAP_JET, 128, 0.490196079f, 1, 0.477545857f);
  expect_entry(RL_CMAP_JET, 255, 0.5f, 0, 0);
  expect_entry(RL_CMAP_COOLWARM, 0, 0.229805693f, 0.298717976f, 0.75368315f);
  expect_entry(RL_CMAP_COOLWARM, 128, 0.867427647f, 0.864376605f, 0.862602472f);
  expect_entry(RL_CMAP_COOLWARM, 255, 0.705673158f, 0.0155561604f, 0.150232807f);
  expect_entry(RL_CMAP_SEISMIC, 0, 0, 0, 0.300000012f);
  expect_entry(RL_CMAP_SEISMIC, 128, 1, 0.992156863f, 0.992156863f);
  expect_entry(RL_CMAP_SEISMIC, 255, 0.5f, 0, 0);
  expect_entry(RL_CMAP_BWR, 127, 0.996078432f, 0.996078432f, 1);
  expect_entry(RL_CMAP_BWR, 128, 1, 0.996078432f, 0.996078432f);
  for (int k = 0; k < 256; k++) expect_entry(RL_CMAP_GRAY, k, k / 255.0f, k / 255.0f, k / 255.0f);
  /* coldnhot '0ff,00f,80:000,f00,ff0,fff': nodes at 0 (cyan), 64 (blue),
  ** 128 (black), 170 (red), 212 (yellow), 255 (white) */
  expect_entry(RL_CMAP_COLDNHOT, 0, 0, 1, 1);
  expect_entry(RL_CMAP_COLDNHOT, 32, 0, 0.5f, 1);
  expect_entry(RL_CMAP_COLDNHOT, 64, 0, 0, 1);
  expect_entry(RL_CMAP_COLDNHOT, 96, 0, 0, 0.5f);
  expect_entry(RL_CMAP_COLDNHOT, 128, 0, 0, 0);
  expect_entry(RL_CMAP_COLDNHOT, 149, 0.5f, 0, 0);
  expect_entry(RL_CMAP_COLDNHOT, 170, 1, 0, 0);
  expect_entry(RL_CMAP_COLDNHOT, 191, 1, 0.5f, 0);
  expect_entry(RL_CMAP_COLDNHOT, 212, 1, 1, 0);
  expect_entry(RL_CMAP_COLDNHOT, 255, 1, 1, 1);
  assert_null(rl_colormap_table(RL_CMAP_COUNT));
  assert_null(rl_colormap_name((rl_cmap)-1));
}

static void test_names(void **state) {
  (void)state;
  for (int k = 0; k < RL_CMAP_COUNT; k++) {
    rl_cmap c = RL_CMAP_COUNT;
    TU_OK(rl_colormap_find(rl_colormap_name((rl_cmap)k), &c));
    assert_int_equal(c, k);
  }
  rl_cmap c;
  tu_assert_error(rl_colormap_find("hot", &c), RL_EARG, "colormap: unknown colour map 'hot' (bwr, seismic");
  tu_assert_error(rl_colormap_find(NULL, &c), RL_EARG, "'(null)'");
}

static void test_apply(void **state) {
  (void)state;
  /* matplotlib's rule: index floor(256 u), u = (v - vmin) / (vmax - vmin), clamped */
  const float v[8] = {0, 1, 0.5f, 0.499f, -5, 7, NAN, 0.99f};
  const int idx[8] = {0, 255, 128, 127, 0, 255, -1, 253};
  rl_tensor *x = tu_tensor(2, TU_SHAPE(2, 4), v), *y = NULL;
  TU_OK(rl_colormap_apply(x, RL_CMAP_VIRIDIS, 0, 1, &y));
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[0], 3);
  assert_int_equal(y->shape[1], 2);
  assert_int_equal(y->shape[2], 4);
  const float(*t)[3] = rl_colormap_table(RL_CMAP_VIRIDIS);
  for (int i = 0; i < 8; i++)
    for (int c = 0; c < 3; c++)
      assert_float_equal(rl_tensor_data(y)[c * 8 + i], idx[i] < 0 ? 0 : t[idx[i]][c], 0);
  rl_tensor_release(y);
  rl_tensor_release(x);
  /* signed values in [-1, 1]: 0 is the centre entry, -1 and 1 the ends */
  x = tu_tensor(4, TU_SHAPE(2, 1, 1, 2), TU_DATA(0, -1, 1, -0.25f));
  TU_OK(rl_colormap_apply(x, RL_CMAP_COLDNHOT, -1, 1, &y));
  assert_int_equal(y->ndim, 4);
  assert_int_equal(y->shape[0], 2);
  assert_int_equal(y->shape[1], 3);
  const float want[2][3][2] = {{{0, 0}, {0, 1}, {0, 1}}, {{1, 0}, {1, 0}, {1, 0.5f}}};
  /* -0.25 -> u 0.375 -> index 96: (0, 0, 0.5) */
  for (int b = 0; b < 2; b++)
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < 2; i++) assert_float_equal(rl_tensor_data(y)[b * 6 + c * 2 + i], want[b][c][i], 0);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 3), 1, 0), *y = (rl_tensor *)1;
  tu_assert_error(rl_colormap_apply(x, RL_CMAP_BWR, 0, 1, &y), RL_ESHAPE,
                  "colormap: [2 x 3 x 3] is not [H x W], [1 x H x W] or [N x 1 x H x W]");
  assert_null(y);
  rl_tensor_release(x);
  x = tu_randn(2, TU_SHAPE(3, 3), 1, 0);
  tu_assert_error(rl_colormap_apply(x, RL_CMAP_BWR, 1, 1, &y), RL_EARG, "range [1, 1]");
  tu_assert_error(rl_colormap_apply(x, RL_CMAP_BWR, 0, INFINITY, &y), RL_EARG, "not finite");
  tu_assert_error(rl_colormap_apply(x, RL_CMAP_COUNT, 0, 1, &y), RL_EARG, "unknown colour map 8");
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

typedef struct cm_ud {
  rl_tensor *x, *y;
} cm_ud;
static rl_status cm_call(void *ud) {
  cm_ud *u = ud;
  return rl_colormap_apply(u->x, RL_CMAP_JET, -2, 2, &u->y);
}
static void cm_done(void *ud) { rl_tensor_release(((cm_ud *)ud)->y); }

static void test_nomem(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(2, TU_SHAPE(6, 5), 2, 0), *tr = NULL;
  TU_OK(rl_tensor_view_transpose(x, 0, 1, &tr));
  cm_ud u = {tr, NULL};
  assert_true(tu_nomem_sweep(cm_call, cm_done, &u) >= 2);
  rl_tensor_release(tr);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables), cmocka_unit_test(test_names), cmocka_unit_test(test_apply),
      cmocka_unit_test(test_errors), cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
