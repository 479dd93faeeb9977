/* tape.h: reverse mode, with a backward that any single call can have replaced.
**
** Recording. A tensor that needs gradients carries a node (t->node): a leaf
** node for tensors marked with rl_tensor_set_requires_grad, or the node of the
** op that produced it. Every differentiable op runs through rl_op_apply(),
** which computes the output and, when gradient mode is on and some input has
** a node, records a new node: the op (an rl_opdef), a copy of its attributes,
** its inputs (+1 each) and a detached alias of its output. Nodes are
** refcounted and freed with the last tensor that leads to them; there is no
** global tape and no cycle (a node never holds its own output tensor).
**
** Backward. rl_tape_backward(root, seed, wrt...) collects the nodes behind root,
** orders them by creation (a valid topological order), prunes those from
** which no requested tensor is reachable, walks them in reverse and sums
** the gradient where an output feeds several consumers. Any tensor with a
** node can be requested: leaves (the input) and intermediates (a layer's
** output for Grad-CAM) in the same pass. Shapes are checked after every node.
** Gradient recording is off during backward, so a pass builds no new graph.
**
** Replacing a backward. rl_backward_opts.overrides maps nodes to callbacks
** for that pass only; the model is never touched. A callback sees the
** recorded call (rl_node_input/rl_node_output/rl_node_op) and can run the
** op's forward and backward again on substituted inputs with
** rl_node_forward/rl_node_backward: an LRP rule is one of each.
**
**   rl_tensor *x, *y, *gx;                  // x: input batch
**   rl_tensor_set_requires_grad(x, 1);
**   model_forward(x, &y);                   // ops record nodes
**   rl_tape_backward(y, seed, 1, &x, &gx, NULL); // gx: d<seed, y>/dx
*/
#ifndef RELUA_TAPE_H
#define RELUA_TAPE_H

#include "tensor.h"

typedef struct rl_node rl_node;

/* An op: its name, its input names (for rules and messages), its forward
** and its full backward. Attributes are a plain struct, copied into the node.
**
** forward: computes *out (+1) from in[0..n-1]; may set *aux (+1) to extra
**   state for backward (max-pool indices, batch-norm statistics), else NULL.
** backward: for every i with needs[i], sets grad_in[i] (+1) to the gradient
**   for in[i] (with in[i]'s shape), or leaves it NULL for "zero". out and
**   aux are those of the recorded call. */
typedef struct rl_opdef {
  const char *name;             /* "conv2d" */
  int min_inputs, max_inputs;
  const char *const *input_names; /* {"input", "weight", "bias"}; may be NULL */
  rl_status (*forward)(const void *attr, int n, rl_tensor *const *in,
                       rl_tensor **out, rl_tensor **aux);
  rl_status (*backward)(const void *attr, int n, rl_tensor *const *in,
                        const rl_tensor *out, const rl_tensor *aux,
                        const rl_tensor *grad_out, const int *needs,
                        rl_tensor **grad_in);
} rl_opdef;

/* Runs op->forward on in[0..n-1] and, if gradients are enabled and some
** input has a node, records a node. attr (attr_size bytes) is copied.
** Returns the output as a new reference in *out. */
RL_API rl_status rl_op_apply(const rl_opdef *op, const void *attr, size_t attr_size,
                             int n, rl_tensor *const *in, rl_tensor **out);

/* {==================== gradient mode and leaves */
RL_API int rl_grad_enabled(void);
RL_API int rl_grad_set_enabled(int on); /* returns the previous setting; thread-local */
/* Gives t a leaf node (on) or drops its node (off). A tensor produced by an
** op already has a node; turning it on there is a no-op. */
RL_API rl_status rl_tensor_set_requires_grad(rl_tensor *t, int on);
RL_API int rl_tensor_requires_grad(const rl_tensor *t);
/* }==================== */

/* {==================== nodes */
RL_API const rl_opdef *rl_node_op(const rl_node *nd);
RL_API int rl_node_ninputs(const rl_node *nd);
RL_API rl_tensor *rl_node_input(const rl_node *nd, int i);   /* borrowed */
RL_API rl_tensor *rl_node_output(const rl_node *nd);         /* borrowed, detached alias */
RL_API const rl_tensor *rl_node_aux(const rl_node *nd);      /* borrowed, may be NULL */
RL_API const void *rl_node_attr(const rl_node *nd);
RL_API uint64_t rl_node_seq(const rl_node *nd);              /* creation order */
RL_API int rl_node_is_leaf(const rl_node *nd);
/* Re-run the recorded op with the node's attributes on other inputs (the
** same count), e.g. with weights clamped to their positive part. Nothing is
** recorded. *out is a new reference. */
RL_API rl_status rl_node_forward(const rl_node *nd, rl_tensor *const *in, rl_tensor **out);
/* The recorded op's backward on other inputs: for each i with needs[i]
** (needs NULL: all), grad_in[i] (+1) or NULL. grad_in must have
** rl_node_ninputs() slots. */
RL_API rl_status rl_node_backward(const rl_node *nd, rl_tensor *const *in,
                                  const rl_tensor *grad_out, const int *needs,
                                  rl_tensor **grad_in);
/* }==================== */

/* {==================== backward */

/* A replacement for one node's backward during one pass. Same contract as
** rl_opdef.backward: set grad_in[i] (+1) for every needs[i], or NULL. A
** non-OK status aborts the pass (the callback sets the message). */
typedef rl_status (*rl_override_fn)(rl_node *nd, rl_tensor *const *inputs,
                                    const rl_tensor *output, const rl_tensor *grad_out,
                                    const int *needs, rl_tensor **grad_in, void *ud);

typedef struct rl_override {
  const rl_node *node;
  rl_override_fn fn;
  void *ud;
} rl_override;

typedef struct rl_backward_opts {
  const rl_override *overrides; /* may be NULL */
  int noverrides;
  /* Called when a node with no entry in overrides is reached: return a
  ** callback (and set *ud) to replace its backward, or NULL for the op's
  ** own. Lets a binding map nodes to rules lazily. May be NULL. */
  rl_override_fn (*lookup)(const rl_node *nd, void *lookup_ud, void **ud);
  void *lookup_ud;
} rl_backward_opts;

/* Gradient of <seed, root> with respect to each wrt[i] (any tensors with a
** node: leaves or intermediates). seed must have root's shape; NULL means
** ones (root a scalar or not). grads[i] gets a new reference; a wrt that root
** does not depend on gets zeros. opts may be NULL. The graph is kept: the
** same forward can be differentiated again with another seed. */
RL_API rl_status rl_tape_backward(rl_tensor *root, const rl_tensor *seed, int nwrt,
                             rl_tensor *const *wrt, rl_tensor **grads,
                             const rl_backward_opts *opts);

/* Number of live nodes (tests check that graphs are freed). */
RL_API long rl_node_live_count(void);
/* }==================== */

#endif
