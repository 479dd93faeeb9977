/* dropout.c: Dropout, the identity at inference and a seeded, rescaled mask in training. */
#include <math.h>

#include "internal.h"
#include "nn.h"

enum { PAR_MIN = 1 << 15 };

static rl_status check_p(const rl_dropout_params *p) {
  if (!(p->p >= 0 && p->p < 1))
    return rl_error(RL_EARG, "dropout: p = %g must be in [0, 1)", p->p);
  return RL_OK;
}

/* The mask is drawn sequentially from one generator, so a seed gives the
** same mask at every thread count; aux keeps it (0 or 1/(1-p)) for backward. */
static rl_status dropout_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  const rl_dropout_params *p = attr;
  const rl_tensor *x = in[0];
  rl_tensor *mask = NULL, *y = NULL;
  rl_status st;
  (void)n;
  *out = *aux = NULL;
  RL_TRY(check_p(p));
  if (!p->training) return rl__view(x, x->ndim, x->shape, x->stride, x->offset, out);
  RL_TRY(rl_tensor_new(x->ndim, x->shape, &mask));
  RL_TRY(rl_tensor_new(x->ndim, x->shape, &y));
  rl_rng r;
  rl_rng_seed(&r, p->seed);
  float keep = (float)(1.0 / (1.0 - (double)p->p));
  float *pm = rl_tensor_data(mask), *py = rl_tensor_data(y);
  const float *px = rl_tensor_data(x);
  int64_t numel = rl_tensor_numel(x);
  for (int64_t i = 0; i < numel; i++) pm[i] = rl_rng_uniform(&r) >= p->p ? keep : 0.0f;
  if (rl_tensor_is_contiguous(x)) {
#pragma omp parallel for simd if (numel > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < numel; i++) py[i] = px[i] * pm[i];
  } else {
    rl_iter it;
    int64_t done = 0;
    rl_iter_init(&it, x->ndim, x->shape, 1, (const int64_t *[]){x->stride});
    do {
      const float *xr = px + it.off[0];
      for (int64_t i = 0; i < it.n; i++) py[done + i] = xr[i * it.inner[0]] * pm[done + i];
      done += it.n;
    } while (rl_iter_next(&it));
  }
  *out = y;
  *aux = mask;
  y = mask = NULL;
cleanup:
  rl_tensor_release(y);
  rl_tensor_release(mask);
  return st;
}

static rl_status dropout_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  rl_tensor *g = NULL, *gx = NULL;
  rl_status st;
  (void)attr, (void)n, (void)in, (void)out;
  if (!needs[0]) return RL_OK;
  if (!aux) return rl__contig(gout, &gin[0]);
  if (!rl_tensor_same_shape(aux, gout))
    return rl_error(RL_ESHAPE, "dropout backward: grad_output %s does not match mask %s",
                    rl_shapestr(gout).s, rl_shapestr(aux).s);
  RL_TRY(rl__contig(gout, &g));
  RL_TRY(rl_tensor_new(g->ndim, g->shape, &gx));
  const float *pg = rl_tensor_data(g), *pm = rl_tensor_data(aux);
  float *px = rl_tensor_data(gx);
  int64_t numel = rl_tensor_numel(g);
#pragma omp parallel for simd if (numel > PAR_MIN) schedule(static)
  for (int64_t i = 0; i < numel; i++) px[i] = pg[i] * pm[i];
  gin[0] = gx;
  gx = NULL;
cleanup:
  rl_tensor_release(gx);
  rl_tensor_release(g);
  return st;
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_dropout = {"dropout", 1, 1, input_only, dropout_fwd, dropout_bwd};

rl_status rl_dropout(rl_tensor *x, const rl_dropout_params *p, rl_tensor **y) {
  rl_dropout_params a = p ? *p : (rl_dropout_params){0.5f, 0, 0};
  return rl_op_apply(&rl_op_dropout, &a, sizeof a, 1, &x, y);
}
