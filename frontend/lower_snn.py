"""Lowerings of the ``snn`` domain ops (snnc specification, section 2): encoders, neurons, decoders.

An ``snn`` op is recognised by its domain, op_type and attributes only; the model-local function
bodies that make the file runnable in onnxruntime are never read. Every op's attributes are
checked here (onnx.checker cannot: the domain has no registered schemas).
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto

from snnc.frontend.layout import Layout
from snnc.frontend.onnx_context import Context, Tracked, lowering
from snnc.ir import Kind

#: op_type -> the attributes it takes (the snn domain, version 1).
SNN_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "TTFSEncode": ("time_steps", "window"),
    "RateEncode": ("time_steps", "threshold"),
    "ReLPSP": ("threshold",),
    "IF": ("reset",),
    "LIF": ("reset", "delayed_reset"),
    "CubaLIF": ("reset", "delayed_reset"),
    "LI": (),
    "FirstSpikeDecode": (),
    "LastStepDecode": (),
    "SpikeCountDecode": (),
    "MaxOverTimeDecode": (),
}
RESETS = ("subtract", "zero")


def _start(ctx: Context, node: NodeProto, inputs: int = 1, optional: int = 0) -> None:
    ctx.expect_io(node, (inputs, inputs + optional))
    ctx.only_attrs(node, SNN_ATTRIBUTES[node.op_type])


# ---------------------------------------------------------------------------------------- encoders
def _encoder(ctx: Context, node: NodeProto) -> tuple[Tracked, int]:
    """The encoder's input (a per-sample tensor) and T, which becomes (or must match) the graph's T."""
    _start(ctx, node)
    x = ctx.tracked(node, 0, "encoder input")
    if x.layout is not Layout.BATCH:
        raise ctx.error(node, f"the encoder input must be a per-sample tensor [B, *features], "
                              f"'{node.input[0]}' is {x.layout.describe()}",
                        hint="encode the model input x (values in [0, 1])")
    if not any(a.name == "time_steps" for a in node.attribute):
        raise ctx.error(node, f"snn.{node.op_type} has no 'time_steps' attribute: the simulation length T is "
                              "required", hint="add time_steps=T (an int >= 1), see the snnc specification")
    steps = ctx.attr(node, "time_steps", "int")
    if steps < 1:
        raise ctx.error(node, f"time_steps must be >= 1, got {steps}")
    if ctx.time_steps is None:
        ctx.time_steps = ctx.graph.time_steps = steps
        ctx.time_source = ctx.where(node)
    elif steps != ctx.time_steps:
        raise ctx.error(node, f"time_steps = {steps} differs from time_steps = {ctx.time_steps} of "
                              f"{ctx.time_source}", hint="all encoders of a model share one T")
    return x, steps


@lowering("snn", "TTFSEncode")
def ttfs_encode(ctx: Context, node: NodeProto) -> None:
    """snn.TTFSEncode{time_steps, window = T} -> snn.ttfs_encode."""
    x, steps = _encoder(ctx, node)
    window = ctx.attr(node, "window", "int", steps)
    if not 1 <= window <= steps:
        raise ctx.error(node, f"window = {window} must lie in 1 .. time_steps ({steps})")
    value = ctx.emit(node, "snn.ttfs_encode", [x.value], {"time_steps": steps, "window": window})
    ctx.bind(node, Tracked(value, Layout.TIME))


@lowering("snn", "RateEncode")
def rate_encode(ctx: Context, node: NodeProto) -> None:
    """snn.RateEncode{time_steps, threshold = 0.5} -> snn.rate_encode."""
    x, steps = _encoder(ctx, node)
    threshold = ctx.attr(node, "threshold", "float", 0.5)
    _positive(ctx, node, threshold)
    value = ctx.emit(node, "snn.rate_encode", [x.value], {"time_steps": steps, "threshold": threshold})
    ctx.bind(node, Tracked(value, Layout.TIME))


# ----------------------------------------------------------------------------------------- neurons
def _positive(ctx: Context, node: NodeProto, threshold: float) -> None:
    if not np.isfinite(threshold) or threshold <= 0:
        raise ctx.error(node, f"threshold must be a finite float > 0, got {threshold}")


_KIND_WORDS = {Kind.SPIKES: "a spike train", Kind.CURRENT: "a synaptic current",
               Kind.POTENTIAL: "a potential trace (the output of snn.LI)", Kind.TENSOR: "a tensor"}


def _time_major(ctx: Context, node: NodeProto, *kinds: Kind) -> Tracked:
    """Input 0 as a [T, B, *f] value of one of ``kinds``."""
    x = ctx.tracked(node, 0, f"snn.{node.op_type} input")
    name = node.input[0]
    if x.layout is Layout.MERGED:
        raise ctx.error(node, f"'{name}' is the merged view [T*B, ...]; snn.{node.op_type} needs [T, B, ...]",
                        hint="reshape it back with Reshape(y, [T, -1, ...]) before this op")
    if x.layout is not Layout.TIME:
        raise ctx.error(node, f"snn.{node.op_type} needs a time-major value [T, B, ...], "
                              f"'{name}' is {x.layout.describe()}")
    kind = x.value.type.kind
    if kind not in kinds:
        if kinds == (Kind.CURRENT,):
            raise ctx.error(node, f"snn.{node.op_type} needs a synaptic current, '{name}' is {_KIND_WORDS[kind]}",
                            hint="put a synapse (MatMul, Gemm, Conv or AveragePool) between spiking layers")
        wanted = " or ".join(_KIND_WORDS[k] for k in kinds)
        hint = "decode the output of a neuron (snn.IF, snn.LIF, snn.ReLPSP)" if Kind.SPIKES in kinds else \
            "decode the potential trace of an snn.LI readout"
        raise ctx.error(node, f"snn.{node.op_type} decodes {wanted}, '{name}' is {_KIND_WORDS[kind]}", hint=hint)
    return x


def _neuron_param(ctx: Context, node: NodeProto, index: int, what: str, features: tuple[int, ...], *,
                  decay: bool) -> np.ndarray:
    """A float32 constant neuron parameter broadcastable to ``features`` (leading size-1 axes of the
    ``[T, B, *f]`` broadcast dropped): a threshold (> 0) or a decay factor (in [0, 1])."""
    value = ctx.param(node, index, what)
    name = node.input[index]
    while value.ndim > len(features) and value.shape[0] == 1:
        value = value.reshape(value.shape[1:])
    try:
        fits = np.broadcast_shapes(value.shape, features) == tuple(features)
    except ValueError:
        fits = False
    if not fits:
        raise ctx.error(node, f"shape mismatch: {what} '{name}' of shape {list(value.shape)} does not broadcast to "
                              f"the features {list(features)} of '{node.input[0]}'",
                        hint="use a scalar, [C, 1, 1] per channel or the full feature shape")
    if decay:
        bad = (value < 0) | (value > 1)
        if np.any(bad):
            first = float(value.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
            raise ctx.error(node, f"{what} '{name}' must lie in [0, 1] everywhere, got {first!r}",
                            hint=f"{what} is the decay per step (1: no leak, 0: no memory); from a time constant "
                                 "tau and a step dt it is exp(-dt / tau)")
    elif np.any(value <= 0):
        raise ctx.error(node, f"{what} must be > 0 everywhere" if what == "threshold" else
                        f"{what} '{name}' must be > 0 everywhere")
    return np.ascontiguousarray(value)


def _recurrent_weight(ctx: Context, node: NodeProto, index: int, features: tuple[int, ...]) -> np.ndarray | None:
    """The optional last input ``recurrent_weight [n, n]`` (features ``[n]``), or None when absent."""
    if ctx.input_name(node, index) is None:
        return None
    name = node.input[index]
    weight = ctx.param(node, index, "recurrent_weight")
    if len(features) != 1:
        raise ctx.error(node, f"recurrent_weight '{name}' needs a layer with one feature axis [n]; "
                              f"'{node.input[0]}' has features {list(features)}", hint="flatten the current first")
    n = features[0]
    if weight.shape != (n, n):
        raise ctx.error(node, f"shape mismatch: recurrent_weight '{name}' of shape {list(weight.shape)} must be "
                              f"[{n}, {n}] for the {n} neurons of '{node.input[0]}'",
                        hint="recurrent_weight[i, j] weighs neuron j's spike at step t-1 into neuron i at step t")
    return weight


def _reset(ctx: Context, node: NodeProto) -> str:
    reset = ctx.attr(node, "reset", "str", "subtract")
    if reset not in RESETS:
        raise ctx.error(node, f"reset '{reset}' is not supported", hint=f"use one of {', '.join(RESETS)}")
    return reset


def _delayed_reset(ctx: Context, node: NodeProto) -> int:
    delayed = ctx.attr(node, "delayed_reset", "int", 0)
    if delayed not in (0, 1):
        raise ctx.error(node, f"delayed_reset must be 0 or 1, got {delayed}",
                        hint="0: the reset of step t-1 before step t's decay (default); 1: after it (snnTorch)")
    return delayed


@lowering("snn", "ReLPSP")
def relpsp(ctx: Context, node: NodeProto) -> None:
    """snn.ReLPSP{threshold} -> snn.relpsp."""
    _start(ctx, node)
    x = _time_major(ctx, node, Kind.CURRENT)
    threshold = ctx.attr(node, "threshold", "float")
    _positive(ctx, node, threshold)
    value = ctx.emit(node, "snn.relpsp", [x.value], {"threshold": threshold})
    ctx.bind(node, Tracked(value, Layout.TIME))


@lowering("snn", "IF")
def integrate_and_fire(ctx: Context, node: NodeProto) -> None:
    """snn.IF(I, threshold[, recurrent_weight]){reset = "subtract"} -> snn.if with the threshold tensor (per
    channel allowed) and the optional recurrent weight [n, n]."""
    if any(a.name == "threshold" for a in node.attribute):
        raise ctx.error(node, "snn.IF takes its threshold as the second input (a float32 tensor), not as an "
                              "attribute", hint="make the threshold an initializer and pass it as input 1")
    _start(ctx, node, inputs=2, optional=1)
    x = _time_major(ctx, node, Kind.CURRENT)
    attrs = {"threshold": _neuron_param(ctx, node, 1, "threshold", x.features, decay=False),
             "reset": _reset(ctx, node)}
    recurrent = _recurrent_weight(ctx, node, 2, x.features)
    if recurrent is not None:
        attrs["recurrent_weight"] = recurrent
    value = ctx.emit(node, "snn.if", [x.value], attrs)
    ctx.bind(node, Tracked(value, Layout.TIME))


@lowering("snn", "LIF", "CubaLIF")
def leaky_integrate_and_fire(ctx: Context, node: NodeProto) -> None:
    """snn.LIF(I, threshold, beta[, recurrent_weight]){reset, delayed_reset} -> snn.lif;
    snn.CubaLIF(I, threshold, alpha, beta[, recurrent_weight]){reset, delayed_reset} -> snn.cuba_lif."""
    cuba = node.op_type == "CubaLIF"
    params = ["threshold", "alpha", "beta"] if cuba else ["threshold", "beta"]
    _start(ctx, node, inputs=1 + len(params), optional=1)
    x = _time_major(ctx, node, Kind.CURRENT)
    attrs: dict[str, object] = {}
    for index, what in enumerate(params, start=1):
        attrs[what] = _neuron_param(ctx, node, index, what, x.features, decay=what != "threshold")
    attrs["reset"] = _reset(ctx, node)
    attrs["delayed_reset"] = _delayed_reset(ctx, node)
    recurrent = _recurrent_weight(ctx, node, 1 + len(params), x.features)
    if recurrent is not None:
        attrs["recurrent_weight"] = recurrent
    value = ctx.emit(node, "snn.cuba_lif" if cuba else "snn.lif", [x.value], attrs)
    ctx.bind(node, Tracked(value, Layout.TIME))


@lowering("snn", "LI")
def leaky_integrator(ctx: Context, node: NodeProto) -> None:
    """snn.LI(I, beta) -> snn.li, whose result is the potential trace (kind potential)."""
    _start(ctx, node, inputs=2)
    x = _time_major(ctx, node, Kind.CURRENT)
    beta = _neuron_param(ctx, node, 1, "beta", x.features, decay=True)
    value = ctx.emit(node, "snn.li", [x.value], {"beta": beta})
    ctx.bind(node, Tracked(value, Layout.TIME))


# ---------------------------------------------------------------------------------------- decoders
_DECODERS = {"FirstSpikeDecode": "snn.first_spike_decode", "LastStepDecode": "snn.last_step_decode",
             "SpikeCountDecode": "snn.spike_count_decode", "MaxOverTimeDecode": "snn.max_over_time_decode"}
#: what each decoder reads (SPEC 2: the last-step and spike-count decoders also read a potential trace).
_DECODES = {"FirstSpikeDecode": (Kind.SPIKES,), "LastStepDecode": (Kind.SPIKES, Kind.POTENTIAL),
            "SpikeCountDecode": (Kind.SPIKES, Kind.POTENTIAL), "MaxOverTimeDecode": (Kind.POTENTIAL,)}


@lowering("snn", *_DECODERS)
def decode(ctx: Context, node: NodeProto) -> None:
    """snn.FirstSpikeDecode / LastStepDecode / SpikeCountDecode / MaxOverTimeDecode: [T, B, N] -> [B, N] scores."""
    _start(ctx, node)
    x = _time_major(ctx, node, *_DECODES[node.op_type])
    value = ctx.emit(node, _DECODERS[node.op_type], [x.value], {})
    ctx.bind(node, Tracked(value, Layout.BATCH))
