/* fuzz_idx.c: libFuzzer target for the IDX reader (plain and gzip): any
** bytes give a tensor or an error, never a crash or a leak; a limited read
** agrees with the head of the full one. */
#include <stdlib.h>
#include <string.h>

#include "relua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  rl_tensor *t = NULL, *h = NULL;
  rl_status st = rl_idx_load_mem(data, size, "fuzz.idx", 0, 0, &t);
  if (rl_idx_load_mem(data, size, "fuzz.idx", 1, 0, &h) == RL_OK && st == RL_OK) {
    size_t k = (size_t)rl_tensor_numel(h);
    if (h->shape[0] != 1 || memcmp(rl_tensor_data(h), rl_tensor_data(t), k * sizeof(float)) != 0) abort();
  }
  rl_tensor_release(h);
  rl_tensor_release(t);
  if (rl_alloc_live_bytes() != 0) abort();
  return 0;
}
