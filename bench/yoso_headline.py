"""Benchmark: the STDBP paper's YOSO headline, reproduced on the simulated chip.

The paper (section IV) runs a 784-800-10 STDBP MLP on MNIST on its 6 x 7 chip (22 nm): 98.45 % accuracy,
0.751 mW, 47.71 ms per image, 35.839 uJ per frame. This script compiles a 784-800-10 model for the shipped
``yoso-6x7.toml`` (traffic placer, spike statistics from training images), simulates MNIST test images on
the chip model (``snnc simulate``), and prints the figures beside the paper's, what sets each gap, and the
simulator's speed (wall time per image, extrapolated to the 10,000 test images).

Without ``--model`` the model is synthetic (``ttfs_mlp`` of ``tests/yoso_models.py``: Gaussian weights,
about half the hidden neurons fire), so its accuracy is chance and only the hardware figures mean
something; give a trained ONNX file (``snnc train stdbp --arch 784-800-10``) for the accuracy.

Usage: python bench/yoso_headline.py [--model mnist.onnx] [--data-dir DIR] [--images 200] [--workers 2]
                                     [--samples 256] [--time-steps 64] [--out DIR [--force]] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snnc.backends import get_backend
from snnc.backends.yoso import compile_yoso
from snnc.backends.yoso.drivers.simulate import simulate_deployment
from snnc.datasets import load_dataset
from snnc.errors import SnncError
from snnc.io import claim_output, write_atomic
from snnc.tests.yoso_models import ttfs_mlp

PAPER = {"accuracy_pct": 98.45, "power_mw": 0.751, "latency_ms": 47.71, "energy_uj": 35.839}
DEFAULT_DATA = "/work/shared/data/mnist"
TEST_IMAGES = 10_000


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a trained 784-800-10 STDBP ONNX model (default: synthetic)")
    p.add_argument("--data-dir", default=DEFAULT_DATA, help=f"MNIST IDX files (default {DEFAULT_DATA})")
    p.add_argument("--images", type=int, default=200, help="test images to simulate (default 200)")
    p.add_argument("--workers", type=int, default=2, help="simulation processes (default 2)")
    p.add_argument("--samples", type=int, default=256, help="training images for the placer's spike statistics")
    p.add_argument("--time-steps", type=int, default=64, help="T of the synthetic model (default 64)")
    p.add_argument("--out", default=None, help="keep the deployment here (default: a temporary folder)")
    p.add_argument("--force", action="store_true", help="replace an existing deployment at --out")
    p.add_argument("--json", default=None, help="write the figures as JSON")
    args = p.parse_args(argv)
    try:  # the outputs are checked before any work; --json is written whole or not at all (snnc.io)
        if args.out:
            claim_output(args.out, inputs=(args.model, args.data_dir), force=args.force, kind="deployment",
                         option="--out")
        json_out = (claim_output(args.json, inputs=(args.model, args.data_dir, args.out), option="--json")
                    if args.json else None)
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None

    if args.model:
        from snnc.api import load_model

        graph, what = load_model(args.model), f"model {args.model}"
    else:
        graph = ttfs_mlp((784, 800, 10), time_steps=args.time_steps, seed=0)
        what = f"synthetic 784-800-10 STDBP MLP (T = {args.time_steps}, random weights: accuracy is chance)"
    train = load_dataset("mnist", args.data_dir, split="train", limit=args.samples)
    test = load_dataset("mnist", args.data_dir, split="test", limit=args.images)
    x = test.x.reshape(len(test.x), -1)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="yoso-headline-")) / "dep"
    t0 = time.perf_counter()
    compiled = compile_yoso(graph, out, sample_x=train.x.reshape(len(train.x), -1), force=args.force,
                            model_path=args.model)
    compile_s = time.perf_counter() - t0

    ref_int = get_backend("reference").run(compiled.graph, x)
    ref_float = get_backend("reference").run(graph, x)

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    sim = simulate_deployment(out, x, y=test.y, workers=args.workers, progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    n = len(x)

    acc = 100.0 * (sim.accuracy or 0.0)
    exact = bool(np.array_equal(sim.scores, ref_int.scores))
    cyc = sim.distribution("cycles")
    lat = sim.distribution("latency_ms")
    energy = sim.distribution("energy_uj")
    power = sim.distribution("power_mw")
    parts = sim.mean_energy_pj()
    dynamic_uj = (sum(parts.values()) - parts["leakage"]) / 1e6
    leak_mw = parts["leakage"] / 1e9 / (lat["mean"] / 1e3) if lat["mean"] else 0.0
    clock_star = cyc["mean"] / (PAPER["latency_ms"] / 1e3)  # the clock that gives the paper's latency
    energy_star = leak_mw * PAPER["latency_ms"] + dynamic_uj  # uJ at that clock (leakage: mW x ms = uJ)
    busy = sim.pe_busy / max(1, n)
    steps = sim.time_steps
    barrier = steps * sim.barrier_cycles
    load = os.getloadavg()[0]

    print(f"model      {what}")
    print(f"chip       {sim.chip}: {sim.mesh[0]} x {sim.mesh[1]} mesh, {len(sim.pe_nodes)} PEs used, clock "
          f"{sim.clock_hz / 1e6:g} MHz, barrier {sim.barrier_cycles} cycles; compiled in {compile_s:.2f} s")
    print(f"images     {n} MNIST test images; simulator == integer reference on every score: {exact}")
    print()
    print(f"{'figure':<22} {'simulated':>12} {'paper':>10} {'ratio':>7}")
    rows = [("accuracy (%)", acc, PAPER["accuracy_pct"]), ("power (mW)", power["mean"], PAPER["power_mw"]),
            ("latency (ms/image)", lat["mean"], PAPER["latency_ms"]),
            ("energy (uJ/frame)", energy["mean"], PAPER["energy_uj"])]
    for name, ours, paper in rows:
        print(f"{name:<22} {ours:>12.4g} {paper:>10.4g} {ours / paper:>7.3f}")
    print()
    print(f"accuracy: float reference {100 * np.mean(ref_float.predictions == test.y):.2f} %, integer reference "
          f"{100 * np.mean(ref_int.predictions == test.y):.2f} % (8-bit weights), simulated {acc:.2f} %")
    print(f"latency:  {cyc['mean']:.0f} cycles per image (p50 {cyc['p50']:.0f}, p99 {cyc['p99']:.0f}); of which "
          f"{barrier} are the {steps} step barriers; busiest core {busy.max():.0f} busy cycles "
          f"({100 * busy.max() / cyc['mean']:.0f} % of the latency), mean core {busy.mean():.0f}")
    print(f"          the paper's 47.71 ms needs a {clock_star / 1e3:.1f} kHz clock at this cycle count "
          f"(yoso-6x7.toml: {sim.clock_hz / 1e3:g} kHz, provisional)")
    print(f"energy:   dynamic {dynamic_uj:.3f} uJ per image (" + ", ".join(
        f"{k} {v / 1e6:.3f}" for k, v in parts.items() if k != "leakage" and v / 1e6 >= 0.0005)
        + f"), leakage {parts['leakage'] / 1e6:.3f} uJ = {leak_mw:.4f} mW x latency")
    print(f"          at the calibrated clock: {energy_star:.3f} uJ per frame, "
          f"{energy_star / PAPER['latency_ms']:.4f} mW")
    spikes = sim.mean_spikes()
    print("spikes:   " + ", ".join(f"%{k} {v:.1f}" for k, v in spikes.items()) + " per image; packets "
          f"{sim.distribution('packets')['mean']:.1f}, flit hops {sim.distribution('hops')['mean']:.1f}")
    per_image = wall / max(1, n)
    print()
    print(f"speed:    {wall:.2f} s wall for {n} images with {args.workers} workers = {1e3 * per_image:.1f} ms per "
          f"image; {1e3 * cpu / max(1, n):.1f} ms CPU per image (load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"          10,000 test images: {TEST_IMAGES * per_image / 60:.1f} min at this wall rate, "
          f"{TEST_IMAGES * cpu / max(1, n) / min(args.workers, os.cpu_count() or 1) / 60:.1f} min "
          f"with {args.workers} idle cores (goal: < 10 min)")
    if json_out is not None:
        write_atomic(json_out, json.dumps({
            "model": what, "images": n, "bit_exact": exact, "accuracy_pct": acc, "power_mw": power,
            "latency_ms": lat, "energy_uj": energy, "cycles": cyc, "paper": PAPER, "dynamic_uj": dynamic_uj,
            "leakage_mw": leak_mw, "clock_for_paper_latency_hz": clock_star, "energy_at_that_clock_uj": energy_star,
            "energy_pj_mean": parts, "spikes_mean": spikes, "wall_s": wall, "cpu_s": cpu, "workers": args.workers,
            "extrapolated_test_set_min": TEST_IMAGES * per_image / 60}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
