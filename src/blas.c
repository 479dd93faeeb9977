/* blas.c: the only file that includes cblas.h. */
#include <cblas.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"

void rl_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
              (blasint)ldc);
}

static int nthreads; /* 0: not set yet */

static int default_threads(void) {
  const char *e = getenv("RELUA_THREADS");
  int n = e ? atoi(e) : 0;
  if (n <= 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (int)c : 1;
  }
  return n;
}

void rl_set_threads(int n) {
  if (n <= 0) n = default_threads();
  nthreads = n;
  openblas_set_num_threads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int rl_threads(void) {
  if (!nthreads) rl_set_threads(0);
  return nthreads;
}

int rl_blas_set_threads(int n) {
  int prev = openblas_get_num_threads();
  openblas_set_num_threads(n > 0 ? n : 1);
  return prev;
}
