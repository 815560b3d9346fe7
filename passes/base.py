"""The pass interface: a pass is a small dataclass whose fields are its options.

A pass has a kebab-case ``name`` and an ``apply(graph)`` that transforms the graph in place.
The :class:`~snnc.passes.manager.PassManager` hands each pass a copy, so the caller's graph
is never modified, verifies the result, and can print the IR after any pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from snnc.ir import Graph


@dataclass
class Pass:
    """Base of every pass. Subclasses set ``name`` and implement ``apply``."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""

    def apply(self, graph: Graph) -> None:
        """Transform ``graph`` in place."""
        raise NotImplementedError
