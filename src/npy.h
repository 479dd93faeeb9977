/* npy.h: numpy's .npy files, read into and written from float32 tensors.
**
** Reading accepts format versions 1.0, 2.0 and 3.0, C or Fortran order, and
** the dtypes f2 f4 f8, i1 i2 i4 i8, u1 u2 u4 u8 and b1 in either byte order
** ('<', '>', '|', '='). Every value becomes a float32: f8, i4, u4, i8 and u8
** values beyond 2^24 in magnitude lose precision (rounded to nearest), f8
** values beyond float range become +-inf. A Fortran-order array is
** transposed on read, so the tensor always has the array's shape in C order.
** A 0-d array gives a 0-dim tensor; an array with a zero-size dim, or more
** than 8 dims, is an error (relua tensors are never empty).
**
** The header is parsed strictly: the dict must hold exactly 'descr',
** 'fortran_order' and 'shape', and every length is checked against the bytes
** present; bytes after the data are an error too. Messages name the function,
** the file and the offending field or offset:
**   npy.load: a.npy: header length 70000 runs past the end of the file (600 bytes)
**
** Writing produces version 1.0 with the header padded to a multiple of 64
** bytes as numpy does, dtype '<f4' (exact) or '|u1' (values rounded to the
** nearest integer and clamped to 0..255, NaN as 0: for images held as 0..255).
**
**   rl_tensor *x = NULL;
**   if (rl_npy_load("x.npy", &x) != RL_OK) fprintf(stderr, "%s\n", rl_errmsg());
**   else rl_npy_save("y.npy", x, RL_NPY_F32);
**   rl_tensor_release(x);
*/
#ifndef RELUA_NPY_H
#define RELUA_NPY_H

#include "tensor.h"

typedef enum rl_npy_dtype { RL_NPY_F32 = 0, RL_NPY_U8 } rl_npy_dtype;

RL_API rl_status rl_npy_load(const char *path, rl_tensor **out);
/* From n bytes in memory; name only labels messages (NULL: "<memory>"). */
RL_API rl_status rl_npy_load_mem(const void *buf, size_t n, const char *name, rl_tensor **out);

/* Any tensor (any strides, 0 to 8 dims). On failure the file is removed. */
RL_API rl_status rl_npy_save(const char *path, const rl_tensor *t, rl_npy_dtype dtype);
/* Into a new buffer from rl_mem_alloc (*buf, *n); the caller rl_mem_free()s it. */
RL_API rl_status rl_npy_save_mem(const rl_tensor *t, rl_npy_dtype dtype, void **buf, size_t *n);

#endif
