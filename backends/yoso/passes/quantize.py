"""Quantize the PE-mapped layers to the integers the YOSO hardware computes with.

For every neuron op fed by a synapse (``snn.dense``, ``snn.conv2d``; an ``snn.avgpool2d`` is first
lowered to the depthwise ``snn.conv2d`` it equals), with ``qmax = 2**(bits-1) - 1`` and a symmetric
scale per layer or per output channel:

    scale   = max|w| / qmax                      (per channel: max over that channel's weights)
    w_q     = clip(rint(w / scale), -qmax, qmax)  integer array (int8 for bits <= 8, int16, int32)
    b_q     = rint(b / scale)                     int32
    theta_q = max(1, rint(theta / scale))         snn.relpsp: a float attribute holding an integer;
                                                  snn.if: an int32 array

A merged layer (the neuron's current is ``snn.add`` of several synapses, a skip connection) takes one scale
over all its synapses' weights (their currents meet in one accumulator). A recurrent neuron's
``recurrent_weight`` (row ``i``: into neuron ``i``) is quantized with the same scale, which
then covers both matrices. (``rint`` rounds half to even.) Since every neuron's potential is linear in its
weights and bias, ``V_q = V / scale`` up to rounding, and the spikes keep their meaning. The scale, the float threshold,
the rules and the saturating widths of the neuron state (from the hardware file) go into the ops'
``meta['quant']``; ``docs/yoso.md`` ("Integer semantics") states exactly what the hardware computes.
Synapses that feed no neuron op (a spatio-temporal decoder's dense) run on the host and stay float, and so do
a readout neuron that emits no spikes (``snn.li``) and its synapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.backends.reference.integer import SEMANTICS
from snnc.backends.yoso.hardware import Hardware, resolve_hardware
from snnc.backends.yoso.layers import MERGE_OPS, runs_on_pes
from snnc.backends.yoso.neurons import check_fits, require_leak, yoso_neuron
from snnc.errors import PassError
from snnc.ir import Graph, Operation, ValueType
from snnc.passes.base import Pass
from snnc.passes.registry import register_pass

GRANULARITIES = ("per-layer", "per-channel")


def weight_dtype(bits: int) -> np.dtype:
    """The smallest NumPy signed integer type holding ``bits``-bit weights."""
    return np.dtype(np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32)


@register_pass
@dataclass
class Quantize(Pass):
    """Symmetric integer weights, scaled thresholds and biases for the PE-mapped layers.

    Options:
        bits: weight width (default: the hardware file's weight word width).
        granularity: ``per-layer`` (one scale per layer) or ``per-channel`` (one per output channel;
            snn.relpsp has one scalar threshold, so only where the scales agree).
        hw: hardware file (path or :class:`Hardware`; None for the shipped yoso-6x7.toml).
    """

    name = "quantize"
    summary = "integer weights, thresholds and biases for YOSO (symmetric, per-layer or per-channel)"

    bits: int | None = None
    granularity: str = "per-layer"
    hw: Any = None

    def apply(self, graph: Graph) -> None:
        hw = resolve_hardware(self.hw)
        bits = hw.sram["weight"].bits if self.bits is None else self.bits
        if self.granularity not in GRANULARITIES:
            raise PassError(f"quantize: granularity must be one of {', '.join(GRANULARITIES)}, "
                            f"got {self.granularity!r}")
        if not isinstance(bits, int) or not 2 <= bits <= 32:
            raise PassError(f"quantize: bits must be an integer in 2 .. 32, got {bits!r}")
        if bits > hw.sram["weight"].bits:
            raise PassError(f"quantize: {bits}-bit weights do not fit the {hw.sram['weight'].bits}-bit words of "
                            f"the weight SRAM ({hw.source})",
                            hint=f"use bits <= {hw.sram['weight'].bits} or a hardware file with wider weight words")
        producers = {id(op.result): op for op in graph.ops}
        for neuron in [op for op in graph.ops if runs_on_pes(op.opname)]:
            syn = producers.get(id(neuron.operands[0]))
            if syn is None:
                continue
            if syn.opname == "snn.avgpool2d":
                syn = _lower_avgpool(graph, syn)
            merges: list[Operation] = []
            syns = _merged(syn, producers, merges)
            if syns is None:
                continue  # not a layer YOSO maps: partition names the problem
            require_leak(neuron, hw)
            if np.issubdtype(syns[0].attrs["weight"].dtype, np.integer):
                continue  # already quantized
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported by check_fits
                _quantize_layer(syns, neuron, bits, self.granularity, hw)
            for merge in merges:  # a sum of integer currents is an integer current
                merge.result.type = ValueType(merge.result.type.kind, merge.result.type.features, "i32")


def _lower_avgpool(graph: Graph, pool: Operation) -> Operation:
    """Replace an average pool by the depthwise conv2d it equals (weights 1/(kh*kw), group = C)."""
    a = pool.attrs
    if a["count_include_pad"] == 0 and any(a["pads"]):
        raise PassError(f"%{pool.result.name} = snn.avgpool2d: with count_include_pad = 0 and pads {a['pads']} the "
                        "border averages divide by fewer values, which no integer conv computes",
                        hint="export the pool with count_include_pad = 1 or without padding")
    c = pool.operands[0].type.features[0]
    kh, kw = a["kernel"]
    weight = np.full((c, 1, kh, kw), 1.0 / (kh * kw), np.float32)
    conv = Operation("snn.conv2d", list(pool.operands), pool.result,
                     {"weight": weight, "strides": list(a["strides"]), "pads": list(a["pads"]),
                      "dilations": [1, 1], "group": c},
                     {**pool.meta, "lowered_from": "snn.avgpool2d"})
    graph.ops[graph.ops.index(pool)] = conv
    return conv


def _merged(op: Operation, producers: dict[int, Operation], merges: list[Operation]) -> list[Operation] | None:
    """The synapses whose currents ``op`` is (itself, or the leaves of a tree of ``snn.add``, collected in
    ``merges``), None if some leaf is not a synapse with float or integer weights."""
    if op.opname in MERGE_OPS:
        merges.append(op)
        out: list[Operation] = []
        for v in op.operands:
            leaf = producers.get(id(v))
            got = None if leaf is None else _merged(leaf, producers, merges)
            if got is None:
                return None
            out += got
        return out
    return [op] if op.opname in ("snn.dense", "snn.conv2d") else None


def _quantize_layer(syns: list[Operation], neuron: Operation, bits: int, granularity: str, hw: Hardware) -> None:
    """Quantize the synapses of one layer (a merged layer's: one scale for all, since their currents meet in one
    accumulator) and its neuron."""
    qmax = (1 << (bits - 1)) - 1
    flat = np.concatenate([np.abs(syn.attrs["weight"].astype(np.float64)).reshape(syn.attrs["weight"].shape[0], -1)
                           for syn in syns], axis=1)
    rec = neuron.attrs.get("recurrent_weight")
    if rec is not None:  # one scale for the input and the recurrent weights: their sums meet in one accumulator
        flat = np.concatenate([flat, np.abs(rec.astype(np.float64))], axis=1)
    layer_max = float(flat.max()) if flat.size else 0.0
    layer_scale = layer_max / qmax if layer_max > 0 else 1.0
    if granularity == "per-layer":
        scale = np.full(flat.shape[0], layer_scale)
    else:
        channel_max = flat.max(axis=1)
        scale = np.where(channel_max > 0, channel_max / qmax, layer_scale)
    entry = yoso_neuron(neuron.opname)
    if entry.check_scale is not None:
        entry.check_scale(neuron, scale)
    scale_meta: float | np.ndarray = float(scale[0]) if granularity == "per-layer" else scale.astype(np.float32)
    for syn in syns:
        w = syn.attrs["weight"].astype(np.float64)
        wshape = (-1,) + (1,) * (w.ndim - 1)
        syn.attrs["weight"] = np.clip(np.rint(w / scale.reshape(wshape)), -qmax, qmax).astype(weight_dtype(bits))
        if "bias" in syn.attrs:
            b_q = np.rint(syn.attrs["bias"].astype(np.float64) / scale)
            check_fits(b_q, hw.sram["acc_weight"].bits, "bias", f"%{syn.result.name} = {syn.opname}", scale)
            syn.attrs["bias"] = b_q.astype(np.int32)
        syn.meta["quant"] = {
            "bits": bits, "granularity": granularity, "scale": scale_meta,
            "rule": f"w_q = clip(rint(w / scale), -{qmax}, {qmax})", "bias_rule": "b_q = rint(b / scale)",
            "semantics": SEMANTICS}
        syn.result.type = ValueType(syn.result.type.kind, syn.result.type.features, "i32")
    if rec is not None:
        neuron.attrs["recurrent_weight"] = np.clip(np.rint(rec.astype(np.float64) / scale.reshape(-1, 1)), -qmax,
                                                   qmax).astype(weight_dtype(bits))

    state = entry.quantize(neuron, scale, granularity, hw)
    neuron.meta["quant"] = {"scale": scale_meta, **state, "semantics": SEMANTICS}
