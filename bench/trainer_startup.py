"""Start-up cost of a tiny training run with ``torch.optim`` (before issue 17) and with the trainers' own
optimizers (``trainers/optim.py``, after), side by side.

Each round runs the same tiny ``snnc train`` command once per variant, each in a fresh Python process, the
order of the variants alternating round by round; reported are the medians over the rounds of the process's
wall time (start to exit, what a user waits for) and of the ``snnc.cli.main`` call inside it (torch and
``snnc.trainers`` already imported, in both variants), and whether the process imported ``torch._dynamo``.
The ``before`` variant is today's code with ``torch.optim.Adam``, ``torch.optim.SGD`` (``foreach=False``,
torch's CPU default) and ``torch.optim.lr_scheduler.LambdaLR`` put back where the trainers build their
optimizer and schedule, i.e. the code before issue 17 (its runs are bit for bit the same:
``tests/test_trainer_optim.py``).

    python bench/trainer_startup.py --rounds 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from snnc.errors import SnncError
from snnc.io import claim_output, write_atomic

#: the tiny runs: digits, one epoch of 64 images, no reference-executor evaluation (numba is not the subject)
RUNS = {
    "stdbp": ["train", "stdbp", "--dataset", "digits", "--arch", "64-16-10", "--epochs", "1", "--train-limit", "64",
              "--test-limit", "32", "--batch-size", "32", "--no-progress", "--no-reference-eval", "--force"],
    "stbp": ["train", "stbp", "--dataset", "digits", "--arch", "64-16-10", "--epochs", "1", "--train-limit", "64",
             "--test-limit", "32", "--batch-size", "32", "--no-progress", "--no-reference-eval", "--force"],
}

PROBE = """
import contextlib, io, json, sys, time
variant, argv = sys.argv[1], sys.argv[2:]
from snnc.cli import main
import functools, torch
from snnc.trainers import optim
if variant == "before":
    optim.Adam = functools.partial(torch.optim.Adam, foreach=False)
    optim.SGD = functools.partial(torch.optim.SGD, foreach=False)
    optim.LambdaLR = torch.optim.lr_scheduler.LambdaLR
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    rc = main(argv)
seconds = time.perf_counter() - t
print(json.dumps({"rc": rc, "main_s": seconds, "dynamo": "torch._dynamo" in sys.modules}))
"""


def one(variant: str, argv: list[str]) -> dict:
    """Run ``argv`` in a fresh process; its wall time, ``main``'s time and whether torch._dynamo was loaded."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, variant, *argv], capture_output=True, text=True,
                          check=False, timeout=600)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{variant} {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["rc"] != 0:
        raise SystemExit(f"{variant} {' '.join(argv)}: exit status {out['rc']}")
    return {**out, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9, help="runs of each variant per trainer (default 9)")
    ap.add_argument("--json", help="also write the raw timings here")
    args = ap.parse_args()
    try:  # --json is checked before any work and written whole or not at all (snnc.io)
        json_out = claim_output(args.json, option="--json") if args.json else None
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None
    raw: dict[str, dict[str, list[dict]]] = {alg: {"before": [], "after": []} for alg in RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for alg, argv in RUNS.items():
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for variant in order:
                    out = str(Path(tmp) / f"{alg}-{variant}.onnx")
                    raw[alg][variant].append(one(variant, [*argv, "-o", out]))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{args.rounds} rounds, medians; python {sys.version.split()[0]}")
    print("| trainer | variant | process wall s | snnc.cli.main s | torch._dynamo imported |")
    print("|---|---|---|---|---|")
    for alg, variants in raw.items():
        med = {v: (statistics.median(x["wall_s"] for x in rs), statistics.median(x["main_s"] for x in rs))
               for v, rs in variants.items()}
        for v, rs in variants.items():
            dyn = sorted({x["dynamo"] for x in rs})
            print(f"| {alg} | {v} | {med[v][0]:.2f} | {med[v][1]:.2f} | {'/'.join(map(str, dyn))} |")
        print(f"| {alg} | saved | {med['before'][0] - med['after'][0]:.2f} "
              f"({med['before'][0] / med['after'][0]:.2f}x) | {med['before'][1] - med['after'][1]:.2f} "
              f"({med['before'][1] / med['after'][1]:.2f}x) | |")
    if json_out is not None:
        write_atomic(json_out, json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
