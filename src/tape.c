/* tape.c: nodes, recording, and the reverse walk with per-pass overrides. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct rl_node {
  int refcount;
  int n;                 /* inputs */
  const rl_opdef *op;
  uint64_t seq;
  rl_tensor **in;        /* +1 each; they keep their own producers alive */
  rl_tensor *out;        /* detached alias of the output: no cycle */
  rl_tensor *aux;        /* may be NULL */
  void *attr;            /* copy of the op's attributes, may be NULL */
  int64_t mark;          /* scratch for rl_tape_backward: index + 1 in the pass */
};

static const rl_opdef leaf_op = {"leaf", 0, 0, NULL, NULL, NULL};
static atomic_uint_fast64_t next_seq;
static atomic_long live_nodes;
static _Thread_local int grad_disabled;

int rl_grad_enabled(void) { return !grad_disabled; }

int rl_grad_set_enabled(int on) {
  int prev = !grad_disabled;
  grad_disabled = !on;
  return prev;
}

long rl_node_live_count(void) { return atomic_load(&live_nodes); }

static rl_node *node_new(const rl_opdef *op, int n) {
  rl_node *nd = rl_mem_calloc(sizeof *nd);
  if (!nd) return NULL;
  if (n > 0 && !(nd->in = rl_mem_calloc((size_t)n * sizeof *nd->in))) {
    rl_mem_free(nd);
    return NULL;
  }
  nd->refcount = 1;
  nd->op = op;
  nd->n = n;
  nd->seq = atomic_fetch_add(&next_seq, 1);
  atomic_fetch_add(&live_nodes, 1);
  return nd;
}

void rl__node_release(rl_node *nd) {
  if (!nd || --nd->refcount > 0) return;
  for (int i = 0; i < nd->n; i++) rl_tensor_release(nd->in[i]);
  rl_mem_free(nd->in);
  rl_tensor_release(nd->out);
  rl_tensor_release(nd->aux);
  rl_mem_free(nd->attr);
  rl_mem_free(nd);
  atomic_fetch_sub(&live_nodes, 1);
}

rl_status rl_tensor_set_requires_grad(rl_tensor *t, int on) {
  if (!on) {
    rl__node_release(t->node);
    t->node = NULL;
    return RL_OK;
  }
  if (t->node) return RL_OK;
  if (!(t->node = node_new(&leaf_op, 0))) return rl__nomem("requires_grad");
  return RL_OK;
}

int rl_tensor_requires_grad(const rl_tensor *t) { return t->node != NULL; }

rl_status rl_op_apply(const rl_opdef *op, const void *attr, size_t attr_size, int n,
                      rl_tensor *const *in, rl_tensor **out) {
  rl_tensor *y = NULL, *aux = NULL;
  rl_node *nd = NULL;
  rl_status st;
  *out = NULL;
  if (n < op->min_inputs || n > op->max_inputs)
    return rl_error(RL_EARG, "%s: %d inputs (takes %d to %d)", op->name, n, op->min_inputs,
                    op->max_inputs);
  for (int i = 0; i < n; i++)
    if (!in[i])
      return rl_error(RL_EARG, "%s: input %d (%s) is missing", op->name, i + 1,
                      op->input_names ? op->input_names[i] : "tensor");
  if ((st = op->forward(attr, n, in, &y, &aux)) != RL_OK) return st;
  int record = 0;
  for (int i = 0; i < n; i++) record |= in[i]->node != NULL;
  if (!record || grad_disabled) {
    rl_tensor_release(aux);
    *out = y;
    return RL_OK;
  }
  /* The output must be a struct of its own, since it will own the node. */
  if (y->node || y->refcount > 1) {
    rl_tensor *v;
    RL_TRY(rl__view(y, y->ndim, y->shape, y->stride, y->offset, &v));
    rl_tensor_release(y);
    y = v;
  }
  if (!(nd = node_new(op, n))) {
    st = rl__nomem(op->name);
    goto cleanup;
  }
  if (attr_size) {
    if (!(nd->attr = rl_mem_alloc(attr_size))) {
      st = rl__nomem(op->name);
      goto cleanup;
    }
    memcpy(nd->attr, attr, attr_size);
  }
  RL_TRY(rl__view(y, y->ndim, y->shape, y->stride, y->offset, &nd->out));
  for (int i = 0; i < n; i++) {
    rl_tensor_retain(in[i]);
    nd->in[i] = in[i];
  }
  nd->aux = aux;
  aux = NULL;
  y->node = nd;
  *out = y;
  return RL_OK;
cleanup:
  rl__node_release(nd);
  rl_tensor_release(aux);
  rl_tensor_release(y);
  return st;
}

/* {==================== node accessors */
const rl_opdef *rl_node_op(const rl_node *nd) { return nd->op; }
int rl_node_ninputs(const rl_node *nd) { return nd->n; }
rl_tensor *rl_node_input(const rl_node *nd, int i) { return i >= 0 && i < nd->n ? nd->in[i] : NULL; }
rl_tensor *rl_node_output(const rl_node *nd) { return nd->out; }
const rl_tensor *rl_node_aux(const rl_node *nd) { return nd->aux; }
const void *rl_node_attr(const rl_node *nd) { return nd->attr; }
uint64_t rl_node_seq(const rl_node *nd) { return nd->seq; }
int rl_node_is_leaf(const rl_node *nd) { return nd->op == &leaf_op; }

rl_status rl_node_forward(const rl_node *nd, rl_tensor *const *in, rl_tensor **out) {
  rl_tensor *aux = NULL;
  *out = NULL;
  if (nd->op == &leaf_op) return rl_error(RL_EARG, "forward: a leaf node has no op to run");
  for (int i = 0; i < nd->n; i++)
    if (!in[i]) return rl_error(RL_EARG, "%s: input %d is missing", nd->op->name, i + 1);
  int prev = rl_grad_set_enabled(0);
  rl_status st = nd->op->forward(nd->attr, nd->n, in, out, &aux);
  rl_grad_set_enabled(prev);
  rl_tensor_release(aux);
  return st;
}

static rl_status check_grads(const rl_opdef *op, int n, rl_tensor *const *in, const int *needs,
                             rl_tensor **g) {
  for (int i = 0; i < n; i++) {
    if (!g[i]) continue;
    if (needs && !needs[i]) {
      rl_tensor_release(g[i]);
      g[i] = NULL;
    } else if (!rl_tensor_same_shape(g[i], in[i])) {
      rl_status st = rl_error(RL_ESHAPE, "backward of %s: gradient for %s has shape %s, input is %s",
                              op->name, op->input_names ? op->input_names[i] : "input",
                              rl_shapestr(g[i]).s, rl_shapestr(in[i]).s);
      for (int j = 0; j < n; j++) {
        rl_tensor_release(g[j]);
        g[j] = NULL;
      }
      return st;
    }
  }
  return RL_OK;
}

rl_status rl_node_backward(const rl_node *nd, rl_tensor *const *in, const rl_tensor *grad_out,
                           const int *needs, rl_tensor **grad_in) {
  for (int i = 0; i < nd->n; i++) grad_in[i] = NULL;
  if (nd->op == &leaf_op) return RL_OK;
  if (!rl_tensor_same_shape(grad_out, nd->out))
    return rl_error(RL_ESHAPE, "backward of %s: grad_output %s does not match output %s",
                    nd->op->name, rl_shapestr(grad_out).s, rl_shapestr(nd->out).s);
  int all[64], *nn = (int *)needs;
  if (!needs) {
    if (nd->n > 64) return rl_error(RL_EARG, "backward of %s: too many inputs", nd->op->name);
    for (int i = 0; i < nd->n; i++) all[i] = 1;
    nn = all;
  }
  int prev = rl_grad_set_enabled(0);
  rl_status st = nd->op->backward(nd->attr, nd->n, in, nd->out, nd->aux, grad_out, nn, grad_in);
  rl_grad_set_enabled(prev);
  if (st) {
    for (int i = 0; i < nd->n; i++) {
      rl_tensor_release(grad_in[i]);
      grad_in[i] = NULL;
    }
    return st;
  }
  return check_grads(nd->op, nd->n, in, nn, grad_in);
}
/* }==================== */

/* {==================== backward */

typedef struct pass {
  rl_node **nodes;
  int64_t count, cap;
  rl_tensor **grads;
  char *needed, *wanted;
} pass;

static int push(pass *p, rl_node *nd) {
  if (p->count == p->cap) {
    int64_t cap = p->cap ? 2 * p->cap : 64;
    rl_node **q = rl_mem_alloc((size_t)cap * sizeof *q);
    if (!q) return 0;
    if (p->count) memcpy(q, p->nodes, (size_t)p->count * sizeof *q);
    rl_mem_free(p->nodes);
    p->nodes = q;
    p->cap = cap;
  }
  p->nodes[p->count++] = nd;
  nd->mark = p->count;
  return 1;
}

/* Every node behind root, each once (iterative DFS: deep graphs don't overflow). */
static rl_status collect(pass *p, rl_node *root) {
  if (!push(p, root)) return rl__nomem("backward");
  for (int64_t k = 0; k < p->count; k++) {
    rl_node *nd = p->nodes[k];
    for (int i = 0; i < nd->n; i++) {
      rl_node *c = nd->in[i]->node;
      if (c && !c->mark && !push(p, c)) return rl__nomem("backward");
    }
  }
  return RL_OK;
}

static int by_seq(const void *a, const void *b) {
  uint64_t x = (*(rl_node *const *)a)->seq, y = (*(rl_node *const *)b)->seq;
  return x < y ? -1 : x > y;
}

/* *acc += g, in place when acc is ours alone, else into a fresh copy. */
static rl_status accumulate(rl_tensor **acc, rl_tensor *g) {
  rl_tensor *a = *acc;
  if (!a) {
    *acc = g;
    return RL_OK;
  }
  if (a->refcount > 1 || a->storage->refcount > 1 || !rl_tensor_is_contiguous(a)) {
    rl_tensor *c;
    rl_status st = rl_tensor_clone(a, &c);
    if (st) {
      rl_tensor_release(g);
      return st;
    }
    rl_tensor_release(a);
    *acc = a = c;
  }
  float *d = rl_tensor_data(a);
  const float *s = rl_tensor_data(g);
  rl_iter it;
  rl_iter_init(&it, a->ndim, a->shape, 2, (const int64_t *[]){a->stride, g->stride});
  do {
    float *pd = d + it.off[0];
    const float *ps = s + it.off[1];
    for (int64_t i = 0; i < it.n; i++) pd[i] += ps[i * it.inner[1]];
  } while (rl_iter_next(&it));
  rl_tensor_release(g);
  return RL_OK;
}

static rl_override_fn find_override(const rl_backward_opts *o, const rl_node *nd, void **ud) {
  if (!o) return NULL;
  for (int i = 0; i < o->noverrides; i++)
    if (o->overrides[i].node == nd) {
      *ud = o->overrides[i].ud;
      return o->overrides[i].fn;
    }
  return o->lookup ? o->lookup(nd, o->lookup_ud, ud) : NULL;
}

static rl_status run_node(pass *p, rl_node *nd, const rl_backward_opts *opts) {
  int stackneeds[8], *needs = stackneeds;
  rl_tensor *stackg[8], **g = stackg;
  rl_status st = RL_OK;
  int any = 0;
  if (nd->n > 8) {
    needs = rl_mem_calloc((size_t)nd->n * sizeof *needs);
    g = rl_mem_calloc((size_t)nd->n * sizeof *g);
    if (!needs || !g) {
      st = rl__nomem("backward");
      goto cleanup;
    }
  }
  for (int i = 0; i < nd->n; i++) {
    rl_node *c = nd->in[i]->node;
    needs[i] = c && p->needed[c->mark - 1];
    any |= needs[i];
    g[i] = NULL;
  }
  if (!any) goto cleanup;
  rl_tensor *gout = p->grads[nd->mark - 1];
  void *ud = NULL;
  rl_override_fn fn = find_override(opts, nd, &ud);
  if (fn) {
    if ((st = fn(nd, nd->in, nd->out, gout, needs, g, ud)) != RL_OK) {
      for (int i = 0; i < nd->n; i++) rl_tensor_release(g[i]);
      goto cleanup;
    }
    RL_TRY(check_grads(nd->op, nd->n, nd->in, needs, g));
  } else {
    RL_TRY(rl_node_backward(nd, nd->in, gout, needs, g));
  }
  for (int i = 0; i < nd->n; i++) {
    if (!g[i]) continue;
    rl_node *c = nd->in[i]->node;
    rl_tensor *gi = g[i];
    g[i] = NULL;
    if ((st = accumulate(&p->grads[c->mark - 1], gi)) != RL_OK) {
      for (int j = i + 1; j < nd->n; j++) rl_tensor_release(g[j]);
      goto cleanup;
    }
  }
cleanup:
  if (needs != stackneeds) rl_mem_free(needs);
  if (g != stackg) rl_mem_free(g);
  return st;
}

rl_status rl_tape_backward(rl_tensor *root, const rl_tensor *seed, int nwrt, rl_tensor *const *wrt,
                      rl_tensor **grads, const rl_backward_opts *opts) {
  pass p = {0};
  rl_status st = RL_OK;
  int prev = rl_grad_set_enabled(0);
  for (int i = 0; i < nwrt; i++) grads[i] = NULL;
  if (seed && !rl_tensor_same_shape(seed, root)) {
    st = rl_error(RL_ESHAPE, "backward: seed %s does not match output %s", rl_shapestr(seed).s,
                  rl_shapestr(root).s);
    goto cleanup;
  }
  for (int i = 0; i < nwrt; i++)
    if (!wrt[i] || !wrt[i]->node) {
      st = rl_error(RL_EARG, "backward: tensor %d to differentiate for does not require gradients", i + 1);
      goto cleanup;
    }
  if (root->node) {
    RL_TRY(collect(&p, root->node));
    qsort(p.nodes, (size_t)p.count, sizeof *p.nodes, by_seq);
    for (int64_t k = 0; k < p.count; k++) p.nodes[k]->mark = k + 1;
    p.grads = rl_mem_calloc((size_t)p.count * sizeof *p.grads);
    p.needed = rl_mem_calloc((size_t)p.count);
    p.wanted = rl_mem_calloc((size_t)p.count);
    if (!p.grads || !p.needed || !p.wanted) {
      st = rl__nomem("backward");
      goto cleanup;
    }
    for (int i = 0; i < nwrt; i++)
      if (wrt[i]->node->mark) p.wanted[wrt[i]->node->mark - 1] = p.needed[wrt[i]->node->mark - 1] = 1;
    /* Ascending seq: a node's inputs come before it, so one sweep suffices. */
    for (int64_t k = 0; k < p.count; k++) {
      rl_node *nd = p.nodes[k];
      for (int i = 0; i < nd->n && !p.needed[k]; i++) {
        rl_node *c = nd->in[i]->node;
        if (c && p.needed[c->mark - 1]) p.needed[k] = 1;
      }
    }
    rl_tensor *g0;
    if (seed) {
      RL_TRY(rl_tensor_clone(seed, &g0));
    } else {
      RL_TRY(rl_tensor_ones(root->ndim, root->shape, &g0));
    }
    p.grads[p.count - 1] = g0; /* root has the largest seq */
    for (int64_t k = p.count - 1; k >= 0; k--) {
      rl_node *nd = p.nodes[k];
      if (p.grads[k] && p.needed[k] && nd->n) {
        RL_TRY(rl_check_interrupt("backward"));
        RL_TRY(run_node(&p, nd, opts));
      }
      if (!p.wanted[k]) {
        rl_tensor_release(p.grads[k]);
        p.grads[k] = NULL;
      }
    }
  }
  for (int i = 0; i < nwrt; i++) {
    int64_t m = wrt[i]->node->mark;
    if (m && p.grads[m - 1]) {
      RL_TRY(rl_tensor_clone(p.grads[m - 1], &grads[i]));
    } else {
      RL_TRY(rl_tensor_zeros(wrt[i]->ndim, wrt[i]->shape, &grads[i]));
    }
  }
cleanup:
  if (st)
    for (int i = 0; i < nwrt; i++) {
      rl_tensor_release(grads[i]);
      grads[i] = NULL;
    }
  for (int64_t k = 0; k < p.count; k++) {
    p.nodes[k]->mark = 0;
    if (p.grads) rl_tensor_release(p.grads[k]);
  }
  rl_mem_free(p.nodes);
  rl_mem_free(p.grads);
  rl_mem_free(p.needed);
  rl_mem_free(p.wanted);
  rl_grad_set_enabled(prev);
  return st;
}
/* }==================== */
