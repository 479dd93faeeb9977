/* colormap.h: colour maps for heatmaps: a value per pixel to an RGB image.
**
** Each map is a 256-entry RGB table (entry k is the colour of k / 255):
** matplotlib's bwr, seismic, coolwarm, jet, viridis, inferno and gray,
** sampled from matplotlib 3.6 by tools/gen_colormaps.py, and Zennit's
** coldnhot (cyan-blue-black-red-yellow-white, black at the centre).
**
** rl_colormap_apply maps v to u = (v - vmin) / (vmax - vmin) and picks
** entry floor(256 u) clamped to 0..255, exactly as matplotlib's
** Colormap(Normalize(vmin, vmax)(v)) with its default under/over colours
** (the end entries); NaN becomes black. For values in [0, 1] pass vmin 0,
** vmax 1; for signed relevance scaled to [-1, 1] pass -1, 1, so 0 lands on
** the centre of bwr, seismic, coolwarm and coldnhot. (Zennit itself indexes
** with floor(255 u) and rounds colours to bytes; this can differ from it by
** one table step.)
**
**   rl_tensor *rgb = NULL;   // heat: [H x W] scaled to [-1, 1]
**   if (rl_colormap_apply(heat, RL_CMAP_COLDNHOT, -1, 1, &rgb) == RL_OK)
**     rl_image_save("heat.png", rgb);
**   rl_tensor_release(rgb);
*/
#ifndef RELUA_COLORMAP_H
#define RELUA_COLORMAP_H

#include "tensor.h"

typedef enum rl_cmap {
  RL_CMAP_BWR = 0,
  RL_CMAP_SEISMIC,
  RL_CMAP_COOLWARM,
  RL_CMAP_JET,
  RL_CMAP_VIRIDIS,
  RL_CMAP_INFERNO,
  RL_CMAP_GRAY,
  RL_CMAP_COLDNHOT,
  RL_CMAP_COUNT
} rl_cmap;

/* "bwr", "seismic", ...; NULL for a value out of range. */
RL_API const char *rl_colormap_name(rl_cmap c);
/* By name (as above); RL_EARG listing the names when unknown. */
RL_API rl_status rl_colormap_find(const char *name, rl_cmap *out);
/* The table: 256 entries of r, g, b in [0, 1]; NULL for a value out of range. */
RL_API const float (*rl_colormap_table(rl_cmap c))[3];

/* [H x W] or [1 x H x W] to [3 x H x W]; [N x 1 x H x W] to [N x 3 x H x W].
** vmin < vmax, both finite. Not recorded on the tape. */
RL_API rl_status rl_colormap_apply(const rl_tensor *t, rl_cmap c, float vmin, float vmax, rl_tensor **out);

#endif
