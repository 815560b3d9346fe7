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
deployment     a compiled deployment with one file damaged (bytes flipped, cut or inserted, a JSON value
               replaced, a file removed, linked out of the folder, a stray file added): inspect and a
               one-image simulation give a typed error or a correct run
cli-numbers    `noc replay` / `simulate` with random numeric option values (huge, negative, Unicode
               digits, inf/nan, empty): exit 0, 1 or 2, never an internal error
cli-paths      reporting commands with adversarial output paths (an input, a symlink, under a file,
               inside a deployment, a directory, too long): written or refused, protected files unchanged
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
from snnc.io import claim_output, write_atomic
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


# ------------------------------------------------------------------- issue 19: deployments, CLI numbers, paths
_WORK: dict[str, Any] = {}


def _workdir() -> Path:
    """A scratch folder with a compiled digits deployment, a small trace and files to protect (built once)."""
    if "root" not in _WORK:
        import tempfile

        from snnc.api import compile as compile_model

        root = Path(tempfile.mkdtemp(prefix="snnc-fuzz-"))
        compile_model(Path(__file__).resolve().parents[1] / "models" / "stdbp-digits.onnx", root / "dep")
        (root / "trace.csv").write_text("cycle,src,dst\n0,0,5\n1,3,2\n2,7,1\n", encoding="utf-8")
        # a copy of the model: a fuzz case that writes over a file must never reach the repository's
        (root / "digits.onnx").write_bytes((Path(__file__).resolve().parents[1] / "models" / "stdbp-digits.onnx")
                                          .read_bytes())
        _WORK["root"] = root
    return _WORK["root"]


DEPLOYMENT_FILES = ("manifest.json", "program.json", "placement.json", "routing.json", "hardware.toml",
                    "report.txt", "model.ir")


@st.composite
def _deployment_damage(draw: st.DrawFn) -> tuple[str, str, int, bytes]:
    """(file, how, position, bytes): one change to one file of a deployment."""
    name = draw(st.sampled_from(DEPLOYMENT_FILES + ("pe/0/config.json", "pe/0/weights.npy", "pe/1/config.json")))
    how = draw(st.sampled_from(["flip", "truncate", "insert", "json-value", "symlink-out", "stray-file", "remove"]))
    return name, how, draw(st.integers(0, 1 << 16)), draw(st.binary(min_size=1, max_size=16))


def _damaged_copy(case: tuple[str, str, int, bytes]) -> Path:
    import shutil

    name, how, pos, blob = case
    root = _workdir()
    dep = root / f"dep-{abs(hash(case)) % 10**9}"
    shutil.rmtree(dep, ignore_errors=True)
    shutil.copytree(root / "dep", dep)
    path = dep / name
    if not path.exists():
        path = dep / "manifest.json"
    data = path.read_bytes()
    k = pos % max(1, len(data))
    if how == "flip":
        data = data[:k] + bytes([data[k] ^ (blob[0] or 1)]) + data[k + 1:]
    elif how == "truncate":
        data = data[:k]
    elif how == "insert":
        data = data[:k] + blob + data[k:]
    elif how == "json-value" and path.suffix == ".json":
        import re as _re

        values = ["-1", "1e308", "null", '"x"', "[]", "{}", "2147483648", "NaN", "[[[[[[[[[[1]]]]]]]]]]"]
        data = _re.sub(rb": *(-?[0-9]+|\"[^\"]*\")", (": " + values[k % len(values)]).encode(), data, count=1 + k % 3)
    elif how == "symlink-out":
        path.unlink()
        path.symlink_to("/etc/hostname")
        return dep
    elif how == "stray-file":
        (dep / "stray.bin").write_bytes(blob)
        return dep
    elif how == "remove":
        path.unlink()
        return dep
    path.write_bytes(data)
    return dep


def _deployment(case: tuple[str, str, int, bytes]) -> None:
    """A damaged deployment: inspect and a one-image simulation end in a clean error or a correct result."""
    import shutil

    from snnc.backends.yoso import inspect_deployment
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    dep = _damaged_copy(case)
    try:
        inspect_deployment(dep)
        x = np.random.default_rng(0).random((1, 64), dtype=np.float32)
        simulate_deployment(dep, x)
    finally:
        shutil.rmtree(dep, ignore_errors=True)


def _save_deployment(case: Any) -> Saved:
    return Saved({"damage.json": json.dumps([case[0], case[1], case[2], case[3].hex()])},
                 "python bench/fuzz_campaign.py  # replay by hand: copy a deployment, apply damage.json, inspect it")


NUMBERS = ["0", "1", "-1", "7", "2", "+3", "00", "1e3", "0x10", "inf", "-inf", "nan", "", " 4", "\u0664",
           "9" * 30, str(2**62), str(2**31), "1.5", "-0", "4096", "1000000"]


@st.composite
def _cli_numbers(draw: st.DrawFn) -> list[str]:
    """``snnc noc replay`` / ``snnc simulate`` with random numeric option values."""
    if draw(st.booleans()):
        argv = ["noc", "replay", "TRACE"]
        for option in ("--mesh", "--router-delay", "--link-delay", "--flits", "--fifo-depth", "--watchdog",
                       "--links"):
            if draw(st.booleans()):
                value = draw(st.sampled_from(NUMBERS))
                if option == "--mesh" and draw(st.booleans()):
                    value = f"{value}x{draw(st.sampled_from(NUMBERS))}"
                argv += [option, value]
    else:
        argv = ["simulate", "DEP", "--dataset", "digits", "--show", "0", "--no-progress", "--limit",
                draw(st.sampled_from(["1", "2", "0", "-1", "x", "\u0661"]))]
        for option in ("--barrier-cycles", "--workers", "--show"):
            if draw(st.booleans()):
                argv += [option, draw(st.sampled_from(NUMBERS))]
    return argv


def _run_cli(argv: list[str]) -> int:
    import contextlib
    import io

    from snnc.cli import main

    root = _workdir()
    argv = [str(root / "trace.csv") if a == "TRACE" else str(root / "dep") if a == "DEP" else a for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's usage errors
            code = stop.code if isinstance(stop.code, int) else 2
    if code == 3 or "internal error" in err.getvalue() or "Traceback" in err.getvalue():
        raise AssertionError(f"snnc {' '.join(argv)}: exit {code}: {err.getvalue()[-500:]}")
    if code in (1, 2):
        raise _Refused
    return code


def _save_cli(case: Any) -> Saved:
    return Saved({"argv.json": json.dumps(case)}, "snnc " + " ".join(case) + "  # TRACE/DEP: a trace and a deployment")


@st.composite
def _cli_paths(draw: st.DrawFn) -> tuple[str, str]:
    """(command, output kind): a reporting command whose output path is chosen adversarially."""
    command = draw(st.sampled_from(["noc-json", "ir-out", "run-json", "inspect-json", "report"]))
    kind = draw(st.sampled_from(["input", "symlink", "under-file", "inside-deployment", "existing", "directory",
                                 "long-name", "missing-parent", "victim-force"]))
    return command, kind


def _paths(case: tuple[str, str]) -> None:
    """The output lands where asked or is refused: the protected files never change."""
    command, kind = case
    root = _workdir()
    scratch = root / f"p-{abs(hash(case)) % 10**9}"
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    victim = scratch / "victim.txt"
    victim.write_text("not yours\n", encoding="utf-8")
    trace = root / "trace.csv"
    model = root / "digits.onnx"
    dep = root / "dep"
    protected = {p: p.read_bytes() for p in (victim, trace, model, dep / "manifest.json")}
    inputs = {"noc-json": trace, "inspect-json": dep / "manifest.json", "report": dep / "manifest.json",
              "ir-out": model, "run-json": model}  # a file the command reads (never a file it does not read)
    target = {"input": str(inputs[command]),
              "symlink": str(scratch / "link.out"), "under-file": str(victim / "x.out"),
              "inside-deployment": str(dep / "x.out"), "existing": str(victim), "directory": str(scratch),
              "long-name": str(scratch / ("n" * 300)), "missing-parent": str(scratch / "no" / "such" / "x.out"),
              "victim-force": str(victim)}[kind]
    if kind == "symlink":
        Path(target).symlink_to(victim)
    force = ["--force"] if kind in ("victim-force", "symlink", "input", "inside-deployment") else []
    argv = {"noc-json": ["noc", "replay", str(trace), "--json", target],
            "ir-out": ["ir", str(model), "-o", target],
            "run-json": ["run", str(model), "--dataset", "digits", "--limit", "5", "--json", target],
            "inspect-json": ["inspect", str(dep), "--json", target],
            "report": ["report", str(dep), "-o", target]}[command] + force
    try:
        _run_cli(argv)
    except _Refused:
        pass
    finally:
        for p, data in protected.items():
            if p == victim and kind == "victim-force":
                continue  # asked for: --force over a plain file of the user's
            assert p.exists() and not p.is_symlink() and p.read_bytes() == data, f"{p} changed ({case})"
        shutil.rmtree(scratch, ignore_errors=True)


def _save_paths(case: Any) -> Saved:
    return Saved({"case.json": json.dumps(case)}, "see bench/fuzz_campaign.py _paths for the setup of this case")


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
    "deployment": Target(_deployment_damage(), _deployment, _save_deployment, "damaged deployment directories"),
    "cli-numbers": Target(_cli_numbers(), _run_cli, _save_cli, "random numeric CLI option values"),
    "cli-paths": Target(_cli_paths(), _paths, _save_paths, "adversarial output paths (protected files unchanged)"),
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
    try:  # --json is checked before any work and written whole or not at all (snnc.io)
        json_out = claim_output(args.json, inputs=(args.out,), option="--json") if args.json else None
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None
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
    if json_out is not None:
        write_atomic(json_out, json.dumps([asdict(s) for s in results], indent=2))
    return 1 if any(s.crashes for s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
