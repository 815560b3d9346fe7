"""A long fuzz campaign over the IR text format, the ONNX frontend and the NoC simulator.

The unit tests (``tests/test_fuzz_*.py``, ``tests/test_sim_invariants.py``) run a few dozen derandomized
examples each; this script runs the same hypothesis strategies (``tests/fuzz_strategies.py``) for as long
as you give it, with fresh seeds, and counts outcomes per target:

* **success**: the input was accepted and every property held;
* **clean error**: the input was refused with a :class:`~snnc.errors.SnncError` (what bad input must get);
* **crash**: anything else: another exception, a broken property (``AssertionError``), or a hang past
  ``--timeout`` seconds. The first input of each distinct crash (exception type and source line) is saved
  under ``--out/<target>/`` with its traceback and a command that reproduces it.

Targets (``--targets``, default all):

=============  ===============================================================================
ir-roundtrip   random valid graphs: print -> parse is structurally equal and prints the same text
               (full and elided dumps)
ir-mutate      mutated IR text (full and elided): only typed errors; what parses prints stably
onnx-builder   random SnnModelBuilder models: import, reference backend == onnxruntime bit for bit
onnx-mutate    mutated ModelProtos: only typed errors from import_onnx and the reference backend
onnx-bytes     flipped / truncated serialized models: only typed errors
noc            random meshes, FIFO depths, delays, packet lengths and traffic (uniform, hot spot,
               multicast): exactly-once delivery, no deadlock, monotone time, zero-load bound
=============  ===============================================================================

Usage::

    python bench/fuzz_campaign.py --budget 300            # 300 s split over all targets
    python bench/fuzz_campaign.py --targets onnx-mutate --inputs 5000 --out /tmp/fuzz
    python bench/fuzz_campaign.py --budget 60 --json results.json

Exit status: 0 without crashes, 1 with crashes (see ``--out``).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from snnc.errors import SnncError
from snnc.tests import fuzz_strategies as fz


class Hang(BaseException):
    """Raised by the alarm when one input runs past the timeout (a BaseException: no ``except Exception``
    in the code under test can swallow it)."""


@dataclass
class Saved:
    """What to write for a crashing input: file name -> content."""

    files: dict[str, str | bytes]
    reproduce: str


@dataclass
class TargetStats:
    """Outcome counts of one target."""

    target: str
    inputs: int = 0
    successes: int = 0
    clean_errors: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0  # wall time of the target: generating inputs and checking them
    signatures: dict[str, int] = field(default_factory=dict)
    clean_error_kinds: dict[str, int] = field(default_factory=dict)
    first_crash: str | None = None
    saved: dict[str, str] = field(default_factory=dict)  # crash signature -> folder of its first input


#: a target: the strategy of one input, the check (raises on refusal or crash), how to save an input.
@dataclass(frozen=True)
class Target:
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    save: Callable[[Any], Saved]
    about: str


# ------------------------------------------------------------------------------------------ targets
def _ir_roundtrip(graph: Any) -> None:
    from snnc.ir.parser import parse_graph
    from snnc.ir.printer import print_graph

    text = print_graph(graph)
    again = parse_graph(text)
    assert again.structurally_equal(graph), "parse(print(g)) differs from g"
    assert print_graph(again) == text, "print(parse(print(g))) differs from print(g)"
    elided = print_graph(graph, elide_weights=True)
    assert print_graph(parse_graph(elided, allow_elided=True), elide_weights=True) == elided, "elided dump changed"


def _ir_mutate(case: Any) -> None:
    from snnc.ir.printer import print_graph
    from snnc.tests.test_fuzz_ir import check_text

    graph, edits, elide = case
    text = fz.apply_all(print_graph(graph, elide_weights=elide), edits)
    if check_text(text, allow_elided=elide) is None:
        raise _Refused


def _save_ir_graph(graph: Any) -> Saved:
    from snnc.ir.printer import print_graph

    return Saved({"input.snnir": print_graph(graph)},
                 "python -c \"from snnc.ir.parser import parse_graph; from snnc.ir.printer import print_graph; "
                 "t = open('input.snnir').read(); assert print_graph(parse_graph(t)) == t\"")


def _save_ir_text(case: Any) -> Saved:
    from snnc.ir.printer import print_graph

    graph, edits, elide = case
    text = fz.apply_all(print_graph(graph, elide_weights=elide), edits)
    return Saved({"input.snnir": text, "edits.txt": "\n".join(map(repr, edits))},
                 f"python -c \"from snnc.ir.parser import parse_graph; "
                 f"parse_graph(open('input.snnir').read(), allow_elided={elide})\"")


def _onnx_builder(case: Any) -> None:
    from snnc.backends import get_backend
    from snnc.frontend import import_onnx
    from snnc.frontend.snn_onnx import run_onnxruntime
    from snnc.tests.onnx_models import random_inputs

    model, features = case
    graph = import_onnx(model)
    x = random_inputs(features, 3, seed=1)
    ours, oracle = get_backend("reference").run(graph, x).scores, run_onnxruntime(model, x)
    assert np.array_equal(ours, oracle), f"reference {ours.tolist()} != onnxruntime {oracle.tolist()}"


def _onnx_mutate(case: Any) -> None:
    from snnc.tests.test_fuzz_onnx import check_import

    (model, features), edits = case
    if check_import(fz.mutate_model(model, edits), features) is None:
        raise _Refused


def _onnx_bytes(case: Any) -> None:
    from snnc.tests.test_fuzz_onnx import check_import

    (model, features), flips = case
    if check_import(fz.flip_bytes(model.SerializeToString(), flips), features) is None:
        raise _Refused


_IMPORT_CMD = "python -c \"from snnc.frontend import import_onnx; import_onnx('input.onnx')\""


def _save_model(case: Any) -> Saved:
    return Saved({"input.onnx": case[0].SerializeToString()}, _IMPORT_CMD)


def _save_mutated(case: Any) -> Saved:
    (model, _), edits = case
    return Saved({"input.onnx": fz.mutate_model(model, edits).SerializeToString(), "original.onnx":
                  model.SerializeToString(), "edits.txt": "\n".join(map(str, edits))}, _IMPORT_CMD)


def _save_bytes(case: Any) -> Saved:
    (model, _), flips = case
    return Saved({"input.onnx": fz.flip_bytes(model.SerializeToString(), flips), "flips.txt": repr(flips)},
                 _IMPORT_CMD)


@st.composite
def _noc_cases(draw: st.DrawFn) -> tuple[Any, list[Any]]:
    from snnc.backends.yoso.sim.noc import NocConfig
    from snnc.tests.test_sim_invariants import hotspot, multicast_mix, uniform

    flits = draw(st.integers(1, 5))
    cfg = NocConfig(cols=draw(st.integers(1, 10)), rows=draw(st.integers(1, 10)),
                    router_delay=draw(st.integers(1, 3)), link_delay=draw(st.integers(0, 2)), flits=flits,
                    fifo_depth=draw(st.integers(1, 4)), host=draw(st.booleans()) and flits == 1,
                    watchdog_cycles=500)
    kind = draw(st.sampled_from(["uniform", "hotspot", "multicast"] if flits == 1 else ["uniform", "hotspot"]))
    rng_seed = draw(st.integers(0, 2**31))
    if kind == "uniform":
        packets = uniform(cfg, draw(st.floats(0.01, 1.0)), draw(st.integers(1, 40)), rng_seed)
    elif kind == "hotspot":
        packets = hotspot(cfg, draw(st.integers(0, cfg.nodes - 1)), draw(st.integers(1, 150)),
                          draw(st.integers(1, 60)), rng_seed)
    else:
        packets = multicast_mix(cfg, draw(st.integers(1, 20)), rng_seed)
    return cfg, packets


def _noc(case: Any) -> None:
    from snnc.tests.test_sim_invariants import check_invariants, simulate

    cfg, packets = case
    if not packets:
        return
    first = simulate(cfg, packets)
    check_invariants(first)
    assert simulate(cfg, packets).fingerprint() == first.fingerprint(), "two runs differ"


def _save_noc(case: Any) -> Saved:
    cfg, packets = case
    return Saved({"config.json": json.dumps(cfg.to_json()), "packets.json": json.dumps(packets)},
                 "python -c \"import json; from snnc.tests.test_sim_invariants import check_invariants, simulate; "
                 "from snnc.backends.yoso.sim.noc import NocConfig; "
                 "c = NocConfig(**json.load(open('config.json'))); "
                 "p = [tuple(tuple(x) if isinstance(x, list) else x for x in q) "
                 "for q in json.load(open('packets.json'))]; check_invariants(simulate(c, p))\"")


class _Refused(Exception):
    """The input was refused with a typed error inside a helper that returns None for it."""


TARGETS: dict[str, Target] = {
    "ir-roundtrip": Target(fz.ir_graphs(), _ir_roundtrip, _save_ir_graph, "valid graphs round-trip"),
    "ir-mutate": Target(st.tuples(fz.ir_graphs(max_ops=4), fz.text_mutations(), st.booleans()), _ir_mutate,
                        _save_ir_text, "mutated IR text"),
    "onnx-builder": Target(fz.onnx_models(), _onnx_builder, _save_model, "builder models vs onnxruntime"),
    "onnx-mutate": Target(st.tuples(fz.onnx_models(max_layers=3), fz.onnx_mutations()), _onnx_mutate,
                          _save_mutated, "mutated ONNX models"),
    "onnx-bytes": Target(st.tuples(fz.onnx_models(max_layers=2), fz.byte_flips()), _onnx_bytes, _save_bytes,
                         "flipped ONNX bytes"),
    "noc": Target(_noc_cases(), _noc, _save_noc, "random NoC configs and traffic"),
}


# ------------------------------------------------------------------------------------------ the runner
def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang


def run_target(name: str, budget_s: float, max_inputs: int | None, timeout_s: float, base_seed: int,
               out: Path) -> TargetStats:
    """Feed one target fresh hypothesis inputs until the budget or ``max_inputs`` is spent."""
    target = TARGETS[name]
    stats = TargetStats(name)
    deadline = time.perf_counter() + budget_s
    signal.signal(signal.SIGALRM, _on_alarm)

    def one(case: Any) -> None:
        if time.perf_counter() > deadline or (max_inputs is not None and stats.inputs >= max_inputs):
            return
        stats.inputs += 1
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            target.check(case)
            outcome = "success"
        except _Refused:
            outcome = "clean"
        except SnncError as err:
            outcome = "clean"
            kind = type(err).__name__
            stats.clean_error_kinds[kind] = stats.clean_error_kinds.get(kind, 0) + 1
        except Hang:
            outcome = "hang"
            _record_crash(stats, "Hang", f"no result after {timeout_s} s", case, target, out)
        except Exception as err:  # noqa: BLE001 - every other exception is a crash, recorded with its input
            outcome = "crash"
            frame = traceback.extract_tb(err.__traceback__)[-1]
            signature = f"{type(err).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            _record_crash(stats, signature, traceback.format_exc(), case, target, out)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if outcome == "success":
            stats.successes += 1
        elif outcome == "clean":
            stats.clean_errors += 1
        else:
            stats.crashes += 1
            stats.hangs += outcome == "hang"

    chunk, started = 0, time.perf_counter()
    while time.perf_counter() < deadline and (max_inputs is None or stats.inputs < max_inputs):
        before = stats.inputs
        test = settings(max_examples=100, deadline=None, database=None, phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck))(given(target.strategy)(one))
        seed(base_seed * 100_003 + chunk)(test)()
        chunk += 1
        if stats.inputs == before:  # the strategy is exhausted (or the budget ran out mid-chunk)
            break
    stats.seconds = time.perf_counter() - started
    return stats


def _record_crash(stats: TargetStats, signature: str, details: str, case: Any, target: Target, out: Path) -> None:
    stats.signatures[signature] = stats.signatures.get(signature, 0) + 1
    if stats.signatures[signature] > 1:
        return  # the first input of each distinct crash is kept
    slug = re.sub(r"[^A-Za-z0-9]+", "-", signature).strip("-")
    folder = out / stats.target / f"{len(stats.signatures)}-{slug}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        saved = target.save(case)
    except Exception as err:  # noqa: BLE001 - keep the traceback even if the input cannot be saved
        saved = Saved({"save_error.txt": f"{type(err).__name__}: {err}"}, "")
    for fname, content in saved.files.items():
        path = folder / fname
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (folder / "crash.txt").write_text(f"{signature}\n\n{details}\nreproduce (in this folder):\n  {saved.reproduce}\n",
                                      encoding="utf-8")
    stats.saved[signature] = str(folder)
    if stats.first_crash is None:
        stats.first_crash = str(folder)


def format_table(results: list[TargetStats]) -> str:
    """The outcome table, one row per target, and the crash signatures."""
    head = f"{'target':<14} {'inputs':>8} {'success':>8} {'clean err':>9} {'crashes':>8} {'hangs':>6} {'inputs/s':>9}"
    lines = [head, "-" * len(head)]
    for s in results:
        rate = s.inputs / s.seconds if s.seconds else 0.0
        lines.append(f"{s.target:<14} {s.inputs:>8} {s.successes:>8} {s.clean_errors:>9} {s.crashes:>8} "
                     f"{s.hangs:>6} {rate:>9.0f}")
    total = Counter()
    for s in results:
        total.update({"inputs": s.inputs, "successes": s.successes, "clean": s.clean_errors, "crashes": s.crashes})
    lines.append("-" * len(head))
    lines.append(f"{'total':<14} {total['inputs']:>8} {total['successes']:>8} {total['clean']:>9} "
                 f"{total['crashes']:>8}")
    for s in results:
        for sig, n in s.signatures.items():
            lines.append(f"crash in {s.target}: {sig} ({n} inputs); first saved in {s.saved[sig]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=list(TARGETS),
                   help="what to fuzz (default: all)")
    p.add_argument("--budget", type=float, default=300.0, help="seconds in all, split evenly over the targets")
    p.add_argument("--inputs", type=int, default=None, help="stop each target after this many inputs")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take before it is a hang")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (chunks use seed * 100003 + k)")
    p.add_argument("--out", type=Path, default=Path("fuzz-crashes"),
                   help="folder for the first input of each distinct crash")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    per_target = args.budget / len(args.targets)
    started = time.perf_counter()
    results = []
    for name in args.targets:
        stats = run_target(name, per_target, args.inputs, args.timeout, args.seed, args.out)
        results.append(stats)
        print(f"{name}: {stats.inputs} inputs in {stats.seconds:.0f} s ({TARGETS[name].about})", flush=True)
    print()
    print(format_table(results))
    print(f"\nwall time {time.perf_counter() - started:.0f} s, seed {args.seed}, timeout {args.timeout} s per input")
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in results], indent=2), encoding="utf-8")
    return 1 if any(s.crashes for s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
