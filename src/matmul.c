/* matmul.c: batched matrix products through rl_sgemm, batch dims broadcasting. */
#include <limits.h>
#include <string.h>

#include "blas.h"
#include "internal.h"
#include "ops.h"

/* {==================== operands in layouts sgemm reads */

/* Whether sgemm can read the matrix in t's last two dims in place: rows
** at a stride with unit column stride (*trans = 0), or its transpose stored
** that way (*trans = 1, the view of a transposed contiguous matrix). *ld is
** the leading dimension to pass. Size-1 dims carry no layout, so any stride
** passes there. */
static int layout(const rl_tensor *t, int *trans, int64_t *ld) {
  int nd = t->ndim;
  int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
  int64_t rs = t->stride[nd - 2], cs = t->stride[nd - 1];
  if ((c == 1 || cs == 1) && (r == 1 || rs >= c)) {
    *trans = 0;
    *ld = r == 1 ? c : rs;
  } else if ((r == 1 || rs == 1) && (c == 1 || cs >= r)) {
    *trans = 1;
    *ld = c == 1 ? r : cs;
  } else {
    return 0;
  }
  return *ld <= INT_MAX;
}

/* t with its batch dims broadcast to bshape (nb dims), in a layout sgemm
** reads: a view when possible, else a contiguous copy of t first. */
static rl_status operand(const rl_tensor *t, int nb, const int64_t *bshape, rl_tensor **out) {
  int64_t shape[RL_MAX_DIMS], ld;
  int trans;
  rl_tensor *c = NULL;
  rl_status st;
  memcpy(shape, bshape, (size_t)nb * sizeof *shape);
  shape[nb] = t->shape[t->ndim - 2];
  shape[nb + 1] = t->shape[t->ndim - 1];
  if (layout(t, &trans, &ld)) return rl__expand(t, nb + 2, shape, out);
  if ((st = rl__contig(t, &c)) == RL_OK) st = rl__expand(c, nb + 2, shape, out);
  rl_tensor_release(c);
  return st;
}

/* A view of t with its last two dims swapped. */
static rl_status transposed(const rl_tensor *t, rl_tensor **out) {
  int64_t shape[RL_MAX_DIMS], stride[RL_MAX_DIMS];
  int nd = t->ndim;
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  shape[nd - 2] = t->shape[nd - 1], shape[nd - 1] = t->shape[nd - 2];
  stride[nd - 2] = t->stride[nd - 1], stride[nd - 1] = t->stride[nd - 2];
  return rl__view(t, nd, shape, stride, t->offset, out);
}

/* Whether the rows along dim rowdim of every batch (dims 0..nb-1) follow
** one another at the constant step s, so that sgemm can take all batches as
** one tall (or, transposed, one wide) matrix. */
static int rows_uniform(const rl_tensor *t, int nb, int rowdim, int64_t s) {
  int64_t span = s;
  if (t->shape[rowdim] != 1 && t->stride[rowdim] != s) return 0;
  span *= t->shape[rowdim];
  for (int d = nb - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != span) return 0;
    span *= t->shape[d];
  }
  return 1;
}

static int batch_all_broadcast(const rl_tensor *t, int nb) {
  for (int d = 0; d < nb; d++)
    if (t->shape[d] != 1 && t->stride[d] != 0) return 0;
  return 1;
}
/* }==================== */

/* {==================== the batched product */

/* C[i] = A[i] @ B[i] + beta C[i] for every batch index i. A, B and C have
** nb batch dims of the same sizes (stride 0 where broadcast) and two matrix
** dims; A and B come from operand(), C has a unit column stride. When C's
** batch strides are 0, the products of all batches sum into one matrix
** (with beta 1 on zeros): that is how gradients reduce over broadcasting. */
static rl_status bmm(int nb, const rl_tensor *A, const rl_tensor *B, rl_tensor *C, float beta) {
  int64_t m = C->shape[nb], n = C->shape[nb + 1], k = A->shape[nb + 1];
  int64_t lda, ldb, ldc = m == 1 ? n : C->stride[nb], nbatch = 1;
  int ta, tb;
  layout(A, &ta, &lda);
  layout(B, &tb, &ldb);
  const float *pa = rl_tensor_data(A), *pb = rl_tensor_data(B);
  float *pc = rl_tensor_data(C);
  for (int d = 0; d < nb; d++) nbatch *= C->shape[d];
  if (nbatch > 1) {
    /* One call instead of nbatch: all batches as one tall product when B
    ** is shared (x @ W over a batch), or as one long inner dimension when
    ** they sum into one C (the gradient W of that). */
    if (!ta && batch_all_broadcast(B, nb) && m * nbatch <= INT_MAX &&
        rows_uniform(A, nb, nb, lda) && rows_uniform(C, nb, nb, ldc)) {
      rl_sgemm(0, tb, m * nbatch, n, k, 1, pa, lda, pb, ldb, beta, pc, ldc);
      return rl_check_interrupt("matmul");
    }
    if (ta && !tb && batch_all_broadcast(C, nb) && k * nbatch <= INT_MAX &&
        rows_uniform(A, nb, nb + 1, lda) && rows_uniform(B, nb, nb, ldb)) {
      rl_sgemm(1, 0, m, n, k * nbatch, 1, pa, lda, pb, ldb, beta, pc, ldc);
      return rl_check_interrupt("matmul");
    }
  }
  int64_t idx[RL_MAX_DIMS] = {0}, oa = 0, ob = 0, oc = 0;
  for (int64_t i = 0; i < nbatch; i++) {
    rl_status st = rl_check_interrupt("matmul");
    if (st) return st;
    rl_sgemm(ta, tb, m, n, k, 1, pa + oa, lda, pb + ob, ldb, beta, pc + oc, ldc);
    for (int d = nb - 1; d >= 0; d--) {
      oa += A->stride[d], ob += B->stride[d], oc += C->stride[d];
      if (++idx[d] < C->shape[d]) break;
      oa -= A->stride[d] * idx[d], ob -= B->stride[d] * idx[d], oc -= C->stride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return RL_OK;
}

/* The product l @ r reduced to x's shape (the gradient for x): l and r are
** any views with nb batch dims or fewer, broadcasting to bshape. */
static rl_status product_like(const rl_tensor *x, const rl_tensor *l, const rl_tensor *r, int nb,
                              const int64_t *bshape, rl_tensor **out) {
  rl_tensor *A = NULL, *B = NULL, *g = NULL, *gv = NULL;
  int64_t shape[RL_MAX_DIMS];
  int reduce = 0;
  rl_status st;
  memcpy(shape, bshape, (size_t)nb * sizeof *shape);
  shape[nb] = x->shape[x->ndim - 2];
  shape[nb + 1] = x->shape[x->ndim - 1];
  RL_TRY(operand(l, nb, bshape, &A));
  RL_TRY(operand(r, nb, bshape, &B));
  RL_TRY(rl_tensor_new_like(x, &g));
  RL_TRY(rl__expand(g, nb + 2, shape, &gv));
  for (int d = 0; d < nb; d++) reduce |= bshape[d] > 1 && gv->stride[d] == 0;
  if (reduce) rl_tensor_fill_(g, 0);
  RL_TRY(bmm(nb, A, B, gv, reduce ? 1.0f : 0.0f));
  *out = g;
  g = NULL;
cleanup:
  rl_tensor_release(A);
  rl_tensor_release(B);
  rl_tensor_release(gv);
  rl_tensor_release(g);
  return st;
}
/* }==================== */

/* {==================== the op */

/* The broadcast batch shape of a and b, or a message. */
static rl_status batch_shape(const rl_tensor *a, const rl_tensor *b, int *nb, int64_t *bshape) {
  if (a->ndim < 2 || b->ndim < 2)
    return rl_error(RL_ESHAPE, "matmul: %s @ %s: operands need at least 2 dims (reshape a 1-D one)",
                    rl_shapestr(a).s, rl_shapestr(b).s);
  int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim - 2];
  if (ka != kb)
    return rl_error(RL_ESHAPE, "matmul: %s @ %s: inner dims %lld and %lld differ",
                    rl_shapestr(a).s, rl_shapestr(b).s, (long long)ka, (long long)kb);
  int n = (a->ndim > b->ndim ? a->ndim : b->ndim) - 2;
  for (int i = 0; i < n; i++) {
    int da = a->ndim - 2 - n + i, db = b->ndim - 2 - n + i;
    int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      return rl_error(RL_ESHAPE, "matmul: %s @ %s: batch dims %lld and %lld do not broadcast",
                      rl_shapestr(a).s, rl_shapestr(b).s, (long long)sa, (long long)sb);
    bshape[i] = sa == 1 ? sb : sa;
  }
  *nb = n;
  return RL_OK;
}

static rl_status matmul_fwd(const void *attr, int n, rl_tensor *const *in, rl_tensor **out,
                            rl_tensor **aux) {
  const rl_tensor *a = in[0], *b = in[1];
  rl_tensor *A = NULL, *B = NULL, *C = NULL;
  int64_t shape[RL_MAX_DIMS];
  int nb;
  rl_status st;
  (void)attr, (void)n;
  *aux = NULL;
  RL_TRY(batch_shape(a, b, &nb, shape));
  shape[nb] = a->shape[a->ndim - 2];
  shape[nb + 1] = b->shape[b->ndim - 1];
  RL_TRY(rl__check_shape("matmul", nb + 2, shape));
  RL_TRY(operand(a, nb, shape, &A));
  RL_TRY(operand(b, nb, shape, &B));
  RL_TRY(rl_tensor_new(nb + 2, shape, &C));
  RL_TRY(bmm(nb, A, B, C, 0));
  *out = C;
  C = NULL;
cleanup:
  rl_tensor_release(A);
  rl_tensor_release(B);
  rl_tensor_release(C);
  return st;
}

/* grad_a = g @ b^T and grad_b = a^T @ g, each summed over the batch dims
** its operand was broadcast along. */
static rl_status matmul_bwd(const void *attr, int n, rl_tensor *const *in, const rl_tensor *out,
                            const rl_tensor *aux, const rl_tensor *gout, const int *needs,
                            rl_tensor **gin) {
  const rl_tensor *a = in[0], *b = in[1];
  rl_tensor *t = NULL;
  int64_t bshape[RL_MAX_DIMS];
  int nb;
  rl_status st;
  (void)attr, (void)n, (void)out, (void)aux;
  RL_TRY(batch_shape(a, b, &nb, bshape));
  /* a rule may run this backward on other inputs than the recorded ones */
  bshape[nb] = a->shape[a->ndim - 2];
  bshape[nb + 1] = b->shape[b->ndim - 1];
  if (gout->ndim != nb + 2 || memcmp(gout->shape, bshape, (size_t)(nb + 2) * sizeof *bshape)) {
    st = rl_error(RL_ESHAPE, "matmul: grad_output %s does not match the output %s of %s @ %s",
                  rl_shapestr(gout).s, rl_shapestr_dims(nb + 2, bshape).s, rl_shapestr(a).s,
                  rl_shapestr(b).s);
    goto cleanup;
  }
  if (needs[0]) {
    RL_TRY(transposed(b, &t));
    RL_TRY(product_like(a, gout, t, nb, bshape, &gin[0]));
    rl_tensor_release(t);
    t = NULL;
  }
  if (needs[1]) {
    RL_TRY(transposed(a, &t));
    RL_TRY(product_like(b, t, gout, nb, bshape, &gin[1]));
  }
cleanup:
  rl_tensor_release(t);
  return st;
}

static const char *const matmul_inputs[] = {"a", "b"};
const rl_opdef rl_op_matmul = {"matmul", 2, 2, matmul_inputs, matmul_fwd, matmul_bwd};

rl_status rl_matmul(rl_tensor *a, rl_tensor *b, rl_tensor **out) {
  return rl_op_apply(&rl_op_matmul, NULL, 0, 2, (rl_tensor *[]){a, b}, out);
}
/* }==================== */
