"""Sweep throughput: deployments (grid points) recompiled and simulated per minute, serial against Dask.

Compiles a model for YOSO once (the shipped yoso-6x7.toml), then sweeps the same hardware grid over the
deployment three ways, side by side in one run, and checks that the three tables are identical:

* ``serial``: every point in this process, one after the other (``--scheduler serial``);
* ``dask, cold``: ``--scheduler local`` as ``snnc sweep`` runs it by default: a LocalCluster of N worker
  processes (loopback, one thread each) started for the sweep, so the figure includes the cluster's
  start, the workers' imports and the transfer of the model;
* ``dask, warm``: the same sweep again on a cluster that already ran one (started and warmed outside
  the timing): the steady state of a long sweep, or of a real cluster kept running.

Per point: recompile ``model.ir`` with the point's hardware (quantize is skipped on the quantized IR;
partition, place, route, deploy), simulate ``--images`` test images on the chip model, one row.
The default grid is 8 points: mesh 6x7 / 8x8 x N 128 / 256 x clock 1 / 2 MHz, with the MNIST
784-400-10 STDBP model on 16 images per point.

Usage:
    python bench/sweep_throughput.py [--model models/stdbp-mnist-784-400-10.onnx] [--dataset mnist]
        [--data-dir /work/shared/data/mnist] [--images 16] [--workers 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

GRID = """[grid]
mesh = ["6x7", "8x8"]
neurons = [128, 256]
clock_hz = [1e6, 2e6]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/stdbp-mnist-784-400-10.onnx")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default="/work/shared/data/mnist")
    ap.add_argument("--images", type=int, default=16, help="test images simulated at every point")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers of the local cluster")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each mode (best is reported)")
    ap.add_argument("--grid", default=None, help="a grid file (default: the 8-point grid above)")
    args = ap.parse_args()

    import distributed

    from snnc.api import load_model
    from snnc.backends.yoso.compile import compile_yoso
    from snnc.backends.yoso.drivers.sweep import load_grid, sweep_deployment
    from snnc.datasets import load_dataset

    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run")
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        dep = Path(tmp) / "deployment"
        graph = load_model(args.model)
        compile_yoso(graph, dep, model_path=args.model)
        grid_path = Path(args.grid) if args.grid else Path(tmp) / "grid.toml"
        if not args.grid:
            grid_path.write_text(GRID, encoding="utf-8")
        grid = load_grid(grid_path)
        data = load_dataset(args.dataset, args.data_dir, limit=args.images)
        x = data.reshaped(tuple(graph.inputs[0].type.features)).x
        n = len(grid.points())
        print(f"model {args.model}, {n} grid points x {len(x)} {data.name} test images per point")

        def timed(label: str, **kw: object) -> tuple[float, str]:
            best, csv = float("inf"), ""
            for _ in range(args.repeats):
                start = time.perf_counter()
                result = sweep_deployment(dep, grid, x, data.y, **kw)
                best = min(best, time.perf_counter() - start)
                csv = result.csv_text()
            ok = sum(r["status"] == "ok" for r in result.rows)
            print(f"{label:<32} {best:7.2f} s  {60 * n / best:7.1f} deployments/min  ({ok}/{n} feasible)")
            return best, csv

        serial, csv_serial = timed("serial (1 process)", scheduler="serial")
        cold, csv_cold = timed(f"dask local, {args.workers} workers, cold", scheduler="local", workers=args.workers)
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                      scheduler_kwargs={"dashboard": False},
                                      silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
            sweep_deployment(dep, grid, x, data.y, scheduler=client)  # warm-up: imports, model parse, caches
            warm, csv_warm = timed(f"dask local, {args.workers} workers, warm", scheduler=client)
        same = csv_serial == csv_cold == csv_warm
        print(f"speed-up over serial: cold {serial / cold:.2f}x, warm {serial / warm:.2f}x; "
              f"tables identical: {same}")
        if not same:
            raise SystemExit("the Dask tables differ from the serial one")


if __name__ == "__main__":
    main()
