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
    for options in ({"engine": "fortran"}, {"blas_threads": 0}, {"blas_threads": True},
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
    assert table["snn.conv2d"] is FAST_KERNELS["snn.conv2d"] and table["snn.flatten"] is KERNELS["snn.flatten"]


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


@pytest.mark.parametrize("dyadic", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_event_conv_is_bit_identical(seed: int, dyadic: bool) -> None:
    """The event-driven convolution adds the terms of the non-zero inputs in (c, p, q) order, the NumPy
    kernel's summation order: every value equal bit for bit, with arbitrary float weights (inexact sums) as
    with dyadic ones, whatever the strides, pads and dilations; the second convolution reads a pooled
    current (values 0, 1/4, 1/2, ...), so the weighted path is covered too."""
    rng = np.random.default_rng(seed)
    g = conv_graph(rng, dyadic, seed)
    assert_same(g, inputs(rng, 6, (2, 12, 11), 0.5))


def conv_op(rng: np.random.Generator, c: int, co: int, k: tuple[int, int], group: int, strides: list[int],
            pads: list[int], dilations: list[int]) -> tuple[Graph, object]:
    g = Graph("conv", time_steps=3)
    x = g.add_input("x", ValueType.current(c, 7, 6))
    op_value = g.add_op("snn.conv2d", [x], {"weight": weights(rng, (co, c // group, *k), False), "group": group,
                                            "strides": strides, "pads": pads, "dilations": dilations,
                                            "bias": weights(rng, (co,), False, 0.1)})
    g.set_outputs([op_value])
    return g, g.ops[0]


def conv_by_definition(x: np.ndarray, w: np.ndarray, b: np.ndarray, strides: list[int], pads: list[int],
                       dilations: list[int], group: int) -> np.ndarray:
    """docs/reference.md "Summation order", as scalar float32 arithmetic: each output is 0, plus each term
    ``x * w`` in increasing (c, p, q) order, plus the bias."""
    n_, c_, h_, w_ = x.shape
    co, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), (top, left) = strides, dilations, pads[:2]
    ho = (h_ + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (w_ + pads[1] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n_, co, ho, wo), F32)
    for n in range(n_):
        for o in range(co):
            g0 = (o // (co // group)) * cg
            for i in range(ho):
                for j in range(wo):
                    acc = F32(0)
                    for c in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                y, xx = i * sh + p * dh - top, j * sw + q * dw - left
                                if 0 <= y < h_ and 0 <= xx < w_:
                                    acc = F32(acc + F32(x[n, g0 + c, y, xx] * w[o, c, p, q]))
                    out[n, o, i, j] = F32(acc + b[o])
    return out


@pytest.mark.parametrize("seed", range(6))
def test_conv_sums_in_the_defined_order(seed: int) -> None:
    """Both engines' convolution equals the definition computed scalar by scalar, bit for bit (float inputs with
    zeros, groups, strides, pads, dilations), and onnxruntime's Conv to rounding."""
    rng = np.random.default_rng(seed)
    group = [1, 2, 1, 3][seed % 4]
    c, co = 2 * group if group > 1 else 3, 2 * group if group > 1 else 4
    strides, dilations = [[1, 1], [2, 1], [1, 2], [2, 2]][seed % 4], [[1, 1], [1, 2], [2, 1], [1, 1]][seed % 4]
    pads = [[0, 0, 0, 0], [1, 2, 0, 1], [2, 1, 1, 0], [1, 1, 1, 1]][seed % 4]
    g, op = conv_op(rng, c, co, (3, 2), group, strides, pads, dilations)
    x = rng.normal(0, 1, (3, 2, c, 7, 6)).astype(F32)
    x[rng.random(x.shape) < 0.5] = 0
    want = conv_by_definition(x.reshape(6, c, 7, 6), op.attrs["weight"], op.attrs["bias"], strides, pads, dilations,
                              group)
    ctx = K.KernelContext(g.time_steps)
    got_numpy = K.conv2d(ctx, op, x)
    got_fast = fast.conv2d_events(fast.FastContext(g.time_steps), op, x)
    np.testing.assert_array_equal(got_numpy.reshape(want.shape), want)
    np.testing.assert_array_equal(np.asarray(got_fast).reshape(want.shape), want)
    assert got_numpy.shape == (3, 2, *op.result.type.features)


def test_conv_integer_mode_keeps_exact_sums() -> None:
    """The integer mode's exact context sums by im2col + BLAS (any order is exact there); float mode does not."""
    from snnc.backends.reference.integer import ExactContext

    assert ExactContext.exact_sums and not K.KernelContext.exact_sums
    rng = np.random.default_rng(3)
    g, op = conv_op(rng, 3, 4, (3, 3), 1, [1, 1], [1, 1, 1, 1], [1, 1])
    op.attrs["weight"] = rng.integers(-100, 100, op.attrs["weight"].shape).astype(np.int32)
    op.attrs["bias"] = rng.integers(-100, 100, 4).astype(np.int32)
    x = (rng.random((3, 2, 3, 7, 6)) < 0.4).astype(F32)
    exact = K.conv2d(ExactContext(3, dtype=np.float64), op, x)
    want = conv_by_definition(x.reshape(6, 3, 7, 6).astype(np.float64), op.attrs["weight"].astype(np.float64),
                              op.attrs["bias"].astype(np.float64), [1, 1], [1, 1, 1, 1], [1, 1], 1)
    np.testing.assert_array_equal(exact.reshape(want.shape), want)


def test_event_conv_is_the_default_of_the_numba_engine() -> None:
    g = conv_graph(np.random.default_rng(0), False, 0)
    assert ReferenceExecutor(g).table["snn.conv2d"] is fast.conv2d_events
    assert ReferenceExecutor(g, engine="numpy").table["snn.conv2d"] is K.conv2d


class Observing(ReferenceExecutor):
    """Overrides run_op, which turns the fusion of convolution and ReL-PSP off."""

    def run_op(self, op, args):  # noqa: ANN001, ANN201
        return super().run_op(op, args)


@pytest.mark.parametrize("seed", range(4))
def test_fused_event_conv_relpsp_equals_the_two_kernels(seed: int) -> None:
    """A convolution read only by a ReL-PSP is computed together with it, one sample at a time:
    bit for bit the values of the two kernels run one after the other."""
    rng = np.random.default_rng(seed)
    g = conv_graph(rng, False, seed)
    x = inputs(rng, 7, (2, 12, 11), 0.5)
    fused = ReferenceExecutor(g)
    assert len(fused.ctx.fuse) == 2
    plain = Observing(g)
    assert not plain.ctx.fuse
    a, b = fused.run(x, record=True), plain.run(x, record=True)
    for k in a.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k], err_msg=k)


def test_blas_limit_sets_and_restores_the_threads() -> None:
    """The executor's BLAS limit holds inside the run and gives the library its setting back, also on an error."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from snnc.backends.reference.executor import _blas_libraries, blas_limit

    libs = _blas_libraries()
    if not libs:
        pytest.skip("no BLAS library seen by threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if any(lib.get_num_threads() != 2 for lib in libs):
            pytest.skip("the BLAS library cannot run 2 threads here")
        with blas_limit(1):
            assert [lib.get_num_threads() for lib in libs] == [1] * len(libs)
        assert [lib.get_num_threads() for lib in libs] == [2] * len(libs)
        with pytest.raises(RuntimeError), blas_limit(1):
            raise RuntimeError("a kernel failed")
        assert [lib.get_num_threads() for lib in libs] == [2] * len(libs)
        with blas_limit(None):
            assert [lib.get_num_threads() for lib in libs] == [2] * len(libs)


def dense_by_definition(a: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The defined order, scalar by scalar: 0, plus each non-zero input's ``x * w`` in increasing input order,
    plus the bias."""
    out = np.zeros((a.shape[0], w.shape[0]), F32)
    for r in range(a.shape[0]):
        for o in range(w.shape[0]):
            acc = F32(0)
            for i in range(a.shape[1]):
                if a[r, i] != 0:
                    acc = F32(acc + F32(a[r, i] * w[o, i]))
            out[r, o] = F32(acc + b[o])
    return out


@pytest.mark.parametrize("seed", range(3))
def test_dense_on_a_sparse_current_sums_in_the_defined_order(seed: int) -> None:
    """A sparse current feeding a wide layer (e.g. a pooled single-spike train: values 1/4, 1/2, ...) is
    scattered by both engines in the defined order, bit for bit against the scalar definition; a dense
    current, or a narrow layer, goes to BLAS in both."""
    rng = np.random.default_rng(seed)
    for n_out in (200, 7):
        g = Graph("dense_current", time_steps=4)
        x = g.add_input("x", ValueType.current(30))
        g.set_outputs([g.add_op("snn.dense", [x], {"weight": weights(rng, (n_out, 30), False),
                                                   "bias": weights(rng, (n_out,), False, 0.1)})])
        op = g.ops[0]
        a = rng.choice(np.array([0.25, 0.5, 1.0, -0.75, 0.3], F32), (4, 5, 30))
        a[rng.random(a.shape) < 0.97] = 0
        ctx = K.KernelContext(4)
        assert K._use_sparse(ctx, a, n_out) == (n_out == 200)
        assert not K._use_sparse(ctx, np.ones_like(a), n_out)
        if n_out == 200:
            want = dense_by_definition(a.reshape(20, 30), op.attrs["weight"], op.attrs["bias"])
            for engine in ("numpy", "numba"):
                got = ReferenceExecutor(g, engine=engine).run(a).outputs[op.result.name]
                np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=engine)
        assert_same(g, a)
        assert_same(g, a, sparse="always")
        assert_same(g, rng.normal(0, 1, (4, 5, 30)).astype(F32))


@pytest.mark.parametrize("seed", range(3))
def test_grouped_event_conv_is_bit_identical(seed: int) -> None:
    """Grouped convolutions (depthwise at seed 2) on the event-driven kernel, fused with the ReL-PSP that reads
    them and not, on spike times and on a pooled current: equal to the NumPy kernels bit for bit."""
    rng = np.random.default_rng(seed)
    groups = [2, 3, 6][seed]
    g = Graph("grouped", time_steps=12)
    h = g.add_input("x", ValueType.tensor(6, 9, 8))
    s = g.add_op("snn.ttfs_encode", [h], {"time_steps": 12, "window": 6})
    c = g.add_op("snn.conv2d", [s], {"weight": weights(rng, (6, 6 // groups, 3, 3), False), "strides": [1, 1],
                                     "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": groups,
                                     "bias": weights(rng, (6,), False, 0.05)})
    r = g.add_op("snn.relpsp", [c], {"threshold": 0.8})
    p = g.add_op("snn.avgpool2d", [r], {"kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0],
                                        "count_include_pad": 0})
    c2 = g.add_op("snn.conv2d", [p], {"weight": weights(rng, (6, 6 // groups, 2, 2), False), "strides": [1, 1],
                                      "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": groups})
    o = g.add_op("snn.relpsp", [c2], {"threshold": 0.3})
    g.set_outputs([g.add_op("snn.first_spike_decode", [g.add_op("snn.flatten", [o])], name="scores")])
    x = inputs(rng, 5, (6, 9, 8), 0.6)
    assert len(ReferenceExecutor(g).ctx.fuse) == 2
    assert_same(g, x)
    a, b = ReferenceExecutor(g).run(x, record=True), Observing(g).run(x, record=True)
    for k in a.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k], err_msg=k)
    assert 0 < sum(int(v.sum()) for v in a.spike_counts.values())
