"""onnxruntime runs the builder's SPEC models and agrees bit for bit with the NumPy transcription.

Covers every case of ``onnx_models.CASES`` (scores and every spike train), per-op edge cases
(clamping, windows, exact threshold hits, resets, no spike, ties), function attribute defaults,
the emitted ONNX structure and the builder's argument checks.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from snnc.errors import FrontendError
from snnc.frontend.snn_functions import ONNX_OPSET, SNN_FUNCTIONS
from snnc.frontend.snn_onnx import SnnModelBuilder, SnnValue, run_onnxruntime
from snnc.tests import spec_numpy as spec
from snnc.tests.onnx_models import CASES, MODEL_CASES, dyadic, random_inputs

F32 = np.float32


def _equal(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == np.float32, f"{what}: dtype {a.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    bad = np.argwhere(a != b)
    assert bad.size == 0, f"{what}: {len(bad)} mismatches, first at {bad[0].tolist()}: {a[tuple(bad[0])]} != " \
                          f"{b[tuple(bad[0])]}"


# --------------------------------------------------------------------------------- whole models
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_spec_numpy(name: str, seed: int) -> None:
    case = CASES[name](seed)
    x = case.inputs(n=128, seed=100 + seed)
    ref = case.reference(x)
    scores, spikes = run_onnxruntime(case.model, x, extra_outputs=case.spike_values, threads=1)
    _equal(scores, ref["scores"], f"{name} scores")
    for value in case.spike_values:
        _equal(spikes[value], ref[value], f"{name} {value}")
        assert set(np.unique(spikes[value])) <= {0.0, 1.0}
        assert spikes[value].shape[:2] == (case.time_steps, 128)
    # the case exercises something: the output layer spikes for some samples but not for all
    out = spikes[case.spike_values[-1]]
    assert 0 < out.mean() < 1


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_case_passes_checker_and_declares_used_functions(name: str) -> None:
    model = MODEL_CASES[name](3)
    onnx.checker.check_model(model, full_check=True)
    used = {n.op_type for n in model.graph.node if n.domain == "snn"}
    assert {f.name for f in model.functions} == used
    assert all(f.domain == "snn" for f in model.functions)
    assert {o.domain: o.version for o in model.opset_import} == {"": ONNX_OPSET, "snn": 1}
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["scores"]
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "B" and len(dims) == 2
    assert all(t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT64) for t in model.graph.initializer)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["snn.test_case"] == name


def test_model_cases_are_deterministic_per_seed() -> None:
    a, b, c = (MODEL_CASES["conv_if_count"](s) for s in (5, 5, 6))
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != c.SerializeToString()


def test_file_round_trip_and_unoptimized_session(tmp_path) -> None:
    case = CASES["conv_relpsp_first"](0)
    path = tmp_path / "model.onnx"
    onnx.save(case.model, path)
    x = case.inputs(n=32, seed=7)
    from_file = run_onnxruntime(path, x)
    plain = run_onnxruntime(case.model, x, optimize=False)
    _equal(from_file, case.reference(x)["scores"], "from file")
    _equal(plain, from_file, "unoptimized session")


def test_run_onnxruntime_rejects_unknown_extra_output() -> None:
    model = MODEL_CASES["rate_if_zero_count"](0)
    with pytest.raises(FrontendError, match="no node of the model produces 'nope'"):
        run_onnxruntime(model, np.zeros((1, 10), F32), extra_outputs=["nope"])


# --------------------------------------------------------------------------------- encoders
def _encoder_train(features: tuple[int, ...], time_steps: int, encode, x: np.ndarray) -> np.ndarray:
    """Run ``encode(builder, input)`` in onnxruntime and return its spike train."""
    b = SnnModelBuilder(input_features=features, time_steps=time_steps)
    s = encode(b, b.input)
    flat = b.flatten(s) if len(features) > 1 else s
    model = b.build(output=b.spike_count_decode(flat))
    _, extra = run_onnxruntime(model, x, extra_outputs=[s.name])
    return extra[s.name]


@pytest.mark.parametrize("window", [1, 2, 5, 8])
def test_ttfs_encode_every_pixel_value_and_out_of_range(window: int) -> None:
    x = np.concatenate([np.arange(256) / 255, [-1.0, -0.0, 1e-9, 1.5, 7.0, 0.5, 0.25]]).astype(F32)[None, :]
    got = _encoder_train((x.shape[1],), 8, lambda b, v: b.ttfs_encode(v, window=window), x)
    _equal(got, spec.ttfs_encode(x, 8, window), "ttfs")
    steps = np.where(got.sum(0)[0] > 0, got.argmax(0)[0], -1)
    assert got.sum(0).max() == 1  # at most one spike per input
    assert steps[0] == -1 and steps[256] == -1 and steps[257] == -1  # x = 0, x < 0, x = -0: none
    assert steps[255] == 0 and steps[259] == 0 and steps[260] == 0  # x = 1 and x > 1 (clamped): step 0
    assert steps[258] == window - 1  # x just above 0: the window's last step
    assert steps.max() <= window - 1
    if window == 8:
        # (1 - 0.5) * 7 + 0.5 = 4.0; (1 - 0.25) * 7 + 0.5 = 5.75 -> 5
        assert steps[261] == 4 and steps[262] == 5


def test_ttfs_encode_multi_dimensional_input() -> None:
    x = random_inputs((2, 3, 3), 16, seed=3)
    got = _encoder_train((2, 3, 3), 6, lambda b, v: b.ttfs_encode(v, window=5), x)
    _equal(got, spec.ttfs_encode(x, 6, 5), "ttfs 4-D")


def test_rate_encode_hand_values() -> None:
    x = np.array([[0.0, 0.25, 0.5, 1.0, 0.3, -0.2, 2.0, 0.1]], F32)
    got = _encoder_train((8,), 8, lambda b, v: b.rate_encode(v, threshold=0.5), x)
    _equal(got, spec.rate_encode(x, 8, 0.5), "rate")
    trains = got[:, 0, :].T
    assert trains[0].sum() == 0 and trains[5].sum() == 0  # 0 and negative: silent
    assert trains[1].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]  # 0.25 hits 0.5 exactly every second step
    assert trains[2].tolist() == [1] * 8  # 0.5 hits the threshold exactly every step
    assert trains[3].tolist() == [1] * 8 and trains[6].tolist() == [1] * 8  # 1 and clamped 2


@pytest.mark.parametrize("threshold", [0.5, 0.75, 1.0, 0.3, 1.5, 2.25])
def test_rate_encode_random(threshold: float) -> None:
    x = random_inputs((20,), 64, seed=4)
    got = _encoder_train((20,), 12, lambda b, v: b.rate_encode(v, threshold=threshold), x)
    _equal(got, spec.rate_encode(x, 12, threshold), f"rate {threshold}")


# --------------------------------------------------------------------------------- neurons
def _neuron_train(current: np.ndarray, neuron) -> np.ndarray:
    """Feed the exact current ``[T, B, N]`` to ``neuron(builder, current_value)``; return its spikes.

    The graph has one sample and T inputs; x is chosen so that TTFS input t spikes exactly at step t.
    Sample j's unit i becomes column ``j*N + i`` of a dense layer whose weight row is ``current[:, j, i]``,
    so its synaptic input is ``I[t] = current[t, j, i]`` exactly.
    """
    t_steps, batch, n = current.shape
    k_in = t_steps  # one input per step: input t spikes at step t (x chosen for it)
    x = np.array([max(1 - t / (t_steps - 1), 1e-3) for t in range(k_in)], F32)[None, :]
    b = SnnModelBuilder(input_features=(k_in,), time_steps=t_steps)
    s = b.ttfs_encode(b.input)
    # neuron (sample j, unit i) -> column j*n + i, weight from input t = current[t, j, i]
    weight = current.transpose(1, 2, 0).reshape(batch * n, k_in)
    out = neuron(b, b.dense(s, weight))
    model = b.build(output=b.spike_count_decode(out))
    _, extra = run_onnxruntime(model, x, extra_outputs=[s.name, out.name])
    assert np.array_equal(extra[s.name][:, 0, :], np.eye(t_steps, dtype=F32)), "helper: input t must spike at t"
    return extra[out.name][:, 0, :].reshape(t_steps, batch, n)


def test_if_subtract_and_zero_hand_values() -> None:
    current = np.array([1.5, 0.0, 0.6, 1.0, -0.5, 2.0], F32)[:, None, None]
    sub = _neuron_train(current, lambda b, i: b.if_neuron(i, threshold=1.0, reset="subtract"))
    zero = _neuron_train(current, lambda b, i: b.if_neuron(i, threshold=1.0, reset="zero"))
    # subtract: V = 1.5 S, 0.5, 1.1 S, 1.1 S, -0.4, 1.6 S
    assert sub[:, 0, 0].tolist() == [1, 0, 1, 1, 0, 1]
    # zero: V = 1.5 S, 0, 0.6, 1.6 S, -0.5, 1.5 S  -- after the reset V restarts from 0
    assert zero[:, 0, 0].tolist() == [1, 0, 0, 1, 0, 1]
    _equal(sub, spec.if_neuron(current, F32(1.0), "subtract"), "IF subtract")
    _equal(zero, spec.if_neuron(current, F32(1.0), "zero"), "IF zero")


def test_if_threshold_hit_exactly_fires() -> None:
    current = np.array([0.25, 0.25, 0.25, 0.25, 0.5, 0.5], F32)[:, None, None]
    got = _neuron_train(current, lambda b, i: b.if_neuron(i, threshold=0.5))
    assert got[:, 0, 0].tolist() == [0, 1, 0, 1, 1, 1]  # V == theta fires (>=, not >)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_per_neuron_threshold_random(reset: str) -> None:
    rng = np.random.default_rng(11)
    current = dyadic(rng, (10, 4, 6), offset=8)
    theta = (rng.integers(8, 80, (6,)) / 64).astype(F32)
    # the helper lays the 4 samples side by side as 4 blocks of 6 neurons: tile theta to match
    got = _neuron_train(current, lambda b, i: b.if_neuron(i, threshold=np.tile(theta, 4), reset=reset))
    _equal(got, spec.if_neuron(current, theta, reset), f"IF {reset} per neuron")
    assert 0 < got.mean() < 1


def test_relpsp_hand_values_and_single_spike() -> None:
    # one input of weight 1 at step 0: K = 1, 1, 1, ...; V = 0, 1, 2, 3 ... -> V == 2 at step 2 (exact hit)
    current = np.zeros((6, 1, 3), F32)
    current[0, 0, 0] = 1.0
    current[1, 0, 1] = -1.0  # negative: never reaches the threshold
    current[0, 0, 2], current[2, 0, 2] = 1.0, -1.0  # V: 0, 1, 2 -> spike at 2 even though K falls back to 0
    got = _neuron_train(current, lambda b, i: b.relpsp(i, threshold=2.0))
    assert got[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 0]  # first crossing only, never again
    assert got[:, 0, 1].sum() == 0
    assert got[:, 0, 2].tolist() == [0, 0, 1, 0, 0, 0]
    _equal(got, spec.relpsp(current, 2.0), "ReLPSP")


def test_relpsp_random() -> None:
    rng = np.random.default_rng(12)
    current = dyadic(rng, (12, 3, 8), offset=2)
    got = _neuron_train(current, lambda b, i: b.relpsp(i, threshold=0.75))
    _equal(got, spec.relpsp(current, 0.75), "ReLPSP random")
    assert got.sum(0).max() == 1 and got.sum() > 0


# --------------------------------------------------------------------------------- decoders
def _trains_model(trains: np.ndarray, decode: str) -> tuple[np.ndarray, np.ndarray]:
    """Make the exact spike trains ``[T, 1, N]`` in the graph (TTFS + dense + IF zero), decode them."""
    t_steps, _, n = trains.shape
    x = np.array([max(1 - t / (t_steps - 1), 1e-3) for t in range(t_steps)], F32)[None, :]
    b = SnnModelBuilder(input_features=(t_steps,), time_steps=t_steps)
    s = b.ttfs_encode(b.input)
    out = b.if_neuron(b.dense(s, trains[:, 0, :].T), threshold=1.0, reset="zero")  # I[t, n] = trains[t, n]
    model = b.build(output=getattr(b, decode)(out))
    scores, extra = run_onnxruntime(model, x, extra_outputs=[out.name])
    assert np.array_equal(extra[out.name], trains), "helper: the graph must reproduce the wanted trains"
    return scores, extra[out.name]


def test_first_spike_decode_no_spike_ties_and_later_spikes() -> None:
    t = 5
    trains = np.zeros((t, 1, 5), F32)
    trains[2, 0, 1] = 1  # neuron 1: first at 2 -> 3
    trains[2, 0, 3] = trains[4, 0, 3] = 1  # neuron 3: ties with 1, later spikes ignored -> 3
    trains[0, 0, 4] = trains[1, 0, 4] = 1  # neuron 4: first at 0 -> T
    trains[4, 0, 2] = 1  # neuron 2: last step -> 1; neuron 0: none -> 0
    scores, _ = _trains_model(trains, "first_spike_decode")
    assert scores[0].tolist() == [0.0, 3.0, 1.0, 3.0, 5.0]
    _equal(scores, spec.first_spike_decode(trains), "first spike")
    trains[0, 0, 4] = trains[1, 0, 4] = 0  # now 1 and 3 tie for the max: the lowest index wins
    scores, _ = _trains_model(trains, "first_spike_decode")
    assert spec.predict(scores).tolist() == [1] and int(np.argmax(scores)) == 1


def test_last_step_and_spike_count_decode() -> None:
    rng = np.random.default_rng(5)
    trains = (rng.random((7, 1, 9)) < 0.4).astype(F32)
    trains[:, 0, 0] = 0
    trains[:, 0, 1] = 1
    last, _ = _trains_model(trains, "last_step_decode")
    count, _ = _trains_model(trains, "spike_count_decode")
    _equal(last, spec.last_step_decode(trains), "last step")
    _equal(count, spec.spike_count_decode(trains), "spike count")
    assert last[0, 1] == 1 and count[0, 0] == 0 and count[0, 1] == 1
    assert count[0, 2] == F32(trains[:, 0, 2].sum()) / F32(7)


# --------------------------------------------------------------------------------- synapse views
def test_avgpool_padded_counts_match_spec() -> None:
    b = SnnModelBuilder(input_features=(2, 5, 5), time_steps=4)
    s = b.rate_encode(b.input, threshold=0.3)
    pooled = []
    for include in (0, 1):
        p = b.avgpool2d(s, kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=include)
        pooled.append(p)
    f = b.flatten(pooled[0])
    model = b.build(output=b.spike_count_decode(b.if_neuron(b.dense(f, np.ones((1, 18), F32)), 1.0)))
    x = random_inputs((2, 5, 5), 16, seed=9)
    _, extra = run_onnxruntime(model, x, extra_outputs=[p.name for p in pooled])
    trains = spec.rate_encode(x, 4, 0.3)
    # 5/6 is where dividing by the count and multiplying by its reciprocal differ in float32: it must occur
    assert np.any(extra[pooled[0].name] == F32(5) / F32(6)) and F32(5) / F32(6) != F32(5) * (F32(1) / F32(6))
    for include, p in zip((0, 1), pooled, strict=True):
        want = spec.avgpool2d(trains, (3, 3), (2, 2), (1, 1, 1, 1), include)
        _equal(extra[p.name], want, f"avgpool count_include_pad={include}")


def test_conv_and_pool_use_the_reshape_pattern() -> None:
    b = SnnModelBuilder(input_features=(1, 6, 6), time_steps=3)
    s = b.ttfs_encode(b.input)
    c = b.conv2d(s, np.ones((2, 1, 3, 3), F32), np.zeros(2, F32), name="conv")
    p = b.avgpool2d(b.if_neuron(c, 1.0), 2, name="pool")
    o = b.if_neuron(b.dense(b.flatten(p), np.ones((3, 8), F32)), 1.0)
    model = b.build(output=b.last_step_decode(o))
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["TTFSEncode", "Reshape", "Conv", "Reshape", "IF", "Reshape", "AveragePool", "Reshape", "Reshape",
                   "MatMul", "IF", "LastStepDecode"]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    shapes = [inits[n.input[1]].tolist() for n in model.graph.node if n.op_type == "Reshape"]
    assert shapes == [[-1, 1, 6, 6], [3, -1, 2, 4, 4], [-1, 2, 4, 4], [3, -1, 2, 2, 2], [3, -1, 8]]
    matmul = next(n for n in model.graph.node if n.op_type == "MatMul")
    assert inits[matmul.input[1]].shape == (8, 3)  # MatMul's B is weight.T: [n_in, n_out]
    assert (c.features, p.features) == ((2, 4, 4), (2, 2, 2))
    infos = {vi.name: [d.dim_value or d.dim_param for d in vi.type.tensor_type.shape.dim]
             for vi in model.graph.value_info}
    assert infos["conv"] == [3, "B", 2, 4, 4] and infos["pool"] == [3, "B", 2, 2, 2]


def test_dense_styles_agree() -> None:
    rng = np.random.default_rng(2)
    w, bias = dyadic(rng, (4, 18)), dyadic(rng, (4,))
    models = []
    for style in ("matmul", "gemm"):
        b = SnnModelBuilder(input_features=(3,), time_steps=6)
        flat = b.time_flatten(b.rate_encode(b.input))
        models.append(b.build(output=b.dense(flat, w, bias, style=style)))
    assert "Gemm" in [n.op_type for n in models[1].graph.node]
    x = random_inputs((3,), 32, seed=1)
    want = spec.dense(spec.time_flatten(spec.rate_encode(x, 6, 0.5)), w, bias)
    for m in models:
        _equal(run_onnxruntime(m, x), want, "dense on [B, T*N]")


# --------------------------------------------------------------------------------- function defaults
def test_function_attribute_defaults_follow_the_spec() -> None:
    """A node that omits window / threshold / reset runs with the SPEC defaults (T, 0.5, subtract)."""
    rng = np.random.default_rng(8)
    w = dyadic(rng, (5, 6), offset=8)
    b = SnnModelBuilder(input_features=(6,), time_steps=7)
    te, re = b.ttfs_encode(b.input), b.rate_encode(b.input)
    o = b.if_neuron(b.dense(re, w), threshold=0.75)
    model = b.build(output=b.spike_count_decode(o))
    for node in model.graph.node:
        keep = [a for a in node.attribute if a.name not in ("window", "threshold", "reset")]
        del node.attribute[:]
        node.attribute.extend(keep)
    onnx.checker.check_model(model, full_check=True)
    x = random_inputs((6,), 32, seed=2)
    scores, extra = run_onnxruntime(model, x, extra_outputs=[te.name, re.name])
    _equal(extra[te.name], spec.ttfs_encode(x, 7, 7), "TTFS default window")
    _equal(extra[re.name], spec.rate_encode(x, 7, 0.5), "Rate default threshold")
    _equal(scores, spec.spike_count_decode(spec.if_neuron(spec.dense(extra[re.name], w), F32(0.75))), "IF default")


def test_every_spec_op_has_a_function() -> None:
    assert set(SNN_FUNCTIONS) == {"TTFSEncode", "RateEncode", "ReLPSP", "IF", "FirstSpikeDecode", "LastStepDecode",
                                  "SpikeCountDecode"}
    for name, make in SNN_FUNCTIONS.items():
        f = make()
        assert (f.domain, f.name) == ("snn", name)
        assert {n.domain for n in f.node} == {""}  # standard ops only


# --------------------------------------------------------------------------------- builder checks
def _builder() -> tuple[SnnModelBuilder, SnnValue]:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    return b, b.ttfs_encode(b.input)


@pytest.mark.parametrize(("call", "message"), [
    (lambda b, s: b.dense(s, np.ones((3, 5))), "expects 5 input features"),
    (lambda b, s: b.dense(s, np.ones((3, 4)), np.ones(2)), "bias \\[2\\] does not match"),
    (lambda b, s: b.dense(s, np.ones((3, 4)), style="gemm"), "needs a 2-D tensor"),
    (lambda b, s: b.dense(s, np.full((3, 4), np.nan)), "NaN"),
    (lambda b, s: b.relpsp(s), "is spikes, expected current"),
    (lambda b, s: b.if_neuron(b.dense(s, np.ones((3, 4))), np.ones(2)), "does not broadcast"),
    (lambda b, s: b.if_neuron(b.dense(s, np.ones((3, 4))), -1.0), "must be > 0"),
    (lambda b, s: b.if_neuron(b.dense(s, np.ones((3, 4))), 1.0, reset="hard"), "reset must be"),
    (lambda b, s: b.first_spike_decode(b.dense(s, np.ones((3, 4)))), "is current, expected spikes"),
    (lambda b, s: b.ttfs_encode(b.input, window=6), "window must be"),
    (lambda b, s: b.ttfs_encode(s), "is spikes, expected tensor"),
    (lambda b, s: b.conv2d(s, np.ones((1, 1, 1, 1))), "features \\[C, H, W\\]"),
    (lambda b, s: b.reshape(s, (3,)), "cannot reshape"),
    (lambda b, s: b.dense(s, np.ones((3, 4)), name=s.name), "already used"),
    (lambda b, s: b.build(output=s), "must be a tensor \\[B, N\\]"),
    (lambda b, s: b.build(output=b.spike_count_decode(s), metadata={"algorithm": "x"}), "must start with 'snn.'"),
    (lambda b, s: b.dense(SnnModelBuilder((4,), 5).ttfs_encode(SnnModelBuilder((4,), 5).input), np.ones((3, 4))),
     "not a value of this builder"),
])
def test_builder_rejects_bad_arguments(call, message: str) -> None:
    b, s = _builder()
    with pytest.raises(FrontendError, match=message):
        call(b, s)


def test_builder_conv_checks() -> None:
    b = SnnModelBuilder(input_features=(3, 5, 5), time_steps=2)
    s = b.rate_encode(b.input)
    with pytest.raises(FrontendError, match="group=2 does not fit 3 input channels"):
        b.conv2d(s, np.ones((4, 1, 3, 3)), group=2)
    with pytest.raises(FrontendError, match="does not fit input 5x5"):
        b.conv2d(s, np.ones((4, 3, 7, 7)))
    with pytest.raises(FrontendError, match="does not fit input 5x5"):
        b.avgpool2d(s, 6)
    assert b.conv2d(s, np.ones((4, 3, 3, 3)), strides=2, pads=1).features == (4, 3, 3)


def test_build_writes_metadata_and_can_be_called_twice() -> None:
    b, s = _builder()
    y = b.first_spike_decode(b.relpsp(b.dense(s, np.ones((2, 4)) / 4), threshold=1.0))
    m1 = b.build(output=y, metadata={"snn.algorithm": "stdbp", "snn.accuracy": 0.5})
    m2 = b.build(output=y)
    assert {p.key: p.value for p in m1.metadata_props} == {"snn.algorithm": "stdbp", "snn.accuracy": "0.5"}
    assert not m2.metadata_props
    assert [n.output[0] for n in m1.graph.node][-1] == "scores" and b.values[y.name] == y
    assert {f.name for f in m1.functions} == {"TTFSEncode", "ReLPSP", "FirstSpikeDecode"}
    x = np.array([[1.0, 0.5, 0.0, 0.25]], F32)
    _equal(run_onnxruntime(m1, x), run_onnxruntime(m2, x), "two builds")
