/* image.h: PNG files to and from float CHW tensors, and the preprocessing
** kernels a vision model needs (resize, center crop, normalize, batch).
**
** Loading (libpng) accepts every PNG: gray, gray+alpha, RGB, RGBA, palette
** (with tRNS), at 1 to 16 bits, interlaced or not. The tensor is
** [C x H x W] float32 in [0, 1]: 8-bit samples / 255, 16-bit / 65535, no
** gamma or colour-profile conversion (the stored values, as PIL and
** torchvision read them). C is the stored channel count (palette images
** count as RGB, or RGBA when they carry tRNS; a tRNS colour key makes gray
** and RGB images gray+alpha and RGBA), or the count asked for:
**   RL_IMAGE_GRAY   1: luma 0.299 R + 0.587 G + 0.114 B (ITU-R 601, PIL's "L"), alpha dropped
**   RL_IMAGE_GA     2: luma and alpha (1 where the file has none)
**   RL_IMAGE_RGB    3: gray replicated, alpha dropped (not composited)
**   RL_IMAGE_RGBA   4: as RGB, alpha 1 where the file has none
** Images beyond RL_IMAGE_MAX_SIDE per side or RL_IMAGE_MAX_PIXELS, or whose
** pixel data could not fit in the bytes present, are refused before any
** pixel memory is allocated. Messages name the function and the file:
**   image.load: /x/y.png: not a PNG file
**
** Saving writes 8-bit gray, gray+alpha, RGB or RGBA from [C x H x W] (C = 1
** to 4), [H x W] (gray) or [1 x C x H x W]: values clamped to [0, 1],
** scaled by 255 and rounded to nearest; NaN is written as 0.
**
** libpng is confined to image.c (the one file including png.h); its
** allocations go through rl_mem_alloc, and its error longjmps never leave the
** function that set them up.
**
**   rl_tensor *img = NULL, *x = NULL;
**   if (rl_image_load("cat.png", RL_IMAGE_RGB, &img) == RL_OK &&
**       rl_image_resize_short(img, 256, 1, &x) == RL_OK) ...
*/
#ifndef RELUA_IMAGE_H
#define RELUA_IMAGE_H

#include "tensor.h"

enum {
  RL_IMAGE_ASIS = 0, /* the channels as stored */
  RL_IMAGE_GRAY = 1,
  RL_IMAGE_GA = 2,
  RL_IMAGE_RGB = 3,
  RL_IMAGE_RGBA = 4
};

#define RL_IMAGE_MAX_SIDE 32768
#define RL_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* {==================== PNG (image.c) */
RL_API rl_status rl_image_load(const char *path, int channels, rl_tensor **out);
/* From n bytes in memory; name only labels messages (NULL: "<memory>"). */
RL_API rl_status rl_image_load_mem(const void *buf, size_t n, const char *name, int channels,
                                   rl_tensor **out);
/* On failure the partly written file is removed. */
RL_API rl_status rl_image_save(const char *path, const rl_tensor *img);
/* Into a new buffer from rl_mem_alloc (*buf, *n); the caller rl_mem_free()s it. */
RL_API rl_status rl_image_save_mem(const rl_tensor *img, void **buf, size_t *n);
/* }==================== */

/* {==================== preprocessing (imgproc.c)
** These take [.. x H x W] with any number (>= 0) of leading dims, e.g.
** [C x H x W] or [N x C x H x W], any strides, and return new contiguous
** tensors. They are not recorded on the tape (inputs, not activations). */

/* Resamples to h x w with the triangle (bilinear) filter on pixel centres
** (align_corners = False). With antialias, a shrink by a factor s > 1
** widens the filter support from 1 to s input pixels, so every input pixel
** contributes: the convention of PIL's Image.resize(BILINEAR) and of
** torch.nn.functional.interpolate(mode="bilinear", antialias=True) and
** torchvision's Resize(antialias=True). Without antialias (or when
** enlarging) it is plain bilinear interpolation with edge clamping, as
** interpolate(mode="bilinear", align_corners=False). docs/formats.md has
** the weights. */
RL_API rl_status rl_image_resize(const rl_tensor *t, int64_t h, int64_t w, int antialias, rl_tensor **out);
/* torchvision's Resize(size) with an int: the shorter side becomes `size`,
** the longer one size * long / short, truncated. */
RL_API rl_status rl_image_resize_short(const rl_tensor *t, int64_t size, int antialias, rl_tensor **out);
/* The central h x w window; top = round((H - h) / 2) with ties to even, as
** torchvision's CenterCrop (Python's round). h <= H and w <= W. */
RL_API rl_status rl_image_center_crop(const rl_tensor *t, int64_t h, int64_t w, rl_tensor **out);
/* (x - mean[c]) / std[c] for channel c = the dim before H (t is [C x H x W]
** or [N x C x H x W]); nc must equal C, every std > 0. */
RL_API rl_status rl_image_normalize(const rl_tensor *t, int nc, const float *mean, const float *std,
                                    rl_tensor **out);
/* n tensors of one shape [C x H x W] (or any shape) into [n x C x H x W]. */
RL_API rl_status rl_image_stack(int n, rl_tensor *const *imgs, rl_tensor **out);

/* torchvision's ImageNet statistics, RGB order. */
RL_API extern const float rl_imagenet_mean[3];
RL_API extern const float rl_imagenet_std[3];
/* }==================== */

#endif
