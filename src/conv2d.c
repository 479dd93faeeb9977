/* conv2d.c: 2-D convolution (PyTorch's Conv2d) by im2col + sgemm, with its
** input and parameter gradients and the differentiable call. */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "internal.h"
#include "nn.h"

/* The column buffer of one chunk is at most this many floats (16 MB; more
** only when a single output row needs more). A chunk that stays in the
** last-level cache (32 MB here) is written by im2col and read back by sgemm
** without a trip to memory, and the workspace stays far below 64 MB. */
#define COL_BUDGET ((int64_t)4 << 20)
/* Chunks of several samples are assembled until the sgemm has this many
** columns: small late layers (7 x 7) would otherwise run thin products. */
#define COL_TARGET ((int64_t)2048)
/* Below this many elements a bias pass is not worth a thread team. */
#define PAR_MIN ((int64_t)1 << 15)
/* Attribute values beyond this are certainly mistakes, and would overflow. */
#define PARAM_MAX ((int64_t)1 << 24)

rl_conv2d_params rl_conv2d_default_params(void) {
  return (rl_conv2d_params){{1, 1}, {0, 0}, {1, 1}, 1};
}

/* {==================== geometry and validation */

typedef struct geom {
  int64_t n, c, h, w;       /* input */
  int64_t oc, icg, kh, kw;  /* weight: out x in/groups x kh x kw */
  int64_t oh, ow, groups, ocg;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t k, hw, ohw;       /* k = icg*kh*kw: rows of a column matrix */
  int direct;               /* 1x1, stride 1, no padding: the input is its own column matrix */
} geom;

static rl_status check_params(const char *fn, const rl_conv2d_params *p) {
  if (!p) return rl_error(RL_EARG, "%s: params are missing", fn);
  for (int i = 0; i < 2; i++) {
    if (p->stride[i] < 1 || p->stride[i] > PARAM_MAX)
      return rl_error(RL_EARG, "%s: stride %lld x %lld must be >= 1", fn, (long long)p->stride[0],
                      (long long)p->stride[1]);
    if (p->padding[i] < 0 || p->padding[i] > PARAM_MAX)
      return rl_error(RL_EARG, "%s: padding %lld x %lld must be >= 0", fn, (long long)p->padding[0],
                      (long long)p->padding[1]);
    if (p->dilation[i] < 1 || p->dilation[i] > PARAM_MAX)
      return rl_error(RL_EARG, "%s: dilation %lld x %lld must be >= 1", fn,
                      (long long)p->dilation[0], (long long)p->dilation[1]);
  }
  if (p->groups < 1 || p->groups > PARAM_MAX)
    return rl_error(RL_EARG, "%s: groups %lld must be >= 1", fn, (long long)p->groups);
  return RL_OK;
}

static rl_status conv_geom(const char *fn, const rl_tensor *x, const rl_tensor *w,
                           const rl_tensor *b, const rl_conv2d_params *p, geom *g) {
  rl_status st = check_params(fn, p);
  if (st) return st;
  if (x->ndim != 4)
    return rl_error(RL_ESHAPE, "%s: input %s must be 4-D (N x C x H x W)", fn, rl_shapestr(x).s);
  if (w->ndim != 4)
    return rl_error(RL_ESHAPE, "%s: weight %s must be 4-D (out x in/groups x kh x kw)", fn,
                    rl_shapestr(w).s);
  memset(g, 0, sizeof *g);
  g->n = x->shape[0], g->c = x->shape[1], g->h = x->shape[2], g->w = x->shape[3];
  g->oc = w->shape[0], g->icg = w->shape[1], g->kh = w->shape[2], g->kw = w->shape[3];
  g->groups = p->groups;
  if (g->c % g->groups)
    return rl_error(RL_ESHAPE, "%s: groups %lld does not divide the %lld channels of input %s", fn,
                    (long long)g->groups, (long long)g->c, rl_shapestr(x).s);
  if (g->oc % g->groups)
    return rl_error(RL_ESHAPE, "%s: groups %lld does not divide the %lld output channels of weight %s",
                    fn, (long long)g->groups, (long long)g->oc, rl_shapestr(w).s);
  if (g->c != g->icg * g->groups) {
    if (g->groups == 1)
      return rl_error(RL_ESHAPE, "%s: input %s has %lld channels, weight %s expects %lld", fn,
                      rl_shapestr(x).s, (long long)g->c, rl_shapestr(w).s, (long long)g->icg);
    return rl_error(RL_ESHAPE, "%s: input %s has %lld channels, weight %s expects %lld (%lld groups x %lld)",
                    fn, rl_shapestr(x).s, (long long)g->c, rl_shapestr(w).s,
                    (long long)(g->icg * g->groups), (long long)g->groups, (long long)g->icg);
  }
  if (b && (b->ndim != 1 || b->shape[0] != g->oc))
    return rl_error(RL_ESHAPE, "%s: bias %s must be [%lld] to match weight %s", fn, rl_shapestr(b).s,
                    (long long)g->oc, rl_shapestr(w).s);
  g->sh = p->stride[0], g->sw = p->stride[1];
  g->ph = p->padding[0], g->pw = p->padding[1];
  g->dh = p->dilation[0], g->dw = p->dilation[1];
  int64_t ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1;
  if (ekh > g->h + 2 * g->ph || ekw > g->w + 2 * g->pw)
    return rl_error(RL_ESHAPE,
                    "%s: kernel %lld x %lld (%lld x %lld dilated) is larger than input %s padded by %lld x %lld",
                    fn, (long long)g->kh, (long long)g->kw, (long long)ekh, (long long)ekw,
                    rl_shapestr(x).s, (long long)g->ph, (long long)g->pw);
  g->oh = (g->h + 2 * g->ph - ekh) / g->sh + 1;
  g->ow = (g->w + 2 * g->pw - ekw) / g->sw + 1;
  g->ocg = g->oc / g->groups;
  g->k = g->icg * g->kh * g->kw;
  g->hw = g->h * g->w;
  g->ohw = g->oh * g->ow;
  g->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
  return RL_OK;
}

/* The output gradient must have the forward output's shape. */
static rl_status check_gy(const char *fn, const rl_tensor *gy, const geom *g) {
  const int64_t want[4] = {g->n, g->oc, g->oh, g->ow};
  if (gy->ndim != 4 || memcmp(gy->shape, want, sizeof want))
    return rl_error(RL_ESHAPE, "%s: output gradient %s should be %s", fn, rl_shapestr(gy).s,
                    rl_shapestr_dims(4, want).s);
  return RL_OK;
}
/* }==================== */

/* {==================== im2col and col2im
** A chunk is either nb whole samples (rows = oh) or one sample's output rows
** [oh0, oh0 + rows). Its column matrix has k rows; row (c, i, j) holds, for
** every output position of the chunk, the input pixel that kernel tap (i, j)
** of channel c sees there (0 in the padding). Samples sit side by side,
** sample s at column s * rows * ow; ld = ncols is the row length.
**
** Threads. OpenBLAS's own threads are never used here: on 2 cores its
** spinning workers and an OpenMP team fought over the cores and cost 2-4x.
** Instead one OpenMP team runs the whole kernel, each thread calling a
** single-threaded sgemm, in one of two modes:
**   own:  with enough chunks, each thread takes whole chunks (dynamic
**         schedule) with its own column buffer; no thread waits for another
**         until the end, so a core lost to another process costs only its
**         share. (Backward to the input: whole samples per thread, since
**         col2im of one sample's row chunks overlaps.)
**   team: otherwise (batch 1, small images) the team shares each chunk:
**         im2col/col2im as worksharing loops, the sgemm split along its
**         longer side (each thread packs all of the other operand).
** The *_team helpers below are orphaned worksharing loops: called by the
** whole team, each ends with a barrier. */

typedef struct chunk {
  int64_t n0, nb, oh0, rows, ncols;
} chunk;

static int team_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static int team_size(void) {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

/* The output columns [lo, hi) of a row for which the tap at iw0 + o*sw lies
** inside [0, w). */
static void valid_range(int64_t iw0, int64_t sw, int64_t w, int64_t ow, int64_t *lo, int64_t *hi) {
  int64_t l = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
  int64_t h = iw0 > w - 1 ? 0 : (w - 1 - iw0) / sw + 1;
  if (h > ow) h = ow;
  if (l > h) l = h;
  *lo = l, *hi = h;
}

/* x points at channel 0 of the chunk's group in sample n0. Shared by
** (sample, channel, kernel row), so 3-channel first layers balance too. */
static void im2col_item(const geom *g, const float *x, const chunk *ck, float *col, int64_t it) {
  const int64_t icg = g->icg, kh = g->kh, ld = ck->ncols, span = ck->rows * g->ow;
  const int64_t s = it / (icg * kh), c = it / kh % icg, i = it % kh;
  const float *plane = x + s * g->c * g->hw + c * g->hw;
  for (int64_t j = 0; j < g->kw; j++) {
    float *dst = col + ((c * kh + i) * g->kw + j) * ld + s * span;
    const int64_t iw0 = j * g->dw - g->pw, sw = g->sw;
    int64_t lo, hi;
    valid_range(iw0, sw, g->w, g->ow, &lo, &hi);
    for (int64_t r = 0; r < ck->rows; r++, dst += g->ow) {
      const int64_t ih = (ck->oh0 + r) * g->sh - g->ph + i * g->dh;
      if (ih < 0 || ih >= g->h) {
        memset(dst, 0, (size_t)g->ow * sizeof *dst);
        continue;
      }
      const float *src = plane + ih * g->w;
      for (int64_t o = 0; o < lo; o++) dst[o] = 0;
      if (sw == 1)
        memcpy(dst + lo, src + (iw0 + lo), (size_t)(hi - lo) * sizeof *dst);
      else
        for (int64_t o = lo; o < hi; o++) dst[o] = src[iw0 + o * sw];
      for (int64_t o = hi; o < g->ow; o++) dst[o] = 0;
    }
  }
}

static void im2col_team(const geom *g, const float *x, const chunk *ck, float *col) {
  const int64_t items = ck->nb * g->icg * g->kh;
#pragma omp for schedule(static)
  for (int64_t it = 0; it < items; it++) im2col_item(g, x, ck, col, it);
}

/* The same, by one thread alone. */
static void im2col_serial(const geom *g, const float *x, const chunk *ck, float *col) {
  const int64_t items = ck->nb * g->icg * g->kh;
  for (int64_t it = 0; it < items; it++) im2col_item(g, x, ck, col, it);
}

/* The adjoint of im2col, written as a gather: each input row collects the
** column entries that came from it, so rows are shared out without races. */
static void col2im_item(const geom *g, const float *col, const chunk *ck, float *x, int64_t it) {
  const int64_t icg = g->icg, h = g->h, ld = ck->ncols, span = ck->rows * g->ow;
  const int64_t s = it / (icg * h), c = it / h % icg, ih = it % h;
  float *dst = x + s * g->c * g->hw + c * g->hw + ih * g->w;
  for (int64_t i = 0; i < g->kh; i++) {
    const int64_t t = ih + g->ph - i * g->dh; /* = oh * sh for the output row that saw ih */
    if (t < 0 || t % g->sh) continue;
    const int64_t r = t / g->sh - ck->oh0;
    if (r < 0 || r >= ck->rows) continue;
    for (int64_t j = 0; j < g->kw; j++) {
      const float *src = col + ((c * g->kh + i) * g->kw + j) * ld + s * span + r * g->ow;
      const int64_t iw0 = j * g->dw - g->pw, sw = g->sw;
      int64_t lo, hi;
      valid_range(iw0, sw, g->w, g->ow, &lo, &hi);
      for (int64_t o = lo; o < hi; o++) dst[iw0 + o * sw] += src[o];
    }
  }
}

static void col2im_team(const geom *g, const float *col, const chunk *ck, float *x) {
  const int64_t items = ck->nb * g->icg * g->h;
#pragma omp for schedule(static)
  for (int64_t it = 0; it < items; it++) col2im_item(g, col, ck, x, it);
}

static void col2im_serial(const geom *g, const float *col, const chunk *ck, float *x) {
  const int64_t items = ck->nb * g->icg * g->h;
  for (int64_t it = 0; it < items; it++) col2im_item(g, col, ck, x, it);
}

/* Between the [ocg x ncols] product of a multi-sample chunk and the NCHW
** tensor y (the group's channels): out = 1 copies the product to y, out = 0
** gathers y's values into it. */
static void shuffle_team(const geom *g, const chunk *ck, float *prod, float *y, int64_t grp, int out) {
  const int64_t items = ck->nb * g->ocg;
#pragma omp for schedule(static)
  for (int64_t it = 0; it < items; it++) {
    const int64_t s = it / g->ocg, o = it % g->ocg;
    float *t = y + ((ck->n0 + s) * g->oc + grp * g->ocg + o) * g->ohw;
    float *p = prod + o * ck->ncols + s * g->ohw;
    if (out)
      memcpy(t, p, (size_t)g->ohw * sizeof *t);
    else
      memcpy(p, t, (size_t)g->ohw * sizeof *t);
  }
}

static void scatter_serial(const geom *g, const chunk *ck, const float *prod, float *y, int64_t grp) {
  for (int64_t s = 0; s < ck->nb; s++)
    for (int64_t o = 0; o < g->ocg; o++)
      memcpy(y + ((ck->n0 + s) * g->oc + grp * g->ocg + o) * g->ohw, prod + o * ck->ncols + s * g->ohw,
             (size_t)g->ohw * sizeof *y);
}

static void gather_serial(const geom *g, const chunk *ck, float *prod, const float *y, int64_t grp) {
  for (int64_t s = 0; s < ck->nb; s++)
    for (int64_t o = 0; o < g->ocg; o++)
      memcpy(prod + o * ck->ncols + s * g->ohw, y + ((ck->n0 + s) * g->oc + grp * g->ocg + o) * g->ohw,
             (size_t)g->ohw * sizeof *y);
}

/* This thread's share [*a, *b) of n columns. */
static void my_share(int64_t n, int64_t *a, int64_t *b) {
  const int64_t t = team_id(), nt = team_size();
  *a = n * t / nt, *b = n * (t + 1) / nt;
}

/* Chunk sizes: whole samples while a sample's columns fit the budget (as
** many as reach COL_TARGET columns), else runs of output rows. */
static void plan_chunks(const geom *g, int64_t budget, int64_t *nb, int64_t *rows) {
  if (g->k * g->ohw <= budget) {
    int64_t want = (COL_TARGET + g->ohw - 1) / g->ohw, fit = budget / (g->k * g->ohw);
    *nb = want < fit ? want : fit;
    if (*nb > g->n) *nb = g->n;
    *rows = g->oh;
  } else {
    *nb = 1;
    *rows = budget / (g->k * g->ow);
    if (*rows < 1) *rows = 1;
  }
}

/* Advances ck over the chunks; returns 0 after the last one. */
static int next_chunk(const geom *g, int64_t nb, int64_t rows, chunk *ck, int first) {
  if (first) {
    ck->n0 = 0, ck->oh0 = 0, ck->nb = 0, ck->rows = 0;
  } else if (ck->oh0 + ck->rows < g->oh) {
    ck->oh0 += ck->rows;
  } else {
    ck->n0 += ck->nb;
    ck->oh0 = 0;
    if (ck->n0 >= g->n) return 0;
  }
  ck->nb = g->n - ck->n0 < nb ? g->n - ck->n0 : nb;
  ck->rows = g->oh - ck->oh0 < rows ? g->oh - ck->oh0 : rows;
  ck->ncols = ck->nb * ck->rows * g->ow;
  return 1;
}
/* }==================== */

/* {==================== kernels
** Team mode: every thread walks the same chunks, so all meet the same
** barriers; the interrupt flag is read once per chunk by one thread and
** acted on by all. Own mode: whichever thread finishes a chunk reads it, and
** the others skip their remaining chunks. Either way the caller then
** returns RL_EINTR through rl_check_interrupt (which clears the flag). */

/* Column (and, for multi-sample chunks, product) buffers for `copies` threads. */
static rl_status workspaces(const char *fn, const geom *g, int64_t nb, int64_t rows, int copies,
                            float **col, float **tmp) {
  *col = rl_workspace(RL_WS_COL, (size_t)(copies * g->k * nb * rows * g->ow));
  *tmp = NULL;
  if (*col && nb > 1) *tmp = rl_workspace(RL_WS_TMP, (size_t)(copies * g->ocg * nb * g->ohw));
  if (!*col || (nb > 1 && !*tmp)) return rl__nomem(fn);
  return RL_OK;
}

/* Sets *stop for the whole team; ends with the single's barrier. */
#define TEAM_POLL(stop)                                                        \
  _Pragma("omp single") (stop) = rl_interrupted()

static void conv_forward_team(const geom *g, const float *X, const float *W, float *Y, float *col,
                              float *tmp, int64_t nb, int64_t rows, int nt, int *stop) {
#pragma omp parallel num_threads(nt)
  {
    chunk ck;
    for (int first = 1; next_chunk(g, nb, rows, &ck, first); first = 0) {
      for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *wg = W + grp * g->ocg * g->k;
        int64_t a, b;
        im2col_team(g, X + (ck.n0 * g->c + grp * g->icg) * g->hw, &ck, col);
        float *out = tmp;
        int64_t ldo = ck.ncols;
        if (ck.nb == 1) out = Y + (ck.n0 * g->oc + grp * g->ocg) * g->ohw + ck.oh0 * g->ow, ldo = g->ohw;
        if (g->ocg <= ck.ncols) { /* split the columns */
          my_share(ck.ncols, &a, &b);
          if (b > a) rl_sgemm(0, 0, g->ocg, b - a, g->k, 1, wg, g->k, col + a, ck.ncols, 0, out + a, ldo);
        } else { /* split the output channels */
          my_share(g->ocg, &a, &b);
          if (b > a)
            rl_sgemm(0, 0, b - a, ck.ncols, g->k, 1, wg + a * g->k, g->k, col, ck.ncols, 0, out + a * ldo, ldo);
        }
#pragma omp barrier
        if (ck.nb > 1) shuffle_team(g, &ck, tmp, Y, grp, 1);
      }
      TEAM_POLL(*stop);
      if (*stop) break;
    }
  }
}

/* Forward with enough chunks to go round: each thread takes whole chunks
** (dynamic schedule) with its own column buffer, so no thread waits for
** another until the end, and a core taken by another process costs only
** its share. */
static void conv_forward_own(const geom *g, const float *X, const float *W, float *Y, float *col,
                             float *tmp, int64_t nb, int64_t rows, int nt, int *stop) {
  const int64_t nrow = (g->oh + rows - 1) / rows, nchunks = (g->n + nb - 1) / nb * nrow;
  const int64_t colsz = g->k * nb * rows * g->ow, tmpsz = g->ocg * nb * g->ohw;
  int flag = 0;
#pragma omp parallel num_threads(nt)
  {
    float *mycol = col + team_id() * colsz, *mytmp = tmp ? tmp + team_id() * tmpsz : NULL;
#pragma omp for schedule(dynamic, 1)
    for (int64_t id = 0; id < nchunks; id++) {
      int quit;
#pragma omp atomic read
      quit = flag;
      if (quit) continue;
      chunk ck;
      ck.n0 = id / nrow * nb, ck.oh0 = id % nrow * rows;
      ck.nb = g->n - ck.n0 < nb ? g->n - ck.n0 : nb;
      ck.rows = g->oh - ck.oh0 < rows ? g->oh - ck.oh0 : rows;
      ck.ncols = ck.nb * ck.rows * g->ow;
      for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *wg = W + grp * g->ocg * g->k;
        im2col_serial(g, X + (ck.n0 * g->c + grp * g->icg) * g->hw, &ck, mycol);
        if (ck.nb == 1) {
          rl_sgemm(0, 0, g->ocg, ck.ncols, g->k, 1, wg, g->k, mycol, ck.ncols, 0,
                   Y + (ck.n0 * g->oc + grp * g->ocg) * g->ohw + ck.oh0 * g->ow, g->ohw);
        } else {
          rl_sgemm(0, 0, g->ocg, ck.ncols, g->k, 1, wg, g->k, mycol, ck.ncols, 0, mytmp, ck.ncols);
          scatter_serial(g, &ck, mytmp, Y, grp);
        }
      }
      if (rl_interrupted()) {
#pragma omp atomic write
        flag = 1;
      }
    }
  }
  *stop = flag;
}

/* Backward to the input with whole samples per thread: col2im of one
** sample's row chunks overlaps, of different samples never, so a thread
** that owns its samples needs no barrier. */
static void conv_backward_input_own(const geom *g, const float *GY, const float *W, float *GX,
                                    float *col, float *tmp, int64_t nb, int64_t rows, int nt,
                                    int *stop) {
  const int64_t nsg = (g->n + nb - 1) / nb;
  const int64_t colsz = g->k * nb * rows * g->ow, tmpsz = g->ocg * nb * g->ohw;
  int flag = 0;
#pragma omp parallel num_threads(nt)
  {
    float *mycol = col + team_id() * colsz, *mytmp = tmp ? tmp + team_id() * tmpsz : NULL;
#pragma omp for schedule(dynamic, 1)
    for (int64_t sg = 0; sg < nsg; sg++) {
      int quit;
#pragma omp atomic read
      quit = flag;
      if (quit) continue;
      chunk ck;
      ck.n0 = sg * nb;
      ck.nb = g->n - ck.n0 < nb ? g->n - ck.n0 : nb;
      for (ck.oh0 = 0; ck.oh0 < g->oh; ck.oh0 += rows) {
        ck.rows = g->oh - ck.oh0 < rows ? g->oh - ck.oh0 : rows;
        ck.ncols = ck.nb * ck.rows * g->ow;
        for (int64_t grp = 0; grp < g->groups; grp++) {
          const float *wg = W + grp * g->ocg * g->k, *gyg = mytmp;
          int64_t ld = ck.ncols;
          if (ck.nb == 1) {
            gyg = GY + (ck.n0 * g->oc + grp * g->ocg) * g->ohw + ck.oh0 * g->ow;
            ld = g->ohw;
          } else {
            gather_serial(g, &ck, mytmp, GY, grp);
          }
          rl_sgemm(1, 0, g->k, ck.ncols, g->ocg, 1, wg, g->k, gyg, ld, 0, mycol, ck.ncols);
          col2im_serial(g, mycol, &ck, GX + (ck.n0 * g->c + grp * g->icg) * g->hw);
        }
      }
      if (rl_interrupted()) {
#pragma omp atomic write
        flag = 1;
      }
    }
  }
  *stop = flag;
}

static void conv_backward_input_team(const geom *g, const float *GY, const float *W, float *GX,
                                     float *col, float *tmp, int64_t nb, int64_t rows, int nt,
                                     int *stop) {
#pragma omp parallel num_threads(nt)
  {
    chunk ck;
    for (int first = 1; next_chunk(g, nb, rows, &ck, first); first = 0) {
      for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *wg = W + grp * g->ocg * g->k, *gyg = tmp;
        int64_t ld = ck.ncols, a, b;
        if (ck.nb == 1) {
          gyg = GY + (ck.n0 * g->oc + grp * g->ocg) * g->ohw + ck.oh0 * g->ow;
          ld = g->ohw;
        } else {
          shuffle_team(g, &ck, tmp, (float *)GY, grp, 0);
        }
        if (g->k <= ck.ncols) { /* split the columns */
          my_share(ck.ncols, &a, &b);
          if (b > a) rl_sgemm(1, 0, g->k, b - a, g->ocg, 1, wg, g->k, gyg + a, ld, 0, col + a, ck.ncols);
        } else { /* split the kernel taps (rows of col) */
          my_share(g->k, &a, &b);
          if (b > a)
            rl_sgemm(1, 0, b - a, ck.ncols, g->ocg, 1, wg + a, g->k, gyg, ld, 0, col + a * ck.ncols, ck.ncols);
        }
#pragma omp barrier
        col2im_team(g, col, &ck, GX + (ck.n0 * g->c + grp * g->icg) * g->hw);
      }
      TEAM_POLL(*stop);
      if (*stop) break;
    }
  }
}

/* Each thread owns a slice of gw's columns (kernel taps), so the sums over
** the chunks need no reduction. */
static void conv_backward_params_team(const geom *g, const float *X, const float *GY, float *GW,
                                      float *col, float *tmp, int64_t nb, int64_t rows, int nt,
                                      int *stop) {
#pragma omp parallel num_threads(nt)
  {
    chunk ck;
    for (int first = 1; next_chunk(g, nb, rows, &ck, first); first = 0) {
      for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *gyg = tmp;
        int64_t ld = ck.ncols, a, b;
        im2col_team(g, X + (ck.n0 * g->c + grp * g->icg) * g->hw, &ck, col);
        if (ck.nb == 1) {
          gyg = GY + (ck.n0 * g->oc + grp * g->ocg) * g->ohw + ck.oh0 * g->ow;
          ld = g->ohw;
        } else {
          shuffle_team(g, &ck, tmp, (float *)GY, grp, 0);
        }
        my_share(g->k, &a, &b);
        if (b > a)
          rl_sgemm(0, 1, g->ocg, b - a, ck.ncols, 1, gyg, ld, col + a * ck.ncols, ck.ncols, 1,
                   GW + grp * g->ocg * g->k + a, g->k);
#pragma omp barrier
      }
      TEAM_POLL(*stop);
      if (*stop) break;
    }
  }
}

rl_status rl_conv2d_forward(const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                            const rl_conv2d_params *p, rl_tensor **y) {
  rl_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL;
  geom g;
  rl_status st;
  *y = NULL;
  RL_TRY(conv_geom("conv2d", x, w, b, p, &g));
  RL_TRY(rl__contig(x, &xc));
  RL_TRY(rl__contig(w, &wc));
  if (b) RL_TRY(rl__contig(b, &bc));
  RL_TRY(rl_tensor_new(4, (int64_t[]){g.n, g.oc, g.oh, g.ow}, &out));
  const int nt = rl_threads();
  const float *X = rl_tensor_data(xc), *W = rl_tensor_data(wc);
  float *Y = rl_tensor_data(out);
  if (g.direct) {
    /* The input is the column matrix: plain sgemms, threaded by OpenBLAS. */
    for (int64_t n = 0; n < g.n; n++) {
      RL_TRY(rl_check_interrupt("conv2d"));
      for (int64_t grp = 0; grp < g.groups; grp++)
        rl_sgemm(0, 0, g.ocg, g.hw, g.icg, 1, W + grp * g.ocg * g.k, g.k,
                 X + (n * g.c + grp * g.icg) * g.hw, g.hw, 0, Y + (n * g.oc + grp * g.ocg) * g.ohw,
                 g.ohw);
    }
  } else {
    int64_t nb, rows;
    float *col, *tmp;
    int stop = 0;
    int own = 0;
    if (nt > 1) { /* one column buffer per thread, each a share of the budget */
      plan_chunks(&g, COL_BUDGET / nt, &nb, &rows);
      /* Thinner multi-sample chunks rather than idle threads. */
      if (nb > 1 && (g.n + nb - 1) / nb < 2 * nt) nb = (g.n + 2 * nt - 1) / (2 * nt);
      own = (g.n + nb - 1) / nb * ((g.oh + rows - 1) / rows) >= 2 * nt;
    }
    if (!own) plan_chunks(&g, COL_BUDGET, &nb, &rows);
    RL_TRY(workspaces("conv2d", &g, nb, rows, own ? nt : 1, &col, &tmp));
    int prev = rl_blas_set_threads(1);
    if (own)
      conv_forward_own(&g, X, W, Y, col, tmp, nb, rows, nt, &stop);
    else
      conv_forward_team(&g, X, W, Y, col, tmp, nb, rows, nt, &stop);
    rl_blas_set_threads(prev);
    if (stop) RL_TRY(rl_check_interrupt("conv2d"));
  }
  if (bc) {
    const float *B = rl_tensor_data(bc);
    const int64_t planes = g.n * g.oc, ohw = g.ohw;
#pragma omp parallel for num_threads(nt) if (planes * ohw > PAR_MIN) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
      float *yp = Y + pl * ohw, bv = B[pl % g.oc];
      for (int64_t i = 0; i < ohw; i++) yp[i] += bv;
    }
  }
  *y = out;
  out = NULL;
cleanup:
  rl_tensor_release(out);
  rl_tensor_release(xc);
  rl_tensor_release(wc);
  rl_tensor_release(bc);
  return st;
}

rl_status rl_conv2d_backward_input(const rl_tensor *x, const rl_tensor *gy, const rl_tensor *w,
                                   const rl_conv2d_params *p, rl_tensor **gx) {
  rl_tensor *gyc = NULL, *wc = NULL, *out = NULL;
  geom g;
  rl_status st;
  *gx = NULL;
  RL_TRY(conv_geom("conv2d_backward_input", x, w, NULL, p, &g));
  RL_TRY(check_gy("conv2d_backward_input", gy, &g));
  RL_TRY(rl__contig(gy, &gyc));
  RL_TRY(rl__contig(w, &wc));
  const int nt = rl_threads();
  const float *GY = rl_tensor_data(gyc), *W = rl_tensor_data(wc);
  if (g.direct) {
    RL_TRY(rl_tensor_new(4, x->shape, &out));
    float *GX = rl_tensor_data(out);
    for (int64_t n = 0; n < g.n; n++) {
      RL_TRY(rl_check_interrupt("conv2d"));
      for (int64_t grp = 0; grp < g.groups; grp++)
        rl_sgemm(1, 0, g.icg, g.hw, g.ocg, 1, W + grp * g.ocg * g.k, g.k,
                 GY + (n * g.oc + grp * g.ocg) * g.ohw, g.ohw, 0,
                 GX + (n * g.c + grp * g.icg) * g.hw, g.hw);
    }
  } else {
    int64_t nb, rows;
    float *col, *tmp;
    int stop = 0;
    RL_TRY(rl_tensor_zeros(4, x->shape, &out));
    int own = 0;
    if (nt > 1) {
      plan_chunks(&g, COL_BUDGET / nt, &nb, &rows);
      if (nb > 1 && (g.n + nb - 1) / nb < 2 * nt) nb = (g.n + 2 * nt - 1) / (2 * nt);
      own = (g.n + nb - 1) / nb >= nt;
    }
    if (!own) plan_chunks(&g, COL_BUDGET, &nb, &rows);
    RL_TRY(workspaces("conv2d_backward_input", &g, nb, rows, own ? nt : 1, &col, &tmp));
    int prev = rl_blas_set_threads(1);
    if (own)
      conv_backward_input_own(&g, GY, W, rl_tensor_data(out), col, tmp, nb, rows, nt, &stop);
    else
      conv_backward_input_team(&g, GY, W, rl_tensor_data(out), col, tmp, nb, rows, nt, &stop);
    rl_blas_set_threads(prev);
    if (stop) RL_TRY(rl_check_interrupt("conv2d"));
  }
  *gx = out;
  out = NULL;
cleanup:
  rl_tensor_release(out);
  rl_tensor_release(gyc);
  rl_tensor_release(wc);
  return st;
}

/* gw and gb may each be NULL (that gradient is not computed). */
rl_status rl_conv2d_backward_params(const rl_tensor *x, const rl_tensor *gy, const rl_tensor *w,
                                    const rl_conv2d_params *p, rl_tensor **gw, rl_tensor **gb) {
  rl_tensor *xc = NULL, *gyc = NULL, *ow = NULL, *ob = NULL;
  geom g;
  rl_status st;
  if (gw) *gw = NULL;
  if (gb) *gb = NULL;
  RL_TRY(conv_geom("conv2d_backward_params", x, w, NULL, p, &g));
  RL_TRY(check_gy("conv2d_backward_params", gy, &g));
  RL_TRY(rl__contig(gy, &gyc));
  const int nt = rl_threads();
  const float *GY = rl_tensor_data(gyc);
  if (gw) {
    RL_TRY(rl__contig(x, &xc));
    RL_TRY(rl_tensor_zeros(4, w->shape, &ow));
    const float *X = rl_tensor_data(xc);
    float *GW = rl_tensor_data(ow);
    if (g.direct) {
      for (int64_t n = 0; n < g.n; n++) {
        RL_TRY(rl_check_interrupt("conv2d"));
        for (int64_t grp = 0; grp < g.groups; grp++)
          rl_sgemm(0, 1, g.ocg, g.icg, g.hw, 1, GY + (n * g.oc + grp * g.ocg) * g.ohw, g.ohw,
                   X + (n * g.c + grp * g.icg) * g.hw, g.hw, 1, GW + grp * g.ocg * g.k, g.k);
      }
    } else {
      int64_t nb, rows;
      float *col, *tmp;
      int stop = 0;
      plan_chunks(&g, COL_BUDGET, &nb, &rows);
      RL_TRY(workspaces("conv2d_backward_params", &g, nb, rows, 1, &col, &tmp));
      int prev = rl_blas_set_threads(1);
      conv_backward_params_team(&g, X, GY, GW, col, tmp, nb, rows, nt, &stop);
      rl_blas_set_threads(prev);
      if (stop) RL_TRY(rl_check_interrupt("conv2d"));
    }
  }
  if (gb) {
    RL_TRY(rl_tensor_zeros(1, &g.oc, &ob));
    float *GB = rl_tensor_data(ob);
    const int64_t oc = g.oc, ohw = g.ohw, nn = g.n;
#pragma omp parallel for num_threads(nt) if (nn * oc * ohw > PAR_MIN) schedule(static)
    for (int64_t o = 0; o < oc; o++) {
      double acc = 0;
      for (int64_t n = 0; n < nn; n++) {
        const float *q = GY + (n * oc + o) * ohw;
        float part = 0;
        for (int64_t i = 0; i < ohw; i++) part += q[i];
        acc += part;
      }
      GB[o] = (float)acc;
    }
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
/* }==================== */

/* {==================== the differentiable call */

static rl_status conv2d_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  *aux = NULL;
  return rl_conv2d_forward(in[0], in[1], n > 2 ? in[2] : NULL, attr, out);
}

/* Attribution asks for the input gradient only; the parameter gradients
** (a second pass over the columns) run only when a weight or bias needs them. */
static rl_status conv2d_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  rl_status st = RL_OK;
  (void)out, (void)aux;
  if (needs[0]) st = rl_conv2d_backward_input(in[0], gout, in[1], attr, &gin[0]);
  int nw = needs[1], nb = n > 2 && needs[2];
  if (st == RL_OK && (nw || nb))
    st = rl_conv2d_backward_params(in[0], gout, in[1], attr, nw ? &gin[1] : NULL, nb ? &gin[2] : NULL);
  return st;
}

static const char *const conv2d_inputs[] = {"input", "weight", "bias"};
const rl_opdef rl_op_conv2d = {"conv2d", 2, 3, conv2d_inputs, conv2d_fwd, conv2d_bwd};

rl_status rl_conv2d(rl_tensor *x, rl_tensor *w, rl_tensor *b, const rl_conv2d_params *p,
                    rl_tensor **y) {
  rl_conv2d_params a = p ? *p : rl_conv2d_default_params();
  rl_tensor *in[3] = {x, w, b};
  *y = NULL;
  if (!x || !w) return rl_error(RL_EARG, "conv2d: %s is missing", x ? "weight" : "input");
  return rl_op_apply(&rl_op_conv2d, &a, sizeof a, b ? 3 : 2, in, y);
}
/* }==================== */
