"""Golden outputs ("process replay"): what every shipped model compiles and simulates to, recorded and compared.

For each model in ``models/*.onnx`` this module compiles a YOSO deployment with fixed options and fixed
sample inputs (the traffic placer's spike statistics), simulates it on a fixed, small image set that
needs no downloaded data, and returns a JSON-ready record:

* ``inputs``: how the images were made and the sha256 of their float32 bytes (a changed image set shows
  up here, not as a simulator change);
* ``placement``: the mesh and region, the host port, the placer, expected hops per placer and the lower
  bound; per PE its layer, layer name, neuron range and ``[x, y]``;
* ``routes``: the routing summary, every multicast key (source, neurons, destinations, tree links,
  rate) and the routing table of every router;
* ``files``: every deployment file with its sha256 (``.npy`` SRAM images also with shape and dtype); the
  files with volatile content (``manifest.json``, ``report.txt``) are hashed after :func:`normalize_file`
  replaced those fields (marked ``"normalized": true``);
* ``simulator``: per image the cycles, energy (total and per category), power, packets, hops, spikes per
  layer, scores and prediction (serial simulation);
* ``reference``: the integer reference executor's scores and predictions on the same images
  (:func:`compute` asserts that they equal the simulator's, bit for bit, spikes included).

``python tests/golden/regenerate.py`` writes ``tests/golden/<model>.json``; ``tests/test_golden.py``
recomputes each record and reports the differences with :func:`compare`. ``docs/testing.md`` ("Golden
outputs") says when regenerating is legitimate.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------------------------------
# Every import of snnc internals is in this block. The modules behind them are being moved (issue 13:
# YOSO passes under backends/yoso/passes/, simulator drivers out of backends/yoso/sim/); whoever merges a move
# updates the paths here, and nothing else in the golden machinery.
from snnc.api import load_model  # ONNX / IR text -> verified graph
from snnc.backends import get_backend  # "reference": the integer executor on the quantized graph
from snnc.backends.yoso import compile_yoso, load_deployment  # the compiler; read back + verify a deployment
from snnc.backends.yoso.drivers.simulate import forget_chip, simulate_deployment  # the chip simulator (library API)
from snnc.datasets import load_dataset  # scikit-learn's bundled 8x8 digits (no download)

# ------------------------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = ROOT / "models"
GOLDEN_DIR = Path(__file__).resolve().parent
FORMAT = 1
#: Relative tolerance for floats in :func:`compare` (integers and strings compare exactly).
REL_TOL = 1e-9
#: Differences listed in a failure message at most.
MAX_DIFFS = 20


# Per model: hardware file (relative to the repository root; None = the shipped yoso-6x7.toml), images
# simulated, sample inputs for the placer's spike statistics. 784-1000-10 needs 47 PEs (the 6 x 7 mesh has 42)
# and the CNNs 12 x 13 too (README), so these compile for examples/yoso-12x13.toml. The CNN simulates at ~2 s/image.
CONFIG: dict[str, dict[str, Any]] = {
    "stbp-fashion-lif-li": {"hw": "examples/yoso-leaky-6x7.toml", "images": 8, "samples": 64},
    "stbp-fashion-mlp": {"hw": None, "images": 8, "samples": 64},
    "stdbp-digits": {"hw": None, "images": 8, "samples": 64},
    "stdbp-fashion-784-1000-10": {"hw": "examples/yoso-12x13.toml", "images": 8, "samples": 64},
    "stdbp-mnist-784-400-10": {"hw": None, "images": 8, "samples": 64},
    "stdbp-mnist-784-800-10": {"hw": None, "images": 8, "samples": 64},
    "stdbp-mnist-cnn": {"hw": "examples/yoso-12x13.toml", "images": 3, "samples": 16},
    "stdbp-fashion-cnn": {"hw": "examples/yoso-12x13.toml", "images": 3, "samples": 16},
}


def model_names() -> list[str]:
    """The shipped models (stems of ``models/*.onnx``), sorted."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.onnx"))


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


# ------------------------------------------------------------------------------------------------- images
def _digits(split: str, n: int) -> np.ndarray:
    """The first ``n`` 8x8 digits of a split, float32 ``[n, 8, 8]`` in [0, 1] (values / 16)."""
    data = load_dataset("digits", split=split, limit=n)
    return np.asarray(data.x, np.float32).reshape(-1, 8, 8)[:n]


def _upscaled(x: np.ndarray) -> np.ndarray:
    """8x8 digits -> 28x28: each pixel a 3x3 block (24x24), centred with a 2-pixel border, like MNIST."""
    big = np.kron(x, np.ones((3, 3), np.float32))
    return np.pad(big, ((0, 0), (2, 2), (2, 2))).astype(np.float32)


def images(features: tuple[int, ...], split: str, n: int) -> tuple[np.ndarray, str]:
    """Deterministic inputs ``[n, *features]`` for a model and how they were made (no downloaded data).

    64 features: scikit-learn's 8x8 digits as they are; 784 features (28x28 models): the same digits
    upscaled by :func:`_upscaled`, which make every layer of the shipped 28x28 networks spike.
    """
    x = _digits(split, n)
    size = int(np.prod(features))
    if size == 64:
        how = f"sklearn digits, {split} split, first {n}, v / 16"
    elif size == 784:
        x = _upscaled(x)
        how = f"sklearn digits, {split} split, first {n}, v / 16, each pixel 3x3, padded by 2 to 28x28"
    else:
        raise ValueError(f"no golden image set for input features {features}")
    return np.ascontiguousarray(x.reshape(n, *features), np.float32), how


# ---------------------------------------------------------------------------------------------- deployment
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize_file(name: str, data: bytes) -> bytes | None:
    """The file's bytes with volatile content replaced, or None when nothing in it is volatile.

    * ``manifest.json``: ``snnc_version`` (changes with every release), the values of ``timings_s``
      (wall-clock seconds; the stage names stay), ``model.source`` (the model path as given, absolute
      here; its basename stays) and the sha256 of ``report.txt`` in ``files`` (that file holds timings
      too; its normalized hash is recorded separately);
    * ``report.txt``: the ``passes`` line's milliseconds and the model path in the ``model`` line.
    """
    if name == "manifest.json":
        m = json.loads(data)
        m["snnc_version"] = "<volatile>"
        m["timings_s"] = dict.fromkeys(m.get("timings_s", {}), "<volatile>")
        if "source" in m.get("model", {}):
            m["model"]["source"] = Path(m["model"]["source"]).name
        if "report.txt" in m.get("files", {}):
            m["files"]["report.txt"] = "<volatile>"
        return json.dumps(m, indent=1, sort_keys=True).encode("utf-8")
    if name == "report.txt":
        lines = []
        for line in data.decode("utf-8").split("\n"):
            if line.startswith("passes "):
                line = "passes     " + ", ".join(part.strip().split(" ")[0] for part in line[6:].split(","))
            elif line.startswith("model "):
                head, _, rest = line.partition("(")
                path, sep, tail = rest.partition(", sha256 ")
                line = f"{head}({Path(path).name}{sep}{tail}" if sep else line
            lines.append(line)
        return "\n".join(lines).encode("utf-8")
    return None


def _files(root: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        data = path.read_bytes()
        norm = normalize_file(name, data)
        entry: dict[str, Any] = {"sha256": _sha256(data if norm is None else norm)}
        if norm is not None:
            entry["normalized"] = True
        if name.endswith(".npy"):
            arr = np.load(io.BytesIO(data), allow_pickle=False)
            entry["shape"] = list(arr.shape)
            entry["dtype"] = str(arr.dtype)
        out[name] = entry
    return out


def _placement(root: Path) -> dict[str, Any]:
    placement = json.loads((root / "placement.json").read_text())
    program = json.loads((root / "program.json").read_text())
    # .get throughout: a field that a change drops shows up as a difference (-> null), not as a KeyError
    names = {ly.get("index"): ly.get("name") for ly in program.get("layers", [])}
    pes = []
    for pe in placement.get("pes", []):
        config = json.loads((root / "pe" / f"{pe['id']:04d}" / "config.json").read_text())
        pes.append({"id": pe["id"], "layer": pe.get("layer"), "layer_name": names.get(pe.get("layer")),
                    "neurons": config.get("neurons"), "xy": pe.get("xy")})
    out = {k: placement.get(k) for k in ("mesh", "region", "host_port", "placer", "spike_stats", "expected_hops",
                                         "hops_lower_bound")}
    out["pes"] = pes
    return out


def _routes(root: Path) -> dict[str, Any]:
    routing = json.loads((root / "routing.json").read_text())
    summary = {k: v for k, v in routing.items() if k not in ("keys", "tables")}
    return {"summary": summary, "keys": routing.get("keys"), "tables": routing.get("tables")}


# ---------------------------------------------------------------------------------------------- simulation
def _scores(a: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(a)]


def _simulate(root: Path, graph: Any, x: np.ndarray, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sim = simulate_deployment(root, x, workers=1)
    try:
        ref = get_backend("reference").run(graph, x)
    finally:
        forget_chip(root)
    # bit-exact is the project's contract: the chip model must equal the integer reference
    if not (sim.scores.dtype == np.float32 and np.array_equal(sim.scores, ref.scores)):
        raise AssertionError(f"{name}: simulator scores differ from the integer reference's")
    if not np.array_equal(sim.predictions, ref.predictions):
        raise AssertionError(f"{name}: simulator predictions differ from the integer reference's")
    for value, counts in ref.spike_counts.items():
        got = [r.spikes.get(value) for r in sim.images]
        if got != [int(c) for c in counts]:
            raise AssertionError(f"{name}: spikes of %{value} differ: simulator {got}, reference {list(counts)}")
    per_image = [{"index": r.index, "prediction": r.prediction, "scores": [float(v) for v in r.scores],
                  "cycles": r.cycles, "latency_ms": r.latency_ms, "energy_uj": r.energy_uj,
                  "energy_pj": dict(r.energy_pj), "power_mw": r.power_mw, "spikes": dict(r.spikes),
                  "packets": dict(r.packets), "hops": r.hops, "busiest_link": r.busiest_link,
                  "step_cycles_sum": int(sum(r.step_cycles))} for r in sim.images]
    simulator = {"mesh": list(sim.mesh), "clock_hz": sim.clock_hz, "time_steps": sim.time_steps,
                 "barrier_cycles": sim.barrier_cycles, "images": per_image}
    reference = {"scores": _scores(ref.scores), "predictions": [int(p) for p in ref.predictions],
                 "spikes": {k: [int(c) for c in v] for k, v in ref.spike_counts.items()}}
    return simulator, reference


# ------------------------------------------------------------------------------------------------- compute
def compute(name: str) -> dict[str, Any]:
    """The golden record of model ``name`` (a stem of ``models/*.onnx``), computed now."""
    cfg = CONFIG.get(name)
    if cfg is None:
        raise KeyError(f"model {name} has no golden configuration: add it to CONFIG in {Path(__file__).name}")
    model = MODELS_DIR / f"{name}.onnx"
    graph = load_model(str(model))
    features = tuple(graph.inputs[0].type.features)
    sample_x, sample_how = images(features, "train", cfg["samples"])
    x, how = images(features, "test", cfg["images"])
    options: dict[str, Any] = {"placer": "traffic", "mesh": "auto", "sample_x": sample_x, "model_path": str(model)}
    if cfg["hw"] is not None:
        options["hw_path"] = str(ROOT / cfg["hw"])
    with tempfile.TemporaryDirectory(prefix=f"golden-{name}-") as tmp:
        root = Path(tmp) / "deployment"
        result = compile_yoso(graph, root, **options)
        load_deployment(root)  # reads back and verifies every file against the manifest
        placement = _placement(root)
        placement["compile_expected_hops"] = dict(result.expected_hops)
        placement["compile_hops_lower_bound"] = result.hops_lower_bound
        simulator, reference = _simulate(root, result.graph, x, name)
        record = {
            "format": FORMAT,
            "model": name,
            "compile": {"hw": cfg["hw"] or "yoso-6x7.toml (shipped)", "placer": "traffic", "mesh": "auto",
                        "sample_inputs": sample_how,
                        "sample_sha256": _sha256(sample_x.tobytes())},
            "inputs": {"images": how, "shape": list(x.shape), "sha256": _sha256(x.tobytes())},
            "placement": placement,
            "routes": _routes(root),
            "files": _files(root),
            "simulator": simulator,
            "reference": reference,
        }
    # through JSON, so that a fresh record and a loaded one have the same types (tuples -> lists, ...)
    return json.loads(dumps(record))


def _format(v: Any, indent: str) -> str:
    if isinstance(v, dict) and v:
        inner = indent + " "
        items = [f"{inner}{json.dumps(str(k))}: {_format(x, inner)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(v, list) and v and not all(map(_is_scalar, v)):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + _format(x, inner) for x in v) + "\n" + indent + "]"
    return json.dumps(v, allow_nan=False)  # scalars (floats as repr: exact round trip), lists of scalars


def dumps(record: dict[str, Any]) -> str:
    """The file text of a record: JSON, a list of scalars on one line (readable diffs)."""
    return _format(record, "") + "\n"


def load(name: str) -> dict[str, Any]:
    return json.loads(golden_path(name).read_text(encoding="utf-8"))


def write(name: str, record: dict[str, Any]) -> Path:
    path = golden_path(name)
    path.write_text(dumps(record), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- compare
def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, int | float) and isinstance(b, int | float)):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)


def _short(v: Any, limit: int = 120) -> str:
    text = json.dumps(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            sub = f"{path}.{k}" if path else str(k)
            if k not in b:
                out.append(f"{sub}: {_short(a[k])} -> (missing)")
            else:
                _diff(a[k], b[k], sub, out)
        for k in b:
            if k not in a:
                out.append(f"{path}.{k}: (new) -> {_short(b[k])}" if path else f"{k}: (new) -> {_short(b[k])}")
        return
    if isinstance(a, list) and isinstance(b, list):
        if all(map(_is_scalar, a)) and all(map(_is_scalar, b)) and max(len(a), len(b)) <= 16:
            if len(a) != len(b) or not all(_same(u, v) for u, v in zip(a, b, strict=True)):
                out.append(f"{path}: {_short(a)} -> {_short(b)}")
            return
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} -> {len(b)}")
        for i, (u, v) in enumerate(zip(a, b, strict=False)):
            _diff(u, v, f"{path}[{i}]", out)
        return
    if not _same(a, b):
        out.append(f"{path}: {_short(a)} -> {_short(b)}")


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Every difference ``section.key[i]...: old -> new`` (exact for integers and strings, floats to
    :data:`REL_TOL`), in record order."""
    out: list[str] = []
    _diff(expected, actual, "", out)
    return out


def report(name: str, diffs: list[str]) -> str:
    """The failure message: the first :data:`MAX_DIFFS` differences and how to regenerate."""
    sections: dict[str, int] = {}
    for d in diffs:
        section = d.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
        sections[section] = sections.get(section, 0) + 1
    by_section = ", ".join(f"{k} {v}" for k, v in sections.items())
    lines = [f"{name}: {len(diffs)} golden output(s) changed ({by_section}); golden -> now:"]
    lines += [f"  {name}: {d}" for d in diffs[:MAX_DIFFS]]
    if len(diffs) > MAX_DIFFS:
        lines.append(f"  ... and {len(diffs) - MAX_DIFFS} more")
    lines.append(f"If the change is intended, regenerate with `python tests/golden/regenerate.py --model {name}` "
                 "and state the effect in the commit message (docs/testing.md, 'Golden outputs').")
    return "\n".join(lines)
