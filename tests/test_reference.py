"""The reference executor: every op's equations on small hand-computed cases, the sparse paths against
the plain matmul, chunking, the interpreter's conventions (kernel table, freeing, errors naming the op)."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.base import RunResult
from snnc.backends.reference import ReferenceBackend, ReferenceExecutor, SpikeTrain
from snnc.backends.reference import kernels as K
from snnc.errors import BackendError, DatasetError
from snnc.ir import Graph, ValueType
from snnc.tests import spec_numpy as spec

F32 = np.float32


def dyadic(rng: np.random.Generator, shape: tuple[int, ...], offset: int = 0, limit: int = 32) -> np.ndarray:
    """Multiples of 1/64 (exact float32 sums in any order)."""
    return ((rng.integers(-limit, limit + 1, shape) + offset) / 64).astype(F32)


def neuron_graph(opname: str, features: tuple[int, ...], time_steps: int, **attrs: object) -> Graph:
    """current input -> one neuron op -> spikes output."""
    g = Graph("neuron", time_steps=time_steps)
    i = g.add_input("i", ValueType.current(*features))
    g.set_outputs([g.add_op(opname, [i], dict(attrs), name="s")])
    return g


def run_out(g: Graph, x: np.ndarray, **kw: object) -> np.ndarray:
    return ReferenceExecutor(g).run(x, **kw).outputs[g.outputs[0].name]


def mlp(rng: np.random.Generator, time_steps: int = 16, sizes: tuple[int, ...] = (20, 24, 5),
        encoder: str = "ttfs", neuron: str = "relpsp", decoder: str = "snn.first_spike_decode") -> Graph:
    """encoder -> (dense -> neuron)* -> decoder, dyadic weights biased to fire."""
    g = Graph("mlp", time_steps=time_steps)
    v = g.add_input("x", ValueType.tensor(sizes[0]))
    if encoder == "ttfs":
        v = g.add_op("snn.ttfs_encode", [v], {"time_steps": time_steps, "window": time_steps}, name="enc")
    else:
        v = g.add_op("snn.rate_encode", [v], {"time_steps": time_steps, "threshold": 0.5}, name="enc")
    for layer, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        i = g.add_op("snn.dense", [v], {"weight": dyadic(rng, (n, m), offset=4), "bias": dyadic(rng, (n,))},
                     name=f"fc{layer}")
        if neuron == "relpsp":
            v = g.add_op("snn.relpsp", [i], {"threshold": 1.0}, name=f"h{layer}")
        else:
            v = g.add_op("snn.if", [i], {"threshold": np.array(1.0, F32), "reset": neuron}, name=f"h{layer}")
    g.set_outputs([g.add_op(decoder, [v], name="scores")])
    return g


# ------------------------------------------------------------------------------------------ neurons
def test_relpsp_one_neuron_spikes_once_at_the_first_crossing():
    # I = 0.5 at t=0: K = .5 from t=0 on; V[t] = 0.5 t reaches theta = 1 at t = 2.
    current = np.zeros((6, 1, 1), F32)
    current[0] = 0.5
    s = run_out(neuron_graph("snn.relpsp", (1,), 6, threshold=1.0), current)
    assert s[:, 0, 0].tolist() == [False, False, True, False, False, False]


def test_relpsp_never_fires_again_after_falling_below_and_recrossing():
    # K: 1, -1, -1, -1, 3, 3, 3, 3 ; V: 0, 1 (spike), 0, -1, -2, 1, 4, 7 (above again: no second spike)
    current = np.array([1, -2, 0, 0, 4, 0, 0, 0], F32).reshape(8, 1, 1)
    s = run_out(neuron_graph("snn.relpsp", (1,), 8, threshold=1.0), current)
    assert np.flatnonzero(s[:, 0, 0]).tolist() == [1]


def test_relpsp_input_at_the_last_step_has_no_effect():
    current = np.zeros((4, 1, 1), F32)
    current[3, 0] = 100.0  # K changes at t=3, V only at t=4 (beyond T)
    assert not run_out(neuron_graph("snn.relpsp", (1,), 4, threshold=1.0), current).any()


def test_relpsp_threshold_is_compared_in_float32():
    # float32(0.7) < 0.7: V[1] = K[0] = float32(0.7) reaches the float32 threshold (as in ONNX) at t=1,
    # a float64 comparison would wait for V[2] = 1.4
    current = np.zeros((3, 1, 1), F32)
    current[0] = 0.7
    s = run_out(neuron_graph("snn.relpsp", (1,), 3, threshold=0.7), current)
    assert np.flatnonzero(s[:, 0, 0]).tolist() == [1]


@pytest.mark.parametrize(("reset", "expected"), [("subtract", [0, 1, 1, 1, 0, 1]), ("zero", [0, 1, 0, 1, 0, 1])])
def test_if_reset_subtract_vs_zero(reset, expected):
    # I = 0.75, theta = 1. subtract: V = .75, 1.5*, 1.25*, 1.0*, .75, 1.5* ; zero: .75, 1.5*, .75, 1.5*, ...
    current = np.full((6, 1, 1), 0.75, F32)
    s = run_out(neuron_graph("snn.if", (1,), 6, threshold=np.array(1.0, F32), reset=reset), current)
    assert s[:, 0, 0].astype(int).tolist() == expected


def test_if_threshold_broadcasts_per_channel():
    # features [2, 3], theta [2, 1]: channel 0 fires at theta 0.5 every step, channel 1 (theta 2) every 4th
    current = np.full((8, 1, 2, 3), 0.5, F32)
    theta = np.array([[0.5], [2.0]], F32)
    s = run_out(neuron_graph("snn.if", (2, 3), 8, threshold=theta, reset="subtract"), current)
    assert s[:, 0, 0].all()
    assert np.flatnonzero(s[:, 0, 1, 0]).tolist() == [3, 7]
    assert np.array_equal(s, spec.if_neuron(current, theta) != 0)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_matches_the_spec_loop_on_random_currents(reset):
    rng = np.random.default_rng(1)
    current = dyadic(rng, (12, 9, 4), offset=8)
    theta = (rng.integers(16, 80, (4,)) / 64).astype(F32)
    s = run_out(neuron_graph("snn.if", (4,), 12, threshold=theta, reset=reset), current)
    assert np.array_equal(s, spec.if_neuron(current, theta, reset) != 0)


# ------------------------------------------------------------------------------------------ encoders
def encoder_graph(opname: str, features: tuple[int, ...], time_steps: int, **attrs: object) -> Graph:
    g = Graph("enc", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(*features))
    g.set_outputs([g.add_op(opname, [x], {"time_steps": time_steps, **attrs}, name="s")])
    return g


def test_ttfs_edge_values():
    # T = window = 8: x=1 and x>1 -> step 0; x=0 and x<0 -> none; 0.5 -> floor(3.5 + .5) = 4; 1/255 -> 7
    x = np.array([[0.0, 1.0, -0.5, 1.5, 0.5, 1 / 255, np.float32(1e-9)]], F32)
    s = run_out(encoder_graph("snn.ttfs_encode", (7,), 8, window=8), x)
    first = [np.flatnonzero(s[:, 0, i]).tolist() for i in range(7)]
    assert first == [[], [0], [], [0], [4], [7], [7]]
    assert s.sum() == 5  # exactly one spike per positive input


def test_ttfs_step_is_computed_in_float32():
    # (1 - x) * 7 + 0.5 is 5 - 2e-8 in float64 (step 4) but rounds to 5.0 in float32 (step 5)
    x = np.array([[0.35714287]], F32)
    s = run_out(encoder_graph("snn.ttfs_encode", (1,), 8, window=8), x)
    assert np.flatnonzero(s[:, 0, 0]).tolist() == [5]


def test_ttfs_window_shorter_than_t_and_float32_rounding():
    rng = np.random.default_rng(2)
    x = (rng.integers(0, 256, (64, 30)) / 255).astype(F32)
    for window in (1, 5, 16):
        s = run_out(encoder_graph("snn.ttfs_encode", (30,), 16, window=window), x)
        assert np.array_equal(s, spec.ttfs_encode(x, 16, window) != 0)
        assert not s[window:].any()


def test_rate_encode_is_if_subtract_fed_x():
    x = np.array([[0.0, 0.25, 0.5, 1.0, 2.0, -1.0]], F32)
    s = run_out(encoder_graph("snn.rate_encode", (6,), 8, threshold=0.5), x)
    # x = 0.25 with theta .5: V = .25, .5*, .25, .5*, ... -> every second step from t=1
    assert np.flatnonzero(s[:, 0, 1]).tolist() == [1, 3, 5, 7]
    assert s[:, 0, 2].all() and s[:, 0, 3].all() and s[:, 0, 4].all()
    assert not s[:, 0, 0].any() and not s[:, 0, 5].any()
    assert np.array_equal(s, spec.rate_encode(x, 8, 0.5) != 0)


# ------------------------------------------------------------------------------------------ decoders
def decoder_graph(opname: str, n: int, time_steps: int) -> Graph:
    g = Graph("dec", time_steps=time_steps)
    s = g.add_input("s", ValueType.spikes(n))
    g.set_outputs([g.add_op(opname, [s], name="scores")])
    return g


def test_first_spike_decode_no_spike_scores_zero_and_step_zero_scores_t():
    s = np.zeros((5, 1, 3), bool)
    s[0, 0, 1] = True
    s[3, 0, 2] = s[4, 0, 2] = True
    out = run_out(decoder_graph("snn.first_spike_decode", 3, 5), s)
    assert out.dtype == F32 and out.tolist() == [[0.0, 5.0, 2.0]]


def test_last_step_and_spike_count_decoders():
    s = np.zeros((4, 1, 3), bool)
    s[:, 0, 0] = True
    s[3, 0, 1] = True
    s[1, 0, 2] = True
    assert run_out(decoder_graph("snn.last_step_decode", 3, 4), s).tolist() == [[1.0, 1.0, 0.0]]
    assert run_out(decoder_graph("snn.spike_count_decode", 3, 4), s).tolist() == [[1.0, 0.25, 0.25]]
    count3 = run_out(decoder_graph("snn.spike_count_decode", 3, 3), s[:3])
    assert count3[0, 0] == F32(3) / F32(3) and count3[0, 2] == F32(1) / F32(3)


def test_decoders_from_first_spike_times_equal_from_dense():
    rng = np.random.default_rng(3)
    times = rng.integers(0, 9, (6, 4))  # T = 8: 8 means no spike
    train = SpikeTrain.from_times(times, 8)
    dense = SpikeTrain.from_dense(train.dense())
    ctx = K.KernelContext(8)
    for kernel in (K.first_spike_decode, K.last_step_decode, K.spike_count_decode):
        assert np.array_equal(kernel(ctx, None, train), kernel(ctx, None, dense))
    assert np.array_equal(train.counts(), dense.counts())
    assert np.array_equal(train.first_spike_times(), dense.first_spike_times())


def test_predictions_are_argmax_with_ties_to_the_lowest_index():
    r = RunResult(np.array([[1, 3, 3], [2, 2, 2], [0, 0, 5]], F32))
    assert r.predictions.tolist() == [1, 0, 2]
    # through the backend: two output neurons firing at the same step tie
    g = Graph("tie", time_steps=4)
    x = g.add_input("x", ValueType.tensor(1))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    w = np.array([[0.0], [1.0], [1.0]], F32)
    o = g.add_op("snn.relpsp", [g.add_op("snn.dense", [s], {"weight": w})], {"threshold": 1.0})
    g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="scores")])
    result = ReferenceBackend().run(g, np.ones((1, 1), F32))
    assert result.scores.tolist() == [[0.0, 3.0, 3.0]] and result.predictions.tolist() == [1]


# ------------------------------------------------------------------------------------------ synapses
def current_graph(opname: str, features: tuple[int, ...], time_steps: int, attrs: dict) -> Graph:
    g = Graph("syn", time_steps=time_steps)
    i = g.add_input("i", ValueType.current(*features))
    g.set_outputs([g.add_op(opname, [i], attrs, name="y")])
    return g


@pytest.mark.parametrize(("strides", "pads", "dilations", "group"), [
    ([1, 1], [0, 0, 0, 0], [1, 1], 1),
    ([2, 1], [1, 2, 0, 1], [1, 1], 1),
    ([1, 2], [1, 1, 1, 1], [2, 2], 2),
    ([1, 1], [2, 0, 1, 0], [1, 2], 4),
])
def test_conv2d_matches_the_spec_loop(strides, pads, dilations, group):
    rng = np.random.default_rng(4)
    x = dyadic(rng, (3, 2, 4, 7, 6))
    w, b = dyadic(rng, (8, 4 // group, 3, 2)), dyadic(rng, (8,))
    attrs = {"weight": w, "bias": b, "strides": strides, "pads": pads, "dilations": dilations, "group": group}
    y = run_out(current_graph("snn.conv2d", (4, 7, 6), 3, attrs), x)
    assert np.array_equal(y, spec.conv2d(x, w, b, strides, pads, dilations, group))


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize(("kernel", "strides", "pads"),
                         [([2, 2], [2, 2], [0, 0, 0, 0]), ([3, 2], [1, 2], [1, 0, 1, 1])])
def test_avgpool2d_matches_the_spec_loop(kernel, strides, pads, count_include_pad):
    rng = np.random.default_rng(5)
    x = dyadic(rng, (2, 3, 2, 6, 5))
    attrs = {"kernel": kernel, "strides": strides, "pads": pads, "count_include_pad": count_include_pad}
    y = run_out(current_graph("snn.avgpool2d", (2, 6, 5), 2, attrs), x)
    assert np.array_equal(y, spec.avgpool2d(x, kernel, strides, pads, count_include_pad))


def test_avgpool2d_count_include_pad_hand_case():
    x = np.ones((1, 1, 1, 2, 2), F32)
    pads = [1, 1, 0, 0]  # a 2x2 window at the top-left corner covers one real value
    y0 = run_out(current_graph("snn.avgpool2d", (1, 2, 2), 1, {"kernel": [2, 2], "strides": [1, 1], "pads": pads,
                                                                "count_include_pad": 0}), x)
    y1 = run_out(current_graph("snn.avgpool2d", (1, 2, 2), 1, {"kernel": [2, 2], "strides": [1, 1], "pads": pads,
                                                                "count_include_pad": 1}), x)
    assert y0[0, 0, 0].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert y1[0, 0, 0].tolist() == [[0.25, 0.5], [0.5, 1.0]]


def test_dense_on_a_tensor_and_time_flatten_is_step_major():
    g = Graph("st", time_steps=3)
    s = g.add_input("s", ValueType.spikes(2))
    flat = g.add_op("snn.time_flatten", [s], name="flat")
    w = np.arange(12, dtype=F32).reshape(2, 6) / 64
    g.set_outputs([g.add_op("snn.dense", [flat], {"weight": w, "bias": np.array([1, -1], F32)}, name="y"), flat])
    spikes = np.zeros((3, 1, 2), bool)
    spikes[0, 0, 1] = spikes[2, 0, 0] = True
    out = ReferenceExecutor(g).run(spikes).outputs
    assert out["flat"].tolist() == [[0, 1, 0, 0, 1, 0]]  # (t, i) at t*N + i
    assert np.array_equal(out["y"], (out["flat"] @ w.T + np.array([1, -1], F32)).astype(F32))


@pytest.mark.parametrize("neuron", ["relpsp", "subtract", "zero"])
@pytest.mark.parametrize("encoder", ["ttfs", "rate"])
def test_sparse_synapses_equal_the_plain_matmul_bit_for_bit(encoder, neuron):
    rng = np.random.default_rng(6)
    g = mlp(rng, time_steps=12, sizes=(30, 40, 7), encoder=encoder, neuron=neuron)
    x = spec.np.clip(rng.random((50, 30)).astype(F32) * 1.3 - 0.15, -1, 2).astype(F32)
    runs = {mode: ReferenceExecutor(g, sparse=mode).run(x, record=True) for mode in ("always", "never", "auto")}
    for mode in ("always", "auto"):
        assert np.array_equal(runs[mode].outputs["scores"], runs["never"].outputs["scores"])
        for name, train in runs["never"].spikes.items():
            assert np.array_equal(runs[mode].spikes[name], train), name
    assert runs["never"].spike_counts["h0"].sum() > 0  # the layers are active


def test_sparse_dense_with_leading_feature_axes_and_time_major_layout():
    rng = np.random.default_rng(7)
    times = rng.integers(0, 11, (5, 3, 8))  # T = 10, features [3, 8]
    train = SpikeTrain.from_times(times, 10)
    w = dyadic(rng, (6, 8))
    op = Graph("g", 10)
    inp = op.add_input("s", ValueType.spikes(3, 8))
    op.add_op("snn.dense", [inp], {"weight": w}, name="y")
    dense_op = op.ops[0]
    sparse = K.dense(K.KernelContext(10, sparse="always"), dense_op, train)
    plain = K.dense(K.KernelContext(10, sparse="never"), dense_op, train)
    from_dense = K.dense(K.KernelContext(10, sparse="always"), dense_op, SpikeTrain.from_dense(train.dense()))
    assert sparse.shape == (10, 5, 3, 6)
    assert np.array_equal(sparse, plain) and np.array_equal(from_dense, plain)


def test_scatter_adds_rows_of_one_key_in_input_order():
    wt = np.array([[2.0**-30], [1.0], [-1.0], [0.5]], F32)
    key = np.array([0, 0, 0, 2, 2])
    inputs = np.array([0, 1, 2, 1, 3])
    out = K._scatter_rows(key, inputs, wt, 3)
    # ((2^-30 + 1) + -1) = 0 in float32 (the small term is absorbed), as a sequential dot product;
    # the reverse order would give 2^-30
    assert out[:, 0].tolist() == [0.0, 0.0, 1.5]


def test_float_weights_sparse_and_matmul_agree_on_nearly_every_spike():
    # not a bit-exact case (summation order may differ): the SPEC allows differences only at rounding
    rng = np.random.default_rng(8)
    g = Graph("mlp", time_steps=32)
    x = g.add_input("x", ValueType.tensor(100))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 32, "window": 32})
    h = g.add_op("snn.relpsp", [g.add_op("snn.dense", [s], {"weight": rng.normal(0, .1, (60, 100)).astype(F32)})],
                 {"threshold": 1.0}, name="h")
    g.set_outputs([g.add_op("snn.first_spike_decode", [h], name="scores")])
    xs = rng.random((40, 100)).astype(F32)
    a = ReferenceExecutor(g, sparse="always").run(xs).outputs["scores"]
    b = ReferenceExecutor(g, sparse="never").run(xs).outputs["scores"]
    assert np.mean(a == b) > 0.99


# --------------------------------------------------------------------------------- interpreter rules
def test_batch_size_splitting_gives_identical_results():
    rng = np.random.default_rng(9)
    g = mlp(rng, time_steps=10, sizes=(16, 12, 4), neuron="subtract", decoder="snn.spike_count_decode")
    x = rng.random((23, 16)).astype(F32)
    whole = ReferenceExecutor(g).run(x, record=True)
    for batch_size in (1, 5, 23, 100):
        part = ReferenceExecutor(g).run(x, record=True, batch_size=batch_size)
        assert np.array_equal(part.outputs["scores"], whole.outputs["scores"])
        assert all(np.array_equal(part.spikes[k], v) for k, v in whole.spikes.items())
        assert all(np.array_equal(part.spike_counts[k], v) for k, v in whole.spike_counts.items())
    tiny_budget = ReferenceExecutor(g, memory_budget=1)
    assert tiny_budget.auto_batch_size() == 1
    assert np.array_equal(tiny_budget.run(x).outputs["scores"], whole.outputs["scores"])


def test_spike_counts_cover_every_spiking_value_and_match_the_recorded_trains():
    rng = np.random.default_rng(10)
    g = mlp(rng, sizes=(10, 8, 3))
    result = ReferenceBackend().run(g, rng.random((6, 10)).astype(F32), record=True)
    assert set(result.spike_counts) == set(result.spikes) == {"enc", "h0", "h1"}
    for name, train in result.spikes.items():
        assert train.dtype == np.bool_ and train.shape[:2] == (16, 6)
        assert result.spike_counts[name].dtype == np.int64
        assert np.array_equal(result.spike_counts[name], train.reshape(16, 6, -1).sum(axis=(0, 2)))
    assert ReferenceBackend().run(g, rng.random((6, 10)).astype(F32)).spikes == {}


def test_empty_batch_runs():
    g = mlp(np.random.default_rng(11), sizes=(5, 4, 3))
    result = ReferenceBackend().run(g, np.zeros((0, 5), F32))
    assert result.scores.shape == (0, 3) and result.predictions.shape == (0,)


def test_a_subclass_overrides_one_kernel_through_the_table():
    calls = []

    def counting_relpsp(ctx, op, current):
        calls.append(op.result.name)
        return K.relpsp(ctx, op, current)

    class Counting(ReferenceExecutor):
        kernels = {**ReferenceExecutor.kernels, "snn.relpsp": counting_relpsp}

    g = mlp(np.random.default_rng(12), sizes=(5, 4, 3))
    x = np.random.default_rng(0).random((3, 5)).astype(F32)
    assert np.array_equal(Counting(g).run(x).outputs["scores"], ReferenceExecutor(g).run(x).outputs["scores"])
    assert calls == ["h0", "h1"]
    assert ReferenceExecutor.kernels["snn.relpsp"] is K.relpsp  # the base table is untouched


def test_values_are_freed_after_their_last_use():
    seen: dict[str, set[str]] = {}

    class Watching(ReferenceExecutor):
        def run_op(self, op, args):
            seen[op.result.name] = set(self.env)
            return super().run_op(op, args)

    g = mlp(np.random.default_rng(13), sizes=(5, 4, 3))
    Watching(g).run(np.ones((2, 5), F32))
    # when h1 (relpsp on fc1) runs, x, enc, fc0, h0 are dead: only fc1 is live
    assert seen["h1"] == {"fc1"}
    assert seen["scores"] == {"h1"}


def test_kernel_errors_name_the_op():
    def broken(ctx, op, current):
        raise ValueError("boom")

    class Broken(ReferenceExecutor):
        kernels = {**ReferenceExecutor.kernels, "snn.relpsp": broken}

    g = mlp(np.random.default_rng(14), sizes=(5, 4, 3))
    with pytest.raises(BackendError) as info:
        Broken(g).run(np.ones((2, 5), F32))
    assert str(info.value).startswith("%h0 = snn.relpsp: ValueError: boom")


def test_a_refusal_in_the_kernel_table_is_an_error_with_its_reason():
    from snnc.ir import Refusal

    class Refusing(ReferenceExecutor):
        kernels = {**ReferenceExecutor.kernels, "snn.relpsp": Refusal("this executor has no ReL-PSP, for the test")}

    g = mlp(np.random.default_rng(14), sizes=(5, 4, 3))
    with pytest.raises(BackendError, match=r"^%h0 = snn.relpsp: the reference executor does not run snn.relpsp in "
                                           r"float mode: this executor has no ReL-PSP, for the test"):
        Refusing(g)


def test_registered_kernels_join_both_tables():
    from snnc.backends.reference import INTEGER_KERNELS, INTEGER_NEURONS, KERNELS, register_kernels

    def k(ctx, op, x):
        return x

    try:
        register_kernels("test.identity", k)
        assert KERNELS["test.identity"] is k and INTEGER_KERNELS["test.identity"] is k
        assert "test.identity" not in INTEGER_NEURONS  # a host op: no accumulator width
    finally:
        KERNELS.pop("test.identity", None)
        INTEGER_KERNELS.pop("test.identity", None)


def test_integer_parameters_are_refused_naming_the_op():
    g = Graph("q", time_steps=4)
    x = g.add_input("x", ValueType.tensor(3))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    i = g.add_op("snn.dense", [s], {"weight": np.ones((2, 3), np.int8)}, name="fc")
    g.set_outputs([g.add_op("snn.first_spike_decode", [g.add_op("snn.relpsp", [i], {"threshold": 1.0})])])
    with pytest.raises(BackendError, match=r"^%fc = snn.dense: parameter 'weight' has integer dtype int8"):
        ReferenceExecutor(g).run(np.ones((1, 3), F32))


def test_a_missing_kernel_is_reported_before_running():
    class NoIF(ReferenceExecutor):
        kernels = {k: v for k, v in ReferenceExecutor.kernels.items() if k != "snn.if"}

    g = neuron_graph("snn.if", (2,), 3, threshold=np.array(1.0, F32), reset="zero")
    with pytest.raises(BackendError, match=r"^%s = snn.if: the reference executor has no kernel for snn.if"):
        NoIF(g)


def test_inputs_that_do_not_fit_the_graph_are_dataset_errors():
    g = mlp(np.random.default_rng(15), sizes=(6, 4, 3))
    ex = ReferenceExecutor(g)
    with pytest.raises(DatasetError, match=r"input %x: expected an array of shape \[B, 6\] \(features \[6\]\), "
                                           r"got \[2, 2, 3\]"):
        ex.run(np.zeros((2, 2, 3), F32))
    with pytest.raises(DatasetError, match="got dtype uint8"):
        ex.run(np.zeros((2, 6), np.uint8))
    with pytest.raises(DatasetError, match=r"\[T, B, 1\]|\[6, B, 1\]"):
        ReferenceExecutor(neuron_graph("snn.relpsp", (1,), 6, threshold=1.0)).run(np.zeros((5, 2, 1), F32))
    with pytest.raises(BackendError, match="batch_size must be a positive int"):
        ex.run(np.zeros((2, 6), F32), batch_size=0)


def test_a_flattened_spike_train_is_not_counted_twice():
    from snnc.backends import get_backend
    from snnc.ir import Graph, ValueType

    g = Graph("flat", time_steps=4)
    x = g.add_input("x", ValueType.tensor(2, 2))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4}, name="enc")
    f = g.add_op("snn.flatten", [s], name="flat")
    d = g.add_op("snn.dense", [f], {"weight": np.ones((1, 4), np.float32)}, name="fc")
    o = g.add_op("snn.relpsp", [d], {"threshold": 1.0}, name="out")
    g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="scores")])
    result = get_backend("reference").run(g, np.full((3, 2, 2), 0.5, np.float32), record=True)
    assert set(result.spike_counts) == {"enc", "out"}
    assert result.spike_counts["enc"].tolist() == [4, 4, 4]
    assert "flat" in result.spikes  # still recorded for inspection


def test_running_out_of_memory_names_the_op_and_the_numbers():
    g = Graph("m", time_steps=16)
    x = g.add_input("x", ValueType.tensor(8))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 16, "window": 16}, name="s")
    i = g.add_op("snn.dense", [s], {"weight": np.ones((1024, 8), np.float32)}, name="fc")
    h = g.add_op("snn.relpsp", [i], {"threshold": 1.0}, name="h")
    g.set_outputs([g.add_op("snn.spike_count_decode", [h], name="y")])
    g.verify()
    ex = ReferenceExecutor(g)

    def out_of_memory(*args):  # a real allocation failure, forced: the machine's overcommit policy varies
        raise MemoryError()

    ex.table = {**ex.table, "snn.relpsp": out_of_memory}
    with pytest.raises(BackendError) as info:
        ex.run(np.zeros((5, 8), np.float32), batch_size=5)
    text = info.value.format()
    assert text.startswith("%h = snn.relpsp: out of memory")
    # 16 steps x 1024 neurons x 4 bytes = 0.0625 MiB per sample, for 5 samples
    assert "about 0.1 MiB per sample" in text and "chunk of 5 samples" in text and "smaller batch_size" in text
