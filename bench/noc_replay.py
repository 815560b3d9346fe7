"""Speed of the NoC simulator: packets simulated per wall second in trace replay.

Replays uniform random traffic on an 8 x 8 mesh at 0.1 packets/node/cycle (the issue's benchmark; an
established C++ cycle-accurate simulator does about 45,000 packets/s on this machine). The trace is
written to a CSV file and replayed from it, as ``snnc noc replay`` would; the figure is reported both
end to end (read + simulate + statistics) and for the simulation alone. Network defaults are the
shipped yoso-6x7.toml's: R = 2, L = 1, F = 1 (one 32-bit flit per spike), D = 4.

Usage:
    python bench/noc_replay.py [--packets 50000] [--rate 0.1] [--mesh 8x8] [--flits 1 2]
                               [--router-delay 2] [--link-delay 1] [--fifo-depth 4] [--repeats 3]
                               [--engines python compiled]

Each repeat runs the engines one after the other (alternating), and the report says whether their latencies
are identical (they must be: the compiled network is the same model, cycle for cycle).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from snnc.backends.yoso.drivers.trace import generate_uniform_trace, parse_mesh, replay_trace, write_trace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=0.1, help="packets per node per cycle")
    ap.add_argument("--mesh", default="8x8")
    ap.add_argument("--flits", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--router-delay", type=int, default=2)
    ap.add_argument("--link-delay", type=int, default=1)
    ap.add_argument("--fifo-depth", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", nargs="+", default=["python", "compiled"], choices=["python", "compiled"])
    args = ap.parse_args()
    mesh = parse_mesh(args.mesh)
    rows = generate_uniform_trace(mesh, args.rate, packets=args.packets, seed=args.seed)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"trace: {len(rows)} packets, uniform random, {args.rate} packets/node/cycle, "
          f"{mesh[0]}x{mesh[1]} mesh, {int(rows[-1, 0]) + 1} cycles, seed {args.seed}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "uniform.csv")
        write_trace(rows, path)
        for flits in args.flits:
            runs: dict[str, dict[str, list[float]]] = {e: {"e2e": [], "sim": [], "cpu": []} for e in args.engines}
            stats = {}
            replay_trace(path, mesh=mesh, flits=flits, engine="compiled")  # load the compiled kernels once
            for _ in range(args.repeats):
                for engine in args.engines:  # alternating engines: the machine's load hits both alike
                    start, cpu = time.perf_counter(), time.process_time()
                    st = replay_trace(path, mesh=mesh, router_delay=args.router_delay, link_delay=args.link_delay,
                                      flits=flits, fifo_depth=args.fifo_depth, engine=engine)
                    runs[engine]["e2e"].append(time.perf_counter() - start)
                    runs[engine]["cpu"].append(time.process_time() - cpu)
                    runs[engine]["sim"].append(st.wall_s)
                    stats[engine] = st
            st = stats[args.engines[0]]
            same = all(np.array_equal(st.latency, o.latency) and st.network_cycles == o.network_cycles
                       for o in stats.values())
            print(f"F={flits} R={args.router_delay} L={args.link_delay} D={args.fifo_depth}: "
                  f"avg latency {st.avg_latency:.2f}, max {st.max_latency}, avg hops {st.avg_hops:.3f}, "
                  f"accepted {st.accepted:.4f} packets/node/cycle, {st.network_cycles} network cycles; "
                  f"engines give identical latencies: {same}")
            for engine in args.engines:
                r = runs[engine]
                best_e2e, best_sim, best_cpu = min(r["e2e"]), min(r["sim"]), min(r["cpu"])
                print(f"  {engine:8s} end to end (read CSV + simulate + stats): best {best_e2e:.3f} s = "
                      f"{st.packets / best_e2e:,.0f} packets/s (median {statistics.median(r['e2e']):.3f} s); "
                      f"{st.packets / best_cpu:,.0f} packets per CPU-second")
                print(f"  {engine:8s} simulation only:                          best {best_sim:.3f} s = "
                      f"{st.packets / best_sim:,.0f} packets/s (median {statistics.median(r['sim']):.3f} s)")

if __name__ == "__main__":
    main()
