/* test_pb.c: the protobuf wire reader: varints, fixed values, lengths, skipping, packed runs, limits. */
#include <string.h>

#include "testutil.h"
#include "pb.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static rl_pb_ctx ctx_for(const uint8_t *buf) {
  rl_pb_ctx c = {"pbtest", "t.bin", buf, 4};
  return c;
}

static void test_fields_of_every_wire_type(void **state) {
  (void)state;
  /* field 1 varint 300, field 2 fixed64, field 3 bytes "abc", field 4 fixed32, field 5 varint 2^64-1 */
  static const uint8_t b[] = {0x08, 0xac, 0x02, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 3, 'a', 'b', 'c',
                              0x25, 0x78, 0x56, 0x34, 0x12, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0x01};
  rl_pb_ctx c = ctx_for(b);
  rl_pb r = rl_pb_open(&c, "M", b, sizeof b);
  rl_pb_field f;
  TU_OK(rl_pb_next(&r, &f));
  assert_int_equal(f.num, 1);
  assert_int_equal(f.wire, RL_PB_VARINT);
  assert_int_equal(f.u, 300);
  TU_OK(rl_pb_next(&r, &f));
  assert_int_equal(f.num, 2);
  assert_true(f.u == 0x0807060504030201ULL);
  TU_OK(rl_pb_next(&r, &f));
  assert_int_equal(f.num, 3);
  assert_int_equal(f.len, 3);
  assert_memory_equal(f.data, "abc", 3);
  assert_int_equal(f.offset, 12);
  TU_OK(rl_pb_next(&r, &f));
  assert_int_equal(f.u, 0x12345678);
  TU_OK(rl_pb_next(&r, &f));
  assert_true(f.u == UINT64_MAX);
  TU_OK(rl_pb_next(&r, &f));
  assert_int_equal(f.num, 0); /* end */
  TU_OK(rl_pb_next(&r, &f));
  assert_int_equal(f.num, 0); /* stays at the end */
}

static rl_status first_field(const uint8_t *b, size_t n, rl_pb_field *f) {
  static rl_pb_ctx c;
  c = ctx_for(b);
  rl_pb r = rl_pb_open(&c, "NodeProto", b, n);
  rl_status st;
  while ((st = rl_pb_next(&r, f)) == RL_OK && f->num) {
  }
  return st;
}

static void test_lengths_checked(void **state) {
  (void)state;
  rl_pb_field f;
  /* field 5, length 300, 3 bytes present */
  tu_assert_error(first_field(BYTES(0x08, 1, 0x2a, 0xac, 0x02, 1, 2, 3), &f), RL_EFORMAT,
                  "pbtest: t.bin: truncated at offset 5 (field 5 of NodeProto needs 300 bytes, 3 left)");
  /* a length of 2^63 must not wrap around */
  tu_assert_error(first_field(BYTES(0x2a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), &f),
                  RL_EFORMAT, "needs 9223372036854775808 bytes, 0 left");
  tu_assert_error(first_field(BYTES(0x25, 1, 2), &f), RL_EFORMAT, "field 4 of NodeProto needs 4 bytes, 2 left");
  tu_assert_error(first_field(BYTES(0x21, 1, 2, 3, 4, 5, 6, 7), &f), RL_EFORMAT, "needs 8 bytes, 7 left");
  tu_assert_error(first_field(BYTES(0x08, 0x80), &f), RL_EFORMAT,
                  "truncated at offset 2 (varint of field 1 of NodeProto runs past its end)");
  tu_assert_error(first_field(BYTES(0x08, 1, 0x80), &f), RL_EFORMAT, "a field tag of NodeProto runs past its end");
  /* 11-byte varint, and a 10th byte with more than the top bit */
  tu_assert_error(first_field(BYTES(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), &f),
                  RL_EFORMAT, "bad varint at offset 1");
  tu_assert_error(first_field(BYTES(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), &f),
                  RL_EFORMAT, "longer than 64 bits");
  tu_assert_error(first_field(BYTES(0x0b, 0x0c), &f), RL_EFORMAT, "unsupported wire type 3");
  tu_assert_error(first_field(BYTES(0x0e, 0), &f), RL_EFORMAT, "unsupported wire type 6");
  tu_assert_error(first_field(BYTES(0x00, 0), &f), RL_EFORMAT, "bad field number 0 at offset 0");
  static const uint8_t empty[1];
  TU_OK(first_field(empty, 0, &f)); /* an empty message is valid */
}

static void test_unknown_fields_skipped(void **state) {
  (void)state;
  /* fields 9 (fixed64), 10 (bytes holding garbage), 11 (fixed32), 12 (varint) around field 1 */
  static const uint8_t b[] = {0x49, 0, 0, 0, 0, 0, 0, 0, 0, 0x52, 2, 0xff, 0xff, 0x08, 42, 0x5d, 1, 1,
                              1, 1, 0x60, 0x80, 0x01};
  rl_pb_ctx c = ctx_for(b);
  rl_pb r = rl_pb_open(&c, "M", b, sizeof b);
  rl_pb_field f;
  int seen = 0, n = 0;
  rl_status st;
  while ((st = rl_pb_next(&r, &f)) == RL_OK && f.num) {
    n++;
    if (f.num == 1) seen = (int)f.u;
  }
  TU_OK(st);
  assert_int_equal(n, 5);
  assert_int_equal(seen, 42);
}

static void test_packed_and_unpacked(void **state) {
  (void)state;
  /* field 8: unpacked 1, packed {2, 300, 4}, unpacked 5; field 7 floats: packed {1.0} + unpacked 2.0 */
  static const uint8_t b[] = {0x40, 1, 0x42, 4, 2, 0xac, 0x02, 4, 0x10, 9, 0x40, 5,
                              0x3a, 4, 0, 0, 0x80, 0x3f, 0x3d, 0, 0, 0, 0x40};
  rl_pb_ctx c = ctx_for(b);
  rl_pb r = rl_pb_open(&c, "AttributeProto", b, sizeof b);
  uint64_t v[5];
  uint32_t fl[2];
  size_t n = 0;
  TU_OK(rl_pb_scalars(&r, 8, RL_PB_VARINT, NULL, &n));
  assert_int_equal(n, 5);
  TU_OK(rl_pb_scalars(&r, 8, RL_PB_VARINT, v, &n));
  assert_int_equal(n, 5);
  assert_true(v[0] == 1 && v[1] == 2 && v[2] == 300 && v[3] == 4 && v[4] == 5);
  n = 0;
  TU_OK(rl_pb_scalars(&r, 7, RL_PB_FIXED32, NULL, &n));
  assert_int_equal(n, 2);
  TU_OK(rl_pb_scalars(&r, 7, RL_PB_FIXED32, fl, &n));
  float x;
  memcpy(&x, &fl[1], 4);
  assert_true(fl[0] == 0x3f800000u && x == 2.0f);
  n = 1; /* less room than values: an error, never an overflow */
  tu_assert_error(rl_pb_scalars(&r, 8, RL_PB_VARINT, v, &n), RL_EFORMAT, "more than the 1 values");
  n = 0;
  TU_OK(rl_pb_scalars(&r, 99, RL_PB_VARINT, NULL, &n)); /* absent: none */
  assert_int_equal(n, 0);
  /* wrong wire type for a scalar: field 7 also comes as fixed32, read as varints */
  tu_assert_error(rl_pb_scalars(&r, 7, RL_PB_VARINT, NULL, &n), RL_EFORMAT,
                  "field 7 of AttributeProto at offset 18 has wire type 5, expected 0");
}

static void test_malformed_packed_runs(void **state) {
  (void)state;
  static const uint8_t b1[] = {0x3a, 3, 0, 0, 0x80};       /* 3 bytes of packed fixed32 */
  static const uint8_t b2[] = {0x42, 2, 0x01, 0x80};        /* last varint unterminated */
  static const uint8_t b3[] = {0x0a, 3, 0xff, 0xff, 0xff};  /* packed fixed64: 3 bytes */
  size_t n = 0;
  rl_pb_ctx c = ctx_for(b1);
  rl_pb r = rl_pb_open(&c, "A", b1, sizeof b1);
  tu_assert_error(rl_pb_scalars(&r, 7, RL_PB_FIXED32, NULL, &n), RL_EFORMAT, "not a multiple of 4");
  c = ctx_for(b2);
  r = rl_pb_open(&c, "A", b2, sizeof b2);
  tu_assert_error(rl_pb_scalars(&r, 8, RL_PB_VARINT, NULL, &n), RL_EFORMAT, "packed varints of field 8");
  uint64_t v[4];
  n = 4;
  tu_assert_error(rl_pb_scalars(&r, 8, RL_PB_VARINT, v, &n), RL_EFORMAT, "runs past its end");
  c = ctx_for(b3);
  r = rl_pb_open(&c, "A", b3, sizeof b3);
  tu_assert_error(rl_pb_scalars(&r, 1, RL_PB_FIXED64, NULL, &n), RL_EFORMAT, "not a multiple of 8");
}

static void test_nesting_limited(void **state) {
  (void)state;
  /* field 1 holding field 1 holding ... 6 levels; the context allows 4 */
  static const uint8_t b[] = {0x0a, 10, 0x0a, 8, 0x0a, 6, 0x0a, 4, 0x0a, 2, 0x0a, 0};
  rl_pb_ctx c = ctx_for(b);
  rl_pb r = rl_pb_open(&c, "M", b, sizeof b), sub;
  rl_pb_field f;
  int depth = 0;
  rl_status st = RL_OK;
  for (;;) {
    TU_OK(rl_pb_next(&r, &f));
    if (!f.num) break;
    if ((st = rl_pb_sub(&r, &f, "M", &sub))) break;
    r = sub;
    depth++;
  }
  assert_int_equal(depth, 4);
  tu_assert_error(st, RL_EFORMAT, "messages nested deeper than 4 at offset 8");
  /* a varint field is not a message */
  static const uint8_t v[] = {0x08, 1};
  c = ctx_for(v);
  r = rl_pb_open(&c, "M", v, sizeof v);
  TU_OK(rl_pb_next(&r, &f));
  tu_assert_error(rl_pb_sub(&r, &f, "M", &sub), RL_EFORMAT, "field 1 of M at offset 0 has wire type 0, expected 2");
}

static void test_unaligned_little_endian(void **state) {
  (void)state;
  uint8_t b[16];
  for (int i = 0; i < 16; i++) b[i] = (uint8_t)(i + 1);
  assert_int_equal(rl_pb_le32(b + 1), 0x05040302u);
  assert_true(rl_pb_le64(b + 3) == 0x0b0a090807060504ULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fields_of_every_wire_type), cmocka_unit_test(test_lengths_checked),
      cmocka_unit_test(test_unknown_fields_skipped),    cmocka_unit_test(test_packed_and_unpacked),
      cmocka_unit_test(test_malformed_packed_runs),     cmocka_unit_test(test_nesting_limited),
      cmocka_unit_test(test_unaligned_little_endian),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
