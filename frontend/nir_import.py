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
Output         the decoder: ``snn.spike_count_decode`` (default) or ``snn.last_step_decode``
=============  =========================================================================================

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

import json
import math
import os
import re
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
DECODERS: tuple[str, ...] = ("spike_count", "last_step")
#: decoder choice -> IR op
DECODER_OPS: dict[str, str] = {"spike_count": "snn.spike_count_decode", "last_step": "snn.last_step_decode"}
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
               dt: float | None = None, name: str | None = None) -> Graph:
    """Read a NIR graph (a ``.nir`` file or a ``nir.NIRGraph``) into a verified snnc graph.

    Options left as None take the value an ``snnc nir export`` recorded in the file (``snnc.*`` graph
    metadata), else the default named below. ``reset`` never has a default.

    Args:
        source: a ``.nir`` (HDF5) file path or a ``nir.NIRGraph``.
        reset: required (None, the placeholder default, is an error that explains the choice):
            ``"subtract"`` (``V -= theta`` on a spike, NIR <= 1.0.5 and most discrete simulators) or
            ``"zero"`` (``V = 0``, NIR >= 1.0.6 with ``v_reset = 0``).
        time_steps: ``T``, the snnc simulation length (NIR has none); required unless recorded.
        encoder: ``"spikes"`` (default: the graph input is the spike train ``[T, B, *f]`` NIR's Input
            receives) or ``"rate"`` (input ``x [B, *f]`` in [0, 1], then ``snn.rate_encode``).
        decoder: ``"spike_count"`` (default: score = spikes / T) or ``"last_step"`` (score = ``S[T-1]``).
        encoder_threshold: the rate encoder's threshold (default 0.5, SPEC).
        dt: NIR time per snnc step (default 1.0).
        name: the graph name (default: recorded, else the file stem, else ``nir``).

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
    chain = _chain(graph_in, where)
    importer = _Importer(graph_in, options, recorded, where)
    graph_name = name or recorded.get("name") or (_stem(source) if not _is_graph(source) else None) or "nir"
    return importer.build(chain, graph_name)


# ------------------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class _Options:
    reset: str
    time_steps: int
    encoder: str
    decoder: str
    encoder_threshold: float
    dt: float


def _options(reset: str | None, time_steps: int | None, encoder: str | None, decoder: str | None,
             encoder_threshold: float | None, dt: float | None, recorded: dict[str, Any], where: str) -> _Options:
    if reset not in RESETS:
        got = "no reset was given" if reset is None else f"reset {reset!r} is not a choice"
        note = f"; this file was written by snnc from IF neurons with reset {recorded['reset']!r}" \
            if recorded.get("reset") else ""
        raise FrontendError(f"{got}: choose reset='subtract' or reset='zero'. {RESET_EXPLANATION}", where=where,
                            hint=f"pass reset='subtract' (nir <= 1.0.5, snnTorch/Norse-style soft reset) or "
                                 f"reset='zero' (nir >= 1.0.6 with v_reset = 0); on the command line "
                                 f"--reset subtract|zero{note}")
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
        dt = recorded.get("dt", 1.0)
    if not isinstance(dt, int | float) or not math.isfinite(dt) or dt <= 0:
        raise FrontendError(f"dt must be a finite number > 0, got {dt!r}", where=where,
                            hint="dt is the NIR time one snnc step stands for (default 1)")
    return _Options(reset, int(time_steps), encoder, decoder, float(encoder_threshold), float(dt))


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
    with open(path, "rb") as f:
        head = f.read(8)
    if head != b"\x89HDF\r\n\x1a\n":
        raise FrontendError("not a NIR file: NIR files are HDF5, and this file has no HDF5 signature", where=where,
                            hint="write the file with nir.write(path, graph) (snnTorch/Norse/... export_to_nir)")
    try:
        graph = nir.read(path, type_check=False)  # snnc checks shapes itself (nir mistypes grouped convs)
    except Exception as err:  # nir and h5py raise KeyError, ValueError, AssertionError, OSError, ...
        detail = f"{type(err).__name__}: {err}".strip().rstrip(":")
        raise FrontendError(f"cannot read the NIR graph: {detail}", where=where,
                            hint=f"the file must be written by nir.write (snnc has nir {nir.__version__}); "
                                 f"node types it knows: {', '.join(_nir_types())}") from None
    if not isinstance(graph, nir.NIRGraph):
        raise FrontendError(f"the file holds a single {type(graph).__name__} node, not a NIRGraph", where=where,
                            hint="wrap the node in a graph: nir.NIRGraph.from_list(node)")
    return graph, where


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


def _chain(graph: nir.NIRGraph, where: str) -> list[str]:
    """The node names from the Input to the Output; errors for unknown types, branches and cycles."""
    for node_name, node in graph.nodes.items():
        if _kind(node) not in CONVERTERS and _kind(node) not in ("Input", "Output"):
            kind = "a nested NIRGraph (subgraph)" if _kind(node) == "NIRGraph" else _kind(node)
            raise UnsupportedOpError(
                f"NIR node {node_name!r} is {kind}, which snnc cannot import", where=f"{where}: node {node_name!r}",
                hint=f"supported NIR nodes: {', '.join(SUPPORTED)}; {UNSUPPORTED_REASONS.get(_kind(node), '')}"
                .rstrip("; "))
    inputs = [n for n, node in graph.nodes.items() if _kind(node) == "Input"]
    outputs = [n for n, node in graph.nodes.items() if _kind(node) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise FrontendError(f"snnc imports graphs with one Input and one Output node; this one has inputs "
                            f"{inputs} and outputs {outputs}", where=where)
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    pred: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for edge in graph.edges:
        src, dst = (_text(e) for e in edge)
        for end in (src, dst):
            if end not in graph.nodes:
                raise FrontendError(f"edge ({src!r}, {dst!r}) names node {end!r}, which is not in the graph",
                                    where=where, hint=f"nodes: {', '.join(sorted(graph.nodes))}")
        succ[src].append(dst)
        pred[dst].append(src)
    for node_name in graph.nodes:
        if len(succ[node_name]) > 1:
            raise FrontendError(f"node {node_name!r} feeds {len(succ[node_name])} nodes {succ[node_name]}; snnc "
                                f"imports sequential NIR graphs only (no branches)", where=f"{where}: node "
                                f"{node_name!r}", hint="export a feed-forward chain Input -> ... -> Output")
        if len(pred[node_name]) > 1:
            raise FrontendError(f"node {node_name!r} sums the outputs of {pred[node_name]}; snnc imports sequential "
                                f"NIR graphs only (no merges or recurrent connections)",
                                where=f"{where}: node {node_name!r}",
                                hint="export a feed-forward chain Input -> ... -> Output")
    chain, seen = [inputs[0]], {inputs[0]}
    while succ[chain[-1]]:
        nxt = succ[chain[-1]][0]
        if nxt in seen:
            raise FrontendError(f"the graph has a cycle through node {nxt!r}", where=where,
                                hint="snnc imports feed-forward chains only")
        chain.append(nxt)
        seen.add(nxt)
    if chain[-1] != outputs[0]:
        raise FrontendError(f"the chain from Input {inputs[0]!r} ends at {chain[-1]!r}, not at the Output "
                            f"{outputs[0]!r}", where=where, hint="connect every node from Input to Output")
    unused = sorted(set(graph.nodes) - seen)
    if unused:
        raise FrontendError(f"nodes {unused} are not on the path from Input to Output", where=where,
                            hint="remove them, or connect them in one chain")
    if len(chain) < 3:
        raise FrontendError("the graph has no layers between its Input and Output", where=where)
    return chain


# ----------------------------------------------------------------------------------------- building
@dataclass
class _Flow:
    """An IR value carrying a NIR signal: the NIR signal is ``scale * value`` (SumPool2d sets ``scale``)."""

    value: Value
    scale: float = 1.0


@dataclass
class _Importer:
    nir_graph: Any
    options: _Options
    recorded: dict[str, Any]
    where: str
    graph: Graph = field(init=False)
    resets_seen: set[str] = field(default_factory=set)

    def build(self, chain: list[str], graph_name: str) -> Graph:
        opts = self.options
        self.graph = Graph(graph_name, time_steps=opts.time_steps)
        input_node = self.nir_graph.nodes[chain[0]]
        features = self._shape(input_node.input_type.get("input"), chain[0], "Input shape")
        if opts.encoder == "spikes":
            flow = _Flow(self.graph.add_input(self._name(chain[0]), ValueType.spikes(*features)))
        else:
            x = self.graph.add_input(self._name(chain[0]), ValueType.tensor(*features))
            attrs = {"time_steps": opts.time_steps, "threshold": opts.encoder_threshold}
            flow = _Flow(self.graph.add_op("snn.rate_encode", [x], attrs,
                                           name=self._name(self.recorded.get("encoder_name", "encoder"))))
        for node_name in chain[1:-1]:
            node = self.nir_graph.nodes[node_name]
            try:
                flow = CONVERTERS[_kind(node)](self, node_name, node, flow)
            except SnncError as err:
                if isinstance(err, FrontendError):
                    raise
                raise FrontendError(f"NIR node {node_name!r} ({_kind(node)}) does not fit its input "
                                    f"{flow.value.type}: {err.message}", where=self._where(node_name),
                                    hint=err.hint) from None
        out_name = chain[-1]
        if flow.value.type.kind is not Kind.SPIKES:
            raise FrontendError(f"the Output {out_name!r} receives a {flow.value.type.kind.value}, not spikes",
                                where=self._where(out_name),
                                hint="end the NIR graph with IF neurons: snnc decodes output spikes into scores")
        decoder_name = self._name(self.recorded.get("decoder_name", "scores"))
        scores = self.graph.add_op(DECODER_OPS[opts.decoder], [flow.value], name=decoder_name)
        self.graph.set_outputs([scores])
        self.graph.metadata = self._metadata()
        self.graph.verify()
        return self.graph

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
        same = bool(rec) and all(rec.get(k) == getattr(opts, k) for k in
                                 ("time_steps", "encoder", "decoder", "dt")) \
            and (opts.encoder != "rate" or rec.get("encoder_threshold") == opts.encoder_threshold) \
            and self.resets_seen <= {opts.reset}
        base = dict(rec.get("metadata", {}))
        if same:
            return base  # an unchanged snnc -> NIR -> snnc round trip gives back the graph it started from
        import nir

        base.update({
            PROVENANCE + "version": str(nir.__version__),
            PROVENANCE + "reset": opts.reset,
            PROVENANCE + "dt": repr(opts.dt),
            PROVENANCE + "encoder": opts.encoder if opts.encoder == "spikes"
            else f"rate (threshold {opts.encoder_threshold!r})",
            PROVENANCE + "decoder": opts.decoder,
        })
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
    if with_bias:
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
    if bias is not None:
        b = np.atleast_1d(imp.param(node_name, node, "bias"))
        if b.size == 1 and w.shape[0] != 1:
            b = np.repeat(b, w.shape[0])
        if np.any(b != 0):  # NIR's Conv2d always has a bias; zeros are no bias
            attrs["bias"] = _f32(b)
    return _Flow(imp.graph.add_op("snn.conv2d", [x.value], attrs, name=imp._name(node_name)))


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


def _if(imp: _Importer, node_name: str, node: Any, x: _Flow) -> _Flow:
    """IF ``dv/dt = r I``, fire at ``v > v_threshold``, reset -> ``snn.if`` with
    ``theta = v_threshold / (r * dt * scale)`` and the chosen reset."""
    where = imp._where(node_name)
    opts = imp.options
    if x.value.type.kind is not Kind.CURRENT:
        raise FrontendError(f"IF node receives {x.value.type.kind.value} directly; snnc's snn.if integrates a "
                            f"synaptic current", where=where,
                            hint="put an Affine, Linear, Conv2d or pooling node before the IF node")
    feats = x.value.type.features
    arrays = {}
    for key in ("r", "v_threshold", "v_reset"):
        arr = imp.param(node_name, node, key) if key != "v_reset" or getattr(node, key, None) is not None \
            else np.zeros(1)
        try:
            arrays[key] = np.broadcast_to(arr, feats)
        except ValueError:
            raise FrontendError(f"IF {key} has shape {list(arr.shape)}, the neurons are {list(feats)}",
                                where=where) from None
    r, v_th, v_reset = arrays["r"], arrays["v_threshold"], arrays["v_reset"]
    if np.any(v_reset != 0):
        why = ("snnc's reset 'zero' sets V = 0, and the state starts at 0" if opts.reset == "zero" else
               "a subtractive reset (NIR <= 1.0.5) has no reset potential")
        raise FrontendError(f"IF v_reset is nonzero (e.g. {float(v_reset[v_reset != 0][0])!r}); {why}, so there is "
                            f"no exact discrete equivalent", where=where,
                            hint="snnc imports IF neurons with v_reset = 0 only")
    if np.any(r <= 0):
        raise FrontendError("IF r must be > 0 everywhere (r <= 0 leaves the neuron deaf or inverts its input)",
                            where=where)
    if np.any(v_th <= 0):
        raise FrontendError("IF v_threshold must be > 0 everywhere (snnc fires at V >= theta > 0)", where=where)
    theta = _f32(v_th / (r * opts.dt * x.scale))
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        raise FrontendError("IF threshold v_threshold / (r * dt) is not a positive float32 number", where=where,
                            hint="check r, v_threshold and dt")
    theta = _reduce(theta, node)
    recorded = _text(node.metadata.get(META + "reset", "")) if isinstance(node.metadata, dict) else ""
    if recorded:
        imp.resets_seen.add(recorded)
    else:
        imp.resets_seen.add("?")
    return _Flow(imp.graph.add_op("snn.if", [x.value], {"threshold": theta, "reset": opts.reset},
                                  name=imp._name(node_name)))


def _reduce(theta: np.ndarray, node: Any) -> np.ndarray:
    """The threshold in the shape ``snnc nir export`` recorded (e.g. per channel ``[C, 1, 1]``), if it is that."""
    meta = node.metadata if isinstance(node.metadata, dict) else {}
    if META + "threshold_shape" not in meta:
        return theta
    try:
        shape = [int(d) for d in json.loads(_text(meta[META + "threshold_shape"]))]
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
    "Conv2d": _conv2d,
    "AvgPool2d": _pool,
    "SumPool2d": _pool,
    "Flatten": _flatten,
    "IF": _if,
}
#: every NIR node type snnc imports
SUPPORTED: tuple[str, ...] = ("Input", "Output", *CONVERTERS)
#: why some NIR node types have no snnc equivalent (the error hint)
UNSUPPORTED_REASONS: dict[str, str] = {
    "LIF": "a leaky neuron (tau, v_leak) has no exact equivalent in snnc's non-leaky snn.if",
    "CubaLIF": "a current-based leaky neuron (synaptic and membrane leaks) has no snnc equivalent",
    "LI": "a leaky integrator without spikes has no snnc equivalent",
    "CubaLI": "a current-based leaky integrator without spikes has no snnc equivalent",
    "I": "an integrator without spikes has no snnc equivalent (snnc neurons emit spikes)",
    "Threshold": "a stand-alone threshold has no snnc equivalent (snnc's neurons integrate)",
    "Scale": "a stand-alone scale has no snnc op; fold it into the neighbouring weights",
    "Delay": "snnc has no synaptic delays",
    "Conv1d": "snnc has 2-D convolutions only",
    "NIRGraph": "flatten nested subgraphs into one graph first",
}
