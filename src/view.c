/* view.c: the differentiable views (narrow, select, permute, reshape, expand,
** contiguous): forward shares storage, backward routes the gradient back. */
#include <string.h>

#include "internal.h"
#include "ops.h"

typedef struct view_attr {
  int dim, ndim;
  int64_t start, len;          /* narrow; select uses start */
  int perm[RL_MAX_DIMS];       /* permute */
  int64_t shape[RL_MAX_DIMS];  /* reshape, expand */
} view_attr;

/* {==================== narrow and select */

static rl_status narrow_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const view_attr *a = attr;
  const rl_tensor *t = in[0];
  int d;
  (void)n;
  *aux = NULL;
  rl_status st = rl_check_dim("narrow", a->dim, t->ndim, &d);
  if (st) return st;
  if (a->start < 0 || a->len < 1 || a->start + a->len > t->shape[d])
    return rl_error(RL_EARG, "narrow: start %lld, length %lld out of range for dim %d of %s",
                    (long long)a->start, (long long)a->len, d + 1, rl_shapestr(t).s);
  int64_t shape[RL_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = a->len;
  return rl__view(t, t->ndim, shape, t->stride, t->offset + a->start * t->stride[d], out);
}

static rl_status select_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const view_attr *a = attr;
  const rl_tensor *t = in[0];
  int d;
  (void)n;
  *aux = NULL;
  rl_status st = rl_check_dim("select", a->dim, t->ndim, &d);
  if (st) return st;
  if (a->start < 0 || a->start >= t->shape[d])
    return rl_error(RL_EARG, "select: index %lld out of range for dim %d of %s", (long long)a->start,
                    d + 1, rl_shapestr(t).s);
  int64_t shape[RL_MAX_DIMS], stride[RL_MAX_DIMS];
  for (int i = 0, j = 0; i < t->ndim; i++)
    if (i != d) {
      shape[j] = t->shape[i];
      stride[j++] = t->stride[i];
    }
  return rl__view(t, t->ndim - 1, shape, stride, t->offset + a->start * t->stride[d], out);
}

/* Both backwards: zeros of the input's shape with grad_out written into the
** region the forward viewed (the same forward, applied to the zeros). */
static rl_status region_bwd(rl_status (*fwd)(const void *, int, rl_tensor *const *, rl_tensor **,
                                              rl_tensor **),
                            const void *attr, rl_tensor *const *in, const rl_tensor *gout,
                            rl_tensor **gin) {
  rl_tensor *z = NULL, *v = NULL, *aux = NULL;
  rl_status st;
  RL_TRY(rl_tensor_zeros_like(in[0], &z));
  RL_TRY(fwd(attr, 1, &z, &v, &aux));
  rl__copy(v, gout);
  gin[0] = z;
  z = NULL;
cleanup:
  rl_tensor_release(v);
  rl_tensor_release(z);
  return st;
}

static rl_status narrow_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  (void)n, (void)out, (void)aux, (void)needs;
  return region_bwd(narrow_fwd, attr, in, gout, gin);
}

static rl_status select_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  (void)n, (void)out, (void)aux, (void)needs;
  return region_bwd(select_fwd, attr, in, gout, gin);
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_narrow = {"narrow", 1, 1, input_only, narrow_fwd, narrow_bwd};
const rl_opdef rl_op_select = {"select", 1, 1, input_only, select_fwd, select_bwd};

rl_status rl_tensor_view_narrow(rl_tensor *t, int dim, int64_t start, int64_t len, rl_tensor **out) {
  view_attr a = {.dim = dim, .start = start, .len = len};
  return rl_op_apply(&rl_op_narrow, &a, sizeof a, 1, &t, out);
}

rl_status rl_tensor_view_select(rl_tensor *t, int dim, int64_t index, rl_tensor **out) {
  if (t->ndim == 0) {
    *out = NULL;
    return rl_error(RL_EARG, "select: cannot select from a 0-dim tensor");
  }
  view_attr a = {.dim = dim, .start = index};
  return rl_op_apply(&rl_op_select, &a, sizeof a, 1, &t, out);
}
/* }==================== */

/* {==================== permute */

static rl_status permute_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  const view_attr *a = attr;
  const rl_tensor *t = in[0];
  int seen[RL_MAX_DIMS] = {0};
  int64_t shape[RL_MAX_DIMS], stride[RL_MAX_DIMS];
  (void)n;
  *aux = NULL;
  for (int i = 0; i < t->ndim; i++) {
    int p = a->perm[i];
    if (p < 0 || p >= t->ndim || seen[p]++)
      return rl_error(RL_EARG, "permute: the dims given are not a permutation of %d dims of %s",
                      t->ndim, rl_shapestr(t).s);
    shape[i] = t->shape[p];
    stride[i] = t->stride[p];
  }
  return rl__view(t, t->ndim, shape, stride, t->offset, out);
}

static rl_status permute_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  const view_attr *a = attr;
  view_attr inv = *a;
  rl_tensor *g = (rl_tensor *)gout, *aux2 = NULL;
  (void)n, (void)in, (void)out, (void)aux, (void)needs;
  for (int i = 0; i < gout->ndim; i++) inv.perm[a->perm[i]] = i;
  rl_status st = permute_fwd(&inv, 1, &g, gin, &aux2);
  return st;
}

const rl_opdef rl_op_permute = {"permute", 1, 1, input_only, permute_fwd, permute_bwd};

rl_status rl_tensor_view_permute(rl_tensor *t, const int *perm, rl_tensor **out) {
  view_attr a = {0};
  for (int i = 0; i < t->ndim; i++) a.perm[i] = perm[i] < 0 ? perm[i] + t->ndim : perm[i];
  return rl_op_apply(&rl_op_permute, &a, sizeof a, 1, &t, out);
}

rl_status rl_tensor_view_transpose(rl_tensor *t, int d0, int d1, rl_tensor **out) {
  int a, b, perm[RL_MAX_DIMS];
  rl_status st;
  *out = NULL;
  if ((st = rl_check_dim("transpose", d0, t->ndim, &a)) || (st = rl_check_dim("transpose", d1, t->ndim, &b)))
    return st;
  for (int i = 0; i < t->ndim; i++) perm[i] = i;
  perm[a] = b;
  perm[b] = a;
  return rl_tensor_view_permute(t, perm, out);
}
/* }==================== */

/* {==================== reshape */

/* Strides for viewing t as shape without copying, when t is contiguous or
** the reshape only adds or drops size-1 dims; returns 0 if a copy is needed. */
static int view_strides(const rl_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
  if (rl_tensor_is_contiguous(t)) {
    rl__contiguous_strides(ndim, shape, stride);
    return 1;
  }
  int j = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1) {
      stride[i] = 1;
      continue;
    }
    while (j < t->ndim && t->shape[j] == 1) j++;
    if (j == t->ndim || t->shape[j] != shape[i]) return 0;
    stride[i] = t->stride[j++];
  }
  while (j < t->ndim && t->shape[j] == 1) j++;
  return j == t->ndim;
}

static rl_status resolve_shape(const rl_tensor *t, int ndim, const int64_t *in, int64_t *shape) {
  int infer = -1;
  int64_t known = 1, n = rl_tensor_numel(t);
  if (ndim < 0 || ndim > RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "reshape: %d dims (a tensor has 0 to %d)", ndim, RL_MAX_DIMS);
  for (int i = 0; i < ndim; i++) {
    shape[i] = in[i];
    if (in[i] == -1 && infer < 0) {
      infer = i;
    } else if (in[i] < 1) {
      return rl_error(RL_ESHAPE, "reshape: bad size %lld in %s (one -1 allowed, others >= 1)",
                      (long long)in[i], rl_shapestr_dims(ndim, in).s);
    } else {
      known *= in[i];
    }
  }
  if (infer >= 0) {
    if (n % known)
      return rl_error(RL_ESHAPE, "reshape: %s (%lld elements) cannot be viewed as %s", rl_shapestr(t).s,
                      (long long)n, rl_shapestr_dims(ndim, in).s);
    shape[infer] = n / known;
    known = n;
  }
  if (known != n)
    return rl_error(RL_ESHAPE, "reshape: %s (%lld elements) cannot be viewed as %s", rl_shapestr(t).s,
                    (long long)n, rl_shapestr_dims(ndim, in).s);
  return RL_OK;
}

static rl_status reshape_impl(const rl_tensor *t, int ndim, const int64_t *req, rl_tensor **out) {
  int64_t shape[RL_MAX_DIMS], stride[RL_MAX_DIMS];
  rl_status st = resolve_shape(t, ndim, req, shape);
  if (st) return st;
  if (view_strides(t, ndim, shape, stride)) return rl__view(t, ndim, shape, stride, t->offset, out);
  rl_tensor *c;
  if ((st = rl_tensor_clone(t, &c))) return st;
  rl__contiguous_strides(ndim, shape, stride);
  st = rl__view(c, ndim, shape, stride, 0, out);
  rl_tensor_release(c);
  return st;
}

static rl_status reshape_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  const view_attr *a = attr;
  (void)n;
  *aux = NULL;
  return reshape_impl(in[0], a->ndim, a->shape, out);
}

static rl_status reshape_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  (void)attr, (void)n, (void)out, (void)aux, (void)needs;
  return reshape_impl(gout, in[0]->ndim, in[0]->shape, gin);
}

const rl_opdef rl_op_reshape = {"reshape", 1, 1, input_only, reshape_fwd, reshape_bwd};

rl_status rl_tensor_view_reshape(rl_tensor *t, int ndim, const int64_t *shape, rl_tensor **out) {
  view_attr a = {.ndim = ndim};
  *out = NULL;
  if (ndim < 0 || ndim > RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "reshape: %d dims (a tensor has 0 to %d)", ndim, RL_MAX_DIMS);
  if (ndim) memcpy(a.shape, shape, (size_t)ndim * sizeof *shape);
  return rl_op_apply(&rl_op_reshape, &a, sizeof a, 1, &t, out);
}

rl_status rl_tensor_view_unsqueeze(rl_tensor *t, int dim, rl_tensor **out) {
  int64_t shape[RL_MAX_DIMS];
  int d = dim < 0 ? dim + t->ndim + 1 : dim;
  *out = NULL;
  if (d < 0 || d > t->ndim || t->ndim == RL_MAX_DIMS)
    return rl_error(RL_EARG, "unsqueeze: dim %d out of range for %s", dim, rl_shapestr(t).s);
  for (int i = 0, j = 0; i <= t->ndim; i++) shape[i] = i == d ? 1 : t->shape[j++];
  return rl_tensor_view_reshape(t, t->ndim + 1, shape, out);
}

rl_status rl_tensor_view_squeeze(rl_tensor *t, int dim, rl_tensor **out) {
  int64_t shape[RL_MAX_DIMS];
  int d;
  *out = NULL;
  rl_status st = rl_check_dim("squeeze", dim, t->ndim, &d);
  if (st) return st;
  if (t->shape[d] != 1)
    return rl_error(RL_ESHAPE, "squeeze: dim %d of %s has size %lld, not 1", d + 1, rl_shapestr(t).s,
                    (long long)t->shape[d]);
  for (int i = 0, j = 0; i < t->ndim; i++)
    if (i != d) shape[j++] = t->shape[i];
  return rl_tensor_view_reshape(t, t->ndim - 1, shape, out);
}
/* }==================== */

/* {==================== expand, contiguous, detach */

static rl_status expand_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const view_attr *a = attr;
  (void)n;
  *aux = NULL;
  return rl__expand(in[0], a->ndim, a->shape, out);
}

static rl_status expand_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  (void)attr, (void)n, (void)out, (void)aux, (void)needs;
  return rl_sum_to_shape(gout, in[0]->ndim, in[0]->shape, gin);
}

const rl_opdef rl_op_expand = {"expand", 1, 1, input_only, expand_fwd, expand_bwd};

rl_status rl_tensor_view_expand(rl_tensor *t, int ndim, const int64_t *shape, rl_tensor **out) {
  view_attr a = {.ndim = ndim};
  *out = NULL;
  if (ndim < 0 || ndim > RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "expand: %d dims (a tensor has 0 to %d)", ndim, RL_MAX_DIMS);
  if (ndim) memcpy(a.shape, shape, (size_t)ndim * sizeof *shape);
  return rl_op_apply(&rl_op_expand, &a, sizeof a, 1, &t, out);
}

static rl_status contig_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  (void)attr, (void)n;
  *aux = NULL;
  return rl__contig(in[0], out);
}

static rl_status identity_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                              const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                              rl_tensor **gin) {
  (void)attr, (void)n, (void)in, (void)out, (void)aux, (void)needs;
  return rl__contig(gout, gin);
}

const rl_opdef rl_op_contiguous = {"contiguous", 1, 1, input_only, contig_fwd, identity_bwd};

rl_status rl_tensor_contiguous(rl_tensor *t, rl_tensor **out) {
  return rl_op_apply(&rl_op_contiguous, NULL, 0, 1, &t, out);
}

rl_status rl_tensor_view_detach(rl_tensor *t, rl_tensor **out) {
  return rl__view(t, t->ndim, t->shape, t->stride, t->offset, out);
}
/* }==================== */
