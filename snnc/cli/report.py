"""``snnc report DIR [--sim RESULTS.json] -o report.html``: a deployment report in one self-contained HTML file.

The page is :mod:`snnc.backends.yoso.drivers.report`; this module holds the options and the file output.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``snnc report``."""
    p.add_argument("dir", help="a deployment directory written by 'snnc compile --target yoso'")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    p.add_argument("--sim", default=None, metavar="RESULTS.json",
                   help="a simulation of this deployment ('snnc simulate DIR --json FILE'): adds core utilisation, "
                        "measured link loads, latency and energy breakdowns")
    p.add_argument("--dataset", default=None,
                   help="simulate one image of this dataset (mnist, fashion-mnist or digits) with every spike "
                        "recorded and add its raster")
    p.add_argument("--data-dir", default=None, help="directory of the dataset files (see 'snnc run --help')")
    p.add_argument("--split", default="test", choices=["train", "test", "all"], help="dataset split (default: test)")
    p.add_argument("--image", type=int, default=0, metavar="K", help="which image of the split the raster shows "
                   "(default 0)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")


def run(args: argparse.Namespace) -> int:
    """``snnc report``: read the deployment (and simulation), write the page; returns the exit code."""
    from snnc.backends.yoso.deploy import load_deployment
    from snnc.backends.yoso.drivers.report import load_sim_json, raster_data, raster_values, render_report, report_data
    from snnc.errors import SnncError
    from snnc.io import check_output_path, write_atomic

    inputs = tuple(x for x in (args.sim,) if x)
    out = check_output_path(args.output, inputs=inputs, force=args.force)
    if out.is_symlink():
        raise SnncError("refusing to write the report through a symbolic link", where=str(out),
                        hint="give the path of a regular file")
    dep = load_deployment(args.dir)
    sim = load_sim_json(args.sim) if args.sim else None
    raster = None
    if args.dataset:
        from snnc.backends.yoso.drivers.simulate import get_chip, simulate_deployment
        from snnc.datasets import load_dataset

        data = load_dataset(args.dataset, args.data_dir, split=args.split, limit=args.image + 1)
        if args.image < 0 or args.image >= len(data.x):
            raise SnncError(f"image {args.image} is not in the {args.split} split of {data.name} "
                            f"({len(data.x)} images)", where="--image", hint="give an index from 0")
        features = tuple(get_chip(args.dir).host.graph.inputs[0].type.features)
        x = data.reshaped(features).x[args.image:args.image + 1]
        y = None if data.y is None else data.y[args.image:args.image + 1]
        rec = simulate_deployment(args.dir, x, y=y, record=True)
        first = rec.images[0]
        raster = raster_data(rec.spikes, raster_values(dep), image={
            "index": args.image, "label": first.label, "prediction": first.prediction})
    page = render_report(report_data(dep, sim, raster))
    write_atomic(out, page)
    print(f"wrote {out}", file=sys.stderr)
    return 0
