"""Leaky and recurrent STBP networks (issue 14): the LIF neuron's forward against the SPEC transcription and its
hand-written BPTT against autograd, the LI readout and its decoders, the export (``snn.LIF``, ``snn.LI``,
``recurrent_weight``, ``snn.MaxOverTimeDecode``) against onnxruntime bit for bit on dyadic weights, the CLI
options and the ``snn.trainer`` metadata that reproduces them, checkpoints, and short runs on digits.
"""

from __future__ import annotations

import argparse
import shlex

import numpy as np
import onnx
import pytest
import torch

from snnc.cli.train import add_stbp_arguments
from snnc.frontend.snn_onnx import run_onnxruntime
from snnc.tests import spec_numpy as spec
from snnc.trainers.common import TrainerError
from snnc.trainers.export_stbp import build_onnx, evaluate_exported
from snnc.trainers.if_torch import Surrogate, if_neuron, li_neuron, lif_neuron
from snnc.trainers.stbp import StbpConfig, run, train
from snnc.trainers.stbp_model import Schemes, StbpNet, parse_stbp_arch

F32 = np.float32
GRID = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_stbp_arguments(p)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ the neurons
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_lif_forward_equals_spec(reset: str, recurrent: bool) -> None:
    rng = np.random.default_rng(1)
    current = (rng.integers(-8, 24, (9, 5, 6)) / GRID).astype(F32)
    theta = (rng.integers(16, 40, 6) / GRID).astype(F32)
    beta = (rng.integers(4, 9, 6) / 8).astype(F32)  # 0.5 .. 1
    w = (rng.integers(-16, 17, (6, 6)) / GRID).astype(F32) if recurrent else None
    got = lif_neuron(torch.from_numpy(current), torch.from_numpy(theta), torch.from_numpy(beta), reset,
                     recurrent_weight=None if w is None else torch.from_numpy(w))
    want = spec.lif(current, theta, beta, reset, recurrent_weight=w)
    assert np.array_equal(got.numpy(), want)
    assert 0.05 < want.mean() < 0.95
    if recurrent:  # IF with a recurrent weight, too
        got = lif_neuron(torch.from_numpy(current), torch.from_numpy(theta), None, reset,
                         recurrent_weight=torch.from_numpy(w))
        assert np.array_equal(got.numpy(), spec.if_neuron_recurrent(current, theta, reset, w))


def test_lif_with_beta_one_is_if_and_li_equals_spec() -> None:
    current = torch.rand(7, 4, 5) * 0.6
    for reset in ("subtract", "zero"):
        assert torch.equal(lif_neuron(current, 0.5, 1.0, reset), if_neuron(current, 0.5, reset))
    beta = torch.tensor([0.5, 0.75, 0.875, 1.0, 0.0])
    assert np.array_equal(li_neuron(current, beta).numpy(), spec.li(current.numpy(), beta.numpy()))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("kind", ["threshold", "rect"])
def test_fused_bptt_equals_autograd(reset: str, recurrent: bool, kind: str) -> None:
    """The hand-written backward (inputs, thresholds, betas, recurrent weight) against autograd through the
    step-by-step forward, in float64."""
    torch.manual_seed(0)
    T, B, n = 7, 6, 9
    current = (torch.rand(T, B, n, dtype=torch.float64) * 0.6).requires_grad_(True)
    theta = (0.4 + 0.2 * torch.rand(n, dtype=torch.float64)).requires_grad_(True)
    beta = (0.5 + 0.5 * torch.rand(n, dtype=torch.float64)).requires_grad_(True)
    w = (torch.randn(n, n, dtype=torch.float64) * 0.2).requires_grad_(True) if recurrent else None
    g = torch.randn(T, B, n, dtype=torch.float64)
    params = [p for p in (current, theta, beta, w) if p is not None]
    results = []
    for fused in (True, False):
        for p in params:
            p.grad = None
        s = lif_neuron(current, theta, beta, reset, Surrogate(kind, 0.8), w, fused=fused)
        (s * g).sum().backward()
        results.append((s.detach(), [p.grad.clone() for p in params]))
    assert torch.equal(results[0][0], results[1][0])
    assert 0.05 < float(results[0][0].mean()) < 0.95
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        assert float(a.abs().sum()) > 0


def test_per_channel_beta_gradient_sums_over_positions() -> None:
    torch.manual_seed(1)
    current = (torch.rand(5, 3, 2, 4, 4, dtype=torch.float64) * 0.6).requires_grad_(True)
    theta = torch.full((2, 1, 1), 0.5, dtype=torch.float64)
    beta = torch.tensor([0.7, 0.9], dtype=torch.float64).reshape(2, 1, 1).requires_grad_(True)
    grads = []
    for fused in (True, False):
        beta.grad = None
        lif_neuron(current, theta, beta, fused=fused).sum().backward()
        grads.append(beta.grad.clone())
    assert grads[0].shape == (2, 1, 1)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------ the model
def test_schemes_validate_leaky_options() -> None:
    with pytest.raises(TrainerError, match="--beta"):
        Schemes(neuron="lif", beta=1.5)
    with pytest.raises(TrainerError, match="--decoder"):
        Schemes(readout="li", decoder="st")
    with pytest.raises(TrainerError, match="--decoder"):
        Schemes(decoder="max")
    with pytest.raises(TrainerError, match="--train-beta"):
        Schemes(train_beta=True)
    with pytest.raises(TrainerError, match="--recurrent"):
        StbpNet(parse_stbp_arch("8x8-4C3-AP2-10"), 4, Schemes(recurrent=True))


def test_li_readout_forward_and_decoders() -> None:
    torch.manual_seed(2)
    x = torch.rand(5, 64)
    for decoder in ("max", "last", "rate"):
        net = StbpNet(parse_stbp_arch("64-20-10"), 6, Schemes(neuron="lif", readout="li", decoder=decoder, beta=0.75))
        net.reset_parameters(torch.Generator().manual_seed(0), gain=1.0)
        out = net(x)
        assert len(out.spikes) == 1 and out.trace is not None and out.trace.shape == (6, 5, 10)
        want = {"max": out.trace.amax(0), "last": out.trace[-1], "rate": out.trace.mean(0)}[decoder]
        torch.testing.assert_close(out.scores, want)
        assert not net.thresholds[-1].requires_grad and net.betas[-1].tolist() == [0.75] * 10


def _dyadic_net(arch: str, schemes: Schemes, T: int = 6, seed: int = 0) -> StbpNet:
    """Weights, thresholds and recurrent weights on the 1/64 grid, betas on the 1/8 grid: every matrix product
    of spikes is exact, and every other operation is one float32 op in the same order everywhere."""
    g = torch.Generator().manual_seed(seed)
    net = StbpNet(parse_stbp_arch(arch), T, schemes)
    with torch.no_grad():
        for w in net.weights:
            w.copy_(torch.randint(-24, 33, w.shape, generator=g) / GRID)
        for th in net.thresholds:
            th.copy_(torch.randint(16, 48, th.shape, generator=g) / GRID)
        for b, leaky in zip(net.betas, net.leaky, strict=True):
            if leaky:
                b.copy_(torch.randint(4, 9, b.shape, generator=g) / 8)
        for w, r in zip(net.recurrent_weights, net.recurrent, strict=True):
            if r:
                w.copy_(torch.randint(-16, 17, w.shape, generator=g) / GRID)
        if schemes.decoder == "st":
            net.decoder_weight.copy_(torch.randint(-32, 33, net.decoder_weight.shape, generator=g) / GRID)
            net.decoder_bias.copy_(torch.randint(-8, 9, net.decoder_bias.shape, generator=g) / GRID)
    return net


EXPORT_CASES = {
    "lif-subtract-dense": ("8x8-3C3-AP2-12-10", Schemes(neuron="lif", decoder="rate")),
    "lif-zero-conv": ("8x8-4C3p1-AP2-6C3-10", Schemes(neuron="lif", reset="zero", decoder="last")),
    "lif-trainable-beta-per-channel": ("8x8-4C3p1-AP2-6C3-10", Schemes(neuron="lif", train_beta=True, decoder="st")),
    "lif-recurrent": ("64-16-12-10", Schemes(neuron="lif", recurrent=True, decoder="rate")),
    "if-recurrent-zero": ("64-16-10", Schemes(recurrent=True, reset="zero", decoder="st")),
    "lif-li-max": ("8x8-3C3-AP2-12-10", Schemes(neuron="lif", readout="li", decoder="max")),
    "lif-li-last-recurrent": ("64-16-10", Schemes(neuron="lif", readout="li", decoder="last", recurrent=True,
                                                  train_beta=True)),
    "if-li-mean": ("64-16-10", Schemes(readout="li", decoder="rate")),
}


@pytest.mark.parametrize("case", list(EXPORT_CASES))
def test_export_bit_exact_on_dyadic_weights(case: str) -> None:
    arch, schemes = EXPORT_CASES[case]
    net = _dyadic_net(arch, schemes)
    shape = net.arch.input_shape
    x = (np.random.default_rng(4).integers(0, 17, (24, *shape)) / 16).astype(F32)
    with torch.no_grad():
        out = net(torch.from_numpy(x))
    model = build_onnx(net)
    prefix = "lif" if schemes.neuron == "lif" else "if"
    names = [f"{prefix}_{i}" for i in range(1, len(out.spikes) + 1)]
    extra = ["encoder", *names] + ([f"li_{len(net.plans)}"] if out.trace is not None else [])
    ort_scores, ort_values = run_onnxruntime(model, x, extra_outputs=extra)
    assert np.array_equal(ort_scores, out.scores.numpy()), "onnxruntime vs torch"
    assert np.array_equal(ort_values["encoder"], out.encoded.numpy())
    for name, s in zip(names, out.spikes, strict=True):
        assert np.array_equal(ort_values[name], s.numpy()), name
        assert 0.01 < s.mean() < 0.99, name  # every layer does something
    if out.trace is not None:
        assert np.array_equal(ort_values[extra[-1]], out.trace.numpy())
    # the file: op types, parameters where they belong
    ops = {n.op_type for n in model.graph.node if n.domain == "snn"}
    assert ("LIF" in ops) == (schemes.neuron == "lif") and ("LI" in ops) == (schemes.readout == "li")
    assert ("MaxOverTimeDecode" in ops) == (schemes.decoder == "max")
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for i, (b, leaky) in enumerate(zip(net.betas, net.leaky, strict=True), start=1):
        key = f"{prefix if net.spiking[i - 1] else 'li'}_{i}.beta"
        assert (key in inits) == leaky, key
        if leaky:
            assert np.array_equal(inits[key], b.detach().numpy())
    for i, (w, r) in enumerate(zip(net.recurrent_weights, net.recurrent, strict=True), start=1):
        key = f"{prefix}_{i}.recurrent_weight"
        assert (key in inits) == r, key
        if r:
            assert np.array_equal(inits[key], w.detach().numpy())
    ev = evaluate_exported(model, x, np.zeros(len(x), np.int64), batch_size=10)
    assert ev.spikes_per_inference == pytest.approx(float(sum(s.sum() for s in out.spikes)) / len(x))
    assert ev.encoder_spikes == pytest.approx(float(out.encoded.sum()) / len(x))
    assert np.array_equal(ev.scores, ort_scores)


def test_trained_betas_stay_in_range_and_are_exported() -> None:
    cfg = StbpConfig(dataset="digits", arch="64-24-10", epochs=2, batch_size=32, lr=0.3, train_limit=256,
                     test_limit=64, schemes=Schemes(neuron="lif", readout="li", decoder="max", train_beta=True,
                                                    beta=0.95, recurrent=True))
    net = train(cfg, log=lambda *_: None).net
    for b in net.betas:
        assert float(b.detach().min()) >= 0.0 and float(b.detach().max()) <= 1.0
    assert not torch.equal(net.betas[0].detach(), torch.full_like(net.betas[0], 0.95))  # it trained
    assert float(net.recurrent_weights[0].detach().abs().sum()) > 0
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in build_onnx(net).graph.initializer}
    assert np.array_equal(inits["lif_1.beta"], net.betas[0].detach().numpy())
    assert np.array_equal(inits["li_2.beta"], net.betas[1].detach().numpy())


# ---------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("schemes", [Schemes(neuron="lif", readout="li", decoder="max"),
                                     Schemes(neuron="lif", recurrent=True, train_beta=True, decoder="rate")],
                         ids=["lif-li-max", "lif-recurrent-rate"])
def test_short_digits_run_learns(schemes: Schemes) -> None:
    cfg = StbpConfig(dataset="digits", arch="64-100-10", epochs=6, batch_size=32, lr=0.1, schemes=schemes)
    result = train(cfg, log=lambda *_: None)
    assert result.history[-1].test_accuracy > 0.85


# --------------------------------------------------------------------------------------------------- CLI
def test_cli_leaky_options_resolve() -> None:
    cfg = StbpConfig.from_args(_parse([]))
    assert (cfg.schemes.neuron, cfg.schemes.readout, cfg.schemes.recurrent, cfg.loss) == ("if", "spiking", False,
                                                                                           "mse")
    cfg = StbpConfig.from_args(_parse(["--neuron", "lif", "--beta", "0.8", "--train-beta", "--recurrent",
                                       "--readout", "li"]))
    s = cfg.schemes
    assert (s.neuron, s.beta, s.train_beta, s.recurrent, s.readout, s.decoder) == ("lif", 0.8, True, True, "li", "max")
    assert cfg.loss == "mse"
    cfg = StbpConfig.from_args(_parse(["--readout", "li", "--decoder", "last", "--loss", "ce"]))
    assert (cfg.schemes.decoder, cfg.loss) == ("last", "ce")
    with pytest.raises(TrainerError, match="--decoder"):
        StbpConfig.from_args(_parse(["--readout", "li", "--decoder", "st"]))


def test_li_readout_without_a_spiking_layer_is_refused_before_any_work(tmp_path) -> None:  # noqa: ANN001
    """64-10 with an LI readout has no spiking neuron at all (it used to end in an internal error after training)."""
    out = tmp_path / "li.onnx"
    for arch in ("64-10", "8x8-10"):
        with pytest.raises(TrainerError, match="needs a spiking layer") as info:
            run(_parse(["--dataset", "digits", "--arch", arch, "--readout", "li", "-o", str(out)]))
        assert info.value.where == "--arch"
    assert list(tmp_path.iterdir()) == []


def test_cli_run_writes_leaky_model_whose_metadata_reproduces_the_options(tmp_path, capsys) -> None:
    out = tmp_path / "lif.onnx"
    args = _parse(["--dataset", "digits", "--arch", "64-16-10", "--epochs", "2", "--train-limit", "200",
                   "--test-limit", "60", "--no-progress", "--neuron", "lif", "--beta", "0.875", "--train-beta",
                   "--recurrent", "--readout", "li", "--decoder", "last", "--reset", "zero", "--fixed-threshold",
                   "--loss", "ce", "--lr", "0.01", "-o", str(out)])
    assert run(args) == 0
    text = capsys.readouterr().out
    assert "exported model (ONNX, reference executor)" in text  # snnc imports LIF, LI and recurrence
    model = onnx.load(out)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["snn.test_accuracy_measured_by"] == "snnc reference executor on the exported model"
    assert meta["snn.readout"].startswith("LI") and meta["snn.neuron"].startswith("LIF")
    assert meta["snn.recurrent"].startswith("hidden") and meta["snn.decoder"] == "last step"
    assert {n.op_type for n in model.graph.node if n.domain == "snn"} == {"RateEncode", "LIF", "LI",
                                                                          "LastStepDecode"}
    lif = next(n for n in model.graph.node if n.op_type == "LIF")
    assert len(lif.input) == 4 and lif.input[3].endswith("recurrent_weight")
    assert {a.name: onnx.helper.get_attribute_value(a) for a in lif.attribute} == {"reset": b"zero",
                                                                                    "delayed_reset": 0}
    # the snn.trainer command line parses back to the same configuration
    words = shlex.split(meta["snn.trainer"])
    assert words[:3] == ["snnc", "train", "stbp"]
    again = StbpConfig.from_args(_parse(words[3:]))
    first = StbpConfig.from_args(args)
    assert again.schemes == first.schemes and again.loss == first.loss == "ce"
    for key in ("arch", "epochs", "batch_size", "lr", "time_steps", "seed", "optimizer", "init_gain"):
        assert getattr(again, key) == getattr(first, key), key


def test_resume_a_leaky_recurrent_run(tmp_path) -> None:
    base = dict(dataset="digits", arch="64-20-10", batch_size=32, lr=0.1, train_limit=128, test_limit=40,
                lr_schedule="none", schemes=Schemes(neuron="lif", train_beta=True, recurrent=True, readout="li",
                                                    decoder="max"))
    full = train(StbpConfig(**base, epochs=3), log=lambda *_: None)
    ck = tmp_path / "ck.pt"
    train(StbpConfig(**base, epochs=2), checkpoint=str(ck), log=lambda *_: None)
    resumed = train(StbpConfig(**{**base, "schemes": Schemes()}, epochs=3), resume=str(ck), log=lambda *_: None)
    assert resumed.net.schemes == base["schemes"]
    for a, b in zip(full.net.state_dict().values(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoints_from_before_the_leaky_options_still_resume(tmp_path) -> None:
    base = dict(dataset="digits", arch="64-20-10", batch_size=32, lr=0.1, train_limit=128, test_limit=40)
    ck = tmp_path / "old.pt"
    train(StbpConfig(**base, epochs=1), checkpoint=str(ck), log=lambda *_: None)
    state = torch.load(ck, weights_only=False)
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith(("betas.", "recurrent_weights."))}
    for key in ("neuron", "beta", "train_beta", "recurrent", "readout"):
        del state["config"]["schemes"][key]
    del state["config"]["loss"]
    torch.save(state, ck)
    resumed = train(StbpConfig(**base, epochs=2), resume=str(ck), log=lambda *_: None)
    assert len(resumed.history) == 2 and resumed.net.schemes == Schemes()
