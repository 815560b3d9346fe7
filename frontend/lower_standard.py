"""Lowerings of standard ONNX ops (default domain): synapses, layout changes, constants and shape arithmetic.

Each function lowers one op type and registers itself in :data:`~snnc.frontend.onnx_context.LOWERINGS`.
Any standard op whose inputs are all constants is folded with ``onnx.reference`` instead (see
:func:`fold_constants`), so weight preprocessing in the graph (a Transpose of a weight, a Concat
of constant shapes) needs no lowering of its own.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import NodeProto, TensorProto

from snnc.errors import UnsupportedOpError
from snnc.frontend import shape_values as sv
from snnc.frontend.layout import Layout, classify, flatten_dims, resolve_reshape, transpose
from snnc.frontend.onnx_context import Context, Tracked, lowering, supported_text
from snnc.ir import Kind
from snnc.ir.ops import conv_output_size

# --------------------------------------------------------------------------------------- constants
#: ops never folded although their inputs are constant (non-deterministic).
_NOT_FOLDABLE = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                           "Bernoulli"})


def foldable(node: NodeProto, ctx: Context) -> bool:
    """True for a standard op with at least one input, all of them constant."""
    names = [n for n in node.input if n]
    return bool(names) and node.op_type not in _NOT_FOLDABLE and all(
        isinstance(ctx.env.get(n), np.ndarray) for n in names)


def fold_constants(ctx: Context, node: NodeProto) -> None:
    """Evaluate a standard op on constant inputs with the ONNX reference implementation."""
    from onnx.reference import ReferenceEvaluator  # slow import, only for models that need it

    feeds = {n: ctx.env[n] for n in node.input if n}
    try:
        results = ReferenceEvaluator(node, opsets={"": ctx.opset}).run(None, feeds)
    except Exception as err:  # noqa: BLE001 - the reference runtime raises anything
        raise ctx.error(node, f"could not fold this op on its constant inputs: {type(err).__name__}: {err}") from None
    for i, result in enumerate(results):
        if i < len(node.output) and node.output[i]:
            ctx.bind(node, np.asarray(result), i)


@lowering("", "Constant")
def constant(ctx: Context, node: NodeProto) -> None:
    """Constant: ``value`` (tensor) or ``value_float(s)`` / ``value_int(s)``."""
    ctx.expect_io(node, (0, 0))
    kinds = {"value": "tensor", "value_float": "float", "value_floats": "floats", "value_int": "int",
             "value_ints": "ints"}
    dtypes = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64, "value_ints": np.int64}
    for a in node.attribute:
        if a.name in kinds:
            value = ctx.attr(node, a.name, kinds[a.name])
            ctx.bind(node, np.asarray(value, dtype=dtypes.get(a.name)))
            return
    names = ", ".join(a.name for a in node.attribute) or "none"
    raise ctx.error(node, f"Constant with attribute(s) {names} is not supported",
                    hint="use value, value_float(s) or value_int(s)")


@lowering("", "Identity")
def identity(ctx: Context, node: NodeProto) -> None:
    """Identity passes its input through (activation, constant or shape)."""
    ctx.expect_io(node, (1, 1))
    ctx.bind(node, ctx.get(node, 0))


# ---------------------------------------------------------------------------------------- synapses
def _check_in_features(ctx: Context, node: NodeProto, x: Tracked, n_in: int, weight_shape: list[int],
                       what: str) -> None:
    if not x.features or x.features[-1] != n_in:
        raise ctx.error(node, f"shape mismatch: {what} {weight_shape} expects {n_in} input features, "
                              f"but input '{node.input[0]}' has features {list(x.features)}",
                        hint="x @ W needs W of shape [in_features, out_features]")


@lowering("", "MatMul")
def matmul(ctx: Context, node: NodeProto) -> None:
    """MatMul(x, W) with a constant W [m, n] on the last axis, every step: dense with weight W.T [n, m]."""
    ctx.expect_io(node, (2, 2))
    x = ctx.tracked(node, 0, "MatMul input A")
    _not_a_trace(ctx, node, x)
    w = ctx.param(node, 1, "MatMul weight B", ndims=(2,))
    _check_in_features(ctx, node, x, w.shape[0], list(w.shape), "weight B of shape")
    value = ctx.emit(node, "snn.dense", [x.value], {"weight": np.ascontiguousarray(w.T)})
    ctx.bind(node, Tracked(value, x.layout))


@lowering("", "Add")
def add(ctx: Context, node: NodeProto) -> None:
    """Add(a, b) of two currents of the same shape -> snn.add (a merge: skip and residual connections);
    Add(y, b) of a constant b along the last axis, folded into the dense (MatMul / Gemm) that made y."""
    ctx.expect_io(node, (2, 2))
    a, b = ctx.get(node, 0), ctx.get(node, 1)
    if isinstance(a, Tracked) and isinstance(b, Tracked):
        _merge(ctx, node, a, b)
        return
    y_index = 1 if isinstance(b, Tracked) and not isinstance(a, Tracked) else 0
    y = ctx.get(node, y_index)
    producer = ctx.graph.producer(y.value) if isinstance(y, Tracked) else None
    other = ctx.get(node, 1 - y_index)
    if (producer is None or producer.opname != "snn.dense" or not isinstance(other, np.ndarray)
            or not ctx.only_used_here(node, y.value)):
        raise ctx.error(node, "Add is supported only as the bias of a MatMul or Gemm: Add(MatMul(x, W), b) "
                              "with a constant b, where the MatMul result has no other use; or as the sum of two "
                              "synaptic currents of the same shape",
                        hint="the IR adds no constant to an activation other than a synapse's bias")
    bias = ctx.param(node, 1 - y_index, "bias")
    weight = producer.attrs["weight"]
    n = weight.shape[0]
    rank = len(ctx.dims(y))
    if bias.ndim > rank or any(d != 1 for d in bias.shape[:-1]) or (bias.ndim and bias.shape[-1] not in (1, n)):
        raise ctx.error(node, f"shape mismatch: bias of shape {list(bias.shape)} does not add along the last axis "
                              f"of the {n} output features", hint=f"give the bias shape [{n}]")
    total = np.broadcast_to(bias.reshape(-1), (n,)).astype(np.float32)
    if "bias" in producer.attrs:
        total = (producer.attrs["bias"] + total).astype(np.float32)
    ctx.graph.ops.remove(producer)
    value = ctx.emit(node, "snn.dense", list(producer.operands), {**producer.attrs, "bias": total})
    ctx.bind(node, Tracked(value, y.layout))


_KIND_WORDS = {Kind.SPIKES: "a spike train", Kind.POTENTIAL: "a potential trace (the output of snn.LI)",
               Kind.TENSOR: "a per-sample tensor", Kind.CURRENT: "a current"}


def _merge(ctx: Context, node: NodeProto, a: Tracked, b: Tracked) -> None:
    """Add of two activations: both synaptic currents, same layout, same features (no broadcasting)."""
    for index, x in enumerate((a, b)):
        if x.value.type.kind is not Kind.CURRENT:
            raise ctx.error(node, f"Add merges synaptic currents, input {index} '{node.input[index]}' is "
                                  f"{_KIND_WORDS[x.value.type.kind]}",
                            hint="sum the currents of synapses (MatMul, Gemm, Conv) before a neuron; a spike train "
                                 "feeding several synapses is used as the input of each")
    if a.layout is not b.layout or a.features != b.features:
        raise ctx.error(node, f"shape mismatch: Add of '{node.input[0]}' {_shape_text(ctx, a)} and "
                              f"'{node.input[1]}' {_shape_text(ctx, b)}: merged currents must have the same shape",
                        hint="project one of them (MatMul, Conv) to the other's shape; Add does not broadcast "
                             "activations")
    value = ctx.emit(node, "snn.add", [a.value, b.value], {})
    ctx.bind(node, Tracked(value, a.layout))


def _shape_text(ctx: Context, x: Tracked) -> str:
    return "[" + ", ".join(str(d) for d in ctx.dims(x)) + "]"


def _not_a_trace(ctx: Context, node: NodeProto, x: Tracked) -> None:
    if x.value.type.kind is Kind.POTENTIAL:
        raise ctx.error(node, f"{node.op_type} cannot weigh '{node.input[0]}', a potential trace (the output of "
                              "snn.LI): a trace is a readout, decoded, never a synapse's input",
                        hint="decode the trace (snn.LastStepDecode, SpikeCountDecode, MaxOverTimeDecode), or use a "
                             "spiking neuron (snn.LIF) before further synapses")


@lowering("", "Gemm")
def gemm(ctx: Context, node: NodeProto) -> None:
    """Gemm(A, B, C) on a 2-D input ([B, n] or the merged [T*B, n]): dense with weight B.T (B if transB)."""
    ctx.expect_io(node, (2, 3))
    x = ctx.tracked(node, 0, "Gemm input A")
    _not_a_trace(ctx, node, x)
    if len(ctx.dims(x)) != 2:
        raise ctx.error(node, f"Gemm needs a 2-D input, '{node.input[0]}' is {x.layout.describe()} with features "
                              f"{list(x.features)}", hint="use MatMul for [T, B, n] inputs, or reshape to [-1, n]")
    alpha, beta = ctx.attr(node, "alpha", "float", 1.0), ctx.attr(node, "beta", "float", 1.0)
    if ctx.attr(node, "transA", "int", 0) != 0:
        raise ctx.error(node, "Gemm with transA=1 is not supported", hint="the input must be A [batch, features]")
    if alpha != 1.0 or beta != 1.0:
        raise ctx.error(node, f"Gemm with alpha={alpha}, beta={beta} is not supported (only 1.0)",
                        hint="fold alpha into B and beta into C before export")
    b = ctx.param(node, 1, "Gemm weight B", ndims=(2,))
    weight = b if ctx.attr(node, "transB", "int", 0) else b.T
    _check_in_features(ctx, node, x, weight.shape[1], list(b.shape), "weight B of shape")
    attrs = {"weight": np.ascontiguousarray(weight)}
    if ctx.input_name(node, 2):
        c = ctx.param(node, 2, "Gemm bias C")
        n = weight.shape[0]
        if c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1) or c.size not in (1, n):
            raise ctx.error(node, f"shape mismatch: bias C of shape {list(c.shape)} is not one value per output "
                                  f"feature ({n})", hint=f"give C the shape [{n}]")
        attrs["bias"] = np.broadcast_to(c.reshape(-1), (n,)).astype(np.float32)
    value = ctx.emit(node, "snn.dense", [x.value], attrs)
    ctx.bind(node, Tracked(value, x.layout))


def _merged_image(ctx: Context, node: NodeProto) -> Tracked:
    x = ctx.tracked(node, 0, f"{node.op_type} input X")
    _not_a_trace(ctx, node, x)
    if x.layout is not Layout.MERGED or len(x.features) != 3:
        raise ctx.error(node, f"{node.op_type} needs the merged view [T*B, C, H, W] of a spike train or current, "
                              f"'{node.input[0]}' is {x.layout.describe()} with features {list(x.features)}",
                        hint="reshape the [T, B, C, H, W] value with Reshape(x, [-1, C, H, W]) first, and back "
                             "with Reshape(y, [T, -1, C', H', W']) after")
    return x


def _pads(ctx: Context, node: NodeProto, size: tuple[int, int], kernel: list[int], strides: list[int],
          dilations: list[int]) -> list[int]:
    """Explicit [top, left, bottom, right] pads from ``pads`` or ``auto_pad``."""
    auto_pad = ctx.attr(node, "auto_pad", "str", "NOTSET")
    if auto_pad == "NOTSET":
        pads = ctx.attr(node, "pads", "ints", [0, 0, 0, 0])
        if len(pads) != 4 or min(pads) < 0:
            raise ctx.error(node, f"pads {pads} must be 4 non-negative values [top, left, bottom, right]")
        return pads
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.error(node, f"auto_pad '{auto_pad}' is not valid",
                        hint="use NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else large)
        end.append(large if auto_pad == "SAME_UPPER" else small)
    return [*begin, *end]


def _pair(ctx: Context, node: NodeProto, name: str, default: list[int]) -> list[int]:
    value = ctx.attr(node, name, "ints", default)
    if len(value) != 2 or min(value) < 1:
        raise ctx.error(node, f"{name} {value} must be 2 values >= 1 (only 2-D {node.op_type} is supported)")
    return value


@lowering("", "Conv")
def conv(ctx: Context, node: NodeProto) -> None:
    """2-D Conv(X, W, B) on the merged view [T*B, C, H, W]: conv2d."""
    ctx.expect_io(node, (2, 3))
    x = _merged_image(ctx, node)
    w = ctx.param(node, 1, "Conv weight W", ndims=(4,))
    kernel = ctx.attr(node, "kernel_shape", "ints", list(w.shape[2:]))
    if list(kernel) != list(w.shape[2:]):
        raise ctx.error(node, f"kernel_shape {kernel} differs from the weight's kernel {list(w.shape[2:])}")
    strides, dilations = _pair(ctx, node, "strides", [1, 1]), _pair(ctx, node, "dilations", [1, 1])
    group = ctx.attr(node, "group", "int", 1)
    channels = x.features[0]
    if group < 1 or channels != w.shape[1] * group or w.shape[0] % group:
        raise ctx.error(node, f"shape mismatch: weight W of shape {list(w.shape)} with group={group} expects "
                              f"{w.shape[1] * group} input channels, input '{node.input[0]}' has {channels}",
                        hint="W must be [C_out, C_in / group, kh, kw]")
    attrs = {"weight": w, "strides": strides, "dilations": dilations, "group": group,
             "pads": _pads(ctx, node, x.features[1:], kernel, strides, dilations)}
    if ctx.input_name(node, 2):
        bias = ctx.param(node, 2, "Conv bias B", ndims=(1,))
        if bias.shape != (w.shape[0],):
            raise ctx.error(node, f"shape mismatch: bias B of shape {list(bias.shape)} does not match "
                                  f"{w.shape[0]} output channels")
        attrs["bias"] = bias
    value = ctx.emit(node, "snn.conv2d", [x.value], attrs)
    ctx.bind(node, Tracked(value, Layout.MERGED))


@lowering("", "AveragePool")
def average_pool(ctx: Context, node: NodeProto) -> None:
    """2-D AveragePool on the merged view [T*B, C, H, W]: avgpool2d."""
    ctx.expect_io(node, (1, 1))
    x = _merged_image(ctx, node)
    kernel = _pair(ctx, node, "kernel_shape", [])
    strides = _pair(ctx, node, "strides", [1, 1])
    if _pair(ctx, node, "dilations", [1, 1]) != [1, 1]:
        raise ctx.error(node, "AveragePool with dilations other than 1 is not supported")
    pads = _pads(ctx, node, x.features[1:], kernel, strides, [1, 1])
    count_include_pad = ctx.attr(node, "count_include_pad", "int", 0)
    if ctx.attr(node, "ceil_mode", "int", 0):
        for axis in range(2):
            n, k, s = x.features[1 + axis], kernel[axis], strides[axis]
            padded = n + pads[axis] + pads[axis + 2] - k
            if padded % s:
                raise ctx.error(node, "AveragePool with ceil_mode=1 changes the output size here; not supported",
                                hint="export with ceil_mode=0 (floor) or pads that make the windows fit exactly")
    for axis in range(2):
        if conv_output_size(x.features[1 + axis], kernel[axis], strides[axis], pads[axis], pads[axis + 2]) < 1:
            raise ctx.error(node, f"kernel {kernel} does not fit the input {list(x.features[1:])}")
    attrs = {"kernel": kernel, "strides": strides, "pads": pads, "count_include_pad": count_include_pad}
    value = ctx.emit(node, "snn.avgpool2d", [x.value], attrs)
    ctx.bind(node, Tracked(value, Layout.MERGED))


# ------------------------------------------------------------------------------------------ layout
def _move(ctx: Context, node: NodeProto, x: Tracked, layout: Layout, features: tuple[int, ...]) -> Tracked:
    """Emit what turns ``x`` into ``features`` in ``layout``: time_flatten, flatten, reshape or nothing."""
    value = x.value
    if x.layout is Layout.BATCH_TIME and layout is Layout.BATCH:
        value = ctx.emit(node, "snn.time_flatten", [value], {})
    if not features:
        raise ctx.error(node, "reshaping to no features per sample is not supported")
    if features != value.type.features:
        if len(features) == 1:
            value = ctx.emit(node, "snn.flatten", [value], {})
        else:
            value = ctx.emit(node, "snn.reshape", [value], {"shape": list(features)})
    return Tracked(value, layout)


@lowering("", "Reshape")
def reshape(ctx: Context, node: NodeProto) -> None:
    """Reshape with a constant (or Shape-computed) target, interpreted per layout (see layout.py)."""
    ctx.expect_io(node, (2, 2))
    x = ctx.tracked(node, 0, "Reshape input")
    target = ctx.int_vector(node, 1, "Reshape target shape")
    allowzero = bool(ctx.attr(node, "allowzero", "int", 0))
    dims = resolve_reshape(ctx.dims(x), target, allowzero)
    layout, features = classify(x.layout, x.features, dims, ctx.time_steps or 1)
    ctx.bind(node, _move(ctx, node, x, layout, features))


@lowering("", "Flatten")
def flatten(ctx: Context, node: NodeProto) -> None:
    """Flatten(axis): [B, f...] -> [B, n] (axis 1), [T*B, f...] -> [T*B, n], [T, B, f...] -> [T*B, n] (axis 2),
    [B, T, f...] -> [B, T*n] (axis 1, the spatio-temporal flattening)."""
    ctx.expect_io(node, (1, 1))
    x = ctx.tracked(node, 0, "Flatten input")
    dims = flatten_dims(ctx.dims(x), ctx.attr(node, "axis", "int", 1))
    layout, features = classify(x.layout, x.features, dims, ctx.time_steps or 1)
    ctx.bind(node, _move(ctx, node, x, layout, features))


@lowering("", "Transpose")
def transpose_(ctx: Context, node: NodeProto) -> None:
    """Transpose: the identity, or swapping [T, B] (perm [1, 0, 2, ...]) to [B, T] and back."""
    ctx.expect_io(node, (1, 1))
    x = ctx.tracked(node, 0, "Transpose input")
    rank = len(ctx.dims(x))
    perm = ctx.attr(node, "perm", "ints", list(reversed(range(rank))))
    ctx.bind(node, Tracked(x.value, transpose(x.layout, perm, rank)))


# ------------------------------------------------------------------------------------ shape values
def _shape_operand(ctx: Context, node: NodeProto, index: int) -> sv.IntVector:
    value = ctx.get(node, index)
    if isinstance(value, sv.ShapeValue | np.ndarray):
        return value
    raise ctx.error(node, f"{node.op_type} on an activation tensor is not supported", cls=UnsupportedOpError,
                    hint=f"{node.op_type} is supported only on shapes and constants; {supported_text()}")


def _axes(ctx: Context, node: NodeProto, index: int) -> list[int] | None:
    """Axes from the attribute (older opsets) or the optional input (opset 13+)."""
    if ctx.input_name(node, index):
        return [int(a) for a in ctx.const(node, index, "axes").reshape(-1)]
    return ctx.attr(node, "axes", "ints", None)


@lowering("", "Shape")
def shape(ctx: Context, node: NodeProto) -> None:
    x = ctx.tracked(node, 0, "Shape input")
    end = ctx.attr(node, "end", "int", None)
    ctx.bind(node, sv.shape_of(ctx.dims(x), ctx.attr(node, "start", "int", 0), end))


@lowering("", "Gather")
def gather(ctx: Context, node: NodeProto) -> None:
    data = _shape_operand(ctx, node, 0)
    if ctx.attr(node, "axis", "int", 0) != 0:
        raise ctx.error(node, "Gather on a shape needs axis 0")
    ctx.bind(node, sv.gather(data, ctx.const(node, 1, "Gather indices")))


@lowering("", "Unsqueeze")
def unsqueeze(ctx: Context, node: NodeProto) -> None:
    ctx.bind(node, sv.unsqueeze(_shape_operand(ctx, node, 0), _axes(ctx, node, 1) or []))


@lowering("", "Squeeze")
def squeeze(ctx: Context, node: NodeProto) -> None:
    ctx.bind(node, sv.squeeze(_shape_operand(ctx, node, 0), _axes(ctx, node, 1)))


@lowering("", "Concat")
def concat(ctx: Context, node: NodeProto) -> None:
    parts = [_shape_operand(ctx, node, i) for i in range(len(node.input))]
    ctx.bind(node, sv.concat(parts, ctx.attr(node, "axis", "int")))


@lowering("", "Slice")
def slice_(ctx: Context, node: NodeProto) -> None:
    data = _shape_operand(ctx, node, 0)

    def ints(i: int) -> list[int] | None:
        return [int(v) for v in ctx.const(node, i, "Slice bound").reshape(-1)] if ctx.input_name(node, i) else None

    ctx.bind(node, sv.slice_(data, ints(1) or [], ints(2) or [], ints(3), ints(4)))


@lowering("", "Mul")
def mul(ctx: Context, node: NodeProto) -> None:
    ctx.bind(node, sv.multiply(_shape_operand(ctx, node, 0), _shape_operand(ctx, node, 1)))


@lowering("", "Cast")
def cast(ctx: Context, node: NodeProto) -> None:
    data = _shape_operand(ctx, node, 0)
    if ctx.attr(node, "to", "int") not in (TensorProto.INT64, TensorProto.INT32):
        raise ctx.error(node, "Cast of a shape is supported only to int64 or int32")
    ctx.bind(node, data)
