"""A neuron added without touching snnc: the example package ``tests/neuron_plugin_pkg`` (op
``example.leaky_if``, a leaky IF with a shift leak and reset to zero) is pip-installed into this environment
and found through its ``snnc.ops`` entry point by a fresh interpreter, which parses a model using it from IR
text, runs it on the reference executor in float and integer mode (checked against the equations written out
again) and compiles and simulates it on YOSO, bit-exact with the integer reference
(``tests/neuron_plugin_checks.py``). After ``pip uninstall`` the op is unknown again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from snnc.tests.test_plugin_install import _install, pip

REPO = Path(__file__).resolve().parent.parent
PLUGIN_SRC = REPO / "tests" / "neuron_plugin_pkg"
DIST = "snnc-neuron-example"


def _checks(workdir: Path) -> dict[str, dict]:
    """Run the stages in a fresh interpreter (which reads the installed entry points anew)."""
    result = subprocess.run([sys.executable, "-m", "snnc.tests.neuron_plugin_checks", str(workdir)],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    stages = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            stages[record["stage"]] = record
    assert stages, f"the checks printed nothing:\n{result.stdout}\n{result.stderr}"
    return stages


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict]]:
    """The plugin pip-installed (from a copy, so no build files land in the repo), the checks run once, and the
    plugin uninstalled again."""
    tmp = tmp_path_factory.mktemp("neuron_plugin")
    src = tmp / "pkg"
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _install(src)
    try:
        yield _checks(tmp)
    finally:
        pip("uninstall", "-y", DIST)


def _ok(stages: dict[str, dict], name: str) -> dict:
    record = stages[name]
    assert record["ok"], f"stage {name} failed: {record['error']}\n{record.get('traceback', '')}"
    return record


def test_the_plugin_op_parses_from_ir_text(stages: dict[str, dict]) -> None:
    assert _ok(stages, "parse")["ops"].count("example.leaky_if") == 2


def test_the_plugin_op_runs_on_the_reference_executor_in_float(stages: dict[str, dict]) -> None:
    spikes = _ok(stages, "float")["spikes"]
    assert spikes["h"] > 0 and spikes["o"] > 0


def test_the_plugin_op_runs_on_the_reference_executor_in_integer_mode(stages: dict[str, dict]) -> None:
    _ok(stages, "integer")


def test_the_plugin_op_simulates_on_yoso_bit_exact_with_the_integer_reference(stages: dict[str, dict]) -> None:
    _ok(stages, "yoso")


def test_after_uninstall_the_op_is_unknown_again(stages: dict[str, dict]) -> None:
    pip("uninstall", "-y", DIST)  # the fixture's uninstall then finds nothing: fine
    code = ("from snnc.ir import lookup_op, neuron_ops; "
            "assert lookup_op('example.leaky_if') is None and 'example.leaky_if' not in neuron_ops()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
