/* imgproc.c: image preprocessing kernels: antialiased bilinear resize,
** center crop, per-channel normalisation, batching. */
#include <math.h>
#include <string.h>

#include "image.h"
#include "internal.h"

const float rl_imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
const float rl_imagenet_std[3] = {0.229f, 0.224f, 0.225f};

/* Planes of [.. x H x W]: the product of the leading dims. */
static rl_status check_image(const char *fn, const rl_tensor *t) {
  if (!t) return rl_error(RL_EARG, "%s: no tensor", fn);
  if (t->ndim < 2) return rl_error(RL_ESHAPE, "%s: %s has no H x W (needs >= 2 dims)", fn, rl_shapestr(t).s);
  return RL_OK;
}

static int64_t planes_of(const rl_tensor *t) {
  int64_t p = 1;
  for (int d = 0; d < t->ndim - 2; d++) p *= t->shape[d];
  return p;
}

/* {==================== resize */

/* For each output index, the first input index and count of contributors
** and their normalised weights (ksize slots per output). */
typedef struct coeffs {
  int64_t *start, *count;
  float *w;
  int ksize;
} coeffs;

static double triangle(double x) {
  x = fabs(x);
  return x < 1 ? 1 - x : 0;
}

/* PIL's precompute_coeffs for the bilinear filter (support 1): input pixel
** j (centre j + 0.5) contributes triangle((j + 0.5 - centre) / fs) to the
** output pixel with centre (i + 0.5) * scale, fs = max(scale, 1) when
** antialiasing, else 1; the window is cut at the edges and renormalised. */
static rl_status make_coeffs(int64_t in, int64_t out, int aa, coeffs *c) {
  double scale = (double)in / (double)out;
  double fs = aa && scale > 1 ? scale : 1.0;
  double support = fs;
  c->ksize = (int)ceil(support) * 2 + 1;
  c->start = rl_mem_alloc(sizeof *c->start * (size_t)out);
  c->count = rl_mem_alloc(sizeof *c->count * (size_t)out);
  c->w = rl_mem_calloc(sizeof *c->w * (size_t)out * (size_t)c->ksize);
  if (!c->start || !c->count || !c->w) return rl__nomem("image.resize");
  for (int64_t i = 0; i < out; i++) {
    double centre = (i + 0.5) * scale;
    int64_t lo = (int64_t)(centre - support + 0.5), hi = (int64_t)(centre + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    if (hi - lo > c->ksize) hi = lo + c->ksize; /* cannot happen; keeps the writes in bounds */
    double k[64 * 2 + 1], total = 0;
    double *kk = c->ksize <= (int)(sizeof k / sizeof k[0]) ? k : NULL;
    float *w = c->w + i * c->ksize;
    for (int64_t j = lo; j < hi; j++) {
      double v = triangle((j - centre + 0.5) / fs);
      if (kk) kk[j - lo] = v;
      else w[j - lo] = (float)v;
      total += v;
    }
    for (int64_t j = 0; j < hi - lo; j++) {
      double v = kk ? kk[j] : w[j];
      w[j] = total != 0 ? (float)(v / total) : 0.0f;
    }
    c->start[i] = lo;
    c->count[i] = hi - lo;
  }
  return RL_OK;
}

static void free_coeffs(coeffs *c) {
  rl_mem_free(c->start);
  rl_mem_free(c->count);
  rl_mem_free(c->w);
}

/* dst[P][rows][out] from src[P][rows][in] along the last axis. */
static void pass_h(const float *src, float *dst, int64_t planes, int64_t rows, int64_t in, int64_t out,
                   const coeffs *c) {
  int64_t n = planes * rows;
#pragma omp parallel for if (n * out * c->ksize > (1 << 16))
  for (int64_t r = 0; r < n; r++) {
    const float *s = src + r * in;
    float *d = dst + r * out;
    for (int64_t i = 0; i < out; i++) {
      const float *w = c->w + i * c->ksize, *p = s + c->start[i];
      float acc = 0;
      for (int64_t j = 0; j < c->count[i]; j++) acc += w[j] * p[j];
      d[i] = acc;
    }
  }
}

/* dst[P][out][cols] from src[P][in][cols] along the rows, a row at a time. */
static void pass_v(const float *src, float *dst, int64_t planes, int64_t in, int64_t out, int64_t cols,
                   const coeffs *c) {
  int64_t n = planes * out;
#pragma omp parallel for if (n * cols * c->ksize > (1 << 16))
  for (int64_t r = 0; r < n; r++) {
    int64_t p = r / out, i = r % out;
    const float *w = c->w + i * c->ksize, *s = src + (p * in + c->start[i]) * cols;
    float *d = dst + r * cols;
    for (int64_t x = 0; x < cols; x++) d[x] = 0;
    for (int64_t j = 0; j < c->count[i]; j++) {
      const float *row = s + j * cols, wj = w[j];
      for (int64_t x = 0; x < cols; x++) d[x] += wj * row[x];
    }
  }
}

rl_status rl_image_resize(const rl_tensor *t, int64_t h, int64_t w, int antialias, rl_tensor **out) {
  rl_status st;
  rl_tensor *c = NULL, *o = NULL;
  float *tmp = NULL;
  coeffs ch = {0}, cv = {0};
  if (!out) return rl_error(RL_EARG, "image.resize: no output pointer");
  *out = NULL;
  if ((st = check_image("image.resize", t)) != RL_OK) return st;
  if (h < 1 || w < 1 || h > RL_IMAGE_MAX_SIDE || w > RL_IMAGE_MAX_SIDE)
    return rl_error(RL_EARG, "image.resize: size %lld x %lld is out of range (1 to %d per side)", (long long)h,
                    (long long)w, RL_IMAGE_MAX_SIDE);
  int nd = t->ndim;
  int64_t H = t->shape[nd - 2], W = t->shape[nd - 1], P = planes_of(t), shape[RL_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[nd - 2] = h;
  shape[nd - 1] = w;
  RL_TRY(rl__contig(t, &c));
  RL_TRY(rl_tensor_new(nd, shape, &o));
  const float *src = rl_tensor_data(c);
  float *dst = rl_tensor_data(o);
  if (W != w) RL_TRY(make_coeffs(W, w, antialias, &ch));
  if (H != h) RL_TRY(make_coeffs(H, h, antialias, &cv));
  RL_TRY(rl_check_interrupt("image.resize"));
  if (W != w && H != h) {
    if (!(tmp = rl_mem_alloc(sizeof *tmp * (size_t)(P * H * w)))) {
      st = rl__nomem("image.resize");
      goto cleanup;
    }
    pass_h(src, tmp, P, H, W, w, &ch);
    RL_TRY(rl_check_interrupt("image.resize"));
    pass_v(tmp, dst, P, H, h, w, &cv);
  } else if (W != w) {
    pass_h(src, dst, P, H, W, w, &ch);
  } else if (H != h) {
    pass_v(src, dst, P, H, h, w, &cv);
  } else {
    memcpy(dst, src, sizeof *dst * (size_t)(P * H * W));
  }
  *out = o;
  o = NULL;
cleanup:
  free_coeffs(&ch);
  free_coeffs(&cv);
  rl_mem_free(tmp);
  rl_tensor_release(c);
  rl_tensor_release(o);
  return st;
}

rl_status rl_image_resize_short(const rl_tensor *t, int64_t size, int antialias, rl_tensor **out) {
  rl_status st;
  if (!out) return rl_error(RL_EARG, "image.resize: no output pointer");
  *out = NULL;
  if ((st = check_image("image.resize", t)) != RL_OK) return st;
  if (size < 1 || size > RL_IMAGE_MAX_SIDE)
    return rl_error(RL_EARG, "image.resize: size %lld is out of range (1 to %d)", (long long)size, RL_IMAGE_MAX_SIDE);
  int64_t H = t->shape[t->ndim - 2], W = t->shape[t->ndim - 1];
  int64_t s = W <= H ? W : H, l = W <= H ? H : W;
  int64_t nl = (int64_t)((double)(size * l) / (double)s);
  if (nl > RL_IMAGE_MAX_SIDE)
    return rl_error(RL_EARG, "image.resize: resizing %s to shorter side %lld makes the longer one %lld, above %d",
                    rl_shapestr(t).s, (long long)size, (long long)nl, RL_IMAGE_MAX_SIDE);
  return W <= H ? rl_image_resize(t, nl, size, antialias, out) : rl_image_resize(t, size, nl, antialias, out);
}

/* }==================== */

/* {==================== crop, normalise, stack */

/* Python's round(d / 2) for an integer d >= 0: ties go to the even neighbour. */
static int64_t half_round_even(int64_t d) {
  int64_t k = d / 2;
  return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

rl_status rl_image_center_crop(const rl_tensor *t, int64_t h, int64_t w, rl_tensor **out) {
  rl_status st;
  if (!out) return rl_error(RL_EARG, "image.center_crop: no output pointer");
  *out = NULL;
  if ((st = check_image("image.center_crop", t)) != RL_OK) return st;
  int nd = t->ndim;
  int64_t H = t->shape[nd - 2], W = t->shape[nd - 1];
  if (h < 1 || w < 1 || h > H || w > W)
    return rl_error(RL_EARG, "image.center_crop: a %lld x %lld crop does not fit in %s", (long long)h, (long long)w,
                    rl_shapestr(t).s);
  int64_t top = half_round_even(H - h), left = half_round_even(W - w), shape[RL_MAX_DIMS], stride[RL_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  shape[nd - 2] = h;
  shape[nd - 1] = w;
  rl_tensor *v = NULL;
  if ((st = rl__view(t, nd, shape, stride, t->offset + top * stride[nd - 2] + left * stride[nd - 1], &v)))
    return st;
  st = rl_tensor_clone(v, out);
  rl_tensor_release(v);
  return st;
}

rl_status rl_image_normalize(const rl_tensor *t, int nc, const float *mean, const float *std, rl_tensor **out) {
  rl_status st;
  rl_tensor *c = NULL, *o = NULL;
  if (!out) return rl_error(RL_EARG, "image.normalize: no output pointer");
  *out = NULL;
  if (!t) return rl_error(RL_EARG, "image.normalize: no tensor");
  if (t->ndim < 3)
    return rl_error(RL_ESHAPE, "image.normalize: %s has no channel dim (needs [C x H x W] or [N x C x H x W])",
                    rl_shapestr(t).s);
  int64_t C = t->shape[t->ndim - 3];
  if (!mean || !std || nc != C)
    return rl_error(RL_ESHAPE, "image.normalize: %d means and stds for %s with %lld channels", nc,
                    rl_shapestr(t).s, (long long)C);
  for (int k = 0; k < nc; k++)
    if (!(std[k] > 0) || !isfinite(std[k]) || !isfinite(mean[k]))
      return rl_error(RL_EARG, "image.normalize: channel %d has mean %g, std %g (std must be > 0, both finite)",
                      k + 1, mean[k], std[k]);
  RL_TRY(rl__contig(t, &c));
  RL_TRY(rl_tensor_new_like(c, &o));
  const float *x = rl_tensor_data(c);
  float *y = rl_tensor_data(o);
  int64_t P = planes_of(t), hw = t->shape[t->ndim - 2] * t->shape[t->ndim - 1];
#pragma omp parallel for if (P * hw > (1 << 16))
  for (int64_t p = 0; p < P; p++) {
    float m = mean[p % C], s = std[p % C];
    for (int64_t i = p * hw; i < (p + 1) * hw; i++) y[i] = (x[i] - m) / s;
  }
  *out = o;
  o = NULL;
cleanup:
  rl_tensor_release(c);
  rl_tensor_release(o);
  return st;
}

rl_status rl_image_stack(int n, rl_tensor *const *imgs, rl_tensor **out) {
  rl_status st;
  rl_tensor *o = NULL, *c = NULL;
  if (!out) return rl_error(RL_EARG, "image.stack: no output pointer");
  *out = NULL;
  if (n < 1 || !imgs) return rl_error(RL_EARG, "image.stack: %d images (needs at least 1)", n);
  for (int i = 0; i < n; i++) {
    if (!imgs[i]) return rl_error(RL_EARG, "image.stack: image %d is missing", i + 1);
    if (!rl_tensor_same_shape(imgs[i], imgs[0]))
      return rl_error(RL_ESHAPE, "image.stack: image %d is %s, image 1 is %s", i + 1, rl_shapestr(imgs[i]).s,
                      rl_shapestr(imgs[0]).s);
  }
  if (imgs[0]->ndim >= RL_MAX_DIMS)
    return rl_error(RL_ESHAPE, "image.stack: images %s already have %d dims", rl_shapestr(imgs[0]).s, RL_MAX_DIMS);
  int64_t shape[RL_MAX_DIMS];
  shape[0] = n;
  memcpy(shape + 1, imgs[0]->shape, sizeof *shape * (size_t)imgs[0]->ndim);
  RL_TRY(rl_tensor_new(imgs[0]->ndim + 1, shape, &o));
  int64_t each = rl_tensor_numel(imgs[0]);
  for (int i = 0; i < n; i++) {
    RL_TRY(rl__contig(imgs[i], &c));
    memcpy(rl_tensor_data(o) + i * each, rl_tensor_data(c), sizeof(float) * (size_t)each);
    rl_tensor_release(c);
    c = NULL;
  }
  *out = o;
  o = NULL;
cleanup:
  rl_tensor_release(c);
  rl_tensor_release(o);
  return st;
}

/* }==================== */
