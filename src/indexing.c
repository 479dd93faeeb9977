/* indexing.c: gather and scatter along a dim by float index tensors, and cat. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

typedef struct index_attr {
  int dim;
  int accumulate; /* scatter: add instead of overwrite */
} index_attr;

/* {==================== index tensors */

/* "[0, 2]": a position in an index tensor, for messages. */
typedef struct posbuf { char s[RL_MAX_DIMS * 22 + 4]; } posbuf;

static posbuf posstr(int ndim, const int64_t *row, int64_t last) {
  posbuf b;
  size_t len = 0;
  b.s[len++] = '[';
  for (int d = 0; d < ndim; d++) {
    long long v = d == ndim - 1 ? (long long)last : (long long)row[d];
    len += (size_t)snprintf(b.s + len, sizeof b.s - len, d ? ", %lld" : "%lld", v);
  }
  snprintf(b.s + len, sizeof b.s - len, "]");
  return b;
}

/* Every value of index must be a whole number in [0, size): size is t's
** extent along dim d. Checked before anything is written. */
static rl_status check_values(const char *fn, const rl_tensor *index, int d, const rl_tensor *t) {
  const float *ix = rl_tensor_data(index);
  int64_t size = t->shape[d];
  rl_iter it;
  rl_iter_init(&it, index->ndim, index->shape, 1, (const int64_t *[]){index->stride});
  do {
    const float *p = ix + it.off[0];
    for (int64_t i = 0; i < it.n; i++) {
      float v = p[i * it.inner[0]];
      if (v >= 0 && v < (float)size && v == floorf(v)) continue;
      if (v != floorf(v)) /* also NaN and infinities */
        return rl_error(RL_EARG, "%s: index %g at %s is not a whole number", fn, (double)v,
                        posstr(index->ndim, it.idx, i).s);
      return rl_error(RL_EARG, "%s: index %g at %s is out of range for dim %d (size %lld) of %s",
                      fn, (double)v, posstr(index->ndim, it.idx, i).s, d + 1, (long long)size,
                      rl_shapestr(t).s);
    }
  } while (rl_iter_next(&it));
  return RL_OK;
}

/* index must have t's ndim, fit inside t except along d, and (scatter)
** inside src everywhere. */
static rl_status check_shapes(const char *fn, const rl_tensor *t, int d, const rl_tensor *index,
                              const rl_tensor *src) {
  if (index->ndim != t->ndim || (src && src->ndim != t->ndim))
    return rl_error(RL_ESHAPE, "%s: input %s, index %s%s%s: all need the same number of dims", fn,
                    rl_shapestr(t).s, rl_shapestr(index).s, src ? " and source " : "",
                    src ? rl_shapestr(src).s : "");
  for (int e = 0; e < t->ndim; e++) {
    if (e != d && index->shape[e] > t->shape[e])
      return rl_error(RL_ESHAPE, "%s: index %s is larger than input %s in dim %d", fn,
                      rl_shapestr(index).s, rl_shapestr(t).s, e + 1);
    if (src && index->shape[e] > src->shape[e])
      return rl_error(RL_ESHAPE, "%s: index %s is larger than source %s in dim %d", fn,
                      rl_shapestr(index).s, rl_shapestr(src).s, e + 1);
  }
  return RL_OK;
}

/* t's strides with the one along d set to 0: walking index's shape with
** them gives the offset of the element at coordinate 0 of dim d. */
static void strides_without(const rl_tensor *t, int d, int64_t *st) {
  memcpy(st, t->stride, sizeof t->stride);
  st[d] = 0;
}

enum { WRITE_SET, WRITE_ADD, WRITE_ZERO };

/* For every position p of index: dst[p with dim d := index[p]] is set to,
** or incremented by, src[p], or zeroed (src unused). Row-major order, so
** with repeated indices the last write wins. */
static void scatter_kernel(rl_tensor *dst, int d, const rl_tensor *index, const rl_tensor *src,
                           int how) {
  int64_t dz[RL_MAX_DIMS], sd = dst->stride[d];
  float *o = rl_tensor_data(dst);
  const float *ix = rl_tensor_data(index), *s = src ? rl_tensor_data(src) : NULL;
  const int64_t *ss = src ? src->stride : index->stride;
  strides_without(dst, d, dz);
  rl_iter it;
  rl_iter_init(&it, index->ndim, index->shape, 3, (const int64_t *[]){dz, index->stride, ss});
  do {
    float *po = o + it.off[0];
    const float *pi = ix + it.off[1];
    const int64_t io = it.inner[0], ii = it.inner[1], is = it.inner[2];
    if (how == WRITE_ZERO) {
      for (int64_t i = 0; i < it.n; i++) po[i * io + (int64_t)pi[i * ii] * sd] = 0;
      continue;
    }
    const float *ps = s + it.off[2];
    if (how == WRITE_ADD)
      for (int64_t i = 0; i < it.n; i++) po[i * io + (int64_t)pi[i * ii] * sd] += ps[i * is];
    else
      for (int64_t i = 0; i < it.n; i++) po[i * io + (int64_t)pi[i * ii] * sd] = ps[i * is];
  } while (rl_iter_next(&it));
}

/* A backward may run on other inputs than the recorded ones (rules do
** that): everything the forward checked is checked again, and grad_out
** must have the shape of like. */
static rl_status check_again(const char *fn, const index_attr *a, const rl_tensor *t,
                             const rl_tensor *index, const rl_tensor *src, const rl_tensor *gout,
                             const rl_tensor *like, int *d) {
  rl_status st;
  if ((st = rl_check_dim(fn, a->dim, t->ndim, d)) || (st = check_shapes(fn, t, *d, index, src)) ||
      (st = check_values(fn, index, *d, t)))
    return st;
  if (!rl_tensor_same_shape(gout, like))
    return rl_error(RL_ESHAPE, "%s: grad_output %s does not match the output %s", fn,
                    rl_shapestr(gout).s, rl_shapestr(like).s);
  return RL_OK;
}
/* }==================== */

/* {==================== gather */

static rl_status gather_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const index_attr *a = attr;
  const rl_tensor *t = in[0], *index = in[1];
  int64_t tz[RL_MAX_DIMS];
  int d;
  rl_status st;
  (void)n;
  *aux = NULL;
  if ((st = rl_check_dim("gather", a->dim, t->ndim, &d)) ||
      (st = check_shapes("gather", t, d, index, NULL)) ||
      (st = check_values("gather", index, d, t)) || (st = rl_tensor_new_like(index, out)))
    return st;
  float *o = rl_tensor_data(*out);
  const float *ix = rl_tensor_data(index), *td = rl_tensor_data(t);
  int64_t sd = t->stride[d];
  strides_without(t, d, tz);
  rl_iter it;
  rl_iter_init(&it, index->ndim, index->shape, 3,
               (const int64_t *[]){(*out)->stride, index->stride, tz});
  do {
    float *po = o + it.off[0];
    const float *pi = ix + it.off[1], *pt = td + it.off[2];
    const int64_t ii = it.inner[1], it_ = it.inner[2];
    for (int64_t i = 0; i < it.n; i++) po[i] = pt[i * it_ + (int64_t)pi[i * ii] * sd];
  } while (rl_iter_next(&it));
  return RL_OK;
}

/* The input's gradient is grad_out added back where it was gathered from. */
static rl_status gather_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  const index_attr *a = attr;
  int d;
  rl_status st;
  (void)n, (void)out, (void)aux;
  if ((st = check_again("gather", a, in[0], in[1], NULL, gout, in[1], &d))) return st;
  if (!needs[0]) return RL_OK;
  st = rl_tensor_zeros_like(in[0], &gin[0]);
  if (st == RL_OK) scatter_kernel(gin[0], d, in[1], gout, WRITE_ADD);
  return st;
}

static const char *const gather_inputs[] = {"input", "index"};
const rl_opdef rl_op_gather = {"gather", 2, 2, gather_inputs, gather_fwd, gather_bwd};

rl_status rl_gather(rl_tensor *t, int dim, rl_tensor *index, rl_tensor **out) {
  index_attr a = {.dim = dim};
  return rl_op_apply(&rl_op_gather, &a, sizeof a, 2, (rl_tensor *[]){t, index}, out);
}
/* }==================== */

/* {==================== scatter */

static rl_status scatter_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  const index_attr *a = attr;
  const rl_tensor *t = in[0], *index = in[1], *src = in[2];
  const char *fn = a->accumulate ? "scatter_add" : "scatter";
  int d;
  rl_status st;
  (void)n;
  *aux = NULL;
  if ((st = rl_check_dim(fn, a->dim, t->ndim, &d)) || (st = check_shapes(fn, t, d, index, src)) ||
      (st = check_values(fn, index, d, t)) || (st = rl_tensor_clone(t, out)))
    return st;
  scatter_kernel(*out, d, index, src, a->accumulate ? WRITE_ADD : WRITE_SET);
  return RL_OK;
}

/* Without accumulate, a source element reaches the output only if no later
** one (in row-major order) wrote over it: its gradient is grad_out there,
** else 0. The winners are found by replaying the writes with positions. */
static rl_status src_grad(int d, const rl_tensor *t, const rl_tensor *index, const rl_tensor *src,
                          const rl_tensor *gout, int accumulate, rl_tensor **out) {
  int64_t cs[RL_MAX_DIMS], gz[RL_MAX_DIMS], csd, gsd = gout->stride[d], *win = NULL, pos;
  rl_tensor *g = NULL;
  rl_status st;
  RL_TRY(rl_tensor_zeros_like(src, &g));
  rl__contiguous_strides(t->ndim, t->shape, cs);
  csd = cs[d];
  cs[d] = 0;
  strides_without(gout, d, gz);
  const float *ix = rl_tensor_data(index), *go = rl_tensor_data(gout);
  float *pg = rl_tensor_data(g);
  rl_iter it;
  if (!accumulate) {
    if (!(win = rl_mem_alloc((size_t)rl_tensor_numel(t) * sizeof *win))) {
      st = rl__nomem("scatter");
      goto cleanup;
    }
    pos = 0;
    rl_iter_init(&it, index->ndim, index->shape, 2, (const int64_t *[]){cs, index->stride});
    do {
      const float *pi = ix + it.off[1];
      for (int64_t i = 0; i < it.n; i++)
        win[it.off[0] + i * it.inner[0] + (int64_t)pi[i * it.inner[1]] * csd] = pos++;
    } while (rl_iter_next(&it));
  }
  pos = 0;
  rl_iter_init(&it, index->ndim, index->shape, 4,
               (const int64_t *[]){cs, index->stride, g->stride, gz});
  do {
    const float *pi = ix + it.off[1], *pgo = go + it.off[3];
    float *pgs = pg + it.off[2];
    for (int64_t i = 0; i < it.n; i++, pos++) {
      int64_t v = (int64_t)pi[i * it.inner[1]];
      if (accumulate || win[it.off[0] + i * it.inner[0] + v * csd] == pos)
        pgs[i * it.inner[2]] = pgo[i * it.inner[3] + v * gsd];
    }
  } while (rl_iter_next(&it));
  *out = g;
  g = NULL;
cleanup:
  rl_mem_free(win);
  rl_tensor_release(g);
  return st;
}

/* The input's gradient is grad_out where no source element was written
** (everywhere, with accumulate). */
static rl_status scatter_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  const index_attr *a = attr;
  const rl_tensor *t = in[0];
  int d;
  const char *fn = a->accumulate ? "scatter_add" : "scatter";
  rl_status st = check_again(fn, a, t, in[1], in[2], gout, t, &d);
  (void)n, (void)out, (void)aux;
  if (st) return st;
  if (needs[0]) {
    if (a->accumulate) {
      st = rl__view(gout, gout->ndim, gout->shape, gout->stride, gout->offset, &gin[0]);
    } else if ((st = rl_tensor_clone(gout, &gin[0])) == RL_OK) {
      scatter_kernel(gin[0], d, in[1], NULL, WRITE_ZERO);
    }
    if (st) return st;
  }
  if (needs[2]) st = src_grad(d, t, in[1], in[2], gout, a->accumulate, &gin[2]);
  return st;
}

static const char *const scatter_inputs[] = {"input", "index", "src"};
const rl_opdef rl_op_scatter = {"scatter", 3, 3, scatter_inputs, scatter_fwd, scatter_bwd};

rl_status rl_scatter(rl_tensor *t, int dim, rl_tensor *index, rl_tensor *src, int accumulate,
                     rl_tensor **out) {
  index_attr a = {.dim = dim, .accumulate = accumulate != 0};
  return rl_op_apply(&rl_op_scatter, &a, sizeof a, 3, (rl_tensor *[]){t, index, src}, out);
}
/* }==================== */

/* {==================== cat */

typedef struct cat_attr { int dim; } cat_attr;

static rl_status cat_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                         rl_tensor **aux) {
  const cat_attr *a = attr;
  const rl_tensor *t0 = in[0];
  int64_t shape[RL_MAX_DIMS];
  int d;
  rl_status st;
  *aux = NULL;
  if (t0->ndim == 0) return rl_error(RL_ESHAPE, "cat: tensor 1 is 0-dim (nothing to join along)");
  if ((st = rl_check_dim("cat", a->dim, t0->ndim, &d))) return st;
  memcpy(shape, t0->shape, sizeof shape);
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    const rl_tensor *t = in[i];
    int same = t->ndim == t0->ndim;
    for (int e = 0; same && e < t0->ndim; e++) same = e == d || t->shape[e] == t0->shape[e];
    if (!same)
      return rl_error(RL_ESHAPE, "cat: tensor %d %s does not match tensor 1 %s except along dim %d",
                      i + 1, rl_shapestr(t).s, rl_shapestr(t0).s, d + 1);
    shape[d] += t->shape[d];
  }
  if ((st = rl_tensor_new(t0->ndim, shape, out))) return st;
  /* Each input is copied into its slab through a view on the stack: the
  ** struct only describes geometry, so nothing is allocated per input. */
  rl_tensor slab = **out;
  for (int i = 0; i < n; i++) {
    slab.shape[d] = in[i]->shape[d];
    rl__copy(&slab, in[i]);
    slab.offset += in[i]->shape[d] * slab.stride[d];
  }
  return RL_OK;
}

/* Each input's gradient is its slab of grad_out, as a view. */
static rl_status cat_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                         const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                         rl_tensor **gin) {
  const cat_attr *a = attr;
  int d = a->dim < 0 ? a->dim + gout->ndim : a->dim;
  int64_t offset = gout->offset, total = 0;
  (void)out, (void)aux;
  /* the inputs may not be the recorded ones: they must tile grad_out */
  for (int i = 0; i < n; i++) {
    int fits = d >= 0 && d < gout->ndim && in[i]->ndim == gout->ndim;
    for (int e = 0; fits && e < gout->ndim; e++) fits = e == d || in[i]->shape[e] == gout->shape[e];
    if (!fits)
      return rl_error(RL_ESHAPE, "cat: tensor %d %s does not match grad_output %s", i + 1,
                      rl_shapestr(in[i]).s, rl_shapestr(gout).s);
    total += in[i]->shape[d];
  }
  if (total != gout->shape[d])
    return rl_error(RL_ESHAPE, "cat: the inputs make %lld along dim %d, grad_output %s has %lld",
                    (long long)total, d + 1, rl_shapestr(gout).s, (long long)gout->shape[d]);
  for (int i = 0; i < n; i++) {
    if (needs[i]) {
      rl_status st = rl__view(gout, gout->ndim, in[i]->shape, gout->stride, offset, &gin[i]);
      if (st) return st;
    }
    offset += in[i]->shape[d] * gout->stride[d];
  }
  return RL_OK;
}

const rl_opdef rl_op_cat = {"cat", 1, 4096, NULL, cat_fwd, cat_bwd};

rl_status rl_cat(int n, rl_tensor *const *ts, int dim, rl_tensor **out) {
  cat_attr a = {.dim = dim};
  return rl_op_apply(&rl_op_cat, &a, sizeof a, n, ts, out);
}
/* }==================== */
