/* pb.h: a protobuf wire-format reader over a byte buffer (internal to librelua).
**
** No schema, no code generation: a reader walks the fields of one message
** (tag, wire type, value) and the caller decides what each field number
** means. Nothing is copied: length-delimited values point into the buffer.
** Every length is checked against the bytes left in the enclosing message
** before it is used, nesting is limited, groups (wire types 3/4) and
** reserved wire types are errors, and a repeated scalar is accepted both
** packed (one length-delimited run) and unpacked (one tag per value), even
** mixed in one message, as the protobuf spec requires of parsers.
**
** Errors are RL_EFORMAT with one message naming the function, the file and
** the byte offset from the start of the buffer:
**   onnx.load: m.onnx: truncated at offset 1234 (field 5 of NodeProto needs 300 bytes, 12 left)
**
**   rl_pb_ctx ctx = {"onnx.load", "m.onnx", buf, 16};
**   rl_pb r = rl_pb_open(&ctx, "ModelProto", buf, n), sub;
**   rl_pb_field f;
**   while ((st = rl_pb_next(&r, &f)) == RL_OK && f.num)
**     if (f.num == 7 && (st = rl_pb_sub(&r, &f, "GraphProto", &sub))) break;
*/
#ifndef RELUA_PB_H
#define RELUA_PB_H

#include "error.h"

typedef enum rl_pb_wire {
  RL_PB_VARINT = 0,
  RL_PB_FIXED64 = 1,
  RL_PB_BYTES = 2,
  RL_PB_FIXED32 = 5
} rl_pb_wire;

/* Shared by every reader of one buffer: what messages are about. */
typedef struct rl_pb_ctx {
  const char *fn;       /* "onnx.load": first word of every message */
  const char *file;     /* name of the buffer in messages */
  const uint8_t *base;  /* first byte of the buffer: offsets count from here */
  int max_depth;        /* rl_pb_sub refuses to nest deeper */
} rl_pb_ctx;

/* One message being read: the bytes [p, end) not read yet. */
typedef struct rl_pb {
  const rl_pb_ctx *ctx;
  const char *msg;      /* message type in messages: "NodeProto" */
  const uint8_t *p, *end;
  int depth;
} rl_pb;

typedef struct rl_pb_field {
  uint32_t num;         /* 0: the message has no more fields */
  rl_pb_wire wire;
  uint64_t u;           /* VARINT, FIXED64 and FIXED32 values (raw bits) */
  const uint8_t *data;  /* BYTES: the payload, len bytes, inside the buffer */
  size_t len;
  size_t offset;        /* offset of the tag from ctx->base */
} rl_pb_field;

rl_pb rl_pb_open(const rl_pb_ctx *ctx, const char *msg, const void *buf, size_t n);
/* Reads the next field into f; at the end of the message f->num is 0. */
rl_status rl_pb_next(rl_pb *r, rl_pb_field *f);
/* A reader for the message held by BYTES field f of r, one level deeper. */
rl_status rl_pb_sub(const rl_pb *r, const rl_pb_field *f, const char *msg, rl_pb *out);
/* RL_EFORMAT unless f has wire type w ("field 2 of AttributeProto has wire type 0, expected 5"). */
rl_status rl_pb_expect(const rl_pb *r, const rl_pb_field *f, rl_pb_wire w);

/* Repeated scalar field `num` of the whole message m (m is not advanced),
** packed and unpacked occurrences together, in order. w is the scalar's
** wire type: VARINT fills uint64_t, FIXED32 uint32_t, FIXED64 uint64_t.
** With out NULL, *n becomes the count; otherwise out has room for *n values
** and *n becomes the number stored (the count must not exceed the room). */
rl_status rl_pb_scalars(const rl_pb *m, uint32_t num, rl_pb_wire w, void *out, size_t *n);

/* Decodes one varint at *p (< end), advancing *p; RL_EFORMAT naming what. */
rl_status rl_pb_varint(const rl_pb *r, const uint8_t **p, const uint8_t *end, uint64_t *v,
                       uint32_t num);

/* Offset of p from the start of the buffer. */
size_t rl_pb_offset(const rl_pb *r, const void *p);
/* RL_EFORMAT with "fn: file: <fmt>" (fmt should name an offset). */
rl_status rl_pb_error(const rl_pb_ctx *ctx, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Little-endian loads from unaligned bytes. */
static inline uint32_t rl_pb_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rl_pb_le64(const uint8_t *p) {
  return (uint64_t)rl_pb_le32(p) | (uint64_t)rl_pb_le32(p + 4) << 32;
}

#endif
