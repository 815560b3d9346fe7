"""``bench/stbp_ablation.py``'s learning-rate options (issue 17 item 3): the per-row search on held-out
training images, ``--row-lr``, and resuming from the JSON. Runs on the 8x8 digits (scikit-learn), tiny subsets.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("sklearn")

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


abl = _load("stbp_ablation")

TINY = ["--dataset", "digits", "--arch", "8x8-4C3-AP2-10", "--epochs", "1", "--batch-size", "32",
        "--limit", "300", "--test-limit", "120", "--search-epochs", "1", "--search-limit", "150",
        "--val-images", "100", "--t-sweep", ""]


def test_extension_steps_past_the_winning_edge_only() -> None:
    assert abl.extension([0.01, 0.03, 0.1], 0.1) == pytest.approx(0.33)
    assert abl.extension([0.1, 0.03, 0.01], 0.01) == pytest.approx(0.0033)
    assert abl.extension([0.01, 0.03, 0.1], 0.03) is None
    assert abl.extension([0.03], 0.03) is None


def test_pick_lr_prefers_accuracy_then_fewer_spikes_then_the_smaller_lr() -> None:
    runs = [{"lr": 0.1, "val_accuracy": 0.8, "val_spikes_per_inference": 50.0},
            {"lr": 0.03, "val_accuracy": 0.8, "val_spikes_per_inference": 50.0},
            {"lr": 0.01, "val_accuracy": 0.8, "val_spikes_per_inference": 60.0},
            {"lr": 0.3, "val_accuracy": 0.7, "val_spikes_per_inference": 10.0}]
    assert abl.pick_lr(runs)["lr"] == 0.03
    runs[3]["val_accuracy"] = 0.9
    assert abl.pick_lr(runs)["lr"] == 0.3


def test_pick_lr_passes_over_stalled_runs_and_the_table_says_when_all_stalled() -> None:
    """A run that stalled (every gradient 0) loses to one that trained, even with a higher validation score (a
    stalled run sits at chance, where a lucky split can rank it first); if every run stalled, the pick is
    still made (the smaller lr) and the search table says it is a chance-level one."""
    runs = [{"key": "S3", "lr": 0.1, "val_accuracy": 0.12, "val_spikes_per_inference": 5.0, "stalled_epochs": 2},
            {"key": "S3", "lr": 0.01, "val_accuracy": 0.11, "val_spikes_per_inference": 90.0, "stalled_epochs": 0}]
    assert abl.pick_lr(runs)["lr"] == 0.01
    assert "chance-level" not in abl.search_table(runs, {"S3": 0.01})
    runs[1]["stalled_epochs"] = 1
    runs[1]["val_spikes_per_inference"] = 5.0
    assert abl.pick_lr(runs)["lr"] == 0.1  # the higher score among the stalled
    assert "| 0.1 (every lr stalled: a chance-level pick) |" in abl.search_table(runs, {"S3": 0.1})


def test_unknown_rows_are_refused_before_any_training(capsys: pytest.CaptureFixture[str]) -> None:
    assert abl.main([*TINY, "--rows", "S5"]) == 2
    assert abl.main([*TINY, "--rows", "baseline", "--best", "S1,S7"]) == 2
    assert "S7" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["S3", "S9=0.1", "S3=abc", "S3=-1", "S3=inf"])
def test_row_lr_rejects_bad_items(text: str) -> None:
    with pytest.raises(ValueError, match="row-lr|could not convert"):
        abl.parse_row_lr(text)
    assert abl.main([*TINY, "--rows", "S3", "--row-lr", text]) == 2


def test_the_validation_images_must_fit_beside_the_training_subset(capsys: pytest.CaptureFixture[str]) -> None:
    # digits has 1,347 training images: 1,300 + 100 would overlap
    assert abl.main([*TINY, "--limit", "1300", "--rows", "baseline", "--lr-grid", "0.1,0.3"]) == 2
    assert "--val-images" in capsys.readouterr().err


def test_search_picks_each_rows_lr_trains_at_it_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "abl.json"
    args = [*TINY, "--rows", "baseline,S4a", "--lr-grid", "0.1,0.3", "--row-lr", "S4a=0.05", "--json", str(out),
            "--t-sweep", "4", "--best", "baseline,S1+2+4a"]
    assert abl.main(args) == 0
    records = json.loads(out.read_text())
    search = [r for r in records if r["phase"] == "lr-search"]
    rows = {r["key"]: r for r in records if r["phase"] == "row" and r["time_steps"] == 8}
    swept = {r["key"]: r for r in records if r["phase"] == "row" and r["time_steps"] == 4}
    # S4a has its lr given: no search for it; the baseline tried the grid, plus one step when an edge won
    assert {r["key"] for r in search} == {"baseline"}
    tried = sorted(r["lr"] for r in search)
    best = abl.pick_lr(search)["lr"]
    extra = abl.extension([0.1, 0.3], abl.pick_lr([r for r in search if r["lr"] in (0.1, 0.3)])["lr"])
    assert tried == sorted([0.1, 0.3] + ([extra] if extra is not None else []))
    assert all(r["train_images"] == 150 and r["val_images"] == 100 and r["epochs"] == 1 for r in search)
    assert rows["baseline"]["lr"] == best and rows["S4a"]["lr"] == 0.05
    # the T sweep runs every --best row at its own lr (a row outside --rows: the trainer's default lr)
    assert set(swept) == {"baseline", "S1+2+4a"} and set(rows) == {"baseline", "S4a"}
    assert swept["baseline"]["lr"] == best and swept["S1+2+4a"]["lr"] == 0.03
    assert swept["S1+2+4a"]["schemes"] == "reset=subtract theta=trainable(0.5) h=rect(a=1) decoder=last"
    assert rows["baseline"]["train_images"] == 300 and rows["baseline"]["test_images"] == 120

    # the recorded row is what training at that lr gives (the lr reaches the trainer, not only the record)
    parsed = abl.parse_args(args)
    arch = abl.parse_stbp_arch(parsed.arch)
    data = abl.load_splits("digits", None, arch.input_shape, train_limit=300, test_limit=120)
    again = abl.run_row(parsed, data, "baseline", abl.ROWS["baseline"][0], abl.ROWS["baseline"][1], 8, lr=best)
    assert again["accuracy"] == rows["baseline"]["accuracy"]
    assert again["spikes_per_inference"] == rows["baseline"]["spikes_per_inference"]

    # a second run finds everything in the JSON and trains nothing
    before = out.read_text()
    assert abl.main(args) == 0
    assert out.read_text() == before
