/* ops.h: differentiable tensor ops.
**
** Each op returns its result as a new reference in *out and is recorded on
** the tape when an input needs gradients (tape.h). Binary elementwise ops
** broadcast with numpy's rules; their backward sums the gradient back to
** each input's shape (rl_sum_to_shape). Index tensors (argmax results,
** gather/scatter indices, masks) are float32 holding whole numbers, exact up
** to 2^24; dims are 0-based and may be negative (-1 = last).
*/
#ifndef RELUA_OPS_H
#define RELUA_OPS_H

#include "tape.h"

/* {==================== elementwise, binary (broadcasting) */
RL_API rl_status rl_add(rl_tensor *a, rl_tensor *b, rl_tensor **out);
RL_API rl_status rl_sub(rl_tensor *a, rl_tensor *b, rl_tensor **out);
RL_API rl_status rl_mul(rl_tensor *a, rl_tensor *b, rl_tensor **out);
RL_API rl_status rl_div(rl_tensor *a, rl_tensor *b, rl_tensor **out);
RL_API rl_status rl_pow(rl_tensor *a, rl_tensor *b, rl_tensor **out);     /* a^b, a > 0 where b varies */
RL_API rl_status rl_minimum(rl_tensor *a, rl_tensor *b, rl_tensor **out); /* ties: gradient to a */
RL_API rl_status rl_maximum(rl_tensor *a, rl_tensor *b, rl_tensor **out);
/* mask != 0 ? a : b, all three broadcast together; no gradient to mask. */
RL_API rl_status rl_where(rl_tensor *mask, rl_tensor *a, rl_tensor *b, rl_tensor **out);
/* 1-D tensor of the elements of t where mask (broadcast to t) != 0. */
RL_API rl_status rl_masked_select(rl_tensor *t, rl_tensor *mask, rl_tensor **out);
/* }==================== */

/* {==================== elementwise, with a scalar or unary */
RL_API rl_status rl_add_scalar(rl_tensor *a, float s, rl_tensor **out);
RL_API rl_status rl_mul_scalar(rl_tensor *a, float s, rl_tensor **out);
RL_API rl_status rl_pow_scalar(rl_tensor *a, float p, rl_tensor **out);
RL_API rl_status rl_rsub_scalar(rl_tensor *a, float s, rl_tensor **out); /* s - a */
RL_API rl_status rl_rdiv_scalar(rl_tensor *a, float s, rl_tensor **out); /* s / a */
/* clamp to [lo, hi]; pass -INFINITY / INFINITY for no bound. Gradient 1 inside. */
RL_API rl_status rl_clamp(rl_tensor *a, float lo, float hi, rl_tensor **out);
RL_API rl_status rl_neg(rl_tensor *a, rl_tensor **out);
RL_API rl_status rl_abs(rl_tensor *a, rl_tensor **out);   /* gradient sign(a), 0 at 0 */
RL_API rl_status rl_sign(rl_tensor *a, rl_tensor **out);  /* -1, 0, +1; gradient 0 */
RL_API rl_status rl_exp(rl_tensor *a, rl_tensor **out);
RL_API rl_status rl_log(rl_tensor *a, rl_tensor **out);
RL_API rl_status rl_sqrt(rl_tensor *a, rl_tensor **out);
/* }==================== */

/* {==================== reductions
** dims[0..ndims-1] are reduced (ndims = 0: all dims, giving a 0-dim tensor
** unless keepdim). keepdim keeps them with size 1. */
RL_API rl_status rl_sum(rl_tensor *t, int ndims, const int *dims, int keepdim, rl_tensor **out);
RL_API rl_status rl_mean(rl_tensor *t, int ndims, const int *dims, int keepdim, rl_tensor **out);
/* p-norm, p > 0 (p = 2: Euclidean); gradient 0 where the norm is 0. */
RL_API rl_status rl_norm(rl_tensor *t, float p, int ndims, const int *dims, int keepdim, rl_tensor **out);
/* variance with divisor n - correction (correction 1: unbiased, like torch.var). */
RL_API rl_status rl_var(rl_tensor *t, int ndims, const int *dims, int correction, int keepdim, rl_tensor **out);
/* Along one dim, or over all when dim is RL_ALL_DIMS. max/min: gradient to
** the first extremum; argmax/argmin: float indices, first on ties, no gradient. */
#define RL_ALL_DIMS (-1000)
RL_API rl_status rl_max(rl_tensor *t, int dim, int keepdim, rl_tensor **out);
RL_API rl_status rl_min(rl_tensor *t, int dim, int keepdim, rl_tensor **out);
RL_API rl_status rl_argmax(rl_tensor *t, int dim, int keepdim, rl_tensor **out);
RL_API rl_status rl_argmin(rl_tensor *t, int dim, int keepdim, rl_tensor **out);
/* Sums g down to shape (the reverse of broadcasting); g itself (+1) when the
** shapes already match. Not recorded. */
RL_API rl_status rl_sum_to_shape(const rl_tensor *g, int ndim, const int64_t *shape, rl_tensor **out);
/* }==================== */

/* {==================== matrix products (cblas_sgemm)
** [m x k] @ [k x n]; with more dims, batched over the leading dims, which
** broadcast. 1-D operands are not accepted (reshape them). */
RL_API rl_status rl_matmul(rl_tensor *a, rl_tensor *b, rl_tensor **out);
/* }==================== */

/* {==================== indexing, joining, padding, resampling */
/* out[i][j][k] = t[index[i][j][k]][j][k] for dim 0 (torch.gather). index
** has t's ndim and, except along dim, sizes <= t's. */
RL_API rl_status rl_gather(rl_tensor *t, int dim, rl_tensor *index, rl_tensor **out);
/* A copy of t with src scattered along dim at index (torch.scatter; with
** accumulate, torch.scatter_add). Gradient flows to t and src. */
RL_API rl_status rl_scatter(rl_tensor *t, int dim, rl_tensor *index, rl_tensor *src,
                            int accumulate, rl_tensor **out);
RL_API rl_status rl_cat(int n, rl_tensor *const *ts, int dim, rl_tensor **out);

typedef enum rl_pad_mode { RL_PAD_CONSTANT, RL_PAD_REFLECT, RL_PAD_REPLICATE } rl_pad_mode;
/* pads[2*i], pads[2*i+1]: before/after for the i-th dim counted from the last
** (torch.nn.functional.pad order: (left, right, top, bottom, ...)). npairs <= ndim. */
RL_API rl_status rl_pad(rl_tensor *t, int npairs, const int64_t *pads, rl_pad_mode mode,
                        float value, rl_tensor **out);

typedef enum rl_interp_mode { RL_INTERP_NEAREST, RL_INTERP_BILINEAR } rl_interp_mode;
/* N x C x H x W to N x C x out_h x out_w; align_corners as in PyTorch (ignored for nearest). */
RL_API rl_status rl_interpolate(rl_tensor *t, int64_t out_h, int64_t out_w, rl_interp_mode mode,
                                int align_corners, rl_tensor **out);
/* }==================== */

#endif
