"""Every benchmark's ``--json`` goes through snnc.io's safe-write path: checked before any work (never over an
existing file, an input or through a symlink) and written atomically. Each script is run as a user runs it;
the refusal must come at once, before the benchmark's work, and leave the file as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "stdbp-digits.onnx"

#: script -> the arguments it needs besides --json (none of these runs starts its work before the check)
SCRIPTS = {
    "quantization_accuracy.py": ["--model", str(MODEL), "--dataset", "digits"],
    "bad_inputs.py": [],
    "sim_vs_sanafe.py": [],
    "trainer_startup.py": ["--rounds", "1"],
    "yoso_headline.py": [],
    "fuzz_campaign.py": ["--budget", "1"],
    "onnxruntime_accuracy.py": [str(MODEL), "--dataset", "digits"],
}


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_json_is_never_written_over_an_existing_file(script: str, tmp_path: Path) -> None:
    victim = tmp_path / "results.json"
    victim.write_text("the user's results\n")
    r = _run(script, *SCRIPTS[script], "--json", str(victim), cwd=tmp_path)
    assert r.returncode != 0
    assert "exists" in r.stderr and str(victim) in r.stderr and "--json" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert victim.read_text() == "the user's results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no partial or temporary file


def test_json_is_not_written_through_a_symlink_or_over_the_model(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    r = _run("quantization_accuracy.py", *SCRIPTS["quantization_accuracy.py"], "--json", str(link), cwd=tmp_path)
    assert r.returncode != 0 and "symbolic link" in r.stderr, r.stderr
    assert not target.exists()
    model = tmp_path / "m.onnx"
    model.write_bytes(MODEL.read_bytes())
    r = _run("quantization_accuracy.py", "--model", str(model), "--dataset", "digits", "--json", str(model),
             cwd=tmp_path)
    assert r.returncode != 0 and str(model) in r.stderr, r.stderr
    assert model.read_bytes() == MODEL.read_bytes()
