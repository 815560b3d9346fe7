"""The reference backend: runs a spiking graph with the NumPy interpreter of the SPEC equations.

It is the executable specification every other backend is compared with (float32, batched; see
:mod:`snnc.backends.reference.executor` and :mod:`snnc.backends.reference.kernels`). A graph quantized
by the ``quantize`` pass runs in the integer mode, with exactly the YOSO chip's integer arithmetic
(:mod:`snnc.backends.reference.integer`, docs/yoso.md "Integer mode"); ``mode`` picks it explicitly.

Example:
    >>> from snnc.backends import get_backend
    >>> backend = get_backend("reference")
    >>> result = backend.run(graph, x)            # doctest: +SKIP
    >>> result.scores.shape, result.predictions   # doctest: +SKIP
    >>> quantized = PassManager(["canonicalize", "dce", "quantize"]).run(graph).graph   # doctest: +SKIP
    >>> backend.run(quantized, x).scores          # integer mode, chosen from the dtypes  # doctest: +SKIP
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.backends.base import Backend, RunResult
from snnc.backends.reference.executor import (
    DEFAULT_BLAS_THREADS,
    DEFAULT_MEMORY_BUDGET,
    ENGINES,
    MODES,
    Engine,
    Execution,
    Mode,
    ReferenceExecutor,
)
from snnc.backends.reference.fast import FAST_KERNELS
from snnc.backends.reference.integer import (
    INTEGER_KERNELS,
    INTEGER_NEURONS,
    IntegerContext,
    IntegerNeuron,
    decay,
    is_quantized,
    quantize_leak,
    register_kernels,
)
from snnc.backends.reference.kernels import KERNELS, KernelContext, SparseMode, SpikeTrain
from snnc.backends.reference.leak import LeakCost, leak_accuracy_cost, with_quantized_leak
from snnc.errors import BackendError
from snnc.ir import Kind

if TYPE_CHECKING:
    from snnc.ir import Graph

__all__ = ["ENGINES", "FAST_KERNELS", "INTEGER_KERNELS", "INTEGER_NEURONS", "KERNELS", "MODES", "Engine",
           "Execution", "IntegerContext", "IntegerNeuron",
           "KernelContext", "LeakCost", "Mode", "ReferenceBackend", "ReferenceExecutor", "SpikeTrain", "decay",
           "is_quantized", "leak_accuracy_cost", "quantize_leak", "register_kernels", "with_quantized_leak"]


class ReferenceBackend(Backend):
    """NumPy interpreter of the SPEC equations (float32, batched, sparse spike paths).

    Args:
        sparse: ``"auto"``, ``"always"`` or ``"never"``: how synapses treat spike trains (results are the
            same on dyadic weights; see :mod:`~snnc.backends.reference.kernels`).
        memory_budget: bytes per chunk when ``run`` is given no ``batch_size``.
        mode: ``"auto"`` (integer for a graph with integer parameters, i.e. quantized; else float),
            ``"float"`` or ``"integer"``: see :class:`ReferenceExecutor`.
        engine: ``"numba"`` (compiled, event-driven float kernels, bit-identical) or ``"numpy"``.
        blas_threads: BLAS threads during a run (default 1; None: the library's own setting); see
            :class:`ReferenceExecutor`.

    The executor of a graph (verification, kernel table, transposed weights) is built on the first ``run``
    and reused by later runs of the same graph object, as long as its ops, their attribute values, its inputs
    and its outputs are the same objects; the last :data:`CACHED_GRAPHS` graphs are
    kept. A weight array changed in place is not noticed: call :meth:`clear_cache` after such an edit.
    """

    #: how many graphs' executors :meth:`run` keeps
    CACHED_GRAPHS = 8

    name = "reference"
    description = ("NumPy interpreter of the SPEC equations (float32, or YOSO integer arithmetic for quantized graphs; "
                   "batched, exploits single-spike sparsity)")

    def __init__(self, *, sparse: SparseMode = "auto", memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 mode: Mode = "auto", engine: Engine = "numba",
                 blas_threads: int | None = DEFAULT_BLAS_THREADS) -> None:
        if mode not in MODES:
            raise BackendError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}",
                               where="ReferenceBackend")
        if engine not in ENGINES:
            raise BackendError(f"engine must be 'numba' or 'numpy', got {engine!r}", where="ReferenceBackend")
        self.sparse = sparse
        self.memory_budget = memory_budget
        self.mode = mode
        self.engine = engine
        self.blas_threads = blas_threads
        self._executors: OrderedDict[int, tuple[tuple[Any, ...], ReferenceExecutor]] = OrderedDict()

    def executor(self, graph: Graph) -> ReferenceExecutor:
        """A new interpreter for ``graph`` with this backend's options."""
        return ReferenceExecutor(graph, sparse=self.sparse, memory_budget=self.memory_budget, mode=self.mode,
                                 engine=self.engine, blas_threads=self.blas_threads)

    def cached_executor(self, graph: Graph) -> ReferenceExecutor:
        """The interpreter for ``graph``, built once and reused while the graph is unchanged (see the class)."""
        key = id(graph)
        signature = _signature(graph)
        hit = self._executors.get(key)
        if hit is not None and hit[1].graph is graph and hit[0] == signature:
            self._executors.move_to_end(key)
            return hit[1]
        executor = self.executor(graph)
        self._executors[key] = (signature, executor)
        self._executors.move_to_end(key)
        while len(self._executors) > self.CACHED_GRAPHS:
            self._executors.popitem(last=False)
        return executor

    def clear_cache(self) -> None:
        """Forget the cached executors (after editing a graph's weight arrays in place)."""
        self._executors.clear()

    def run(self, graph: Graph, x: np.ndarray, *, record: bool = False, batch_size: int | None = None) -> RunResult:
        """Run ``graph`` on ``x``; see :meth:`Backend.run`. The scores are the first graph output."""
        if not graph.outputs or graph.outputs[0].type.kind is not Kind.TENSOR:
            kind = graph.outputs[0].type.kind.value if graph.outputs else "nothing"
            raise BackendError(f"the first graph output must be the scores, a tensor [B, N]; it is {kind}",
                               where=f"graph @{graph.name}", hint="end the graph with a decoder")
        execution = self.cached_executor(graph).run(x, record=record, batch_size=batch_size)
        scores = execution.outputs[graph.outputs[0].name]
        scores = scores.reshape(scores.shape[0], graph.outputs[0].type.size)
        return RunResult(scores, spike_counts=execution.spike_counts,
                         spikes=execution.spikes, outputs=execution.outputs)


def _signature(graph: Graph) -> tuple[Any, ...]:
    """What an executor depends on, by identity (cheap: a run at batch 1 takes well under a millisecond): the
    time steps, and every op, its result, operands and attribute values, the inputs and the outputs as objects."""
    ops = tuple([(id(op), op.opname, id(op.result), tuple(map(id, op.operands)), tuple(op.attrs),
                  tuple(map(id, op.attrs.values()))) for op in graph.ops])
    return graph.time_steps, tuple(map(id, graph.inputs)), tuple(map(id, graph.outputs)), ops
