"""The state of one ONNX import: what every ONNX value is, the IR graph being built, and typed accessors.

Every ONNX value name maps to one of:

* :class:`Tracked`: an IR value plus the :class:`~snnc.frontend.layout.Layout` the ONNX tensor has;
* a NumPy array: a constant (initializer, Constant node, or a folded all-constant node);
* a :class:`~snnc.frontend.shape_values.ShapeValue`: an int vector holding the symbolic batch.

Lowerings register themselves in :data:`LOWERINGS` with :func:`lowering`, keyed by (domain, op_type).
Accessors raise :class:`~snnc.errors.FrontendError` naming the ONNX node, so a lowering reads like its spec.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import AttributeProto, NodeProto, helper, numpy_helper

from snnc.errors import FrontendError, SnncError, VerificationError
from snnc.frontend.layout import Dim, Layout, LayoutError, full_dims
from snnc.frontend.onnx_load import node_where
from snnc.frontend.shape_values import ShapeValue, as_dims
from snnc.ir import Graph, Value


@dataclass(frozen=True)
class Tracked:
    """An ONNX tensor computed from the model input: an IR value seen in an ONNX layout."""

    value: Value
    layout: Layout

    @property
    def features(self) -> tuple[int, ...]:
        return self.value.type.features


EnvValue = Tracked | np.ndarray | ShapeValue
Lowering = Callable[["Context", NodeProto], None]

#: (domain, op_type) -> lowering; the default domain is "".
LOWERINGS: dict[tuple[str, str], Lowering] = {}


def lowering(domain: str, *op_types: str) -> Callable[[Lowering], Lowering]:
    """Decorator: register a lowering for these op types of ``domain``."""

    def register(fn: Lowering) -> Lowering:
        for op_type in op_types:
            LOWERINGS[(domain, op_type)] = fn
        return fn

    return register


def supported_ops() -> dict[str, list[str]]:
    """The op types the importer lowers, by domain (``ai.onnx`` and ``snn``)."""
    table: dict[str, list[str]] = {}
    for domain, op_type in LOWERINGS:
        table.setdefault(domain or "ai.onnx", []).append(op_type)
    return {domain: sorted(ops) for domain, ops in sorted(table.items())}


def supported_text() -> str:
    """One line listing the supported ops, for hints."""
    ops = supported_ops()
    return (f"supported standard ops: {', '.join(ops.get('ai.onnx', []))} (plus any op on constants only); "
            f"snn ops: {', '.join(ops.get('snn', []))}")


_ATTR_KINDS = {
    "float": AttributeProto.FLOAT,
    "int": AttributeProto.INT,
    "str": AttributeProto.STRING,
    "ints": AttributeProto.INTS,
    "floats": AttributeProto.FLOATS,
    "tensor": AttributeProto.TENSOR,
}
_ATTR_NAMES = {v: k for k, v in _ATTR_KINDS.items()} | {
    AttributeProto.STRINGS: "strings", AttributeProto.GRAPH: "graph", AttributeProto.TENSORS: "tensors"}
_ARTICLE = {"float": "a float", "int": "an int", "str": "a string", "ints": "a list of ints",
            "floats": "a list of floats", "tensor": "a tensor"}
_REQUIRED = object()


def sanitize(name: str) -> str:
    """An IR value name from an ONNX name: runs of characters outside ``[A-Za-z0-9_]`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


class Context:
    """The state of one import (see the module docstring).

    Args:
        graph: the IR graph being built.
        consumers: ONNX value name -> the nodes reading it.
        outputs: the ONNX graph output names.
        opset: the default-domain opset version.
    """

    def __init__(self, graph: Graph, consumers: dict[str, list[NodeProto]], outputs: set[str], opset: int) -> None:
        self.graph = graph
        self.consumers = consumers
        self.outputs = outputs
        self.opset = opset
        self.env: dict[str, EnvValue] = {}
        self.time_steps: int | None = None
        self.time_source = ""
        self.where_of: dict[int, str] = {}
        #: ONNX value name -> uses by nodes not lowered yet (decides whether a bias fold is safe).
        self.remaining: dict[str, int] = {name: len(users) for name, users in consumers.items()}

    # ------------------------------------------------------------------------------- errors
    def where(self, node: NodeProto) -> str:
        return self.where_of.get(id(node)) or node_where(node, -1)

    def error(self, node: NodeProto, message: str, hint: str | None = None,
              cls: type[FrontendError] = FrontendError) -> FrontendError:
        """A FrontendError naming ``node`` (raise it)."""
        return cls(message, where=self.where(node), hint=hint)

    # ------------------------------------------------------------------------------- inputs
    def input_name(self, node: NodeProto, index: int) -> str | None:
        """The name of input ``index``, or None when absent (optional inputs may be empty)."""
        if index < len(node.input) and node.input[index]:
            return node.input[index]
        return None

    def expect_io(self, node: NodeProto, inputs: tuple[int, int], outputs: int = 1) -> None:
        """Check the number of inputs (``[min, max]``) and outputs."""
        lo, hi = inputs
        n = len(node.input)
        if not lo <= n <= hi:
            count = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.error(node, f"{node.op_type} takes {count} input(s), got {n}")
        if len(node.output) != outputs:
            raise self.error(node, f"{node.op_type} has {outputs} output(s), got {len(node.output)}")

    def get(self, node: NodeProto, index: int) -> EnvValue | None:
        """Input ``index`` (None when absent)."""
        name = self.input_name(node, index)
        if name is None:
            return None
        if name not in self.env:
            raise self.error(node, f"input '{name}' has no value: its producer does not define this output")
        return self.env[name]

    def tracked(self, node: NodeProto, index: int = 0, what: str = "input") -> Tracked:
        """Input ``index`` as a value computed from the model input."""
        value = self.get(node, index)
        if isinstance(value, Tracked):
            return value
        kind = "missing" if value is None else "a constant" if isinstance(value, np.ndarray) else "a shape value"
        raise self.error(node, f"{what} '{self.input_name(node, index) or index}' is {kind}, "
                               "expected a tensor computed from the model input",
                         hint="synapse and neuron inputs must be activations, with the weights as the other input")

    def const(self, node: NodeProto, index: int, what: str) -> np.ndarray:
        """Input ``index`` as a constant (initializer, Constant node or folded constant)."""
        value = self.get(node, index)
        if isinstance(value, np.ndarray):
            return value
        name = self.input_name(node, index)
        if value is None:
            raise self.error(node, f"{what} (input {index}) is missing")
        raise self.error(node, f"{what} '{name}' is not a constant: it is computed from the model input",
                         hint="weights, biases and thresholds must be initializers or Constant nodes")

    def param(self, node: NodeProto, index: int, what: str, ndims: tuple[int, ...] | None = None) -> np.ndarray:
        """A float32 parameter (weight, bias, threshold): constant, float32, finite, of the given rank."""
        array = self.const(node, index, what)
        name = self.input_name(node, index)
        if array.dtype != np.float32:
            raise self.error(node, f"{what} '{name}' is {array.dtype}, expected float32",
                             hint="the snnc specification stores weights as float32 initializers")
        if ndims is not None and array.ndim not in ndims:
            want = " or ".join(map(str, ndims))
            raise self.error(node, f"{what} '{name}' has shape {list(array.shape)}, expected {want} dims")
        if not np.all(np.isfinite(array)):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise self.error(node, f"{what} '{name}' contains {bad} NaN or infinite value(s)",
                             hint="the trained weights diverged; retrain or clip them")
        return np.ascontiguousarray(array)

    def int_vector(self, node: NodeProto, index: int, what: str) -> list[int | Dim]:
        """An int64 vector input (constant or symbolic shape) as entries."""
        value = self.get(node, index)
        if isinstance(value, Tracked) or value is None:
            raise self.error(node, f"{what} '{self.input_name(node, index)}' must be a constant or a shape "
                                   "computed with Shape/Gather/Concat", hint="export the shape as a constant")
        try:
            dims, _ = as_dims(value)
        except LayoutError as err:
            raise self.error(node, f"{what}: {err}") from None
        return [d if d.batch else d.coeff for d in dims]

    # ------------------------------------------------------------------------------- attributes
    def attr(self, node: NodeProto, name: str, kind: str, default: Any = _REQUIRED) -> Any:
        """Attribute ``name`` of ``kind`` (a key of the kinds table); ``default`` when absent."""
        for a in node.attribute:
            if a.name != name:
                continue
            if a.type != _ATTR_KINDS[kind]:
                got = _ATTR_NAMES.get(a.type, str(a.type))
                shown = helper.get_attribute_value(a) if a.type in _ATTR_NAMES else "?"
                if isinstance(shown, bytes):
                    shown = shown.decode("utf-8", "replace")
                if len(repr(shown)) > 40:
                    shown = f"{type(shown).__name__}(...)"
                hint = f"write {name}=1.0, not 1" if kind == "float" and got == "int" else None
                raise self.error(node, f"attribute '{name}' must be {_ARTICLE[kind]}, got {got} {shown!r}",
                                 hint=hint or f"see the snnc specification for {node.op_type}'s attributes")
            value = helper.get_attribute_value(a)
            if kind == "str":
                return value.decode("utf-8")
            if kind == "ints":
                return [int(v) for v in value]
            if kind == "floats":
                return [float(v) for v in value]
            if kind == "tensor":
                return numpy_helper.to_array(value)
            if kind == "float":
                return float(np.float32(value))
            return int(value)
        if default is _REQUIRED:
            raise self.error(node, f"required attribute '{name}' is missing")
        return default

    def only_attrs(self, node: NodeProto, allowed: tuple[str, ...]) -> None:
        """Reject attributes outside ``allowed`` (for ``snn`` ops, which onnx.checker cannot check)."""
        for a in node.attribute:
            if a.name not in allowed:
                raise self.error(node, f"unknown attribute '{a.name}'",
                                 hint=f"snn.{node.op_type} takes: {', '.join(allowed) or 'no attributes'}")

    # ------------------------------------------------------------------------------- outputs
    def bind(self, node: NodeProto, value: EnvValue, index: int = 0) -> None:
        """Set output ``index`` of ``node``."""
        self.env[node.output[index]] = value

    def emit(self, node: NodeProto, opname: str, operands: list[Value], attrs: dict[str, Any],
             output: int = 0) -> Value:
        """Append an IR op named after the node's output; IR verification errors name the ONNX node."""
        hint = sanitize(node.output[output]) or sanitize(node.name) or opname.split(".")[-1]
        try:
            return self.graph.add_op(opname, operands, attrs, name=self.graph.fresh_name(hint))
        except VerificationError as err:
            raise self.error(node, f"{opname}: {err.message}", hint=err.hint) from None

    def dims(self, tracked: Tracked) -> list[Dim]:
        """The ONNX shape of a tracked value."""
        return full_dims(tracked.layout, tracked.features, self.time_steps or 1)

    def only_used_here(self, node: NodeProto, value: Value) -> bool:
        """True when ``node`` is the last reader of ``value``: no IR op reads it and no other ONNX node
        (lowered or not) nor the graph output reads any ONNX name bound to it."""
        if self.graph.users(value):
            return False
        for name, bound in self.env.items():
            if isinstance(bound, Tracked) and bound.value is value:
                own = sum(1 for n in node.input if n == name)
                if name in self.outputs or self.remaining.get(name, 0) - own > 0:
                    return False
        return True

    def done(self, node: NodeProto) -> None:
        """Record that ``node`` has been lowered (its inputs have one use fewer left)."""
        for name in node.input:
            if name:
                self.remaining[name] = self.remaining.get(name, 0) - 1


def run_lowering(ctx: Context, node: NodeProto, fn: Lowering) -> None:
    """Run one lowering; any non-snnc exception becomes a FrontendError naming the node."""
    try:
        fn(ctx, node)
    except SnncError:
        raise
    except LayoutError as err:
        raise ctx.error(node, str(err)) from None
    except Exception as err:  # noqa: BLE001 - the user sees the node, not a traceback
        raise ctx.error(node, f"could not import this node: {type(err).__name__}: {err}",
                        hint="this may be a bug in snnc; please report it with the model") from err
