"""Route spikes on the mesh: X-Y multicast trees per source (``docs/yoso.md``, "Routing").

For every multicast key (a PE, or a block of the host's input) the pass records its destination PEs
(``dests``; -1 is the host) and the links of its X-Y tree (``links``) in the PE's meta entry, and in
the graph metadata the host blocks' routes and a summary: expected hops and packets per image, the
hops replication at the source would need, and the largest routing table. The per-router tables
themselves are derived from these by :func:`snnc.backends.yoso.routing.routing_tables` when the
deployment is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from snnc.backends.yoso.hardware import resolve_hardware
from snnc.backends.yoso.layers import find_network
from snnc.backends.yoso.partition import all_pes, check_packets, read_plans, write_plans
from snnc.backends.yoso.routing import build_sources, routing_tables, source_links, unicast_links
from snnc.errors import DesignRuleError
from snnc.ir import Graph
from snnc.passes.base import Pass
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
        hw = resolve_hardware(self.hw)
        network = find_network(graph)
        plans = read_plans(graph, network)
        pes = all_pes(plans)
        if any(pe.xy is None for pe in pes) or "yoso.host" not in graph.metadata:
            raise DesignRuleError("the PEs have no mesh positions", where=f"graph @{graph.name}",
                                  hint="run the place pass first")
        xy = {pe.id: pe.xy for pe in pes}
        host = json.loads(graph.metadata["yoso.host"])
        sources = build_sources(network, plans, hw.pe.neurons)
        check_packets(network, hw, graph.time_steps, len(sources))
        rate = {pe.id: pe.rate or 0.0 for pe in pes} | {b["key"]: b["rate"] for b in host["blocks"]}
        for s in sources:
            s.rate = rate[s.key]
        links = {s.key: source_links(s, xy) for s in sources}
        by_pe = {s.pe: s for s in sources if s.pe is not None}
        for plan in plans:
            for pe in plan.pes:
                pe.dests, pe.links = by_pe[pe.id].dests, links[pe.id]
        write_plans(graph, plans)
        for block, s in zip(host["blocks"], [s for s in sources if s.pe is None], strict=True):
            block["dests"], block["links"] = s.dests, links[s.key]
        tables = routing_tables(sources, xy)
        graph.metadata["yoso.host"] = json.dumps(host)
        graph.metadata["yoso.routing"] = json.dumps({
            "routing": "xy", "multicast": "replication along the path (X-Y tree)",
            "hops_per_image": round(sum(s.rate * links[s.key] for s in sources), 3),
            "packets_per_image": round(sum(s.rate for s in sources if s.dests), 3),
            "source_replication_hops_per_image": round(sum(s.rate * unicast_links(s, xy) for s in sources), 3),
            "max_table_entries": max((len(t) for t in tables.values()), default=0),
            "routers_used": len(tables)})
