/* pool.c: MaxPool2d, AvgPool2d and AdaptiveAvgPool2d with PyTorch's output
** sizes, windows and divisors, their input gradients and differentiable calls. */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "internal.h"
#include "nn.h"

#define PAR_MIN ((int64_t)1 << 14)
#define PARAM_MAX ((int64_t)1 << 24)

rl_pool2d_params rl_pool2d_default_params(int64_t kh, int64_t kw) {
  return (rl_pool2d_params){{kh, kw}, {kh, kw}, {0, 0}, {1, 1}, 0, 1};
}

/* {==================== geometry */

typedef struct pgeom {
  int64_t n, c, h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} pgeom;

static rl_status check_4d(const char *fn, const rl_tensor *x) {
  if (x->ndim != 4)
    return rl_error(RL_ESHAPE, "%s: input %s must be 4-D (N x C x H x W)", fn, rl_shapestr(x).s);
  return RL_OK;
}

/* PyTorch's pooling_output_shape: in ceil mode the last window must still
** start inside the input or its left padding. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
  int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
  int64_t q = num >= 0 ? num / s : -((-num + s - 1) / s); /* floor */
  int64_t o = q + 1;
  if (ceil_mode && (o - 1) * s >= in + p) o--;
  return o;
}

static rl_status pool_geom(const char *fn, const rl_tensor *x, const rl_pool2d_params *p, int avg,
                           pgeom *g) {
  rl_status st = check_4d(fn, x);
  if (st) return st;
  if (!p) return rl_error(RL_EARG, "%s: params are missing", fn);
  for (int i = 0; i < 2; i++) {
    if (p->kernel[i] < 1 || p->kernel[i] > PARAM_MAX)
      return rl_error(RL_EARG, "%s: kernel %lld x %lld must be >= 1", fn, (long long)p->kernel[0],
                      (long long)p->kernel[1]);
    if (p->stride[i] < 1 || p->stride[i] > PARAM_MAX)
      return rl_error(RL_EARG, "%s: stride %lld x %lld must be >= 1", fn, (long long)p->stride[0],
                      (long long)p->stride[1]);
    if (p->dilation[i] < 1 || p->dilation[i] > PARAM_MAX)
      return rl_error(RL_EARG, "%s: dilation %lld x %lld must be >= 1", fn,
                      (long long)p->dilation[0], (long long)p->dilation[1]);
    if (p->padding[i] < 0 || p->padding[i] > p->kernel[i] / 2)
      return rl_error(RL_EARG, "%s: padding %lld x %lld must be between 0 and half the kernel %lld x %lld",
                      fn, (long long)p->padding[0], (long long)p->padding[1], (long long)p->kernel[0],
                      (long long)p->kernel[1]);
  }
  if (avg && (p->dilation[0] != 1 || p->dilation[1] != 1))
    return rl_error(RL_EARG, "%s: dilation %lld x %lld is not supported (AvgPool2d has none)", fn,
                    (long long)p->dilation[0], (long long)p->dilation[1]);
  g->n = x->shape[0], g->c = x->shape[1], g->h = x->shape[2], g->w = x->shape[3];
  g->kh = p->kernel[0], g->kw = p->kernel[1], g->sh = p->stride[0], g->sw = p->stride[1];
  g->ph = p->padding[0], g->pw = p->padding[1], g->dh = p->dilation[0], g->dw = p->dilation[1];
  g->oh = out_size(g->h, g->kh, g->sh, g->ph, g->dh, p->ceil_mode);
  g->ow = out_size(g->w, g->kw, g->sw, g->pw, g->dw, p->ceil_mode);
  if (g->oh < 1 || g->ow < 1)
    return rl_error(RL_ESHAPE, "%s: input %s is too small for kernel %lld x %lld (dilation %lld x %lld, padding %lld x %lld): the output would be %lld x %lld",
                    fn, rl_shapestr(x).s, (long long)g->kh, (long long)g->kw, (long long)g->dh,
                    (long long)g->dw, (long long)g->ph, (long long)g->pw, (long long)g->oh,
                    (long long)g->ow);
  return RL_OK;
}

/* gy must be [N x C x oh x ow] for input x. */
static rl_status check_gy(const char *fn, const rl_tensor *gy, const rl_tensor *x, int64_t oh, int64_t ow) {
  const int64_t want[4] = {x->shape[0], x->shape[1], oh, ow};
  if (gy->ndim != 4 || memcmp(gy->shape, want, sizeof want))
    return rl_error(RL_ESHAPE, "%s: output gradient %s should be %s", fn, rl_shapestr(gy).s,
                    rl_shapestr_dims(4, want).s);
  return RL_OK;
}
/* }==================== */

/* {==================== MaxPool2d */

/* The padding counts as -infinity; the first maximum wins ties and a NaN
** wins over everything, as in PyTorch. */
rl_status rl_maxpool2d_forward(const rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y,
                               rl_tensor **indices) {
  rl_tensor *xc = NULL, *out = NULL, *idx = NULL;
  pgeom g;
  rl_status st;
  *y = NULL;
  if (indices) *indices = NULL;
  RL_TRY(pool_geom("maxpool2d", x, p, 0, &g));
  if (g.h * g.w > ((int64_t)1 << 24)) {
    st = rl_error(RL_ESHAPE, "maxpool2d: input %s has planes over 2^24 pixels (indices are float32)",
                  rl_shapestr(x).s);
    goto cleanup;
  }
  RL_TRY(rl__contig(x, &xc));
  const int64_t oshape[4] = {g.n, g.c, g.oh, g.ow};
  RL_TRY(rl_tensor_new(4, oshape, &out));
  if (indices) RL_TRY(rl_tensor_new(4, oshape, &idx));
  const float *X = rl_tensor_data(xc);
  float *Y = rl_tensor_data(out), *I = idx ? rl_tensor_data(idx) : NULL;
  const int64_t planes = g.n * g.c;
  const int nt = rl_threads();
#pragma omp parallel for num_threads(nt) if (planes * g.oh * g.ow * g.kh * g.kw > PAR_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = X + pl * g.h * g.w;
    float *yp = Y + pl * g.oh * g.ow, *ip = I ? I + pl * g.oh * g.ow : NULL;
    for (int64_t oh = 0; oh < g.oh; oh++)
      for (int64_t ow = 0; ow < g.ow; ow++) {
        const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
        float best = -INFINITY;
        int64_t at = -1;
        for (int64_t i = 0; i < g.kh; i++) {
          const int64_t ih = hs + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          for (int64_t j = 0; j < g.kw; j++) {
            const int64_t iw = ws + j * g.dw;
            if (iw < 0 || iw >= g.w) continue;
            const float v = xp[ih * g.w + iw];
            if (at < 0 || v > best || isnan(v)) best = v, at = ih * g.w + iw;
          }
        }
        yp[oh * g.ow + ow] = best;
        if (ip) ip[oh * g.ow + ow] = (float)at;
      }
  }
  *y = out;
  out = NULL;
  if (indices) *indices = idx, idx = NULL;
cleanup:
  rl_tensor_release(xc);
  rl_tensor_release(out);
  rl_tensor_release(idx);
  return st;
}

rl_status rl_maxpool2d_backward_input(const rl_tensor *x, const rl_tensor *gy,
                                      const rl_tensor *indices, rl_tensor **gx) {
  rl_tensor *gyc = NULL, *ic = NULL, *out = NULL;
  rl_status st;
  *gx = NULL;
  RL_TRY(check_4d("maxpool2d_backward_input", x));
  if (gy->ndim != 4 || gy->shape[0] != x->shape[0] || gy->shape[1] != x->shape[1] ||
      !rl_tensor_same_shape(gy, indices)) {
    st = rl_error(RL_ESHAPE, "maxpool2d_backward_input: output gradient %s and indices %s must both be [%lld x %lld x oh x ow] for input %s",
                  rl_shapestr(gy).s, rl_shapestr(indices).s, (long long)x->shape[0],
                  (long long)x->shape[1], rl_shapestr(x).s);
    goto cleanup;
  }
  RL_TRY(rl__contig(gy, &gyc));
  RL_TRY(rl__contig(indices, &ic));
  RL_TRY(rl_tensor_zeros(4, x->shape, &out));
  const float *GY = rl_tensor_data(gyc), *I = rl_tensor_data(ic);
  float *GX = rl_tensor_data(out);
  const int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
  const int64_t ohw = gy->shape[2] * gy->shape[3];
  const int nt = rl_threads();
  int64_t bad = 0;
  /* A window with no pixel (index -1) passes nothing back. */
#pragma omp parallel for num_threads(nt) if (planes * ohw > PAR_MIN) schedule(static) reduction(+ : bad)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *g = GY + pl * ohw, *ip = I + pl * ohw;
    float *d = GX + pl * hw;
    for (int64_t i = 0; i < ohw; i++) {
      const float f = ip[i];
      if (f == -1) continue;
      if (!(f >= 0 && f < (float)hw) || f != floorf(f)) {
        bad++;
        continue;
      }
      d[(int64_t)f] += g[i];
    }
  }
  if (bad) {
    st = rl_error(RL_EARG, "maxpool2d_backward_input: %lld indices are not pixels of a %lld x %lld plane",
                  (long long)bad, (long long)x->shape[2], (long long)x->shape[3]);
    goto cleanup;
  }
  *gx = out;
  out = NULL;
cleanup:
  rl_tensor_release(gyc);
  rl_tensor_release(ic);
  rl_tensor_release(out);
  return st;
}

static rl_status maxpool_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  (void)n;
  return rl_maxpool2d_forward(in[0], attr, out, aux);
}

/* The winners are those of the recorded forward (aux), also when a rule
** passes other inputs: gradient and relevance go where the maxima were. */
static rl_status maxpool_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  rl_tensor *y = NULL, *idx = NULL;
  rl_status st = RL_OK;
  (void)n, (void)out;
  if (!needs[0]) return RL_OK;
  if (!aux) {
    if ((st = rl_maxpool2d_forward(in[0], attr, &y, &idx))) return st;
    aux = idx;
  }
  st = rl_maxpool2d_backward_input(in[0], gout, aux, &gin[0]);
  rl_tensor_release(y);
  rl_tensor_release(idx);
  return st;
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_maxpool2d = {"maxpool2d", 1, 1, input_only, maxpool_fwd, maxpool_bwd};

rl_status rl_maxpool2d(rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y) {
  *y = NULL;
  if (!p) return rl_error(RL_EARG, "maxpool2d: params are missing");
  return rl_op_apply(&rl_op_maxpool2d, p, sizeof *p, 1, &x, y);
}
/* }==================== */

/* {==================== AvgPool2d */

/* PyTorch's window: clipped to the padded input first (that size is the
** divisor with count_include_pad), then to the input itself (the divisor
** without). Returns the divisor, 0 for a window with no pixel. */
static int64_t avg_window(const pgeom *g, int include_pad, int64_t oh, int64_t ow, int64_t *h0,
                          int64_t *h1, int64_t *w0, int64_t *w1) {
  int64_t hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
  int64_t he = hs + g->kh < g->h + g->ph ? hs + g->kh : g->h + g->ph;
  int64_t we = ws + g->kw < g->w + g->pw ? ws + g->kw : g->w + g->pw;
  int64_t padded = (he - hs) * (we - ws);
  *h0 = hs > 0 ? hs : 0, *w0 = ws > 0 ? ws : 0;
  *h1 = he < g->h ? he : g->h, *w1 = we < g->w ? we : g->w;
  if (*h0 >= *h1 || *w0 >= *w1) return 0;
  return include_pad ? padded : (*h1 - *h0) * (*w1 - *w0);
}

rl_status rl_avgpool2d_forward(const rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y) {
  rl_tensor *xc = NULL, *out = NULL;
  pgeom g;
  rl_status st;
  *y = NULL;
  RL_TRY(pool_geom("avgpool2d", x, p, 1, &g));
  RL_TRY(rl__contig(x, &xc));
  RL_TRY(rl_tensor_new(4, (int64_t[]){g.n, g.c, g.oh, g.ow}, &out));
  const float *X = rl_tensor_data(xc);
  float *Y = rl_tensor_data(out);
  const int64_t planes = g.n * g.c;
  const int incl = p->count_include_pad, nt = rl_threads();
#pragma omp parallel for num_threads(nt) if (planes * g.oh * g.ow * g.kh * g.kw > PAR_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = X + pl * g.h * g.w;
    float *yp = Y + pl * g.oh * g.ow;
    for (int64_t oh = 0; oh < g.oh; oh++)
      for (int64_t ow = 0; ow < g.ow; ow++) {
        int64_t h0, h1, w0, w1, div = avg_window(&g, incl, oh, ow, &h0, &h1, &w0, &w1);
        float s = 0;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * g.w + iw];
        yp[oh * g.ow + ow] = div ? s / (float)div : 0;
      }
  }
  *y = out;
  out = NULL;
cleanup:
  rl_tensor_release(xc);
  rl_tensor_release(out);
  return st;
}

rl_status rl_avgpool2d_backward_input(const rl_tensor *x, const rl_tensor *gy,
                                      const rl_pool2d_params *p, rl_tensor **gx) {
  rl_tensor *gyc = NULL, *out = NULL;
  pgeom g;
  rl_status st;
  *gx = NULL;
  RL_TRY(pool_geom("avgpool2d_backward_input", x, p, 1, &g));
  RL_TRY(check_gy("avgpool2d_backward_input", gy, x, g.oh, g.ow));
  RL_TRY(rl__contig(gy, &gyc));
  RL_TRY(rl_tensor_zeros(4, x->shape, &out));
  const float *GY = rl_tensor_data(gyc);
  float *GX = rl_tensor_data(out);
  const int64_t planes = g.n * g.c;
  const int incl = p->count_include_pad, nt = rl_threads();
#pragma omp parallel for num_threads(nt) if (planes * g.oh * g.ow * g.kh * g.kw > PAR_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *dp = GX + pl * g.h * g.w;
    const float *gp = GY + pl * g.oh * g.ow;
    for (int64_t oh = 0; oh < g.oh; oh++)
      for (int64_t ow = 0; ow < g.ow; ow++) {
        int64_t h0, h1, w0, w1, div = avg_window(&g, incl, oh, ow, &h0, &h1, &w0, &w1);
        if (!div) continue;
        const float v = gp[oh * g.ow + ow] / (float)div;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) dp[ih * g.w + iw] += v;
      }
  }
  *gx = out;
  out = NULL;
cleanup:
  rl_tensor_release(gyc);
  rl_tensor_release(out);
  return st;
}

static rl_status avgpool_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  (void)n;
  *aux = NULL;
  return rl_avgpool2d_forward(in[0], attr, out);
}

static rl_status avgpool_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  (void)n, (void)out, (void)aux;
  return needs[0] ? rl_avgpool2d_backward_input(in[0], gout, attr, &gin[0]) : RL_OK;
}

const rl_opdef rl_op_avgpool2d = {"avgpool2d", 1, 1, input_only, avgpool_fwd, avgpool_bwd};

rl_status rl_avgpool2d(rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y) {
  *y = NULL;
  if (!p) return rl_error(RL_EARG, "avgpool2d: params are missing");
  return rl_op_apply(&rl_op_avgpool2d, p, sizeof *p, 1, &x, y);
}
/* }==================== */

/* {==================== AdaptiveAvgPool2d */

typedef struct adaptive_attr { int64_t oh, ow; } adaptive_attr;

static rl_status check_adaptive(const char *fn, const rl_tensor *x, int64_t oh, int64_t ow) {
  rl_status st = check_4d(fn, x);
  if (st) return st;
  if (oh < 1 || ow < 1 || oh > PARAM_MAX || ow > PARAM_MAX)
    return rl_error(RL_EARG, "%s: output size %lld x %lld must be >= 1", fn, (long long)oh, (long long)ow);
  return RL_OK;
}

static inline int64_t bin_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
static inline int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

rl_status rl_adaptive_avgpool2d_forward(const rl_tensor *x, int64_t oh, int64_t ow, rl_tensor **y) {
  rl_tensor *xc = NULL, *out = NULL;
  rl_status st;
  *y = NULL;
  RL_TRY(check_adaptive("adaptive_avgpool2d", x, oh, ow));
  RL_TRY(rl__contig(x, &xc));
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
  RL_TRY(rl_tensor_new(4, (int64_t[]){n, c, oh, ow}, &out));
  const float *X = rl_tensor_data(xc);
  float *Y = rl_tensor_data(out);
  const int64_t planes = n * c;
  const int nt = rl_threads();
#pragma omp parallel for num_threads(nt) if (planes * h * w > PAR_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = X + pl * h * w;
    float *yp = Y + pl * oh * ow;
    for (int64_t i = 0; i < oh; i++) {
      const int64_t h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
      for (int64_t j = 0; j < ow; j++) {
        const int64_t w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
        float s = 0;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * w + iw];
        yp[i * ow + j] = s / (float)((h1 - h0) * (w1 - w0));
      }
    }
  }
  *y = out;
  out = NULL;
cleanup:
  rl_tensor_release(xc);
  rl_tensor_release(out);
  return st;
}

/* The output size is gy's. */
rl_status rl_adaptive_avgpool2d_backward_input(const rl_tensor *x, const rl_tensor *gy, rl_tensor **gx) {
  rl_tensor *gyc = NULL, *out = NULL;
  rl_status st;
  *gx = NULL;
  RL_TRY(check_4d("adaptive_avgpool2d_backward_input", x));
  if (gy->ndim != 4 || gy->shape[0] != x->shape[0] || gy->shape[1] != x->shape[1]) {
    st = rl_error(RL_ESHAPE, "adaptive_avgpool2d_backward_input: output gradient %s should be [%lld x %lld x oh x ow] for input %s",
                  rl_shapestr(gy).s, (long long)x->shape[0], (long long)x->shape[1], rl_shapestr(x).s);
    goto cleanup;
  }
  RL_TRY(rl__contig(gy, &gyc));
  RL_TRY(rl_tensor_zeros(4, x->shape, &out));
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
  const int64_t oh = gy->shape[2], ow = gy->shape[3], planes = n * c;
  const float *GY = rl_tensor_data(gyc);
  float *GX = rl_tensor_data(out);
  const int nt = rl_threads();
#pragma omp parallel for num_threads(nt) if (planes * h * w > PAR_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *dp = GX + pl * h * w;
    const float *gp = GY + pl * oh * ow;
    for (int64_t i = 0; i < oh; i++) {
      const int64_t h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
      for (int64_t j = 0; j < ow; j++) {
        const int64_t w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
        const float v = gp[i * ow + j] / (float)((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) dp[ih * w + iw] += v;
      }
    }
  }
  *gx = out;
  out = NULL;
cleanup:
  rl_tensor_release(gyc);
  rl_tensor_release(out);
  return st;
}

static rl_status adaptive_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                              rl_tensor **aux) {
  const adaptive_attr *a = attr;
  (void)n;
  *aux = NULL;
  return rl_adaptive_avgpool2d_forward(in[0], a->oh, a->ow, out);
}

static rl_status adaptive_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                              const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                              rl_tensor **gin) {
  (void)attr, (void)n, (void)out, (void)aux;
  return needs[0] ? rl_adaptive_avgpool2d_backward_input(in[0], gout, &gin[0]) : RL_OK;
}

const rl_opdef rl_op_adaptive_avgpool2d = {"adaptive_avgpool2d", 1, 1, input_only, adaptive_fwd,
                                           adaptive_bwd};

rl_status rl_adaptive_avgpool2d(rl_tensor *x, int64_t oh, int64_t ow, rl_tensor **y) {
  adaptive_attr a = {oh, ow};
  return rl_op_apply(&rl_op_adaptive_avgpool2d, &a, sizeof a, 1, &x, y);
}
/* }==================== */
