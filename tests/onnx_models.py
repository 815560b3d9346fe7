"""Small hand-made SPEC models, one per operator combination, for differential tests.

Every case is built with :class:`snnc.frontend.snn_onnx.SnnModelBuilder` from random weights on a
dyadic grid (multiples of 1/64, magnitude <= 1/2), so float32 sums are exact in any order and every
correct executor must agree with :mod:`snnc.tests.spec_numpy` bit for bit.

Two registries, keyed by the same case names:

* ``MODEL_CASES: dict[str, Callable[[int], onnx.ModelProto]]``: ``MODEL_CASES[name](seed)`` is the
  model alone (input ``x``, output ``scores``), e.g. for importer round trips.
* ``CASES: dict[str, Callable[[int], SnnCase]]``: ``CASES[name](seed)`` also carries the recipe
  (:attr:`SnnCase.steps`), :meth:`SnnCase.reference` (every value by name, computed with
  ``spec_numpy``; the output under ``"scores"``), :attr:`SnnCase.spike_values` (names of the spike
  trains in the model, usable as ``run_onnxruntime(..., extra_outputs=...)``) and
  :meth:`SnnCase.inputs` (random inputs with edge values: 0, 1, below 0, above 1, k/255).

Example:
    >>> case = CASES["rate_if_subtract_last"](seed=0)
    >>> x = case.inputs(n=8, seed=1)
    >>> ref = case.reference(x)
    >>> ref["scores"].shape
    (8, 4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from snnc.frontend.snn_onnx import SnnModelBuilder, SnnValue
from snnc.ir.types import Kind
from snnc.tests import spec_numpy as spec

#: The dyadic grid of weights: multiples of 1 / GRID.
GRID = 64


@dataclass(frozen=True)
class Step:
    """One builder call: ``output = op(input, **params)``."""

    op: str
    input: str
    output: str
    kind: Kind
    params: dict[str, Any]


# op -> spec_numpy evaluation of (array, params, time_steps)
_REFERENCE: dict[str, Callable[[np.ndarray, dict[str, Any], int], np.ndarray]] = {
    "ttfs_encode": lambda a, p, t: spec.ttfs_encode(a, t, p.get("window")),
    "rate_encode": lambda a, p, t: spec.rate_encode(a, t, p.get("threshold", 0.5)),
    "dense": lambda a, p, t: spec.dense(a, p["weight"], p.get("bias")),
    "conv2d": lambda a, p, t: spec.conv2d(a, p["weight"], p.get("bias"), p.get("strides", (1, 1)),
                                          p.get("pads", (0, 0, 0, 0)), p.get("dilations", (1, 1)), p.get("group", 1)),
    "avgpool2d": lambda a, p, t: spec.avgpool2d(a, p["kernel"], p.get("strides"), p.get("pads", (0, 0, 0, 0)),
                                                p.get("count_include_pad", 0)),
    "flatten": lambda a, p, t: a.reshape(*a.shape[:2], -1) if a.ndim > 2 and p["time_major"] else a.reshape(
        a.shape[0], -1),
    "relpsp": lambda a, p, t: spec.relpsp(a, p["threshold"]),
    "if_neuron": lambda a, p, t: spec.if_neuron(a, p["threshold"], p.get("reset", "subtract")),
    "first_spike_decode": lambda a, p, t: spec.first_spike_decode(a),
    "last_step_decode": lambda a, p, t: spec.last_step_decode(a),
    "spike_count_decode": lambda a, p, t: spec.spike_count_decode(a),
    "spatiotemporal_decode": lambda a, p, t: spec.dense(spec.time_flatten(a), p["weight"], p.get("bias")),
}


@dataclass
class SnnCase:
    """A test model with its recipe; see the module docstring."""

    name: str
    model: onnx.ModelProto
    input_features: tuple[int, ...]
    time_steps: int
    steps: list[Step] = field(default_factory=list)

    @property
    def spike_values(self) -> list[str]:
        """Names of the spike trains ``[T, B, *f]`` of the model, in order."""
        return [s.output for s in self.steps if s.kind is Kind.SPIKES]

    def reference(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every value of the model on the batch ``x`` per ``spec_numpy``; the output is ``"scores"``."""
        env = {"x": np.asarray(x, np.float32)}
        for s in self.steps:
            env[s.output] = _REFERENCE[s.op](env[s.input], s.params, self.time_steps)
        return env

    def inputs(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` random inputs ``[n, *features]`` (see :func:`random_inputs`)."""
        return random_inputs(self.input_features, n, seed)


def node(op: str, inputs: list[str], outputs: list[str], name: str | None = None, domain: str = "",
         **attrs: Any) -> onnx.NodeProto:
    """A hand-made ONNX node (named after its first output unless ``name`` is given)."""
    return helper.make_node(op, inputs, outputs, name=name or outputs[0], domain=domain, **attrs)


def snn(op: str, inputs: list[str], outputs: list[str], name: str | None = None, **attrs: Any) -> onnx.NodeProto:
    """A hand-made node of the ``snn`` domain."""
    return node(op, inputs, outputs, name, domain="snn", **attrs)


def init(name: str, array: Any, dtype: Any = np.float32) -> onnx.TensorProto:
    """An initializer from anything NumPy turns into an array of ``dtype``."""
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def random_inputs(features: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Random float32 inputs: mostly ``k/255`` (a third of them 0), some exactly 1, some outside [0, 1].

    Args:
        features: the per-sample shape.
        n: the batch size.
        seed: the random seed.
    """
    rng = np.random.default_rng(seed)
    shape = (n, *features)
    x = (rng.integers(0, 256, shape) / 255).astype(np.float32)
    pick = rng.random(shape)
    x[pick < 0.3] = 0.0
    x[(pick >= 0.3) & (pick < 0.35)] = 1.0
    x[(pick >= 0.35) & (pick < 0.38)] = rng.uniform(-0.5, 0.0, shape)[(pick >= 0.35) & (pick < 0.38)]
    x[(pick >= 0.38) & (pick < 0.41)] = rng.uniform(1.0, 1.5, shape)[(pick >= 0.38) & (pick < 0.41)]
    return x


def dyadic(rng: np.random.Generator, shape: tuple[int, ...], limit: int = GRID // 2, offset: int = 0) -> np.ndarray:
    """Random float32 multiples of ``1/GRID`` in ``[(offset - limit)/GRID, (offset + limit)/GRID]``."""
    return ((rng.integers(-limit, limit + 1, shape) + offset) / GRID).astype(np.float32)


class _Recorder:
    """Calls the builder and records each call as a :class:`Step`."""

    def __init__(self, name: str, features: tuple[int, ...], time_steps: int) -> None:
        self.name = name
        self.features = features
        self.time_steps = time_steps
        self.builder = SnnModelBuilder(input_features=features, time_steps=time_steps, name=name)
        self.steps: list[Step] = []

    @property
    def input(self) -> SnnValue:
        return self.builder.input

    def __call__(self, op: str, x: SnnValue, **params: Any) -> SnnValue:
        out = getattr(self.builder, op)(x, **params)
        if op == "flatten":
            params = {"time_major": x.kind.time_major}
        self.steps.append(Step(op, x.name, out.name, out.kind, params))
        return out

    def finish(self, output: SnnValue, algorithm: str) -> SnnCase:
        model = self.builder.build(output=output, metadata={"snn.algorithm": algorithm, "snn.test_case": self.name})
        steps = [Step(s.op, s.input, "scores" if s.output == output.name else s.output, s.kind, s.params)
                 for s in self.steps]
        return SnnCase(self.name, model, self.features, self.time_steps, steps)


# --------------------------------------------------------------------------------------------- cases
def ttfs_dense_relpsp_first(seed: int, window: int | None = None) -> SnnCase:
    """TTFS (window) -> dense+bias -> ReLPSP -> dense -> ReLPSP -> first-spike decode (STDBP MLP)."""
    rng = np.random.default_rng(seed)
    r = _Recorder("ttfs_dense_relpsp_first" if window is None else "ttfs_window_relpsp_first", (12,), 10)
    s = r("ttfs_encode", r.input, window=window)
    h = r("relpsp", r("dense", s, weight=dyadic(rng, (10, 12), offset=4), bias=dyadic(rng, (10,), 8)),
          threshold=1.0)
    o = r("relpsp", r("dense", h, weight=dyadic(rng, (5, 10), offset=8)), threshold=0.5)
    return r.finish(r("first_spike_decode", o), "stdbp")


def rate_if_subtract_last(seed: int) -> SnnCase:
    """Rate -> dense+bias -> IF(subtract, scalar) -> dense -> IF(subtract, per neuron) -> last step."""
    rng = np.random.default_rng(seed)
    r = _Recorder("rate_if_subtract_last", (12,), 8)
    s = r("rate_encode", r.input, threshold=0.5)
    h = r("if_neuron", r("dense", s, weight=dyadic(rng, (8, 12), offset=4), bias=dyadic(rng, (8,), 8)),
          threshold=1.0, reset="subtract")
    theta = (rng.integers(16, 65, (4,)) / GRID).astype(np.float32)
    o = r("if_neuron", r("dense", h, weight=dyadic(rng, (4, 8), offset=6)), threshold=theta, reset="subtract")
    return r.finish(r("last_step_decode", o), "stbp")


def rate_if_zero_count(seed: int) -> SnnCase:
    """Rate(0.75) -> dense -> IF(zero, scalar) -> dense+bias -> IF(zero, per neuron) -> spike count."""
    rng = np.random.default_rng(seed)
    r = _Recorder("rate_if_zero_count", (10,), 9)
    s = r("rate_encode", r.input, threshold=0.75)
    h = r("if_neuron", r("dense", s, weight=dyadic(rng, (8, 10), offset=4)), threshold=0.5, reset="zero")
    theta = (rng.integers(16, 65, (5,)) / GRID).astype(np.float32)
    o = r("if_neuron", r("dense", h, weight=dyadic(rng, (5, 8), offset=6), bias=dyadic(rng, (5,), 8)),
          threshold=theta, reset="zero")
    return r.finish(r("spike_count_decode", o), "stbp")


def rate_if_spatiotemporal(seed: int) -> SnnCase:
    """Rate -> dense -> IF(subtract, per neuron) -> spatio-temporal decoder (Transpose, Reshape, Gemm)."""
    rng = np.random.default_rng(seed)
    r = _Recorder("rate_if_spatiotemporal", (10,), 6)
    s = r("rate_encode", r.input)
    theta = (rng.integers(16, 65, (6,)) / GRID).astype(np.float32)
    o = r("if_neuron", r("dense", s, weight=dyadic(rng, (6, 10), offset=4)), threshold=theta)
    return r.finish(r("spatiotemporal_decode", o, weight=dyadic(rng, (3, 6 * 6)), bias=dyadic(rng, (3,))),
                    "improved-stbp")


def conv_if_count(seed: int) -> SnnCase:
    """Rate -> conv 3x3 pad 1 + bias -> IF(per channel) -> avgpool 2 -> flatten -> dense -> IF -> count."""
    rng = np.random.default_rng(seed)
    r = _Recorder("conv_if_count", (1, 8, 8), 6)
    s = r("rate_encode", r.input)
    theta = (rng.integers(32, 97, (4, 1, 1)) / GRID).astype(np.float32)
    c = r("if_neuron", r("conv2d", s, weight=dyadic(rng, (4, 1, 3, 3), offset=6), bias=dyadic(rng, (4,)),
                         pads=(1, 1, 1, 1)), threshold=theta)
    f = r("flatten", r("avgpool2d", c, kernel=(2, 2)))
    o = r("if_neuron", r("dense", f, weight=dyadic(rng, (5, 64), offset=2)), threshold=1.0)
    return r.finish(r("spike_count_decode", o), "stbp")


def conv_relpsp_first(seed: int) -> SnnCase:
    """TTFS -> conv 3x3 stride 2 -> ReLPSP -> avgpool 2 -> flatten -> dense -> ReLPSP -> first spike."""
    rng = np.random.default_rng(seed)
    r = _Recorder("conv_relpsp_first", (2, 9, 9), 8)
    s = r("ttfs_encode", r.input)
    c = r("relpsp", r("conv2d", s, weight=dyadic(rng, (3, 2, 3, 3), offset=6), strides=(2, 2)), threshold=1.0)
    f = r("flatten", r("avgpool2d", c, kernel=2))
    o = r("relpsp", r("dense", f, weight=dyadic(rng, (4, 12), offset=10)), threshold=0.5)
    return r.finish(r("first_spike_decode", o), "stdbp")


def conv_group_if_zero_last(seed: int) -> SnnCase:
    """Rate -> conv group 2 dilation 2 pads 1 -> IF(zero) -> avgpool 2 stride 1 -> flatten -> dense -> IF -> last."""
    rng = np.random.default_rng(seed)
    r = _Recorder("conv_group_if_zero_last", (2, 7, 7), 5)
    s = r("rate_encode", r.input, threshold=0.5)
    conv = r("conv2d", s, weight=dyadic(rng, (4, 1, 3, 3), offset=8), bias=dyadic(rng, (4,)), pads=(1, 1, 1, 1),
             dilations=(2, 2), group=2)
    c = r("if_neuron", conv, threshold=0.75, reset="zero")
    f = r("flatten", r("avgpool2d", c, kernel=(2, 2), strides=(1, 1)))
    o = r("if_neuron", r("dense", f, weight=dyadic(rng, (3, 4 * 4 * 4), offset=2)), threshold=1.0, reset="zero")
    return r.finish(r("last_step_decode", o), "stbp")


def image_flatten_ttfs_count(seed: int) -> SnnCase:
    """Image input [1, 4, 4] -> flatten (tensor) -> TTFS(window 4) -> dense -> IF -> spike count."""
    rng = np.random.default_rng(seed)
    r = _Recorder("image_flatten_ttfs_count", (1, 4, 4), 7)
    s = r("ttfs_encode", r("flatten", r.input), window=4)
    o = r("if_neuron", r("dense", s, weight=dyadic(rng, (6, 16), offset=12)), threshold=0.5)
    return r.finish(r("spike_count_decode", o), "stbp")


#: case name -> builder(seed) of the full case (model, recipe, reference, inputs).
CASES: dict[str, Callable[[int], SnnCase]] = {
    "ttfs_dense_relpsp_first": ttfs_dense_relpsp_first,
    "ttfs_window_relpsp_first": partial(ttfs_dense_relpsp_first, window=6),
    "rate_if_subtract_last": rate_if_subtract_last,
    "rate_if_zero_count": rate_if_zero_count,
    "rate_if_spatiotemporal": rate_if_spatiotemporal,
    "conv_if_count": conv_if_count,
    "conv_relpsp_first": conv_relpsp_first,
    "conv_group_if_zero_last": conv_group_if_zero_last,
    "image_flatten_ttfs_count": image_flatten_ttfs_count,
}


def _model_only(case: Callable[[int], SnnCase], seed: int) -> onnx.ModelProto:
    return case(seed).model


#: case name -> builder(seed) of the ONNX model alone.
MODEL_CASES: dict[str, Callable[[int], onnx.ModelProto]] = {
    name: partial(_model_only, case) for name, case in CASES.items()
}
