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


def test_ctrl_c_in_simulate_keeps_the_finished_images(deployment: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from snnc.backends.yoso.drivers import simulate

    real = simulate._simulate_chunk
    calls = {"n": 0}

    def interrupted_on_the_third(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(simulate, "_simulate_chunk", interrupted_on_the_third)
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
