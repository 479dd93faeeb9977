/* test_checkpoint.c: checkpoint round trips (memory and file), the byte
** layout, every truncation, corrupted bytes, wrong magic/version, huge dims
** and counts, bad arguments, allocation failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "testutil.h"

static const char *tmp_path(const char *name) {
  static char buf[256];
  snprintf(buf, sizeof buf, "/tmp/relua_test_ckpt_%ld_%s", (long)getpid(), name);
  return buf;
}

/* A small checkpoint: a 2 x 3 tensor, a 0-dim one and a transposed view. */
typedef struct fixture {
  rl_tensor *a, *s, *base, *tr;
  const char *names[3];
  rl_tensor *ts[3];
} fixture;

static void fixture_make(fixture *f) {
  f->a = tu_tensor(2, TU_SHAPE(2, 3), TU_DATA(1, -2, 3.5f, 0, 1e-30f, -0.0f));
  TU_OK(rl_tensor_scalar(7.25f, &f->s));
  f->base = tu_randn(2, TU_SHAPE(3, 4), 5, 0);
  TU_OK(rl_tensor_view_transpose(f->base, 0, 1, &f->tr));
  f->names[0] = "1:weight", f->names[1] = "scalar", f->names[2] = "conv.bias";
  f->ts[0] = f->a, f->ts[1] = f->s, f->ts[2] = f->tr;
}

static void fixture_free(fixture *f) {
  rl_tensor_release(f->a);
  rl_tensor_release(f->s);
  rl_tensor_release(f->tr);
  rl_tensor_release(f->base);
}

static const char TEXT[] = "{format = \"relua.checkpoint\", \xc3\xa9t\xc3\xa9 = 1}";

static void assert_same(const rl_checkpoint *c, const fixture *f) {
  assert_int_equal(c->text_len, strlen(TEXT));
  assert_string_equal(c->text, TEXT);
  assert_int_equal(c->ntensors, 3);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(c->names[i], f->names[i]);
    assert_int_equal(c->tensors[i]->ndim, f->ts[i]->ndim);
    tu_assert_close(c->tensors[i], f->ts[i], 0, 0);
  }
  /* bit-exact, the sign of -0 included */
  assert_memory_equal(rl_tensor_data(c->tensors[0]), rl_tensor_data(f->a), 6 * sizeof(float));
}

static void test_roundtrip(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f);
  void *buf;
  size_t n;
  TU_OK(rl_checkpoint_save_mem(TEXT, strlen(TEXT), 3, f.names, f.ts, &buf, &n));
  rl_checkpoint *c;
  TU_OK(rl_checkpoint_load_mem(buf, n, "m.ckpt", &c));
  assert_same(c, &f);
  rl_checkpoint_free(c);
  char path[256];
  snprintf(path, sizeof path, "%s", tmp_path("rt.ckpt"));
  TU_OK(rl_checkpoint_save(path, TEXT, strlen(TEXT), 3, f.names, f.ts));
  assert_int_equal(access(tmp_path("rt.ckpt.tmp"), F_OK), -1); /* renamed away */
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  unsigned char *disk = malloc(n + 1);
  assert_int_equal(fread(disk, 1, n + 1, fp), n); /* the file is the memory image */
  fclose(fp);
  assert_memory_equal(disk, buf, n);
  free(disk);
  TU_OK(rl_checkpoint_load(path, &c));
  assert_same(c, &f);
  rl_checkpoint_free(c);
  /* no tensors, empty text */
  rl_mem_free(buf);
  TU_OK(rl_checkpoint_save_mem("", 0, 0, NULL, NULL, &buf, &n));
  assert_int_equal(n, 16 + 8 + 8 + 4);
  TU_OK(rl_checkpoint_load_mem(buf, n, NULL, &c));
  assert_int_equal(c->ntensors, 0);
  assert_int_equal(c->text_len, 0);
  rl_checkpoint_free(c);
  rl_mem_free(buf);
  remove(path);
  fixture_free(&f);
  tu_assert_no_leaks();
}

/* The layout of docs/checkpoints.md, byte by byte, for one tensor. */
static void test_layout(void **state) {
  (void)state;
  rl_tensor *t = tu_tensor(1, TU_SHAPE(2), TU_DATA(1.0f, -2.0f));
  const char *names[] = {"w"};
  void *buf;
  size_t n;
  TU_OK(rl_checkpoint_save_mem("{}", 2, 1, names, &t, &buf, &n));
  static const unsigned char want[] = {
      'R', 'E', 'L', 'U', 'A', 'C', 'K', 'P', 1, 0, 0, 0, 0, 0, 0, 0,  /* magic, version, flags */
      2, 0, 0, 0, 0, 0, 0, 0, '{', '}',                                /* text */
      1, 0, 0, 0, 0, 0, 0, 0,                                          /* count */
      1, 0, 0, 0, 'w', 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,             /* name, ndim, dims */
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};                 /* 1.0f, -2.0f */
  assert_int_equal(n, sizeof want + 4);
  assert_memory_equal(buf, want, sizeof want);
  uint32_t crc = rl_crc32(0, buf, sizeof want);
  const unsigned char *p = (const unsigned char *)buf + sizeof want;
  assert_int_equal(crc, (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
  assert_int_equal(rl_crc32(0, "123456789", 9), 0xcbf43926u); /* zlib's check value */
  rl_mem_free(buf);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

static void test_every_truncation(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f);
  void *buf;
  size_t n;
  TU_OK(rl_checkpoint_save_mem(TEXT, strlen(TEXT), 3, f.names, f.ts, &buf, &n));
  for (size_t k = 0; k < n; k++) {
    rl_checkpoint *c = (rl_checkpoint *)1;
    rl_status st = rl_checkpoint_load_mem(buf, k, "cut.ckpt", &c);
    assert_int_equal(st, RL_EFORMAT);
    assert_null(c);
    assert_non_null(strstr(rl_errmsg(), "checkpoint.load: cut.ckpt: "));
    if (k >= 16) assert_non_null(strstr(rl_errmsg(), "at offset"));
  }
  rl_checkpoint *c;
  unsigned char *longer = rl_mem_alloc(n + 1);
  memcpy(longer, buf, n);
  longer[n] = 0;
  tu_assert_error(rl_checkpoint_load_mem(longer, n + 1, "long.ckpt", &c), RL_EFORMAT, "1 bytes after the CRC");
  rl_mem_free(longer);
  rl_mem_free(buf);
  fixture_free(&f);
  tu_assert_no_leaks();
}

static void test_corruption(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f);
  unsigned char *buf;
  size_t n;
  TU_OK(rl_checkpoint_save_mem(TEXT, strlen(TEXT), 3, f.names, f.ts, (void **)&buf, &n));
  /* every single-bit flip is caught: by a structure check or by the CRC */
  for (size_t k = 0; k < n; k++) {
    for (int bit = 0; bit < 8; bit += 3) {
      buf[k] ^= (unsigned char)(1u << bit);
      rl_checkpoint *c = NULL;
      rl_status st = rl_checkpoint_load_mem(buf, n, "bad.ckpt", &c);
      assert_int_equal(st, RL_EFORMAT);
      assert_null(c);
      buf[k] ^= (unsigned char)(1u << bit);
    }
  }
  rl_checkpoint *c;
  buf[n - 10] ^= 0x40; /* inside the last tensor's data */
  tu_assert_error(rl_checkpoint_load_mem(buf, n, "bad.ckpt", &c), RL_EFORMAT, "CRC mismatch at offset");
  buf[n - 10] ^= 0x40;
  buf[3] = 'X';
  tu_assert_error(rl_checkpoint_load_mem(buf, n, "bad.ckpt", &c), RL_EFORMAT, "not a relua checkpoint");
  buf[3] = 'U';
  buf[8] = 2;
  tu_assert_error(rl_checkpoint_load_mem(buf, n, "bad.ckpt", &c), RL_EFORMAT,
                  "format version 2 at offset 8; this relua reads version 1");
  buf[8] = 1;
  buf[12] = 1;
  tu_assert_error(rl_checkpoint_load_mem(buf, n, "bad.ckpt", &c), RL_EFORMAT, "unknown flags");
  buf[12] = 0;
  TU_OK(rl_checkpoint_load_mem(buf, n, "good.ckpt", &c));
  rl_checkpoint_free(c);
  rl_mem_free(buf);
  fixture_free(&f);
  tu_assert_no_leaks();
}

/* Hand-written headers with lengths that lie. */
static size_t put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
  return 8;
}
static size_t put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
  return 4;
}

static void test_huge_lengths(void **state) {
  (void)state;
  unsigned char b[256];
  rl_checkpoint *c;
  size_t k;
  memcpy(b, "RELUACKP\1\0\0\0\0\0\0\0", 16);
  k = 16 + put64(b + 16, UINT64_MAX); /* text length */
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT,
                  "truncated at offset 24 (the architecture text needs");
  k = 16 + put64(b + 16, 0);
  size_t count_at = k;
  k += put64(b + k, (uint64_t)1 << 60);
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "tensor count 1152921504606846976 at offset 24");
  k = count_at + put64(b + count_at, 1);
  size_t name_at = k;
  k += put32(b + k, 0xffffffffu);
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "name of 4294967295 bytes at offset 32");
  k = name_at + put32(b + name_at, 1);
  b[k++] = 'w';
  size_t ndim_at = k;
  k += put32(b + k, 9);
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "has 9 dims at offset 37");
  k = ndim_at + put32(b + ndim_at, 2);
  k += put64(b + k, (uint64_t)1 << 40);
  k += put64(b + k, (uint64_t)1 << 40); /* 2^80 elements: must not wrap */
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "dim 1 = 1099511627776 at offset 41");
  k = ndim_at + put32(b + ndim_at, 2);
  k += put64(b + k, 3);
  k += put64(b + k, 0);
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "dim 2 = 0 at offset 49, zero");
  k = ndim_at + put32(b + ndim_at, 1);
  k += put64(b + k, 100);
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "more data than the file holds");
  /* a NUL in a name, invalid UTF-8 in the text */
  k = name_at + put32(b + name_at, 1);
  b[k - 0] = 0;
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "not a valid UTF-8 string");
  k = 16 + put64(b + 16, 2);
  b[k] = 0xc0, b[k + 1] = 0x80; /* an overlong NUL */
  tu_assert_error(rl_checkpoint_load_mem(b, k + 40, "h.ckpt", &c), RL_EFORMAT, "text at offset 24 is not valid UTF-8");
  tu_assert_no_leaks();
}

static void test_bad_arguments(void **state) {
  (void)state;
  rl_tensor *t = tu_tensor(1, TU_SHAPE(1), TU_DATA(1));
  void *buf;
  size_t n;
  const char *empty[] = {""}, *ok[] = {"w"};
  rl_tensor *none[] = {NULL};
  tu_assert_error(rl_checkpoint_save_mem("{}", 2, 1, empty, &t, &buf, &n), RL_EARG, "tensor 1 has an empty name");
  tu_assert_error(rl_checkpoint_save_mem("{}", 2, 1, ok, none, &buf, &n), RL_EARG, "tensor 1 ('w') is NULL");
  tu_assert_error(rl_checkpoint_save_mem("\xff", 1, 1, ok, &t, &buf, &n), RL_EARG, "not valid UTF-8");
  tu_assert_error(rl_checkpoint_save("/nonexistent/dir/m.ckpt", "{}", 2, 1, ok, &t), RL_EIO, "cannot open");
  rl_checkpoint *c;
  tu_assert_error(rl_checkpoint_load("/nonexistent/m.ckpt", &c), RL_EIO, "cannot open /nonexistent/m.ckpt");
  tu_assert_error(rl_checkpoint_load("/tmp", &c), RL_EIO, "not a regular file");
  const char *path = tmp_path("empty.ckpt");
  FILE *fp = fopen(path, "wb");
  fclose(fp);
  tu_assert_error(rl_checkpoint_load(path, &c), RL_EFORMAT, "truncated at offset 0");
  remove(path);
  rl_tensor_release(t);
  tu_assert_no_leaks();
}

typedef struct nm_ud {
  fixture *f;
  void *buf;
  size_t n;
  rl_checkpoint *c;
} nm_ud;

static rl_status nm_save(void *ud) {
  nm_ud *u = ud;
  return rl_checkpoint_save_mem(TEXT, strlen(TEXT), 3, u->f->names, u->f->ts, &u->buf, &u->n);
}
static void nm_save_done(void *ud) {
  nm_ud *u = ud;
  rl_mem_free(u->buf);
  u->buf = NULL;
}
static rl_status nm_load(void *ud) {
  nm_ud *u = ud;
  return rl_checkpoint_load_mem(u->buf, u->n, "nm.ckpt", &u->c);
}
static void nm_load_done(void *ud) {
  nm_ud *u = ud;
  rl_checkpoint_free(u->c);
  u->c = NULL;
}

static void test_nomem(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f);
  nm_ud u = {&f, NULL, 0, NULL};
  assert_true(tu_nomem_sweep(nm_save, nm_save_done, &u) >= 2); /* buffer, contiguous copy of the view */
  TU_OK(nm_save(&u));
  assert_true(tu_nomem_sweep(nm_load, nm_load_done, &u) >= 8);
  nm_save_done(&u);
  fixture_free(&f);
  tu_assert_no_leaks();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),    cmocka_unit_test(test_layout),
      cmocka_unit_test(test_every_truncation), cmocka_unit_test(test_corruption),
      cmocka_unit_test(test_huge_lengths), cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
