/* image.c: PNG reading and writing through libpng (the one file that
** includes png.h). Every setjmp sits in a function that calls only libpng
** between it and its return, so a libpng error longjmps over no other code;
** what must survive the jump lives in a struct reached through a pointer. */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "internal.h"

/* deflate expands at most ~1032:1 (see idx.c) */
#define MAX_RATIO 1040
#define RATIO_SLACK 65536

/* {==================== libpng callbacks, shared by reading and writing */

typedef struct pngio {
  const char *fn, *name;
  /* source or sink */
  const unsigned char *mem;  /* read from memory */
  unsigned char *out;        /* write to memory (grown by doubling) */
  size_t size, pos, cap;
  FILE *f;
  /* what went wrong, for the message */
  int nomem, io_errno, truncated;
  char msg[160], warn[120];
  /* decoded image */
  png_uint_32 w, h;
  int channels, depth;
  size_t rowbytes;
  unsigned char *pixels;
  png_bytep *rows;
} pngio;

static void on_error(png_structp png, png_const_charp msg) {
  pngio *io = png_get_error_ptr(png);
  snprintf(io->msg, sizeof io->msg, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks, iCCP quirks) do not stop reading, but the
** last one often explains the error that follows ("Invalid IHDR data"). */
static void on_warning(png_structp png, png_const_charp msg) {
  pngio *io = png_get_error_ptr(png);
  snprintf(io->warn, sizeof io->warn, "%s", msg ? msg : "");
}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n) {
  pngio *io = png_get_mem_ptr(png);
  void *p = rl_mem_alloc(n);
  if (!p) io->nomem = 1;
  return p;
}

static void on_free(png_structp png, png_voidp p) {
  (void)png;
  rl_mem_free(p);
}

static void on_read(png_structp png, png_bytep dst, png_size_t n) {
  pngio *io = png_get_io_ptr(png);
  if (io->mem) {
    if (n > io->size - io->pos) {
      io->truncated = 1;
      png_error(png, "truncated");
    }
    memcpy(dst, io->mem + io->pos, n);
  } else if (fread(dst, 1, n, io->f) != n) {
    if (ferror(io->f)) io->io_errno = errno ? errno : EIO;
    else io->truncated = 1;
    png_error(png, "read failed");
  }
  io->pos += n;
}

static void on_write(png_structp png, png_bytep src, png_size_t n) {
  pngio *io = png_get_io_ptr(png);
  if (io->f) {
    if (fwrite(src, 1, n, io->f) != n) {
      io->io_errno = errno ? errno : EIO;
      png_error(png, "write failed");
    }
    io->pos += n;
    return;
  }
  if (n > io->cap - io->pos) {
    size_t cap = io->cap ? io->cap : 4096;
    while (cap - io->pos < n) {
      if (cap > SIZE_MAX / 2) png_error(png, "output too large");
      cap *= 2;
    }
    unsigned char *p = rl_mem_alloc(cap);
    if (!p) {
      io->nomem = 1;
      png_error(png, "out of memory");
    }
    if (io->pos) memcpy(p, io->out, io->pos);
    rl_mem_free(io->out);
    io->out = p;
    io->cap = cap;
  }
  memcpy(io->out + io->pos, src, n);
  io->pos += n;
}

static void on_flush(png_structp png) {
  pngio *io = png_get_io_ptr(png);
  if (io->f) fflush(io->f);
}

/* The status for a failure recorded in io (after a longjmp or a refusal). */
static rl_status io_status(pngio *io, const char *verb) {
  if (io->nomem) return rl__nomem(io->fn);
  if (io->io_errno) return rl_error(RL_EIO, "%s: %s: %s error: %s", io->fn, io->name, verb, strerror(io->io_errno));
  if (io->truncated)
    return rl_error(RL_EFORMAT, "%s: %s: truncated (the data ends at byte %zu)", io->fn, io->name,
                    io->mem ? io->size : io->pos);
  if (io->warn[0]) return rl_error(RL_EFORMAT, "%s: %s: %s (%s)", io->fn, io->name, io->msg, io->warn);
  return rl_error(RL_EFORMAT, "%s: %s: %s", io->fn, io->name, io->msg);
}

/* }==================== */

/* {==================== reading */

/* Between setjmp and return run only libpng calls and code that keeps what
** it owns in io (freed by the caller). Returns 0 on success, -1 with the
** reason in io (io->msg set for refusals of our own). */
static int decode(pngio *io) {
  png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, io, on_error, on_warning, io,
                                             on_malloc, on_free);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    if (png) png_destroy_read_struct(&png, NULL, NULL);
    io->nomem = 1;
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  png_set_read_fn(png, io, on_read);
  png_set_sig_bytes(png, 8);
#ifdef RELUA_FUZZING /* fuzz builds only: let mutated chunks past their checksums */
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#ifdef PNG_IGNORE_ADLER32
  png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
#endif
  png_read_info(png, info);
  io->w = png_get_image_width(png, info);
  io->h = png_get_image_height(png, info);
  if (io->w > RL_IMAGE_MAX_SIDE || io->h > RL_IMAGE_MAX_SIDE ||
      (int64_t)io->w * io->h > RL_IMAGE_MAX_PIXELS) {
    snprintf(io->msg, sizeof io->msg, "%lu x %lu pixels is too large (at most %d per side, %lld in all)",
             (unsigned long)io->w, (unsigned long)io->h, RL_IMAGE_MAX_SIDE, (long long)RL_IMAGE_MAX_PIXELS);
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  /* the filtered rows (one filter byte each) must come out of the bytes present */
  uint64_t raw = (uint64_t)io->h * (png_get_rowbytes(png, info) + 1);
  if (io->size && raw > (uint64_t)io->size * MAX_RATIO + RATIO_SLACK) {
    snprintf(io->msg, sizeof io->msg, "truncated: %lu x %lu pixels cannot come from %zu bytes",
             (unsigned long)io->w, (unsigned long)io->h, io->size);
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  int ct = png_get_color_type(png, info), bd = png_get_bit_depth(png, info);
  if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ct == PNG_COLOR_TYPE_GRAY && bd < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  io->channels = png_get_channels(png, info);
  io->depth = png_get_bit_depth(png, info);
  io->rowbytes = png_get_rowbytes(png, info);
  io->pixels = rl_mem_alloc(io->rowbytes * io->h);
  io->rows = rl_mem_alloc(sizeof *io->rows * io->h);
  if (!io->pixels || !io->rows) {
    io->nomem = 1;
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  for (png_uint_32 y = 0; y < io->h; y++) io->rows[y] = io->pixels + io->rowbytes * y;
  png_read_image(png, io->rows);
  png_read_end(png, NULL); /* checks the chunks after the image data, up to IEND */
  png_destroy_read_struct(&png, &info, NULL);
  return 0;
}

/* Stored samples (any of 1-4 channels, 8 or 16 bits) to the requested channels. */
static void to_chw(const pngio *io, int want, float *dst) {
  const int cs = io->channels, wide = io->depth == 16;
  const size_t plane = (size_t)io->w * io->h;
  float lut[256]; /* k / 255 exactly as a division gives it (what k / 255.0f round-trips to) */
  for (int k = 0; k < 256; k++) lut[k] = (float)k / 255.0f;
  for (png_uint_32 y = 0; y < io->h; y++) {
    const unsigned char *p = io->rows[y];
    size_t o = (size_t)y * io->w;
    for (png_uint_32 x = 0; x < io->w; x++, o++) {
      float s[4] = {0, 0, 0, 1};
      for (int c = 0; c < cs; c++, p += wide ? 2 : 1) s[c] = wide ? (float)(p[0] << 8 | p[1]) / 65535.0f : lut[p[0]];
      float r = s[0], g = cs >= 3 ? s[1] : s[0], b = cs >= 3 ? s[2] : s[0];
      float a = cs == 2 ? s[1] : cs == 4 ? s[3] : 1.0f;
      float l = cs >= 3 ? 0.299f * r + 0.587f * g + 0.114f * b : s[0];
      switch (want) {
      case 1: dst[o] = l; break;
      case 2: dst[o] = l; dst[plane + o] = a; break;
      case 3: dst[o] = r; dst[plane + o] = g; dst[2 * plane + o] = b; break;
      default: dst[o] = r; dst[plane + o] = g; dst[2 * plane + o] = b; dst[3 * plane + o] = a;
      }
    }
  }
}

static rl_status load(pngio *io, int channels, rl_tensor **out) {
  rl_status st = RL_OK;
  unsigned char sig[8];
  size_t have;
  if (io->mem) {
    have = io->size < 8 ? io->size : 8;
    memcpy(sig, io->mem, have);
  } else {
    have = fread(sig, 1, 8, io->f);
    if (have < 8 && ferror(io->f))
      return rl_error(RL_EIO, "%s: %s: read error: %s", io->fn, io->name, strerror(errno));
  }
  io->pos = have;
  if (png_sig_cmp(sig, 0, have) != 0 || have == 0)
    return rl_error(RL_EFORMAT, "%s: %s: not a PNG file", io->fn, io->name);
  if (have < 8) return rl_error(RL_EFORMAT, "%s: %s: truncated (the data ends at byte %zu)", io->fn, io->name, have);
  if (decode(io) != 0) {
    st = io_status(io, "read");
    goto cleanup;
  }
  if (io->nomem) { /* libpng shrugged off a failed allocation (png_malloc_warn): report it anyway */
    st = rl__nomem(io->fn);
    goto cleanup;
  }
  int want = channels ? channels : io->channels;
  rl_tensor *t = NULL;
  RL_TRY(rl_tensor_new(3, (int64_t[]){want, io->h, io->w}, &t));
  to_chw(io, want, rl_tensor_data(t));
  *out = t;
cleanup:
  rl_mem_free(io->pixels);
  rl_mem_free(io->rows);
  io->pixels = NULL;
  io->rows = NULL;
  return st;
}

static rl_status check_load_args(const char *fn, int channels, rl_tensor **out) {
  if (!out) return rl_error(RL_EARG, "%s: no output pointer", fn);
  *out = NULL;
  if (channels < 0 || channels > 4)
    return rl_error(RL_EARG, "%s: channels %d is not 0 (as stored), 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)",
                    fn, channels);
  return RL_OK;
}

rl_status rl_image_load_mem(const void *buf, size_t n, const char *name, int channels, rl_tensor **out) {
  rl_status st = check_load_args("image.load", channels, out);
  if (st) return st;
  static const unsigned char empty[1];
  pngio io;
  memset(&io, 0, sizeof io);
  io.fn = "image.load";
  io.name = name ? name : "<memory>";
  if (!buf && n) return rl_error(RL_EARG, "image.load: %s: NULL buffer", io.name);
  io.mem = buf ? buf : empty;
  io.size = n;
  return load(&io, channels, out);
}

rl_status rl_image_load(const char *path, int channels, rl_tensor **out) {
  rl_status st = check_load_args("image.load", channels, out);
  if (st) return st;
  if (!path) return rl_error(RL_EARG, "image.load: no path");
  pngio io;
  memset(&io, 0, sizeof io);
  io.fn = "image.load";
  io.name = path;
  if (!(io.f = fopen(path, "rb"))) return rl_error(RL_EIO, "image.load: %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(io.f), &sb) == 0 && S_ISREG(sb.st_mode)) io.size = (size_t)sb.st_size; /* else unknown: 0 */
  st = load(&io, channels, out);
  fclose(io.f);
  return st;
}

/* }==================== */

/* {==================== writing */

typedef struct enc {
  const float *x;            /* contiguous [C x H x W] */
  int c;
  png_uint_32 h, w;
  unsigned char *row;        /* w * c bytes */
} enc;

static unsigned char to_byte(float v) {
  return v > 0 ? (v < 1 ? (unsigned char)(v * 255.0f + 0.5f) : 255) : 0; /* NaN fails v > 0 */
}

/* Only libpng calls (and the row packing) between setjmp and return. */
static int encode(pngio *io, enc *e) {
  png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, io, on_error, on_warning, io,
                                              on_malloc, on_free);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    if (png) png_destroy_write_struct(&png, NULL);
    io->nomem = 1;
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  static const int types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                              PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_write_fn(png, io, on_write, on_flush);
  png_set_IHDR(png, info, e->w, e->h, 8, types[e->c - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t plane = (size_t)e->w * e->h;
  for (png_uint_32 y = 0; y < e->h; y++) {
    const float *src = e->x + (size_t)y * e->w;
    for (png_uint_32 x = 0; x < e->w; x++)
      for (int c = 0; c < e->c; c++) e->row[(size_t)x * e->c + c] = to_byte(src[c * plane + x]);
    png_write_row(png, e->row);
  }
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return 0;
}

/* Checks the shape and makes a contiguous [C x H x W] copy or reference. */
static rl_status prepare(const char *fn, const rl_tensor *img, rl_tensor **c, enc *e) {
  *c = NULL;
  if (!img) return rl_error(RL_EARG, "%s: no tensor", fn);
  int nd = img->ndim;
  const int64_t *s = img->shape;
  int ok = (nd == 2) || (nd == 3 && s[0] >= 1 && s[0] <= 4) || (nd == 4 && s[0] == 1 && s[1] >= 1 && s[1] <= 4);
  if (!ok)
    return rl_error(RL_ESHAPE, "%s: image %s is not [C x H x W] with C = 1 to 4, [H x W] or [1 x C x H x W]",
                    fn, rl_shapestr(img).s);
  int64_t h = s[nd - 2], w = s[nd - 1];
  if (h > RL_IMAGE_MAX_SIDE || w > RL_IMAGE_MAX_SIDE)
    return rl_error(RL_ESHAPE, "%s: image %s is larger than %d pixels per side", fn, rl_shapestr(img).s,
                    RL_IMAGE_MAX_SIDE);
  e->c = nd == 2 ? 1 : (int)s[nd - 3];
  e->h = (png_uint_32)h;
  e->w = (png_uint_32)w;
  rl_status st = rl__contig(img, c);
  if (st) return st;
  e->x = rl_tensor_data(*c);
  if (!(e->row = rl_mem_alloc((size_t)w * (size_t)e->c))) {
    rl_tensor_release(*c);
    *c = NULL;
    return rl__nomem(fn);
  }
  return RL_OK;
}

rl_status rl_image_save_mem(const rl_tensor *img, void **buf, size_t *n) {
  if (!buf || !n) return rl_error(RL_EARG, "image.save: no output buffer pointer");
  *buf = NULL;
  *n = 0;
  rl_tensor *c;
  enc e;
  rl_status st = prepare("image.save", img, &c, &e);
  if (st) return st;
  pngio io;
  memset(&io, 0, sizeof io);
  io.fn = "image.save";
  io.name = "<memory>";
  if (encode(&io, &e) != 0 || io.nomem) {
    st = io_status(&io, "write");
    rl_mem_free(io.out);
  } else {
    *buf = io.out;
    *n = io.pos;
  }
  rl_mem_free(e.row);
  rl_tensor_release(c);
  return st;
}

rl_status rl_image_save(const char *path, const rl_tensor *img) {
  if (!path) return rl_error(RL_EARG, "image.save: no path");
  rl_tensor *c;
  enc e;
  rl_status st = prepare("image.save", img, &c, &e);
  if (st) return st;
  pngio io;
  memset(&io, 0, sizeof io);
  io.fn = "image.save";
  io.name = path;
  if (!(io.f = fopen(path, "wb"))) {
    st = rl_error(RL_EIO, "image.save: %s: %s", path, strerror(errno));
  } else {
    if (encode(&io, &e) != 0 || io.nomem) st = io_status(&io, "write");
    if (fclose(io.f) != 0 && st == RL_OK) st = rl_error(RL_EIO, "image.save: %s: %s", path, strerror(errno));
    if (st != RL_OK) remove(path);
  }
  rl_mem_free(e.row);
  rl_tensor_release(c);
  return st;
}

/* }==================== */
