"""Route spikes on the mesh: X-Y multicast trees per source (``docs/yoso.md``, "Routing").

For every multicast key (a PE, or a block of the host's input) the pass records its destination PEs
(``dests``; -1 is the host) and the links of its X-Y tree (``links``) in the plan, with the per-router
tables (:func:`snnc.backends.yoso.routing.routing_tables`) and a summary: expected hops and packets per image,
the hops replication at the source would need, and the largest routing table (``YosoPlan.routes``). The
printed mirror: each PE's ``meta['yoso']`` entry, and the host blocks' routes and the summary in the graph
metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from snnc.backends.yoso.hardware import resolve_hardware
from snnc.backends.yoso.partition import check_packets
from snnc.backends.yoso.plan import Routes, require_plan
from snnc.backends.yoso.routing import build_sources, routing_tables, source_links, unicast_links
from snnc.ir import Graph
from snnc.passes.base import Pass, PassState
from snnc.passes.registry import register_pass


@register_pass
@dataclass
class Route(Pass):
    """Compute each source's destinations and X-Y multicast tree.

    Options:
        hw: hardware file (path or Hardware; None for the shipped yoso-6x7.toml).
    """

    name = "route"
    summary = "X-Y multicast routes of every YOSO spike source (replication along the path)"

    hw: Any = None

    def apply(self, graph: Graph) -> None:
        self.run(graph, PassState())

    def run(self, graph: Graph, state: PassState) -> None:
        hw = resolve_hardware(self.hw)
        plan = require_plan(state, "place", by=self.name)
        assert plan.placement is not None
        xy = plan.placement.xy
        sources = build_sources(plan.network, plan.layers, hw.pe.neurons)
        check_packets(plan.network, hw, graph.time_steps, len(sources))
        rate = {pe.id: pe.rate or 0.0 for pe in plan.pes} | {b.key: b.rate for b in plan.host_blocks}
        for s in sources:
            s.rate = rate[s.key]
        links = {s.key: source_links(s, xy) for s in sources}
        by_pe = {s.pe: s for s in sources if s.pe is not None}
        for pe in plan.pes:
            pe.dests, pe.links = by_pe[pe.id].dests, links[pe.id]
        for block, s in zip(plan.host_blocks, [s for s in sources if s.pe is None], strict=True):
            block.dests, block.links = s.dests, links[s.key]
        tables = routing_tables(sources, xy)
        plan.routes = Routes(sources, links, tables, {
            "routing": "xy", "multicast": "replication along the path (X-Y tree)",
            "hops_per_image": round(sum(s.rate * links[s.key] for s in sources), 3),
            "packets_per_image": round(sum(s.rate for s in sources if s.dests), 3),
            "source_replication_hops_per_image": round(sum(s.rate * unicast_links(s, xy) for s in sources), 3),
            "max_table_entries": max((len(t) for t in tables.values()), default=0),
            "routers_used": len(tables)})
        # the printed mirror
        plan.mirror_layers()
        graph.metadata["yoso.host"] = plan.host_meta()
        graph.metadata["yoso.routing"] = json.dumps(plan.routes.summary)
