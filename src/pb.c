/* pb.c: protobuf wire-format reader: varints, fixed values, length-delimited fields. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pb.h"

rl_status rl_pb_error(const rl_pb_ctx *ctx, const char *fmt, ...) {
  char buf[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return rl_error(RL_EFORMAT, "%s: %s: %s", ctx->fn, ctx->file, buf);
}

size_t rl_pb_offset(const rl_pb *r, const void *p) {
  return (size_t)((const uint8_t *)p - r->ctx->base);
}

rl_pb rl_pb_open(const rl_pb_ctx *ctx, const char *msg, const void *buf, size_t n) {
  rl_pb r = {ctx, msg, buf, (const uint8_t *)buf + n, 0};
  return r;
}

/* num 0 means the varint is a tag. */
rl_status rl_pb_varint(const rl_pb *r, const uint8_t **pp, const uint8_t *end, uint64_t *v,
                       uint32_t num) {
  const uint8_t *p = *pp;
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p >= end) {
      if (num)
        return rl_pb_error(r->ctx, "truncated at offset %zu (varint of field %u of %s runs past its end)",
                           rl_pb_offset(r, p), num, r->msg);
      return rl_pb_error(r->ctx, "truncated at offset %zu (a field tag of %s runs past its end)",
                         rl_pb_offset(r, p), r->msg);
    }
    uint8_t b = *p++;
    /* The 10th byte may only carry the top bit of a 64-bit value. */
    if (shift == 63 && b > 1) break;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *pp = p;
      *v = x;
      return RL_OK;
    }
  }
  return rl_pb_error(r->ctx, "bad varint at offset %zu in %s (longer than 64 bits)",
                     rl_pb_offset(r, *pp), r->msg);
}

static rl_status need(const rl_pb *r, const uint8_t *p, uint64_t n, uint32_t num) {
  size_t left = (size_t)(r->end - p);
  if (n <= left) return RL_OK;
  return rl_pb_error(r->ctx, "truncated at offset %zu (field %u of %s needs %llu bytes, %zu left)",
                     rl_pb_offset(r, p), num, r->msg, (unsigned long long)n, left);
}

rl_status rl_pb_next(rl_pb *r, rl_pb_field *f) {
  rl_status st;
  uint64_t tag;
  memset(f, 0, sizeof *f);
  if (r->p >= r->end) return RL_OK;
  f->offset = rl_pb_offset(r, r->p);
  if ((st = rl_pb_varint(r, &r->p, r->end, &tag, 0))) return st;
  uint64_t num = tag >> 3;
  unsigned wire = (unsigned)(tag & 7);
  if (num == 0 || num > 536870911u)
    return rl_pb_error(r->ctx, "bad field number %llu at offset %zu in %s", (unsigned long long)num,
                       f->offset, r->msg);
  f->num = (uint32_t)num;
  f->wire = (rl_pb_wire)wire;
  switch (wire) {
  case RL_PB_VARINT:
    return rl_pb_varint(r, &r->p, r->end, &f->u, f->num);
  case RL_PB_FIXED64:
    if ((st = need(r, r->p, 8, f->num))) return st;
    f->u = rl_pb_le64(r->p);
    r->p += 8;
    return RL_OK;
  case RL_PB_FIXED32:
    if ((st = need(r, r->p, 4, f->num))) return st;
    f->u = rl_pb_le32(r->p);
    r->p += 4;
    return RL_OK;
  case RL_PB_BYTES: {
    uint64_t len;
    if ((st = rl_pb_varint(r, &r->p, r->end, &len, f->num))) return st;
    if ((st = need(r, r->p, len, f->num))) return st;
    f->data = r->p;
    f->len = (size_t)len;
    r->p += len;
    return RL_OK;
  }
  default:
    f->num = 0;
    return rl_pb_error(r->ctx, "unsupported wire type %u at offset %zu (field %llu of %s)", wire,
                       rl_pb_offset(r, r->p), (unsigned long long)num, r->msg);
  }
}

rl_status rl_pb_expect(const rl_pb *r, const rl_pb_field *f, rl_pb_wire w) {
  if (f->wire == w) return RL_OK;
  return rl_pb_error(r->ctx, "field %u of %s at offset %zu has wire type %d, expected %d", f->num,
                     r->msg, f->offset, (int)f->wire, (int)w);
}

rl_status rl_pb_sub(const rl_pb *r, const rl_pb_field *f, const char *msg, rl_pb *out) {
  rl_status st;
  if ((st = rl_pb_expect(r, f, RL_PB_BYTES))) return st;
  if (r->depth + 1 > r->ctx->max_depth)
    return rl_pb_error(r->ctx, "messages nested deeper than %d at offset %zu (field %u of %s)",
                       r->ctx->max_depth, f->offset, f->num, r->msg);
  *out = rl_pb_open(r->ctx, msg, f->data, f->len);
  out->depth = r->depth + 1;
  return RL_OK;
}

/* {==================== repeated scalars */

static void store(void *out, size_t i, rl_pb_wire w, uint64_t v) {
  if (w == RL_PB_FIXED32) ((uint32_t *)out)[i] = (uint32_t)v;
  else ((uint64_t *)out)[i] = v;
}

static rl_status too_many(const rl_pb *m, const rl_pb_field *f, size_t room) {
  return rl_pb_error(m->ctx, "field %u of %s at offset %zu holds more than the %zu values counted",
                     f->num, m->msg, f->offset, room);
}

rl_status rl_pb_scalars(const rl_pb *m, uint32_t num, rl_pb_wire w, void *out, size_t *n) {
  rl_status st;
  rl_pb r = *m;
  rl_pb_field f;
  size_t k = 0, room = out ? *n : 0;
  unsigned size = w == RL_PB_FIXED32 ? 4 : 8;
  while ((st = rl_pb_next(&r, &f)) == RL_OK && f.num) {
    if (f.num != num) continue;
    if (f.wire == w) { /* unpacked: one value per tag */
      if (out) {
        if (k >= room) return too_many(m, &f, room);
        store(out, k, w, f.u);
      }
      k++;
    } else if (f.wire == RL_PB_BYTES) { /* packed */
      if (w == RL_PB_VARINT) {
        const uint8_t *p = f.data, *end = f.data + f.len;
        if (!out) { /* count terminating bytes, then insist the run ends with one */
          for (size_t i = 0; i < f.len; i++) k += !(p[i] & 0x80);
          if (f.len && (end[-1] & 0x80))
            return rl_pb_error(m->ctx, "truncated at offset %zu (packed varints of field %u of %s)",
                               rl_pb_offset(m, end), num, m->msg);
          continue;
        }
        while (p < end) {
          uint64_t v;
          if ((st = rl_pb_varint(&r, &p, end, &v, num))) return st;
          if (k >= room) return too_many(m, &f, room);
          store(out, k++, w, v);
        }
      } else {
        if (f.len % size)
          return rl_pb_error(m->ctx,
                             "field %u of %s at offset %zu: packed run of %zu bytes is not a "
                             "multiple of %u",
                             num, m->msg, f.offset, f.len, size);
        size_t cnt = f.len / size;
        if (out) {
          if (cnt > room - k) return too_many(m, &f, room);
          for (size_t i = 0; i < cnt; i++)
            store(out, k + i, w, size == 4 ? rl_pb_le32(f.data + 4 * i) : rl_pb_le64(f.data + 8 * i));
        }
        k += cnt;
      }
    } else {
      return rl_pb_expect(m, &f, w);
    }
  }
  if (st) return st;
  *n = k;
  return RL_OK;
}

/* }==================== */
