/* batchnorm.c: BatchNorm2d in inference and training mode, with its full backward. */
#include <math.h>

#include "internal.h"
#include "nn.h"

/* Work (elements) below which a parallel region costs more than it saves. */
enum { PAR_MIN = 1 << 15 };

enum { BN_X, BN_GAMMA, BN_BETA, BN_MEAN, BN_VAR };

/* The input seen as N planes of C channels of S contiguous values
** (S = H * W; any trailing dims, so BatchNorm1d's [N x C] and [N x C x L]
** use the same kernel). */
typedef struct bn_geom { int64_t n, c, s; } bn_geom;

static float at(const rl_tensor *v, int64_t i) { return rl_tensor_data(v)[i * v->stride[0]]; }

static rl_status check(rl_tensor *const *in, const rl_batchnorm_params *p, bn_geom *g) {
  static const char *const names[] = {"input", "weight", "bias", "running_mean", "running_var"};
  const rl_tensor *x = in[BN_X];
  if (x->ndim < 2)
    return rl_error(RL_ESHAPE, "batchnorm2d: input %s has no channel dim (expects N x C x H x W)",
                    rl_shapestr(x).s);
  g->n = x->shape[0];
  g->c = x->shape[1];
  g->s = 1;
  for (int d = 2; d < x->ndim; d++) g->s *= x->shape[d];
  for (int i = 1; i < 5; i++) {
    const rl_tensor *v = in[i];
    if (v->ndim != 1 || v->shape[0] != g->c)
      return rl_error(RL_ESHAPE, "batchnorm2d: input %s has %lld channels, %s %s has %lld%s",
                      rl_shapestr(x).s, (long long)g->c, names[i], rl_shapestr(v).s,
                      (long long)(v->ndim ? v->shape[0] : 1), v->ndim == 1 ? "" : " (must be 1-D)");
  }
  if (!(p->eps >= 0) || isinf(p->eps))
    return rl_error(RL_EARG, "batchnorm2d: eps %g must be finite and >= 0", p->eps);
  if (!(p->momentum >= 0 && p->momentum <= 1))
    return rl_error(RL_EARG, "batchnorm2d: momentum %g must be in [0, 1]", p->momentum);
  if (p->training && g->n * g->s < 2)
    return rl_error(RL_ESHAPE,
                    "batchnorm2d: training needs more than 1 value per channel, input %s has 1",
                    rl_shapestr(x).s);
  return RL_OK;
}

/* {==================== forward */

/* y = x * scale[c] + shift[c], plane by plane. */
static void affine(const float *x, float *restrict y, const float *scale, const float *shift,
                   bn_geom g) {
#pragma omp parallel for if (g.n * g.c * g.s > PAR_MIN) schedule(static)
  for (int64_t pl = 0; pl < g.n * g.c; pl++) {
    int64_t c = pl % g.c;
    float a = scale[c], b = shift[c];
    const float *xp = x + pl * g.s;
    float *yp = y + pl * g.s;
    for (int64_t i = 0; i < g.s; i++) yp[i] = xp[i] * a + b;
  }
}

/* Batch mean and 1/sqrt(biased var + eps) per channel into stats [2 x C];
** var_unbiased gets the unbiased variance for the running estimate. */
static void batch_stats(const float *x, bn_geom g, float eps, float *stats, double *var_unbiased) {
  int64_t m = g.n * g.s;
#pragma omp parallel for if (g.n * g.c * g.s > PAR_MIN) schedule(static)
  for (int64_t c = 0; c < g.c; c++) {
    double sum = 0, sq = 0;
    for (int64_t k = 0; k < g.n; k++) {
      const float *xp = x + (k * g.c + c) * g.s;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < g.s; i++) sum += xp[i];
    }
    double mean = sum / (double)m;
    /* two passes: sum of squares minus square of sums cancels badly */
    for (int64_t k = 0; k < g.n; k++) {
      const float *xp = x + (k * g.c + c) * g.s;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = 0; i < g.s; i++) sq += (xp[i] - mean) * (xp[i] - mean);
    }
    stats[c] = (float)mean;
    stats[g.c + c] = (float)(1.0 / sqrt(sq / (double)m + eps));
    var_unbiased[c] = sq / (double)(m - 1);
  }
}

static void update_running(rl_tensor *rmean, rl_tensor *rvar, const float *stats,
                           const double *var_unbiased, int64_t c, float momentum) {
  float *pm = rl_tensor_data(rmean), *pv = rl_tensor_data(rvar);
  for (int64_t k = 0; k < c; k++) {
    float *m = pm + k * rmean->stride[0], *v = pv + k * rvar->stride[0];
    *m = (1 - momentum) * *m + momentum * stats[k];
    *v = (float)((1 - momentum) * *v + momentum * var_unbiased[k]);
  }
}

static rl_status bn_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                        rl_tensor **aux) {
  const rl_batchnorm_params *p = attr;
  rl_tensor *xc = NULL, *y = NULL, *stats = NULL;
  float *coef = NULL;
  double *var_unbiased = NULL;
  bn_geom g;
  rl_status st;
  (void)n;
  *out = *aux = NULL;
  RL_TRY(check(in, p, &g));
  RL_TRY(rl__contig(in[BN_X], &xc));
  RL_TRY(rl_tensor_new(xc->ndim, xc->shape, &y));
  if (!(coef = rl_mem_alloc((size_t)(2 * g.c) * sizeof *coef))) {
    st = rl__nomem("batchnorm2d");
    goto cleanup;
  }
  const float *x = rl_tensor_data(xc);
  float *scale = coef, *shift = coef + g.c;
  if (p->training) {
    RL_TRY(rl_tensor_new(2, (int64_t[]){2, g.c}, &stats));
    if (!(var_unbiased = rl_mem_alloc((size_t)g.c * sizeof *var_unbiased))) {
      st = rl__nomem("batchnorm2d");
      goto cleanup;
    }
    float *ps = rl_tensor_data(stats);
    batch_stats(x, g, p->eps, ps, var_unbiased);
    for (int64_t c = 0; c < g.c; c++) {
      scale[c] = ps[g.c + c] * at(in[BN_GAMMA], c);
      shift[c] = at(in[BN_BETA], c) - ps[c] * scale[c];
    }
  } else {
    for (int64_t c = 0; c < g.c; c++) {
      scale[c] = (float)(at(in[BN_GAMMA], c) / sqrt((double)at(in[BN_VAR], c) + p->eps));
      shift[c] = at(in[BN_BETA], c) - at(in[BN_MEAN], c) * scale[c];
    }
  }
  affine(x, rl_tensor_data(y), scale, shift, g);
  /* last, so that a failed call leaves the running statistics untouched */
  if (p->training)
    update_running(in[BN_MEAN], in[BN_VAR], rl_tensor_data(stats), var_unbiased, g.c, p->momentum);
  *out = y;
  *aux = stats;
  y = stats = NULL;
cleanup:
  rl_mem_free(coef);
  rl_mem_free(var_unbiased);
  rl_tensor_release(stats);
  rl_tensor_release(y);
  rl_tensor_release(xc);
  return st;
}
/* }==================== */

/* {==================== backward
** With xhat = (x - mean) * invstd, per channel over its M = N*S values:
**   dbeta = sum gy,  dgamma = sum gy * xhat,
**   inference: gx = gy * gamma * invstd (mean and invstd are constants);
**   training:  gx = gamma * invstd * (gy - dbeta / M - xhat * dgamma / M),
** the last two terms being the paths through the batch mean and variance.
** No gradient reaches the running statistics. */

static rl_status bn_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                        const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                        rl_tensor **gin) {
  const rl_batchnorm_params *p = attr;
  rl_tensor *xc = NULL, *gc = NULL, *gx = NULL, *gg = NULL, *gb = NULL;
  double *sums = NULL;
  float *coef = NULL;
  bn_geom g;
  rl_status st;
  (void)n, (void)out;
  RL_TRY(check(in, p, &g));
  if (!rl_tensor_same_shape(gout, in[BN_X])) {
    st = rl_error(RL_ESHAPE, "batchnorm2d backward: grad_output %s does not match input %s",
                  rl_shapestr(gout).s, rl_shapestr(in[BN_X]).s);
    goto cleanup;
  }
  if (p->training && (!aux || aux->ndim != 2 || aux->shape[1] != g.c)) {
    st = rl_error(RL_EARG, "batchnorm2d backward: training mode needs the forward's batch "
                           "statistics (aux)");
    goto cleanup;
  }
  int want_x = needs[BN_X], want_g = needs[BN_GAMMA], want_b = needs[BN_BETA];
  if (!want_x && !want_g && !want_b) goto cleanup;
  RL_TRY(rl__contig(in[BN_X], &xc));
  RL_TRY(rl__contig(gout, &gc));
  if (!(sums = rl_mem_alloc((size_t)(2 * g.c) * sizeof *sums)) ||
      !(coef = rl_mem_alloc((size_t)(2 * g.c) * sizeof *coef))) {
    st = rl__nomem("batchnorm2d backward");
    goto cleanup;
  }
  float *mean = coef, *invstd = coef + g.c;
  if (p->training) {
    rl_tensor *s = (rl_tensor *)aux; /* contiguous: made by bn_fwd */
    for (int64_t c = 0; c < g.c; c++) {
      mean[c] = rl_tensor_get(s, (int64_t[]){0, c});
      invstd[c] = rl_tensor_get(s, (int64_t[]){1, c});
    }
  } else {
    for (int64_t c = 0; c < g.c; c++) {
      mean[c] = at(in[BN_MEAN], c);
      invstd[c] = (float)(1.0 / sqrt((double)at(in[BN_VAR], c) + p->eps));
    }
  }
  const float *x = rl_tensor_data(xc), *gy = rl_tensor_data(gc);
  double *dbeta = sums, *dgamma = sums + g.c;
  int64_t work = g.n * g.c * g.s;
  if (want_g || want_b || p->training) {
#pragma omp parallel for if (work > PAR_MIN) schedule(static)
    for (int64_t c = 0; c < g.c; c++) {
      double sb = 0, sg = 0;
      float m = mean[c];
      for (int64_t k = 0; k < g.n; k++) {
        const float *xp = x + (k * g.c + c) * g.s, *gp = gy + (k * g.c + c) * g.s;
#pragma omp simd reduction(+ : sb, sg)
        for (int64_t i = 0; i < g.s; i++) {
          sb += gp[i];
          sg += gp[i] * (xp[i] - m);
        }
      }
      dbeta[c] = sb;
      dgamma[c] = sg * invstd[c];
    }
  }
  if (want_x) {
    RL_TRY(rl_tensor_new(xc->ndim, xc->shape, &gx));
    float *px = rl_tensor_data(gx);
    double inv_m = 1.0 / (double)(g.n * g.s);
    int training = p->training;
#pragma omp parallel for if (work > PAR_MIN) schedule(static)
    for (int64_t pl = 0; pl < g.n * g.c; pl++) {
      int64_t c = pl % g.c;
      const float *xp = x + pl * g.s, *gp = gy + pl * g.s;
      float *op = px + pl * g.s;
      float k = at(in[BN_GAMMA], c) * invstd[c];
      if (training) {
        float m = mean[c], is = invstd[c];
        float db = (float)(dbeta[c] * inv_m), dg = (float)(dgamma[c] * inv_m);
        for (int64_t i = 0; i < g.s; i++) op[i] = k * (gp[i] - db - (xp[i] - m) * is * dg);
      } else {
        for (int64_t i = 0; i < g.s; i++) op[i] = k * gp[i];
      }
    }
  }
  if (want_g) {
    RL_TRY(rl_tensor_new(1, &g.c, &gg));
    for (int64_t c = 0; c < g.c; c++) rl_tensor_data(gg)[c] = (float)dgamma[c];
  }
  if (want_b) {
    RL_TRY(rl_tensor_new(1, &g.c, &gb));
    for (int64_t c = 0; c < g.c; c++) rl_tensor_data(gb)[c] = (float)dbeta[c];
  }
  gin[BN_X] = gx;
  gin[BN_GAMMA] = gg;
  gin[BN_BETA] = gb;
  gx = gg = gb = NULL;
cleanup:
  rl_mem_free(sums);
  rl_mem_free(coef);
  rl_tensor_release(gx);
  rl_tensor_release(gg);
  rl_tensor_release(gb);
  rl_tensor_release(gc);
  rl_tensor_release(xc);
  return st;
}
/* }==================== */

/* Running statistics are updated in place by every training-mode forward,
** including one re-run by rl_node_forward, as a second call in PyTorch would. */
static const char *const bn_inputs[] = {"input", "weight", "bias", "running_mean", "running_var"};
const rl_opdef rl_op_batchnorm2d = {"batchnorm2d", 5, 5, bn_inputs, bn_fwd, bn_bwd};

rl_status rl_batchnorm2d(rl_tensor *x, rl_tensor *gamma, rl_tensor *beta, rl_tensor *rmean,
                         rl_tensor *rvar, const rl_batchnorm_params *p, rl_tensor **y) {
  rl_tensor *in[5] = {x, gamma, beta, rmean, rvar};
  rl_batchnorm_params a = p ? *p : (rl_batchnorm_params){1e-5f, 0.1f, 0};
  return rl_op_apply(&rl_op_batchnorm2d, &a, sizeof a, 5, in, y);
}
