/* test_conv2d.c: Conv2d against a direct-loop reference and values worked on
** paper, finite-difference gradients, errors, allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* {==================== a slow, obviously correct reference */

typedef struct cfg {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw, dh, dw, groups;
  int bias;
} cfg;

static rl_conv2d_params params_of(const cfg *c) {
  rl_conv2d_params p = rl_conv2d_default_params();
  p.stride[0] = c->sh, p.stride[1] = c->sw;
  p.padding[0] = c->ph, p.padding[1] = c->pw;
  p.dilation[0] = c->dh, p.dilation[1] = c->dw;
  p.groups = c->groups;
  return p;
}

static int64_t out_h(const cfg *c) { return (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1; }
static int64_t out_w(const cfg *c) { return (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1; }

/* Runs BODY for every product x[xi] * w[wi] that the convolution adds into
** y[yi], straight from the definition. */
#define FOR_EACH_PRODUCT(cf, BODY)                                                             \
  do {                                                                                         \
    const int64_t oh_ = out_h(cf), ow_ = out_w(cf), icg_ = (cf)->c / (cf)->groups;            \
    const int64_t ocg_ = (cf)->oc / (cf)->groups;                                              \
    for (int64_t n = 0; n < (cf)->n; n++)                                                      \
      for (int64_t o = 0; o < (cf)->oc; o++)                                                   \
        for (int64_t oy = 0; oy < oh_; oy++)                                                   \
          for (int64_t ox = 0; ox < ow_; ox++)                                                 \
            for (int64_t ci = 0; ci < icg_; ci++)                                              \
              for (int64_t i = 0; i < (cf)->kh; i++)                                           \
                for (int64_t j = 0; j < (cf)->kw; j++) {                                       \
                  const int64_t ch = o / ocg_ * icg_ + ci;                                      \
                  const int64_t iy = oy * (cf)->sh - (cf)->ph + i * (cf)->dh;                  \
                  const int64_t ix = ox * (cf)->sw - (cf)->pw + j * (cf)->dw;                  \
                  if (iy < 0 || iy >= (cf)->h || ix < 0 || ix >= (cf)->w) continue;            \
                  const int64_t xi = ((n * (cf)->c + ch) * (cf)->h + iy) * (cf)->w + ix;        \
                  const int64_t wi = ((o * icg_ + ci) * (cf)->kh + i) * (cf)->kw + j;          \
                  const int64_t yi = ((n * (cf)->oc + o) * oh_ + oy) * ow_ + ox;               \
                  BODY;                                                                        \
                }                                                                              \
  } while (0)

typedef struct fixture {
  cfg c;
  rl_tensor *x, *w, *b;
} fixture;

static fixture make(const cfg *c, uint64_t seed) {
  fixture f = {*c, NULL, NULL, NULL};
  f.x = tu_randn(4, TU_SHAPE(c->n, c->c, c->h, c->w), seed, 0);
  f.w = tu_randn(4, TU_SHAPE(c->oc, c->c / c->groups, c->kh, c->kw), seed + 1, 0);
  if (c->bias) f.b = tu_randn(1, TU_SHAPE(c->oc), seed + 2, 0);
  return f;
}

static void drop(fixture *f) {
  rl_tensor_release(f->x);
  rl_tensor_release(f->w);
  rl_tensor_release(f->b);
}

/* Forward, input gradient and parameter gradients against the reference. */
static void check_against_reference(const cfg *c, uint64_t seed) {
  fixture f = make(c, seed);
  rl_conv2d_params p = params_of(c);
  const int64_t oh = out_h(c), ow = out_w(c);
  rl_tensor *y = NULL, *ref = NULL, *gy = tu_randn(4, TU_SHAPE(c->n, c->oc, oh, ow), seed + 3, 0);
  rl_tensor *gx = NULL, *gw = NULL, *gb = NULL, *rgx = NULL, *rgw = NULL, *rgb = NULL;
  TU_OK(rl_conv2d_forward(f.x, f.w, f.b, &p, &y));
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(c->n, c->oc, oh, ow), &ref));
  TU_OK(rl_tensor_zeros_like(f.x, &rgx));
  TU_OK(rl_tensor_zeros_like(f.w, &rgw));
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(c->oc), &rgb));
  const float *X = rl_tensor_data(f.x), *W = rl_tensor_data(f.w), *GY = rl_tensor_data(gy);
  /* sums in double, so the reference is the more accurate side */
  const int64_t ny = rl_tensor_numel(ref), nx = rl_tensor_numel(f.x), nw = rl_tensor_numel(f.w);
  double *R = calloc((size_t)ny, sizeof *R), *RGX = calloc((size_t)nx, sizeof *RGX);
  double *RGW = calloc((size_t)nw, sizeof *RGW), *RGB = calloc((size_t)c->oc, sizeof *RGB);
  assert_true(R && RGX && RGW && RGB);
  FOR_EACH_PRODUCT(c, {
    R[yi] += (double)X[xi] * W[wi];
    RGX[xi] += (double)W[wi] * GY[yi];
    RGW[wi] += (double)X[xi] * GY[yi];
  });
  for (int64_t i = 0; i < ny; i++) {
    const int64_t o = i / (oh * ow) % c->oc;
    rl_tensor_data(ref)[i] = (float)(R[i] + (f.b ? rl_tensor_data(f.b)[o] : 0));
    RGB[o] += GY[i];
  }
  for (int64_t i = 0; i < nx; i++) rl_tensor_data(rgx)[i] = (float)RGX[i];
  for (int64_t i = 0; i < nw; i++) rl_tensor_data(rgw)[i] = (float)RGW[i];
  for (int64_t i = 0; i < c->oc; i++) rl_tensor_data(rgb)[i] = (float)RGB[i];
  free(R), free(RGX), free(RGW), free(RGB);
  tu_assert_close(y, ref, 1e-4, 1e-4);
  TU_OK(rl_conv2d_backward_input(f.x, gy, f.w, &p, &gx));
  tu_assert_close(gx, rgx, 1e-4, 1e-4);
  TU_OK(rl_conv2d_backward_params(f.x, gy, f.w, &p, &gw, &gb));
  tu_assert_close(gw, rgw, 1e-3, 1e-4);
  tu_assert_close(gb, rgb, 1e-3, 1e-4);
  rl_tensor *gw2 = NULL; /* one gradient alone */
  TU_OK(rl_conv2d_backward_params(f.x, gy, f.w, &p, &gw2, NULL));
  tu_assert_close(gw2, rgw, 1e-3, 1e-4);
  rl_tensor *tensors[] = {y, ref, gy, gx, gw, gb, rgx, rgw, rgb, gw2};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) rl_tensor_release(tensors[i]);
  drop(&f);
}

static void test_reference_configs(void **state) {
  (void)state;
  static const cfg cases[] = {
      /* n  c  h  w  oc kh kw sh sw ph pw dh dw groups bias */
      {1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0},
      {2, 3, 7, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
      {1, 2, 9, 8, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1},   /* dilation 2 */
      {2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},   /* groups 2 */
      {3, 5, 6, 7, 5, 3, 3, 1, 2, 1, 0, 1, 1, 5, 1},   /* depthwise */
      {2, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0},   /* 2 out per group */
      {2, 3, 7, 5, 2, 2, 3, 2, 1, 1, 0, 1, 2, 1, 1},   /* non-square everything */
      {2, 6, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 1},   /* 1x1: the direct path */
      {2, 3, 8, 8, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},   /* 1x1 stride 2: im2col */
      {5, 3, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* several samples per chunk */
      {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},   /* kernel larger than the input */
      {1, 3, 430, 420, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* columns over budget: row chunks */
      {1, 4, 3, 3, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},  /* threads split channels and taps */
      {1, 8, 4, 4, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},  /* ... columns forward, taps backward */
      /* enough chunks for each thread to take its own (2 threads under CTest) */
      {4, 3, 48, 48, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {4, 4, 46, 46, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
      {8, 64, 32, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0}, /* ... of several samples each */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_against_reference(&cases[i], 100 + i);
  /* random configurations */
  rl_rng r;
  rl_rng_seed(&r, 7);
  for (int t = 0; t < 30; t++) {
    cfg c;
    c.groups = 1 + (int64_t)(rl_rng_next(&r) % 3);
    c.c = c.groups * (1 + (int64_t)(rl_rng_next(&r) % 3));
    c.oc = c.groups * (1 + (int64_t)(rl_rng_next(&r) % 3));
    c.n = 1 + (int64_t)(rl_rng_next(&r) % 3);
    c.kh = 1 + (int64_t)(rl_rng_next(&r) % 3), c.kw = 1 + (int64_t)(rl_rng_next(&r) % 3);
    c.sh = 1 + (int64_t)(rl_rng_next(&r) % 3), c.sw = 1 + (int64_t)(rl_rng_next(&r) % 3);
    c.ph = (int64_t)(rl_rng_next(&r) % 3), c.pw = (int64_t)(rl_rng_next(&r) % 3);
    c.dh = 1 + (int64_t)(rl_rng_next(&r) % 2), c.dw = 1 + (int64_t)(rl_rng_next(&r) % 2);
    c.h = c.dh * (c.kh - 1) + 1 + (int64_t)(rl_rng_next(&r) % 6);
    c.w = c.dw * (c.kw - 1) + 1 + (int64_t)(rl_rng_next(&r) % 6);
    c.bias = (int)(rl_rng_next(&r) % 2);
    check_against_reference(&c, 1000 + (uint64_t)t);
  }
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== values on paper */

static void test_delta_kernel_is_identity(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(2, 3, 5, 4), 1, 0), *w = NULL, *y = NULL;
  TU_OK(rl_tensor_zeros(4, TU_SHAPE(3, 3, 3, 3), &w));
  for (int o = 0; o < 3; o++) rl_tensor_data(w)[((o * 3 + o) * 3 + 1) * 3 + 1] = 1;
  rl_conv2d_params p = rl_conv2d_default_params();
  p.padding[0] = p.padding[1] = 1;
  TU_OK(rl_conv2d_forward(x, w, NULL, &p, &y));
  tu_assert_close(y, x, 0, 0);
  rl_tensor_release(y);
  rl_tensor_release(w);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* x[r][c] = 4r + c + 1 on 4 x 4; w = [[1, 2, 0], [0, 1, 0], [0, 0, -1]]. */
static void test_hand_computed(void **state) {
  (void)state;
  float xs[16];
  for (int i = 0; i < 16; i++) xs[i] = (float)(i + 1);
  rl_tensor *x = tu_tensor(4, TU_SHAPE(1, 1, 4, 4), xs);
  rl_tensor *w = tu_tensor(4, TU_SHAPE(1, 1, 3, 3), TU_DATA(1, 2, 0, 0, 1, 0, 0, 0, -1));
  rl_tensor *b = tu_tensor(1, TU_SHAPE(1), TU_DATA(0.5f));
  rl_tensor *y = NULL, *want = NULL;
  rl_conv2d_params p = rl_conv2d_default_params();
  /* y[i][j] = x[i][j] + 2 x[i][j+1] + x[i+1][j+1] - x[i+2][j+2] = 12 i + 3 j */
  TU_OK(rl_conv2d_forward(x, w, b, &p, &y));
  want = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(0.5f, 3.5f, 12.5f, 15.5f));
  tu_assert_close(y, want, 0, 0);
  rl_tensor_release(y);
  rl_tensor_release(want);
  /* stride 2, padding 1: windows at (-1,-1), (-1,1), (1,-1), (1,1) */
  p.stride[0] = p.stride[1] = 2;
  p.padding[0] = p.padding[1] = 1;
  TU_OK(rl_conv2d_forward(x, w, NULL, &p, &y));
  want = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(-5, -5, 5, 15));
  tu_assert_close(y, want, 0, 0);
  /* the input gradient of a single output: the kernel, placed where it looked */
  rl_tensor *gy = tu_tensor(4, TU_SHAPE(1, 1, 2, 2), TU_DATA(0, 0, 0, 1)), *gx = NULL;
  TU_OK(rl_conv2d_backward_input(x, gy, w, &p, &gx));
  rl_tensor *wantgx = tu_tensor(4, TU_SHAPE(1, 1, 4, 4),
                                TU_DATA(0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0, 0, 0, 0, -1));
  tu_assert_close(gx, wantgx, 0, 0);
  rl_tensor *ts[] = {x, w, b, y, want, gy, gx, wantgx};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== gradients */

static rl_status conv_fn(rl_tensor *const *in, rl_tensor **out, void *ud) {
  const cfg *c = ud;
  rl_conv2d_params p = params_of(c);
  return rl_conv2d(in[0], in[1], c->bias ? in[2] : NULL, &p, out);
}

static void test_gradcheck(void **state) {
  (void)state;
  static const cfg cases[] = {
      {1, 2, 5, 5, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},
      {2, 3, 7, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   /* stride 2, padding 1, batch 2 */
      {1, 2, 7, 7, 2, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1},   /* dilation 2 */
      {2, 4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},   /* groups 2 */
      {1, 3, 6, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 1},   /* depthwise */
      {2, 2, 6, 5, 3, 2, 3, 1, 2, 1, 0, 1, 1, 1, 1},   /* non-square */
      {2, 3, 4, 4, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0},   /* 1x1 direct, no bias */
      {3, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* several samples per chunk */
  };
  tu_gradcheck_opts o = {.eps = 0.05, .atol = 2e-3, .rtol = 1e-2, .max_checks = 48};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fixture f = make(&cases[i], 40 + i);
    rl_tensor *in[3] = {f.x, f.w, f.b};
    tu_gradcheck(conv_fn, f.b ? 3 : 2, in, NULL, (void *)&cases[i], &o);
    drop(&f);
  }
  tu_assert_no_leaks();
}

/* Attribution asks for the input gradient only: the backward must then
** leave the parameter slots empty (and not spend a pass on them). */
static void test_backward_needs(void **state) {
  (void)state;
  cfg c = {1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  fixture f = make(&c, 3);
  rl_conv2d_params p = params_of(&c);
  rl_tensor *in[3] = {f.x, f.w, f.b}, *y = NULL, *gin[3] = {0}, *gx = NULL;
  TU_OK(rl_conv2d_forward(f.x, f.w, f.b, &p, &y));
  TU_OK(rl_op_conv2d.backward(&p, 3, in, y, NULL, y, (const int[]){1, 0, 0}, gin));
  assert_non_null(gin[0]);
  assert_null(gin[1]);
  assert_null(gin[2]);
  TU_OK(rl_conv2d_backward_input(f.x, y, f.w, &p, &gx));
  tu_assert_close(gin[0], gx, 0, 0);
  rl_tensor_release(gin[0]);
  gin[0] = NULL;
  TU_OK(rl_op_conv2d.backward(&p, 3, in, y, NULL, y, (const int[]){0, 0, 1}, gin));
  assert_null(gin[0]);
  assert_null(gin[1]);
  assert_non_null(gin[2]);
  rl_tensor_release(gin[2]);
  rl_tensor_release(gx);
  rl_tensor_release(y);
  drop(&f);
  tu_assert_no_leaks();
}

/* A transposed (non-contiguous) input gives the same result as its copy. */
static void test_strided_input(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(1, 2, 6, 5), 9, 0), *xt = NULL, *xc = NULL;
  rl_tensor *w = tu_randn(4, TU_SHAPE(3, 2, 3, 3), 10, 0), *y1 = NULL, *y2 = NULL;
  rl_conv2d_params p = rl_conv2d_default_params();
  TU_OK(rl_tensor_view_transpose(x, 2, 3, &xt));
  TU_OK(rl_tensor_clone(xt, &xc));
  TU_OK(rl_conv2d_forward(xt, w, NULL, &p, &y1));
  TU_OK(rl_conv2d_forward(xc, w, NULL, &p, &y2));
  tu_assert_close(y1, y2, 0, 0);
  rl_tensor *ts[] = {x, xt, xc, w, y1, y2};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== errors */

static void test_errors(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(1, 3, 28, 28), 1, 0);
  rl_tensor *w1 = tu_randn(4, TU_SHAPE(8, 1, 3, 3), 2, 0);
  rl_tensor *w3 = tu_randn(4, TU_SHAPE(8, 3, 3, 3), 3, 0);
  rl_tensor *x3 = tu_randn(3, TU_SHAPE(3, 28, 28), 4, 0);
  rl_tensor *b5 = tu_randn(1, TU_SHAPE(5), 5, 0);
  rl_tensor *small = tu_randn(4, TU_SHAPE(1, 3, 2, 2), 6, 0);
  rl_tensor *y = (rl_tensor *)1, *gy = tu_randn(4, TU_SHAPE(1, 8, 27, 26), 7, 0);
  rl_conv2d_params p = rl_conv2d_default_params();

  tu_assert_error(rl_conv2d(x, w1, NULL, &p, &y), RL_ESHAPE,
                  "conv2d: input [1 x 3 x 28 x 28] has 3 channels, weight [8 x 1 x 3 x 3] expects 1");
  assert_null(y);
  tu_assert_error(rl_conv2d_forward(x3, w3, NULL, &p, &y), RL_ESHAPE,
                  "conv2d: input [3 x 28 x 28] must be 4-D");
  tu_assert_error(rl_conv2d_forward(x, b5, NULL, &p, &y), RL_ESHAPE, "weight [5] must be 4-D");
  tu_assert_error(rl_conv2d_forward(x, w3, b5, &p, &y), RL_ESHAPE,
                  "conv2d: bias [5] must be [8] to match weight [8 x 3 x 3 x 3]");
  tu_assert_error(rl_conv2d_forward(small, w3, NULL, &p, &y), RL_ESHAPE,
                  "conv2d: kernel 3 x 3 (3 x 3 dilated) is larger than input [1 x 3 x 2 x 2] padded by 0 x 0");
  p.dilation[1] = 2;
  p.padding[0] = 1;
  tu_assert_error(rl_conv2d_forward(small, w3, NULL, &p, &y), RL_ESHAPE, "(3 x 5 dilated)");
  p = rl_conv2d_default_params();
  p.groups = 2;
  tu_assert_error(rl_conv2d_forward(x, w1, NULL, &p, &y), RL_ESHAPE,
                  "conv2d: groups 2 does not divide the 3 channels of input [1 x 3 x 28 x 28]");
  p.groups = 3;
  rl_tensor *w7 = tu_randn(4, TU_SHAPE(7, 1, 3, 3), 8, 0);
  tu_assert_error(rl_conv2d_forward(x, w7, NULL, &p, &y), RL_ESHAPE,
                  "groups 3 does not divide the 7 output channels of weight [7 x 1 x 3 x 3]");
  rl_tensor *w9 = tu_randn(4, TU_SHAPE(9, 3, 3, 3), 9, 0);
  tu_assert_error(rl_conv2d_forward(x, w9, NULL, &p, &y), RL_ESHAPE,
                  "has 3 channels, weight [9 x 3 x 3 x 3] expects 9 (3 groups x 3)");
  p = rl_conv2d_default_params();
  p.stride[0] = 0;
  tu_assert_error(rl_conv2d_forward(x, w3, NULL, &p, &y), RL_EARG, "conv2d: stride 0 x 1 must be >= 1");
  p = rl_conv2d_default_params();
  p.padding[1] = -1;
  tu_assert_error(rl_conv2d_forward(x, w3, NULL, &p, &y), RL_EARG, "padding 0 x -1 must be >= 0");
  p = rl_conv2d_default_params();
  p.dilation[0] = 0;
  tu_assert_error(rl_conv2d_forward(x, w3, NULL, &p, &y), RL_EARG, "dilation 0 x 1 must be >= 1");
  p = rl_conv2d_default_params();
  p.groups = 0;
  tu_assert_error(rl_conv2d_forward(x, w3, NULL, &p, &y), RL_EARG, "groups 0 must be >= 1");
  p = rl_conv2d_default_params();
  tu_assert_error(rl_conv2d_backward_input(x, gy, w3, &p, &y), RL_ESHAPE,
                  "conv2d_backward_input: output gradient [1 x 8 x 27 x 26] should be [1 x 8 x 26 x 26]");
  rl_tensor *gw = (rl_tensor *)1;
  tu_assert_error(rl_conv2d_backward_params(x, gy, w3, &p, &gw, NULL), RL_ESHAPE,
                  "conv2d_backward_params: output gradient");
  assert_null(gw);
  tu_assert_error(rl_conv2d(x, NULL, NULL, &p, &y), RL_EARG, "conv2d: weight is missing");
  rl_tensor *ts[] = {x, w1, w3, x3, b5, small, gy, w7, w9};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) rl_tensor_release(ts[i]);
  tu_assert_no_leaks();
}

static void test_interrupt(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(4, TU_SHAPE(2, 2, 6, 6), 1, 0), *w = tu_randn(4, TU_SHAPE(2, 2, 3, 3), 2, 0);
  rl_tensor *w1 = tu_randn(4, TU_SHAPE(2, 2, 1, 1), 3, 0), *y = NULL;
  rl_conv2d_params p = rl_conv2d_default_params();
  rl_interrupt();
  tu_assert_error(rl_conv2d_forward(x, w, NULL, &p, &y), RL_EINTR, "conv2d: interrupted");
  assert_null(y);
  assert_false(rl_interrupted());
  rl_interrupt();
  tu_assert_error(rl_conv2d_forward(x, w1, NULL, &p, &y), RL_EINTR, "conv2d: interrupted");
  rl_interrupt();
  tu_assert_error(rl_conv2d_backward_input(x, x, w1, &p, &y), RL_EINTR, "conv2d: interrupted");
  rl_tensor *xb = tu_randn(4, TU_SHAPE(4, 2, 48, 48), 4, 0); /* threads on their own chunks */
  rl_interrupt();
  tu_assert_error(rl_conv2d_forward(xb, w, NULL, &p, &y), RL_EINTR, "conv2d: interrupted");
  rl_interrupt();
  tu_assert_error(rl_conv2d_backward_input(xb, xb, w1, &p, &y), RL_EINTR, "conv2d: interrupted");
  rl_tensor *gyb = tu_randn(4, TU_SHAPE(4, 2, 46, 46), 5, 0);
  rl_interrupt();
  tu_assert_error(rl_conv2d_backward_input(xb, gyb, w, &p, &y), RL_EINTR, "conv2d: interrupted");
  rl_tensor_release(xb);
  rl_tensor_release(gyb);
  TU_OK(rl_conv2d_forward(x, w, NULL, &p, &y)); /* the flag was cleared */
  rl_tensor_release(y);
  rl_tensor_release(x);
  rl_tensor_release(w);
  rl_tensor_release(w1);
  tu_assert_no_leaks();
}
/* }==================== */

/* {==================== allocation failures */

typedef struct sweep {
  rl_tensor *x, *w, *b;
  rl_conv2d_params p;
} sweep;

/* Forward and backward to input, weight and bias; frees all it makes. */
static rl_status conv_pass(void *ud) {
  sweep *s = ud;
  rl_tensor *y = NULL, *g[3] = {0};
  rl_status st = rl_conv2d(s->x, s->w, s->b, &s->p, &y);
  if (st == RL_OK) st = rl_tape_backward(y, NULL, 3, (rl_tensor *[]){s->x, s->w, s->b}, g, NULL);
  rl_tensor_release(y);
  for (int i = 0; i < 3; i++) rl_tensor_release(g[i]);
  return st;
}

static void test_nomem(void **state) {
  (void)state;
  sweep s = {tu_randn(4, TU_SHAPE(3, 2, 5, 5), 1, 0), tu_randn(4, TU_SHAPE(4, 2, 3, 3), 2, 0),
             tu_randn(1, TU_SHAPE(4), 3, 0), rl_conv2d_default_params()};
  s.p.padding[0] = s.p.padding[1] = 1;
  TU_OK(rl_tensor_set_requires_grad(s.x, 1));
  TU_OK(rl_tensor_set_requires_grad(s.w, 1));
  TU_OK(rl_tensor_set_requires_grad(s.b, 1));
  assert_true(tu_nomem_sweep(conv_pass, NULL, &s) >= 10);
  rl_tensor *w1 = tu_randn(4, TU_SHAPE(4, 2, 1, 1), 4, 0); /* the direct 1x1 path */
  TU_OK(rl_tensor_set_requires_grad(w1, 1));
  rl_tensor_release(s.w);
  s.w = w1;
  s.p = rl_conv2d_default_params();
  assert_true(tu_nomem_sweep(conv_pass, NULL, &s) >= 10);
  rl_tensor_release(s.x);
  rl_tensor_release(s.w);
  rl_tensor_release(s.b);
  tu_assert_no_leaks();
}
/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_configs), cmocka_unit_test(test_delta_kernel_is_identity),
      cmocka_unit_test(test_hand_computed),     cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_backward_needs),    cmocka_unit_test(test_strided_input),
      cmocka_unit_test(test_errors),            cmocka_unit_test(test_interrupt),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
