"""A backend added without touching snnc: the example plugin package ``tests/plugin_pkg`` (backend
``timestep``) is pip-installed into this environment, found through its ``snnc.backends`` entry point by
the real command line (``snnc backends``, ``snnc run --backend``, ``snnc compile --target``), and gone
again after ``pip uninstall``. A second test checks that the example is a correct backend: bit-equal to
the SPEC reference on the conformance cases it supports, a clear error naming the op on the others.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from snnc import load_model
from snnc.backends import get_backend
from snnc.datasets import load_dataset
from snnc.errors import BackendError
from snnc.frontend import import_onnx
from snnc.tests.onnx_models import CASES

REPO = Path(__file__).resolve().parent.parent
PLUGIN_SRC = REPO / "tests" / "plugin_pkg"
DIST = "snnc-timestep"
MODEL = REPO / "models" / "stdbp-digits.onnx"


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=180)


def snnc(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line in a fresh process (which reads the installed entry points anew)."""
    return subprocess.run([sys.executable, "-m", "snnc.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def _can_build_offline() -> bool:
    """``--no-build-isolation`` needs a setuptools that builds wheels: >= 70.1, or an older one with ``wheel``."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    major, minor = (int(part) for part in re.findall(r"\d+", importlib.metadata.version("setuptools"))[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _install(src: Path) -> None:
    """pip install ``src`` into this interpreter's environment, offline when the environment can build it."""
    if _can_build_offline():
        result = pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    else:  # e.g. a fresh Python 3.11 venv (setuptools 65, no wheel): pip fetches the build backend
        result = pip("install", "--no-deps", str(src))
        missing = r"(No matching distribution found for|Could not find a version that satisfies the requirement) "
        if result.returncode and re.search(missing + r"(setuptools|wheel)", result.stdout + result.stderr):
            pytest.skip("cannot build the plugin: this environment's setuptools cannot build wheels offline and no "
                        "package index is reachable; pip install 'setuptools>=70.1' (part of the dev extra)")
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[None]:
    """The plugin pip-installed (from a copy, so no build files land in the repo); uninstalled afterwards."""
    src = tmp_path / "plugin_pkg"
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _install(src)
    try:
        yield
    finally:
        pip("uninstall", "-y", DIST)


def test_an_installed_plugin_is_found_by_run_and_compile(installed_plugin: None, plugin_module,
                                                         tmp_path: Path) -> None:
    listed = snnc("backends")
    assert listed.returncode == 0, listed.stderr
    rows = dict(line.split(maxsplit=1) for line in listed.stdout.splitlines())
    assert rows["timestep"].startswith("step-by-step NumPy simulator of spiking MLPs")
    assert "reference" in rows and "yoso" in rows

    result = snnc("run", str(MODEL), "--backend", "timestep", "--dataset", "digits", "--limit", "20")
    assert result.returncode == 0, result.stderr
    assert "backend   timestep\n" in result.stdout
    # the same accuracy and the same spikes per image in every layer as the reference backend
    graph = load_model(MODEL)
    data = load_dataset("digits", limit=20).reshaped(graph.inputs[0].type.features)
    reference = get_backend("reference").run(graph, data.x)
    correct = int((reference.predictions == data.y).sum())
    assert re.search(rf"^accuracy +{100 * correct / 20:.2f} % \({correct}/20\)$", result.stdout, re.M), result.stdout
    for layer, counts in reference.spike_counts.items():
        assert f"{layer}: {counts.mean():.1f}" in result.stdout

    out = tmp_path / "digits-timestep"
    compiled = snnc("compile", str(MODEL), "--target", "timestep", "-o", str(out), "--print-after", "dce",
                    "--elide-weights")
    assert compiled.returncode == 0, compiled.stderr
    assert "// ----- IR after dce" in compiled.stderr and re.search(r"^lower +\d", compiled.stderr, re.M)
    assert f"wrote {out}" in compiled.stderr
    assert sorted(p.name for p in out.iterdir()) == ["program.json", "weights.npz"]
    program = json.loads((out / "program.json").read_text())
    assert program["format"] == "snnc-timestep/1" and program["time_steps"] == 64
    assert [s["op"] for s in program["steps"]] == ["snn.ttfs_encode", "snn.dense", "snn.relpsp", "snn.dense",
                                                  "snn.relpsp", "snn.first_spike_decode"]
    assert program["metadata"]["timestep.source"] == str(MODEL)
    with np.load(out / "weights.npz") as weights:
        assert weights["1.weight"].shape == (100, 64) and weights["3.weight"].shape == (10, 100)
    # the compiled program runs on its own and predicts what the reference backend predicts
    loaded = plugin_module.run_program(plugin_module.load_program(out), data.x)
    np.testing.assert_array_equal(loaded.predictions, reference.predictions)

    assert pip("uninstall", "-y", DIST).returncode == 0
    gone = snnc("backends")
    assert gone.returncode == 0 and "timestep" not in gone.stdout and "reference" in gone.stdout


def test_compile_refuses_an_existing_output_and_yoso_options(plugin_module, tmp_path: Path) -> None:
    graph = load_model(MODEL)
    backend = plugin_module.TimestepBackend()
    out = tmp_path / "p"
    backend.compile(graph, out)
    with pytest.raises(BackendError, match="output directory already exists"):
        backend.compile(graph, out)
    with pytest.raises(BackendError, match="--placer, --dataset do not apply to the timestep target"):
        backend.compile(graph, out, force=True, placer="snake", sample_x=np.zeros((1, 64), np.float32))
    result = backend.compile(graph, out, force=True)
    assert [stage for stage, _ in result.timings] == ["canonicalize", "dce", "lower", "write"]
    other = tmp_path / "not-a-program"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(BackendError, match="refusing to replace it even with --force"):
        backend.compile(graph, other, force=True)
    assert (other / "keep.txt").read_text() == "mine"


@pytest.fixture
def plugin_module(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a module
    """The plugin imported from the source tree (no install needed for a unit test of the backend itself)."""
    monkeypatch.syspath_prepend(str(PLUGIN_SRC))
    for name in [m for m in sys.modules if m == "snnc_timestep" or m.startswith("snnc_timestep.")]:
        monkeypatch.delitem(sys.modules, name)
    import snnc_timestep

    return snnc_timestep


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_example_backend_matches_the_spec_on_the_conformance_cases(plugin_module, name: str) -> None:
    case = CASES[name](0)
    graph = import_onnx(case.model)
    x = case.inputs(12, seed=1)
    backend = plugin_module.TimestepBackend()
    unsupported = [op.opname for op in graph.topological_order() if op.opname not in plugin_module.SUPPORTED_OPS]
    if unsupported:
        with pytest.raises(BackendError, match=f"the timestep backend cannot run {unsupported[0]}"):
            backend.run(graph, x)
        return
    result = backend.run(graph, x, record=True, batch_size=5)
    expected = case.reference(x)
    np.testing.assert_array_equal(result.scores, expected["scores"].reshape(result.scores.shape))
    assert sorted(result.spikes) == sorted(case.spike_values)
    for value in case.spike_values:
        np.testing.assert_array_equal(result.spikes[value], expected[value].astype(bool), err_msg=value)
        np.testing.assert_array_equal(result.spike_counts[value],
                                      expected[value].reshape(expected[value].shape[0], len(x), -1).sum(axis=(0, 2)))
