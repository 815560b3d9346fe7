"""Export a trained STDBP network to ONNX (SPEC section 3) and evaluate the exported file.

The ONNX graph is ``TTFSEncode -> [AveragePool] -> [Flatten] -> MatMul | Conv -> ReLPSP -> ... ->
FirstSpikeDecode``: exactly the computation the trainer runs (:mod:`snnc.trainers.stdbp_model`), so the
exported model's accuracy, measured by snnc's reference executor, is the accuracy users get.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from snnc.trainers.stdbp_model import StdbpNet

__all__ = ["build_onnx", "evaluate_exported", "reference_scores"]


def build_onnx(net: StdbpNet, metadata: Mapping[str, str] | None = None, name: str = "stdbp") -> onnx.ModelProto:
    """The network as a SPEC-conformant ONNX model (float32 weights, ``snn`` ops with local functions).

    Args:
        net: a trained network.
        metadata: ``snn.``-prefixed metadata (algorithm, architecture, dataset, accuracy, ...).
        name: the ONNX graph name.
    """
    from snnc.frontend.snn_onnx import SnnModelBuilder

    b = SnnModelBuilder(input_features=net.arch.input_shape, time_steps=net.time_steps, name=name)
    v = b.ttfs_encode(b.input, window=net.window)
    for plan, w in zip(net.plans, net.effective_weights(), strict=True):
        weight = w.detach().cpu().numpy().astype(np.float32)
        if plan.pool:
            v = b.avgpool2d(v, plan.pool)
        if plan.kind == "dense":
            if len(v.features) != 1:
                v = b.flatten(v)
            v = b.dense(v, weight)
        else:
            v = b.conv2d(v, weight, pads=plan.padding)
        v = b.relpsp(v, threshold=net.threshold)
    return b.build(output=b.first_spike_decode(v), metadata=dict(metadata or {}))


def reference_scores(model: onnx.ModelProto, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Scores ``[N, classes]`` of the exported model on ``x`` through snnc's reference executor."""
    from snnc.backends import get_backend
    from snnc.frontend import import_onnx

    graph = import_onnx(model)
    backend = get_backend("reference")
    out = [backend.run(graph, x[i:i + batch_size]).scores for i in range(0, len(x), batch_size)]
    return np.concatenate(out, axis=0)


def evaluate_exported(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Accuracy of the exported model (reference executor; argmax of the scores, ties to the lowest index)."""
    scores = reference_scores(model, x, batch_size)
    return float((scores.argmax(axis=1) == y).mean())
