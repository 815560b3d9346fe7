"""Ctrl-C keeps what is done (issue 18 item 3): ``snnc simulate`` interrupted after some images prints their
report, writes ``--json`` marked partial, and exits 130 without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnc.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from snnc.api import compile as compile_model

    out = tmp_path_factory.mktemp("intr") / "digits"
    compile_model(ROOT / "models" / "stdbp-digits.onnx", out)
    return out


def _ctrl_c_on_call(monkeypatch: pytest.MonkeyPatch, module: object, name: str, n: int) -> None:
    """Replace ``module.name`` by a wrapper that raises KeyboardInterrupt (Ctrl-C) on its ``n``-th call."""
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(module, name, wrapper)


def test_ctrl_c_in_simulate_keeps_the_finished_images(deployment: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from snnc.backends.yoso.drivers import simulate

    _ctrl_c_on_call(monkeypatch, simulate, "_simulate_chunk", 3)
    out = tmp_path / "sim.json"
    code = main(["simulate", str(deployment), "--dataset", "digits", "--limit", "40", "--show", "0",
                 "--no-progress", "--json", str(out)])
    assert code == 130
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err and "interrupted: 20 of 40 images finished" in printed.err
    assert "images      20" in printed.out
    record = json.loads(out.read_text())
    assert record["run"]["partial"] is True and record["run"]["images"] == 20 and len(record["images"]) == 20
    assert [r["index"] for r in record["images"]] == list(range(20))


def test_ctrl_c_in_training_keeps_the_finished_epochs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    from snnc.trainers import stbp

    _ctrl_c_on_call(monkeypatch, stbp, "loss_fn", 60)  # 43 batches an epoch on the digits training split
    out = tmp_path / "m.onnx"
    code = main(["train", "stbp", "--dataset", "digits", "--arch", "64-20-10", "--epochs", "5", "--batch-size", "32",
                 "--no-progress",
                 "--no-reference-eval", "--checkpoint", str(tmp_path / "ck.pt"), "-o", str(out)])
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted: keeping the model of epoch 1 of 5" in err and f"--resume {tmp_path / 'ck.pt'}" in err
    assert "Traceback" not in err
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert meta["snn.partial"] == "interrupted (Ctrl-C) after epoch 1 of 5" and meta["snn.epochs"] == "1"
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert len(history["epochs"]) == 1


def test_ctrl_c_in_a_sweep_keeps_the_finished_points(deployment: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from snnc.backends.yoso.drivers import sweep

    _ctrl_c_on_call(monkeypatch, sweep, "evaluate_point", 3)
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\nmesh = ["2x2", "3x3", "6x7", "7x7"]\n', encoding="utf-8")
    out = tmp_path / "sweep"
    code = main(["sweep", str(deployment), "--hw-grid", str(grid), "--dataset", "digits", "--limit", "4",
                 "--scheduler", "serial", "--no-progress", "-o", str(out)])
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted: 2 of 4 points finished" in err and "Traceback" not in err
    lines = (out / "sweep.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # the header and the two finished points
    assert (out / "pareto.png").is_file()
