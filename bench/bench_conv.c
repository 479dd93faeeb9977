/* bench_conv.c: conv2d forward and backward_input at ResNet-18 and VGG-16
** layer shapes, as GFLOP/s and as a ratio to this machine's sgemm rate
** measured in the same run (the yardstick of DESIGN.md).
**
**   bench_conv [--quick] [--batch N] [--threads N] [--only SUBSTRING]
** --quick: batch 1 and 2, one repetition (a smoke test, not a measurement).
** Times are the best of the repetitions; "y-new ms" is what allocating and
** first touching a fresh output of that size costs alone (included in fwd). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relua.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "bench_conv: %s: %s\n", what, rl_errmsg());
  exit(1);
}

static rl_tensor *randn(int ndim, const int64_t *shape, uint64_t seed) {
  rl_rng r;
  rl_tensor *t;
  rl_rng_seed(&r, seed);
  if (rl_tensor_rand_normal(ndim, shape, 0, 1, &r, &t) != RL_OK) die("randn");
  return t;
}

/* {==================== sgemm yardstick */

/* Best of reps runs of C = A B for an m x n x k product, in GFLOP/s. */
static double sgemm_rate(int64_t m, int64_t n, int64_t k, int reps) {
  rl_tensor *a = randn(2, (int64_t[]){m, k}, 1), *b = randn(2, (int64_t[]){k, n}, 2), *c;
  if (rl_tensor_zeros(2, (int64_t[]){m, n}, &c) != RL_OK) die("zeros");
  double best = 1e30;
  for (int r = 0; r <= reps; r++) { /* run 0 warms up */
    double t0 = now();
    rl_sgemm(0, 0, m, n, k, 1, rl_tensor_data(a), k, rl_tensor_data(b), n, 0, rl_tensor_data(c), n);
    double t = now() - t0;
    if (r && t < best) best = t;
  }
  rl_tensor_release(a);
  rl_tensor_release(b);
  rl_tensor_release(c);
  return 2.0 * (double)m * (double)n * (double)k / best * 1e-9;
}
/* }==================== */

/* {==================== conv layers */

typedef struct layer {
  const char *net, *name;
  int64_t c, h, oc, k, stride, pad;
} layer;

static const layer layers[] = {
    {"resnet18", "conv1 7x7/2 3->64 @224", 3, 224, 64, 7, 2, 3},
    {"resnet18", "3x3 64->64 @56", 64, 56, 64, 3, 1, 1},
    {"resnet18", "3x3 128->128 @28", 128, 28, 128, 3, 1, 1},
    {"resnet18", "3x3 256->256 @14", 256, 14, 256, 3, 1, 1},
    {"resnet18", "3x3 512->512 @7", 512, 7, 512, 3, 1, 1},
    {"resnet18", "1x1/2 128->256 @28", 128, 28, 256, 1, 2, 0},
    {"vgg16", "3x3 64->64 @224", 64, 224, 64, 3, 1, 1},
    {"vgg16", "3x3 128->128 @112", 128, 112, 128, 3, 1, 1},
    {"vgg16", "3x3 256->256 @56", 256, 56, 256, 3, 1, 1},
    {"vgg16", "3x3 512->512 @28", 512, 28, 512, 3, 1, 1},
    {"vgg16", "3x3 512->512 @14", 512, 14, 512, 3, 1, 1},
};
enum { NLAYERS = sizeof layers / sizeof layers[0] };

/* Repetitions after a warm-up: enough for ~1.5 s per kernel, 2 to 10. The
** best run is reported, so a burst of load from another process on this
** shared machine spoils a figure only if it lasts through every run. */
static int reps_for(double t) {
  int r = (int)(1.5 / (t > 1e-6 ? t : 1e-6));
  return r < 2 ? 2 : r > 10 ? 10 : r;
}

typedef struct result { double fwd_ms, bwd_ms, fwd_gf, bwd_gf, alloc_ms; } result;

/* What a fresh output costs before any arithmetic: allocating and first
** touching it (page faults; large blocks come from mmap on every call). */
static double alloc_ms(const int64_t *shape) {
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    rl_tensor *t;
    double t0 = now();
    if (rl_tensor_new(4, shape, &t) != RL_OK) die("alloc");
    memset(rl_tensor_data(t), 0, (size_t)rl_tensor_numel(t) * sizeof(float));
    double t1 = now() - t0;
    rl_tensor_release(t);
    if (t1 < best) best = t1;
  }
  return best * 1e3;
}

static result run_layer(const layer *L, int64_t batch, int quick) {
  rl_conv2d_params p = rl_conv2d_default_params();
  p.stride[0] = p.stride[1] = L->stride;
  p.padding[0] = p.padding[1] = L->pad;
  rl_tensor *x = randn(4, (int64_t[]){batch, L->c, L->h, L->h}, 3);
  rl_tensor *w = randn(4, (int64_t[]){L->oc, L->c, L->k, L->k}, 4);
  rl_tensor *b = randn(1, (int64_t[]){L->oc}, 5), *y = NULL, *gx = NULL;
  double t0 = now();
  if (rl_conv2d_forward(x, w, b, &p, &y) != RL_OK) die(L->name);
  double tw = now() - t0, best = tw;
  int reps = quick ? 0 : reps_for(tw);
  for (int r = 0; r < reps; r++) {
    rl_tensor_release(y);
    t0 = now();
    if (rl_conv2d_forward(x, w, b, &p, &y) != RL_OK) die(L->name);
    double t = now() - t0;
    if (r == 0 || t < best) best = t;
  }
  result res;
  double flops = 2.0 * (double)batch * (double)(L->oc * y->shape[2] * y->shape[3]) *
                 (double)(L->c * L->k * L->k);
  res.fwd_ms = best * 1e3;
  res.fwd_gf = flops / best * 1e-9;
  t0 = now();
  if (rl_conv2d_backward_input(x, y, w, &p, &gx) != RL_OK) die(L->name);
  tw = now() - t0, best = tw;
  reps = quick ? 0 : reps_for(tw);
  for (int r = 0; r < reps; r++) {
    rl_tensor_release(gx);
    t0 = now();
    if (rl_conv2d_backward_input(x, y, w, &p, &gx) != RL_OK) die(L->name);
    double t = now() - t0;
    if (r == 0 || t < best) best = t;
  }
  res.bwd_ms = best * 1e3;
  res.bwd_gf = flops / best * 1e-9;
  res.alloc_ms = alloc_ms(y->shape);
  rl_tensor_release(x);
  rl_tensor_release(w);
  rl_tensor_release(b);
  rl_tensor_release(y);
  rl_tensor_release(gx);
  return res;
}
/* }==================== */

int main(int argc, char **argv) {
  int quick = 0, threads = 0;
  const char *only = NULL;
  int64_t big = 32;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) big = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: bench_conv [--quick] [--batch N] [--threads N] [--only SUBSTRING]\n");
      return 2;
    }
  }
  if (quick) big = 2;
  rl_set_threads(threads);
  const char *ct = getenv("OPENBLAS_CORETYPE");
  printf("bench_conv: %d threads, OPENBLAS_CORETYPE=%s%s\n", rl_threads(), ct ? ct : "(unset)",
         quick ? ", --quick (one run each: not a measurement)" : "");
  double peak = sgemm_rate(2048, 2048, 2048, quick ? 1 : 5);
  double convlike = sgemm_rate(64, 3136, 576, quick ? 1 : 20);
  printf("sgemm 2048x2048x2048: %.1f GFLOP/s (the yardstick)\n", peak);
  printf("sgemm 64x3136x576 (one ResNet 3x3 64ch sample): %.1f GFLOP/s (%.2f)\n", convlike,
         convlike / peak);
  /* Each layer's ratios are to an sgemm measured just before it: on a shared
  ** machine the rate drifts by tens of percent within a run, and a ratio to a
  ** yardstick taken a minute earlier measures the neighbours, not the kernel. */
  printf("%-9s %-24s %5s %10s %8s %6s %10s %8s %6s %9s %7s\n", "net", "layer", "batch", "fwd ms",
         "GFLOP/s", "ratio", "bwd_in ms", "GFLOP/s", "ratio", "y-new ms", "sgemm");
  const int64_t batches[2] = {1, big};
  double t_start = now();
  for (int bi = 0; bi < 2; bi++) {
    double lf = 0, lb = 0, minf = 1e9, minb = 1e9;
    int met_f = 0, met_b = 0, count = 0;
    for (int i = 0; i < NLAYERS; i++) {
      if (only && !strstr(layers[i].name, only)) continue;
      count++;
      double local = quick ? peak : sgemm_rate(2048, 2048, 2048, 2);
      result r = run_layer(&layers[i], batches[bi], quick);
      double rf = r.fwd_gf / local, rb = r.bwd_gf / local;
      printf("%-9s %-24s %5lld %10.2f %8.1f %6.2f %10.2f %8.1f %6.2f %9.2f %7.1f\n", layers[i].net,
             layers[i].name, (long long)batches[bi], r.fwd_ms, r.fwd_gf, rf, r.bwd_ms, r.bwd_gf, rb,
             r.alloc_ms, local);
      fflush(stdout);
      lf += log(rf), lb += log(rb);
      minf = rf < minf ? rf : minf, minb = rb < minb ? rb : minb;
      met_f += rf >= 0.7, met_b += rb >= 0.7;
    }
    printf("summary batch %lld: forward ratio geomean %.2f min %.2f (%d/%d layers >= 0.70); "
           "backward_input geomean %.2f min %.2f (%d/%d >= 0.70)\n",
           (long long)batches[bi], exp(lf / count), minf, met_f, count, exp(lb / count), minb,
           met_b, count);
  }
  /* The same yardstick again: a large change means the machine's load
  ** changed during the run and the ratios above are not to be trusted. */
  double peak_end = sgemm_rate(2048, 2048, 2048, quick ? 1 : 5);
  printf("sgemm 2048x2048x2048 at the end: %.1f GFLOP/s (%+.0f%% vs the start)\n", peak_end,
         100.0 * (peak_end / peak - 1));
  printf("total %.1f s\n", now() - t_start);
  rl_workspace_free();
  return 0;
}
