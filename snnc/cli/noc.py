"""``snnc noc``: network-on-chip tools; ``snnc noc replay TRACE.csv``: replay a packet trace on the mesh model.

The options and the report; the replay is :func:`snnc.backends.yoso.drivers.trace.replay_trace`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from snnc.cli._util import bounded_int

if TYPE_CHECKING:
    from snnc.backends.yoso.sim.noc import NocConfig

#: First line of the trace module's docstring: the description of ``snnc noc replay``.
REPLAY_DESCRIPTION = ("Trace replay on the mesh network: read a CSV of 'cycle,src,dst' packets, run it, report "
                      "latency and load.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The subcommands of ``snnc noc``."""
    sub = p.add_subparsers(dest="noc_command", metavar="SUBCOMMAND", required=True)
    replay = sub.add_parser("replay", help="replay a packet trace (CSV cycle,src,dst) on the mesh NoC model",
                            description=REPLAY_DESCRIPTION)
    add_replay_arguments(replay)
    replay.set_defaults(noc_run=run_replay)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand of ``snnc noc``; returns the exit code."""
    return int(args.noc_run(args) or 0)


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``snnc noc replay``."""
    from snnc.backends.yoso.drivers.trace import DEFAULTS

    p.add_argument("trace", help="packets as CSV 'cycle,src,dst' (header optional) or BookSim2's 'cycle src dst type' "
                                 "lines; node = x + cols*y")
    p.add_argument("--mesh", default=None, metavar="COLSxROWS",
                   help="mesh size (default: 8x8, or the --hw file's mesh)")
    p.add_argument("--router-delay", type=bounded_int(hi=1 << 20), default=None, metavar="R",
                   help=f"router pipeline delay, cycles (default {DEFAULTS['router_delay']})")
    p.add_argument("--link-delay", type=bounded_int(hi=1 << 20), default=None, metavar="L",
                   help=f"link delay, cycles (default {DEFAULTS['link_delay']})")
    p.add_argument("--flits", type=bounded_int(hi=1 << 20), default=None, metavar="F",
                   help=f"flits per packet (default {DEFAULTS['flits']})")
    p.add_argument("--fifo-depth", type=bounded_int(hi=1 << 20), default=None, metavar="D",
                   help=f"flits per router input FIFO (default {DEFAULTS['fifo_depth']})")
    p.add_argument("--hw", default=None, metavar="TOML",
                   help="take the mesh and network defaults from a YOSO hardware file (flags still override)")
    p.add_argument("--watchdog", type=bounded_int(1, 1 << 40), default=10_000, metavar="K",
                   help="report a deadlock after K cycles without any flit moving (default 10000)")
    p.add_argument("--links", default="10", metavar="N|all", help="how many of the busiest links to list (default 10)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every statistic as JSON to FILE")
    p.add_argument("--force", action="store_true", help="overwrite the --json / --booksim-out files if they exist")
    p.add_argument("--booksim-out", default=None, metavar="FILE",
                   help="also write the trace in BookSim2's format ('cycle src dst type' lines)")
    p.add_argument("--engine", default="auto", choices=["auto", "compiled", "python"],
                   help="network core: compiled (numba), python (the readable model) or auto (default); the latencies "
                        "are identical")


def config_from_args(args: argparse.Namespace) -> NocConfig:
    """The network of the command line: flags over ``--hw`` over the defaults."""
    from snnc.backends.yoso.drivers.trace import noc_config

    return noc_config(hardware=args.hw, mesh=args.mesh, router_delay=args.router_delay,
                      link_delay=args.link_delay, flits=args.flits, fifo_depth=args.fifo_depth,
                      watchdog=args.watchdog)


def run_replay(args: argparse.Namespace) -> int:
    """Run ``snnc noc replay`` from parsed arguments; prints the report, returns the exit code."""
    from snnc.backends.yoso.drivers.trace import MAX_TRACE_BYTES, TraceError, replay_trace
    from snnc.io import check_input, claim_output, parse_int, write_atomic

    links = None if args.links == "all" else parse_int(args.links, what="--links", lo=0, hi=1 << 30,
                                                        error=TraceError)
    check_input(args.trace, what="trace file", max_bytes=MAX_TRACE_BYTES, error=TraceError)
    if args.hw is not None:
        check_input(args.hw, what="hardware file", max_bytes=1 << 20, error=TraceError)
    json_out = claim_output(args.json, inputs=(args.trace, args.hw), force=args.force,
                            option="--json", error=TraceError) if args.json else None
    booksim_out = claim_output(args.booksim_out, inputs=(args.trace, args.hw, args.json), force=args.force,
                               option="--booksim-out", error=TraceError) if args.booksim_out else None
    config = config_from_args(args)
    stats = replay_trace(args.trace, config=config, engine=args.engine)
    print(stats.format(links))
    if json_out is not None:
        write_atomic(json_out, json.dumps(stats.to_json(), indent=1) + "\n")
        print(f"wrote {json_out}", file=sys.stderr)
    if booksim_out is not None:
        from snnc.backends.yoso.drivers.trace import read_trace, write_booksim_trace

        write_booksim_trace(read_trace(args.trace), booksim_out)
        print(f"wrote {booksim_out} (BookSim2 trace format)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``snnc noc replay`` with these arguments (default: ``sys.argv[1:]``); returns the exit code."""
    from snnc.cli import main as snnc_main

    return snnc_main(["noc", "replay", *(sys.argv[1:] if argv is None else argv)])
