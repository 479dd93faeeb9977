/* alloc.h: the one allocator of librelua.
**
** Every byte the core allocates (tensor structs, storages, tape nodes,
** workspaces) goes through rl_mem_alloc/rl_mem_free, which count live bytes and
** blocks. Tests use rl_alloc_fail_after() to make the n-th allocation fail
** and then check that live bytes are back where they were.
*/
#ifndef RELUA_ALLOC_H
#define RELUA_ALLOC_H

#include "conf.h"

/* 64-byte aligned; returns NULL on failure (the caller reports RL_ENOMEM). */
RL_API void *rl_mem_alloc(size_t n);
RL_API void *rl_mem_calloc(size_t n);   /* zeroed */
RL_API void rl_mem_free(void *p);       /* NULL-safe */

RL_API size_t rl_alloc_live_bytes(void);
RL_API size_t rl_alloc_live_blocks(void);
RL_API size_t rl_alloc_peak_bytes(void);

/* Fault injection for tests: the n-th allocation from now fails (n >= 1);
** n = 0 switches it off. Every later allocation succeeds again. */
RL_API void rl_alloc_fail_after(long n);
/* Number of allocations made so far (to size fault-injection loops). */
RL_API long rl_alloc_count(void);

/* Reusable scratch memory for kernels (im2col columns and the like), kept
** per thread and per slot so that no hot loop allocates. The pointer stays
** valid until the next rl_workspace call on the same slot, or
** rl_workspace_free(). */
enum { RL_WS_COL = 0, RL_WS_TMP, RL_WS_AUX, RL_WS_COUNT };
RL_API float *rl_workspace(int slot, size_t nfloats);
RL_API void rl_workspace_free(void); /* frees this thread's workspaces */

#endif
