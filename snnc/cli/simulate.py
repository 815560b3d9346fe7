"""``snnc simulate DIR --dataset NAME``: run a compiled deployment on the YOSO chip model.

The options and the report; the simulation is :func:`snnc.backends.yoso.drivers.simulate.simulate_deployment`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from snnc.cli._util import bounded_float, bounded_int, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``snnc simulate``."""
    p.add_argument("dir", help="a deployment directory written by 'snnc compile --target yoso'")
    p.add_argument("--dataset", required=True, help="mnist, fashion-mnist or digits")
    p.add_argument("--data-dir", default=None, help="directory of the dataset files (see 'snnc run --help')")
    p.add_argument("--split", default="test", choices=["train", "test", "all"], help="dataset split (default: test)")
    p.add_argument("--limit", type=positive_int, default=None, help="simulate only the first N images")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="simulate images in N processes (same results as 1; default 1); with --dask and a local "
                        "cluster: its N worker processes (default 2)")
    p.add_argument("--dask", action="store_true",
                   help="run the image chunks as Dask tasks (default scheduler: a local cluster of --workers "
                        "processes on loopback); same results")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="Dask scheduler: 'local' or tcp://HOST:PORT of a running 'dask scheduler' (implies --dask)")
    p.add_argument("--scheduler-timeout", type=bounded_float(0.001, 86_400.0), default=None, metavar="S",
                   help="seconds to wait for the Dask scheduler and its first worker (default 10)")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="write PNG plots here: mesh heatmap of link and PE activity, spike raster of one "
                        "image (--raster-image), latency histogram")
    p.add_argument("--raster-image", type=int, default=0, metavar="K",
                   help="which image the --plots spike raster shows (default 0, the first)")
    p.add_argument("--json", default=None, metavar="FILE", help="write every per-image record and the summary as JSON")
    p.add_argument("--force", action="store_true", help="overwrite the --json file and --plots files if they exist")
    p.add_argument("--show", type=bounded_int(0, 1 << 31), default=10, metavar="N",
                   help="print the first N images (default 10; 0: none)")
    p.add_argument("--barrier-cycles", type=bounded_int(0, 1 << 31), default=None, metavar="B",
                   help="cycles between the end of a step and the start of the next (default: derived from the mesh)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--trace-out", default=None, metavar="FILE",
                   help="also write the packets of one image (--trace-image, default 0) as a trace CSV for "
                        "'snnc noc replay' (multicasts as one row per destination; the host link is node 0)")
    p.add_argument("--trace-image", type=bounded_int(0, 1 << 31), default=0, metavar="K",
                   help="the image --trace-out records (default 0)")
    p.add_argument("--engine", default="auto", choices=["auto", "compiled", "python"],
                   help="simulator core: compiled (numba), python (the readable model), auto (compiled when every "
                        "neuron of the deployment has a compiled update; default). Results are identical")


def run(args: argparse.Namespace) -> int:
    """``snnc simulate``: load the dataset, simulate, print the report; returns the exit code."""
    from snnc.backends.yoso.drivers.plots import PLOT_FILES
    from snnc.backends.yoso.drivers.simulate import get_chip, simulate_deployment
    from snnc.datasets import load_dataset
    from snnc.errors import SnncError
    from snnc.io import claim_files, claim_output, first_non_finite, sanitize_text, write_atomic

    # refuse a bad --json / --plots path before minutes of simulation, not after (snnc.io: never over an input)
    inputs = (args.dir, args.data_dir)
    json_out = claim_output(args.json, inputs=inputs, force=args.force, option="--json") if args.json else None
    trace_out = claim_output(args.trace_out, inputs=(*inputs, args.json), force=args.force,
                             option="--trace-out") if args.trace_out else None
    if args.plots:
        claim_files(args.plots, PLOT_FILES, inputs=inputs, force=args.force, option="--plots")
    chip = get_chip(args.dir, args.barrier_cycles)
    features = tuple(chip.host.graph.inputs[0].type.features)
    n_out = chip.host.graph.outputs[0].type.size
    data = load_dataset(args.dataset, args.data_dir, split=args.split, limit=args.limit)
    if data.num_classes > n_out:
        raise SnncError(f"dataset {data.name} has {data.num_classes} classes but the model scores only {n_out}",
                        where=args.dir, hint="simulate a model trained for this dataset")
    trained_on = chip.host.graph.metadata.get("snn.dataset")
    if trained_on and trained_on != args.dataset:
        print(f"note: the model was trained on {trained_on} (its snn.dataset), and is simulated here on "
              f"{args.dataset}", file=sys.stderr)
    x = data.reshaped(features).x
    if args.plots and not 0 <= args.raster_image < len(x):  # before the simulation, not after
        raise SnncError(f"image {args.raster_image} is not among the {len(x)} simulated images",
                        where="--raster-image", hint=f"give an index from 0 to {len(x) - 1}")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    scheduler = args.scheduler or ("local" if args.dask else None)
    workers = args.workers or (2 if scheduler == "local" else 1)
    from snnc.backends.yoso.drivers.simulate import SimulationInterrupted

    try:
        result = simulate_deployment(args.dir, x, y=data.y, workers=workers, progress=progress,
                                     barrier_cycles=args.barrier_cycles, scheduler=scheduler,
                                     scheduler_timeout=args.scheduler_timeout, engine=args.engine)
    except SnncError as err:  # a Dask run that lost its workers or scheduler: keep the finished images too
        partial = getattr(err, "partial", None)
        if partial is None or not partial.images:
            raise
        print(sanitize_text(partial.format(show=max(0, args.show))), flush=True)
        if json_out is not None:
            write_atomic(json_out, json.dumps(_json(partial, args, data, partial=True), indent=1) + "\n")
            print(f"wrote {json_out} (partial: {len(partial.images)} of {len(x)} images)", file=sys.stderr)
        raise
    except SimulationInterrupted as stop:  # Ctrl-C: report and keep what finished, marked partial
        done = len(stop.partial.images)
        print(sanitize_text(stop.partial.format(show=max(0, args.show))), flush=True)
        print(f"interrupted: {done} of {stop.total} images finished (the report above is theirs); rerun with "
              f"--limit to bound the run", file=sys.stderr)
        if json_out is not None and done:
            write_atomic(json_out, json.dumps(_json(stop.partial, args, data, partial=True), indent=1) + "\n")
            print(f"wrote {json_out} (partial: {done} of {stop.total} images)", file=sys.stderr)
        return 130
    bad = first_non_finite(result.summary())  # a figure derived from absurd hardware values is not printed
    if bad:
        raise SnncError(f"the simulated {bad[0]} is {bad[1]}, not a finite number", where=args.dir,
                        hint="check the clock and energy values of the deployment's hardware.toml")
    print(sanitize_text(result.format(show=max(0, args.show))), flush=True)
    if json_out is not None:
        write_atomic(json_out, json.dumps(_json(result, args, data), indent=1) + "\n")
        print(f"wrote {json_out}", file=sys.stderr)
    if trace_out is not None:
        from snnc.backends.yoso.drivers.trace import HEADER, chip_trace

        rows = chip_trace(args.dir, x, args.trace_image)
        write_atomic(trace_out, ",".join(HEADER) + "\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows.tolist()))
        print(f"wrote {trace_out} ({len(rows)} packets of image {args.trace_image}; replay with snnc noc replay "
              f"{trace_out} --hw {args.dir}/hardware.toml)", file=sys.stderr)
    if args.plots:
        from snnc.backends.yoso.drivers.plots import write_plots

        k = args.raster_image
        first = simulate_deployment(args.dir, x[:k + 1], y=data.y[:k + 1], record=True,
                                    barrier_cycles=args.barrier_cycles)
        for path in write_plots(result, args.plots, raster=first, raster_image=k):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _json(result: object, args: argparse.Namespace, data: object, partial: bool = False) -> dict:
    """``--json``: the simulation's records plus what was run (dataset, split, limit, engine, snnc version)."""
    from snnc import __version__

    out = result.to_json()  # type: ignore[attr-defined]
    out["run"] = {"dataset": data.name, "split": data.split, "limit": args.limit,  # type: ignore[attr-defined]
                  "images": len(result.images), "partial": partial, "engine": args.engine,  # type: ignore[attr-defined]
                  "barrier_cycles": args.barrier_cycles, "snnc": __version__}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``snnc simulate`` with these arguments (default: ``sys.argv[1:]``); returns the exit code."""
    from snnc.cli import main as snnc_main

    return snnc_main(["simulate", *(sys.argv[1:] if argv is None else argv)])
