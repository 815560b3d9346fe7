"""The spiking graph IR: SSA values, operations and the graph that holds them.

A :class:`Graph` has named inputs, an ordered list of :class:`Operation` (each defines one
:class:`Value`), named outputs, the simulation length ``time_steps`` and string ``metadata``
(provenance: the ``snn.*`` metadata of the ONNX file, the passes run, ...).

Identity vs. equality: ``Value`` and ``Operation`` compare by identity (they are graph nodes);
:meth:`Graph.structurally_equal` compares two graphs by structure, types, attributes (arrays
element-wise, dtype included) and ``meta``, which is what the text-format round trip promises.

Example:
    >>> from snnc.ir import Graph, ValueType
    >>> import numpy as np
    >>> g = Graph("mlp", time_steps=8)
    >>> x = g.add_input("x", ValueType.tensor(4))
    >>> s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 8, "window": 8})
    >>> i = g.add_op("snn.dense", [s], {"weight": np.ones((2, 4), np.float32)})
    >>> o = g.add_op("snn.relpsp", [i], {"threshold": 1.0})
    >>> y = g.add_op("snn.first_spike_decode", [o], {}, name="scores")
    >>> g.set_outputs([y]); g.verify()
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.errors import VerificationError
from snnc.ir.ops import OPS, OpError, lookup_op
from snnc.ir.types import ValueType

if TYPE_CHECKING:
    import networkx as nx  # imported where used: `snnc --help` and friends never pay for it

#: the longest simulation a graph may ask for (2**16 steps): far above any trained SNN, and it keeps absurd
#: values (10**9 steps, a damaged file) from reaching an allocation or a loop over the steps.
MAX_TIME_STEPS = 1 << 16


@dataclass(eq=False)
class Value:
    """An SSA value: a name (unique in its graph, printed as ``%name``) and a type."""

    name: str
    type: ValueType

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


@dataclass(eq=False)
class Operation:
    """One op application: ``result = opname(operands) {attrs}``.

    ``meta`` holds annotations that passes attach (quantization scale, PE assignment, ...);
    it is printed and compared like the attributes, but no op definition checks it.
    """

    opname: str
    operands: list[Value]
    result: Value
    attrs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def definition(self) -> type:
        """The op's definition class from the registry (raises VerificationError if unknown)."""
        definition = lookup_op(self.opname)
        if definition is None:
            raise VerificationError(
                f"unknown op '{self.opname}'",
                where=f"%{self.result.name} = {self.opname}",
                hint=f"known ops: {', '.join(sorted(OPS))}",
            )
        return definition

    def __repr__(self) -> str:
        args = ", ".join(f"%{v.name}" for v in self.operands)
        return f"%{self.result.name} = {self.opname}({args})"


class Graph:
    """A spiking network as a list of SSA operations in definition order.

    Args:
        name: the graph's name (printed as ``@name``).
        time_steps: T, the simulation length of every spike train in the graph.
        metadata: free-form provenance (string keys and values).
    """

    def __init__(self, name: str = "main", time_steps: int = 1, metadata: dict[str, str] | None = None) -> None:
        self.name = name
        self.time_steps = time_steps
        self.metadata: dict[str, str] = dict(metadata or {})
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.ops: list[Operation] = []
        self._names: set[str] = set()

    # ------------------------------------------------------------------------------- building
    def fresh_name(self, hint: str = "") -> str:
        """A value name not yet used in this graph (``hint`` if free, else numbered)."""
        if hint and hint not in self._names:
            return hint
        i = len(self._names)
        while (name := f"{hint}{i}" if hint else str(i)) in self._names:
            i += 1
        return name

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise VerificationError(f"value name %{name} is defined twice", where=f"graph @{self.name}",
                                    hint="every value needs its own name")
        self._names.add(name)

    def add_input(self, name: str, type: ValueType) -> Value:
        """Declare a graph input."""
        self._claim(name)
        value = Value(name, type)
        self.inputs.append(value)
        return value

    def add_op(self, opname: str, operands: list[Value], attrs: dict[str, Any] | None = None, *,
               name: str | None = None, type: ValueType | None = None,
               meta: dict[str, Any] | None = None) -> Value:
        """Append an op and return its result value.

        The result type is inferred from the op definition unless ``type`` is given (the parser
        gives the printed type; :meth:`verify` then checks it against the inferred one).
        """
        attrs = dict(attrs or {})
        name = self.fresh_name() if name is None else name
        if type is None:
            probe = Operation(opname, operands, Value(name, ValueType.tensor()), attrs)
            type = _infer(probe, self.time_steps)
        self._claim(name)
        result = Value(name, type)
        self.ops.append(Operation(opname, list(operands), result, attrs, dict(meta or {})))
        return result

    def set_outputs(self, outputs: list[Value]) -> None:
        """Declare the graph outputs (values defined in the graph)."""
        self.outputs = list(outputs)

    # ------------------------------------------------------------------------------- queries
    def producer(self, value: Value) -> Operation | None:
        """The op defining ``value`` (None for a graph input)."""
        for op in self.ops:
            if op.result is value:
                return op
        return None

    def users(self, value: Value) -> list[Operation]:
        """The ops that read ``value``, in graph order."""
        return [op for op in self.ops if any(v is value for v in op.operands)]

    def value(self, name: str) -> Value:
        """The value called ``name`` (KeyError if none)."""
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(name)

    def values(self) -> Iterator[Value]:
        """Inputs, then op results, in order."""
        yield from self.inputs
        for op in self.ops:
            yield op.result

    def to_networkx(self) -> nx.DiGraph:
        """A DiGraph with one node per op (its index in ``ops``, with the op as ``op``) and an edge per use."""
        import networkx as nx

        g = nx.DiGraph()
        index = {id(op.result): i for i, op in enumerate(self.ops)}
        for i, op in enumerate(self.ops):
            g.add_node(i, op=op)
        for i, op in enumerate(self.ops):
            for v in op.operands:
                if id(v) in index:
                    g.add_edge(index[id(v)], i)
        return g

    def topological_order(self) -> list[Operation]:
        """The ops in an order where every op follows the ops it reads (stable for a valid graph)."""
        import networkx as nx

        g = self.to_networkx()
        return [g.nodes[n]["op"] for n in nx.lexicographical_topological_sort(g)]

    def copy(self) -> Graph:
        """A deep copy (arrays included): passes transform copies, never the caller's graph."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------------------- checking
    def verify(self) -> None:
        """Check structure, SSA, acyclicity, attributes, operand kinds and result types.

        Raises:
            VerificationError: naming the first offending op or value, with a hint.
        """
        where_graph = f"graph @{self.name}"
        if not isinstance(self.time_steps, int) or self.time_steps < 1:
            raise VerificationError(f"time_steps must be a positive integer, got {self.time_steps!r}",
                                    where=where_graph)
        if self.time_steps > MAX_TIME_STEPS:
            raise VerificationError(f"time_steps = {self.time_steps} is more than snnc supports ({MAX_TIME_STEPS}): "
                                    "every spike train would hold that many steps per sample",
                                    where=where_graph, hint="use fewer time steps")
        cycle = _find_cycle(self)
        if cycle:
            raise VerificationError(f"the graph has a cycle: {' -> '.join('%' + n for n in cycle)}",
                                    where=where_graph, hint="a value cannot depend on itself")
        seen: set[int] = set()
        names: set[str] = set()
        for v in self.inputs:
            if v.name in names:
                raise VerificationError(f"value name %{v.name} is defined twice", where=where_graph)
            names.add(v.name)
            seen.add(id(v))
        for op in self.ops:
            where = f"%{op.result.name} = {op.opname}"
            for v in op.operands:
                if id(v) not in seen:
                    raise VerificationError(f"operand %{v.name} is used before it is defined (or never defined)",
                                            where=where, hint="define every value before its first use")
            if op.result.name in names:
                raise VerificationError(f"value name %{op.result.name} is defined twice", where=where)
            names.add(op.result.name)
            seen.add(id(op.result))
            inferred = _infer(op, self.time_steps, where)
            if inferred != op.result.type:
                raise VerificationError(f"result type {op.result.type} does not match the inferred type {inferred}",
                                        where=where, hint="fix the printed type or the op's attributes")
        if not self.outputs:
            raise VerificationError("the graph has no outputs", where=where_graph,
                                    hint="a graph must return at least one value")
        for v in self.outputs:
            if id(v) not in seen:
                raise VerificationError(f"output %{v.name} is not defined in the graph", where=where_graph)

    # ------------------------------------------------------------------------------- equality
    def structurally_equal(self, other: Graph) -> bool:
        """Same name, T, metadata, inputs, ops (names, types, attributes, meta) and outputs."""
        if (self.name, self.time_steps, self.metadata) != (other.name, other.time_steps, other.metadata):
            return False
        if [(v.name, v.type) for v in self.inputs] != [(v.name, v.type) for v in other.inputs]:
            return False
        if [v.name for v in self.outputs] != [v.name for v in other.outputs]:
            return False
        if len(self.ops) != len(other.ops):
            return False
        for a, b in zip(self.ops, other.ops, strict=True):
            if (a.opname, a.result.name, a.result.type) != (b.opname, b.result.name, b.result.type):
                return False
            if [v.name for v in a.operands] != [v.name for v in b.operands]:
                return False
            if not attrs_equal(a.attrs, b.attrs) or not attrs_equal(a.meta, b.meta):
                return False
        return True

    def __repr__(self) -> str:
        return f"<Graph @{self.name} T={self.time_steps} with {len(self.ops)} ops>"


def attrs_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Attribute dicts equal key by key; arrays by dtype, shape and every element; lists and dicts recursively."""
    return a.keys() == b.keys() and all(_value_equal(a[k], b[k]) for k in a)


def _value_equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.dtype == y.dtype
                and x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")))
    if type(x) is not type(y):
        return False
    if isinstance(x, dict):
        return attrs_equal(x, y)
    if isinstance(x, list | tuple):
        return len(x) == len(y) and all(_value_equal(i, j) for i, j in zip(x, y, strict=True))
    return bool(x == y)


def _infer(op: Operation, time_steps: int, where: str | None = None) -> ValueType:
    """Check operand kinds and attributes, then infer the result type; errors name the op."""
    where = where or f"%{op.result.name} = {op.opname}"
    defn = op.definition
    if len(op.operands) != len(defn.operands):
        raise VerificationError(f"expects {len(defn.operands)} operand(s), got {len(op.operands)}", where=where)
    for i, (v, kinds) in enumerate(zip(op.operands, defn.operands, strict=True)):
        if v.type.kind not in kinds:
            allowed = " or ".join(sorted(k.value for k in kinds))
            raise VerificationError(f"operand {i} (%{v.name}) is {v.type.kind.value}, expected {allowed}", where=where)
    for key in op.attrs:
        if key not in defn.attrs:
            raise VerificationError(f"unknown attribute '{key}'", where=where,
                                    hint=f"{op.opname} takes: {', '.join(defn.attrs) or 'no attributes'}")
    for key, spec in defn.attrs.items():
        if key not in op.attrs:
            if spec.required:
                raise VerificationError(f"missing required attribute '{key}' ({spec.doc})", where=where)
            continue
        problem = spec.problem(op.attrs[key])
        if problem:
            raise VerificationError(f"attribute '{key}' {problem}", where=where)
    operand_types = [v.type for v in op.operands]
    try:
        defn.check(op, operand_types, time_steps)
        return defn.infer(op, operand_types, time_steps)
    except OpError as err:
        raise VerificationError(str(err), where=where) from None


def _find_cycle(graph: Graph) -> list[str]:
    import networkx as nx

    try:
        edges = nx.find_cycle(graph.to_networkx())
    except nx.NetworkXNoCycle:
        return []
    return [graph.ops[u].result.name for u, _ in edges] + [graph.ops[edges[0][0]].result.name]
