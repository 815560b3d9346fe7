"""Leaky neurons, recurrence, merges and trace decoders in ONNX (issue 14 item 1, SPEC section 2).

Hand-built models (via :class:`SnnModelBuilder`) run in onnxruntime and must equal the independent NumPy
transcription of the SPEC (``tests/spec_numpy.py``) exactly, on dyadic weights and thresholds and betas in
{0.5, 0.75, 0.875, 1}: per op (``snn.LIF``, ``snn.CubaLIF``, ``snn.LI``, recurrent ``snn.IF``), both resets,
both reset orders, with and without recurrence, scalar and per-feature parameters; the decoders on an LI
trace; a spike train feeding two synapses merged with ``Add``; a two-layer net with a residual ``Add``;
the emitted ONNX structure and function defaults; the builder's errors on bad input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.errors import FrontendError, SnncError
from snnc.frontend.snn_functions import ALL_SNN_FUNCTIONS, LEAKY_FUNCTIONS, SNN_FUNCTIONS, snn_function
from snnc.frontend.snn_onnx import SnnModelBuilder, SnnValue, run_onnxruntime
from snnc.tests import spec_numpy as spec
from snnc.tests.onnx_models import dyadic, random_inputs

F32 = np.float32
BETAS = [0.5, 0.75, 0.875, 1.0]
RESETS = ["subtract", "zero"]


def _equal(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == np.float32, f"{what}: dtype {a.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    bad = np.argwhere(a != b)
    assert bad.size == 0, f"{what}: {len(bad)} mismatches, first at {bad[0].tolist()}: {a[tuple(bad[0])]} != " \
                          f"{b[tuple(bad[0])]}"


# --------------------------------------------------------------------------------- exact currents
Layer = Callable[[SnnModelBuilder, SnnValue], SnnValue]


def _run_on_current(current: np.ndarray, layer: Layer, decode: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None, onnx.ModelProto]:
    """Feed the exact current ``[T, B, n]`` (every sample its own) into ``layer``, run onnxruntime.

    The input ``x [B, B*T]`` makes TTFS spike at step t on input ``b*T + t`` of sample b only; a dense
    synapse with ``W[:, b*T + t] = current[t, b]`` then gives ``I[t, b] = current[t, b]`` exactly.

    Returns:
        the layer's output ``[T, B, n]``, the decoded scores (or None) and the model.
    """
    t_steps, batch, n = current.shape
    assert t_steps > 1
    b = SnnModelBuilder(input_features=(batch * t_steps,), time_steps=t_steps)
    s = b.ttfs_encode(b.input)
    x = np.zeros((batch, batch * t_steps), F32)
    weight = np.zeros((n, batch * t_steps), F32)
    for j in range(batch):
        for t in range(t_steps):
            x[j, j * t_steps + t] = max(1 - t / (t_steps - 1), 1e-3)
            weight[:, j * t_steps + t] = current[t, j]
    i = b.dense(s, weight)
    out = layer(b, i)
    if decode is None:  # the model needs a [B, N] output: decode whatever the layer gives
        scores_value = b.spike_count_decode(out) if out.kind.value == "spikes" else b.last_step_decode(out)
    else:
        scores_value = getattr(b, decode)(out)
    model = b.build(output=scores_value)
    scores, extra = run_onnxruntime(model, x, extra_outputs=[i.name, out.name], threads=1)
    assert np.array_equal(extra[i.name], current), "helper: the graph must reproduce the wanted current"
    return extra[out.name], (scores if decode is not None else None), model


def _current(seed: int, shape: tuple[int, int, int] = (12, 4, 6), offset: int = 12) -> np.ndarray:
    return dyadic(np.random.default_rng(seed), shape, offset=offset)


def _recurrent_weight(seed: int, n: int) -> np.ndarray:
    return dyadic(np.random.default_rng(seed), (n, n), limit=40)


# --------------------------------------------------------------------------------- LIF
def test_lif_hand_values_both_resets() -> None:
    current = np.array([1.5, 0.0, 0.5, 0.75, 1.0, -0.5, 2.0], F32)[:, None, None]
    sub, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 1.0, 0.5, reset="subtract"))
    zero, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 1.0, 0.5, reset="zero"))
    # subtract: V = 1.5 S, 0.25, 0.625, 1.0625 S, 1.03125 S, -0.484375, 1.7578125 S
    assert sub[:, 0, 0].tolist() == [1, 0, 0, 1, 1, 0, 1]
    # zero: V = 1.5 S, 0, 0.5, 1.0 S (exact hit), 1.0 S, -0.5, 1.75 S
    assert zero[:, 0, 0].tolist() == [1, 0, 0, 1, 1, 0, 1]
    _equal(sub, spec.lif(current, 1.0, 0.5, "subtract"), "LIF subtract")
    _equal(zero, spec.lif(current, 1.0, 0.5, "zero"), "LIF zero")


@pytest.mark.parametrize("reset", RESETS)
def test_lif_reset_orders_differ_and_delayed_reset_is_honoured(reset: str) -> None:
    # subtract: I = 1.5, 0.75 -> reset first: V1 = 0.5*(1.5-1) + 0.75 = 1.0 fires; delayed: 0.75+0.75-1 = 0.5
    # zero:     I = 1.0, 1.0  -> reset first: V1 = 0.5*0 + 1 = 1 fires; delayed: (0.5 + 1) * 0 = 0
    current = np.array([[1.5, 0.75], [1.0, 1.0]][reset == "zero"], F32)[:, None, None]
    now, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 1.0, 0.5, reset=reset, delayed_reset=False))
    late, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 1.0, 0.5, reset=reset, delayed_reset=True))
    assert now[:, 0, 0].tolist() == [1, 1]
    assert late[:, 0, 0].tolist() == [1, 0]
    _equal(now, spec.lif(current, 1.0, 0.5, reset, False), "reset first")
    _equal(late, spec.lif(current, 1.0, 0.5, reset, True), "delayed reset")


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("beta", BETAS)
def test_lif_random_scalar_parameters(beta: float, reset: str, delayed: bool) -> None:
    current = _current(seed=int(beta * 8) + 3 * delayed + 7 * (reset == "zero"))
    got, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 0.75, beta, reset=reset, delayed_reset=delayed))
    _equal(got, spec.lif(current, F32(0.75), F32(beta), reset, delayed), f"LIF beta={beta} {reset} {delayed}")
    assert 0 < got.mean() < 1


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
def test_lif_per_feature_parameters(reset: str, delayed: bool) -> None:
    rng = np.random.default_rng(21)
    current = _current(seed=22)
    theta = (rng.integers(16, 80, (6,)) / 64).astype(F32)
    beta = rng.choice(np.array(BETAS + [0.0, 0.25], F32), 6)
    got, _, model = _run_on_current(current, lambda b, i: b.lif(i, theta, beta, reset, delayed))
    _equal(got, spec.lif(current, theta, beta, reset, delayed), "LIF per feature")
    lif = next(n for n in model.graph.node if n.op_type == "LIF")
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert np.array_equal(inits[lif.input[1]], theta) and np.array_equal(inits[lif.input[2]], beta)


def test_lif_with_beta_one_is_if_and_orders_agree_when_subtracting() -> None:
    current = _current(seed=31)
    lif, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 0.75, 1.0))
    late, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 0.75, 1.0, delayed_reset=True))
    if_, _, _ = _run_on_current(current, lambda b, i: b.if_neuron(i, 0.75))
    _equal(lif, if_, "LIF(beta=1) vs IF")
    _equal(late, if_, "LIF(beta=1, delayed subtract) vs IF")
    for reset in RESETS:
        zero_lif, _, _ = _run_on_current(current, lambda b, i, r=reset: b.lif(i, 0.75, 1.0, reset=r))
        _equal(zero_lif, spec.if_neuron(current, F32(0.75), reset), f"LIF(beta=1) {reset} vs spec IF")


def test_lif_beta_zero_forgets() -> None:
    current = np.array([0.5, 0.5, 0.5, 1.0], F32)[:, None, None]
    got, _, _ = _run_on_current(current, lambda b, i: b.lif(i, 1.0, 0.0))
    assert got[:, 0, 0].tolist() == [0, 0, 0, 1]  # no memory: only the step's own input counts


def test_lif_on_conv_features_per_channel() -> None:
    rng = np.random.default_rng(41)
    b = SnnModelBuilder(input_features=(2, 5, 5), time_steps=6)
    s = b.rate_encode(b.input, threshold=0.5)
    w = dyadic(rng, (3, 2, 3, 3), offset=4)
    c = b.conv2d(s, w, pads=1)
    theta = np.array([0.5, 0.75, 1.0], F32).reshape(3, 1, 1)
    beta = np.array([0.5, 0.875, 1.0], F32).reshape(3, 1, 1)
    out = b.lif(c, theta, beta, reset="zero")
    model = b.build(output=b.spike_count_decode(b.flatten(out)))
    x = random_inputs((2, 5, 5), 16, seed=42)
    _, extra = run_onnxruntime(model, x, extra_outputs=[s.name, out.name], threads=1)
    ref = spec.lif(spec.conv2d(spec.rate_encode(x, 6, 0.5), w, pads=(1, 1, 1, 1)), theta, beta, "zero")
    _equal(extra[s.name], spec.rate_encode(x, 6, 0.5), "rate")
    _equal(extra[out.name], ref, "LIF on conv")
    assert 0 < ref.mean() < 1


# --------------------------------------------------------------------------------- CubaLIF
def test_cuba_lif_hand_values() -> None:
    # alpha 0.5, beta 1: J = 1, 0.5, 0.25, 1.125; V (subtract at 1): 1 S, 0.5, 0.75, 1.875 S
    current = np.array([1.0, 0.0, 0.0, 1.0], F32)[:, None, None]
    got, _, _ = _run_on_current(current, lambda b, i: b.cuba_lif(i, 1.0, 0.5, 1.0))
    assert got[:, 0, 0].tolist() == [1, 0, 0, 1]
    _equal(got, spec.cuba_lif(current, 1.0, 0.5, 1.0), "CubaLIF")


def test_cuba_lif_with_alpha_zero_is_lif() -> None:
    current = _current(seed=51)
    for reset in RESETS:
        cuba, _, _ = _run_on_current(current, lambda b, i, r=reset: b.cuba_lif(i, 0.75, 0.0, 0.875, reset=r))
        lif, _, _ = _run_on_current(current, lambda b, i, r=reset: b.lif(i, 0.75, 0.875, reset=r))
        _equal(cuba, lif, f"CubaLIF(alpha=0) vs LIF {reset}")


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.75), (0.875, 0.5), (0.75, 1.0), (1.0, 0.875)])
def test_cuba_lif_random(alpha: float, beta: float, reset: str, delayed: bool) -> None:
    current = _current(seed=int(alpha * 8) * 10 + int(beta * 8), offset=2)
    got, _, _ = _run_on_current(current, lambda b, i: b.cuba_lif(i, 1.0, alpha, beta, reset, delayed))
    _equal(got, spec.cuba_lif(current, F32(1.0), F32(alpha), F32(beta), reset, delayed),
           f"CubaLIF a={alpha} b={beta} {reset} {delayed}")
    assert 0 < got.mean() < 1


def test_cuba_lif_per_feature_and_delayed_reset_differs() -> None:
    rng = np.random.default_rng(61)
    current = _current(seed=62, offset=4)
    theta = (rng.integers(32, 96, (6,)) / 64).astype(F32)
    alpha = rng.choice(np.array(BETAS, F32), 6)
    beta = rng.choice(np.array(BETAS, F32), 6)
    runs = {}
    for delayed in (False, True):
        got, _, _ = _run_on_current(current, lambda b, i, d=delayed: b.cuba_lif(i, theta, alpha, beta, "zero", d))
        _equal(got, spec.cuba_lif(current, theta, alpha, beta, "zero", delayed), f"CubaLIF per feature {delayed}")
        runs[delayed] = got
    assert not np.array_equal(runs[False], runs[True])


# --------------------------------------------------------------------------------- recurrence
def test_recurrence_is_one_step_late() -> None:
    # neuron 1 gets neuron 0's spike one step later through W[1, 0] = 1; neuron 0 inhibits itself
    current = np.zeros((5, 1, 2), F32)
    current[0, 0, 0] = 1.0
    current[1, 0, 0] = 1.0
    w = np.array([[-1.0, 0.0], [1.0, 0.0]], F32)
    for layer in (lambda b, i: b.if_neuron(i, 1.0, recurrent_weight=w),
                  lambda b, i: b.lif(i, 1.0, 1.0, recurrent_weight=w),
                  lambda b, i: b.cuba_lif(i, 1.0, 0.0, 1.0, recurrent_weight=w)):
        got, _, _ = _run_on_current(current, layer)
        # step 0: V0 = 1 fires; step 1: V0 = (1 - 1) + 1 + (-1) = 0, V1 = 0 + 1 = 1 fires
        assert got[:, 0, 0].tolist() == [1, 0, 0, 0, 0]
        assert got[:, 0, 1].tolist() == [0, 1, 0, 0, 0]


@pytest.mark.parametrize("reset", RESETS)
def test_if_recurrent_random(reset: str) -> None:
    current = _current(seed=71, offset=6)
    w = _recurrent_weight(72, 6)
    got, _, _ = _run_on_current(current, lambda b, i: b.if_neuron(i, 0.75, reset, recurrent_weight=w))
    _equal(got, spec.if_neuron_recurrent(current, F32(0.75), reset, w), f"IF recurrent {reset}")
    plain, _, _ = _run_on_current(current, lambda b, i: b.if_neuron(i, 0.75, reset))
    assert not np.array_equal(got, plain), "the recurrent weight must change the spikes"
    zero_w, _, _ = _run_on_current(current, lambda b, i: b.if_neuron(i, 0.75, reset, np.zeros((6, 6), F32)))
    _equal(zero_w, plain, "IF with a zero recurrent weight")


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("beta", [0.5, 0.875, 1.0])
def test_lif_recurrent_random(beta: float, reset: str, delayed: bool) -> None:
    current = _current(seed=80 + int(beta * 8), offset=8)
    w = _recurrent_weight(81, 6)
    theta = np.array([0.5, 0.75, 1.0, 0.5, 0.75, 1.0], F32)
    got, _, _ = _run_on_current(current, lambda b, i: b.lif(i, theta, beta, reset, delayed, recurrent_weight=w))
    _equal(got, spec.lif(current, theta, F32(beta), reset, delayed, w), f"LIF recurrent {beta} {reset} {delayed}")
    assert not np.array_equal(got, spec.lif(current, theta, F32(beta), reset, delayed))
    assert 0 < got.mean() < 1


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
def test_cuba_lif_recurrent_random(reset: str, delayed: bool) -> None:
    current = _current(seed=91, offset=6)
    w = _recurrent_weight(92, 6)
    got, _, _ = _run_on_current(current, lambda b, i: b.cuba_lif(i, 1.0, 0.75, 0.875, reset, delayed, w))
    _equal(got, spec.cuba_lif(current, F32(1.0), F32(0.75), F32(0.875), reset, delayed, w), "CubaLIF recurrent")
    assert not np.array_equal(got, spec.cuba_lif(current, F32(1.0), F32(0.75), F32(0.875), reset, delayed))


# --------------------------------------------------------------------------------- LI and decoders
@pytest.mark.parametrize("beta", BETAS)
def test_li_trace(beta: float) -> None:
    current = _current(seed=100 + int(beta * 8), offset=0)
    trace, _, _ = _run_on_current(current, lambda b, i: b.li(i, beta))
    _equal(trace, spec.li(current, F32(beta)), f"LI beta={beta}")
    assert len(np.unique(trace)) > 20  # a float trace, not spikes


def test_li_hand_values_and_per_feature_beta() -> None:
    current = np.array([[1.0, 1.0], [0.0, 0.0], [-0.5, 0.5]], F32)[:, None, :]
    trace, _, _ = _run_on_current(current, lambda b, i: b.li(i, np.array([0.5, 1.0], F32)))
    assert trace[:, 0, 0].tolist() == [1.0, 0.5, -0.25]
    assert trace[:, 0, 1].tolist() == [1.0, 1.0, 1.5]


@pytest.mark.parametrize("decode", ["last_step_decode", "spike_count_decode", "max_over_time_decode"])
@pytest.mark.parametrize("beta", [0.75, 1.0])
def test_decoders_on_an_li_trace(decode: str, beta: float) -> None:
    current = _current(seed=110, shape=(7, 5, 4), offset=-4)  # mostly negative: max/last/mean differ
    trace, scores, _ = _run_on_current(current, lambda b, i: b.li(i, beta), decode=decode)
    ref_trace = spec.li(current, F32(beta))
    _equal(trace, ref_trace, "trace")
    expected = {"last_step_decode": spec.last_step_decode(ref_trace),
                "spike_count_decode": spec.spike_count_decode(ref_trace),
                "max_over_time_decode": spec.max_over_time_decode(ref_trace)}[decode]
    _equal(scores, expected, decode)
    # SPEC: V[T-1], the mean over steps, the maximum over steps
    if decode == "last_step_decode":
        assert np.array_equal(scores, ref_trace[-1])
    elif decode == "max_over_time_decode":
        assert np.array_equal(scores, ref_trace.max(axis=0))
    else:
        assert np.allclose(scores, ref_trace.mean(axis=0), rtol=1e-6, atol=0)


def test_max_over_time_function_on_spikes_is_any_spike() -> None:
    # the builder restricts the decoder to traces; the function body itself is rank- and kind-generic
    f = snn_function("MaxOverTimeDecode")
    assert [n.op_type for n in f.node] == ["Constant", "ReduceMax"]


# --------------------------------------------------------------------------------- merges
def _skip_model(seed: int, reset: str, delayed: bool) -> tuple[onnx.ModelProto, dict[str, np.ndarray], dict]:
    """x [B, 8] -> TTFS s; s feeds two synapses whose currents are added before a LIF; LI readout."""
    rng = np.random.default_rng(seed)
    t_steps = 10
    w_a, w_b, w_o = dyadic(rng, (6, 8), offset=6), dyadic(rng, (6, 8), offset=2), dyadic(rng, (3, 6), offset=4)
    b = SnnModelBuilder(input_features=(8,), time_steps=t_steps, name="skip")
    s = b.ttfs_encode(b.input, window=6)
    i_a, i_b = b.dense(s, w_a), b.dense(s, w_b)  # one spike train, two synapses
    merged = b.add(i_a, i_b)
    h = b.lif(merged, 0.75, 0.875, reset=reset, delayed_reset=delayed)
    trace = b.li(b.dense(h, w_o), 0.75)
    model = b.build(output=b.max_over_time_decode(trace), metadata={"snn.test_case": "skip"})
    names = {"s": s.name, "merged": merged.name, "h": h.name, "trace": trace.name}

    def reference(x: np.ndarray) -> dict[str, np.ndarray]:
        sr = spec.ttfs_encode(x, t_steps, 6)
        mr = spec.dense(sr, w_a) + spec.dense(sr, w_b)
        hr = spec.lif(mr, F32(0.75), F32(0.875), reset, delayed)
        tr = spec.li(spec.dense(hr, w_o), F32(0.75))
        return {"s": sr, "merged": mr, "h": hr, "trace": tr, "scores": spec.max_over_time_decode(tr)}

    return model, names, {"reference": reference}


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
def test_spike_train_feeding_two_synapses_merged_by_add(reset: str, delayed: bool) -> None:
    model, names, parts = _skip_model(3, reset, delayed)
    add = [n for n in model.graph.node if n.op_type == "Add"]
    assert len(add) == 1 and len({n.input[0] for n in model.graph.node if n.op_type == "MatMul"}) == 2
    x = random_inputs((8,), 64, seed=4)
    scores, extra = run_onnxruntime(model, x, extra_outputs=list(names.values()), threads=1)
    ref = parts["reference"](x)
    for key, name in names.items():
        _equal(extra[name], ref[key], key)
    _equal(scores, ref["scores"], "scores")
    assert 0 < ref["h"].mean() < 1


@pytest.mark.parametrize(("reset", "delayed", "recurrent"), [
    ("subtract", False, False), ("zero", True, False), ("subtract", False, True), ("zero", False, True),
    ("subtract", True, True),
])
def test_two_layer_net_with_residual_add(reset: str, delayed: bool, recurrent: bool) -> None:
    """x -> rate s [10]; h1 = LIF(dense(s)) [10]; h2 = CubaLIF(dense(h1) + dense(s)) [10] (the residual),
    optionally recurrent; LI readout [4]; the three trace decoders and the last layer's spike count."""
    rng = np.random.default_rng(7 + recurrent)
    t_steps = 12
    w1, w2, ws = dyadic(rng, (10, 10), offset=4), dyadic(rng, (10, 10), offset=2), dyadic(rng, (10, 10), offset=2)
    w_rec = dyadic(rng, (10, 10), limit=24) if recurrent else None
    w_o = dyadic(rng, (4, 10), offset=2)
    beta1 = rng.choice(np.array(BETAS, F32), 10)
    outputs = {}
    for decode in ("last_step_decode", "spike_count_decode", "max_over_time_decode"):
        b = SnnModelBuilder(input_features=(10,), time_steps=t_steps, name="residual")
        s = b.rate_encode(b.input, threshold=0.75)
        h1 = b.lif(b.dense(s, w1), 0.5, beta1, reset=reset, delayed_reset=delayed)
        r = b.add(b.dense(h1, w2), b.dense(s, ws))
        h2 = b.cuba_lif(r, 0.75, 0.5, 0.875, reset=reset, delayed_reset=delayed, recurrent_weight=w_rec)
        trace = b.li(b.dense(h2, w_o), 0.875)
        model = b.build(output=getattr(b, decode)(trace))
        x = random_inputs((10,), 48, seed=8)
        scores, extra = run_onnxruntime(model, x, extra_outputs=[s.name, h1.name, r.name, h2.name, trace.name],
                                        threads=1)
        sr = spec.rate_encode(x, t_steps, 0.75)
        h1r = spec.lif(spec.dense(sr, w1), F32(0.5), beta1, reset, delayed)
        rr = spec.dense(h1r, w2) + spec.dense(sr, ws)
        h2r = spec.cuba_lif(rr, F32(0.75), F32(0.5), F32(0.875), reset, delayed, w_rec)
        tr = spec.li(spec.dense(h2r, w_o), F32(0.875))
        for got, want, what in ((extra[s.name], sr, "s"), (extra[h1.name], h1r, "h1"), (extra[r.name], rr, "sum"),
                                (extra[h2.name], h2r, "h2"), (extra[trace.name], tr, "trace")):
            _equal(got, want, what)
        _equal(scores, getattr(spec, decode)(tr), decode)
        assert 0 < h1r.mean() < 1 and 0 < h2r.mean() < 1
        outputs[decode] = scores
    assert not np.array_equal(outputs["last_step_decode"], outputs["max_over_time_decode"])
    plain = run_onnxruntime(model, x, optimize=False)  # the unoptimized session runs the If/Scan bodies too
    _equal(plain, outputs["max_over_time_decode"], "unoptimized session")


def test_add_of_an_li_trace_and_using_a_value_twice() -> None:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    s = b.ttfs_encode(b.input)
    i = b.dense(s, np.full((3, 4), 0.25, F32))
    doubled = b.add(i, i)  # the same current twice
    assert doubled.kind.value == "current" and doubled.features == (3,)
    model = b.build(output=b.last_step_decode(b.li(doubled, 1.0)))
    x = np.array([[1.0, 0.5, 0.0, 0.25]], F32)
    scores, extra = run_onnxruntime(model, x, extra_outputs=[i.name, doubled.name])
    _equal(extra[doubled.name], extra[i.name] * F32(2), "I + I")
    _equal(scores, spec.li(extra[doubled.name], F32(1.0))[-1], "scores")


# --------------------------------------------------------------------------------- ONNX structure
def test_node_inputs_attributes_and_functions() -> None:
    b = SnnModelBuilder(input_features=(3,), time_steps=4)
    s = b.ttfs_encode(b.input)
    i = b.dense(s, np.ones((3, 3), F32) / 4)
    w = np.eye(3, dtype=F32) / 2
    b.if_neuron(i, 1.0, recurrent_weight=w)
    b.lif(i, 1.0, 0.5)
    b.lif(i, 1.0, 0.5, recurrent_weight=w)
    b.cuba_lif(i, 1.0, 0.5, 0.5, reset="zero", delayed_reset=True)
    b.cuba_lif(i, 1.0, 0.5, 0.5, recurrent_weight=w)
    model = b.build(output=b.max_over_time_decode(b.li(i, 0.5)))
    snn = [n for n in model.graph.node if n.domain == "snn"]
    got = [(n.op_type, len(n.input), {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
           for n in snn]
    assert got == [
        ("TTFSEncode", 1, {"time_steps": 4, "window": 4}),
        ("IF", 3, {"reset": b"subtract"}),
        ("LIF", 3, {"reset": b"subtract", "delayed_reset": 0}),
        ("LIF", 4, {"reset": b"subtract", "delayed_reset": 0}),
        ("CubaLIF", 4, {"reset": b"zero", "delayed_reset": 1}),
        ("CubaLIF", 5, {"reset": b"subtract", "delayed_reset": 0}),
        ("LI", 2, {}),
        ("MaxOverTimeDecode", 1, {}),
    ]
    assert {f.name for f in model.functions} == {"TTFSEncode", "IF", "LIF", "CubaLIF", "LI", "MaxOverTimeDecode"}
    onnx.checker.check_model(model, full_check=True)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert np.array_equal(inits[snn[3].input[3]], w)  # the recurrent weight as given, [n, n]
    assert all(inits[name].dtype == np.float32 for n in snn[1:7] for name in n.input[1:])


def test_every_leaky_function_is_standard_onnx() -> None:
    assert set(LEAKY_FUNCTIONS) == {"LIF", "CubaLIF", "LI", "MaxOverTimeDecode"}
    assert ALL_SNN_FUNCTIONS == {**SNN_FUNCTIONS, **LEAKY_FUNCTIONS}
    inputs = {"IF": ["I", "threshold", "recurrent_weight"], "LIF": ["I", "threshold", "beta", "recurrent_weight"],
              "CubaLIF": ["I", "threshold", "alpha", "beta", "recurrent_weight"], "LI": ["I", "beta"],
              "MaxOverTimeDecode": ["S"]}
    for name, want in inputs.items():
        f = snn_function(name)
        assert (f.domain, f.name, list(f.input)) == ("snn", name, want)
        assert {n.domain for n in f.node} == {""}


def test_function_attribute_defaults_follow_the_spec() -> None:
    """Without ``reset`` / ``delayed_reset`` the bodies use "subtract" and 0."""
    current = _current(seed=120)
    w = _recurrent_weight(121, 6)
    for layer, ref in (
        (lambda b, i: b.lif(i, 0.75, 0.875, "zero", True, w), spec.lif(current, F32(0.75), F32(0.875), "subtract",
                                                                          False, w)),
        (lambda b, i: b.cuba_lif(i, 0.75, 0.5, 0.875, "zero", True),
         spec.cuba_lif(current, F32(0.75), F32(0.5), F32(0.875))),
        (lambda b, i: b.if_neuron(i, 0.75, "zero", w), spec.if_neuron_recurrent(current, F32(0.75), "subtract", w)),
    ):
        _, _, model = _run_on_current(current, layer)
        node = next(n for n in model.graph.node if n.op_type in ("LIF", "CubaLIF", "IF"))
        del node.attribute[:]
        onnx.checker.check_model(model, full_check=True)
        x = np.zeros((4, 4 * 12), F32)
        for j in range(4):
            for t in range(12):
                x[j, j * 12 + t] = max(1 - t / 11, 1e-3)
        _, extra = run_onnxruntime(model, x, extra_outputs=[node.output[0]], threads=1)
        _equal(extra[node.output[0]], ref, f"{node.op_type} defaults")


def test_importing_a_leaky_model_is_a_clear_error_or_works() -> None:
    """The IR import of the new ops comes later; until then it must refuse clearly, never crash."""
    from snnc.frontend import import_onnx

    for make in (lambda b, i: b.lif(i, 1.0, 0.5), lambda b, i: b.if_neuron(i, 1.0, recurrent_weight=np.eye(3)),
                 lambda b, i: b.cuba_lif(i, 1.0, 0.5, 0.5), lambda b, i: b.li(i, 0.5)):
        b = SnnModelBuilder(input_features=(4,), time_steps=5)
        out = make(b, b.dense(b.ttfs_encode(b.input), np.ones((3, 4), F32) / 4))
        model = b.build(output=b.last_step_decode(out))
        try:
            import_onnx(model)
        except SnncError as err:
            node = next(n for n in model.graph.node if n.domain == "snn" and n.op_type != "TTFSEncode")
            assert node.op_type in str(err) or node.name in str(err), str(err)


# --------------------------------------------------------------------------------- property
DECAYS = [0.0, 0.25, 0.5, 0.75, 0.875, 1.0]


@st.composite
def _neuron_cases(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 5))
    op = draw(st.sampled_from(["if_neuron", "lif", "cuba_lif"]))
    per_feature = draw(st.booleans())

    def param(choices: list[float]) -> np.ndarray:
        picks = draw(st.lists(st.sampled_from(choices), min_size=n, max_size=n)) if per_feature else \
            [draw(st.sampled_from(choices))]
        return np.array(picks if per_feature else picks[0], F32)

    seed = draw(st.integers(0, 2**16))
    return {
        "op": op, "n": n, "seed": seed, "t": draw(st.integers(2, 9)), "batch": draw(st.integers(1, 3)),
        "theta": param([0.25, 0.5, 0.75, 1.0, 1.5]), "alpha": param(DECAYS), "beta": param(DECAYS),
        "reset": draw(st.sampled_from(RESETS)), "delayed": draw(st.booleans()),
        "recurrent": draw(st.booleans()), "offset": draw(st.integers(-8, 24)),
    }


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_neuron_cases())
def test_property_neurons_equal_the_transcription(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    current = dyadic(rng, (case["t"], case["batch"], case["n"]), offset=case["offset"])
    w = dyadic(rng, (case["n"], case["n"]), limit=40) if case["recurrent"] else None
    th, al, be, reset, delayed = case["theta"], case["alpha"], case["beta"], case["reset"], case["delayed"]
    if case["op"] == "if_neuron":
        got, _, _ = _run_on_current(current, lambda b, i: b.if_neuron(i, th, reset, recurrent_weight=w))
        want = spec.if_neuron_recurrent(current, th, reset, w)
    elif case["op"] == "lif":
        got, _, _ = _run_on_current(current, lambda b, i: b.lif(i, th, be, reset, delayed, w))
        want = spec.lif(current, th, be, reset, delayed, w)
    else:
        got, _, _ = _run_on_current(current, lambda b, i: b.cuba_lif(i, th, al, be, reset, delayed, w))
        want = spec.cuba_lif(current, th, al, be, reset, delayed, w)
    _equal(got, want, str(case))


# --------------------------------------------------------------------------------- builder checks
def _b() -> tuple[SnnModelBuilder, SnnValue, SnnValue]:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    s = b.ttfs_encode(b.input)
    return b, s, b.dense(s, np.ones((3, 4), F32))


@pytest.mark.parametrize(("call", "where", "message"), [
    (lambda b, s, i: b.lif(i, 1.0, 1.5), "lif", r"beta must lie in \[0, 1\] everywhere, got 1.5"),
    (lambda b, s, i: b.lif(i, 1.0, np.array([0.5, -0.25, 1.0])), "lif", r"beta must lie in \[0, 1\].*-0.25"),
    (lambda b, s, i: b.lif(i, 1.0, np.nan), "lif", "beta contains NaN"),
    (lambda b, s, i: b.lif(i, 0.0, 0.5), "lif", "threshold must be > 0 everywhere, got 0.0"),
    (lambda b, s, i: b.lif(i, 1.0, np.ones(2)), "lif", r"beta \[2\] does not broadcast to the features \[3\]"),
    (lambda b, s, i: b.lif(i, 1.0, 0.5, reset="hard"), "lif", "reset must be 'subtract' or 'zero'"),
    (lambda b, s, i: b.lif(i, 1.0, 0.5, delayed_reset=2), "lif", "delayed_reset must be a bool"),
    (lambda b, s, i: b.lif(s, 1.0, 0.5), "lif", "is spikes, expected current"),
    (lambda b, s, i: b.lif(i, 1.0, 0.5, recurrent_weight=np.ones((3, 2))), "lif",
     r"recurrent_weight must be \[3, 3\] for the 3 neurons of .*, got \[3, 2\]"),
    (lambda b, s, i: b.lif(i, 1.0, 0.5, recurrent_weight=np.ones(3)), "lif", r"recurrent_weight must be \[3, 3\]"),
    (lambda b, s, i: b.cuba_lif(i, 1.0, 1.25, 0.5), "cuba_lif", r"alpha must lie in \[0, 1\]"),
    (lambda b, s, i: b.cuba_lif(i, 1.0, 0.5, -1.0), "cuba_lif", r"beta must lie in \[0, 1\]"),
    (lambda b, s, i: b.cuba_lif(i, 1.0, 0.5, 0.5, recurrent_weight=np.ones((4, 4))), "cuba_lif",
     r"recurrent_weight must be \[3, 3\]"),
    (lambda b, s, i: b.if_neuron(i, 1.0, recurrent_weight=np.ones((2, 2))), "if_neuron",
     r"recurrent_weight must be \[3, 3\]"),
    (lambda b, s, i: b.li(i, 2.0), "li", r"beta must lie in \[0, 1\]"),
    (lambda b, s, i: b.li(s, 0.5), "li", "is spikes, expected current"),
    (lambda b, s, i: b.add(i, b.dense(s, np.ones((2, 4)))), "add", r"features \[3\] and .* features \[2\]"),
    (lambda b, s, i: b.add(i, s), "add", "is spikes, expected current"),
    (lambda b, s, i: b.add(b.input, b.input), "add", "is tensor, expected current"),
    (lambda b, s, i: b.max_over_time_decode(s), "max_over_time_decode", "is spikes, expected an LI potential trace"),
    (lambda b, s, i: b.last_step_decode(i), "last_step_decode",
     "is current, expected spikes or an LI potential trace"),
    (lambda b, s, i: b.first_spike_decode(b.li(i, 0.5)), "first_spike_decode",
     "is an LI potential trace, expected spikes"),
])
def test_builder_rejects_bad_arguments(call, where: str, message: str) -> None:
    b, s, i = _b()
    with pytest.raises(FrontendError, match=message) as info:
        call(b, s, i)
    assert info.value.where == where
    assert str(info.value)


def test_errors_carry_hints() -> None:
    b, s, i = _b()
    with pytest.raises(FrontendError) as info:
        b.lif(i, 1.0, 1.5)
    assert "exp(-dt / tau)" in (info.value.hint or "")
    with pytest.raises(FrontendError) as info:
        b.add(i, b.dense(s, np.ones((2, 4))))
    assert "same shape" in (info.value.hint or "")
    with pytest.raises(FrontendError) as info:
        b.lif(i, 1.0, 0.5, recurrent_weight=np.ones((3, 2)))
    assert "step t-1" in (info.value.hint or "")


def test_recurrence_needs_one_feature_axis() -> None:
    b = SnnModelBuilder(input_features=(1, 4, 4), time_steps=3)
    c = b.conv2d(b.rate_encode(b.input), np.ones((2, 1, 3, 3), F32))
    with pytest.raises(FrontendError, match=r"a recurrent layer needs features \[n\].*\[2, 2, 2\]"):
        b.lif(c, 1.0, 0.5, recurrent_weight=np.eye(2))


def test_reshaped_trace_is_still_a_trace() -> None:
    b = SnnModelBuilder(input_features=(1, 4, 4), time_steps=3)
    c = b.conv2d(b.rate_encode(b.input), np.ones((2, 1, 3, 3), F32) / 8)
    trace = b.flatten(b.li(c, 0.5))
    model = b.build(output=b.max_over_time_decode(trace))
    x = random_inputs((1, 4, 4), 8, seed=1)
    c_ref = spec.conv2d(spec.rate_encode(x, 3, 0.5), np.ones((2, 1, 3, 3), F32) / 8)
    _equal(run_onnxruntime(model, x), spec.max_over_time_decode(spec.flatten(spec.li(c_ref, F32(0.5)))), "max")
