"""Loading and structural checks of an ONNX model before it is lowered.

:func:`load_model` reads a path (or takes a ModelProto) and fails with a FrontendError naming the
file when the bytes are not an ONNX model. :func:`sorted_nodes` finds dangling inputs, values
defined twice and cycles (each named by the ONNX node), and returns the nodes in a topological
order. :func:`check_model` checks opsets and runs ``onnx.checker`` on the sorted model.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import onnx
import onnx.external_data_helper
from google.protobuf.message import DecodeError, Message
from onnx import NodeProto

from snnc.errors import FrontendError

#: the default-domain opsets whose op semantics this frontend implements.
MIN_OPSET = 11
MAX_OPSET = onnx.defs.onnx_opset_version()
#: the ``snn`` domain versions of the specification.
SNN_DOMAIN = "snn"
SNN_VERSIONS = (1,)
STANDARD_DOMAINS = ("", "ai.onnx")


def domain_name(domain: str) -> str:
    """A node's domain as printed in messages (the default domain is ``ai.onnx``)."""
    return domain or "ai.onnx"


def node_where(node: NodeProto, index: int) -> str:
    """How messages name an ONNX node: its name (or index and outputs), op type and domain."""
    label = f"'{node.name}'" if node.name else f"#{index} (outputs {', '.join(node.output) or 'none'})"
    return f"ONNX node {label} (op_type {node.op_type}, domain {domain_name(node.domain)})"


def load_model(model: onnx.ModelProto | str | os.PathLike | bytes) -> tuple[onnx.ModelProto, str]:
    """The ModelProto and a description of where it came from.

    Raises:
        FrontendError: the path cannot be read or does not hold an ONNX model.
    """
    if isinstance(model, onnx.ModelProto):
        return model, f"model '{model.graph.name or '<unnamed>'}'"
    if isinstance(model, bytes):
        source = "<bytes>"
        try:
            proto = onnx.load_model_from_string(model)
        except (DecodeError, ValueError, RuntimeError) as err:
            raise FrontendError(f"not a valid ONNX file: {err}", where=source) from None
    elif isinstance(model, str | os.PathLike):
        source = os.fspath(model)
        if not os.path.exists(source):
            raise FrontendError("not a valid ONNX file: no such file", where=source,
                                hint="check the path")
        if os.path.isdir(source):
            raise FrontendError("not a valid ONNX file: is a directory", where=source)
        from snnc.io import read_input

        data = read_input(source, what="ONNX file", max_bytes=4 << 30, error=FrontendError)  # no FIFO, no device
        try:
            proto = onnx.load_model_from_string(data)
        except (DecodeError, OSError, ValueError, RuntimeError, onnx.checker.ValidationError) as err:
            raise FrontendError(f"not a valid ONNX file: {type(err).__name__}: {err}", where=source,
                                hint=_what_it_is(data)) from None
        _load_external_data(proto, source)
    else:
        raise FrontendError(f"cannot import a {type(model).__name__}: expected an onnx.ModelProto or a path")
    if proto.ir_version == 0 or not proto.HasField("graph"):
        raise FrontendError("not a valid ONNX file: the bytes parse but hold no ONNX model "
                            "(no IR version or no graph)", where=source,
                            hint="the file may be truncated or not an ONNX model; re-export it")
    bad = _non_utf8_string(proto, "model")
    if bad is not None:
        raise FrontendError(f"not a valid ONNX file: the string field {bad} is not UTF-8", where=source,
                            hint="the file may be damaged; re-export it")
    return proto, source


def _what_it_is(data: bytes) -> str:
    """A hint for bytes that are not a binary ONNX model: what they look like, and what to do."""
    head = data[:4096].lstrip()
    if head.startswith((b"{", b"[")):
        return ("this looks like JSON, not a binary ONNX model: convert it with "
                "onnx.save(google.protobuf.json_format.Parse(text, onnx.ModelProto()), 'model.onnx')")
    if head.startswith((b"ir_version", b"producer_name", b"graph", b"opset_import", b"<")):
        if head.startswith(b"<"):
            return "this looks like text-format ONNX (onnx.parser syntax): convert it with onnx.parser.parse_model"
        return ("this looks like text-format protobuf, not a binary ONNX model: convert it with "
                "onnx.save(google.protobuf.text_format.Parse(text, onnx.ModelProto()), 'model.onnx')")
    if head.startswith(b"snnc.ir"):
        return "this is an snnc IR dump: give it to snnc as a model (snnc.load_model reads it), not to import_onnx"
    return "the file may be truncated or not an ONNX model; re-export it"


def _load_external_data(proto: onnx.ModelProto, source: str) -> None:
    """Load the weights a model keeps in external files, each a regular file inside the model's folder."""
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    from snnc.io import check_input, sanitize

    try:
        tensors = [t for t in _get_all_tensors(proto) if uses_external_data(t)]
    except Exception:  # noqa: BLE001 - a malformed model is reported by the importer
        return
    if not tensors:
        return
    base = Path(source).resolve().parent
    for tensor in tensors:
        location = ExternalDataInfo(tensor).location
        path = base / location
        inside = path.resolve()
        if not location or Path(location).is_absolute() or base not in inside.parents or path.is_symlink():
            raise FrontendError(f"initializer '{sanitize(tensor.name)}' keeps its data in "
                                f"{sanitize(location)!r}, outside the model's folder", where=source,
                                hint="external data must be a file beside the model (onnx.save with "
                                     "save_as_external_data and a plain file name)")
        check_input(inside, what="external data file", max_bytes=4 << 30, error=FrontendError)
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, str(base))
    except (OSError, ValueError, RuntimeError) as err:
        raise FrontendError(f"cannot read the model's external data: {type(err).__name__}: {err}",
                            where=source) from None


def _non_utf8_string(message: Message, path: str) -> str | None:
    """The path of the first string field that is not valid UTF-8 (protobuf then hands it out as bytes)."""
    for field, value in message.ListFields():
        if field.type not in (field.TYPE_STRING, field.TYPE_MESSAGE):
            continue  # numbers and raw bytes (weights) need no look
        items = list(value) if field.is_repeated else [value]
        for i, item in enumerate(items):
            where = f"{path}.{field.name}" + (f"[{i}]" if field.is_repeated else "")
            if field.type == field.TYPE_STRING and isinstance(item, bytes):
                return where
            if field.type == field.TYPE_MESSAGE:
                found = _non_utf8_string(item, where)
                if found is not None:
                    return found
    return None


def defined_names(graph: onnx.GraphProto) -> set[str]:
    """Names defined before any node runs: graph inputs and initializers."""
    return {v.name for v in graph.input} | {t.name for t in graph.initializer} | {
        t.values.name for t in graph.sparse_initializer}


def sorted_nodes(graph: onnx.GraphProto) -> list[tuple[int, NodeProto]]:
    """The graph's nodes (with their original index) in a topological order, stable where already sorted.

    Raises:
        FrontendError: a node reads a name nothing defines, a name is defined twice, or the nodes form a cycle.
    """
    nodes = list(graph.node)
    outer = defined_names(graph)
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.output:
            if not name:
                continue
            if name in producer or name in outer:
                raise FrontendError(f"value '{name}' is defined twice", where=node_where(node, i),
                                    hint="every ONNX value needs exactly one producer")
            producer[name] = i
    deps = nx.DiGraph()
    deps.add_nodes_from(range(len(nodes)))
    for i, node in enumerate(nodes):
        for name in node.input:
            if not name or name in outer:
                continue
            if name not in producer:
                close = difflib.get_close_matches(name, [*producer, *outer], n=1)
                hint = f"did you mean '{close[0]}'?" if close else "every input must be a graph input, " \
                    "an initializer or another node's output"
                raise FrontendError(f"input '{name}' is not defined by any node, initializer or graph input",
                                    where=node_where(node, i), hint=hint)
            deps.add_edge(producer[name], i)
    try:
        order = list(nx.lexicographical_topological_sort(deps))
    except nx.NetworkXUnfeasible:
        cycle = [u for u, _ in nx.find_cycle(deps)]
        path = " -> ".join(nodes[i].name or f"#{i} {nodes[i].op_type}" for i in [*cycle, cycle[0]])
        first = cycle[0]
        raise FrontendError(f"the graph has a cycle: {path}", where=node_where(nodes[first], first),
                            hint="ONNX graphs must be acyclic; a value cannot depend on itself") from None
    return [(i, nodes[i]) for i in order]


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import}


def check_model(model: onnx.ModelProto, order: Iterable[tuple[int, NodeProto]], source: str) -> int:
    """Check the opsets and run ``onnx.checker`` on the model with its nodes in ``order``.

    Returns:
        The default-domain opset version.

    Raises:
        FrontendError: an unsupported opset, a missing ``snn`` import, or a checker failure.
    """
    opsets = _opsets(model)
    version = opsets.get("")
    if version is None:
        raise FrontendError("the model does not import the default ONNX domain (ai.onnx)", where=source,
                            hint=f"add an opset_import for domain '' with a version in {MIN_OPSET}..{MAX_OPSET}")
    if not MIN_OPSET <= version <= MAX_OPSET:
        raise FrontendError(f"ONNX opset {version} is not supported (supported: {MIN_OPSET}..{MAX_OPSET})",
                            where=source, hint=f"re-export the model with an opset in {MIN_OPSET}..{MAX_OPSET}")
    uses_snn = any(n.domain == SNN_DOMAIN for n in model.graph.node)
    if uses_snn and SNN_DOMAIN not in opsets:
        raise FrontendError("the model uses ops of domain 'snn' but does not import that domain", where=source,
                            hint="add opset_import(domain='snn', version=1)")
    if SNN_DOMAIN in opsets and opsets[SNN_DOMAIN] not in SNN_VERSIONS:
        raise FrontendError(f"domain 'snn' version {opsets[SNN_DOMAIN]} is not supported "
                            f"(supported: {', '.join(map(str, SNN_VERSIONS))})", where=source)
    order = list(order)
    checked = model
    if [i for i, _ in order] != list(range(len(model.graph.node))):
        checked = onnx.ModelProto()
        checked.CopyFrom(model)
        del checked.graph.node[:]
        checked.graph.node.extend(node for _, node in order)
    try:
        onnx.checker.check_model(checked)
    except onnx.checker.ValidationError as err:
        text = " ".join(str(err).split())
        raise FrontendError(f"the model is not valid ONNX: {text}", where=source,
                            hint="onnx.checker.check_model rejects this model; fix the exporter") from None
    except UnicodeDecodeError as err:  # the checker's message quotes a name that is not UTF-8
        raise FrontendError(f"the model is not valid ONNX: a name or string is not UTF-8 ({err.reason}, byte "
                            f"0x{err.object[err.start]:02x})", where=source,
                            hint="the file may be damaged; re-export it") from None
    except ValueError as err:  # the checker's C++ parser refuses bytes that Python's protobuf read
        raise FrontendError(f"the model is not valid ONNX: onnx.checker cannot read it: {err}", where=source,
                            hint="the file may be damaged; re-export it") from None
    return version
