"""Place the PEs of a partitioned graph onto mesh coordinates (``docs/yoso.md``, "Placement").

Placers: ``row-major`` and ``snake`` (baselines: layers in order) and ``traffic`` (lowers the expected
spike hops per image, from per-neuron spike statistics). Each PE's ``xy`` and expected spikes per image
(``rate``), the host's input blocks, the region, the placer, the spike statistics used, the expected hops of
all three placers and the lower bound no placement beats go into the plan (``YosoPlan.placement``); the printed
mirror is each PE's ``meta['yoso']['pes']`` entry and the graph metadata (``yoso.*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.backends.yoso.hardware import resolve_hardware
from snnc.backends.yoso.placement import PLACERS, baseline, mesh_region, traffic_place
from snnc.backends.yoso.plan import HostBlock, Placement, require_plan
from snnc.backends.yoso.routing import build_sources, expected_hops, hops_lower_bound
from snnc.errors import PassError
from snnc.ir import Graph
from snnc.passes.base import Pass, PassState
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
        self.run(graph, PassState())

    def run(self, graph: Graph, state: PassState) -> None:
        if self.placer not in PLACERS:
            raise PassError(f"place: unknown placer {self.placer!r}", hint=f"placers: {', '.join(PLACERS)}")
        hw = resolve_hardware(self.hw)
        plan = require_plan(state, "partition", by=self.name)
        pes = plan.pes
        ids = [pe.id for pe in pes]
        cols, rows = mesh_region(self.mesh, hw.mesh.cols, hw.mesh.rows, len(pes))
        sources = build_sources(plan.network, plan.layers, hw.pe.neurons, self.spike_rates)
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
        for pe in pes:
            pe.xy, pe.rate = tuple(xy[pe.id]), float(rate[pe.id])
            pe.dests = pe.links = None  # a new placement needs new routes
        plan.routes = None
        plan.host_blocks = [HostBlock(s.key, s.value, s.lo, s.hi, s.rate) for s in sources if s.pe is None]
        plan.placement = Placement(
            region=(cols, rows), placer=self.placer, xy={pe.id: pe.xy for pe in pes},
            expected_hops={k: round(v, 3) for k, v in hops.items()},
            lower_bound=round(hops_lower_bound(sources), 3),
            spike_stats=self.stats_note or (
                "from sample inputs" if self.spike_rates else "assumed: one spike per neuron per image"))
        # the printed mirror
        plan.mirror_layers()
        graph.metadata["yoso.mesh"] = f"{cols}x{rows}"
        graph.metadata["yoso.placer"] = self.placer
        graph.metadata["yoso.host"] = plan.host_meta()
        graph.metadata["yoso.expected_hops"] = json.dumps(plan.placement.expected_hops)
        graph.metadata["yoso.hops_lower_bound"] = json.dumps(plan.placement.lower_bound)
        graph.metadata["yoso.spike_stats"] = plan.placement.spike_stats
