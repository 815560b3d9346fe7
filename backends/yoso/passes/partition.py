"""Partition every neuron layer onto YOSO PEs (``docs/yoso.md``, "Partition").

A layer of ``n`` neurons with ``m`` weights per neuron gets ``C = max(ceil(n/N), ceil(m*n/W))`` PEs
(N, W from the hardware file) in balanced neuron slices; each PE's neuron range, weight count and
(conv) output channels form the :class:`~snnc.backends.yoso.plan.YosoPlan` it puts into the pipeline's state
(mirrored in the neuron op's ``meta['yoso']['pes']``). Design-rule errors: a fan-in larger than W, more PEs than
the mesh, an accumulated weight that could overflow its word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snnc.backends.yoso.hardware import resolve_hardware
from snnc.backends.yoso.layers import find_network
from snnc.backends.yoso.partition import check_accumulators, plan_network
from snnc.backends.yoso.plan import YosoPlan
from snnc.errors import DesignRuleError
from snnc.ir import Graph
from snnc.passes.base import Pass, PassState
from snnc.passes.registry import register_pass


@register_pass
@dataclass
class Partition(Pass):
    """Assign each layer's neurons and weights to PEs.

    Options:
        hw: hardware file (path or Hardware; None for the shipped yoso-6x7.toml).
    """

    name = "partition"
    summary = "split each neuron layer onto YOSO PEs: C = max(ceil(n/N), ceil(m*n/W))"

    hw: Any = None

    def apply(self, graph: Graph) -> None:
        self.run(graph, PassState())

    def run(self, graph: Graph, state: PassState) -> None:
        hw = resolve_hardware(self.hw)
        network = find_network(graph)
        if not network.layers:
            raise DesignRuleError("the graph has no neuron layer to map onto the mesh", where=f"graph @{graph.name}",
                                  hint="YOSO runs snn.dense/snn.conv2d synapses feeding snn.relpsp or snn.if")
        plans = plan_network(network, hw)
        check_accumulators(network, hw, graph.time_steps)
        plan = YosoPlan(network, hw, plans)
        state.put(plan)
        plan.mirror_layers()
        graph.metadata["yoso.hardware"] = f"{hw.name} sha256:{hw.sha256}"
        graph.metadata["yoso.pes"] = str(sum(len(p.pes) for p in plans))
