/* test_idx.c: IDX files plain and gzip, every data type, limits, the real
** Fashion-MNIST files when installed, malformed inputs, allocation failures. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

/* gzip of n bytes into out (cap bytes); returns the compressed size. */
static size_t gzip_bytes(const void *p, size_t n, unsigned char *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)(uintptr_t)p;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t k = cap - z.avail_out;
  deflateEnd(&z);
  return k;
}

static void check_images(const rl_tensor *t, int64_t n, float scale) {
  assert_int_equal(t->ndim, 3);
  assert_int_equal(t->shape[0], n);
  assert_int_equal(t->shape[1], 4);
  assert_int_equal(t->shape[2], 5);
  for (int i = 0; i < n * 20; i++) assert_float_equal(rl_tensor_data(t)[i], (float)((i * 13) % 256) * scale, 1e-7);
}

static void test_fixtures(void **state) {
  (void)state;
  rl_tensor *t = NULL;
  TU_OK(rl_idx_load(tu_data_path("images-idx3-ubyte"), 0, 0, &t));
  check_images(t, 3, 1);
  rl_tensor_release(t);
  TU_OK(rl_idx_load(tu_data_path("images-idx3-ubyte.gz"), 0, 0, &t));
  check_images(t, 3, 1);
  rl_tensor_release(t);
  TU_OK(rl_idx_load(tu_data_path("images-idx3-ubyte.gz"), 2, RL_IDX_SCALE, &t));
  check_images(t, 2, 1.0f / 255);
  rl_tensor_release(t);
  TU_OK(rl_idx_load(tu_data_path("images-idx3-ubyte"), 1000, 0, &t)); /* more than there are: all */
  check_images(t, 3, 1);
  rl_tensor_release(t);
  TU_OK(rl_idx_load(tu_data_path("labels-idx1-ubyte.gz"), 0, 0, &t));
  assert_int_equal(t->ndim, 1);
  assert_int_equal(t->shape[0], 3);
  assert_float_equal(rl_tensor_data(t)[0], 7, 0);
  assert_float_equal(rl_tensor_data(t)[2], 9, 0);
  rl_tensor_release(t);
  TU_OK(rl_idx_load(tu_data_path("s16-idx2"), 0, 0, &t));
  const float s16[] = {-32768, -1, 0, 1, 2, 32767};
  for (int i = 0; i < 6; i++) assert_float_equal(rl_tensor_data(t)[i], s16[i], 0);
  rl_tensor_release(t);
  TU_OK(rl_idx_load(tu_data_path("f64-idx1"), 0, 0, &t));
  assert_float_equal(rl_tensor_data(t)[0], 0.5f, 0);
  assert_true(isinf(rl_tensor_data(t)[1]) && rl_tensor_data(t)[1] < 0); /* -1e300 overflows float */
  assert_float_equal(rl_tensor_data(t)[2], 3.25f, 0);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_types_in_memory(void **state) {
  (void)state;
  rl_tensor *t = NULL;
  /* sbyte, int32, float32: big-endian, 2 items each */
  tu_assert_error(rl_idx_load_mem("\0\0\x09\x01\0\0\0\x02\x80\x7f", 10, "s8", 0, 0, &t), RL_OK, NULL);
  assert_float_equal(rl_tensor_data(t)[0], -128, 0);
  assert_float_equal(rl_tensor_data(t)[1], 127, 0);
  rl_tensor_release(t);
  TU_OK(rl_idx_load_mem("\0\0\x0c\x01\0\0\0\x02\xff\xff\xff\xfe\x00\x01\xe2\x40", 16, NULL, 0, 0, &t));
  assert_float_equal(rl_tensor_data(t)[0], -2, 0);
  assert_float_equal(rl_tensor_data(t)[1], 123456, 0);
  rl_tensor_release(t);
  TU_OK(rl_idx_load_mem("\0\0\x0d\x01\0\0\0\x02\x3f\xc0\x00\x00\xc0\x10\x00\x00", 16, NULL, 0, 0, &t));
  assert_float_equal(rl_tensor_data(t)[0], 1.5f, 0);
  assert_float_equal(rl_tensor_data(t)[1], -2.25f, 0);
  rl_tensor_release(t);
  /* the same bytes gzipped in memory, and as two concatenated gzip members */
  unsigned char gz[256];
  size_t n = gzip_bytes("\0\0\x0d\x01\0\0\0\x02\x3f\xc0\x00\x00\xc0\x10\x00\x00", 16, gz, sizeof gz);
  TU_OK(rl_idx_load_mem(gz, n, NULL, 0, 0, &t));
  assert_float_equal(rl_tensor_data(t)[1], -2.25f, 0);
  rl_tensor_release(t);
  size_t a = gzip_bytes("\0\0\x0d\x01\0\0\0\x02\x3f\xc0", 10, gz, sizeof gz);
  size_t b = gzip_bytes("\x00\x00\xc0\x10\x00\x00", 6, gz + a, sizeof gz - a);
  TU_OK(rl_idx_load_mem(gz, a + b, NULL, 0, 0, &t));
  assert_float_equal(rl_tensor_data(t)[1], -2.25f, 0);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_fashion_mnist(void **state) {
  (void)state;
  if (access(FMNIST "t10k-images-idx3-ubyte.gz", R_OK) != 0) {
    print_message("skipped: dataset-fashion-mnist is not installed\n");
    skip();
  }
  rl_tensor *x = NULL, *y = NULL;
  TU_OK(rl_idx_load(FMNIST "t10k-images-idx3-ubyte.gz", 0, 0, &x));
  assert_int_equal(x->ndim, 3);
  assert_int_equal(x->shape[0], 10000);
  assert_int_equal(x->shape[1], 28);
  assert_int_equal(x->shape[2], 28);
  double sum = 0, first = 0;
  for (int64_t i = 0; i < rl_tensor_numel(x); i++) sum += rl_tensor_data(x)[i];
  for (int i = 0; i < 784; i++) first += rl_tensor_data(x)[i];
  assert_true(sum == 573469082.0); /* computed with Python from the decompressed bytes */
  assert_true(first == 33456.0);
  rl_tensor_release(x);
  TU_OK(rl_idx_load(FMNIST "t10k-labels-idx1-ubyte.gz", 0, 0, &y));
  assert_int_equal(y->shape[0], 10000);
  int count[10] = {0};
  for (int i = 0; i < 10000; i++) {
    float v = rl_tensor_data(y)[i];
    assert_true(v >= 0 && v <= 9 && v == floorf(v));
    count[(int)v]++;
  }
  for (int k = 0; k < 10; k++) assert_int_equal(count[k], 1000);
  assert_float_equal(rl_tensor_data(y)[0], 9, 0); /* an ankle boot */
  rl_tensor_release(y);
  TU_OK(rl_idx_load(FMNIST "train-images-idx3-ubyte.gz", 64, RL_IDX_SCALE, &x));
  assert_int_equal(x->shape[0], 64);
  for (int64_t i = 0; i < rl_tensor_numel(x); i++)
    assert_true(rl_tensor_data(x)[i] >= 0 && rl_tensor_data(x)[i] <= 1);
  rl_tensor_release(x);
  rl_interrupt(); /* Ctrl-C during a long read: an error, nothing leaked, the flag cleared */
  tu_assert_error(rl_idx_load(FMNIST "train-images-idx3-ubyte.gz", 0, 0, &x), RL_EINTR, "idx.load: interrupted");
  assert_null(x);
  assert_false(rl_interrupted());
  TU_OK(rl_idx_load(FMNIST "train-labels-idx1-ubyte.gz", 0, 0, &y));
  assert_int_equal(y->shape[0], 60000);
  assert_float_equal(rl_tensor_data(y)[3], 3, 0);
  rl_tensor_release(y);
  tu_assert_no_leaks();
}

static void expect_bad(const void *buf, size_t n, rl_status want, const char *part) {
  rl_tensor *t = (rl_tensor *)1;
  tu_assert_error(rl_idx_load_mem(buf, n, "f.idx", 0, 0, &t), want, part);
  assert_null(t);
}

static void test_malformed(void **state) {
  (void)state;
  expect_bad("\x1f\x8b\x08\x03", 4, RL_EFORMAT, "f.idx: truncated gzip data");
  expect_bad("\0\x01\x08\x01", 4, RL_EFORMAT, "f.idx: not an IDX file (magic 0x00010801");
  expect_bad("\0\0\x0a\x01\0\0\0\x01\0", 9, RL_EFORMAT, "unknown data type 0x0a");
  expect_bad("\0\0\x08\x00", 4, RL_EFORMAT, "0 dims (relua reads 1 to 8)");
  expect_bad("\0\0\x08\x09", 4, RL_EFORMAT, "9 dims");
  expect_bad("\0\0\x08\x02\0\0\0\x02\0\0\0\x00", 12, RL_EFORMAT, "dims [2 x 0] have a zero-size dim");
  expect_bad("\0\0\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16, RL_EFORMAT, "are too large");
  expect_bad("\0\0\x08\x02\0\0\xea\x60\0\0\0\x1c", 12, RL_EFORMAT,
             "dims [60000 x 28] of ubyte need 1680000 data bytes, the file has 0");
  expect_bad("\0\0\x08\x01\0\0\0\x02\x01\x02\x03", 11, RL_EFORMAT, "1 bytes after the data");
  expect_bad("\0\0\x08\x02\0\0\0", 7, RL_EFORMAT, "truncated in the dims: 7 bytes where 12 are needed");
  expect_bad("", 0, RL_EFORMAT, "truncated in the magic: 0 bytes");
  expect_bad(NULL, 0, RL_EFORMAT, "truncated in the magic");
  rl_tensor *t = NULL;
  tu_assert_error(rl_idx_load_mem("\0\0\x0b\x01\0\0\0\x01\0\0", 10, "f.idx", 0, RL_IDX_SCALE, &t), RL_EARG,
                  "scaling to [0, 1] is for ubyte data, this file holds int16");
  tu_assert_error(rl_idx_load_mem("\0\0\x08\x01\0\0\0\x01\0", 9, "f.idx", -1, 0, &t), RL_EARG, "limit -1");
  tu_assert_error(rl_idx_load_mem("\0\0\x08\x01\0\0\0\x01\0", 9, "f.idx", 0, 8, &t), RL_EARG, "unknown flags");
  tu_assert_error(rl_idx_load(tu_tmp_path("missing"), 0, 0, &t), RL_EIO, "No such file or directory");
  tu_assert_error(rl_idx_load("/", 0, 0, &t), RL_EIO, "idx.load: /: ");
  assert_null(t);

  /* gzip: huge dims behind a few compressed bytes are refused before allocating */
  unsigned char gz[256];
  size_t n = gzip_bytes("\0\0\x08\x03\0\x01\0\0\0\0\x10\0\0\0\x10\0", 16, gz, sizeof gz);
  expect_bad(gz, n, RL_EFORMAT, "more than");
  /* gzip: data short, then bytes after it; corrupt deflate data */
  n = gzip_bytes("\0\0\x08\x01\0\0\0\x04\x01\x02", 10, gz, sizeof gz);
  expect_bad(gz, n, RL_EFORMAT, "truncated in the data: 10 bytes where 12 are needed");
  n = gzip_bytes("\0\0\x08\x01\0\0\0\x01\x01\x02", 10, gz, sizeof gz);
  expect_bad(gz, n, RL_EFORMAT, "bytes after the data (which ends at 9 decompressed bytes)");
  n = gzip_bytes("\0\0\x08\x01\0\0\0\x02\x01\x02", 10, gz, sizeof gz);
  gz[n - 5] ^= 0x55; /* the stored length */
  expect_bad(gz, n, RL_EFORMAT, "corrupt gzip data");
  tu_write_file(tu_tmp_path("bad.gz"), gz, n);
  tu_assert_error(rl_idx_load(tu_tmp_path("bad.gz"), 0, 0, &t), RL_EFORMAT, "bad.gz: corrupt gzip data");
  remove(tu_tmp_path("bad.gz"));
  tu_assert_no_leaks();
}

/* Every proper prefix of a valid file, plain or gzip, in memory or on disk. */
static void test_every_truncation(void **state) {
  (void)state;
  const char *names[] = {"images-idx3-ubyte", "images-idx3-ubyte.gz", "labels-idx1-ubyte.gz", "f64-idx1"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    unsigned char buf[512];
    size_t n = tu_slurp(tu_data_path(names[k]), buf, sizeof buf);
    rl_tensor *t = NULL;
    for (size_t len = 0; len < n; len++) {
      rl_status st = rl_idx_load_mem(buf, len, names[k], 0, 0, &t);
      if (st != RL_EFORMAT) fail_msg("%s cut at %zu: %s (%s)", names[k], len, rl_status_name(st), rl_errmsg());
      assert_null(t);
      tu_write_file(tu_tmp_path("cut"), buf, len);
      st = rl_idx_load(tu_tmp_path("cut"), 0, 0, &t); /* a cut in the gzip trailer is caught too */
      if (st != RL_EFORMAT) fail_msg("file %s cut at %zu: %s (%s)", names[k], len, rl_status_name(st), rl_errmsg());
    }
  }
  remove(tu_tmp_path("cut"));
  tu_assert_no_leaks();
}

typedef struct nm_ud {
  const void *buf;
  size_t n;
  rl_tensor *t;
} nm_ud;

static rl_status nm_load(void *ud) {
  nm_ud *u = ud;
  return rl_idx_load_mem(u->buf, u->n, "x", 2, 0, &u->t);
}
static void nm_done(void *ud) { rl_tensor_release(((nm_ud *)ud)->t); }
static rl_status nm_load_file(void *ud) {
  nm_ud *u = ud;
  return rl_idx_load(u->buf, 0, 0, &u->t);
}

static void test_nomem(void **state) {
  (void)state;
  unsigned char buf[512];
  nm_ud u = {buf, tu_slurp(tu_data_path("images-idx3-ubyte.gz"), buf, sizeof buf), NULL};
  assert_true(tu_nomem_sweep(nm_load, nm_done, &u) >= 3); /* inflate's state and window come from rl_mem_alloc */
  u.n = tu_slurp(tu_data_path("images-idx3-ubyte"), buf, sizeof buf);
  assert_true(tu_nomem_sweep(nm_load, nm_done, &u) >= 2);
  u.buf = tu_data_path("labels-idx1-ubyte.gz");
  assert_true(tu_nomem_sweep(nm_load_file, nm_done, &u) >= 2);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),  cmocka_unit_test(test_types_in_memory),
      cmocka_unit_test(test_fashion_mnist), cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_every_truncation), cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
