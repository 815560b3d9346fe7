"""The snnc command line, end to end: real processes, real files, real onnxruntime.

Every bad input gives one clear message, a non-zero exit code, and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

from snnc.frontend.snn_onnx import SnnModelBuilder, run_onnxruntime


def snnc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnc.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def digits_model(seed: int = 0) -> onnx.ModelProto:
    """A TTFS/ReL-PSP 64-32-10 network for the 8x8 digits, weights on a dyadic grid."""
    rng = np.random.default_rng(seed)
    b = SnnModelBuilder(input_features=(64,), time_steps=16, name="digits_mlp")
    s = b.ttfs_encode(b.input)
    h = b.relpsp(b.dense(s, rng.integers(-8, 24, (32, 64)).astype(np.float32) / 64), threshold=1.0)
    o = b.relpsp(b.dense(h, rng.integers(-8, 24, (10, 32)).astype(np.float32) / 64), threshold=1.0)
    return b.build(output=b.first_spike_decode(o), metadata={"snn.algorithm": "test", "snn.dataset": "digits"})


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "digits.onnx"
    onnx.save(digits_model(), path)
    return path


def assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("snnc: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_help_of_every_command_is_complete() -> None:
    top = snnc("--help")
    assert top.returncode == 0
    for command in ("ir", "run", "compile", "inspect", "simulate", "noc", "train", "backends", "passes"):
        assert command in top.stdout
        sub = snnc(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage: snnc " + command in sub.stdout
    assert "--print-after-all" in snnc("ir", "--help").stdout
    assert "--data-dir" in snnc("run", "--help").stdout


def test_ir_prints_a_dump_that_runs_like_the_onnx_file(model_path: Path, tmp_path: Path) -> None:
    elided = snnc("ir", str(model_path), "--elide-weights")
    assert elided.returncode == 0, elided.stderr
    assert elided.stdout.startswith("snnc.ir 1")
    assert "snn.relpsp" in elided.stdout and "snn.first_spike_decode" in elided.stdout

    dump = tmp_path / "model.snnir"
    written = snnc("ir", str(model_path), "-o", str(dump))
    assert written.returncode == 0, written.stderr
    assert dump.read_text().startswith("snnc.ir 1")

    from_onnx = snnc("run", str(model_path), "--dataset", "digits", "--limit", "120")
    from_dump = snnc("run", str(dump), "--dataset", "digits", "--limit", "120")
    assert from_onnx.returncode == 0 and from_dump.returncode == 0, (from_onnx.stderr, from_dump.stderr)
    accuracy = [line for line in from_onnx.stdout.splitlines() if line.startswith("accuracy")]
    assert accuracy and accuracy == [line for line in from_dump.stdout.splitlines() if line.startswith("accuracy")]


def test_run_reports_accuracy_equal_to_onnxruntime(model_path: Path) -> None:
    from snnc.datasets import load_dataset

    data = load_dataset("digits", limit=200).reshaped((64,))
    scores = run_onnxruntime(onnx.load(model_path), data.x)
    correct = int((scores.argmax(axis=1) == data.y).sum())
    result = snnc("run", str(model_path), "--dataset", "digits", "--limit", "200", "--batch-size", "64")
    assert result.returncode == 0, result.stderr
    assert f"accuracy  {100 * correct / 200:.2f} % ({correct}/200)" in result.stdout
    assert "spikes per image" not in result.stdout and "per image (ttfs_encode_0: " in result.stdout
    assert "images/s" in result.stdout


def test_print_after_all_goes_to_stderr_and_passes_are_timed(model_path: Path) -> None:
    result = snnc("ir", str(model_path), "--elide-weights", "--print-after-all", "--time-passes")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("// ----- IR after") == 2
    assert "pass canonicalize" in result.stderr and "pass dce" in result.stderr
    assert result.stdout.startswith("snnc.ir 1")


def test_outputs_never_overwrite_without_force(model_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.snnir"
    out.write_text("precious")
    assert_clean_error(snnc("ir", str(model_path), "-o", str(out)), "output file already exists", "--force")
    assert out.read_text() == "precious"
    assert snnc("ir", str(model_path), "-o", str(out), "--force").returncode == 0
    assert out.read_text().startswith("snnc.ir 1")
    before = model_path.read_bytes()
    assert_clean_error(snnc("ir", str(model_path), "-o", str(model_path), "--force"),
                       "refusing to write the output over the input file")
    assert model_path.read_bytes() == before


def test_bad_inputs_give_one_clear_error(model_path: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[: len(model_path.read_bytes()) // 2])
    assert_clean_error(snnc("ir", str(truncated)), str(truncated))

    unknown = digits_model()
    next(n for n in unknown.graph.node if n.op_type == "ReLPSP").op_type = "ReLPSPX"
    path = tmp_path / "unknown.onnx"
    onnx.save(unknown, path)
    assert_clean_error(snnc("ir", str(path)), "ReLPSPX")

    wrong_attr = digits_model()
    node = next(n for n in wrong_attr.graph.node if n.op_type == "ReLPSP")
    del node.attribute[:]
    node.attribute.append(onnx.helper.make_attribute("threshold", "high"))
    path = tmp_path / "wrong_attr.onnx"
    onnx.save(wrong_attr, path)
    assert_clean_error(snnc("ir", str(path)), "threshold")

    mismatch = digits_model()
    weight = next(i for i in mismatch.graph.initializer if list(i.dims) == [64, 32])
    weight.CopyFrom(onnx.numpy_helper.from_array(np.zeros((60, 32), np.float32), weight.name))
    path = tmp_path / "mismatch.onnx"
    onnx.save(mismatch, path)
    assert_clean_error(snnc("ir", str(path)), "64", "60")

    bad_version = tmp_path / "bad.snnir"
    bad_version.write_text(snnc("ir", str(model_path)).stdout.replace("snnc.ir 1", "snnc.ir 99", 1))
    assert_clean_error(snnc("ir", str(bad_version)), "99")

    assert_clean_error(snnc("ir", str(tmp_path / "missing.onnx")), "model file not found")
    assert_clean_error(snnc("run", str(model_path), "--dataset", "cifar"), "cifar")
    assert_clean_error(snnc("run", str(model_path), "--dataset", "digits", "--backend", "loihi"), "loihi")
    assert_clean_error(snnc("run", str(model_path), "--dataset", "mnist"), "--data-dir")
    assert_clean_error(snnc("ir", str(model_path), "--passes", "fold-everything"), "unknown pass 'fold-everything'")


def test_usage_errors_exit_2() -> None:
    result = snnc("run")
    assert result.returncode == 2 and "usage:" in result.stderr
    result = snnc("run", "m.onnx", "--dataset", "digits", "--limit", "0")
    assert result.returncode == 2 and "expected a positive integer" in result.stderr


def test_backends_and_passes_are_listed() -> None:
    result = snnc("backends")
    assert result.returncode == 0 and result.stdout.startswith("reference")
    result = snnc("passes")
    assert result.returncode == 0 and "canonicalize" in result.stdout and "dce" in result.stdout


def test_compile_then_inspect_a_yoso_deployment(model_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    result = snnc("compile", str(model_path), "--target", "yoso", "-o", str(out), "--dataset", "digits",
                  "--samples", "64")
    assert result.returncode == 0, result.stderr
    assert "quantize" in result.stderr and "expected spike hops per image" in result.stderr
    assert (out / "report.txt").exists()
    report = snnc("inspect", str(out))
    assert report.returncode == 0, report.stderr
    assert "utilisation" in report.stdout and "placement" in report.stdout
    assert_clean_error(snnc("compile", str(model_path), "-o", str(out)), "already exists", "--force")
    assert snnc("compile", str(model_path), "-o", str(out), "--force", "--placer", "snake").returncode == 0
    sim = snnc("simulate", str(out), "--dataset", "digits", "--limit", "20", "--plots", str(tmp_path / "plots"))
    assert sim.returncode == 0, sim.stderr
    assert "accuracy" in sim.stdout and "uJ" in sim.stdout and "mW" in sim.stdout
    assert len(list((tmp_path / "plots").glob("*.png"))) == 3
    (out / "report.txt").write_text("tampered")
    assert_clean_error(snnc("inspect", str(out)), "report.txt")
    assert_clean_error(snnc("compile", str(model_path), "--target", "reference", "-o", str(tmp_path / "r")),
                       "backend reference cannot compile")


def test_noc_replay_of_a_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("cycle,src,dst\n0,0,63\n0,63,0\n5,9,9\n")
    result = snnc("noc", "replay", str(trace), "--mesh", "8x8", "--router-delay", "2", "--link-delay", "1",
                  "--flits", "1")
    assert result.returncode == 0, result.stderr
    assert "trace replay: 3 packets" in result.stdout
    # the two 14-hop packets use disjoint links: each takes the zero-load latency 3H + 2 = 44 cycles
    assert "max 44," in result.stdout
    trace.write_text("0,0,64\n")
    assert_clean_error(snnc("noc", "replay", str(trace), "--mesh", "8x8"), "trace.csv:1")


def test_written_files_get_ordinary_permissions(model_path: Path, tmp_path: Path) -> None:
    import os

    from snnc.io import write_atomic

    out = tmp_path / "x.txt"
    write_atomic(out, "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
