"""Read NIR graphs (the Neuromorphic Intermediate Representation, ``nir`` on PyPI) into the snnc IR.

NIR is how snnTorch, Norse, Sinabs, Rockpool, Lava-dl and SpiNNaker2 exchange spiking networks. It
describes a network in continuous time; snnc computes on a discrete grid of ``T`` steps (SPEC 1).
``docs/nir.md`` states the mapping in full; in short:

=============  =========================================================================================
NIR node       snnc IR
=============  =========================================================================================
Input          the graph input: a spike train ``[T, B, *f]`` (``encoder="spikes"``) or ``x [B, *f]``
               followed by ``snn.rate_encode`` (``encoder="rate"``)
Affine         ``snn.dense`` with bias (``y = W x + b``, ``W`` is ``[n_out, n_in]`` in both)
Linear         ``snn.dense`` without bias
Conv2d         ``snn.conv2d`` (stride, dilation, groups; padding int, pair, ``"valid"``, or ``"same"`` at stride 1;
               an all-zero bias is dropped)
AvgPool2d      ``snn.avgpool2d`` (padded zeros count in the average, as PyTorch)
SumPool2d      ``snn.avgpool2d``; the factor ``kh*kw`` is folded into the next synapse's weights or neuron's
               threshold (only for power-of-two kernel areas, where this is exact in float32)
Flatten        ``snn.flatten`` (all features to one axis) or ``snn.reshape`` (a partial flatten)
IF             ``snn.if`` with ``threshold = v_threshold / (r * dt)`` and the reset the caller chose
LIF            ``snn.lif``: ``beta = 1 - dt/tau``, ``threshold = v_threshold / (dt*r/tau)``, delayed_reset by library
CubaLIF        ``snn.cuba_lif``: ``alpha = 1 - dt/tau_syn`` and the LIF mapping, gain times ``dt*w_in/tau_syn``
LI             ``snn.li``: ``beta = 1 - dt/tau``, the gain folded into the input synapses' weights
merges         ``snn.add`` of currents (a synapse fed by several spike trains: one synapse each, then add)
N -> W -> N    ``recurrent_weight = W`` on the neuron N (snnTorch's RLeaky / RSynaptic); nested graphs expanded
Output         the decoder: ``snn.spike_count_decode`` (default), ``snn.last_step_decode``, or on an LI trace
               ``snn.max_over_time_decode``
=============  =========================================================================================

Libraries: snnTorch, Norse, SpikingJelly, Sinabs and Rockpool each discretise NIR's neurons their own way
(snnTorch's delayed reset, Norse's ``tau = dt/tau_mem_inv``, SpikingJelly's ``r = 1/dt``, Sinabs' and Rockpool's
exponential decays ``exp(-dt/tau)``, Rockpool's ``r = tau*exp(-dt/tau)/dt``); ``library=`` chooses one, and by
default it is detected from the file's parameter patterns (docs/nir.md, "Libraries").

Time grid: one snnc step is ``dt`` of NIR time (default 1). NIR's IF, ``dv/dt = r I``, becomes the
forward-Euler step ``v[t] = v[t-1] + r * dt * I[t]`` (a spike is a 1 in its step), which is snnc's
``V[t] = V[t-1] + I[t]`` with ``V = v / (r dt)``: the factor goes into the threshold. NIR fires on
``v > v_threshold``, snnc on ``V >= theta``: they differ only when a potential lands exactly on the
threshold (a null event in continuous time).

Reset: NIR's IF reset changed meaning between releases (subtract the threshold up to nir 1.0.5; set
``v = v_reset`` from 1.0.6), and the two agree in continuous time but not on a time grid. So the
caller must choose: ``reset="subtract"`` or ``reset="zero"``; there is no default.

Example:
    >>> graph = import_nir("net.nir", reset="subtract", time_steps=16, encoder="rate")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.errors import FrontendError, SnncError, UnsupportedOpError
from snnc.ir import Graph, Kind, Value, ValueType

if TYPE_CHECKING:
    import nir

#: the reset choices of :func:`import_nir` (no default: see the module docstring)
RESETS: tuple[str, ...] = ("subtract", "zero")
#: how the NIR input enters the snnc graph
ENCODERS: tuple[str, ...] = ("spikes", "rate")
#: how the NIR output spike train becomes scores
DECODERS: tuple[str, ...] = ("spike_count", "last_step", "max_over_time")
#: decoder choice -> IR op (max_over_time: LI readouts only)
DECODER_OPS: dict[str, str] = {"spike_count": "snn.spike_count_decode", "last_step": "snn.last_step_decode",
                               "max_over_time": "snn.max_over_time_decode"}
#: SPEC default of the rate encoder's threshold
DEFAULT_ENCODER_THRESHOLD = 0.5
#: prefix of the NIR graph and node metadata keys that ``export_nir`` writes
META = "snnc."
#: provenance keys :func:`import_nir` adds to a graph read from a foreign NIR file
PROVENANCE = "snn.nir."

RESET_EXPLANATION = (
    "NIR's IF reset changed meaning between releases: up to nir 1.0.5 a spike subtracts the threshold, "
    "from 1.0.6 it sets v = v_reset. Both agree in NIR's continuous time, but not on snnc's time grid, "
    "and NIR files have no field saying which one their writer simulated"
)


def import_nir(source: str | os.PathLike[str] | nir.NIRGraph, *, reset: str | None = None,
               time_steps: int | None = None,
               encoder: str | None = None, decoder: str | None = None, encoder_threshold: float | None = None,
               dt: float | None = None, name: str | None = None, library: str | None = None) -> Graph:
    """Read a NIR graph (a ``.nir`` file or a ``nir.NIRGraph``) into a verified snnc graph.

    Options left as None take the value an ``snnc nir export`` recorded in the file (``snnc.*`` graph
    metadata), else the default named below. ``reset`` never has a default.

    Args:
        source: a ``.nir`` (HDF5) file path or a ``nir.NIRGraph``.
        reset: required except for SpikingJelly files, which are hard-reset ('zero'), and Rockpool files,
            which subtract; None otherwise is an error that explains the choice:
            ``"subtract"`` (``V -= theta`` on a spike, NIR <= 1.0.5 and most discrete simulators) or
            ``"zero"`` (``V = 0``, NIR >= 1.0.6 with ``v_reset = 0``).
        time_steps: ``T``, the snnc simulation length (NIR has none); required unless recorded.
        encoder: ``"spikes"`` (default: the graph input is the spike train ``[T, B, *f]`` NIR's Input
            receives) or ``"rate"`` (input ``x [B, *f]`` in [0, 1], then ``snn.rate_encode``).
        decoder: ``"spike_count"`` (default: score = spikes / T) or ``"last_step"`` (score = ``S[T-1]``).
        encoder_threshold: the rate encoder's threshold (default 0.5, SPEC).
        dt: NIR time per snnc step. Default: what the file implies (SpikingJelly's IF ``r = 1/dt``,
            snnTorch's LIF ``r = tau/dt``, Rockpool's ``r = tau*exp(-dt/tau)/dt``), else the detected library's
            export dt (Norse 1e-3, Sinabs 1), else 1.0.
        name: the graph name (default: recorded, else the file stem, else ``nir``).
        library: whose discretisation the file follows: ``"snntorch"``, ``"norse"``, ``"spikingjelly"``,
            ``"sinabs"``, ``"rockpool"`` or ``"nir"`` (forward Euler, reset before decay). Default: detected
            from the file's parameter patterns (docs/nir.md, "Libraries"); a file no pattern identifies, with
            leaky neurons whose ``r = 1``, or one two patterns fit, is refused with a hint that names them.

    Returns:
        A verified :class:`~snnc.ir.Graph`.

    Raises:
        FrontendError: bad options, an unreadable or malformed file, a graph that is not a chain, or
            parameters with no exact discrete equivalent (e.g. ``v_reset != 0``).
        UnsupportedOpError: a node type snnc cannot read (LIF, CubaLIF, ...), naming the node.
    """
    graph_in, where = _load(source)
    recorded = _recorded(graph_in)
    options = _options(reset, time_steps, encoder, decoder, encoder_threshold, dt, recorded, where)
    plan = _plan(graph_in, where)
    importer = _Importer(graph_in, options, recorded, where, plan)
    importer.file_version = _file_version(source)
    graph_name = name or recorded.get("name") or (_stem(source) if not _is_graph(source) else None) or "nir"
    return importer.build(graph_name, library)


# ------------------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class _Options:
    reset: str | None
    time_steps: int
    encoder: str
    decoder: str
    encoder_threshold: float
    dt: float | None


def _options(reset: str | None, time_steps: int | None, encoder: str | None, decoder: str | None,
             encoder_threshold: float | None, dt: float | None, recorded: dict[str, Any], where: str) -> _Options:
    if reset is not None and reset not in RESETS:
        raise _reset_error(reset, recorded, where)
    if time_steps is None:
        time_steps = recorded.get("time_steps")
    if time_steps is None:
        raise FrontendError("NIR graphs have no number of time steps; snnc needs T", where=where,
                            hint="pass time_steps=T (command line: -T STEPS)")
    if isinstance(time_steps, bool) or not isinstance(time_steps, int | np.integer) or time_steps < 1:
        raise FrontendError(f"time_steps must be a positive integer, got {time_steps!r}", where=where)
    encoder = encoder or recorded.get("encoder") or "spikes"
    if encoder not in ENCODERS:
        raise FrontendError(f"encoder must be one of {', '.join(map(repr, ENCODERS))}, got {encoder!r}", where=where,
                            hint="'spikes': feed the NIR input spike train directly; 'rate': encode x in [0, 1]")
    decoder = decoder or recorded.get("decoder") or "spike_count"
    if decoder not in DECODERS:
        raise FrontendError(f"decoder must be one of {', '.join(map(repr, DECODERS))}, got {decoder!r}", where=where)
    if encoder_threshold is None:
        encoder_threshold = recorded.get("encoder_threshold", DEFAULT_ENCODER_THRESHOLD)
    if not isinstance(encoder_threshold, int | float) or not math.isfinite(encoder_threshold) \
            or encoder_threshold <= 0:
        raise FrontendError(f"encoder_threshold must be a finite number > 0, got {encoder_threshold!r}", where=where)
    if dt is None:
        dt = recorded.get("dt")
    if dt is not None and (not isinstance(dt, int | float) or not math.isfinite(dt) or dt <= 0):
        raise FrontendError(f"dt must be a finite number > 0, got {dt!r}", where=where,
                            hint="dt is the NIR time one snnc step stands for (default 1)")
    return _Options(reset, int(time_steps), encoder, decoder, float(encoder_threshold),
                    None if dt is None else float(dt))


def _reset_error(reset: str | None, recorded: dict[str, Any], where: str,
                 library: str | None = None) -> FrontendError:
    got = "no reset was given" if reset is None else f"reset {reset!r} is not a choice"
    note = f"; this file was written by snnc from IF neurons with reset {recorded['reset']!r}" \
        if recorded.get("reset") else ""
    if library == "sinabs":
        note += ("; read as Sinabs': its default is subtract (MembraneSubtract), 'zero' is MembraneReset, and the "
                 "file does not say which")
    return FrontendError(f"{got}: choose reset='subtract' or reset='zero'. {RESET_EXPLANATION}", where=where,
                         hint=f"pass reset='subtract' (nir <= 1.0.5; snnTorch's default, Sinabs) or "
                              f"reset='zero' (nir >= 1.0.6 with v_reset = 0; Norse's default); on the command "
                              f"line --reset subtract|zero{note}")


# ------------------------------------------------------------------------------------------ loading
def _is_graph(source: object) -> bool:
    return type(source).__name__ == "NIRGraph"


def _stem(source: object) -> str | None:
    return Path(source).stem if isinstance(source, str | os.PathLike) else None  # type: ignore[arg-type]


def _load(source: str | os.PathLike[str] | nir.NIRGraph) -> tuple[nir.NIRGraph, str]:
    """The NIR graph and a ``where`` for errors."""
    import nir

    if isinstance(source, nir.NIRGraph):
        return source, "NIR graph"
    if not isinstance(source, str | os.PathLike):
        raise FrontendError(f"expected a .nir file path or a nir.NIRGraph, got {type(source).__name__}",
                            where="import_nir")
    path = Path(source)
    where = str(path)
    if not path.exists():
        raise FrontendError("NIR file not found", where=where, hint="check the path")
    if path.is_dir():
        raise FrontendError("expected a .nir file, got a directory", where=where)
    from snnc.io import check_input

    check_input(path, what="NIR file", max_bytes=4 << 30, error=FrontendError)  # a FIFO or device: refused unread
    with open(path, "rb") as f:
        head = f.read(8)
    if head != b"\x89HDF\r\n\x1a\n":
        raise FrontendError("not a NIR file: NIR files are HDF5, and this file has no HDF5 signature", where=where,
                            hint="write the file with nir.write(path, graph) (snnTorch/Norse/... export_to_nir)")
    _refuse_outside_data(path, where)
    try:
        graph = read_nir_file(path)
    except Exception as err:  # nir and h5py raise KeyError, ValueError, AssertionError, OSError, ...
        detail = f"{type(err).__name__}: {err}".strip().rstrip(":")
        written = _file_version(path)
        newer = ""
        if written and _version_key(written) > _version_key(nir.__version__):
            newer = f"the file was written by nir {written}, and your nir is {nir.__version__}: install " \
                f"nir>={written} (pip install -U nir), or re-export with your nir; "
        elif written and written != nir.__version__:
            newer = f"the file was written by nir {written} and read with nir {nir.__version__}; "
        raise FrontendError(f"cannot read the NIR graph: {detail}", where=where,
                            hint=f"{newer}the file must be written by nir.write (snnc has nir {nir.__version__}); "
                                 f"node types it knows: {', '.join(_nir_types())}") from None
    if not isinstance(graph, nir.NIRGraph):
        raise FrontendError(f"the file holds a single {type(graph).__name__} node, not a NIRGraph", where=where,
                            hint="wrap the node in a graph: nir.NIRGraph.from_list(node)")
    return graph, where


def _refuse_outside_data(path: Path, where: str) -> None:
    """Refuse an HDF5 file that reads data from elsewhere: external links, external or virtual datasets.

    h5py would follow them silently and import another file's weights (or any file the user can read).
    """
    import h5py  # nir's own dependency

    found: list[str] = []

    def visit(group: Any, prefix: str) -> None:
        for name in group:
            link = group.get(name, getlink=True)
            full = f"{prefix}/{name}"
            if isinstance(link, h5py.ExternalLink):
                found.append(f"{full} is an external link to {link.filename}:{link.path}")
            elif isinstance(link, h5py.SoftLink):
                continue  # resolves inside this file; its target is visited where it lives
            else:
                item = group[name]
                if isinstance(item, h5py.Group):
                    visit(item, full)
                elif isinstance(item, h5py.Dataset) and (item.external or item.is_virtual):
                    found.append(f"{full} stores its data in another file")
            if found:
                return

    try:
        with h5py.File(path, "r") as f:
            visit(f, "")
    except Exception:  # noqa: BLE001 - a damaged file is reported by the reader itself, with its detail
        return
    if found:
        from snnc.io import sanitize

        raise FrontendError(f"the NIR file reads data from outside itself: {sanitize(found[0])}", where=where,
                            hint="snnc reads one self-contained file; write it with nir.write")


def read_nir_file(path: Path) -> Any:
    """``nir.read`` without nir's type inference: snnc checks shapes itself.

    nir mistypes grouped convolutions, and nir 1.0.5 and 1.0.6 cannot type 0-d parameters (Sinabs' ``tau``), so
    they refuse files that nir 1.0.4 wrote; their ``NIRGraph`` takes ``type_check`` but their ``nir.read`` does
    not pass it, so snnc reads the file as ``nir.read`` does and passes it to every (nested) graph itself.
    """
    import nir
    if "type_check" in inspect.signature(nir.read).parameters:  # nir >= 1.0.7
        return nir.read(path, type_check=False)
    if "type_check" not in inspect.signature(nir.NIRGraph.__init__).parameters:  # nir 1.0.4: no type inference
        return nir.read(path)
    import h5py  # nir's own dependency
    from nir.serialization import hdf2dict

    def unchecked(node: dict) -> dict:
        if node.get("type") == "NIRGraph":
            node["type_check"] = False
            for child in node.get("nodes", {}).values():
                unchecked(child)
        return node

    with h5py.File(path, "r") as f:
        return nir.dict2NIRNode(unchecked(hdf2dict(f["node"])))


def _version_key(version: str) -> tuple[int, ...]:
    """``"1.0.4"`` -> ``(1, 0, 4)``; a part that is not a number (``"1.0.8rc1"``) counts from its leading digits."""
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in version.split("."))


def _file_version(source: object) -> str | None:
    """The nir version that wrote the file (nir.write records it), None for a graph object or if unreadable."""
    if not isinstance(source, str | os.PathLike):
        return None
    import h5py  # nir's own dependency; nir.read_version is not exported before nir 1.0.5

    try:
        with h5py.File(source, "r") as f:
            value = f["version"][()]
        return value.decode("utf8") if isinstance(value, bytes) else str(value)
    except Exception:  # an old file without the field, or an h5py error: the version is only provenance
        return None


def _nir_types() -> list[str]:
    import nir

    return [n for n in nir.ir.__all__ if n[:1].isupper() and n != "NIRNode"]


def _recorded(graph: nir.NIRGraph) -> dict[str, Any]:
    """What ``snnc nir export`` recorded in the graph metadata (empty for other writers)."""
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if META + "format" not in meta:
        return {}
    out: dict[str, Any] = {}
    try:
        for key, conv in (("name", str), ("time_steps", int), ("encoder", str), ("decoder", str),
                          ("encoder_threshold", float), ("dt", float), ("reset", str), ("encoder_name", str),
                          ("decoder_name", str)):
            if META + key in meta:
                out[key] = conv(_text(meta[META + key]))
        if META + "metadata" in meta:
            data = json.loads(_text(meta[META + "metadata"]))
            if isinstance(data, dict):
                out["metadata"] = {str(k): str(v) for k, v in data.items()}
    except (TypeError, ValueError):
        return {}  # damaged snnc metadata: treat the file as foreign
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return str(value.item())
    return str(value)


# ---------------------------------------------------------------------------------------- structure
def _kind(node: object) -> str:
    return type(node).__name__


#: NIR node types that integrate a current into a neuron (their input must be a current)
NEURONS: tuple[str, ...] = ("IF", "LIF", "CubaLIF", "LI")
#: neurons that may carry a recurrent weight (SPEC: snn.IF, snn.LIF, snn.CubaLIF)
RECURRENT_NEURONS: tuple[str, ...] = ("IF", "LIF", "CubaLIF")


@dataclass
class _Plan:
    """The NIR graph flattened (nested graphs expanded), in topological order, recurrence split off."""

    nodes: dict[str, Any]
    order: list[str]
    pred: dict[str, list[str]]
    succ: dict[str, list[str]]
    input: str
    output: str
    #: neuron name -> (name of the Linear/Affine node on its self-loop, that node)
    recurrent: dict[str, tuple[str, Any]] = field(default_factory=dict)


def _flatten_graph(graph: Any, prefix: str, where: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with every nested NIRGraph expanded: its nodes are named
    ``<sub>.<node>``, and edges into / out of the subgraph connect to what its Input feeds / its Output reads."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    subs: dict[str, tuple[list[str], list[str]]] = {}  # sub name -> (its input's successors, its output's preds)
    for name, node in graph.nodes.items():
        full = prefix + str(name)
        if _kind(node) == "NIRGraph":
            inner_nodes, inner_edges = _flatten_graph(node, full + ".", where)
            ins = [n for n, v in inner_nodes.items() if _kind(v) == "Input" and n.count(".") == full.count(".") + 1]
            outs = [n for n, v in inner_nodes.items() if _kind(v) == "Output" and n.count(".") == full.count(".") + 1]
            if len(ins) != 1 or len(outs) != 1:
                raise FrontendError(f"nested NIRGraph {full!r} has inputs {ins} and outputs {outs}; snnc expands "
                                    f"subgraphs with one Input and one Output", where=f"{where}: node {full!r}")
            after_in = [d for s, d in inner_edges if s == ins[0]]
            before_out = [s for s, d in inner_edges if d == outs[0]]
            subs[full] = (after_in, before_out)
            nodes.update({n: v for n, v in inner_nodes.items() if n not in (ins[0], outs[0])})
            edges += [(s, d) for s, d in inner_edges if s != ins[0] and d != outs[0]]
        else:
            nodes[full] = node
    for edge in graph.edges:
        src, dst = (prefix + _text(e) for e in edge)
        srcs = subs[src][1] if src in subs else [src]
        dsts = subs[dst][0] if dst in subs else [dst]
        edges += [(s, d) for s in srcs for d in dsts]
    return nodes, edges


def _plan(graph: nir.NIRGraph, where: str) -> _Plan:
    """Expand nested graphs, check node types and edges, split off recurrence, order the nodes."""
    nodes, edges = _flatten_graph(graph, "", where)
    for node_name, node in nodes.items():
        if _kind(node) not in CONVERTERS and _kind(node) not in ("Input", "Output"):
            raise UnsupportedOpError(
                f"NIR node {node_name!r} is {_kind(node)}, which snnc cannot import",
                where=f"{where}: node {node_name!r}",
                hint=f"supported NIR nodes: {', '.join(SUPPORTED)}; {UNSUPPORTED_REASONS.get(_kind(node), '')}"
                .rstrip("; "))
    inputs = [n for n, node in nodes.items() if _kind(node) == "Input"]
    outputs = [n for n, node in nodes.items() if _kind(node) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise FrontendError(f"snnc imports graphs with one Input and one Output node; this one has inputs "
                            f"{inputs} and outputs {outputs}", where=where)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in dict.fromkeys(edges):  # a repeated edge is one edge
        for end in (src, dst):
            if end not in nodes:
                raise FrontendError(f"edge ({src!r}, {dst!r}) names node {end!r}, which is not in the graph",
                                    where=where, hint=f"nodes: {', '.join(sorted(nodes))}")
        succ[src].append(dst)
        pred[dst].append(src)
    # recurrence: neuron N -> Linear/Affine W -> N, W read by nothing else: SPEC's recurrent_weight on N
    recurrent: dict[str, tuple[str, Any]] = {}
    for name, node in nodes.items():
        if _kind(node) not in ("Linear", "Affine") or len(pred[name]) != 1 or pred[name] != succ[name]:
            continue
        neuron = pred[name][0]
        if _kind(nodes[neuron]) not in RECURRENT_NEURONS:
            raise FrontendError(f"NIR node {name!r} ({_kind(node)}) feeds {_kind(nodes[neuron])} node {neuron!r} "
                                f"its own output: a recurrent loop through a {_kind(nodes[neuron])}",
                                where=f"{where}: node {name!r}",
                                hint="snnc maps recurrence only as neuron -> Linear/Affine -> the same neuron "
                                     "(IF, LIF, CubaLIF: SPEC recurrent_weight)")
        if neuron in recurrent:
            raise FrontendError(f"neuron {neuron!r} has two recurrent loops ({recurrent[neuron][0]!r}, {name!r})",
                                where=f"{where}: node {neuron!r}", hint="sum them into one Linear/Affine node")
        recurrent[neuron] = (name, node)
    for neuron, (name, _) in recurrent.items():
        del nodes[name], succ[name], pred[name]
        succ[neuron].remove(name)
        pred[neuron].remove(name)
    # topological order (Kahn); what is left over lies on a cycle
    indeg = {n: len(p) for n, p in pred.items()}
    order = [n for n in nodes if indeg[n] == 0]
    for n in order:
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                order.append(d)
    if len(order) != len(nodes):
        cyc = sorted(n for n in nodes if indeg[n] > 0)
        raise FrontendError(f"the graph has a cycle through nodes {cyc} that is not a neuron's recurrent "
                            f"Linear/Affine loop", where=where,
                            hint="snnc maps recurrence as neuron -> Linear/Affine -> the same neuron (SPEC "
                                 "recurrent_weight, one step of delay); other cycles have no snnc equivalent")
    sources = [n for n in order if not pred[n] and n != inputs[0]]
    if sources:
        raise FrontendError(f"nodes {sources} receive no input", where=where,
                            hint="connect every node to the path from Input to Output")
    # nodes that do not reach the Output
    live, stack = {outputs[0]}, [outputs[0]]
    while stack:
        for p in pred[stack.pop()]:
            if p not in live:
                live.add(p)
                stack.append(p)
    unused = sorted(set(nodes) - live)
    if unused:
        raise FrontendError(f"nodes {unused} are not on a path from Input to Output", where=where,
                            hint="remove them, or connect them to the Output")
    if len(order) < 3:
        raise FrontendError("the graph has no layers between its Input and Output", where=where)
    return _Plan(nodes, order, pred, succ, inputs[0], outputs[0], recurrent)


# ---------------------------------------------------------------------------- library discretisation
#: the writers whose discretisation snnc knows (docs/nir.md, "Libraries"); "nir": forward Euler, reset first
LIBRARIES: tuple[str, ...] = ("snntorch", "norse", "spikingjelly", "sinabs", "rockpool", "nir")
#: the time step each library's exporter assumes when the file does not imply one (Sinabs: one step is one
#: time unit; Rockpool's dt is implied by r = tau*exp(-dt/tau)/dt, its default is 1e-3)
LIBRARY_DT: dict[str, float] = {"snntorch": 1e-4, "norse": 1e-3, "spikingjelly": 1e-4, "sinabs": 1.0,
                                "rockpool": 1e-3}
#: libraries whose leaky neurons decay by exp(-dt/tau) (computed in float32, as torch does), not 1 - dt/tau
EXPONENTIAL: tuple[str, ...] = ("sinabs", "rockpool")


class NirImportWarning(UserWarning):
    """Something snnc inferred or dropped while reading a NIR file (also recorded in ``snn.nir.notes``)."""


@dataclass(frozen=True)
class _Disc:
    """How one library discretises NIR's neurons: ``step`` enters ``1 - step/tau`` and ``step*r/tau``;
    ``if_step`` multiplies an IF neuron's ``r``."""

    library: str
    dt: float
    step: float
    if_step: float
    hint: str = ""

    def describe(self) -> str:
        return f"library {self.library}, dt = {self.dt!r}"


def _neuron_params(nodes: dict[str, Any]) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    out = []
    for name, node in nodes.items():
        kind = _kind(node)
        if kind in NEURONS:
            vals = {}
            for key in ("tau", "tau_mem", "tau_syn", "r", "w_in"):
                v = getattr(node, key, None)
                if v is not None:
                    try:
                        vals[key] = np.asarray(v, dtype=np.float64)
                    except (TypeError, ValueError):
                        pass
            out.append((name, kind, vals))
    return out


def _implied_dt(neurons: list[tuple[str, str, dict[str, np.ndarray]]]) -> list[float]:
    """The time steps the file's parameters imply under the exporters' patterns: IF ``r = 1/dt``
    (SpikingJelly), LIF ``r = tau/dt`` (snnTorch, SpikingJelly ``decay_input=False``), CubaLIF
    ``r = tau_mem/dt``, ``w_in = tau_syn/dt`` (snnTorch, SpikingJelly); ``r = 1`` implies nothing."""
    dts: list[float] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for _, kind, p in neurons:
            pairs = []
            if kind == "IF" and "r" in p:
                pairs.append((np.ones_like(p["r"]), p["r"]))
            elif kind in ("LIF", "LI") and "tau" in p and "r" in p:
                pairs.append((p["tau"], p["r"]))
            elif kind == "CubaLIF":
                pairs += [(p[a], p[b]) for a, b in (("tau_mem", "r"), ("tau_syn", "w_in")) if a in p and b in p]
            for num, den in pairs:
                num, den = np.broadcast_arrays(num, den)
                ok = np.isfinite(num) & np.isfinite(den) & (den != 1) & (den > 0)
                # the writers compute these in float32: 7 significant digits give back their dt (1e-4, ...)
                dts += [float(f"{v:.7g}") for v in np.unique((num[ok] / den[ok]).astype(np.float32))]
    return dts


def _close(a: float, b: float, rel: float = 1e-5) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


def _rockpool_dt(neurons: list[tuple[str, str, dict[str, np.ndarray]]]) -> float | None:
    """The one dt for which every leaky neuron follows Rockpool's exporter, ``r = tau*exp(-dt/tau)/dt``
    (CubaLIF: ``tau_mem``, ``w_in = 1``), or None. ``x = dt/tau`` solves ``x*exp(x) = 1/r`` (Lambert W)."""
    if not neurons or any(kind == "IF" for _, kind, _ in neurons):
        return None
    dts: list[float] = []
    for _, kind, p in neurons:
        tau = p.get("tau_mem" if kind == "CubaLIF" else "tau")
        r = p.get("r")
        if tau is None or r is None or np.any(p.get("w_in", 1.0) != 1):
            return None
        tau, r = np.broadcast_arrays(tau, r)
        if tau.size == 0 or not (np.all(np.isfinite(tau)) and np.all(np.isfinite(r))) or np.any(tau <= 0) \
                or np.any(r <= 0) or np.all(r == 1):
            return None
        if kind == "CubaLIF" and (p.get("tau_syn") is None or not np.all(np.isfinite(p["tau_syn"]))
                                  or np.any(p["tau_syn"] <= 0)):
            return None
        dts += list(np.unique(tau * _lambert_w(1.0 / r)))
    lo, hi = min(dts), max(dts)
    if not _close(lo, hi, 1e-5):
        return None
    dt = (lo + hi) / 2
    snapped = float(f"{dt:.6g}")  # the writer's dt (1e-3), recovered from float32 r to ~1e-7
    return snapped if _close(dt, snapped, 1e-5) else dt


def _lambert_w(c: np.ndarray) -> np.ndarray:
    """The principal branch of Lambert W for ``c > 0`` (the ``x >= 0`` with ``x*exp(x) = c``), by Newton."""
    x = np.log1p(c)  # within a factor 2 of the root for every c > 0; Newton then converges monotonically
    for _ in range(100):
        step = (x * np.exp(x) - c) / (np.exp(x) * (1 + x))
        x = x - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(x, 1e-300)):
            break
    return x


def _round(v: float) -> bool:
    """A time step a user would choose: 3 significant digits (1e-3, 1e-4, 5e-4, ...)."""
    return _close(v, float(f"{v:.3g}"), 1e-6)


def _discretisation(library: str | None, dt: float | None, nodes: dict[str, Any], batch_axis: bool,
                    recorded: dict[str, Any], where: str, notes: list[str]) -> _Disc:
    """Which library's discretisation reads this file, and its time step (docs/nir.md, "Libraries")."""
    neurons = _neuron_params(nodes)
    leaky = [n for n in neurons if n[1] != "IF"]
    implied = _implied_dt(neurons)
    unique: list[float] = []
    for v in implied:
        if not any(_close(v, u) for u in unique):
            unique.append(v)
    zero_d = any(np.ndim(v) == 0 for _, _, p in neurons for v in p.values())
    all_r1 = all(np.all(p.get("r", 1.0) == 1) and np.all(p.get("w_in", 1.0) == 1) for _, _, p in neurons)
    rock_dt = _rockpool_dt(leaky) if leaky and len(leaky) == len(neurons) else None
    # Sinabs: LIF / LI (ExpLeak) with r = 1, 0-d tau and threshold, no batch axis, tau in steps (>= 1)
    scalar = all(np.ndim(getattr(nodes[name], key, None)) == 0 for name, kind, _ in leaky
                 for key in ("tau", "v_threshold") if getattr(nodes[name], key, None) is not None)
    taus = [p["tau"] for _, kind, p in leaky if kind in ("LIF", "LI") and "tau" in p]
    sinabs_shape = bool(leaky) and all_r1 and not batch_axis and scalar \
        and all(kind in ("LIF", "LI") for _, kind, _ in leaky) and len(taus) == len(leaky) \
        and all(np.all(np.isfinite(t)) for t in taus)
    if library is None:
        if recorded:
            library = "nir"
        elif sinabs_shape and all(np.all(t >= 1) for t in taus):
            library = "sinabs"
            notes.append("r = 1 with scalar tau >= 1 and no batch axis on the Input: read as Sinabs' exporter "
                         "writes (tau = tau_mem in steps, V = exp(-1/tau)*V + I, dt = 1; pass library= to "
                         "override)")
        elif sinabs_shape and any(np.any(t >= 1) for t in taus):
            raise FrontendError(
                "the leaky neurons have r = 1 and scalar parameters, and some tau are >= 1 and some < 1: the file "
                "could be Sinabs' (tau = tau_mem in steps, V = exp(-1/tau)*V + I) or Norse's (tau = "
                "dt/tau_mem_inv, dt = 1e-3), which read tau a million-fold apart", where=where,
                hint="pass library='sinabs' or library='norse' (with dt=, its export dt); command line: "
                     "--library sinabs|norse")
        elif leaky and all(k in ("LIF", "CubaLIF") for _, k, _ in neurons) and len(unique) == 1 \
                and _close(unique[0], LIBRARY_DT["snntorch"]) and _snntorch_pattern(neurons):
            library = "snntorch"
            notes.append("the LIF/CubaLIF parameters follow snnTorch's exporter (r = tau/dt, dt = 1e-4): read as "
                         "snnTorch's discretisation (pass library= to override)")
        elif leaky and all_r1 and (batch_axis or zero_d):
            library = "norse"
            notes.append("r = 1 everywhere with " + ("a batch axis on the Input" if batch_axis else
                                                     "scalar parameters") +
                         ": read as Norse's exporter writes (tau = dt/tau_mem_inv, dt = 1e-3; pass library= to "
                         "override)")
        elif leaky and all_r1:
            raise FrontendError(
                "the leaky neurons have r = 1 and nothing in the file says which library wrote it, and the "
                "libraries read tau differently: Norse writes tau = dt/tau_mem_inv (dt = 1e-3), SpikingJelly "
                "(decay_input=True) tau = tau*dt (dt = 1e-4 by default)", where=where,
                hint="pass library='norse' or library='spikingjelly' (with dt=, its export dt), library='sinabs' "
                     "(tau in steps, decay exp(-1/tau)) or library='nir' (forward Euler at dt); command line: "
                     "--library ...")
        elif not leaky and dt is not None:
            library = "nir"  # IF neurons at the dt the caller chose (snnc's generic forward-Euler reading)
            if len(unique) == 1 and not _close(dt, unique[0]):
                notes.append(f"every IF neuron has r = {1 / unique[0]!r}, SpikingJelly's r = 1/dt pattern "
                             f"(dt = {unique[0]!r}); using dt = {dt!r} as asked")
        elif rock_dt is not None and (not unique or len(unique) > 1 or (_round(rock_dt) and not _round(unique[0]))):
            library = "rockpool"
            notes.append(f"every leaky neuron has r = tau*exp(-dt/tau)/dt with dt = {rock_dt!r}: read as Rockpool's "
                         f"exporter writes (decay exp(-dt/tau), subtract reset; pass library= to override)")
        elif rock_dt is not None and _round(rock_dt) and _round(unique[0]):
            raise FrontendError(
                f"the neurons' parameters follow two writers' patterns: SpikingJelly's r = tau/dt (dt = "
                f"{unique[0]!r}) and Rockpool's r = tau*exp(-dt/tau)/dt (dt = {rock_dt!r})", where=where,
                hint="pass library='spikingjelly' or library='rockpool'; command line: --library "
                     "spikingjelly|rockpool")
        elif len(unique) > 1:
            raise FrontendError(f"the neurons' parameters imply different time steps {sorted(unique)} (r = 1/dt "
                                f"for IF, r = tau/dt for LIF; nor do they follow Rockpool's r = tau*exp(-dt/tau)/dt "
                                f"for one dt): not one writer's pattern", where=where,
                                hint="pass dt= and library='nir' to read them with forward Euler at that dt, or "
                                     "library='rockpool' if Rockpool wrote the file (every leaky neuron's r must "
                                     "imply one dt)")
        elif unique:
            library = "spikingjelly"
            notes.append(f"the parameters follow SpikingJelly's exporter (r = 1/dt for IF, r = tau/dt or 1 for "
                         f"LIF), dt = {unique[0]!r}: read as SpikingJelly's discretisation (pass library= to "
                         f"override)")
        else:
            library = "nir"
    if library not in LIBRARIES:
        raise FrontendError(f"library must be one of {', '.join(map(repr, LIBRARIES))}, got {library!r}",
                            where=where)
    if library == "norse":
        step_dt = dt if dt is not None else LIBRARY_DT["norse"]
        if dt is None:
            notes.append(f"Norse's dt is not in the file: using its default dt = {step_dt!r} (pass dt= otherwise)")
        return _Disc("norse", step_dt, step_dt * step_dt, 1.0,
                     "Norse writes tau = dt/tau_mem_inv, so dt must be the dt of norse's to_nir")
    if library == "rockpool":
        if rock_dt is None:
            if dt is None:
                raise FrontendError(
                    "library 'rockpool': the leaky neurons do not follow Rockpool's exporter, r = tau*exp(-dt/tau)/dt "
                    "for one dt (CubaLIF: tau_mem, w_in = 1; no IF nodes), so the file does not say its dt",
                    where=where, hint="pass dt= (Rockpool's default is 1e-3), or another library=")
            rock_dt = dt
        elif dt is not None and not _close(dt, rock_dt):
            notes.append(f"dt = {dt!r} contradicts the file, whose parameters imply Rockpool's dt = {rock_dt!r}; "
                         f"using dt = {dt!r} as asked")
            rock_dt = dt
        return _Disc("rockpool", float(rock_dt), float(rock_dt), float(rock_dt),
                     "Rockpool writes r = tau*exp(-dt/tau)/dt; its neurons decay by exp(-dt/tau)")
    if library == "sinabs":
        step_dt = float(dt) if dt is not None else 1.0
        return _Disc("sinabs", step_dt, step_dt, step_dt,
                     "Sinabs' tau is in steps (dt = 1); its LIF decays by exp(-dt/tau)")
    if library == "nir" and recorded:
        return _Disc("nir", dt if dt is not None else recorded.get("dt", 1.0),
                     *(2 * [dt if dt is not None else recorded.get("dt", 1.0)]))
    if dt is None:
        if unique:
            dt = unique[0]
        elif library in LIBRARY_DT and leaky:
            dt = LIBRARY_DT[library]
            notes.append(f"no parameter implies dt: using {library}'s default export dt = {dt!r}")
        else:
            dt = 1.0
    elif unique and library in ("snntorch", "spikingjelly") and not _close(dt, unique[0]):
        notes.append(f"dt = {dt!r} contradicts the file, whose parameters imply dt = {unique[0]!r} "
                     f"({library}'s r = tau/dt pattern); using dt = {dt!r} as asked")
    return _Disc(library, float(dt), float(dt), float(dt))


def _snntorch_pattern(neurons: list[tuple[str, str, dict[str, np.ndarray]]]) -> bool:
    """snnTorch writes LIF with r = tau/1e-4 (tau = r = inf for beta = 1), CubaLIF also w_in = tau_syn/1e-4."""
    with np.errstate(invalid="ignore", divide="ignore"):
        for _, kind, p in neurons:
            pairs = [("tau", "r")] if kind == "LIF" else [("tau_mem", "r"), ("tau_syn", "w_in")]
            for a, b in pairs:
                if a not in p or b not in p:
                    return False
                num, den = np.broadcast_arrays(p[a], p[b])
                inf = np.isinf(num) & np.isinf(den)
                ok = inf | (np.abs(num / den - 1e-4) <= 1e-9)
                if not np.all(ok):
                    return False
    return True


# ----------------------------------------------------------------------------------------- building
@dataclass
class _Flow:
    """An IR value carrying a NIR signal: the NIR signal is ``scale * value`` (SumPool2d and Scale set ``scale``;
    an array only for a per-neuron Scale on a spike train, which only an Affine / Linear may read)."""

    value: Value
    scale: float | np.ndarray = 1.0


@dataclass
class _Importer:
    nir_graph: Any
    options: _Options
    recorded: dict[str, Any]
    where: str
    plan: _Plan
    disc: _Disc = field(init=False)
    notes: list[str] = field(default_factory=list)
    graph: Graph = field(init=False)
    resets_seen: set[str] = field(default_factory=set)
    skip_bias: bool = False
    file_version: str | None = None

    def build(self, graph_name: str, library: str | None) -> Graph:
        opts, plan = self.options, self.plan
        self.graph = Graph(graph_name, time_steps=opts.time_steps)
        features, dropped = self._input_features()
        self.disc = _discretisation(library, opts.dt, plan.nodes, bool(dropped), self.recorded, self.where,
                                    self.notes)
        if opts.reset is None and self.disc.library == "rockpool":  # LIFTorch always subtracts
            self.options = opts = dataclasses.replace(opts, reset="subtract")
            self.notes.append("no reset was given: Rockpool's LIFTorch / LIFNeuronTorch subtract the threshold, so "
                              "reset 'subtract'")
        if opts.reset is None:  # SpikingJelly's exporter writes hard resets only: the file says 'zero'
            if self.disc.library != "spikingjelly":
                raise _reset_error(None, self.recorded, self.where, self.disc.library)
            self.options = opts = dataclasses.replace(opts, reset="zero")
            self.notes.append("no reset was given: SpikingJelly exports hard resets only (v_reset), so reset "
                              "'zero'")
        if self.disc.library == "rockpool" and opts.reset == "zero":
            self.notes.append("reset 'zero' contradicts the file: Rockpool's neurons subtract the threshold; using "
                              "'zero' as asked")
        if self.disc.library == "spikingjelly" and opts.reset == "subtract":
            self.notes.append("reset 'subtract' contradicts the file: SpikingJelly exports hard resets only (its "
                              "exporter refuses v_reset=None), i.e. reset 'zero'; using 'subtract' as asked")
        if dropped:
            self.notes.append(f"the Input {plan.input!r} is typed {[*dropped, *features]}: its leading axis "
                              f"{list(dropped)} is the batch (or time) axis of the writer's sample input, which "
                              f"snnc drops (features {list(features)})")
        if opts.encoder == "spikes":
            flow = _Flow(self.graph.add_input(self._name(plan.input), ValueType.spikes(*features)))
        else:
            x = self.graph.add_input(self._name(plan.input), ValueType.tensor(*features))
            attrs = {"time_steps": opts.time_steps, "threshold": opts.encoder_threshold}
            flow = _Flow(self.graph.add_op("snn.rate_encode", [x], attrs,
                                           name=self._name(self.recorded.get("encoder_name", "encoder"))))
        flows: dict[str, _Flow] = {plan.input: flow}
        for node_name in plan.order:
            if node_name == plan.input:
                continue
            node = plan.nodes[node_name]
            ins = [flows[p] for p in plan.pred[node_name]]
            if node_name == plan.output:
                if len(ins) != 1:
                    raise FrontendError(f"the Output {node_name!r} receives {len(ins)} nodes "
                                        f"{plan.pred[node_name]}; snnc decodes one spike train or trace",
                                        where=self._where(node_name), hint="end the graph with one neuron layer")
                flow = ins[0]
                continue
            try:
                flows[node_name] = self._convert(node_name, node, ins)
            except SnncError as err:
                if isinstance(err, FrontendError):
                    raise
                got = ", ".join(str(f.value.type) for f in ins)
                raise FrontendError(f"NIR node {node_name!r} ({_kind(node)}) does not fit its input {got}: "
                                    f"{err.message}", where=self._where(node_name), hint=err.hint) from None
        out_name = plan.output
        kind = flow.value.type.kind
        if np.any(np.asarray(flow.scale) != 1.0):
            raise FrontendError(f"the Output {out_name!r} receives a scaled signal (factor {flow.scale!r})",
                                where=self._where(out_name), hint="end the NIR graph with neurons")
        if kind not in (Kind.SPIKES, Kind.POTENTIAL):
            raise FrontendError(f"the Output {out_name!r} receives a {kind.value}, not spikes or an LI potential",
                                where=self._where(out_name),
                                hint="end the NIR graph with neurons (IF, LIF, CubaLIF) or an LI readout")
        if kind is Kind.SPIKES and opts.decoder == "max_over_time":
            raise FrontendError("decoder 'max_over_time' reads an LI potential trace; this graph ends in spikes",
                                where=self._where(out_name), hint="use decoder 'spike_count' or 'last_step'")
        decoder_name = self._name(self.recorded.get("decoder_name", "scores"))
        scores = self.graph.add_op(DECODER_OPS[opts.decoder], [flow.value], name=decoder_name)
        self.graph.set_outputs([scores])
        self.graph.metadata = self._metadata()
        for note in self.notes:
            warnings.warn(f"{self.where}: {note}", NirImportWarning, stacklevel=3)
        self.graph.verify()
        return self.graph

    def _convert(self, node_name: str, node: Any, ins: list[_Flow]) -> _Flow:
        kind = _kind(node)
        convert = CONVERTERS[kind]
        scaled = [p for p, f in zip(self.plan.pred[node_name], ins, strict=True) if isinstance(f.scale, np.ndarray)]
        if scaled and kind not in ("Affine", "Linear", "Scale"):
            raise FrontendError(f"{kind} node receives the per-neuron Scale {scaled[0]!r}; snnc folds per-neuron "
                                f"factors only into the columns of a following Affine or Linear (exact on spikes)",
                                where=self._where(node_name),
                                hint="fold the factors into the neighbouring synapse's weights")
        if len(ins) == 1:
            return convert(self, node_name, node, ins[0])
        where = self._where(node_name)
        preds = self.plan.pred[node_name]
        if kind in NEURONS:  # NIR sums the inputs of a node: currents of several synapses -> snn.add
            bad = [p for p, f in zip(preds, ins, strict=True) if f.value.type.kind is not Kind.CURRENT]
            if bad:
                raise FrontendError(f"{kind} node receives spikes directly from {bad} (among {preds}); snnc's "
                                    f"neurons integrate synaptic currents", where=where,
                                    hint="put an Affine, Linear or Conv2d node on every edge into the neuron")
            return convert(self, node_name, node, self._add(node_name, ins))
        if kind in ("Affine", "Linear", "Conv1d", "Conv2d", "AvgPool2d", "SumPool2d"):
            # a synapse of a sum of spike trains is the sum of the synapse of each (bias once)
            parts = []
            for i, f in enumerate(ins):
                self.skip_bias = i > 0
                try:
                    parts.append(convert(self, node_name, node, f))
                finally:
                    self.skip_bias = False
            return self._add(node_name, parts)
        raise FrontendError(f"{kind} node sums {len(ins)} inputs {preds}; snnc sums currents before a neuron or "
                            f"a synapse only", where=where,
                            hint="merge the branches at a synapse or a neuron (skip connections: add currents)")

    def _add(self, node_name: str, flows: list[_Flow]) -> _Flow:
        scales = {f.scale for f in flows}
        if len(scales) != 1:
            raise FrontendError("the merged currents carry different SumPool2d factors", where=self._where(node_name),
                                hint="merge after the next synapse")
        value = flows[0].value
        for f in flows[1:]:
            if f.value.type.features != value.type.features:
                raise FrontendError(f"NIR node {node_name!r} sums inputs of different shapes "
                                    f"{list(value.type.features)} and {list(f.value.type.features)}",
                                    where=self._where(node_name))
            value = self.graph.add_op("snn.add", [value, f.value], name=self._name(node_name + "_sum"))
        return _Flow(value, flows[0].scale)

    def _input_features(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The Input's features, and the leading axes of size 1 dropped from its type (a batch / time axis
        of the writer's sample input, e.g. Norse's and snnTorch's exports from a batched sample)."""
        plan = self.plan
        input_node = plan.nodes[plan.input]
        itype = input_node.input_type if isinstance(getattr(input_node, "input_type", None), dict) else {}
        shape = itype.get("input", next(iter(itype.values()), None)) if itype else None
        features = self._shape(shape, plan.input, "Input shape")
        want = [self._expects(s) for s in plan.succ[plan.input]]
        dropped: list[int] = []
        while len(features) > 1 and features[0] == 1 and want and all(
                w is not None and len(features) > w for w in want):
            dropped.append(features[0])
            features = features[1:]
        return features, tuple(dropped)

    def _expects(self, node_name: str) -> int | None:
        """How many feature axes a node reads (None: any)."""
        node = self.plan.nodes[node_name]
        kind = _kind(node)
        if kind in ("Affine", "Linear"):
            return 1
        if kind in ("Conv2d", "AvgPool2d", "SumPool2d"):
            return 3
        if kind == "Conv1d":
            return 2
        declared = getattr(node, "input_type", None)
        if isinstance(declared, dict) and declared:
            shape = np.asarray(next(iter(declared.values())))
            if shape.ndim == 1 and shape.size:
                return int(shape.size)
        return None

    # ------------------------------------------------------------------------------ helpers
    def _where(self, node_name: str) -> str:
        return f"{self.where}: node {node_name!r}"

    def _name(self, hint: str) -> str:
        clean = re.sub(r"[^A-Za-z0-9_.$\-]", "_", str(hint)) or "v"
        return self.graph.fresh_name(clean)

    def _shape(self, shape: object, node_name: str, what: str) -> tuple[int, ...]:
        if shape is None:
            raise FrontendError(f"{what} is unknown", where=self._where(node_name),
                                hint="give the NIR Input node its shape (nir.Input(input_type=...))")
        arr = np.atleast_1d(np.asarray(shape))
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
            raise FrontendError(f"{what} must be positive integers, got {arr.tolist()}", where=self._where(node_name))
        return tuple(int(d) for d in arr)

    def _metadata(self) -> dict[str, str]:
        opts, rec = self.options, self.recorded
        same = bool(rec) and all(rec.get(k) == getattr(opts, k) for k in ("time_steps", "encoder", "decoder")) \
            and rec.get("dt", 1.0) == self.disc.dt and not self.notes \
            and (opts.encoder != "rate" or rec.get("encoder_threshold") == opts.encoder_threshold) \
            and self.resets_seen <= {opts.reset}
        base = dict(rec.get("metadata", {}))
        if same:
            return base  # an unchanged snnc -> NIR -> snnc round trip gives back the graph it started from
        import nir

        base.update({
            PROVENANCE + "version": str(nir.__version__),
            PROVENANCE + "reset": opts.reset,
            PROVENANCE + "library": self.disc.library,
            PROVENANCE + "dt": repr(self.disc.dt),
            PROVENANCE + "encoder": opts.encoder if opts.encoder == "spikes"
            else f"rate (threshold {opts.encoder_threshold!r})",
            PROVENANCE + "decoder": opts.decoder,
        })
        if self.file_version:
            base[PROVENANCE + "file_version"] = self.file_version
        if self.notes:
            base[PROVENANCE + "notes"] = " | ".join(self.notes)
        return base

    def param(self, node_name: str, node: object, key: str) -> np.ndarray:
        value = getattr(node, key, None)
        if value is None:
            raise FrontendError(f"{_kind(node)} node has no {key}", where=self._where(node_name))
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise FrontendError(f"{key} is not numeric: {value!r}", where=self._where(node_name)) from None
        if not np.all(np.isfinite(arr)):
            raise FrontendError(f"{key} contains NaN or infinite values", where=self._where(node_name))
        return arr

    def ints(self, node_name: str, node: object, key: str, n: int = 2) -> list[int]:
        value = getattr(node, key, None)
        arr = np.atleast_1d(np.asarray(value))
        if arr.size == 1:
            arr = np.repeat(arr, n)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise FrontendError(f"{key} must be an integer or {n} integers, got {value!r}",
                                where=self._where(node_name))
        return [int(v) for v in arr]


def _f32(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=np.float32)


# --------------------------------------------------------------------------------------- converters
Converter = Callable[[_Importer, str, Any, _Flow], _Flow]


def _affine(imp: _Importer, node_name: str, node: Any, x: _Flow, *, with_bias: bool = True) -> _Flow:
    """Affine ``y = W x + b`` / Linear ``y = W x`` -> ``snn.dense`` (same ``[n_out, n_in]`` layout)."""
    w = imp.param(node_name, node, "weight")
    if w.ndim != 2:
        raise FrontendError(f"{_kind(node)} weight must be 2-D [n_out, n_in], got shape {list(w.shape)}",
                            where=imp._where(node_name))
    if len(x.value.type.features) != 1:
        raise FrontendError(f"{_kind(node)} receives features {list(x.value.type.features)}; snnc's dense acts on "
                            f"one feature axis", where=imp._where(node_name),
                            hint="put a Flatten node before it")
    attrs: dict[str, Any] = {"weight": _f32(w * x.scale)}
    if with_bias and not imp.skip_bias:
        b = np.atleast_1d(imp.param(node_name, node, "bias"))
        if b.size == 1 and w.shape[0] != 1:
            b = np.repeat(b, w.shape[0])
        attrs["bias"] = _f32(b)
    return _Flow(imp.graph.add_op("snn.dense", [x.value], attrs, name=imp._name(node_name)))


def _linear(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    return _affine(imp, node_name, node, x, with_bias=False)


def _conv2d(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """Conv2d (PyTorch semantics, as NIR) -> ``snn.conv2d`` with explicit pads."""
    where = imp._where(node_name)
    w = imp.param(node_name, node, "weight")
    if w.ndim != 4:
        raise FrontendError(f"Conv2d weight must be 4-D [C_out, C_in/groups, kh, kw], got {list(w.shape)}",
                            where=where)
    feats = x.value.type.features
    if len(feats) != 3:
        raise FrontendError(f"Conv2d receives features {list(feats)}, expected [C, H, W]", where=where)
    input_shape = getattr(node, "input_shape", None)
    if input_shape is not None and tuple(int(v) for v in np.atleast_1d(input_shape)) != feats[1:]:
        raise FrontendError(f"Conv2d input_shape {list(np.atleast_1d(input_shape))} differs from its input's "
                            f"spatial size {list(feats[1:])}", where=where)
    strides = imp.ints(node_name, node, "stride")
    dilations = imp.ints(node_name, node, "dilation")
    groups = int(np.asarray(node.groups).item())
    padding = node.padding
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0, 0, 0, 0]
        elif padding == "same":
            if strides != [1, 1]:
                raise FrontendError(f"Conv2d padding 'same' with stride {strides} is not defined (PyTorch allows it "
                                    f"at stride 1 only)", where=where)
            total = [d * (k - 1) for d, k in zip(dilations, w.shape[2:], strict=True)]
            begin = [t // 2 for t in total]  # PyTorch: the odd extra pixel goes to the bottom/right
            pads = [begin[0], begin[1], total[0] - begin[0], total[1] - begin[1]]
        else:
            raise FrontendError(f"Conv2d padding {padding!r} is not 'same', 'valid' or integers", where=where)
    else:
        ph, pw = imp.ints(node_name, node, "padding")
        pads = [ph, pw, ph, pw]
    attrs: dict[str, Any] = {"weight": _f32(w * x.scale), "strides": strides, "pads": pads,
                             "dilations": dilations, "group": groups}
    bias = getattr(node, "bias", None)
    if bias is not None and not imp.skip_bias:
        b = np.atleast_1d(imp.param(node_name, node, "bias"))
        if b.size == 1 and w.shape[0] != 1:
            b = np.repeat(b, w.shape[0])
        if np.any(b != 0):  # NIR's Conv2d always has a bias; zeros are no bias
            attrs["bias"] = _f32(b)
    return _Flow(imp.graph.add_op("snn.conv2d", [x.value], attrs, name=imp._name(node_name)))


def _conv1d(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """Conv1d on ``[C, L]`` -> ``snn.reshape`` to ``[C, 1, L]``, ``snn.conv2d`` with a ``1 x k`` kernel, and
    ``snn.reshape`` back to ``[C_out, L_out]`` (exact: the same sums)."""
    from types import SimpleNamespace

    where = imp._where(node_name)
    w = imp.param(node_name, node, "weight")
    feats = x.value.type.features
    if w.ndim != 3 or len(feats) != 2:
        raise FrontendError(f"Conv1d needs a 3-D weight [C_out, C_in/groups, k] and features [C, L]; got weight "
                            f"{list(w.shape)} and features {list(feats)}", where=where)
    padding = node.padding.decode() if isinstance(node.padding, bytes) else node.padding
    if not isinstance(padding, str):
        padding = (0, int(np.asarray(padding).reshape(-1)[0]))
    one = lambda key: (1, int(np.asarray(getattr(node, key)).reshape(-1)[0]))  # noqa: E731
    shim = SimpleNamespace(weight=w[:, :, None, :], stride=one("stride"), dilation=one("dilation"),
                           groups=node.groups, padding=padding, bias=getattr(node, "bias", None), input_shape=None)
    flat = imp.graph.add_op("snn.reshape", [x.value], {"shape": [feats[0], 1, feats[1]]},
                            name=imp._name(node_name + "_2d"))
    y = _conv2d(imp, node_name + "_2d", shim, _Flow(flat, x.scale))
    out = y.value.type.features
    value = imp.graph.add_op("snn.reshape", [y.value], {"shape": [out[0], out[2]]}, name=imp._name(node_name))
    return _Flow(value, y.scale)


def _pool(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """AvgPool2d -> ``snn.avgpool2d`` (count_include_pad = 1); SumPool2d -> the same, ``scale *= kh*kw``."""
    kernel = imp.ints(node_name, node, "kernel_size")
    stride = imp.ints(node_name, node, "stride") if getattr(node, "stride", None) is not None else list(kernel)
    ph, pw = imp.ints(node_name, node, "padding") if getattr(node, "padding", None) is not None else (0, 0)
    scale = x.scale
    if _kind(node) == "SumPool2d":
        area = kernel[0] * kernel[1]
        if area & (area - 1):
            raise FrontendError(f"SumPool2d kernel {kernel} sums {area} values; snnc computes it as an average "
                                f"times {area}, which is exact in float32 only for power-of-two kernel areas",
                                where=imp._where(node_name),
                                hint="use a 2x2 (or 1x2, 4x4, ...) sum pool, or an AvgPool2d")
        scale *= area
    # padded zeros count, as in PyTorch (NIR's reference); without padding both ONNX readings agree and
    # snnc takes ONNX's default 0, unless snnc's export recorded the original
    meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
    include = 1 if (ph or pw) else 0
    if not (ph or pw) and _text(meta.get(META + "count_include_pad", "")) in ("0", "1"):
        include = int(_text(meta[META + "count_include_pad"]))
    attrs = {"kernel": kernel, "strides": stride, "pads": [ph, pw, ph, pw], "count_include_pad": include}
    return _Flow(imp.graph.add_op("snn.avgpool2d", [x.value], attrs, name=imp._name(node_name)), scale)


def _scale(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """Scale ``y = s * x``. One factor ``s > 0``: carried to the next synapse's weights or the next neuron's
    threshold (as a SumPool2d's factor). Per-neuron factors on a spike train: carried into the columns of the
    following Affine / Linear, ``W[:, j] * s[j]`` (exact: each product ``w * s * 1`` is the same float);
    anything else after them is refused."""
    s = imp.param(node_name, node, "scale")
    flat = s.reshape(-1)
    feats = x.value.type.features
    if flat.size > 1 and np.any(flat != flat[0]) and len(feats) == 1 and x.value.type.kind is Kind.SPIKES \
            and isinstance(x.scale, float) and x.scale == 1.0 and np.all(np.isfinite(flat)):
        try:
            return _Flow(x.value, np.broadcast_to(flat.astype(np.float64), feats).copy())
        except ValueError:
            raise FrontendError(f"Scale has {flat.size} factors for {feats[0]} neurons", where=imp._where(node_name)) \
                from None
    if flat.size == 0 or np.any(flat != flat[0]) or flat[0] <= 0:
        raise FrontendError(f"Scale has factors {flat[:4].tolist()}{'...' if flat.size > 4 else ''}; snnc carries "
                            f"one positive factor into the next synapse's weights or neuron's threshold "
                            f"(per-neuron factors only on a spike train, into the columns of the next Affine / Linear)",
                            where=imp._where(node_name),
                            hint="fold per-neuron or negative factors into the neighbouring synapse's weights")
    return _Flow(x.value, x.scale * float(flat[0]))


def _flatten(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """Flatten (dims counted without the batch axis, as NIR) -> ``snn.flatten`` or ``snn.reshape``."""
    feats = x.value.type.features
    nd = len(feats)
    start, end = (int(np.asarray(getattr(node, k)).item()) for k in ("start_dim", "end_dim"))
    start, end = start + nd if start < 0 else start, end + nd if end < 0 else end
    if not 0 <= start <= end < nd:
        raise FrontendError(f"Flatten start_dim/end_dim {node.start_dim}/{node.end_dim} do not fit features "
                            f"{list(feats)} (dims count without the batch axis)", where=imp._where(node_name))
    shape = [*feats[:start], math.prod(feats[start:end + 1]), *feats[end + 1:]]
    if len(shape) == 1:
        value = imp.graph.add_op("snn.flatten", [x.value], name=imp._name(node_name))
    elif tuple(shape) == feats:
        return x
    else:
        value = imp.graph.add_op("snn.reshape", [x.value], {"shape": shape}, name=imp._name(node_name))
    return _Flow(value, x.scale)


# ------------------------------------------------------------------------------------------ neurons
def _params(imp: _Importer, node_name: str, node: Any, keys: tuple[str, ...], feats: tuple[int, ...],
            defaults: dict[str, float]) -> dict[str, np.ndarray]:
    """The neuron parameters broadcast to the neurons (0-d and per-neuron arrays alike)."""
    out = {}
    for key in keys:
        if getattr(node, key, None) is None and key in defaults:
            arr = np.full(1, defaults[key])
        else:
            arr = np.asarray(getattr(node, key, None), dtype=np.float64) if getattr(node, key, None) is not None \
                else None
            if arr is None:
                raise FrontendError(f"{_kind(node)} node has no {key}", where=imp._where(node_name))
            if np.any(np.isnan(arr)):
                raise FrontendError(f"{_kind(node)} {key} contains NaN", where=imp._where(node_name))
        try:
            out[key] = np.broadcast_to(arr, feats)
        except ValueError:
            raise FrontendError(f"{_kind(node)} {key} has shape {list(arr.shape)}, the neurons are {list(feats)}",
                                where=imp._where(node_name)) from None
    return out


def _rate(imp: _Importer, tau: np.ndarray) -> np.ndarray:
    """The fraction of a time constant one step covers: ``dt/tau`` (forward Euler); Norse, whose exporter
    writes ``tau = dt/tau_mem_inv``, steps by ``dt*tau_mem_inv`` computed as Norse does, in float32."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if imp.disc.library == "norse":
            inv = np.float32(imp.disc.dt) / tau.astype(np.float32)
            return np.where(np.isinf(tau), 0.0, (np.float32(imp.disc.dt) * inv.astype(np.float32))
                            .astype(np.float32).astype(np.float64))
        return np.where(np.isinf(tau), 0.0, imp.disc.step / tau)


def _exp_decay(dt: float, tau: np.ndarray) -> np.ndarray:
    """``torch.exp(-dt / tau)`` on a float32 ``tau``, as Sinabs and Rockpool compute their decays: torch divides
    a Python number by a tensor as ``reciprocal(tau) * -dt`` (float32), and its float32 ``exp`` is not always
    correctly rounded, so torch's own ``exp`` is used where torch is installed (else exp in float64, rounded)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = (np.float32(1.0) / tau.astype(np.float32)) * np.float32(-dt)
        try:
            import torch
        except ImportError:
            return np.exp(q.astype(np.float64)).astype(np.float32).astype(np.float64)
        return torch.exp(torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32))).numpy().astype(np.float64)


def _decay(imp: _Importer, node_name: str, node: Any, tau: np.ndarray, what: str) -> np.ndarray:
    """``1 - dt/tau`` (see :func:`_rate`), checked to lie in [0, 1]; ``exp(-dt/tau)`` for Sinabs and Rockpool."""
    if imp.disc.library in EXPONENTIAL:
        if np.any(tau <= 0) or np.any(np.isnan(tau)):
            raise FrontendError(f"{_kind(node)} {what} must be > 0 everywhere", where=imp._where(node_name))
        return _exp_decay(imp.disc.dt, tau)
    ratio = _rate(imp, tau)
    if np.any(tau <= 0) or np.any(ratio > 1):
        bad = float(tau[(tau <= 0) | (ratio > 1)][0])
        raise FrontendError(f"{_kind(node)} {what} = {bad!r} is below the time step ({imp.disc.describe()}): the "
                            f"decay 1 - dt/{what} would be negative, so no discrete neuron matches it",
                            where=imp._where(node_name),
                            hint=f"check dt (the writer's time step: snnTorch 1e-4, SpikingJelly 1e-4 by default, "
                                 f"Norse 1e-3) and library=; {imp.disc.hint}".rstrip("; "))
    return 1.0 - ratio


def _gain(values: np.ndarray) -> np.ndarray:
    """A writer's ``r = tau/dt`` in float32 gives a gain of 1 up to float32 rounding: snap it to 1."""
    return np.where(np.abs(values - 1.0) <= 4e-7, 1.0, values)


def _neuron(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """IF / LIF / CubaLIF / LI -> ``snn.if`` / ``snn.lif`` / ``snn.cuba_lif`` / ``snn.li`` (docs/nir.md, "Neurons")."""
    where = imp._where(node_name)
    opts, disc, kind = imp.options, imp.disc, _kind(node)
    if x.value.type.kind is not Kind.CURRENT:
        raise FrontendError(f"{kind} node receives {x.value.type.kind.value} directly; snnc's neurons integrate a "
                            f"synaptic current", where=where,
                            hint="put an Affine, Linear, Conv2d or pooling node before the neuron")
    feats = x.value.type.features
    keys = {"IF": ("r", "v_threshold", "v_reset"), "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
            "CubaLIF": ("tau_syn", "tau_mem", "r", "w_in", "v_leak", "v_threshold", "v_reset"),
            "LI": ("tau", "r", "v_leak")}[kind]
    p = _params(imp, node_name, node, keys, feats, {"v_reset": 0.0, "v_leak": 0.0, "w_in": 1.0, "r": 1.0})
    if "v_reset" in p and np.any(p["v_reset"] != 0):
        v = float(p["v_reset"][p["v_reset"] != 0][0])
        why = ("snnc's reset 'zero' sets V = 0, and the state starts at 0" if opts.reset == "zero" else
               "a subtractive reset (NIR <= 1.0.5) has no reset potential")
        raise FrontendError(f"{kind} v_reset is nonzero (e.g. {v!r}); {why}, so there is no exact discrete "
                            f"equivalent", where=where, hint=f"snnc imports {kind} neurons with v_reset = 0 only")
    if "v_leak" in p and np.any(p["v_leak"] != 0):
        raise FrontendError(f"{kind} v_leak is nonzero (e.g. {float(p['v_leak'][p['v_leak'] != 0][0])!r}); "
                            f"snnc's leaky neurons decay towards 0", where=where,
                            hint="snnc imports leaky neurons with v_leak = 0 only (every library's default)")
    for key in ("r", "w_in"):
        if key in p and (np.any(p[key] <= 0) or np.any(np.isnan(p[key]))):
            raise FrontendError(f"{kind} {key} must be > 0 everywhere (r <= 0 leaves the neuron deaf or inverts "
                                f"its input)", where=where)
    if "v_threshold" in p and (np.any(p["v_threshold"] <= 0) or not np.all(np.isfinite(p["v_threshold"]))):
        raise FrontendError(f"{kind} v_threshold must be a finite number > 0 everywhere (snnc fires at "
                            f"V >= theta > 0)", where=where)
    attrs: dict[str, Any] = {}
    r = p["r"]
    if kind == "IF":
        if np.any(np.isinf(r)):
            raise FrontendError("IF r must be finite", where=where)
        gain = r * disc.if_step
    else:
        tau = p["tau_mem"] if kind == "CubaLIF" else p["tau"]
        attrs["beta"] = _f32(_decay(imp, node_name, node, tau, "tau_mem" if kind == "CubaLIF" else "tau"))
        both_inf = np.isinf(tau) & np.isinf(r)  # snnTorch's Leaky(beta=1): tau = r = inf, r/tau = 1/dt
        if np.any(np.isinf(r) & ~np.isinf(tau)):
            raise FrontendError(f"{kind} r is infinite where tau is finite", where=where)
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = np.where(both_inf, 1.0, _rate(imp, tau) * r)
        if disc.library == "sinabs":  # V = exp(-1/tau)*V + r*I (norm_input=False; r = 1 as Sinabs writes)
            gain = r.copy()
        elif disc.library == "rockpool":  # LIF: V = a*V + I; LI (ExpSyn): V = a*(V + I); CubaLIF below
            gain = attrs["beta"].copy() if kind == "LI" else np.ones_like(r)
        if np.any(gain == 0):
            raise FrontendError(f"{kind} tau is infinite where r is finite: the neuron receives no input",
                                where=where)
        if kind == "CubaLIF":
            tau_syn, w_in = p["tau_syn"], p["w_in"]
            attrs["alpha"] = _f32(_decay(imp, node_name, node, tau_syn, "tau_syn"))
            with np.errstate(invalid="ignore", divide="ignore"):
                syn = w_in if disc.library == "norse" else \
                    np.where(np.isinf(tau_syn) & np.isinf(w_in), 1.0, _rate(imp, tau_syn) * w_in)
            if disc.library == "rockpool":  # J = b*(J + I), V = a*V + J: the state is snnc's times b
                syn = attrs["alpha"] * w_in
            elif disc.library == "sinabs":
                syn = w_in
            gain = gain * _gain(syn)
    gain = _gain(gain)
    if kind == "LI":
        # the output is the potential itself: fold the gain (and any SumPool factor) into the input synapses
        _scale_current(imp, node_name, x.value, gain * x.scale)
        beta = attrs["beta"]
        return _Flow(imp.graph.add_op("snn.li", [x.value], {"beta": _reduce(beta, node, "beta")},
                                      name=imp._name(node_name)))
    theta = _f32(p["v_threshold"] / (gain * x.scale))
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        raise FrontendError(f"{kind} threshold v_threshold / gain is not a positive float32 number "
                            f"({disc.describe()})", where=where, hint="check r, tau, v_threshold and dt")
    attrs["threshold"] = _reduce(theta, node)
    attrs["reset"] = opts.reset
    for key in ("beta", "alpha"):
        if key in attrs:
            attrs[key] = _reduce(attrs[key], node, key)
    rec = imp.plan.recurrent.get(node_name)
    if kind != "IF":
        # snnTorch applies the previous step's reset after the decay and input (reset_delay), except Leaky's
        # reset to zero, which zeroes the potential before the decay; RLeaky, Synaptic and RSynaptic zero after
        attrs["delayed_reset"] = int(disc.library == "snntorch" and (
            opts.reset == "subtract" or kind == "CubaLIF" or rec is not None))
        meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
        if imp.recorded and _text(meta.get(META + "delayed_reset", "")) in ("0", "1"):
            attrs["delayed_reset"] = int(_text(meta[META + "delayed_reset"]))  # what snnc's export recorded
    if rec is not None:
        rec_name, rec_node = rec
        if x.scale != 1.0:
            raise FrontendError("a recurrent neuron fed through a SumPool2d is not supported", where=where)
        w = imp.param(rec_name, rec_node, "weight")
        if len(feats) != 1 or w.shape != (feats[0], feats[0]):
            raise FrontendError(f"recurrent {_kind(rec_node)} {rec_name!r} has weight {list(w.shape)}; the "
                                f"{list(feats)} neurons need [n, n]", where=imp._where(rec_name))
        attrs["recurrent_weight"] = _f32(w)
        if _kind(rec_node) == "Affine":
            b = np.broadcast_to(imp.param(rec_name, rec_node, "bias"), feats[:1])
            if np.any(b != 0):  # a constant current every step: joins the input synapse's bias
                _add_bias(imp, node_name, x.value, b)
    recorded = _text(node.metadata.get(META + "reset", "")) if isinstance(getattr(node, "metadata", None), dict) \
        else ""
    imp.resets_seen.add(recorded or "?")
    op = {"IF": "snn.if", "LIF": "snn.lif", "CubaLIF": "snn.cuba_lif"}[kind]
    if kind == "IF":
        attrs.pop("beta", None)
    return _Flow(imp.graph.add_op(op, [x.value], attrs, name=imp._name(node_name)))


def _threshold(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """Threshold ``z[t] = H(I[t] - theta)`` -> ``snn.lif`` with ``beta = 0`` and reset to zero.

    With no decay the potential is the step's input, ``V[t] = I[t]``: the neuron fires where ``I[t] >= theta``
    and keeps nothing for the next step, which is the Heaviside exactly (up to NIR's ``>`` against snnc's
    ``>=`` on a potential equal to the threshold, as for every neuron). A SumPool factor before it divides the
    threshold, as for the other neurons.
    """
    where = imp._where(node_name)
    if x.value.type.kind is not Kind.CURRENT:
        raise FrontendError(f"Threshold node receives {x.value.type.kind.value} directly; snnc maps a Threshold "
                            f"on a synaptic current", where=where,
                            hint="put an Affine, Linear, Conv2d or pooling node before the Threshold")
    feats = x.value.type.features
    theta = imp.param(node_name, node, "threshold").astype(np.float64)
    try:
        theta = np.broadcast_to(theta, feats)
    except ValueError:
        raise FrontendError(f"Threshold has threshold of shape {list(theta.shape)}, which does not broadcast to "
                            f"its input's features {list(feats)}", where=where) from None
    theta = _f32(theta / x.scale)
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        raise FrontendError("Threshold threshold must be a finite number > 0 everywhere: snnc's neurons fire at "
                            "V >= theta > 0 (a threshold <= 0 fires on a silent input)", where=where,
                            hint="shift the threshold into the synapse's bias so that it is positive")
    uniform = theta.reshape(-1)
    attrs = {"threshold": np.asarray(uniform[0]) if np.all(uniform == uniform[0]) else theta,
             "beta": np.zeros((), np.float32), "reset": "zero", "delayed_reset": 0}
    return _Flow(imp.graph.add_op("snn.lif", [x.value], attrs, name=imp._name(node_name)))


def _delay(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """Delay ``y(t) = x(t - d)``: with every ``d = 0`` the node is the identity; other delays are refused."""
    d = imp.param(node_name, node, "delay")
    if d.size and np.all(d == 0):
        return x
    raise FrontendError(f"Delay of {float(d.reshape(-1)[np.argmax(d.reshape(-1) != 0)])!r} (time units): snnc "
                        f"has no synaptic delays (SPEC 2 has one step of delay only on recurrent_weight)",
                        where=imp._where(node_name),
                        hint="remove the delay, or export without it; a Delay of 0 imports as the identity")


def _synapse_ops(imp: _Importer, value: Value) -> list[Any]:
    """The dense / conv ops whose sum is ``value`` (through ``snn.add``), each read only there."""
    op = imp.graph.producer(value)
    if op is None:
        return []
    if op.opname == "snn.add":
        return [o for v in op.operands for o in _synapse_ops(imp, v)] if len(imp.graph.users(value)) == 1 else []
    if op.opname in ("snn.dense", "snn.conv2d") and len(imp.graph.users(value)) <= 1:
        return [op]
    return []


def _scale_current(imp: _Importer, node_name: str, value: Value, factor: np.ndarray | float) -> None:
    """Multiply the synapses that produce ``value`` by ``factor`` (per output neuron)."""
    factor = np.asarray(factor, dtype=np.float64)
    if np.all(factor == 1.0):
        return
    ops = _synapse_ops(imp, value)
    if not ops:
        raise FrontendError("an LI readout with a gain other than 1 must be fed by Affine/Linear/Conv2d nodes "
                            "read by nothing else: snnc folds the gain into their weights", where=imp._where(node_name),
                            hint="feed the LI node directly from a synapse")
    for op in ops:
        w = op.attrs["weight"]
        f = factor.reshape(-1) if factor.ndim and op.opname == "snn.dense" else factor
        if op.opname == "snn.conv2d" and factor.ndim:
            per_channel = factor.reshape(factor.shape[0], -1)
            if np.any(per_channel != per_channel[:, :1]):
                raise FrontendError("an LI readout after a Conv2d needs one gain per channel (dt*r/tau equal over "
                                    "each channel's pixels)", where=imp._where(node_name))
            f = per_channel[:, 0]
        if op.opname == "snn.dense":
            op.attrs["weight"] = _f32(w * np.broadcast_to(f, (w.shape[0],))[:, None])
        else:
            op.attrs["weight"] = _f32(w * np.broadcast_to(f, (w.shape[0],))[:, None, None, None])
        if "bias" in op.attrs:
            op.attrs["bias"] = _f32(op.attrs["bias"] * np.broadcast_to(f, (w.shape[0],)))


def _add_bias(imp: _Importer, node_name: str, value: Value, bias: np.ndarray) -> None:
    ops = [op for op in _synapse_ops(imp, value) if op.opname == "snn.dense"]
    if not ops:
        raise FrontendError("the recurrent Affine's bias needs an Affine/Linear input synapse to join",
                            where=imp._where(node_name), hint="use a Linear (no bias) for the recurrent weights")
    op = ops[0]
    op.attrs["bias"] = _f32(op.attrs.get("bias", np.zeros(op.attrs["weight"].shape[0])) + bias)


def _reduce(theta: np.ndarray, node: Any, key: str = "threshold") -> np.ndarray:
    """The parameter in the shape ``snnc nir export`` recorded (e.g. per channel ``[C, 1, 1]``), if it is that."""
    meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
    if META + f"{key}_shape" not in meta:
        return theta
    try:
        shape = [int(d) for d in json.loads(_text(meta[META + f"{key}_shape"]))]
    except (TypeError, ValueError):
        return theta
    if len(shape) > theta.ndim:
        return theta
    lead = theta.ndim - len(shape)
    index = tuple([0] * lead + [slice(0, 1) if d == 1 else slice(None) for d in shape])
    reduced = np.ascontiguousarray(theta[index]).reshape(shape)
    return reduced if np.array_equal(np.broadcast_to(reduced, theta.shape), theta) else theta


#: NIR node type -> converter (Input and Output are the graph's ends, handled by the importer)
CONVERTERS: dict[str, Converter] = {
    "Affine": _affine,
    "Linear": _linear,
    "Conv1d": _conv1d,
    "Conv2d": _conv2d,
    "AvgPool2d": _pool,
    "SumPool2d": _pool,
    "Flatten": _flatten,
    "Scale": _scale,
    "IF": _neuron,
    "LIF": _neuron,
    "CubaLIF": _neuron,
    "LI": _neuron,
    "Threshold": _threshold,
    "Delay": _delay,
}
#: every NIR node type snnc imports
SUPPORTED: tuple[str, ...] = ("Input", "Output", *CONVERTERS)
#: why some NIR node types have no snnc equivalent (the error hint)
UNSUPPORTED_REASONS: dict[str, str] = {
    "CubaLI": "a current-based leaky integrator without spikes has no snnc op (snn.li has no synaptic current); "
              "an LI readout (tau_syn -> 0) or a CubaLIF would map",
    "I": "an integrator without spikes has no snnc op (snn.li with beta = 1 would need tau = inf: write an LI node "
         "with tau = inf)",
}
