/* flatten.c: Flatten, dims start..end merged into one by a (recorded) reshape. */
#include "internal.h"
#include "nn.h"

rl_status rl_flatten(rl_tensor *x, int start_dim, int end_dim, rl_tensor **y) {
  int64_t shape[RL_MAX_DIMS];
  int s, e, k = 0;
  *y = NULL;
  /* PyTorch flattens a 0-dim tensor to [1] for start and end in {0, -1} */
  int nd = x->ndim ? x->ndim : 1;
  s = start_dim < 0 ? start_dim + nd : start_dim;
  e = end_dim < 0 ? end_dim + nd : end_dim;
  if (s < 0 || s >= nd)
    return rl_error(RL_EARG, "flatten: start_dim %d is out of range for %s", start_dim,
                    rl_shapestr(x).s);
  if (e < 0 || e >= nd)
    return rl_error(RL_EARG, "flatten: end_dim %d is out of range for %s", end_dim,
                    rl_shapestr(x).s);
  if (s > e)
    return rl_error(RL_EARG, "flatten: start_dim %d comes after end_dim %d for %s", start_dim,
                    end_dim, rl_shapestr(x).s);
  if (x->ndim == 0) return rl_tensor_view_reshape(x, 1, (int64_t[]){1}, y);
  for (int d = 0; d < s; d++) shape[k++] = x->shape[d];
  shape[k] = 1;
  for (int d = s; d <= e; d++) shape[k] *= x->shape[d];
  k++;
  for (int d = e + 1; d < x->ndim; d++) shape[k++] = x->shape[d];
  return rl_tensor_view_reshape(x, k, shape, y);
}
