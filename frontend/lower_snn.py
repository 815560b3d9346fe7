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
    "FirstSpikeDecode": (),
    "LastStepDecode": (),
    "SpikeCountDecode": (),
}
RESETS = ("subtract", "zero")


def _start(ctx: Context, node: NodeProto, inputs: int = 1) -> None:
    ctx.expect_io(node, (inputs, inputs))
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


def _time_major(ctx: Context, node: NodeProto, kind: Kind) -> Tracked:
    """Input 0 as a [T, B, *f] value of ``kind``."""
    x = ctx.tracked(node, 0, f"snn.{node.op_type} input")
    name = node.input[0]
    if x.layout is Layout.MERGED:
        raise ctx.error(node, f"'{name}' is the merged view [T*B, ...]; snn.{node.op_type} needs [T, B, ...]",
                        hint="reshape it back with Reshape(y, [T, -1, ...]) before this op")
    if x.layout is not Layout.TIME:
        raise ctx.error(node, f"snn.{node.op_type} needs a time-major value [T, B, ...], "
                              f"'{name}' is {x.layout.describe()}")
    if x.value.type.kind is not kind:
        if kind is Kind.CURRENT:
            raise ctx.error(node, f"snn.{node.op_type} needs a synaptic current, '{name}' is a spike train",
                            hint="put a synapse (MatMul, Gemm, Conv or AveragePool) between spiking layers")
        raise ctx.error(node, f"snn.{node.op_type} decodes a spike train, '{name}' is a "
                              f"{x.value.type.kind.value}", hint="decode the output of a neuron (snn.IF, snn.ReLPSP)")
    return x


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
    """snn.IF(I, threshold){reset = "subtract"} -> snn.if with the threshold tensor (per channel allowed)."""
    if any(a.name == "threshold" for a in node.attribute):
        raise ctx.error(node, "snn.IF takes its threshold as the second input (a float32 tensor), not as an "
                              "attribute", hint="make the threshold an initializer and pass it as input 1")
    _start(ctx, node, inputs=2)
    x = _time_major(ctx, node, Kind.CURRENT)
    theta = ctx.param(node, 1, "threshold")
    features = x.features
    while theta.ndim > len(features) and theta.shape[0] == 1:
        theta = theta.reshape(theta.shape[1:])
    try:
        fits = np.broadcast_shapes(theta.shape, features) == tuple(features)
    except ValueError:
        fits = False
    if not fits:
        raise ctx.error(node, f"shape mismatch: threshold of shape {list(theta.shape)} does not broadcast to the "
                              f"features {list(features)} of '{node.input[0]}'",
                        hint="use a scalar, [C, 1, 1] per channel or the full feature shape")
    if np.any(theta <= 0):
        raise ctx.error(node, "threshold must be > 0 everywhere")
    reset = ctx.attr(node, "reset", "str", "subtract")
    if reset not in RESETS:
        raise ctx.error(node, f"reset '{reset}' is not supported", hint=f"use one of {', '.join(RESETS)}")
    value = ctx.emit(node, "snn.if", [x.value], {"threshold": np.ascontiguousarray(theta), "reset": reset})
    ctx.bind(node, Tracked(value, Layout.TIME))


# ---------------------------------------------------------------------------------------- decoders
_DECODERS = {"FirstSpikeDecode": "snn.first_spike_decode", "LastStepDecode": "snn.last_step_decode",
             "SpikeCountDecode": "snn.spike_count_decode"}


@lowering("snn", *_DECODERS)
def decode(ctx: Context, node: NodeProto) -> None:
    """snn.FirstSpikeDecode / LastStepDecode / SpikeCountDecode: [T, B, N] spikes -> [B, N] scores."""
    _start(ctx, node)
    x = _time_major(ctx, node, Kind.SPIKES)
    value = ctx.emit(node, _DECODERS[node.op_type], [x.value], {})
    ctx.bind(node, Tracked(value, Layout.BATCH))
