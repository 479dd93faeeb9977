/* checkpoint.h: relua's checkpoint files -- an architecture description and named float32 tensors.
**
** A checkpoint holds what it takes to rebuild a model: a UTF-8 text that
** describes the architecture (written and read by the Lua side, which parses
** it as data only) and the model's tensors by name. The format is given byte
** by byte in docs/checkpoints.md; in short, all integers little-endian:
**
**   "RELUACKP"  u32 version (1)  u32 flags (0)
**   u64 text length, text
**   u64 tensor count, per tensor: u32 name length, name, u32 ndim, u64 dims[ndim], f32 data[numel]
**   u32 CRC-32 (zlib's polynomial) of every byte before it
**
** Loading checks every length against the bytes present before using it, the
** whole structure before allocating anything, and then the CRC; a truncated,
** corrupted or foreign file is an RL_EFORMAT error naming the file and the
** offset, e.g.
**   checkpoint.load: m.ckpt: truncated at offset 96 (tensor 2 'fc.weight' data needs 2560 bytes, 100 left)
**   checkpoint.load: m.ckpt: CRC mismatch (stored 0x1c291ca3, computed 0x8a4b3c21): the file is corrupted
** RL_EIO when the file cannot be read or written, RL_ENOMEM (nothing leaked).
**
** Ownership: rl_checkpoint_load returns a checkpoint owning its text, names
** and tensors; rl_checkpoint_free releases them (tensors the caller retained
** live on). Saving borrows everything and writes path atomically (a temporary
** file renamed over it), so an interrupted save never leaves half a file.
**
**   const char *names[] = {"w"};
**   rl_tensor *ts[] = {w};
**   if (rl_checkpoint_save("m.ckpt", "{}", 2, 1, names, ts)) puts(rl_errmsg());
**   rl_checkpoint *c;
**   if (rl_checkpoint_load("m.ckpt", &c) == RL_OK) { ... c->tensors[0] ...; rl_checkpoint_free(c); }
*/
#ifndef RELUA_CHECKPOINT_H
#define RELUA_CHECKPOINT_H

#include <stddef.h>

#include "tensor.h"

#define RL_CHECKPOINT_VERSION 1u
#define RL_CHECKPOINT_MAX_NAME 4096u /* bytes in a tensor name */

typedef struct rl_checkpoint {
  char *text;           /* the architecture description, NUL-terminated (text_len bytes) */
  size_t text_len;
  int ntensors;
  char **names;         /* NUL-terminated */
  rl_tensor **tensors;  /* contiguous float32, owned */
} rl_checkpoint;

/* Writes path (through path.tmp and a rename). Tensors may be any views;
** names must be non-empty, at most RL_CHECKPOINT_MAX_NAME bytes, and text valid UTF-8. */
RL_API rl_status rl_checkpoint_save(const char *path, const char *text, size_t text_len, int n,
                                    const char *const *names, rl_tensor *const *tensors);
/* The same file image into a new buffer from rl_mem_alloc (*buf, *len). */
RL_API rl_status rl_checkpoint_save_mem(const char *text, size_t text_len, int n,
                                        const char *const *names, rl_tensor *const *tensors,
                                        void **buf, size_t *len);
RL_API rl_status rl_checkpoint_load(const char *path, rl_checkpoint **out);
/* From len bytes in memory; name labels messages (NULL: "<memory>"). */
RL_API rl_status rl_checkpoint_load_mem(const void *buf, size_t len, const char *name,
                                        rl_checkpoint **out);
RL_API void rl_checkpoint_free(rl_checkpoint *c); /* NULL-safe */

/* zlib's CRC-32 of n bytes, continuing from crc (start with 0). */
RL_API uint32_t rl_crc32(uint32_t crc, const void *p, size_t n);

#endif
