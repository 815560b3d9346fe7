"""Outside yardstick (issue 16): snnc's NoC trace replay beside BookSim2, packets per CPU-second.

Issue 16's goal for the replay is ">= 5x BookSim2's packets per CPU-second on this box, same latencies as
today". This script runs, alternately and ``--repeats`` times each:

* **BookSim2** (built from source outside the repository: ``bench/third_party/README.md``; the binary from
  ``--booksim`` or ``$SNNC_BOOKSIM``) on ``bench/third_party/booksim_yoso_mesh.cfg``: the same mesh,
  X-Y (dimension-order) routing, one virtual channel with ``D``-flit buffers and credits, a 2-cycle router
  (speculative allocation + switch traversal), 1-cycle links, ``F``-flit packets, uniform random Bernoulli
  traffic at ``--rate`` for ``4 x sample_period`` cycles (one warm-up and three measured periods; the
  period is chosen so that about ``--packets`` packets are injected), then the drain of the measured ones;
* **snnc**: ``replay_trace`` (``snnc noc replay``) on a CSV trace of ``--packets`` packets of the same
  kind: by default snnc's reference trace (``generate_uniform_trace``: destinations uniform over the
  *other* nodes, as ``bench/noc_replay.py``), or with ``--traffic booksim`` destinations uniform over all
  nodes including the source, BookSim's ``uniform``.

Packets per CPU-second: snnc: trace packets / CPU time of the ``replay_trace`` call (read CSV + simulate
+ statistics: what ``snnc noc replay`` does); BookSim2: packets injected / CPU time (user + system) of the
``booksim`` process (parse config + build + simulate + drain + print). BookSim2 does not print how many
packets it injected: the count is its measured injection rate x nodes x injection cycles (within about 0.5 %
of the true count, Bernoulli noise of the unmeasured warm-up period). Latency: BookSim2's "Packet latency
average" (creation to tail ejection, source queueing included; packets of the measured periods) beside
snnc's average (tail ejected minus trace cycle, every packet). BookSim2 counts an injection and an
ejection channel, so its zero-load latency is ``3 H + 5`` where snnc's is ``3 H + 2`` (R = 2, L = 1, F = 1,
H router-to-router links): the script prints BookSim2's figure minus that constant too.

``--engine NAME`` is passed to ``replay_trace`` once it has an ``engine`` parameter (issue 16's compiled
core); until then asking for one is an error (see ``replay_kwargs``).

Usage:
    python bench/noc_vs_booksim.py [--booksim PATH] [--packets 50000] [--rate 0.1] [--mesh 8x8] [--flits 1 2]
                                   [--fifo-depth 4] [--repeats 3] [--traffic snnc|booksim] [--engine NAME]
                                   [--booksim-set key=value ...]
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "third_party" / "booksim_yoso_mesh.cfg"
DEFAULT_BOOKSIM = "/work/3p/booksim2/src/booksim"
WARMUP_PERIODS, MEASURED_PERIODS = 1, 3  # what booksim_yoso_mesh.cfg's thresholds make BookSim run
BOOKSIM_EXTRA_LATENCY = 3  # zero-load: BookSim 3 H + 5 vs snnc 3 H + 2 (R = 2, L = 1, F = 1)


@dataclass
class BooksimRun:
    """What one BookSim2 run printed, and what it cost."""

    packet_latency: float
    network_latency: float
    hops: float  # BookSim's "Hops average": routers traversed, router-to-router links + 1
    injected_rate: float  # packets per node per cycle, measured periods
    cycles: int  # "Time taken": injection cycles + drain
    run_time_s: float  # BookSim's own "Total run time" (wall)
    cpu_s: float = 0.0  # user + system time of the process
    packets: float = 0.0  # estimated packets injected

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return dict(self.__dict__)


def parse_booksim_output(text: str) -> BooksimRun:
    """The overall figures of a BookSim2 ``sim_type = latency`` run from its standard output.

    Raises:
        ValueError: the run did not finish (no overall statistics: unstable, or an error).
    """
    if "====== Overall Traffic Statistics ======" not in text:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise ValueError(f"BookSim2 printed no overall statistics (unstable or failed run); last lines:\n{tail}")
    overall = text.split("====== Overall Traffic Statistics ======", 1)[1]

    def number(label: str, where: str) -> float:
        m = re.search(re.escape(label) + r"\s*=\s*([-+0-9.eE]+)", where)
        if m is None:
            raise ValueError(f"BookSim2 output has no {label!r}")
        return float(m.group(1))

    taken = re.findall(r"Time taken is (\d+) cycles", text)
    run = re.search(r"Total run time ([-+0-9.eE]+)", text)
    if not taken or run is None:
        raise ValueError("BookSim2 output has no 'Time taken' or 'Total run time' line")
    return BooksimRun(packet_latency=number("Packet latency average", overall),
                      network_latency=number("Network latency average", overall),
                      hops=number("Hops average", overall),
                      injected_rate=number("Injected packet rate average", overall),
                      cycles=int(taken[-1]), run_time_s=float(run.group(1)))


def sample_period(packets: int, rate: float, nodes: int) -> int:
    """BookSim2's ``sample_period`` that injects about ``packets`` packets over its 4 injection periods."""
    if packets < 1 or not 0 < rate <= 1 or nodes < 1:
        raise ValueError("packets >= 1, 0 < rate <= 1 and nodes >= 1 needed")
    return max(1, round(packets / (rate * nodes * (WARMUP_PERIODS + MEASURED_PERIODS))))


def booksim_overrides(mesh: tuple[int, int], flits: int, fifo_depth: int, rate: float, period: int,
                      router_delay: int = 2, link_delay: int = 1) -> list[str]:
    """``key=value`` overrides of ``booksim_yoso_mesh.cfg`` for one snnc network configuration.

    Raises:
        ValueError: a configuration BookSim2's mesh cannot mirror here (non-square mesh, a link delay
            other than 1, a router delay other than 2 or 3).
    """
    cols, rows = mesh
    if cols != rows:
        raise ValueError(f"BookSim2's mesh is k x k: {cols}x{rows} has no counterpart")
    if link_delay != 1:
        raise ValueError("BookSim2's mesh channels take 1 cycle: only link delay L = 1 is mirrored")
    if router_delay not in (2, 3):
        raise ValueError("router delay R = 2 (speculative allocation) or 3 (separate VC and switch "
                         f"allocation) is mirrored, not R = {router_delay}")
    if flits < 1 or fifo_depth < 1:
        raise ValueError("flits and fifo depth must be >= 1")
    return [f"k={cols}", f"packet_size={flits}", f"vc_buf_size={fifo_depth}", f"injection_rate={rate:g}",
            f"sample_period={period}", f"speculative={1 if router_delay == 2 else 0}"]


def run_booksim(binary: str, overrides: list[str], nodes: int, period: int) -> BooksimRun:
    """Run BookSim2 once on the shipped configuration with ``overrides``; CPU time from ``wait4``.

    Raises:
        SystemExit: the binary is missing or the run failed.
    """
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise SystemExit(f"no BookSim2 binary at {binary!r}: build it (bench/third_party/README.md) and pass "
                         "--booksim PATH or set SNNC_BOOKSIM")
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen([binary, str(CONFIG), *overrides], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    # BookSim2's main() returns -1 (exit status 255) when the simulation *succeeded* and 0 when it did not
    # (main.cpp: ``return result ? -1 : 0``): trust the printed statistics, not the status.
    if proc.returncode not in (0, 255):
        raise SystemExit(f"BookSim2 exited with {proc.returncode}:\n" + "\n".join(text.splitlines()[-10:]))
    try:
        run = parse_booksim_output(text)
    except ValueError as exc:
        raise SystemExit(f"BookSim2 run failed: {exc}") from None
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.packets = run.injected_rate * nodes * period * (WARMUP_PERIODS + MEASURED_PERIODS)
    return run


def uniform_with_self(mesh: tuple[int, int], rate: float, packets: int, seed: int = 0) -> np.ndarray:
    """BookSim2's ``uniform`` traffic as a snnc trace: Bernoulli sources, destinations over *all* nodes.

    Rows ``(cycle, src, dst)`` in cycle order, rows of one cycle by source; stops at ``packets`` rows.
    """
    nodes = mesh[0] * mesh[1]
    rng = np.random.default_rng(seed)
    out, cycle, total = [], 0, 0
    while total < packets:
        src = np.nonzero(rng.random(nodes) < rate)[0]
        if src.size:
            dst = rng.integers(0, nodes, size=src.size)
            out.append(np.stack([np.full(src.size, cycle), src, dst], axis=1))
            total += src.size
        cycle += 1
    return np.concatenate(out)[:packets].astype(np.int64)


def replay_kwargs(engine: str | None) -> dict[str, Any]:
    """Keyword arguments selecting snnc's replay engine.

    ENGINE HOOK (issue 16): the compiled NoC core is being added beside the Python one. When
    ``replay_trace`` grows an ``engine`` parameter, ``--engine`` is passed through here unchanged; until
    then only the default engine can be measured and asking for another one is an error.
    """
    if engine is None:
        return {}
    from snnc.backends.yoso.drivers.trace import replay_trace

    if "engine" in inspect.signature(replay_trace).parameters:
        return {"engine": engine}
    raise SystemExit(f"--engine {engine!r}: replay_trace has no engine option yet (issue 16); "
                     "leave --engine out to measure the current replay")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--booksim", default=os.environ.get("SNNC_BOOKSIM", DEFAULT_BOOKSIM),
                    help=f"BookSim2 binary (default $SNNC_BOOKSIM or {DEFAULT_BOOKSIM})")
    ap.add_argument("--packets", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=0.1, help="packets per node per cycle")
    ap.add_argument("--mesh", default="8x8")
    ap.add_argument("--flits", type=int, nargs="+", default=[1])
    ap.add_argument("--router-delay", type=int, default=2)
    ap.add_argument("--link-delay", type=int, default=1)
    ap.add_argument("--fifo-depth", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--traffic", choices=("snnc", "booksim"), default="snnc",
                    help="snnc's trace: destinations over the other nodes (default), or over all nodes (BookSim)")
    ap.add_argument("--engine", default=None, help="snnc replay engine, passed to replay_trace")
    ap.add_argument("--booksim-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="more BookSim2 overrides (e.g. num_vcs=2); they change what BookSim2 simulates")
    args = ap.parse_args(argv)

    from snnc.backends.yoso.drivers.trace import generate_uniform_trace, parse_mesh, replay_trace, write_trace

    if args.packets < 1 or args.repeats < 1 or not 0 < args.rate <= 1:
        raise SystemExit("--packets and --repeats must be >= 1 and --rate in (0, 1]")
    mesh = parse_mesh(args.mesh)
    nodes = mesh[0] * mesh[1]
    kw = replay_kwargs(args.engine)
    period = sample_period(args.packets, args.rate, nodes)
    if args.traffic == "snnc":
        rows = generate_uniform_trace(mesh, args.rate, packets=args.packets, seed=args.seed)
    else:
        rows = uniform_with_self(mesh, args.rate, args.packets, seed=args.seed)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    print(f"snnc trace: {len(rows)} packets, {args.rate} packets/node/cycle, {mesh[0]}x{mesh[1]}, "
          f"{int(rows[-1, 0]) + 1} cycles, destinations over {'all' if args.traffic == 'booksim' else 'other'} "
          f"nodes, seed {args.seed}; engine {args.engine or 'default (python)'}")
    print(f"BookSim2: {args.booksim}, {CONFIG.name}, sample_period {period} (4 x {period} injection cycles)"
          + (f", extra {' '.join(args.booksim_set)}" if args.booksim_set else ""))
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.csv")
        write_trace(rows, path)
        for flits in args.flits:
            try:
                overrides = booksim_overrides(mesh, flits, args.fifo_depth, args.rate, period,
                                              args.router_delay, args.link_delay) + list(args.booksim_set)
            except ValueError as exc:
                raise SystemExit(f"noc_vs_booksim: {exc}") from None
            bs_runs: list[BooksimRun] = []
            sn_cpu, sn_sim = [], []
            st = None
            for _ in range(args.repeats):  # alternate: snnc, then BookSim2
                c0 = resource.getrusage(resource.RUSAGE_SELF)
                st = replay_trace(path, mesh=mesh, router_delay=args.router_delay, link_delay=args.link_delay,
                                  flits=flits, fifo_depth=args.fifo_depth, **kw)
                c1 = resource.getrusage(resource.RUSAGE_SELF)
                sn_cpu.append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
                sn_sim.append(st.wall_s)
                bs_runs.append(run_booksim(args.booksim, overrides, nodes, period))
            bs = bs_runs[-1]
            sn_rate = st.packets / med(sn_cpu)
            bs_rate = med([r.packets / r.cpu_s for r in bs_runs])
            print(f"\nF={flits} R={args.router_delay} L={args.link_delay} D={args.fifo_depth}")
            print(f"  {'':8} {'packets':>9} {'CPU s':>7} {'packets/CPU-s':>14} {'avg latency':>12} "
                  f"{'minus 3':>8} {'avg links':>9}")
            print(f"  {'snnc':8} {st.packets:>9,} {med(sn_cpu):>7.3f} {sn_rate:>14,.0f} {st.avg_latency:>12.2f} "
                  f"{'':>8} {st.avg_hops:>9.3f}")
            print(f"  {'BookSim2':8} {bs.packets:>9,.0f} {med([r.cpu_s for r in bs_runs]):>7.3f} {bs_rate:>14,.0f} "
                  f"{bs.packet_latency:>12.2f} {bs.packet_latency - BOOKSIM_EXTRA_LATENCY:>8.2f} "
                  f"{bs.hops - 1:>9.3f}")
            print(f"  ratio snnc / BookSim2: {sn_rate / bs_rate:.2f}x packets per CPU-second (goal >= 5x); "
                  f"snnc simulation only {st.packets / med(sn_sim):,.0f} packets per wall-s; "
                  f"BookSim2 {bs.cycles} cycles, its own run time {med([r.run_time_s for r in bs_runs]):.3f} s; "
                  f"medians of {args.repeats} alternating runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
