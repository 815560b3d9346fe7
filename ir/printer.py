"""Print a :class:`~snnc.ir.Graph` in the versioned IR text format (``docs/text-format.md``).

Every op prints in one generic form, so a new op needs no printer change::

    %3 = snn.dense(%2) {weight = dense_resource<"3.weight"> : f32[800,784]} : current<TxBx800xf32>

Arrays of at most :data:`INLINE_LIMIT` elements print inline (``dense<[0.5, 1.0]> : f32[2]``); larger
ones go to the ``resources`` section at the end of the file (base64 of the little-endian bytes), so a
dump is self-contained, or, with ``elide_weights=True``, are replaced by a summary
(``elided<min = -0.5, max = 0.6, mean = 0.001> : f32[800,784]``) for reading.

Example:
    >>> from snnc.ir import Graph, ValueType
    >>> g = Graph("tiny", time_steps=4)
    >>> x = g.add_input("x", ValueType.tensor(3))
    >>> s = g.add_op("snn.rate_encode", [x], {"time_steps": 4, "threshold": 0.5}, name="s")
    >>> y = g.add_op("snn.spike_count_decode", [s], name="y")
    >>> g.set_outputs([y])
    >>> print(print_graph(g), end="")
    snnc.ir 1
    graph @tiny(%x: tensor<Bx3xf32>) time_steps = 4 {
      %s = snn.rate_encode(%x) {time_steps = 4, threshold = 0.5} : spikes<TxBx3>
      %y = snn.spike_count_decode(%s) : tensor<Bx3xf32>
      return %y
    }
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from snnc.errors import VerificationError
from snnc.ir.graph import Graph, Operation
from snnc.ir.ops import lookup_op
from snnc.ir.types import NUMPY_TO_DTYPE

#: the text format version this printer writes (the header line ``snnc.ir 1``).
VERSION = 1
#: arrays with at most this many elements print inline, larger ones as resources (or elided).
INLINE_LIMIT = 16

_BARE_ID = re.compile(r"[A-Za-z0-9_.$\-]+")
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ElidedArray(np.ndarray):
    """A placeholder for an array whose data an elided dump did not contain.

    :func:`snnc.ir.parser.parse_graph` with ``allow_elided=True`` makes these: every element equals
    the printed ``mean`` (cast to the dtype), so the graph verifies, but its results are meaningless.
    ``summary`` keeps the printed numbers, so printing it elided again gives the same text.
    """

    summary: dict[str, float]

    def __array_finalize__(self, obj: Any) -> None:
        self.summary = getattr(obj, "summary", {})


def print_graph(graph: Graph, *, elide_weights: bool = False) -> str:
    """The graph in the IR text format (ends with a newline).

    Args:
        graph: the graph; it need not verify (printing a broken graph helps debugging).
        elide_weights: print large arrays as a shape and summary instead of their data.

    Returns:
        The text; :func:`snnc.ir.parser.parse_graph` reads it back to a structurally equal graph
        (for ``elide_weights=True`` only with ``allow_elided=True``, see ``docs/text-format.md``).

    Raises:
        VerificationError: a value that the format cannot hold (a tuple, a NumPy scalar, an
            unsupported dtype), or an elided placeholder printed without ``elide_weights``.
    """
    return _Printer(elide_weights).graph(graph)


def format_name(sigil: str, name: str) -> str:
    """``%name`` / ``@name``, quoted (``%"a/b"``) when the name has other characters."""
    return sigil + (name if _BARE_ID.fullmatch(name) else _string(name))


class _Printer:
    def __init__(self, elide_weights: bool) -> None:
        self.elide = elide_weights
        self.resources: dict[str, np.ndarray] = {}

    def graph(self, graph: Graph) -> str:
        inputs = ", ".join(f"{format_name('%', v.name)}: {v.type}" for v in graph.inputs)
        head = f"graph {format_name('@', graph.name)}({inputs}) time_steps = {graph.time_steps}"
        bad = [k for k, v in graph.metadata.items() if not isinstance(v, str)]
        if bad:
            raise VerificationError(f"metadata '{bad[0]}' is not a string",
                                    where=f"graph {format_name('@', graph.name)}",
                                    hint="graph metadata maps strings to strings")
        if graph.metadata:
            head += " metadata " + self.dict(graph.metadata, "metadata", "graph metadata")
        lines = [f"snnc.ir {VERSION}", head + " {"]
        lines += ["  " + self.op(op) for op in graph.ops]
        lines.append("  return " + ", ".join(format_name("%", v.name) for v in graph.outputs))
        lines.append("}")
        if self.resources:
            lines += ["", "resources {"]
            for name, array in self.resources.items():
                little = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
                data = base64.b64encode(little.tobytes())
                lines.append(f"  {_string(name)}: {_array_type(array)} = \"{data.decode('ascii')}\"")
            lines.append("}")
        return "\n".join(lines) + "\n"

    def op(self, op: Operation) -> str:
        result = format_name("%", op.result.name)
        text = f"{result} = {op.opname}(" + ", ".join(format_name("%", v.name) for v in op.operands) + ")"
        if op.attrs:
            definition = lookup_op(op.opname)
            known = definition.attrs if definition is not None else {}
            order = [k for k in known if k in op.attrs] + [k for k in op.attrs if k not in known]
            text += " " + self.dict({k: op.attrs[k] for k in order}, op.result.name, result)
        text += f" : {op.result.type}"
        if op.meta:
            text += " meta " + self.dict(op.meta, f"{op.result.name}.meta", result)
        return text

    def dict(self, d: dict[str, Any], path: str, where: str) -> str:
        items = []
        for key, value in d.items():
            if not isinstance(key, str):
                raise VerificationError(f"key {key!r} under '{path}' is not a string", where=where,
                                        hint="the text format holds dicts with string keys only")
            items.append(f"{_key(key)} = {self.value(value, f'{path}.{key}', where)}")
        return "{" + ", ".join(items) + "}"

    def value(self, v: Any, path: str, where: str) -> str:
        # exact types: a subclass (np.float64, a StrEnum) would read back as its base type
        scalar = _SCALARS.get(type(v))
        if scalar:
            return scalar(v)
        if type(v) is list:
            return "[" + ", ".join(self.value(x, f"{path}.{i}", where) for i, x in enumerate(v)) + "]"
        if type(v) is dict:
            return self.dict(v, path, where)
        if isinstance(v, np.ndarray):
            return self.array(v, path, where)
        hint = "convert NumPy scalars with int() or float()" if isinstance(v, np.generic) else \
            "use int, float, str, bool, list, dict or numpy.ndarray (not subclasses)"
        raise VerificationError(f"'{path}' is a {type(v).__name__}, which the text format cannot hold",
                                where=where, hint=hint)

    def array(self, a: np.ndarray, path: str, where: str) -> str:
        if a.dtype.name not in NUMPY_TO_DTYPE:
            raise VerificationError(f"array '{path}' has dtype {a.dtype}, which the text format cannot hold",
                                    where=where, hint=f"use one of {', '.join(sorted(NUMPY_TO_DTYPE))}")
        if isinstance(a, ElidedArray) and not (self.elide and a.size > INLINE_LIMIT):
            raise VerificationError(f"array '{path}' is a placeholder from an elided dump; its data is unknown",
                                    where=where, hint="print with elide_weights=True, or parse a dump "
                                                      "printed without elide_weights")
        kind = _array_type(a)
        if a.size <= INLINE_LIMIT:
            return "dense<[" + ", ".join(_elements(a)) + f"]> : {kind}"
        if self.elide:
            summary = a.summary if isinstance(a, ElidedArray) else _summary(a)
            # `+ 0.0` turns -0.0 into 0.0: "-0" would read back as the integer 0 and print as "0"
            return "elided<" + ", ".join(f"{k} = {format(x + 0.0, '.6g')}" for k, x in summary.items()) + f"> : {kind}"
        name, n = path, 2
        while name in self.resources:
            name, n = f"{path}#{n}", n + 1
        self.resources[name] = a
        return f"dense_resource<{_string(name)}> : {kind}"


def _string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


#: how each scalar type prints (floats by repr, so they read back bit-exactly).
_SCALARS: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "true" if v else "false",
    int: str,
    float: repr,
    str: _string,
}


def _summary(a: np.ndarray) -> dict[str, float]:
    values = a.astype(np.float64)
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())}


def _array_type(a: np.ndarray) -> str:
    return NUMPY_TO_DTYPE[a.dtype.name] + "[" + ",".join(map(str, a.shape)) + "]"


def _elements(a: np.ndarray) -> list[str]:
    """Inline array elements: bools as 0/1, float32 in its shortest exact spelling, else repr."""
    flat = a.reshape(-1)
    if a.dtype == np.bool_:
        return [str(int(x)) for x in flat.tolist()]
    if a.dtype != np.float32:
        return [repr(x) for x in flat.tolist()]
    out = []
    for x in flat:
        text = str(x)  # shortest decimal that reads back as this float32
        if not (np.float32(float(text)) == x or np.isnan(x)):
            text = repr(float(x))  # exact via float64 when double rounding would change it
        out.append(text)
    return out


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)

