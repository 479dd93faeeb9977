/* onnx.h: reading ONNX models (ModelProto) into a plain graph description.
**
** rl_onnx_load parses a .onnx file into an rl_onnx_model: opset imports,
** nodes (name, op_type, domain, inputs, outputs, attributes), initializers
** and Constant-node values as float32 rl_tensors, and graph inputs, outputs
** and value_info with their shapes (symbolic dims keep their name and read
** -1). Building a relua model from it is the Lua side's job; this layer only
** decodes and validates. The structs below are the documented, read-only
** result: walk them directly.
**
** Ownership: the model owns every string, array and tensor it points to;
** rl_onnx_free releases all of it. Borrow tensors with rl_onnx_tensor_value,
** which hands out a new reference that outlives the model.
**
** Errors: RL_EFORMAT naming the file and the byte offset, e.g.
**   onnx.load: m.onnx: truncated at offset 1234 (field 5 of NodeProto needs 300 bytes, 12 left)
** RL_EIO when a file cannot be read, RL_ENOMEM (nothing leaked). A file that
** is not ONNX at all (a PNG, text) is an RL_EFORMAT error, never a crash.
**
**   rl_onnx_model *m;
**   if (rl_onnx_load("net.onnx", &m) || rl_onnx_check_ops(m)) puts(rl_errmsg());
**   else {
**     for (int i = 0; i < m->nnodes; i++) printf("%s %s\n", m->nodes[i].op_type, m->nodes[i].name);
**     const rl_onnx_tensor *w = rl_onnx_find_tensor(m, "conv1.weight");
**     rl_onnx_free(m);
**   }
*/
#ifndef RELUA_ONNX_H
#define RELUA_ONNX_H

#include "tensor.h"

/* TensorProto.DataType (the ONNX numbers). */
typedef enum rl_onnx_dtype {
  RL_ONNX_UNDEFINED = 0, RL_ONNX_FLOAT = 1, RL_ONNX_UINT8 = 2, RL_ONNX_INT8 = 3,
  RL_ONNX_UINT16 = 4, RL_ONNX_INT16 = 5, RL_ONNX_INT32 = 6, RL_ONNX_INT64 = 7,
  RL_ONNX_STRING = 8, RL_ONNX_BOOL = 9, RL_ONNX_FLOAT16 = 10, RL_ONNX_DOUBLE = 11,
  RL_ONNX_UINT32 = 12, RL_ONNX_UINT64 = 13, RL_ONNX_COMPLEX64 = 14, RL_ONNX_COMPLEX128 = 15,
  RL_ONNX_BFLOAT16 = 16
} rl_onnx_dtype;

/* AttributeProto.AttributeType (the ONNX numbers). */
typedef enum rl_onnx_attr_type {
  RL_ONNX_ATTR_UNDEFINED = 0, RL_ONNX_ATTR_FLOAT = 1, RL_ONNX_ATTR_INT = 2,
  RL_ONNX_ATTR_STRING = 3, RL_ONNX_ATTR_TENSOR = 4, RL_ONNX_ATTR_GRAPH = 5,
  RL_ONNX_ATTR_FLOATS = 6, RL_ONNX_ATTR_INTS = 7, RL_ONNX_ATTR_STRINGS = 8,
  RL_ONNX_ATTR_TENSORS = 9, RL_ONNX_ATTR_GRAPHS = 10, RL_ONNX_ATTR_SPARSE_TENSOR = 11,
  RL_ONNX_ATTR_SPARSE_TENSORS = 12, RL_ONNX_ATTR_TYPE_PROTO = 13, RL_ONNX_ATTR_TYPE_PROTOS = 14
} rl_onnx_attr_type;

/* A tensor of the file: an initializer, a Constant node's value or a
** TENSOR attribute. value is the float32 copy (shape = dims), or NULL when
** there is none: the tensor is empty (a dim is 0), has more than
** RL_MAX_DIMS dims, a data type relua does not read (FLOAT16, STRING...),
** or an integer beyond 2^24 that float32 cannot hold exactly; then
** rl_onnx_tensor_value says which. Integer and BOOL tensors also keep their
** exact values in ints (Reshape shapes, Gather indices, Pad amounts). */
typedef struct rl_onnx_tensor {
  const char *name;
  int dtype;              /* rl_onnx_dtype */
  int ndim;               /* 0 for a scalar */
  const int64_t *dims;
  int64_t numel;
  rl_tensor *value;       /* owned by the model; NULL: see above */
  const int64_t *ints;    /* numel exact values for integer/BOOL dtypes, else NULL */
} rl_onnx_tensor;

typedef struct rl_onnx_attr {
  const char *name;
  int type;               /* rl_onnx_attr_type; GRAPH(S) and SPARSE are recorded, not decoded */
  float f;                /* FLOAT */
  int64_t i;              /* INT */
  const char *s;          /* STRING (NUL-terminated; slen bytes, may hold NULs) */
  size_t slen;
  const rl_onnx_tensor *t;   /* TENSOR */
  int n;                     /* element count of FLOATS / INTS / STRINGS */
  const float *floats;
  const int64_t *ints;
  const char *const *strings;
} rl_onnx_attr;

typedef struct rl_onnx_node {
  const char *name;       /* "" when the file has none */
  const char *op_type;
  const char *domain;     /* "" for the default ai.onnx domain */
  int ninputs, noutputs, nattrs;
  const char *const *inputs;  /* "" marks an omitted optional input */
  const char *const *outputs;
  const rl_onnx_attr *attrs;
} rl_onnx_node;

/* A graph input, output or value_info entry. */
typedef struct rl_onnx_value_info {
  const char *name;
  int dtype;              /* elem_type; 0 when not a tensor type or unknown */
  int ndim;               /* -1 when the shape (rank) is unknown */
  const int64_t *dims;    /* -1 for a symbolic or unknown dim */
  const char *const *dim_names; /* dim_param ("batch") or NULL, per dim */
} rl_onnx_value_info;

typedef struct rl_onnx_opset_id {
  const char *domain;     /* "" for ai.onnx */
  int64_t version;
} rl_onnx_opset_id;

typedef struct rl_onnx_model {
  const char *file;       /* the name used in messages */
  int64_t ir_version;
  const char *producer_name, *producer_version;
  int nopsets;
  const rl_onnx_opset_id *opsets;
  const char *graph_name;
  int nnodes;
  const rl_onnx_node *nodes;      /* in file order (ONNX requires topological order) */
  int ninits;
  const rl_onnx_tensor *inits;    /* graph initializers */
  int nconsts;
  const rl_onnx_tensor *consts;   /* Constant nodes' values, named by their output */
  int ninputs, noutputs, nvalue_info;
  const rl_onnx_value_info *inputs;  /* may list initializers too (IR < 4 exports) */
  const rl_onnx_value_info *outputs;
  const rl_onnx_value_info *value_info;
  struct rl_onnx_arena *arena_;   /* private */
} rl_onnx_model;

/* Reads and parses a model file. External data files are resolved relative
** to the model's directory; locations leaving it are refused. */
RL_API rl_status rl_onnx_load(const char *path, rl_onnx_model **out);
/* Parses a model held in memory (buf is not kept). name is used in
** messages. External data is refused: there is no directory to read from. */
RL_API rl_status rl_onnx_load_buffer(const void *buf, size_t n, const char *name,
                                     rl_onnx_model **out);
RL_API void rl_onnx_free(rl_onnx_model *m); /* NULL-safe */

/* Reads a serialized TensorProto (the conformance suite's input_0.pb,
** output_0.pb) as a float32 tensor. */
RL_API rl_status rl_onnx_load_tensor_pb(const char *path, rl_tensor **out);

/* The opset version imported for domain ("" or "ai.onnx" for the default
** domain), or 0 when the model does not import it. */
RL_API int64_t rl_onnx_opset(const rl_onnx_model *m, const char *domain);
/* The initializer, or else the Constant node output, called name; NULL if none. */
RL_API const rl_onnx_tensor *rl_onnx_find_tensor(const rl_onnx_model *m, const char *name);
/* The node's attribute called name, or NULL. */
RL_API const rl_onnx_attr *rl_onnx_node_attr(const rl_onnx_node *n, const char *name);
/* t's float32 value as a new reference, or an error saying why there is none
** ("onnx: tensor 'roi' is empty ([0])"). */
RL_API rl_status rl_onnx_tensor_value(const rl_onnx_tensor *t, rl_tensor **out);
RL_API const char *rl_onnx_dtype_name(int dtype); /* "FLOAT", "INT64", "?" */

/* RL_OK when every node uses an operator relua can build, else RL_EARG for
** the first that does not: "onnx: m.onnx: node 'n7' uses operator 'LSTM'
** (opset 13), which relua does not support". */
RL_API rl_status rl_onnx_check_ops(const rl_onnx_model *m);
/* 1 if relua builds op_type of the default domain, else 0. */
RL_API int rl_onnx_op_supported(const char *op_type);

#endif
