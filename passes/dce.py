"""Dead-code elimination: drop ops whose results no output depends on."""

from __future__ import annotations

from dataclasses import dataclass

from snnc.ir import Graph
from snnc.passes.base import Pass
from snnc.passes.registry import register_pass


@register_pass
@dataclass
class DeadCodeElimination(Pass):
    """Remove every op that does not contribute to a graph output."""

    name = "dce"
    summary = "remove ops no output depends on"

    def apply(self, graph: Graph) -> None:
        live = {id(v) for v in graph.outputs}
        kept = []
        for op in reversed(graph.ops):
            if id(op.result) in live:
                kept.append(op)
                live.update(id(v) for v in op.operands)
        graph.ops = kept[::-1]
