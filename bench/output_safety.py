"""Issue 19 figures: inspect racing compile --force, and the cost of the confined deployment reader.

1. **Race.** One process recompiles a deployment with ``snnc compile --force`` in a loop (alternating two
   placers, so the files really change) while this process inspects it as fast as it can, for
   ``--seconds``, alternating the reader before issue 19 and today's. Every inspect must print
   ``verified``; a false "does not match its sha256", a "missing file" or an internal error is counted as
   a failure (the outside adversary saw 6 in 6,176).
2. **Reader cost.** ``load_deployment`` of today's snnc against the reader before issue 19 (git
   ``--baseline``, loaded from ``git show``), alternated on the same deployment, medians of ``--repeats``
   each, reported as a ratio (new / old).

Usage:
    python bench/output_safety.py [--seconds 60] [--repeats 41] [--baseline 6de23f1]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "stdbp-mnist-784-400-10.onnx"

RECOMPILER = """
import sys
from snnc.cli import main
model, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
import time
end, k = time.monotonic() + seconds, 0
while time.monotonic() < end:
    main(["compile", model, "-o", out, "--force", "--placer", ("snake", "row-major")[k % 2]])
    k += 1
print(k)
"""


def race(dep: Path, seconds: float, readers: dict[str, object]) -> dict[str, dict[str, int]]:
    """Inspect ``dep`` with each reader in turn while another process recompiles it with --force."""
    from snnc.errors import SnncError

    proc = subprocess.Popen([sys.executable, "-c", RECOMPILER, str(MODEL), str(dep), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    kinds = ("verified", "false mismatch", "missing file", "other error", "internal error")
    counts = {name: dict.fromkeys(kinds, 0) for name in readers}
    while proc.poll() is None:
        for name, inspect in readers.items():
            try:
                text = inspect(dep)
                kind = "verified" if "verified" in text else "other error"
            except SnncError as err:
                msg = str(err)
                kind = ("false mismatch" if "does not match its sha256" in msg else
                        "missing file" if "missing file" in msg or "not found" in msg else "other error")
            except Exception:  # noqa: BLE001 - what the CLI reports as an internal error
                kind = "internal error"
            counts[name][kind] += 1
    recompiles = int(proc.stdout.read().strip() or 0)
    for c in counts.values():
        c["recompiles"] = recompiles
    return counts


def old_module(commit: str):  # noqa: ANN201 - the baseline deploy module
    """``backends/yoso/deploy.py`` as it was at ``commit``, loaded under another module name."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:backends/yoso/deploy.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "deploy_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("deploy_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def reader_cost(dep: Path, repeats: int, commit: str) -> tuple[float, float]:
    """Median seconds of the old and the new ``load_deployment`` on ``dep``, alternated."""
    from snnc.backends.yoso.deploy import load_deployment

    old = old_module(commit).load_deployment
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeats):
        for name, fn in (("old", old), ("new", load_deployment)):
            start = time.perf_counter()
            fn(dep)
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["old"]), statistics.median(times["new"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the race")
    ap.add_argument("--repeats", type=int, default=41, help="loads of each reader")
    ap.add_argument("--baseline", default="6de23f1", help="git commit of the reader before issue 19")
    args = ap.parse_args()
    from snnc.cli import main as snnc

    with tempfile.TemporaryDirectory() as tmp:
        dep = Path(tmp) / "dep"
        with redirect_stderr(io.StringIO()):
            assert snnc(["compile", str(MODEL), "-o", str(dep), "--placer", "snake"]) == 0
        files = sum(1 for p in dep.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in dep.rglob("*") if p.is_file())
        old, new = reader_cost(dep, args.repeats, args.baseline)
        print(f"deployment of {MODEL.name}: {files} files, {size / 1e6:.2f} MB")
        print(f"load_deployment median of {args.repeats}: before issue 19 {old * 1e3:.2f} ms, now {new * 1e3:.2f} ms, "
              f"ratio {new / old:.2f}")
        from snnc.backends.yoso.deploy import inspect_deployment

        readers = {"before issue 19": old_module(args.baseline).inspect_deployment, "now": inspect_deployment}
        for name, c in race(dep, args.seconds, readers).items():
            print(f"race for {args.seconds:g} s, inspect {name}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
