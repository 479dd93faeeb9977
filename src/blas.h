/* blas.h: the one door to BLAS (OpenBLAS) and the one thread setting.
**
** rl_set_threads(n) sizes both OpenBLAS and the core's own OpenMP loops, so
** the two never oversubscribe the cores. The default is RELUA_THREADS from
** the environment, else the number of online cores.
*/
#ifndef RELUA_BLAS_H
#define RELUA_BLAS_H

#include "conf.h"

/* Row-major C = alpha * op(A) @ op(B) + beta * C; op transposes when ta/tb. */
RL_API void rl_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc);
RL_API void rl_set_threads(int n);
RL_API int rl_threads(void);
/* Sets the BLAS thread count alone (kernels that parallelise an outer loop
** call sgemm with 1 thread inside it). Returns the previous count. */
RL_API int rl_blas_set_threads(int n);

#endif
