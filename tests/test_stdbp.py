"""STDBP trainer: the ReL-PSP forward against the SPEC recurrence, the eq. 13/14 backward against finite
differences, the ONNX export against onnxruntime and the reference executor, and a short real training run."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from snnc.cli.train import add_stdbp_arguments as add_arguments  # noqa: E402
from snnc.frontend.snn_onnx import run_onnxruntime  # noqa: E402
from snnc.trainers.common import ConvSpec, DenseSpec, PoolSpec, TrainerError, parse_arch  # noqa: E402
from snnc.trainers.export_stdbp import build_onnx, reference_scores  # noqa: E402
from snnc.trainers.relpsp_torch import conv_relpsp, dense_relpsp, ttfs_encode  # noqa: E402
from snnc.trainers.stdbp import StdbpConfig, run, train  # noqa: E402
from snnc.trainers.stdbp_model import StdbpNet, _pooled_dense_weight, plan_layers  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------------------------- helpers
def spec_relpsp(spikes: np.ndarray, weight: np.ndarray, theta: float) -> np.ndarray:
    """SPEC snn.ReLPSP after a dense synapse, step by step: spikes [T, B, m] -> first spike step [B, n] (T: none)."""
    T, B, _ = spikes.shape
    n = weight.shape[0]
    K = np.zeros((B, n))
    V = np.zeros((B, n))
    out = np.full((B, n), T)
    for t in range(T):
        I = spikes[t] @ weight.T  # noqa: E741
        V = V + K  # V[t] = V[t-1] + K[t-1]
        K = K + I  # K[t] = K[t-1] + I[t]
        new = (V >= theta) & (out == T)
        out[new] = t
    return out


def one_hot(steps: np.ndarray, T: int) -> np.ndarray:
    """Spike steps [B, m] (T = none) -> spike train [T, B, m]."""
    B, m = steps.shape
    s = np.zeros((T + 1, B, m))
    s[steps.astype(int), np.arange(B)[:, None], np.arange(m)[None, :]] = 1
    return s[:T]


def dyadic(rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """Weights on the 1/64 grid: float32 sums of these are exact in any order."""
    return (rng.integers(lo, hi, size=shape) / 64).astype(np.float32)


# ------------------------------------------------------------------------------------------ architecture
def test_parse_arch_mlp_and_cnn() -> None:
    assert parse_arch("784-800-10").input_shape == (784,)
    cnn = parse_arch("28x28-16C5-P2-32C5-P2-800-128-10")
    assert cnn.input_shape == (1, 28, 28)
    assert cnn.layers[:2] == (ConvSpec(16, 5), PoolSpec(2))
    assert cnn.layers[-1] == DenseSpec(10) and cnn.num_classes == 10
    plans = plan_layers(cnn)
    assert [p.kind for p in plans] == ["conv", "conv", "dense", "dense", "dense"]
    assert plans[1].pool == 2 and plans[1].weight_shape == (32, 16, 5, 5)
    assert plans[2].pool == 2 and plans[2].weight_shape == (800, 32 * 4 * 4)


@pytest.mark.parametrize(("text", "message"), [
    ("784", "needs an input and at least one layer"),
    ("784-16C5-10", "needs an image input"),
    ("28x28-16C5-P2", "last layer must be fully connected"),
    ("28x28-16X5-10", "is not N, cCk or Pk"),
    ("8x8-P16-10", "needs an image at least 16 wide"),
])
def test_parse_arch_errors(text: str, message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        parse_arch(text)


# ---------------------------------------------------------------------------------------------- forward
def test_ttfs_encode_matches_spec() -> None:
    x = torch.tensor([[0.0, 1.0, 0.5, 1 / 255, -0.2, 1.7]])
    T = 64
    expected = [T, 0, np.floor(np.float32(0.5) * 63 + np.float32(0.5)), 63, T, 0]
    assert ttfs_encode(x, T).tolist() == [expected]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_forward_equals_spec_recurrence(seed: int) -> None:
    rng = np.random.default_rng(seed)
    T, B, m, n, theta = 24, 6, 30, 12, 1.0
    steps = rng.integers(0, T + 1, size=(B, m)).astype(np.float32)
    w = dyadic(rng, (n, m), -12, 9)
    step, t_real = dense_relpsp(torch.from_numpy(steps), torch.from_numpy(w), theta, T)
    expected = spec_relpsp(one_hot(steps, T), w.astype(np.float64), theta)
    np.testing.assert_array_equal(step.numpy(), expected)
    assert (expected < T).any() and (expected == T).any()  # the case covers firing and silent neurons
    fired = expected < T
    # the real spike time (eq. 11) lies in (step - 1, step]: the discrete step is its ceiling
    assert np.all(t_real.numpy()[fired] <= step.numpy()[fired] + 1e-5)
    assert np.all(t_real.numpy()[fired] > step.numpy()[fired] - 1 - 1e-5)


def closed_form_time(t_in: torch.Tensor, w: torch.Tensor, causal: torch.Tensor, theta: float) -> torch.Tensor:
    """Eq. 11 with a fixed causal set: t_j = (theta + sum_C w_ij t_i) / sum_C w_ij."""
    cw = causal * w.unsqueeze(0)  # [B, n, m]
    return (theta + (cw * t_in.unsqueeze(1)).sum(-1)) / cw.sum(-1)


def test_backward_matches_finite_differences_of_closed_form() -> None:
    rng = np.random.default_rng(3)
    T, B, m, n, theta = 32, 3, 8, 5, 1.0
    t_in = torch.from_numpy(rng.integers(0, 20, size=(B, m)).astype(np.float64))
    t_in[0, 0] = T  # a silent input: no gradient
    w = torch.from_numpy(rng.uniform(-0.05, 0.06, size=(n, m)))
    t_req, w_req = t_in.clone().requires_grad_(True), w.clone().requires_grad_(True)
    step, t_real = dense_relpsp(t_req, w_req, theta, T)
    fired = step.detach() < T
    assert fired.sum() >= B * n // 2 and (~fired).any()
    coeff = torch.from_numpy(rng.normal(size=(B, n)))
    (coeff * t_real).sum().backward()

    causal = (t_in.unsqueeze(1) < step.detach().unsqueeze(2)).double()  # [B, n, m], fixed

    def objective(t: torch.Tensor, weight: torch.Tensor) -> float:
        tc = closed_form_time(t, weight, causal, theta)
        return float((coeff * torch.where(fired, tc, 0.0)).sum())

    eps = 1e-6
    num_w = torch.zeros_like(w)
    for j in range(n):
        for i in range(m):
            d = torch.zeros_like(w)
            d[j, i] = eps
            num_w[j, i] = (objective(t_in, w + d) - objective(t_in, w - d)) / (2 * eps)
    num_t = torch.zeros_like(t_in)
    for b in range(B):
        for i in range(m):
            if t_in[b, i] < T:
                d = torch.zeros_like(t_in)
                d[b, i] = eps
                num_t[b, i] = (objective(t_in + d, w) - objective(t_in - d, w)) / (2 * eps)
    torch.testing.assert_close(w_req.grad, num_w, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(t_req.grad, num_t, rtol=1e-6, atol=1e-8)
    assert w_req.grad.abs().sum() > 0 and t_req.grad[0, 0] == 0
    # silent neurons pass no gradient
    w2 = w.clone().requires_grad_(True)
    _, r2 = dense_relpsp(t_in, w2, theta, T)
    (torch.where(fired, 0.0, 1.0) * r2).sum().backward()
    assert torch.count_nonzero(w2.grad) == 0


def test_conv_path_equals_dense_path_with_pooling() -> None:
    """Generic synapse path (pool + conv) == fast dense path with the equivalent matrix: steps and gradients."""
    rng = np.random.default_rng(4)
    T, B, theta = 20, 3, 1.0
    t_in = torch.from_numpy(rng.integers(0, T + 1, size=(B, 2, 6, 6)).astype(np.float64))
    w = torch.from_numpy(rng.uniform(-0.1, 0.3, size=(3, 2, 3, 3)))

    def synapse(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(torch.nn.functional.avg_pool2d(x, 2), weight, padding=1)

    eye = torch.eye(2 * 36, dtype=torch.float64).view(-1, 2, 6, 6)
    matrix = synapse(eye, w).reshape(72, -1).t()  # [n_out, n_in]: the synapse as a matrix
    t1, w1 = t_in.clone().requires_grad_(True), w.clone().requires_grad_(True)
    s1, r1 = conv_relpsp(t1, theta, T, synapse, [w1])
    t2, m2 = t_in.clone().requires_grad_(True), matrix.detach().clone().requires_grad_(True)
    s2, r2 = dense_relpsp(t2.reshape(B, -1), m2, theta, T)
    assert torch.equal(s1.reshape(B, -1), s2) and (s2 < T).any()
    torch.testing.assert_close(r1.reshape(B, -1), r2)
    coeff = torch.from_numpy(rng.normal(size=tuple(r2.shape)))
    (coeff * r1.reshape(B, -1)).sum().backward()
    (coeff * r2).sum().backward()
    torch.testing.assert_close(t1.grad, t2.grad)
    # the weight gradient of the conv is the matrix gradient pulled back through the (linear) synapse
    w_var = w.clone().requires_grad_(True)
    mat = synapse(eye, w_var).reshape(72, -1).t()
    (pulled,) = torch.autograd.grad(mat, w_var, m2.grad)
    torch.testing.assert_close(w1.grad, pulled)


def test_conv_layers_as_synapse_matrices_equal_the_convolution_path() -> None:
    """The model runs conv layers as sparse synapse matrices; same steps and gradients as the one-hot conv path."""
    from snnc.trainers.stdbp_model import _conv_synapse

    rng = np.random.default_rng(6)
    net = StdbpNet(parse_arch("9x9-2C3-P2-3C2p1-5"), time_steps=16, threshold=1.0).double()
    t0 = torch.from_numpy(rng.integers(0, 17, size=(4, 2, 7, 7)).astype(np.float64))
    plan = net.plans[1]
    w = torch.from_numpy(rng.uniform(-0.1, 0.3, size=plan.weight_shape))
    w1, t1 = w.clone().requires_grad_(True), t0.clone().requires_grad_(True)
    s1, r1 = net.layer(1, t1, w1)
    w2, t2 = w.clone().requires_grad_(True), t0.clone().requires_grad_(True)
    s2, r2 = conv_relpsp(t2, 1.0, 16, _conv_synapse(plan.pool, plan.padding), [w2])
    assert torch.equal(s1, s2) and (s1 < 16).any() and (s1 == 16).any()
    torch.testing.assert_close(r1, r2)
    coeff = torch.from_numpy(rng.normal(size=tuple(r1.shape)))
    (coeff * r1).sum().backward()
    (coeff * r2).sum().backward()
    torch.testing.assert_close(w1.grad, w2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)


def test_pooled_dense_weight_equals_pool_then_dense() -> None:
    net = StdbpNet(parse_arch("7x7-2C2-P2-5"), time_steps=8, threshold=1.0)
    plan = net.plans[1]
    w = torch.randn(plan.weight_shape, dtype=torch.float64)
    x = torch.randn(4, *plan.in_shape, dtype=torch.float64)
    direct = torch.nn.functional.avg_pool2d(x, 2).flatten(1) @ w.t()
    folded = x.flatten(1) @ _pooled_dense_weight(w, plan).t()
    torch.testing.assert_close(direct, folded)


# ------------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize(("arch", "window"), [("16-12-5", 24), ("16-12-5", 12), ("6x6-3C3-P2-7-4", 16)])
def test_export_runs_in_onnxruntime_and_matches_reference_bit_for_bit(arch: str, window: int) -> None:
    rng = np.random.default_rng(5)
    T = 24
    net = StdbpNet(parse_arch(arch), time_steps=T, threshold=1.0, window=window)
    with torch.no_grad():
        for v in net.weights:
            v.copy_(torch.from_numpy(dyadic(rng, tuple(v.shape), -8, 24)))
    x = (rng.integers(0, 17, size=(32, *net.arch.input_shape)) / 16).astype(np.float32)
    model = build_onnx(net, {"snn.algorithm": "stdbp"})
    onnx.checker.check_model(model)
    ort_scores = run_onnxruntime(model, x)
    ref_scores = reference_scores(model, x)
    np.testing.assert_array_equal(ort_scores, ref_scores)
    with torch.no_grad():
        step, _ = net(torch.from_numpy(x))[-1]
    np.testing.assert_array_equal(ref_scores, (T - step).numpy().astype(np.float32))
    assert (ref_scores > 0).mean() > 0.3 and (ref_scores == 0).any() or (ref_scores > 0).all()


# ------------------------------------------------------------------------------------------- keep-alive
def test_end_potential_is_the_spec_potential_at_the_last_step() -> None:
    rng = np.random.default_rng(7)
    T = 20
    net = StdbpNet(parse_arch("12-6-3"), time_steps=T, threshold=1.0).double()
    with torch.no_grad():
        for v in net.weights:
            v.copy_(torch.from_numpy(rng.uniform(-0.3, 0.5, size=tuple(v.shape))))
    t_in = torch.from_numpy(rng.integers(0, T + 1, size=(5, 12)).astype(np.float64))
    spikes = one_hot(t_in.numpy(), T)
    w = net.effective_weights()[0].detach().numpy()
    expected = np.zeros((5, 6))
    for t in range(T - 1):  # V[T-1] = sum_{t < T-1} K[t], K[t] = sum_{u <= t} I[u]
        expected += (spikes[: t + 1] @ w.T).sum(0)
    torch.testing.assert_close(net.end_potential(0, t_in), torch.from_numpy(expected))


def test_alive_penalty_pushes_only_silent_target_outputs() -> None:
    from snnc.trainers.stdbp import alive_penalty

    rng = np.random.default_rng(8)
    T = 16
    net = StdbpNet(parse_arch("10-4"), time_steps=T, threshold=1.0).double()
    with torch.no_grad():
        net.weights[0].copy_(torch.from_numpy(rng.uniform(0.0, 0.05, size=(4, 10))))
        net.weights[0][2] = -0.01  # neuron 2 never fires
    x = torch.from_numpy(rng.uniform(0.2, 1.0, size=(6, 10)))
    outs = net(x, with_inputs=True)
    assert (outs[-1][0][:, 2] == T).all() and (outs[-1][0][:, 0] < T).all()
    cfg = StdbpConfig(alive_output=1.0, alive_hidden=0.0)
    assert float(alive_penalty(net, outs, torch.zeros(6, dtype=torch.long), cfg).detach()) == 0.0  # class 0 fires
    penalty = alive_penalty(net, outs, torch.full((6,), 2), cfg)
    assert float(penalty.detach()) > 0
    penalty.backward()
    grad = net.weights[0].grad
    assert (grad[2] < 0).all()  # gradient descent raises every weight of the silent target (all inputs spike)
    assert torch.count_nonzero(grad[[0, 1, 3]]) == 0


# ---------------------------------------------------------------------------------------------- training
def _args(tmp_path, *extra: str) -> argparse.Namespace:  # noqa: ANN001 - pytest's tmp_path
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(["--dataset", "digits", "--arch", "64-100-10", "--no-progress", *extra])


def test_cli_training_on_digits_exports_an_accurate_model(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "digits.onnx"
    assert run(_args(tmp_path, "--epochs", "8", "-o", str(out))) == 0
    text = capsys.readouterr().out
    assert "dead" in text and "exported model (ONNX, reference executor): test accuracy" in text
    model = onnx.load(out)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["snn.algorithm"] == "stdbp" and meta["snn.architecture"] == "64-100-10"
    assert meta["snn.dataset"] == "digits" and meta["snn.time_steps"] == "64"
    accuracy = float(meta["snn.test_accuracy"])
    assert accuracy >= 0.85, text
    from snnc.datasets import load_dataset

    test = load_dataset("digits", split="test")
    scores = reference_scores(model, test.x.reshape(len(test), 64))
    assert abs(float((scores.argmax(1) == test.y).mean()) - accuracy) < 1e-4
    with pytest.raises(Exception, match="already exists"):
        run(_args(tmp_path, "--epochs", "1", "-o", str(out)))


def test_checkpoint_resume_continues_the_same_run(tmp_path) -> None:  # noqa: ANN001
    cfg = dict(dataset="digits", arch="64-32-10", epochs=3, batch_size=64, train_limit=400, test_limit=100)
    straight = train(StdbpConfig(**cfg), log=lambda s: None)

    class Interrupt(Exception):
        pass

    def stop_after_two(stats) -> None:  # noqa: ANN001
        if stats.epoch == 2:
            raise Interrupt

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Interrupt):
        train(StdbpConfig(**cfg), checkpoint=str(ckpt), log=lambda s: None, on_epoch=stop_after_two)
    lines: list[str] = []
    resumed = train(StdbpConfig(**cfg), resume=str(ckpt), log=lines.append)
    assert any("resumed" in line for line in lines)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    for a, b in zip(straight.net.weights, resumed.net.weights, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert straight.history[-1].test_accuracy == resumed.history[-1].test_accuracy


def test_init_from_an_exported_model_fine_tunes_it(tmp_path) -> None:  # noqa: ANN001
    """--init-from: a new run starts from an exported model's weights (kept in the new run's optimiser units), so
    after one epoch at a tiny learning rate it scores what the model scored; a model of another network, or with
    --resume, is one clear error."""
    from snnc.trainers.stdbp import load_exported_weights

    cfg = dict(dataset="digits", arch="64-32-10", epochs=2, batch_size=64, train_limit=400, test_limit=200)
    first = train(StdbpConfig(**cfg), log=lambda s: None)
    model = tmp_path / "m.onnx"
    onnx.save(build_onnx(first.net), model)
    lines: list[str] = []
    tuned = train(StdbpConfig(**{**cfg, "epochs": 1, "lr": 1e-9, "seed": 5}, init_from=str(model)), log=lines.append)
    assert any(line.startswith(f"init: weights from {model}") for line in lines)
    for a, b in zip(first.net.effective_weights(), tuned.net.effective_weights(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert tuned.history[-1].test_accuracy == pytest.approx(first.history[-1].test_accuracy, abs=0.01)

    other = StdbpNet(parse_arch("64-20-10"), 64, 1.0, 32)
    with pytest.raises(TrainerError, match="layer 1 .* is not the network's") as err:
        load_exported_weights(other, str(model))
    assert err.value.where == "--init-from"
    with pytest.raises(TrainerError, match="thresholds"):
        load_exported_weights(StdbpNet(parse_arch("64-32-10"), 64, 0.5, 32), str(model))
    with pytest.raises(TrainerError, match="T = 64 steps, the network 32"):
        load_exported_weights(StdbpNet(parse_arch("64-32-10"), 32, 1.0, 16), str(model))
    with pytest.raises(TrainerError, match="--resume"):
        train(StdbpConfig(**cfg, init_from=str(model)), resume=str(tmp_path / "ck"), log=lambda s: None)


def test_a_shift_as_large_as_the_image_is_refused(tmp_path) -> None:  # noqa: ANN001
    """--augment-shift 8 on 8 x 8 digits would move whole images out of view (and pad every batch by 2 x 8)."""
    with pytest.raises(TrainerError, match="out of view") as err:
        run(_args(tmp_path, "--augment-shift", "8", "--epochs", "1", "-o", str(tmp_path / "m.onnx")))
    assert err.value.where == "--augment-shift" and "fewer than 8" in (err.value.hint or "")
    assert not (tmp_path / "m.onnx").exists()


def test_torch_is_not_imported_by_the_compiler() -> None:
    code = ("import sys, snnc.cli, snnc.ir, snnc.frontend, snnc.backends, snnc.api\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
