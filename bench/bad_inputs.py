"""Bad inputs tried, and how many ended in a clean error (issue 8; goal 100 %).

Runs every entry of the bad-input catalogue (``tests/bad_inputs_catalogue.py``) plus randomized damage
of good files through the real CLI, and classifies each outcome:

* ``clean``: exit 1 and one ``snnc: error: ...`` block, no traceback;
* ``success``: exit 0 (the damage left a valid input, e.g. a flipped bit inside a weight);
* ``noisy``: a clean error, but with other output before it (e.g. a NumPy RuntimeWarning);
* ``internal``: exit 3 (``snnc: internal error``), a traceback, or any other exit status;
* ``hang``: no answer within ``--timeout`` seconds;
* ``crash``: the process died (a signal, e.g. out of memory).

Randomized damage (seeded): ONNX files and IR dumps cut at many offsets and with random bytes
overwritten; the hardware TOML cut, byte-flipped and with keys set to edge values (0, -1, huge, NaN,
strings, ...); the files of a deployment (manifest included) cut and byte-flipped; MNIST IDX files cut
and byte-flipped. Catalogue entries must all be ``clean``; a randomized input may legitimately be
``success``; ``noisy``, ``internal``, ``hang`` and ``crash`` are bugs.

By default the inputs run in a long-lived worker process that calls ``snnc.cli.main`` in-process (with
SIGALRM for hangs and an address-space cap of ``--memory-gb``), restarted whenever it dies or hangs;
``--fresh`` runs each input as its own ``python -m snnc.cli`` process instead (slower, same classes).

Usage:
    python bench/bad_inputs.py [--seed 0] [--variants 1.0] [--timeout 60] [--memory-gb 8] [--fresh]
                               [--keep DIR] [--show 10]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import math
import os
import platform
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from snnc.errors import SnncError
from snnc.io import claim_output, write_atomic

HERE = Path(__file__).resolve()


@dataclass
class Trial:
    name: str
    family: str  # "catalogue/<category>" or "random/<kind>"
    argv: list[str]
    outcome: str = ""
    code: int | None = None
    first_line: str = ""
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------ variants
def _truncations(data: bytes, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    offsets = sorted({int(len(data) * k / count) for k in range(count)} | {rng.randrange(len(data)) for _ in
                                                                           range(count // 3)})
    return [(f"cut{o}", data[:o]) for o in offsets]


def _flips(data: bytes, count: int, rng: random.Random, lo: int = 0, hi: int | None = None) -> list[tuple[str, bytes]]:
    hi = len(data) if hi is None else hi
    out = []
    for k in range(count):
        b = bytearray(data)
        n = rng.choice((1, 1, 2, 4, 16))
        for _ in range(n):
            b[rng.randrange(lo, hi)] = rng.randrange(256)
        out.append((f"flip{k}x{n}", bytes(b)))
    return out


EDGE_VALUES = ["0", "-1", "1", "2", "3", "255", "65536", "4294967296", "18446744073709551616", "1000000000",
               "1e308", "-1e308", "1.5", "0.0", "nan", "inf", "-inf", '"x"', '""', "true", "[]", "{}", "[1, 2]"]


def _toml_values(text: str, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    keys = []
    section = None
    for line in text.splitlines():
        head = re.match(r"\s*\[([^\]]+)\]", line)
        if head:
            section = head.group(1).strip()
        elif (m := re.match(r"\s*([a-z_]+)\s*=", line)) and section:
            keys.append((section, m.group(1)))
    from snnc.tests.bad_inputs_catalogue import edit_hardware

    out = []
    for k in range(count):
        section, key = rng.choice(keys)
        value = rng.choice(EDGE_VALUES)
        out.append((f"set{k}-{section}.{key}={value}", edit_hardware(text, section, key, value).encode("utf-8")))
    return out


INT_EDGES = [0, -1, 1, 2, 3, 7, 9, 100, 2**31 - 1, 2**31, 2**62, -(2**62), 10**9]
FLOAT_EDGES = [0.0, -0.0, -1.0, 1e-45, 1e38, 3.4e38, float("inf"), float("-inf"), float("nan"), 0.5, 2.0]


def _onnx_attribute_fuzz(model, count: int, rng: random.Random) -> list[tuple[str, bytes]]:  # noqa: ANN001
    """Copies of ``model`` with one node attribute or initializer header set to an edge value."""
    import onnx
    from onnx import AttributeProto, TensorProto

    out = []
    for k in range(count):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        targets = [(n, a) for n in m.graph.node for a in n.attribute]
        if rng.random() < 0.7 and targets:
            node, attr = rng.choice(targets)
            if attr.type == AttributeProto.INT:
                attr.i = rng.choice(INT_EDGES)
            elif attr.type == AttributeProto.FLOAT:
                attr.f = rng.choice(FLOAT_EDGES)
            elif attr.type == AttributeProto.INTS and len(attr.ints):
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice(INT_EDGES)
            elif attr.type == AttributeProto.FLOATS and len(attr.floats):
                attr.floats[rng.randrange(len(attr.floats))] = rng.choice(FLOAT_EDGES)
            else:
                attr.type = AttributeProto.INT
                attr.i = rng.choice(INT_EDGES)
            tag = f"attr{k}-{node.op_type}.{attr.name}"
        else:
            init = rng.choice(list(m.graph.initializer))
            if rng.random() < 0.5 and len(init.dims):
                init.dims[rng.randrange(len(init.dims))] = rng.choice(INT_EDGES)
                tag = f"dims{k}-{init.name}"
            else:
                init.data_type = rng.choice([TensorProto.FLOAT16, TensorProto.INT8, TensorProto.INT64,
                                             TensorProto.DOUBLE, TensorProto.STRING, TensorProto.BOOL, 0, 99])
                tag = f"dtype{k}-{init.name}"
        out.append((re.sub(r"[^A-Za-z0-9_.-]", "_", tag), m.SerializeToString()))
    return out


NUMBER = re.compile(rb"(?<![A-Za-z_%@\d.])[+-]?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+)(?![A-Za-z_\d])")
IR_EDGES = [b"0", b"-1", b"1", b"2", b"3", b"9", b"100", b"2147483648", b"9223372036854775808", b"1000000000",
            b"0.0", b"-0.0", b"-1.0", b"1e-45", b"1e308", b"inf", b"-inf", b"nan"]


def _ir_number_fuzz(text: bytes, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """Copies of an IR dump with one number of its structure (before the resources) set to an edge value."""
    structure = text.index(b"resources")
    spots = [m.span() for m in NUMBER.finditer(text, 0, structure)]
    out = []
    for k in range(count):
        lo, hi = rng.choice(spots)
        out.append((f"num{k}-at{lo}", text[:lo] + rng.choice(IR_EDGES) + text[hi:]))
    return out


def _command(kind: int, path: str, out: str) -> list[str]:
    return [["ir", path], ["run", path, "--dataset", "digits", "--limit", "2"], ["compile", path, "-o", out]][kind % 3]


def random_trials(ws, scale: float, rng: random.Random) -> list[Trial]:  # noqa: ANN001
    """Write the randomized inputs into the workspace; return their trials."""
    n = lambda k: max(2, int(k * scale))  # noqa: E731
    trials: list[Trial] = []
    root = Path("random")

    # ONNX: cut and flipped; half imported (snnc ir), half run on a dataset
    data = ws.digits_model.SerializeToString()
    for i, (tag, blob) in enumerate(_truncations(data, n(40), rng) + _flips(data, n(80), rng)):
        path = ws.write(root / "onnx" / f"{tag}.onnx", blob)
        argv = ["ir", path] if i % 2 else ["run", path, "--dataset", "digits", "--limit", "2"]
        trials.append(Trial(f"onnx-{tag}", "random/onnx", argv))

    # both models (MLP, CNN): ONNX attributes and initializer headers set to edge values; the CNN's bytes
    # flipped; both IR dumps with numbers of their structure set to edge values; imported, run or compiled
    for label, model, ir_text in (("mlp", ws.digits_model, ws.digits_ir), ("cnn", ws.conv_model, ws.conv_ir)):
        variants = _onnx_attribute_fuzz(model, n(60), rng)
        if label == "cnn":
            variants += _flips(model.SerializeToString(), n(40), rng)
        for i, (tag, blob) in enumerate(variants):
            path = ws.write(root / f"onnx-{label}" / f"{tag}.onnx", blob)
            trials.append(Trial(f"onnx-{label}-{tag}", "random/onnx",
                                _command(i, path, str(root / "out" / f"onnx-{label}-{tag}"))))
        for i, (tag, blob) in enumerate(_ir_number_fuzz(ir_text.encode("utf-8"), n(80), rng)):
            path = ws.write(root / f"ir-{label}" / f"{tag}.snnir", blob)
            trials.append(Trial(f"ir-{label}-{tag}", "random/ir",
                                _command(i, path, str(root / "out" / f"ir-{label}-{tag}"))))

    # IR dumps: cut and flipped, flips half in the structure (before the resources) and half anywhere
    text = ws.digits_ir.encode("utf-8")
    structure = text.index(b"resources")
    variants = _truncations(text, n(40), rng) + _flips(text, n(60), rng, 0, structure) + \
        [(f"any-{t}", b) for t, b in _flips(text, n(20), rng)]
    for i, (tag, blob) in enumerate(variants):
        path = ws.write(root / "ir" / f"{tag}.snnir", blob)
        argv = ["ir", path] if i % 2 else ["run", path, "--dataset", "digits", "--limit", "2"]
        trials.append(Trial(f"ir-{tag}", "random/ir", argv))

    # hardware TOML: cut, flipped outside comments, and keys set to edge values; compiled
    hw = ws.hardware_text
    code_part = "\n".join(line.split("#", 1)[0] for line in hw.splitlines()).encode("utf-8")
    variants = _truncations(code_part, n(30), rng) + _flips(code_part, n(50), rng) + _toml_values(hw, n(80), rng)
    for tag, blob in variants:
        safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", tag)
        path = ws.write(root / "hw" / f"{safe}.toml", blob)
        trials.append(Trial(f"hw-{safe}", "random/hardware",
                            ["compile", ws.digits_onnx, "--hw", path, "-o", str(root / "hw-out" / safe)]))

    # deployments: one file of a copy cut or flipped (the manifest gets extra attention); simulated
    dep = ws.abs(ws.deployment)
    files = sorted(str(p.relative_to(dep)) for p in dep.rglob("*") if p.is_file())
    for k in range(n(60)):
        name = "manifest.json" if k % 3 == 0 else rng.choice(files)
        data = (dep / name).read_bytes()
        tag, blob = rng.choice(_truncations(data, 8, rng) if k % 2 else _flips(data, 1, rng))
        copy = root / "dep" / f"d{k}"
        ws.deployment_copy(copy)
        ws.write(copy / name, blob)
        argv = ["simulate", str(copy), "--dataset", "digits", "--limit", "2"] if k % 2 else ["inspect", str(copy)]
        trials.append(Trial(f"dep-{k}-{name.replace('/', '_')}-{tag}", "random/deployment", argv))
    # and a manifest with random keys set to edge values
    for k in range(n(30)):
        copy = root / "dep" / f"m{k}"
        ws.deployment_copy(copy)
        manifest = json.loads((dep / "manifest.json").read_text(encoding="utf-8"))
        key = rng.choice([k2 for k2 in manifest if k2 != "files"] + ["files"])
        value = json.loads(rng.choice(["0", "-1", "1000000000000", "null", '"x"', "[]", "{}", "1.5", "true"]))
        manifest[key] = value
        ws.write(copy / "manifest.json", json.dumps(manifest))
        argv = ["simulate", str(copy), "--dataset", "digits", "--limit", "2"] if k % 2 else ["inspect", str(copy)]
        trials.append(Trial(f"manifest-{k}-{key}={value!r}", "random/deployment", argv))

    # MNIST IDX files: cut and flipped (mostly in the 16-byte header), run with the 784-10 model
    good = ws.abs(ws.mnist_dir)
    for k in range(n(40)):
        name = rng.choice(["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
        data = (good / name).read_bytes()
        if k % 2:
            tag, blob = rng.choice(_truncations(data, 16, rng))
        else:
            tag, blob = _flips(data, 1, rng, 0, 16 if rng.random() < 0.7 else len(data))[0]
        folder = root / "mnist" / f"m{k}"
        shutil.copytree(good, ws.abs(folder))
        ws.write(folder / name, blob)
        trials.append(Trial(f"idx-{k}-{name}-{tag}", "random/dataset",
                            ["run", ws.mnist_onnx, "--dataset", "mnist", "--data-dir", str(folder)]))
    return trials


# -------------------------------------------------------------------------------------------- running
def classify(code: int | None, err: str) -> str:
    if code == 0:
        return "success"
    if code == 1 and err.startswith("snnc: error: ") and "Traceback" not in err:
        return "clean"
    if code == 1 and "\nsnnc: error: " in err and "Traceback" not in err:
        return "noisy"
    return "internal"


class Hang(BaseException):
    """Raised by SIGALRM in the worker (a BaseException, so that the CLI does not report it)."""


def worker(root: str, timeout: int, memory_gb: float) -> None:
    """Read argv lists (JSON lines) on stdin, run each with snnc.cli.main, answer JSON lines on stdout."""
    from snnc import cli

    os.chdir(root)
    cap = int(memory_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))

    def alarm(signum, frame):  # noqa: ANN001, ANN202
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    answer = sys.stdout
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - stray prints must not reach the pipe
    for line in sys.stdin:
        argv = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        signal.alarm(timeout)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(argv)
            outcome = None
        except Hang:
            code, outcome = None, "hang"
        except SystemExit as exc:
            code, outcome = exc.code if isinstance(exc.code, int) else 2, None
        except BaseException as exc:  # noqa: BLE001 - the CLI let something escape: a bug
            code, outcome = None, "internal"
            err.write(f"escaped {type(exc).__name__}: {exc}")
        finally:
            signal.alarm(0)
        text = err.getvalue()
        answer.write(json.dumps({"code": code, "outcome": outcome or classify(code, text), "err": text[:2000],
                                 "seconds": time.perf_counter() - start}) + "\n")
        answer.flush()


class Worker:
    def __init__(self, root: Path, timeout: int, memory_gb: float) -> None:
        self.args = [sys.executable, str(HERE), "--worker", str(root), "--timeout", str(timeout),
                     "--memory-gb", str(memory_gb)]
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None

    def run(self, argv: list[str]) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         stderr=subprocess.DEVNULL)
        assert self.proc.stdin and self.proc.stdout
        start = time.perf_counter()
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout + 30)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        seconds = time.perf_counter() - start
        if not ready:  # stuck where SIGALRM cannot reach (inside C code)
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return {"code": None, "outcome": "hang", "err": "", "seconds": seconds}
        code = self.proc.wait()
        self.proc = None
        return {"code": code, "outcome": "crash", "err": f"worker died with status {code}", "seconds": seconds}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def run_fresh(root: Path, argv: list[str], timeout: int) -> dict:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "snnc.cli", *argv], cwd=root, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"code": None, "outcome": "hang", "err": "", "seconds": timeout}
    seconds = time.perf_counter() - start
    if proc.returncode < 0:
        return {"code": proc.returncode, "outcome": "crash", "err": proc.stderr, "seconds": seconds}
    return {"code": proc.returncode, "outcome": classify(proc.returncode, proc.stderr), "err": proc.stderr,
            "seconds": seconds}


# ------------------------------------------------------------------------------------------------ main
#: the file that marks a --keep folder as built by this script (so that a later run may delete it)
KEEP_MARK = ".bad-inputs-workspace"


def check_keep_folder(keep: Path) -> None:
    """``--keep`` is rebuilt from scratch: refuse (exit with one line) a path this script may not delete, that is
    anything but a missing or empty folder or one an earlier run built (it holds :data:`KEEP_MARK`)."""
    hint = "hint: give a new or empty folder (--keep deletes what an earlier run of this script left there)"
    if keep.is_symlink() or (keep.exists() and not keep.is_dir()):
        raise SystemExit(f"error: {keep}: --keep must be a folder (not a file or a link); refusing to delete it\n"
                         f"  {hint}")
    if keep.is_dir() and not (keep / KEEP_MARK).is_file() and any(keep.iterdir()):
        raise SystemExit(f"error: {keep}: the --keep folder holds files this script did not write; refusing to "
                         f"delete them\n  {hint}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", type=float, default=1.0, help="scale of the number of randomized inputs")
    ap.add_argument("--timeout", type=int, default=60, help="seconds before an input counts as a hang")
    ap.add_argument("--memory-gb", type=float, default=8.0, help="address-space cap of the worker")
    ap.add_argument("--fresh", action="store_true", help="one python process per input")
    ap.add_argument("--keep", default=None, help="build the inputs here and keep them (default: a temp dir): a new or "
                    "empty folder, or one an earlier run built, which is rebuilt from scratch")
    ap.add_argument("--show", type=int, default=10, help="print up to N non-clean outcomes of each kind")
    ap.add_argument("--json", default=None, help="write every trial here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.timeout, args.memory_gb)
        return
    try:  # --json is checked before any work and written whole or not at all (snnc.io)
        json_out = claim_output(args.json, inputs=(args.keep,), option="--json") if args.json else None
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None
    if args.keep:
        check_keep_folder(Path(args.keep))

    from snnc.tests.bad_inputs_catalogue import CASES, Workspace, build_case

    with contextlib.ExitStack() as stack:
        root = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.keep and root.exists():
            shutil.rmtree(root)  # check_keep_folder: empty, or an earlier run's
        ws = Workspace(root)
        if args.keep:
            (root / KEEP_MARK).write_text("built by bench/bad_inputs.py; a later --keep run deletes this folder\n")
        start = time.perf_counter()
        trials = [Trial(e.name, f"catalogue/{e.category}", list(e.argv))
                  for e in (build_case(name, ws) for name in CASES)]
        trials += random_trials(ws, args.variants, random.Random(args.seed))
        built = time.perf_counter() - start
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"{len(trials)} inputs built in {built:.1f} s under {root}")
        runner = None if args.fresh else stack.enter_context(contextlib.closing(Worker(root, args.timeout,
                                                                                        args.memory_gb)))
        start = time.perf_counter()
        for t in trials:
            res = run_fresh(root, t.argv, args.timeout) if runner is None else runner.run(t.argv)
            t.outcome, t.code, t.seconds = res["outcome"], res["code"], res["seconds"]
            t.first_line = (res["err"].strip().splitlines() or [""])[0][:300]
        wall = time.perf_counter() - start

    by_family: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for t in trials:
        by_family[t.family][t.outcome] += 1
    kinds = ("clean", "success", "noisy", "internal", "hang", "crash")
    print(f"ran {len(trials)} inputs in {wall:.1f} s ({'fresh processes' if args.fresh else 'worker'}, "
          f"timeout {args.timeout} s, seed {args.seed})\n")
    print(f"{'family':<24}" + "".join(f"{k:>10}" for k in kinds) + f"{'clean %':>10}")
    for label, fams in (("catalogue", [f for f in by_family if f.startswith("catalogue/")]),
                        ("random", [f for f in by_family if f.startswith("random/")])):
        total = collections.Counter()
        for fam in sorted(fams):
            c = by_family[fam]
            total += c
            print(f"{fam:<24}" + "".join(f"{c[k]:>10}" for k in kinds) + f"{_pct(c):>10}")
        print(f"{label + ' total':<24}" + "".join(f"{total[k]:>10}" for k in kinds) + f"{_pct(total):>10}\n")
    catalogue = [t for t in trials if t.family.startswith("catalogue/")]
    failures = [t for t in trials if t.outcome in ("noisy", "internal", "hang", "crash")]
    cat_clean = sum(t.outcome == "clean" for t in catalogue)
    not_ok = [t for t in trials if t.outcome != "success"]
    print(f"catalogue: {cat_clean}/{len(catalogue)} clean errors "
          f"({math.floor(1000 * cat_clean / len(catalogue)) / 10:.1f} %)")
    print(f"all inputs that were not accepted as valid: {sum(t.outcome == 'clean' for t in not_ok)}/{len(not_ok)} "
          f"clean errors ({_pct(collections.Counter(t.outcome for t in not_ok))} %); "
          f"noisy or internal errors, hangs, crashes: {len(failures)}")
    slowest = max(trials, key=lambda t: t.seconds)
    print(f"slowest input: {slowest.name} ({slowest.family}) {slowest.seconds:.2f} s")
    wrong = [t for t in catalogue if t.outcome != "clean"]
    for t in (wrong + failures)[: args.show * 3]:
        print(f"  {t.outcome:<8} {t.family:<22} {t.name}: snnc {' '.join(t.argv)}\n           {t.first_line}")
    if json_out is not None:
        write_atomic(json_out, json.dumps([t.__dict__ for t in trials], indent=1) + "\n")
    sys.exit(1 if failures or wrong else 0)


def _pct(c: collections.Counter) -> str:
    refused = c["clean"] + c["noisy"] + c["internal"] + c["hang"] + c["crash"]
    return f"{math.floor(1000 * c['clean'] / refused) / 10:.1f}" if refused else "-"  # floor: 100.0 only if all


if __name__ == "__main__":
    main()
