"""ONNX -> snnc IR: import a model written per the snnc specification (section 3) as a verified :class:`Graph`.

Entry point: :func:`import_onnx`. The import loads the file, checks its structure (dangling inputs,
values defined twice, cycles), its opsets and ``onnx.checker``, then lowers the nodes the output
depends on, in topological order, one lowering per op type (``lower_standard.py``, ``lower_snn.py``).

The model
---------
* One input ``x: float32 [B, *features]`` (batch symbolic, features concrete), one output
  ``scores: float32 [B, N]``. Initializers listed as graph inputs (old exporters) are not inputs.
* The default-domain opset must lie in 11 .. the installed onnx's latest; domain ``snn`` version 1.
* Graph name -> ``Graph.name`` (characters outside ``[A-Za-z0-9_]`` become ``_``); every
  ``metadata_props`` entry (``snn.*`` keys and any other) -> ``Graph.metadata``; the encoders'
  ``time_steps`` attribute -> ``Graph.time_steps``. IR value names follow the ONNX names, cleaned up.

``snn`` ops (recognised by domain, op_type and attributes; the model-local function bodies are never read)
-------------------------------------------------------------------------------------------------------------
* ``snn.TTFSEncode(x){time_steps: int, window: int = T}`` -> ``snn.ttfs_encode`` (x a ``[B, *f]`` tensor).
* ``snn.RateEncode(x){time_steps: int, threshold: float = 0.5}`` -> ``snn.rate_encode``.
* ``snn.ReLPSP(I){threshold: float}`` -> ``snn.relpsp``.
* ``snn.IF(I, threshold){reset: str = "subtract"}`` -> ``snn.if``; ``threshold`` is a float32 constant input
  that broadcasts to the features (a scalar, per channel ``[C, 1, 1]``, or the full shape); leading size-1
  axes of the ``[T, B, *f]`` broadcast are dropped and a scalar becomes shape ``[1]``.
  With an optional third input ``recurrent_weight [n, n]`` (features ``[n]``) -> ``snn.if`` with ``recurrent_weight``.
* ``snn.LIF(I, threshold, beta[, recurrent_weight]){reset: str = "subtract", delayed_reset: int = 0}`` -> ``snn.lif``;
  ``snn.CubaLIF(I, threshold, alpha, beta[, recurrent_weight]){reset, delayed_reset}`` -> ``snn.cuba_lif``;
  ``alpha`` / ``beta`` are float32 constants in [0, 1] broadcast like the threshold.
* ``snn.LI(I, beta)`` -> ``snn.li``, whose result is a potential trace (kind ``potential``).
* ``snn.FirstSpikeDecode`` / ``snn.LastStepDecode`` / ``snn.SpikeCountDecode(S)`` -> ``snn.first_spike_decode``
  / ``snn.last_step_decode`` / ``snn.spike_count_decode`` (``[T, B, N]`` spikes -> ``[B, N]`` scores; the last two
  also decode an LI trace); ``snn.MaxOverTimeDecode(V)`` (a trace only) -> ``snn.max_over_time_decode``.
* Attributes must have their ONNX types (``threshold=1`` is an int, not a float); unknown attributes,
  ``time_steps`` missing and encoders that disagree on ``time_steps`` are errors.

Neurons need a time-major current ``[T, B, *f]`` (a synapse's output), decoders a spike train (or a trace).
Graphs may branch: a value may feed several nodes.

Standard ops and layouts
------------------------
Every ONNX value computed from ``x`` is an IR value seen in a *layout* (``layout.py``):
``[T, B, *f]`` (time), ``[T*B, *f]`` (merged), ``[B, *f]`` (batch) or ``[B, T, *f]`` (batch_time).

* ``MatMul(A, W)``, W a constant [m, n], on the last axis of any layout -> ``snn.dense`` with
  weight ``W.T`` [n, m]. ``Add(MatMul(A, W), b)`` with a constant b of shape [n] (or [1, .., n])
  folds into the dense's bias when the MatMul result has no other use (also after a Gemm: the
  biases add up). ``Add(a, b)`` of two synaptic currents of the same layout and features -> ``snn.add`` (a merge:
  skip and residual connections). Any other Add is rejected.
* ``Gemm(A, B, C)`` on a 2-D input ([B, n] or the merged [T*B, n]) -> ``snn.dense``; transA = 0,
  alpha = beta = 1; transB honoured (weight ``B`` if transB else ``B.T``); C of shape [n], [1, n] or [1].
* ``Conv(X, W, B)`` (2-D, any group, pads / strides / dilations / auto_pad) and ``AveragePool``
  (ceil_mode only where it does not change the size, count_include_pad) on the merged view
  ``[T*B, C, H, W]`` -> ``snn.conv2d`` / ``snn.avgpool2d``. The model writes
  ``Reshape(s, [-1, C, H, W]) -> Conv -> Reshape(y, [T, -1, Co, Ho, Wo])``; both reshapes lower to nothing.
* ``Reshape`` (target constant, or computed by ``Shape -> Gather -> Unsqueeze -> Concat`` as torch exports
  ``x.view(x.size(0), -1)``; ``0`` copies, ``-1`` infers) and ``Flatten(axis)`` are interpreted per layout:
  time <-> merged views, ``[B, *f] -> [B, *g]``, ``Flatten(axis=1)`` of [B, ...] or [T*B, ...],
  ``Flatten(axis=2)`` of [T, B, ...] (-> merged). Changing features lowers to ``snn.flatten`` (1-D)
  or ``snn.reshape``, otherwise to nothing. Reshapes that move data between samples or steps are rejected.
* ``Transpose``: identity, or ``perm=[1, 0, 2, ...]`` swapping [T, B] <-> [B, T].
* Spatio-temporal decoder: ``Transpose(S, perm=[1, 0, 2]) -> Reshape(_, [B, T*N])`` (or
  ``Flatten(axis=1)``) ``-> Gemm`` (or MatMul [+ Add]) -> ``snn.time_flatten`` + ``snn.dense`` on a tensor.
* ``Identity`` passes through. ``Constant`` nodes and initializers are constants; any other standard op
  whose inputs are all constant is folded with ``onnx.reference``. ``Shape``, ``Gather``, ``Unsqueeze``,
  ``Squeeze``, ``Concat``, ``Slice``, ``Mul``, ``Cast`` work on shapes holding the symbolic batch.
* Weights, biases and thresholds must be finite float32 constants.

Errors
------
Every failure is a :class:`~snnc.errors.FrontendError` (an unknown op: :class:`~snnc.errors.UnsupportedOpError`)
whose ``where`` names the ONNX node (name, op_type, domain) or the file, with a hint.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict

import numpy as np
import onnx
from onnx import NodeProto, numpy_helper

from snnc.errors import FrontendError, UnsupportedOpError, VerificationError
from snnc.frontend import lower_snn, lower_standard
from snnc.frontend.layout import Layout
from snnc.frontend.onnx_context import (
    LOWERINGS,
    Context,
    Tracked,
    run_lowering,
    sanitize,
    supported_ops,
    supported_text,
)
from snnc.frontend.onnx_load import (
    SNN_DOMAIN,
    STANDARD_DOMAINS,
    check_model,
    domain_name,
    load_model,
    node_where,
    sorted_nodes,
)
from snnc.ir import Graph, ValueType

__all__ = ["import_onnx", "supported_ops"]


def import_onnx(model: onnx.ModelProto | str | os.PathLike | bytes) -> Graph:
    """Import an SNN ONNX model (snnc specification, section 3) as a verified IR graph.

    Args:
        model: a loaded ``onnx.ModelProto``, the path of an ``.onnx`` file, or its serialized bytes.

    Returns:
        The verified :class:`~snnc.ir.Graph` (``time_steps`` from the encoder, ``metadata`` from
        ``metadata_props``, the graph's name).

    Raises:
        FrontendError: the file is not ONNX, or the model breaks the specification; the error names the node.
        UnsupportedOpError: the model uses an op the importer does not know.

    Example:
        >>> from snnc.frontend import import_onnx
        >>> graph = import_onnx("models/mlp.onnx")  # doctest: +SKIP
        >>> graph.time_steps, [op.opname for op in graph.ops]  # doctest: +SKIP
        (16, ['snn.ttfs_encode', 'snn.dense', 'snn.relpsp', 'snn.dense', 'snn.relpsp', 'snn.first_spike_decode'])
    """
    proto, source = load_model(model)
    onnx_graph = proto.graph
    order = sorted_nodes(onnx_graph)
    opset = check_model(proto, order, source)
    x_info = _graph_input(onnx_graph, source)
    out_info = _graph_output(onnx_graph, source)

    if not any(out_info.name in node.output for _, node in order):
        raise FrontendError(f"the graph output '{out_info.name}' is not produced by any node", where=source,
                            hint="the output must be the scores computed from x")
    needed = _needed(order, out_info.name)
    order = [(i, node) for i, node in order if i in needed]
    consumers: dict[str, list[NodeProto]] = defaultdict(list)
    for _, node in order:
        for name in node.input:
            if name:
                consumers[name].append(node)
    graph = Graph(sanitize(onnx_graph.name) or "main", metadata={p.key: p.value for p in proto.metadata_props})
    ctx = Context(graph, dict(consumers), {out_info.name}, opset)
    for i, node in order:
        ctx.where_of[id(node)] = node_where(node, i)

    _bind_initializers(ctx, onnx_graph, source)
    features = tuple(d.dim_value for d in x_info.type.tensor_type.shape.dim[1:])
    x = graph.add_input(sanitize(x_info.name) or "x", ValueType.tensor(*features))
    ctx.env[x_info.name] = Tracked(x, Layout.BATCH)

    for _, node in order:
        _lower(ctx, node)
        ctx.done(node)

    result = ctx.env.get(out_info.name)
    _check_result(ctx, result, out_info, source)
    if ctx.time_steps is None:
        raise FrontendError("the model has no snn encoder (snn.TTFSEncode or snn.RateEncode), so its time_steps "
                            "is unknown", where=source, hint="encode the input x with an snn encoder")
    graph.set_outputs([result.value])
    try:
        graph.verify()
    except VerificationError as err:  # every op was checked as it was added; this is a last guard
        raise FrontendError(f"the imported graph does not verify: {err.message}", where=err.where or source,
                            hint=err.hint) from None
    return graph


def _lower(ctx: Context, node: NodeProto) -> None:
    """Lower one node: fold it if its inputs are constant, else dispatch by (domain, op_type)."""
    standard = node.domain in STANDARD_DOMAINS
    if standard and lower_standard.foldable(node, ctx):
        run_lowering(ctx, node, lower_standard.fold_constants)
        return
    domain = "" if standard else node.domain
    fn = LOWERINGS.get((domain, node.op_type))
    if fn is not None:
        run_lowering(ctx, node, fn)
        return
    if domain == SNN_DOMAIN:
        known = sorted(lower_snn.SNN_ATTRIBUTES)
        close = difflib.get_close_matches(node.op_type, known, n=1)
        guess = f"did you mean snn.{close[0]}? " if close else ""
        raise ctx.error(node, f"unknown snn op 'snn.{node.op_type}'",
                        hint=f"{guess}the snn domain defines: {', '.join('snn.' + k for k in known)}",
                        cls=UnsupportedOpError)
    raise ctx.error(node, f"op '{node.op_type}' of domain {domain_name(node.domain)} is not supported",
                    hint=supported_text(), cls=UnsupportedOpError)


def _bind_initializers(ctx: Context, onnx_graph: onnx.GraphProto, source: str) -> None:
    for tensor in onnx_graph.initializer:
        try:
            ctx.env[tensor.name] = numpy_helper.to_array(tensor)
        except Exception as err:  # noqa: BLE001 - e.g. external data not loaded
            raise FrontendError(f"cannot read initializer '{tensor.name}': {type(err).__name__}: {err}",
                                where=source, hint="load the model with its external data (onnx.load)") from None
    for sparse in onnx_graph.sparse_initializer:
        raise FrontendError(f"sparse initializer '{sparse.values.name}' is not supported", where=source,
                            hint="store weights as dense float32 initializers")


def _graph_input(onnx_graph: onnx.GraphProto, source: str) -> onnx.ValueInfoProto:
    """The one input ``x: float32 [B, *features]``."""
    inits = {t.name for t in onnx_graph.initializer}
    inputs = [v for v in onnx_graph.input if v.name not in inits]
    spec = "the snnc specification wants exactly one input x: float32 [B, *features]"
    if len(inputs) != 1:
        names = ", ".join(f"'{v.name}'" for v in inputs) or "none"
        raise FrontendError(f"the model has {len(inputs)} graph inputs ({names}), expected 1", where=source,
                            hint=spec)
    x = inputs[0]
    where = f"{source}: graph input '{x.name}'"
    tensor = x.type.tensor_type if x.type.HasField("tensor_type") else None
    if tensor is None or tensor.elem_type != onnx.TensorProto.FLOAT:
        got = onnx.TensorProto.DataType.Name(tensor.elem_type) if tensor is not None else "not a tensor"
        raise FrontendError(f"the input must be float32, got {got}", where=where, hint=spec)
    if not tensor.HasField("shape") or len(tensor.shape.dim) < 2:
        rank = len(tensor.shape.dim) if tensor.HasField("shape") else "unknown"
        raise FrontendError(f"the input must have shape [B, *features] (rank >= 2), got rank {rank}", where=where,
                            hint=spec)
    features = tensor.shape.dim[1:]
    if any(not d.HasField("dim_value") or d.dim_value < 1 for d in features):
        shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in features]
        raise FrontendError(f"the input's feature dimensions must be concrete, got {shown}", where=where,
                            hint="only the batch dimension may be symbolic")
    return x


def _graph_output(onnx_graph: onnx.GraphProto, source: str) -> onnx.ValueInfoProto:
    """The one output ``scores: float32 [B, N]``."""
    spec = "the snnc specification wants exactly one output scores: float32 [B, N]"
    if len(onnx_graph.output) != 1:
        names = ", ".join(f"'{v.name}'" for v in onnx_graph.output) or "none"
        raise FrontendError(f"the model has {len(onnx_graph.output)} graph outputs ({names}), expected 1",
                            where=source, hint=spec)
    out = onnx_graph.output[0]
    if out.type.HasField("tensor_type") and out.type.tensor_type.elem_type not in (0, onnx.TensorProto.FLOAT):
        got = onnx.TensorProto.DataType.Name(out.type.tensor_type.elem_type)
        raise FrontendError(f"the output must be float32, got {got}", where=f"{source}: graph output '{out.name}'",
                            hint=spec)
    return out


def _needed(order: list[tuple[int, NodeProto]], output: str) -> set[int]:
    """Indices of the nodes the output depends on (dead branches are not imported)."""
    producer = {name: i for i, node in order for name in node.output if name}
    by_index = dict(order)
    needed: set[int] = set()
    stack = [output]
    while stack:
        i = producer.get(stack.pop())
        if i is None or i in needed:
            continue
        needed.add(i)
        stack.extend(n for n in by_index[i].input if n)
    return needed


def _check_result(ctx: Context, result: object, out: onnx.ValueInfoProto, source: str) -> None:
    """The output must be per-sample scores [B, N] matching the declared shape."""
    where = f"{source}: graph output '{out.name}'"
    hint = "end the network with a decoder (e.g. snn.SpikeCountDecode) or the spatio-temporal Gemm"
    if not isinstance(result, Tracked):
        kind = "a constant" if isinstance(result, np.ndarray) else "not computed from the input x"
        raise FrontendError(f"the output is {kind}", where=where, hint=hint)
    if result.layout is not Layout.BATCH or len(result.features) != 1:
        raise FrontendError(f"the output must be scores [B, N], got a {result.layout.describe()} value with "
                            f"features {list(result.features)}", where=where, hint=hint)
    tensor = out.type.tensor_type
    if out.type.HasField("tensor_type") and tensor.HasField("shape"):
        dims = tensor.shape.dim
        n = result.features[0]
        if len(dims) != 2 or (dims[1].HasField("dim_value") and dims[1].dim_value != n):
            shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            raise FrontendError(f"the declared output shape {shown} does not match the computed scores [B, {n}]",
                                where=where, hint="fix the output's value_info")
