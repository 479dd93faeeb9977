/* test_onnx.c: ONNX models: hand-built buffers, the conformance suite, external data, malformed files. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define TESTDATA "/usr/share/libonnx-testdata/data"

/* {==================== a protobuf writer for building test files */

typedef struct pbw {
  uint8_t *d;
  size_t n, cap;
} pbw;

static void w_raw(pbw *w, const void *p, size_t n) {
  if (w->n + n > w->cap) {
    w->cap = (w->n + n) * 2 + 64;
    w->d = realloc(w->d, w->cap);
    assert_non_null(w->d);
  }
  if (n) memcpy(w->d + w->n, p, n);
  w->n += n;
}
static void w_varint(pbw *w, uint64_t v) {
  uint8_t b[10];
  int k = 0;
  do {
    b[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  w_raw(w, b, (size_t)k);
}
static void w_tag(pbw *w, unsigned num, unsigned wire) { w_varint(w, (uint64_t)num << 3 | wire); }
static void w_int(pbw *w, unsigned num, int64_t v) { w_tag(w, num, 0), w_varint(w, (uint64_t)v); }
static void w_bytes(pbw *w, unsigned num, const void *p, size_t n) {
  w_tag(w, num, 2), w_varint(w, n), w_raw(w, p, n);
}
static void w_str(pbw *w, unsigned num, const char *s) { w_bytes(w, num, s, strlen(s)); }
static void w_msg(pbw *w, unsigned num, pbw *m) { /* appends and frees m */
  w_bytes(w, num, m->d, m->n);
  free(m->d);
  memset(m, 0, sizeof *m);
}
static void w_f32(pbw *w, unsigned num, float f) {
  uint8_t b[4];
  uint32_t u;
  memcpy(&u, &f, 4);
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(u >> 8 * i);
  w_tag(w, num, 5), w_raw(w, b, 4);
}
static void w_packed_ints(pbw *w, unsigned num, int n, const int64_t *v) {
  pbw p = {0};
  for (int i = 0; i < n; i++) w_varint(&p, (uint64_t)v[i]);
  w_msg(w, num, &p);
}
static void w_packed_f32(pbw *w, unsigned num, int n, const float *v) {
  pbw p = {0};
  for (int i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    w_raw(&p, b, 4);
  }
  w_msg(w, num, &p);
}
/* A TensorProto header: name, data type, dims (packed or one tag each). */
static pbw w_tensor(const char *name, int dtype, int ndim, const int64_t *dims, int packed) {
  pbw t = {0};
  if (packed) w_packed_ints(&t, 1, ndim, dims);
  else
    for (int i = 0; i < ndim; i++) w_int(&t, 1, dims[i]);
  w_int(&t, 2, dtype);
  w_str(&t, 8, name);
  return t;
}
/* A ModelProto around graph g (consumed), opset 13. */
static pbw w_model(pbw *g) {
  pbw m = {0}, op = {0};
  w_int(&m, 1, 8);
  w_str(&m, 2, "relua-test");
  w_str(&op, 1, "");
  w_int(&op, 2, 13);
  w_msg(&m, 8, &op);
  w_msg(&m, 7, g);
  return m;
}
/* A model whose graph holds just initializer t (consumed). */
static pbw w_model_init(pbw *t) {
  pbw g = {0};
  w_msg(&g, 5, t);
  return w_model(&g);
}
static pbw w_attr_ints(const char *name, int n, const int64_t *v, int packed) {
  pbw a = {0};
  w_str(&a, 1, name);
  if (packed) w_packed_ints(&a, 8, n, v);
  else
    for (int i = 0; i < n; i++) w_int(&a, 8, v[i]);
  w_int(&a, 20, RL_ONNX_ATTR_INTS);
  return a;
}

/* The small model of most tests: Conv -> Reshape, two Constants, three initializers. */
static pbw small_model(void) {
  pbw g = {0}, n = {0}, a = {0}, t = {0}, v = {0}, ty = {0}, tt = {0}, sh = {0}, d = {0};
  w_str(&g, 2, "g");
  /* node conv: attributes in every encoding */
  w_str(&n, 1, "x"), w_str(&n, 1, "W"), w_str(&n, 1, "B"), w_str(&n, 2, "c");
  w_str(&n, 3, "conv"), w_str(&n, 4, "Conv");
  a = w_attr_ints("strides", 2, (int64_t[]){2, 2}, 0), w_msg(&n, 5, &a);
  a = w_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}, 1), w_msg(&n, 5, &a);
  w_str(&a, 1, "alpha"), w_f32(&a, 2, 0.5f), w_int(&a, 20, RL_ONNX_ATTR_FLOAT), w_msg(&n, 5, &a);
  w_str(&a, 1, "mode"), w_str(&a, 4, "nearest"), w_int(&a, 20, RL_ONNX_ATTR_STRING), w_msg(&n, 5, &a);
  w_str(&a, 1, "names"), w_str(&a, 9, "a"), w_str(&a, 9, "bc"), w_int(&a, 20, RL_ONNX_ATTR_STRINGS);
  w_msg(&n, 5, &a);
  w_str(&a, 1, "scales"), w_packed_f32(&a, 7, 2, (float[]){1.5f, 2}), w_f32(&a, 7, -3);
  w_int(&a, 20, RL_ONNX_ATTR_FLOATS), w_msg(&n, 5, &a);
  w_str(&a, 1, "group"), w_int(&a, 3, -7), w_msg(&n, 5, &a); /* no type field: inferred INT */
  w_str(&a, 1, "body"), w_msg(&a, 6, &(pbw){0}), w_int(&a, 20, RL_ONNX_ATTR_GRAPH), w_msg(&n, 5, &a);
  w_msg(&g, 1, &n);
  /* node reshape, with an unknown field (15) the reader must skip */
  w_str(&n, 1, "c"), w_str(&n, 1, "shape"), w_str(&n, 1, ""), w_str(&n, 2, "r");
  w_str(&n, 3, "reshape"), w_str(&n, 4, "Reshape"), w_int(&n, 15, 99), w_msg(&g, 1, &n);
  /* Constant with a tensor value (int64_data unpacked), and with value_floats */
  t = w_tensor("", RL_ONNX_INT64, 1, (int64_t[]){2}, 0);
  w_int(&t, 7, 3), w_int(&t, 7, -1);
  w_str(&a, 1, "value"), w_msg(&a, 5, &t), w_int(&a, 20, RL_ONNX_ATTR_TENSOR);
  w_str(&n, 2, "k"), w_str(&n, 3, "const"), w_str(&n, 4, "Constant"), w_msg(&n, 5, &a), w_msg(&g, 1, &n);
  w_str(&a, 1, "value_floats"), w_packed_f32(&a, 7, 3, (float[]){1, 2, 3}), w_int(&a, 20, RL_ONNX_ATTR_FLOATS);
  w_str(&n, 2, "k2"), w_str(&n, 4, "Constant"), w_str(&n, 7, "ai.onnx"), w_msg(&n, 5, &a), w_msg(&g, 1, &n);
  /* initializers: W raw (unpacked dims), B float_data packed (packed dims), shape int64 */
  t = w_tensor("W", RL_ONNX_FLOAT, 4, (int64_t[]){2, 1, 1, 1}, 0);
  w_bytes(&t, 9, (uint8_t[]){0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}, 8); /* 1.0, -2.0 */
  w_msg(&g, 5, &t);
  t = w_tensor("B", RL_ONNX_FLOAT, 1, (int64_t[]){2}, 1);
  w_packed_f32(&t, 4, 2, (float[]){0.5f, -0.5f});
  w_msg(&g, 5, &t);
  t = w_tensor("shape", RL_ONNX_INT64, 1, (int64_t[]){2}, 1);
  w_packed_ints(&t, 7, 2, (int64_t[]){1, -1});
  w_msg(&g, 5, &t);
  /* input x: [batch x 1 x 4 x 4]; output r: no shape; value_info c: dim without value */
  w_str(&d, 2, "batch"), w_msg(&sh, 1, &d);
  for (int i = 0; i < 3; i++) w_int(&d, 1, i ? 4 : 1), w_msg(&sh, 1, &d);
  w_int(&tt, 1, RL_ONNX_FLOAT), w_msg(&tt, 2, &sh), w_msg(&ty, 1, &tt);
  w_str(&v, 1, "x"), w_msg(&v, 2, &ty), w_msg(&g, 11, &v);
  w_int(&tt, 1, RL_ONNX_FLOAT), w_msg(&ty, 1, &tt);
  w_str(&v, 1, "r"), w_msg(&v, 2, &ty), w_msg(&g, 12, &v);
  w_msg(&sh, 1, &d), w_int(&tt, 1, RL_ONNX_FLOAT), w_msg(&tt, 2, &sh), w_msg(&ty, 1, &tt);
  w_str(&v, 1, "c"), w_msg(&v, 2, &ty), w_msg(&g, 13, &v);
  pbw m = w_model(&g);
  pbw op = {0};
  w_str(&op, 1, "com.example"), w_int(&op, 2, 1), w_msg(&m, 8, &op);
  return m;
}

/* }==================== */

static float val(const rl_onnx_tensor *t, int64_t i) { return rl_tensor_data(t->value)[i]; }

static void test_small_model(void **state) {
  (void)state;
  pbw b = small_model();
  /* an odd address: raw_data and fixed values are read unaligned */
  uint8_t *odd = malloc(b.n + 1);
  memcpy(odd + 1, b.d, b.n);
  rl_onnx_model *m = NULL;
  TU_OK(rl_onnx_load_buffer(odd + 1, b.n, "small.onnx", &m));
  free(odd);
  free(b.d);
  assert_int_equal(m->ir_version, 8);
  assert_string_equal(m->producer_name, "relua-test");
  assert_string_equal(m->file, "small.onnx");
  assert_string_equal(m->graph_name, "g");
  assert_int_equal(rl_onnx_opset(m, ""), 13);
  assert_int_equal(rl_onnx_opset(m, "ai.onnx"), 13);
  assert_int_equal(rl_onnx_opset(m, "com.example"), 1);
  assert_int_equal(rl_onnx_opset(m, "com.other"), 0);
  assert_int_equal(m->nnodes, 4);
  const rl_onnx_node *conv = &m->nodes[0];
  assert_string_equal(conv->name, "conv");
  assert_string_equal(conv->op_type, "Conv");
  assert_string_equal(conv->domain, "");
  assert_int_equal(conv->ninputs, 3);
  assert_string_equal(conv->inputs[2], "B");
  assert_string_equal(conv->outputs[0], "c");
  assert_int_equal(conv->nattrs, 8);
  const rl_onnx_attr *a = rl_onnx_node_attr(conv, "strides");
  assert_int_equal(a->type, RL_ONNX_ATTR_INTS);
  assert_int_equal(a->n, 2);
  assert_true(a->ints[0] == 2 && a->ints[1] == 2);
  a = rl_onnx_node_attr(conv, "pads");
  assert_int_equal(a->n, 4);
  assert_true(a->ints[0] == 1 && a->ints[3] == 1);
  a = rl_onnx_node_attr(conv, "alpha");
  assert_int_equal(a->type, RL_ONNX_ATTR_FLOAT);
  assert_true(a->f == 0.5f);
  a = rl_onnx_node_attr(conv, "mode");
  assert_int_equal(a->type, RL_ONNX_ATTR_STRING);
  assert_string_equal(a->s, "nearest");
  assert_int_equal(a->slen, 7);
  a = rl_onnx_node_attr(conv, "names");
  assert_int_equal(a->n, 2);
  assert_string_equal(a->strings[1], "bc");
  a = rl_onnx_node_attr(conv, "scales"); /* packed then unpacked values, in order */
  assert_int_equal(a->n, 3);
  assert_true(a->floats[0] == 1.5f && a->floats[1] == 2 && a->floats[2] == -3);
  a = rl_onnx_node_attr(conv, "group");
  assert_int_equal(a->type, RL_ONNX_ATTR_INT);
  assert_int_equal(a->i, -7);
  assert_int_equal(rl_onnx_node_attr(conv, "body")->type, RL_ONNX_ATTR_GRAPH);
  assert_null(rl_onnx_node_attr(conv, "nothing"));
  assert_string_equal(m->nodes[1].inputs[2], ""); /* an omitted optional input */
  assert_string_equal(m->nodes[3].domain, "ai.onnx");

  assert_int_equal(m->ninits, 3);
  const rl_onnx_tensor *w = rl_onnx_find_tensor(m, "W");
  assert_int_equal(w->dtype, RL_ONNX_FLOAT);
  assert_int_equal(w->ndim, 4);
  assert_int_equal(w->value->shape[0], 2);
  assert_true(val(w, 0) == 1.0f && val(w, 1) == -2.0f);
  assert_null(w->ints);
  const rl_onnx_tensor *bias = rl_onnx_find_tensor(m, "B");
  assert_true(val(bias, 0) == 0.5f && val(bias, 1) == -0.5f);
  const rl_onnx_tensor *shape = rl_onnx_find_tensor(m, "shape");
  assert_true(shape->ints[0] == 1 && shape->ints[1] == -1);
  assert_true(val(shape, 1) == -1.0f);
  /* Constant values are found by their output names */
  assert_int_equal(m->nconsts, 2);
  const rl_onnx_tensor *k = rl_onnx_find_tensor(m, "k");
  assert_int_equal(k->dtype, RL_ONNX_INT64);
  assert_true(k->ints[0] == 3 && k->ints[1] == -1);
  const rl_onnx_tensor *k2 = rl_onnx_find_tensor(m, "k2");
  assert_int_equal(k2->ndim, 1);
  assert_int_equal(k2->dims[0], 3);
  assert_true(val(k2, 2) == 3.0f);
  assert_null(rl_onnx_find_tensor(m, "x"));
  rl_tensor *t = NULL;
  TU_OK(rl_onnx_tensor_value(k2, &t));
  assert_ptr_equal(t, k2->value);

  assert_int_equal(m->ninputs, 1);
  const rl_onnx_value_info *x = &m->inputs[0];
  assert_string_equal(x->name, "x");
  assert_int_equal(x->dtype, RL_ONNX_FLOAT);
  assert_int_equal(x->ndim, 4);
  assert_int_equal(x->dims[0], -1);
  assert_string_equal(x->dim_names[0], "batch");
  assert_int_equal(x->dims[3], 4);
  assert_null(x->dim_names[3]);
  assert_int_equal(m->outputs[0].ndim, -1); /* no shape: rank unknown */
  assert_int_equal(m->nvalue_info, 1);
  assert_int_equal(m->value_info[0].ndim, 1);
  assert_int_equal(m->value_info[0].dims[0], -1);
  TU_OK(rl_onnx_check_ops(m));
  rl_onnx_free(m);
  /* the tensor outlives the model */
  assert_true(rl_tensor_data(t)[0] == 1.0f);
  rl_tensor_release(t);
  rl_onnx_free(NULL);
  tu_assert_no_leaks();
}

/* Loads a model made of initializer t (consumed). */
static rl_status load_init(pbw *t, rl_onnx_model **m) {
  pbw b = w_model_init(t);
  rl_status st = rl_onnx_load_buffer(b.d, b.n, "t.onnx", m);
  free(b.d);
  return st;
}

static void test_every_dtype(void **state) {
  (void)state;
  rl_onnx_model *m;
  pbw t;
  const int64_t two[] = {2};
  struct {
    int dtype, raw;
    uint8_t bytes[16];
    size_t n;
    float expect[2];
  } raw[] = {
      {RL_ONNX_INT32, 1, {0xfb, 0xff, 0xff, 0xff, 7, 0, 0, 0}, 8, {-5, 7}},
      {RL_ONNX_INT64, 1, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0}, 16, {-2, 16777216}},
      {RL_ONNX_INT16, 1, {0x00, 0x80, 0x01, 0x00}, 4, {-32768, 1}},
      {RL_ONNX_UINT16, 1, {0x00, 0x80, 0x01, 0x00}, 4, {32768, 1}},
      {RL_ONNX_INT8, 1, {0xff, 0x7f}, 2, {-1, 127}},
      {RL_ONNX_UINT8, 1, {0xff, 0x7f}, 2, {255, 127}},
      {RL_ONNX_BOOL, 1, {0, 2}, 2, {0, 1}},
      {RL_ONNX_DOUBLE, 1, {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f}, 16, {1.5f, INFINITY}},
  };
  for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
    t = w_tensor("t", raw[i].dtype, 1, two, i & 1);
    w_bytes(&t, 9, raw[i].bytes, raw[i].n);
    TU_OK(load_init(&t, &m));
    const rl_onnx_tensor *x = &m->inits[0];
    assert_int_equal(x->dtype, raw[i].dtype);
    assert_true(val(x, 0) == raw[i].expect[0] && val(x, 1) == raw[i].expect[1]);
    if (raw[i].dtype != RL_ONNX_DOUBLE) assert_true(x->ints[0] == (int64_t)raw[i].expect[0]);
    rl_onnx_free(m);
  }
  /* typed fields: int32_data carries INT32/INT16/UINT8/BOOL (negatives as 10-byte varints) */
  int types[] = {RL_ONNX_INT32, RL_ONNX_INT16, RL_ONNX_UINT8, RL_ONNX_BOOL};
  for (int i = 0; i < 4; i++) {
    t = w_tensor("t", types[i], 1, two, 0);
    w_int(&t, 5, types[i] == RL_ONNX_INT32 || types[i] == RL_ONNX_INT16 ? -3 : 0);
    w_int(&t, 5, 200);
    TU_OK(load_init(&t, &m));
    assert_true(val(&m->inits[0], 1) == (types[i] == RL_ONNX_BOOL ? 1 : 200));
    assert_true(m->inits[0].ints[0] == (i < 2 ? -3 : 0));
    rl_onnx_free(m);
  }
  t = w_tensor("t", RL_ONNX_INT64, 1, two, 0);
  w_packed_ints(&t, 7, 2, (int64_t[]){-1, 1LL << 40}); /* exact, but no float32 */
  TU_OK(load_init(&t, &m));
  const rl_onnx_tensor *x = &m->inits[0];
  assert_null(x->value);
  assert_true(x->ints[1] == 1LL << 40);
  rl_tensor *v = (rl_tensor *)1;
  tu_assert_error(rl_onnx_tensor_value(x, &v), RL_EFORMAT,
                  "onnx: tensor 't' holds 1099511627776 at index 1, beyond 2^24");
  assert_null(v);
  rl_onnx_free(m);
  t = w_tensor("t", RL_ONNX_DOUBLE, 1, two, 0);
  w_tag(&t, 10, 1), w_raw(&t, (uint8_t[]){0, 0, 0, 0, 0, 0, 0x04, 0xc0}, 8); /* -2.5, unpacked */
  w_tag(&t, 10, 1), w_raw(&t, (uint8_t[]){0, 0, 0, 0, 0, 0, 0xf0, 0xff}, 8); /* -inf */
  TU_OK(load_init(&t, &m));
  assert_true(val(&m->inits[0], 0) == -2.5f && val(&m->inits[0], 1) == -INFINITY);
  rl_onnx_free(m);
  t = w_tensor("t", RL_ONNX_FLOAT, 0, NULL, 0); /* a scalar, float_data unpacked */
  w_f32(&t, 4, 4.25f);
  TU_OK(load_init(&t, &m));
  assert_int_equal(m->inits[0].value->ndim, 0);
  assert_true(val(&m->inits[0], 0) == 4.25f);
  rl_onnx_free(m);
  tu_assert_no_leaks();
}

static void test_tensors_without_values(void **state) {
  (void)state;
  rl_onnx_model *m;
  rl_tensor *v;
  pbw t = w_tensor("roi", RL_ONNX_FLOAT, 1, (int64_t[]){0}, 0);
  TU_OK(load_init(&t, &m));
  assert_int_equal(m->inits[0].numel, 0);
  tu_assert_error(rl_onnx_tensor_value(&m->inits[0], &v), RL_ESHAPE, "onnx: tensor 'roi' is empty ([0])");
  rl_onnx_free(m);
  t = w_tensor("h", RL_ONNX_FLOAT16, 1, (int64_t[]){1}, 0);
  w_bytes(&t, 9, "ab", 2);
  TU_OK(load_init(&t, &m));
  tu_assert_error(rl_onnx_tensor_value(&m->inits[0], &v), RL_EFORMAT,
                  "onnx: tensor 'h' has data type FLOAT16, which relua does not read");
  rl_onnx_free(m);
  int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2};
  t = w_tensor("n", RL_ONNX_FLOAT, 9, nine, 1);
  w_packed_f32(&t, 4, 2, (float[]){1, 2});
  TU_OK(load_init(&t, &m));
  tu_assert_error(rl_onnx_tensor_value(&m->inits[0], &v), RL_ESHAPE, "has 9 dims, relua tensors at most 8");
  rl_onnx_free(m);
  tu_assert_no_leaks();
}

static void test_bad_tensor_data(void **state) {
  (void)state;
  rl_onnx_model *m = (rl_onnx_model *)1;
  pbw t = w_tensor("w", RL_ONNX_FLOAT, 2, (int64_t[]){3, 4}, 0);
  w_bytes(&t, 9, "0123456789", 10);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT,
                  "onnx.load: t.onnx: tensor 'w' at offset 24: raw_data has 10 bytes, FLOAT [3 x 4] needs 48");
  assert_null(m);
  t = w_tensor("w", RL_ONNX_FLOAT, 1, (int64_t[]){3}, 0);
  w_packed_f32(&t, 4, 2, (float[]){1, 2});
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "tensor 'w' at offset 24: float_data holds 2 values, [3] needs 3");
  t = w_tensor("w", RL_ONNX_INT64, 1, (int64_t[]){3}, 0);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "tensor 'w' at offset 24 (INT64 [3]) has no data");
  t = w_tensor("w", RL_ONNX_FLOAT, 2, (int64_t[]){3, -4}, 0);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "tensor 'w' at offset 24 has bad dims [3 x -4]");
  t = w_tensor("w", RL_ONNX_FLOAT, 3, (int64_t[]){1LL << 40, 1LL << 40, 1LL << 40}, 0);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "has bad dims");
  t = w_tensor("w", RL_ONNX_FLOAT, 1, (int64_t[]){1}, 0);
  w_int(&t, 14, 7);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "unknown data_location 7");
  t = w_tensor("w", RL_ONNX_FLOAT, 1, (int64_t[]){1}, 0);
  w_bytes(&t, 3, "", 0);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "segmented");
  t = w_tensor("w", RL_ONNX_FLOAT, 1, (int64_t[]){1}, 0);
  w_f32(&t, 2, 1); /* data_type as fixed32 */
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "field 2 of TensorProto at offset");
  /* a node without op_type, a TENSOR attribute without a tensor */
  pbw g = {0}, n = {0}, a = {0};
  w_str(&n, 3, "n0"), w_msg(&g, 1, &n);
  pbw b = w_model(&g);
  tu_assert_error(rl_onnx_load_buffer(b.d, b.n, "t.onnx", &m), RL_EFORMAT, "node 'n0' at offset");
  free(b.d);
  w_str(&a, 1, "value"), w_int(&a, 20, RL_ONNX_ATTR_TENSOR);
  w_str(&n, 4, "Constant"), w_str(&n, 2, "y"), w_msg(&n, 5, &a), w_msg(&g, 1, &n);
  b = w_model(&g);
  tu_assert_error(rl_onnx_load_buffer(b.d, b.n, "t.onnx", &m), RL_EFORMAT,
                  "attribute 'value' at offset 39 is a TENSOR without a tensor");
  free(b.d);
  w_str(&n, 4, "Constant"), w_str(&n, 2, "y"), w_msg(&g, 1, &n);
  b = w_model(&g);
  tu_assert_error(rl_onnx_load_buffer(b.d, b.n, "t.onnx", &m), RL_EFORMAT,
                  "Constant node '' (output 'y') has no value attribute");
  free(b.d);
  tu_assert_no_leaks();
}

/* Lists of other kinds than the declared type are dropped (found by the
** fuzzer: n counted the ints while strings were read). */
static void test_attribute_lists_follow_type(void **state) {
  (void)state;
  pbw g = {0}, n = {0}, a = {0};
  rl_onnx_model *m;
  w_str(&a, 1, "mixed"), w_int(&a, 8, 1), w_int(&a, 8, 2), w_int(&a, 8, 3), w_str(&a, 9, "s");
  w_f32(&a, 7, 1), w_int(&a, 20, RL_ONNX_ATTR_INTS);
  w_str(&n, 4, "Relu"), w_msg(&n, 5, &a), w_msg(&g, 1, &n);
  /* a Constant whose value_floats says it holds INTS is read as its type says */
  w_str(&a, 1, "value_floats"), w_int(&a, 8, 5), w_int(&a, 20, RL_ONNX_ATTR_INTS);
  w_str(&n, 4, "Constant"), w_str(&n, 2, "k"), w_msg(&n, 5, &a), w_msg(&g, 1, &n);
  w_str(&a, 1, "value_string"), w_str(&a, 4, "hi"), w_int(&a, 20, RL_ONNX_ATTR_STRING);
  w_str(&n, 4, "Constant"), w_str(&n, 2, "s"), w_msg(&n, 5, &a), w_msg(&g, 1, &n);
  pbw b = w_model(&g);
  TU_OK(rl_onnx_load_buffer(b.d, b.n, "m.onnx", &m));
  free(b.d);
  const rl_onnx_attr *at = &m->nodes[0].attrs[0];
  assert_int_equal(at->n, 3);
  assert_non_null(at->ints);
  assert_null(at->strings);
  assert_null(at->floats);
  const rl_onnx_tensor *k = rl_onnx_find_tensor(m, "k");
  assert_int_equal(k->dtype, RL_ONNX_INT64);
  assert_true(k->numel == 1 && k->ints[0] == 5 && val(k, 0) == 5.0f);
  rl_tensor *v;
  tu_assert_error(rl_onnx_tensor_value(rl_onnx_find_tensor(m, "s"), &v), RL_EFORMAT,
                  "onnx: tensor 's' has data type STRING");
  rl_onnx_free(m);
  tu_assert_no_leaks();
}

/* {==================== the conformance suite (libonnx-testdata) */

static int have_testdata(void) {
  struct stat sb;
  return stat(TESTDATA "/node/test_conv_with_strides_padding/model.onnx", &sb) == 0;
}

static void test_conformance_conv(void **state) {
  (void)state;
  if (!have_testdata()) skip();
  rl_onnx_model *m;
  const char *dir = TESTDATA "/node/test_conv_with_strides_padding";
  char path[512];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  TU_OK(rl_onnx_load(path, &m));
  assert_string_equal(m->file, path);
  assert_int_equal(m->nnodes, 1);
  assert_string_equal(m->nodes[0].op_type, "Conv");
  const rl_onnx_attr *a = rl_onnx_node_attr(&m->nodes[0], "strides");
  assert_int_equal(a->n, 2);
  assert_true(a->ints[0] == 2 && a->ints[1] == 2);
  a = rl_onnx_node_attr(&m->nodes[0], "pads");
  assert_int_equal(a->n, 4);
  for (int i = 0; i < 4; i++) assert_true(a->ints[i] == 1);
  a = rl_onnx_node_attr(&m->nodes[0], "kernel_shape");
  assert_true(a->ints[0] == 3 && a->ints[1] == 3);
  assert_int_equal(m->ninputs, 2);
  assert_int_equal(rl_onnx_opset(m, ""), 11);
  const int64_t *xd = m->inputs[0].dims;
  /* the data set matches the declared inputs; values as in the ONNX operator docs */
  rl_tensor *x, *w, *y;
  snprintf(path, sizeof path, "%s/test_data_set_0/input_0.pb", dir);
  TU_OK(rl_onnx_load_tensor_pb(path, &x));
  snprintf(path, sizeof path, "%s/test_data_set_0/input_1.pb", dir);
  TU_OK(rl_onnx_load_tensor_pb(path, &w));
  snprintf(path, sizeof path, "%s/test_data_set_0/output_0.pb", dir);
  TU_OK(rl_onnx_load_tensor_pb(path, &y));
  assert_int_equal(x->ndim, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(x->shape[i], xd[i]);
  assert_string_equal(rl_shapestr(x).s, "[1 x 1 x 7 x 5]");
  assert_string_equal(rl_shapestr(w).s, "[1 x 1 x 3 x 3]");
  assert_string_equal(rl_shapestr(y).s, "[1 x 1 x 4 x 3]");
  for (int i = 0; i < 35; i++) assert_true(rl_tensor_data(x)[i] == (float)i);
  assert_true(rl_tensor_data(w)[8] == 1.0f);
  const float expect[12] = {12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124};
  for (int i = 0; i < 12; i++) assert_true(rl_tensor_data(y)[i] == expect[i]);
  rl_tensor_release(x);
  rl_tensor_release(w);
  rl_tensor_release(y);
  rl_onnx_free(m);
  tu_assert_no_leaks();
}

static void test_conformance_models(void **state) {
  (void)state;
  if (!have_testdata()) skip();
  static const struct {
    const char *dir, *op;
    int nnodes, ninits, supported;
    const char *attr;
    int64_t first;
  } cases[] = {
      {"node/test_gemm_all_attributes", "Gemm", 1, 0, 1, "transA", 1},
      {"node/test_relu", "Relu", 1, 0, 1, NULL, 0},
      {"node/test_maxpool_2d_pads", "MaxPool", 1, 0, 1, "pads", 2},
      {"node/test_maxpool_2d_ceil", "MaxPool", 1, 0, 1, "ceil_mode", 1},
      {"node/test_averagepool_2d_strides", "AveragePool", 1, 0, 1, "strides", 3},
      {"node/test_batchnorm_epsilon", "BatchNormalization", 1, 0, 1, NULL, 0},
      {"node/test_reshape_reduced_dims", "Reshape", 1, 0, 1, NULL, 0},
      {"node/test_concat_2d_axis_1", "Concat", 1, 0, 1, "axis", 1},
      {"node/test_flatten_axis2", "Flatten", 1, 0, 1, "axis", 2},
      {"node/test_softmax_axis_0", "Softmax", 1, 0, 1, "axis", 0},
      {"node/test_leakyrelu", "LeakyRelu", 1, 0, 1, NULL, 0},
      {"node/test_clip", "Clip", 1, 0, 1, NULL, 0},
      {"node/test_gather_0", "Gather", 1, 0, 1, "axis", 0},
      {"node/test_unsqueeze_axis_0", "Unsqueeze", 1, 0, 1, NULL, 0},
      {"node/test_constant_pad", "Pad", 1, 0, 1, NULL, 0},
      {"node/test_resize_upsample_scales_nearest", "Resize", 1, 0, 1, NULL, 0},
      {"node/test_globalaveragepool", "GlobalAveragePool", 1, 0, 1, NULL, 0},
      {"node/test_lstm_defaults", "LSTM", 1, 0, 0, NULL, 0},
      {"pytorch-converted/test_Conv2d_groups", "Conv", 1, 2, 1, "group", 2},
      {"pytorch-converted/test_BatchNorm2d_eval", "BatchNormalization", 1, 4, 1, "is_test", 1},
      {"pytorch-converted/test_Linear", "Gemm", 1, 2, 1, "transB", 1},
      {"pytorch-converted/test_MaxPool2d_stride_padding_dilation", "MaxPool", 1, 0, 1, "dilations", 10},
      {"pytorch-operator/test_operator_pad", "Pad", 1, 0, 1, "pads", 0},
  };
  char path[512];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl_onnx_model *m;
    snprintf(path, sizeof path, TESTDATA "/%s/model.onnx", cases[i].dir);
    TU_OK(rl_onnx_load(path, &m));
    if (m->nnodes != cases[i].nnodes || strcmp(m->nodes[0].op_type, cases[i].op) || m->ninits != cases[i].ninits)
      fail_msg("%s: %d nodes, %d initializers, first %s", cases[i].dir, m->nnodes, m->ninits, m->nodes[0].op_type);
    if (cases[i].attr) {
      const rl_onnx_attr *a = rl_onnx_node_attr(&m->nodes[0], cases[i].attr);
      if (!a || (a->type == RL_ONNX_ATTR_INT ? a->i : a->ints[0]) != cases[i].first)
        fail_msg("%s: attribute %s", cases[i].dir, cases[i].attr);
    }
    rl_status st = rl_onnx_check_ops(m);
    assert_int_equal(st == RL_OK, cases[i].supported);
    /* every initializer and input has its value; the data set's inputs match the declared shapes */
    for (int k = 0; k < m->ninits; k++) assert_non_null(m->inits[k].value);
    for (int k = 0; k < m->ninputs && cases[i].supported; k++) {
      rl_tensor *t;
      struct stat sb;
      snprintf(path, sizeof path, TESTDATA "/%s/test_data_set_0/input_%d.pb", cases[i].dir, k);
      if (stat(path, &sb)) continue; /* initializers listed as inputs (IR 3) have no file */
      TU_OK(rl_onnx_load_tensor_pb(path, &t));
      const rl_onnx_value_info *vi = &m->inputs[k];
      assert_int_equal(t->ndim, vi->ndim);
      for (int d = 0; d < t->ndim; d++) assert_int_equal(t->shape[d], vi->dims[d]);
      rl_tensor_release(t);
    }
    rl_onnx_free(m);
  }
  /* conv weights of a PyTorch export: [6 x 2 x 3 x 2] raw floats, found verbatim in the file */
  rl_onnx_model *m;
  const char *path2 = TESTDATA "/pytorch-converted/test_Conv2d_groups/model.onnx";
  TU_OK(rl_onnx_load(path2, &m));
  const rl_onnx_tensor *w = rl_onnx_find_tensor(m, m->nodes[0].inputs[1]);
  assert_string_equal(rl_shapestr(w->value).s, "[6 x 2 x 3 x 2]");
  static uint8_t file[1 << 16];
  FILE *f = fopen(path2, "rb");
  assert_non_null(f);
  size_t n = fread(file, 1, sizeof file, f);
  fclose(f);
  uint8_t le[72 * 4];
  for (int i = 0; i < 72; i++) {
    uint32_t u;
    memcpy(&u, rl_tensor_data(w->value) + i, 4);
    for (int k = 0; k < 4; k++) le[4 * i + k] = (uint8_t)(u >> 8 * k);
  }
  int found = 0;
  for (size_t i = 0; i + sizeof le <= n && !found; i++) found = !memcmp(file + i, le, sizeof le);
  assert_true(found);
  rl_onnx_free(m);
  tu_assert_no_leaks();
}

/* Every model of the suite loads (tensors the reader does not convert are
** left without value, never an error). */
static void test_conformance_all(void **state) {
  (void)state;
  if (!have_testdata()) skip();
  const char *groups[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  int loaded = 0;
  char path[1024];
  for (int gi = 0; gi < 4; gi++) {
    snprintf(path, sizeof path, TESTDATA "/%s", groups[gi]);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
      struct stat sb;
      snprintf(path, sizeof path, TESTDATA "/%s/%s/model.onnx", groups[gi], e->d_name);
      if (e->d_name[0] == '.' || stat(path, &sb)) continue;
      rl_onnx_model *m;
      if (rl_onnx_load(path, &m)) fail_msg("%s", rl_errmsg());
      assert_true(m->nnodes >= 1);
      rl_onnx_free(m);
      loaded++;
    }
    closedir(d);
  }
  assert_true(loaded > 1000);
  tu_assert_no_leaks();
}

/* }==================== */

/* {==================== files: external data, not-ONNX files */

static char tmpdir[256];

static void write_file(const char *name, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/relua_onnx_XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  assert_int_equal(system(cmd), 0);
}

/* A model whose initializer "w" [2 x 3] FLOAT lives in location at offset. */
static pbw external_model(const char *location, const char *offset, const char *length) {
  pbw t = w_tensor("w", RL_ONNX_FLOAT, 2, (int64_t[]){2, 3}, 0), e = {0};
  w_str(&e, 1, "location"), w_str(&e, 2, location), w_msg(&t, 13, &e);
  if (offset) w_str(&e, 1, "offset"), w_str(&e, 2, offset), w_msg(&t, 13, &e);
  if (length) w_str(&e, 1, "length"), w_str(&e, 2, length), w_msg(&t, 13, &e);
  w_int(&t, 14, 1);
  return w_model_init(&t);
}

static rl_status load_external(const char *location, const char *offset, const char *length,
                               rl_onnx_model **m) {
  char path[512];
  pbw b = external_model(location, offset, length);
  write_file("m.onnx", b.d, b.n);
  free(b.d);
  snprintf(path, sizeof path, "%s/m.onnx", tmpdir);
  return rl_onnx_load(path, m);
}

static void test_external_data(void **state) {
  (void)state;
  make_tmpdir();
  float data[8] = {99, 1, 2, 3, 4, 5, 6, 99};
  char sub[512];
  snprintf(sub, sizeof sub, "%s/sub", tmpdir);
  assert_int_equal(mkdir(sub, 0755), 0);
  write_file("w.bin", data, sizeof data);
  write_file("sub/w.bin", data + 1, 24);
  rl_onnx_model *m = NULL;
  TU_OK(load_external("w.bin", "4", "24", &m));
  assert_string_equal(rl_shapestr(m->inits[0].value).s, "[2 x 3]");
  for (int i = 0; i < 6; i++) assert_true(val(&m->inits[0], i) == (float)(i + 1));
  rl_onnx_free(m);
  TU_OK(load_external("sub/w.bin", NULL, NULL, &m)); /* no offset, no length: the tensor's bytes */
  assert_true(val(&m->inits[0], 5) == 6.0f);
  rl_onnx_free(m);
  tu_assert_error(load_external("w.bin", "12", "24", &m), RL_EFORMAT,
                  "tensor 'w' (FLOAT [2 x 3]) needs 24 bytes of 'w.bin' at offset 12; its length has 24 bytes, the file 32");
  assert_null(m);
  tu_assert_error(load_external("w.bin", NULL, "20", &m), RL_EFORMAT, "its length has 20 bytes");
  tu_assert_error(load_external("w.bin", "-4", NULL, &m), RL_EFORMAT, "external data offset '-4' is not a byte count");
  tu_assert_error(load_external("w.bin", "99999999999999999999999", NULL, &m), RL_EFORMAT, "is not a byte count");
  tu_assert_error(load_external("nothere.bin", NULL, NULL, &m), RL_EIO, "cannot open external data file");
  /* leaving the model's directory: by name, absolutely, and through a link */
  tu_assert_error(load_external("../w.bin", NULL, NULL, &m), RL_EFORMAT,
                  "external data location '../w.bin' is outside the model's directory");
  tu_assert_error(load_external("sub/../../etc/passwd", NULL, NULL, &m), RL_EFORMAT, "outside the model's directory");
  tu_assert_error(load_external("/etc/passwd", NULL, NULL, &m), RL_EFORMAT, "outside the model's directory");
  char link[600];
  snprintf(link, sizeof link, "%s/link.bin", tmpdir);
  assert_int_equal(symlink("/etc/passwd", link), 0);
  tu_assert_error(load_external("link.bin", NULL, NULL, &m), RL_EFORMAT, "resolves outside the model's directory");
  /* any '..' component is refused, even one that would stay inside */
  tu_assert_error(load_external("sub/../w.bin", "4", NULL, &m), RL_EFORMAT, "outside the model's directory");
  /* a buffer has no directory */
  pbw b = external_model("w.bin", NULL, NULL);
  tu_assert_error(rl_onnx_load_buffer(b.d, b.n, "mem", &m), RL_EFORMAT,
                  "tensor 'w' keeps its data in the external file 'w.bin'");
  free(b.d);
  remove_tmpdir();
  tu_assert_no_leaks();
}

static void test_not_onnx(void **state) {
  (void)state;
  static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde};
  const char *text = "hello, this is not a model\n";
  char path[512];
  rl_onnx_model *m = (rl_onnx_model *)1;
  make_tmpdir();
  write_file("x.png", png, sizeof png);
  write_file("x.txt", text, strlen(text));
  write_file("empty.onnx", "", 0);
  snprintf(path, sizeof path, "%s/x.png", tmpdir);
  tu_assert_error(rl_onnx_load(path, &m), RL_EFORMAT, "x.png: ");
  assert_null(m);
  snprintf(path, sizeof path, "%s/x.txt", tmpdir);
  tu_assert_error(rl_onnx_load(path, &m), RL_EFORMAT, "x.txt: ");
  snprintf(path, sizeof path, "%s/empty.onnx", tmpdir);
  tu_assert_error(rl_onnx_load(path, &m), RL_EFORMAT, "empty.onnx: not an ONNX model (no graph in the 0 bytes");
  tu_assert_error(rl_onnx_load(tmpdir, &m), RL_EIO, "not a regular file");
  snprintf(path, sizeof path, "%s/missing.onnx", tmpdir);
  tu_assert_error(rl_onnx_load(path, &m), RL_EIO, "missing.onnx: No such file");
  rl_tensor *t = (rl_tensor *)1;
  tu_assert_error(rl_onnx_load_tensor_pb(path, &t), RL_EIO, "onnx.load_tensor: ");
  assert_null(t);
  snprintf(path, sizeof path, "%s/x.txt", tmpdir);
  tu_assert_error(rl_onnx_load_tensor_pb(path, &t), RL_EFORMAT, "x.txt");
  remove_tmpdir();
  /* a graph without ir_version */
  pbw g = {0}, b = {0};
  w_msg(&b, 7, &g);
  tu_assert_error(rl_onnx_load_buffer(b.d, b.n, "noir", &m), RL_EFORMAT, "noir: not an ONNX model (no valid ir_version");
  free(b.d);
  tu_assert_error(rl_onnx_load_buffer(NULL, 4, "nul", &m), RL_EARG, "NULL buffer");
  tu_assert_no_leaks();
}

/* }==================== */

/* {==================== malformed buffers */

static void test_every_truncation(void **state) {
  (void)state;
  pbw b = small_model();
  rl_onnx_model *m;
  uint8_t *copy = malloc(b.n);
  int errors = 0;
  for (size_t n = 0; n < b.n; n++) {
    /* a fresh allocation of exactly n bytes, so the sanitizer sees any read past it */
    memcpy(copy, b.d, n);
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, copy, n);
    rl_status st = rl_onnx_load_buffer(p, n, "cut.onnx", &m);
    free(p);
    if (st == RL_OK) { /* a cut between top-level fields can still be a model */
      rl_onnx_free(m);
      continue;
    }
    assert_int_equal(st, RL_EFORMAT);
    assert_non_null(strstr(rl_errmsg(), "onnx.load: cut.onnx: "));
    errors++;
  }
  assert_true(errors > (int)b.n * 9 / 10);
  free(copy);
  free(b.d);
  tu_assert_no_leaks();
}

static void test_random_mutations(void **state) {
  (void)state;
  pbw b = small_model();
  rl_rng r;
  rl_rng_seed(&r, 1234);
  uint8_t *p = malloc(b.n);
  int ok = 0;
  for (int it = 0; it < 3000; it++) {
    memcpy(p, b.d, b.n);
    int flips = 1 + (int)(rl_rng_next(&r) % 4);
    for (int k = 0; k < flips; k++) {
      size_t at = rl_rng_next(&r) % b.n;
      p[at] = it & 1 ? (uint8_t)rl_rng_next(&r) : (uint8_t)(p[at] ^ (1u << (rl_rng_next(&r) % 8)));
    }
    rl_onnx_model *m;
    rl_status st = rl_onnx_load_buffer(p, b.n, "mut.onnx", &m);
    if (st == RL_OK) {
      ok++;
      rl_onnx_check_ops(m);
      for (int i = 0; i < m->ninits; i++) {
        rl_tensor *t;
        if (rl_onnx_tensor_value(&m->inits[i], &t) == RL_OK) rl_tensor_release(t);
      }
      rl_onnx_free(m);
    } else {
      assert_true(st == RL_EFORMAT || st == RL_ESHAPE);
    }
  }
  assert_true(ok > 0 && ok < 3000);
  free(p);
  free(b.d);
  tu_assert_no_leaks();
}

static void test_huge_lengths_and_nesting(void **state) {
  (void)state;
  rl_onnx_model *m;
  /* graph field claiming 2^62 bytes */
  static const uint8_t huge[] = {0x08, 8, 0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0};
  tu_assert_error(rl_onnx_load_buffer(huge, sizeof huge, "huge.onnx", &m), RL_EFORMAT,
                  "onnx.load: huge.onnx: truncated at offset 12 (field 7 of ModelProto needs 4611686018427387904 bytes, 1 left)");
  /* a node whose attribute length overruns the node */
  pbw g = {0}, n = {0};
  w_str(&n, 4, "Relu");
  w_tag(&n, 5, 2), w_varint(&n, 300), w_raw(&n, "abcdefghijkl", 12);
  w_msg(&g, 1, &n);
  pbw b = w_model(&g);
  tu_assert_error(rl_onnx_load_buffer(b.d, b.n, "m.onnx", &m), RL_EFORMAT,
                  "(field 5 of NodeProto needs 300 bytes, 12 left)");
  free(b.d);
  /* 5000 graphs nested in attributes: skipped unread, no recursion */
  pbw inner = {0};
  for (int i = 0; i < 5000; i++) {
    pbw a = {0}, nn = {0}, gg = {0};
    w_str(&a, 1, "body"), w_msg(&a, 6, &inner), w_int(&a, 20, RL_ONNX_ATTR_GRAPH);
    w_str(&nn, 4, "Loop"), w_msg(&nn, 5, &a);
    w_msg(&gg, 1, &nn);
    inner = gg;
  }
  b = w_model(&inner);
  TU_OK(rl_onnx_load_buffer(b.d, b.n, "deep.onnx", &m));
  assert_int_equal(m->nodes[0].attrs[0].type, RL_ONNX_ATTR_GRAPH);
  tu_assert_error(rl_onnx_check_ops(m), RL_EARG,
                  "onnx: deep.onnx: node 0 (output '') uses operator 'Loop' (opset 13), which relua does not support");
  rl_onnx_free(m);
  free(b.d);
  /* a 100-dim tensor */
  int64_t dims[100];
  for (int i = 0; i < 100; i++) dims[i] = 1;
  pbw t = w_tensor("w", RL_ONNX_FLOAT, 100, dims, 1);
  tu_assert_error(load_init(&t, &m), RL_EFORMAT, "tensor 'w' at offset 24 has 100 dims");
  tu_assert_no_leaks();
}

/* }==================== */

static void test_check_ops(void **state) {
  (void)state;
  pbw g = {0}, n = {0};
  rl_onnx_model *m;
  w_str(&n, 3, "n1"), w_str(&n, 4, "Relu"), w_str(&n, 2, "a"), w_msg(&g, 1, &n);
  w_str(&n, 3, "n7"), w_str(&n, 4, "LSTM"), w_str(&n, 2, "b"), w_msg(&g, 1, &n);
  pbw b = w_model(&g);
  TU_OK(rl_onnx_load_buffer(b.d, b.n, "m.onnx", &m));
  tu_assert_error(rl_onnx_check_ops(m), RL_EARG,
                  "onnx: m.onnx: node 'n7' uses operator 'LSTM' (opset 13), which relua does not support");
  rl_onnx_free(m);
  free(b.d);
  w_str(&n, 3, "f"), w_str(&n, 4, "Relu"), w_str(&n, 7, "com.microsoft"), w_msg(&g, 1, &n);
  b = w_model(&g);
  TU_OK(rl_onnx_load_buffer(b.d, b.n, "m.onnx", &m));
  tu_assert_error(rl_onnx_check_ops(m), RL_EARG, "node 'f' uses operator 'com.microsoft:Relu' (opset 0)");
  rl_onnx_free(m);
  free(b.d);
  const char *ops[] = {"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
                       "Tanh", "Clip", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool",
                       "BatchNormalization", "Flatten", "Reshape", "Shape", "Gather", "Unsqueeze", "Concat",
                       "Dropout", "Identity", "Constant", "Pad", "Resize", "Upsample"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) assert_true(rl_onnx_op_supported(ops[i]));
  assert_false(rl_onnx_op_supported("conv"));
  assert_false(rl_onnx_op_supported("Slice"));
  assert_string_equal(rl_onnx_dtype_name(RL_ONNX_BFLOAT16), "BFLOAT16");
  assert_string_equal(rl_onnx_dtype_name(99), "?");
  tu_assert_no_leaks();
}

/* {==================== allocation failures */

typedef struct nomem_ud {
  const uint8_t *buf;
  size_t n;
  const char *path;
  rl_onnx_model *m;
  rl_tensor *t;
} nomem_ud;

static rl_status load_buf(void *ud) {
  nomem_ud *u = ud;
  return rl_onnx_load_buffer(u->buf, u->n, "nomem.onnx", &u->m);
}
static rl_status load_path(void *ud) {
  nomem_ud *u = ud;
  return rl_onnx_load(u->path, &u->m);
}
static rl_status load_tensor(void *ud) {
  nomem_ud *u = ud;
  return rl_onnx_load_tensor_pb(u->path, &u->t);
}
static void free_model(void *ud) {
  nomem_ud *u = ud;
  rl_onnx_free(u->m);
  rl_tensor_release(u->t);
}

static void test_nomem(void **state) {
  (void)state;
  pbw b = small_model();
  nomem_ud u = {b.d, b.n, NULL, NULL, NULL};
  assert_true(tu_nomem_sweep(load_buf, free_model, &u) >= 5);
  free(b.d);
  make_tmpdir();
  float data[6] = {1, 2, 3, 4, 5, 6};
  write_file("w.bin", data, sizeof data);
  char path[512];
  b = external_model("w.bin", NULL, NULL);
  write_file("m.onnx", b.d, b.n);
  free(b.d);
  snprintf(path, sizeof path, "%s/m.onnx", tmpdir);
  u.path = path;
  u.m = NULL;
  assert_true(tu_nomem_sweep(load_path, free_model, &u) >= 3);
  pbw t = w_tensor("x", RL_ONNX_INT32, 1, (int64_t[]){2}, 0);
  w_int(&t, 5, 1), w_int(&t, 5, 2);
  write_file("x.pb", t.d, t.n);
  free(t.d);
  snprintf(path, sizeof path, "%s/x.pb", tmpdir);
  u.m = NULL;
  assert_true(tu_nomem_sweep(load_tensor, free_model, &u) >= 3);
  remove_tmpdir();
  tu_assert_no_leaks();
}

/* }==================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_model),         cmocka_unit_test(test_every_dtype),
      cmocka_unit_test(test_tensors_without_values), cmocka_unit_test(test_bad_tensor_data),
      cmocka_unit_test(test_attribute_lists_follow_type), cmocka_unit_test(test_conformance_conv),    cmocka_unit_test(test_conformance_models),
      cmocka_unit_test(test_conformance_all),     cmocka_unit_test(test_external_data),
      cmocka_unit_test(test_not_onnx),            cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_random_mutations),    cmocka_unit_test(test_huge_lengths_and_nesting),
      cmocka_unit_test(test_check_ops),           cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
