/* relua.h: librelua, the C core of relua. Include this one header.
**
** librelua is plain C11: float32 tensors with refcounted storage and views
** (tensor.h), differentiable ops (ops.h) and layer kernels (nn.h) recorded on
** a tape whose backward any single call can have replaced (tape.h), BLAS
** and threads behind one door (blas.h), one counting allocator (alloc.h),
** and statuses with a thread-local message (error.h).
**
** Ownership: functions returning a tensor through `rl_tensor **out`, or
** named new/view/clone, give the caller one reference; release it with
** rl_tensor_release (NULL-safe). Everything else borrows.
**
** Errors: every fallible function returns rl_status; on failure *out is NULL,
** nothing leaked, and rl_errmsg() names the function and the shapes.
**
**   rl_tensor *x = NULL, *w = NULL, *y = NULL, *gx = NULL;
**   rl_tensor_rand_normal(4, (int64_t[]){1, 3, 28, 28}, 0, 1, NULL, &x);
**   rl_tensor_rand_normal(4, (int64_t[]){8, 3, 3, 3}, 0, 0.1f, NULL, &w);
**   rl_tensor_set_requires_grad(x, 1);
**   rl_conv2d_params p = rl_conv2d_default_params();
**   if (rl_conv2d(x, w, NULL, &p, &y) != RL_OK) puts(rl_errmsg());
**   else rl_tape_backward(y, NULL, 1, &x, &gx, NULL);  // gx = d sum(y) / dx
**   rl_tensor_release(gx); rl_tensor_release(y);
**   rl_tensor_release(w); rl_tensor_release(x);
*/
#ifndef RELUA_H
#define RELUA_H

#include "alloc.h"
#include "blas.h"
#include "colormap.h"
#include "error.h"
#include "idx.h"
#include "image.h"
#include "nn.h"
#include "onnx.h"
#include "npy.h"
#include "ops.h"
#include "tape.h"
#include "tensor.h"

#define RELUA_VERSION "0.1.0"

#endif
