"""The reference executor: an interpreter of the spiking IR over batched NumPy arrays.

Like torch.fx's ``Interpreter``, it walks the graph's ops in order, keeps an environment of runtime
values by name, dispatches each op through the table :attr:`ReferenceExecutor.kernels` (op name ->
kernel, see :mod:`.kernels`), frees every value after its last use, and re-raises a failing kernel's
error naming the op (``%3 = snn.dense: ...``). Analyses subclass it: override :meth:`run_op` to
observe every value, or replace table entries::

    class MyExecutor(ReferenceExecutor):
        kernels = {**ReferenceExecutor.kernels, "snn.relpsp": my_relpsp}

Large batches are processed in chunks (``batch_size``; by default sized to a memory budget); every
op is per sample, so the chunking never changes a result.

Two modes (``mode``): ``"float"`` runs the SPEC equations in float32 (:data:`.kernels.KERNELS`);
``"integer"`` runs a graph quantized by the ``quantize`` pass with exactly the YOSO chip's integer
arithmetic (docs/yoso.md, :mod:`.integer`, table :attr:`ReferenceExecutor.integer_kernels`). The
default ``"auto"`` picks integer when any op has integer parameters, else float.

Example:
    >>> import numpy as np
    >>> from snnc.ir import Graph, ValueType
    >>> g = Graph("tiny", time_steps=4)
    >>> x = g.add_input("x", ValueType.tensor(2))
    >>> s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    >>> o = g.add_op("snn.relpsp", [g.add_op("snn.dense", [s], {"weight": np.ones((1, 2), np.float32)})],
    ...              {"threshold": 1.0})
    >>> g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="scores")])
    >>> ReferenceExecutor(g).run(np.array([[1.0, 0.0]], np.float32)).outputs["scores"]
    array([[3.]], dtype=float32)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from snnc.backends.reference.fast import FastContext, fusable, with_fast_kernels
from snnc.backends.reference.integer import INTEGER_KERNELS, integer_params, is_quantized, prepare_integer
from snnc.backends.reference.kernels import KERNELS, Kernel, KernelContext, SparseMode, SpikeTrain
from snnc.errors import BackendError, DatasetError, SnncError
from snnc.ir import Graph, Kind, Operation, Refusal, Value

#: How the executor computes: see the module docstring.
Mode = Literal["auto", "float", "integer"]
MODES: tuple[str, ...] = ("auto", "float", "integer")

#: Which float kernels run: ``"numba"`` (the compiled / event-driven twins of :mod:`.fast`, bit-identical) or
#: ``"numpy"`` (the NumPy kernels of :mod:`.kernels`, the specification).
Engine = Literal["numba", "numpy"]
ENGINES: tuple[str, ...] = ("numba", "numpy")


#: BLAS threads of a run unless told otherwise (see :class:`ReferenceExecutor`).
DEFAULT_BLAS_THREADS = 1

#: Default bound on the memory of the largest intermediate values of one chunk, in bytes.
DEFAULT_MEMORY_BUDGET = 512 * 2**20


@dataclass
class Execution:
    """The result of running a graph on a batch.

    Attributes:
        outputs: output name -> array (tensors ``[B, *f]``, currents ``[T, B, *f]``, spike trains as bool).
        spike_counts: spiking value name -> int64 ``[B]`` spikes per sample, for every value where spikes are made
            (spiking graph inputs, encoder and neuron outputs; not again for a flatten or reshape of them).
        spikes: spiking value name -> bool ``[T, B, *f]`` (only when run with ``record=True``).
    """

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)
    spikes: dict[str, np.ndarray] = field(default_factory=dict)


def _batch_axis(value: Value) -> int:
    return 1 if value.type.kind.time_major else 0


class ReferenceExecutor:
    """Runs a verified graph with the NumPy kernels of SPEC section 2.

    Args:
        graph: the graph (verified here).
        sparse: how synapses treat spike trains: ``"auto"`` (scatter weight rows when the train is
            sparse), ``"always"`` or ``"never"`` (always a dense matmul).
        memory_budget: bytes the chunk size is chosen for when ``run`` gets no ``batch_size``.
        mode: ``"auto"`` (integer if any op has integer parameters, else float), ``"float"`` (SPEC
            equations in float32) or ``"integer"`` (a quantized graph with the YOSO chip's arithmetic,
            docs/yoso.md "Integer mode"). The chosen mode is :attr:`mode`.
        engine: float mode's kernels: ``"numba"`` (default; :data:`.fast.FAST_KERNELS` in place of the stock
            NumPy kernels, same results bit for bit, see :mod:`.fast`) or ``"numpy"`` (:attr:`kernels` as they are).
        blas_threads: BLAS threads while :meth:`run` runs (default :data:`DEFAULT_BLAS_THREADS` = 1; None: the
            BLAS library's own setting, e.g. ``OPENBLAS_NUM_THREADS``). Set with threadpoolctl when it is installed,
            else not applied (set ``OPENBLAS_NUM_THREADS=1`` in the environment). Results do not depend on it.
            One thread by default: the executor's matmuls are small per call (a chunk's ``[T*B, n]``), and on a
            busy machine OpenBLAS's second thread made a ``[8, 784] @ [784, 400]`` product 400x slower (48 ms
            instead of 0.12 ms, 2-core dev box under load); parallelism belongs to the caller (batches, dask).

    Raises:
        VerificationError: the graph is invalid.
        BackendError: an op has no kernel in the mode's table, an option is invalid, the graph does not
            fit the mode (float mode and integer parameters, integer mode and no quantized layer), or a
            quantized graph breaks a rule of the integer mode (naming the op).
    """

    #: op name -> kernel ``(ctx, op, *operands) -> value`` of float mode; subclasses override entries.
    kernels: ClassVar[Mapping[str, Kernel]] = KERNELS
    #: the same for integer mode (the float table with the quantized layers' kernels replaced).
    integer_kernels: ClassVar[Mapping[str, Kernel]] = INTEGER_KERNELS

    def __init__(self, graph: Graph, *, sparse: SparseMode = "auto",
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, mode: Mode = "auto", engine: Engine = "numba",
                 blas_threads: int | None = DEFAULT_BLAS_THREADS) -> None:
        if engine not in ENGINES:
            raise BackendError(f"engine must be 'numba' or 'numpy', got {engine!r}", where="ReferenceExecutor")
        if blas_threads is not None and (isinstance(blas_threads, bool) or not isinstance(blas_threads, int)
                                         or blas_threads < 1):
            raise BackendError(f"blas_threads must be a positive int or None, got {blas_threads!r}",
                               where="ReferenceExecutor")
        if sparse not in ("auto", "always", "never"):
            raise BackendError(f"sparse must be 'auto', 'always' or 'never', got {sparse!r}",
                               where="ReferenceExecutor")
        if mode not in MODES:
            raise BackendError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}",
                               where="ReferenceExecutor")
        graph.verify()
        if not graph.inputs:
            raise BackendError("the graph has no inputs", where=f"graph @{graph.name}")
        self.graph = graph
        #: the mode this executor runs in: ``"float"`` or ``"integer"`` (never ``"auto"``)
        self.mode: str = _resolve_mode(graph, mode)
        #: the kernel table of :attr:`mode`
        self.table: Mapping[str, Kernel] = self.integer_kernels if self.mode == "integer" else self.kernels
        #: the float kernels' engine (``"numpy"`` in integer mode, which has its own kernels)
        self.engine: str = engine if self.mode == "float" else "numpy"
        if self.engine == "numba":
            self.table = with_fast_kernels(self.table)
        self.ctx: KernelContext
        if self.mode == "integer":
            self.ctx = prepare_integer(graph, sparse=sparse)
        elif self.engine == "numba":
            # a convolution's current may skip the environment only where no subclass observes values
            observed = type(self).run_op is not ReferenceExecutor.run_op
            self.ctx = FastContext(graph.time_steps, sparse=sparse,
                                   fuse=frozenset() if observed else fusable(graph, self.table))
        else:
            self.ctx = KernelContext(graph.time_steps, sparse=sparse)
        self.blas_threads = blas_threads
        self.memory_budget = memory_budget
        self._auto_batch: tuple[int, int] | None = None  # (memory_budget, auto_batch_size()) of the last run
        self._batch: int | None = None
        # spikes are counted where they are made (graph inputs, encoders, neurons), not again after a reshape
        self._counted = {v.name for v in graph.inputs} | {
            op.result.name for op in graph.ops if op.definition.category in ("encoder", "neuron")}
        #: value name -> runtime value of the chunk being run (values die after their last use)
        self.env: dict[str, Any] = {}
        for op in graph.ops:
            kernel = self.table.get(op.opname)
            if isinstance(kernel, Refusal):
                raise BackendError(f"the reference executor does not run {op.opname} in {self.mode} mode: "
                                   f"{kernel.reason}", where=_where(op))
            if kernel is None:
                raise BackendError(f"the reference executor has no kernel for {op.opname}",
                                   where=_where(op), hint=f"kernels exist for: {', '.join(sorted(self.table))}")
        outputs = {v.name for v in graph.outputs}
        last_use: dict[str, int] = {}
        for index, op in enumerate(graph.ops):
            for v in op.operands:
                last_use[v.name] = index
        #: op index -> names of the values that die after it (never a graph output)
        self._free_after: dict[int, list[str]] = {}
        for name, index in last_use.items():
            if name not in outputs:
                self._free_after.setdefault(index, []).append(name)

    # ------------------------------------------------------------------------------------ running
    def run(self, x: np.ndarray | Mapping[str, np.ndarray], *, record: bool = False,
            batch_size: int | None = None) -> Execution:
        """Run the graph on a batch.

        Args:
            x: the input array (``[B, *features]`` for a tensor input, ``[T, B, *features]`` for a spike
                train or current input), or a mapping input name -> array for graphs with several inputs.
            record: also return every spike train as bool ``[T, B, *f]``.
            batch_size: samples per chunk (None: as many as fit :attr:`memory_budget`).

        Raises:
            DatasetError: an input does not fit the graph (shape, dtype), naming expected and got.
            BackendError: a kernel failed (naming the op), or ``batch_size`` is invalid.
        """
        inputs = self._check_inputs(x)
        with blas_limit(self.blas_threads):
            return self._run(inputs, record, batch_size)

    def _run(self, inputs: dict[str, np.ndarray], record: bool, batch_size: int | None) -> Execution:
        batch = next(iter(inputs.values())).shape[_batch_axis(self.graph.inputs[0])]
        if batch_size is None:
            if self._auto_batch is None or self._auto_batch[0] != self.memory_budget:
                self._auto_batch = (self.memory_budget, self.auto_batch_size())
            batch_size = self._auto_batch[1]
        elif isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise BackendError(f"batch_size must be a positive int, got {batch_size!r}", where="reference executor")
        if batch <= batch_size:
            return self.run_batch(inputs, record=record)
        parts = []
        for start in range(0, batch, batch_size):
            chunk = {v.name: _take(inputs[v.name], _batch_axis(v), start, start + batch_size)
                     for v in self.graph.inputs}
            parts.append(self.run_batch(chunk, record=record))
        return self._concatenate(parts)

    def run_batch(self, inputs: Mapping[str, np.ndarray], *, record: bool = False) -> Execution:
        """Run the graph on one chunk of checked inputs (input name -> array), all at once."""
        result = Execution()
        env: dict[str, Any] = {}
        self.env = env  # visible to subclasses (run_op) while the chunk runs
        first = self.graph.inputs[0]
        self._batch = int(inputs[first.name].shape[_batch_axis(first)]) if first.name in inputs else None
        try:
            for v in self.graph.inputs:
                value = inputs[v.name]
                env[v.name] = SpikeTrain.from_dense(value) if v.type.kind is Kind.SPIKES else value
                self._observe(v, env[v.name], result, record)
            for index, op in enumerate(self.graph.ops):
                value = self.run_op(op, [env[v.name] for v in op.operands])
                env[op.result.name] = value
                self._observe(op.result, value, result, record)
                for name in self._free_after.get(index, ()):
                    del env[name]
            for v in self.graph.outputs:
                value = env[v.name]
                result.outputs[v.name] = value.dense() if isinstance(value, SpikeTrain) else value
        finally:
            self.env = {}
        return result

    def run_op(self, op: Operation, args: list[Any]) -> Any:
        """Evaluate one op on its operand values through :attr:`kernels`; errors name the op.

        Override to observe or replace the evaluation of every op (call ``super().run_op``).
        """
        kernel = self.table[op.opname]
        try:
            return kernel(self.ctx, op, *args)
        except SnncError as err:
            raise BackendError(err.message, where=_where(op), hint=err.hint) from err
        except MemoryError as err:
            steps = self.graph.time_steps if op.result.type.kind.time_major else 1
            per_sample = steps * op.result.type.size * 4
            batch = self._batch or 1
            raise BackendError(
                f"out of memory: the result alone needs about {per_sample / 2**20:.1f} MiB per sample, "
                f"{per_sample * batch / 2**30:.2f} GiB for this chunk of {batch} samples "
                f"(the executor's memory budget is {self.memory_budget / 2**30:.2f} GiB)",
                where=_where(op), hint="run with a smaller batch_size, or on a machine with more memory") from err
        except Exception as err:  # a kernel bug or an unforeseen input: say which op failed
            raise BackendError(f"{type(err).__name__}: {err}", where=_where(op)) from err

    def auto_batch_size(self) -> int:
        """The chunk size for which the largest intermediates of one chunk fit :attr:`memory_budget`."""
        time_steps = self.graph.time_steps
        per_sample = 1
        itemsize = 8 if self.mode == "integer" else 4  # integer mode: float32 sums, then int32 (+ the check)
        for value in self.graph.values():
            steps = time_steps if value.type.kind.time_major else 1
            per_sample = max(per_sample, steps * value.type.size * itemsize)
        for op in self.graph.ops:
            if op.opname == "snn.conv2d" and self.mode == "integer":  # im2col columns of one group
                _, cg, kh, kw = op.attrs["weight"].shape
                ho, wo = op.result.type.features[1:]
                per_sample = max(per_sample, time_steps * ho * wo * cg * kh * kw * itemsize)
        return max(1, self.memory_budget // (3 * per_sample))

    # ------------------------------------------------------------------------------------ helpers
    def _observe(self, value: Value, runtime: Any, result: Execution, record: bool) -> None:
        if isinstance(runtime, SpikeTrain):
            if value.name in self._counted:
                result.spike_counts[value.name] = runtime.counts()
            if record:
                result.spikes[value.name] = runtime.dense()

    def _check_inputs(self, x: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        graph_inputs = self.graph.inputs
        if isinstance(x, Mapping):
            given, expected = set(x), {v.name for v in graph_inputs}
            if given != expected:
                raise DatasetError(f"inputs {sorted(given)} given, the graph takes {sorted(expected)}",
                                   where=f"graph @{self.graph.name}")
            arrays = {v.name: x[v.name] for v in graph_inputs}
        else:
            if len(graph_inputs) != 1:
                raise DatasetError(f"the graph has {len(graph_inputs)} inputs; pass a dict input name -> array",
                                   where=f"graph @{self.graph.name}")
            arrays = {graph_inputs[0].name: x}
        checked: dict[str, np.ndarray] = {}
        batches: set[int] = set()
        for v in graph_inputs:
            checked[v.name] = self._check_input(v, arrays[v.name])
            batches.add(checked[v.name].shape[_batch_axis(v)])
        if len(batches) > 1:
            raise DatasetError(f"the inputs have different batch sizes {sorted(batches)}",
                               where=f"graph @{self.graph.name}")
        return checked

    def _check_input(self, v: Value, x: Any) -> np.ndarray:
        where = f"input %{v.name}"
        try:
            a = np.asarray(x)
        except Exception as err:
            raise DatasetError(f"cannot read the input as an array: {err}", where=where) from err
        expected = v.type.full_shape(self.graph.time_steps, "B")
        shown = "[" + ", ".join(map(str, expected)) + "]"
        batch_axis = _batch_axis(v)
        got = list(a.shape)
        if a.ndim != len(expected) or any(g != e for i, (g, e) in enumerate(zip(got, expected, strict=True))
                                          if i != batch_axis):
            raise DatasetError(f"expected an array of shape {shown} (features {list(v.type.features)}), got {got}",
                               where=where, hint="reshape the data to the model's input features")
        if v.type.kind is Kind.SPIKES:
            if a.dtype.kind not in "biuf":
                raise DatasetError(f"a spike train must be bool or numeric, got dtype {a.dtype}", where=where)
            return a
        if a.dtype.kind != "f":
            raise DatasetError(f"expected float32 values in [0, 1], got dtype {a.dtype}", where=where,
                               hint="scale 8-bit pixels as x = pixels / 255 (float32)")
        return a.astype(self.ctx.dtype, copy=False)

    def _concatenate(self, parts: list[Execution]) -> Execution:
        axes = {v.name: _batch_axis(v) for v in self.graph.values()}
        return Execution(
            outputs={k: np.concatenate([p.outputs[k] for p in parts], axis=axes[k]) for k in parts[0].outputs},
            spike_counts={k: np.concatenate([p.spike_counts[k] for p in parts]) for k in parts[0].spike_counts},
            spikes={k: np.concatenate([p.spikes[k] for p in parts], axis=1) for k in parts[0].spikes},
        )


@contextmanager
def blas_limit(threads: int | None) -> Iterator[None]:
    """Limit the BLAS threads to ``threads`` inside the block (None: leave them; without threadpoolctl
    installed the limit is not applied: set ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` instead).

    The BLAS libraries are found once per process; entering the block then costs a few microseconds (a
    ``threadpoolctl`` limit context inspects every loaded library again: ~70 us, a tenth of a batch-1 run)."""
    if threads is None:
        yield
        return
    changed = []
    for lib in _blas_libraries():
        old = lib.get_num_threads()
        if old is not None and old != threads:
            lib.set_num_threads(threads)
            changed.append((lib, old))
    try:
        yield
    finally:
        for lib, old in changed:
            lib.set_num_threads(old)


@functools.cache
def _blas_libraries() -> tuple[Any, ...]:
    """threadpoolctl's controllers of the loaded BLAS libraries (empty without threadpoolctl)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return ()
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


def _take(a: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    return a[start:stop] if axis == 0 else a[:, start:stop]


def _resolve_mode(graph: Graph, mode: str) -> str:
    """``auto`` -> integer when some op has integer parameters; check that the graph fits the mode."""
    quantized = is_quantized(graph)
    if mode == "auto":
        return "integer" if quantized else "float"
    if mode == "float" and quantized:
        op = next(op for op in graph.ops if integer_params(op))
        key = integer_params(op)[0]
        raise BackendError(f"parameter {key!r} has integer dtype {op.attrs[key].dtype}; float mode runs float "
                           "graphs only", where=_where(op),
                           hint="run it with mode='integer' (or 'auto'), or run the graph before quantization")
    if mode == "integer" and not quantized:
        raise BackendError("integer mode runs quantized graphs, and no op of this graph has integer parameters",
                           where=f"graph @{graph.name}",
                           hint="quantize it first: PassManager(['canonicalize', 'dce', 'quantize'])")
    return mode


def _where(op: Operation) -> str:
    return f"%{op.result.name} = {op.opname}"


__all__ = ["DEFAULT_BLAS_THREADS", "DEFAULT_MEMORY_BUDGET", "ENGINES", "MODES", "Engine", "Execution",
           "Mode", "ReferenceExecutor", "blas_limit"]
