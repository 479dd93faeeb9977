#!/usr/bin/python3
"""Generate the small ONNX fixtures under tests/data/onnx/ (run offline; CI never needs torch).

Usage:  /usr/bin/python3 tools/make_onnx_fixtures.py [--out DIR]

Needs Debian 12's python3-torch (1.13.1), python3-onnx (1.12) and python3-numpy.
Deterministic: seeded weights and inputs, one thread; rerunning rewrites identical files.
For every fixture NAME it writes NAME.onnx, NAME.input.npy (float32 network input)
and NAME.output.npy (float32 output of the PyTorch module in eval mode), then
MANIFEST.md listing opset, operators, shapes, sizes and notes. Fixtures:
small_cnn (+ _typed, _constants), resblock_bn (+ _typed, _fused), all_ops_op11/13/17,
external_data (+ .onnx.data), unsupported_erf (negative), upsample_op9.

Each .onnx file is also run through the small NumPy interpreter below (float64),
written separately from PyTorch, and the largest difference to the PyTorch
output is recorded in the manifest: the fixture's graph, not just the module,
is known to compute the expected output. For all_ops and resblock_bn the script
also checks that typical reader mistakes (an attribute ignored or misread) change
the output by more than 1e-4, i.e. that the fixture would catch them.

Post-processing (all documented in MANIFEST.md, all exact):
 - torch 1.13 leaves F.pad's pad vector as a chain of Constant -> ConstantOfShape
   -> Concat -> Reshape -> Slice -> Transpose -> Cast nodes; chains made only of
   constants are evaluated here and replaced by one Constant node, so the
   fixtures use only the operators relua supports;
 - torch never emits Dropout in eval mode, so Dropout nodes (inference: identity)
   replace the Mul-by-1 markers the module puts where dropout belongs, as Keras
   converters leave them;
 - all_ops_op17 merges torch's Pad(0) + AveragePool into one AveragePool with
   count_include_pad=1, the form other converters produce.
"""
import argparse
import io
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "data", "onnx")
EVAL = torch.onnx.TrainingMode.EVAL
PRESERVE = torch.onnx.TrainingMode.PRESERVE  # eval-mode module, but Conv+BN is not fused

# Operators relua's ONNX reader supports (issue 5); anything else in a fixture is reported.
SUPPORTED = {
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
    "Tanh", "Clip", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool",
    "BatchNormalization", "Flatten", "Reshape", "Concat", "Dropout", "Identity", "Constant",
    "Pad", "Resize", "Upsample",
    # the Shape -> Gather -> Unsqueeze -> Concat -> Reshape pattern of older exports
    "Shape", "Gather", "Unsqueeze",
}


# --------------------------------------------------------------------------------------
# A small NumPy ONNX interpreter (float64), independent of PyTorch, used to check fixtures
# and to fold constant chains.
# --------------------------------------------------------------------------------------

def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pool_out(n, k, s, pb, pe, d, ceil):
    eff = (k - 1) * d + 1
    num = n + pb + pe - eff
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + pb:  # last window must start inside input or left pad
        o -= 1
    return o


def conv(x, w, b, a):
    N, C, H, W = x.shape
    M, Cg, KH, KW = w.shape
    g = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    assert a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    OH = (H + pt + pb - (KH - 1) * dh - 1) // sh + 1
    OW = (W + pl + pr - (KW - 1) * dw - 1) // sw + 1
    out = np.zeros((N, M, OH, OW))
    Mg = M // g
    for gi in range(g):
        xs = xp[:, gi * Cg:(gi + 1) * Cg]
        ws = w[gi * Mg:(gi + 1) * Mg]
        for i in range(KH):
            for j in range(KW):
                patch = xs[:, :, i * dh: i * dh + sh * (OH - 1) + 1: sh, j * dw: j * dw + sw * (OW - 1) + 1: sw]
                out[:, gi * Mg:(gi + 1) * Mg] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def pool(x, a, kind):
    N, C, H, W = x.shape
    KH, KW = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    ceil = a.get("ceil_mode", 0)
    cip = a.get("count_include_pad", 0)
    OH = _pool_out(H, KH, sh, pt, pb, dh, ceil)
    OW = _pool_out(W, KW, sw, pl, pr, dw, ceil)
    out = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * sh - pt, ow * sw - pl
            hs = [h0 + i * dh for i in range(KH)]
            ws = [w0 + j * dw for j in range(KW)]
            hv = [h for h in hs if 0 <= h < H]
            wv = [v for v in ws if 0 <= v < W]
            win = x[:, :, hv][:, :, :, wv]
            if kind == "max":
                out[:, :, oh, ow] = win.max(axis=(2, 3))
            else:
                if cip:  # count the padding, but not the overhang that ceil_mode adds
                    nh = len([h for h in hs if h < H + pb])
                    nw = len([v for v in ws if v < W + pr])
                    cnt = nh * nw
                else:
                    cnt = len(hv) * len(wv)
                out[:, :, oh, ow] = win.sum(axis=(2, 3)) / cnt
    return out


def resize(x, scales, sizes, a):
    mode = a.get("mode", b"nearest").decode()
    ctm = a.get("coordinate_transformation_mode", b"half_pixel").decode()
    nm = a.get("nearest_mode", b"round_prefer_floor").decode()
    if sizes is None:
        sizes = [int(np.floor(n * s)) for n, s in zip(x.shape, scales)]
    if scales is None:
        scales = [o / n for o, n in zip(sizes, x.shape)]
    y = x
    for ax, (n, o, s) in enumerate(zip(x.shape, sizes, scales)):
        if n == o and s == 1:
            continue
        r = np.arange(o, dtype=np.float64)
        if ctm == "asymmetric":
            src = r / s
        elif ctm == "align_corners":
            src = r * (n - 1) / (o - 1) if o > 1 else np.zeros(o)
        elif ctm == "half_pixel":
            src = (r + 0.5) / s - 0.5
        elif ctm == "pytorch_half_pixel":
            src = (r + 0.5) / s - 0.5 if o > 1 else np.zeros(o)
        else:
            raise NotImplementedError(ctm)
        if mode == "nearest":
            if nm == "floor":
                idx = np.floor(src)
            elif nm == "round_prefer_floor":
                idx = np.ceil(src - 0.5)
            elif nm == "round_prefer_ceil":
                idx = np.floor(src + 0.5)
            else:
                idx = np.ceil(src)
            idx = np.clip(idx, 0, n - 1).astype(int)
            y = np.take(y, idx, axis=ax)
        elif mode == "linear":
            src = np.clip(src, 0, n - 1)
            i0 = np.floor(src).astype(int)
            i1 = np.minimum(i0 + 1, n - 1)
            t = src - i0
            shp = [1] * y.ndim
            shp[ax] = o
            t = t.reshape(shp)
            y = np.take(y, i0, axis=ax) * (1 - t) + np.take(y, i1, axis=ax) * t
        else:
            raise NotImplementedError(mode)
    return y


def softmax(x, axis, opset, log):
    if opset < 13:  # coerce to 2D at axis
        shp = x.shape
        ax = axis % x.ndim
        x2 = x.reshape(int(np.prod(shp[:ax])), -1)
        r = softmax(x2, 1, 13, log)
        return r.reshape(shp)
    m = x - x.max(axis=axis, keepdims=True)
    e = np.exp(m)
    s = e.sum(axis=axis, keepdims=True)
    return m - np.log(s) if log else e / s


def run_node(node, ins, opset):
    op, a = node.op_type, attrs(node)
    x = ins[0] if ins else None
    if op == "Conv":
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "Gemm":
        A = ins[0].T if a.get("transA", 0) else ins[0]
        B = ins[1].T if a.get("transB", 0) else ins[1]
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return [y]
    if op == "MatMul":
        return [np.matmul(ins[0], ins[1])]
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        r = f(ins[0], ins[1])
        if op == "Div" and ins[0].dtype.kind == "i":
            r = np.trunc(r).astype(ins[0].dtype)
        return [r]
    if op == "Relu":
        return [np.maximum(x, 0)]
    if op == "LeakyRelu":
        return [np.where(x >= 0, x, a.get("alpha", 0.01) * x)]
    if op == "Sigmoid":
        return [1 / (1 + np.exp(-x))]
    if op == "Tanh":
        return [np.tanh(x)]
    if op == "Clip":
        if opset < 11:
            lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        else:
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
        return [np.minimum(np.maximum(x, lo), hi)]
    if op in ("Softmax", "LogSoftmax"):
        return [softmax(x, a.get("axis", 1 if opset < 13 else -1), opset, op == "LogSoftmax")]
    if op == "MaxPool":
        return [pool(x, a, "max")]
    if op == "AveragePool":
        return [pool(x, a, "avg")]
    if op == "GlobalAveragePool":
        return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]
    if op == "BatchNormalization":
        s, b, m, v = ins[1:5]
        shp = (1, -1) + (1,) * (x.ndim - 2)
        eps = a.get("epsilon", 1e-5)
        return [(x - m.reshape(shp)) / np.sqrt(v.reshape(shp) + eps) * s.reshape(shp) + b.reshape(shp)]
    if op == "Flatten":
        ax = a.get("axis", 1) % x.ndim if x.ndim else 0
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Reshape":
        shape = [int(v) for v in ins[1]]
        if not a.get("allowzero", 0):
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if op in ("Dropout", "Identity"):
        return [x] + ([np.ones(x.shape, bool)] if len(node.output) > 1 else [])
    if op == "Constant":
        return [numpy_helper.to_array(a["value"])]
    if op == "Pad":
        mode = a.get("mode", b"constant").decode()
        if opset < 11:
            pads, cval = a["pads"], a.get("value", 0.0)
        else:
            pads = [int(v) for v in ins[1]]
            cval = float(ins[2]) if len(ins) > 2 and ins[2] is not None else 0.0
        n = x.ndim
        pw = [(pads[i], pads[i + n]) for i in range(n)]
        if mode == "constant":
            return [np.pad(x, pw, constant_values=cval)]
        return [np.pad(x, pw, mode={"reflect": "reflect", "edge": "edge"}[mode])]
    if op == "Resize":
        scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].size else None
        sizes = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].size else None
        if opset == 10:
            scales = ins[1]
        return [resize(x, scales, sizes, a)]
    if op == "Upsample":
        scales = a["scales"] if opset < 9 else ins[1]
        aa = dict(a)
        aa["coordinate_transformation_mode"] = b"asymmetric"
        aa["nearest_mode"] = b"floor"
        return [resize(x, list(scales), None, aa)]
    # helpers seen in torch's shape arithmetic (not relua operators)
    if op == "Shape":
        return [np.array(x.shape, dtype=np.int64)]
    if op == "Gather":
        return [np.take(x, ins[1], axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = a["axes"] if opset < 13 else [int(v) for v in ins[1]]
        return [np.expand_dims(x, tuple(axes))]
    if op == "ConstantOfShape":
        v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full([int(d) for d in x], v[0], dtype=v.dtype)]
    if op == "Slice":  # opset >= 10: starts, ends, axes, steps as inputs
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        y = x
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            n, st, en, sp = x.shape[int(ax)], int(st), int(en), int(sp)
            st = st + n if st < 0 else st
            en = en + n if en < 0 else en
            st = min(max(st, 0), n if sp > 0 else n - 1)
            en = min(max(en, 0 if sp > 0 else -1), n if sp > 0 else n - 1)
            y = np.take(y, np.arange(st, en, sp, dtype=np.int64), axis=int(ax))
        return [y]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "Cast":
        to = helper.tensor_dtype_to_np_dtype(a["to"]) if hasattr(helper, "tensor_dtype_to_np_dtype") \
            else onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]]
        return [x.astype(to)]
    raise NotImplementedError(f"reference interpreter: operator {op}")


def opset_of(model):
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def run_model(model, feeds, base_dir=None):
    """Evaluate the graph in float64; returns {name: array} of every value."""
    if base_dir is not None:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        onnx.external_data_helper.load_external_data_for_model(model, base_dir)
    opset = opset_of(model)
    env = {"": None}
    for t in model.graph.initializer:
        v = numpy_helper.to_array(t)
        env[t.name] = v.astype(np.float64) if v.dtype.kind == "f" else v
    for k, v in feeds.items():
        env[k] = v.astype(np.float64)
    for node in model.graph.node:
        ins = [env[i] for i in node.input]
        outs = run_node(node, ins, opset)
        for name, v in zip(node.output, outs):
            if node.op_type == "Constant" and v.dtype.kind == "f":
                v = v.astype(np.float64)
            env[name] = v
    return env


# --------------------------------------------------------------------------------------
# Graph post-processing
# --------------------------------------------------------------------------------------

def fold_constant_chains(model):
    """Replace any non-Constant node whose inputs are all constants (and that is not a
    supported operator we want to keep) by a Constant node holding its value."""
    g = model.graph
    opset = opset_of(model)
    const = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    const[""] = None
    for node in g.node:
        if all(i in const for i in node.input):
            outs = run_node(node, [const[i] for i in node.input], opset)
            for name, v in zip(node.output, outs):
                const[name] = v
    # values consumed by non-constant nodes, or graph outputs
    needed = set(o.name for o in g.output)
    for node in g.node:
        if not all(i in const for i in node.input):
            needed.update(node.input)
    keep = []
    replaced = set()
    for node in g.node:
        if node.op_type != "Constant" and node.output and all(o in const for o in node.output):
            if any(o in needed for o in node.output) and node.op_type not in SUPPORTED:
                for o in node.output:
                    if o in needed and o not in replaced:
                        replaced.add(o)
                        keep.append(helper.make_node("Constant", [], [o], name=node.name + "_folded",
                                                     value=numpy_helper.from_array(np.asarray(const[o]), o)))
                continue
        keep.append(node)
    before = [n.op_type for n in g.node]
    del g.node[:]
    g.node.extend(keep)
    dead_code_elimination(model)
    after = [n.op_type for n in g.node]
    for t in after:  # what disappeared (folded nodes and the chains feeding them)
        if t in before:
            before.remove(t)
    return sorted(set(before))


def dead_code_elimination(model):
    g = model.graph
    live = set(o.name for o in g.output)
    keep = []
    for node in reversed(list(g.node)):
        if any(o in live for o in node.output):
            keep.append(node)
            live.update(node.input)
    del g.node[:]
    g.node.extend(reversed(keep))
    inits = [t for t in g.initializer if t.name in live]
    del g.initializer[:]
    g.initializer.extend(inits)


def mark_dropouts(model, marker_value):
    """The module multiplies by `marker_value` (a scalar 1.0 buffer) where it calls dropout;
    each such Mul node becomes a Dropout node (ratio 0.25), which at inference is identity."""
    g = model.graph
    opset = opset_of(model)
    n_done = 0
    for k, node in enumerate(list(g.node)):
        if node.op_type != "Mul" or marker_value not in node.input:
            continue
        x = [i for i in node.input if i != marker_value][0]
        name = "/Dropout" + ("_%d" % n_done if n_done else "")
        out = name + "_output_0"
        for n in g.node:
            for j, i in enumerate(n.input):
                if i == node.output[0]:
                    n.input[j] = out
        if opset < 12:
            d = helper.make_node("Dropout", [x], [out], name=name, ratio=0.25)
        else:
            g.initializer.append(numpy_helper.from_array(np.array(0.25, np.float32), name + "_ratio"))
            # the optional mask output present but unused, as in converted Keras graphs
            d = helper.make_node("Dropout", [x, name + "_ratio"], [out, name + "_mask"], name=name)
        g.node.remove(node)
        g.node.insert(k, d)
        n_done += 1
    dead_code_elimination(model)
    assert n_done
    return n_done


def merge_pad_avgpool(model):
    """Pad(constant 0) -> AveragePool(no pads)  ==>  AveragePool(pads, count_include_pad=1)."""
    g = model.graph
    env_const = {}
    for n in g.node:
        if n.op_type == "Constant":
            env_const[n.output[0]] = numpy_helper.to_array(attrs(n)["value"])
    merged = 0
    for pad in list(g.node):
        if pad.op_type != "Pad" or attrs(pad).get("mode", b"constant") != b"constant":
            continue
        cons = [n for n in g.node if pad.output[0] in n.input]
        if len(cons) != 1 or cons[0].op_type != "AveragePool":
            continue
        pads = [int(v) for v in env_const[pad.input[1]]]
        cval = float(env_const[pad.input[2]]) if len(pad.input) > 2 and pad.input[2] else 0.0
        ap = cons[0]
        a = attrs(ap)
        if cval != 0 or any(pads[i] or pads[i + 4] for i in (0, 1)) or a.get("ceil_mode", 0) or any(a.get("pads", [0])):
            continue
        new = helper.make_node("AveragePool", [pad.input[0]], list(ap.output), name=ap.name,
                               kernel_shape=a["kernel_shape"], strides=a.get("strides", [1, 1]),
                               pads=[pads[2], pads[3], pads[6], pads[7]], count_include_pad=1, ceil_mode=0)
        k = list(g.node).index(ap)
        g.node.remove(ap)
        g.node.insert(k, new)
        g.node.remove(pad)
        merged += 1
    dead_code_elimination(model)
    return merged


def _typed(t):
    v = numpy_helper.to_array(t)
    kinds = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}
    return helper.make_tensor(t.name, kinds[v.dtype], v.shape, v.flatten().tolist(), raw=False)


def to_typed_fields(model):
    """Rewrite every initializer and Constant tensor with float_data / int64_data
    instead of raw_data."""
    g = model.graph
    new = [_typed(t) for t in g.initializer]
    del g.initializer[:]
    g.initializer.extend(new)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                a.t.CopyFrom(_typed(a.t))


def initializers_to_constants(model):
    """Weights as Constant nodes (as some converters write them) instead of initializers."""
    g = model.graph
    nodes = [helper.make_node("Constant", [], [t.name], name=t.name + "_const", value=t) for t in g.initializer]
    names = {t.name for t in g.initializer}
    ins = [i for i in g.input if i.name not in names]
    del g.input[:]
    g.input.extend(ins)
    del g.initializer[:]
    for n in reversed(nodes):
        g.node.insert(0, n)


# --------------------------------------------------------------------------------------
# Mutation check: a reader that gets an attribute's meaning wrong must fail the fixture
# --------------------------------------------------------------------------------------

def _set_attr(node, name, value):
    for a in node.attribute:
        if a.name == name:
            node.attribute.remove(a)
            break
    if value is not None:
        node.attribute.append(helper.make_attribute(name, value))


# (description, op_type, predicate on the node's attributes, mutation of a copy of the node)
MUTATIONS = [
    ("MaxPool/AveragePool ceil_mode ignored", ("MaxPool", "AveragePool"),
     lambda a: a.get("ceil_mode", 0) == 1, lambda n: _set_attr(n, "ceil_mode", 0)),
    ("AveragePool count_include_pad ignored", ("AveragePool",),
     lambda a: a.get("count_include_pad", 0) == 1, lambda n: _set_attr(n, "count_include_pad", 0)),
    ("AveragePool padding counted", ("AveragePool",),
     lambda a: any(a.get("pads", [0])) and not a.get("count_include_pad", 0),
     lambda n: _set_attr(n, "count_include_pad", 1)),
    ("Conv dilations ignored", ("Conv",), lambda a: a.get("dilations", [1]) != [1, 1],
     lambda n: _set_attr(n, "dilations", [1, 1])),
    ("Resize align_corners read as half_pixel", ("Resize",),
     lambda a: a.get("coordinate_transformation_mode") == b"align_corners",
     lambda n: _set_attr(n, "coordinate_transformation_mode", b"half_pixel")),
    ("Resize half_pixel read as asymmetric", ("Resize",),
     lambda a: a.get("coordinate_transformation_mode") == b"half_pixel",
     lambda n: _set_attr(n, "coordinate_transformation_mode", b"asymmetric")),
    ("Resize nearest_mode floor read as round_prefer_floor", ("Resize",),
     lambda a: a.get("mode") == b"nearest", lambda n: _set_attr(n, "nearest_mode", b"round_prefer_floor")),
    ("Pad reflect read as edge", ("Pad",), lambda a: a.get("mode") == b"reflect",
     lambda n: _set_attr(n, "mode", b"edge")),
    ("Pad constant value ignored", ("Pad",), lambda a: True, "drop_input_2"),
    ("Gemm alpha/beta ignored", ("Gemm",), lambda a: a.get("alpha", 1.0) != 1.0,
     lambda n: (_set_attr(n, "alpha", 1.0), _set_attr(n, "beta", 1.0))),
    ("BatchNormalization epsilon ignored", ("BatchNormalization",), lambda a: True,
     lambda n: _set_attr(n, "epsilon", 0.0)),
    ("LeakyRelu alpha ignored (default 0.01)", ("LeakyRelu",), lambda a: True,
     lambda n: _set_attr(n, "alpha", None)),
    ("Softmax/LogSoftmax on axis 1", ("Softmax", "LogSoftmax"), lambda a: True,
     lambda n: _set_attr(n, "axis", 1)),
    ("Clip max ignored", ("Clip",), lambda a: True, "drop_input_2"),
]


def mutation_report(model, x, y):
    """For each mutation that applies to `model`, evaluate the mutated graph and report
    whether the expected output catches it (difference > 1e-4, or a shape error)."""
    lines = []
    for desc, ops, pred, mutate in MUTATIONS:
        m = onnx.ModelProto.FromString(model.SerializeToString())
        hit = 0
        for n in m.graph.node:
            if n.op_type in ops and pred(attrs(n)):
                if mutate == "drop_input_2":
                    if len(n.input) > 2 and n.input[2]:
                        n.input[2] = ""
                        hit += 1
                else:
                    mutate(n)
                    hit += 1
        if not hit:
            continue
        try:
            r = run_model(m, {"input": x})[m.graph.output[0].name]
            caught = r.shape != y.shape or float(np.max(np.abs(r - y))) > 1e-4
            how = "shape" if r.shape != y.shape else "%.1e" % float(np.max(np.abs(r - y)))
        except (ValueError, IndexError):
            caught, how = True, "shape error"
        lines.append((desc, caught, how))
    return lines


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

def randomize_bn(bn, gen):
    with torch.no_grad():
        n = bn.num_features
        bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=gen) * 0.2)
        bn.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
        bn.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
        # one channel with a tiny variance, so that ignoring epsilon changes the output
        bn.running_var[0] = 1e-3
        bn.weight[0] = 0.05


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.relu2 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(x)))
        x = self.relu2(self.conv2(x))
        return self.fc(self.flatten(self.gap(x)))


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock layout (conv1, bn1, relu, conv2, bn2, downsample)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResBlockNet(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.layer1 = nn.Sequential(BasicBlock(3, 8, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                randomize_bn(m, gen)

    def forward(self, x):
        x = self.avgpool(self.layer1(x))
        x = x.view(x.size(0), -1)  # Shape -> Gather -> Unsqueeze -> Concat -> Reshape at opset 11
        return self.fc(x)



class AllOps(nn.Module):
    """Every operator of relua's ONNX reader in one graph; input N x 3 x 10 x 10, output N x 10.

    No tensor indexing (it would export Slice) and no reductions other than pooling.
    Where dropout belongs, the module multiplies by the scalar buffer `dropout_marker`
    (1.0); mark_dropouts() turns those Mul nodes into Dropout nodes after export."""

    def __init__(self, gen):
        super().__init__()
        self.conv_a = nn.Conv2d(3, 6, 3, stride=1, padding=1)
        self.conv_b = nn.Conv2d(3, 6, 3, stride=2, padding=3, dilation=2)
        self.conv_g = nn.Conv2d(24, 12, 3, padding=1, groups=3, bias=False)
        self.conv_dw = nn.Conv2d(12, 12, 3, stride=2, groups=12)
        self.bn = nn.BatchNorm2d(12)
        self.bn_dw = nn.BatchNorm2d(12)
        self.fc1 = nn.Linear(90, 16)
        self.w2 = nn.Parameter(torch.randn(10, 32, generator=gen) * 0.05)
        self.b2 = nn.Parameter(torch.randn(10, generator=gen) * 0.1)
        self.m3 = nn.Parameter(torch.randn(4, 4, generator=gen) * 0.5)
        self.m4 = nn.Parameter(torch.randn(12, 10, generator=gen) * 0.5)
        self.register_buffer("shift", torch.randn(1, 1, 1, 10, generator=gen) * 0.1)
        self.register_buffer("scale", torch.rand(1, 6, 1, 1, generator=gen) + 0.5)
        self.register_buffer("gain", torch.rand(1, 1, 12, 1, generator=gen) + 0.5)
        self.register_buffer("cbias", torch.randn(1, 12, 1, 1, generator=gen) * 0.1)
        self.register_buffer("dropout_marker", torch.ones(()))
        randomize_bn(self.bn, gen)
        randomize_bn(self.bn_dw, gen)
        with torch.no_grad():  # equal tensors: torch deduplicates them into an Identity node
            self.conv_b.bias.copy_(self.conv_a.bias)

    def dropout(self, x):
        return x * self.dropout_marker

    def forward(self, x):
        n = x.shape[0]
        x = x - self.shift                                               # Sub, broadcast over W
        a = F.relu(self.conv_a(x))                                       # 6x10x10
        a = F.max_pool2d(a, 3, stride=2, padding=1, ceil_mode=True)     # 6x6x6 (5x5 without ceil)
        b = F.leaky_relu(self.conv_b(x), 0.1)                            # stride 2, dilation 2: 6x6x6
        b = b / self.scale                                               # Div, per-channel broadcast
        c = self.bn(torch.cat([a, b], 1))                                # Concat; BN after no Conv
        c = torch.sigmoid(c) * 2.0 - 1.0                                 # Mul, Sub by constants
        u = F.interpolate(c, scale_factor=(2, 3), mode="nearest")        # Resize nearest: 12x12x18
        u = self.dropout(u) * self.gain                                  # Dropout; Mul broadcast over H
        v = F.avg_pool2d(u, 3, stride=2, padding=1, count_include_pad=False)  # AveragePool 12x6x9
        w = F.avg_pool2d(u, 3, stride=2, padding=1, count_include_pad=True)   # Pad + AveragePool
        t = torch.tanh(v + w + self.cbias)                               # Add (same shape, broadcast)
        t = torch.clamp(t, -0.75, 0.75)                                  # Clip(min, max)
        p1 = F.pad(t, (1, 0, 0, 1), mode="constant", value=0.5)          # Pad constant: 12x7x10
        p2 = F.pad(t, (1, 1, 1, 1), mode="reflect")                      # Pad reflect: 12x8x11
        q1 = F.interpolate(p1, scale_factor=2, mode="bilinear", align_corners=False)  # 12x14x20
        q2 = F.interpolate(p2, scale_factor=2, mode="bilinear", align_corners=True)   # 12x16x22
        q1 = F.avg_pool2d(q1, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)  # 8x11
        q2 = F.max_pool2d(q2, 2)                                         # 8x11
        g = F.relu6(self.conv_g(torch.cat([q1, q2], 1)))                 # groups=3; Relu + Clip(0, 6)
        d = self.bn_dw(self.conv_dw(g))                                  # depthwise stride 2: 12x3x5
        d = torch.clamp(d, min=-0.5)                                     # Clip(min only)
        gap = torch.flatten(F.adaptive_avg_pool2d(d, 1), 1)              # GlobalAveragePool, Flatten
        h = torch.flatten(d, 1).reshape(n, 2, 90).reshape(n * 2, 90)     # Flatten, Reshape
        h = self.fc1(h).reshape(n, 2, 16)                                # Gemm (transB=1)
        h = self.dropout(h)
        h = (h.reshape(n, 2, 4, 4) @ self.m3).reshape(n, 2, 16)          # MatMul 4-D @ 2-D
        h = torch.log_softmax(h, -1) + torch.softmax(h, -1) / 4.0        # LogSoftmax, Softmax, Div
        h = torch.addmm(self.b2, h.reshape(n, 32), self.w2.t(), beta=0.5, alpha=2.0)  # Gemm alpha/beta
        return 1.0 - h + torch.tanh(gap) @ self.m4                       # Sub from constant, MatMul


class ExternalTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))


class Unsupported(nn.Module):
    """GELU exports Erf, which relua does not support: the reader must name Erf, the node
    and the opset."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.gelu(x))


class UpsampleOp9(nn.Module):
    """Nearest upsampling at opset 9 exports the (deprecated) Upsample operator."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        return F.interpolate(F.relu(self.conv(x)), scale_factor=2, mode="nearest")


# --------------------------------------------------------------------------------------
# Export, check, write
# --------------------------------------------------------------------------------------

def export(module, x, opset, training=EVAL, dynamic=False, initializers_as_inputs=False):
    f = io.BytesIO()
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    torch.onnx.export(module, (x,), f, opset_version=opset, training=training, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"], dynamic_axes=axes,
                      keep_initializers_as_inputs=initializers_as_inputs)
    return onnx.load_from_string(f.getvalue())


def shape_str(vi):
    dims = vi.type.tensor_type.shape.dim
    return "x".join(d.dim_param if d.dim_param else str(d.dim_value) for d in dims)


def op_counts(model):
    counts = {}
    for n in model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


class Writer:
    def __init__(self, out):
        self.out = out
        self.rows = []
        os.makedirs(out, exist_ok=True)

    def path(self, fname):
        return os.path.join(self.out, fname)

    def write(self, name, model, module, x, note, save=None, extra_batch=None, expect_output=True,
              mutations=False):
        """Check `model` against `module` with the reference interpreter, write the files."""
        with torch.no_grad():
            y = module(x).numpy().astype(np.float32)
        for d, n in zip(model.graph.output[0].type.tensor_type.shape.dim, y.shape):
            if d.dim_param and d.dim_param != "batch":  # torch's shape inference gave up
                d.dim_value = n
        onnx.checker.check_model(model)
        xin = x.numpy().astype(np.float32)
        files = [name + ".onnx"]
        if save is None:
            onnx.save_model(model, self.path(name + ".onnx"))
        else:
            files += save(model, self.path(name + ".onnx"))
        base = self.out if save is not None else None
        loaded = onnx.load_model(self.path(name + ".onnx"), load_external_data=False)
        ref = run_model(loaded, {"input": xin}, base_dir=base)[loaded.graph.output[0].name] \
            if expect_output else None
        diff = float(np.max(np.abs(ref - y))) if expect_output else float("nan")
        if expect_output and not diff < 1e-5:
            sys.exit(f"{name}: reference interpreter differs from torch by {diff}")
        if extra_batch is not None:  # a symbolic batch: check another batch size too
            x2 = torch.randn((extra_batch,) + tuple(x.shape[1:]), generator=torch.Generator().manual_seed(99))
            with torch.no_grad():
                y2 = module(x2).numpy()
            r2 = run_model(loaded, {"input": x2.numpy()}, base_dir=base)[loaded.graph.output[0].name]
            d2 = float(np.max(np.abs(r2 - y2)))
            if not d2 < 1e-5:
                sys.exit(f"{name}: batch {extra_batch} differs by {d2}")
        np.save(self.path(name + ".input.npy"), np.ascontiguousarray(xin))
        files.append(name + ".input.npy")
        if expect_output:
            np.save(self.path(name + ".output.npy"), np.ascontiguousarray(y))
            files.append(name + ".output.npy")
        muts = mutation_report(loaded, xin, y) if mutations else []
        missed = [d for d, c, _ in muts if not c]
        if missed:
            sys.exit(f"{name}: the expected output does not catch: {missed}")
        unsupported = sorted(set(op_counts(loaded)) - SUPPORTED)
        self.rows.append(dict(name=name, opset=opset_of(loaded), ir=loaded.ir_version,
                              inp=shape_str(loaded.graph.input[0]), out=shape_str(loaded.graph.output[0]),
                              ops=op_counts(loaded), files={f: os.path.getsize(self.path(f)) for f in files},
                              diff=diff, absmax=float(np.max(np.abs(y))), note=note, unsupported=unsupported,
                              muts=muts))
        print(f"{name}: opset {opset_of(loaded)}, ops {sorted(op_counts(loaded))}, "
              f"max|ref-torch| {diff:.2e}, {sum(os.path.getsize(self.path(f)) for f in files)} bytes")

    def manifest(self):
        total = sum(sum(r["files"].values()) for r in self.rows)
        L = ["# ONNX fixtures", "",
             "Generated by `/usr/bin/python3 tools/make_onnx_fixtures.py` with torch "
             f"{torch.__version__} and onnx {onnx.__version__} ({versions()}); "
             "do not edit by hand. `NAME.input.npy` is the float32 network input, `NAME.output.npy` "
             "the float32 output (`logits`) of the PyTorch module in eval mode for that input. "
             "Compare with an absolute tolerance of 1e-5.", "",
             "`ref` is the largest difference between the expected output and an independent NumPy "
             "(float64) evaluation of the `.onnx` graph by the script, so the graph itself is known "
             "to compute `NAME.output.npy`. `|y|max` is the largest expected logit magnitude.", "",
             f"Total size: {total} bytes.", "",
             "| name | opset | IR | input | output | ref | \\|y\\|max | files (bytes) |",
             "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            fl = ", ".join(f"`{f}` {s}" for f, s in r["files"].items())
            ref = f"{r['diff']:.1e}" if r["diff"] == r["diff"] else "-"
            L.append(f"| {r['name']} | {r['opset']} | {r['ir']} | {r['inp']} | {r['out']} | {ref} | "
                     f"{r['absmax']:.3g} | {fl} |")
        L.append("")
        L.append("## Operators and notes")
        for r in self.rows:
            L += ["", f"### {r['name']}", "",
                  "Operators (node count): " + ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items())) + ".",
                  ""]
            if r["unsupported"]:
                L.append("Operators outside relua's list: " + ", ".join(r["unsupported"]) + ".")
                L.append("")
            L.append(r["note"])
            if r["muts"]:
                L += ["", "A reader that makes one of these mistakes fails this fixture (the NumPy "
                      "interpreter, so mutated, misses the expected output by):", ""]
                L += [f"- {d}: {h}" for d, c, h in r["muts"]]
        with open(self.path("MANIFEST.md"), "w") as f:
            f.write("\n".join(L) + "\n")


def versions():
    """Debian package versions (torch itself reports 1.13.0a0 in Debian's 1.13.1 build)."""
    import subprocess
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}, ",
                              "python3-torch", "python3-onnx", "python3-numpy"],
                             capture_output=True, text=True, check=True).stdout
        return "Debian " + out.strip().rstrip(",")
    except (OSError, subprocess.CalledProcessError):
        return "package versions unknown"


def save_external(model, path):
    data_name = os.path.basename(path) + ".data"
    data_path = os.path.join(os.path.dirname(path), data_name)
    if os.path.exists(data_path):
        os.remove(data_path)  # save_external_data appends to an existing file
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=0)
    return [data_name]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default tests/data/onnx)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    w = Writer(os.path.normpath(args.out))

    # small_cnn: default export (EVAL), symbolic batch
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    m = SmallCNN().eval()
    x = torch.randn(2, 1, 12, 12, generator=gen)
    model = export(m, x, 13, dynamic=True)
    w.write("small_cnn", model, m, x, "Default `torch.onnx.export` (eval, constant folding), symbolic "
            "batch `batch`; weights as `raw_data` initializers. Node names as torch writes them "
            "(`/conv1/Conv`), initializers named after the module (`conv1.weight`, `fc.bias`).",
            extra_batch=3)

    typed = onnx.ModelProto.FromString(model.SerializeToString())
    to_typed_fields(typed)
    w.write("small_cnn_typed", typed, m, x, "`small_cnn` with every initializer in the typed field "
            "`float_data` (packed) instead of `raw_data`.")

    const = onnx.ModelProto.FromString(model.SerializeToString())
    initializers_to_constants(const)
    w.write("small_cnn_constants", const, m, x, "`small_cnn` with no initializers: every weight is a "
            "`Constant` node (named `<weight>_const`, output named after the weight, tensor in "
            "`raw_data`), as some non-PyTorch converters write them.")

    # resblock_bn: older export, BN kept (PRESERVE), x.view(x.size(0), -1)
    torch.manual_seed(2)
    gen = torch.Generator().manual_seed(2)
    m = ResBlockNet(gen).eval()
    x = torch.randn(2, 3, 8, 8, generator=gen)
    model = export(m, x, 11, training=PRESERVE, dynamic=True)
    w.write("resblock_bn", model, m, x, "torchvision-style `BasicBlock` (`layer1.0.conv1`, `bn1`, "
            "`downsample.0/1`, stride 2) with random BatchNorm running statistics, residual Add, then "
            "GlobalAveragePool and `x.view(x.size(0), -1)`, which exports as Shape -> Gather -> "
            "Unsqueeze -> Concat -> Reshape. Exported with `training=TrainingMode.PRESERVE` on the "
            "eval-mode module so BatchNormalization stays a separate node (the default EVAL export "
            "folds each BN into the preceding Conv). Symbolic batch.", extra_batch=3, mutations=True)

    typed = export(m, x, 11, training=PRESERVE, dynamic=True, initializers_as_inputs=True)
    to_typed_fields(typed)
    w.write("resblock_bn_typed", typed, m, x, "`resblock_bn` with every initializer and every "
            "Constant node's tensor in typed fields (`float_data`, `int64_data`) instead of `raw_data`, "
            "and, as older exporters did (`keep_initializers_as_inputs=True`), every initializer also "
            "listed in `graph.input` after the real input `input`: an input that has an initializer "
            "is a weight, not something to feed.", extra_batch=3)

    fused = export(m, x, 13, dynamic=True)
    w.write("resblock_bn_fused", fused, m, x, "The same module as `resblock_bn` through the default "
            "export (eval mode, opset 13), as users get it: torch folds each BatchNorm into the "
            "preceding Conv, so the Conv weights and biases are new initializers named "
            "`onnx::Conv_<n>` (node names keep the module path, e.g. `/layer1/layer1.0/conv1/Conv`), "
            "and `x.view(x.size(0), -1)` is still Shape -> Gather -> Unsqueeze -> Concat -> Reshape.",
            extra_batch=3)

    # all_ops at opsets 11, 13, 17
    for opset in (11, 13, 17):
        torch.manual_seed(3)
        gen = torch.Generator().manual_seed(3)
        m = AllOps(gen).eval()
        x = torch.randn(2, 3, 10, 10, generator=gen)
        model = export(m, x, opset, training=PRESERVE)
        folded = fold_constant_chains(model)
        nd = mark_dropouts(model, "dropout_marker")
        note = (f"Every supported operator, static batch 2, exported at opset {opset} with "
                "`TrainingMode.PRESERVE` (BatchNormalization kept). Post-processing: the pad vectors of "
                f"the two `F.pad` calls were folded from chains of constants ({', '.join(folded)}) "
                f"into Constant nodes; {nd} Mul-by-1 markers became Dropout nodes (ratio 0.25 as "
                + ("attribute" if opset < 12 else "input initializer, with the optional mask output") +
                "). Identity comes from torch deduplicating the equal biases of `conv_a` and `conv_b`. "
                "AveragePool with `count_include_pad=True` is exported by torch as Pad + AveragePool")
        if opset == 17:
            k = merge_pad_avgpool(model)
            assert k == 1
            note += ("; here that pair was merged into one AveragePool with `pads` and "
                     "`count_include_pad=1`")
        note += (". Resize: nearest (asymmetric, floor; scales 2 and 3), linear half_pixel, linear align_corners, "
                 "all by scales" + (" (with a `roi` input at opset 11)" if opset == 11 else "") + ".")
        w.write(f"all_ops_op{opset}", model, m, x, note, mutations=True)

    # external data
    torch.manual_seed(4)
    gen = torch.Generator().manual_seed(4)
    m = ExternalTiny().eval()
    x = torch.randn(2, 1, 4, 4, generator=gen)
    model = export(m, x, 13, dynamic=True)
    w.write("external_data", model, m, x, "Every initializer stored in `external_data.onnx.data` "
            "(`data_location` = EXTERNAL, keys `location`, `offset`, `length`; one file, "
            "`size_threshold=0`), resolved relative to the .onnx file's directory.",
            save=save_external)

    # unsupported operator
    torch.manual_seed(5)
    gen = torch.Generator().manual_seed(5)
    m = Unsupported().eval()
    x = torch.randn(2, 4, generator=gen)
    model = export(m, x, 13)
    w.write("unsupported_erf", model, m, x, "Negative fixture: GELU exports `Erf`, outside relua's "
            "operator list; loading must fail with an error naming `Erf`, its node (`/Erf`) and opset 13. "
            "No output file.", expect_output=False)

    # Upsample (opset 9)
    torch.manual_seed(6)
    gen = torch.Generator().manual_seed(6)
    m = UpsampleOp9().eval()
    x = torch.randn(1, 1, 3, 3, generator=gen)
    model = export(m, x, 9)
    w.write("upsample_op9", model, m, x, "Opset 9 (below the 11-17 range relua targets): nearest "
            "upsampling exports the deprecated `Upsample` operator with a `scales` input.")

    w.manifest()


if __name__ == "__main__":
    main()
