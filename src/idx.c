/* idx.c: IDX (MNIST-family) files, plain or gzip, into float32 tensors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "idx.h"
#include "internal.h"

#define CHUNK 16384
/* deflate expands at most ~1032:1; bounding the decompressed size by the
** compressed size keeps a 100-byte file from claiming (and allocating) 4 GB. */
#define MAX_RATIO 1040
#define RATIO_SLACK 65536

/* {==================== a byte stream: gzFile (plain or gzip), or memory (plain or inflated) */

typedef struct stream {
  const char *name;
  gzFile gz;                    /* file source */
  const unsigned char *mem;     /* memory source */
  size_t size, mpos;            /* memory: size and read position; file: on-disk size */
  int gzip;                     /* the content is gzip-compressed */
  z_stream z;
  int z_live, z_done;
  uint64_t pos;                 /* decompressed bytes delivered so far */
} stream;

static voidpf z_alloc(voidpf op, uInt items, uInt size) {
  (void)op;
  return (size_t)items > SIZE_MAX / size ? NULL : rl_mem_alloc((size_t)items * size);
}
static void z_free(voidpf op, voidpf p) {
  (void)op;
  rl_mem_free(p);
}

/* Up to n bytes into dst; *got < n only at the end of the data. */
static rl_status stream_read(stream *s, void *dst, size_t n, size_t *got) {
  *got = 0;
  if (s->gz) {
    while (*got < n) {
      unsigned want = n - *got > (1u << 30) ? 1u << 30 : (unsigned)(n - *got);
      int r = gzread(s->gz, (char *)dst + *got, want);
      if (r < 0) {
        int zerr;
        const char *m = gzerror(s->gz, &zerr);
        if (zerr == Z_ERRNO)
          return rl_error(RL_EIO, "idx.load: %s: read error: %s", s->name, strerror(errno));
        return rl_error(RL_EFORMAT, "idx.load: %s: corrupt gzip data after %llu bytes: %s", s->name,
                        (unsigned long long)(s->pos + *got), m);
      }
      if (r == 0) {
        int zerr;
        const char *m = gzerror(s->gz, &zerr);
        if (zerr == Z_BUF_ERROR) /* gzread's way of saying the gzip stream stopped early */
          return rl_error(RL_EFORMAT, "idx.load: %s: truncated gzip data after %llu bytes (%s)", s->name,
                          (unsigned long long)(s->pos + *got), m);
        break;
      }
      *got += (size_t)r;
    }
  } else if (!s->gzip) {
    size_t k = s->size - s->mpos < n ? s->size - s->mpos : n;
    memcpy(dst, s->mem + s->mpos, k);
    s->mpos += k;
    *got = k;
  } else if (!s->z_done) {
    s->z.next_out = dst;
    s->z.avail_out = (uInt)n; /* callers ask for at most CHUNK-sized or header pieces */
    while (s->z.avail_out > 0) {
      int r = inflate(&s->z, Z_NO_FLUSH);
      if (r == Z_STREAM_END) {
        /* gzip allows concatenated members, as gzread does */
        if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
          if (inflateReset(&s->z) != Z_OK) return rl_error(RL_EFORMAT, "idx.load: %s: inflateReset failed", s->name);
          continue;
        }
        s->z_done = 1;
        break;
      }
      if (r == Z_MEM_ERROR) return rl__nomem("idx.load");
      if (r == Z_BUF_ERROR && s->z.avail_in == 0)
        return rl_error(RL_EFORMAT, "idx.load: %s: truncated gzip data after %llu bytes", s->name,
                        (unsigned long long)(s->pos + (n - s->z.avail_out)));
      if (r != Z_OK)
        return rl_error(RL_EFORMAT, "idx.load: %s: corrupt gzip data after %llu bytes: %s", s->name,
                        (unsigned long long)(s->pos + (n - s->z.avail_out)), s->z.msg ? s->z.msg : "?");
    }
    *got = n - s->z.avail_out;
  }
  s->pos += *got;
  return RL_OK;
}

/* }==================== */

static const char *type_name(int t) {
  switch (t) {
  case 0x08: return "ubyte";
  case 0x09: return "sbyte";
  case 0x0B: return "int16";
  case 0x0C: return "int32";
  case 0x0D: return "float32";
  case 0x0E: return "float64";
  default: return NULL;
  }
}

static void convert(int type, const unsigned char *p, size_t count, float *dst, float scale) {
  switch (type) {
  case 0x08:
    for (size_t i = 0; i < count; i++) dst[i] = p[i] * scale;
    break;
  case 0x09:
    for (size_t i = 0; i < count; i++) dst[i] = (float)(int8_t)p[i];
    break;
  case 0x0B:
    for (size_t i = 0; i < count; i++, p += 2) dst[i] = (float)(int16_t)(uint16_t)(p[0] << 8 | p[1]);
    break;
  case 0x0C:
    for (size_t i = 0; i < count; i++, p += 4)
      dst[i] = (float)(int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    break;
  case 0x0D:
    for (size_t i = 0; i < count; i++, p += 4) {
      uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
      memcpy(&dst[i], &u, 4);
    }
    break;
  default:
    for (size_t i = 0; i < count; i++, p += 8) {
      uint64_t u = 0;
      for (int k = 0; k < 8; k++) u = u << 8 | p[k];
      double d;
      memcpy(&d, &u, 8);
      dst[i] = (float)d;
    }
  }
}

static rl_status read_exact(stream *s, void *dst, size_t n, const char *what, uint64_t expect_total) {
  size_t got;
  rl_status st = stream_read(s, dst, n, &got);
  if (st) return st;
  if (got < n)
    return rl_error(RL_EFORMAT, "idx.load: %s: truncated in the %s: %llu bytes where %llu are needed",
                    s->name, what, (unsigned long long)s->pos, (unsigned long long)expect_total);
  return RL_OK;
}

static rl_status load(stream *s, int64_t limit, int flags, rl_tensor **out) {
  rl_status st;
  unsigned char hdr[4 + 4 * 255], buf[CHUNK];
  rl_tensor *t = NULL;

  RL_TRY(read_exact(s, hdr, 4, "magic", 4));
  if (hdr[0] || hdr[1])
    return rl_error(RL_EFORMAT, "idx.load: %s: not an IDX file (magic 0x%02x%02x%02x%02x, expected 0x0000TTNN)",
                    s->name, hdr[0], hdr[1], hdr[2], hdr[3]);
  int type = hdr[2], ndim = hdr[3];
  const char *tn = type_name(type);
  if (!tn)
    return rl_error(RL_EFORMAT, "idx.load: %s: unknown data type 0x%02x (08 ubyte, 09 sbyte, 0B int16, "
                    "0C int32, 0D float32, 0E float64)", s->name, type);
  if (ndim < 1 || ndim > RL_MAX_DIMS)
    return rl_error(RL_EFORMAT, "idx.load: %s: %d dims (relua reads 1 to %d)", s->name, ndim, RL_MAX_DIMS);
  if ((flags & RL_IDX_SCALE) && type != 0x08)
    return rl_error(RL_EARG, "idx.load: %s: scaling to [0, 1] is for ubyte data, this file holds %s", s->name, tn);
  size_t hlen = 4 + 4 * (size_t)ndim;
  RL_TRY(read_exact(s, hdr + 4, hlen - 4, "dims", hlen));

  int64_t shape[RL_MAX_DIMS];
  for (int d = 0; d < ndim; d++) {
    const unsigned char *p = hdr + 4 + 4 * d;
    shape[d] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
  }
  if (rl__check_shape("idx.load", ndim, shape) != RL_OK)
    return rl_error(RL_EFORMAT, "idx.load: %s: dims %s %s", s->name, rl_shapestr_dims(ndim, shape).s,
                    strstr(rl_errmsg(), "zero") ? "have a zero-size dim" : "are too large");
  int isz = type == 0x08 || type == 0x09 ? 1 : type == 0x0B ? 2 : type == 0x0E ? 8 : 4;
  uint64_t item = (uint64_t)isz; /* bytes per item along dim 1 */
  for (int d = 1; d < ndim; d++) item *= (uint64_t)shape[d];
  uint64_t full = item * (uint64_t)shape[0]; /* < 2^43: check_shape capped the count at 2^40 */
  int64_t n0 = limit > 0 && limit < shape[0] ? limit : shape[0];
  uint64_t need = item * (uint64_t)n0;

  if (!s->gzip) { /* exact size known: check the whole file, even with a limit */
    uint64_t have = s->size - hlen;
    if (have < full)
      return rl_error(RL_EFORMAT, "idx.load: %s: dims %s of %s need %llu data bytes, the file has %llu",
                      s->name, rl_shapestr_dims(ndim, shape).s, tn, (unsigned long long)full,
                      (unsigned long long)have);
    if (have > full)
      return rl_error(RL_EFORMAT, "idx.load: %s: %llu bytes after the data (dims %s of %s)", s->name,
                      (unsigned long long)(have - full), rl_shapestr_dims(ndim, shape).s, tn);
  } else if (s->size && need > (uint64_t)s->size * MAX_RATIO + RATIO_SLACK) {
    return rl_error(RL_EFORMAT, "idx.load: %s: dims %s of %s need %llu data bytes, more than %llu compressed "
                    "bytes can hold", s->name, rl_shapestr_dims(ndim, shape).s, tn, (unsigned long long)need,
                    (unsigned long long)s->size);
  }

  shape[0] = n0;
  RL_TRY(rl_tensor_new(ndim, shape, &t));
  float *dst = rl_tensor_data(t), scale = (flags & RL_IDX_SCALE) ? 1.0f / 255.0f : 1.0f;
  size_t per = CHUNK / (size_t)isz, count = (size_t)(need / (uint64_t)isz);
  for (size_t i = 0; i < count; i += per) {
    size_t k = count - i < per ? count - i : per;
    RL_TRY(read_exact(s, buf, k * (size_t)isz, "data", hlen + full));
    convert(type, buf, k, dst + i, scale);
    if ((i / per) % 64 == 63) RL_TRY(rl_check_interrupt("idx.load"));
  }
  if (need == full && s->gzip) {
    size_t got;
    RL_TRY(stream_read(s, buf, 1, &got));
    if (got) {
      st = rl_error(RL_EFORMAT, "idx.load: %s: bytes after the data (which ends at %llu decompressed bytes)",
                    s->name, (unsigned long long)(hlen + full));
      goto cleanup;
    }
  }
  *out = t;
  return RL_OK;
cleanup:
  rl_tensor_release(t);
  return st;
}

static rl_status check_args(int64_t limit, int flags, rl_tensor **out) {
  if (!out) return rl_error(RL_EARG, "idx.load: no output pointer");
  *out = NULL;
  if (limit < 0) return rl_error(RL_EARG, "idx.load: limit %lld is negative", (long long)limit);
  if (flags & ~RL_IDX_SCALE) return rl_error(RL_EARG, "idx.load: unknown flags 0x%x", (unsigned)flags);
  return RL_OK;
}

rl_status rl_idx_load_mem(const void *buf, size_t n, const char *name, int64_t limit, int flags,
                          rl_tensor **out) {
  rl_status st = check_args(limit, flags, out);
  if (st) return st;
  stream s;
  memset(&s, 0, sizeof s);
  s.name = name ? name : "<memory>";
  if (!buf && n) return rl_error(RL_EARG, "idx.load: %s: NULL buffer", s.name);
  static const unsigned char empty[1];
  s.mem = buf ? buf : empty;
  s.size = n;
  s.gzip = n >= 2 && s.mem[0] == 0x1f && s.mem[1] == 0x8b;
  if (s.gzip) {
    s.z.zalloc = z_alloc;
    s.z.zfree = z_free;
    s.z.next_in = (Bytef *)(uintptr_t)s.mem; /* zlib's API is not const-correct */
    s.z.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
    int r = inflateInit2(&s.z, 16 + MAX_WBITS);
    if (r == Z_MEM_ERROR) return rl__nomem("idx.load");
    if (r != Z_OK) return rl_error(RL_EFORMAT, "idx.load: %s: inflateInit failed (%d)", s.name, r);
    s.z_live = 1;
  }
  st = load(&s, limit, flags, out);
  if (s.z_live) inflateEnd(&s.z);
  return st;
}

rl_status rl_idx_load(const char *path, int64_t limit, int flags, rl_tensor **out) {
  rl_status st = check_args(limit, flags, out);
  if (st) return st;
  if (!path) return rl_error(RL_EARG, "idx.load: no path");
  FILE *f = fopen(path, "rb");
  if (!f) return rl_error(RL_EIO, "idx.load: %s: %s", path, strerror(errno));
  struct stat sb;
  unsigned char magic[2] = {0, 0};
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = rl_error(RL_EIO, "idx.load: %s: %s", path, fstat(fileno(f), &sb) != 0 ? strerror(errno) : "not a regular file");
    fclose(f);
    return st;
  }
  size_t nm = fread(magic, 1, 2, f);
  fclose(f);
  stream s;
  memset(&s, 0, sizeof s);
  s.name = path;
  s.size = (size_t)sb.st_size;
  s.gzip = nm == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  /* gzread reads plain files too; the stream only differs in how sizes are checked */
  if (!(s.gz = gzopen(path, "rb"))) {
    if (errno == ENOMEM) return rl__nomem("idx.load");
    return rl_error(RL_EIO, "idx.load: %s: %s", path, errno ? strerror(errno) : "gzopen failed");
  }
  gzbuffer(s.gz, 1 << 16);
  st = load(&s, limit, flags, out);
  gzclose_r(s.gz);
  return st;
}
