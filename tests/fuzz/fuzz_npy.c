/* fuzz_npy.c: libFuzzer target for the .npy reader: any bytes give a tensor
** or an error, never a crash or a leak; what loads survives a save/load round trip. */
#include <stdlib.h>
#include <string.h>

#include "relua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  rl_tensor *t = NULL, *u = NULL;
  void *buf = NULL;
  size_t n = 0;
  if (rl_npy_load_mem(data, size, "fuzz.npy", &t) == RL_OK) {
    if (rl_npy_save_mem(t, RL_NPY_F32, &buf, &n) != RL_OK) abort();
    if (rl_npy_load_mem(buf, n, "again.npy", &u) != RL_OK) abort();
    if (!rl_tensor_same_shape(t, u) ||
        memcmp(rl_tensor_data(t), rl_tensor_data(u), sizeof(float) * (size_t)rl_tensor_numel(t)) != 0)
      abort();
  }
  rl_mem_free(buf);
  rl_tensor_release(u);
  rl_tensor_release(t);
  if (rl_alloc_live_bytes() != 0) abort(); /* every path frees what it made */
  return 0;
}
