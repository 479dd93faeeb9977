/* colormap.c: value-to-RGB lookup through 256-entry tables (matplotlib's and Zennit's). */
#include <math.h>
#include <string.h>

#include "colormap.h"
#include "internal.h"

#include "colormap_tables.h"

static const char *const names[] = {"bwr", "seismic", "coolwarm", "jet", "viridis", "inferno", "gray", "coldnhot"};
_Static_assert(sizeof names / sizeof names[0] == RL_CMAP_COUNT, "one name per colour map");
_Static_assert(sizeof cmap_tables / sizeof cmap_tables[0] == RL_CMAP_COUNT, "one table per colour map");

const char *rl_colormap_name(rl_cmap c) { return (unsigned)c < RL_CMAP_COUNT ? names[c] : NULL; }

const float (*rl_colormap_table(rl_cmap c))[3] { return (unsigned)c < RL_CMAP_COUNT ? cmap_tables[c] : NULL; }

rl_status rl_colormap_find(const char *name, rl_cmap *out) {
  for (int k = 0; name && k < RL_CMAP_COUNT; k++)
    if (!strcmp(name, names[k])) {
      *out = (rl_cmap)k;
      return RL_OK;
    }
  return rl_error(RL_EARG, "colormap: unknown colour map '%s' (bwr, seismic, coolwarm, jet, viridis, inferno, "
                  "gray, coldnhot)", name ? name : "(null)");
}

rl_status rl_colormap_apply(const rl_tensor *t, rl_cmap cm, float vmin, float vmax, rl_tensor **out) {
  rl_status st;
  rl_tensor *c = NULL, *o = NULL;
  if (!out) return rl_error(RL_EARG, "colormap: no output pointer");
  *out = NULL;
  if (!t) return rl_error(RL_EARG, "colormap: no tensor");
  if ((unsigned)cm >= RL_CMAP_COUNT) return rl_error(RL_EARG, "colormap: unknown colour map %d", (int)cm);
  if (!(vmin < vmax) || !isfinite(vmin) || !isfinite(vmax))
    return rl_error(RL_EARG, "colormap: range [%g, %g] is not finite with vmin < vmax", vmin, vmax);
  int nd = t->ndim;
  int ok = nd == 2 || (nd == 3 && t->shape[0] == 1) || (nd == 4 && t->shape[1] == 1);
  if (!ok)
    return rl_error(RL_ESHAPE, "colormap: %s is not [H x W], [1 x H x W] or [N x 1 x H x W]", rl_shapestr(t).s);
  int64_t n = nd == 4 ? t->shape[0] : 1, h = t->shape[nd - 2], w = t->shape[nd - 1], hw = h * w;
  int64_t shape[4] = {n, 3, h, w};
  RL_TRY(rl__contig(t, &c));
  RL_TRY(nd == 4 ? rl_tensor_new(4, shape, &o) : rl_tensor_new(3, shape + 1, &o));
  const float *x = rl_tensor_data(c);
  float *y = rl_tensor_data(o);
  const float(*lut)[3] = cmap_tables[cm];
  const double lo = vmin, scale = 256.0 / ((double)vmax - vmin);
#pragma omp parallel for if (n * hw > (1 << 16))
  for (int64_t r = 0; r < n * h; r++) {
    int64_t b = r / h;
    const float *src = x + r * w;
    float *dst = y + b * 3 * hw + (r % h) * w;
    for (int64_t i = 0; i < w; i++) {
      double u = ((double)src[i] - lo) * scale;
      if (u != u) {
        dst[i] = dst[hw + i] = dst[2 * hw + i] = 0.0f;
        continue;
      }
      int k = u < 0 ? 0 : u >= 255 ? 255 : (int)u;
      dst[i] = lut[k][0];
      dst[hw + i] = lut[k][1];
      dst[2 * hw + i] = lut[k][2];
    }
  }
  *out = o;
  o = NULL;
cleanup:
  rl_tensor_release(c);
  rl_tensor_release(o);
  return st;
}
