"""Startup time of the ``snnc`` command against ``python -c "import numpy"``.

Runs ``snnc --version``, ``snnc --help`` and ``python -c "import numpy"`` in turn (round robin, so a
machine that slows down slows all three alike), ``--runs`` times each after one warm-up round, and prints
the median, minimum and maximum wall time of each and the ratio of the medians to ``import numpy``
(the goal of issue 13: within 2x). The console script is the one next to this Python (a venv's
``bin/snnc``); ``--snnc`` names another; ``--compare PATH`` times a second one in the same rounds
(e.g. a script that runs an older checkout: before and after on one machine at one time).

    python bench/cli_startup.py [--runs 15] [--snnc PATH] [--compare PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=15, help="timed runs of each command (default 15)")
    p.add_argument("--snnc", default=None, help="the snnc console script (default: next to this Python)")
    p.add_argument("--compare", default=None, metavar="PATH", help="another snnc script to time alongside")
    args = p.parse_args(argv)
    snnc = args.snnc or os.path.join(os.path.dirname(sys.executable), "snnc")
    if not os.path.exists(snnc):
        snnc = shutil.which("snnc") or sys.exit("no snnc console script found; pass --snnc")
    commands = {
        "snnc --version": [snnc, "--version"],
        "snnc --help": [snnc, "--help"],
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
    }
    if args.compare:
        commands["compare --version"] = [args.compare, "--version"]
        commands["compare --help"] = [args.compare, "--help"]
    for cmd in commands.values():  # warm-up: page cache, .pyc files
        _time(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    base = statistics.median(times['python -c "import numpy"'])
    print(f"{'command':<26} {'median s':>9} {'min s':>7} {'max s':>7} {'x numpy':>8}   ({args.runs} runs each)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<26} {med:9.3f} {min(ts):7.3f} {max(ts):7.3f} {med / base:8.2f}")
    if args.compare:
        print(f"compare = {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
