/* alloc.c: counting, fault-injecting, 64-byte aligned allocation. */
#define _GNU_SOURCE /* madvise, MADV_HUGEPAGE */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"

/* Blocks this large come from mmap, fresh for every tensor: without huge
** pages, first touching a 100 MB activation costs ~25,000 page faults
** (about half of a VGG-16 first-layer convolution at batch 32). Asking for
** transparent huge pages cuts that about 4x where the kernel allows it. */
#define HUGE_HINT_BYTES ((size_t)4 << 20)

static void hint_huge_pages(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
  if (b > a) madvise((void *)a, b - a, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#else
  (void)p, (void)n;
#endif
}

/* Each block is preceded by a 64-byte header holding its size, so rl_mem_free
** can count without being told the size and data stays 64-byte aligned. */
#define HEADER 64

static atomic_size_t live_bytes, live_blocks, peak_bytes;
static atomic_long fail_countdown; /* > 0: fail when it reaches 0 */
static atomic_long alloc_calls;

void *rl_mem_alloc(size_t n) {
  atomic_fetch_add(&alloc_calls, 1);
  long c = atomic_load(&fail_countdown);
  if (c > 0 && atomic_fetch_sub(&fail_countdown, 1) == 1) return NULL;
  if (n > SIZE_MAX - 2 * HEADER) return NULL;
  size_t total = (n + HEADER + HEADER - 1) / HEADER * HEADER;
  unsigned char *p = aligned_alloc(HEADER, total);
  if (!p) return NULL;
  if (total >= HUGE_HINT_BYTES) hint_huge_pages(p, total);
  memcpy(p, &n, sizeof n);
  size_t now = atomic_fetch_add(&live_bytes, n) + n;
  atomic_fetch_add(&live_blocks, 1);
  size_t pk = atomic_load(&peak_bytes);
  while (now > pk && !atomic_compare_exchange_weak(&peak_bytes, &pk, now)) {
  }
  return p + HEADER;
}

void *rl_mem_calloc(size_t n) {
  void *p = rl_mem_alloc(n);
  if (p) memset(p, 0, n);
  return p;
}

void rl_mem_free(void *q) {
  if (!q) return;
  unsigned char *p = (unsigned char *)q - HEADER;
  size_t n;
  memcpy(&n, p, sizeof n);
  atomic_fetch_sub(&live_bytes, n);
  atomic_fetch_sub(&live_blocks, 1);
  free(p);
}

size_t rl_alloc_live_bytes(void) { return atomic_load(&live_bytes); }
size_t rl_alloc_live_blocks(void) { return atomic_load(&live_blocks); }
size_t rl_alloc_peak_bytes(void) { return atomic_load(&peak_bytes); }
void rl_alloc_fail_after(long n) { atomic_store(&fail_countdown, n > 0 ? n : 0); }
long rl_alloc_count(void) { return atomic_load(&alloc_calls); }

static _Thread_local struct {
  float *p;
  size_t n;
} ws[RL_WS_COUNT];

float *rl_workspace(int slot, size_t nfloats) {
  if (slot < 0 || slot >= RL_WS_COUNT) return NULL;
  if (ws[slot].n >= nfloats && ws[slot].p) return ws[slot].p;
  rl_mem_free(ws[slot].p);
  ws[slot].p = NULL;
  ws[slot].n = 0;
  if (nfloats > SIZE_MAX / sizeof(float)) return NULL;
  ws[slot].p = rl_mem_alloc(nfloats * sizeof(float));
  if (ws[slot].p) ws[slot].n = nfloats;
  return ws[slot].p;
}

void rl_workspace_free(void) {
  for (int i = 0; i < RL_WS_COUNT; i++) {
    rl_mem_free(ws[i].p);
    ws[i].p = NULL;
    ws[i].n = 0;
  }
}
