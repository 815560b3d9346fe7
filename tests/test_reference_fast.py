"""The compiled kernels of the reference executor (backends/reference/fast.py) against the NumPy kernels.

Differential: ``engine="numba"`` (the default) must give the same values bit for bit as ``engine="numpy"``
(the NumPy kernels of kernels.py, the specification) -- every output, every spike train, every spike count --
on random graphs with arbitrary float weights (inexact sums), with dyadic weights and thresholds (exact sums,
so that many potentials land exactly on the threshold: ties), on both scatter and matmul paths, and on
every shipped model, whose predictions must also equal onnxruntime's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnc.backends.reference import FAST_KERNELS, KERNELS, ReferenceBackend, ReferenceExecutor, SpikeTrain, fast
from snnc.backends.reference import kernels as K
from snnc.errors import BackendError
from snnc.ir import Graph, ValueType

F32 = np.float32
MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.onnx"))


def assert_same(graph: Graph, x: np.ndarray, **options: object) -> None:
    """numba and numpy engines agree bit for bit on outputs, spike trains and spike counts."""
    ref = ReferenceExecutor(graph, engine="numpy", **options).run(x, record=True)
    new = ReferenceExecutor(graph, engine="numba", **options).run(x, record=True)
    assert ref.outputs.keys() == new.outputs.keys() and ref.spikes.keys() == new.spikes.keys()
    for k in ref.outputs:
        assert ref.outputs[k].dtype == new.outputs[k].dtype
        np.testing.assert_array_equal(new.outputs[k], ref.outputs[k], err_msg=k)
    for k in ref.spikes:
        np.testing.assert_array_equal(new.spikes[k], ref.spikes[k], err_msg=k)
    for k in ref.spike_counts:
        np.testing.assert_array_equal(new.spike_counts[k], ref.spike_counts[k], err_msg=k)


def weights(rng: np.random.Generator, shape: tuple[int, ...], dyadic: bool, scale: float = 0.3) -> np.ndarray:
    if dyadic:  # multiples of 1/64: every float32 sum is exact, thresholds are hit exactly
        return (rng.integers(-8, 24, shape) / 64).astype(F32)
    return rng.normal(0.05, scale, shape).astype(F32)


def inputs(rng: np.random.Generator, batch: int, features: tuple[int, ...], lit: float) -> np.ndarray:
    x = (rng.integers(1, 256, (batch, *features)) / 255).astype(F32)
    x[rng.random(x.shape) >= lit] = 0
    return x


def mlp(rng: np.random.Generator, neuron: str, dyadic: bool, time_steps: int, sizes: tuple[int, ...],
        reset: str = "subtract", delayed: int = 0, bias: bool = False) -> Graph:
    g = Graph(f"mlp_{neuron}", time_steps=time_steps)
    h = g.add_input("x", ValueType.tensor(sizes[0]))
    if neuron == "relpsp":
        h = g.add_op("snn.ttfs_encode", [h], {"time_steps": time_steps, "window": max(2, time_steps // 2)})
    else:
        h = g.add_op("snn.rate_encode", [h], {"time_steps": time_steps, "threshold": 0.5})
    for k, n in enumerate(sizes[1:]):
        attrs = {"weight": weights(rng, (n, h.type.size), dyadic)}
        if bias:
            attrs["bias"] = weights(rng, (n,), dyadic, 0.05)
        c = g.add_op("snn.dense", [h], attrs, name=f"fc{k}")
        theta = (rng.integers(16, 80, n) / 64).astype(F32) if dyadic else rng.uniform(0.3, 1.2, n).astype(F32)
        leak = {"beta": (rng.integers(32, 64, n) / 64).astype(F32), "reset": reset, "delayed_reset": delayed}
        if neuron == "relpsp":
            h = g.add_op("snn.relpsp", [c], {"threshold": 1.0 if dyadic else float(theta[0])}, name=f"h{k}")
        elif neuron == "if":
            h = g.add_op("snn.if", [c], {"threshold": theta, "reset": reset}, name=f"h{k}")
        elif neuron == "lif":
            h = g.add_op("snn.lif", [c], {"threshold": theta, **leak}, name=f"h{k}")
        else:
            h = g.add_op("snn.cuba_lif", [c], {"threshold": theta, "alpha": (rng.integers(16, 64, n) / 64).astype(F32),
                                               **leak}, name=f"h{k}")
    decoder = "snn.first_spike_decode" if neuron == "relpsp" else "snn.spike_count_decode"
    g.set_outputs([g.add_op(decoder, [h], name="scores")])
    return g


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dyadic", [True, False])
@pytest.mark.parametrize("neuron", ["relpsp", "if", "lif", "cuba_lif"])
def test_random_mlps_bit_identical(neuron: str, dyadic: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = mlp(rng, neuron, dyadic, int(rng.integers(3, 40)), (int(rng.integers(5, 60)), int(rng.integers(3, 50)), 7),
            reset=["subtract", "zero"][seed % 2], delayed=int(seed % 3 == 0), bias=seed % 2 == 1)
    x = inputs(rng, int(rng.integers(1, 12)), g.inputs[0].type.features, lit=float(rng.uniform(0.1, 1.0)))
    for sparse in ("auto", "always", "never"):  # scatter and matmul paths of the dense synapse
        assert_same(g, x, sparse=sparse)


def test_ties_at_threshold_are_exercised() -> None:
    """With dyadic weights the potentials hit the threshold exactly: the comparison ``V >= theta`` decides
    ties, and both engines decide them alike (checked above); here, that ties do occur."""
    rng = np.random.default_rng(3)
    g = mlp(rng, "if", True, 16, (30, 20, 7))
    x = inputs(rng, 8, (30,), 0.8)
    current = KERNELS["snn.dense"](K.KernelContext(16), g.ops[1],
                                   KERNELS["snn.rate_encode"](K.KernelContext(16), g.ops[0], x))
    theta = g.ops[2].attrs["threshold"]
    v = np.cumsum(current, axis=0, dtype=F32)  # potentials before the first reset: exact (dyadic)
    assert np.any(v == theta), "no potential equals its threshold: the tie test tests nothing"
    assert_same(g, x)


@pytest.mark.parametrize("seed", range(4))
def test_cnn_with_pooling_bit_identical(seed: int) -> None:
    """TTFS CNN: the spike-counting avgpool (pads, strides, count_include_pad) and ReL-PSP after conv."""
    rng = np.random.default_rng(seed)
    time_steps = 24
    g = Graph("cnn", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(2, 11, 11))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": 12})
    c1 = g.add_op("snn.conv2d", [s], {"weight": weights(rng, (4, 2, 3, 3), seed % 2 == 0), "strides": [1, 1],
                                      "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1})
    h1 = g.add_op("snn.relpsp", [c1], {"threshold": 1.0})
    pads = [[0, 0, 0, 0], [1, 0, 1, 1], [1, 1, 0, 0], [0, 1, 1, 0]][seed]
    p1 = g.add_op("snn.avgpool2d", [h1], {"kernel": [2, 3], "strides": [2, 1 + seed % 2], "pads": pads,
                                          "count_include_pad": seed % 2})
    c2 = g.add_op("snn.conv2d", [p1], {"weight": weights(rng, (3, 4, 3, 3), False), "strides": [1, 1],
                                       "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1})
    h2 = g.add_op("snn.relpsp", [c2], {"threshold": 0.5})
    f = g.add_op("snn.flatten", [h2])
    o = g.add_op("snn.relpsp", [g.add_op("snn.dense", [f], {"weight": weights(rng, (5, f.type.size), False)})],
                 {"threshold": 0.5})
    g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="scores")])
    assert_same(g, inputs(rng, 5, (2, 11, 11), 0.4))


@pytest.mark.parametrize("stored", ["times", "dense"])
def test_dense_scatter_currents_bit_identical(stored: str) -> None:
    """The compiled scatter reproduces ``_scatter_rows``'s currents exactly (inexact float weights)."""
    rng = np.random.default_rng(7)
    time_steps, batch, m, n = 12, 9, 70, 33
    g = Graph("d", time_steps=time_steps)
    s = g.add_input("s", ValueType.spikes(m))
    op = g.producer(g.add_op("snn.dense", [s], {"weight": rng.normal(0, 1, (n, m)).astype(F32),
                                                "bias": rng.normal(0, 1, n).astype(F32)}))
    times = rng.integers(0, time_steps + 1, (batch, m))
    train = SpikeTrain.from_times(times, time_steps)
    if stored == "dense":
        train = SpikeTrain.from_dense(rng.random((time_steps, batch, m)) < 0.3)
    ctx = K.KernelContext(time_steps, sparse="always")
    np.testing.assert_array_equal(fast.dense(ctx, op, train), K.dense(ctx, op, train))


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_shipped_models_identical_and_agree_with_onnxruntime(model: Path) -> None:
    import onnx

    from snnc.frontend import import_onnx
    from snnc.frontend.snn_onnx import ort_session

    proto = onnx.load(model)
    g = import_onnx(proto)
    rng = np.random.default_rng(0)
    x = inputs(rng, 12, g.inputs[0].type.features, 0.19)
    assert_same(g, x)
    scores = ReferenceBackend().run(g, x).scores
    ort_scores = ort_session(proto).run(None, {proto.graph.input[0].name: x})[0].reshape(scores.shape)
    np.testing.assert_array_equal(np.argmax(scores, axis=1), np.argmax(ort_scores, axis=1))


def test_backend_reuses_the_executor_until_the_graph_changes() -> None:
    rng = np.random.default_rng(0)
    g = mlp(rng, "relpsp", False, 8, (10, 6, 3))
    backend = ReferenceBackend()
    x = inputs(rng, 4, (10,), 0.5)
    first = backend.run(g, x).scores
    executor = backend.cached_executor(g)
    assert backend.cached_executor(g) is executor
    np.testing.assert_array_equal(backend.run(g, x).scores, first)
    g.ops[1].attrs["weight"] = g.ops[1].attrs["weight"] * F32(2)  # a new array: the graph changed
    rebuilt = backend.cached_executor(g)
    assert rebuilt is not executor
    np.testing.assert_array_equal(backend.run(g, x).scores, ReferenceExecutor(g, engine="numpy").run(x)
                                  .outputs["scores"])
    backend.clear_cache()
    assert backend.cached_executor(g) is not rebuilt


def test_bad_options_are_one_clear_error() -> None:
    g = mlp(np.random.default_rng(0), "if", False, 4, (5, 3))
    for options in ({"engine": "fortran"}, {"conv": "winograd"}, {"blas_threads": 0}, {"blas_threads": True},
                    {"blas_threads": 1.5}):
        with pytest.raises(BackendError):
            ReferenceExecutor(g, **options)
    with pytest.raises(BackendError):
        ReferenceBackend(engine="jax")


def test_blas_threads_do_not_change_results() -> None:
    rng = np.random.default_rng(1)
    g = mlp(rng, "if", False, 8, (40, 30, 5))
    x = inputs(rng, 6, (40,), 0.9)
    one = ReferenceExecutor(g, blas_threads=1).run(x).outputs["scores"]
    np.testing.assert_array_equal(one, ReferenceExecutor(g).run(x).outputs["scores"])


def test_overridden_kernels_are_kept() -> None:
    """A subclass's (or plugin's) kernel is not replaced by a fast one; stock ones are."""
    def mine(ctx, op, current):  # noqa: ANN001, ANN202
        return K.relpsp(ctx, op, current)

    table = fast.with_fast_kernels({**KERNELS, "snn.relpsp": mine})
    assert table["snn.relpsp"] is mine and table["snn.dense"] is FAST_KERNELS["snn.dense"]
    assert table["snn.conv2d"] is KERNELS["snn.conv2d"]


def test_integer_mode_and_numpy_engine_use_the_numpy_kernels() -> None:
    g = mlp(np.random.default_rng(0), "if", False, 4, (5, 3))
    assert ReferenceExecutor(g, engine="numpy").table["snn.if"] is K.if_neuron
    assert ReferenceExecutor(g).table["snn.if"] is FAST_KERNELS["snn.if"]


def test_importing_the_backend_does_not_import_numba() -> None:
    code = ("import sys, snnc.backends.reference as r; assert 'numba' not in sys.modules, 'numba imported'; "
            "import numpy as np; r.fast.jit(); assert 'numba' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def conv_graph(rng: np.random.Generator, dyadic: bool, seed: int) -> Graph:
    time_steps = 16
    g = Graph("conv", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(2, 12, 11))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": 8})
    strides, dilations = [[1, 1], [2, 1], [1, 2], [2, 2]][seed % 4], [[1, 1], [1, 2], [2, 1], [1, 1]][seed % 4]
    pads = [[0, 0, 0, 0], [1, 2, 0, 1], [2, 1, 1, 0], [1, 1, 1, 1]][seed % 4]
    c = g.add_op("snn.conv2d", [s], {"weight": weights(rng, (5, 2, 3, 3), dyadic), "strides": strides,
                                     "pads": pads, "dilations": dilations, "group": 1,
                                     "bias": weights(rng, (5,), dyadic, 0.05)})
    h = g.add_op("snn.relpsp", [c], {"threshold": 1.0})
    p = g.add_op("snn.avgpool2d", [h], {"kernel": [2, 2], "strides": [1, 1], "pads": [0, 0, 0, 0],
                                        "count_include_pad": 0})
    c2 = g.add_op("snn.conv2d", [p], {"weight": weights(rng, (3, 5, 2, 2), dyadic), "strides": [1, 1],
                                      "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1})
    o = g.add_op("snn.relpsp", [c2], {"threshold": 0.5})
    g.set_outputs([g.add_op("snn.first_spike_decode", [g.add_op("snn.flatten", [o])], name="scores")])
    return g


@pytest.mark.parametrize("seed", range(4))
def test_event_conv_exact_on_exact_sums(seed: int) -> None:
    """conv="events" sums in another order than BLAS: equal bit for bit where every sum is exact (dyadic
    weights), whatever the strides, pads and dilations -- so the indexing is right."""
    rng = np.random.default_rng(seed)
    g = conv_graph(rng, True, seed)
    x = inputs(rng, 6, (2, 12, 11), 0.5)
    a = ReferenceExecutor(g, engine="numpy").run(x, record=True)
    b = ReferenceExecutor(g, conv="events").run(x, record=True)
    for k in a.spikes:
        np.testing.assert_array_equal(b.spikes[k], a.spikes[k], err_msg=k)
    np.testing.assert_array_equal(b.outputs["scores"], a.outputs["scores"])


@pytest.mark.parametrize("seed", range(3))
def test_event_conv_currents_within_rounding(seed: int) -> None:
    """With arbitrary float weights the event-driven currents differ from im2col + BLAS by rounding only."""
    rng = np.random.default_rng(seed)
    g = conv_graph(rng, False, seed)
    op = g.ops[1]
    ctx = K.KernelContext(g.time_steps)
    train = K.ttfs_encode(ctx, g.ops[0], inputs(rng, 5, (2, 12, 11), 0.6))
    ref = K.conv2d(ctx, op, train)
    new = fast.conv2d_events(ctx, op, train)
    assert new.shape == ref.shape
    np.testing.assert_allclose(new, ref, rtol=1e-5, atol=1e-6)


def test_event_conv_predictions_on_the_shipped_cnn() -> None:
    """Measured, not guaranteed: on the shipped CNN the opt-in event-driven convolution changes no spike."""
    import onnx

    from snnc.frontend import import_onnx

    path = next((p for p in MODELS if "cnn" in p.stem), None)
    if path is None:
        pytest.skip("no shipped CNN")
    g = import_onnx(onnx.load(path))
    x = inputs(np.random.default_rng(5), 16, g.inputs[0].type.features, 0.19)
    a = ReferenceExecutor(g).run(x, record=True)
    b = ReferenceExecutor(g, conv="events").run(x, record=True)
    for k in a.spikes:
        np.testing.assert_array_equal(b.spikes[k], a.spikes[k], err_msg=k)


def test_event_conv_is_opt_in() -> None:
    g = conv_graph(np.random.default_rng(0), False, 0)
    assert ReferenceExecutor(g).table["snn.conv2d"] is K.conv2d
    assert ReferenceExecutor(g, conv="events").table["snn.conv2d"] is fast.conv2d_events
    assert ReferenceExecutor(g, engine="numpy", conv="events").table["snn.conv2d"] is K.conv2d
    with pytest.raises(BackendError):
        ReferenceExecutor(g, conv="fft")


class Observing(ReferenceExecutor):
    """Overrides run_op, which turns the fusion of convolution and ReL-PSP off."""

    def run_op(self, op, args):  # noqa: ANN001, ANN201
        return super().run_op(op, args)


@pytest.mark.parametrize("seed", range(4))
def test_fused_event_conv_relpsp_equals_the_two_kernels(seed: int) -> None:
    """conv="events" computes a convolution read only by a ReL-PSP together with it, one sample at a time:
    bit for bit the values of the two kernels run one after the other."""
    rng = np.random.default_rng(seed)
    g = conv_graph(rng, False, seed)
    x = inputs(rng, 7, (2, 12, 11), 0.5)
    fused = ReferenceExecutor(g, conv="events")
    assert len(fused.ctx.fuse) == 2
    plain = Observing(g, conv="events")
    assert not plain.ctx.fuse
    a, b = fused.run(x, record=True), plain.run(x, record=True)
    for k in a.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k], err_msg=k)
