"""``bench/onnxruntime_accuracy.py``: a paper figure as onnxruntime computes it, beside the reference executor's.
Runs the shipped digits model on the 8x8 digits (scikit-learn)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent


def _bench():  # noqa: ANN202 - a module loaded from a path
    path = ROOT / "bench" / "onnxruntime_accuracy.py"
    spec = importlib.util.spec_from_file_location("_bench_onnxruntime_accuracy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_both_runners_give_the_trainers_figure_and_the_json_is_never_overwritten(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from snnc.datasets import load_dataset

    bench = _bench()
    out = tmp_path / "r.json"
    assert bench.main([str(ROOT / "models" / "stdbp-digits.onnx"), "--dataset", "digits", "--limit", "120",
                       "--batch-size", "50", "--threads", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    test = load_dataset("digits", split="test", limit=120)
    expected = float((snnc_predictions(test.x) == test.y).mean())
    assert r["images"] == 120
    assert r["onnxruntime_accuracy"] == r["reference_accuracy"] == expected
    assert r["predictions_equal"] == r["scores_bit_identical"] == 120
    assert "predictions equal on 120 / 120" in capsys.readouterr().out
    before = out.read_bytes()
    assert bench.main([str(ROOT / "models" / "stdbp-digits.onnx"), "--dataset", "digits", "--limit", "10",
                       "--json", str(out)]) == 2
    assert out.read_bytes() == before
    assert "--json" in capsys.readouterr().err


def snnc_predictions(x):  # noqa: ANN001, ANN201
    import snnc

    return snnc.run(str(ROOT / "models" / "stdbp-digits.onnx"), x).predictions
