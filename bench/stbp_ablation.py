"""The improved STBP paper's ablation (its Table II) and time-step sweep (Table III), on Fashion-MNIST.

Trains one network per row, each from the same seed, with ``snnc.trainers.stbp.train``; exports it to ONNX
and measures the exported model with snnc's reference executor: test accuracy and spikes per inference (all
IF neurons, hidden and output; the rate encoder's spikes, the same for every row, are listed apart).

Rows (T = --time-steps, default 8): the baseline (reset to zero, fixed Vth, rectangular surrogate of eq. 3,
rate decoding), each scheme alone, then the schemes accumulated (1, 1+2, 1+2+3, 1+2+3+4 with either
decoder). Then the best row by accuracy is retrained at each T of --t-sweep (default 4, 8, 16).

Learning rates: one --lr for every row, per-row ones (--row-lr S3=0.01,S4a=0.003), or a search per row
(--lr-grid 0.01,0.03,0.1): each row is trained briefly (--search-epochs on the first --search-limit training
images) at each lr of the grid and validated on --val-images training images held out from every run (the last
ones of the training split, never the test set); when the best lr lies at an edge of the grid, the grid is
extended one step past that edge (the same ratio), once. The row's full run then uses its best lr, and so
does the T sweep.

Results are appended to --json after every run (a JSON list of records; search runs have "phase":
"lr-search"), and runs already present there are skipped, so an interrupted run continues where it stopped.
The Markdown tables are printed at the end.

Usage:
    python bench/stbp_ablation.py --epochs 20 --json results/stbp_ablation.json
    python bench/stbp_ablation.py --epochs 1 --limit 2000 --test-limit 1000       # a quick look
    python bench/stbp_ablation.py --estimate --epochs 20                          # time estimate only
    python bench/stbp_ablation.py --arch 28x28-8C5-AP2-16C5-AP2-64FC-10 --epochs 4 --limit 20000 \
        --lr-grid 0.01,0.03,0.1 --json bench/results/stbp_ablation_cnn.json      # per-row lr search
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from snnc.io import write_atomic
from snnc.trainers.common import Splits, load_splits
from snnc.trainers.export_stbp import build_onnx, evaluate_exported
from snnc.trainers.stbp import StbpConfig, train
from snnc.trainers.stbp_model import Schemes, parse_stbp_arch

BASE = Schemes.baseline()
#: name -> (schemes on, Schemes). Scheme 4 has two variants: a = last step, b = spatio-temporal decoder.
ROWS: dict[str, tuple[str, Schemes]] = {
    "baseline": ("-", BASE),
    "S1": ("1 reset by subtraction", replace(BASE, reset="subtract")),
    "S2": ("2 trainable threshold", replace(BASE, trainable_threshold=True)),
    "S3": ("3 surrogate eq. 14", replace(BASE, surrogate="threshold")),
    "S4a": ("4a last-step decoding", replace(BASE, decoder="last")),
    "S4b": ("4b spatio-temporal decoder", replace(BASE, decoder="st")),
    "S1+2": ("1+2", replace(BASE, reset="subtract", trainable_threshold=True)),
    "S1+2+3": ("1+2+3", Schemes(decoder="rate")),
    "S1+2+3+4a": ("1+2+3+4a", Schemes(decoder="last")),
    "S1+2+3+4b": ("1+2+3+4b (full)", Schemes(decoder="st")),
}
#: The rows above run by default; these are the paper's Table II rows that the list above lacks (run them by
#: name with --rows). S1+2+4a/b against S1+2+3+4a/b isolate eq. 14 under each of the paper's decoders.
DEFAULT_ROWS = tuple(ROWS)
ROWS.update({
    "S1+4a": ("1+4a", replace(BASE, reset="subtract", decoder="last")),
    "S1+4b": ("1+4b", replace(BASE, reset="subtract", decoder="st")),
    "S1+2+4a": ("1+2+4a", Schemes(surrogate="rect", decoder="last")),
    "S1+2+4b": ("1+2+4b", Schemes(surrogate="rect", decoder="st")),
})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist", help="dataset (default: fashion-mnist)")
    p.add_argument("--arch", default="784-400-10", help="network (default: 784-400-10)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per row (default: 20)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    p.add_argument("--time-steps", "-T", type=int, default=8, help="T of the ablation rows (default: 8)")
    p.add_argument("--t-sweep", default="4,8,16", help="T values for the best row (default: 4,8,16; '' skips)")
    extra = ",".join(k for k in ROWS if k not in DEFAULT_ROWS)
    p.add_argument("--rows", default=",".join(DEFAULT_ROWS),
                   help=f"rows to run (default: {','.join(DEFAULT_ROWS)}; the paper's other rows: {extra})")
    p.add_argument("--best", default=None,
                   help="row(s) for the T sweep, comma-separated (default: the most accurate row)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the trainer's)")
    p.add_argument("--row-lr", default="", help="per-row learning rates, e.g. S3=0.01,S4a=0.003 (win over --lr)")
    p.add_argument("--lr-grid", default="", help="search each row's lr over these values, e.g. 0.01,0.03,0.1")
    p.add_argument("--search-epochs", type=int, default=2, help="epochs of a search run (default: 2)")
    p.add_argument("--search-limit", type=int, default=5000,
                   help="training images of a search run (default: the first 5000)")
    p.add_argument("--val-images", type=int, default=3000,
                   help="held-out training images (the split's last ones) that rank a search's lrs (default: 3000)")
    p.add_argument("--init-gain", type=float, default=None, help="weight init gain (default: the trainer's)")
    p.add_argument("--wake-below", type=float, default=None,
                   help="wake layers firing in fewer than this fraction of (image, neuron) pairs (default: the "
                   "trainer's, 0.001)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default: 1; on a shared machine more threads are much slower)")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX folder (default: the Debian package's)")
    p.add_argument("--json", default=None, help="append every result to this JSON file; skip rows it has")
    p.add_argument("--estimate", action="store_true",
                   help="only time one epoch of two rows on --estimate-images images and extrapolate")
    p.add_argument("--estimate-images", type=int, default=2000)
    return p.parse_args(argv)


def config(args: argparse.Namespace, schemes: Schemes, time_steps: int, epochs: int | None = None,
           lr: float | None = None) -> StbpConfig:
    lr = args.lr if lr is None else lr
    extra = {k: v for k, v in (("lr", lr), ("init_gain", args.init_gain), ("wake_below", args.wake_below))
             if v is not None}
    return StbpConfig(dataset=args.dataset, data_dir=args.data_dir, arch=args.arch,
                      epochs=args.epochs if epochs is None else epochs, batch_size=args.batch_size,
                      seed=args.seed, time_steps=time_steps, schemes=schemes, **extra)


def run_row(args: argparse.Namespace, data: Splits, key: str, name: str, schemes: Schemes, T: int,
            lr: float | None = None) -> dict:
    cfg = config(args, schemes, T, lr=lr)
    t0 = time.perf_counter()
    lines: list[str] = []
    result = train(cfg, data=data, log=lambda line: (lines.append(line), print(f"  [{key}] {line}", flush=True)))
    train_s = time.perf_counter() - t0
    stalled = sum("every synapse gradient was exactly zero" in line for line in lines)
    t0 = time.perf_counter()
    ev = evaluate_exported(build_onnx(result.net), data.x_test, data.y_test)
    return {
        "phase": "row", "key": key, "row": name, "time_steps": T, "schemes": schemes.label(), "arch": args.arch,
        "epochs": cfg.epochs, "lr": cfg.lr, "init_gain": cfg.init_gain, "wake_below": cfg.wake_below,
        "seed": cfg.seed, "train_images": len(data.y_train), "test_images": len(data.y_test),
        "accuracy": ev.accuracy, "spikes_per_inference": ev.spikes_per_inference,
        "encoder_spikes_per_inference": ev.encoder_spikes, "layer_spikes": ev.layer_spikes,
        "torch_test_accuracy": result.history[-1].test_accuracy if result.history else None,
        "train_seconds": round(train_s, 1), "eval_seconds": round(time.perf_counter() - t0, 1),
        "stalled_epochs": stalled,
    }


def search_run(args: argparse.Namespace, data: Splits, key: str, schemes: Schemes, lr: float) -> dict:
    """Train one row briefly at ``lr``; its score is the torch accuracy on the held-out images in ``data``'s
    test arrays (the validation images, not the test set)."""
    cfg = config(args, schemes, args.time_steps, epochs=args.search_epochs, lr=lr)
    t0 = time.perf_counter()
    lines: list[str] = []
    result = train(cfg, data=data, log=lambda line: (lines.append(line),
                                                      print(f"  [{key} lr {lr:g}] {line}", flush=True)))
    last = result.history[-1]
    return {
        "phase": "lr-search", "key": key, "row": ROWS[key][0], "time_steps": args.time_steps, "arch": args.arch,
        "epochs": cfg.epochs, "lr": lr, "init_gain": cfg.init_gain, "wake_below": cfg.wake_below,
        "seed": cfg.seed, "train_images": len(data.y_train), "val_images": len(data.y_test),
        "val_accuracy": last.test_accuracy, "val_spikes_per_inference": last.test_spikes,
        "stalled_epochs": sum("every synapse gradient was exactly zero" in line for line in lines),
        "train_seconds": round(time.perf_counter() - t0, 1),
    }


def parse_row_lr(text: str) -> dict[str, float]:
    """``"S3=0.01,S4a=0.003"`` -> ``{"S3": 0.01, "S4a": 0.003}``; raise ValueError on a bad item or row."""
    out: dict[str, float] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in ROWS:
            raise ValueError(f"--row-lr item {item!r}: expected ROW=LR with ROW one of {', '.join(ROWS)}")
        lr = float(value)
        if not (lr > 0 and lr < float("inf")):
            raise ValueError(f"--row-lr item {item!r}: the lr must be a positive number")
        out[key.strip()] = lr
    return out


def pick_lr(runs: list[dict]) -> dict:
    """The search run with the best validation accuracy among those that did not stall (an epoch with every
    gradient exactly 0), or among all when every one stalled; ties: fewer spikes, then the smaller lr."""
    return max(runs, key=lambda r: (not r.get("stalled_epochs"), r["val_accuracy"], -r["val_spikes_per_inference"],
                                    -r["lr"]))


def extension(grid: list[float], best: float) -> float | None:
    """One step past the grid's edge when ``best`` lies on it (the ratio of the two edge values, rounded to two
    significant digits: 0.01, 0.03 -> 0.0033), else None."""
    g = sorted(grid)
    if len(g) < 2:
        return None
    if best == g[0]:
        return float(f"{g[0] * g[0] / g[1]:.2g}")
    if best == g[-1]:
        return float(f"{g[-1] * g[-1] / g[-2]:.2g}")
    return None


def search_table(runs: list[dict], best: dict[str, float]) -> str:
    """Validation accuracy (and spikes) of every search run: a row per ablation row, a column per lr."""
    lrs = sorted({r["lr"] for r in runs})
    lines = ["### Learning-rate search (validation accuracy, held-out training images)", "",
             "| row | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | best lr |",
             "|---|" + "---|" * len(lrs) + "---|"]
    for key in dict.fromkeys(r["key"] for r in runs):
        cells = []
        for lr in lrs:
            r = next((r for r in runs if r["key"] == key and r["lr"] == lr), None)
            if r is None:
                cells.append("")
            else:
                mark = "**" if best.get(key) == lr else ""
                dead = " (stalled)" if r.get("stalled_epochs") else ""
                cells.append(f"{mark}{100 * r['val_accuracy']:.2f} %{mark}{dead}")
        mine = [r for r in runs if r["key"] == key]
        collapsed = " (every lr stalled: a chance-level pick)" if all(r.get("stalled_epochs") for r in mine) else ""
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {best.get(key, float('nan')):g}{collapsed} |")
    return "\n".join(lines)


def table(records: list[dict], title: str) -> str:
    lines = [f"### {title}", "",
             "| row | schemes | T | lr | accuracy | spikes / inference | encoder spikes | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['key']} | {r['row']} | {r['time_steps']} | {r['lr']:g} | {100 * r['accuracy']:.2f} % | "
                     f"{r['spikes_per_inference']:.0f} | {r['encoder_spikes_per_inference']:.0f} | "
                     f"{r['train_seconds']:.0f} |")
    return "\n".join(lines)


def estimate(args: argparse.Namespace, rows: list[str], sweep: list[int]) -> None:
    """Time one epoch of the baseline and the full method on a slice; extrapolate to the whole plan."""
    n = args.estimate_images
    arch = parse_stbp_arch(args.arch)
    data = load_splits(args.dataset, args.data_dir, arch.input_shape, train_limit=n, test_limit=n // 4)
    full = load_splits(args.dataset, args.data_dir, arch.input_shape)
    warm = load_splits(args.dataset, args.data_dir, arch.input_shape, train_limit=200, test_limit=50)
    train(config(args, ROWS["baseline"][1], args.time_steps, epochs=1), data=warm, log=lambda *_: None)
    per_image = []
    for key in ("baseline", "S1+2+3+4b"):
        cfg = config(args, ROWS[key][1], args.time_steps, epochs=1)
        t0 = time.perf_counter()
        train(cfg, data=data, log=lambda *_: None)
        per_image.append((time.perf_counter() - t0) / (n + n // 4))  # train + torch test evaluation
    t_img = max(per_image)
    n_train = min(args.limit or len(full.y_train), len(full.y_train))
    n_test = min(args.test_limit or len(full.y_test), len(full.y_test))
    epoch_s = t_img * (n_train + n_test / 3)  # an evaluation image costs about a third of a training image
    total_T = len(rows) * args.time_steps + sum(t for t in sweep if t != args.time_steps)
    total_s = epoch_s * args.epochs * total_T / args.time_steps
    print(f"per-image time (train+eval, T={args.time_steps}, {args.threads} thread(s)): "
          f"{1e3 * per_image[0]:.2f} ms baseline, {1e3 * per_image[1]:.2f} ms full method")
    print(f"one epoch on {n_train} training images at T={args.time_steps}: ~{epoch_s / 60:.1f} min")
    print(f"plan: {len(rows)} rows at T={args.time_steps} + T sweep {sweep}, {args.epochs} epochs each: "
          f"~{total_s / 3600:.1f} h (time grows linearly with T; exported-model evaluation adds a few minutes)")


def subset(data: Splits, train: slice, test: tuple[np.ndarray, np.ndarray] | None = None) -> Splits:
    """``data`` with the training images ``train`` and (optionally) other images as its test arrays."""
    x_test, y_test = (data.x_test, data.y_test) if test is None else test
    return Splits(data.name, data.x_train[train], data.y_train[train], x_test, y_test, data.num_classes,
                  data.image_shape)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    sweep_rows = [b.strip() for b in (args.best or "").split(",") if b.strip()]
    unknown = [r for r in rows + sweep_rows if r not in ROWS]
    if unknown:
        print(f"unknown rows {unknown}; choose from {list(ROWS)}", file=sys.stderr)
        return 2
    try:
        sweep = [int(t) for t in args.t_sweep.split(",") if t.strip()]
        row_lr = parse_row_lr(args.row_lr)
        grid = sorted({float(v) for v in args.lr_grid.split(",") if v.strip()})
    except ValueError as exc:
        print(f"bad option: {exc}", file=sys.stderr)
        return 2
    if any(not (lr > 0 and lr < float("inf")) for lr in grid):
        print("--lr-grid: every lr must be a positive number", file=sys.stderr)
        return 2
    if args.estimate:
        estimate(args, rows, sweep)
        return 0
    print(f"STBP ablation on {args.dataset}: {args.arch}, T={args.time_steps}, {args.epochs} epochs, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}", flush=True)
    arch = parse_stbp_arch(args.arch)
    everything = load_splits(args.dataset, args.data_dir, arch.input_shape, test_limit=args.test_limit)
    n_all = len(everything.y_train)
    n_train = min(args.limit or n_all, n_all)
    if grid:
        n_val = args.val_images
        if n_val <= 0 or n_train + n_val > n_all or args.search_limit <= 0:
            print(f"--lr-grid needs --val-images held out of the {n_all} training images: --limit ({n_train}) + "
                  f"--val-images ({n_val}) must be at most {n_all}, and --search-limit positive", file=sys.stderr)
            return 2
        validation = (everything.x_train[n_all - n_val:], everything.y_train[n_all - n_val:])
        search_data = subset(everything, slice(0, min(args.search_limit, n_train)), validation)
    data = subset(everything, slice(0, n_train))
    path = Path(args.json) if args.json else None
    records: list[dict] = json.loads(path.read_text()) if path and path.exists() else []

    base_cfg = config(args, BASE, args.time_steps)

    def same_setup(r: dict) -> bool:
        """A record made with this run's initialisation (records written before wake_below default to 0.001)."""
        return (r.get("wake_below", 0.001) == base_cfg.wake_below and r["init_gain"] == base_cfg.init_gain
                and r["seed"] == base_cfg.seed)

    def save(rec: dict) -> dict:
        records.append(rec)
        if path:  # whole or not at all: a run killed mid-write keeps the records so far
            write_atomic(path, json.dumps(records, indent=1))
        return rec

    def searched(key: str, lr: float) -> dict:
        rec = next((r for r in records if r.get("phase") == "lr-search" and r["key"] == key and r["lr"] == lr
                    and r["epochs"] == args.search_epochs and r["arch"] == args.arch
                    and r["time_steps"] == args.time_steps and r["train_images"] == len(search_data.y_train)
                    and r["val_images"] == len(search_data.y_test) and same_setup(r)), None)
        if rec is None:
            print(f"lr search: row {key} ({ROWS[key][0]}), lr {lr:g}", flush=True)
            rec = save(search_run(args, search_data, key, ROWS[key][1], lr))
            print(f"  -> validation accuracy {100 * rec['val_accuracy']:.2f} %", flush=True)
        return rec

    search_runs: list[dict] = []
    for key in rows:
        if not grid or key in row_lr:
            continue
        runs = [searched(key, lr) for lr in grid]
        more = extension(grid, pick_lr(runs)["lr"])
        if more is not None:
            runs.append(searched(key, more))
        search_runs += runs
        row_lr[key] = pick_lr(runs)["lr"]

    def lr_of(key: str) -> float:
        return row_lr.get(key, base_cfg.lr)

    def record(key: str, T: int) -> dict:
        lr = lr_of(key)
        rec = next((r for r in records if r.get("phase", "row") == "row" and r["key"] == key
                    and r["time_steps"] == T and r["epochs"] == args.epochs and r["arch"] == args.arch
                    and r["lr"] == lr and r["train_images"] == len(data.y_train) and same_setup(r)), None)
        if rec is None:
            print(f"row {key} ({ROWS[key][0]}), T={T}, lr {lr:g}", flush=True)
            rec = save(run_row(args, data, key, ROWS[key][0], ROWS[key][1], T, lr=lr))
            print(f"  -> accuracy {100 * rec['accuracy']:.2f} %, {rec['spikes_per_inference']:.0f} spikes/inference",
                  flush=True)
        return rec

    ablation = [record(key, args.time_steps) for key in rows]
    if not sweep_rows and ablation:
        sweep_rows = [max(ablation, key=lambda r: (r["accuracy"], -r["spikes_per_inference"]))["key"]]
    sweep_records = [record(b, T) for b in sweep_rows for T in sweep]
    if search_runs:
        print()
        print(search_table(search_runs, row_lr))
        print(f"\n({args.search_epochs} epochs on the first {len(search_data.y_train)} training images; "
              f"validated on the last {len(search_data.y_test)}, held out of every run)")
    print()
    print(table(ablation, f"Ablation at T = {args.time_steps} ({args.arch}, {args.epochs} epochs, "
                          f"{len(data.y_train)} training / {len(data.y_test)} test images)"))
    if sweep_records:
        print()
        print(table(sweep_records, f"Time steps, row{'s' if len(sweep_rows) > 1 else ''} {', '.join(sweep_rows)}"))
    base = next((r for r in ablation if r["key"] == "baseline"), None)
    full = next((r for r in ablation if r["key"] == "S1+2+3+4b"), None)
    if base and full:
        better = full["accuracy"] > base["accuracy"] and full["spikes_per_inference"] < base["spikes_per_inference"]
        print(f"\npaper's claim (full method more accurate with fewer spikes than the baseline): "
              f"{'holds' if better else 'does not hold'} here: {100 * full['accuracy']:.2f} % / "
              f"{full['spikes_per_inference']:.0f} spikes vs {100 * base['accuracy']:.2f} % / "
              f"{base['spikes_per_inference']:.0f} spikes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
