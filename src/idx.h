/* idx.h: IDX files (the MNIST family: MNIST, Fashion-MNIST, EMNIST...), plain
** or gzip-compressed, read into float32 tensors.
**
** An IDX file is a 4-byte magic 00 00 TT NN (TT the data type: 08 ubyte,
** 09 sbyte, 0B int16, 0C int32, 0D float32, 0E float64; NN the number of
** dims), NN big-endian uint32 dims, then the values, big-endian, row-major.
** The tensor has the file's dims ([N x 28 x 28] for images, [N] for labels)
** and its raw values as float32 (int32 beyond 2^24 and float64 lose
** precision); with RL_IDX_SCALE, ubyte values are divided by 255 into
** [0, 1]. `limit` > 0 reads only the first `limit` items along dim 1 (all
** of them if the file has fewer); 0 reads everything.
**
** Whether a file is gzip is decided by its content, not its name. The file
** length is checked against the dims before anything is allocated (for
** gzip, against the most that deflate can expand the compressed size to),
** and while reading: a short file, or bytes after the data, are errors
** naming the file. With a limit, a gzip file is read only as far as needed,
** so a damaged tail past it goes unnoticed; plain files are checked whole.
**
**   rl_tensor *x = NULL;
**   if (rl_idx_load("t10k-images-idx3-ubyte.gz", 100, RL_IDX_SCALE, &x) != RL_OK)
**     fprintf(stderr, "%s\n", rl_errmsg());   // else x is [100 x 28 x 28] in [0, 1]
**   rl_tensor_release(x);
*/
#ifndef RELUA_IDX_H
#define RELUA_IDX_H

#include "tensor.h"

enum { RL_IDX_SCALE = 1 }; /* ubyte / 255 (an error for other types) */

RL_API rl_status rl_idx_load(const char *path, int64_t limit, int flags, rl_tensor **out);
/* From n bytes in memory, plain or gzip; name only labels messages (NULL: "<memory>"). */
RL_API rl_status rl_idx_load_mem(const void *buf, size_t n, const char *name, int64_t limit,
                                 int flags, rl_tensor **out);

#endif
