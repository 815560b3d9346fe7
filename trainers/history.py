"""The training history a user keeps beside the model (issue 17 item 4).

``snnc train ... -o model.onnx`` writes ``model.history.json`` (one record per epoch: loss, train and test
accuracy, seconds, learning rate, and whatever else the trainer measured) and ``model.history.png`` (loss,
and train/test accuracy, against the epoch). Both follow the model's overwrite rule: an existing file is
refused before any training unless ``--force`` is given (:func:`check_history_paths`), and both are written
atomically. No torch here; matplotlib is imported only to draw, through its object API and the Agg canvas,
so no global backend is switched and no display is needed.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["HISTORY_VERSION", "check_history_paths", "history_paths", "plot_history", "write_history"]

#: ``version`` of the JSON layout.
HISTORY_VERSION = 1

#: the fields every epoch record has (trainers may add more).
REQUIRED = ("epoch", "loss", "train_accuracy", "test_accuracy", "seconds", "lr")


def history_paths(model: str | Path) -> tuple[Path, Path]:
    """``(json, png)`` beside ``model``: ``run.onnx`` -> ``run.history.json``, ``run.history.png``."""
    stem = Path(model).with_suffix("")
    return stem.with_name(stem.name + ".history.json"), stem.with_name(stem.name + ".history.png")


def check_history_paths(model: str | Path, *, force: bool) -> tuple[Path, Path]:
    """Check both history files as the model's own output is checked (an existing file needs ``force``).

    Raises:
        snnc.errors.SnncError: a history file exists and ``force`` is off, or the path is not writable.
    """
    from snnc.io import check_output_path

    js, png = history_paths(model)
    return check_output_path(js, force=force), check_output_path(png, force=force)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (strict JSON has no NaN), lists recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def history_record(algorithm: str, epochs: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document: ``version``, ``algorithm``, the run's ``info`` (architecture, dataset, ...) and
    ``epochs``, one object per epoch with at least :data:`REQUIRED`."""
    rows = []
    for e in epochs:
        missing = [k for k in REQUIRED if k not in e]
        if missing:
            raise ValueError(f"epoch record lacks {missing}")
        rows.append({k: _clean(v) for k, v in e.items()})
    return {"version": HISTORY_VERSION, "algorithm": algorithm, **{k: _clean(v) for k, v in info.items()},
            "epochs": rows}


def plot_history(epochs: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """A PNG: loss against the epoch (left) and train/test accuracy in % (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    x = [e["epoch"] for e in epochs]

    def series(key: str) -> list[float]:
        return [math.nan if e[key] is None else 100 * e[key] if "accuracy" in key else e[key] for e in epochs]

    ax_loss.plot(x, series("loss"), marker="o", color="tab:red")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_acc.plot(x, series("train_accuracy"), marker="o", label="train")
    ax_acc.plot(x, series("test_accuracy"), marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    if epochs:
        ax_acc.legend(loc="lower right")
    else:
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, "no epochs trained", ha="center", va="center", transform=ax.transAxes)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if x:
            ax.set_xticks(x if len(x) <= 12 else x[:: math.ceil(len(x) / 12)])
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_history(model: str | Path, algorithm: str, epochs: Sequence[Mapping[str, Any]], info: Mapping[str, Any],
                  log: Callable[[str], Any] = print) -> tuple[Path, Path]:
    """Write ``<model>.history.json`` and ``<model>.history.png`` atomically and say so; returns their paths.
    Both or neither: if the plot cannot be written (a full disk), the JSON written just before it is removed."""
    from snnc.io import write_atomic

    js, png = history_paths(model)
    record = history_record(algorithm, epochs, info)
    title = f"{algorithm.upper()} {info.get('arch', '')} on {info.get('dataset', '')}".strip()
    plot = plot_history(record["epochs"], title)
    write_atomic(js, json.dumps(record, indent=1) + "\n")
    try:
        write_atomic(png, plot)
    except BaseException:
        js.unlink(missing_ok=True)
        raise
    log(f"wrote {js} and {png}")
    return js, png
