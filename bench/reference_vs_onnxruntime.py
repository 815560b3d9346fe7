"""Throughput of the reference executor against onnxruntime on every shipped model (models/*.onnx).

For each model, at T as trained and each batch size (default 1 and 64), three runners are timed side by side
in one process, the timed calls alternating between them (so that all see the same machine load), after one
warm-up call each; the table gives medians:

* ``ort``: onnxruntime (CPU) on the ONNX file;
* ``ref``: ``ReferenceBackend().run`` (numba engine, executor reused across calls);
* ``before``: the executor as it was before issue 16: a new ``ReferenceExecutor(graph, engine="numpy")`` per call,
  with the convolution and the dense synapse on currents as they were then (BLAS, :class:`BeforeExecutor`) (BLAS
  threads as ``--threads``,
  default 1 like ``ref``; the old executor left them at the library default).

After the timing, the NumPy kernels (``engine="numpy"``, the specification: the convolution summed in the defined
order) run once more; ``ref`` must equal them bit for bit. Predictions of ``ref`` must equal those of ``before``
and of onnxruntime (checked, printed; on a convolution ``before`` sums in BLAS's order, so its currents may differ
from ``ref``'s in the last bit). Inputs are each model's
own test images: Fashion-MNIST (Debian's dataset-fashion-mnist) for the fashion models, the 8x8 digits for the
digits model, MNIST from ``--data-dir`` for the MNIST models; synthetic sparse images (19 % of pixels lit) where a
data set is missing.

``--order-check N`` runs every model with a convolution on N of its test images twice, with the defined summation
order (``ReferenceBackend()``) and with BLAS's (:class:`BeforeExecutor`'s convolution and dense synapse on
currents, the other kernels compiled), and counts differing predictions and spikes.

``--compile`` also measures the first-call cost of the compiled kernels: a fresh Python process runs every model
once at batch 1 with an empty ``NUMBA_CACHE_DIR`` (cold: numba compiles), then a second fresh process with the same
directory (warm: loads the cache); the numpy engine's first call is the baseline.

Usage:
    python bench/reference_vs_onnxruntime.py [--batches 1 64] [--repeats 5] [--data-dir ../shared/data/mnist]
        [--threads N] [--compile] [--order-check N] [--models stdbp-mnist-cnn ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from snnc.backends.reference import KERNELS, ReferenceBackend, ReferenceExecutor
from snnc.backends.reference import kernels as K
from snnc.frontend import import_onnx
from snnc.frontend.snn_onnx import ort_session

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def inputs(stem: str, features: tuple[int, ...], batch: int, data_dir: str | None,
           seed: int) -> tuple[np.ndarray, str]:
    """The model's own test images: Fashion-MNIST for ``*fashion*`` (Debian's dataset-fashion-mnist), the 8x8
    digits for ``*digits*``, MNIST from ``data_dir`` for the others; synthetic sparse images when unavailable."""
    from snnc.datasets import load_dataset
    from snnc.errors import SnncError

    name, where = ("fashion-mnist", None) if "fashion" in stem else ("digits", None) if "digits" in stem else (
        "mnist", data_dir)
    if name != "mnist" or data_dir:
        try:
            data = load_dataset(name, data_dir=where, split="test", limit=batch)
        except SnncError:
            pass
        else:
            x = data.x.reshape(len(data.x), -1).astype(np.float32)
            if x.shape[1] == int(np.prod(features)):
                reps = -(-batch // len(x))
                return np.tile(x, (reps, 1))[:batch].reshape(batch, *features), f"{name} test"
    rng = np.random.default_rng(seed)
    x = (rng.integers(1, 256, (batch, *features)) / 255).astype(np.float32)
    x[rng.random(x.shape) >= 0.19] = 0.0
    return x, "synthetic 19 % lit"


def blas_conv2d(ctx: K.KernelContext, op: object, x: object) -> np.ndarray:
    """``snn.conv2d`` as the executor computed it before issue 16: im2col + one BLAS matmul per group."""
    a, lead = K._spatial_view(x, ctx.dtype)
    out = K._conv_im2col(a, ctx.param(op, "weight"), op.attrs["strides"], op.attrs["dilations"], op.attrs["group"],
                         op.attrs["pads"])
    if "bias" in op.attrs:
        out += ctx.param(op, "bias")
    return out.transpose(0, 3, 1, 2).reshape(*lead, out.shape[3], *out.shape[1:3])


def blas_dense(ctx: K.KernelContext, op: object, x: object) -> np.ndarray:
    """``snn.dense`` as the executor computed it before issue 16: spike trains as now, a current always one BLAS
    matmul (now a sparse current, e.g. a pooled single-spike train, is scattered in the defined order)."""
    if isinstance(x, K.SpikeTrain):
        return K.dense(ctx, op, x)
    wt = ctx.param(op, "weight", lambda w: np.ascontiguousarray(w.T))
    y = (x.reshape(-1, wt.shape[0]) @ wt).reshape(*x.shape[:-1], wt.shape[1])
    if "bias" in op.attrs:
        y += ctx.param(op, "bias")
    return y


class BeforeExecutor(ReferenceExecutor):
    """The NumPy kernels with the convolution and the dense synapse on currents of before issue 16."""

    kernels = {**KERNELS, "snn.conv2d": blas_conv2d, "snn.dense": blas_dense}


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Time each function ``repeats`` times, alternating between them, after one warm-up call each."""
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


def bench_model(path: Path, batch: int, repeats: int, data_dir: str | None, threads: int | None) -> str:
    proto = onnx.load(path)
    graph = import_onnx(proto)
    x, source = inputs(path.stem, graph.inputs[0].type.features, batch, data_dir, seed=batch)
    session = ort_session(proto, threads=threads or None)
    name = proto.graph.input[0].name
    threads = threads or 1
    backend = ReferenceBackend(blas_threads=threads)
    out = graph.outputs[0].name
    fns = {
        "ort": lambda: session.run(None, {name: x})[0].reshape(batch, -1),
        "ref": lambda: backend.run(graph, x).scores,
        "before": lambda: BeforeExecutor(graph, engine="numpy", blas_threads=threads).run(x).outputs[out].reshape(
            batch, -1),
    }
    times, results = interleaved(fns, repeats if batch > 1 else repeats * 6)
    med = {k: statistics.median(v) for k, v in times.items()}
    pred = {k: np.argmax(v, axis=1) for k, v in results.items()}
    spec = ReferenceExecutor(graph, engine="numpy", blas_threads=threads).run(x).outputs[out].reshape(batch, -1)
    same_spec = np.array_equal(results["ref"], spec)
    same_before = np.array_equal(pred["ref"], pred["before"])
    agree = np.mean(pred["ref"] == pred["ort"])
    return (f"| {path.stem} | {graph.time_steps} | {batch} | {med['ort'] * 1e3:.2f} | {med['before'] * 1e3:.2f} | "
            f"{med['ref'] * 1e3:.2f} | **{med['ort'] / med['ref']:.2f}x** | {med['ort'] / med['before']:.2f}x | "
            f"{'yes' if same_spec else 'NO'} | {'yes' if same_before else 'NO'} | {agree:.0%} | {source} |")


class BlasOrderExecutor(ReferenceExecutor):
    """The default (compiled) kernels, but the convolution and the dense synapse on currents in BLAS's order."""

    kernels = BeforeExecutor.kernels


def order_check(path: Path, images: int, data_dir: str | None, chunk: int = 256) -> str:
    """Predictions and spikes of the defined summation order against BLAS's on ``images`` test images."""
    graph = import_onnx(onnx.load(path))
    x, source = inputs(path.stem, graph.inputs[0].type.features, images, data_dir, seed=0)
    new, old = ReferenceExecutor(graph), BlasOrderExecutor(graph)
    pred_diff = spikes = spike_diff = 0
    for start in range(0, images, chunk):
        a, b = new.run(x[start:start + chunk], record=True), old.run(x[start:start + chunk], record=True)
        out = graph.outputs[0].name
        pred_diff += int(np.sum(a.outputs[out].argmax(1) != b.outputs[out].argmax(1)))
        for k in a.spikes:
            spikes += int(a.spikes[k].sum())
            spike_diff += int(np.sum(a.spikes[k] != b.spikes[k]))
    return (f"{path.stem}: defined order vs BLAS order on {images} images ({source}): {pred_diff} predictions differ, "
            f"{spike_diff} of {spikes} spikes differ")


COMPILE_PROBE = """
import sys, time
t0 = time.perf_counter()
import onnx, numpy as np
from snnc.backends.reference import ReferenceBackend
from snnc.frontend import import_onnx
graphs = [import_onnx(onnx.load(p)) for p in sys.argv[2:]]
t1 = time.perf_counter()
backend = ReferenceBackend(engine=sys.argv[1])
for g in graphs:
    backend.run(g, np.full((1, *g.inputs[0].type.features), 0.5, np.float32))
print(f"{time.perf_counter() - t1:.3f}")
"""


def compile_cost(paths: list[Path]) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label, engine in (("numba engine, cold cache (compiles)", "numba"),
                              ("numba engine, warm cache", "numba"),
                              ("numpy engine (baseline)", "numpy")):
            out = subprocess.run([sys.executable, "-c", COMPILE_PROBE, engine, *map(str, paths)], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip()
            lines.append(f"first run of all {len(paths)} models at batch 1, fresh process, {label}: {out} s")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--repeats", type=int, default=5, help="timed calls per runner (x6 at batch 1)")
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (else synthetic inputs)")
    p.add_argument("--threads", type=int, default=1,
                   help="the reference's BLAS threads (default 1, its default) and, unless 0, onnxruntime's intra-op "
                        "threads; 0: onnxruntime's own default")
    p.add_argument("--models", nargs="*", default=None, help="model stems (default: every models/*.onnx)")
    p.add_argument("--compile", action="store_true", help="also measure the kernels' compile cost (cold/warm)")
    p.add_argument("--order-check", type=int, default=0, metavar="N",
                   help="compare the defined and BLAS's summation order of convolutions on N test images")
    args = p.parse_args(argv)

    paths = sorted(MODELS_DIR.glob("*.onnx"))
    if args.models:
        paths = [q for q in paths if q.stem in args.models]
    print("| model | T | batch | ort ms | before ms | ref ms | ref vs ort | before vs ort | ref == numpy kernels | "
          "predictions = before | predictions = ort | inputs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        for batch in args.batches:
            print(bench_model(path, batch, args.repeats, args.data_dir, args.threads), flush=True)
    if args.order_check:
        for path in paths:
            if any(op.opname == "snn.conv2d" for op in import_onnx(onnx.load(path)).ops):
                print(order_check(path, args.order_check, args.data_dir), flush=True)
    if args.compile:
        for line in compile_cost(paths):
            print(line)
    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable), "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    ort_threads = args.threads or "its default"
    print(f"software: numpy {np.__version__}, onnxruntime {ort.__version__}, onnxruntime intra-op threads: "
          f"{ort_threads}, reference BLAS threads: {args.threads or 1}")


if __name__ == "__main__":
    main()
