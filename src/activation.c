/* activation.c: elementwise activations (ReLU, LeakyReLU, Sigmoid, Tanh) and their opdefs. */
#include <math.h>

#include "internal.h"
#include "nn.h"

/* Below this many elements a parallel region costs more than it saves. */
enum { PAR_MIN = 1 << 15, CHUNK = 4096 };

typedef enum act_kind { ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH } act_kind;

/* {==================== rows
** One row of a kernel with its operands' strides. They are static inline so
** that the contiguous drivers, which pass stride 1, get loops the compiler
** vectorises. */

static inline void fwd_row(act_kind k, float slope, const float *x, int64_t sx, float *restrict y,
                           int64_t n) {
  switch (k) {
  case ACT_RELU:
    /* x < 0 rather than x > 0 so that NaN propagates, as in PyTorch */
    for (int64_t i = 0; i < n; i++) y[i] = x[i * sx] < 0 ? 0.0f : x[i * sx];
    break;
  case ACT_LEAKY:
    for (int64_t i = 0; i < n; i++) y[i] = x[i * sx] < 0 ? x[i * sx] * slope : x[i * sx];
    break;
  case ACT_SIGMOID:
    /* exp(-x) overflows to inf for x < -88, giving exactly 0: no NaN */
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i * sx]));
    break;
  case ACT_TANH:
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i * sx]);
    break;
  }
}

/* a is x for ReLU/LeakyReLU (gradient 0, resp. slope, at x = 0 as in
** PyTorch) and y for Sigmoid/Tanh. */
static inline void bwd_row(act_kind k, float slope, const float *a, int64_t sa, const float *g,
                           int64_t sg, float *restrict gx, int64_t n) {
  switch (k) {
  case ACT_RELU:
    for (int64_t i = 0; i < n; i++) gx[i] = a[i * sa] > 0 ? g[i * sg] : 0.0f;
    break;
  case ACT_LEAKY:
    for (int64_t i = 0; i < n; i++) gx[i] = a[i * sa] > 0 ? g[i * sg] : g[i * sg] * slope;
    break;
  case ACT_SIGMOID:
    for (int64_t i = 0; i < n; i++) gx[i] = g[i * sg] * a[i * sa] * (1.0f - a[i * sa]);
    break;
  case ACT_TANH:
    for (int64_t i = 0; i < n; i++) gx[i] = g[i * sg] * (1.0f - a[i * sa] * a[i * sa]);
    break;
  }
}
/* }==================== */

/* {==================== drivers */

static rl_status map_fwd(act_kind k, float slope, const rl_tensor *x, rl_tensor **y) {
  rl_tensor *o = NULL;
  *y = NULL;
  rl_status st = rl_tensor_new(x->ndim, x->shape, &o);
  if (st) return st;
  const float *px = rl_tensor_data(x);
  float *po = rl_tensor_data(o);
  int64_t n = rl_tensor_numel(x);
  if (rl_tensor_is_contiguous(x)) {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t c = 0; c < n; c += CHUNK)
      fwd_row(k, slope, px + c, 1, po + c, n - c < CHUNK ? n - c : CHUNK);
  } else {
    rl_iter it;
    int64_t done = 0;
    rl_iter_init(&it, x->ndim, x->shape, 1, (const int64_t *[]){x->stride});
    do {
      fwd_row(k, slope, px + it.off[0], it.inner[0], po + done, it.n);
      done += it.n;
    } while (rl_iter_next(&it));
  }
  *y = o;
  return RL_OK;
}

static rl_status map_bwd(const char *fn, const char *aname, act_kind k, float slope,
                         const rl_tensor *a, const rl_tensor *gy, rl_tensor **gx) {
  rl_tensor *o = NULL;
  *gx = NULL;
  if (!rl_tensor_same_shape(a, gy))
    return rl_error(RL_ESHAPE, "%s: grad_output %s does not match %s %s", fn, rl_shapestr(gy).s,
                    aname, rl_shapestr(a).s);
  rl_status st = rl_tensor_new(a->ndim, a->shape, &o);
  if (st) return st;
  const float *pa = rl_tensor_data(a), *pg = rl_tensor_data(gy);
  float *po = rl_tensor_data(o);
  int64_t n = rl_tensor_numel(a);
  if (rl_tensor_is_contiguous(a) && rl_tensor_is_contiguous(gy)) {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t c = 0; c < n; c += CHUNK)
      bwd_row(k, slope, pa + c, 1, pg + c, 1, po + c, n - c < CHUNK ? n - c : CHUNK);
  } else {
    rl_iter it;
    int64_t done = 0;
    rl_iter_init(&it, a->ndim, a->shape, 2, (const int64_t *[]){a->stride, gy->stride});
    do {
      bwd_row(k, slope, pa + it.off[0], it.inner[0], pg + it.off[1], it.inner[1], po + done, it.n);
      done += it.n;
    } while (rl_iter_next(&it));
  }
  *gx = o;
  return RL_OK;
}
/* }==================== */

/* {==================== kernels */

rl_status rl_relu_forward(const rl_tensor *x, rl_tensor **y) { return map_fwd(ACT_RELU, 0, x, y); }

rl_status rl_relu_backward_input(const rl_tensor *x, const rl_tensor *gy, rl_tensor **gx) {
  return map_bwd("relu_backward_input", "input", ACT_RELU, 0, x, gy, gx);
}

static rl_status check_slope(const char *fn, float slope) {
  if (!isfinite(slope)) return rl_error(RL_EARG, "%s: negative_slope %g is not finite", fn, slope);
  return RL_OK;
}

rl_status rl_leaky_relu_forward(const rl_tensor *x, float slope, rl_tensor **y) {
  *y = NULL;
  rl_status st = check_slope("leaky_relu", slope);
  return st ? st : map_fwd(ACT_LEAKY, slope, x, y);
}

rl_status rl_leaky_relu_backward_input(const rl_tensor *x, const rl_tensor *gy, float slope,
                                       rl_tensor **gx) {
  *gx = NULL;
  rl_status st = check_slope("leaky_relu_backward_input", slope);
  return st ? st : map_bwd("leaky_relu_backward_input", "input", ACT_LEAKY, slope, x, gy, gx);
}

rl_status rl_sigmoid_forward(const rl_tensor *x, rl_tensor **y) {
  return map_fwd(ACT_SIGMOID, 0, x, y);
}

rl_status rl_sigmoid_backward_input(const rl_tensor *y, const rl_tensor *gy, rl_tensor **gx) {
  return map_bwd("sigmoid_backward_input", "output", ACT_SIGMOID, 0, y, gy, gx);
}

rl_status rl_tanh_forward(const rl_tensor *x, rl_tensor **y) { return map_fwd(ACT_TANH, 0, x, y); }

rl_status rl_tanh_backward_input(const rl_tensor *y, const rl_tensor *gy, rl_tensor **gx) {
  return map_bwd("tanh_backward_input", "output", ACT_TANH, 0, y, gy, gx);
}
/* }==================== */

/* {==================== opdefs and differentiable calls
** ReLU and LeakyReLU differentiate from the input, so a rule that re-runs
** the backward on substituted inputs sees its own mask; Sigmoid and Tanh
** from the recorded output. */

typedef struct leaky_attr { float slope; } leaky_attr;

static rl_status relu_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                          rl_tensor **aux) {
  (void)attr, (void)n;
  *aux = NULL;
  return rl_relu_forward(in[0], out);
}

static rl_status relu_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                          const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                          rl_tensor **gin) {
  (void)attr, (void)n, (void)out, (void)aux;
  return needs[0] ? rl_relu_backward_input(in[0], gout, &gin[0]) : RL_OK;
}

static rl_status leaky_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                           rl_tensor **aux) {
  const leaky_attr *a = attr;
  (void)n;
  *aux = NULL;
  return rl_leaky_relu_forward(in[0], a->slope, out);
}

static rl_status leaky_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                           const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                           rl_tensor **gin) {
  const leaky_attr *a = attr;
  (void)n, (void)out, (void)aux;
  return needs[0] ? rl_leaky_relu_backward_input(in[0], gout, a->slope, &gin[0]) : RL_OK;
}

static rl_status sigmoid_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                             rl_tensor **aux) {
  (void)attr, (void)n;
  *aux = NULL;
  return rl_sigmoid_forward(in[0], out);
}

static rl_status sigmoid_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                             const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                             rl_tensor **gin) {
  (void)attr, (void)n, (void)in, (void)aux;
  return needs[0] ? rl_sigmoid_backward_input(out, gout, &gin[0]) : RL_OK;
}

static rl_status tanh_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                          rl_tensor **aux) {
  (void)attr, (void)n;
  *aux = NULL;
  return rl_tanh_forward(in[0], out);
}

static rl_status tanh_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                          const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                          rl_tensor **gin) {
  (void)attr, (void)n, (void)in, (void)aux;
  return needs[0] ? rl_tanh_backward_input(out, gout, &gin[0]) : RL_OK;
}

static const char *const input_only[] = {"input"};
const rl_opdef rl_op_relu = {"relu", 1, 1, input_only, relu_fwd, relu_bwd};
const rl_opdef rl_op_leaky_relu = {"leaky_relu", 1, 1, input_only, leaky_fwd, leaky_bwd};
const rl_opdef rl_op_sigmoid = {"sigmoid", 1, 1, input_only, sigmoid_fwd, sigmoid_bwd};
const rl_opdef rl_op_tanh = {"tanh", 1, 1, input_only, tanh_fwd, tanh_bwd};

rl_status rl_relu(rl_tensor *x, rl_tensor **y) {
  return rl_op_apply(&rl_op_relu, NULL, 0, 1, &x, y);
}

rl_status rl_leaky_relu(rl_tensor *x, float slope, rl_tensor **y) {
  leaky_attr a = {slope};
  return rl_op_apply(&rl_op_leaky_relu, &a, sizeof a, 1, &x, y);
}

rl_status rl_sigmoid(rl_tensor *x, rl_tensor **y) {
  return rl_op_apply(&rl_op_sigmoid, NULL, 0, 1, &x, y);
}

rl_status rl_tanh(rl_tensor *x, rl_tensor **y) {
  return rl_op_apply(&rl_op_tanh, NULL, 0, 1, &x, y);
}
/* }==================== */
