/* fuzz_png.c: libFuzzer target for the PNG reader: any bytes give a tensor
** or an error, never a crash or a leak; what loads can be written and read
** back, at every forced channel count. */
#include <stdlib.h>

#include "relua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  rl_tensor *t = NULL, *u = NULL;
  void *buf = NULL;
  size_t n = 0;
  int channels = size ? data[size - 1] % 5 : 0; /* the last byte picks a conversion */
  if (rl_image_load_mem(data, size, "fuzz.png", channels, &t) == RL_OK) {
    if (rl_image_save_mem(t, &buf, &n) != RL_OK) abort();
    if (rl_image_load_mem(buf, n, "again.png", 0, &u) != RL_OK) abort();
    if (!rl_tensor_same_shape(t, u)) abort();
  }
  rl_mem_free(buf);
  rl_tensor_release(u);
  rl_tensor_release(t);
  if (rl_alloc_live_bytes() != 0) abort();
  return 0;
}
