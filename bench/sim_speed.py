"""Speed of the compiled chip simulator (issue 16) against the Python model, on the same deployments and images.

For each model (``models/stdbp-mnist-784-800-10`` on the shipped chip, ``models/stdbp-mnist-cnn`` on
``examples/yoso-12x13.toml``, compiled as ``tests/golden`` does: traffic placer, automatic mesh, 64 training images
as the placer's samples) the bench runs the same MNIST test images on both engines, alternating the engines image
by image (A B A B ...: the machine's load hits both alike), and reports the median ms per image of each, the ratio,
and whether every field of every image's result is identical. Then it runs the whole MNIST test set through
``simulate_deployment`` on the compiled engine, and measures the compile cost of the kernels: a fresh process with
an empty numba cache (``NUMBA_CACHE_DIR`` a new temporary directory), then a fresh process on that warm cache.

Usage:
    python bench/sim_speed.py --data-dir /work/shared/data/mnist [--images 20] [--cnn-images 3] [--full]
                              [--workers 1] [--skip-compile-cost]
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
from dataclasses import asdict
from pathlib import Path

import numpy as np

from snnc.api import load_model
from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.drivers.simulate import simulate_deployment
from snnc.backends.yoso.sim.chip import Chip
from snnc.backends.yoso.sim.compiled.chip import CompiledChip
from snnc.datasets import load_dataset

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"784-800-10": ("stdbp-mnist-784-800-10", None), "cnn": ("stdbp-mnist-cnn", "examples/yoso-12x13.toml")}


def deploy(model: str, hw: str | None, out: Path, data_dir: str) -> Path:
    """Compile ``models/<model>.onnx`` for YOSO as the golden outputs do (traffic placer, automatic mesh)."""
    graph = load_model(str(ROOT / "models" / f"{model}.onnx"))
    features = tuple(graph.inputs[0].type.features)
    sample = load_dataset("mnist", data_dir=data_dir, split="train", limit=64).x.reshape(-1, *features)
    options: dict = {"placer": "traffic", "mesh": "auto", "sample_x": sample.astype(np.float32),
                     "model_path": str(ROOT / "models" / f"{model}.onnx")}
    if hw is not None:
        options["hw_path"] = str(ROOT / hw)
    compile_yoso(graph, out, **options)
    return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


def side_by_side(dep: Path, x: np.ndarray) -> dict:
    """Both engines on every image of ``x``, alternating; ms per image (median), ratio, identical results."""
    chip = Chip(load_deployment(dep))
    compiled = CompiledChip(chip)
    env = chip.host.encode(x.reshape(len(x), *chip.host.graph.inputs[0].type.features))
    inputs = [chip.input_spikes(env, b) for b in range(len(x))]
    compiled.run_image(inputs[0])  # load the kernels (compile cost is measured separately)
    py_ms, cc_ms, same = [], [], True
    stats = {"cycles": [], "packets": [], "hops": []}
    for inp in inputs:
        t0 = time.perf_counter()
        a = chip.run_image(inp)
        t1 = time.perf_counter()
        b = compiled.run_image(inp)
        t2 = time.perf_counter()
        py_ms.append(1e3 * (t1 - t0))
        cc_ms.append(1e3 * (t2 - t1))
        same = same and _same(asdict(a), asdict(b))
        stats["cycles"].append(a.cycles)
        stats["packets"].append(a.counters["packets_injected"])
        stats["hops"].append(a.counters["router_flits"])
    py, cc = statistics.median(py_ms), statistics.median(cc_ms)
    return {"python_ms": py, "compiled_ms": cc, "ratio": py / cc, "identical": same, "images": len(x),
            "cycles": statistics.mean(stats["cycles"]), "packets": statistics.mean(stats["packets"]),
            "router_flits": statistics.mean(stats["hops"])}


_COMPILE_PROBE = """
import sys, time
t0 = time.perf_counter()
import numpy as np
from snnc.backends.yoso.deploy import load_deployment
from snnc.backends.yoso.sim.chip import Chip
from snnc.backends.yoso.sim.compiled.chip import CompiledChip
chip = Chip(load_deployment(sys.argv[1]))
x = np.random.default_rng(0).random((1, *chip.host.graph.inputs[0].type.features)).astype(np.float32)
inp = chip.input_spikes(chip.host.encode(x), 0)
t1 = time.perf_counter()
c = CompiledChip(chip)
c.run_image(inp)
t2 = time.perf_counter()
c.run_image(inp)
t3 = time.perf_counter()
print(f"{t2 - t1:.3f} {t3 - t2:.4f}")
"""


def compile_cost(dep: Path) -> tuple[float, float]:
    """Seconds to the first image's result in a fresh process: with an empty numba cache, then with it warm."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(2):
            p = subprocess.run([sys.executable, "-c", _COMPILE_PROBE, str(dep)], env=env, capture_output=True,
                               text=True, check=True, timeout=1800)
            out.append(float(p.stdout.split()[0]))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/work/shared/data/mnist")
    ap.add_argument("--images", type=int, default=20, help="784-800-10 images run on both engines")
    ap.add_argument("--cnn-images", type=int, default=3, help="CNN images run on both engines")
    ap.add_argument("--full", action="store_true", help="also the whole MNIST test set on the compiled engine")
    ap.add_argument("--workers", type=int, default=1, help="processes for the full test set")
    ap.add_argument("--skip-compile-cost", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    test = load_dataset("mnist", data_dir=args.data_dir, split="test")
    with tempfile.TemporaryDirectory(prefix="sim-speed-") as tmp:
        deps = {}
        for label, (model, hw) in MODELS.items():
            deps[label] = deploy(model, hw, Path(tmp) / label, args.data_dir)
        for label, n in (("784-800-10", args.images), ("cnn", args.cnn_images)):
            r = side_by_side(deps[label], test.x[:n])
            print(f"{label}: {r['images']} images, {r['cycles']:.0f} cycles, {r['packets']:.0f} packets, "
                  f"{r['router_flits']:.0f} router flits per image; python {r['python_ms']:.2f} ms, compiled "
                  f"{r['compiled_ms']:.3f} ms per image (median), ratio {r['ratio']:.1f}x, identical: "
                  f"{r['identical']}")
        if args.full:
            t0 = time.perf_counter()
            res = simulate_deployment(deps["784-800-10"], test.x, y=test.y, workers=args.workers)
            wall = time.perf_counter() - t0
            print(f"full MNIST test set on 784-800-10, compiled, workers={args.workers}: {len(test.x)} images in "
                  f"{wall:.1f} s ({1e3 * wall / len(test.x):.2f} ms per image, API end to end), accuracy "
                  f"{100 * res.accuracy:.2f} %")
        if not args.skip_compile_cost:
            cold, warm = compile_cost(deps["784-800-10"])
            print(f"kernels: first image in a fresh process with an empty numba cache {cold:.1f} s (compile), "
                  f"with the warm cache {warm:.2f} s")


if __name__ == "__main__":
    main()
