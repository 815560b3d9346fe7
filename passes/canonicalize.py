"""Canonicalisation: fold shape ops that do nothing and chains of shape ops into one.

* ``snn.flatten``/``snn.reshape`` whose result type equals its operand type are removed.
* A shape op whose operand is produced by another shape op (used nowhere else) reads the
  earlier operand directly; a chain of reshapes becomes one reshape (or one flatten).
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.ir import Graph, Value
from snnc.passes.base import Pass
from snnc.passes.registry import register_pass

#: ops that only reshape (a spike keeps its row-major flat index): the one definition, shared by fold-pool and the
#: YOSO backend.
SHAPE_OPS = frozenset({"snn.flatten", "snn.reshape"})


@register_pass
@dataclass
class Canonicalize(Pass):
    """Remove no-op reshapes and merge chains of flatten/reshape."""

    name = "canonicalize"
    summary = "remove no-op reshapes, merge reshape chains"

    def apply(self, graph: Graph) -> None:
        replace: dict[int, Value] = {}
        kept = []
        for op in graph.ops:
            op.operands = [replace.get(id(v), v) for v in op.operands]
            if op.opname in SHAPE_OPS:
                (src,) = op.operands
                if src.type == op.result.type and op.result not in graph.outputs:
                    replace[id(op.result)] = src
                    continue
                producer = graph.producer(src)
                if producer is not None and producer.opname in SHAPE_OPS and producer.result not in graph.outputs:
                    others = [u for u in graph.users(src) if u is not op]
                    if not others:
                        op.operands = [producer.operands[0]]
            kept.append(op)
        graph.ops = kept
        graph.outputs = [replace.get(id(v), v) for v in graph.outputs]
        # a producer whose only user was rewired is now dead
        from snnc.passes.dce import DeadCodeElimination

        DeadCodeElimination().apply(graph)
