/* fuzz_onnx.c: libFuzzer target for the ONNX reader (rl_onnx_load_buffer and everything it returns).
**
**   CC=clang cmake -S . -B build-fuzz -DRELUA_FUZZ=ON -DRELUA_SANITIZE=ON && cmake --build build-fuzz --target fuzz_onnx
**   build-fuzz/tests/fuzz/fuzz_onnx -max_total_time=60 -max_len=20000 CORPUS_DIR SEED_DIR
** Seeds: any .onnx files, e.g. /usr/share/libonnx-testdata/data/node/ * /model.onnx.
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "relua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every string and array the model points to, so a dangling or
** short array shows up under AddressSanitizer. */
static size_t walk(const rl_onnx_model *m) {
  size_t h = strlen(m->file) + strlen(m->graph_name) + strlen(m->producer_name);
  for (int i = 0; i < m->nopsets; i++) h += strlen(m->opsets[i].domain) + (size_t)m->opsets[i].version;
  for (int i = 0; i < m->nnodes; i++) {
    const rl_onnx_node *n = &m->nodes[i];
    h += strlen(n->name) + strlen(n->op_type) + strlen(n->domain);
    for (int k = 0; k < n->ninputs; k++) h += strlen(n->inputs[k]) + (rl_onnx_find_tensor(m, n->inputs[k]) != NULL);
    for (int k = 0; k < n->noutputs; k++) h += strlen(n->outputs[k]);
    for (int k = 0; k < n->nattrs; k++) {
      const rl_onnx_attr *a = &n->attrs[k];
      h += strlen(a->name) + strlen(a->s) + (size_t)a->i;
      for (int j = 0; j < a->n && a->ints; j++) h += (size_t)a->ints[j];
      for (int j = 0; j < a->n && a->floats; j++) h += a->floats[j] > 0;
      for (int j = 0; j < a->n && a->strings; j++) h += strlen(a->strings[j]);
      h += rl_onnx_node_attr(n, a->name) != NULL;
    }
  }
  const rl_onnx_value_info *vis[3] = {m->inputs, m->outputs, m->value_info};
  int nvis[3] = {m->ninputs, m->noutputs, m->nvalue_info};
  for (int j = 0; j < 3; j++)
    for (int i = 0; i < nvis[j]; i++)
      for (int k = 0; k < vis[j][i].ndim; k++)
        h += (size_t)vis[j][i].dims[k] + (vis[j][i].dim_names[k] ? strlen(vis[j][i].dim_names[k]) : 0);
  const rl_onnx_tensor *ts[2] = {m->inits, m->consts};
  int nts[2] = {m->ninits, m->nconsts};
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < nts[j]; i++) {
      const rl_onnx_tensor *t = &ts[j][i];
      rl_tensor *v;
      for (int k = 0; k < t->ndim; k++) h += (size_t)t->dims[k];
      if (t->ints && t->numel) h += (size_t)t->ints[t->numel - 1];
      if (rl_onnx_tensor_value(t, &v) == RL_OK) {
        h += rl_tensor_data(v)[rl_tensor_numel(v) - 1] > 0;
        rl_tensor_release(v);
      }
    }
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl_onnx_model *m;
  if (rl_onnx_load_buffer(data, size, "fuzz.onnx", &m) == RL_OK) {
    volatile size_t h = walk(m);
    (void)h;
    rl_onnx_check_ops(m);
    rl_onnx_free(m);
  }
  if (rl_alloc_live_bytes() != 0) __builtin_trap(); /* a leak through the counting allocator */
  return 0;
}
