"""The improved-STBP trainer: surrogate and threshold gradients against their equations, the torch forward
against the SPEC recurrence, exported ONNX against onnxruntime and the reference executor (every decoder),
the CLI, checkpoints, and a short training run on scikit-learn's digits.
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
import pytest
import torch

from snnc.backends import get_backend
from snnc.cli.train import add_stbp_arguments as add_arguments
from snnc.frontend import import_onnx
from snnc.frontend.snn_onnx import run_onnxruntime
from snnc.tests import spec_numpy as spec
from snnc.trainers.common import ConvSpec, DenseSpec, PoolSpec, TrainerError
from snnc.trainers.export_stbp import build_onnx, evaluate_exported
from snnc.trainers.if_torch import Surrogate, if_neuron, rate_encode, spike, surrogate_derivative
from snnc.trainers.stbp import StbpConfig, run, train
from snnc.trainers.stbp_model import Schemes, StbpNet, normalize_arch, parse_stbp_arch

F32 = np.float32
GRID = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------ surrogate derivative
@pytest.mark.parametrize("kind", ["threshold", "rect"])
def test_surrogate_derivative_matches_eq3_and_eq14(kind: str) -> None:
    theta = torch.tensor([0.5, 0.8])
    width = 1.0
    sur = Surrogate(kind, width)
    # potentials around each threshold, the window edges included (strict inequality: the edges give 0)
    offsets = torch.tensor([-0.7, -0.5, -0.4, -0.25, -0.2, 0.0, 0.1, 0.25, 0.3, 0.5, 0.6])
    v = (theta[None, :] + offsets[:, None]).clone().requires_grad_(True)  # [11, 2]
    th = theta.clone().requires_grad_(True)
    s = spike(v, th, sur)
    assert torch.equal(s, (v >= theta).float())
    g = torch.linspace(0.5, 1.5, v.numel()).reshape(v.shape)
    (s * g).sum().backward()
    a = theta if kind == "threshold" else torch.full_like(theta, width)  # eq. 14: a = Vth; eq. 3: fixed a
    h = torch.where((v.detach() - theta).abs() < a / 2, 1.0 / a, torch.zeros(()))
    torch.testing.assert_close(v.grad, g * h, rtol=0, atol=0)
    torch.testing.assert_close(th.grad, -(g * h).sum(0), rtol=1e-6, atol=1e-7)
    # the hand-written cases: inside the window the height is 1/a, outside 0
    if kind == "threshold":
        assert h[5].tolist() == [2.0, 1.25] and h[3].tolist() == [0.0, 1.25] and h[7, 0] == 0.0
    else:
        assert h[5].tolist() == [1.0, 1.0] and h[1].tolist() == [0.0, 0.0] and h[2].tolist() == [1.0, 1.0]
    torch.testing.assert_close(surrogate_derivative(v.detach(), theta, sur), h)


# ------------------------------------------------------------------------------- BPTT and threshold grads
def _hand_backward(current: np.ndarray, theta: np.ndarray, g: np.ndarray, reset: str,
                   sur: Surrogate) -> tuple[np.ndarray, np.ndarray]:
    """dL/dI and dL/dtheta of ``L = sum(S * g)`` by the recursions in the if_torch docstring (float64)."""
    T = current.shape[0]
    v = np.zeros(current.shape[1:], F32)
    s = np.zeros(current.shape[1:], F32)
    vs, ss = [], []
    for t in range(T):  # the forward pass, in float32 as the SPEC
        v = v - theta * s + current[t] if reset == "subtract" else v * (F32(1) - s) + current[t]
        s = (v >= theta).astype(F32)
        vs.append(v.astype(np.float64))
        ss.append(s.astype(np.float64))
    th = theta.astype(np.float64)
    a = th if sur.kind == "threshold" else np.float64(sur.width)
    d_next = np.zeros(current.shape[1:])
    d_cur = np.zeros(current.shape)
    d_theta = np.zeros(current.shape[1:])
    for t in reversed(range(T)):
        h = np.where(np.abs(vs[t] - th) < a / 2, 1.0 / a, 0.0) * np.ones_like(vs[t])
        if reset == "subtract":
            ds_total = g[t] - th * d_next  # S[t] also lowers V[t+1] by theta
            dv = ds_total * h + d_next
            d_theta += -ds_total * h - ss[t] * d_next  # eq. 11: through the spike function and the reset
        else:
            ds_total = g[t] - vs[t] * d_next  # S[t] zeroes V[t] in V[t+1]
            dv = ds_total * h + (1.0 - ss[t]) * d_next
            d_theta += -ds_total * h
        d_cur[t] = dv
        d_next = dv
    return d_cur, d_theta.sum(0)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("kind", ["threshold", "rect"])
def test_gradients_through_time_match_hand_recursion(reset: str, kind: str, fused: bool) -> None:
    """Both the fused layer (hand-written backward) and plain autograd through :func:`spike`."""
    rng = np.random.default_rng(7)
    T, B, n = 6, 5, 4
    current = rng.uniform(-0.2, 0.7, (T, B, n)).astype(F32)
    theta = np.array([0.5, 0.4, 0.7, 0.3], F32)
    g = rng.normal(size=(T, B, n))
    sur = Surrogate(kind, 0.8)
    cur_t = torch.from_numpy(current).requires_grad_(True)
    th_t = torch.from_numpy(theta).requires_grad_(True)
    s = if_neuron(cur_t, th_t, reset, sur, fused=fused)
    assert np.array_equal(s.detach().numpy(), spec.if_neuron(current, theta, reset))
    (s.double() * torch.from_numpy(g)).sum().backward()
    d_cur, d_theta = _hand_backward(current, theta, g, reset, sur)
    # the case is not trivial: gradients flow through time (some nonzero, some beyond the current step)
    assert np.count_nonzero(d_cur) > current.size // 3 and np.count_nonzero(d_theta) == n
    np.testing.assert_allclose(cur_t.grad.numpy(), d_cur, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(th_t.grad.numpy(), d_theta, rtol=1e-5, atol=1e-6)


def test_per_channel_threshold_gradient_sums_over_positions() -> None:
    rng = np.random.default_rng(3)
    current = torch.from_numpy(rng.uniform(0, 0.6, (4, 2, 3, 2, 2)).astype(F32))
    th = torch.full((3, 1, 1), 0.5, requires_grad=True)
    if_neuron(current, th, "subtract").sum().backward()
    th_graph = torch.full((3, 1, 1), 0.5, requires_grad=True)
    if_neuron(current, th_graph, "subtract", fused=False).sum().backward()
    torch.testing.assert_close(th.grad, th_graph.grad)
    th_flat = torch.full((3,), 0.5, requires_grad=True)
    per_position = current.permute(0, 1, 3, 4, 2).reshape(4, 8, 3)  # channels last, positions as batch
    if_neuron(per_position, th_flat, "subtract").sum().backward()
    assert th.grad.shape == (3, 1, 1)
    torch.testing.assert_close(th.grad.flatten(), th_flat.grad)
    assert th.grad.abs().sum() > 0


# -------------------------------------------------------------------------------------- forward vs SPEC
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_forward_equals_spec_recurrence(reset: str) -> None:
    rng = np.random.default_rng(1)
    current = rng.normal(0.2, 0.4, (12, 7, 3, 4, 4)).astype(F32)  # float weights: every bit must agree
    theta = rng.uniform(0.2, 1.0, (3, 1, 1)).astype(F32)
    got = if_neuron(torch.from_numpy(current), torch.from_numpy(theta), reset).numpy()
    want = spec.if_neuron(current, theta, reset)
    assert np.array_equal(got, want)
    assert 0.05 < want.mean() < 0.95


def test_rate_encoder_equals_spec() -> None:
    x = np.random.default_rng(2).uniform(-0.2, 1.2, (9, 20)).astype(F32)
    x[0, :4] = [0.0, 0.5, 1.0, 0.25]
    for T, th in ((8, 0.5), (5, 0.3)):
        assert np.array_equal(rate_encode(torch.from_numpy(x), T, th).numpy(), spec.rate_encode(x, T, th))


# ------------------------------------------------------------------------------------------ architecture
def test_paper_notation() -> None:
    assert normalize_arch("28x28-32C3-AP2-64C3-AP2-256FC-10") == "28x28-32C3-P2-64C3-P2-256-10"
    arch = parse_stbp_arch("28x28-32C3-AP2-64C3-AP2-256FC-10")
    assert arch.text == "28x28-32C3-AP2-64C3-AP2-256FC-10"
    assert arch.layers == (ConvSpec(32, 3), PoolSpec(2), ConvSpec(64, 3), PoolSpec(2), DenseSpec(256), DenseSpec(10))
    assert parse_stbp_arch("784-400-10").input_shape == (784,)
    with pytest.raises(TrainerError, match="layer 'AP2x'"):
        parse_stbp_arch("28x28-32C3-AP2x-10")


def test_schemes_validate_and_baseline() -> None:
    assert Schemes.baseline() == Schemes(reset="zero", trainable_threshold=False, surrogate="rect", decoder="rate")
    with pytest.raises(TrainerError, match="--decoder"):
        Schemes(decoder="softmax")
    with pytest.raises(TrainerError, match="--threshold"):
        Schemes(threshold=0.0)


# ------------------------------------------------------------------------------------------------ export
def _dyadic_net(arch: str, schemes: Schemes, T: int = 6, seed: int = 0) -> StbpNet:
    """A network whose weights, thresholds and decoder are multiples of 1/64: float32 sums are exact."""
    g = torch.Generator().manual_seed(seed)
    net = StbpNet(parse_stbp_arch(arch), T, schemes)
    with torch.no_grad():
        for w in net.weights:
            w.copy_(torch.randint(-24, 33, w.shape, generator=g) / GRID)
        for th in net.thresholds:
            th.copy_(torch.randint(16, 48, th.shape, generator=g) / GRID)
        if schemes.decoder == "st":
            net.decoder_weight.copy_(torch.randint(-32, 33, net.decoder_weight.shape, generator=g) / GRID)
            net.decoder_bias.copy_(torch.randint(-8, 9, net.decoder_bias.shape, generator=g) / GRID)
    return net


ARCHS = ["8x8-4C3p1-AP2-6C3-10", "8x8-3C3-AP2-12-10"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("decoder", ["rate", "last", "st"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_export_bit_exact_on_dyadic_weights(arch: str, decoder: str, reset: str) -> None:
    net = _dyadic_net(arch, Schemes(reset=reset, decoder=decoder))
    x = (np.random.default_rng(4).integers(0, 17, (24, 1, 8, 8)) / 16).astype(F32)
    with torch.no_grad():
        out = net(torch.from_numpy(x))
    model = build_onnx(net)
    names = [f"if_{i}" for i in range(1, len(net.plans) + 1)]
    ort_scores, ort_spikes = run_onnxruntime(model, x, extra_outputs=["encoder", *names])
    ref = get_backend("reference").run(import_onnx(model), x, record=True)
    assert np.array_equal(ort_scores, out.scores.numpy()), "onnxruntime vs torch"
    assert np.array_equal(ref.scores, ort_scores), "reference vs onnxruntime"
    assert np.array_equal(ort_spikes["encoder"], out.encoded.numpy())
    for name, s in zip(names, out.spikes, strict=True):
        assert np.array_equal(ort_spikes[name], s.numpy()), name
        assert np.array_equal(ref.spikes[name].astype(F32), s.numpy()), name
    assert 0.02 < out.spikes[-1].mean() < 0.98  # the output layer does something
    ev = evaluate_exported(model, x, np.zeros(len(x), np.int64), batch_size=10)
    assert ev.spikes_per_inference == pytest.approx(float(sum(s.sum() for s in out.spikes)) / len(x))
    assert ev.encoder_spikes == pytest.approx(float(out.encoded.sum()) / len(x))


def test_export_thresholds_are_per_channel_tensors() -> None:
    net = _dyadic_net("8x8-3C3-AP2-12-10", Schemes(decoder="st"))
    model = build_onnx(net)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    thresholds = {k: v for k, v in inits.items() if k.endswith("threshold")}
    assert sorted(v.shape for v in thresholds.values()) == [(3, 1, 1), (10,), (12,)]
    ifs = [n for n in model.graph.node if n.op_type == "IF"]
    assert [onnx.helper.get_attribute_value(a) for n in ifs for a in n.attribute] == [b"subtract"] * 3
    assert np.array_equal(inits["if_1.threshold"], net.thresholds[0].detach().numpy())


def test_export_agrees_on_real_weights() -> None:
    """Float weights: SPEC allows differences only where a potential lands within rounding of a threshold."""
    torch.manual_seed(0)
    net = StbpNet(parse_stbp_arch("8x8-4C3p1-AP2-16-10"), 8, Schemes(decoder="st"))
    net.reset_parameters(torch.Generator().manual_seed(1), gain=0.7)
    x = (np.random.default_rng(5).integers(0, 17, (200, 1, 8, 8)) / 16).astype(F32)
    with torch.no_grad():
        torch_scores = net(torch.from_numpy(x)).scores.numpy()
    model = build_onnx(net)
    ort = run_onnxruntime(model, x)
    ref = get_backend("reference").run(import_onnx(model), x).scores
    assert np.array_equal(ref.argmax(1), ort.argmax(1))
    assert np.array_equal(torch_scores.argmax(1), ort.argmax(1))
    np.testing.assert_allclose(ref, ort, atol=1e-5)


# ---------------------------------------------------------------------------------------------- training
DIGITS = dict(dataset="digits", arch="64-100-10", epochs=15, batch_size=32, lr=0.1, time_steps=8, seed=0,
              init_gain=0.2)


@pytest.fixture(scope="module")
def digits_run():
    torch.set_num_threads(1)
    cfg = StbpConfig(**DIGITS, schemes=Schemes())
    result = train(cfg, log=lambda *_: None)
    from snnc.trainers.common import load_splits

    data = load_splits("digits", None, (64,))
    return cfg, result, evaluate_exported(build_onnx(result.net), data.x_test, data.y_test)


def test_short_digits_run_reaches_accuracy(digits_run) -> None:
    cfg, result, exported = digits_run
    assert result.history[-1].test_accuracy >= 0.85
    assert exported.accuracy >= 0.85, f"exported model: {exported.accuracy:.3f}"
    assert abs(exported.accuracy - result.history[-1].test_accuracy) <= 0.01
    assert exported.spikes_per_inference == pytest.approx(result.history[-1].test_spikes, rel=0.01)
    assert len(result.history) == cfg.epochs
    thresholds = torch.cat([t.detach().flatten() for t in result.net.thresholds])
    assert thresholds.min() >= cfg.threshold_min and (thresholds != 0.5).any()  # scheme 2 trained them


def test_trained_model_onnxruntime_and_reference_agree(digits_run) -> None:
    """Real trained weights: exactness is not guaranteed by the SPEC, but disagreements must be rare."""
    _, result, _ = digits_run
    from snnc.trainers.common import load_splits

    x = load_splits("digits", None, (64,)).x_test
    model = build_onnx(result.net)
    names = ["encoder", "if_1", "if_2"]
    ort, spikes = run_onnxruntime(model, x, extra_outputs=names)
    ref = get_backend("reference").run(import_onnx(model), x, record=True)
    assert np.array_equal(ort.argmax(1), ref.predictions)
    for name in names:
        assert np.mean(spikes[name] != ref.spikes[name].astype(F32)) < 1e-4, name
    np.testing.assert_allclose(ref.scores, ort, atol=1e-4)


def firing_fractions(net: StbpNet, x: torch.Tensor) -> list[float]:
    """Per layer, the fraction of (sample, neuron) pairs that spike at least once."""
    with torch.no_grad():
        out = net(x)
    return [float((s.sum(0) > 0).float().mean()) for s in out.spikes]


def test_silent_layers_after_pooling_are_woken_and_healthy_ones_left_alone() -> None:
    from snnc.trainers.common import load_splits

    x = torch.from_numpy(load_splits("digits", None, (1, 8, 8)).x_train[:128])
    cnn = StbpNet(parse_stbp_arch("8x8-8C3-AP2-32FC-10"), time_steps=8, schemes=Schemes())
    cnn.reset_parameters(torch.Generator().manual_seed(0), gain=0.2)
    assert min(firing_fractions(cnn, x)) == 0.0  # He init: the layers after the pool never fire
    assert cnn.wake_silent_layers(x) == [2]
    assert min(firing_fractions(cnn, x)) >= 0.04  # woken to 5 % of the pairs
    mlp = StbpNet(parse_stbp_arch("64-100-10"), time_steps=8, schemes=Schemes())
    mlp.reset_parameters(torch.Generator().manual_seed(0), gain=0.2)
    before = [w.detach().clone() for w in mlp.weights]
    assert mlp.wake_silent_layers(x.reshape(len(x), 64)) == []
    assert all(torch.equal(a, b) for a, b in zip(before, mlp.weights, strict=True))


def test_a_pooled_cnn_learns_on_digits() -> None:
    """Before the silent layers were woken this run stayed at chance (10 %, spikes frozen, thresholds untouched)."""
    cfg = StbpConfig(**{**DIGITS, "arch": "8x8-8C3-AP2-32FC-10", "epochs": 10}, schemes=Schemes())
    result = train(cfg, log=lambda *_: None)
    assert result.history[-1].test_accuracy >= 0.7  # 90.4 % measured; 10 % without the wake-up


def test_fixed_threshold_stays_fixed() -> None:
    cfg = StbpConfig(**{**DIGITS, "epochs": 1}, train_limit=64, test_limit=32,
                     schemes=Schemes.baseline())
    result = train(cfg, log=lambda *_: None)
    assert all(torch.equal(t, torch.full_like(t, 0.5)) for t in result.net.thresholds)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(argv)


def test_cli_switches_resolve_over_baseline() -> None:
    assert StbpConfig.from_args(_parse([])).schemes == Schemes()
    assert StbpConfig.from_args(_parse(["--baseline"])).schemes == Schemes.baseline()
    s = StbpConfig.from_args(_parse(["--baseline", "--decoder", "st", "--trainable-threshold"])).schemes
    assert s == Schemes.baseline(decoder="st", trainable_threshold=True)
    s = StbpConfig.from_args(_parse(["--fixed-threshold", "--surrogate", "rect", "--surrogate-width", "2"])).schemes
    assert (s.trainable_threshold, s.surrogate, s.surrogate_width, s.reset) == (False, "rect", 2.0, "subtract")


def test_cli_run_writes_model_with_metadata(tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    args = _parse(["--dataset", "digits", "--arch", "8x8-4C3-AP2-10", "--epochs", "2", "--train-limit", "200",
                   "--test-limit", "60", "--no-progress", "--decoder", "last", "--reset", "zero", "-o", str(out),
                   "--checkpoint", str(tmp_path / "ck.pt")])
    assert run(args) == 0
    text = capsys.readouterr().out
    assert "spikes/inference" in text and "exported model (ONNX, reference executor)" in text
    model = onnx.load(out)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["snn.algorithm"] == "stbp" and meta["snn.decoder"] == "last step" and meta["snn.reset"] == "zero"
    assert float(meta["snn.spikes_per_inference"]) > 0 and int(meta["snn.test_samples"]) == 60
    assert "--reset zero" in meta["snn.trainer"] and "--decoder last" in meta["snn.trainer"]
    assert {n.op_type for n in model.graph.node if n.domain == "snn"} == {"RateEncode", "IF", "LastStepDecode"}
    with pytest.raises(Exception, match="exists"):
        run(args)


def test_resume_continues_the_same_run(tmp_path) -> None:
    base = {**DIGITS, "arch": "64-20-10", "train_limit": 128, "test_limit": 40, "lr_schedule": "none"}
    del base["epochs"]
    full = train(StbpConfig(**base, epochs=3), log=lambda *_: None)
    ck = tmp_path / "ck.pt"
    train(StbpConfig(**base, epochs=2), checkpoint=str(ck), log=lambda *_: None)
    # a resumed run adopts the checkpoint's schemes and continues the schedule of the longer run
    resumed = train(StbpConfig(**base, epochs=3, schemes=Schemes.baseline()), resume=str(ck), log=lambda *_: None)
    assert resumed.net.schemes == Schemes()
    assert len(resumed.history) == 3
    for a, b in zip(full.net.state_dict().values(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_dead_output_is_reported_not_trained_on_silently() -> None:
    """Last-step decoding with the eq. 14 window dies at a high learning rate: once no output's potential at the
    last step lies in |V - theta| < theta/2, every gradient is exactly zero for good (docs/trainers-stbp.md,
    "Dead outputs"). The trainer says so; a healthy run says nothing."""
    lines: list[str] = []
    dying = StbpConfig(**{**DIGITS, "epochs": 2, "lr": 3.0}, schemes=Schemes(decoder="last"))
    result = train(dying, log=lines.append)
    warnings_ = [line for line in lines if "every synapse gradient was exactly zero" in line]
    assert warnings_ and all(part in warnings_[-1] for part in ("lower --lr", "--wake-below", "theta/2 (eq. 14)"))
    assert result.history[-1].test_accuracy < 0.3
    lines.clear()
    train(StbpConfig(**{**DIGITS, "epochs": 1}, schemes=Schemes(decoder="last")), log=lines.append)
    assert not any("exactly zero" in line for line in lines)


def test_wake_below_sets_the_bar_for_waking_a_layer() -> None:
    """``wake_below`` (``--wake-below``) reaches the wake-up: 0 wakes nothing, the default wakes silent layers
    only, 5 % also wakes sparse ones (a 10-neuron output layer fed by a nearly silent FC layer receives no
    input and passes no gradient under last-step or spatio-temporal decoding; docs/results.md, issue 17 item 3)."""
    from snnc.trainers.common import load_splits

    x = torch.from_numpy(load_splits("digits", None, (1, 8, 8)).x_train[:256])

    def start(arch: str, **extra: float) -> tuple[list[str], list[float]]:
        lines: list[str] = []
        cfg = StbpConfig(**{**DIGITS, "arch": arch, "epochs": 0}, schemes=Schemes(), **extra)
        net = train(cfg, log=lines.append).net
        return [line for line in lines if line.startswith("init: layers")], firing_fractions(net, x)

    pooled = "8x8-8C3-AP2-32FC-10"  # its FC layer after the pool is silent at initialisation
    logged, fired = start(pooled, wake_below=0.0)
    assert logged == [] and fired[2] == 0.0
    logged, fired = start(pooled)
    assert logged[0].startswith("init: layers 3 fired in fewer than 0.1%") and fired[2] > 0.01
    sparse = "8x8-8C3-32FC-10"  # its output layer fires in ~1 % of the pairs: above the default bar
    logged, fired = start(sparse)
    assert logged == [] and 0.001 < fired[2] < 0.03
    logged, fired = start(sparse, wake_below=0.05)
    assert logged[0].startswith("init: layers 3 fired in fewer than 5.0%") and fired[2] >= 0.04


@pytest.mark.parametrize("value", [-0.01, 0.06, float("nan")])
def test_wake_below_out_of_range_is_a_clean_error(value: float) -> None:
    cfg = StbpConfig(**{**DIGITS, "epochs": 0}, schemes=Schemes(), wake_below=value)
    with pytest.raises(TrainerError, match="--wake-below"):
        train(cfg, log=lambda *_: None)


def test_wake_below_round_trips_through_the_trainer_command() -> None:
    from snnc.trainers.stbp import trainer_command

    cfg = StbpConfig.from_args(_parse(["--wake-below", "0.02"]))
    assert cfg.wake_below == 0.02
    assert StbpConfig.from_args(_parse(trainer_command(cfg).split()[3:])).wake_below == 0.02
    assert StbpConfig.from_args(_parse([])).wake_below == 0.001
