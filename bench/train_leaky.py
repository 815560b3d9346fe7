"""Issue 14's benchmark, training half: a leaky 784-400-10 against an IF one, same trainer and budget.

Rows (Fashion-MNIST, T = 8, rate-coded input, the improved-STBP trainer, every row with the same epochs, lr,
batch size, seed, surrogate (rectangle of width 1) and trainable per-neuron thresholds):

  if-rate        IF hidden and output, reset by subtraction, spike-count decoding: the best row of the
                 STBP ablation (S1+2, the shipped ``models/stbp-fashion-mlp.onnx``)
  lif-li-max     LIF hidden (beta 0.9 fixed, reset by subtraction before the decay), LI readout (beta 0.9)
                 decoded by its maximum over time; MSE loss (as the IF row)
  lif-li-max-ce  the same with the cross-entropy loss (the loss ablation)
  lif-li-last    the same as lif-li-max, last-step decoding
  lif-rec-li-max lif-li-max with a recurrent hidden layer and trainable betas
  lif-rate       LIF hidden and output, spike-count decoding (the neuron alone)
  if-li-max      IF hidden, LI readout, max over time (the readout alone)

Each row is exported to ONNX and measured on the exported file: the reference executor where snnc imports
it, onnxruntime otherwise (the rows' figures were taken before the importer knew LIF/LI; both agree on the
shipped leaky model, 88.37 %): test accuracy on all 10,000 test images
and spikes per inference (all IF/LIF neurons, the encoder excluded). Rows with a ``--models`` file name are
written there with the trainer's full ``snn.`` metadata (``models/stbp-fashion-lif-li.onnx`` came from the row
``lif-li-max``; a model moved into ``models/`` needs its golden file, ``tests/golden/``). Results go to
``--json`` after every row; rows already there are skipped, and each row checkpoints every epoch under
``--runs`` and resumes from it, so an interrupted run continues where it stopped.

Usage:
    python bench/train_leaky.py --epochs 8 --json bench/results/train_leaky.json --models /tmp/leaky-models
    python bench/train_leaky.py --epochs 1 --limit 2000 --test-limit 1000 --rows if-rate,lif-li-max   # a look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from snnc.errors import SnncError
from snnc.io import claim_output, write_atomic
from snnc.trainers.common import load_splits, write_model
from snnc.trainers.export_stbp import build_onnx, evaluate_exported
from snnc.trainers.stbp import StbpConfig, metadata, train
from snnc.trainers.stbp_model import Schemes, parse_stbp_arch

S12 = replace(Schemes.baseline(), reset="subtract", trainable_threshold=True)  # the ablation's best row
LEAKY = replace(S12, neuron="lif", readout="li", decoder="max", beta=0.9)
#: name -> (description, schemes, loss, shipped model file name or None)
ROWS: dict[str, tuple[str, Schemes, str, str | None]] = {
    # already shipped: models/stbp-fashion-mlp.onnx has the same weights bit for bit (checked 2026-12-06)
    "if-rate": ("IF hidden + IF output, spike count (S1+2)", S12, "mse", None),
    "lif-li-max": ("LIF hidden + LI readout, max over time", LEAKY, "mse", "stbp-fashion-lif-li.onnx"),
    "lif-li-max-ce": ("LIF hidden + LI readout, max over time, cross-entropy", LEAKY, "ce", None),
    "lif-li-last": ("LIF hidden + LI readout, last step", replace(LEAKY, decoder="last"), "mse", None),
    "lif-rec-li-max": ("recurrent LIF hidden (trainable beta) + LI readout, max",
                       replace(LEAKY, recurrent=True, train_beta=True), "mse", None),
    "lif-rate": ("LIF hidden + LIF output, spike count", replace(S12, neuron="lif", beta=0.9), "mse", None),
    "if-li-max": ("IF hidden + LI readout, max over time", replace(LEAKY, neuron="if"), "mse", None),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default: all: {','.join(ROWS)})")
    p.add_argument("--arch", default="784-400-10")
    p.add_argument("--epochs", type=int, default=8, help="epochs per row (default: 8)")
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--time-steps", "-T", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1, best on a shared box)")
    p.add_argument("--json", default=None, help="append results here; rows already present are skipped")
    p.add_argument("--runs", default="runs/train_leaky", help="per-row checkpoints (default: runs/train_leaky)")
    p.add_argument("--models", default=None, help="write the shipped rows' ONNX files into this folder")
    p.add_argument("--force", action="store_true", help="replace a shipped row's ONNX file that is already there")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; known: {list(ROWS)}")
    done = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else []
    todo = [r for r in rows if not any(d["row"] == r and d["epochs"] == args.epochs for d in done)]
    try:  # the model files are checked before any training (not over a file without --force, nor a link)
        for name in todo:
            if ROWS[name][3] and args.models:
                claim_output(Path(args.models) / ROWS[name][3], force=args.force, option="--models")
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None
    data = load_splits(args.dataset, args.data_dir, parse_stbp_arch(args.arch).input_shape,
                       train_limit=args.limit, test_limit=args.test_limit)
    print(f"{args.arch} on {data.name}: {len(data.y_train)} train / {len(data.y_test)} test, T = {args.time_steps}, "
          f"{args.epochs} epochs, lr {args.lr}, batch {args.batch_size}, {args.threads} thread(s), "
          f"{platform.machine()}, {os.cpu_count()} CPUs", flush=True)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    for name in rows:
        if name not in todo:
            print(f"{name}: in {args.json}, skipped")
            continue
        desc, schemes, loss, ship = ROWS[name]
        cfg = StbpConfig(dataset=args.dataset, data_dir=args.data_dir, arch=args.arch, epochs=args.epochs,
                         batch_size=args.batch_size, lr=args.lr, seed=args.seed, time_steps=args.time_steps,
                         schemes=schemes, loss=loss, train_limit=args.limit, test_limit=args.test_limit)
        ck = Path(args.runs) / f"{name}-e{args.epochs}.ckpt"
        print(f"--- {name}: {desc} ({schemes.label()}, loss {loss})", flush=True)
        result = train(cfg, data=data, checkpoint=str(ck), resume=str(ck) if ck.exists() else None,
                       log=lambda line: print(line, flush=True))
        t0 = time.perf_counter()
        ev = evaluate_exported(build_onnx(result.net), data.x_test, data.y_test, batch_size=500)
        eval_s = time.perf_counter() - t0
        record = {"row": name, "description": desc, "schemes": schemes.label(), "loss": loss,
                  "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "T": args.time_steps,
                  "seed": args.seed, "train_images": len(data.y_train), "test_images": len(data.y_test),
                  "accuracy": ev.accuracy, "spikes_per_inference": ev.spikes_per_inference,
                  "layer_spikes": ev.layer_spikes, "encoder_spikes": ev.encoder_spikes,
                  "measured_by": ev.measured_by, "torch_accuracy": result.history[-1].test_accuracy,
                  "train_seconds": result.train_seconds, "eval_seconds": eval_s,
                  "betas_mean": [float(b.detach().mean())
                                 for b, lk in zip(result.net.betas, result.net.leaky, strict=True) if lk]}
        print(f"{name}: accuracy {100 * ev.accuracy:.2f} % ({ev.measured_by}), {ev.spikes_per_inference:.1f} "
              f"spikes/inference (layers {', '.join(f'{v:.1f}' for v in ev.layer_spikes)}), train "
              f"{result.train_seconds:.0f} s, eval {eval_s:.1f} s", flush=True)
        if ship and args.models:
            out = Path(args.models) / ship
            write_model(out, build_onnx(result.net, metadata(cfg, result, ev, len(data.y_test))))
            record["model"] = str(out)
        done.append(record)
        if args.json:
            write_atomic(args.json, json.dumps(done, indent=1) + "\n")  # a killed run keeps the rows so far
    print("\n| row | readout | loss | accuracy | spikes / inference | measured by |\n|---|---|---|---|---|---|")
    for r in done:
        print(f"| {r['row']} | {r['description']} | {r['loss']} | {100 * r['accuracy']:.2f} % | "
              f"{r['spikes_per_inference']:.0f} | {r['measured_by']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
