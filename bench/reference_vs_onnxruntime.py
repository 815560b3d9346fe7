"""Throughput of the reference executor against onnxruntime on a 784-800-10 ReL-PSP MLP (STDBP).

Both run the same model, side by side in one process (timed runs alternate between the two): the ONNX file written by
``SnnModelBuilder`` (onnxruntime, CPU) and its IR from ``import_onnx`` (the reference backend).
Weights are trained-like random ``N(0, std)``; inputs are MNIST test images when ``--data-dir``
points at the IDX files, else synthetic sparse images (the fraction of lit pixels of MNIST).
Prints images/s of each, the ratio, how often predictions, score rows and hidden spike trains agree,
and the machine.

Usage:
    python bench/reference_vs_onnxruntime.py --batch 256 --time-steps 64 --repeats 5 \\
        [--data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort

from snnc.backends.reference import ReferenceBackend
from snnc.frontend import import_onnx
from snnc.frontend.snn_onnx import SnnModelBuilder, ort_session


def build_model(hidden: int, time_steps: int, std: float, threshold: float, seed: int):  # -> (model, hidden name)
    rng = np.random.default_rng(seed)
    b = SnnModelBuilder(input_features=(784,), time_steps=time_steps, name="stdbp_mlp")
    s = b.ttfs_encode(b.input)
    h = b.relpsp(b.dense(s, rng.normal(0.0, std, (hidden, 784))), threshold=threshold)
    o = b.relpsp(b.dense(h, rng.normal(0.0, std, (10, hidden))), threshold=threshold)
    model = b.build(output=b.first_spike_decode(o), metadata={"snn.algorithm": "stdbp"})
    return model, h.name


def inputs(batch: int, data_dir: str | None, seed: int) -> tuple[np.ndarray, str]:
    if data_dir:
        from snnc.datasets import load_dataset

        data = load_dataset("mnist", data_dir=data_dir, split="test", limit=batch)
        x = data.x.reshape(len(data.x), -1)
        reps = -(-batch // len(x))
        return np.tile(x, (reps, 1))[:batch], f"MNIST test images from {data_dir}"
    rng = np.random.default_rng(seed)
    x = (rng.integers(1, 256, (batch, 784)) / 255).astype(np.float32)
    x[rng.random((batch, 784)) >= 0.19] = 0.0  # MNIST lights ~19 % of the pixels
    return x, "synthetic images (19 % of pixels lit, uniform k/255)"


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Time each function ``repeats`` times, alternating between them (so that both see the same machine
    load), after one warm-up call each; returns the times and the last result of each."""
    results = {name: fn() for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, results


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--time-steps", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hidden", type=int, default=800)
    p.add_argument("--std", type=float, default=0.05, help="weight standard deviation")
    p.add_argument("--threshold", type=float, default=1.0)
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (else synthetic inputs)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its own)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    model, hidden_name = build_model(args.hidden, args.time_steps, args.std, args.threshold, args.seed)
    graph = import_onnx(model)
    x, source = inputs(args.batch, args.data_dir, args.seed)
    session = ort_session(model, threads=args.threads)
    backend = ReferenceBackend()

    def run_ort() -> np.ndarray:
        return session.run(["scores"], {"x": x})[0]

    times, results = interleaved({"ort": run_ort, "ref": lambda: backend.run(graph, x)}, args.repeats)
    ort_times, ref_times = times["ort"], times["ref"]
    ort_scores, ref = results["ort"], results["ref"]
    # untimed: the hidden spike trains of both, for the agreement figures
    ort_hidden = ort_session(model, [hidden_name], threads=args.threads).run([hidden_name], {"x": x})[0]
    ref_rec = backend.run(graph, x, record=True)

    ort_ips = args.batch / statistics.median(ort_times)
    ref_ips = args.batch / statistics.median(ref_times)
    ort_pred = np.argmax(ort_scores, axis=1)
    hidden_ref = ref_rec.spikes[hidden_name]
    hidden_ort = ort_hidden != 0
    fired = hidden_ref.any(axis=0)

    print(f"model       784-{args.hidden}-10 ReL-PSP MLP, TTFS, T={args.time_steps}, weights N(0, {args.std}), "
          f"threshold {args.threshold}")
    print(f"inputs      {args.batch} x 784, {source}")
    print(f"activity    hidden neurons that fire: {fired.mean():.1%}; output neurons that fire: "
          f"{(ref.scores > 0).mean():.1%}; input spikes/image: {ref.spike_counts[graph.ops[0].result.name].mean():.0f}")
    print(f"onnxruntime {ort_ips:10.1f} images/s  (median {statistics.median(ort_times) * 1e3:.1f} ms, "
          f"best {min(ort_times) * 1e3:.1f} ms over {args.repeats})")
    print(f"reference   {ref_ips:10.1f} images/s  (median {statistics.median(ref_times) * 1e3:.1f} ms, "
          f"best {min(ref_times) * 1e3:.1f} ms over {args.repeats})")
    print(f"ratio       reference / onnxruntime = {ref_ips / ort_ips:.2f}x")
    print(f"agreement   predictions {np.mean(ref.predictions == ort_pred):.2%}, score rows "
          f"{np.mean(np.all(ref.scores == ort_scores, axis=1)):.2%}, scores "
          f"{np.mean(ref.scores == ort_scores):.4%}, hidden spikes {np.mean(hidden_ref == hidden_ort):.6%} "
          f"(max |score diff| {np.abs(ref.scores - ort_scores).max():g})")
    print(f"machine     {cpu_name()}, {os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable), "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    threads = args.threads if args.threads is not None else "default"
    print(f"software    numpy {np.__version__}, onnxruntime {ort.__version__} (intra-op threads: {threads})")


if __name__ == "__main__":
    main()
