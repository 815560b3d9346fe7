"""Nothing lost, nothing read from outside (issue 19): every output goes through :mod:`snnc.io`.

Each test runs the real CLI on one of the cases the outside adversary found and checks that the command
ends in one clean error and that every file it could have destroyed is byte for byte unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snnc import cli
from snnc.tests.bad_inputs_catalogue import Workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("outsafe"))


@pytest.fixture(scope="module")
def mnist_dep(ws: Workspace) -> str:
    """A deployment of the 784-10 model (so an MNIST-layout dataset runs on it)."""
    from snnc.api import load_model
    from snnc.backends.yoso import compile_yoso

    compile_yoso(load_model(ws.abs(ws.mnist_onnx)), ws.abs("good/mnist-dep"), placer="snake")
    return "good/mnist-dep"


def snnc(ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         *argv: str) -> tuple[int, str]:
    monkeypatch.chdir(ws.root)
    code = cli.main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "internal error" not in out.err, out.err
    return code, out.err


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def trace(ws: Workspace, rel: str, packets: int = 20) -> str:
    rows = "\n".join(f"{k},{k % 4},{(k * 7) % 16}" for k in range(packets))
    return ws.write(rel, "cycle,src,dst\n" + rows + "\n")


# ------------------------------------------------------------------------------------------ data loss
def test_compile_force_never_deletes_its_own_input_model(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    dep = ws.deployment_copy("loss/own-input/dep")
    model = ws.write(f"{dep}/model.onnx", ws.abs(ws.digits_onnx).read_bytes())
    before = snapshot(ws.abs(dep))
    code, err = snnc(ws, monkeypatch, capsys, "compile", model, "-o", dep, "--force")
    assert code == 1 and "which would delete the input" in err, err
    assert snapshot(ws.abs(dep)) == before


def test_compile_force_never_deletes_files_a_user_put_in_a_deployment(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    dep = ws.deployment_copy("loss/user-file/dep")
    ws.write(f"{dep}/notes.txt", "my notes\n")
    before = snapshot(ws.abs(dep))
    code, err = snnc(ws, monkeypatch, capsys, "compile", ws.digits_onnx, "-o", dep, "--force")
    assert code == 1 and "1 file(s) snnc did not write (notes.txt)" in err, err
    assert snapshot(ws.abs(dep)) == before
    (ws.abs(dep) / "notes.txt").unlink()  # a deployment with only its own files is still replaced
    code, err = snnc(ws, monkeypatch, capsys, "compile", ws.digits_onnx, "-o", dep, "--force")
    assert code == 0, err


def test_simulate_json_never_writes_over_the_deployment(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    dep = ws.deployment_copy("loss/sim-manifest/dep")
    before = snapshot(ws.abs(dep))
    for target in (f"{dep}/manifest.json", f"{dep}/new.json"):
        code, err = snnc(ws, monkeypatch, capsys, "simulate", dep, "--dataset", "digits", "--limit", "2",
                         "--json", target, "--force")
        assert code == 1 and ("refusing to write" in err), err
    assert snapshot(ws.abs(dep)) == before


def test_simulate_json_never_writes_over_the_dataset(ws: Workspace, mnist_dep: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    data = "loss/sim-labels/mnist"
    shutil.copytree(ws.abs(ws.mnist_dir), ws.abs(data))
    before = snapshot(ws.abs(data))
    code, err = snnc(ws, monkeypatch, capsys, "simulate", mnist_dep, "--dataset", "mnist", "--data-dir", data,
                     "--limit", "2", "--json", f"{data}/t10k-labels-idx1-ubyte", "--force")
    assert code == 1 and "over a file of the input folder" in err, err
    assert snapshot(ws.abs(data)) == before


def test_noc_replay_json_never_writes_over_its_trace(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = trace(ws, "loss/noc/trace.csv")
    before = ws.abs(path).read_bytes()
    code, err = snnc(ws, monkeypatch, capsys, "noc", "replay", path, "--json", path)
    assert code == 1 and "refusing to write the output over the input file" in err, err
    assert ws.abs(path).read_bytes() == before
    ws.write("loss/noc/old.json", "keep\n")  # and an existing file needs --force
    code, err = snnc(ws, monkeypatch, capsys, "noc", "replay", path, "--json", "loss/noc/old.json")
    assert code == 1 and "output file already exists" in err
    assert ws.abs("loss/noc/old.json").read_text() == "keep\n"
    code, err = snnc(ws, monkeypatch, capsys, "noc", "replay", path, "--json", "loss/noc/old.json", "--force")
    assert code == 0 and json.loads(ws.abs("loss/noc/old.json").read_text())["packets"] == 20


TRAIN = ("train", "stdbp", "--dataset", "digits", "--arch", "64-10", "-T", "8", "--epochs", "1",
         "--train-limit", "64", "--test-limit", "16", "--no-reference-eval", "--quiet")


@pytest.mark.parametrize("case", ["checkpoint-exists", "checkpoint-is-output", "output-is-resume"])
def test_train_never_writes_over_a_checkpoint_or_its_model(case: str, ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    folder = f"loss/train-{case}"
    if case == "output-is-resume":  # a real checkpoint, so only the output check can stop the run
        monkeypatch.chdir(ws.root)
        assert cli.main([*TRAIN, "--checkpoint", f"{folder}/keep.bin"]) == 0
        capsys.readouterr()
    else:
        ws.write(f"{folder}/keep.bin", b"precious\n")
    keep = f"{folder}/keep.bin"
    before = ws.abs(keep).read_bytes()
    argv = {"checkpoint-exists": ["--checkpoint", keep],
            "checkpoint-is-output": ["-o", keep, "--checkpoint", keep, "--force"],
            "output-is-resume": ["--resume", keep, "-o", keep, "--force"]}[case]
    code, err = snnc(ws, monkeypatch, capsys, *TRAIN, *argv)
    assert code == 1, err
    assert ("already exists" if case == "checkpoint-exists" else "over the input file") in err, err
    assert ws.abs(keep).read_bytes() == before


# ------------------------------------------------------------------------------------------ symlinks
def test_outputs_never_follow_a_symlink(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    victim = ws.write("links/victim.txt", "do not touch\n")
    path = trace(ws, "links/trace.csv")
    os.symlink(ws.abs(victim), ws.abs("links/out.json"))
    code, err = snnc(ws, monkeypatch, capsys, "noc", "replay", path, "--json", "links/out.json", "--force")
    assert code == 1 and "symbolic link" in err, err
    plots = ws.abs("links/plots")
    plots.mkdir()
    os.symlink(ws.abs(victim), plots / "mesh_activity.png")
    code, err = snnc(ws, monkeypatch, capsys, "simulate", ws.deployment, "--dataset", "digits", "--limit", "2",
                     "--plots", "links/plots", "--force")
    assert code == 1 and "symbolic link" in err, err
    sweep = ws.abs("links/sweep")
    sweep.mkdir()
    os.symlink(ws.abs(victim), sweep / "pareto.png")
    grid = ws.write("links/grid.toml", '[grid]\nneurons = [256]\n')
    code, err = snnc(ws, monkeypatch, capsys, "sweep", ws.deployment, "--hw-grid", grid, "--dataset", "digits",
                     "--limit", "2", "--scheduler", "serial", "-o", "links/sweep", "--force")
    assert code == 1 and "symbolic link" in err, err
    assert ws.abs(victim).read_text() == "do not touch\n"


# ------------------------------------------------------------------------------------------ full disk
FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG, as a full disk would
    from snnc.cli import main
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize("what", ["noc-json", "plots"])
def test_a_full_disk_leaves_no_partial_file(what: str, ws: Workspace) -> None:
    folder = ws.abs(f"disk/{what}")
    folder.mkdir(parents=True)
    if what == "noc-json":
        argv = ["noc", "replay", trace(ws, f"disk/{what}/trace.csv", 400), "--json", f"disk/{what}/out.json",
                "--links", "all"]
        limit = 3000
    else:
        ws.deployment  # noqa: B018 - built in this process, before the limit
        argv = ["simulate", ws.deployment, "--dataset", "digits", "--limit", "2", "--plots", f"disk/{what}/plots"]
        limit = 8000
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NUMBA_CACHE_DIR": str(folder / "numba")}
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, str(limit), *argv], cwd=ws.root, capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert "cannot write the output" in proc.stderr, proc.stderr
    left = [p for p in folder.rglob("*") if p.is_file() and "numba" not in p.parts and p.suffix != ".csv"]
    assert left == [], left
