"""The STDBP CNN training step on 1 and 2 threads, idle and beside a busy core, under OpenMP's wait policies.

Why: OpenMP threads spin while they wait (its default), so when another job holds a core the threads of a
parallel region steal each other's time. ``snnc train`` therefore sets ``OMP_WAIT_POLICY=PASSIVE`` unless the
environment sets it (docs/trainers.md, "Threads"); this measures what that choice costs and saves.

Each case (setting, machine, thread count) runs in a fresh process (the policy is read when OpenMP loads, and an
earlier 2-thread region's spinning worker would slow a 1-thread one): the paper's CNN step (fused kernels, T =
64, batch 64, Adam; ``bench/trainer_speed.py``'s ``stdbp_step``), two warm-up steps, then the median of
``--rounds``. "busy" starts one process spinning at normal priority for the duration of the case.

    python bench/trainer_threads.py --data-dir ../shared/data/mnist [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, statistics, sys, time
import torch
sys.path.insert(0, sys.argv[1])
import trainer_speed as T
rounds, threads = int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
x, y = T.load_images(sys.argv[2] or None, 64 * (rounds + 2))
step = T.stdbp_step(T.CNN, "fused", x[:64], 64)
step(x[:64], y[:64])
step(x[64:128], y[64:128])
times = []
for r in range(2, rounds + 2):
    t = time.perf_counter()
    step(x[64 * r:64 * (r + 1)], y[64 * r:64 * (r + 1)])
    times.append(time.perf_counter() - t)
print(json.dumps(round(64 / statistics.median(times), 1)))
"""

SPIN = "while True: pass"


def case(setting: str | None, busy: bool, data_dir: str | None, rounds: int, threads: int) -> float:
    """Images/s of one case, in a fresh process on ``threads`` threads; ``setting``: ``NAME=VALUE`` of OpenMP's
    environment (None: none set)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if setting:
        name, _, value = setting.partition("=")
        env[name] = value
    hog = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        out = subprocess.run([sys.executable, "-c", PROBE, str(Path(__file__).parent), data_dir or "", str(rounds),
                              str(threads)], env=env, capture_output=True, text=True, check=True).stdout
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default: upscaled sklearn digits)")
    p.add_argument("--rounds", type=int, default=6, help="timed steps per thread count and case (default: 6)")
    p.add_argument("--settings", nargs="+", default=["-", "OMP_WAIT_POLICY=PASSIVE", "GOMP_SPINCOUNT=100000"],
                   help="OpenMP environment of each case, NAME=VALUE ('-': none set; default: none, passive, "
                        "a shorter spin)")
    args = p.parse_args()
    print("| OpenMP setting | machine | 1 thread images/s | 2 threads images/s |")
    print("|---|---|---|---|")
    for setting in args.settings:
        for busy in (False, True):
            r = [case(None if setting == "-" else setting, busy, args.data_dir, args.rounds, t) for t in (1, 2)]
            print(f"| {'none (spin)' if setting == '-' else setting} | {'one core busy' if busy else 'idle'} | "
                  f"{r[0]} | {r[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
