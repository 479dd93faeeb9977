/* npy.c: numpy .npy files: a strict header parser, every numeric dtype read
** into float32, float32/uint8 written with numpy's own header layout. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "npy.h"

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6
#define MAX_HEADER (1u << 20) /* numpy writes < 100 bytes; anything near this is garbage */
#define CHUNK 16384

static int host_is_little(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* {==================== byte sources: a memory buffer or a file of known size */

typedef struct src {
  const char *name;           /* for messages */
  const unsigned char *mem;   /* memory source, or NULL */
  FILE *f;                    /* file source, or NULL */
  size_t size, pos;
} src;

/* Exactly n bytes at the current position; callers have checked n against
** size, so a short read means an I/O error or a file that changed under us. */
static rl_status src_read(src *s, void *dst, size_t n) {
  if (n > s->size - s->pos)
    return rl_error(RL_EFORMAT, "npy.load: %s: truncated at offset %zu", s->name, s->size);
  if (s->mem) {
    memcpy(dst, s->mem + s->pos, n);
  } else if (fread(dst, 1, n, s->f) != n) {
    if (ferror(s->f))
      return rl_error(RL_EIO, "npy.load: %s: read error at offset %zu: %s", s->name, s->pos,
                      strerror(errno));
    return rl_error(RL_EIO, "npy.load: %s: file ended at offset %zu although its size was %zu bytes",
                    s->name, s->pos, s->size);
  }
  s->pos += n;
  return RL_OK;
}

/* }==================== */

/* {==================== the header dict */

typedef struct npy_header {
  char kind;      /* 'f' 'i' 'u' 'b' */
  int itemsize;   /* bytes */
  int swap;       /* stored in the other byte order than the host's */
  int fortran;
  int ndim;
  int64_t shape[RL_MAX_DIMS];
  char descr[16];
} npy_header;

typedef struct parser {
  const char *p, *start, *end;
  size_t base;   /* file offset of start, for messages */
  const char *name;
} parser;

static rl_status perr(parser *ps, const char *what) {
  return rl_error(RL_EFORMAT, "npy.load: %s: header at offset %zu: %s", ps->name,
                  ps->base + (size_t)(ps->p - ps->start), what);
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int accept(parser *ps, char c) {
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == c) {
    ps->p++;
    return 1;
  }
  return 0;
}

/* A Python string literal without escapes, into buf (NUL-terminated). */
static rl_status parse_string(parser *ps, char *buf, size_t cap, const char *what) {
  skip_ws(ps);
  if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected a quoted string for %s", what);
    return perr(ps, msg);
  }
  char q = *ps->p++;
  size_t k = 0;
  while (ps->p < ps->end && *ps->p != q) {
    if (*ps->p == '\\' || k + 1 >= cap) {
      char msg[96];
      snprintf(msg, sizeof msg, "%s is not a short plain string", what);
      return perr(ps, msg);
    }
    buf[k++] = *ps->p++;
  }
  if (ps->p >= ps->end) return perr(ps, "unterminated string");
  ps->p++;
  buf[k] = '\0';
  return RL_OK;
}

static int accept_word(parser *ps, const char *w) {
  size_t n = strlen(w);
  skip_ws(ps);
  if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
    ps->p += n;
    return 1;
  }
  return 0;
}

static rl_status parse_descr(parser *ps, npy_header *h) {
  rl_status st = parse_string(ps, h->descr, sizeof h->descr, "'descr'");
  if (st) return st;
  const char *d = h->descr;
  int little = host_is_little();
  char order = d[0], kind = d[1];
  int size = d[2] >= '1' && d[2] <= '8' && d[3] == '\0' ? d[2] - '0' : 0;
  int ok = (order == '<' || order == '>' || order == '|' || order == '=') && d[1] && size;
  if (ok) {
    switch (kind) {
    case 'f': ok = size == 2 || size == 4 || size == 8; break;
    case 'i': case 'u': ok = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'b': ok = size == 1; break;
    default: ok = 0;
    }
  }
  if (!ok) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "'descr' is '%s', not a supported dtype (f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, "
             "with byte order < > | =)", d);
    return perr(ps, msg);
  }
  if (order == '|' && size > 1) return perr(ps, "'descr' has byte order '|' for a multi-byte type");
  h->kind = kind;
  h->itemsize = size;
  h->swap = size > 1 && ((order == '<' && !little) || (order == '>' && little));
  return RL_OK;
}

static rl_status parse_shape(parser *ps, npy_header *h) {
  if (!accept(ps, '(')) return perr(ps, "'shape' is not a tuple");
  h->ndim = 0;
  for (;;) {
    if (accept(ps, ')')) return RL_OK;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
      return perr(ps, "'shape' holds something other than non-negative integers");
    int64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return perr(ps, "a 'shape' entry overflows 64 bits");
      v = v * 10 + (*ps->p++ - '0');
    }
    if (ps->p < ps->end && *ps->p == 'L') ps->p++; /* Python 2 longs */
    if (h->ndim == RL_MAX_DIMS) return perr(ps, "'shape' has more than 8 dims (relua's limit)");
    h->shape[h->ndim++] = v;
    if (accept(ps, ')')) return RL_OK;
    if (!accept(ps, ',')) return perr(ps, "expected ',' or ')' in 'shape'");
  }
}

static rl_status parse_header(parser *ps, npy_header *h) {
  rl_status st;
  int seen[3] = {0, 0, 0};
  if (!accept(ps, '{')) return perr(ps, "the header is not a dict (no '{')");
  for (;;) {
    if (accept(ps, '}')) break;
    char key[32];
    if ((st = parse_string(ps, key, sizeof key, "a key")) != RL_OK) return st;
    if (!accept(ps, ':')) return perr(ps, "expected ':' after a key");
    int k = !strcmp(key, "descr") ? 0 : !strcmp(key, "fortran_order") ? 1 : !strcmp(key, "shape") ? 2 : -1;
    if (k < 0) {
      char msg[96];
      snprintf(msg, sizeof msg, "unknown key '%s'", key);
      return perr(ps, msg);
    }
    if (seen[k]++) {
      char msg[96];
      snprintf(msg, sizeof msg, "key '%s' appears twice", key);
      return perr(ps, msg);
    }
    if (k == 0) st = parse_descr(ps, h);
    else if (k == 2) st = parse_shape(ps, h);
    else if (accept_word(ps, "True")) h->fortran = 1;
    else if (accept_word(ps, "False")) h->fortran = 0;
    else st = perr(ps, "'fortran_order' is neither True nor False");
    if (st) return st;
    if (accept(ps, '}')) break;
    if (!accept(ps, ',')) return perr(ps, "expected ',' or '}' after a value");
  }
  skip_ws(ps);
  if (ps->p != ps->end) return perr(ps, "characters after the closing '}'");
  for (int k = 0; k < 3; k++)
    if (!seen[k]) {
      static const char *const names[] = {"descr", "fortran_order", "shape"};
      char msg[96];
      snprintf(msg, sizeof msg, "the key '%s' is missing", names[k]);
      return perr(ps, msg);
    }
  return RL_OK;
}

/* }==================== */

/* {==================== values to float32 */

static uint64_t load_uint(const unsigned char *p, int size, int swap) {
  unsigned char b[8] = {0};
  if (swap)
    for (int i = 0; i < size; i++) b[i] = p[size - 1 - i];
  else
    memcpy(b, p, (size_t)size);
  switch (size) {
  case 1: return b[0];
  case 2: { uint16_t v; memcpy(&v, b, 2); return v; }
  case 4: { uint32_t v; memcpy(&v, b, 4); return v; }
  default: { uint64_t v; memcpy(&v, b, 8); return v; }
  }
}

static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
  return h & 0x8000 ? -v : v;
}

static void convert(const npy_header *h, const unsigned char *p, size_t count, float *dst) {
  int sz = h->itemsize, sw = h->swap;
  if (h->kind == 'f' && sz == 4 && !sw) {
    memcpy(dst, p, count * 4);
    return;
  }
  for (size_t i = 0; i < count; i++, p += sz) {
    uint64_t u = load_uint(p, sz, sw);
    float v;
    switch (h->kind) {
    case 'f':
      if (sz == 2) v = half_to_float((uint16_t)u);
      else if (sz == 4) { uint32_t w = (uint32_t)u; memcpy(&v, &w, 4); }
      else { double d; memcpy(&d, &u, 8); v = (float)d; }
      break;
    case 'i': /* sign-extend from sz bytes */
      v = sz == 1 ? (float)(int8_t)u : sz == 2 ? (float)(int16_t)u : sz == 4 ? (float)(int32_t)u : (float)(int64_t)u;
      break;
    case 'u': v = (float)u; break;
    default: v = u ? 1.0f : 0.0f; break;
    }
    dst[i] = v;
  }
}

/* }==================== */

static rl_status load(src *s, rl_tensor **out) {
  rl_status st = RL_OK;
  unsigned char pre[12];
  char *hbuf = NULL;
  rl_tensor *t = NULL, *v = NULL;
  npy_header h;
  memset(&h, 0, sizeof h);
  *out = NULL;

  size_t have = s->size < sizeof pre ? s->size : sizeof pre;
  RL_TRY(src_read(s, pre, have));
  size_t cmp = have < MAGIC_LEN ? have : MAGIC_LEN;
  if (memcmp(pre, MAGIC, cmp) != 0)
    return rl_error(RL_EFORMAT, "npy.load: %s: not a .npy file (no \\x93NUMPY magic)", s->name);
  if (have < 10)
    return rl_error(RL_EFORMAT, "npy.load: %s: truncated in the preamble (%zu bytes)", s->name, s->size);
  int major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    return rl_error(RL_EFORMAT, "npy.load: %s: unsupported format version %d.%d (1.0, 2.0, 3.0 are)",
                    s->name, major, minor);
  size_t pl = major == 1 ? 10 : 12, hlen;
  if (have < pl)
    return rl_error(RL_EFORMAT, "npy.load: %s: truncated in the preamble (%zu bytes)", s->name, s->size);
  hlen = major == 1 ? (size_t)pre[8] | (size_t)pre[9] << 8
                    : (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  if (hlen > s->size - pl)
    return rl_error(RL_EFORMAT, "npy.load: %s: header length %zu runs past the end of the file (%zu bytes)",
                    s->name, hlen, s->size);
  if (hlen > MAX_HEADER)
    return rl_error(RL_EFORMAT, "npy.load: %s: header length %zu is implausibly large", s->name, hlen);
  /* the preamble may have been read past (12 bytes for version 1): rewind by offset */
  if (s->mem) s->pos = pl;
  else if (have > pl) {
    if (fseek(s->f, (long)pl, SEEK_SET) != 0)
      return rl_error(RL_EIO, "npy.load: %s: seek failed: %s", s->name, strerror(errno));
    s->pos = pl;
  }
  if (!(hbuf = rl_mem_alloc(hlen + 1))) return rl__nomem("npy.load");
  RL_TRY(src_read(s, hbuf, hlen));
  parser ps = {hbuf, hbuf, hbuf + hlen, pl, s->name};
  RL_TRY(parse_header(&ps, &h));

  size_t count = 1, need;
  for (int d = 0; d < h.ndim; d++) {
    if (h.shape[d] == 0) {
      st = rl_error(RL_ESHAPE, "npy.load: %s: shape %s has a zero-size dim (relua tensors are never empty)",
                    s->name, rl_shapestr_dims(h.ndim, h.shape).s);
      goto cleanup;
    }
    if ((uint64_t)h.shape[d] > (SIZE_MAX / 8) / count) {
      st = rl_error(RL_EFORMAT, "npy.load: %s: shape %s is too large", s->name,
                    rl_shapestr_dims(h.ndim, h.shape).s);
      goto cleanup;
    }
    count *= (size_t)h.shape[d];
  }
  need = count * (size_t)h.itemsize;
  size_t left = s->size - s->pos;
  if (need > left) {
    st = rl_error(RL_EFORMAT, "npy.load: %s: shape %s of '%s' needs %zu data bytes, only %zu follow the header at offset %zu",
                  s->name, rl_shapestr_dims(h.ndim, h.shape).s, h.descr, need, left, s->pos);
    goto cleanup;
  }
  if (need < left) {
    st = rl_error(RL_EFORMAT, "npy.load: %s: %zu unexpected bytes after the data (which ends at offset %zu)",
                  s->name, left - need, s->pos + need);
    goto cleanup;
  }

  /* Fortran order is C order of the reversed shape; read that, then transpose. */
  int64_t shape[RL_MAX_DIMS];
  for (int d = 0; d < h.ndim; d++) shape[d] = h.fortran ? h.shape[h.ndim - 1 - d] : h.shape[d];
  if (rl__check_shape("npy.load", h.ndim, shape) != RL_OK) {
    st = rl_error(RL_ESHAPE, "npy.load: %s: shape %s is too large", s->name, rl_shapestr_dims(h.ndim, h.shape).s);
    goto cleanup;
  }
  RL_TRY(rl_tensor_new(h.ndim, shape, &t));
  float *dst = rl_tensor_data(t);
  if (s->mem) {
    convert(&h, s->mem + s->pos, count, dst);
    s->pos += need;
  } else {
    unsigned char buf[CHUNK];
    size_t per = CHUNK / (size_t)h.itemsize;
    for (size_t i = 0; i < count; i += per) {
      size_t k = count - i < per ? count - i : per;
      RL_TRY(src_read(s, buf, k * (size_t)h.itemsize));
      convert(&h, buf, k, dst + i);
      if ((i / per) % 64 == 63) RL_TRY(rl_check_interrupt("npy.load"));
    }
  }
  if (h.fortran && h.ndim > 1) {
    int64_t stride[RL_MAX_DIMS];
    for (int d = 0; d < h.ndim; d++) stride[d] = t->stride[h.ndim - 1 - d];
    RL_TRY(rl__view(t, h.ndim, h.shape, stride, 0, &v));
    rl_tensor_release(t);
    t = NULL;
    RL_TRY(rl_tensor_clone(v, &t));
  }
  *out = t;
  t = NULL;
cleanup:
  rl_mem_free(hbuf);
  rl_tensor_release(v);
  rl_tensor_release(t);
  return st;
}

rl_status rl_npy_load_mem(const void *buf, size_t n, const char *name, rl_tensor **out) {
  src s = {name ? name : "<memory>", buf, NULL, n, 0};
  if (!out) return rl_error(RL_EARG, "npy.load: no output pointer");
  *out = NULL;
  if (!buf && n) return rl_error(RL_EARG, "npy.load: %s: NULL buffer", s.name);
  static const unsigned char empty[1];
  if (!buf) s.mem = empty;
  return load(&s, out);
}

rl_status rl_npy_load(const char *path, rl_tensor **out) {
  if (!out) return rl_error(RL_EARG, "npy.load: no output pointer");
  *out = NULL;
  if (!path) return rl_error(RL_EARG, "npy.load: no path");
  FILE *f = fopen(path, "rb");
  if (!f) return rl_error(RL_EIO, "npy.load: %s: %s", path, strerror(errno));
  struct stat sb;
  rl_status st;
  if (fstat(fileno(f), &sb) != 0)
    st = rl_error(RL_EIO, "npy.load: %s: %s", path, strerror(errno));
  else if (!S_ISREG(sb.st_mode))
    st = rl_error(RL_EIO, "npy.load: %s: not a regular file", path);
  else {
    src s = {path, NULL, f, (size_t)sb.st_size, 0};
    st = load(&s, out);
  }
  fclose(f);
  return st;
}

/* {==================== writing */

typedef struct sink {
  const char *name;
  FILE *f;
  unsigned char *mem;
  size_t pos;
} sink;

static rl_status sink_write(sink *k, const void *p, size_t n) {
  if (k->mem) memcpy(k->mem + k->pos, p, n);
  else if (fwrite(p, 1, n, k->f) != n)
    return rl_error(RL_EIO, "npy.save: %s: write failed: %s", k->name, strerror(errno));
  k->pos += n;
  return RL_OK;
}

/* The 64-byte-aligned version 1.0 preamble + header; returns its length. */
static size_t make_header(const rl_tensor *t, rl_npy_dtype dtype, char *hdr, size_t cap) {
  char shape[RL_MAX_DIMS * 24 + 4];
  size_t k = 0;
  shape[k++] = '(';
  for (int d = 0; d < t->ndim; d++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
  if (t->ndim == 1) shape[k++] = ',';
  shape[k++] = ')';
  shape[k] = '\0';
  int n = snprintf(hdr + 10, cap - 10, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   dtype == RL_NPY_U8 ? "|u1" : "<f4", shape);
  size_t total = 10 + (size_t)n + 1; /* + '\n' */
  size_t padded = (total + 63) / 64 * 64;
  memset(hdr + 10 + n, ' ', padded - total);
  hdr[padded - 1] = '\n';
  size_t hlen = padded - 10;
  memcpy(hdr, MAGIC, MAGIC_LEN);
  hdr[6] = 1;
  hdr[7] = 0;
  hdr[8] = (char)(hlen & 255);
  hdr[9] = (char)(hlen >> 8);
  return padded;
}

static rl_status write_data(sink *k, const rl_tensor *c, rl_npy_dtype dtype) {
  rl_status st;
  const float *x = rl_tensor_data(c);
  size_t n = (size_t)rl_tensor_numel(c);
  int swap = !host_is_little();
  if (dtype == RL_NPY_F32 && !swap) return sink_write(k, x, n * 4);
  unsigned char buf[CHUNK];
  size_t per = dtype == RL_NPY_U8 ? CHUNK : CHUNK / 4;
  for (size_t i = 0; i < n; i += per) {
    size_t m = n - i < per ? n - i : per;
    for (size_t j = 0; j < m; j++) {
      float v = x[i + j];
      if (dtype == RL_NPY_U8) {
        buf[j] = (unsigned char)(v >= 254.5f ? 255 : v > 0 ? (int)lrintf(v) : 0); /* NaN fails v > 0 */
      } else {
        unsigned char b[4];
        memcpy(b, &v, 4);
        for (int q = 0; q < 4; q++) buf[4 * j + (size_t)q] = b[3 - q];
      }
    }
    if ((st = sink_write(k, buf, dtype == RL_NPY_U8 ? m : 4 * m)) != RL_OK) return st;
  }
  return RL_OK;
}

static rl_status check_save_args(const rl_tensor *t, rl_npy_dtype dtype) {
  if (!t) return rl_error(RL_EARG, "npy.save: no tensor");
  if (dtype != RL_NPY_F32 && dtype != RL_NPY_U8)
    return rl_error(RL_EARG, "npy.save: unknown dtype %d (RL_NPY_F32 or RL_NPY_U8)", (int)dtype);
  return RL_OK;
}

rl_status rl_npy_save_mem(const rl_tensor *t, rl_npy_dtype dtype, void **buf, size_t *n) {
  rl_status st;
  rl_tensor *c = NULL;
  char hdr[512];
  if (!buf || !n) return rl_error(RL_EARG, "npy.save: no output buffer pointer");
  *buf = NULL;
  *n = 0;
  if ((st = check_save_args(t, dtype)) != RL_OK) return st;
  if ((st = rl__contig(t, &c)) != RL_OK) return st;
  size_t hl = make_header(c, dtype, hdr, sizeof hdr);
  size_t total = hl + (size_t)rl_tensor_numel(c) * (dtype == RL_NPY_U8 ? 1 : 4);
  sink k = {"<memory>", NULL, rl_mem_alloc(total), 0};
  if (!k.mem) {
    st = rl__nomem("npy.save");
    goto cleanup;
  }
  RL_TRY(sink_write(&k, hdr, hl));
  RL_TRY(write_data(&k, c, dtype));
  *buf = k.mem;
  *n = total;
  k.mem = NULL;
cleanup:
  rl_mem_free(k.mem);
  rl_tensor_release(c);
  return st;
}

rl_status rl_npy_save(const char *path, const rl_tensor *t, rl_npy_dtype dtype) {
  rl_status st;
  rl_tensor *c = NULL;
  char hdr[512];
  if (!path) return rl_error(RL_EARG, "npy.save: no path");
  if ((st = check_save_args(t, dtype)) != RL_OK) return st;
  if ((st = rl__contig(t, &c)) != RL_OK) return st;
  FILE *f = fopen(path, "wb");
  if (!f) {
    st = rl_error(RL_EIO, "npy.save: %s: %s", path, strerror(errno));
    rl_tensor_release(c);
    return st;
  }
  sink k = {path, f, NULL, 0};
  size_t hl = make_header(c, dtype, hdr, sizeof hdr);
  if ((st = sink_write(&k, hdr, hl)) == RL_OK) st = write_data(&k, c, dtype);
  if (fclose(f) != 0 && st == RL_OK) st = rl_error(RL_EIO, "npy.save: %s: %s", path, strerror(errno));
  if (st != RL_OK) remove(path);
  rl_tensor_release(c);
  return st;
}

/* }==================== */
