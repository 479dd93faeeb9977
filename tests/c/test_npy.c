/* test_npy.c: .npy round trips, every dtype and byte order from hand-built
** bytes, files written by numpy, strict header errors, every truncation,
** allocation failures. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* A v1.0 .npy image from a header dict and raw data bytes. */
static size_t build(unsigned char *out, const char *dict, const void *data, size_t n) {
  size_t dl = strlen(dict), hl = dl + 1;
  memcpy(out, "\x93NUMPY\x01\x00", 8);
  out[8] = (unsigned char)(hl & 255);
  out[9] = (unsigned char)(hl >> 8);
  memcpy(out + 10, dict, dl);
  out[10 + dl] = '\n';
  memcpy(out + 10 + hl, data, n);
  return 10 + hl + n;
}

static int contains(const void *buf, size_t n, const char *s) {
  size_t k = strlen(s);
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp((const char *)buf + i, s, k)) return 1;
  return 0;
}

static void expect_values(const rl_tensor *t, int n, const float *v) {
  assert_int_equal(rl_tensor_numel(t), n);
  for (int i = 0; i < n; i++)
    if (!(rl_tensor_data(t)[i] == v[i] || (isnan(v[i]) && isnan(rl_tensor_data(t)[i]))))
      fail_msg("element %d: %.9g, expected %.9g", i, rl_tensor_data(t)[i], v[i]);
}

static void test_roundtrip_f32(void **state) {
  (void)state;
  rl_tensor *x = tu_randn(3, TU_SHAPE(2, 3, 4), 1, 0), *y = NULL, *tr = NULL, *c = NULL;
  void *buf = NULL;
  size_t n = 0;
  TU_OK(rl_npy_save_mem(x, RL_NPY_F32, &buf, &n));
  assert_int_equal(n, 128 + 24 * 4);
  TU_OK(rl_npy_load_mem(buf, n, "x", &y));
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[2], 4);
  assert_memory_equal(rl_tensor_data(x), rl_tensor_data(y), 24 * 4);
  rl_mem_free(buf);
  rl_tensor_release(y);
  /* a non-contiguous view is saved in its logical order, through a file */
  TU_OK(rl_tensor_view_transpose(x, 0, 2, &tr));
  TU_OK(rl_npy_save(tu_tmp_path("t.npy"), tr, RL_NPY_F32));
  TU_OK(rl_npy_load(tu_tmp_path("t.npy"), &y));
  TU_OK(rl_tensor_clone(tr, &c));
  tu_assert_close(y, c, 0, 0);
  remove(tu_tmp_path("t.npy"));
  rl_tensor_release(y);
  rl_tensor_release(c);
  rl_tensor_release(tr);
  /* 0-dim and 1-dim */
  TU_OK(rl_tensor_scalar(-7.5f, &c));
  TU_OK(rl_npy_save_mem(c, RL_NPY_F32, &buf, &n));
  assert_true(contains(buf, n, "'shape': (), }"));
  TU_OK(rl_npy_load_mem(buf, n, NULL, &y));
  assert_int_equal(y->ndim, 0);
  assert_float_equal(rl_tensor_data(y)[0], -7.5f, 0);
  rl_mem_free(buf);
  rl_tensor_release(y);
  rl_tensor_release(c);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_header_layout(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(1, TU_SHAPE(3), TU_DATA(1, 2, 3));
  void *buf;
  size_t n;
  TU_OK(rl_npy_save_mem(x, RL_NPY_F32, &buf, &n));
  const unsigned char *b = buf;
  assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
  size_t hl = b[8] | (size_t)b[9] << 8;
  assert_int_equal((10 + hl) % 64, 0);
  assert_int_equal(b[10 + hl - 1], '\n');
  const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  assert_memory_equal(b + 10, want, strlen(want));
  assert_int_equal(n, 10 + hl + 12);
  rl_mem_free(buf);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

static void test_roundtrip_u8(void **state) {
  (void)state;
  rl_tensor *x = tu_tensor(2, TU_SHAPE(2, 4), TU_DATA(0, 255, 2.4f, 2.6f, -3, 300, NAN, 254.6f)), *y = NULL;
  void *buf;
  size_t n;
  TU_OK(rl_npy_save_mem(x, RL_NPY_U8, &buf, &n));
  assert_true(contains(buf, n, "'descr': '|u1'"));
  assert_int_equal(n, 128 + 8); /* a 71-byte header padded to 128 */
  TU_OK(rl_npy_load_mem(buf, n, NULL, &y));
  expect_values(y, 8, TU_DATA(0, 255, 2, 3, 0, 255, 0, 255));
  rl_mem_free(buf);
  rl_tensor_release(y);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

/* Values written byte by byte in both byte orders, for every dtype. */
typedef struct dtcase {
  const char *code;  /* without the order char */
  int size;
  const char *le;    /* 3 values, little-endian bytes */
  float v[3];
} dtcase;

static void test_every_dtype(void **state) {
  (void)state;
  static const dtcase cases[] = {
      {"f4", 4, "\x00\x00\xc0\x3f\x00\x00\x10\xc0\x00\x00\x80\x7f", {1.5f, -2.25f, INFINITY}},
      {"f8", 8, "\x00\x00\x00\x00\x00\x00\xf8\x3f\x9a\x99\x99\x99\x99\x99\xb9\x3f\x00\x00\x00\x00\x00\x00\xf0\xff",
       {1.5f, 0.1f, -INFINITY}},
      {"f2", 2, "\x00\x3c\x00\xc0\x01\x00", {1.0f, -2.0f, 5.9604644775390625e-8f}},
      {"i1", 1, "\x80\xff\x7f", {-128, -1, 127}},
      {"u1", 1, "\x80\xff\x7f", {128, 255, 127}},
      {"b1", 1, "\x00\x01\x02", {0, 1, 1}},
      {"i2", 2, "\x00\x80\xff\xff\x39\x30", {-32768, -1, 12345}},
      {"u2", 2, "\x00\x80\xff\xff\x39\x30", {32768, 65535, 12345}},
      {"i4", 4, "\x00\x00\x00\x80\xfe\xff\xff\xff\x40\xe2\x01\x00", {-2147483648.0f, -2, 123456}},
      {"u4", 4, "\x00\x00\x00\x80\xfe\xff\xff\xff\x40\xe2\x01\x00", {2147483648.0f, 4294967294.0f, 123456}},
      {"i8", 8, "\x00\x00\x00\x00\x00\x00\x00\x80\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x01\x00\x00\x00\x00",
       {-9223372036854775808.0f, -1, 16777217.0f}},
      {"u8", 8, "\x00\x00\x00\x00\x00\x00\x00\x80\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x01\x00\x00\x00\x00",
       {9223372036854775808.0f, 18446744073709551615.0f, 16777217.0f}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const dtcase *c = &cases[k];
    for (int big = 0; big < 2; big++) {
      unsigned char data[24], file[256];
      for (int i = 0; i < 3; i++)
        for (int b = 0; b < c->size; b++)
          data[i * c->size + b] = (unsigned char)c->le[i * c->size + (big ? c->size - 1 - b : b)];
      char dict[128];
      snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (3,), }",
               c->size == 1 ? "|<"[big] : "<>"[big], c->code);
      size_t n = build(file, dict, data, 3 * (size_t)c->size);
      rl_tensor *t = NULL;
      if (rl_npy_load_mem(file, n, c->code, &t) != RL_OK) fail_msg("%s: %s", dict, rl_errmsg());
      expect_values(t, 3, c->v);
      rl_tensor_release(t);
    }
  }
  tu_assert_no_leaks();
}

static void test_fortran_order(void **state) {
  (void)state;
  /* a [2 x 3] array [[0 1 2] [3 4 5]] stored column by column */
  float d[6] = {0, 3, 1, 4, 2, 5};
  unsigned char file[256];
  size_t n = build(file, "{\"descr\": \"<f4\", \"fortran_order\": True, \"shape\": (2, 3)}", d, sizeof d);
  rl_tensor *t = NULL;
  TU_OK(rl_npy_load_mem(file, n, NULL, &t));
  assert_int_equal(t->shape[0], 2);
  assert_int_equal(t->shape[1], 3);
  assert_true(rl_tensor_is_contiguous(t));
  expect_values(t, 6, TU_DATA(0, 1, 2, 3, 4, 5));
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_numpy_files(void **state) {
  (void)state;
  rl_tensor *t = NULL;
  TU_OK(rl_npy_load(tu_data_path("f8_big_fortran.npy"), &t)); /* arange(24).reshape(2,3,4)*0.5-3, '>f8', F order */
  assert_int_equal(t->ndim, 3);
  assert_int_equal(t->shape[0], 2);
  assert_int_equal(t->shape[2], 4);
  for (int i = 0; i < 24; i++) assert_float_equal(rl_tensor_data(t)[i], i * 0.5f - 3, 0);
  rl_tensor_release(t);
  TU_OK(rl_npy_load(tu_data_path("i2_little.npy"), &t));
  assert_int_equal(t->shape[1], 4);
  for (int i = 0; i < 12; i++) assert_float_equal(rl_tensor_data(t)[i], i * 1000 - 6000, 0);
  rl_tensor_release(t);
  TU_OK(rl_npy_load(tu_data_path("bool.npy"), &t));
  expect_values(t, 6, TU_DATA(1, 0, 1, 0, 0, 1));
  rl_tensor_release(t);
  TU_OK(rl_npy_load(tu_data_path("u1_scalar.npy"), &t));
  assert_int_equal(t->ndim, 0);
  expect_values(t, 1, TU_DATA(200));
  rl_tensor_release(t);
  TU_OK(rl_npy_load(tu_data_path("f4_1d.npy"), &t));
  expect_values(t, 4, TU_DATA(1.5f, -2.25f, 3e-8f, 65504.0f));
  rl_tensor_release(t);
  TU_OK(rl_npy_load(tu_data_path("f4_v2.npy"), &t));
  expect_values(t, 4, TU_DATA(1, 2, 3, 4));
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void expect_bad(const char *dict, size_t ndata, rl_status want, const char *part) {
  unsigned char data[64] = {0}, file[512];
  size_t n = build(file, dict, data, ndata);
  rl_tensor *t = (rl_tensor *)1;
  tu_assert_error(rl_npy_load_mem(file, n, "a.npy", &t), want, part);
  if (want == RL_OK) rl_tensor_release(t);
  else assert_null(t);
}

static void test_malformed_headers(void **state) {
  (void)state;
  const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  expect_bad(ok, 8, RL_OK, NULL);
  expect_bad(ok, 7, RL_EFORMAT, "npy.load: a.npy: shape [2] of '<f4' needs 8 data bytes, only 7 follow the header");
  expect_bad(ok, 9, RL_EFORMAT, "1 unexpected bytes after the data");
  expect_bad("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, RL_EFORMAT,
             "'descr' is '<c8', not a supported dtype");
  expect_bad("{'descr': '|i4', 'fortran_order': False, 'shape': (2,), }", 8, RL_EFORMAT, "byte order '|'");
  expect_bad("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, RL_EFORMAT,
             "expected a quoted string for 'descr'");
  expect_bad("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8, RL_EFORMAT,
             "'fortran_order' is neither True nor False");
  expect_bad("{'descr': '<f4', 'shape': (2,), }", 8, RL_EFORMAT, "the key 'fortran_order' is missing");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, RL_EFORMAT, "unknown key 'x'");
  expect_bad("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, RL_EFORMAT,
             "key 'descr' appears twice");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, RL_EFORMAT,
             "'shape' holds something other than non-negative integers");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 8, RL_EFORMAT, "expected ',' or ')'");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) }x", 8, RL_EFORMAT, "after the closing '}'");
  expect_bad("{'descr': '<f4' 'fortran_order': False}", 8, RL_EFORMAT, "expected ',' or '}'");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }", 0, RL_ESHAPE,
             "shape [2 x 0] has a zero-size dim");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4, RL_EFORMAT,
             "more than 8 dims");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 8, RL_EFORMAT,
             "is too large");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8, RL_EFORMAT,
             "overflows 64 bits");
  expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", 8, RL_EFORMAT,
             "needs 4000000000000 data bytes, only 8 follow");
  expect_bad("{'descr': '<f4xxxxxxxxxxxxxxxxxxxxxxx', 'fortran_order': False}", 8, RL_EFORMAT,
             "'descr' is not a short plain string");
  expect_bad("{'descr': '<f4", 0, RL_EFORMAT, "unterminated string");
  expect_bad("('descr', '<f4')", 8, RL_EFORMAT, "not a dict");
  tu_assert_no_leaks();
}

static void test_malformed_preamble(void **state) {
  (void)state;
  rl_tensor *t = NULL;
  unsigned char f[700] = "\x93NUMPY\x01\x00";
  tu_assert_error(rl_npy_load_mem("\x93NUMPX\x01\x00\x00\x00", 10, "a.npy", &t), RL_EFORMAT,
                  "npy.load: a.npy: not a .npy file");
  tu_assert_error(rl_npy_load_mem("PK\x03\x04", 4, "a.npy", &t), RL_EFORMAT, "not a .npy file");
  tu_assert_error(rl_npy_load_mem("", 0, "a.npy", &t), RL_EFORMAT, "truncated in the preamble (0 bytes)");
  tu_assert_error(rl_npy_load_mem(NULL, 0, "a.npy", &t), RL_EFORMAT, "truncated in the preamble");
  tu_assert_error(rl_npy_load_mem("\x93NUMPY\x04\x00\x10\x00", 10, "a.npy", &t), RL_EFORMAT,
                  "unsupported format version 4.0");
  f[8] = 0x70; /* 70000 as a v2 uint32 */
  f[9] = 0x11;
  f[10] = 0x01;
  f[6] = 2;
  tu_assert_error(rl_npy_load_mem(f, 600, "a.npy", &t), RL_EFORMAT,
                  "npy.load: a.npy: header length 70000 runs past the end of the file (600 bytes)");
  f[6] = 3;
  f[11] = 0x10; /* 268 million: beyond the file too */
  tu_assert_error(rl_npy_load_mem(f, 600, "a.npy", &t), RL_EFORMAT, "runs past the end");
  f[6] = 2;
  f[8] = 11; /* version 2, 12-byte preamble, then 11 bytes of header */
  f[9] = f[10] = f[11] = 0;
  tu_assert_error(rl_npy_load_mem(f, 11, "a.npy", &t), RL_EFORMAT, "truncated in the preamble (11 bytes)");
  tu_assert_error(rl_npy_load(tu_tmp_path("missing.npy"), &t), RL_EIO, "No such file or directory");
  tu_assert_error(rl_npy_load("/", &t), RL_EIO, "npy.load: /: ");
  rl_tensor *x = tu_tensor(1, TU_SHAPE(1), TU_DATA(1));
  tu_assert_error(rl_npy_save("/nonexistent-dir/x.npy", x, RL_NPY_F32), RL_EIO, "npy.save: /nonexistent-dir/x.npy: ");
  tu_assert_error(rl_npy_save(tu_tmp_path("x.npy"), x, (rl_npy_dtype)7), RL_EARG, "unknown dtype 7");
  rl_tensor_release(x);
  assert_null(t);
  tu_assert_no_leaks();
}

/* Every proper prefix of valid files is an error, never a crash or a leak. */
static void test_every_truncation(void **state) {
  (void)state;
  const char *names[] = {"f8_big_fortran.npy", "f4_v2.npy", "u1_scalar.npy", "bool.npy"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    unsigned char buf[1024];
    FILE *f = fopen(tu_data_path(names[k]), "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    rl_tensor *t = NULL;
    TU_OK(rl_npy_load_mem(buf, n, names[k], &t));
    rl_tensor_release(t);
    for (size_t len = 0; len < n; len++) {
      rl_status st = rl_npy_load_mem(buf, len, names[k], &t);
      if (st != RL_EFORMAT) fail_msg("%s cut at %zu: %s (%s)", names[k], len, rl_status_name(st), rl_errmsg());
      assert_null(t);
    }
    /* and a file on disk cut short */
    f = fopen(tu_tmp_path("cut.npy"), "wb");
    fwrite(buf, 1, n - 3, f);
    fclose(f);
    tu_assert_error(rl_npy_load(tu_tmp_path("cut.npy"), &t), RL_EFORMAT, "cut.npy: ");
    remove(tu_tmp_path("cut.npy"));
  }
  tu_assert_no_leaks();
}

static void test_interrupt(void **state) {
  (void)state;
  rl_tensor *x = NULL, *y = NULL;
  TU_OK(rl_tensor_zeros(1, TU_SHAPE(400000), &x)); /* 1.6 MB: read in more than 64 chunks */
  TU_OK(rl_npy_save(tu_tmp_path("big.npy"), x, RL_NPY_F32));
  rl_interrupt();
  tu_assert_error(rl_npy_load(tu_tmp_path("big.npy"), &y), RL_EINTR, "npy.load: interrupted");
  assert_null(y);
  TU_OK(rl_npy_load(tu_tmp_path("big.npy"), &y));
  remove(tu_tmp_path("big.npy"));
  rl_tensor_release(y);
  rl_tensor_release(x);
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
  return rl_npy_load_mem(u->buf, u->n, "x", &u->t);
}
static void nm_load_done(void *ud) { rl_tensor_release(((nm_ud *)ud)->t); }
static rl_status nm_save(void *ud) {
  nm_ud *u = ud;
  return rl_npy_save_mem(u->t, RL_NPY_U8, &u->out, &u->outn);
}
static void nm_save_done(void *ud) { rl_mem_free(((nm_ud *)ud)->out); }

static void test_nomem(void **state) {
  (void)state;
  unsigned char buf[1024];
  FILE *f = fopen(tu_data_path("f8_big_fortran.npy"), "rb");
  assert_non_null(f);
  nm_ud u = {buf, fread(buf, 1, sizeof buf, f), NULL, NULL, 0};
  fclose(f);
  assert_true(tu_nomem_sweep(nm_load, nm_load_done, &u) >= 3);
  rl_tensor *x = tu_randn(2, TU_SHAPE(3, 5), 2, 0), *tr = NULL;
  TU_OK(rl_tensor_view_transpose(x, 0, 1, &tr));
  u.t = tr;
  assert_true(tu_nomem_sweep(nm_save, nm_save_done, &u) >= 2);
  rl_tensor_release(tr);
  rl_tensor_release(x);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_f32),      cmocka_unit_test(test_header_layout),
      cmocka_unit_test(test_roundtrip_u8),       cmocka_unit_test(test_every_dtype),
      cmocka_unit_test(test_fortran_order),      cmocka_unit_test(test_numpy_files),
      cmocka_unit_test(test_malformed_headers),  cmocka_unit_test(test_malformed_preamble),
      cmocka_unit_test(test_every_truncation),   cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_interrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
