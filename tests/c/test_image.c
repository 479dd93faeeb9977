/* test_image.c: PNG reading (every colour type and depth, palettes, tRNS,
** interlacing), writing, round trips, malformed files, allocation failures;
** and the preprocessing kernels against values worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

static const char *const fixtures[] = {"gray16", "ga8", "rgba16i", "pal4trns", "pal8", "gray1", "rgb8key"};
#define NFIX (sizeof fixtures / sizeof fixtures[0])

static rl_tensor *load_expected(const char *name) {
  char f[64];
  rl_tensor *t = NULL;
  snprintf(f, sizeof f, "%s.expected.npy", name);
  TU_OK(rl_npy_load(tu_data_path(f), &t));
  return t;
}

/* {==================== PNG */

static void test_fixtures(void **state) {
  (void)state;
  static const int channels[NFIX] = {1, 2, 4, 4, 3, 1, 4};
  for (size_t k = 0; k < NFIX; k++) {
    char f[64];
    snprintf(f, sizeof f, "%s.png", fixtures[k]);
    rl_tensor *t = NULL, *e = load_expected(fixtures[k]);
    if (rl_image_load(tu_data_path(f), RL_IMAGE_ASIS, &t) != RL_OK) fail_msg("%s: %s", f, rl_errmsg());
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[0], channels[k]);
    assert_int_equal(t->shape[1], 5);
    assert_int_equal(t->shape[2], 7);
    tu_assert_close(t, e, 1e-6, 0);
    rl_tensor_release(t);
    rl_tensor_release(e);
  }
  tu_assert_no_leaks();
}

static void test_forced_channels(void **state) {
  (void)state;
  rl_tensor *t = NULL, *e = load_expected("rgba16i"), *g = load_expected("ga8");
  const float *x, *ex = rl_tensor_data(e), *gx = rl_tensor_data(g);
  const int n = 35;
  TU_OK(rl_image_load(tu_data_path("rgba16i.png"), RL_IMAGE_GRAY, &t));
  assert_int_equal(t->shape[0], 1);
  x = rl_tensor_data(t);
  for (int i = 0; i < n; i++)
    assert_float_equal(x[i], 0.299f * ex[i] + 0.587f * ex[n + i] + 0.114f * ex[2 * n + i], 1e-6);
  rl_tensor_release(t);
  TU_OK(rl_image_load(tu_data_path("rgba16i.png"), RL_IMAGE_RGB, &t));
  assert_int_equal(t->shape[0], 3);
  assert_memory_equal(rl_tensor_data(t), ex, 3 * n * sizeof(float)); /* alpha dropped */
  rl_tensor_release(t);
  TU_OK(rl_image_load(tu_data_path("ga8.png"), RL_IMAGE_RGBA, &t));
  x = rl_tensor_data(t);
  for (int i = 0; i < n; i++) {
    assert_float_equal(x[i], gx[i], 1e-6);
    assert_float_equal(x[2 * n + i], gx[i], 1e-6);
    assert_float_equal(x[3 * n + i], gx[n + i], 1e-6);
  }
  rl_tensor_release(t);
  TU_OK(rl_image_load(tu_data_path("gray16.png"), RL_IMAGE_GA, &t));
  assert_int_equal(t->shape[0], 2);
  for (int i = 0; i < n; i++) assert_float_equal(rl_tensor_data(t)[n + i], 1.0f, 0);
  rl_tensor_release(t);
  rl_tensor_release(e);
  rl_tensor_release(g);
  tu_assert_no_leaks();
}

static void test_roundtrip(void **state) {
  (void)state;
  for (int c = 1; c <= 4; c++) {
    rl_tensor *x = NULL, *y = NULL;
    TU_OK(rl_tensor_new(3, TU_SHAPE(c, 5, 6), &x));
    for (int i = 0; i < c * 30; i++) rl_tensor_data(x)[i] = (float)((i * 37 + c) % 256) / 255.0f;
    void *buf = NULL;
    size_t n = 0;
    TU_OK(rl_image_save_mem(x, &buf, &n));
    TU_OK(rl_image_load_mem(buf, n, NULL, RL_IMAGE_ASIS, &y));
    tu_assert_close(y, x, 0, 0);
    rl_mem_free(buf);
    rl_tensor_release(y);
    TU_OK(rl_image_save(tu_tmp_path("rt.png"), x));
    TU_OK(rl_image_load(tu_tmp_path("rt.png"), RL_IMAGE_ASIS, &y));
    tu_assert_close(y, x, 0, 0);
    rl_tensor_release(y);
    rl_tensor_release(x);
  }
  remove(tu_tmp_path("rt.png"));
  /* [H x W] is gray, [1 x C x H x W] drops the batch dim; clamping, rounding, NaN */
  rl_tensor *x = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(-1, 2, NAN, 0.5f, 0.001f, 0.003f)), *y = NULL;
  void *buf;
  size_t n;
  TU_OK(rl_image_save_mem(x, &buf, &n));
  TU_OK(rl_image_load_mem(buf, n, NULL, 0, &y));
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[0], 1);
  const float want[] = {0, 1, 0, 128 / 255.0f, 0, 1 / 255.0f};
  for (int i = 0; i < 6; i++) assert_float_equal(rl_tensor_data(y)[i], want[i], 0);
  rl_mem_free(buf);
  rl_tensor_release(y);
  rl_tensor_release(x);
  x = tu_randn(4, TU_SHAPE(1, 3, 4, 4), 3, 0);
  TU_OK(rl_image_save_mem(x, &buf, &n));
  TU_OK(rl_image_load_mem(buf, n, NULL, 0, &y));
  assert_int_equal(y->shape[0], 3);
  rl_mem_free(buf);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* A PNG with the given IHDR fields and raw (filtered) image data. */
static size_t make_png(unsigned char *out, uint32_t w, uint32_t h, int depth, int ct, const void *raw, size_t nraw) {
  size_t k = 0;
  memcpy(out, "\x89PNG\r\n\x1a\n", 8);
  k = 8;
  unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16), (unsigned char)(w >> 8),
                            (unsigned char)w,         (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                            (unsigned char)(h >> 8),  (unsigned char)h,         (unsigned char)depth,
                            (unsigned char)ct,        0, 0, 0};
  unsigned char z[4096];
  uLongf zn = sizeof z;
  assert_int_equal(compress(z, &zn, raw, nraw), Z_OK);
  struct { const char *type; const unsigned char *p; size_t n; } chunks[] = {
      {"IHDR", ihdr, 13}, {"IDAT", z, zn}, {"IEND", NULL, 0}};
  for (int c = 0; c < 3; c++) {
    size_t n = chunks[c].n;
    out[k++] = (unsigned char)(n >> 24), out[k++] = (unsigned char)(n >> 16);
    out[k++] = (unsigned char)(n >> 8), out[k++] = (unsigned char)n;
    memcpy(out + k, chunks[c].type, 4);
    if (n) memcpy(out + k + 4, chunks[c].p, n);
    uLong crc = crc32(0, out + k, (uInt)(4 + n));
    k += 4 + n;
    out[k++] = (unsigned char)(crc >> 24), out[k++] = (unsigned char)(crc >> 16);
    out[k++] = (unsigned char)(crc >> 8), out[k++] = (unsigned char)crc;
  }
  return k;
}

static void test_malformed(void **state) {
  (void)state;
  rl_tensor *t = (rl_tensor *)1;
  unsigned char png[8192], raw[2048] = {0};
  tu_write_file(tu_tmp_path("text.png"), "hello, world", 12);
  char want[300];
  snprintf(want, sizeof want, "image.load: %s: not a PNG file", tu_tmp_path("text.png"));
  tu_assert_error(rl_image_load(tu_tmp_path("text.png"), 0, &t), RL_EFORMAT, want);
  assert_null(t);
  tu_write_file(tu_tmp_path("text.png"), "", 0);
  tu_assert_error(rl_image_load(tu_tmp_path("text.png"), 0, &t), RL_EFORMAT, "not a PNG file");
  remove(tu_tmp_path("text.png"));
  tu_assert_error(rl_image_load(tu_tmp_path("missing.png"), 0, &t), RL_EIO, "No such file or directory");
  tu_assert_error(rl_image_load("/", 0, &t), RL_EIO, "image.load: /: read error: Is a directory");
  tu_assert_error(rl_image_load_mem("\x89PNG\r\n\x1a\n", 8, "m.png", 0, &t), RL_EFORMAT,
                  "image.load: m.png: truncated (the data ends at byte 8)");
  tu_assert_error(rl_image_load_mem("\x89PNG", 4, "m.png", 0, &t), RL_EFORMAT, "truncated");
  tu_assert_error(rl_image_load_mem("GIF89a", 6, "m.png", 0, &t), RL_EFORMAT, "not a PNG file");
  tu_assert_error(rl_image_load_mem(NULL, 0, "m.png", 0, &t), RL_EFORMAT, "not a PNG file");
  tu_assert_error(rl_image_load_mem("\x89PNG", 4, "m.png", 5, &t), RL_EARG, "channels 5");

  size_t n = make_png(png, 4, 4, 8, 0, raw, 4 * 5);
  TU_OK(rl_image_load_mem(png, n, "ok.png", 0, &t));
  rl_tensor_release(t);
  png[20] ^= 1; /* inside IHDR: its CRC no longer matches */
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT, "m.png: IHDR: CRC error");
  n = make_png(png, 4, 4, 8, 0, raw, 4 * 5 - 2); /* two bytes of image data short */
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT, "m.png: ");
  n = make_png(png, 40000, 1, 8, 0, raw, 1);
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT,
                  "m.png: 40000 x 1 pixels is too large (at most 32768 per side");
  n = make_png(png, 20000, 20000, 8, 0, raw, 1);
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT, "20000 x 20000 pixels is too large");
  n = make_png(png, 10000, 10000, 16, 6, raw, 1);
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT,
                  "m.png: truncated: 10000 x 10000 pixels cannot come from");
  n = make_png(png, 0, 4, 8, 0, raw, 4);
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT,
                  "m.png: Invalid IHDR data (Image width is zero in IHDR)");
  n = make_png(png, 4, 4, 8, 1, raw, 20); /* colour type 1 does not exist */
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT, "m.png: ");
  n = make_png(png, 4, 4, 8, 3, raw, 20); /* palette image without PLTE */
  tu_assert_error(rl_image_load_mem(png, n, "m.png", 0, &t), RL_EFORMAT, "m.png: ");
  assert_null(t);

  rl_tensor *x = tu_randn(3, TU_SHAPE(5, 4, 4), 1, 0), *y = tu_randn(1, TU_SHAPE(4), 1, 0);
  void *buf = NULL;
  size_t bn;
  tu_assert_error(rl_image_save_mem(x, &buf, &bn), RL_ESHAPE, "image.save: image [5 x 4 x 4] is not [C x H x W]");
  tu_assert_error(rl_image_save_mem(y, &buf, &bn), RL_ESHAPE, "[4] is not");
  rl_tensor_release(x);
  x = tu_randn(2, TU_SHAPE(4, 4), 1, 0);
  tu_assert_error(rl_image_save("/nonexistent-dir/a.png", x), RL_EIO, "image.save: /nonexistent-dir/a.png: ");
  rl_tensor_release(x);
  rl_tensor_release(y);
  tu_assert_no_leaks();
}

static void test_every_truncation(void **state) {
  (void)state;
  for (size_t k = 0; k < NFIX; k++) {
    char f[64];
    unsigned char buf[1024];
    snprintf(f, sizeof f, "%s.png", fixtures[k]);
    size_t n = tu_slurp(tu_data_path(f), buf, sizeof buf);
    for (size_t len = 0; len < n; len++) {
      rl_tensor *t = NULL;
      rl_status st = rl_image_load_mem(buf, len, f, 0, &t);
      if (st != RL_EFORMAT) fail_msg("%s cut at %zu: %s (%s)", f, len, rl_status_name(st), rl_errmsg());
      assert_null(t);
      if (k == 2) { /* and through a file, for one of them */
        tu_write_file(tu_tmp_path("cut.png"), buf, len);
        st = rl_image_load(tu_tmp_path("cut.png"), 0, &t);
        if (st != RL_EFORMAT) fail_msg("file %s cut at %zu: %s (%s)", f, len, rl_status_name(st), rl_errmsg());
      }
    }
  }
  remove(tu_tmp_path("cut.png"));
  tu_assert_no_leaks();
}

typedef struct nm_ud {
  const void *buf;
  size_t n;
  rl_tensor *t;
  void *out;
  size_t outn;
} nm_ud;

static rl_status nm_load(void *ud) {
  nm_ud *u = ud;
  return rl_image_load_mem(u->buf, u->n, "x", RL_IMAGE_RGB, &u->t);
}
static void nm_load_done(void *ud) { rl_tensor_release(((nm_ud *)ud)->t); }
static rl_status nm_save(void *ud) {
  nm_ud *u = ud;
  return rl_image_save_mem(u->t, &u->out, &u->outn);
}
static void nm_save_done(void *ud) { rl_mem_free(((nm_ud *)ud)->out); }

static void test_nomem(void **state) {
  (void)state;
  unsigned char buf[1024];
  nm_ud u = {buf, tu_slurp(tu_data_path("rgba16i.png"), buf, sizeof buf), NULL, NULL, 0};
  assert_true(tu_nomem_sweep(nm_load, nm_load_done, &u) >= 5); /* libpng allocates through rl_mem_alloc */
  u.n = tu_slurp(tu_data_path("pal4trns.png"), buf, sizeof buf);
  assert_true(tu_nomem_sweep(nm_load, nm_load_done, &u) >= 5);
  u.t = tu_randn(3, TU_SHAPE(3, 40, 50), 4, 0);
  assert_true(tu_nomem_sweep(nm_save, nm_save_done, &u) >= 5);
  rl_tensor_release(u.t);
  tu_assert_no_leaks();
}

/* }==================== */

/* {==================== preprocessing */

static void expect_row(const rl_tensor *t, int n, const float *v, double tol) {
  assert_int_equal(rl_tensor_numel(t), n);
  for (int i = 0; i < n; i++)
    if (fabs(rl_tensor_data(t)[i] - v[i]) > tol) fail_msg("element %d: %.8g, expected %.8g", i, rl_tensor_data(t)[i], v[i]);
}

static void test_resize_by_hand(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(2, TU_SHAPE(1, 4), TU_DATA(0, 1, 2, 3)), *y = NULL;
  /* 4 -> 2 antialiased: scale 2, support 2; output 0 has centre 1 and takes
  ** inputs 0, 1, 2 at triangle(|j + 0.5 - 1| / 2) = 3/4, 3/4, 1/4, normalised
  ** by 7/4: (0*3 + 1*3 + 2*1) / 7 = 5/7; output 1 (centre 3) takes inputs
  ** 1, 2, 3 at 1/4, 3/4, 3/4: (1 + 6 + 9) / 7 = 16/7. */
  TU_OK(rl_image_resize(x, 1, 2, 1, &y));
  expect_row(y, 2, TU_DATA(5.0f / 7, 16.0f / 7), 1e-6);
  rl_tensor_release(y);
  /* without antialias: the two nearest centres, halfway: 0.5 and 2.5 */
  TU_OK(rl_image_resize(x, 1, 2, 0, &y));
  expect_row(y, 2, TU_DATA(0.5f, 2.5f), 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(x);
  /* 5 -> 2 antialiased: scale 2.5; output 0 (centre 1.25) takes inputs 0..3
  ** at triangle((j + 0.5 - 1.25) / 2.5) = .7 .9 .5 .1 (sum 2.2): 2.2 / 2.2 = 1;
  ** output 1 (centre 3.75) takes 1..4 at .1 .5 .9 .7: 6.6 / 2.2 = 3. */
  x = tu_tensor(2, TU_SHAPE(5, 1), TU_DATA(0, 1, 2, 3, 4)); /* vertical this time */
  TU_OK(rl_image_resize(x, 2, 1, 1, &y));
  expect_row(y, 2, TU_DATA(1, 3), 1e-6);
  assert_int_equal(y->shape[0], 2);
  rl_tensor_release(y);
  rl_tensor_release(x);
  /* 2 -> 4, either mode: centres at 0.25 0.75 1.25 1.75 in input pixels, edges clamped */
  x = tu_tensor(2, TU_SHAPE(1, 2), TU_DATA(0, 1));
  for (int aa = 0; aa < 2; aa++) {
    TU_OK(rl_image_resize(x, 1, 4, aa, &y));
    expect_row(y, 4, TU_DATA(0, 0.25f, 0.75f, 1), 1e-7);
    rl_tensor_release(y);
  }
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_resize_separable_and_constant(void **state) {
  (void)state;
  /* an outer product a b^T resizes to resize(a) resize(b)^T */
  float a[6] = {1, -2, 3, 0.5f, 4, 2}, b[9] = {0, 1, 3, -1, 2, 5, 1, 1, 2}, ab[54];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 9; j++) ab[i * 9 + j] = a[i] * b[j];
  rl_tensor *x = tu_tensor(2, TU_SHAPE(6, 9), ab), *ta = tu_tensor(2, TU_SHAPE(6, 1), a),
            *tb = tu_tensor(2, TU_SHAPE(1, 9), b), *y = NULL, *ra = NULL, *rb = NULL;
  TU_OK(rl_image_resize(x, 4, 13, 1, &y));
  TU_OK(rl_image_resize(ta, 4, 1, 1, &ra));
  TU_OK(rl_image_resize(tb, 1, 13, 1, &rb));
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 13; j++)
      assert_float_equal(rl_tensor_data(y)[i * 13 + j], rl_tensor_data(ra)[i] * rl_tensor_data(rb)[j], 1e-5);
  rl_tensor_release(x);
  rl_tensor_release(y);
  rl_tensor_release(ta);
  rl_tensor_release(tb);
  rl_tensor_release(ra);
  rl_tensor_release(rb);
  /* a constant image stays constant; leading dims are planes; strided input */
  TU_OK(rl_tensor_full(4, TU_SHAPE(2, 3, 17, 23), 0.7f, &x));
  TU_OK(rl_image_resize(x, 5, 40, 1, &y));
  assert_int_equal(y->shape[0], 2);
  assert_int_equal(y->shape[1], 3);
  for (int64_t i = 0; i < rl_tensor_numel(y); i++) assert_float_equal(rl_tensor_data(y)[i], 0.7f, 1e-6);
  rl_tensor_release(y);
  rl_tensor_release(x);
  x = tu_randn(3, TU_SHAPE(2, 11, 7), 5, 0);
  rl_tensor *tr = NULL, *c = NULL, *y2 = NULL;
  TU_OK(rl_tensor_view_transpose(x, 1, 2, &tr));
  TU_OK(rl_tensor_clone(tr, &c));
  TU_OK(rl_image_resize(tr, 3, 5, 1, &y));
  TU_OK(rl_image_resize(c, 3, 5, 1, &y2));
  tu_assert_close(y, y2, 0, 0);
  rl_tensor_release(y2);
  TU_OK(rl_image_resize(c, 7, 11, 1, &y2)); /* same size: a copy */
  tu_assert_close(y2, c, 0, 0);
  rl_tensor_release(y2);
  rl_tensor_release(y);
  rl_tensor_release(c);
  rl_tensor_release(tr);
  /* shorter side */
  TU_OK(rl_tensor_zeros(3, TU_SHAPE(3, 300, 451), &c));
  TU_OK(rl_image_resize_short(c, 256, 1, &y));
  assert_int_equal(y->shape[1], 256);
  assert_int_equal(y->shape[2], 384); /* int(256 * 451 / 300) = int(384.85) */
  rl_tensor_release(y);
  rl_tensor_release(c);
  tu_assert_error(rl_image_resize(x, 0, 4, 1, &y), RL_EARG, "image.resize: size 0 x 4 is out of range");
  rl_interrupt();
  tu_assert_error(rl_image_resize(x, 3, 4, 1, &y), RL_EINTR, "image.resize: interrupted");
  assert_null(y);
  tu_assert_error(rl_image_resize_short(x, -3, 1, &y), RL_EARG, "size -3");
  rl_tensor_release(x);
  x = tu_randn(1, TU_SHAPE(5), 1, 0);
  tu_assert_error(rl_image_resize(x, 2, 2, 1, &y), RL_ESHAPE, "image.resize: [5] has no H x W");
  assert_null(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* Against Pillow's Image.resize(BILINEAR) on mode 'F' images (tools/gen_fixtures.py). */
static void test_resize_vs_pil(void **state) {
  (void)state;
  static const struct { int H, W, h, w; } cases[] = {{9, 13, 4, 5}, {9, 13, 20, 7}, {31, 17, 7, 30}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char in[64], ref[64];
    snprintf(in, sizeof in, "resize_%dx%d.npy", cases[k].H, cases[k].W);
    snprintf(ref, sizeof ref, "resize_%dx%d_to_%dx%d.pil.npy", cases[k].H, cases[k].W, cases[k].h, cases[k].w);
    rl_tensor *x = NULL, *r = NULL, *y = NULL;
    TU_OK(rl_npy_load(tu_data_path(in), &x));
    TU_OK(rl_npy_load(tu_data_path(ref), &r));
    TU_OK(rl_image_resize(x, cases[k].h, cases[k].w, 1, &y));
    tu_assert_close(y, r, 1e-6, 1e-6);
    rl_tensor_release(x);
    rl_tensor_release(r);
    rl_tensor_release(y);
  }
  tu_assert_no_leaks();
}

typedef struct rs_ud {
  rl_tensor *x, *y;
} rs_ud;
static rl_status rs_call(void *ud) {
  rs_ud *u = ud;
  return rl_image_resize(u->x, 5, 9, 1, &u->y);
}
static void rs_done(void *ud) { rl_tensor_release(((rs_ud *)ud)->y); }

static void test_resize_nomem(void **state) {
  (void)state;
  rs_ud u = {tu_randn(3, TU_SHAPE(2, 12, 13), 7, 0), NULL};
  assert_true(tu_nomem_sweep(rs_call, rs_done, &u) >= 5);
  rl_tensor_release(u.x);
  tu_assert_no_leaks();
}

static void test_center_crop(void **state) {
  (void)state;
  rl_tensor *x = NULL, *y = NULL;
  TU_OK(rl_tensor_arange(0, 30, 1, &x));
  rl_tensor *img = NULL;
  TU_OK(rl_tensor_view_reshape(x, 3, TU_SHAPE(1, 5, 6), &img));
  /* (5 - 2) / 2 = 1.5 and (6 - 3) / 2 = 1.5 round to 2 (ties to even) */
  TU_OK(rl_image_center_crop(img, 2, 3, &y));
  expect_row(y, 6, TU_DATA(14, 15, 16, 20, 21, 22), 0);
  assert_true(rl_tensor_is_contiguous(y));
  rl_tensor_release(y);
  /* 0.5 and 0.5 round to 0 */
  TU_OK(rl_image_center_crop(img, 4, 5, &y));
  assert_float_equal(rl_tensor_data(y)[0], 0, 0);
  rl_tensor_release(y);
  tu_assert_error(rl_image_center_crop(img, 6, 2, &y), RL_EARG,
                  "image.center_crop: a 6 x 2 crop does not fit in [1 x 5 x 6]");
  rl_tensor_release(img);
  rl_tensor_release(x);
  /* 7 -> 2: 2.5 rounds to 2 */
  TU_OK(rl_tensor_arange(0, 49, 1, &x));
  TU_OK(rl_tensor_view_reshape(x, 2, TU_SHAPE(7, 7), &img));
  TU_OK(rl_image_center_crop(img, 2, 2, &y));
  expect_row(y, 4, TU_DATA(16, 17, 23, 24), 0);
  rl_tensor_release(y);
  rl_tensor_release(img);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_normalize_and_stack(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(3, TU_SHAPE(3, 1, 2), TU_DATA(0.485f, 1, 0.456f, 0, 0.406f, 0.5f)), *y = NULL;
  TU_OK(rl_image_normalize(x, 3, rl_imagenet_mean, rl_imagenet_std, &y));
  expect_row(y, 6, TU_DATA(0, (1 - 0.485f) / 0.229f, 0, -0.456f / 0.224f, 0, (0.5f - 0.406f) / 0.225f), 1e-6);
  rl_tensor_release(y);
  rl_tensor *batch = NULL, *imgs[3] = {x, x, x};
  TU_OK(rl_image_stack(3, imgs, &batch));
  assert_int_equal(batch->ndim, 4);
  assert_int_equal(batch->shape[0], 3);
  assert_float_equal(rl_tensor_data(batch)[6 * 2 + 5], 0.5f, 0);
  TU_OK(rl_image_normalize(batch, 3, rl_imagenet_mean, rl_imagenet_std, &y));
  assert_float_equal(rl_tensor_data(y)[6 * 2 + 1], (1 - 0.485f) / 0.229f, 1e-6);
  rl_tensor_release(y);
  tu_assert_error(rl_image_normalize(x, 2, rl_imagenet_mean, rl_imagenet_std, &y), RL_ESHAPE,
                  "image.normalize: 2 means and stds for [3 x 1 x 2] with 3 channels");
  const float zero[3] = {1, 0, 1};
  tu_assert_error(rl_image_normalize(x, 3, rl_imagenet_mean, zero, &y), RL_EARG, "channel 2 has mean 0.456, std 0");
  rl_tensor *other = tu_randn(3, TU_SHAPE(3, 2, 1), 1, 0), *bad[2] = {x, other};
  tu_assert_error(rl_image_stack(2, bad, &y), RL_ESHAPE, "image.stack: image 2 is [3 x 2 x 1], image 1 is [3 x 1 x 2]");
  tu_assert_error(rl_image_stack(0, bad, &y), RL_EARG, "0 images");
  assert_null(y);
  rl_tensor_release(other);
  rl_tensor_release(batch);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),         cmocka_unit_test(test_forced_channels),
      cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_every_truncation), cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_resize_by_hand),   cmocka_unit_test(test_resize_separable_and_constant),
      cmocka_unit_test(test_resize_vs_pil),    cmocka_unit_test(test_resize_nomem),
      cmocka_unit_test(test_center_crop),
      cmocka_unit_test(test_normalize_and_stack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
