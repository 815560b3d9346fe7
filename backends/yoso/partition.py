"""Partition each layer onto PEs: how many, which neurons each holds, which weights, and the design rules.

Rule (``docs/yoso.md``, "Partition"): a layer of ``n`` neurons with ``m`` weights per neuron goes onto

    C = max(ceil(n / N), ceil(m * n / W))                     (the paper's formula; conv: m * n -> C_out * m)

PEs, in balanced contiguous slices of neurons (sizes differ by at most 1; the first ``n mod C`` slices
get one more). A neuron's weights never split across PEs, so where the largest slice's weights exceed
``W`` (e.g. ``ceil(n / C) * m > W``), ``C`` grows to the smallest count whose slices fit; the plan
records both counts. A dense PE stores ``(hi - lo) * m`` weights (its rows of the weight matrix); a conv
PE stores the kernels of every output channel its slice touches, once (``channels * m``), since the
positions of one channel share the kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnc.backends.yoso.hardware import Hardware
from snnc.backends.yoso.layers import Layer, Network
from snnc.backends.yoso.neurons import require_leak, yoso_neuron
from snnc.errors import DesignRuleError

#: key of the partition annotation (the printed mirror of the plan) in a neuron op's ``meta``.
META_KEY = "yoso"


@dataclass
class PESlice:
    """What one PE holds: neurons ``lo .. hi-1`` of its layer and their weights.

    ``channels`` (conv only) is the half-open range of output channels whose kernels it stores;
    ``accepts`` the box of input indices its neurons read (``docs/yoso.md``: a PE drops other spikes).
    ``xy``, ``rate``, ``dests`` and ``links`` are filled by the place and route passes; ``to_meta`` is the
    printed mirror in ``meta['yoso']``.
    """

    id: int
    layer: int
    lo: int
    hi: int
    weights: int
    channels: tuple[int, int] | None = None
    accepts: dict[str, list[int]] = field(default_factory=dict)
    xy: tuple[int, int] | None = None
    rate: float | None = None
    dests: list[int] | None = None
    links: int | None = None

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def to_meta(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "neurons": [self.lo, self.hi], "weights": self.weights}
        if self.channels is not None:
            d["channels"] = list(self.channels)
        d["accepts"] = {k: list(v) for k, v in self.accepts.items()}
        if self.xy is not None:
            d["xy"] = list(self.xy)
        if self.rate is not None:
            d["rate"] = float(self.rate)
        if self.dests is not None:
            d["dests"] = list(self.dests)
        if self.links is not None:
            d["links"] = int(self.links)
        return d


@dataclass
class LayerPlan:
    """The PEs of one layer."""

    layer: Layer
    formula_pes: int
    pes: list[PESlice]

    def to_meta(self) -> dict[str, Any]:
        ly = self.layer
        d = {"layer": ly.index, "kind": ly.kind, "m": ly.m, "n": ly.n, "inputs": ly.inputs,
             "source": ly.source.name, "source_layer": -1 if ly.source_layer is None else ly.source_layer,
             "formula_pes": self.formula_pes, "pes": [pe.to_meta() for pe in self.pes]}
        if ly.merged:
            d["sources"] = [v.name for v, _ in ly.sources]
        return d


# ------------------------------------------------------------------------------------------ counting
def formula_pes(m: int, n: int, neurons: int, weights: int) -> int:
    """The paper's lower bound: ``max(ceil(n / N), ceil(m * n / W))``."""
    return max(-(-n // neurons), -(-(m * n) // weights))


def balanced_slices(n: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous half-open ranges covering ``0 .. n-1``, sizes differing by at most 1."""
    q, r = divmod(n, count)
    out, lo = [], 0
    for k in range(count):
        hi = lo + q + (1 if k < r else 0)
        out.append((lo, hi))
        lo = hi
    return out


def _slice_weights(layer: Layer, lo: int, hi: int) -> tuple[int, tuple[int, int] | None]:
    """Weights a PE holding neurons ``lo .. hi-1`` stores, and (conv) the output channels it covers."""
    if layer.kind == "dense":
        return (hi - lo) * layer.m, None
    c0, c1 = lo // layer.positions, (hi - 1) // layer.positions + 1
    return (c1 - c0) * layer.m, (c0, c1)


def _max_slice_weights(layer: Layer, count: int) -> int:
    q, r = divmod(layer.n, count)
    if layer.kind == "dense":
        return (q + (1 if r else 0)) * layer.m
    k = np.arange(count)
    lo = k * q + np.minimum(k, r)
    hi = lo + q + (k < r)
    channels = (hi - 1) // layer.positions - lo // layer.positions + 1
    return int(channels.max()) * layer.m


def pe_count(layer: Layer, neurons: int, weights: int) -> tuple[int, int]:
    """(PEs used, the formula's count) for one layer; raises on a fan-in larger than ``W``."""
    if layer.m > weights:
        what = "weights (its fan-in)" if layer.kind == "dense" else "kernel weights (C_in/group x kh x kw)"
        raise DesignRuleError(
            f"layer {layer.index} (%{layer.name}, {layer.kind}): one neuron needs {layer.m} {what}, more than a PE "
            f"holds (W = {weights}) by {layer.m - weights}", where=f"%{layer.name} = {layer.neuron.opname}",
            hint=f"raise [pe] weights and [sram.weight] words to at least {layer.m}, or reduce the layer's fan-in")
    stored = layer.n * layer.m if layer.kind == "dense" else layer.out_channels * layer.m
    formula = max(-(-layer.n // neurons), -(-stored // weights))
    if layer.kind == "dense":
        # closed form: slices of at most floor(W / m) neurons
        count = max(formula, -(-layer.n // (weights // layer.m)))
    else:
        count = formula
        while count < layer.n and _max_slice_weights(layer, count) > weights:
            count += 1
    return count, formula


def _accepts(layer: Layer, lo: int, hi: int) -> dict[str, list[int]]:
    """The box of input indices the neurons ``lo .. hi-1`` read (half-open ranges)."""
    if layer.kind == "dense":
        return {"inputs": [0, layer.inputs]}
    a = layer.synapse.attrs
    c_in, h, w = layer.synapse.operands[0].type.features
    co = layer.out_channels
    ho, wo = layer.neuron.result.type.features[1:]
    hw_ = ho * wo
    c0, c1 = lo // hw_, (hi - 1) // hw_
    if c0 == c1:
        ya, yb = (lo % hw_) // wo, ((hi - 1) % hw_) // wo
        xa, xb = ((lo % wo), ((hi - 1) % wo)) if ya == yb else (0, wo - 1)
    else:
        ya, yb, xa, xb = 0, ho - 1, 0, wo - 1
    (kh, kw), (sh, sw), (dh, dw) = a["weight"].shape[2:], a["strides"], a["dilations"]
    pt, pl = a["pads"][0], a["pads"][1]
    per_group_out, per_group_in = co // a["group"], c_in // a["group"]
    g0, g1 = c0 // per_group_out, c1 // per_group_out
    rows = [max(0, ya * sh - pt), min(h, yb * sh - pt + (kh - 1) * dh + 1)]
    cols = [max(0, xa * sw - pl), min(w, xb * sw - pl + (kw - 1) * dw + 1)]
    return {"channels": [g0 * per_group_in, (g1 + 1) * per_group_in], "rows": rows, "cols": cols}


def accepted_inputs(accepts: dict[str, list[int]]) -> int:
    """How many input indices an ``accepts`` box holds."""
    if "inputs" in accepts:
        return accepts["inputs"][1] - accepts["inputs"][0]
    return math.prod(max(0, b - a) for a, b in (accepts["channels"], accepts["rows"], accepts["cols"]))


def plan_layer(layer: Layer, neurons: int, weights: int, first_id: int = 0) -> LayerPlan:
    """The PEs of one layer, numbered from ``first_id``."""
    count, formula = pe_count(layer, neurons, weights)
    pes = []
    for k, (lo, hi) in enumerate(balanced_slices(layer.n, count)):
        w, channels = _slice_weights(layer, lo, hi)
        pes.append(PESlice(first_id + k, layer.index, lo, hi, w, channels, _accepts(layer, lo, hi)))
    return LayerPlan(layer, formula, pes)


def plan_network(network: Network, hw: Hardware, *, neurons: int | None = None,
                 weights: int | None = None) -> list[LayerPlan]:
    """Partition every layer; check that the model fits the mesh and the accumulators.

    Raises:
        DesignRuleError: a leaky layer on a chip without the leak option, a fan-in larger than W, more PEs
            than the mesh has, a packet field too narrow,
            or (integer weights) an accumulated weight that could overflow its word.
    """
    n_cap, w_cap = neurons or hw.pe.neurons, weights or hw.pe.weights
    plans: list[LayerPlan] = []
    for layer in network.layers:
        require_leak(layer.neuron, hw)
        plans.append(plan_layer(layer, n_cap, w_cap, sum(len(p.pes) for p in plans)))
    total = sum(len(p.pes) for p in plans)
    if total > hw.mesh.size:
        per_layer = ", ".join(f"%{p.layer.name} {len(p.pes)}" for p in plans)
        cols, rows = near_square(total)
        raise DesignRuleError(
            f"the model needs {total} PEs but the mesh has {hw.mesh.cols} x {hw.mesh.rows} = {hw.mesh.size}, "
            f"{total - hw.mesh.size} too few (PEs per layer: {per_layer})", where=hw.source,
            hint=f"use a bigger mesh (at least {cols} x {rows}: [mesh] cols and rows), a larger W ([pe] weights) "
                 f"or N ([pe] neurons), or smaller layers")
    return plans


def near_square(count: int) -> tuple[int, int]:
    """The smallest near-square grid (cols, rows) holding ``count`` PEs: ``rows - cols`` in {0, 1}."""
    side = max(1, math.isqrt(count - 1) + 1) if count > 1 else 1
    if (side - 1) * side >= count:
        return side - 1, side
    return side, side


def check_packets(network: Network, hw: Hardware, time_steps: int, sources: int) -> None:
    """The packet's step and source fields must hold T and every multicast key."""
    if time_steps > (1 << hw.noc.step_bits):
        raise DesignRuleError(f"the model runs T = {time_steps} steps but the packet's step field has "
                              f"{hw.noc.step_bits} bits (T <= {1 << hw.noc.step_bits})", where=hw.source,
                              hint=f"raise [noc] step_bits to {math.ceil(math.log2(time_steps))}")
    if sources > (1 << hw.noc.source_bits):
        raise DesignRuleError(f"the deployment needs {sources} multicast keys (PEs and host blocks) but the "
                              f"packet's source field has {hw.noc.source_bits} bits ({1 << hw.noc.source_bits})",
                              where=hw.source, hint=f"raise [noc] source_bits to {math.ceil(math.log2(sources))}")


def accumulator_bound(layer: Layer, time_steps: int) -> int:
    """Worst-case |accumulated weight| of the layer's integer weights (docs/yoso.md, "Integer semantics").

    The bound is the neuron's own (its YOSO table entry, :mod:`snnc.backends.yoso.neurons`), e.g. IF: the step's
    input ``|I| <= sum_i |w_ji| + |b_j|``; ReL-PSP: the slope ``|K| <= c * sum_i |w_ji| + T |b_j|``, ``c = 1`` when
    every source neuron spikes at most once, else ``T``.
    """
    return yoso_neuron(layer.neuron.opname).layer_bound(layer, time_steps)


def check_accumulators(network: Network, hw: Hardware, time_steps: int) -> None:
    """For integer weights: the accumulated weight can never saturate (so spike order cannot matter)."""
    limit = hw.sram["acc_weight"].max_value
    for layer in network.layers:
        if not np.issubdtype(layer.synapse.attrs["weight"].dtype, np.integer):
            continue
        bound = accumulator_bound(layer, time_steps)
        if bound > limit:
            what = yoso_neuron(layer.neuron.opname).traits.accumulator_name
            raise DesignRuleError(
                f"layer {layer.index} (%{layer.name}): the accumulated weight ({what}) can reach {bound} in the "
                f"worst case, beyond the {hw.sram['acc_weight'].bits}-bit accumulated-weight word (max {limit}) "
                f"by {bound - limit}", where=f"%{layer.name} = {layer.neuron.opname}",
                hint="widen [sram.acc_weight] bits (and [core] adder_bits), or quantize with fewer weight bits")


def all_pes(plans: list[LayerPlan]) -> list[PESlice]:
    """Every PE, by id."""
    return sorted((pe for p in plans for pe in p.pes), key=lambda pe: pe.id)


# ------------------------------------------------------------------------------------------ report
def utilisation_table(plans: list[LayerPlan], hw: Hardware) -> str:
    """A Lava-style table: per PE its neurons / N, weights / W and the words used of each SRAM.

    Returns:
        Text with one line per PE, then one line per layer and a total.
    """
    n_cap, w_cap, s = hw.pe.neurons, hw.pe.weights, hw.sram
    head = (f"{'PE':>4} {'layer':<12} {'xy':>7} {'neurons':>11} {'N use':>14} {'W use':>20} "
            f"{'weight SRAM':>13} {'potential':>9} {'acc-weight':>10} {'spike-addr':>10}")
    lines = [head, "-" * len(head)]
    for plan in plans:
        for pe in plan.pes:
            xy = f"({pe.xy[0]},{pe.xy[1]})" if pe.xy else "-"
            listens = min(accepted_inputs(pe.accepts), s["spike_addr"].words)
            lines.append(
                f"{pe.id:>4} {_short('%' + plan.layer.name, 12):<12} {xy:>7} {f'{pe.lo}..{pe.hi - 1}':>11} "
                f"{_frac(pe.size, n_cap):>14} {_frac(pe.weights, w_cap):>20} "
                f"{pe.weights:>6}/{s['weight'].words:<6} {pe.size:>4}/{s['potential'].words:<4} "
                f"{pe.size:>4}/{s['acc_weight'].words:<5} {listens:>4}/{s['spike_addr'].words}")
    lines.append("-" * len(head))
    for plan in plans:
        ly = plan.layer
        used_w = sum(pe.weights for pe in plan.pes)
        note = "" if len(plan.pes) == plan.formula_pes else \
            f"  (formula {plan.formula_pes}: whole-neuron slices need {len(plan.pes)})"
        pes = f"{len(plan.pes)} PE" + ("" if len(plan.pes) == 1 else "s")
        lines.append(f"layer {ly.index} %{ly.name}: {ly.kind} {ly.m} x {ly.n} -> {pes}, "
                     f"{ly.n / (len(plan.pes) * n_cap):.1%} of their neurons, "
                     f"{used_w / (len(plan.pes) * w_cap):.1%} of their weights{note}")
    n_pes = sum(len(p.pes) for p in plans)
    lines.append(f"total: {n_pes} PEs of {hw.mesh.size} ({hw.mesh.cols} x {hw.mesh.rows}), "
                 f"{sum(pe.weights for p in plans for pe in p.pes)} weights stored")
    return "\n".join(lines) + "\n"


def _frac(used: int, cap: int) -> str:
    return f"{used}/{cap} {used / cap:6.1%}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "~"
