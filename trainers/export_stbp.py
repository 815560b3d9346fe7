"""Export a trained improved-STBP network to ONNX (SPEC section 3) and evaluate the exported file.

The ONNX graph is ``RateEncode -> [AveragePool] -> [Flatten] -> MatMul | Conv -> IF(theta, reset) -> ... ->
decoder``, where the decoder is ``SpikeCountDecode`` (rate), ``LastStepDecode`` (last) or the
spatio-temporal ``Transpose -> Reshape -> Gemm`` (st): exactly the computation of
:class:`~snnc.trainers.stbp_model.StbpNet`. Thresholds are float32 tensors: ``[C, 1, 1]`` per conv channel,
``[n]`` per dense neuron (also when they were not trained, so every file has the same layout).

Spikes per inference: the mean over test samples of the spikes of every IF layer (hidden and output), from
the reference executor's per-value spike counts of the values ``if_1 .. if_L`` (only those: the executor
also counts spike trains that are mere reshapes, such as a flatten before a dense layer). The rate
encoder's spikes are reported separately (:attr:`ExportedEval.encoder_spikes`): they depend only on the
input image, so they are the same for every row of an ablation.
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
        the model; its IF layers are named ``if_1 .. if_L`` (output layer last), the encoder ``encoder``.
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
        v = b.if_neuron(v, threshold=theta, reset=net.schemes.reset, name=f"if_{i}")
    dec = net.schemes.decoder
    if dec == "rate":
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


def evaluate_exported(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> ExportedEval:
    """Run the exported model on ``x`` with the reference executor; accuracy and spikes per inference."""
    from snnc.backends import get_backend
    from snnc.frontend import import_onnx

    graph = import_onnx(model)
    backend = get_backend("reference")
    scores, preds, counts = [], [], {}
    for i in range(0, len(x), batch_size):
        r = backend.run(graph, x[i:i + batch_size])
        scores.append(r.scores)
        preds.append(r.predictions)
        for k, c in r.spike_counts.items():
            counts.setdefault(k, []).append(np.asarray(c, dtype=np.int64))
    n = max(len(x), 1)
    totals = {k: float(np.concatenate(c).sum()) / n for k, c in counts.items()}
    layer_names = sorted((k for k in totals if k.startswith("if_")), key=lambda k: int(k[3:]))
    layers = [totals[k] for k in layer_names]
    predictions = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return ExportedEval(
        accuracy=float((predictions == y).mean()) if len(y) else float("nan"),
        spikes_per_inference=sum(layers),
        encoder_spikes=totals.get(ENCODER_NAME, 0.0),
        layer_spikes=layers,
        predictions=predictions,
        scores=np.concatenate(scores) if scores else np.zeros((0, 0), np.float32),
    )
