/* nn.h: layer kernels, THNN-style, and their differentiable calls.
**
** Each layer has up to three kernels, none of which records anything:
**   rl_<layer>_forward          input (+ parameters) -> output
**   rl_<layer>_backward_input   the vector-Jacobian product to the input
**   rl_<layer>_backward_params  gradients of the parameters (training only;
**                               attribution never runs it)
** and one differentiable call rl_<layer>(...) that runs the forward through
** rl_op_apply so it is recorded on the tape, with an rl_opdef
** (rl_op_<layer>) whose backward a rule can replace (tape.h). Outputs are new
** references. Images are N x C x H x W; Linear takes N x features; weights
** follow PyTorch's layouts, so ONNX and PyTorch weights load unchanged.
*/
#ifndef RELUA_NN_H
#define RELUA_NN_H

#include "tape.h"

/* {==================== Linear: y = x W^T + b, W [out x in], b [out] or NULL */
RL_API extern const rl_opdef rl_op_linear; /* inputs: input, weight, bias */
RL_API rl_status rl_linear_forward(const rl_tensor *x, const rl_tensor *w, const rl_tensor *b, rl_tensor **y);
RL_API rl_status rl_linear_backward_input(const rl_tensor *gy, const rl_tensor *w, rl_tensor **gx);
RL_API rl_status rl_linear_backward_params(const rl_tensor *x, const rl_tensor *gy, rl_tensor **gw, rl_tensor **gb);
RL_API rl_status rl_linear(rl_tensor *x, rl_tensor *w, rl_tensor *b, rl_tensor **y);
/* }==================== */

/* {==================== Conv2d: W [out x in/groups x kh x kw], b [out] or NULL */
typedef struct rl_conv2d_params {
  int64_t stride[2], padding[2], dilation[2]; /* (h, w) */
  int64_t groups;
} rl_conv2d_params;
RL_API extern const rl_opdef rl_op_conv2d; /* inputs: input, weight, bias */
RL_API rl_conv2d_params rl_conv2d_default_params(void); /* stride 1, pad 0, dilation 1, groups 1 */
RL_API rl_status rl_conv2d_forward(const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                                   const rl_conv2d_params *p, rl_tensor **y);
/* x is used for its shape only. */
RL_API rl_status rl_conv2d_backward_input(const rl_tensor *x, const rl_tensor *gy, const rl_tensor *w,
                                          const rl_conv2d_params *p, rl_tensor **gx);
RL_API rl_status rl_conv2d_backward_params(const rl_tensor *x, const rl_tensor *gy, const rl_tensor *w,
                                           const rl_conv2d_params *p, rl_tensor **gw, rl_tensor **gb);
RL_API rl_status rl_conv2d(rl_tensor *x, rl_tensor *w, rl_tensor *b, const rl_conv2d_params *p, rl_tensor **y);
/* }==================== */

/* {==================== pooling */
typedef struct rl_pool2d_params {
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  int ceil_mode;
  int count_include_pad; /* AvgPool2d only; PyTorch's default is 1 */
} rl_pool2d_params;
/* kernel k, stride k (PyTorch's default), no padding, dilation 1, count_include_pad 1 */
RL_API rl_pool2d_params rl_pool2d_default_params(int64_t kh, int64_t kw);
RL_API extern const rl_opdef rl_op_maxpool2d; /* aux: argmax indices (flat h*W+w per plane) */
RL_API rl_status rl_maxpool2d_forward(const rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y,
                                      rl_tensor **indices);
RL_API rl_status rl_maxpool2d_backward_input(const rl_tensor *x, const rl_tensor *gy,
                                             const rl_tensor *indices, rl_tensor **gx);
RL_API rl_status rl_maxpool2d(rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y);

RL_API extern const rl_opdef rl_op_avgpool2d;
RL_API rl_status rl_avgpool2d_forward(const rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y);
RL_API rl_status rl_avgpool2d_backward_input(const rl_tensor *x, const rl_tensor *gy,
                                             const rl_pool2d_params *p, rl_tensor **gx);
RL_API rl_status rl_avgpool2d(rl_tensor *x, const rl_pool2d_params *p, rl_tensor **y);

/* PyTorch's adaptive bins: start = floor(i*H/oh), end = ceil((i+1)*H/oh). */
RL_API extern const rl_opdef rl_op_adaptive_avgpool2d;
RL_API rl_status rl_adaptive_avgpool2d_forward(const rl_tensor *x, int64_t oh, int64_t ow, rl_tensor **y);
RL_API rl_status rl_adaptive_avgpool2d_backward_input(const rl_tensor *x, const rl_tensor *gy, rl_tensor **gx);
RL_API rl_status rl_adaptive_avgpool2d(rl_tensor *x, int64_t oh, int64_t ow, rl_tensor **y);
/* }==================== */

/* {==================== activations (backward_input from x and/or y) */
RL_API extern const rl_opdef rl_op_relu, rl_op_leaky_relu, rl_op_sigmoid, rl_op_tanh;
RL_API rl_status rl_relu_forward(const rl_tensor *x, rl_tensor **y);
RL_API rl_status rl_relu_backward_input(const rl_tensor *x, const rl_tensor *gy, rl_tensor **gx); /* gy * (x > 0) */
RL_API rl_status rl_relu(rl_tensor *x, rl_tensor **y);
RL_API rl_status rl_leaky_relu_forward(const rl_tensor *x, float slope, rl_tensor **y);
RL_API rl_status rl_leaky_relu_backward_input(const rl_tensor *x, const rl_tensor *gy, float slope, rl_tensor **gx);
RL_API rl_status rl_leaky_relu(rl_tensor *x, float slope, rl_tensor **y);
RL_API rl_status rl_sigmoid_forward(const rl_tensor *x, rl_tensor **y);
RL_API rl_status rl_sigmoid_backward_input(const rl_tensor *y, const rl_tensor *gy, rl_tensor **gx);
RL_API rl_status rl_sigmoid(rl_tensor *x, rl_tensor **y);
RL_API rl_status rl_tanh_forward(const rl_tensor *x, rl_tensor **y);
RL_API rl_status rl_tanh_backward_input(const rl_tensor *y, const rl_tensor *gy, rl_tensor **gx);
RL_API rl_status rl_tanh(rl_tensor *x, rl_tensor **y);

RL_API extern const rl_opdef rl_op_softmax, rl_op_log_softmax;
RL_API rl_status rl_softmax_forward(const rl_tensor *x, int dim, rl_tensor **y);
RL_API rl_status rl_softmax_backward_input(const rl_tensor *y, const rl_tensor *gy, int dim, rl_tensor **gx);
RL_API rl_status rl_softmax(rl_tensor *x, int dim, rl_tensor **y);
RL_API rl_status rl_log_softmax_forward(const rl_tensor *x, int dim, rl_tensor **y);
RL_API rl_status rl_log_softmax_backward_input(const rl_tensor *y, const rl_tensor *gy, int dim, rl_tensor **gx);
RL_API rl_status rl_log_softmax(rl_tensor *x, int dim, rl_tensor **y);
/* }==================== */

/* {==================== BatchNorm2d
** inputs: input, weight (gamma), bias (beta), running_mean, running_var (all [C]).
** Inference: y = (x - rm) / sqrt(rv + eps) * gamma + beta.
** Training: batch statistics over N, H, W (biased variance for normalising);
** running stats updated in place with momentum and the unbiased variance, as
** in PyTorch. aux holds the batch mean and 1/sqrt(var + eps). */
typedef struct rl_batchnorm_params {
  float eps;      /* 1e-5 */
  float momentum; /* 0.1 */
  int training;
} rl_batchnorm_params;
RL_API extern const rl_opdef rl_op_batchnorm2d;
RL_API rl_status rl_batchnorm2d(rl_tensor *x, rl_tensor *gamma, rl_tensor *beta, rl_tensor *rmean,
                                rl_tensor *rvar, const rl_batchnorm_params *p, rl_tensor **y);
/* }==================== */

/* {==================== Dropout: identity unless training; then a seeded mask
** scaled by 1/(1-p) (aux holds the mask). */
typedef struct rl_dropout_params { float p; int training; uint64_t seed; } rl_dropout_params;
RL_API extern const rl_opdef rl_op_dropout;
RL_API rl_status rl_dropout(rl_tensor *x, const rl_dropout_params *p, rl_tensor **y);
/* }==================== */

/* {==================== Flatten: dims start..end into one (a view when contiguous) */
RL_API rl_status rl_flatten(rl_tensor *x, int start_dim, int end_dim, rl_tensor **y);
/* }==================== */

/* {==================== cross-entropy: mean over N of -log softmax(logits)[target]
** logits [N x C], targets [N] holding class indices 0..C-1; out is 0-dim. */
RL_API extern const rl_opdef rl_op_cross_entropy;
RL_API rl_status rl_cross_entropy(rl_tensor *logits, rl_tensor *targets, rl_tensor **loss);
/* }==================== */

#endif
