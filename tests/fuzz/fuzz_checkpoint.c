/* fuzz_checkpoint.c: libFuzzer target for the checkpoint reader (rl_checkpoint_load_mem).
**
**   CC=clang cmake -S . -B build-fuzz -DRELUA_FUZZ=ON -DRELUA_SANITIZE=ON && cmake --build build-fuzz --target fuzz_checkpoint
**   build-fuzz/tests/fuzz/fuzz_checkpoint -max_total_time=60 -max_len=4096 CORPUS_DIR SEED_DIR
** Seeds: checkpoints written by relua.save (docs/checkpoints.md). Built with
** RELUA_FUZZING the CRC is not enforced, so mutations reach the parser.
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint.h"
#include "relua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl_checkpoint *c = NULL;
  if (rl_checkpoint_load_mem(data, size, "fuzz.ckpt", &c) == RL_OK) {
    size_t h = strlen(c->text) + c->text_len; /* touch everything the checkpoint points to */
    for (int i = 0; i < c->ntensors; i++) {
      h += strlen(c->names[i]);
      const float *x = rl_tensor_data(c->tensors[i]);
      int64_t n = rl_tensor_numel(c->tensors[i]);
      h += (size_t)(x[0] > 0) + (size_t)(x[n - 1] > 0);
    }
    rl_checkpoint_free(c);
    if (h == 0) return 0;
  }
  if (rl_alloc_live_blocks() != 0) __builtin_trap(); /* a leak on some path */
  return 0;
}
