/* interpolate.c: nearest and bilinear resampling of N x C x H x W, as PyTorch. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

typedef struct interp_attr {
  int64_t oh, ow;
  rl_interp_mode mode;
  int align_corners;
} interp_attr;

/* {==================== source coordinates
** PyTorch's rules (aten/src/ATen/native/UpSample.h), in float as it
** computes them for float tensors, so that results agree to the last bit
** of the weights: nearest takes floor(dst * in/out), bilinear maps dst to
** scale * dst (align_corners) or scale * (dst + 0.5) - 0.5 clamped at 0. */

/* One output coordinate reads in[i0] * l0 + in[i1] * l1. */
typedef struct tap {
  int64_t i0, i1;
  float l0, l1;
} tap;

static int64_t nearest_index(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  float scale = (float)in / (float)out;
  int64_t i = (int64_t)floorf((float)dst * scale);
  return i < in - 1 ? i : in - 1;
}

static void taps(tap *t, int64_t in, int64_t out, rl_interp_mode mode, int align_corners) {
  if (mode == RL_INTERP_NEAREST) {
    for (int64_t o = 0; o < out; o++) t[o] = (tap){nearest_index(o, in, out), 0, 1, 0};
    return;
  }
  float scale = align_corners ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f)
                              : (float)in / (float)out;
  for (int64_t o = 0; o < out; o++) {
    float r = align_corners ? scale * (float)o : scale * ((float)o + 0.5f) - 0.5f;
    if (r < 0) r = 0;
    int64_t i = (int64_t)floorf(r);
    if (i > in - 1) i = in - 1;
    float l = r - (float)i;
    l = l < 0 ? 0 : l > 1 ? 1 : l;
    t[o] = (tap){i, i < in - 1 ? i + 1 : i, 1 - l, l};
  }
}

static rl_status check_args(const interp_attr *a, const rl_tensor *t) {
  if (t->ndim != 4)
    return rl_error(RL_ESHAPE, "interpolate: input %s must be N x C x H x W", rl_shapestr(t).s);
  if (a->mode != RL_INTERP_NEAREST && a->mode != RL_INTERP_BILINEAR)
    return rl_error(RL_EARG, "interpolate: unknown mode %d", (int)a->mode);
  if (a->oh < 1 || a->ow < 1)
    return rl_error(RL_ESHAPE, "interpolate: output size %lld x %lld for %s must be positive",
                    (long long)a->oh, (long long)a->ow, rl_shapestr(t).s);
  return rl__check_shape("interpolate", 4, (int64_t[]){t->shape[0], t->shape[1], a->oh, a->ow});
}

/* The taps of both axes in one block: out_h for rows, then out_w. */
static rl_status make_taps(const interp_attr *a, const rl_tensor *t, tap **out) {
  tap *p = rl_mem_alloc((size_t)(a->oh + a->ow) * sizeof *p);
  *out = p;
  if (!p) return rl__nomem("interpolate");
  taps(p, t->shape[2], a->oh, a->mode, a->align_corners);
  taps(p + a->oh, t->shape[3], a->ow, a->mode, a->align_corners);
  return RL_OK;
}
/* }==================== */

/* {==================== forward and backward */

#define PAR_WORK 32768 /* output elements below which threads do not pay */

static rl_status interp_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const interp_attr *a = attr;
  rl_tensor *x = NULL, *y = NULL;
  tap *tp = NULL;
  rl_status st;
  (void)n;
  *aux = NULL;
  RL_TRY(check_args(a, in[0]));
  RL_TRY(rl__contig(in[0], &x));
  RL_TRY(make_taps(a, x, &tp));
  int64_t H = x->shape[2], W = x->shape[3], oh = a->oh, ow = a->ow;
  int64_t planes = x->shape[0] * x->shape[1];
  RL_TRY(rl_tensor_new(4, (int64_t[]){x->shape[0], x->shape[1], oh, ow}, &y));
  const tap *th = tp, *tw = tp + oh;
  const float *xd = rl_tensor_data(x);
  float *yd = rl_tensor_data(y);
  int nearest = a->mode == RL_INTERP_NEAREST;
#pragma omp parallel for schedule(static) if (planes > 1 && planes * oh * ow > PAR_WORK)
  for (int64_t p = 0; p < planes; p++) {
    if (rl_interrupted()) continue;
    const float *xp = xd + p * H * W;
    float *yp = yd + p * oh * ow;
    for (int64_t i = 0; i < oh; i++) {
      const float *r0 = xp + th[i].i0 * W, *r1 = xp + th[i].i1 * W;
      float h0 = th[i].l0, h1 = th[i].l1, *yr = yp + i * ow;
      if (nearest) {
        for (int64_t j = 0; j < ow; j++) yr[j] = r0[tw[j].i0];
      } else {
        for (int64_t j = 0; j < ow; j++) {
          const tap *c = &tw[j];
          yr[j] = h0 * (c->l0 * r0[c->i0] + c->l1 * r0[c->i1]) +
                  h1 * (c->l0 * r1[c->i0] + c->l1 * r1[c->i1]);
        }
      }
    }
  }
  RL_TRY(rl_check_interrupt("interpolate"));
  *out = y;
  y = NULL;
cleanup:
  rl_mem_free(tp);
  rl_tensor_release(x);
  rl_tensor_release(y);
  return st;
}

/* The transpose of the forward: each output's gradient is spread back onto
** the inputs it read, with the same weights. Planes never share inputs. */
static rl_status interp_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  const interp_attr *a = attr;
  rl_tensor *g = NULL, *gx = NULL;
  tap *tp = NULL;
  rl_status st;
  (void)n, (void)out, (void)aux, (void)needs;
  RL_TRY(check_args(a, in[0]));
  const int64_t want[4] = {in[0]->shape[0], in[0]->shape[1], a->oh, a->ow};
  if (gout->ndim != 4 || memcmp(gout->shape, want, sizeof want)) {
    st = rl_error(RL_ESHAPE, "interpolate: grad_output %s does not match the output %s of input %s",
                  rl_shapestr(gout).s, rl_shapestr_dims(4, want).s, rl_shapestr(in[0]).s);
    goto cleanup;
  }
  RL_TRY(rl__contig(gout, &g));
  RL_TRY(make_taps(a, in[0], &tp));
  RL_TRY(rl_tensor_zeros_like(in[0], &gx));
  int64_t H = gx->shape[2], W = gx->shape[3], oh = a->oh, ow = a->ow;
  int64_t planes = gx->shape[0] * gx->shape[1];
  const tap *th = tp, *tw = tp + oh;
  const float *gd = rl_tensor_data(g);
  float *xd = rl_tensor_data(gx);
  int nearest = a->mode == RL_INTERP_NEAREST;
#pragma omp parallel for schedule(static) if (planes > 1 && planes * oh * ow > PAR_WORK)
  for (int64_t p = 0; p < planes; p++) {
    if (rl_interrupted()) continue;
    float *xp = xd + p * H * W;
    const float *gp = gd + p * oh * ow;
    for (int64_t i = 0; i < oh; i++) {
      float *r0 = xp + th[i].i0 * W, *r1 = xp + th[i].i1 * W;
      float h0 = th[i].l0, h1 = th[i].l1;
      const float *gr = gp + i * ow;
      if (nearest) {
        for (int64_t j = 0; j < ow; j++) r0[tw[j].i0] += gr[j];
      } else {
        for (int64_t j = 0; j < ow; j++) {
          const tap *c = &tw[j];
          float v0 = h0 * gr[j], v1 = h1 * gr[j];
          r0[c->i0] += c->l0 * v0;
          r0[c->i1] += c->l1 * v0;
          r1[c->i0] += c->l0 * v1;
          r1[c->i1] += c->l1 * v1;
        }
      }
    }
  }
  RL_TRY(rl_check_interrupt("interpolate"));
  gin[0] = gx;
  gx = NULL;
cleanup:
  rl_mem_free(tp);
  rl_tensor_release(g);
  rl_tensor_release(gx);
  return st;
}

static const char *const interp_inputs[] = {"input"};
const rl_opdef rl_op_interpolate = {"interpolate", 1, 1, interp_inputs, interp_fwd, interp_bwd};

rl_status rl_interpolate(rl_tensor *t, int64_t out_h, int64_t out_w, rl_interp_mode mode,
                         int align_corners, rl_tensor **out) {
  interp_attr a = {.oh = out_h, .ow = out_w, .mode = mode, .align_corners = align_corners != 0};
  return rl_op_apply(&rl_op_interpolate, &a, sizeof a, 1, &t, out);
}
/* }==================== */
