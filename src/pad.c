/* pad.c: constant, reflect and replicate padding (torch.nn.functional.pad). */
#include <string.h>

#include "internal.h"
#include "ops.h"

typedef struct pad_attr {
  int npairs;
  rl_pad_mode mode;
  float value;
  int64_t pads[2 * RL_MAX_DIMS];
} pad_attr;

/* {==================== geometry */

/* Every output coordinate along every dim maps to an input coordinate, or
** to -1 in constant padding; rows (the last dim) are walked by number. The
** leading dims without padding make independent planes: they are the unit
** of parallel work, and backward's accumulation never crosses them. */
typedef struct pad_geom {
  int ndim;
  int64_t in[RL_MAX_DIMS], out[RL_MAX_DIMS], before[RL_MAX_DIMS];
  int64_t *map[RL_MAX_DIMS]; /* into one buffer; owned by the caller of geom_init */
  int64_t planes, rows;      /* rows per plane */
} pad_geom;

/* Output shape and the checks; before[] and out[] filled. */
static rl_status geom_shape(const pad_attr *a, const rl_tensor *t, pad_geom *g) {
  if (a->mode != RL_PAD_CONSTANT && a->mode != RL_PAD_REFLECT && a->mode != RL_PAD_REPLICATE)
    return rl_error(RL_EARG, "pad: unknown mode %d", (int)a->mode);
  if (a->npairs < 0 || a->npairs > t->ndim)
    return rl_error(RL_EARG, "pad: %d pairs of padding for %s (at most one per dim)", a->npairs,
                    rl_shapestr(t).s);
  g->ndim = t->ndim;
  for (int e = 0; e < t->ndim; e++) {
    int i = t->ndim - 1 - e; /* pairs count from the last dim */
    int64_t lo = i < a->npairs ? a->pads[2 * i] : 0, hi = i < a->npairs ? a->pads[2 * i + 1] : 0;
    g->in[e] = t->shape[e];
    g->before[e] = lo;
    g->out[e] = t->shape[e] + lo + hi;
    if (g->out[e] < 1)
      return rl_error(RL_ESHAPE, "pad: padding (%lld, %lld) leaves dim %d of %s with size %lld",
                      (long long)lo, (long long)hi, e + 1, rl_shapestr(t).s, (long long)g->out[e]);
    if (a->mode == RL_PAD_REFLECT && (lo >= t->shape[e] || hi >= t->shape[e]))
      return rl_error(RL_EARG, "pad: reflect padding (%lld, %lld) of dim %d of %s must be less "
                      "than its size %lld", (long long)lo, (long long)hi, e + 1, rl_shapestr(t).s,
                      (long long)t->shape[e]);
  }
  return rl__check_shape("pad", t->ndim, g->out);
}

/* The coordinate maps, in *buf (rl_mem_free it). */
static rl_status geom_maps(rl_pad_mode mode, pad_geom *g, int64_t **buf) {
  int64_t total = 0, *p;
  for (int e = 0; e < g->ndim; e++) total += g->out[e];
  if (!(*buf = p = rl_mem_alloc((size_t)total * sizeof *p))) return rl__nomem("pad");
  int first = g->ndim - 1; /* the first dim with padding, at most the last */
  for (int e = g->ndim - 1; e >= 0; e--)
    if (g->out[e] != g->in[e] || g->before[e] != 0) first = e;
  g->planes = g->rows = 1;
  for (int e = 0; e < g->ndim; e++) {
    int64_t n = g->in[e];
    g->map[e] = p;
    for (int64_t o = 0; o < g->out[e]; o++) {
      int64_t i = o - g->before[e];
      if (i < 0 || i >= n) {
        if (mode == RL_PAD_CONSTANT) i = -1;
        else if (mode == RL_PAD_REPLICATE) i = i < 0 ? 0 : n - 1;
        else i = i < 0 ? -i : 2 * (n - 1) - i;
      }
      p[o] = i;
    }
    p += g->out[e];
    if (e < first) g->planes *= g->out[e];
    else if (e < g->ndim - 1) g->rows *= g->out[e];
  }
  return RL_OK;
}

/* Row r (counted over all dims but the last): its offset in the input with
** strides is (-1 if it lies in constant padding) and in the output with
** strides os. */
static int64_t locate(const pad_geom *g, int64_t r, const int64_t *is, const int64_t *os,
                      int64_t *oo) {
  int64_t io = 0;
  int pad = 0;
  *oo = 0;
  for (int e = g->ndim - 2; e >= 0; e--) {
    int64_t c = r % g->out[e], i = g->map[e][c];
    r /= g->out[e];
    *oo += c * os[e];
    pad |= i < 0;
    io += i * is[e];
  }
  return pad ? -1 : io;
}
/* }==================== */

/* {==================== forward and backward */

static rl_status pad_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                         rl_tensor **aux) {
  const pad_attr *a = attr;
  const rl_tensor *t = in[0];
  pad_geom g;
  int64_t *buf = NULL;
  rl_tensor *y = NULL;
  rl_status st;
  (void)n;
  *aux = NULL;
  if (t->ndim == 0) return rl_error(RL_ESHAPE, "pad: cannot pad a 0-dim tensor");
  RL_TRY(geom_shape(a, t, &g));
  RL_TRY(geom_maps(a->mode, &g, &buf));
  RL_TRY(rl_tensor_new(t->ndim, g.out, &y));
  const int L = t->ndim - 1;
  const int64_t W = g.out[L], bw = g.before[L], sw = t->stride[L];
  /* the stretch of a row copied straight from the input */
  const int64_t j0 = bw > 0 ? bw : 0, j1 = bw + g.in[L] < W ? bw + g.in[L] : W;
  const int64_t *mw = g.map[L];
  const float *src = rl_tensor_data(t), v = a->value;
  float *dst = rl_tensor_data(y);
#pragma omp parallel for schedule(static) if (g.planes > 1 && g.planes * g.rows * W > 32768)
  for (int64_t pl = 0; pl < g.planes; pl++) {
    if (rl_interrupted()) continue;
    for (int64_t r = pl * g.rows; r < (pl + 1) * g.rows; r++) {
      int64_t oo, io = locate(&g, r, t->stride, y->stride, &oo);
      float *po = dst + oo;
      if (io < 0) {
        for (int64_t j = 0; j < W; j++) po[j] = v;
        continue;
      }
      const float *pi = src + io;
      for (int64_t j = 0; j < j0; j++) po[j] = mw[j] < 0 ? v : pi[mw[j] * sw];
      if (sw == 1)
        for (int64_t j = j0; j < j1; j++) po[j] = pi[j - bw];
      else
        for (int64_t j = j0; j < j1; j++) po[j] = pi[(j - bw) * sw];
      for (int64_t j = j1; j < W; j++) po[j] = mw[j] < 0 ? v : pi[mw[j] * sw];
    }
  }
  RL_TRY(rl_check_interrupt("pad"));
  *out = y;
  y = NULL;
cleanup:
  rl_mem_free(buf);
  rl_tensor_release(y);
  return st;
}

/* Every output element that came from the input sends its gradient back
** there; reflected and replicated ones add onto the same input element. */
static rl_status pad_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                         const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                         rl_tensor **gin) {
  const pad_attr *a = attr;
  const rl_tensor *t = in[0];
  pad_geom g;
  int64_t *buf = NULL;
  rl_tensor *gx = NULL;
  rl_status st;
  (void)n, (void)out, (void)aux, (void)needs;
  if (t->ndim == 0) return rl_error(RL_ESHAPE, "pad: cannot pad a 0-dim tensor");
  RL_TRY(geom_shape(a, t, &g));
  if (gout->ndim != t->ndim || memcmp(gout->shape, g.out, (size_t)t->ndim * sizeof *g.out)) {
    st = rl_error(RL_ESHAPE, "pad: grad_output %s does not match the output %s of input %s",
                  rl_shapestr(gout).s, rl_shapestr_dims(t->ndim, g.out).s, rl_shapestr(t).s);
    goto cleanup;
  }
  RL_TRY(geom_maps(a->mode, &g, &buf));
  RL_TRY(rl_tensor_zeros_like(t, &gx));
  const int L = t->ndim - 1;
  const int64_t W = g.out[L], sg = gout->stride[L];
  const int64_t *mw = g.map[L];
  const float *gd = rl_tensor_data(gout);
  float *gxd = rl_tensor_data(gx);
#pragma omp parallel for schedule(static) if (g.planes > 1 && g.planes * g.rows * W > 32768)
  for (int64_t pl = 0; pl < g.planes; pl++) {
    if (rl_interrupted()) continue;
    for (int64_t r = pl * g.rows; r < (pl + 1) * g.rows; r++) {
      int64_t go, xo = locate(&g, r, gx->stride, gout->stride, &go);
      if (xo < 0) continue;
      float *px = gxd + xo;
      const float *pg = gd + go;
      for (int64_t j = 0; j < W; j++)
        if (mw[j] >= 0) px[mw[j]] += pg[j * sg];
    }
  }
  RL_TRY(rl_check_interrupt("pad"));
  gin[0] = gx;
  gx = NULL;
cleanup:
  rl_mem_free(buf);
  rl_tensor_release(gx);
  return st;
}

static const char *const pad_inputs[] = {"input"};
const rl_opdef rl_op_pad = {"pad", 1, 1, pad_inputs, pad_fwd, pad_bwd};

rl_status rl_pad(rl_tensor *t, int npairs, const int64_t *pads, rl_pad_mode mode, float value,
                 rl_tensor **out) {
  pad_attr a = {.npairs = npairs, .mode = mode, .value = value};
  *out = NULL;
  if (npairs < 0 || npairs > RL_MAX_DIMS)
    return rl_error(RL_EARG, "pad: %d pairs of padding for %s (at most one per dim)", npairs,
                    rl_shapestr(t).s);
  if (npairs) memcpy(a.pads, pads, (size_t)npairs * 2 * sizeof *pads);
  return rl_op_apply(&rl_op_pad, &a, sizeof a, 1, &t, out);
}
/* }==================== */
