"""Place the PEs of a partitioned graph onto mesh coordinates (``docs/yoso.md``, "Placement").

Placers: ``row-major`` and ``snake`` (baselines: layers in order) and ``traffic`` (lowers the expected
spike hops per image, from per-neuron spike statistics). Each PE's ``xy`` and expected spikes per image
(``rate``) go into its ``meta['yoso']['pes']`` entry; the region, the placer, the spike statistics used
the expected hops of all three placers and the lower bound no placement beats go into the graph metadata
(``yoso.*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.backends.yoso.hardware import resolve_hardware
from snnc.backends.yoso.layers import find_network
from snnc.backends.yoso.partition import all_pes, read_plans, write_plans
from snnc.backends.yoso.placement import PLACERS, baseline, mesh_region, traffic_place
from snnc.backends.yoso.routing import build_sources, expected_hops, hops_lower_bound
from snnc.errors import PassError
from snnc.ir import Graph
from snnc.passes.base import Pass
from snnc.passes.registry import register_pass


@register_pass
@dataclass
class Place(Pass):
    """Assign every PE a mesh position.

    Options:
        placer: ``traffic`` (default), ``snake`` or ``row-major``.
        mesh: ``auto`` (smallest near-square region holding the PEs, the paper's rule), ``hw`` (the
            whole mesh of the hardware file) or ``CxR``.
        hw: hardware file (path or Hardware; None for the shipped yoso-6x7.toml).
        spike_rates: spike value name -> per-neuron expected spikes per image (flat array), e.g. from
            :func:`snnc.backends.yoso.compile.spike_statistics`; values missing count one spike per
            neuron per image.
        stats_note: how the statistics were obtained (recorded in the report).
    """

    name = "place"
    summary = "place YOSO PEs on the mesh (snake, row-major, or traffic-aware)"

    placer: str = "traffic"
    mesh: str = "auto"
    hw: Any = None
    spike_rates: dict[str, np.ndarray] | None = None
    stats_note: str = ""

    def apply(self, graph: Graph) -> None:
        if self.placer not in PLACERS:
            raise PassError(f"place: unknown placer {self.placer!r}", hint=f"placers: {', '.join(PLACERS)}")
        hw = resolve_hardware(self.hw)
        network = find_network(graph)
        plans = read_plans(graph, network)
        pes = all_pes(plans)
        ids = [pe.id for pe in pes]
        cols, rows = mesh_region(self.mesh, hw.mesh.cols, hw.mesh.rows, len(pes))
        sources = build_sources(network, plans, hw.pe.neurons, self.spike_rates)
        hops: dict[str, float] = {}
        placements = {}
        for name in ("snake", "row-major"):
            placements[name] = baseline(ids, cols, rows, name)
            hops[name] = expected_hops(sources, placements[name])
        # the traffic-aware placement is computed whichever placer is chosen, so every report compares all three
        placements["traffic"] = traffic_place(sources, ids, cols, rows)
        hops["traffic"] = expected_hops(sources, placements["traffic"])
        xy = placements[self.placer]
        rate = {s.pe: s.rate for s in sources if s.pe is not None}
        for plan in plans:
            for pe in plan.pes:
                pe.xy, pe.rate = xy[pe.id], rate[pe.id]
        write_plans(graph, plans)
        host = [{"key": s.key, "value": s.value, "neurons": [s.lo, s.hi], "rate": s.rate}
                for s in sources if s.pe is None]
        graph.metadata["yoso.mesh"] = f"{cols}x{rows}"
        graph.metadata["yoso.placer"] = self.placer
        graph.metadata["yoso.host"] = json.dumps({"port": "west of (0,0)", "blocks": host})
        graph.metadata["yoso.expected_hops"] = json.dumps({k: round(v, 3) for k, v in hops.items()})
        graph.metadata["yoso.hops_lower_bound"] = json.dumps(round(hops_lower_bound(sources), 3))
        graph.metadata["yoso.spike_stats"] = self.stats_note or (
            "from sample inputs" if self.spike_rates else "assumed: one spike per neuron per image")
