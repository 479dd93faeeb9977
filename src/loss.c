/* loss.c: cross-entropy of logits against class indices, mean over the batch. */
#include <math.h>

#include "internal.h"
#include "nn.h"

enum { PAR_MIN = 1 << 15 };

static rl_status check(const rl_tensor *logits, const rl_tensor *targets) {
  if (logits->ndim != 2)
    return rl_error(RL_ESHAPE, "cross_entropy: logits %s must be N x C", rl_shapestr(logits).s);
  if (targets->ndim != 1 || targets->shape[0] != logits->shape[0])
    return rl_error(RL_ESHAPE, "cross_entropy: logits %s need targets [%lld], got %s",
                    rl_shapestr(logits).s, (long long)logits->shape[0], rl_shapestr(targets).s);
  int64_t c = logits->shape[1];
  for (int64_t i = 0; i < targets->shape[0]; i++) {
    float t = rl_tensor_data(targets)[i * targets->stride[0]];
    if (!(t >= 0 && t < (float)c && t == floorf(t)))
      return rl_error(RL_EARG,
                      "cross_entropy: target of sample %lld is %g, not a class index in 0..%lld "
                      "(logits %s)",
                      (long long)i + 1, t, (long long)c - 1, rl_shapestr(logits).s);
  }
  return RL_OK;
}

static int64_t target(const rl_tensor *targets, int64_t i) {
  return (int64_t)rl_tensor_data(targets)[i * targets->stride[0]];
}

/* log(sum(exp(x))) of one row, with the max subtracted so nothing overflows. */
static double logsumexp(const float *x, int64_t n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
  double s = 0;
  for (int64_t j = 0; j < n; j++) s += expf(x[j] - m);
  return m + log(s);
}

static rl_status ce_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                        rl_tensor **aux) {
  rl_tensor *lc = NULL;
  rl_status st;
  (void)attr, (void)n;
  *out = *aux = NULL;
  RL_TRY(check(in[0], in[1]));
  RL_TRY(rl__contig(in[0], &lc));
  const float *x = rl_tensor_data(lc);
  int64_t rows = lc->shape[0], c = lc->shape[1];
  double total = 0;
#pragma omp parallel for reduction(+ : total) if (rows * c > PAR_MIN) schedule(static)
  for (int64_t i = 0; i < rows; i++) total += logsumexp(x + i * c, c) - x[i * c + target(in[1], i)];
  /* 0-dim; a real shape pointer, since rl_tensor_scalar memcpy()s from NULL (UBSan) */
  RL_TRY(rl_tensor_full(0, lc->shape, (float)(total / (double)rows), out));
cleanup:
  rl_tensor_release(lc);
  return st;
}

/* d loss / d logits = (softmax - onehot) / N, times the incoming scalar. */
static rl_status ce_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                        const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                        rl_tensor **gin) {
  rl_tensor *lc = NULL, *g = NULL;
  rl_status st;
  (void)attr, (void)n, (void)out, (void)aux;
  if (!needs[0]) return RL_OK; /* targets get none */
  RL_TRY(check(in[0], in[1]));
  if (rl_tensor_numel(gout) != 1) {
    st = rl_error(RL_ESHAPE, "cross_entropy backward: grad_output %s is not a scalar",
                  rl_shapestr(gout).s);
    goto cleanup;
  }
  RL_TRY(rl__contig(in[0], &lc));
  RL_TRY(rl_tensor_new(2, lc->shape, &g));
  const float *x = rl_tensor_data(lc);
  float *gx = rl_tensor_data(g);
  int64_t rows = lc->shape[0], c = lc->shape[1];
  float scale = rl_tensor_data(gout)[0] / (float)rows;
#pragma omp parallel for if (rows * c > PAR_MIN) schedule(static)
  for (int64_t i = 0; i < rows; i++) {
    const float *xr = x + i * c;
    float *gr = gx + i * c;
    float lse = (float)logsumexp(xr, c);
    for (int64_t j = 0; j < c; j++) gr[j] = expf(xr[j] - lse) * scale;
    gr[target(in[1], i)] -= scale;
  }
  gin[0] = g;
  g = NULL;
cleanup:
  rl_tensor_release(g);
  rl_tensor_release(lc);
  return st;
}

static const char *const ce_inputs[] = {"input", "target"};
const rl_opdef rl_op_cross_entropy = {"cross_entropy", 2, 2, ce_inputs, ce_fwd, ce_bwd};

rl_status rl_cross_entropy(rl_tensor *logits, rl_tensor *targets, rl_tensor **loss) {
  rl_tensor *in[2] = {logits, targets};
  return rl_op_apply(&rl_op_cross_entropy, NULL, 0, 2, in, loss);
}
