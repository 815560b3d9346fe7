"""Accuracy of a model before and after quantization: float mode against the integer mode of the reference executor.

The model is imported (``canonicalize``, ``fold-pool``, ``dce``: a CNN's pools folded as the YOSO compiler
does), run in float mode, then quantized with the ``quantize`` pass for
every requested weight width and granularity and run in integer mode (the YOSO chip's arithmetic, docs/yoso.md
"Integer mode"). Prints, per configuration, the accuracy, its change against float (percentage points), how often
the predictions of the two modes agree, how many spikes the network emits per image, and images/s of each mode.
A configuration the toolchain refuses (per-channel ReL-PSP layers, an accumulated weight that could saturate) is
listed with the reason.

Usage:
    python bench/quantization_accuracy.py --model models/stdbp-mnist.onnx --dataset mnist \\
        --data-dir ../shared/data/mnist [--limit N] [--bits hw,6,4] [--granularity per-layer,per-channel] \\
        [--hw FILE] [--batch-size 256] [--repeat 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from snnc.api import load_model
from snnc.backends.reference import ReferenceExecutor
from snnc.backends.yoso.hardware import DEFAULT_HARDWARE, load_hardware
from snnc.datasets import load_dataset
from snnc.errors import SnncError
from snnc.io import claim_output, write_atomic
from snnc.ir import Graph
from snnc.passes import PassManager, get_pass


@dataclass
class Row:
    """One line of the report."""

    mode: str
    bits: int | None
    granularity: str | None
    accuracy: float | None = None
    change_pp: float | None = None
    agreement: float | None = None
    spikes_per_image: float | None = None
    images_per_s: float | None = None
    refused: str | None = None


def timed_run(graph: Graph, x: np.ndarray, mode: str, batch_size: int, repeat: int) -> tuple[np.ndarray, float, float]:
    """Predictions, spikes per image (all neuron layers) and the median images/s over ``repeat`` runs."""
    executor = ReferenceExecutor(graph, mode=mode)
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = executor.run(x, batch_size=batch_size)
        times.append(time.perf_counter() - start)
    assert result is not None
    scores = result.outputs[graph.outputs[0].name].reshape(len(x), -1)
    neurons = {op.result.name for op in graph.ops if op.opname in ("snn.relpsp", "snn.if")}
    spikes = sum(int(result.spike_counts[name].sum()) for name in neurons) / max(1, len(x))
    return np.argmax(scores, axis=1), spikes, len(x) / statistics.median(times)


def parse_bits(text: str, hw_bits: int) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        out.append(hw_bits if part == "hw" else int(part))
    return list(dict.fromkeys(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="ONNX model (SPEC section 3) or IR text dump")
    parser.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or digits (default: mnist)")
    parser.add_argument("--data-dir", default=None, help="folder of the IDX files (mnist, fashion-mnist)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N test images")
    parser.add_argument("--bits", default="hw,6,4", help="weight widths; 'hw' = the hardware file's (default hw,6,4)")
    parser.add_argument("--granularity", default="per-layer,per-channel", help="comma-separated quantize granularities")
    parser.add_argument("--hw", default=None, help=f"hardware file (default {DEFAULT_HARDWARE.name})")
    parser.add_argument("--batch-size", type=int, default=256, help="images per executor chunk (default 256)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per configuration, median (default 1)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    try:  # --json is checked before any work and written whole or not at all (snnc.io)
        json_out = claim_output(args.json, inputs=(args.model, args.hw), option="--json") if args.json else None
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None

    hw = load_hardware(args.hw)
    graph = PassManager(["canonicalize", "fold-pool", "dce"]).run(load_model(args.model)).graph
    data = load_dataset(args.dataset, data_dir=args.data_dir, split="test", limit=args.limit)
    x, y = data.reshaped(graph.inputs[0].type.features).x, data.y
    print(f"model {args.model}: {graph.name}, T = {graph.time_steps}, "
          f"ops {', '.join(sorted({op.opname for op in graph.ops}))}")
    print(f"dataset {data.name} {data.split}: {len(x)} images ({data.source})")
    print(f"hardware {hw.source}: potential {hw.sram['potential'].bits} b, accumulated weight "
          f"{hw.sram['acc_weight'].bits} b, weights {hw.sram['weight'].bits} b")
    print(f"machine {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}, "
          f"numpy {np.__version__}\n")

    float_pred, float_spikes, float_speed = timed_run(graph, x, "float", args.batch_size, args.repeat)
    float_acc = float(np.mean(float_pred == y))
    rows = [Row("float", None, None, float_acc, 0.0, 1.0, float_spikes, float_speed)]
    for bits in parse_bits(args.bits, hw.sram["weight"].bits):
        for granularity in [g.strip() for g in args.granularity.split(",")]:
            row = Row("integer", bits, granularity)
            try:
                quantized = PassManager([get_pass("quantize", bits=bits, granularity=granularity, hw=hw)]).run(
                    graph).graph
                pred, spikes, speed = timed_run(quantized, x, "integer", args.batch_size, args.repeat)
            except SnncError as err:
                row.refused = re.sub(r"^pass \S+ failed after \[.*?\]: ", "", err.format().splitlines()[0])
            else:
                row.accuracy = float(np.mean(pred == y))
                row.change_pp = 100 * (row.accuracy - float_acc)
                row.agreement = float(np.mean(pred == float_pred))
                row.spikes_per_image, row.images_per_s = spikes, speed
            rows.append(row)

    print(f"{'mode':<8} {'bits':>4} {'granularity':<12} {'accuracy':>9} {'change':>9} {'agree':>8} "
          f"{'spikes/img':>10} {'images/s':>9}")
    for r in rows:
        head = f"{r.mode:<8} {r.bits if r.bits else '-':>4} {r.granularity or '-':<12}"
        if r.refused:
            print(f"{head} refused: {r.refused}")
            continue
        print(f"{head} {100 * r.accuracy:>8.2f}% {r.change_pp:>+7.2f}pp {100 * r.agreement:>7.2f}% "
              f"{r.spikes_per_image:>10.1f} {r.images_per_s:>9.0f}")
    if json_out is not None:
        write_atomic(json_out, json.dumps({"model": args.model, "dataset": data.name, "images": len(x),
                                               "hardware": str(hw.source), "rows": [asdict(r) for r in rows]},
                                              indent=2) + "\n")


if __name__ == "__main__":
    main()
