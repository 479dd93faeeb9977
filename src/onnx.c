/* onnx.c: ONNX ModelProto -> rl_onnx_model, on the wire reader of pb.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "onnx.h"
#include "pb.h"

/* Messages nest at most 6 deep in what we decode (Model > Graph > ValueInfo
** > Type > Tensor > Shape > Dim); anything deeper is skipped unread, so the
** limit only guards against a future decoder recursing. */
#define MAX_DEPTH 16
/* Integers beyond this magnitude have no exact float32. */
#define EXACT_INT (1LL << 24)

/* {==================== arena: every string and array of a model */

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  uint64_t pad_; /* header of 32 bytes keeps the data 16-byte aligned */
} chunk;

typedef struct owned {
  struct owned *next;
  rl_tensor *t;
} owned;

struct rl_onnx_arena {
  chunk *head;
  owned *tensors; /* one reference each, released by arena_free */
};

enum { CHUNK_SIZE = 1 << 16 };

static void *arena_alloc(struct rl_onnx_arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (!n) n = 8;
  chunk *c = a->head;
  if (c && c->cap - c->used >= n) {
    void *p = (char *)(c + 1) + c->used;
    c->used += n;
    return p;
  }
  int big = n > CHUNK_SIZE / 4;
  size_t cap = big ? n : CHUNK_SIZE;
  if (cap > SIZE_MAX - sizeof(chunk)) return NULL;
  chunk *nc = rl_mem_alloc(sizeof(chunk) + cap);
  if (!nc) return NULL;
  nc->cap = cap;
  nc->used = n;
  if (big && c) { /* keep filling the current chunk */
    nc->next = c->next;
    c->next = nc;
  } else {
    nc->next = c;
    a->head = nc;
  }
  return nc + 1;
}

static void arena_free(struct rl_onnx_arena *a) {
  if (!a) return;
  for (owned *o = a->tensors; o; o = o->next) rl_tensor_release(o->t);
  for (chunk *c = a->head, *next; c; c = next) {
    next = c->next;
    rl_mem_free(c);
  }
  rl_mem_free(a);
}

/* }==================== */

typedef struct parser {
  rl_pb_ctx ctx;
  struct rl_onnx_arena *arena;
  const char *dir; /* the model's directory, for external data; NULL: refused */
} parser;

static rl_status nomem(parser *P) { return rl_error(RL_ENOMEM, "%s: out of memory", P->ctx.fn); }

static rl_status alloc_array(parser *P, size_t count, size_t size, void *out) {
  void *p = count > SIZE_MAX / size ? NULL : arena_alloc(P->arena, count * size);
  memcpy(out, &p, sizeof p);
  return p ? RL_OK : nomem(P);
}

static rl_status dup_str(parser *P, const uint8_t *s, size_t n, const char **out) {
  char *p = n < SIZE_MAX ? arena_alloc(P->arena, n + 1) : NULL;
  if (!p) return nomem(P);
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  *out = p;
  return RL_OK;
}

static rl_status get_str(parser *P, const rl_pb *r, const rl_pb_field *f, const char **out) {
  rl_status st = rl_pb_expect(r, f, RL_PB_BYTES);
  return st ? st : dup_str(P, f->data, f->len, out);
}

static rl_status get_varint(const rl_pb *r, const rl_pb_field *f, int64_t *out) {
  rl_status st = rl_pb_expect(r, f, RL_PB_VARINT);
  if (!st) *out = (int64_t)f->u;
  return st;
}

/* counts[k] = occurrences of field k (k < nmax) in m. */
static rl_status count_fields(const rl_pb *m, size_t *counts, uint32_t nmax) {
  rl_status st;
  rl_pb r = *m;
  rl_pb_field f;
  memset(counts, 0, nmax * sizeof *counts);
  while ((st = rl_pb_next(&r, &f)) == RL_OK && f.num)
    if (f.num < nmax) counts[f.num]++;
  return st;
}

/* {==================== tensors */

static int dtype_size(int dt) {
  switch (dt) {
  case RL_ONNX_FLOAT: case RL_ONNX_INT32: return 4;
  case RL_ONNX_DOUBLE: case RL_ONNX_INT64: return 8;
  case RL_ONNX_UINT8: case RL_ONNX_INT8: case RL_ONNX_BOOL: return 1;
  case RL_ONNX_UINT16: case RL_ONNX_INT16: return 2;
  default: return 0; /* not read */
  }
}

static int is_float_dtype(int dt) { return dt == RL_ONNX_FLOAT || dt == RL_ONNX_DOUBLE; }

const char *rl_onnx_dtype_name(int dt) {
  static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",     "INT8",      "UINT16",
                                      "INT16",     "INT32",  "INT64",     "STRING",    "BOOL",
                                      "FLOAT16",   "DOUBLE", "UINT32",    "UINT64",    "COMPLEX64",
                                      "COMPLEX128", "BFLOAT16"};
  return dt >= 0 && dt < (int)(sizeof names / sizeof names[0]) ? names[dt] : "?";
}

static float double_to_float(double d) {
  if (d > FLT_MAX) return INFINITY; /* out-of-range conversion is undefined in C */
  if (d < -FLT_MAX) return -INFINITY;
  return (float)d;
}

/* A new owned float tensor of t's shape; *data NULL when t cannot have one. */
static rl_status new_value(parser *P, rl_onnx_tensor *t, float **data) {
  *data = NULL;
  if (t->numel == 0 || t->ndim > RL_MAX_DIMS) return RL_OK;
  owned *o = arena_alloc(P->arena, sizeof *o);
  if (!o) return nomem(P);
  rl_status st = rl_tensor_new(t->ndim, t->dims, &t->value);
  if (st == RL_ENOMEM) return nomem(P);
  if (st) return rl_pb_error(&P->ctx, "tensor '%s': %s", t->name, rl_errmsg());
  o->t = t->value;
  o->next = P->arena->tensors;
  P->arena->tensors = o;
  *data = rl_tensor_data(t->value);
  return RL_OK;
}

/* t->value from the exact t->ints, unless some integer has no exact float32. */
static rl_status value_from_ints(parser *P, rl_onnx_tensor *t) {
  float *d;
  for (int64_t i = 0; i < t->numel; i++)
    if (t->ints[i] > EXACT_INT || t->ints[i] < -EXACT_INT) return RL_OK;
  rl_status st = new_value(P, t, &d);
  if (st || !d) return st;
  for (int64_t i = 0; i < t->numel; i++) d[i] = (float)t->ints[i];
  return RL_OK;
}

/* Values from little-endian bytes (raw_data or an external file), n == numel * size. */
static rl_status from_raw(parser *P, rl_onnx_tensor *t, const uint8_t *b) {
  rl_status st;
  int64_t n = t->numel;
  if (is_float_dtype(t->dtype)) {
    float *d;
    if ((st = new_value(P, t, &d)) || !d) return st;
    if (t->dtype == RL_ONNX_FLOAT)
      for (int64_t i = 0; i < n; i++) {
        uint32_t u = rl_pb_le32(b + 4 * i);
        memcpy(d + i, &u, 4);
      }
    else
      for (int64_t i = 0; i < n; i++) {
        uint64_t u = rl_pb_le64(b + 8 * i);
        double x;
        memcpy(&x, &u, 8);
        d[i] = double_to_float(x);
      }
    return RL_OK;
  }
  int64_t *v;
  if ((st = alloc_array(P, (size_t)n, sizeof *v, &v))) return st;
  for (int64_t i = 0; i < n; i++) switch (t->dtype) {
    case RL_ONNX_INT64: v[i] = (int64_t)rl_pb_le64(b + 8 * i); break;
    case RL_ONNX_INT32: v[i] = (int32_t)rl_pb_le32(b + 4 * i); break;
    case RL_ONNX_INT16: v[i] = (int16_t)(b[2 * i] | b[2 * i + 1] << 8); break;
    case RL_ONNX_UINT16: v[i] = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8); break;
    case RL_ONNX_INT8: v[i] = (int8_t)b[i]; break;
    case RL_ONNX_UINT8: v[i] = b[i]; break;
    default: v[i] = b[i] != 0; break; /* BOOL */
    }
  t->ints = v;
  return value_from_ints(P, t);
}

/* Values from the typed repeated field (float_data, int32_data...). */
static rl_status from_typed(parser *P, const rl_pb *r, rl_onnx_tensor *t, size_t at) {
  static const struct { uint32_t num; rl_pb_wire wire; const char *name; } fields[] = {
      {4, RL_PB_FIXED32, "float_data"}, {10, RL_PB_FIXED64, "double_data"},
      {7, RL_PB_VARINT, "int64_data"}, {5, RL_PB_VARINT, "int32_data"}};
  int k = t->dtype == RL_ONNX_FLOAT ? 0 : t->dtype == RL_ONNX_DOUBLE ? 1 : t->dtype == RL_ONNX_INT64 ? 2 : 3;
  rl_status st;
  size_t n = 0;
  if ((st = rl_pb_scalars(r, fields[k].num, fields[k].wire, NULL, &n))) return st;
  if ((uint64_t)n != (uint64_t)t->numel) {
    if (n == 0)
      return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu (%s %s) has no data", t->name, at,
                         rl_onnx_dtype_name(t->dtype), rl_shapestr_dims(t->ndim, t->dims).s);
    return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu: %s holds %zu values, %s needs %lld",
                       t->name, at, fields[k].name, n, rl_shapestr_dims(t->ndim, t->dims).s,
                       (long long)t->numel);
  }
  if (t->dtype == RL_ONNX_FLOAT) {
    float *d;
    if ((st = new_value(P, t, &d)) || !d) return st;
    /* The bits land in the float storage, then become floats in place. */
    if ((st = rl_pb_scalars(r, 4, RL_PB_FIXED32, d, &n))) return st;
    for (size_t i = 0; i < n; i++) {
      uint32_t u;
      memcpy(&u, d + i, 4);
      float x;
      memcpy(&x, &u, 4);
      d[i] = x;
    }
    return RL_OK;
  }
  uint64_t *u = rl_mem_alloc(n * sizeof *u);
  if (!u) return nomem(P);
  if ((st = rl_pb_scalars(r, fields[k].num, fields[k].wire, u, &n))) goto cleanup;
  if (t->dtype == RL_ONNX_DOUBLE) {
    float *d;
    if ((st = new_value(P, t, &d)) || !d) goto cleanup;
    for (size_t i = 0; i < n; i++) {
      double x;
      memcpy(&x, u + i, 8);
      d[i] = double_to_float(x);
    }
  } else {
    int64_t *v;
    if ((st = alloc_array(P, n, sizeof *v, &v))) goto cleanup;
    for (size_t i = 0; i < n; i++) /* int32_data carries every narrower type */
      v[i] = t->dtype == RL_ONNX_INT64 ? (int64_t)u[i] : (int64_t)(int32_t)(uint32_t)u[i];
    if (t->dtype == RL_ONNX_BOOL)
      for (size_t i = 0; i < n; i++) v[i] = v[i] != 0;
    t->ints = v;
    st = value_from_ints(P, t);
  }
cleanup:
  rl_mem_free(u);
  return st;
}

/* Decimal digits only, no sign, no overflow. */
static int parse_size(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!*s) return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return 0;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 1;
}

/* Reads the external bytes of t (need bytes) into a new rl_mem_alloc buffer. */
static rl_status read_external(parser *P, const rl_pb *r, rl_onnx_tensor *t, size_t at,
                               uint64_t need, uint8_t **out) {
  rl_status st = RL_OK;
  rl_pb tr = *r, er;
  rl_pb_field f, g;
  const char *loc = NULL;
  uint64_t offset = 0, length = 0;
  int have_length = 0;
  char *path = NULL, *rdir = NULL, *rfile = NULL;
  FILE *fp = NULL;
  *out = NULL;
  while ((st = rl_pb_next(&tr, &f)) == RL_OK && f.num) {
    if (f.num != 13) continue;
    const char *key = "", *val = "";
    if ((st = rl_pb_sub(&tr, &f, "StringStringEntryProto", &er))) return st;
    while ((st = rl_pb_next(&er, &g)) == RL_OK && g.num) {
      if (g.num == 1 && (st = get_str(P, &er, &g, &key))) return st;
      if (g.num == 2 && (st = get_str(P, &er, &g, &val))) return st;
    }
    if (st) return st;
    if (!strcmp(key, "location")) loc = val;
    else if ((!strcmp(key, "offset") && !parse_size(val, &offset)) ||
             (!strcmp(key, "length") && !(have_length = parse_size(val, &length))))
      return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu: external data %s '%s' is not a byte count",
                         t->name, at, key, val);
  }
  if (st) return st;
  if (!loc || !*loc)
    return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu: external data without a location", t->name, at);
  if (!P->dir)
    return rl_pb_error(&P->ctx,
                       "tensor '%s' keeps its data in the external file '%s', which a model "
                       "read from memory cannot reach (load it from its path)", t->name, loc);
  /* Refuse by the name first (clear message), then by the resolved path
  ** (symbolic links leading out). */
  int bad = loc[0] == '/';
  for (const char *p = loc; *p && !bad; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p))
    bad = p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0');
  if (bad)
    return rl_pb_error(&P->ctx, "tensor '%s': external data location '%s' is outside the model's directory",
                       t->name, loc);
  size_t dl = strlen(P->dir), ll = strlen(loc);
  if (!(path = rl_mem_alloc(dl + ll + 2))) return nomem(P);
  memcpy(path, P->dir, dl);
  path[dl] = '/';
  memcpy(path + dl + 1, loc, ll + 1);
  errno = 0;
  rdir = realpath(P->dir, NULL);
  rfile = rdir ? realpath(path, NULL) : NULL;
  if (!rfile) {
    st = errno == ENOMEM ? nomem(P)
                         : rl_error(RL_EIO, "%s: %s: tensor '%s': cannot open external data file '%s': %s",
                                    P->ctx.fn, P->ctx.file, t->name, path, strerror(errno));
    goto cleanup;
  }
  size_t rl = strlen(rdir);
  if (strncmp(rfile, rdir, rl) || (rfile[rl] != '/' && strcmp(rdir, "/"))) {
    st = rl_pb_error(&P->ctx, "tensor '%s': external data location '%s' resolves outside the model's directory",
                     t->name, loc);
    goto cleanup;
  }
  struct stat sb;
  if (!(fp = fopen(rfile, "rb")) || fstat(fileno(fp), &sb)) {
    st = rl_error(RL_EIO, "%s: %s: tensor '%s': cannot open external data file '%s': %s", P->ctx.fn,
                  P->ctx.file, t->name, path, strerror(errno));
    goto cleanup;
  }
  uint64_t fsize = (uint64_t)sb.st_size;
  if (!have_length) length = need;
  if (length != need || offset > fsize || length > fsize - offset) {
    st = rl_pb_error(&P->ctx,
                     "tensor '%s' (%s %s) needs %llu bytes of '%s' at offset %llu; %s has %llu "
                     "bytes, the file %llu",
                     t->name, rl_onnx_dtype_name(t->dtype), rl_shapestr_dims(t->ndim, t->dims).s,
                     (unsigned long long)need, loc, (unsigned long long)offset,
                     have_length ? "its length" : "it", (unsigned long long)length,
                     (unsigned long long)fsize);
    goto cleanup;
  }
  if (!(*out = rl_mem_alloc(need ? (size_t)need : 1))) {
    st = nomem(P);
    goto cleanup;
  }
  if (fseeko(fp, (off_t)offset, SEEK_SET) || fread(*out, 1, (size_t)need, fp) != need) {
    st = rl_error(RL_EIO, "%s: %s: tensor '%s': cannot read %llu bytes of '%s'", P->ctx.fn,
                  P->ctx.file, t->name, (unsigned long long)need, path);
    rl_mem_free(*out);
    *out = NULL;
  }
cleanup:
  if (fp) fclose(fp);
  free(rdir); /* realpath's memory comes from malloc */
  free(rfile);
  rl_mem_free(path);
  return st;
}

static rl_status parse_tensor(parser *P, const rl_pb *r, rl_onnx_tensor *t) {
  rl_status st;
  rl_pb tr = *r;
  rl_pb_field f;
  const uint8_t *raw = NULL;
  size_t rawlen = 0, at = rl_pb_offset(r, r->p);
  int64_t location = 0, dtype = 0;
  int have_raw = 0;
  memset(t, 0, sizeof *t);
  t->name = "";
  while ((st = rl_pb_next(&tr, &f)) == RL_OK && f.num) {
    switch (f.num) {
    case 2: st = get_varint(&tr, &f, &dtype); break;
    case 3: return rl_pb_error(&P->ctx, "tensor at offset %zu is segmented, which relua does not read", at);
    case 8: st = get_str(P, &tr, &f, &t->name); break;
    case 9:
      if (!(st = rl_pb_expect(&tr, &f, RL_PB_BYTES))) raw = f.data, rawlen = f.len, have_raw = 1;
      break;
    case 14: st = get_varint(&tr, &f, &location); break;
    }
    if (st) return st;
  }
  if (st) return st;
  t->dtype = dtype >= 0 && dtype <= INT_MAX ? (int)dtype : -1;
  size_t nd = 0;
  int64_t *dims;
  if ((st = rl_pb_scalars(r, 1, RL_PB_VARINT, NULL, &nd))) return st;
  if (nd > 64)
    return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu has %zu dims", t->name, at, nd);
  if ((st = alloc_array(P, nd, sizeof *dims, &dims)) || (st = rl_pb_scalars(r, 1, RL_PB_VARINT, dims, &nd)))
    return st;
  t->ndim = (int)nd;
  t->dims = dims;
  t->numel = 1;
  for (size_t i = 0; i < nd; i++) {
    if (dims[i] < 0 || (dims[i] && t->numel > ((int64_t)1 << 62) / dims[i]))
      return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu has bad dims %s", t->name, at,
                         rl_shapestr_dims(t->ndim, dims).s);
    t->numel *= dims[i];
  }
  int size = dtype_size(t->dtype);
  if (t->numel == 0 || size == 0) return RL_OK; /* no values; rl_onnx_tensor_value explains */
  uint64_t need = (uint64_t)t->numel * (uint64_t)size;
  if (location == 1) {
    uint8_t *buf;
    if ((st = read_external(P, r, t, at, need, &buf))) return st;
    st = from_raw(P, t, buf);
    rl_mem_free(buf);
    return st;
  }
  if (location != 0)
    return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu: unknown data_location %lld", t->name, at,
                       (long long)location);
  if (have_raw) {
    if (rawlen != need)
      return rl_pb_error(&P->ctx, "tensor '%s' at offset %zu: raw_data has %zu bytes, %s %s needs %llu",
                         t->name, at, rawlen, rl_onnx_dtype_name(t->dtype),
                         rl_shapestr_dims(t->ndim, dims).s, (unsigned long long)need);
    return from_raw(P, t, raw);
  }
  return from_typed(P, r, t, at);
}

rl_status rl_onnx_tensor_value(const rl_onnx_tensor *t, rl_tensor **out) {
  *out = NULL;
  if (t->value) {
    rl_tensor_retain(t->value);
    *out = t->value;
    return RL_OK;
  }
  rl_shapebuf s = rl_shapestr_dims(t->ndim, t->dims);
  if (t->numel == 0) return rl_error(RL_ESHAPE, "onnx: tensor '%s' is empty (%s)", t->name, s.s);
  if (!dtype_size(t->dtype))
    return rl_error(RL_EFORMAT,
                    "onnx: tensor '%s' has data type %s, which relua does not read (it reads FLOAT, "
                    "DOUBLE, INT64, INT32, INT16, UINT16, INT8, UINT8, BOOL)",
                    t->name, rl_onnx_dtype_name(t->dtype));
  if (t->ndim > RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "onnx: tensor '%s' %s has %d dims, relua tensors at most %d", t->name,
                    s.s, t->ndim, RL_MAX_DIMS);
  for (int64_t i = 0; t->ints && i < t->numel; i++)
    if (t->ints[i] > EXACT_INT || t->ints[i] < -EXACT_INT)
      return rl_error(RL_EFORMAT,
                      "onnx: tensor '%s' holds %lld at index %lld, beyond 2^24: float32 cannot "
                      "hold it exactly (read its ints instead)",
                      t->name, (long long)t->ints[i], (long long)i);
  return rl_error(RL_EFORMAT, "onnx: tensor '%s' has no value", t->name);
}

/* }==================== */

/* {==================== nodes and attributes */

static rl_status parse_attr(parser *P, const rl_pb *r, rl_onnx_attr *a) {
  rl_status st;
  rl_pb ar = *r, tr;
  rl_pb_field f;
  int64_t type = 0;
  size_t nstr = 0, nfl = 0, nint = 0;
  int seen[24] = {0};
  memset(a, 0, sizeof *a);
  a->name = a->s = "";
  while ((st = rl_pb_next(&ar, &f)) == RL_OK && f.num) {
    if (f.num < 24) seen[f.num] = 1;
    switch (f.num) {
    case 1: st = get_str(P, &ar, &f, &a->name); break;
    case 2:
      if (!(st = rl_pb_expect(&ar, &f, RL_PB_FIXED32))) {
        uint32_t u = (uint32_t)f.u;
        memcpy(&a->f, &u, 4);
      }
      break;
    case 3: st = get_varint(&ar, &f, &a->i); break;
    case 4:
      if (!(st = get_str(P, &ar, &f, &a->s))) a->slen = f.len;
      break;
    case 5: {
      rl_onnx_tensor *t = arena_alloc(P->arena, sizeof *t);
      if (!t) return nomem(P);
      if ((st = rl_pb_sub(&ar, &f, "TensorProto", &tr)) || (st = parse_tensor(P, &tr, t))) return st;
      a->t = t;
      break;
    }
    case 9: st = rl_pb_expect(&ar, &f, RL_PB_BYTES), nstr++; break;
    case 20: st = get_varint(&ar, &f, &type); break;
    }
    if (st) return st;
  }
  if (st) return st;
  if ((st = rl_pb_scalars(r, 7, RL_PB_FIXED32, NULL, &nfl)) || (st = rl_pb_scalars(r, 8, RL_PB_VARINT, NULL, &nint)))
    return st;
  if (type == 0) /* files before IR 2 name no type: infer it from the field present */
    type = nfl ? RL_ONNX_ATTR_FLOATS : nint ? RL_ONNX_ATTR_INTS : nstr ? RL_ONNX_ATTR_STRINGS
         : seen[5] ? RL_ONNX_ATTR_TENSOR : seen[6] ? RL_ONNX_ATTR_GRAPH : seen[4] ? RL_ONNX_ATTR_STRING
         : seen[3] ? RL_ONNX_ATTR_INT : seen[2] ? RL_ONNX_ATTR_FLOAT : 0;
  a->type = type >= 0 && type <= 64 ? (int)type : -1;
  if (a->type == RL_ONNX_ATTR_TENSOR && !a->t)
    return rl_pb_error(&P->ctx, "attribute '%s' at offset %zu is a TENSOR without a tensor", a->name,
                       rl_pb_offset(r, r->p));
  /* Only the list of the attribute's type is kept, so n always counts it. */
  if (a->type != RL_ONNX_ATTR_FLOATS) nfl = 0;
  if (a->type != RL_ONNX_ATTR_INTS) nint = 0;
  if (a->type != RL_ONNX_ATTR_STRINGS) nstr = 0;
  if (nfl + nint + nstr > INT_MAX) return nomem(P);
  a->n = (int)(nfl + nint + nstr);
  if (nfl) {
    float *v;
    if ((st = alloc_array(P, nfl, sizeof *v, &v)) || (st = rl_pb_scalars(r, 7, RL_PB_FIXED32, v, &nfl)))
      return st;
    for (size_t i = 0; i < nfl; i++) { /* bits to floats in place */
      uint32_t u;
      memcpy(&u, v + i, 4);
      float x;
      memcpy(&x, &u, 4);
      v[i] = x;
    }
    a->floats = v;
  }
  if (nint) {
    int64_t *v;
    if ((st = alloc_array(P, nint, sizeof *v, &v)) || (st = rl_pb_scalars(r, 8, RL_PB_VARINT, v, &nint)))
      return st;
    a->ints = v;
  }
  if (nstr) {
    const char **v;
    size_t k = 0;
    if ((st = alloc_array(P, nstr, sizeof *v, &v))) return st;
    ar = *r;
    while ((st = rl_pb_next(&ar, &f)) == RL_OK && f.num)
      if (f.num == 9 && (st = get_str(P, &ar, &f, &v[k++]))) return st;
    if (st) return st;
    a->strings = v;
  }
  return RL_OK;
}

static rl_status parse_node(parser *P, const rl_pb *r, rl_onnx_node *nd) {
  rl_status st;
  size_t cnt[8];
  rl_pb nr = *r, sub;
  rl_pb_field f;
  const char **ins, **outs;
  rl_onnx_attr *attrs;
  int ki = 0, ko = 0, ka = 0;
  memset(nd, 0, sizeof *nd);
  nd->name = nd->domain = "";
  if ((st = count_fields(r, cnt, 8))) return st;
  if ((st = alloc_array(P, cnt[1], sizeof *ins, &ins)) || (st = alloc_array(P, cnt[2], sizeof *outs, &outs)) ||
      (st = alloc_array(P, cnt[5], sizeof *attrs, &attrs)))
    return st;
  while ((st = rl_pb_next(&nr, &f)) == RL_OK && f.num) {
    switch (f.num) {
    case 1: st = get_str(P, &nr, &f, &ins[ki++]); break;
    case 2: st = get_str(P, &nr, &f, &outs[ko++]); break;
    case 3: st = get_str(P, &nr, &f, &nd->name); break;
    case 4: st = get_str(P, &nr, &f, &nd->op_type); break;
    case 5:
      if (!(st = rl_pb_sub(&nr, &f, "AttributeProto", &sub))) st = parse_attr(P, &sub, &attrs[ka++]);
      break;
    case 7: st = get_str(P, &nr, &f, &nd->domain); break;
    }
    if (st) return st;
  }
  if (st) return st;
  if (!nd->op_type || !*nd->op_type)
    return rl_pb_error(&P->ctx, "node '%s' at offset %zu has no op_type", nd->name, rl_pb_offset(r, r->p));
  nd->ninputs = ki, nd->noutputs = ko, nd->nattrs = ka;
  nd->inputs = ins, nd->outputs = outs, nd->attrs = attrs;
  return RL_OK;
}

const rl_onnx_attr *rl_onnx_node_attr(const rl_onnx_node *n, const char *name) {
  for (int i = 0; i < n->nattrs; i++)
    if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
  return NULL;
}

static int is_default_domain(const char *d) { return !*d || !strcmp(d, "ai.onnx"); }

/* The value of a Constant node as a tensor named by its output. */
static rl_status constant_value(parser *P, const rl_onnx_node *nd, rl_onnx_tensor *t) {
  const rl_onnx_attr *a = nd->nattrs ? &nd->attrs[0] : NULL;
  memset(t, 0, sizeof *t);
  t->name = nd->outputs[0];
  if (!a)
    return rl_pb_error(&P->ctx, "Constant node '%s' (output '%s') has no value attribute", nd->name, t->name);
  if (a->t) {
    *t = *a->t; /* shares the owned value */
    t->name = nd->outputs[0];
    return RL_OK;
  }
  /* value_float(s) / value_int(s), told apart by type rather than by name */
  int64_t *dims;
  rl_status st;
  if ((st = alloc_array(P, 1, sizeof *dims, &dims))) return st;
  t->dims = dims;
  int list = a->type == RL_ONNX_ATTR_FLOATS || a->type == RL_ONNX_ATTR_INTS;
  dims[0] = list ? a->n : 1;
  t->ndim = list;
  t->numel = list ? a->n : 1;
  if (a->type == RL_ONNX_ATTR_FLOAT || a->type == RL_ONNX_ATTR_FLOATS) {
    float *d;
    t->dtype = RL_ONNX_FLOAT;
    if ((st = new_value(P, t, &d)) || !d) return st;
    if (list) memcpy(d, a->floats, (size_t)a->n * sizeof *d);
    else d[0] = a->f;
    return RL_OK;
  }
  if (a->type == RL_ONNX_ATTR_INT || a->type == RL_ONNX_ATTR_INTS) {
    t->dtype = RL_ONNX_INT64;
    t->ints = list ? a->ints : &a->i;
    return value_from_ints(P, t);
  }
  t->dtype = a->type == RL_ONNX_ATTR_STRING || a->type == RL_ONNX_ATTR_STRINGS ? RL_ONNX_STRING : RL_ONNX_UNDEFINED;
  return RL_OK;
}

/* }==================== */

/* {==================== graphs and models */

static rl_status parse_value_info(parser *P, const rl_pb *r, rl_onnx_value_info *v) {
  rl_status st;
  rl_pb vr = *r, ty, tt, sh, dm;
  rl_pb_field f, g;
  int have_shape = 0;
  memset(v, 0, sizeof *v);
  v->name = "";
  v->ndim = -1;
  while ((st = rl_pb_next(&vr, &f)) == RL_OK && f.num) {
    if (f.num == 1 && (st = get_str(P, &vr, &f, &v->name))) return st;
    if (f.num != 2) continue;
    if ((st = rl_pb_sub(&vr, &f, "TypeProto", &ty))) return st;
    while ((st = rl_pb_next(&ty, &g)) == RL_OK && g.num) {
      if (g.num != 1) continue; /* sequence, map...: no tensor type */
      if ((st = rl_pb_sub(&ty, &g, "TypeProto.Tensor", &tt))) return st;
      rl_pb_field h;
      while ((st = rl_pb_next(&tt, &h)) == RL_OK && h.num) {
        int64_t et;
        if (h.num == 1) {
          if ((st = get_varint(&tt, &h, &et))) return st;
          v->dtype = et >= 0 && et <= INT_MAX ? (int)et : -1;
        } else if (h.num == 2) {
          if ((st = rl_pb_sub(&tt, &h, "TensorShapeProto", &sh))) return st;
          have_shape = 1;
        }
      }
      if (st) return st;
    }
    if (st) return st;
  }
  if (st || !have_shape) return st;
  size_t cnt[2];
  int64_t *dims;
  const char **names;
  if ((st = count_fields(&sh, cnt, 2))) return st;
  if ((st = alloc_array(P, cnt[1], sizeof *dims, &dims)) || (st = alloc_array(P, cnt[1], sizeof *names, &names)))
    return st;
  int k = 0;
  while ((st = rl_pb_next(&sh, &f)) == RL_OK && f.num) {
    if (f.num != 1) continue;
    if ((st = rl_pb_sub(&sh, &f, "TensorShapeProto.Dimension", &dm))) return st;
    dims[k] = -1;
    names[k] = NULL;
    while ((st = rl_pb_next(&dm, &g)) == RL_OK && g.num) {
      if (g.num == 1) {
        if ((st = get_varint(&dm, &g, &dims[k]))) return st;
        if (dims[k] < 0)
          return rl_pb_error(&P->ctx, "value '%s' has dim %d = %lld at offset %zu", v->name, k,
                             (long long)dims[k], g.offset);
        names[k] = NULL;
      } else if (g.num == 2) {
        if ((st = get_str(P, &dm, &g, &names[k]))) return st;
        dims[k] = -1;
      }
    }
    if (st) return st;
    k++;
  }
  if (st) return st;
  v->ndim = k;
  v->dims = dims;
  v->dim_names = names;
  return RL_OK;
}

static rl_status parse_graph(parser *P, const rl_pb *r, rl_onnx_model *m) {
  rl_status st;
  size_t cnt[14];
  rl_pb gr = *r, sub;
  rl_pb_field f;
  rl_onnx_node *nodes;
  rl_onnx_tensor *inits, *consts;
  rl_onnx_value_info *vi[3];
  int k[14] = {0};
  if ((st = count_fields(r, cnt, 14))) return st;
  if ((st = alloc_array(P, cnt[1], sizeof *nodes, &nodes)) || (st = alloc_array(P, cnt[5], sizeof *inits, &inits)))
    return st;
  for (int j = 0; j < 3; j++)
    if ((st = alloc_array(P, cnt[11 + j], sizeof *vi[j], &vi[j]))) return st;
  while ((st = rl_pb_next(&gr, &f)) == RL_OK && f.num) {
    switch (f.num) {
    case 1:
      if (!(st = rl_pb_sub(&gr, &f, "NodeProto", &sub))) st = parse_node(P, &sub, &nodes[k[1]++]);
      break;
    case 2: st = get_str(P, &gr, &f, &m->graph_name); break;
    case 5:
      if (!(st = rl_pb_sub(&gr, &f, "TensorProto", &sub))) st = parse_tensor(P, &sub, &inits[k[5]++]);
      break;
    case 11: case 12: case 13:
      if (!(st = rl_pb_sub(&gr, &f, "ValueInfoProto", &sub)))
        st = parse_value_info(P, &sub, &vi[f.num - 11][k[f.num]++]);
      break;
    }
    if (st) return st;
  }
  if (st) return st;
  m->nnodes = k[1], m->nodes = nodes;
  m->ninits = k[5], m->inits = inits;
  m->ninputs = k[11], m->inputs = vi[0];
  m->noutputs = k[12], m->outputs = vi[1];
  m->nvalue_info = k[13], m->value_info = vi[2];
  int nc = 0;
  for (int i = 0; i < m->nnodes; i++)
    nc += !strcmp(nodes[i].op_type, "Constant") && is_default_domain(nodes[i].domain) && nodes[i].noutputs;
  if ((st = alloc_array(P, (size_t)nc, sizeof *consts, &consts))) return st;
  m->consts = consts;
  for (int i = 0; i < m->nnodes; i++)
    if (!strcmp(nodes[i].op_type, "Constant") && is_default_domain(nodes[i].domain) && nodes[i].noutputs)
      if ((st = constant_value(P, &nodes[i], &consts[m->nconsts++]))) return st;
  return RL_OK;
}

static rl_status parse_model(parser *P, const uint8_t *buf, size_t n, rl_onnx_model **out) {
  rl_status st;
  rl_pb mr = rl_pb_open(&P->ctx, "ModelProto", buf, n), gr = {0}, sub;
  rl_pb_field f, g;
  size_t cnt[9];
  int have_graph = 0, have_ir = 0;
  rl_onnx_opset_id *ops;
  rl_onnx_model *m;
  *out = NULL;
  if (n > INT32_MAX)
    return rl_pb_error(&P->ctx, "%zu bytes is over protobuf's 2 GiB limit (keep weights as external data)", n);
  if (!(P->arena = rl_mem_calloc(sizeof *P->arena))) return nomem(P);
  if (!(m = arena_alloc(P->arena, sizeof *m))) {
    st = nomem(P);
    goto cleanup;
  }
  memset(m, 0, sizeof *m);
  m->arena_ = P->arena;
  m->producer_name = m->producer_version = m->graph_name = "";
  RL_TRY(dup_str(P, (const uint8_t *)P->ctx.file, strlen(P->ctx.file), &m->file));
  RL_TRY(count_fields(&mr, cnt, 9));
  RL_TRY(alloc_array(P, cnt[8], sizeof *ops, &ops));
  m->opsets = ops;
  while ((st = rl_pb_next(&mr, &f)) == RL_OK && f.num) {
    switch (f.num) {
    case 1: st = get_varint(&mr, &f, &m->ir_version), have_ir = 1; break;
    case 2: st = get_str(P, &mr, &f, &m->producer_name); break;
    case 3: st = get_str(P, &mr, &f, &m->producer_version); break;
    case 7: st = rl_pb_sub(&mr, &f, "GraphProto", &gr), have_graph = 1; break;
    case 8: {
      rl_onnx_opset_id *o = &ops[m->nopsets++];
      o->domain = "";
      o->version = 0;
      if ((st = rl_pb_sub(&mr, &f, "OperatorSetIdProto", &sub))) break;
      while ((st = rl_pb_next(&sub, &g)) == RL_OK && g.num) {
        if (g.num == 1 && (st = get_str(P, &sub, &g, &o->domain))) break;
        if (g.num == 2 && (st = get_varint(&sub, &g, &o->version))) break;
      }
      break;
    }
    }
    if (st) goto cleanup;
  }
  if (st) goto cleanup;
  if (!have_graph || !have_ir || m->ir_version <= 0) {
    st = rl_pb_error(&P->ctx, "not an ONNX model (no %s in the %zu bytes read as a ModelProto)",
                     !have_graph ? "graph" : "valid ir_version", n);
    goto cleanup;
  }
  RL_TRY(parse_graph(P, &gr, m));
  *out = m;
  return RL_OK;
cleanup:
  arena_free(P->arena);
  P->arena = NULL;
  return st;
}

void rl_onnx_free(rl_onnx_model *m) {
  if (m) arena_free(m->arena_);
}

/* The bytes of a file, mapped read-only (an empty file maps to no bytes). */
static rl_status map_file(const char *fn, const char *path, void **buf, size_t *n) {
  struct stat sb;
  int fd = open(path, O_RDONLY);
  *buf = NULL;
  *n = 0;
  if (fd < 0) return rl_error(RL_EIO, "%s: %s: %s", fn, path, strerror(errno));
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return rl_error(RL_EIO, "%s: %s: not a regular file", fn, path);
  }
  if (sb.st_size > 0) {
    if ((uint64_t)sb.st_size > INT32_MAX) {
      close(fd);
      return rl_error(RL_EFORMAT, "%s: %s: %lld bytes is over protobuf's 2 GiB limit", fn, path,
                      (long long)sb.st_size);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      close(fd);
      return rl_error(RL_EIO, "%s: %s: cannot map: %s", fn, path, strerror(e));
    }
    *buf = p;
    *n = (size_t)sb.st_size;
  }
  close(fd);
  return RL_OK;
}

/* The directory part of path ("." when none), in a new rl_mem_alloc string. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 1;
  if (slash == path) n = 1; /* "/m.onnx" */
  char *d = rl_mem_alloc(n + 1);
  if (!d) return NULL;
  memcpy(d, slash ? path : ".", n);
  d[n] = '\0';
  return d;
}

rl_status rl_onnx_load(const char *path, rl_onnx_model **out) {
  parser P = {{"onnx.load", path, NULL, MAX_DEPTH}, NULL, NULL};
  void *buf;
  size_t n;
  rl_status st;
  *out = NULL;
  if ((st = map_file("onnx.load", path, &buf, &n))) return st;
  const uint8_t *b = buf ? buf : (const void *)"";
  char *dir = dir_of(path);
  if (!dir) st = nomem(&P);
  else {
    P.ctx.base = b;
    P.dir = dir;
    st = parse_model(&P, b, n, out);
  }
  rl_mem_free(dir);
  if (buf) munmap(buf, n);
  return st;
}

rl_status rl_onnx_load_buffer(const void *buf, size_t n, const char *name, rl_onnx_model **out) {
  parser P = {{"onnx.load", name ? name : "(buffer)", buf, MAX_DEPTH}, NULL, NULL};
  *out = NULL;
  if (!buf && n) return rl_error(RL_EARG, "onnx.load: %s: NULL buffer of %zu bytes", P.ctx.file, n);
  if (!buf) P.ctx.base = buf = "";
  return parse_model(&P, buf, n, out);
}

rl_status rl_onnx_load_tensor_pb(const char *path, rl_tensor **out) {
  parser P = {{"onnx.load_tensor", path, NULL, MAX_DEPTH}, NULL, NULL};
  void *buf;
  size_t n;
  rl_status st;
  rl_onnx_tensor t;
  *out = NULL;
  if ((st = map_file(P.ctx.fn, path, &buf, &n))) return st;
  char *dir = dir_of(path);
  P.arena = dir ? rl_mem_calloc(sizeof *P.arena) : NULL;
  if (!P.arena) st = nomem(&P);
  else {
    P.ctx.base = buf ? buf : (void *)"";
    P.dir = dir;
    rl_pb r = rl_pb_open(&P.ctx, "TensorProto", P.ctx.base, n);
    if (!(st = parse_tensor(&P, &r, &t)) && (st = rl_onnx_tensor_value(&t, out)) != RL_OK) {
      char msg[512]; /* name the file in the value's message too */
      snprintf(msg, sizeof msg, "%s", rl_errmsg() + strlen("onnx: "));
      rl_error(st, "%s: %s: %s", P.ctx.fn, path, msg);
    }
  }
  arena_free(P.arena);
  rl_mem_free(dir);
  if (buf) munmap(buf, n);
  return st;
}

int64_t rl_onnx_opset(const rl_onnx_model *m, const char *domain) {
  int def = is_default_domain(domain);
  for (int i = 0; i < m->nopsets; i++)
    if (def ? is_default_domain(m->opsets[i].domain) : !strcmp(m->opsets[i].domain, domain))
      return m->opsets[i].version;
  return 0;
}

const rl_onnx_tensor *rl_onnx_find_tensor(const rl_onnx_model *m, const char *name) {
  for (int i = 0; i < m->ninits; i++)
    if (!strcmp(m->inits[i].name, name)) return &m->inits[i];
  for (int i = 0; i < m->nconsts; i++)
    if (!strcmp(m->consts[i].name, name)) return &m->consts[i];
  return NULL;
}

/* }==================== */

/* {==================== supported operators */

static const char *const supported_ops[] = {
    "Conv",        "Gemm",        "MatMul",     "Add",         "Sub",
    "Mul",         "Div",         "Relu",       "LeakyRelu",   "Sigmoid",
    "Tanh",        "Clip",        "Softmax",    "LogSoftmax",  "MaxPool",
    "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape",
    "Shape",       "Gather",      "Unsqueeze",  "Concat",      "Dropout",
    "Identity",    "Constant",    "Pad",        "Resize",      "Upsample"};

int rl_onnx_op_supported(const char *op_type) {
  for (size_t i = 0; i < sizeof supported_ops / sizeof supported_ops[0]; i++)
    if (!strcmp(op_type, supported_ops[i])) return 1;
  return 0;
}

rl_status rl_onnx_check_ops(const rl_onnx_model *m) {
  for (int i = 0; i < m->nnodes; i++) {
    const rl_onnx_node *nd = &m->nodes[i];
    int def = is_default_domain(nd->domain);
    if (def && rl_onnx_op_supported(nd->op_type)) continue;
    char who[200];
    if (*nd->name) snprintf(who, sizeof who, "node '%s'", nd->name);
    else snprintf(who, sizeof who, "node %d (output '%s')", i, nd->noutputs ? nd->outputs[0] : "");
    return rl_error(RL_EARG, "onnx: %s: %s uses operator '%s%s%s' (opset %lld), which relua does not support",
                    m->file, who, def ? "" : nd->domain, def ? "" : ":", nd->op_type,
                    (long long)rl_onnx_opset(m, nd->domain));
  }
  return RL_OK;
}

/* }==================== */
