"""Write snnc IR graphs of IF and leaky (LIF, CubaLIF, LI) networks as NIR graphs (``.nir`` HDF5 files).

The inverse of :mod:`snnc.frontend.nir_import` (``docs/nir.md`` has the whole mapping):

==========================  =============================================================================
snnc IR                     NIR
==========================  =============================================================================
graph input (spikes)        Input (the spike train's feature shape)
``snn.rate_encode``         not a NIR node: the NIR Input receives the encoder's spike train; the encoder
                            (threshold, value name) is recorded in the graph metadata (``snnc.encoder*``)
``snn.dense``               Affine (with bias) or Linear (without)
``snn.conv2d``              Conv2d (symmetric pads only; no bias is a zero bias)
``snn.avgpool2d``           AvgPool2d (symmetric pads; padded zeros count, as PyTorch)
``snn.flatten``             Flatten (start_dim 0, end_dim -1; dims without the batch axis)
``snn.if``                  IF with ``r = 1/dt``, ``v_threshold = theta`` (per neuron), ``v_reset = 0``;
                            the discrete reset rule is in the node metadata (``snnc.reset``)
``snn.lif`` / ``cuba_lif``  LIF / CubaLIF: ``tau = dt/(1 - beta)``, ``r = tau/dt`` (CubaLIF also
``snn.li``                  ``tau_syn = dt/(1 - alpha)``, ``w_in = tau_syn/dt``), ``v_threshold = theta``;
                            LI likewise; reset and ``delayed_reset`` in the node metadata
``snn.add``                 no node: the nodes making its operands get edges into its readers (NIR sums)
``recurrent_weight`` W      a Linear ``<neuron>_rec`` (W) and the cycle neuron -> it -> neuron
spike-count / last-step     not a NIR node: the Output carries the last IF layer's spikes; the decoder is
decoder                     recorded in the graph metadata (``snnc.decoder*``)
==========================  =============================================================================

``flavour`` (``snnc nir export --for``) writes the parameters the way one library's importer reads them
(:data:`FLAVOURS`: snnTorch, Norse, SpikingJelly, and nir <= 1.0.5 files for Sinabs and Rockpool) and
refuses what that importer cannot take (:data:`UNMAPPED`, resets, recurrence); ``docs/nir.md``,
"Export flavours".

Refused, with an error naming the op: ``snn.relpsp`` (NIR has no single-spike ReL-PSP neuron),
``snn.ttfs_encode`` and ``snn.first_spike_decode`` (time-to-first-spike codes), ``snn.time_flatten``
and dense layers on tensors (the trainable spatio-temporal decoder), ``snn.reshape`` other than a
flatten, quantized (integer) parameters, asymmetric pads, several inputs, outputs or decoders.

Example:
    >>> from snnc.api import load_model
    >>> nir_graph = export_nir(load_model("models/stbp-fashion-mlp.onnx"), "stbp.nir")   # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.errors import SnncError, UnsupportedOpError
from snnc.frontend.nir_import import DECODER_OPS, META
from snnc.ir import Graph, Kind, Operation, is_neuron

if TYPE_CHECKING:
    import nir


class NirExportError(UnsupportedOpError):
    """The graph uses something NIR cannot express (the message names the op and why)."""


#: IR op -> (why NIR cannot express it, what to do instead)
REFUSED: dict[str, tuple[str, str]] = {
    "snn.relpsp": (
        "NIR has no ReL-PSP neuron: ReL-PSP integrates a slope K into a potential V and fires at most once, "
        "while every NIR neuron (IF, LIF, CubaLIF) resets and fires again, and no composition of NIR nodes "
        "latches after the first spike",
        "NIR export takes IF and leaky networks (snn.if, snn.lif, snn.cuba_lif, snn.li), e.g. 'snnc train stbp'; "
        "keep ReL-PSP (STDBP) models in ONNX"),
    "snn.ttfs_encode": (
        "a time-to-first-spike input code is not a NIR node, and a TTFS network's meaning lives in spike times "
        "that NIR readers (which count spikes) would silently decode differently",
        "export a rate-encoded (snn.rate_encode) or spike-train-input IF network"),
    "snn.first_spike_decode": (
        "a first-spike (time-to-first-spike) decoder is not a NIR node, and NIR readers decode by spike counts",
        "use a spike-count or last-step decoder"),
    "snn.time_flatten": (
        "the spatio-temporal decoder reads all T steps at once ([T, B, N] -> [B, T*N]); NIR nodes act on one "
        "instant of a signal and have no notion of T",
        "use a spike-count or last-step decoder"),
}

#: decoder IR op -> the name recorded in the metadata (import's ``decoder`` choice)
DECODERS_BY_OP: dict[str, str] = {op: name for name, op in DECODER_OPS.items()}


#: ``--for``: how parameters are written so that one reader takes them exactly (docs/nir.md, "Export flavours").
#: name -> (default dt, the library's hard-coded dt or None, what the flavour changes)
FLAVOURS: dict[str, tuple[float, float | None, str]] = {
    "nir": (1.0, None, "the standard: forward Euler at dt; every construct; snnc.* metadata for the round trip"),
    "snntorch": (1e-4, 1e-4, "snnTorch's import_from_nir: dt = 1e-4 fixed; IF as a LIF with tau = 1e30 (its IF "
                 "is a Leaky with beta 0.9); beta = 1 as tau = 1e30; zero reset, reset first; uniform thresholds"),
    "norse": (1e-3, None, "Norse's from_nir(dt): LIF tau = dt/(1-beta), r = 1, v_threshold = theta*dt/tau "
              "(its LIFBox integrates dt/tau*(I - v)); CubaLIF w_in = 1/(1-alpha), r = 1/(1-beta); IF r = 1; "
              "Flatten counted from the end; zero reset, reset first"),
    "spikingjelly": (1e-4, None, "SpikingJelly's from_nir(dt): uniform parameters, IF r = 1/dt, LIF r = tau/dt, "
                     "hard reset first"),
    "sinabs": (1.0, None, "nir <= 1.0.5 readers (Sinabs' from_nir): no v_reset (subtractive reset), Linear as "
               "Affine with a zero bias, LIF/LI tau = -1/ln(beta) (its step: decay exp(-1/tau), r = 1), Flatten "
               "counted from the end"),
    "rockpool": (1.0, None, "nir <= 1.0.5 readers (Rockpool's from_nir): every neuron as a CubaLIF (its LIF "
                 "branch is broken, it has no IF): tau = -1/ln(decay), r = tau_mem - 1 (its dt = tau/(1+r) = 1), "
                 "v_threshold = theta*exp(-1/tau_syn) (its input filter J = b*(J + I) scales the potential by b), "
                 "tau_mem = 1e30 for no leak; CubaLIF only (IF, LIF refused); subtractive reset"),
}
#: flavour -> what to set on the network the library's importer builds, for spike trains equal to snnc's
#: (found by ``tests/nir_fixtures/roundtrip.py``; ``snnc nir export --for`` prints it as a note)
AFTER_LOADING: dict[str, str] = {
    "sinabs": "after sinabs.from_nir(graph, batch_size=B), set spike_fn = SingleSpike and min_v_mem = None on every "
              "IAF/LIF layer: from_nir builds MultiSpike (several spikes a step) and clamps the potential at "
              "-v_threshold; snnc's neurons do neither (with the clamp the trains differ once a potential falls "
              "below -threshold)",
    "rockpool": "after rockpool's from_nir(graph), set max_spikes_per_dt = 1 on every LIFTorch: its default emits "
                "several spikes a step",
}
#: a time constant long enough that ``1 - dt/tau`` is exactly 1 in float32 (readers that refuse tau = inf)
TAU_NO_LEAK = 1e30
#: flavour -> why its reader cannot run a neuron -> Linear -> neuron cycle (recurrent_weight)
RECURRENCE_REFUSED: dict[str, str] = {
    "snntorch": "snnTorch's import_from_nir wraps the cycle in a subgraph whose input edge goes into the recurrent "
                "Linear (Input -> W_rec -> LIF), so nirtorch runs LIF(W_rec(I + S[t-1])): the feed-forward current "
                "is multiplied by the recurrent weight (snntorch 1.0.0, nirtorch 2.6)",
}
#: flavour -> the importer it writes for (named in refusals)
LIBRARY_IMPORTERS: dict[str, str] = {"snntorch": "snnTorch's import_from_nir", "norse": "Norse's from_nir",
                                     "spikingjelly": "SpikingJelly's from_nir", "sinabs": "Sinabs' from_nir",
                                     "rockpool": "Rockpool's from_nir"}
_NO_LI = "end the network in spiking neurons (snn.lif) for this library, or use --for nir"
_LATE_MERGE = ("from_nir runs the nodes in depth-first order (nirtorch's GraphExecutor), so a node with several "
               "inputs runs before one of them and reads that input's value from the previous step: the merge "
               "would be one step late")
_ROCKPOOL_DENSE = ("Rockpool's from_nir maps Linear, Affine, CubaLIF and LI nodes only",
                   "export dense networks for Rockpool, or use --for nir")
_ROCKPOOL_NO_FILTER = (
    "Rockpool's from_nir builds every spiking neuron as a LIFTorch, which filters its input as "
    "J = b*(J + I), b = exp(-dt/tau_syn): no tau_syn passes the current through unfiltered (tau_syn -> 0 is "
    "b = 0: no input reaches the neuron; run in Rockpool 3.1.0), and its LIF branch reads a tau_mem that nir.LIF "
    "lacks", "use snn.cuba_lif (a synaptic current) for Rockpool, or --for nir")
#: (flavour, IR op) -> (why the flavour's importer cannot take the op, what would work)
UNMAPPED: dict[tuple[str, str], tuple[str, str]] = {
    ("snntorch", "snn.li"): ("snnTorch's import_from_nir maps no LI node (an LI readout)", _NO_LI),
    ("norse", "snn.li"): ("Norse's from_nir maps no LI node (an LI readout)", _NO_LI),
    ("spikingjelly", "snn.li"): ("SpikingJelly's from_nir maps no LI node (an LI readout)", _NO_LI),
    ("rockpool", "snn.li"): ("Rockpool's from_nir builds ExpSynTorch from an LI node with tau rounded to an integer",
                             _NO_LI),
    ("sinabs", "snn.cuba_lif"): ("Sinabs' from_nir maps no CubaLIF node (its LIF is built with tau_syn = None)",
                                 "use snn.lif, or export with --for nir"),
    ("norse", "snn.avgpool2d"): ("Norse's from_nir maps no AvgPool2d node (only SumPool2d)",
                                 "use --for nir, or a strided conv instead of the pooling"),
    ("sinabs", "snn.avgpool2d"): ("Sinabs' from_nir maps no AvgPool2d node (only SumPool2d)",
                                  "use --for nir, or a strided conv instead of the pooling"),
    ("norse", "snn.add"): ("Norse's " + _LATE_MERGE, "use a network without merges for Norse, or --for nir / "
                           "spikingjelly"),
    ("sinabs", "snn.add"): ("Sinabs' " + _LATE_MERGE, "use a network without merges for Sinabs, or --for nir / "
                            "spikingjelly"),
    ("rockpool", "snn.if"): _ROCKPOOL_NO_FILTER,
    ("rockpool", "snn.lif"): _ROCKPOOL_NO_FILTER,
    ("rockpool", "snn.conv2d"): _ROCKPOOL_DENSE,
    ("rockpool", "snn.avgpool2d"): _ROCKPOOL_DENSE,
    ("rockpool", "snn.flatten"): _ROCKPOOL_DENSE,
    ("rockpool", "snn.reshape"): _ROCKPOOL_DENSE,
}
#: the flavours whose files nir <= 1.0.5 reads (no v_reset fields, no Linear node)
OLD_NIR = ("sinabs", "rockpool")


def export_nir(graph: Graph, path: str | os.PathLike[str] | None = None, *, force: bool = False,
               dt: float | None = None, flavour: str = "nir") -> nir.NIRGraph:
    """Convert an IF / leaky network to a NIR graph, and write it to ``path`` when given.

    Args:
        graph: a verified graph: spike-train input or ``snn.rate_encode``, then a DAG of dense / conv2d /
            avgpool2d / flatten / ``snn.add`` / neuron ops (recurrent weights allowed), ending in a
            spike-count, last-step or max-over-time decoder.
        path: the ``.nir`` file to write (atomically: a temporary file beside it, then a rename).
        force: overwrite ``path`` if it exists.
        dt: NIR time per snnc step (default: the flavour's, 1 for ``nir``); IF nodes get ``r = 1/dt``.
        flavour: whose importer the parameters are written for (:data:`FLAVOURS`; ``docs/nir.md``).

    Returns:
        The ``nir.NIRGraph`` (type-checked by ``nir``).

    Raises:
        NirExportError: an op NIR (or the flavour's reader) cannot express, named with the reason and a hint.
        SnncError: ``path`` exists without ``force``, or the graph has no exportable shape.
    """
    import nir

    from snnc.io import check_output_path, write_atomic

    if flavour not in FLAVOURS:
        raise SnncError(f"unknown NIR export flavour {flavour!r}", where="export_nir",
                        hint=f"choose one of {', '.join(FLAVOURS)}")
    default_dt, fixed_dt, _ = FLAVOURS[flavour]
    dt = default_dt if dt is None else dt
    out = check_output_path(path, force=force) if path is not None else None
    if not isinstance(dt, int | float) or not math.isfinite(dt) or dt <= 0:
        raise SnncError(f"dt must be a finite number > 0, got {dt!r}", where="export_nir")
    if fixed_dt is not None and not math.isclose(dt, fixed_dt):
        raise SnncError(f"the {flavour} flavour needs dt = {fixed_dt:g} (its importer hard-codes it), got {dt!r}",
                        where="export_nir", hint=f"leave dt unset or pass {fixed_dt:g}")
    graph.verify()
    _refuse(graph)
    order = _layers(graph)
    nodes, edges, meta = _Exporter(graph, float(dt), flavour).run(order)
    try:
        result = _node(nir.NIRGraph, nodes=nodes, edges=edges, metadata=meta,
                       type_check=flavour in ("nir", "spikingjelly"))
    except Exception as err:  # nir's own type check; our nodes should always pass it
        raise SnncError(f"nir rejects the exported graph: {type(err).__name__}: {err}", where=f"graph @{graph.name}",
                        hint="this is a bug in snnc's NIR export; please report it") from None
    if out is not None:
        buffer = io.BytesIO()
        if flavour in OLD_NIR:
            _write_old(buffer, result)
        else:
            nir.write(buffer, result)
        write_atomic(out, buffer.getvalue())
    return result


def _node(cls: type, **kwargs: Any) -> Any:  # noqa: ANN401
    """``cls(**kwargs)`` without the keywords the installed nir's class lacks: nir <= 1.0.5 (which Sinabs and
    Rockpool pin) has no ``v_reset`` and no ``NIRGraph(type_check=)``; the old-nir flavours write neither."""
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return cls(**kwargs)
    return cls(**{k: v for k, v in kwargs.items() if k in params})


def _write_old(buffer: io.BytesIO, graph: nir.NIRGraph) -> None:
    """``nir.write`` without the fields nir <= 1.0.5 does not know (``v_reset`` of IF / LIF / CubaLIF, node
    metadata): its reader passes every stored field to the node's constructor, which refuses unknown ones."""
    import h5py

    def clean(d: dict) -> dict:
        out = {}
        for key, value in d.items():
            if key in ("metadata", "v_reset") and d.get("type") in ("IF", "LIF", "CubaLIF", "LI"):
                continue
            if key == "metadata":
                continue
            if key == "nodes":
                value = {k: clean(v) for k, v in value.items()}
            out[key] = value
        return out

    def write(group: h5py.Group, d: dict) -> None:
        for key, value in d.items():
            if isinstance(value, str):
                group.create_dataset(key, data=value, dtype=h5py.string_dtype())
            elif isinstance(value, dict):
                write(group.create_group(key), value)
            else:
                value = np.asarray(value)
                if value.dtype.kind == "U":  # the edges: byte strings, as nir.write stores them
                    value = np.char.encode(value, "utf8")
                group.create_dataset(key, data=value)

    with h5py.File(buffer, "w") as f:
        f.create_dataset("version", data="1.0.4", dtype=h5py.string_dtype())
        write(f.create_group("node"), clean(graph.to_dict()))


# ------------------------------------------------------------------------------------------ checks
def _where(op: Operation) -> str:
    return f"%{op.result.name} = {op.opname}"


def _refuse(graph: Graph) -> None:
    refused = [op for name in REFUSED for op in graph.ops if op.opname == name]  # neurons first: the root cause
    if refused:
        op = refused[0]
        why, hint = REFUSED[op.opname]
        others = sorted({o.opname for o in refused} - {op.opname})
        also = f" (the graph also uses {', '.join(others)}, which NIR cannot express either)" if others else ""
        raise NirExportError(f"{op.opname} cannot be exported to NIR: {why}{also}", where=_where(op), hint=hint)
    for op in graph.ops:
        for key, value in op.attrs.items():
            if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
                raise NirExportError(f"{op.opname} has integer (quantized) parameter '{key}'; NIR describes the "
                                     f"float network", where=_where(op),
                                     hint="export the float model (before the quantize pass)")
        if op.opname == "snn.dense" and op.operands[0].type.kind is Kind.TENSOR:
            raise NirExportError("a dense layer on a per-sample tensor (a decoder stage) has no NIR equivalent: NIR "
                                 "synapses act on signals over time", where=_where(op),
                                 hint="use a spike-count or last-step decoder")
        if op.opname == "snn.reshape" and len(op.attrs["shape"]) != 1:
            raise NirExportError(f"NIR has no reshape node (only Flatten); reshape to {op.attrs['shape']} cannot be "
                                 f"expressed", where=_where(op), hint="reshape to one axis (a flatten) or not at all")
        if op.opname not in EXPORTERS and op.opname not in ("snn.rate_encode", "snn.add", *DECODERS_BY_OP):
            raise NirExportError(f"{op.opname} has no NIR equivalent", where=_where(op),
                                 hint=f"NIR export supports: snn.rate_encode, snn.add, {', '.join(EXPORTERS)}, "
                                      f"{', '.join(DECODERS_BY_OP)}")


def _layers(graph: Graph) -> list[Operation]:
    """The ops in order: (encoder), the layers (a DAG), the decoder last; errors otherwise."""
    where = f"graph @{graph.name}"
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise SnncError(f"NIR export takes graphs with one input and one output; this one has {len(graph.inputs)} "
                        f"and {len(graph.outputs)}", where=where)
    ops = list(graph.ops)
    if not ops or ops[-1].result is not graph.outputs[0] or ops[-1].opname not in DECODERS_BY_OP:
        raise SnncError("the graph must end in a spike-count or last-step decoder, which is its output",
                        where=where, hint="decode the last IF layer's spikes with snn.spike_count_decode")
    for op in ops[:-1]:
        if op.opname in DECODERS_BY_OP:
            raise SnncError(f"NIR export takes one decoder, the graph output; {_where(op)} is another",
                            where=where, hint="keep one decoder")
    if graph.inputs[0].type.kind is Kind.TENSOR and ops[0].opname != "snn.rate_encode":
        raise SnncError(f"the input %{graph.inputs[0].name} is a tensor read by {ops[0].opname}; NIR export needs "
                        f"a spike-train input or a rate encoder", where=where)
    if graph.inputs[0].type.kind is Kind.CURRENT:
        raise SnncError("the graph input is a current; NIR export needs a spike-train input or a rate encoder",
                        where=where)
    for op in ops[1:]:
        if op.opname == "snn.rate_encode":
            raise SnncError(f"{_where(op)}: NIR export takes one encoder, first", where=where)
    return ops


# ---------------------------------------------------------------------------------------- exporting
@dataclass
class _Exporter:
    graph: Graph
    dt: float
    flavour: str = "nir"

    @property
    def torch_batch(self) -> bool:
        """snnTorch's, Norse's and Sinabs' importers build torch.nn.Flatten(start_dim, end_dim) that counts the
        batch axis: their Flatten counts from the end."""
        return self.flavour in ("snntorch", "norse", "sinabs")

    def run(self, ops: list[Operation]) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
        import nir

        g = self.graph
        x = g.inputs[0]
        meta: dict[str, Any] = {
            META + "format": "1",
            META + "name": g.name,
            META + "time_steps": str(g.time_steps),
            META + "dt": repr(self.dt),
            META + "flavour": self.flavour,
            META + "metadata": json.dumps(g.metadata, sort_keys=False),
        }
        layers = ops
        if ops[0].opname == "snn.rate_encode":
            enc = ops[0]
            meta.update({META + "encoder": "rate", META + "encoder_threshold": repr(enc.attrs["threshold"]),
                         META + "encoder_name": enc.result.name})
            layers = ops[1:]
            features = enc.result.type.features
            first = enc.result.name
        else:
            meta[META + "encoder"] = "spikes"
            features = x.type.features
            first = x.name
        decoder = layers[-1]
        layers = layers[:-1]
        meta.update({META + "decoder": DECODERS_BY_OP[decoder.opname], META + "decoder_name": decoder.result.name})
        if not any(is_neuron(op.opname) for op in layers):
            raise NirExportError("the graph has no neurons; NIR export takes IF / LIF / CubaLIF / LI networks",
                                 where=f"graph @{g.name}")
        resets = {op.attrs["reset"] for op in layers if "reset" in op.attrs}
        if len(resets) == 1:
            meta[META + "reset"] = resets.pop()
        read = decoder.operands[0]
        producer = next((op for op in layers if op.result is read), None)
        if producer is None or not is_neuron(producer.opname):
            raise SnncError(f"the decoder reads {producer.opname if producer else 'the input'}, not neurons",
                            where=_where(decoder))
        for op in layers:
            _check_flavour(self, op)
        self.scale = _threshold_folding(self, layers)

        nodes: dict[str, Any] = {x.name: nir.Input(input_type={"input": np.array(features)})}
        edges: list[tuple[str, str]] = []
        # the NIR nodes whose outputs sum to each snnc value (NIR sums a node's inputs: snn.add is edges)
        sources: dict[str, list[str]] = {first: [x.name]}
        for op in layers:
            if op.opname == "snn.add":
                sources[op.result.name] = [s for v in op.operands for s in sources[v.name]]
                continue
            name = op.result.name
            recurrent = op.attrs.get("recurrent_weight") is not None
            if recurrent and self.flavour == "snntorch":
                # snnTorch nests the loop as a subgraph named before the first '.', as its exporter names
                # RLeaky's nodes ('1.lif', '1.w_rec'); a subgraph that holds a node of its own name fails
                name = _fresh(nodes, name.replace(".", "_") + ".lif")
            nodes[name] = EXPORTERS[op.opname](self, op)
            edges += [(s, name) for v in op.operands for s in sources[v.name]]
            sources[op.result.name] = [name]
            if recurrent:
                rec = _fresh(nodes, name[:-4] + ".w_rec" if self.flavour == "snntorch" else name + "_rec")
                row = np.reshape(self.scale.get(op.result.name, 1.0), (-1, 1))  # a folded threshold, per row
                w = np.array(op.attrs["recurrent_weight"], np.float64) * row
                nodes[rec] = _synapse(self, w.astype(np.float32), None)
                edges += [(name, rec), (rec, name)]
        out_name = decoder.result.name
        nodes[out_name] = nir.Output(output_type={"output": np.array(read.type.features)})
        edges += [(s, out_name) for s in sources[read.name]]
        return nodes, edges, meta


def _fresh(nodes: dict[str, Any], name: str) -> str:
    while name in nodes:
        name += "_"
    return name


def _refusal(exp: _Exporter, op: Operation, why: str, hint: str) -> NirExportError:
    return NirExportError(f"{op.opname} cannot be exported for {exp.flavour}: {why}", where=_where(op), hint=hint)


def _uniform(value: Any) -> bool:
    a = np.asarray(value)
    return a.size <= 1 or bool(np.all(a == a.flat[0]))


def _check_flavour(exp: _Exporter, op: Operation) -> None:
    """What the flavour's reader cannot take, refused with the node, why, and what would work."""
    f = exp.flavour
    if (f, op.opname) in UNMAPPED:
        why, hint = UNMAPPED[f, op.opname]
        raise _refusal(exp, op, why, hint)
    if f == "spikingjelly" and op.opname == "snn.conv2d" and op.attrs["group"] != 1:
        raise _refusal(exp, op, "SpikingJelly's from_nir refuses grouped convolutions", "use groups = 1")
    if f == "nir" or not is_neuron(op.opname):
        return
    lib = LIBRARY_IMPORTERS[f]
    reset = op.attrs.get("reset")
    if f in OLD_NIR:
        if reset is not None and reset != "subtract":
            raise _refusal(exp, op, f"nir <= 1.0.5 has no v_reset: {f} reads every neuron as resetting by "
                           f"subtraction, and this one resets to zero",
                           "train with reset = 'subtract', or export with --for nir (nir >= 1.0.6 readers)")
        if op.attrs.get("delayed_reset", 0):
            raise _refusal(exp, op, f"{lib} subtracts the threshold in the spike's own step, and this neuron "
                           "applies the previous step's reset after the decay (delayed_reset = 1)",
                           "use delayed_reset = 0, or export with --for nir")
        return
    if reset == "subtract":
        raise _refusal(exp, op, f"{lib} builds reset-to-zero neurons only (v_reset), and this one resets by "
                       "subtraction", "use reset = 'zero' (and delayed_reset = 0), or export with --for nir")
    if op.attrs.get("delayed_reset", 0):
        raise _refusal(exp, op, f"{lib} resets in the spike's own step (reset first), and this neuron applies "
                       "the previous step's reset after the decay (delayed_reset = 1)",
                       "use delayed_reset = 0, or export with --for nir")
    if f in RECURRENCE_REFUSED and op.attrs.get("recurrent_weight") is not None:
        raise _refusal(exp, op, RECURRENCE_REFUSED[f], "keep recurrent layers in ONNX or export them with --for nir")
    beta = [np.asarray(op.attrs[k]) for k in ("beta", "alpha") if k in op.attrs]
    if f in ("norse", "spikingjelly") and any(np.any(b >= 1) for b in beta):
        raise _refusal(exp, op, f"a decay of 1 (no leak) is tau = inf, which {lib} cannot take "
                       "(Norse's LIFBox integrates k*(I - v) with k = dt/tau; SpikingJelly needs a finite tau)",
                       "use snn.if for a non-leaky neuron, or a decay below 1")
    if f == "spikingjelly" and not all(_uniform(b) for b in beta):
        raise _refusal(exp, op, f"{lib} takes one decay per layer, and this one has several",
                       "use one beta (and alpha) per layer, or --for nir")


def _threshold_folding(exp: _Exporter, layers: list[Operation]) -> dict[str, np.ndarray]:
    """snnTorch and SpikingJelly take one threshold per layer. A neuron with per-neuron thresholds theta_i
    is the same neuron with threshold 1 whose input rows (the synapses that feed it, its recurrent weight
    and bias) are divided by theta_i (the potential is V/theta_i: zero reset and decay commute with the
    scaling). Returns {neuron or synapse result name: the factor per output row}."""
    if exp.flavour not in ("snntorch", "spikingjelly"):
        return {}
    producer = {op.result.name: op for op in layers}
    users: dict[str, list[Operation]] = {}
    for op in layers:
        for v in op.operands:
            users.setdefault(v.name, []).append(op)
    scale: dict[str, np.ndarray] = {}
    for op in layers:
        if not is_neuron(op.opname) or _uniform(op.attrs["threshold"]):
            continue
        theta = np.asarray(op.attrs["threshold"], np.float64)
        factor = np.broadcast_to(1.0 / theta, theta.shape)
        feeders, todo = [], [op.operands[0]]
        while todo:
            v = todo.pop()
            p = producer.get(v.name)
            if p is not None and p.opname == "snn.add":
                todo += p.operands
            else:
                feeders.append(p)
        for p in feeders:
            ok = p is not None and p.opname in ("snn.dense", "snn.conv2d") and len(users[p.result.name]) == 1
            if ok and p.opname == "snn.conv2d":
                ok = theta.ndim == 3 and theta.shape[1:] == (1, 1) or theta.size == 1
            if not ok:
                raise _refusal(exp, op, "the library takes one threshold per layer, and this neuron's per-neuron "
                               "thresholds cannot be folded into its inputs (they come through "
                               f"{p.opname if p else 'the graph input'}, not a dense or per-channel conv "
                               "synapse of its own)", "use one threshold per layer, or export with --for nir")
            scale[p.result.name] = factor.reshape(-1)
        scale[op.result.name] = factor.reshape(-1)
    return scale


def _symmetric(op: Operation, pads: list[int]) -> tuple[int, int]:
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise NirExportError(f"{op.opname} pads {pads} (top, left, bottom, right) are asymmetric; NIR pads both "
                             f"sides of an axis equally", where=_where(op),
                             hint="use symmetric pads, or pad the input explicitly")
    return top, left


def _synapse(exp: _Exporter, w: np.ndarray, bias: np.ndarray | None) -> Any:
    import nir

    if bias is None and exp.flavour in OLD_NIR:  # nir <= 1.0.5 readers (Sinabs) map no Linear
        bias = np.zeros(w.shape[0], np.float32)
    if bias is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=np.asarray(bias, np.float32))


def _dense(exp: _Exporter, op: Operation) -> Any:
    w = np.array(op.attrs["weight"], dtype=np.float64)
    bias = op.attrs.get("bias")
    bias = None if bias is None else np.array(bias, dtype=np.float64)
    s = exp.scale.get(op.result.name)
    if s is not None:
        w = w * s[:, None]
        bias = None if bias is None else bias * s
    return _synapse(exp, w.astype(np.float32), None if bias is None else bias.astype(np.float32))


def _conv2d(exp: _Exporter, op: Operation) -> Any:
    import nir

    w = np.array(op.attrs["weight"], dtype=np.float64)
    bias = op.attrs.get("bias")
    bias = np.zeros(w.shape[0]) if bias is None else np.array(bias, dtype=np.float64)
    s = exp.scale.get(op.result.name)
    if s is not None:
        s = np.broadcast_to(s, (w.shape[0],)) if s.size == 1 else s
        w, bias = w * s[:, None, None, None], bias * s
    pads = list(_symmetric(op, op.attrs["pads"]))
    dilations = list(op.attrs["dilations"])
    w, pads = _square_kernel(w, pads, dilations)
    _, h, wd = op.operands[0].type.features
    node = nir.Conv2d(input_shape=(h, wd), weight=w.astype(np.float32), stride=tuple(op.attrs["strides"]),
                      padding=tuple(pads), dilation=tuple(dilations), groups=op.attrs["group"],
                      bias=bias.astype(np.float32))
    node.output_type = {"output": np.array(op.result.type.features)}  # as snnc computed it (see _square_kernel)
    return node


def _square_kernel(w: np.ndarray, pads: list[int], dilations: list[int]) -> tuple[np.ndarray, list[int]]:
    """A non-square kernel as a square one with zero rows (or columns) and as much more padding.

    nir types a Conv2d's output with the kernel's height for both axes, so a ``1 x k`` kernel (a Conv1d, as
    snnc imports it) comes out ``k - 1`` columns too wide and ``nir.read`` refuses the file. Zero rows added
    evenly above and below, with the padding grown by as many, give the same output exactly (each output sums
    the same products, plus exact zeros). Where the difference is odd, or the short axis is dilated, the kernel
    stays as it is: the file is right, and only nir's own type check (``nir.read(type_check=False)`` reads it)
    disagrees.
    """
    kh, kw = w.shape[2:]
    k = max(kh, kw)
    axis = 2 if kh < k else 3
    grow = k - min(kh, kw)
    if grow == 0 or grow % 2 or dilations[axis - 2] != 1:
        return w, pads
    widths = [(0, 0)] * 4
    widths[axis] = (grow // 2, grow // 2)
    pads = list(pads)
    pads[axis - 2] += grow // 2
    return np.pad(w, widths), pads


def _avgpool2d(exp: _Exporter, op: Operation) -> Any:
    import nir

    ph, pw = _symmetric(op, op.attrs["pads"])
    if op.attrs["count_include_pad"] == 0 and (ph or pw):
        raise NirExportError("avgpool2d with count_include_pad = 0 and padding: NIR's AvgPool2d counts padded "
                             "zeros (as PyTorch's default)", where=_where(op),
                             hint="use count_include_pad = 1 or no padding")
    return nir.AvgPool2d(kernel_size=np.array(op.attrs["kernel"]), stride=np.array(op.attrs["strides"]),
                         padding=np.array([ph, pw]),
                         metadata={META + "count_include_pad": str(op.attrs["count_include_pad"])})


def _flatten(exp: _Exporter, op: Operation) -> Any:
    import nir

    feats = list(op.operands[0].type.features)
    if exp.torch_batch:  # torch.nn.Flatten(start_dim, end_dim) on [B, *f]: count from the end
        return nir.Flatten(input_type={"input": np.array(feats)}, start_dim=-len(feats), end_dim=-1)
    return nir.Flatten(input_type={"input": np.array(feats)}, start_dim=0, end_dim=-1)


def _if(exp: _Exporter, op: Operation) -> Any:
    """snnc ``V[t] = V[t-1] + I[t]`` is NIR's Euler step ``v += r*dt*I`` with ``r = 1/dt`` and ``v = V``."""
    import nir

    feats = op.result.type.features
    theta = np.asarray(op.attrs["threshold"])
    meta = {META + "reset": op.attrs["reset"], META + "threshold_shape": json.dumps(list(theta.shape))}
    vth = np.ascontiguousarray(np.broadcast_to(theta, feats), dtype=np.float32)
    if exp.flavour == "rockpool":
        return _rockpool(op, np.ones(feats), np.zeros(feats), vth)
    if op.result.name in exp.scale:
        vth = np.ones(feats, np.float32)
    if exp.flavour == "snntorch":  # no usable IF node: a LIF that does not leak
        tau = np.full(feats, TAU_NO_LEAK, np.float32)
        return _node(nir.LIF, tau=tau, r=(tau / np.float32(exp.dt)).astype(np.float32),
                     v_leak=np.zeros(feats, np.float32), v_threshold=vth, v_reset=np.zeros(feats, np.float32),
                     metadata=meta)
    r = np.full(feats, 1.0 if exp.flavour == "norse" else 1.0 / exp.dt, np.float32)
    return _node(nir.IF, r=r, v_threshold=vth, v_reset=np.zeros(feats, np.float32), metadata=meta)


def _tau(exp: _Exporter, decay: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-step decay ``d`` as NIR's forward-Euler step at dt: ``tau = dt/(1 - d)`` and the input gain
    ``r = tau/dt`` that makes ``dt*r/tau = 1`` (so the threshold is theta); ``d = 1``: ``tau = r = inf``
    (the snnTorch flavour: tau = 1e30, which its importer reads as decay 1 in float32)."""
    with np.errstate(divide="ignore"):
        tau = np.where(decay >= 1, np.inf, exp.dt / (1.0 - decay.astype(np.float64)))
        if exp.flavour == "snntorch":
            tau = np.where(decay >= 1, TAU_NO_LEAK, tau)
        if exp.flavour == "sinabs":  # Sinabs' LIF / ExpLeak step with dt = 1: decay exp(-1/tau), input gain 1
            tau = np.where(decay >= 1, np.inf, -1.0 / np.log(np.maximum(decay.astype(np.float64), 1e-300)))
            return tau, np.ones_like(tau)
        return tau, np.where(np.isinf(tau), np.inf, tau / exp.dt)


def _shapes(op: Operation, *keys: str) -> dict[str, str]:
    return {META + f"{k}_shape": json.dumps(list(np.asarray(op.attrs[k]).shape)) for k in keys}


def _leaky(exp: _Exporter, op: Operation, kind: str) -> Any:
    """``snn.lif`` -> LIF, ``snn.cuba_lif`` -> CubaLIF, ``snn.li`` -> LI: NIR's ODEs whose forward-Euler step
    at dt is snnc's (``beta = 1 - dt/tau``, gain ``dt*r/tau = 1``); the reset and its order go in the
    node metadata (``snnc.reset``, ``snnc.delayed_reset``: NIR has no field for them). The Norse flavour
    writes Norse's step ``v += (dt/tau)*(r*I - v)`` with ``r = 1``: its potential is ``(1 - beta) V``."""
    import nir

    feats = op.result.type.features
    full = lambda key: np.ascontiguousarray(np.broadcast_to(np.asarray(op.attrs[key], np.float64), feats))  # noqa: E731
    zeros = np.zeros(feats, np.float32)
    if exp.flavour == "rockpool":
        return _rockpool(op, full("beta"), full("alpha") if kind == "CubaLIF" else np.zeros(feats), full("threshold"))
    tau_mem, r = _tau(exp, full("beta"))
    norse = exp.flavour == "norse"
    if norse:
        r = np.ones(feats) if kind == "LIF" else 1.0 / (1.0 - full("beta"))
    if kind == "LI":
        return _node(nir.LI, tau=tau_mem.astype(np.float32), r=r.astype(np.float32), v_leak=zeros,
                      metadata=_shapes(op, "beta"))
    meta = {META + "reset": op.attrs["reset"], META + "delayed_reset": str(op.attrs["delayed_reset"]),
            **_shapes(op, "threshold", "beta", *(("alpha",) if kind == "CubaLIF" else ()))}
    theta = np.ones(feats) if op.result.name in exp.scale else full("threshold")
    if kind == "LIF":
        if norse:  # Norse's potential is k*V with k = dt*(1/tau), as its LIFBoxCell computes it in float32
            k = np.float32(exp.dt) * (np.float32(1.0) / tau_mem.astype(np.float32))
            theta = theta * k.astype(np.float64)
        return _node(nir.LIF, tau=tau_mem.astype(np.float32), r=r.astype(np.float32), v_leak=zeros,
                       v_threshold=theta.astype(np.float32), v_reset=zeros, metadata=meta)
    tau_syn, w_in = _tau(exp, full("alpha"))
    if norse:
        w_in = 1.0 / (1.0 - full("alpha"))
    return _node(nir.CubaLIF, tau_syn=tau_syn.astype(np.float32), tau_mem=tau_mem.astype(np.float32),
                 r=r.astype(np.float32), w_in=w_in.astype(np.float32), v_leak=zeros,
                 v_threshold=theta.astype(np.float32), v_reset=zeros, metadata=meta)


def _rockpool(op: Operation, beta: np.ndarray, alpha: np.ndarray, theta: np.ndarray) -> Any:
    """Rockpool's from_nir builds every spiking neuron from a CubaLIF (its LIF branch reads a ``tau_mem`` that
    nir.LIF lacks): ``LIFTorch`` with decays ``exp(-dt/tau)`` and ``dt = tau_mem/(1 + r)``. So: tau = -1/ln(decay)
    (dt = 1 step), ``r = tau_mem - 1``; its input filter ``J = b*(J + I)`` makes its ``J`` and ``V`` ``b`` times
    snnc's, so ``v_threshold = theta*b`` (``b`` as torch computes it); no leak (beta = 1) is ``tau_mem = 1e30``.
    IF and LIF are refused (UNMAPPED): ``b = 0`` would pass no input at all."""
    import nir

    def tau(d: np.ndarray, none: float) -> np.ndarray:
        with np.errstate(divide="ignore"):
            t = -1.0 / np.log(np.clip(d.astype(np.float64), 1e-300, 1.0))
        return np.where(d >= 1, TAU_NO_LEAK, np.where(d <= 0, none, t))

    from snnc.frontend.nir_import import _exp_decay

    tau_mem, tau_syn = tau(beta, 1e-30), tau(alpha, 1e-30)
    zeros = np.zeros(beta.shape, np.float32)
    # LIFTorch: J = b*(J + I), V = a*V + J, so its J and V are b times snnc's: the threshold too
    theta = np.asarray(theta, np.float64) * _exp_decay(1.0, tau_syn.astype(np.float32))
    return _node(nir.CubaLIF, tau_syn=tau_syn.astype(np.float32), tau_mem=tau_mem.astype(np.float32),
                       r=(tau_mem - 1.0).astype(np.float32), w_in=np.ones(beta.shape, np.float32), v_leak=zeros,
                       v_threshold=np.asarray(theta, np.float32), v_reset=zeros,
                       metadata={META + "reset": op.attrs["reset"]})


#: IR op -> NIR node factory (encoders and decoders are not NIR nodes: see the module docstring)
EXPORTERS: dict[str, Callable[[_Exporter, Operation], Any]] = {
    "snn.dense": _dense,
    "snn.conv2d": _conv2d,
    "snn.avgpool2d": _avgpool2d,
    "snn.flatten": _flatten,
    "snn.reshape": _flatten,  # only a reshape to one axis gets here (see _refuse)
    "snn.if": _if,
    "snn.lif": lambda exp, op: _leaky(exp, op, "LIF"),
    "snn.cuba_lif": lambda exp, op: _leaky(exp, op, "CubaLIF"),
    "snn.li": lambda exp, op: _leaky(exp, op, "LI"),
}
