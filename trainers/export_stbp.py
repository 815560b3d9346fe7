"""Export a trained improved-STBP network to ONNX (SPEC section 3) and evaluate the exported file.

The ONNX graph is ``RateEncode -> [AveragePool] -> [Flatten] -> MatMul | Conv -> IF(theta, reset) -> ... ->
decoder``, where the decoder is ``SpikeCountDecode`` (rate), ``LastStepDecode`` (last) or the
spatio-temporal ``Transpose -> Reshape -> Gemm`` (st): exactly the computation of
:class:`~snnc.trainers.stbp_model.StbpNet`. Thresholds are float32 tensors: ``[C, 1, 1]`` per conv channel,
``[n]`` per dense neuron (also when they were not trained, so every file has the same layout).

Leaky networks: ``--neuron lif`` layers are ``snn.LIF(I, threshold, beta){reset, delayed_reset=0}`` named
``lif_i``, with ``beta`` a float32 tensor of the threshold's shape (the clamped values the trainer used,
fixed or trained); ``--recurrent`` hidden dense layers carry their ``recurrent_weight [n, n]`` as the
neuron's last input (``snn.IF`` or ``snn.LIF``). An LI readout is ``MatMul -> snn.LI(I, beta [N])`` named
``li_L``, decoded by ``snn.MaxOverTimeDecode`` (max), ``snn.LastStepDecode`` (last) or
``snn.SpikeCountDecode`` (rate: the mean potential).

Spikes per inference: the mean over test samples of the spikes of every IF/LIF layer (hidden and output),
from the per-value spike counts of the values ``if_i`` / ``lif_i`` (only those: the executor also counts
spike trains that are mere reshapes, such as a flatten before a dense layer). The rate encoder's spikes
are reported separately (:attr:`ExportedEval.encoder_spikes`): they depend only on the input image, so
they are the same for every row of an ablation. Models the reference executor cannot import yet are
measured with onnxruntime (:attr:`ExportedEval.measured_by` says which).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx

from snnc.trainers.stbp_model import StbpNet

__all__ = ["ExportedEval", "build_onnx", "encoder_value_name", "evaluate_exported"]

#: Name of the encoder's output value in every exported STBP model.
ENCODER_NAME = "encoder"


def encoder_value_name() -> str:
    """The ONNX value name of the rate encoder's spike train in exported models."""
    return ENCODER_NAME


def build_onnx(net: StbpNet, metadata: Mapping[str, str] | None = None, name: str = "stbp") -> onnx.ModelProto:
    """The network as a SPEC-conformant ONNX model (float32 weights and thresholds, ``snn`` local functions).

    Args:
        net: a (trained) network.
        metadata: ``snn.``-prefixed metadata.
        name: the ONNX graph name.

    Returns:
        the model; its IF (LIF) layers are named ``if_1 .. if_L`` (``lif_i``; an LI readout ``li_L``), the
        encoder ``encoder``.
    """
    from snnc.frontend.snn_onnx import SnnModelBuilder

    b = SnnModelBuilder(input_features=net.arch.input_shape, time_steps=net.time_steps, name=name)
    v = b.rate_encode(b.input, threshold=net.schemes.encoder_threshold, name=ENCODER_NAME)
    for i, (plan, w, th) in enumerate(zip(net.plans, net.weights, net.thresholds, strict=True), start=1):
        weight = w.detach().cpu().numpy().astype(np.float32)
        if plan.pool:
            v = b.avgpool2d(v, plan.pool)
        if plan.kind == "dense":
            if len(v.features) != 1:
                v = b.flatten(v)
            v = b.dense(v, weight)
        else:
            v = b.conv2d(v, weight, pads=plan.padding)
        theta = th.detach().cpu().numpy().astype(np.float32)
        beta = net.betas[i - 1].detach().cpu().numpy().astype(np.float32)
        if not net.spiking[i - 1]:
            v = b.li(v, beta=beta, name=f"li_{i}")
            break
        rec = net.recurrent_weights[i - 1].detach().cpu().numpy().astype(np.float32) if net.recurrent[i - 1] else None
        if net.schemes.neuron == "lif":
            v = b.lif(v, threshold=theta, beta=beta, reset=net.schemes.reset, recurrent_weight=rec, name=f"lif_{i}")
        else:
            v = b.if_neuron(v, threshold=theta, reset=net.schemes.reset, recurrent_weight=rec, name=f"if_{i}")
    dec = net.schemes.decoder
    if dec == "max":
        out = b.max_over_time_decode(v)
    elif dec == "rate":
        out = b.spike_count_decode(v)
    elif dec == "last":
        out = b.last_step_decode(v)
    else:
        out = b.spatiotemporal_decode(v, net.decoder_weight.detach().cpu().numpy().astype(np.float32),
                                      net.decoder_bias.detach().cpu().numpy().astype(np.float32))
    return b.build(output=out, metadata=dict(metadata or {}))


@dataclass
class ExportedEval:
    """The exported model measured by snnc's reference executor.

    Attributes:
        accuracy: test accuracy (argmax of the scores, ties to the lowest index).
        spikes_per_inference: mean spikes per sample of all IF layers (the encoder excluded).
        encoder_spikes: mean spikes per sample of the rate encoder.
        layer_spikes: mean spikes per sample of each IF layer, in order.
        predictions: int64 ``[N]``.
        scores: float32 ``[N, classes]``.
    """

    accuracy: float
    spikes_per_inference: float
    encoder_spikes: float
    layer_spikes: list[float]
    predictions: np.ndarray
    scores: np.ndarray
    measured_by: str = "snnc reference executor"


def _neuron_layers(names: object) -> list[str]:
    """The spiking layers' value names ``if_i`` / ``lif_i`` among ``names``, in layer order."""
    out = [k for k in names if isinstance(k, str) and k.split("_")[0] in ("if", "lif") and k.split("_")[-1].isdigit()
           and k.count("_") == 1]
    return sorted(out, key=lambda k: int(k.split("_")[1]))


def _ort_counts(model: onnx.ModelProto, x: np.ndarray, batch_size: int) -> tuple[list, list, dict]:
    """Scores, predictions and per-sample spike counts of the neuron layers and the encoder, by onnxruntime."""
    from snnc.frontend.snn_onnx import ort_session

    produced = [o for n in model.graph.node for o in n.output]
    names = _neuron_layers(produced) + ([ENCODER_NAME] if ENCODER_NAME in produced else [])
    sess = ort_session(model, names, threads=1)
    out_name = model.graph.output[0].name
    scores, preds, counts = [], [], {}
    for i in range(0, len(x), batch_size):
        res = sess.run([out_name, *names], {sess.get_inputs()[0].name: np.ascontiguousarray(x[i:i + batch_size],
                                                                                           dtype=np.float32)})
        scores.append(res[0])
        preds.append(np.argmax(res[0], axis=1))  # ties to the lowest index
        for k, a in zip(names, res[1:], strict=True):
            counts.setdefault(k, []).append(a.reshape(a.shape[0], a.shape[1], -1).sum((0, 2)).astype(np.int64))
    return scores, preds, counts


def evaluate_exported(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray, batch_size: int = 256, *,
                      engine: str = "auto") -> ExportedEval:
    """Run the exported model on ``x``; accuracy and spikes per inference.

    Args:
        engine: ``"reference"`` (snnc's reference executor), ``"onnxruntime"``, or ``"auto"``: the reference
            executor where snnc imports the model, onnxruntime where it does not.
    """
    from snnc.errors import SnncError

    graph = None
    if engine in ("auto", "reference"):
        from snnc.frontend import import_onnx

        try:
            graph = import_onnx(model)
        except SnncError:
            if engine == "reference":
                raise
    if graph is not None:
        from snnc.backends import get_backend

        backend = get_backend("reference")
        scores, preds, counts = [], [], {}
        for i in range(0, len(x), batch_size):
            r = backend.run(graph, x[i:i + batch_size])
            scores.append(r.scores)
            preds.append(r.predictions)
            for k, c in r.spike_counts.items():
                counts.setdefault(k, []).append(np.asarray(c, dtype=np.int64))
        measured_by = "snnc reference executor"
    else:
        scores, preds, counts = _ort_counts(model, x, batch_size)
        measured_by = "onnxruntime"
    n = max(len(x), 1)
    totals = {k: float(np.concatenate(c).sum()) / n for k, c in counts.items()}
    layers = [totals[k] for k in _neuron_layers(totals)]
    predictions = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return ExportedEval(
        accuracy=float((predictions == y).mean()) if len(y) else float("nan"),
        spikes_per_inference=sum(layers),
        encoder_spikes=totals.get(ENCODER_NAME, 0.0),
        layer_spikes=layers,
        predictions=predictions,
        scores=np.concatenate(scores) if scores else np.zeros((0, 0), np.float32),
        measured_by=measured_by,
    )
