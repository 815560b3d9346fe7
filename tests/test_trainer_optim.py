"""The trainers' own Adam, SGD and learning-rate schedule (``trainers/optim.py``, issue 17) against
``torch.optim``, the oracle they replace.

Each update is checked bit for bit (``torch.equal``) against ``torch.optim`` with ``foreach=False`` (torch's
single-tensor path, its default on the CPU) on the same parameters and gradients for hundreds of steps; the
schedule exactly against ``torch.optim.lr_scheduler.LambdaLR``; whole training runs of both trainers bit for
bit against runs with ``torch.optim`` put back in; checkpoints written with ``torch.optim`` (every checkpoint
before this module) resume to the same weights; and a training run in a fresh process never imports
``torch._dynamo``, the 1.2-2.7 s this module exists to avoid.
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch

from snnc.trainers import optim
from snnc.trainers.common import make_scheduler

SHAPES = [(7,), (5, 3), (2, 3, 4), ()]


def _params(seed: int, dtype: torch.dtype) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in SHAPES]


def _clone(params: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def _groups(params: list[torch.nn.Parameter], extra: dict) -> list[dict]:
    """Two groups, the second with its own weight decay (as the STBP trainer makes them)."""
    return [{"params": params[:2], **extra}, {"params": params[2:], "weight_decay": 0.0}]


def _run_both(ours: object, theirs: torch.optim.Optimizer, a: list, b: list, steps: int, seed: int,
              lr_of_step: Callable[[int], float] | None = None) -> None:
    """Give both optimizers the same gradients (some parameters skipped on some steps) and check the
    parameters and the state after every step, bit for bit."""
    g = torch.Generator().manual_seed(seed + 1000)
    for step in range(steps):
        for pa, pb in zip(a, b, strict=True):
            if torch.rand((), generator=g) < 0.1:  # no gradient this step: both must skip the parameter
                pa.grad = pb.grad = None
                continue
            grad = torch.randn(pa.shape, generator=g, dtype=pa.dtype) * 10 ** float(torch.randint(-3, 2, (),
                                                                                                  generator=g))
            pa.grad, pb.grad = grad.clone(), grad.clone()
        if lr_of_step is not None:
            for ga, gb in zip(ours.param_groups, theirs.param_groups, strict=True):
                ga["lr"] = gb["lr"] = lr_of_step(step)
        ours.step()
        theirs.step()
        for pa, pb in zip(a, b, strict=True):
            assert torch.equal(pa, pb), f"step {step}: parameter of shape {tuple(pa.shape)} differs"
    _assert_same_state(ours.state_dict(), theirs.state_dict())


def _assert_same_state(sa: dict, sb: dict) -> None:
    assert sa["state"].keys() == sb["state"].keys()
    for key, st in sa["state"].items():
        assert st.keys() == sb["state"][key].keys()
        for name, value in st.items():
            assert torch.equal(value, sb["state"][key][name]), (key, name)
    for ga, gb in zip(sa["param_groups"], sb["param_groups"], strict=True):
        assert ga["params"] == gb["params"]
        assert {k: v for k, v in gb.items() if k in ga} == ga


# ----------------------------------------------------------------------------------------------- updates
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw", [{}, {"weight_decay": 1e-2}, {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.3},
                                {"lr": 0.05, "betas": (0.0, 0.5)}])
def test_adam_is_torch_adam_bit_for_bit(kw: dict, dtype: torch.dtype) -> None:
    a = _params(1, dtype)
    b = _clone(a)
    group_kw = {k: v for k, v in kw.items() if k == "weight_decay"}
    top_kw = {k: v for k, v in kw.items() if k != "weight_decay"}
    ours = optim.Adam(_groups(a, group_kw), **top_kw)
    theirs = torch.optim.Adam(_groups(b, group_kw), foreach=False, **top_kw)
    _run_both(ours, theirs, a, b, 300, seed=2)


def test_adam_follows_a_changing_learning_rate() -> None:
    a = _params(3, torch.float32)
    b = _clone(a)
    ours, theirs = optim.Adam(a, lr=0.1, weight_decay=1e-3), torch.optim.Adam(b, lr=0.1, weight_decay=1e-3,
                                                                              foreach=False)
    _run_both(ours, theirs, a, b, 200, seed=4, lr_of_step=lambda s: 0.1 * 0.5 * (1 + math.cos(math.pi * s / 200)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw", [{"momentum": 0.9, "nesterov": True}, {"momentum": 0.9},
                                {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
                                {"momentum": 0.5, "dampening": 0.25, "weight_decay": 0.1}, {}, {"weight_decay": 1e-3}])
def test_sgd_is_torch_sgd_bit_for_bit(kw: dict, dtype: torch.dtype) -> None:
    a = _params(5, dtype)
    b = _clone(a)
    group_kw = {k: v for k, v in kw.items() if k == "weight_decay"}
    top_kw = {k: v for k, v in kw.items() if k != "weight_decay"}
    ours = optim.SGD(_groups(a, group_kw), lr=0.03, **top_kw)
    theirs = torch.optim.SGD(_groups(b, group_kw), lr=0.03, foreach=False, **top_kw)
    _run_both(ours, theirs, a, b, 300, seed=6, lr_of_step=lambda s: 0.03 * (1 - s / 300))


def test_zero_grad_drops_or_zeroes_gradients() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(3))
    opt.zero_grad()
    assert p.grad is None


# ------------------------------------------------------------------------------------------ state dicts
MAKERS = {
    "adam": (lambda ps: optim.Adam(_groups(ps, {"weight_decay": 0.01}), lr=0.01),
             lambda ps: torch.optim.Adam(_groups(ps, {"weight_decay": 0.01}), lr=0.01, foreach=False)),
    "sgd": (lambda ps: optim.SGD(_groups(ps, {"weight_decay": 0.01}), lr=0.01, momentum=0.9, nesterov=True),
            lambda ps: torch.optim.SGD(_groups(ps, {"weight_decay": 0.01}), lr=0.01, momentum=0.9, nesterov=True,
                                       foreach=False)),
}


def _saved_and_loaded(state: dict, tmp_path) -> dict:  # noqa: ANN001
    """``state`` through ``torch.save`` / ``torch.load(weights_only=True)``, as a checkpoint goes."""
    torch.save(state, tmp_path / "opt.pt")
    return torch.load(tmp_path / "opt.pt", weights_only=True)


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("writer", ["ours", "torch"])
def test_a_saved_state_resumes_bit_for_bit(kind: str, writer: str, tmp_path) -> None:  # noqa: ANN001
    """40 steps, save (ours, or torch.optim's as every checkpoint before issue 17), load into a fresh one of
    ours, 40 more steps: the same as 80 steps of torch.optim without a break."""
    make_ours, make_torch = MAKERS[kind]
    start = _params(7, torch.float32)
    first = _clone(start)
    opt_first = (make_ours if writer == "ours" else make_torch)(first)
    ref = _clone(start)
    opt_ref = make_torch(ref)
    _run_both(opt_first, opt_ref, first, ref, 40, seed=8)
    saved = _saved_and_loaded(opt_first.state_dict(), tmp_path)
    resumed = _clone(first)
    opt_resumed = make_ours(resumed)
    opt_resumed.load_state_dict(saved)
    _run_both(opt_resumed, opt_ref, resumed, ref, 40, seed=9)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_torch_loads_our_state(kind: str, tmp_path) -> None:  # noqa: ANN001
    make_ours, make_torch = MAKERS[kind]
    a = _params(10, torch.float64)
    b = _clone(a)
    opt_a, opt_b = make_ours(a), make_torch(b)
    _run_both(opt_a, opt_b, a, b, 25, seed=11)
    c = _clone(a)
    opt_c = make_torch(c)
    opt_c.load_state_dict(_saved_and_loaded(opt_a.state_dict(), tmp_path))
    _run_both(opt_a, opt_c, a, c, 25, seed=12)


def test_state_dict_is_a_copy() -> None:
    p = torch.nn.Parameter(torch.zeros(4))
    opt = optim.Adam([p])
    p.grad = torch.ones(4)
    opt.step()
    saved = opt.state_dict()
    p.grad = torch.ones(4)
    opt.step()
    assert float(saved["state"][0]["step"]) == 1.0 and not torch.equal(saved["state"][0]["exp_avg"],
                                                                        opt.state[p]["exp_avg"])


def _stepped(make: Callable) -> object:
    ps = _params(13, torch.float32)
    opt = make(ps)
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    return opt


@pytest.mark.parametrize(("saved_by", "loaded_by", "message"), [
    ("adam", "sgd", "the saved optimizer state is Adam's, this run uses SGD"),
    ("sgd", "adam", "the saved optimizer state is SGD's, this run uses Adam"),
])
def test_another_optimizers_state_is_a_clear_error(saved_by: str, loaded_by: str, message: str) -> None:
    saved = _stepped(MAKERS[saved_by][0]).state_dict()
    with pytest.raises(optim.OptimizerError, match=message) as err:
        MAKERS[loaded_by][0](_params(13, torch.float32)).load_state_dict(saved)
    assert f"--optimizer {saved_by}" in str(err.value)


def test_another_networks_state_is_a_clear_error() -> None:
    saved = _stepped(MAKERS["adam"][0]).state_dict()
    with pytest.raises(optim.OptimizerError, match="parameter group"):
        optim.Adam(_params(13, torch.float32)).load_state_dict(saved)  # one group, not two
    other = [torch.nn.Parameter(torch.zeros(s)) for s in [(7,), (5, 4), (2, 3, 4), ()]]
    with pytest.raises(optim.OptimizerError, match="exp_avg of shape"):
        MAKERS["adam"][0](other).load_state_dict(saved)
    with pytest.raises(optim.OptimizerError, match="not a torch.optim state_dict"):
        MAKERS["adam"][0](other).load_state_dict({"model": {}})


def test_features_we_do_not_implement_are_refused() -> None:
    ps = _params(14, torch.float32)
    amsgrad = torch.optim.Adam(ps, amsgrad=True).state_dict()
    with pytest.raises(optim.OptimizerError, match="amsgrad"):
        optim.Adam(_clone(ps)).load_state_dict(amsgrad)
    for bad in ({"lr": -1.0}, {"weight_decay": float("nan")}, {"betas": (0.9, 1.0)}, {"eps": -1e-8}):
        with pytest.raises(optim.OptimizerError):
            optim.Adam(_clone(ps), **bad)
    with pytest.raises(optim.OptimizerError, match="Nesterov"):
        optim.SGD(_clone(ps), lr=0.1, nesterov=True)
    with pytest.raises(optim.OptimizerError, match="more than one group"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(optim.OptimizerError, match="empty"):
        optim.SGD([], lr=0.1)


# --------------------------------------------------------------------------------------------- schedule
@pytest.mark.parametrize(("kind", "total", "warmup"), [("cosine", 97, 0), ("cosine", 50, 7), ("step", 40, 0),
                                                        ("step", 33, 5), ("none", 10, 3), ("cosine", 1, 0)])
def test_schedule_is_torch_lambdalr(kind: str, total: int, warmup: int) -> None:
    """:func:`snnc.trainers.common.make_scheduler` (our LambdaLR) against torch's LambdaLR driving a
    torch optimizer with the same factor, over the schedule and past its end, two groups of two rates."""
    ps = _params(15, torch.float32)
    ours_opt = optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3}], lr=0.045)
    ours = make_scheduler(ours_opt, kind, total, warmup)
    qs = _clone(ps)
    torch_opt = torch.optim.SGD([{"params": qs[:2]}, {"params": qs[2:], "lr": 0.3}], lr=0.045)
    theirs = torch.optim.lr_scheduler.LambdaLR(torch_opt, ours.factor)
    seen = set()
    for _ in range(total + 5):
        assert ours.get_last_lr() == theirs.get_last_lr() == [g["lr"] for g in torch_opt.param_groups]
        seen.add(ours.get_last_lr()[0])
        torch_opt.step()
        ours.step()
        theirs.step()
    assert len(seen) >= 2  # the schedule moved


def test_schedule_set_step_is_the_same_as_stepping() -> None:
    opt = optim.Adam(_params(16, torch.float32), lr=0.01)
    walked = make_scheduler(opt, "cosine", 30, 4)
    rates = []
    for _ in range(30):
        rates.append(walked.get_last_lr())
        walked.step()
    jumped = make_scheduler(optim.Adam(_params(16, torch.float32), lr=0.01), "cosine", 30, 4)
    for step in (17, 3, 0, 29):
        jumped.set_step(step)
        assert jumped.get_last_lr() == rates[step] and jumped.last_step == step


# ----------------------------------------------------------------------------------- whole training runs
def _torch_optim_back(monkeypatch) -> None:  # noqa: ANN001
    """Make the trainers build torch.optim's optimizers (single-tensor path): the code before issue 17."""
    monkeypatch.setattr(optim, "Adam", functools.partial(torch.optim.Adam, foreach=False))
    monkeypatch.setattr(optim, "SGD", functools.partial(torch.optim.SGD, foreach=False))


def _stdbp(**kw: object) -> Callable:
    from snnc.trainers.stdbp import StdbpConfig, train

    def go(**run_kw: object) -> object:
        cfg = {**dict(dataset="digits", arch="64-24-10", batch_size=32, train_limit=160, test_limit=60), **kw}
        cfg.update(run_kw.pop("cfg", {}))
        return train(StdbpConfig(**cfg), log=lambda *_: None, **run_kw)
    return go


def _stbp(**kw: object) -> Callable:
    from snnc.trainers.stbp import StbpConfig, train

    def go(**run_kw: object) -> object:
        cfg = {**dict(dataset="digits", arch="64-24-10", batch_size=32, train_limit=160, test_limit=60,
                   time_steps=8, lr=0.1, init_gain=0.2), **kw}
        cfg.update(run_kw.pop("cfg", {}))
        return train(StbpConfig(**cfg), log=lambda *_: None, **run_kw)
    return go


RUNS = {
    "stdbp-adam": _stdbp(),
    "stdbp-sgd-decay-clip": _stdbp(optimizer="sgd", lr=0.01, weight_decay=1e-3, grad_clip=1.0, warmup_epochs=1),
    "stbp-sgd-nesterov-decay": _stbp(weight_decay=1e-3),
    "stbp-adam-decay": _stbp(optimizer="adam", lr=0.003, weight_decay=1e-3, lr_schedule="step"),
}


def _assert_same_run(a: object, b: object) -> None:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    strip = [{k: v for k, v in vars(h).items() if k != "seconds"} for h in a.history]
    assert strip == [{k: v for k, v in vars(h).items() if k != "seconds"} for h in b.history]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_training_runs_are_those_of_torch_optim_bit_for_bit(name: str, monkeypatch) -> None:  # noqa: ANN001
    go = RUNS[name]
    ours = go(cfg={"epochs": 3})
    with monkeypatch.context() as m:
        _torch_optim_back(m)
        theirs = go(cfg={"epochs": 3})
    assert len(ours.history) == 3
    _assert_same_run(ours, theirs)
    start = RUNS[name](cfg={"epochs": 0}).net.state_dict()
    assert any(not torch.equal(v, ours.net.state_dict()[k]) for k, v in start.items())  # training moved weights


@pytest.mark.parametrize("name", ["stdbp-sgd-decay-clip", "stbp-adam-decay"])
def test_checkpoints_written_with_torch_optim_resume(name: str, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """A checkpoint of the code before issue 17 (torch.optim's state) resumes with ours to the weights of an
    uninterrupted torch.optim run. (No schedule: a 2-epoch run's cosine or step schedule is not the first two
    epochs of a 3-epoch run's.)"""
    go = RUNS[name]
    ck = tmp_path / "old.ckpt"
    with monkeypatch.context() as m:
        _torch_optim_back(m)
        straight = go(cfg={"epochs": 3, "lr_schedule": "none"})
        go(cfg={"epochs": 2, "lr_schedule": "none"}, checkpoint=str(ck))
    resumed = go(cfg={"epochs": 3, "lr_schedule": "none"}, resume=str(ck))
    _assert_same_run(straight, resumed)


def test_resuming_with_another_optimizer_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    ck = tmp_path / "adam.ckpt"
    RUNS["stbp-adam-decay"](cfg={"epochs": 1}, checkpoint=str(ck))
    with pytest.raises(optim.OptimizerError, match="Adam's, this run uses SGD"):
        RUNS["stbp-sgd-nesterov-decay"](cfg={"epochs": 2}, resume=str(ck))


# -------------------------------------------------------------------------------------- torch._dynamo
DYNAMO_PROBE = """
import sys, tempfile, os
from snnc.cli import main
with tempfile.TemporaryDirectory() as d:
    common = ["--dataset", "digits", "--arch", "64-16-10", "--train-limit", "64", "--test-limit", "32",
              "--batch-size", "32", "--no-progress", "--no-reference-eval", "--force"]
    for alg, extra in (("stdbp", ["--grad-clip", "1"]), ("stbp", ["--optimizer", "adam"])):
        ck = os.path.join(d, alg + ".ckpt")
        out = os.path.join(d, alg + ".onnx")
        assert main(["train", alg, *common, *extra, "--epochs", "1", "--checkpoint", ck, "-o", out]) == 0
        assert main(["train", alg, *common, *extra, "--epochs", "2", "--resume", ck, "-o", out]) == 0
ours = "torch._dynamo" in sys.modules
import torch
p = torch.nn.Parameter(torch.zeros(2))
torch.optim.SGD([p], lr=0.1)
print("DYNAMO", ours, "torch._dynamo" in sys.modules)
"""


def test_a_training_run_does_not_import_torch_dynamo() -> None:
    """Both trainers, from the command line, with a checkpoint, a resume and gradient clipping, in a fresh
    process: ``torch._dynamo`` is never imported. The probe then creates a ``torch.optim`` optimizer to show
    that it is what imports ``torch._dynamo`` (the check can fail)."""
    done = subprocess.run([sys.executable, "-c", DYNAMO_PROBE], capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    flags = done.stdout.strip().splitlines()[-1]
    assert flags.split()[1] == "False", "a training run imported torch._dynamo"
    assert flags.split()[2] == "True", ("torch.optim no longer imports torch._dynamo: this test can no longer "
                                        "fail; trainers/optim.py may be unnecessary")


@pytest.mark.parametrize("name", ["stdbp-adam", "stbp-sgd-nesterov-decay"])
@pytest.mark.parametrize(("option", "value"), [("weight_decay", -1.0), ("weight_decay", float("nan")),
                                               ("lr", float("inf")), ("lr", 0.0)])
def test_bad_rates_are_trainer_errors(name: str, option: str, value: float) -> None:
    """``--weight-decay -1`` was an internal error (torch's ValueError); ``--lr inf`` trained to NaN."""
    from snnc.trainers.common import TrainerError

    flag = "--" + option.replace("_", "-")
    with pytest.raises(TrainerError, match=flag):
        RUNS[name](cfg={"epochs": 1, option: value})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_on_cuda_adam_and_sgd_are_torchs_single_tensor_path() -> None:
    """On CUDA our updates are torch's single-tensor ones bit for bit (torch's default there is the
    multi-tensor path, which may round differently in the last bit: not compared)."""
    for make_ours, make_torch in MAKERS.values():
        a = [torch.nn.Parameter(p.detach().cuda()) for p in _params(17, torch.float32)]
        b = _clone(a)
        _run_cuda(make_ours(a), make_torch(b), a, b)


def _run_cuda(ours: object, theirs: torch.optim.Optimizer, a: list, b: list) -> None:
    g = torch.Generator().manual_seed(18)
    for _ in range(100):
        for pa, pb in zip(a, b, strict=True):
            grad = torch.randn(pa.shape, generator=g).cuda()
            pa.grad, pb.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
    for pa, pb in zip(a, b, strict=True):
        assert torch.equal(pa, pb)
