"""The improved STBP paper's ablation (its Table II) and time-step sweep (Table III), on Fashion-MNIST.

Trains one network per row, each from the same seed, with ``snnc.trainers.stbp.train``; exports it to ONNX
and measures the exported model with snnc's reference executor: test accuracy and spikes per inference (all
IF neurons, hidden and output; the rate encoder's spikes, the same for every row, are listed apart).

Rows (T = --time-steps, default 8): the baseline (reset to zero, fixed Vth, rectangular surrogate of eq. 3,
rate decoding), each scheme alone, then the schemes accumulated (1, 1+2, 1+2+3, 1+2+3+4 with either
decoder). Then the best row by accuracy is retrained at each T of --t-sweep (default 4, 8, 16).

Results are appended to --json after every row (a JSON list of records), and rows already present there
are skipped, so an interrupted run continues where it stopped. The Markdown tables are printed at the end.

Usage:
    python bench/stbp_ablation.py --epochs 20 --json results/stbp_ablation.json
    python bench/stbp_ablation.py --epochs 1 --limit 2000 --test-limit 1000       # a quick look
    python bench/stbp_ablation.py --estimate --epochs 20                          # time estimate only
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

import torch

from snnc.trainers.common import load_splits
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="784-400-10", help="network (default: 784-400-10)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per row (default: 20)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    p.add_argument("--time-steps", "-T", type=int, default=8, help="T of the ablation rows (default: 8)")
    p.add_argument("--t-sweep", default="4,8,16", help="T values for the best row (default: 4,8,16; '' skips)")
    p.add_argument("--rows", default=",".join(ROWS), help=f"rows to run (default: all of {','.join(ROWS)})")
    p.add_argument("--best", default=None, help="row for the T sweep (default: the most accurate row)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the trainer's)")
    p.add_argument("--init-gain", type=float, default=None, help="weight init gain (default: the trainer's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default: 1; on a shared machine more threads are much slower)")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX folder (default: the Debian package's)")
    p.add_argument("--json", default=None, help="append every result to this JSON file; skip rows it has")
    p.add_argument("--estimate", action="store_true",
                   help="only time one epoch of two rows on --estimate-images images and extrapolate")
    p.add_argument("--estimate-images", type=int, default=2000)
    return p.parse_args(argv)


def config(args: argparse.Namespace, schemes: Schemes, time_steps: int, epochs: int | None = None) -> StbpConfig:
    extra = {k: v for k, v in (("lr", args.lr), ("init_gain", args.init_gain)) if v is not None}
    return StbpConfig(dataset="fashion-mnist", data_dir=args.data_dir, arch=args.arch,
                      epochs=args.epochs if epochs is None else epochs, batch_size=args.batch_size,
                      seed=args.seed, time_steps=time_steps, schemes=schemes, **extra)


def run_row(args: argparse.Namespace, data, key: str, name: str, schemes: Schemes, T: int) -> dict:  # noqa: ANN001
    cfg = config(args, schemes, T)
    t0 = time.perf_counter()
    result = train(cfg, data=data, log=lambda line: print(f"  [{key}] {line}", flush=True))
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = evaluate_exported(build_onnx(result.net), data.x_test, data.y_test)
    return {
        "key": key, "row": name, "time_steps": T, "schemes": schemes.label(), "arch": args.arch,
        "epochs": cfg.epochs, "lr": cfg.lr, "init_gain": cfg.init_gain, "seed": cfg.seed,
        "train_images": len(data.y_train), "test_images": len(data.y_test),
        "accuracy": ev.accuracy, "spikes_per_inference": ev.spikes_per_inference,
        "encoder_spikes_per_inference": ev.encoder_spikes, "layer_spikes": ev.layer_spikes,
        "torch_test_accuracy": result.history[-1].test_accuracy if result.history else None,
        "train_seconds": round(train_s, 1), "eval_seconds": round(time.perf_counter() - t0, 1),
    }


def table(records: list[dict], title: str) -> str:
    lines = [f"### {title}", "", "| row | schemes | T | accuracy | spikes / inference | encoder spikes | train s |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['key']} | {r['row']} | {r['time_steps']} | {100 * r['accuracy']:.2f} % | "
                     f"{r['spikes_per_inference']:.0f} | {r['encoder_spikes_per_inference']:.0f} | "
                     f"{r['train_seconds']:.0f} |")
    return "\n".join(lines)


def estimate(args: argparse.Namespace, rows: list[str], sweep: list[int]) -> None:
    """Time one epoch of the baseline and the full method on a slice; extrapolate to the whole plan."""
    n = args.estimate_images
    arch = parse_stbp_arch(args.arch)
    data = load_splits("fashion-mnist", args.data_dir, arch.input_shape, train_limit=n, test_limit=n // 4)
    full = load_splits("fashion-mnist", args.data_dir, arch.input_shape)
    warm = load_splits("fashion-mnist", args.data_dir, arch.input_shape, train_limit=200, test_limit=50)
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        print(f"unknown rows {unknown}; choose from {list(ROWS)}", file=sys.stderr)
        return 2
    sweep = [int(t) for t in args.t_sweep.split(",") if t.strip()]
    if args.estimate:
        estimate(args, rows, sweep)
        return 0
    print(f"STBP ablation on Fashion-MNIST: {args.arch}, T={args.time_steps}, {args.epochs} epochs, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}", flush=True)
    arch = parse_stbp_arch(args.arch)
    data = load_splits("fashion-mnist", args.data_dir, arch.input_shape, train_limit=args.limit,
                       test_limit=args.test_limit)
    path = Path(args.json) if args.json else None
    records: list[dict] = json.loads(path.read_text()) if path and path.exists() else []

    def done(key: str, T: int) -> dict | None:
        return next((r for r in records if r["key"] == key and r["time_steps"] == T and r["epochs"] == args.epochs
                     and r["arch"] == args.arch and r["train_images"] == len(data.y_train)), None)

    def record(key: str, T: int) -> dict:
        rec = done(key, T)
        if rec is None:
            print(f"row {key} ({ROWS[key][0]}), T={T}", flush=True)
            rec = run_row(args, data, key, ROWS[key][0], ROWS[key][1], T)
            print(f"  -> accuracy {100 * rec['accuracy']:.2f} %, {rec['spikes_per_inference']:.0f} spikes/inference",
                  flush=True)
            records.append(rec)
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(records, indent=1))
        return rec

    ablation = [record(key, args.time_steps) for key in rows]
    best = args.best or max(ablation, key=lambda r: (r["accuracy"], -r["spikes_per_inference"]))["key"]
    sweep_records = [record(best, T) for T in sweep]
    print()
    print(table(ablation, f"Ablation at T = {args.time_steps} ({args.arch}, {args.epochs} epochs, "
                          f"{len(data.y_train)} training / {len(data.y_test)} test images)"))
    if sweep_records:
        print()
        print(table(sweep_records, f"Time steps, best row {best}"))
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
