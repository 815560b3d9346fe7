"""Training history beside the model (issue 17 item 4): ``<model>.history.json`` and ``<model>.history.png``,
written by ``snnc train stdbp`` and ``snnc train stbp`` on tiny synthetic runs, and protected like the model."""

from __future__ import annotations

import argparse
import json
import math
import re

import pytest

torch = pytest.importorskip("torch")

from snnc.cli.train import add_stbp_arguments, add_stdbp_arguments  # noqa: E402
from snnc.errors import SnncError  # noqa: E402
from snnc.trainers.history import check_history_paths, history_paths, plot_history, write_history  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def epochs(n: int) -> list[dict]:
    return [{"epoch": e, "loss": 2.0 / e, "train_accuracy": 0.5 + e / 100, "test_accuracy": 0.4 + e / 100,
             "seconds": 1.5, "lr": 0.1 / e, "dead_fraction": 0.0} for e in range(1, n + 1)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_paths_sit_beside_the_model(tmp_path) -> None:  # noqa: ANN001
    assert history_paths(tmp_path / "run.onnx") == (tmp_path / "run.history.json", tmp_path / "run.history.png")
    assert history_paths("a/b.c.onnx")[0].as_posix() == "a/b.c.history.json"


def test_write_history_json_and_plot(tmp_path) -> None:  # noqa: ANN001
    rows = epochs(3)
    rows[1]["test_accuracy"] = float("nan")  # an empty test set: strict JSON has no NaN
    lines: list[str] = []
    js, png = write_history(tmp_path / "m.onnx", "stdbp", rows, {"arch": "64-10", "dataset": "digits"}, lines.append)
    record = json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert record["version"] == 1 and record["algorithm"] == "stdbp" and record["arch"] == "64-10"
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    assert record["epochs"][1]["test_accuracy"] is None
    assert record["epochs"][2]["loss"] == pytest.approx(2 / 3) and record["epochs"][0]["dead_fraction"] == 0.0
    w, h = png_size(png.read_bytes())
    assert (w, h) == (900, 360)
    assert "wrote" in lines[0] and str(js) in lines[0]


def test_plot_draws_the_values(tmp_path) -> None:  # noqa: ANN001
    """Different histories give different pictures; an empty one still gives a picture."""
    other = epochs(4)
    other[2]["test_accuracy"] = 0.9
    a, b = plot_history(epochs(4), "a"), plot_history(other, "a")
    assert a != b and a == plot_history(epochs(4), "a") and png_size(plot_history([], "none")) == (900, 360)


def test_missing_fields_are_refused(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="lacks"):
        write_history(tmp_path / "m.onnx", "stdbp", [{"epoch": 1, "loss": 1.0}], {}, print)


def test_existing_history_needs_force(tmp_path) -> None:  # noqa: ANN001
    model = tmp_path / "m.onnx"
    check_history_paths(model, force=False)
    history_paths(model)[1].write_bytes(b"old plot")
    with pytest.raises(SnncError, match="already exists"):
        check_history_paths(model, force=False)
    check_history_paths(model, force=True)


def parse(add, *argv: str) -> argparse.Namespace:  # noqa: ANN001
    p = argparse.ArgumentParser()
    add(p)
    return p.parse_args(list(argv))


@pytest.mark.parametrize(("algorithm", "add", "extra"), [
    ("stdbp", add_stdbp_arguments, ["--time-steps", "16"]),
    ("stbp", add_stbp_arguments, ["--time-steps", "4", "--lr", "0.1"]),
])
def test_cli_runs_write_history_beside_the_model(tmp_path, capsys, algorithm, add, extra) -> None:  # noqa: ANN001
    import importlib

    run = importlib.import_module(f"snnc.trainers.{algorithm}").run
    out = tmp_path / f"{algorithm}.onnx"
    argv = ["--dataset", "digits", "--arch", "64-16-10", "--epochs", "2", "--batch-size", "32", "--train-limit",
            "200", "--test-limit", "60", "--no-progress", "--no-reference-eval", *extra, "-o", str(out)]
    assert run(parse(add, *argv)) == 0
    text = capsys.readouterr().out
    js, png = history_paths(out)
    record = json.loads(js.read_text())
    assert record["algorithm"] == algorithm and record["model"] == out.name and record["arch"] == "64-16-10"
    rows = record["epochs"]
    assert [r["epoch"] for r in rows] == [1, 2]
    printed = [float(v) for v in re.findall(r"loss (\d+\.\d+)", text)]
    assert printed == [round(r["loss"], 4) for r in rows]  # the JSON holds what the epoch lines reported
    for r in rows:
        assert r["seconds"] > 0 and r["lr"] >= 0 and 0 <= r["train_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1
        assert math.isfinite(r["loss"])
    assert rows[0]["lr"] > 0
    png_size(png.read_bytes())
    # the history is protected like the model: without --force an old history file stops the run before training
    out.unlink()
    with pytest.raises(SnncError, match="already exists"):
        run(parse(add, *argv))
    assert "epoch" not in capsys.readouterr().out
    assert run(parse(add, *argv, "--force")) == 0
