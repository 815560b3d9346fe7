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


def test_bad_inputs_keep_never_deletes_a_folder_it_did_not_build(tmp_path: Path) -> None:
    """``bench/bad_inputs.py --keep DIR`` rebuilds DIR from scratch: a folder of the user's stays as it was."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    r = _run("bad_inputs.py", "--keep", str(mine), cwd=tmp_path)
    assert r.returncode != 0 and "refusing to delete" in r.stderr and str(mine) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    link = tmp_path / "link"
    link.symlink_to(mine)
    r = _run("bad_inputs.py", "--keep", str(link), cwd=tmp_path)
    assert r.returncode != 0 and "not a file or a link" in r.stderr, r.stderr
    assert (mine / "thesis.tex").read_text() == "years of work\n"


def test_bad_inputs_keep_accepts_a_new_an_empty_or_its_own_folder(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_bad_inputs", ROOT / "bench" / "bad_inputs.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # (its dataclasses look their module up)
    spec.loader.exec_module(bench)
    bench.check_keep_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    bench.check_keep_folder(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "case.onnx").write_bytes(b"x")
    with pytest.raises(SystemExit):
        bench.check_keep_folder(earlier)
    (earlier / bench.KEEP_MARK).write_text("built by bench/bad_inputs.py\n")
    bench.check_keep_folder(earlier)


def test_yoso_headline_out_replaces_a_deployment_only_with_force(tmp_path: Path) -> None:
    from snnc import load_model
    from snnc.backends.yoso import compile_yoso

    dep = tmp_path / "dep"
    compile_yoso(load_model(MODEL), dep)
    before = sorted(p.name for p in dep.iterdir())
    r = _run("yoso_headline.py", "--out", str(dep), cwd=tmp_path)
    assert r.returncode != 0 and "--force" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in dep.iterdir()) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    r = _run("yoso_headline.py", "--out", str(mine), "--force", cwd=tmp_path)
    assert r.returncode != 0 and "not a snnc deployment" in r.stderr, r.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_train_leaky_never_writes_a_model_over_one_without_force(tmp_path: Path) -> None:
    shipped = tmp_path / "stbp-fashion-lif-li.onnx"
    shipped.write_bytes(b"the shipped model")
    r = _run("train_leaky.py", "--rows", "lif-li-max", "--models", str(tmp_path), "--dataset", "digits",
             "--arch", "64-10", cwd=tmp_path)
    assert r.returncode != 0 and "exists" in r.stderr and "--force" in r.stderr and "Traceback" not in r.stderr, \
        r.stderr
    assert shipped.read_bytes() == b"the shipped model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stbp-fashion-lif-li.onnx"]  # no runs/ folder either
