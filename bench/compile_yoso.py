"""Benchmark: compiling to YOSO, and the expected spike hops of each placer.

Measures, for the paper's 784-800-10 model on the shipped 6 x 7 chip and for a 10x larger model
(784-8000-10, 10x the weights) on a larger mesh:

* compile time: spike statistics, each pass, writing the deployment (median of --repeat runs);
* expected spike hops per image (X-Y tree multicast, host link included) of the snake and row-major
  baselines and of the traffic-aware placer, with spike statistics from the reference executor on
  MNIST test images (the first --samples; random images if the MNIST files are not there), and the
  lower bound no placement can beat (every spike must enter each of its destination PEs over a link of
  its own, the host link counting for the first; ``bench/placement_optimum.py`` finds the exact optimum
  of the paper's model by exhaustive search).

The model is a synthetic "trained-like" STDBP MLP (random Gaussian weights, roughly half the hidden
neurons fire), unless --model names a trained ONNX file for the 784-800-10 run. With --cnn it also compiles
the paper's CNN (default models/stdbp-mnist-cnn.onnx, its pools folded) on --cnn-hw (default
examples/yoso-12x13.toml, the smallest near-square mesh it fits).

Usage: python bench/compile_yoso.py [--model mlp.onnx] [--data-dir DIR] [--samples 256] [--repeat 3] [--cnn [M]]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from snnc.backends.yoso import compile_yoso
from snnc.backends.yoso.compile import spike_statistics
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.layers import find_network
from snnc.backends.yoso.partition import near_square, plan_network
from snnc.ir import Graph
from snnc.tests.yoso_models import ttfs_mlp

DEFAULT_DATA = Path("/work/shared/data/mnist")


def samples(n: int, data_dir: Path | None) -> tuple[np.ndarray, str]:
    if data_dir is not None and data_dir.exists():
        from snnc.datasets import load_dataset

        ds = load_dataset("mnist", str(data_dir), split="test", limit=n)
        return ds.x.reshape(len(ds.x), -1).astype(np.float32), f"{n} MNIST test images"
    rng = np.random.default_rng(0)
    x = rng.random((n, 784)).astype(np.float32) * (rng.random((n, 784)) < 0.19)
    return x, f"{n} random images (MNIST not found)"


def run(name: str, graph: Graph, hw, x: np.ndarray, repeat: int, tmp: Path) -> None:  # noqa: ANN001
    rates = spike_statistics(graph, x)
    per_stage: dict[str, list[float]] = {}
    result = None
    for k in range(repeat):
        result = compile_yoso(graph, tmp / f"{name}-{k}", hw_path=hw, placer="traffic", sample_x=x)
        for stage, seconds in result.timings:
            per_stage.setdefault(stage, []).append(seconds)
    assert result is not None
    med = {s: statistics.median(v) for s, v in per_stage.items()}
    compile_s = sum(v for s, v in med.items() if s != "spike-stats")
    pes = int(result.graph.metadata["yoso.pes"])
    print(f"\n== {name}: {pes} PEs on a {result.graph.metadata['yoso.mesh']} region of the "
          f"{hw.mesh.cols} x {hw.mesh.rows} mesh ==")
    print(f"compile time (median of {repeat}): {compile_s:.3f} s without spike statistics")
    for stage, seconds in med.items():
        print(f"  {stage:<12} {seconds * 1e3:9.1f} ms")
    hops = result.expected_hops
    base = min(hops["snake"], hops["row-major"])
    bound = result.hops_lower_bound
    print("expected spike hops per image:")
    for placer, h in hops.items():
        print(f"  {placer:<10} {h:10.1f}  ({100 * (h - base) / base:+.1f} % vs the better baseline)")
    print(f"  lower bound {bound:9.1f}  (no placement does better: {100 * (bound - base) / base:+.1f} %)")
    spikes = {k: float(v.sum()) for k, v in rates.items()}
    print("  spikes per image: " + ", ".join(f"%{k} {v:.1f}" for k, v in spikes.items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a trained 784-800-10 ONNX model (default: synthetic)")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA), help="MNIST IDX files (for sample inputs)")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--time-steps", type=int, default=32)
    p.add_argument("--cnn", nargs="?", const="models/stdbp-mnist-cnn.onnx", default=None,
                   help="also compile this CNN (default when given bare: models/stdbp-mnist-cnn.onnx)")
    p.add_argument("--cnn-hw", default="examples/yoso-12x13.toml", help="hardware file for the CNN")
    args = p.parse_args()
    x, what = samples(args.samples, Path(args.data_dir) if args.data_dir else None)
    print(f"spike statistics: reference executor on {what}")
    if args.model:
        from snnc import load_model

        small = load_model(args.model)
    else:
        small = ttfs_mlp((784, 800, 10), time_steps=args.time_steps)
    hw = load_hardware()
    with tempfile.TemporaryDirectory() as tmp:
        run("784-800-10", small, hw, x, args.repeat, Path(tmp))
        big = ttfs_mlp((784, 8000, 10), time_steps=args.time_steps, sigma=0.05)
        roomy = with_overrides(hw, mesh={"cols": 32, "rows": 32})
        pes = sum(len(p.pes) for p in plan_network(find_network(big), roomy))
        cols, rows = near_square(pes)
        big_hw = with_overrides(hw, mesh={"cols": cols, "rows": rows})
        start = time.perf_counter()
        run("784-8000-10 (10x weights)", big, big_hw, x[: max(16, args.samples // 4)], args.repeat, Path(tmp))
        print(f"\n(total bench time {time.perf_counter() - start:.1f} s for the large model)")
        if args.cnn:
            from snnc import load_model

            cnn = load_model(args.cnn)
            run("the paper's CNN", cnn, load_hardware(args.cnn_hw), x.reshape(len(x), *cnn.inputs[0].type.features),
                args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
