/* tensor.c: storage, creation, views, copies and the random generator. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

/* {==================== storage and structs */

static rl_status storage_new(const char *fn, int64_t n, rl_storage **out) {
  *out = NULL;
  if ((uint64_t)n > SIZE_MAX / sizeof(float)) return rl__nomem(fn);
  rl_storage *s = rl_mem_alloc(sizeof *s);
  if (!s) return rl__nomem(fn);
  s->data = rl_mem_alloc((size_t)n * sizeof(float));
  if (!s->data) {
    rl_mem_free(s);
    return rl__nomem(fn);
  }
  s->size = n;
  s->refcount = 1;
  *out = s;
  return RL_OK;
}

static void storage_release(rl_storage *s) {
  if (s && --s->refcount == 0) {
    rl_mem_free(s->data);
    rl_mem_free(s);
  }
}

void rl__contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d];
  }
}

rl_status rl__check_shape(const char *fn, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "%s: %d dims (a tensor has 0 to %d)", fn, ndim, RL_MAX_DIMS);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 1)
      return rl_error(RL_ESHAPE, "%s: dim %d of %s is %s (sizes must be >= 1)", fn, d + 1,
                      rl_shapestr_dims(ndim, shape).s, shape[d] ? "negative" : "zero");
    if (shape[d] > ((int64_t)1 << 40) / n)
      return rl_error(RL_ESHAPE, "%s: shape %s is too large", fn, rl_shapestr_dims(ndim, shape).s);
    n *= shape[d];
  }
  return RL_OK;
}

static rl_tensor *struct_new(void) {
  rl_tensor *t = rl_mem_calloc(sizeof *t);
  if (t) t->refcount = 1;
  return t;
}

rl_status rl__view(const rl_tensor *src, int ndim, const int64_t *shape, const int64_t *stride,
                   int64_t offset, rl_tensor **out) {
  *out = NULL;
  rl_tensor *t = struct_new();
  if (!t) return rl__nomem("view");
  t->ndim = ndim;
  if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
  if (ndim) memcpy(t->stride, stride, (size_t)ndim * sizeof *stride);
  t->offset = offset;
  t->storage = src->storage;
  src->storage->refcount++;
  *out = t;
  return RL_OK;
}

void rl_tensor_retain(rl_tensor *t) {
  if (t) t->refcount++;
}

void rl__node_release(struct rl_node *nd); /* tape.c */

void rl_tensor_release(rl_tensor *t) {
  if (!t || --t->refcount > 0) return;
  storage_release(t->storage);
  rl__node_release(t->node);
  rl_mem_free(t);
}
/* }==================== */

/* {==================== creation */

static rl_status create(const char *fn, int ndim, const int64_t *shape, rl_tensor **out) {
  *out = NULL;
  rl_status st = rl__check_shape(fn, ndim, shape);
  if (st) return st;
  rl_tensor *t = struct_new();
  if (!t) return rl__nomem(fn);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  if ((st = storage_new(fn, n, &t->storage)) != RL_OK) {
    rl_mem_free(t);
    return st;
  }
  t->ndim = ndim;
  if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
  rl__contiguous_strides(ndim, shape, t->stride);
  *out = t;
  return RL_OK;
}

rl_status rl_tensor_new(int ndim, const int64_t *shape, rl_tensor **out) {
  return create("tensor.new", ndim, shape, out);
}

rl_status rl_tensor_full(int ndim, const int64_t *shape, float v, rl_tensor **out) {
  rl_status st = create("tensor.full", ndim, shape, out);
  if (st == RL_OK) rl_tensor_fill_(*out, v);
  return st;
}

rl_status rl_tensor_zeros(int ndim, const int64_t *shape, rl_tensor **out) {
  rl_status st = create("tensor.zeros", ndim, shape, out);
  if (st == RL_OK) memset((*out)->storage->data, 0, (size_t)(*out)->storage->size * sizeof(float));
  return st;
}

rl_status rl_tensor_ones(int ndim, const int64_t *shape, rl_tensor **out) {
  return rl_tensor_full(ndim, shape, 1.0f, out);
}

rl_status rl_tensor_new_like(const rl_tensor *t, rl_tensor **out) {
  return create("tensor.new_like", t->ndim, t->shape, out);
}

rl_status rl_tensor_zeros_like(const rl_tensor *t, rl_tensor **out) {
  return rl_tensor_zeros(t->ndim, t->shape, out);
}

rl_status rl_tensor_from_data(int ndim, const int64_t *shape, const float *data, rl_tensor **out) {
  rl_status st = create("tensor.from_data", ndim, shape, out);
  if (st == RL_OK) memcpy((*out)->storage->data, data, (size_t)(*out)->storage->size * sizeof(float));
  return st;
}

rl_status rl_tensor_scalar(float v, rl_tensor **out) { return rl_tensor_full(0, NULL, v, out); }

rl_status rl_tensor_arange(double start, double stop, double step, rl_tensor **out) {
  *out = NULL;
  if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step))
    return rl_error(RL_EARG, "arange: start %g, stop %g, step %g (step must be non-zero and all finite)",
                    start, stop, step);
  double nd = ceil((stop - start) / step);
  if (nd < 1)
    return rl_error(RL_ESHAPE, "arange: [%g, %g) with step %g is empty", start, stop, step);
  if (nd > (double)((int64_t)1 << 40)) return rl_error(RL_ESHAPE, "arange: too many elements");
  int64_t n = (int64_t)nd;
  rl_status st = create("arange", 1, &n, out);
  if (st) return st;
  float *p = (*out)->storage->data;
  for (int64_t i = 0; i < n; i++) p[i] = (float)(start + (double)i * step);
  return RL_OK;
}

rl_status rl_tensor_linspace(double a, double b, int64_t n, rl_tensor **out) {
  *out = NULL;
  if (n < 1) return rl_error(RL_ESHAPE, "linspace: %lld points (need >= 1)", (long long)n);
  rl_status st = create("linspace", 1, &n, out);
  if (st) return st;
  float *p = (*out)->storage->data;
  for (int64_t i = 0; i < n; i++) p[i] = (float)(n == 1 ? a : a + (b - a) * (double)i / (double)(n - 1));
  return RL_OK;
}
/* }==================== */

/* {==================== random: xoshiro256** (Blackman & Vigna), splitmix64 seeding */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void rl_rng_seed(rl_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static _Thread_local rl_rng global_rng;
static _Thread_local int global_seeded;

rl_rng *rl_rng_global(void) {
  if (!global_seeded) {
    rl_rng_seed(&global_rng, 0);
    global_seeded = 1;
  }
  return &global_rng;
}

void rl_seed(uint64_t seed) {
  rl_rng_seed(&global_rng, seed);
  global_seeded = 1;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rl_rng_next(rl_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double rl_rng_uniform(rl_rng *r) { return (double)(rl_rng_next(r) >> 11) * 0x1.0p-53; }

double rl_rng_normal(rl_rng *r) {
  /* Box-Muller, one draw per call (no cached second value: simpler state,
  ** and a tensor of n normals costs 2n uniforms either way on the cos side). */
  double u1 = 1.0 - rl_rng_uniform(r); /* (0, 1] */
  double u2 = rl_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

rl_status rl_tensor_rand_uniform(int ndim, const int64_t *shape, float lo, float hi, rl_rng *r,
                                 rl_tensor **out) {
  *out = NULL;
  if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
    return rl_error(RL_EARG, "rand: bounds [%g, %g) (need finite lo <= hi)", lo, hi);
  rl_status st = create("rand", ndim, shape, out);
  if (st) return st;
  if (!r) r = rl_rng_global();
  float *p = (*out)->storage->data;
  for (int64_t i = 0, n = (*out)->storage->size; i < n; i++)
    p[i] = (float)(lo + (hi - lo) * rl_rng_uniform(r));
  return RL_OK;
}

rl_status rl_tensor_rand_normal(int ndim, const int64_t *shape, float mean, float std, rl_rng *r,
                                rl_tensor **out) {
  *out = NULL;
  if (!(std >= 0) || !isfinite(mean) || !isfinite(std))
    return rl_error(RL_EARG, "randn: mean %g, std %g (need finite, std >= 0)", mean, std);
  rl_status st = create("randn", ndim, shape, out);
  if (st) return st;
  if (!r) r = rl_rng_global();
  float *p = (*out)->storage->data;
  for (int64_t i = 0, n = (*out)->storage->size; i < n; i++)
    p[i] = (float)(mean + std * rl_rng_normal(r));
  return RL_OK;
}
/* }==================== */

/* {==================== queries */

int64_t rl_tensor_numel(const rl_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

int rl_tensor_is_contiguous(const rl_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != s) return 0;
    s *= t->shape[d];
  }
  return 1;
}

int rl_tensor_same_shape(const rl_tensor *a, const rl_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return 1;
}

float *rl_tensor_data(const rl_tensor *t) { return t->storage->data + t->offset; }

float rl_tensor_get(const rl_tensor *t, const int64_t *idx) {
  int64_t o = t->offset;
  for (int d = 0; d < t->ndim; d++) o += idx[d] * t->stride[d];
  return t->storage->data[o];
}

rl_status rl_check_dim(const char *fn, int dim, int ndim, int *out) {
  int d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim)
    return rl_error(RL_EARG, "%s: dim %d is out of range for a %d-dim tensor", fn, dim, ndim);
  *out = d;
  return RL_OK;
}

rl_status rl_broadcast_shape(const char *fn, const rl_tensor *a, const rl_tensor *b, int *ndim,
                             int64_t *shape) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int da = a->ndim - n + i, db = b->ndim - n + i;
    int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      return rl_error(RL_ESHAPE, "%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", fn,
                      rl_shapestr(a).s, rl_shapestr(b).s, i + 1, (long long)sa, (long long)sb);
    shape[i] = sa == 1 ? sb : sa;
  }
  *ndim = n;
  return RL_OK;
}
/* }==================== */

/* {==================== copies */

void rl__copy(rl_tensor *dst, const rl_tensor *src) {
  if (rl_tensor_is_contiguous(dst) && rl_tensor_is_contiguous(src)) {
    memmove(rl_tensor_data(dst), rl_tensor_data(src), (size_t)rl_tensor_numel(dst) * sizeof(float));
    return;
  }
  float *d = rl_tensor_data(dst);
  const float *s = rl_tensor_data(src);
  rl_iter it;
  rl_iter_init(&it, dst->ndim, dst->shape, 2, (const int64_t *[]){dst->stride, src->stride});
  do {
    float *pd = d + it.off[0];
    const float *ps = s + it.off[1];
    int64_t id = it.inner[0], is = it.inner[1];
    for (int64_t i = 0; i < it.n; i++) pd[i * id] = ps[i * is];
  } while (rl_iter_next(&it));
}

rl_status rl__expand(const rl_tensor *t, int ndim, const int64_t *shape, rl_tensor **out) {
  int64_t stride[RL_MAX_DIMS];
  *out = NULL;
  if (ndim < t->ndim || ndim > RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "expand: cannot expand %s to %s", rl_shapestr(t).s,
                    rl_shapestr_dims(ndim, shape).s);
  for (int i = 0; i < ndim; i++) {
    int dt = t->ndim - ndim + i;
    if (dt < 0) {
      stride[i] = 0;
    } else if (t->shape[dt] == shape[i]) {
      stride[i] = t->stride[dt];
    } else if (t->shape[dt] == 1) {
      stride[i] = 0;
    } else {
      return rl_error(RL_ESHAPE, "expand: cannot expand %s to %s (dim %d)", rl_shapestr(t).s,
                      rl_shapestr_dims(ndim, shape).s, i + 1);
    }
  }
  rl_status st = rl__check_shape("expand", ndim, shape);
  if (st) return st;
  return rl__view(t, ndim, shape, stride, t->offset, out);
}

rl_status rl_tensor_copy_(rl_tensor *dst, const rl_tensor *src) {
  rl_tensor *e;
  rl_status st = rl__expand(src, dst->ndim, dst->shape, &e);
  if (st) return rl_error(st, "copy: source %s does not broadcast to destination %s",
                          rl_shapestr(src).s, rl_shapestr(dst).s);
  rl__copy(dst, e);
  rl_tensor_release(e);
  return RL_OK;
}

void rl_tensor_fill_(rl_tensor *t, float v) {
  float *d = rl_tensor_data(t);
  rl_iter it;
  rl_iter_init(&it, t->ndim, t->shape, 1, (const int64_t *[]){t->stride});
  do {
    float *p = d + it.off[0];
    for (int64_t i = 0; i < it.n; i++) p[i * it.inner[0]] = v;
  } while (rl_iter_next(&it));
}

rl_status rl_tensor_clone(const rl_tensor *t, rl_tensor **out) {
  rl_status st = create("clone", t->ndim, t->shape, out);
  if (st == RL_OK) rl__copy(*out, t);
  return st;
}

rl_status rl__contig(const rl_tensor *t, rl_tensor **out) {
  if (rl_tensor_is_contiguous(t)) {
    rl__view(t, t->ndim, t->shape, t->stride, t->offset, out);
    return *out ? RL_OK : rl__nomem("contiguous");
  }
  return rl_tensor_clone(t, out);
}

rl_status rl_sum_to_shape(const rl_tensor *g, int ndim, const int64_t *shape, rl_tensor **out) {
  *out = NULL;
  if (ndim == g->ndim && (ndim == 0 || memcmp(shape, g->shape, (size_t)ndim * sizeof *shape) == 0)) {
    rl_tensor_retain((rl_tensor *)g);
    *out = (rl_tensor *)g;
    return RL_OK;
  }
  rl_tensor *r = NULL, *rv = NULL;
  rl_status st = rl_tensor_zeros(ndim, shape, &r);
  if (st) return st;
  /* r viewed with g's shape, stride 0 where it was broadcast: accumulate. */
  if ((st = rl__expand(r, g->ndim, g->shape, &rv)) != RL_OK) {
    rl_tensor_release(r);
    return rl_error(st, "sum_to_shape: %s cannot be summed to %s", rl_shapestr(g).s,
                    rl_shapestr_dims(ndim, shape).s);
  }
  float *d = rl_tensor_data(rv);
  const float *s = rl_tensor_data(g);
  rl_iter it;
  rl_iter_init(&it, g->ndim, g->shape, 2, (const int64_t *[]){rv->stride, g->stride});
  do {
    float *pd = d + it.off[0];
    const float *ps = s + it.off[1];
    for (int64_t i = 0; i < it.n; i++) pd[i * it.inner[0]] += ps[i * it.inner[1]];
  } while (rl_iter_next(&it));
  rl_tensor_release(rv);
  *out = r;
  return RL_OK;
}
/* }==================== */
