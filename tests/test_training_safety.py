"""Safe, reproducible training (issue 18 item 1): a model's ``snn.trainer`` command trains it again bit for bit;
the output is chosen and checked before training; a bad device, or an output that is the checkpoint, is a user
error before any work; a resumed run's header names the checkpoint's network."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import onnx
import pytest

from snnc.cli.train import add_stbp_arguments, add_stdbp_arguments
from snnc.errors import SnncError
from snnc.trainers import stbp, stdbp
from snnc.trainers.common import TrainerError

TRAINERS = {"stdbp": (add_stdbp_arguments, stdbp.run), "stbp": (add_stbp_arguments, stbp.run)}
#: small runs with options away from their defaults (each changes the weights)
RUNS = {
    "stdbp": ["--dataset", "digits", "--arch", "64-20-10", "--epochs", "2", "--train-limit", "160", "--lr", "0.03",
              "--window", "20", "--time-steps", "40", "--seed", "3", "--batch-size", "32"],
    "stbp": ["--dataset", "digits", "--arch", "64-20-10", "--epochs", "2", "--train-limit", "160", "--lr", "0.05",
             "--reset", "zero", "--decoder", "last", "--seed", "3", "--warmup-epochs", "0.5"],
}


def _args(algorithm: str, argv: list[str]) -> argparse.Namespace:
    add, _ = TRAINERS[algorithm]
    p = argparse.ArgumentParser()
    add(p)
    return p.parse_args(argv)


def _weights(path: Path) -> dict[str, bytes]:
    return {t.name: t.raw_data or onnx.numpy_helper.to_array(t).tobytes() for t in onnx.load(path).graph.initializer}


@pytest.mark.parametrize("algorithm", sorted(TRAINERS))
def test_the_recorded_command_trains_the_same_model(algorithm: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, run = TRAINERS[algorithm]
    first = tmp_path / "first.onnx"
    assert run(_args(algorithm, [*RUNS[algorithm], "--test-limit", "40", "--no-progress", "-o", str(first)])) == 0
    meta = {p.key: p.value for p in onnx.load(first).metadata_props}
    words = shlex.split(meta["snn.trainer"])
    assert words[:3] == ["snnc", "train", algorithm] and "--dataset" in words and "--train-limit" in words
    again = tmp_path / "again.onnx"
    assert run(_args(algorithm, [*words[3:], "--test-limit", "40", "--no-progress", "-o", str(again)])) == 0
    assert _weights(again) == _weights(first)
    capsys.readouterr()


def test_no_output_given_means_an_announced_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    args = _args("stbp", [*RUNS["stbp"][:8], "--epochs", "1", "--test-limit", "20", "--no-progress",
                          "--no-reference-eval"])
    assert stbp.run(args) == 0
    err = capsys.readouterr().err
    assert "no -o given: the model will be written to stbp-digits-64-20-10.onnx" in err
    assert (tmp_path / "stbp-digits-64-20-10.onnx").is_file()
    assert (tmp_path / "stbp-digits-64-20-10.history.json").is_file()
    with pytest.raises(Exception, match="exists"):  # and the default is never overwritten silently
        stbp.run(args)


@pytest.mark.parametrize("device", ["cuda", "cuda:7", "bogus", "meta"])
def test_a_device_that_is_not_here_is_a_user_error_before_training(device: str, tmp_path: Path) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    args = _args("stdbp", [*RUNS["stdbp"], "--device", device, "-o", str(tmp_path / "m.onnx")])
    with pytest.raises(TrainerError, match="--device|device") as err:
        stdbp.run(args)
    assert err.value.where == "--device" and "cpu" in err.value.hint
    assert not list(tmp_path.iterdir())


def test_the_output_cannot_be_the_checkpoint(tmp_path: Path) -> None:
    same = tmp_path / "m.onnx"
    args = _args("stbp", [*RUNS["stbp"], "-o", str(same), "--checkpoint", str(same)])
    with pytest.raises(SnncError, match="refusing to write the output over the input file"):
        stbp.run(args)


def test_resume_with_another_arch_names_the_checkpoints_network_first(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    ck = tmp_path / "ck.pt"
    assert stbp.run(_args("stbp", [*RUNS["stbp"][:10], "--epochs", "1", "--test-limit", "20", "--no-progress",
                                   "--no-reference-eval", "--checkpoint", str(ck), "-o",
                                   str(tmp_path / "a.onnx")])) == 0
    capsys.readouterr()
    args = _args("stbp", ["--dataset", "digits", "--arch", "64-50-10", "--epochs", "2", "--test-limit", "20",
                          "--no-progress", "--no-reference-eval", "--resume", str(ck), "-o", str(tmp_path / "b.onnx")])
    assert stbp.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("resume: using the checkpoint's arch = 64-20-10 (not 64-50-10)")
    header = next(line for line in out if line.startswith("STBP "))
    assert header.startswith("STBP 64-20-10 on digits")


def test_resume_names_what_it_takes_from_the_checkpoint_without_a_none() -> None:
    """An option the user left unset (None) is said without "(not None)"; a given one names both values."""
    from types import SimpleNamespace

    from snnc.trainers.common import adopt_checkpoint_config

    cfg = SimpleNamespace(window=None, time_steps=64, arch="64-10")
    said: list[str] = []
    adopt_checkpoint_config(cfg, {"window": 32, "time_steps": 32, "arch": "64-10"}.__getitem__,
                            ("window", "time_steps", "arch"), said.append)
    assert said == ["resume: using the checkpoint's window = 32",
                    "resume: using the checkpoint's time_steps = 32 (not 64)"]
    assert (cfg.window, cfg.time_steps, cfg.arch) == (32, 32, "64-10")


@pytest.mark.parametrize("algorithm", ["stdbp", "stbp"])
def test_a_resumed_run_uses_and_names_this_commands_training_settings(algorithm: str, tmp_path: Path) -> None:
    """The learning rate always followed the resuming command while the optimiser's weight decay silently stayed
    the checkpoint's; now every training setting is the command's, and each that changed is said."""
    import torch

    module, config = (stdbp, stdbp.StdbpConfig) if algorithm == "stdbp" else (stbp, stbp.StbpConfig)
    base = dict(dataset="digits", arch="64-16-10", batch_size=32, train_limit=128, test_limit=64)
    ckpt = tmp_path / "run.ckpt"
    module.train(config(**base, epochs=1), checkpoint=str(ckpt), log=lambda s: None)

    def resume(**changed: float) -> tuple[list[torch.Tensor], list[str], dict[str, str]]:
        said: list[str] = []
        cfg = config(**base, epochs=2, **changed)
        result = module.train(cfg, resume=str(ckpt), log=said.append)
        return [w.detach().clone() for w in result.net.weights], said, module.metadata(cfg, result, None, 0)

    same, said_same, meta_same = resume()
    decayed, said_decayed, meta_decayed = resume(weight_decay=0.5)
    epochs = "resume: epochs = 2 from this command (the checkpoint's run used 1)"
    assert [line for line in said_same if "from this command" in line] == [epochs]
    assert epochs in said_decayed
    assert "resume: weight_decay = 0.5 from this command (the checkpoint's run used 0.0)" in said_decayed
    assert any(not torch.equal(a, b) for a, b in zip(same, decayed, strict=True))  # the decay took effect
    # the model says its snn.trainer command alone does not retrain it
    assert meta_same["snn.trainer_resumed_with"] == "after epoch 1: epochs 1 -> 2"
    assert meta_decayed["snn.trainer_resumed_with"] == "after epoch 1: epochs 1 -> 2, weight_decay 0.0 -> 0.5"
    assert "--epochs 2" in meta_decayed["snn.trainer"]


@pytest.mark.parametrize("algorithm", ["stdbp", "stbp"])
def test_the_record_of_changed_settings_survives_further_resumes(algorithm: str, tmp_path: Path) -> None:
    """A run resumed with new settings and checkpointed keeps the record through its next resume, which adds its
    own; a run resumed with unchanged settings has none (its snn.trainer command retrains it)."""
    module, config = (stdbp, stdbp.StdbpConfig) if algorithm == "stdbp" else (stbp, stbp.StbpConfig)
    base = dict(dataset="digits", arch="64-16-10", batch_size=32, train_limit=96, test_limit=32)
    first, second = tmp_path / "1.ckpt", tmp_path / "2.ckpt"
    module.train(config(**base, epochs=1), checkpoint=str(first), log=lambda s: None)
    plain = module.train(config(**base, epochs=1), resume=str(first), log=lambda s: None)
    assert plain.resumed_changes == []
    assert "snn.trainer_resumed_with" not in module.metadata(config(**base, epochs=1), plain, None, 0)

    module.train(config(**base, epochs=2, lr=0.01), resume=str(first), checkpoint=str(second), log=lambda s: None)
    again = module.train(config(**base, epochs=3, lr=0.01), resume=str(second), log=lambda s: None)
    default_lr = config().lr
    assert again.resumed_changes == [f"after epoch 1: epochs 1 -> 2, lr {default_lr} -> 0.01",
                                     "after epoch 2: epochs 2 -> 3"]


@pytest.mark.parametrize("algorithm", sorted(TRAINERS))
def test_resuming_a_missing_checkpoint_says_how_to_start_the_run(algorithm: str, tmp_path: Path) -> None:
    missing = tmp_path / "run.ckpt"
    args = _args(algorithm, [*RUNS[algorithm], "--no-progress", "--checkpoint", str(missing), "--resume", str(missing),
                             "-o", str(tmp_path / "m.onnx")])
    with pytest.raises(TrainerError) as info:
        TRAINERS[algorithm][1](args)
    assert info.value.message == "checkpoint file not found" and info.value.where == str(missing)
    assert "leave --resume out" in (info.value.hint or "")
    assert sorted(tmp_path.iterdir()) == []  # nothing written


def _limited_address_space() -> None:  # runs in the child before exec: 3 GiB of address space
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.mark.parametrize("algorithm", sorted(TRAINERS))
def test_running_out_of_memory_is_a_user_error_that_says_what_to_shrink(algorithm: str, tmp_path: Path) -> None:
    """-T 65536 needs GiBs per batch; under a 3 GiB limit the allocation fails inside torch. That is the user's
    setting, not a bug in snnc: one clean error, no traceback, nothing written."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "snnc.cli", "train", algorithm, "--dataset", "digits", "--arch",
                        "64-100-10", "-T", "65536", "--epochs", "1", "--train-limit", "64", "--test-limit", "10",
                        "--no-progress", "--threads", "1", "-o", str(tmp_path / "m.onnx")],
                       capture_output=True, text=True, timeout=300, preexec_fn=_limited_address_space)
    assert r.returncode != 0
    assert "error: out of memory training 64-100-10 at T = 65536, batch 64" in r.stderr, r.stderr
    assert "--batch-size" in r.stderr and "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_only_allocation_failures_become_out_of_memory_errors() -> None:
    from snnc.trainers.common import out_of_memory_as_user_error

    with pytest.raises(TrainerError) as info:
        with out_of_memory_as_user_error("training x"):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2147483648 bytes.")
    assert info.value.message == "out of memory training x (an allocation of 2.0 GiB failed)"
    with pytest.raises(TrainerError, match="out of memory training x"):
        with out_of_memory_as_user_error("training x"):
            raise MemoryError
    with pytest.raises(RuntimeError, match="shape mismatch"):  # a real bug stays one
        with out_of_memory_as_user_error("training x"):
            raise RuntimeError("shape mismatch")


def test_a_full_disk_after_training_keeps_the_model_and_says_so(tmpfs) -> None:  # noqa: ANN001 - conftest
    """The disk fills up between the model and its plot: the (whole) model stays and the error says it is there;
    the history is both files or neither. A real full disk: a 200 KiB tmpfs with 150 KiB taken (root only)."""
    import subprocess
    import sys

    small = tmpfs("size=200k")
    (small / "fill").write_bytes(bytes(150 * 1024))
    r = subprocess.run([sys.executable, "-m", "snnc.cli", "train", "stdbp", "--dataset", "digits", "--arch",
                        "64-100-10", "--epochs", "1", "--train-limit", "100", "--no-progress", "--threads", "1",
                        "-o", str(small / "m.onnx")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "no space left" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert f"the trained model is written ({small / 'm.onnx'}), its history files are not" in r.stderr
    assert sorted(p.name for p in small.iterdir()) == ["fill", "m.onnx"]  # no JSON without its plot, no temp
    assert onnx.load(small / "m.onnx").graph.name
