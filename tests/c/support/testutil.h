/* testutil.h: shared helpers for the cmocka tests (include after cmocka.h).
**
** gradcheck: compares rl_tape_backward with central finite differences of
**   <seed, f(inputs)> computed in double, for every element of the checked
**   inputs (or a fixed sample of them when large).
** nomem_sweep: makes the 1st, 2nd, ... allocation of a call fail until it
**   succeeds, and checks each failure returns RL_ENOMEM and frees everything.
*/
#ifndef RELUA_TESTUTIL_H
#define RELUA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "relua.h"

/* f builds the output from the inputs with differentiable calls. */
typedef rl_status (*tu_fn)(rl_tensor *const *in, rl_tensor **out, void *ud);

typedef struct tu_gradcheck_opts {
  double eps;      /* finite-difference step (default 1e-2) */
  double atol;     /* default 1e-3 */
  double rtol;     /* default 1e-2 */
  int max_checks;  /* elements checked per input (default 64; all if fewer) */
} tu_gradcheck_opts;

/* Checks every input i with check[i] != 0 (check NULL: all). Inputs must be
** contiguous tensors owned by the test (they are perturbed in place and
** restored). Fails the cmocka test with the input, element and values. */
void tu_gradcheck(tu_fn f, int n, rl_tensor **in, const int *check, void *ud,
                  const tu_gradcheck_opts *opts);

/* Runs call(ud) with the k-th allocation failing for k = 1, 2, ... until it
** returns RL_OK (then cleanup(ud) frees what it made). Each failure must be
** RL_ENOMEM with live bytes back to where they were. Returns the number of
** failure points driven. */
typedef rl_status (*tu_call)(void *ud);
int tu_nomem_sweep(tu_call call, void (*cleanup)(void *ud), void *ud);

/* A tensor from literal values; fails the test on error. */
rl_tensor *tu_tensor(int ndim, const int64_t *shape, const float *data);
/* A seeded normal tensor, optionally kept away from 0 by `margin` (so ReLU
** and max-pool kinks are not straddled by a finite-difference step). */
rl_tensor *tu_randn(int ndim, const int64_t *shape, uint64_t seed, float margin);
/* Elementwise |a - b| <= atol + rtol |b| with a message naming the element. */
void tu_assert_close(const rl_tensor *a, const rl_tensor *b, double atol, double rtol);
/* Asserts st is the expected status and the message contains `part`. */
void tu_assert_error(rl_status st, rl_status expected, const char *part);
/* Asserts no tensor memory or node is live (after workspaces are freed). */
void tu_assert_no_leaks(void);

/* Exact-ish values: |a - want| <= 1e-5 (1 + |want|), NaN equal to NaN; n elements. */
void tu_assert_values(const rl_tensor *t, int n, const float *want);

/* Files: a fixture under tests/data/, a per-process temporary path, whole-file
** reads (at most cap bytes; fails the test if the file cannot be opened) and
** writes. Paths come back in static buffers (one per function). */
const char *tu_data_path(const char *name);
const char *tu_tmp_path(const char *name);
size_t tu_slurp(const char *path, unsigned char *buf, size_t cap);
void tu_write_file(const char *path, const void *p, size_t n);

#define TU_OK(expr)                                                            \
  do {                                                                         \
    rl_status tu_st_ = (expr);                                                 \
    if (tu_st_ != RL_OK) fail_msg("%s failed: %s", #expr, rl_errmsg());        \
  } while (0)

#define TU_SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define TU_DATA(...) ((const float[]){__VA_ARGS__})

#endif
