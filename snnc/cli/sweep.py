"""``snnc sweep DIR --hw-grid FILE --dataset NAME -o OUTDIR``: recompile and simulate over a hardware grid.

The options, the table and the files; the sweep is :func:`snnc.backends.yoso.drivers.sweep.sweep_deployment`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snnc.cli._util import bounded_float, bounded_int, positive_int

#: grids with fewer points run serially under --scheduler auto (a local cluster takes seconds to start)
AUTO_LOCAL_POINTS = 8


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``snnc sweep``."""
    p.add_argument("dir", help="a deployment directory written by 'snnc compile --target yoso' (its model.ir is "
                               "recompiled, its hardware.toml is the base of the grid)")
    p.add_argument("--hw-grid", required=True, metavar="FILE",
                   help="TOML grid of hardware values: [grid] mesh = [\"6x7\", \"8x8\"], neurons = [...], "
                        "weights = [...], clock_hz = [...], [grid.<section>] key = [...] (docs/sweep.md)")
    p.add_argument("--dataset", required=True, help="mnist, fashion-mnist or digits")
    p.add_argument("--data-dir", default=None, help="directory of the dataset files (see 'snnc run --help')")
    p.add_argument("--split", default="test", choices=["train", "test", "all"], help="dataset split (default: test)")
    p.add_argument("--limit", type=positive_int, default=None, help="simulate only the first N images at each point")
    p.add_argument("--scheduler", default="auto", metavar="WHERE",
                   help="serial (this process), local (a Dask cluster of --workers processes on loopback), "
                        "tcp://HOST:PORT of a running 'dask scheduler', or auto (default): serial for grids of "
                        f"fewer than {AUTO_LOCAL_POINTS} points, where starting a cluster costs more than it saves, "
                        "else local")
    p.add_argument("--workers", type=positive_int, default=2, help="workers of the local Dask cluster (default 2)")
    p.add_argument("--scheduler-timeout", type=bounded_float(0.001, 86_400.0), default=None, metavar="S",
                   help="seconds to wait for the Dask scheduler and its first worker (default 10)")
    p.add_argument("--placer", default=None, choices=["traffic", "snake", "row-major"],
                   help="PE placement at every point (default: the deployment's)")
    p.add_argument("--region", default="auto", choices=["auto", "hw"],
                   help="placement region: auto (smallest near-square grid, default) or hw (the whole mesh)")
    p.add_argument("--barrier-cycles", type=bounded_int(0, 1 << 31), default=None, metavar="B",
                   help="step barrier of every point (default: derived from each point's mesh)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="write sweep.csv and pareto.png here")
    p.add_argument("--force", action="store_true", help="overwrite sweep.csv and pareto.png in an existing OUTDIR")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def run(args: argparse.Namespace) -> int:
    """``snnc sweep``: load the grid and the dataset, sweep, print the table, write CSV and plot."""
    from snnc.backends.yoso.deploy import load_deployment
    from snnc.backends.yoso.drivers.sweep import _graph, load_grid, sweep_deployment, write_pareto_plot
    from snnc.datasets import load_dataset
    from snnc.errors import SnncError
    from snnc.io import claim_files, write_atomic

    out = Path(args.output)
    # never over an input, through a symlink, inside a deployment, or over sweep.csv / pareto.png without --force
    claim_files(out, ("sweep.csv", "pareto.png"), inputs=(args.dir, args.hw_grid, args.data_dir), force=args.force,
                option="-o")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SnncError("output directory already exists and is not empty", where=str(out),
                        hint="choose another directory, or pass --force to overwrite sweep.csv and pareto.png")
    grid = load_grid(args.hw_grid)
    if args.scheduler == "auto":
        args.scheduler = "serial" if len(grid.points()) < AUTO_LOCAL_POINTS else "local"
    if args.scheduler != "serial":
        from snnc.backends.yoso.drivers.distributed import check_scheduler

        check_scheduler(args.scheduler)
    dep = load_deployment(args.dir)
    graph = _graph(dep.model_ir)
    n_out = graph.outputs[0].type.size
    data = load_dataset(args.dataset, args.data_dir, split=args.split, limit=args.limit)
    if data.num_classes > n_out:
        raise SnncError(f"dataset {data.name} has {data.num_classes} classes but the model scores only {n_out}",
                        where=args.dir, hint="sweep a model trained for this dataset")
    x = data.reshaped(tuple(graph.inputs[0].type.features)).x
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    print(f"sweep {args.dir}: {len(grid.points())} points x {len(x)} {data.name} images, scheduler "
          f"{args.scheduler}" + (f" ({args.workers} workers)" if args.scheduler == "local" else ""),
          file=sys.stderr, flush=True)
    from snnc.backends.yoso.drivers.sweep import SweepInterrupted

    code = 0
    try:
        result = sweep_deployment(args.dir, grid, x, data.y, scheduler=args.scheduler, workers=args.workers,
                                  scheduler_timeout=args.scheduler_timeout, placer=args.placer, region=args.region,
                                  barrier_cycles=args.barrier_cycles, progress=progress)
    except SweepInterrupted as stop:  # Ctrl-C: keep the finished points, say so
        result, code = stop.partial, 130
        print(f"interrupted: {len(result.rows)} of {stop.total} points finished; the table and files below hold "
              f"them only (partial)", file=sys.stderr)
        if not result.rows:
            return code
    print(result.format(), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "sweep.csv", result.csv_text())
    print(f"wrote {out / 'sweep.csv'}" + (" (partial)" if code else ""), file=sys.stderr)
    print(f"wrote {write_pareto_plot(result, out / 'pareto.png')}", file=sys.stderr)
    return code
