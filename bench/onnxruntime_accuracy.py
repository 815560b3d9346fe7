"""A paper figure as onnxruntime sees it: accuracy of an exported model on a whole test set, run by onnxruntime (the
SPEC's functions, independent of snnc's executor) and by the reference executor, side by side on the same images.

Prints both accuracies, how many predictions agree and how many images have bit-identical scores, and the largest
score difference. The trainers report the reference executor's figure; this is the check that onnxruntime, a
program snnc did not write, gives the same one.

Usage:
    python bench/onnxruntime_accuracy.py MODEL --dataset fashion-mnist [--data-dir DIR] [--limit N]
        [--batch-size 250] [--threads N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

import snnc
from snnc.datasets import load_dataset
from snnc.errors import SnncError
from snnc.frontend.snn_onnx import ort_session
from snnc.io import claim_output, write_atomic


def evaluate(model: str, x: np.ndarray, y: np.ndarray, *, batch_size: int, threads: int | None) -> dict:
    """Run ``model`` on ``x`` with onnxruntime and the reference executor, batch by batch; compare."""
    sess = ort_session(model, threads=threads)
    input_name = sess.get_inputs()[0].name
    graph = snnc.load_model(model)
    shape = (-1, *graph.inputs[0].type.features)
    ort_pred, ref_pred = [], []
    identical = 0
    max_diff = 0.0
    ort_s = ref_s = 0.0
    for start in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[start:start + batch_size].reshape(shape), dtype=np.float32)
        t0 = time.perf_counter()
        ort_scores = sess.run(None, {input_name: xb})[0]
        t1 = time.perf_counter()
        ref_scores = snnc.run(graph, xb).outputs[graph.outputs[0].name]
        t2 = time.perf_counter()
        ort_s += t1 - t0
        ref_s += t2 - t1
        ort_pred.append(ort_scores.argmax(1))
        ref_pred.append(ref_scores.argmax(1))
        identical += int(np.sum(np.all(ort_scores == ref_scores, axis=1)))
        max_diff = max(max_diff, float(np.max(np.abs(ort_scores.astype(np.float64) - ref_scores))))
    po, pr = np.concatenate(ort_pred), np.concatenate(ref_pred)
    return {
        "model": model, "images": len(y),
        "onnxruntime_accuracy": float(np.mean(po == y)), "reference_accuracy": float(np.mean(pr == y)),
        "predictions_equal": int(np.sum(po == pr)), "scores_bit_identical": identical,
        "max_score_difference": max_diff, "onnxruntime_seconds": round(ort_s, 1),
        "reference_seconds": round(ref_s, 1), "machine": f"{platform.machine()}, {platform.node()}",
        "date": date.today().isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="an exported ONNX model")
    p.add_argument("--dataset", required=True, help="mnist, fashion-mnist or digits")
    p.add_argument("--data-dir", default=None, help="the dataset's IDX folder (mnist: required)")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images (default: all)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--threads", type=int, default=None, help="onnxruntime's intra-op threads (default: its own)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file (not over one)")
    args = p.parse_args(argv)
    try:  # the output is checked before any work, and written whole or not at all (snnc.io)
        out = claim_output(args.json, inputs=(args.model,), option="--json") if args.json else None
    except SnncError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    data = load_dataset(args.dataset, args.data_dir, split="test", limit=args.limit)
    r = evaluate(args.model, data.x, data.y, batch_size=args.batch_size, threads=args.threads)
    n = r["images"]
    print(f"{Path(args.model).name} on {n} {args.dataset} test images:")
    print(f"  onnxruntime        {100 * r['onnxruntime_accuracy']:.2f} %  ({r['onnxruntime_seconds']} s)")
    print(f"  reference executor {100 * r['reference_accuracy']:.2f} %  ({r['reference_seconds']} s)")
    print(f"  predictions equal on {r['predictions_equal']} / {n}; scores bit-identical on "
          f"{r['scores_bit_identical']} / {n}; largest score difference {r['max_score_difference']:.3g}")
    if out is not None:
        write_atomic(out, json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
