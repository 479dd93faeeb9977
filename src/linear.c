/* linear.c: the fully connected layer y = x W^T + b (PyTorch's Linear) as one
** sgemm, with its input and parameter gradients. x is [... x in]: leading
** dims are flattened into the rows of the product. */
#include <string.h>

#include "blas.h"
#include "internal.h"
#include "nn.h"

/* Rows of x (all leading dims) for a weight [out x in]. */
static rl_status check_x(const char *fn, const rl_tensor *x, const rl_tensor *w, int64_t *rows) {
  if (w->ndim != 2)
    return rl_error(RL_ESHAPE, "%s: weight %s must be 2-D (out x in)", fn, rl_shapestr(w).s);
  if (x->ndim < 1)
    return rl_error(RL_ESHAPE, "%s: input %s must have at least 1 dim (... x in)", fn, rl_shapestr(x).s);
  if (x->shape[x->ndim - 1] != w->shape[1])
    return rl_error(RL_ESHAPE, "%s: input %s has %lld features, weight %s expects %lld", fn,
                    rl_shapestr(x).s, (long long)x->shape[x->ndim - 1], rl_shapestr(w).s,
                    (long long)w->shape[1]);
  *rows = rl_tensor_numel(x) / w->shape[1];
  return RL_OK;
}

rl_status rl_linear_forward(const rl_tensor *x, const rl_tensor *w, const rl_tensor *b, rl_tensor **y) {
  rl_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL;
  int64_t m = 0, shape[RL_MAX_DIMS];
  rl_status st;
  *y = NULL;
  RL_TRY(check_x("linear", x, w, &m));
  const int64_t nout = w->shape[0], nin = w->shape[1];
  if (b && (b->ndim != 1 || b->shape[0] != nout)) {
    st = rl_error(RL_ESHAPE, "linear: bias %s must be [%lld] to match weight %s", rl_shapestr(b).s,
                  (long long)nout, rl_shapestr(w).s);
    goto cleanup;
  }
  RL_TRY(rl__contig(x, &xc));
  RL_TRY(rl__contig(w, &wc));
  if (b) RL_TRY(rl__contig(b, &bc));
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = nout;
  RL_TRY(rl_tensor_new(x->ndim, shape, &out));
  float *Y = rl_tensor_data(out);
  float beta = 0;
  if (bc) {
    /* The bias goes in first and the product is accumulated onto it. */
    const float *B = rl_tensor_data(bc);
    for (int64_t i = 0; i < m; i++) memcpy(Y + i * nout, B, (size_t)nout * sizeof *Y);
    beta = 1;
  }
  rl_threads();
  rl_sgemm(0, 1, m, nout, nin, 1, rl_tensor_data(xc), nin, rl_tensor_data(wc), nin, beta, Y, nout);
  *y = out;
  out = NULL;
cleanup:
  rl_tensor_release(out);
  rl_tensor_release(xc);
  rl_tensor_release(wc);
  rl_tensor_release(bc);
  return st;
}

rl_status rl_linear_backward_input(const rl_tensor *gy, const rl_tensor *w, rl_tensor **gx) {
  rl_tensor *gyc = NULL, *wc = NULL, *out = NULL;
  int64_t shape[RL_MAX_DIMS];
  rl_status st;
  *gx = NULL;
  if (w->ndim != 2) {
    st = rl_error(RL_ESHAPE, "linear_backward_input: weight %s must be 2-D (out x in)", rl_shapestr(w).s);
    goto cleanup;
  }
  if (gy->ndim < 1 || gy->shape[gy->ndim - 1] != w->shape[0]) {
    st = rl_error(RL_ESHAPE, "linear_backward_input: output gradient %s does not end in the %lld outputs of weight %s",
                  rl_shapestr(gy).s, (long long)w->shape[0], rl_shapestr(w).s);
    goto cleanup;
  }
  const int64_t nout = w->shape[0], nin = w->shape[1], m = rl_tensor_numel(gy) / nout;
  RL_TRY(rl__contig(gy, &gyc));
  RL_TRY(rl__contig(w, &wc));
  memcpy(shape, gy->shape, sizeof shape);
  shape[gy->ndim - 1] = nin;
  RL_TRY(rl_tensor_new(gy->ndim, shape, &out));
  rl_threads();
  rl_sgemm(0, 0, m, nin, nout, 1, rl_tensor_data(gyc), nout, rl_tensor_data(wc), nin, 0,
           rl_tensor_data(out), nin);
  *gx = out;
  out = NULL;
cleanup:
  rl_tensor_release(out);
  rl_tensor_release(gyc);
  rl_tensor_release(wc);
  return st;
}

/* The weight's shape is [gy's last dim x x's last dim]; gw and gb may each
** be NULL (that gradient is not computed). */
rl_status rl_linear_backward_params(const rl_tensor *x, const rl_tensor *gy, rl_tensor **gw, rl_tensor **gb) {
  rl_tensor *xc = NULL, *gyc = NULL, *ow = NULL, *ob = NULL;
  rl_status st = RL_OK;
  if (gw) *gw = NULL;
  if (gb) *gb = NULL;
  if (x->ndim < 1 || gy->ndim != x->ndim) {
    st = rl_error(RL_ESHAPE, "linear_backward_params: output gradient %s does not match input %s",
                  rl_shapestr(gy).s, rl_shapestr(x).s);
    goto cleanup;
  }
  const int64_t nin = x->shape[x->ndim - 1], nout = gy->shape[gy->ndim - 1];
  for (int d = 0; d < x->ndim - 1; d++)
    if (x->shape[d] != gy->shape[d]) {
      st = rl_error(RL_ESHAPE, "linear_backward_params: output gradient %s does not match input %s",
                    rl_shapestr(gy).s, rl_shapestr(x).s);
      goto cleanup;
    }
  const int64_t m = rl_tensor_numel(x) / nin;
  RL_TRY(rl__contig(gy, &gyc));
  const float *GY = rl_tensor_data(gyc);
  if (gw) {
    RL_TRY(rl__contig(x, &xc));
    RL_TRY(rl_tensor_new(2, (int64_t[]){nout, nin}, &ow));
    rl_threads();
    rl_sgemm(1, 0, nout, nin, m, 1, GY, nout, rl_tensor_data(xc), nin, 0, rl_tensor_data(ow), nin);
  }
  if (gb) {
    RL_TRY(rl_tensor_zeros(1, &nout, &ob));
    float *GB = rl_tensor_data(ob);
    for (int64_t i = 0; i < m; i++)
      for (int64_t o = 0; o < nout; o++) GB[o] += GY[i * nout + o];
  }
  if (gw) *gw = ow, ow = NULL;
  if (gb) *gb = ob, ob = NULL;
cleanup:
  rl_tensor_release(xc);
  rl_tensor_release(gyc);
  rl_tensor_release(ow);
  rl_tensor_release(ob);
  return st;
}

/* {==================== the differentiable call */

static rl_status linear_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  (void)attr;
  *aux = NULL;
  return rl_linear_forward(in[0], in[1], n > 2 ? in[2] : NULL, out);
}

static rl_status linear_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  rl_status st = RL_OK;
  (void)attr, (void)out, (void)aux;
  if (needs[0]) {
    if ((st = rl_linear_backward_input(gout, in[1], &gin[0]))) return st;
  }
  int nw = needs[1], nb = n > 2 && needs[2];
  if (nw || nb) st = rl_linear_backward_params(in[0], gout, nw ? &gin[1] : NULL, nb ? &gin[2] : NULL);
  return st;
}

static const char *const linear_inputs[] = {"input", "weight", "bias"};
const rl_opdef rl_op_linear = {"linear", 2, 3, linear_inputs, linear_fwd, linear_bwd};

rl_status rl_linear(rl_tensor *x, rl_tensor *w, rl_tensor *b, rl_tensor **y) {
  rl_tensor *in[3] = {x, w, b};
  *y = NULL;
  if (!x || !w) return rl_error(RL_EARG, "linear: %s is missing", x ? "weight" : "input");
  return rl_op_apply(&rl_op_linear, NULL, 0, b ? 3 : 2, in, y);
}
/* }==================== */
