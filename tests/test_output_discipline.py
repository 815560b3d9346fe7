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
         "--train-limit", "64", "--test-limit", "16", "--no-reference-eval", "--no-progress")


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


# ------------------------------------------------------------------------------ special files, symlinks
SPECIAL = textwrap.dedent("""
    import json, sys
    from snnc.cli import main
    codes = [main(argv) for argv in json.loads(sys.argv[1])]
    print(json.dumps(codes))
""")


def test_fifos_and_devices_are_refused_by_type_without_reading(ws: Workspace) -> None:
    """A FIFO is never opened for reading (the command would hang) and /dev/zero never read (it is endless)."""
    folder = ws.abs("special")
    folder.mkdir(exist_ok=True)
    fifo = folder / "pipe"
    if not fifo.exists():
        os.mkfifo(fifo)
    data = folder / "mnist"
    if not data.exists():
        import shutil

        shutil.copytree(ws.abs(ws.mnist_dir), data)
        (data / "t10k-images-idx3-ubyte").unlink()
        os.mkfifo(data / "t10k-images-idx3-ubyte")
    cases = {
        "model": ["ir", "special/pipe"], "model-device": ["ir", "/dev/zero"],
        "hardware": ["compile", ws.digits_onnx, "-o", "special/dep", "--hw", "special/pipe"],
        "hardware-device": ["compile", ws.digits_onnx, "-o", "special/dep", "--hw", "/dev/zero"],
        "trace": ["noc", "replay", "special/pipe"], "trace-device": ["noc", "replay", "/dev/zero"],
        "noc-hardware": ["noc", "replay", trace(ws, "special/t.csv"), "--hw", "special/pipe"],
        "dataset": ["run", ws.mnist_onnx, "--dataset", "mnist", "--data-dir", "special/mnist"],
        "grid": ["sweep", ws.deployment, "--hw-grid", "special/pipe", "--dataset", "digits", "-o", "special/sw"],
        "nir": ["nir", "import", "special/pipe"],
    }
    proc = subprocess.run([sys.executable, "-c", SPECIAL, json.dumps(list(cases.values()))], cwd=ws.root,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [1] * len(cases), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("snnc: error:")]
    assert len(errors) == len(cases), proc.stderr
    assert all("FIFO" in e or "device" in e for e in errors), proc.stderr


def test_a_deployment_file_linked_outside_is_refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib
    import shutil

    from snnc.tests.bad_inputs_catalogue import rewrite_manifest

    secret = ws.write("outside/secret.txt", "root:x:0:0:secret\n")
    dep = ws.deployment_copy("escape/report")
    (ws.abs(dep) / "report.txt").unlink()
    os.symlink(ws.abs(secret), ws.abs(dep) / "report.txt")
    digest = hashlib.sha256(ws.abs(secret).read_bytes()).hexdigest()
    rewrite_manifest(ws, dep, lambda m: m["files"].__setitem__("report.txt", digest))
    code, err = snnc(ws, monkeypatch, capsys, "inspect", dep)
    assert code == 1 and "report.txt is a symbolic link" in err, err
    assert "secret" not in err
    dep = ws.deployment_copy("escape/pe")
    shutil.move(ws.abs(dep) / "pe" / "0000", ws.abs("outside/pe0000"))
    os.symlink(ws.abs("outside/pe0000"), ws.abs(dep) / "pe" / "0000")
    code, err = snnc(ws, monkeypatch, capsys, "inspect", dep)
    assert code == 1 and "pe/0000 is a symbolic link" in err, err


def test_inspect_reads_the_files_it_verifies_while_compile_force_replaces_them(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """compile --force swaps the folder half-way through inspect: inspect reads again, never a false mismatch."""
    from snnc.api import load_model
    from snnc.backends.yoso import compile_yoso, deploy

    dep = ws.deployment_copy("race/dep")
    real, calls = deploy._Folder.read, []

    def read(self: deploy._Folder, name: str, max_bytes: int = deploy.MAX_FILE_BYTES) -> bytes:
        calls.append(name)
        if len(calls) == 5:
            compile_yoso(load_model(ws.abs(ws.digits_onnx)), ws.abs(dep), force=True, placer="row-major")
        return real(self, name, max_bytes)

    monkeypatch.setattr(deploy._Folder, "read", read)
    code, err = snnc(ws, monkeypatch, capsys, "inspect", dep)
    assert code == 0, err
    assert len(calls) > 5 + 10  # it read the whole new deployment again


def test_a_nir_file_linking_to_another_file_is_refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    h5py = pytest.importorskip("h5py")
    nir = pytest.importorskip("nir")
    import numpy as np

    w = np.ones((3, 4), np.float32)
    nodes = {"input": nir.Input(np.array([4])), "fc": nir.Linear(w),
             "lif": nir.IF(r=np.ones(3), v_threshold=np.ones(3)), "output": nir.Output(np.array([3]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    good, other = ws.abs("nirlink/good.nir"), ws.abs("nirlink/other.nir")
    good.parent.mkdir(parents=True, exist_ok=True)
    nir.write(good, graph)
    nir.write(other, graph)
    with h5py.File(good, "r+") as f:
        del f["node/nodes/fc/weight"]
        f["node/nodes/fc/weight"] = h5py.ExternalLink(str(other), "/node/nodes/fc/weight")
    code, err = snnc(ws, monkeypatch, capsys, "nir", "import", "nirlink/good.nir", "--reset", "subtract")
    assert code == 1 and "reads data from outside itself" in err and "external link" in err, err


# ------------------------------------------------------------------------------------ numbers and names
@pytest.mark.parametrize(("argv", "message"), [
    (["simulate", "DEP", "--dataset", "digits", "--barrier-cycles", str(2**62)], "expected an integer from 0 to"),
    (["simulate", "DEP", "--dataset", "digits", "--barrier-cycles", "\u0663"], "expected an integer, got '\u0663'"),
    (["simulate", "DEP", "--dataset", "digits", "--scheduler-timeout", "nan"], "expected a finite number"),
    (["sweep", "DEP", "--hw-grid", "g", "--dataset", "digits", "-o", "o", "--scheduler-timeout", "inf"],
     "expected a finite number"),
    (["noc", "replay", "t.csv", "--router-delay", str(2**62)], "expected an integer <= 1048576"),
    (["noc", "replay", "t.csv", "--watchdog", "99999999999999999999999"], "expected an integer from 1 to"),
])
def test_option_numbers_are_parsed_with_limits(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_number_and_name_helpers() -> None:
    from snnc.errors import SnncError
    from snnc.io import first_non_finite, parse_float, parse_int, sanitize, sanitize_text

    assert parse_int(" 42 ", what="x", lo=0, hi=100) == 42
    for bad in ("\u0663", "1_000", "4e2", "", "0x10", "9" * 50):
        with pytest.raises(SnncError):
            parse_int(bad, what="x")
    with pytest.raises(SnncError, match="must be between 0 and 10, got 11"):
        parse_int("11", what="x", lo=0, hi=10)
    assert parse_float("1.5e3", what="x") == 1500.0
    for bad in ("inf", "-Infinity", "nan", "1e999", "\u0661.5", "1.5.2"):
        with pytest.raises(SnncError):
            parse_float(bad, what="x")
    assert sanitize("a\x1b[31mb\x9bc\u202ed") == "a\\x1b[31mb\\x9bc\\u202ed"
    assert sanitize_text("line\x1b]0;t\x07\n\tnext") == "line\\x1b]0;t\\x07\n\tnext"
    assert first_non_finite({"a": 1.0, "b": {"c": [2.0, float("nan")]}})[0] == "b.c[1]"
    assert first_non_finite({"a": 1.0, "b": [1, 2.5]}) is None


def test_names_with_escape_bytes_are_printed_escaped(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from snnc.frontend.snn_onnx import SnnModelBuilder
    from snnc.tests.bad_inputs_catalogue import _weights

    b = SnnModelBuilder(input_features=(64,), time_steps=8, name="evil\x1b[2J\x1b[31m")
    o = b.relpsp(b.dense(b.ttfs_encode(b.input), _weights((10, 64), 1)), threshold=0.5)
    model = ws.write("ansi/evil\x1b[2J.onnx", b.build(output=b.first_spike_decode(o)).SerializeToString())
    monkeypatch.chdir(ws.root)
    assert cli.main(["compile", model, "-o", "ansi/dep"]) == 0
    assert cli.main(["inspect", "ansi/dep"]) == 0
    assert cli.main(["run", model, "--dataset", "digits", "--limit", "2"]) == 0
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err
    assert "ansi/evil\\x1b[2J.onnx" in out.out  # the model's file name, as run prints it


def test_zero_images_are_an_error_not_nan(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from snnc.tests.bad_inputs_catalogue import idx_images, idx_labels

    for prefix in ("train", "t10k"):
        ws.write(f"zero/mnist/{prefix}-images-idx3-ubyte", idx_images(0))
        ws.write(f"zero/mnist/{prefix}-labels-idx1-ubyte", idx_labels(np.zeros(0)))
    for argv in (["run", ws.mnist_onnx], ["compile", ws.mnist_onnx, "-o", "zero/dep"]):
        code, err = snnc(ws, monkeypatch, capsys, *argv, "--dataset", "mnist", "--data-dir", "zero/mnist")
        assert code == 1 and "holds no images" in err, err
        assert "nan" not in err


@pytest.mark.parametrize(("row", "message"), [
    ("0,0,99999999999999999999", "dst must be an integer"),
    ("0,\u0661,2", "src must be an integer"),
    ("0,,1", "src must be an integer, got ''"),
    ("1_0,0,1", "cycle must be an integer"),
    ("4611686018427387905,0,1", "cycle must be an integer"),
])
def test_trace_rows_take_bounded_ascii_integers(row: str, message: str) -> None:
    from snnc.backends.yoso.drivers.trace import TraceError, parse_trace

    with pytest.raises(TraceError, match=message):
        parse_trace(row + "\n", source="t.csv")


def test_a_deployment_gets_the_mode_mkdir_would_give(tmp_path: Path) -> None:
    """Issue 18: deployments were created drwx------ (mkdtemp's mode) whatever the user's umask."""
    import stat

    from snnc.api import compile as compile_model

    old = os.umask(0o022)
    try:
        dep = compile_model(Path(__file__).resolve().parents[1] / "models" / "stdbp-digits.onnx", tmp_path / "dep")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(dep.out_dir).st_mode) == 0o755


def test_a_read_only_file_system_is_refused_before_any_work(tmpfs) -> None:  # noqa: ANN001 - conftest's
    """Outputs on a read-only file system: one clean error each, checked before the work (root passes every
    permission check, so a read-only tmpfs is mounted; skipped where that is not allowed)."""
    import subprocess

    ro = tmpfs("ro,size=1m")
    model = Path(__file__).resolve().parents[1] / "models" / "stdbp-digits.onnx"
    for argv in (["ir", str(model), "-o", str(ro / "m.snnir")], ["compile", str(model), "-o", str(ro / "dep")]):
        proc = subprocess.run([sys.executable, "-m", "snnc.cli", *argv], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 1 and "read-only" in proc.stderr and "internal" not in proc.stderr, proc.stderr
