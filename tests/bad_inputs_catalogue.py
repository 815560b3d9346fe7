"""The catalogue of bad inputs: every kind of broken file a user can feed snnc, built programmatically.

Each entry is a :class:`BadInput`: a name, a category (``onnx``, ``ir``, ``hardware``, ``dataset``,
``deployment``, ``output``, ``limits``), the ``snnc`` command line to run on it, and what that command
must answer: exit code 1 and one ``snnc: error: WHERE: MESSAGE`` block (no traceback). The files are
written under one workspace directory and every path in a command is relative to it, so the commands
and the pinned ``where`` parts read the same everywhere (``tests/test_bad_inputs.py`` runs them with
the workspace as the current directory; ``bench/bad_inputs.py`` runs them in subprocesses, plus
randomized damage; ``docs/errors.md`` lists them).

Example:
    >>> ws = Workspace(Path("/tmp/bad"))                      # doctest: +SKIP
    >>> entry = build_case("onnx-empty", ws)                  # doctest: +SKIP
    >>> entry.argv, entry.message                             # doctest: +SKIP
    (['ir', 'onnx-empty/model.onnx'], 'not a valid ONNX file')
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from snnc.tests.onnx_models import init as _init
from snnc.tests.onnx_models import node as _node
from snnc.tests.onnx_models import snn as _snn

CATEGORIES = ("onnx", "ir", "hardware", "dataset", "deployment", "output", "limits")


@dataclass(frozen=True)
class BadInput:
    """One catalogue entry, built.

    Attributes:
        name: unique id (also the entry's folder in the workspace).
        category: one of :data:`CATEGORIES`.
        description: the bad input in a few words (the first column of ``docs/errors.md``).
        argv: the ``snnc`` arguments (paths relative to the workspace).
        message: a fragment the error message must contain.
        where: the exact ``where`` part (``snnc: error: WHERE: ...``), or None for an error without one.
        exit_code: the expected exit status (1 for every user error).
    """

    name: str
    category: str
    description: str
    argv: tuple[str, ...]
    message: str
    where: str | None
    exit_code: int = 1

    @property
    def command(self) -> str:
        return "snnc " + " ".join(self.argv)


# --------------------------------------------------------------------------------------- workspace
F = TensorProto.FLOAT
T = 8


def _weights(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(-16, 17, shape) / 64).astype(np.float32)


def onnx_model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto] = (), features: tuple[int, ...] = (4,),
               n_out: int | str = 3, *, opsets: list[tuple[str, int]] | None = None,
               extra_inputs: list[onnx.ValueInfoProto] = ()) -> onnx.ModelProto:
    """A model with input ``x [B, *features]`` and output ``scores [B, n_out]`` (no checks: may be broken)."""
    x = helper.make_tensor_value_info("x", F, ["B", *features])
    y = helper.make_tensor_value_info("scores", F, ["B", n_out])
    graph = helper.make_graph(nodes, "net", [x, *extra_inputs], [y], list(inits))
    imports = [helper.make_opsetid(d, v) for d, v in (opsets or [("", 20), ("snn", 1)])]
    return helper.make_model(graph, opset_imports=imports, ir_version=10)


def mlp_nodes(weight: str = "W", threshold: dict[str, Any] | None = None, bias: bool = False,
              time_steps: int | None = T) -> list[onnx.NodeProto]:
    """TTFS -> MatMul(W) [-> Add(b)] -> ReLPSP -> FirstSpikeDecode, the nodes named enc, fc, fc_bias, neuron, dec."""
    enc = {"time_steps": time_steps} if time_steps is not None else {}
    nodes = [_snn("TTFSEncode", ["x"], ["s"], name="enc", **enc), _node("MatMul", ["s", weight], ["h"], name="fc")]
    if bias:
        nodes.append(_node("Add", ["h", "b"], ["hb"], name="fc_bias"))
    nodes += [_snn("ReLPSP", ["hb" if bias else "h"], ["o"], name="neuron",
                   **({"threshold": 1.0} if threshold is None else threshold)),
              _snn("FirstSpikeDecode", ["o"], ["scores"], name="dec")]
    return nodes


def mlp(w: np.ndarray | None = None, b: np.ndarray | None = None, **kw: Any) -> onnx.ModelProto:
    """A 4-3 MLP (weights ``[4, 3]`` as MatMul stores them), optionally with a bias."""
    w = _weights((4, 3)) if w is None else w
    inits = [_init("W", w)] + ([] if b is None else [_init("b", b)])
    return onnx_model(mlp_nodes(bias=b is not None), inits, **kw)


class Workspace:
    """The directory the catalogue is built in, with the good artifacts the bad ones are made from.

    The good artifacts are built once, on first use: a digits-sized ONNX model (64-16-10, T = 8), its IR
    dump, a 784-10 model for MNIST-layout datasets, a small MNIST folder, and a compiled deployment.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, name: str) -> Path:
        """A fresh, empty folder for one entry (relative to the root)."""
        path = self.root / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return Path(name)

    def write(self, rel: Path | str, data: bytes | str) -> str:
        """Write a file below the root; returns its relative path as a string."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return str(rel)

    def abs(self, rel: Path | str) -> Path:
        return self.root / rel

    # ---- good artifacts
    @cached_property
    def digits_model(self) -> onnx.ModelProto:
        from snnc.frontend.snn_onnx import SnnModelBuilder

        b = SnnModelBuilder(input_features=(64,), time_steps=T, name="digits")
        h = b.relpsp(b.dense(b.ttfs_encode(b.input), _weights((16, 64), 1)), threshold=0.5)
        o = b.relpsp(b.dense(h, _weights((10, 16), 2)), threshold=0.5)
        return b.build(output=b.first_spike_decode(o), metadata={"snn.algorithm": "stdbp"})

    @cached_property
    def conv_model(self) -> onnx.ModelProto:
        """A small CNN on the 8x8 digits: rate encoding, conv 3x3 (pads 1), IF, avgpool 2, IF, flatten, dense, IF."""
        from snnc.frontend.snn_onnx import SnnModelBuilder

        b = SnnModelBuilder(input_features=(1, 8, 8), time_steps=T, name="conv")
        c = b.if_neuron(b.conv2d(b.rate_encode(b.input), _weights((4, 1, 3, 3), 6), _weights((4,), 7), pads=1),
                        threshold=0.5)
        p = b.flatten(b.if_neuron(b.avgpool2d(c, 2), threshold=0.25))
        o = b.if_neuron(b.dense(p, _weights((10, 64), 8)), threshold=np.full(10, 0.75, np.float32), reset="zero")
        return b.build(output=b.spike_count_decode(o))

    @cached_property
    def conv_ir(self) -> str:
        """The CNN as IR text (weights included)."""
        from snnc.frontend import import_onnx
        from snnc.ir.printer import print_graph

        return print_graph(import_onnx(self.conv_model))

    @cached_property
    def digits_onnx(self) -> str:
        """Relative path of the good digits model (ONNX)."""
        return self.write("good/digits.onnx", self.digits_model.SerializeToString())

    @cached_property
    def digits_ir(self) -> str:
        """The good digits model as IR text (weights included)."""
        from snnc.frontend import import_onnx
        from snnc.ir.printer import print_graph

        return print_graph(import_onnx(self.digits_model))

    @cached_property
    def mnist_onnx(self) -> str:
        """Relative path of a good 784-10 model (for MNIST-layout datasets)."""
        from snnc.frontend.snn_onnx import SnnModelBuilder

        b = SnnModelBuilder(input_features=(784,), time_steps=T, name="mnist")
        o = b.relpsp(b.dense(b.ttfs_encode(b.input), _weights((10, 784), 3)), threshold=0.5)
        model = b.build(output=b.first_spike_decode(o))
        return self.write("good/mnist.onnx", model.SerializeToString())

    @cached_property
    def mnist_dir(self) -> str:
        """Relative path of a good MNIST folder: 20 train and 10 test images (raw IDX)."""
        rel = "good/mnist"
        for prefix, n in (("train", 20), ("t10k", 10)):
            images, labels = idx_images(n), idx_labels(np.arange(n) % 10)
            self.write(f"{rel}/{prefix}-images-idx3-ubyte", images)
            self.write(f"{rel}/{prefix}-labels-idx1-ubyte", labels)
        return rel

    @cached_property
    def deployment(self) -> str:
        """Relative path of a good deployment of the digits model (compiled for the shipped hardware)."""
        from snnc.backends.yoso import compile_yoso
        from snnc.frontend import import_onnx

        rel = "good/deployment"
        if self.abs(rel).exists():
            shutil.rmtree(self.abs(rel))
        compile_yoso(import_onnx(self.digits_model), self.abs(rel), placer="snake")
        return rel

    def deployment_copy(self, rel: Path | str) -> str:
        """A copy of the good deployment at ``rel``."""
        shutil.copytree(self.abs(self.deployment), self.abs(rel))
        return str(rel)

    @cached_property
    def hardware_text(self) -> str:
        from snnc.backends.yoso.hardware import DEFAULT_HARDWARE

        return Path(DEFAULT_HARDWARE).read_text(encoding="utf-8")


def idx_images(n: int, rows: int = 28, cols: int = 28, seed: int = 0) -> bytes:
    """An IDX3 file of ``n`` random uint8 images."""
    data = np.random.default_rng(seed).integers(0, 256, (n, rows, cols), dtype=np.uint8)
    return bytes([0, 0, 8, 3]) + np.array([n, rows, cols], ">u4").tobytes() + data.tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    """An IDX1 file of uint8 labels."""
    labels = np.asarray(labels, np.uint8)
    return bytes([0, 0, 8, 1]) + np.array([len(labels)], ">u4").tobytes() + labels.tobytes()


def edit_hardware(text: str, section: str, key: str, value: str | None) -> str:
    """``text`` with ``key`` of ``[section]`` set to ``value`` (the raw TOML), or removed when None."""
    lines = text.splitlines(keepends=True)
    current = None
    for i, line in enumerate(lines):
        head = re.match(r"\s*\[([^\]]+)\]", line)
        if head:
            current = head.group(1).strip()
            continue
        if current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
            lines[i] = "" if value is None else f"{key} = {value}\n"
            return "".join(lines)
    raise KeyError(f"[{section}] {key}")


def rewrite_manifest(ws: Workspace, dep: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to a deployment's manifest.json."""
    path = ws.abs(dep) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def forge(ws: Workspace, dep: str, name: str, data: bytes) -> None:
    """Replace a deployment file AND its manifest hash (a consistent but wrong deployment)."""
    (ws.abs(dep) / name).write_bytes(data)
    rewrite_manifest(ws, dep, lambda m: m["files"].__setitem__(name, hashlib.sha256(data).hexdigest()))


# ------------------------------------------------------------------------------------------ registry
Builder = Callable[["Workspace", Path], BadInput]
CASES: dict[str, tuple[str, Builder]] = {}


def case(name: str, category: str) -> Callable[[Callable[..., BadInput]], Callable[..., BadInput]]:
    """Register a builder ``fn(ws, folder) -> BadInput`` (it gets a fresh folder named after the entry)."""
    assert category in CATEGORIES, category
    assert name not in CASES, name

    def register(fn: Callable[..., BadInput]) -> Callable[..., BadInput]:
        CASES[name] = (category, fn)
        return fn

    return register


def build_case(name: str, ws: Workspace) -> BadInput:
    """Build one entry's files in ``ws`` and return the entry."""
    category, fn = CASES[name]
    entry = fn(ws, ws.folder(name))
    assert entry.name == name and entry.category == category, (entry.name, name)
    return entry


def build_catalogue(root: str | os.PathLike[str]) -> list[BadInput]:
    """Build every entry under ``root``."""
    ws = Workspace(root)
    return [build_case(name, ws) for name in CASES]


def _entry(fn_name: str, category: str, description: str, argv: list[str], message: str,
           where: str | None) -> BadInput:
    return BadInput(fn_name, category, description, tuple(argv), message, where)


NODE_FC = "ONNX node 'fc' (op_type MatMul, domain ai.onnx)"


def _onnx_case(name: str, description: str, model: Callable[[], onnx.ModelProto | bytes], message: str,
               where: str | Callable[[str], str] | None, command: str = "ir", category: str = "onnx") -> None:
    """An ONNX entry: the model (or raw bytes) is written to ``NAME/model.onnx`` and run with ``snnc ir``."""

    @case(name, category)
    def build(ws: Workspace, folder: Path) -> BadInput:
        m = model()
        data = m if isinstance(m, bytes) else m.SerializeToString()
        path = ws.write(folder / "model.onnx", data)
        argv = ["ir", path] if command == "ir" else ["run", path, "--dataset", "digits", "--limit", "2"]
        w = where(path) if callable(where) else where
        return _entry(name, category, description, argv, message, w)


def _same(path: str) -> str:
    return path


# ---------------------------------------------------------------------------------------------- ONNX
@case("onnx-missing", "onnx")
def _onnx_missing(ws: Workspace, folder: Path) -> BadInput:
    path = str(folder / "missing.onnx")
    return _entry("onnx-missing", "onnx", "model file that does not exist", ["ir", path], "model file not found",
                  path)


@case("onnx-directory", "onnx")
def _onnx_directory(ws: Workspace, folder: Path) -> BadInput:
    return _entry("onnx-directory", "onnx", "a directory given as the model", ["ir", str(folder)],
                  "expected a model file, got a directory", str(folder))


_onnx_case("onnx-empty", "empty file (0 bytes)", lambda: b"",
           "not a valid ONNX file", _same)
_onnx_case("onnx-truncated", "ONNX file cut after 150 bytes", lambda: mlp().SerializeToString()[:150],
           "not a valid ONNX file", _same)
_onnx_case("onnx-not-onnx", "a text file named .onnx", lambda: b"this is not a model\n",
           "not a valid ONNX file", _same)
_onnx_case("onnx-random-bytes", "random bytes named .onnx",
           lambda: np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8).tobytes(),
           "not a valid ONNX file", _same)
_onnx_case("onnx-opset-9", "default-domain opset 9 (too old)", lambda: mlp(opsets=[("", 9), ("snn", 1)]),
           "ONNX opset 9 is not supported", _same)
_onnx_case("onnx-opset-future", "default-domain opset 99 (newer than this onnx)",
           lambda: mlp(opsets=[("", 99), ("snn", 1)]), "ONNX opset 99 is not supported", _same)
_onnx_case("onnx-snn-version-2", "snn domain version 2", lambda: mlp(opsets=[("", 20), ("snn", 2)]),
           "domain 'snn' version 2 is not supported", _same)
_onnx_case("onnx-snn-not-imported", "snn ops without an snn opset import", lambda: mlp(opsets=[("", 20)]),
           "the model uses ops of domain 'snn' but does not import that domain", _same)
_onnx_case("onnx-dangling-input", "a node reads a misspelled initializer name",
           lambda: onnx_model(mlp_nodes(weight="fc.wieght"), [_init("fc.weight", _weights((4, 3)))]),
           "input 'fc.wieght' is not defined by any node, initializer or graph input", NODE_FC)


def _cycle() -> onnx.ModelProto:
    nodes = mlp_nodes()
    nodes[1] = _node("MatMul", ["o", "W"], ["h"], name="fc")
    return onnx_model(nodes, [_init("W", _weights((3, 3)))])


_onnx_case("onnx-cycle", "nodes that form a cycle", _cycle, "the graph has a cycle: fc -> neuron -> fc", NODE_FC)


def _defined_twice() -> onnx.ModelProto:
    nodes = mlp_nodes()
    nodes[1] = _node("MatMul", ["s", "W"], ["s"], name="fc")
    return onnx_model(nodes, [_init("W", _weights((4, 3)))])


_onnx_case("onnx-defined-twice", "two nodes write the same value", _defined_twice, "value 's' is defined twice",
           NODE_FC)


def _with_node(index: int, new: onnx.NodeProto, **kw: Any) -> Callable[[], onnx.ModelProto]:
    def make() -> onnx.ModelProto:
        nodes = mlp_nodes()
        nodes[index] = new
        return onnx_model(nodes, [_init("W", _weights((4, 3)))], **kw)
    return make


_onnx_case("onnx-unsupported-op", "a standard op the frontend does not lower (Softmax)",
           _with_node(3, _node("Softmax", ["o"], ["scores"], name="dec")),
           "op 'Softmax' of domain ai.onnx is not supported", "ONNX node 'dec' (op_type Softmax, domain ai.onnx)")
_onnx_case("onnx-misspelled-op", "a misspelled snn op (ReLPSPP)",
           _with_node(2, _snn("ReLPSPP", ["h"], ["o"], name="neuron", threshold=1.0)),
           "unknown snn op 'snn.ReLPSPP'", "ONNX node 'neuron' (op_type ReLPSPP, domain snn)")
_onnx_case("onnx-foreign-domain", "an op of an unknown domain",
           _with_node(2, _node("Spike", ["h"], ["o"], name="neuron", domain="acme"),
                      opsets=[("", 20), ("snn", 1), ("acme", 1)]),
           "op 'Spike' of domain acme is not supported", "ONNX node 'neuron' (op_type Spike, domain acme)")
NODE_NEURON = "ONNX node 'neuron' (op_type ReLPSP, domain snn)"
_onnx_case("onnx-attr-string", "a float attribute given as a string",
           lambda: onnx_model(mlp_nodes(threshold={"threshold": "one"}), [_init("W", _weights((4, 3)))]),
           "attribute 'threshold' must be a float, got str 'one'", NODE_NEURON)
_onnx_case("onnx-attr-int", "a float attribute given as an int",
           lambda: onnx_model(mlp_nodes(threshold={"threshold": 1}), [_init("W", _weights((4, 3)))]),
           "attribute 'threshold' must be a float, got int 1", NODE_NEURON)
_onnx_case("onnx-attr-misspelled", "a misspelled attribute name",
           lambda: onnx_model(mlp_nodes(threshold={"treshold": 1.0}), [_init("W", _weights((4, 3)))]),
           "unknown attribute 'treshold'", NODE_NEURON)
_onnx_case("onnx-attr-negative", "a negative threshold",
           lambda: onnx_model(mlp_nodes(threshold={"threshold": -1.0}), [_init("W", _weights((4, 3)))]),
           "threshold must be a finite float > 0, got -1.0", NODE_NEURON)
_onnx_case("onnx-no-time-steps", "an encoder without time_steps",
           lambda: onnx_model(mlp_nodes(time_steps=None), [_init("W", _weights((4, 3)))]),
           "snn.TTFSEncode has no 'time_steps' attribute", "ONNX node 'enc' (op_type TTFSEncode, domain snn)")


def _nan_weight() -> onnx.ModelProto:
    w = _weights((4, 3))
    w[1, 2] = np.nan
    return mlp(w)


_onnx_case("onnx-nan-weight", "a NaN weight", _nan_weight, "MatMul weight B 'W' contains 1 NaN or infinite value(s)",
           NODE_FC)
_onnx_case("onnx-inf-bias", "an infinite bias", lambda: mlp(b=np.array([0, np.inf, -np.inf], np.float32)),
           "bias 'b' contains 2 NaN or infinite value(s)", "ONNX node 'fc_bias' (op_type Add, domain ai.onnx)")
_onnx_case("onnx-float64-weight", "a float64 weight",
           lambda: onnx_model(mlp_nodes(), [_init("W", _weights((4, 3)), np.float64)]),
           "MatMul weight B 'W' is float64, expected float32", NODE_FC)
_onnx_case("onnx-weight-shape", "weight rows that do not match the input features",
           lambda: mlp(_weights((5, 3))), "shape mismatch: weight B of shape [5, 3] expects 5 input features", NODE_FC)
_onnx_case("onnx-bias-shape", "a bias of the wrong length", lambda: mlp(b=np.zeros(4, np.float32)),
           "shape mismatch: bias of shape [4] does not add along the last axis of the 3 output features",
           "ONNX node 'fc_bias' (op_type Add, domain ai.onnx)")
_onnx_case("onnx-output-shape", "declared output shape that disagrees with the computed one",
           lambda: mlp(n_out=5), "the declared output shape ['B', 5] does not match the computed scores [B, 3]",
           lambda path: f"{path}: graph output 'scores'")
_onnx_case("onnx-two-inputs", "two graph inputs",
           lambda: mlp(extra_inputs=[helper.make_tensor_value_info("y", F, ["B", 4])]),
           "the model has 2 graph inputs ('x', 'y'), expected 1", _same)
_onnx_case("onnx-no-encoder", "no snn encoder (a plain ONNX classifier)",
           lambda: onnx_model([_node("Gemm", ["x", "W"], ["scores"], name="fc")], [_init("W", _weights((4, 3)))]),
           "the model has no snn encoder", _same)


def _checker_reject() -> onnx.ModelProto:
    model = mlp()
    model.graph.node[1].attribute.append(helper.make_attribute("bogus", 1))
    return model


_onnx_case("onnx-checker", "an attribute the ONNX checker rejects", _checker_reject,
           "the model is not valid ONNX: Unrecognized attribute: bogus for operator MatMul", _same)


# ------------------------------------------------------------------------------------------------ IR
def _ir_case(name: str, description: str, text: Callable[[Workspace], str | bytes], message: str,
             where: Callable[[str], str] | str | None, command: str = "ir") -> None:
    @case(name, "ir")
    def build(ws: Workspace, folder: Path) -> BadInput:
        path = ws.write(folder / "model.snnir", text(ws))
        argv = ["ir", path] if command == "ir" else ["run", path, "--dataset", "digits", "--limit", "2"]
        w = where(path) if callable(where) else where
        return _entry(name, "ir", description, argv, message, w)


def _at(line: int, column: int) -> Callable[[str], str]:
    return lambda path: f"{path}:{line}:{column}"


def _sub(pattern: str, replacement: str, count: int = 1) -> Callable[[Workspace], str]:
    def make(ws: Workspace) -> str:
        text, n = re.subn(pattern, replacement, ws.digits_ir, count=count, flags=re.MULTILINE)
        assert n, pattern
        return text
    return make


_ir_case("ir-truncated", "IR dump cut in the middle of an op", lambda ws: ws.digits_ir[:ws.digits_ir.index("%dense_3")],
         "unexpected end of input", _at(5, 70))
_ir_case("ir-wrong-version", "IR dump of version 2", _sub(r"^snnc\.ir 1", "snnc.ir 2"),
         "unsupported IR text version '2'; this snnc reads version 1", _at(1, 9))
_ir_case("ir-undefined-value", "an op reads a value nothing defines",
         _sub(r"snn\.relpsp\(%dense_3\)", "snn.relpsp(%dense_9)"),
         "undefined value %dense_9", _at(7, 26))
_ir_case("ir-duplicate-name", "two ops define the same value", _sub(r"^  %relpsp_4 =", "  %relpsp_2 ="),
         "value %relpsp_2 is defined twice (first at line 5:3)", _at(7, 3))
_ir_case("ir-resource-size", "a weight blob shorter than its declared shape",
         _sub(r'("dense_3\.weight": f32\[10,16\] = ")[A-Za-z0-9+/]{8}', r"\1"),
         'resource "dense_3.weight" holds 634 bytes, f32[10,16] needs 640', _at(14, 34))
_ir_case("ir-bad-base64", "a weight blob that is not base64", _sub(r'("dense_3\.weight": f32\[10,16\] = ")', r"\1!!"),
         'resource "dense_3.weight" is not valid base64', _at(14, 35))
_ir_case("ir-unknown-op", "an unknown op name", _sub(r"snn\.relpsp\(%dense_3\)", "snn.relpssp(%dense_3)"),
         "unknown op 'snn.relpssp'", "%relpsp_4 = snn.relpssp")
_ir_case("ir-type-mismatch", "a result type that disagrees with the op", _sub(r"current<TxBx10xf32>",
                                                                                "current<TxBx11xf32>"),
         "result type current<TxBx11xf32> does not match the inferred type current<TxBx10xf32>",
         "%dense_3 = snn.dense")
_ir_case("ir-not-utf8", "an IR dump with a byte that is not UTF-8",
         lambda ws: ws.digits_ir.encode("utf-8").replace(b'"stdbp"', b'"std\xffbp"'),
         "IR dump is not valid UTF-8", _same)
_ir_case("ir-no-header", "IR text without its 'snnc.ir 1' header (read as ONNX)",
         lambda ws: ws.digits_ir.split("\n", 1)[1], "not a valid ONNX file", _same)
_ir_case("ir-nan-threshold", "a NaN threshold", _sub(r"threshold = 0\.5\}", "threshold = nan}"),
         "attribute 'threshold' must be a finite number > 0, got nan", "%relpsp_2 = snn.relpsp")
_ir_case("ir-nan-weight", "a NaN in a weight blob", lambda ws: _nan_blob(ws.digits_ir, "dense_3.weight"),
         "attribute 'weight' contains NaN or infinite values", "%dense_3 = snn.dense")
_ir_case("ir-elided-run", "running a dump printed with --elide-weights",
         lambda ws: _elided(ws), "array data is elided (this dump was printed with elide_weights=True)", _at(4, 50),
         command="run")


def _nan_blob(text: str, resource: str) -> str:
    """``text`` with the first value of a resource blob replaced by NaN."""
    import base64

    match = re.search(rf'"{re.escape(resource)}": f32\[[0-9,]*\] = "([^"]*)"', text)
    assert match, resource
    data = bytearray(base64.b64decode(match.group(1)))
    data[:4] = np.array([np.nan], "<f4").tobytes()
    return text[:match.start(1)] + base64.b64encode(bytes(data)).decode("ascii") + text[match.end(1):]


def _elided(ws: Workspace) -> str:
    from snnc.frontend import import_onnx
    from snnc.ir.printer import print_graph

    return print_graph(import_onnx(ws.digits_model), elide_weights=True)


@case("ir-empty", "ir")
def _ir_empty(ws: Workspace, folder: Path) -> BadInput:
    path = ws.write(folder / "model.snnir", "snnc.ir 1\n")
    return _entry("ir-empty", "ir", "an IR dump with only its header", ["ir", path],
                  "unexpected end of input; expected 'graph'", f"{path}:1:10")


# ------------------------------------------------------------------------------------------ hardware
def _hw_case(name: str, description: str, edit: Callable[[str], str] | bytes, message: str, key: str | None) -> None:
    @case(name, "hardware")
    def build(ws: Workspace, folder: Path) -> BadInput:
        data = edit if isinstance(edit, bytes) else edit(ws.hardware_text)
        path = ws.write(folder / "hw.toml", data)
        argv = ["compile", ws.digits_onnx, "--hw", path, "-o", str(folder / "out")]
        return _entry(name, "hardware", description, argv, message, path if key is None else f"{path}: {key}")


def _hw(section: str, key: str, value: str | None) -> Callable[[str], str]:
    return lambda text: edit_hardware(text, section, key, value)


@case("hw-missing", "hardware")
def _hw_missing(ws: Workspace, folder: Path) -> BadInput:
    path = str(folder / "missing.toml")
    return _entry("hw-missing", "hardware", "hardware file that does not exist",
                  ["compile", ws.digits_onnx, "--hw", path, "-o", str(folder / "out")], "hardware file not found", path)


_hw_case("hw-not-toml", "a hardware file that is not TOML", lambda t: "[mesh\ncols = 6\n", "not valid TOML", None)
_hw_case("hw-not-utf8", "a hardware file that is not UTF-8", b"format = 1\n\xff\xfe\n", "not UTF-8 text", None)
_hw_case("hw-no-format", "a hardware file without its format key", lambda t: t.replace("format = 1", "", 1),
         "missing key (this snnc reads format = 1)", "format")
_hw_case("hw-format-2", "hardware file format 2", lambda t: t.replace("format = 1", "format = 2", 1),
         "unsupported hardware file format 2; this snnc reads 1", "format")
_hw_case("hw-missing-key", "a missing key ([pe] neurons)", _hw("pe", "neurons", None), "missing key", "[pe] neurons")
_hw_case("hw-missing-section", "a missing section ([energy])",
         lambda t: t[:t.index("[energy]")], "missing section", "[energy]")
_hw_case("hw-unknown-key", "a misspelled key ([pe] nuerons)",
         lambda t: edit_hardware(t, "pe", "neurons", "256\nnuerons = 256"), "unknown key", "[pe] nuerons")
_hw_case("hw-unknown-section", "an unknown section ([cache])", lambda t: t + "\n[cache]\nwords = 4\n",
         "unknown section", "[cache]")
_hw_case("hw-wrong-type", "a string where an integer belongs", _hw("mesh", "cols", '"six"'),
         "expected an integer, got 'six' (str)", "[mesh] cols")
_hw_case("hw-zero-neurons", "an impossible value: 0 neurons per PE", _hw("pe", "neurons", "0"), "must be >= 1, got 0",
         "[pe] neurons")
_hw_case("hw-negative-energy", "an impossible value: negative energy", _hw("energy", "add_pj", "-0.03"),
         "must be >= 0, got -0.03", "[energy] add_pj")
_hw_case("hw-nan-energy", "an impossible value: NaN energy", _hw("energy", "add_pj", "nan"),
         "expected a number, got nan (float)", "[energy] add_pj")
_hw_case("hw-sram-too-small", "weight SRAM smaller than the PE's weight capacity",
         _hw("sram.weight", "words", "1024"), "the weight SRAM (1024 words) is smaller than the weight capacity",
         "[sram.weight] words")
_hw_case("hw-flit-too-narrow", "a flit too narrow for a spike packet", _hw("noc", "flit_bits", "16"),
         "a spike packet needs", "[noc] flit_bits")


# ------------------------------------------------------------------------------------------- datasets
def _ds_case(name: str, description: str, damage: Callable[[Workspace, Path], None], message: str,
             where: Callable[[str], str] | str | None) -> None:
    """A dataset entry: a copy of the good MNIST folder, damaged, fed to ``snnc run`` with the 784-10 model."""

    @case(name, "dataset")
    def build(ws: Workspace, folder: Path) -> BadInput:
        data = folder / "mnist"
        shutil.copytree(ws.abs(ws.mnist_dir), ws.abs(data))
        damage(ws, data)
        argv = ["run", ws.mnist_onnx, "--dataset", "mnist", "--data-dir", str(data)]
        w = where(str(data)) if callable(where) else where
        return _entry(name, "dataset", description, argv, message, w)


def _in(name: str) -> Callable[[str], str]:
    return lambda data: f"{data}/{name}"


TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


@case("ds-unknown", "dataset")
def _ds_unknown(ws: Workspace, folder: Path) -> BadInput:
    return _entry("ds-unknown", "dataset", "an unknown dataset name", ["run", ws.digits_onnx, "--dataset", "cifar10"],
                  "unknown dataset 'cifar10'; known datasets: mnist, fashion-mnist, digits", None)


@case("ds-no-dir", "dataset")
def _ds_no_dir(ws: Workspace, folder: Path) -> BadInput:
    return _entry("ds-no-dir", "dataset", "mnist without --data-dir", ["run", ws.mnist_onnx, "--dataset", "mnist"],
                  "dataset 'mnist' needs a data folder, none was given", "mnist")


@case("ds-missing-dir", "dataset")
def _ds_missing_dir(ws: Workspace, folder: Path) -> BadInput:
    data = str(folder / "nowhere")
    return _entry("ds-missing-dir", "dataset", "a data folder that does not exist",
                  ["run", ws.mnist_onnx, "--dataset", "mnist", "--data-dir", data], "mnist data folder does not exist",
                  data)


_ds_case("ds-missing-labels", "the labels file is missing",
         lambda ws, d: ws.abs(d / TEST_LABELS).unlink(), f"mnist file {TEST_LABELS} (or {TEST_LABELS}.gz) not found",
         _same)
_ds_case("ds-image-shape", "27x27 images where MNIST has 28x28",
         lambda ws, d: ws.write(d / TEST_IMAGES, idx_images(10, 27, 27)), "mnist images must be 28x28, got 27x27",
         _in(TEST_IMAGES))
_ds_case("ds-label-range", "a label out of range (12)",
         lambda ws, d: ws.write(d / TEST_LABELS, idx_labels([1, 2, 12, 3, 4, 5, 6, 7, 8, 9])),
         "label 12 at index 2 is out of range 0..9", _in(TEST_LABELS))
_ds_case("ds-label-count", "fewer labels than images",
         lambda ws, d: ws.write(d / TEST_LABELS, idx_labels(np.arange(7) % 10)), "7 labels for 10 images",
         _in(TEST_LABELS))
_ds_case("ds-truncated", "an IDX file cut short",
         lambda ws, d: ws.write(d / TEST_IMAGES, idx_images(10)[:3000]),
         "file is truncated: expected 7856 bytes for shape (10, 28, 28), got 3000", _in(TEST_IMAGES))
_ds_case("ds-bad-magic", "a file that is not IDX",
         lambda ws, d: ws.write(d / TEST_IMAGES, b"P5\n28 28\n255\n" + bytes(784)),
         "not an IDX file: bad magic number", _in(TEST_IMAGES))
_ds_case("ds-wrong-dims", "a labels file with image dimensions",
         lambda ws, d: ws.write(d / TEST_LABELS, idx_images(10)), "IDX file has 3 dimensions, expected 1",
         _in(TEST_LABELS))
_ds_case("ds-bad-gzip", "a corrupt .gz file",
         lambda ws, d: (ws.abs(d / TEST_IMAGES).unlink(),
                        ws.write(d / (TEST_IMAGES + ".gz"), gzip.compress(idx_images(10))[:200])),
         "corrupt gzip data", _in(TEST_IMAGES + ".gz"))


@case("ds-model-mismatch", "dataset")
def _ds_model_mismatch(ws: Workspace, folder: Path) -> BadInput:
    return _entry("ds-model-mismatch", "dataset", "a dataset whose images do not fit the model's input (8x8 vs 784)",
                  ["run", ws.mnist_onnx, "--dataset", "digits", "--limit", "4"],
                  "samples of shape (8, 8) have 64 values but the model expects (784,) = 784", "digits")


@case("ds-too-many-classes", "dataset")
def _ds_classes(ws: Workspace, folder: Path) -> BadInput:
    from snnc.frontend.snn_onnx import SnnModelBuilder

    b = SnnModelBuilder(input_features=(64,), time_steps=T, name="four")
    o = b.relpsp(b.dense(b.ttfs_encode(b.input), _weights((4, 64), 4)), threshold=0.5)
    path = ws.write(folder / "four.onnx", b.build(output=b.first_spike_decode(o)).SerializeToString())
    return _entry("ds-too-many-classes", "dataset", "a dataset with more classes than the model scores",
                  ["run", path, "--dataset", "digits", "--limit", "4"],
                  "dataset digits has 10 classes but the model scores only 4", path)


# ----------------------------------------------------------------------------------------- deployment
def _dep_case(name: str, description: str, damage: Callable[[Workspace, str], None], message: str,
              where: Callable[[str], str] | str | None, command: str = "inspect") -> None:
    """A deployment entry: a copy of the good deployment, damaged, then inspected (or simulated)."""

    @case(name, "deployment")
    def build(ws: Workspace, folder: Path) -> BadInput:
        dep = ws.deployment_copy(folder / "dep")
        damage(ws, dep)
        argv = ["inspect", dep] if command == "inspect" else ["simulate", dep, "--dataset", "digits", "--limit", "2"]
        w = where(dep) if callable(where) else where
        return _entry(name, "deployment", description, argv, message, w)


def _file(name: str) -> Callable[[str], str]:
    return lambda dep: f"{dep}/{name}"


@case("dep-missing", "deployment")
def _dep_missing(ws: Workspace, folder: Path) -> BadInput:
    dep = str(folder / "dep")
    return _entry("dep-missing", "deployment", "a deployment directory that does not exist", ["inspect", dep],
                  "deployment directory not found", dep)


@case("dep-not-dir", "deployment")
def _dep_not_dir(ws: Workspace, folder: Path) -> BadInput:
    dep = ws.write(folder / "dep", "not a directory\n")
    return _entry("dep-not-dir", "deployment", "a file given as the deployment", ["inspect", dep],
                  "not a deployment directory", dep)


@case("dep-empty", "deployment")
def _dep_empty(ws: Workspace, folder: Path) -> BadInput:
    dep = folder / "dep"
    ws.abs(dep).mkdir()
    return _entry("dep-empty", "deployment", "an empty directory (no manifest.json)", ["simulate", str(dep),
                  "--dataset", "digits", "--limit", "2"], "missing file manifest.json", str(dep))


_dep_case("dep-manifest-json", "a manifest.json that is not JSON",
          lambda ws, d: ws.write(Path(d) / "manifest.json", '{"format": "snnc-yoso-deployment", '),
          "manifest.json is not readable JSON", _file("manifest.json"))
_dep_case("dep-manifest-list", "a manifest.json that is a JSON list",
          lambda ws, d: ws.write(Path(d) / "manifest.json", "[1, 2]\n"), "manifest.json is not a JSON object",
          _file("manifest.json"))
_dep_case("dep-wrong-format", "a manifest of another format",
          lambda ws, d: rewrite_manifest(ws, d, lambda m: m.__setitem__("format", "tflite")),
          "manifest.json is not a snnc-yoso-deployment manifest", _file("manifest.json"))
_dep_case("dep-format-version", "a deployment of format version 2",
          lambda ws, d: rewrite_manifest(ws, d, lambda m: m.__setitem__("format_version", 2)),
          "deployment format version 2 is not supported (this snnc reads 1)", _file("manifest.json"))
_dep_case("dep-missing-file", "routing.json deleted",
          lambda ws, d: ws.abs(Path(d) / "routing.json").unlink(), "missing file routing.json", _same)
_dep_case("dep-missing-pe-file", "a PE's weight image deleted",
          lambda ws, d: ws.abs(Path(d) / "pe/0000/weight.npy").unlink(), "missing file pe/0000/weight.npy", _same,
          command="simulate")
_dep_case("dep-unlisted-file", "a manifest that no longer lists a required file",
          lambda ws, d: rewrite_manifest(ws, d, lambda m: m["files"].pop("program.json")),
          "the manifest does not list program.json; the deployment is incomplete", _file("manifest.json"))
_dep_case("dep-hash-weight", "a PE weight image changed after compiling",
          lambda ws, d: ws.abs(Path(d) / "pe/0000/weight.npy").write_bytes(
              ws.abs(Path(d) / "pe/0000/weight.npy").read_bytes()[:-1] + b"\x01"),
          "pe/0000/weight.npy does not match its sha256 in manifest.json", _file("pe/0000/weight.npy"),
          command="simulate")
_dep_case("dep-hash-ir", "model.ir edited after compiling",
          lambda ws, d: ws.abs(Path(d) / "model.ir").write_text(
              ws.abs(Path(d) / "model.ir").read_text(encoding="utf-8") + "// edited\n", encoding="utf-8"),
          "model.ir does not match its sha256 in manifest.json", _file("model.ir"))
_dep_case("dep-hash-hardware", "hardware.toml edited after compiling",
          lambda ws, d: ws.abs(Path(d) / "hardware.toml").write_text(
              ws.abs(Path(d) / "hardware.toml").read_text(encoding="utf-8").replace("cols = 6", "cols = 7"),
              encoding="utf-8"),
          "hardware.toml does not match its sha256 in manifest.json", _file("hardware.toml"))
_dep_case("dep-forged-npy", "a PE image replaced by garbage, with its hash updated",
          lambda ws, d: forge(ws, d, "pe/0000/weight.npy", b"garbage, not a NumPy file\n"),
          "pe/0000/weight.npy is not a NumPy .npy file", _file("pe/0000/weight.npy"), command="simulate")
_dep_case("dep-forged-shape", "a PE image of the wrong shape, with its hash updated",
          lambda ws, d: forge(ws, d, "pe/0000/potential.npy", _npy_bytes(np.zeros(3, np.int32))),
          "pe/0000/potential.npy holds int32 [3], but the potential SRAM of hardware.toml is int32 [256]",
          _file("pe/0000/potential.npy"), command="simulate")
_dep_case("dep-forged-program", "program.json replaced by an empty object, with its hash updated",
          lambda ws, d: forge(ws, d, "program.json", b"{}\n"),
          "program.json lacks a required entry ('layers')", _file("program.json"),
          command="simulate")


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


@case("dep-half-written", "deployment")
def _dep_half_written(ws: Workspace, folder: Path) -> BadInput:
    """What an interrupted compile leaves: its temporary folder, files written but no manifest yet."""
    dep = ws.deployment_copy(folder / ".dep.tmp-k1ll3d")
    ws.abs(Path(dep) / "manifest.json").unlink()
    return _entry("dep-half-written", "deployment", "the temporary folder of an interrupted compile (no manifest)",
                  ["simulate", dep, "--dataset", "digits", "--limit", "2"], "missing file manifest.json", dep)


# --------------------------------------------------------------------------------------------- output
@case("out-exists", "output")
def _out_exists(ws: Workspace, folder: Path) -> BadInput:
    out = folder / "dep"
    ws.write(out / "notes.txt", "keep me\n")
    return _entry("out-exists", "output", "compile into an existing directory without --force",
                  ["compile", ws.digits_onnx, "-o", str(out)], "output directory already exists", str(out))


@case("out-force-foreign", "output")
def _out_force_foreign(ws: Workspace, folder: Path) -> BadInput:
    out = folder / "dep"
    ws.write(out / "notes.txt", "keep me\n")
    return _entry("out-force-foreign", "output", "compile --force over a directory that is not a deployment",
                  ["compile", ws.digits_onnx, "-o", str(out), "--force"],
                  "output directory is not empty and is not a snnc deployment", str(out))


@case("out-file-exists", "output")
def _out_file_exists(ws: Workspace, folder: Path) -> BadInput:
    out = ws.write(folder / "out.snnir", "keep me\n")
    return _entry("out-file-exists", "output", "snnc ir -o over an existing file without --force",
                  ["ir", ws.digits_onnx, "-o", out], "output file already exists", out)


@case("out-over-input", "output")
def _out_over_input(ws: Workspace, folder: Path) -> BadInput:
    model = ws.write(folder / "model.onnx", ws.digits_model.SerializeToString())
    return _entry("out-over-input", "output", "snnc ir -o over its own input, even with --force",
                  ["ir", model, "-o", model, "--force"], "refusing to write the output over the input file", model)


# --------------------------------------------------------------------------------------------- limits
@case("limit-mesh", "limits")
def _limit_mesh(ws: Workspace, folder: Path) -> BadInput:
    text = edit_hardware(edit_hardware(ws.hardware_text, "mesh", "cols", "1"), "mesh", "rows", "1")
    hw = ws.write(folder / "tiny.toml", text)
    return _entry("limit-mesh", "limits", "a model that needs more PEs than the mesh has (1 x 1)",
                  ["compile", ws.digits_onnx, "--hw", hw, "-o", str(folder / "out")],
                  "the model needs 2 PEs but the mesh has 1 x 1 = 1, 1 too few", hw)


@case("limit-fan-in", "limits")
def _limit_fan_in(ws: Workspace, folder: Path) -> BadInput:
    text = ws.hardware_text
    for section, key in (("pe", "weights"), ("sram.weight", "words")):
        text = edit_hardware(text, section, key, "512")
    hw = ws.write(folder / "small-pe.toml", text)
    return _entry("limit-fan-in", "limits", "a neuron whose fan-in (784) exceeds a PE's weight memory (512)",
                  ["compile", ws.mnist_onnx, "--hw", hw, "-o", str(folder / "out")],
                  "one neuron needs 784 weights (its fan-in), more than a PE holds (W = 512) by 272",
                  "%relpsp_2 = snn.relpsp")


@case("limit-time-steps", "limits")
def _limit_time_steps(ws: Workspace, folder: Path) -> BadInput:
    from snnc.frontend.snn_onnx import SnnModelBuilder

    b = SnnModelBuilder(input_features=(64,), time_steps=300, name="long")
    o = b.relpsp(b.dense(b.ttfs_encode(b.input), _weights((10, 64), 5)), threshold=0.5)
    path = ws.write(folder / "long.onnx", b.build(output=b.first_spike_decode(o)).SerializeToString())
    return _entry("limit-time-steps", "limits", "T = 300 steps, beyond the packet's 8-bit step field",
                  ["compile", path, "-o", str(folder / "out")],
                  "the model runs T = 300 steps but the packet's step field has 8 bits (T <= 256)", "yoso-6x7.toml")


@case("limit-leaky-layer", "limits")
def _limit_leaky_layer(ws: Workspace, folder: Path) -> BadInput:
    """A leaky layer (snn.lif) compiled for the shipped chip, the paper's, whose PE has no leak."""
    from snnc.ir import Graph, ValueType
    from snnc.ir.printer import print_graph

    g = Graph("leaky", time_steps=T)
    x = g.add_input("x", ValueType.tensor(64))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": T, "threshold": 0.5}, name="s")
    c = g.add_op("snn.dense", [s], {"weight": _weights((10, 64), 7)}, name="fc1")
    h = g.add_op("snn.lif", [c], {"threshold": np.full(10, 0.5, np.float32), "beta": np.full(10, 0.9, np.float32),
                                  "reset": "subtract", "delayed_reset": 0}, name="h1")
    g.set_outputs([g.add_op("snn.spike_count_decode", [h], name="scores")])
    path = ws.write(folder / "leaky.snnir", print_graph(g))
    return _entry("limit-leaky-layer", "limits",
                  "a leaky layer (snn.lif) compiled for the shipped chip (no leak option)",
                  ["compile", path, "-o", str(folder / "out")],
                  "a leaky layer: snn.lif decays every neuron's state every step, but the chip yoso-6x7",
                  "%h1 = snn.lif")


@case("limit-mesh-option", "limits")
def _limit_mesh_option(ws: Workspace, folder: Path) -> BadInput:
    return _entry("limit-mesh-option", "limits", "--region 1x1: a placement region too small for the model",
                  ["compile", ws.digits_onnx, "--region", "1x1", "-o", str(folder / "out")],
                  "the model needs 2 PEs but the region 1 x 1 holds 1, 1 too few", "mesh 6 x 7")


def _huge_initializer() -> onnx.ModelProto:
    model = mlp()
    w = model.graph.initializer[0]
    del w.dims[:]
    w.dims.extend([4, 3_000_000_000])
    return model


_onnx_case("limit-onnx-huge-dims", "an initializer whose dims claim 12e9 values but hold 12",
           _huge_initializer, "raw_data size (48 bytes) is too small for the declared shape and type "
           "(48000000000 bytes required)", _same, category="limits")
_onnx_case("limit-onnx-huge-time-steps", "T = 10^9 steps: far more memory than any machine has",
           lambda: onnx_model(mlp_nodes(time_steps=10**9), [_init("W", _weights((64, 10)))], features=(64,),
                              n_out=10), "time_steps = 1000000000 is more than snnc supports (65536)", "graph @net",
           command="run", category="limits")


@case("limit-ir-huge-time-steps", "limits")
def _limit_ir_time_steps(ws: Workspace, folder: Path) -> BadInput:
    text = re.sub(r"time_steps = 8\b", "time_steps = 1000000000", ws.digits_ir)
    path = ws.write(folder / "model.snnir", text)
    return _entry("limit-ir-huge-time-steps", "limits", "an IR dump with T = 10^9 run on a dataset",
                  ["run", path, "--dataset", "digits", "--limit", "2"],
                  "time_steps = 1000000000 is more than snnc supports (65536)", "graph @digits")


@case("limit-ir-huge-shape", "limits")
def _limit_ir_huge_shape(ws: Workspace, folder: Path) -> BadInput:
    text = ws.digits_ir.replace('"dense_3.weight": f32[10,16]', '"dense_3.weight": f32[100000,100000]')
    path = ws.write(folder / "model.snnir", text)
    return _entry("limit-ir-huge-shape", "limits", "an IR resource declared [100000, 100000] holding 640 bytes",
                  ["ir", path], 'resource "dense_3.weight" holds 640 bytes, f32[100000,100000] needs 40000000000',
                  f"{path}:14:42")


@case("ds-simulate-mismatch", "dataset")
def _ds_simulate_mismatch(ws: Workspace, folder: Path) -> BadInput:
    return _entry("ds-simulate-mismatch", "dataset", "simulate a digits deployment on MNIST images",
                  ["simulate", ws.deployment, "--dataset", "mnist", "--data-dir", ws.mnist_dir],
                  "samples of shape (28, 28) have 784 values but the model expects (64,) = 64", "mnist")


@case("limit-compile-early", "limits")
def _limit_compile_early(ws: Workspace, folder: Path) -> BadInput:
    """The design rules are checked before the spike statistics (which would run 65536 steps per sample)."""
    model = onnx_model(mlp_nodes(time_steps=1 << 16), [_init("W", _weights((64, 10)))], features=(64,), n_out=10)
    path = ws.write(folder / "model.onnx", model.SerializeToString())
    return _entry("limit-compile-early", "limits",
                  "compile with spike statistics of a model that cannot fit (T = 65536)",
                  ["compile", path, "--dataset", "digits", "--samples", "16", "-o", str(folder / "out")],
                  "the model runs T = 65536 steps but the packet's step field has 8 bits (T <= 256)",
                  "yoso-6x7.toml")


@case("limit-mesh-early", "limits")
def _limit_mesh_early(ws: Workspace, folder: Path) -> BadInput:
    text = edit_hardware(edit_hardware(ws.hardware_text, "mesh", "cols", "1"), "mesh", "rows", "1")
    hw = ws.write(folder / "tiny.toml", text)
    return _entry("limit-mesh-early", "limits", "a model too big for the mesh, compiled with spike statistics",
                  ["compile", ws.digits_onnx, "--hw", hw, "--dataset", "digits", "-o", str(folder / "out")],
                  "the model needs 2 PEs but the mesh has 1 x 1 = 1, 1 too few", hw)


def _not_utf8_op() -> bytes:
    model = mlp()
    model.graph.node[1].op_type = "Z9Z9Z9"
    data = model.SerializeToString()
    assert data.count(b"Z9Z9Z9") == 1
    return data.replace(b"Z9Z9Z9", b"Mat\xffu\xfe")


_onnx_case("onnx-not-utf8", "an op type that is not UTF-8 (a damaged file)", _not_utf8_op,
           "not a valid ONNX file: the string field model.graph.node[1].op_type is not UTF-8", _same)
_hw_case("hw-huge-sram", "an impossible value: 2^32 words of SRAM", _hw("sram.spike_addr", "words", "4294967296"),
         "must be <= 16777216 (no real chip is that large), got 4294967296", "[sram.spike_addr] words")
_hw_case("hw-huge-field", "an impossible value: a 2^64-bit packet field", _hw("noc", "step_bits",
                                                                               "18446744073709551615"),
         "must be <= 32 (no real chip is that large), got 18446744073709551615", "[noc] step_bits")
_dep_case("dep-manifest-pes", "a manifest edited to claim 0 PEs",
          lambda ws, d: rewrite_manifest(ws, d, lambda m: m.__setitem__("pes", 0)),
          "manifest.json says pes = 0 but program.json places 2", _file("manifest.json"), command="simulate")
_dep_case("dep-manifest-steps", "a manifest edited to claim another T",
          lambda ws, d: rewrite_manifest(ws, d, lambda m: m.__setitem__("time_steps", 64)),
          "manifest.json says time_steps = 64 but program.json runs 8", _file("manifest.json"), command="simulate")
_dep_case("dep-manifest-files", "a manifest whose file list is not an object",
          lambda ws, d: rewrite_manifest(ws, d, lambda m: m.__setitem__("files", ["model.ir"])),
          "manifest.json is malformed: 'files' must map file names to sha256 strings", _file("manifest.json"))


@case("ir-inf-threshold", "ir")
def _ir_inf_threshold(ws: Workspace, folder: Path) -> BadInput:
    path = ws.write(folder / "model.snnir", ws.digits_ir.replace("threshold = 0.5}", "threshold = inf}", 1))
    return _entry("ir-inf-threshold", "ir", "an infinite threshold (compiled)", ["compile", path, "-o",
                  str(folder / "out")], "attribute 'threshold' must be a finite number > 0, got inf",
                  "%relpsp_2 = snn.relpsp")


@case("ir-float-range", "ir")
def _ir_float_range(ws: Workspace, folder: Path) -> BadInput:
    text = ws.conv_ir.replace("bias = dense<[0.234375,", "bias = dense<[1e308,", 1)
    assert text != ws.conv_ir
    path = ws.write(folder / "model.snnir", text)
    return _entry("ir-float-range", "ir", "an inline f32 value beyond float32's range (1e308)", ["ir", path],
                  "f32[4] cannot hold 1e+308: beyond its largest value 3.40282e+38", f"{path}:4:126")


@case("ir-pass-order", "ir")
def _ir_pass_order(ws: Workspace, folder: Path) -> BadInput:
    path = ws.write(folder / "model.snnir", ws.digits_ir)
    return _entry("ir-pass-order", "ir", "a YOSO pass run before the pass whose result it needs (route, no partition)",
                  ["ir", path, "--passes", "route"],
                  "route needs the partition pass to run before it (found no YOSO plan) (passes run before it: none)",
                  None)


# ----------------------------------------------------------------------------------------------- docs
def markdown_table(entries: list[BadInput], outputs: dict[str, str] | None = None) -> str:
    """The catalogue as the markdown table of ``docs/errors.md``: entry, bad input, command, what snnc says.

    Args:
        entries: the built entries.
        outputs: entry name -> the first line snnc printed (default: ``where: message`` as pinned).
    """
    rows = ["| entry | bad input | command | snnc says (exit 1) |", "|---|---|---|---|"]
    for e in entries:
        said = (outputs or {}).get(e.name) or "snnc: error: " + (f"{e.where}: " if e.where else "") + e.message
        cells = [f"`{e.name}`", e.description, f"`{e.command}`", f"`{said}`"]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def run_entry(entry: BadInput, root: str | os.PathLike[str]) -> tuple[int, str]:
    """Run one entry with ``snnc.cli.main`` in ``root`` (the workspace); returns (exit code, stderr)."""
    import contextlib
    import io

    from snnc import cli

    err = io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(list(entry.argv))
    finally:
        os.chdir(cwd)
    return code, err.getvalue()


def main() -> None:
    """Print the catalogue tables of ``docs/errors.md`` (each entry run for its actual first line)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        entries = build_catalogue(tmp)
        said = {e.name: run_entry(e, tmp)[1].splitlines()[0] for e in entries}
    for category in CATEGORIES:
        group = [e for e in entries if e.category == category]
        print(f"### {category} ({len(group)})\n\n{markdown_table(group, said)}")



@case("out-under-file", "output")
def _out_under_file(ws: Workspace, folder: Path) -> BadInput:
    blocker = ws.write(folder / "notes.txt", "a file, not a folder\n")
    out = f"{blocker}/model.snnir"
    return _entry("out-under-file", "output", "snnc ir -o into a 'folder' that is a file", ["ir", ws.digits_onnx, "-o",
                  out], f"cannot write the output: {blocker} is a file, not a folder", out)


@case("out-dep-under-file", "output")
def _out_dep_under_file(ws: Workspace, folder: Path) -> BadInput:
    blocker = ws.write(folder / "notes.txt", "a file, not a folder\n")
    out = f"{blocker}/dep"
    return _entry("out-dep-under-file", "output", "compile into a directory below a file",
                  ["compile", ws.digits_onnx, "-o", out],
                  f"cannot write the deployment: {blocker} is a file, not a folder", out)


# ------------------------------------------------------- issue 19: nothing lost, nothing read from outside
def _fifo(ws: Workspace, rel: Path | str) -> str:
    """A named pipe at ``rel`` (nothing ever writes to it: a reader that opens it would hang)."""
    path = ws.abs(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return str(rel)


def _trace(ws: Workspace, rel: Path | str, rows: str = "0,0,1\n1,2,3\n") -> str:
    return ws.write(rel, "cycle,src,dst\n" + rows)


@case("out-force-own-input", "output")
def _out_force_own_input(ws: Workspace, folder: Path) -> BadInput:
    dep = ws.deployment_copy(folder / "dep")
    model = ws.write(Path(dep) / "model.onnx", ws.digits_model.SerializeToString())
    return _entry("out-force-own-input", "output", "compile --force into the deployment that holds its own model",
                  ["compile", model, "-o", dep, "--force"],
                  f"refusing to write the output folder, which would delete the input {model}", dep)


@case("out-force-user-file", "output")
def _out_force_user_file(ws: Workspace, folder: Path) -> BadInput:
    dep = ws.deployment_copy(folder / "dep")
    ws.write(Path(dep) / "notes.txt", "my notes\n")
    return _entry("out-force-user-file", "output", "compile --force over a deployment a user added a file to",
                  ["compile", ws.digits_onnx, "-o", dep, "--force"],
                  "the deployment holds 1 file(s) snnc did not write (notes.txt)", dep)


@case("out-json-over-manifest", "output")
def _out_json_over_manifest(ws: Workspace, folder: Path) -> BadInput:
    dep = ws.deployment_copy(folder / "dep")
    out = f"{dep}/manifest.json"
    return _entry("out-json-over-manifest", "output", "simulate --json over the deployment's own manifest.json",
                  ["simulate", dep, "--dataset", "digits", "--limit", "2", "--json", out, "--force"],
                  f"refusing to write the output over a file of the input folder {dep}", out)


@case("out-json-in-deployment", "output")
def _out_json_in_deployment(ws: Workspace, folder: Path) -> BadInput:
    dep = ws.deployment_copy(folder / "dep")
    out = f"{dep}/result.json"
    return _entry("out-json-in-deployment", "output", "simulate --json to a new file inside a deployment",
                  ["simulate", dep, "--dataset", "digits", "--limit", "2", "--json", out],
                  "refusing to write inside the deployment", out)


@case("out-json-over-labels", "output")
def _out_json_over_labels(ws: Workspace, folder: Path) -> BadInput:
    data = folder / "mnist"
    shutil.copytree(ws.abs(ws.mnist_dir), ws.abs(data))
    out = str(data / "t10k-labels-idx1-ubyte")
    return _entry("out-json-over-labels", "output", "simulate --json over the dataset's label file",
                  ["simulate", ws.deployment, "--dataset", "mnist", "--data-dir", str(data), "--json", out, "--force"],
                  f"refusing to write the output over a file of the input folder {data}", out)


@case("out-noc-json-over-trace", "output")
def _out_noc_json_over_trace(ws: Workspace, folder: Path) -> BadInput:
    path = _trace(ws, folder / "trace.csv")
    return _entry("out-noc-json-over-trace", "output", "noc replay --json over its own trace",
                  ["noc", "replay", path, "--json", path, "--force"],
                  f"refusing to write the output over the input file {path}", path)


@case("limit-arch-too-big", "limits")
def _limit_arch_too_big(ws: Workspace, folder: Path) -> BadInput:
    out = str(folder / "model.onnx")
    return _entry("limit-arch-too-big", "limits", "train --arch with more weights than memory can hold",
                  ["train", "stbp", "--dataset", "digits", "--arch", "64-100000000-10", "--epochs", "1", "-o", out],
                  "the network 64-100000000-10 does not fit in memory", "--arch")


@case("train-device-absent", "limits")
def _train_device_absent(ws: Workspace, folder: Path) -> BadInput:
    out = str(folder / "model.onnx")
    return _entry("train-device-absent", "limits", "train --device naming a device that does not exist",
                  ["train", "stdbp", "--dataset", "digits", "--arch", "64-10", "--device", "bogus", "-o", out],
                  "unknown device 'bogus'", "--device")


@case("out-checkpoint-is-output", "output")
def _out_checkpoint_is_output(ws: Workspace, folder: Path) -> BadInput:
    out = str(folder / "model.onnx")
    return _entry("out-checkpoint-is-output", "output", "train --checkpoint naming the -o model",
                  ["train", "stdbp", "--dataset", "digits", "--arch", "64-10", "-o", out, "--checkpoint", out],
                  f"refusing to write the output over the input file {out}", out)


@case("out-symlink", "output")
def _out_symlink(ws: Workspace, folder: Path) -> BadInput:
    victim = ws.write(folder / "victim.txt", "not yours\n")
    link = folder / "out.json"
    os.symlink(ws.abs(victim), ws.abs(link))
    return _entry("out-symlink", "output", "noc replay --json to a symlink (its target would be overwritten)",
                  ["noc", "replay", _trace(ws, folder / "trace.csv"), "--json", str(link), "--force"],
                  "the output path is a symbolic link; refusing to write through it", str(link))


@case("out-plots-symlink", "output")
def _out_plots_symlink(ws: Workspace, folder: Path) -> BadInput:
    victim = ws.write(folder / "victim.txt", "not yours\n")
    plots = folder / "plots"
    ws.abs(plots).mkdir()
    os.symlink(ws.abs(victim), ws.abs(plots / "mesh_activity.png"))
    return _entry("out-plots-symlink", "output", "simulate --plots into a folder whose PNG is a symlink",
                  ["simulate", ws.deployment, "--dataset", "digits", "--limit", "2", "--plots", str(plots), "--force"],
                  "the output path is a symbolic link", str(plots / "mesh_activity.png"))


@case("out-name-too-long", "output")
def _out_name_too_long(ws: Workspace, folder: Path) -> BadInput:
    out = str(folder / ("x" * 300 + ".snnir"))
    return _entry("out-name-too-long", "output", "an output file name longer than the file system allows",
                  ["ir", ws.digits_onnx, "-o", out], "cannot use the output path: a file name is longer than the file "
                  "system allows", out)


_onnx_case("onnx-json", "an ONNX path that holds JSON", lambda: b'{"graph": {"node": []}}\n',
           "not a valid ONNX file", _same)
_onnx_case("onnx-text-proto", "an ONNX path that holds text-format protobuf",
           lambda: b'ir_version: 8\ngraph {\n  name: "net"\n}\n', "not a valid ONNX file", _same)
_onnx_case("onnx-ansi-name", "a node name with ANSI escape bytes (printed escaped, never raw)",
           lambda: onnx_model([_node("Frobnicate", ["x"], ["scores"], name="evil\x1b[2J\x1b[31m")]),
           "evil\\x1b[2J\\x1b[31m", _same)


@case("onnx-fifo", "onnx")
def _onnx_fifo(ws: Workspace, folder: Path) -> BadInput:
    path = _fifo(ws, folder / "model.onnx")
    return _entry("onnx-fifo", "onnx", "a FIFO given as the model (reading it would hang)", ["ir", path],
                  "the model file is a FIFO (named pipe), not a regular file", path)


@case("onnx-device", "onnx")
def _onnx_device(ws: Workspace, folder: Path) -> BadInput:
    return _entry("onnx-device", "onnx", "/dev/zero given as the model (endless)", ["compile", "/dev/zero", "-o",
                  str(folder / "dep")], "the model file is a device, not a regular file", "/dev/zero")


@case("hw-fifo", "hardware")
def _hw_fifo(ws: Workspace, folder: Path) -> BadInput:
    path = _fifo(ws, folder / "hw.toml")
    return _entry("hw-fifo", "hardware", "a FIFO given as the hardware file",
                  ["compile", ws.digits_onnx, "--hw", path, "-o", str(folder / "out")],
                  "the hardware file is a FIFO (named pipe), not a regular file", path)


_hw_case("hw-clock-zero", "a chip clock near zero (latencies would print as inf)", _hw("chip", "clock_hz", "1e-300"),
         "must be >= 1, got 1e-300", "[chip] clock_hz")
_hw_case("hw-energy-huge", "an energy of 1e308 pJ (energies would print as inf/nan)",
         _hw("energy", "add_pj", "1e308"), "must be <= 1000000000 (no real chip is that large), got 1e+308",
         "[energy] add_pj")


def _zero_images(ws: Workspace, data: Path) -> None:
    ws.write(data / TEST_IMAGES, idx_images(0))
    ws.write(data / "t10k-labels-idx1-ubyte", idx_labels(np.zeros(0)))


_ds_case("ds-zero-images", "IDX files of zero images (accuracy and rates would be nan)", _zero_images,
         "the test split of mnist holds no images", _same)
_ds_case("ds-fifo", "a FIFO in place of the image file", lambda ws, d: (ws.abs(d / TEST_IMAGES).unlink(),
                                                                       _fifo(ws, d / TEST_IMAGES)),
         "the dataset file is a FIFO (named pipe), not a regular file", lambda d: f"{d}/{TEST_IMAGES}")


def _link_outside(ws: Workspace, dep: str) -> None:
    secret = ws.write(Path(dep).parent / "secret.txt", "root:x:0:0:root:/root:/bin/bash\n")
    (ws.abs(dep) / "report.txt").unlink()
    os.symlink(ws.abs(secret), ws.abs(dep) / "report.txt")
    digest = hashlib.sha256(ws.abs(secret).read_bytes()).hexdigest()
    rewrite_manifest(ws, dep, lambda m: m["files"].__setitem__("report.txt", digest))


def _pe_outside(ws: Workspace, dep: str) -> None:
    shutil.move(ws.abs(dep) / "pe" / "0000", ws.abs(Path(dep).parent / "pe0000"))
    os.symlink(ws.abs(Path(dep).parent / "pe0000"), ws.abs(dep) / "pe" / "0000")


def _forge_json(name: str, edit: Callable[[Any], None]) -> Callable[[Workspace, str], None]:
    def damage(ws: Workspace, dep: str) -> None:
        obj = json.loads((ws.abs(dep) / name).read_text(encoding="utf-8"))
        edit(obj)
        forge(ws, dep, name, (json.dumps(obj, indent=1) + "\n").encode("utf-8"))
    return damage


def _terabyte_npy() -> bytes:
    header = "{'descr': '<i2', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")


_dep_case("dep-report-symlink", "report.txt a symlink to a file outside, its hash forged to match", _link_outside,
          "report.txt is a symbolic link; a deployment reads only its own files", _file("report.txt"))
_dep_case("dep-pe-symlink", "a PE folder that is a symlink to a folder outside the deployment", _pe_outside,
          "pe/0000 is a symbolic link", _file("pe/0000"))
_dep_case("dep-routing-bad-key", "a routing key that is not an integer, hash updated",
          _forge_json("routing.json", lambda r: r["keys"][0].__setitem__("key", "k0")),
          "routing.json: field 'keys[0].key' must be a non-negative integer", _file("routing.json"),
          command="simulate")
_dep_case("dep-layer-bad-pes", "a layer listing a PE that does not exist, hash updated",
          _forge_json("program.json", lambda p: p["layers"][0]["pes"].__setitem__(0, 9999)),
          "program.json: field 'layers[0].pes' must list distinct PE ids", _file("program.json"), command="simulate")
_dep_case("dep-pe-off-mesh", "a PE placed off the hardware's mesh, hash updated",
          _forge_json("pe/0000/config.json", lambda c: c.__setitem__("xy", [99, 0])),
          "config.json: field 'xy' must be [x, y] on the 6x7 mesh", _file("pe/0000/config.json"), command="simulate")
_dep_case("dep-npy-terabyte", "a .npy header claiming 1 TiB of words, hash updated",
          lambda ws, d: forge(ws, d, "pe/0000/weight.npy", _terabyte_npy()),
          "pe/0000/weight.npy holds int16 [1099511627776]", _file("pe/0000/weight.npy"), command="simulate")
_dep_case("dep-layer-unknown-dims", "a layer whose shape has two unknown (-1) dimensions, hash updated",
          _forge_json("program.json", lambda p: p["layers"][0].__setitem__("features", [-1, -1])),
          "program.json: field 'layers[0].features' must list positive sizes", _file("program.json"),
          command="simulate")
_dep_case("dep-pe-bad-input-map", "a PE input map with a key that is not a number, hash updated",
          _forge_json("pe/0000/config.json", lambda c: c.__setitem__("input_map", {"k": 0})),
          "a field of the deployment's files is malformed", _same, command="simulate")
_dep_case("dep-manifest-deep", "a manifest.json nested 100,000 deep",
          lambda ws, d: ws.write(Path(d) / "manifest.json", '{"files": ' + "[" * 100_000 + "]" * 100_000 + "}"),
          "manifest.json nests deeper than any deployment file does", _file("manifest.json"))


@case("limit-trace-huge-int", "limits")
def _limit_trace_huge_int(ws: Workspace, folder: Path) -> BadInput:
    path = _trace(ws, folder / "t.csv", "0,0,99999999999999999999999999999\n")
    return _entry("limit-trace-huge-int", "limits", "a trace node id too large for any mesh", ["noc", "replay", path],
                  "dst must be an integer, got '99999999999999999999999999999' (ASCII digits, at most 2**62)",
                  f"{path}:2")


@case("limit-trace-unicode", "limits")
def _limit_trace_unicode(ws: Workspace, folder: Path) -> BadInput:
    path = _trace(ws, folder / "t.csv", "0,0,\u0663\n")
    return _entry("limit-trace-unicode", "limits", "a trace with an Arabic-Indic digit (int() would read it as 3)",
                  ["noc", "replay", path], "dst must be an integer, got '\u0663'", f"{path}:2")


@case("limit-trace-fifo", "limits")
def _limit_trace_fifo(ws: Workspace, folder: Path) -> BadInput:
    path = _fifo(ws, folder / "t.csv")
    return _entry("limit-trace-fifo", "limits", "a FIFO given as the trace", ["noc", "replay", path],
                  "the trace file is a FIFO (named pipe), not a regular file", path)


@case("limit-noc-mesh", "limits")
def _limit_noc_mesh(ws: Workspace, folder: Path) -> BadInput:
    return _entry("limit-noc-mesh", "limits", "noc replay on a 1024 x 1024 mesh (terabytes of routing arrays)",
                  ["noc", "replay", _trace(ws, folder / "t.csv"), "--mesh", "1024x1024"],
                  "a 1024x1024 mesh has more than the 4096 routers the network model replays", "--mesh")


@case("limit-sweep-grid", "limits")
def _limit_sweep_grid(ws: Workspace, folder: Path) -> BadInput:
    grid = ws.write(folder / "grid.toml", "[grid]\nneurons = [" + ", ".join(str(k) for k in range(1, 401))
                    + "]\nweights = [" + ", ".join(str(k) for k in range(64, 464)) + "]\n")
    return _entry("limit-sweep-grid", "limits", "a sweep grid of 160,000 points",
                  ["sweep", ws.deployment, "--hw-grid", grid, "--dataset", "digits", "-o", str(folder / "out")],
                  "the grid has 160000 points, more than the 100000 a sweep runs", grid)


if __name__ == "__main__":
    main()
