"""The human-readable deployment report (``report.txt``): layers, utilisation, placement map, traffic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from snnc.backends.yoso.hardware import Hardware, hardware_summary
from snnc.backends.yoso.layers import runs_on_pes
from snnc.backends.yoso.neurons import yoso_neuron
from snnc.backends.yoso.packet import packet_format
from snnc.backends.yoso.partition import LayerPlan, utilisation_table
from snnc.ir import Graph, is_neuron

if TYPE_CHECKING:
    from snnc.backends.yoso.plan import YosoPlan


def placement_map(plans: list[LayerPlan], cols: int, rows: int) -> str:
    """An ASCII map of the mesh: each cell ``layer:PE`` (``.`` empty), the host port marked ``H>``.

    Example (2 layers on a 3 x 2 region)::

               x=0   x=1   x=2
        y=0 H> 0:0   0:1   0:2
        y=1    1:4   1:3   .
    """
    cell = {tuple(pe.xy): f"{plan.layer.index}:{pe.id}" for plan in plans for pe in plan.pes if pe.xy is not None}
    width = max([5, *(len(c) + 1 for c in cell.values())])
    lines = ["        " + "".join(f"{f'x={x}':<{width}}" for x in range(cols))]
    for y in range(rows):
        lead = f"y={y:<2} " + ("H> " if y == 0 else "   ")
        lines.append(lead + "".join(f"{cell.get((x, y), '.'):<{width}}" for x in range(cols)).rstrip())
    legend = ", ".join(f"{p.layer.index} = %{p.layer.name}" for p in plans)
    return "\n".join(lines) + f"\n  (cell = layer:PE; layers: {legend}; H> = host port, west of (0,0))\n"


def deployment_report(graph: Graph, plan: YosoPlan, *, model: str, timings: Sequence[tuple[str, float]] = ()) -> str:
    """The report text of a compiled graph from its plan (after the route pass)."""
    hw, plans, placed, routes = plan.hardware, plan.layers, plan.placement, plan.routes
    cols, rows = placed.region if placed is not None else (hw.mesh.cols, hw.mesh.rows)
    out = ["snnc YOSO deployment report", "",
           f"model      {model}, T = {graph.time_steps}",
           f"hardware   {hardware_summary(hw)}"]
    if timings:
        out.append("passes     " + ", ".join(f"{n} {s * 1e3:.1f} ms" for n, s in timings))
    out += ["", "layers"]
    for lp in plans:
        ly = lp.layer
        q = ly.neuron.meta.get("quant", {})
        theta = ly.neuron.attrs["threshold"]
        theta_text = f"{theta:g}" if isinstance(theta, float) else f"{theta.reshape(-1)[:4].tolist()}" + \
            ("..." if theta.size > 4 else "")
        quant = ""
        if q:
            scale = q["scale"]
            scale_text = f"{scale:.6g}" if isinstance(scale, float) else f"per channel {float(scale.min()):.3g}.." \
                f"{float(scale.max()):.3g}"
            quant = f", scale {scale_text}, threshold {_theta_float(q['threshold_float'])} -> {theta_text}"
        note = "" if len(lp.pes) == lp.formula_pes else f" (formula {lp.formula_pes})"
        src = " + ".join(f"{'host' if s is None else f'layer {s}'} (%{v.name})" for v, s in ly.sources)
        if ly.recurrent:
            src += f" + itself (recurrent, {ly.n} inputs one step later)"
        out.append(f"  {ly.index} %{ly.name}: {ly.kind} {ly.m} weights/neuron x {ly.n} neurons "
                   f"{ly.neuron.opname}, from {src}, {_count(len(lp.pes), 'PE')}{note}{quant}")
    out += _leak_lines(plans, hw, graph.time_steps, plan.leak_cost)
    host_neurons = [op for op in graph.ops if is_neuron(op.opname) and not runs_on_pes(op.opname)]
    if host_neurons:
        out += ["", "on the host (neurons that emit no spikes, with their synapses: the PEs send spikes only)"]
        out += [f"  %{op.result.name} = {op.opname} (float32, fed by %{op.operands[0].name})" for op in host_neurons]
    out += ["", "utilisation", _indent(utilisation_table(plans, hw))]
    placer = placed.placer if placed is not None else "?"
    out += [f"placement (placer {placer}; region {cols} x {rows} of the {hw.mesh.cols} x {hw.mesh.rows} mesh)",
            _indent(placement_map(plans, cols, rows))]
    out += [f"traffic (spike statistics: {placed.spike_stats if placed is not None else 'none'})"]
    rates = [f"host {sum(b.rate for b in plan.host_blocks):.1f}"]
    rates += [f"%{p.layer.name} {sum(pe.rate or 0.0 for pe in p.pes):.1f}" for p in plans]
    out.append("  expected spikes per image: " + ", ".join(rates))
    hops = placed.expected_hops if placed is not None else {}
    if hops:
        text = ", ".join(f"{k} {v:.1f}" for k, v in hops.items())
        base = min(v for k, v in hops.items() if k != "traffic")
        if "traffic" in hops and base > 0:
            text += f" (traffic-aware: {100 * (hops['traffic'] - base) / base:+.1f} % vs the better baseline)"
        out.append(f"  expected hops per image (X-Y tree multicast, host link included): {text}")
    if placed is not None:
        out.append(f"  lower bound, whatever the placement: {placed.lower_bound:.1f} (one link into each destination "
                   "of every spike)")
    if routes is not None:
        routing = routes.summary
        out.append(f"  chosen placement: {routing['hops_per_image']:.1f} hops and {routing['packets_per_image']:.1f} "
                   f"packets per image; replication at the source would need "
                   f"{routing['source_replication_hops_per_image']:.1f} hops")
        out.append(f"  routers used {routing['routers_used']}, largest routing table {routing['max_table_entries']} "
                   "entries")
    fmt = packet_format(hw)
    out += ["", f"packet format ({fmt.total_bits} bits = {hw.noc.flits_per_spike} flit(s) of {fmt.flit_bits} bits)",
            fmt.describe(), ""]
    return "\n".join(out)


def _leak_lines(plans: list[LayerPlan], hw: Hardware, time_steps: int, leak_cost: str | None = None) -> list[str]:
    """What the leak option costs (compile-time: the sweep's work does not depend on the input)."""
    leaky = [(lp, yoso_neuron(lp.layer.neuron.opname)) for lp in plans
             if yoso_neuron(lp.layer.neuron.opname).leaky]
    if not leaky or hw.leak is None:
        return []
    lk = hw.leak
    out = ["", f"leak sweep (every neuron of a leaky layer is read, decayed and written back every step, input or "
               f"not: +{lk.sweep_cycles_per_neuron} cycle(s) per neuron per step, {lk.multiply_pj:g} pJ per "
               f"decayed word; beta {lk.beta_frac_bits} / alpha {lk.alpha_frac_bits} fraction bits, {lk.rounding})"]
    total_pj = 0.0
    for lp, entry in leaky:
        ly = lp.layer
        decays = ly.n * entry.leak_words * time_steps
        largest = max(pe.size for pe in lp.pes)
        pj = decays * lk.multiply_pj
        total_pj += pj
        q = ly.neuron.meta.get("quant", {})
        factors = ", ".join(f"{k} {_values(q[k + '_float'])} -> {_values(q[k + '_q'])}"
                            for k in ("beta", "alpha") if k + "_q" in q and k + "_float" in q)
        out.append(f"  %{ly.name} {ly.neuron.opname}: {ly.n} neurons x {entry.leak_words} word(s) x T = {time_steps} "
                   f"= {decays} decays, {decays * lk.sweep_cycles_per_neuron // entry.leak_words} core cycles per "
                   f"image over its PEs ({largest * lk.sweep_cycles_per_neuron} per step on its largest PE, on the "
                   f"step's critical path), {pj:.1f} pJ per image" + (f"; {factors}" if factors else ""))
    out.append(f"  total: {total_pj:.1f} pJ per image of decay multiplies (the simulator's leak_sweep category; its "
               "cycles are in the latency)")
    if leak_cost:
        out.append(f"  accuracy cost of the fixed-point leak on the sample inputs: {leak_cost}")
    return out


def _values(v: object, shown: int = 4) -> str:
    """``[0.9, 0.875]`` / ``[230, 224, ...]``: the first values of a scalar or array, floats to 4 digits."""
    flat = np.asarray(v).reshape(-1)
    text = ", ".join(f"{float(x):.4g}" if flat.dtype.kind == "f" else str(int(x)) for x in flat[:shown])
    return f"[{text}{', ...' if flat.size > shown else ''}]"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _theta_float(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    try:
        flat = v.reshape(-1)  # type: ignore[attr-defined]
        return f"{flat[:4].tolist()}" + ("..." if flat.size > 4 else "")
    except AttributeError:
        return str(v)


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line if line else line for line in text.rstrip("\n").split("\n"))
