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
    p.add_argument("--image", type=int, default=None, metavar="K",
                   help="which image of the split the raster shows (default 0; needs --dataset)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")


def run(args: argparse.Namespace) -> int:
    """``snnc report``: read the deployment (and simulation), write the page; returns the exit code."""
    from snnc.backends.yoso.deploy import load_deployment
    from snnc.backends.yoso.drivers.report import load_sim_json, raster_data, raster_values, render_report, report_data
    from snnc.errors import SnncError
    from snnc.io import claim_output, write_atomic

    if args.image is not None and not args.dataset:
        raise SnncError("--image chooses the raster's image of --dataset, which is not given", where="--image",
                        hint="add --dataset NAME, or leave out --image")
    if args.image is not None and args.image < 0:
        raise SnncError(f"image {args.image} is not an index", where="--image", hint="give an index from 0")
    # never over the --sim file, through a symlink, or inside the deployment (snnc.io's one output discipline)
    out = claim_output(args.output, inputs=(args.sim, args.dir), force=args.force, option="-o")
    dep = load_deployment(args.dir)
    sim = load_sim_json(args.sim) if args.sim else None
    raster = None
    if args.dataset:
        from snnc.backends.yoso.drivers.simulate import get_chip, simulate_deployment
        from snnc.datasets import load_dataset

        k = args.image or 0
        data = load_dataset(args.dataset, args.data_dir, split=args.split, limit=k + 1)
        if k >= len(data.x):
            raise SnncError(f"image {k} is not in the {args.split} split of {data.name} ({len(data.x)} images)",
                            where="--image", hint=f"give an index from 0 to {len(data.x) - 1}")
        features = tuple(get_chip(args.dir).host.graph.inputs[0].type.features)
        x = data.reshaped(features).x[k:k + 1]
        y = None if data.y is None else data.y[k:k + 1]
        rec = simulate_deployment(args.dir, x, y=y, record=True)
        first = rec.images[0]
        raster = raster_data(rec.spikes, raster_values(dep), image={
            "index": k, "label": first.label, "prediction": first.prediction})
    page = render_report(report_data(dep, sim, raster))
    write_atomic(out, page)
    print(f"wrote {out}", file=sys.stderr)
    return 0
