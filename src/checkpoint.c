/* checkpoint.c: writing and strictly reading relua checkpoint files (format in checkpoint.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.h"
#include "internal.h"

#define MAGIC "RELUACKP"
#define MAGIC_LEN 8
#define HEAD_LEN 16 /* magic, version, flags */

/* {==================== CRC-32 (the polynomial of zlib, PNG and gzip) */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
  crc_ready = 1; /* racing initialisers write the same values */
}

uint32_t rl_crc32(uint32_t crc, const void *p, size_t n) {
  const unsigned char *b = p;
  if (!crc_ready) crc_init();
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
/* }==================== */

/* {==================== writing */

/* Bytes go to a file or a buffer of known size, through the running CRC. */
typedef struct sink {
  FILE *f;
  unsigned char *mem;
  size_t pos;
  uint32_t crc;
  const char *name;
} sink;

static rl_status put(sink *k, const void *p, size_t n) {
  k->crc = rl_crc32(k->crc, p, n);
  if (k->mem) {
    memcpy(k->mem + k->pos, p, n);
  } else if (fwrite(p, 1, n, k->f) != n) {
    return rl_error(RL_EIO, "checkpoint.save: %s: write error at offset %zu: %s", k->name, k->pos,
                    strerror(errno));
  }
  k->pos += n;
  return RL_OK;
}

static rl_status put_u32(sink *k, uint32_t v) {
  unsigned char b[4];
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
  return put(k, b, 4);
}

static rl_status put_u64(sink *k, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  return put(k, b, 8);
}

/* Strict UTF-8: no overlongs, surrogates or code points past U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || len > (int)(n - i)) return 0;
    uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += (size_t)len;
  }
  return 1;
}

static rl_status check_save_args(const char *text, size_t text_len, int n, const char *const *names,
                                 rl_tensor *const *tensors, size_t *total) {
  if (!text || !valid_utf8((const unsigned char *)text, text_len))
    return rl_error(RL_EARG, "checkpoint.save: the architecture text is not valid UTF-8");
  if (n < 0 || (n > 0 && (!names || !tensors)))
    return rl_error(RL_EARG, "checkpoint.save: bad tensor count %d", n);
  size_t size = HEAD_LEN + 8 + text_len + 8 + 4;
  for (int i = 0; i < n; i++) {
    size_t len = names[i] ? strlen(names[i]) : 0;
    if (len == 0 || len > RL_CHECKPOINT_MAX_NAME)
      return rl_error(RL_EARG, "checkpoint.save: tensor %d has %s name (1 to %u bytes allowed)", i + 1,
                      len ? "a too long" : "an empty", RL_CHECKPOINT_MAX_NAME);
    if (!tensors[i]) return rl_error(RL_EARG, "checkpoint.save: tensor %d ('%s') is NULL", i + 1, names[i]);
    size += 4 + len + 4 + 8 * (size_t)tensors[i]->ndim + 4 * (size_t)rl_tensor_numel(tensors[i]);
  }
  *total = size;
  return RL_OK;
}

static rl_status write_all(sink *k, const char *text, size_t text_len, int n, const char *const *names,
                           rl_tensor *const *tensors) {
  rl_status st = RL_OK;
  rl_tensor *c = NULL;
  RL_TRY(put(k, MAGIC, MAGIC_LEN));
  RL_TRY(put_u32(k, RL_CHECKPOINT_VERSION));
  RL_TRY(put_u32(k, 0));
  RL_TRY(put_u64(k, text_len));
  RL_TRY(put(k, text, text_len));
  RL_TRY(put_u64(k, (uint64_t)n));
  for (int i = 0; i < n; i++) {
    const rl_tensor *t = tensors[i];
    size_t len = strlen(names[i]);
    RL_TRY(put_u32(k, (uint32_t)len));
    RL_TRY(put(k, names[i], len));
    RL_TRY(put_u32(k, (uint32_t)t->ndim));
    for (int d = 0; d < t->ndim; d++) RL_TRY(put_u64(k, (uint64_t)t->shape[d]));
    RL_TRY(rl__contig(t, &c));
    const float *x = rl_tensor_data(c);
    int64_t numel = rl_tensor_numel(c);
    unsigned char buf[4096];
    for (int64_t j = 0; j < numel;) {
      size_t m = 0;
      for (; m < sizeof buf && j < numel; m += 4, j++) {
        uint32_t v;
        memcpy(&v, &x[j], 4);
        for (int b = 0; b < 4; b++) buf[m + (size_t)b] = (unsigned char)(v >> (8 * b));
      }
      RL_TRY(put(k, buf, m));
    }
    rl_tensor_release(c);
    c = NULL;
  }
  RL_TRY(put_u32(k, k->crc));
cleanup:
  rl_tensor_release(c);
  return st;
}

rl_status rl_checkpoint_save_mem(const char *text, size_t text_len, int n, const char *const *names,
                                 rl_tensor *const *tensors, void **buf, size_t *len) {
  size_t total;
  rl_status st = check_save_args(text, text_len, n, names, tensors, &total);
  *buf = NULL;
  *len = 0;
  if (st) return st;
  sink k = {.mem = rl_mem_alloc(total), .name = "<memory>"};
  if (!k.mem) return rl__nomem("checkpoint.save");
  if ((st = write_all(&k, text, text_len, n, names, tensors)) != RL_OK) {
    rl_mem_free(k.mem);
    return st;
  }
  rl_assert(k.pos == total);
  *buf = k.mem;
  *len = total;
  return RL_OK;
}

rl_status rl_checkpoint_save(const char *path, const char *text, size_t text_len, int n,
                             const char *const *names, rl_tensor *const *tensors) {
  size_t total;
  rl_status st = check_save_args(text, text_len, n, names, tensors, &total);
  if (st) return st;
  size_t plen = strlen(path);
  char *tmp = rl_mem_alloc(plen + 5);
  if (!tmp) return rl__nomem("checkpoint.save");
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  sink k = {.f = fopen(tmp, "wb"), .name = path};
  if (!k.f) {
    st = rl_error(RL_EIO, "checkpoint.save: cannot open %s: %s", tmp, strerror(errno));
    rl_mem_free(tmp);
    return st;
  }
  st = write_all(&k, text, text_len, n, names, tensors);
  if (fclose(k.f) != 0 && st == RL_OK)
    st = rl_error(RL_EIO, "checkpoint.save: %s: write error: %s", path, strerror(errno));
  if (st == RL_OK && rename(tmp, path) != 0)
    st = rl_error(RL_EIO, "checkpoint.save: cannot rename %s to %s: %s", tmp, path, strerror(errno));
  if (st != RL_OK) remove(tmp);
  rl_mem_free(tmp);
  return st;
}
/* }==================== */

/* {==================== reading */

typedef struct reader {
  const unsigned char *p;
  size_t size, pos;
  const char *name;
} reader;

static rl_status need(reader *r, size_t n, const char *what) {
  if (n > r->size - r->pos)
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: truncated at offset %zu (%s needs %zu bytes, %zu left)",
                    r->name, r->pos, what, n, r->size - r->pos);
  return RL_OK;
}

static uint64_t get_le(reader *r, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)n;
  return v;
}

/* One pass over the structure. With c NULL it only validates and counts
** (nothing allocated); with c it fills c, whose arrays are sized by that count. */
static rl_status parse(reader *r, rl_checkpoint *c, int64_t *count) {
  rl_status st;
  char what[128];
  r->pos = 0;
  if ((st = need(r, HEAD_LEN, "the header"))) return st;
  if (memcmp(r->p, MAGIC, MAGIC_LEN) != 0)
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: not a relua checkpoint (no \"RELUACKP\" at offset 0)",
                    r->name);
  r->pos = MAGIC_LEN;
  uint32_t version = (uint32_t)get_le(r, 4), flags = (uint32_t)get_le(r, 4);
  if (version != RL_CHECKPOINT_VERSION)
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: format version %u at offset 8; this relua reads version %u",
                    r->name, version, RL_CHECKPOINT_VERSION);
  if (flags != 0)
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: unknown flags 0x%x at offset 12", r->name, flags);
  if ((st = need(r, 8, "the text length"))) return st;
  uint64_t tlen = get_le(r, 8);
  if ((st = need(r, tlen > SIZE_MAX ? SIZE_MAX : (size_t)tlen, "the architecture text"))) return st;
  if (!valid_utf8(r->p + r->pos, (size_t)tlen))
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: the architecture text at offset %zu is not valid UTF-8",
                    r->name, r->pos);
  if (c) {
    memcpy(c->text, r->p + r->pos, (size_t)tlen);
    c->text[tlen] = '\0';
    c->text_len = (size_t)tlen;
  }
  r->pos += (size_t)tlen;
  if ((st = need(r, 8, "the tensor count"))) return st;
  size_t count_at = r->pos;
  uint64_t n = get_le(r, 8);
  /* Every tensor takes at least 9 bytes + a 4-byte CRC follows: bounds n by the file. */
  if (n > (r->size - r->pos) / 9)
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: tensor count %llu at offset %zu is more than the %zu bytes left can hold",
                    r->name, (unsigned long long)n, count_at, r->size - r->pos);
  for (uint64_t i = 0; i < n; i++) {
    if ((st = need(r, 4, "a tensor name length"))) return st;
    size_t at = r->pos;
    uint32_t len = (uint32_t)get_le(r, 4);
    if (len == 0 || len > RL_CHECKPOINT_MAX_NAME)
      return rl_error(RL_EFORMAT, "checkpoint.load: %s: tensor %llu has a name of %u bytes at offset %zu (1 to %u allowed)",
                      r->name, (unsigned long long)i + 1, len, at, RL_CHECKPOINT_MAX_NAME);
    if ((st = need(r, len, "a tensor name"))) return st;
    const unsigned char *name = r->p + r->pos;
    if (memchr(name, 0, len) || !valid_utf8(name, len))
      return rl_error(RL_EFORMAT, "checkpoint.load: %s: tensor %llu's name at offset %zu is not a valid UTF-8 string",
                      r->name, (unsigned long long)i + 1, r->pos);
    r->pos += len;
    snprintf(what, sizeof what, "tensor %llu '%.*s'", (unsigned long long)i + 1, (int)(len > 60 ? 60 : len),
             (const char *)name);
    if ((st = need(r, 4, "a tensor's ndim"))) return st;
    at = r->pos;
    uint32_t ndim = (uint32_t)get_le(r, 4);
    if (ndim > RL_MAX_DIMS)
      return rl_error(RL_EFORMAT, "checkpoint.load: %s: %s has %u dims at offset %zu (at most %d)", r->name, what,
                      ndim, at, RL_MAX_DIMS);
    if ((st = need(r, 8 * (size_t)ndim, "a tensor's dims"))) return st;
    int64_t shape[RL_MAX_DIMS];
    uint64_t numel = 1;
    size_t data_max = r->size - r->pos - 8 * (size_t)ndim;
    for (uint32_t d = 0; d < ndim; d++) {
      at = r->pos;
      uint64_t dim = get_le(r, 8);
      if (dim == 0 || dim > data_max / 4 / numel)
        return rl_error(RL_EFORMAT, "checkpoint.load: %s: %s has dim %u = %llu at offset %zu, %s", r->name, what,
                        d + 1, (unsigned long long)dim, at,
                        dim == 0 ? "zero (tensors are never empty)" : "more data than the file holds");
      numel *= dim;
      shape[d] = (int64_t)dim;
    }
    char dwhat[160];
    snprintf(dwhat, sizeof dwhat, "%s data", what);
    if ((st = need(r, 4 * (size_t)numel, dwhat))) return st;
    if (c) {
      rl_tensor *t;
      if ((st = rl_tensor_new((int)ndim, shape, &t))) return st;
      c->tensors[c->ntensors] = t;
      c->names[c->ntensors] = rl_mem_alloc(len + 1);
      c->ntensors++;
      if (!c->names[c->ntensors - 1]) return rl__nomem("checkpoint.load");
      memcpy(c->names[c->ntensors - 1], name, len);
      c->names[c->ntensors - 1][len] = '\0';
      float *x = rl_tensor_data(t);
      for (uint64_t j = 0; j < numel; j++) {
        uint32_t v = (uint32_t)get_le(r, 4);
        memcpy(&x[j], &v, 4);
      }
    } else {
      r->pos += 4 * (size_t)numel;
    }
  }
  if ((st = need(r, 4, "the CRC"))) return st;
  if (r->pos + 4 != r->size)
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: %zu bytes after the CRC at offset %zu", r->name,
                    r->size - r->pos - 4, r->pos);
  *count = (int64_t)n;
  if (!c) {
    uint32_t crc = rl_crc32(0, r->p, r->pos);
    uint32_t stored = (uint32_t)get_le(r, 4);
#ifdef RELUA_FUZZING
    crc = stored; /* the fuzzer's mutations must reach the parser, not stop at the CRC */
#endif
    if (crc != stored)
      return rl_error(RL_EFORMAT, "checkpoint.load: %s: CRC mismatch at offset %zu (stored 0x%08x, computed 0x%08x): the file is corrupted",
                      r->name, r->pos - 4, stored, crc);
  }
  return RL_OK;
}

void rl_checkpoint_free(rl_checkpoint *c) {
  if (!c) return;
  for (int i = 0; i < c->ntensors; i++) {
    rl_tensor_release(c->tensors[i]);
    rl_mem_free(c->names[i]);
  }
  rl_mem_free(c->tensors);
  rl_mem_free(c->names);
  rl_mem_free(c->text);
  rl_mem_free(c);
}

rl_status rl_checkpoint_load_mem(const void *buf, size_t len, const char *name, rl_checkpoint **out) {
  reader r = {.p = buf, .size = len, .name = name ? name : "<memory>"};
  int64_t n = 0;
  rl_status st;
  *out = NULL;
  if (!buf && len) return rl_error(RL_EARG, "checkpoint.load: NULL buffer");
  if ((st = parse(&r, NULL, &n))) return st;
  if (n > INT32_MAX / (int64_t)sizeof(void *))
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: %lld tensors are too many", r.name, (long long)n);
  rl_checkpoint *c = rl_mem_calloc(sizeof *c);
  if (!c) return rl__nomem("checkpoint.load");
  size_t nn = n ? (size_t)n : 1;
  c->tensors = rl_mem_calloc(nn * sizeof *c->tensors);
  c->names = rl_mem_calloc(nn * sizeof *c->names);
  /* The text length was checked against the file: this fits. */
  size_t tlen = (size_t)(r.p[16] | (uint64_t)r.p[17] << 8 | (uint64_t)r.p[18] << 16 | (uint64_t)r.p[19] << 24 |
                         (uint64_t)r.p[20] << 32 | (uint64_t)r.p[21] << 40 | (uint64_t)r.p[22] << 48 |
                         (uint64_t)r.p[23] << 56);
  c->text = rl_mem_alloc(tlen + 1);
  if (!c->tensors || !c->names || !c->text) {
    rl_checkpoint_free(c);
    return rl__nomem("checkpoint.load");
  }
  if ((st = parse(&r, c, &n))) {
    rl_checkpoint_free(c);
    return st;
  }
  *out = c;
  return RL_OK;
}

rl_status rl_checkpoint_load(const char *path, rl_checkpoint **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return rl_error(RL_EIO, "checkpoint.load: cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return rl_error(RL_EIO, "checkpoint.load: %s is not a regular file", path);
  }
  size_t size = (size_t)sb.st_size;
  if (size == 0) {
    close(fd);
    return rl_error(RL_EFORMAT, "checkpoint.load: %s: truncated at offset 0 (the header needs %d bytes, 0 left)",
                    path, HEAD_LEN);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return rl_error(RL_EIO, "checkpoint.load: cannot map %s: %s", path, strerror(errno));
  rl_status st = rl_checkpoint_load_mem(map, size, path, out);
  munmap(map, size);
  return st;
}
/* }==================== */
