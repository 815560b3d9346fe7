"""The compiled form of a graph: a flat list of steps (one per op) that the stepper executes.

:func:`lower` turns a verified :class:`snnc.ir.Graph` into a :class:`Program`, refusing what the
stepper cannot run (convolutions, pooling, spatio-temporal flattening, quantized graphs) with a
:class:`~snnc.errors.BackendError` that names the op. :meth:`Program.save` writes a program as two
files, and :func:`load_program` reads it back::

    DIR/program.json   format tag, graph name, T, the input, every step (op, names, scalar attributes)
    DIR/weights.npz    every array parameter, keyed "<step index>.<attribute>" (float32)

Example:
    >>> program = lower(graph)                          # doctest: +SKIP
    >>> program.save("build/digits-timestep")           # doctest: +SKIP
    >>> load_program("build/digits-timestep").steps[1].op
    'snn.dense'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnc.errors import BackendError
from snnc.ir import Graph, Kind

#: Written into program.json; a reader refuses any other value.
FORMAT = "snnc-timestep/1"

#: The ops the stepper implements, and whether each one makes spikes (counted in RunResult.spike_counts).
SUPPORTED_OPS: dict[str, bool] = {
    "snn.ttfs_encode": True,
    "snn.rate_encode": True,
    "snn.dense": False,
    "snn.flatten": False,
    "snn.reshape": False,
    "snn.relpsp": True,
    "snn.if": True,
    "snn.first_spike_decode": False,
    "snn.last_step_decode": False,
    "snn.spike_count_decode": False,
}

DECODERS = frozenset({"snn.first_spike_decode", "snn.last_step_decode", "snn.spike_count_decode"})


@dataclass
class Step:
    """One op of the program: ``out = op(src)``.

    Attributes:
        op: the IR op name, e.g. ``"snn.dense"``.
        out: the result value's name.
        src: the operand value's name.
        shape: the result's per-sample feature shape.
        attrs: scalar attributes (ints, floats, strings, int lists).
        arrays: array attributes (weight, bias, threshold), float32.
    """

    op: str
    out: str
    src: str
    shape: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def makes_spikes(self) -> bool:
        """Whether this step's output is a spike train made here (an encoder or a neuron)."""
        return SUPPORTED_OPS[self.op]


@dataclass
class Program:
    """A graph lowered for the stepper.

    Attributes:
        name: the graph's name.
        time_steps: ``T``.
        input_name: the graph input's name.
        input_kind: ``"tensor"`` (``x`` is ``[B, *f]``) or ``"spikes"`` (``x`` is ``[T, B, *f]``).
        input_shape: the input's per-sample feature shape.
        steps: the ops in execution order.
        output: the name of the scores (the graph's first output, made by a decoder).
        metadata: the graph's metadata (provenance).
    """

    name: str
    time_steps: int
    input_name: str
    input_kind: str
    input_shape: tuple[int, ...]
    steps: list[Step]
    output: str
    metadata: dict[str, str] = field(default_factory=dict)

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``program.json`` and ``weights.npz`` into the existing directory ``out_dir``; returns the paths."""
        root = Path(out_dir)
        arrays = {f"{i}.{key}": np.asarray(value, np.float32)
                  for i, step in enumerate(self.steps) for key, value in step.arrays.items()}
        manifest = {
            "format": FORMAT,
            "name": self.name,
            "time_steps": self.time_steps,
            "input": {"name": self.input_name, "kind": self.input_kind, "shape": list(self.input_shape)},
            "output": self.output,
            "metadata": self.metadata,
            "steps": [{"op": s.op, "out": s.out, "src": s.src, "shape": list(s.shape), "attrs": s.attrs,
                       "arrays": {key: list(value.shape) for key, value in s.arrays.items()}} for s in self.steps],
        }
        (root / "program.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        np.savez(root / "weights.npz", **arrays)
        return [root / "program.json", root / "weights.npz"]


def lower(graph: Graph) -> Program:
    """Lower a verified graph to a :class:`Program`.

    Raises:
        BackendError: the graph has not exactly one input, its first output is not a decoder's scores,
            or it uses an op, a value kind or an integer (quantized) parameter the stepper does not run.
    """
    where = f"graph @{graph.name}"
    if len(graph.inputs) != 1:
        raise BackendError(f"the timestep backend runs graphs with one input, this one has {len(graph.inputs)}",
                           where=where)
    (inp,) = graph.inputs
    if inp.type.kind is Kind.CURRENT:
        raise BackendError("the graph input is a current; the timestep backend takes a tensor or a spike train",
                           where=where)
    if not graph.outputs or graph.outputs[0].type.kind is not Kind.TENSOR:
        raise BackendError("the first graph output must be the scores, a tensor [B, N]", where=where,
                           hint="end the graph with a decoder")
    steps: list[Step] = []
    for op in graph.topological_order():
        here = f"%{op.result.name} = {op.opname}"
        if op.opname not in SUPPORTED_OPS:
            raise BackendError(f"the timestep backend cannot run {op.opname}", where=here,
                               hint=f"it runs {', '.join(sorted(SUPPORTED_OPS))}; use --backend reference")
        (src,) = op.operands
        if op.opname == "snn.dense" and src.type.kind is Kind.TENSOR:
            raise BackendError("a dense on a tensor (outside the time loop) is not supported", where=here,
                               hint="use --backend reference")
        if op.opname in DECODERS and op.result is not graph.outputs[0]:
            raise BackendError("a decoder must make the graph's first output (the scores)", where=here)
        scalars, arrays = {}, {}
        for key, value in op.attrs.items():
            if isinstance(value, np.ndarray):
                if not np.issubdtype(value.dtype, np.floating):
                    raise BackendError(f"parameter {key} is {value.dtype}: quantized graphs are not supported",
                                       where=here, hint="run quantized graphs with --backend reference")
                arrays[key] = value.astype(np.float32)
            elif isinstance(value, np.generic):
                scalars[key] = value.item()
            else:
                scalars[key] = list(value) if isinstance(value, tuple | list) else value
        steps.append(Step(op.opname, op.result.name, src.name, tuple(op.result.type.features), scalars, arrays))
    if not any(s.out == graph.outputs[0].name and s.op in DECODERS for s in steps):
        raise BackendError(f"the scores %{graph.outputs[0].name} are not made by a decoder", where=where,
                           hint="end the graph with a decoder")
    return Program(graph.name, graph.time_steps, inp.name, inp.type.kind.value, tuple(inp.type.features), steps,
                   graph.outputs[0].name, dict(graph.metadata))


def load_program(path: str | os.PathLike[str]) -> Program:
    """Read a program written by :meth:`Program.save` (or ``snnc compile --target timestep``).

    Raises:
        BackendError: a file is missing, or ``program.json`` is not of :data:`FORMAT`.
    """
    root = Path(path)
    try:
        manifest = json.loads((root / "program.json").read_text(encoding="utf-8"))
        with np.load(root / "weights.npz", allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot read a timestep program: {err}", where=str(root),
                           hint="compile one with: snnc compile MODEL --target timestep -o DIR") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackendError(f"program.json is not a {FORMAT} program", where=str(root))
    steps = [Step(s["op"], s["out"], s["src"], tuple(s["shape"]), s["attrs"],
                  {key: arrays[f"{i}.{key}"] for key in s["arrays"]}) for i, s in enumerate(manifest["steps"])]
    inp = manifest["input"]
    return Program(manifest["name"], manifest["time_steps"], inp["name"], inp["kind"], tuple(inp["shape"]), steps,
                   manifest["output"], manifest.get("metadata", {}))
