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
spike-count / last-step     not a NIR node: the Output carries the last IF layer's spikes; the decoder is
decoder                     recorded in the graph metadata (``snnc.decoder*``)
==========================  =============================================================================

Refused, with an error naming the op: ``snn.relpsp`` (NIR has no single-spike ReL-PSP neuron),
``snn.ttfs_encode`` and ``snn.first_spike_decode`` (time-to-first-spike codes), ``snn.time_flatten``
and dense layers on tensors (the trainable spatio-temporal decoder), ``snn.reshape`` other than a
flatten, quantized (integer) parameters, asymmetric pads, branching graphs.

Example:
    >>> from snnc.api import load_model
    >>> nir_graph = export_nir(load_model("models/stbp-fashion-mlp.onnx"), "stbp.nir")   # doctest: +SKIP
"""

from __future__ import annotations

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


def export_nir(graph: Graph, path: str | os.PathLike[str] | None = None, *, force: bool = False,
               dt: float = 1.0) -> nir.NIRGraph:
    """Convert an IF network to a NIR graph, and write it to ``path`` when given.

    Args:
        graph: a verified graph: spike-train input or ``snn.rate_encode``, then a chain of dense / conv2d /
            avgpool2d / flatten / ``snn.if`` ops, ending in a spike-count or last-step decoder.
        path: the ``.nir`` file to write (atomically: a temporary file beside it, then a rename).
        force: overwrite ``path`` if it exists.
        dt: NIR time per snnc step; IF nodes get ``r = 1/dt`` so that ``r * dt = 1`` (see ``docs/nir.md``).

    Returns:
        The ``nir.NIRGraph`` (type-checked by ``nir``).

    Raises:
        NirExportError: an op NIR cannot express (e.g. ``snn.relpsp``), named with the reason and a hint.
        SnncError: ``path`` exists without ``force``, or the graph is not a chain.
    """
    import nir

    from snnc.io import check_output_path, write_atomic

    out = check_output_path(path, force=force) if path is not None else None
    if not isinstance(dt, int | float) or not math.isfinite(dt) or dt <= 0:
        raise SnncError(f"dt must be a finite number > 0, got {dt!r}", where="export_nir")
    graph.verify()
    _refuse(graph)
    chain = _chain(graph)
    nodes, edges, meta = _Exporter(graph, float(dt)).run(chain)
    try:
        result = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=True)
    except Exception as err:  # nir's own type check; our nodes should always pass it
        raise SnncError(f"nir rejects the exported graph: {type(err).__name__}: {err}", where=f"graph @{graph.name}",
                        hint="this is a bug in snnc's NIR export; please report it") from None
    if out is not None:
        buffer = io.BytesIO()
        nir.write(buffer, result)
        write_atomic(out, buffer.getvalue())
    return result


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
        if "recurrent_weight" in op.attrs:
            raise NirExportError(f"{op.opname} with a recurrent_weight cannot be exported to NIR yet: the exporter "
                                 "writes feed-forward layers only", where=_where(op),
                                 hint="keep recurrent models in ONNX for now")
        if op.opname == "snn.dense" and op.operands[0].type.kind is Kind.TENSOR:
            raise NirExportError("a dense layer on a per-sample tensor (a decoder stage) has no NIR equivalent: NIR "
                                 "synapses act on signals over time", where=_where(op),
                                 hint="use a spike-count or last-step decoder")
        if op.opname == "snn.reshape" and len(op.attrs["shape"]) != 1:
            raise NirExportError(f"NIR has no reshape node (only Flatten); reshape to {op.attrs['shape']} cannot be "
                                 f"expressed", where=_where(op), hint="reshape to one axis (a flatten) or not at all")
        if op.opname not in EXPORTERS and op.opname not in ("snn.rate_encode", *DECODERS_BY_OP):
            raise NirExportError(f"{op.opname} has no NIR equivalent", where=_where(op),
                                 hint=f"NIR export supports: snn.rate_encode, {', '.join(EXPORTERS)}, "
                                      f"{', '.join(DECODERS_BY_OP)}")


def _chain(graph: Graph) -> list[Operation]:
    """The ops as one chain input -> (encoder) -> layers -> decoder; errors otherwise."""
    where = f"graph @{graph.name}"
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise SnncError(f"NIR export takes graphs with one input and one output; this one has {len(graph.inputs)} "
                        f"and {len(graph.outputs)}", where=where)
    previous = graph.inputs[0]
    chain = []
    for op in graph.ops:
        if len(op.operands) != 1 or op.operands[0] is not previous:
            raise SnncError(f"NIR export takes a chain of layers; {_where(op)} reads %"
                            f"{', %'.join(v.name for v in op.operands)} instead of %{previous.name}",
                            where=where, hint="snnc exports sequential networks only (no branches)")
        chain.append(op)
        previous = op.result
    if not chain or chain[-1].result is not graph.outputs[0] or chain[-1].opname not in DECODERS_BY_OP:
        raise SnncError("the graph must end in a spike-count or last-step decoder, which is its output",
                        where=where, hint="decode the last IF layer's spikes with snn.spike_count_decode")
    if graph.inputs[0].type.kind is Kind.TENSOR and chain[0].opname != "snn.rate_encode":
        raise SnncError(f"the input %{graph.inputs[0].name} is a tensor read by {chain[0].opname}; NIR export needs "
                        f"a spike-train input or a rate encoder", where=where)
    if graph.inputs[0].type.kind is Kind.CURRENT:
        raise SnncError("the graph input is a current; NIR export needs a spike-train input or a rate encoder",
                        where=where)
    return chain


# ---------------------------------------------------------------------------------------- exporting
@dataclass
class _Exporter:
    graph: Graph
    dt: float

    def run(self, chain: list[Operation]) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
        import nir

        g = self.graph
        x = g.inputs[0]
        meta: dict[str, Any] = {
            META + "format": "1",
            META + "name": g.name,
            META + "time_steps": str(g.time_steps),
            META + "dt": repr(self.dt),
            META + "metadata": json.dumps(g.metadata, sort_keys=False),
        }
        layers = chain
        if chain[0].opname == "snn.rate_encode":
            enc = chain[0]
            meta.update({META + "encoder": "rate", META + "encoder_threshold": repr(enc.attrs["threshold"]),
                         META + "encoder_name": enc.result.name})
            layers = chain[1:]
            features = enc.result.type.features
        else:
            meta[META + "encoder"] = "spikes"
            features = x.type.features
        decoder = layers[-1]
        layers = layers[:-1]
        meta.update({META + "decoder": DECODERS_BY_OP[decoder.opname], META + "decoder_name": decoder.result.name})
        if not any(is_neuron(op.opname) for op in layers):
            raise NirExportError("the graph has no neurons; NIR export takes IF / LIF / CubaLIF / LI networks",
                                 where=f"graph @{g.name}")
        resets = {op.attrs["reset"] for op in layers if "reset" in op.attrs}
        if len(resets) == 1:
            meta[META + "reset"] = resets.pop()
        if not is_neuron(layers[-1].opname):
            raise SnncError(f"the decoder reads {layers[-1].opname}, not neurons", where=_where(decoder))

        nodes: dict[str, Any] = {x.name: nir.Input(input_type={"input": np.array(features)})}
        names = [x.name]
        for op in layers:
            nodes[op.result.name] = EXPORTERS[op.opname](self, op)
            names.append(op.result.name)
        out_name = decoder.result.name
        nodes[out_name] = nir.Output(output_type={"output": np.array(layers[-1].result.type.features)})
        names.append(out_name)
        edges = list(zip(names[:-1], names[1:], strict=True))
        return nodes, edges, meta


def _symmetric(op: Operation, pads: list[int]) -> tuple[int, int]:
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise NirExportError(f"{op.opname} pads {pads} (top, left, bottom, right) are asymmetric; NIR pads both "
                             f"sides of an axis equally", where=_where(op),
                             hint="use symmetric pads, or pad the input explicitly")
    return top, left


def _dense(exp: _Exporter, op: Operation) -> Any:
    import nir

    w = np.array(op.attrs["weight"], dtype=np.float32)
    bias = op.attrs.get("bias")
    if bias is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=np.array(bias, dtype=np.float32))


def _conv2d(exp: _Exporter, op: Operation) -> Any:
    import nir

    w = np.array(op.attrs["weight"], dtype=np.float32)
    bias = op.attrs.get("bias")
    bias = np.zeros(w.shape[0], np.float32) if bias is None else np.array(bias, dtype=np.float32)
    ph, pw = _symmetric(op, op.attrs["pads"])
    _, h, wd = op.operands[0].type.features
    return nir.Conv2d(input_shape=(h, wd), weight=w, stride=tuple(op.attrs["strides"]), padding=(ph, pw),
                      dilation=tuple(op.attrs["dilations"]), groups=op.attrs["group"], bias=bias)


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

    return nir.Flatten(input_type={"input": np.array(op.operands[0].type.features)}, start_dim=0, end_dim=-1)


def _if(exp: _Exporter, op: Operation) -> Any:
    """snnc ``V[t] = V[t-1] + I[t]`` is NIR's Euler step ``v += r*dt*I`` with ``r = 1/dt`` and ``v = V``."""
    import nir

    feats = op.result.type.features
    theta = np.asarray(op.attrs["threshold"])
    return nir.IF(
        r=np.full(feats, 1.0 / exp.dt, np.float32),
        v_threshold=np.ascontiguousarray(np.broadcast_to(theta, feats), dtype=np.float32),
        v_reset=np.zeros(feats, np.float32),
        metadata={META + "reset": op.attrs["reset"], META + "threshold_shape": json.dumps(list(theta.shape))},
    )


def _tau(exp: _Exporter, decay: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-step decay ``d`` as NIR's forward-Euler step at dt: ``tau = dt/(1 - d)`` and the input gain
    ``r = tau/dt`` that makes ``dt*r/tau = 1`` (so the threshold is theta); ``d = 1``: ``tau = r = inf``."""
    with np.errstate(divide="ignore"):
        tau = np.where(decay >= 1, np.inf, exp.dt / (1.0 - decay.astype(np.float64)))
        return tau, np.where(decay >= 1, np.inf, tau / exp.dt)


def _shapes(op: Operation, *keys: str) -> dict[str, str]:
    return {META + f"{k}_shape": json.dumps(list(np.asarray(op.attrs[k]).shape)) for k in keys}


def _leaky(exp: _Exporter, op: Operation, kind: str) -> Any:
    """``snn.lif`` -> LIF, ``snn.cuba_lif`` -> CubaLIF, ``snn.li`` -> LI: NIR's ODEs whose forward-Euler step
    at dt is snnc's (``beta = 1 - dt/tau``, gain ``dt*r/tau = 1``); the reset and its order go in the
    node metadata (``snnc.reset``, ``snnc.delayed_reset``: NIR has no field for them)."""
    import nir

    feats = op.result.type.features
    full = lambda key: np.ascontiguousarray(np.broadcast_to(np.asarray(op.attrs[key], np.float64), feats))  # noqa: E731
    zeros = np.zeros(feats, np.float32)
    tau_mem, r = _tau(exp, full("beta"))
    if kind == "LI":
        return nir.LI(tau=tau_mem.astype(np.float32), r=r.astype(np.float32), v_leak=zeros,
                      metadata=_shapes(op, "beta"))
    meta = {META + "reset": op.attrs["reset"], META + "delayed_reset": str(op.attrs["delayed_reset"]),
            **_shapes(op, "threshold", "beta", *(("alpha",) if kind == "CubaLIF" else ()))}
    theta = full("threshold").astype(np.float32)
    if kind == "LIF":
        return nir.LIF(tau=tau_mem.astype(np.float32), r=r.astype(np.float32), v_leak=zeros, v_threshold=theta,
                       v_reset=zeros, metadata=meta)
    tau_syn, w_in = _tau(exp, full("alpha"))
    return nir.CubaLIF(tau_syn=tau_syn.astype(np.float32), tau_mem=tau_mem.astype(np.float32), r=r.astype(np.float32),
                       w_in=w_in.astype(np.float32), v_leak=zeros, v_threshold=theta, v_reset=zeros, metadata=meta)


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
