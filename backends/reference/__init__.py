"""The reference backend: runs a spiking graph with the NumPy interpreter of the SPEC equations.

It is the executable specification every other backend is compared with (float32, batched; see
:mod:`snnc.backends.reference.executor` and :mod:`snnc.backends.reference.kernels`).

Example:
    >>> from snnc.backends import get_backend
    >>> backend = get_backend("reference")
    >>> result = backend.run(graph, x)            # doctest: +SKIP
    >>> result.scores.shape, result.predictions   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snnc.backends.base import Backend, RunResult
from snnc.backends.reference.executor import DEFAULT_MEMORY_BUDGET, Execution, ReferenceExecutor
from snnc.backends.reference.kernels import KERNELS, KernelContext, SparseMode, SpikeTrain
from snnc.errors import BackendError
from snnc.ir import Kind

if TYPE_CHECKING:
    from snnc.ir import Graph

__all__ = ["KERNELS", "Execution", "KernelContext", "ReferenceBackend", "ReferenceExecutor", "SpikeTrain"]


class ReferenceBackend(Backend):
    """NumPy interpreter of the SPEC equations (float32, batched, sparse spike paths).

    Args:
        sparse: ``"auto"``, ``"always"`` or ``"never"``: how synapses treat spike trains (results are the
            same on dyadic weights; see :mod:`~snnc.backends.reference.kernels`).
        memory_budget: bytes per chunk when ``run`` is given no ``batch_size``.
    """

    name = "reference"
    description = "NumPy interpreter of the SPEC equations (float32, batched, exploits single-spike sparsity)"

    def __init__(self, *, sparse: SparseMode = "auto", memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        self.sparse = sparse
        self.memory_budget = memory_budget

    def executor(self, graph: Graph) -> ReferenceExecutor:
        """The interpreter for ``graph`` with this backend's options."""
        return ReferenceExecutor(graph, sparse=self.sparse, memory_budget=self.memory_budget)

    def run(self, graph: Graph, x: np.ndarray, *, record: bool = False, batch_size: int | None = None) -> RunResult:
        """Run ``graph`` on ``x``; see :meth:`Backend.run`. The scores are the first graph output."""
        if not graph.outputs or graph.outputs[0].type.kind is not Kind.TENSOR:
            kind = graph.outputs[0].type.kind.value if graph.outputs else "nothing"
            raise BackendError(f"the first graph output must be the scores, a tensor [B, N]; it is {kind}",
                               where=f"graph @{graph.name}", hint="end the graph with a decoder")
        execution = self.executor(graph).run(x, record=record, batch_size=batch_size)
        scores = execution.outputs[graph.outputs[0].name]
        scores = scores.reshape(scores.shape[0], graph.outputs[0].type.size)
        return RunResult(scores, spike_counts=execution.spike_counts,
                         spikes=execution.spikes, outputs=execution.outputs)
