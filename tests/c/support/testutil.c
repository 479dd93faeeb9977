/* testutil.c: gradient checks, allocation-failure sweeps, comparisons. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static double dot_seed(const rl_tensor *y, const rl_tensor *seed) {
  rl_tensor *c = NULL;
  if (rl_tensor_clone(y, &c) != RL_OK) fail_msg("gradcheck: clone: %s", rl_errmsg());
  const float *a = rl_tensor_data(c), *s = rl_tensor_data(seed);
  double acc = 0;
  for (int64_t i = 0, n = rl_tensor_numel(c); i < n; i++) acc += (double)a[i] * s[i];
  rl_tensor_release(c);
  return acc;
}

static double eval(tu_fn f, int n, rl_tensor **in, void *ud, const rl_tensor *seed) {
  rl_tensor *y = NULL;
  int prev = rl_grad_set_enabled(0);
  rl_status st = f(in, &y, ud);
  rl_grad_set_enabled(prev);
  if (st != RL_OK) fail_msg("gradcheck: forward failed: %s", rl_errmsg());
  double v = dot_seed(y, seed);
  rl_tensor_release(y);
  return v;
}

void tu_gradcheck(tu_fn f, int n, rl_tensor **in, const int *check, void *ud,
                  const tu_gradcheck_opts *opts) {
  tu_gradcheck_opts o = {1e-2, 1e-3, 1e-2, 64};
  if (opts) {
    if (opts->eps > 0) o.eps = opts->eps;
    if (opts->atol > 0) o.atol = opts->atol;
    if (opts->rtol > 0) o.rtol = opts->rtol;
    if (opts->max_checks > 0) o.max_checks = opts->max_checks;
  }
  rl_tensor *wrt[16], *grads[16] = {0};
  int map[16], nw = 0;
  assert_true(n <= 16);
  for (int i = 0; i < n; i++) {
    if (check && !check[i]) continue;
    assert_true(rl_tensor_is_contiguous(in[i]));
    TU_OK(rl_tensor_set_requires_grad(in[i], 1));
    wrt[nw] = in[i];
    map[nw++] = i;
  }
  rl_tensor *y = NULL, *seed = NULL;
  TU_OK(f(in, &y, ud));
  rl_rng r;
  rl_rng_seed(&r, 1234);
  TU_OK(rl_tensor_rand_normal(y->ndim, y->shape, 0, 1, &r, &seed));
  TU_OK(rl_tape_backward(y, seed, nw, wrt, grads, NULL));
  rl_tensor_release(y);
  for (int k = 0; k < nw; k++) {
    rl_tensor *x = wrt[k];
    float *xd = rl_tensor_data(x);
    const float *gd = rl_tensor_data(grads[k]);
    int64_t numel = rl_tensor_numel(x);
    int64_t step = numel > o.max_checks ? numel / o.max_checks : 1;
    for (int64_t j = (step > 1 ? (int64_t)(rl_rng_next(&r) % (uint64_t)step) : 0); j < numel; j += step) {
      float orig = xd[j];
      xd[j] = (float)(orig + o.eps);
      double fp = eval(f, n, in, ud, seed);
      xd[j] = (float)(orig - o.eps);
      double fm = eval(f, n, in, ud, seed);
      xd[j] = orig;
      double num = (fp - fm) / (2 * o.eps), ana = gd[j];
      if (!(fabs(num - ana) <= o.atol + o.rtol * fabs(num)))
        fail_msg("gradcheck: input %d element %lld: backward %.6g, finite differences %.6g",
                 map[k] + 1, (long long)j, ana, num);
    }
    rl_tensor_release(grads[k]);
  }
  rl_tensor_release(seed);
  for (int k = 0; k < nw; k++) TU_OK(rl_tensor_set_requires_grad(wrt[k], 0));
}

int tu_nomem_sweep(tu_call call, void (*cleanup)(void *ud), void *ud) {
  rl_workspace_free();
  size_t base = rl_alloc_live_bytes(), blocks = rl_alloc_live_blocks();
  for (int k = 1; k < 100000; k++) {
    rl_alloc_fail_after(k);
    rl_status st = call(ud);
    rl_alloc_fail_after(0);
    if (st == RL_OK) {
      if (cleanup) cleanup(ud);
      rl_workspace_free();
      assert_int_equal(rl_alloc_live_bytes(), base);
      return k - 1;
    }
    if (st != RL_ENOMEM)
      fail_msg("allocation %d failing gave %s (%s), not RL_ENOMEM", k, rl_status_name(st), rl_errmsg());
    rl_workspace_free();
    if (rl_alloc_live_bytes() != base || rl_alloc_live_blocks() != blocks)
      fail_msg("allocation %d failing leaked %lld bytes in %lld blocks", k,
               (long long)(rl_alloc_live_bytes() - base), (long long)(rl_alloc_live_blocks() - blocks));
  }
  fail_msg("nomem sweep did not finish");
  return -1;
}

rl_tensor *tu_tensor(int ndim, const int64_t *shape, const float *data) {
  rl_tensor *t = NULL;
  TU_OK(rl_tensor_from_data(ndim, shape, data, &t));
  return t;
}

rl_tensor *tu_randn(int ndim, const int64_t *shape, uint64_t seed, float margin) {
  rl_rng r;
  rl_tensor *t = NULL;
  rl_rng_seed(&r, seed);
  TU_OK(rl_tensor_rand_normal(ndim, shape, 0, 1, &r, &t));
  float *p = rl_tensor_data(t);
  for (int64_t i = 0, n = rl_tensor_numel(t); i < n; i++)
    if (fabsf(p[i]) < margin) p[i] = p[i] < 0 ? p[i] - margin : p[i] + margin;
  return t;
}

void tu_assert_close(const rl_tensor *a, const rl_tensor *b, double atol, double rtol) {
  if (!rl_tensor_same_shape(a, b))
    fail_msg("shapes differ: %s vs %s", rl_shapestr(a).s, rl_shapestr(b).s);
  rl_tensor *ca = NULL, *cb = NULL;
  TU_OK(rl_tensor_clone(a, &ca));
  TU_OK(rl_tensor_clone(b, &cb));
  const float *x = rl_tensor_data(ca), *y = rl_tensor_data(cb);
  for (int64_t i = 0, n = rl_tensor_numel(ca); i < n; i++)
    if (!(fabs((double)x[i] - y[i]) <= atol + rtol * fabs((double)y[i])))
      fail_msg("element %lld: %.7g vs expected %.7g", (long long)i, x[i], y[i]);
  rl_tensor_release(ca);
  rl_tensor_release(cb);
}

void tu_assert_error(rl_status st, rl_status expected, const char *part) {
  if (st != expected)
    fail_msg("expected %s, got %s (%s)", rl_status_name(expected), rl_status_name(st), rl_errmsg());
  if (part && !strstr(rl_errmsg(), part))
    fail_msg("message '%s' does not contain '%s'", rl_errmsg(), part);
}

void tu_assert_no_leaks(void) {
  rl_workspace_free();
  if (rl_node_live_count() != 0) fail_msg("%ld tape nodes still live", rl_node_live_count());
  if (rl_alloc_live_bytes() != 0)
    fail_msg("%zu bytes in %zu blocks still live", rl_alloc_live_bytes(), rl_alloc_live_blocks());
}

void tu_assert_values(const rl_tensor *t, int n, const float *want) {
  assert_int_equal(rl_tensor_numel(t), n);
  rl_tensor *c = NULL;
  TU_OK(rl_tensor_clone(t, &c));
  const float *v = rl_tensor_data(c);
  for (int i = 0; i < n; i++)
    if (v[i] != want[i] && !(fabsf(v[i] - want[i]) <= 1e-5f + 1e-5f * fabsf(want[i])) &&
        !(isnan(want[i]) && isnan(v[i])))
      fail_msg("element %d: %.7g, expected %.7g", i, v[i], want[i]);
  rl_tensor_release(c);
}

const char *tu_data_path(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", RELUA_TEST_DATA_DIR, name);
  return buf;
}

const char *tu_tmp_path(const char *name) {
  static char buf[1024];
  const char *dir = getenv("TMPDIR");
  snprintf(buf, sizeof buf, "%s/relua_test_%ld_%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
  return buf;
}

size_t tu_slurp(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

void tu_write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) fail_msg("cannot create %s", path);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}
